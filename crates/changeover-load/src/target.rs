//! Where the load goes: a TCP address or a Unix socket, the `Host` header and the request path.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

/// The socket a [`Target`] connects to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// A TCP address (IPv4 or IPv6). No name resolution is ever done.
    Tcp(SocketAddr),
    /// A Unix stream socket at this path.
    Unix(PathBuf),
}

/// What every request of a run is sent to: an [`Endpoint`], the `Host` header and the path.
///
/// Build one with [`Target::parse`], or with [`Target::tcp`] / [`Target::unix`] when the address
/// is already at hand (for example a test server's `local_addr()`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    endpoint: Endpoint,
    host: String,
    path: String,
}

/// Why a target URL (or a path or host given to a [`Target`]) was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TargetError {
    /// The URL has neither `http://` nor `unix:` in front.
    MissingScheme(String),
    /// A scheme other than `http` (for example `https`, which is not supported).
    UnsupportedScheme(String),
    /// The authority part (`host[:port]`) is malformed, empty, or has user information.
    InvalidAuthority(String),
    /// The port is not a number from 0 to 65535.
    InvalidPort(String),
    /// The host is a name other than `localhost`: targets are IP literals, no DNS is done.
    UnresolvedHost(String),
    /// `unix:` without a socket path.
    EmptySocketPath,
    /// The request path does not start with `/`, or holds spaces or control characters.
    InvalidPath(String),
    /// The `Host` header value is empty or holds spaces or control characters.
    InvalidHost(String),
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetError::MissingScheme(url) => {
                write!(f, "target {url:?} must start with http:// or unix:")
            }
            TargetError::UnsupportedScheme(scheme) => {
                write!(
                    f,
                    "unsupported scheme {scheme:?} (only http:// and unix: are supported)"
                )
            }
            TargetError::InvalidAuthority(a) => write!(f, "invalid host:port {a:?}"),
            TargetError::InvalidPort(p) => write!(f, "invalid port {p:?}"),
            TargetError::UnresolvedHost(h) => write!(
                f,
                "host {h:?} is not an IP address; use an IP literal or localhost (no DNS lookups)"
            ),
            TargetError::EmptySocketPath => write!(f, "unix: target without a socket path"),
            TargetError::InvalidPath(p) => write!(
                f,
                "invalid request path {p:?} (must start with / and hold no spaces or control characters)"
            ),
            TargetError::InvalidHost(h) => write!(f, "invalid Host header value {h:?}"),
        }
    }
}

impl std::error::Error for TargetError {}

impl Target {
    /// Parses a target.
    ///
    /// Accepted forms:
    /// - `http://127.0.0.1:8080/some/path?q=1`, `http://[::1]:8080/`, `http://localhost:8080`
    ///   (port 80 when omitted, path `/` when omitted; `localhost` means `127.0.0.1`; other
    ///   host names are rejected because no DNS lookup is ever made). The `Host` header is the
    ///   authority as written (`127.0.0.1:8080`).
    /// - `unix:/tmp/server.sock` (path `/`) and `unix:/tmp/server.sock:/some/path`: the socket
    ///   path ends at the first `:/`. The `Host` header is `localhost`.
    ///
    /// A `#fragment` is dropped.
    pub fn parse(url: &str) -> Result<Target, TargetError> {
        if let Some(rest) = strip_prefix_ignore_case(url, "unix:") {
            return parse_unix(rest);
        }
        if let Some(rest) = strip_prefix_ignore_case(url, "http://") {
            return parse_http(rest);
        }
        match url.find("://") {
            Some(i) => Err(TargetError::UnsupportedScheme(url[..i].to_string())),
            None => Err(TargetError::MissingScheme(url.to_string())),
        }
    }

    /// A TCP target with path `/` and the address as `Host` header (`[::1]:8080` for IPv6).
    pub fn tcp(addr: SocketAddr) -> Target {
        Target {
            endpoint: Endpoint::Tcp(addr),
            host: addr.to_string(),
            path: "/".to_string(),
        }
    }

    /// A Unix stream socket target with path `/` and `Host: localhost`.
    pub fn unix(socket: impl Into<PathBuf>) -> Target {
        Target {
            endpoint: Endpoint::Unix(socket.into()),
            host: "localhost".to_string(),
            path: "/".to_string(),
        }
    }

    /// Replaces the request path (`/x?y=1`); it must start with `/` and hold no whitespace or
    /// control characters.
    pub fn with_path(mut self, path: impl Into<String>) -> Result<Target, TargetError> {
        let path = path.into();
        validate_path(&path)?;
        self.path = path;
        Ok(self)
    }

    /// Replaces the `Host` header value.
    pub fn with_host(mut self, host: impl Into<String>) -> Result<Target, TargetError> {
        let host = host.into();
        if host.is_empty() || host.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(TargetError::InvalidHost(host));
        }
        self.host = host;
        Ok(self)
    }

    /// The socket connections go to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The `Host` header value.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The request path (with query, if any).
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.endpoint {
            Endpoint::Tcp(_) => write!(f, "http://{}{}", self.host, self.path),
            Endpoint::Unix(p) => write!(f, "unix:{}:{}", p.display(), self.path),
        }
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn validate_path(path: &str) -> Result<(), TargetError> {
    if !path.starts_with('/') || path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(TargetError::InvalidPath(path.to_string()));
    }
    Ok(())
}

fn parse_unix(rest: &str) -> Result<Target, TargetError> {
    let (socket, path) = match rest.find(":/") {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, "/"),
    };
    if socket.is_empty() {
        return Err(TargetError::EmptySocketPath);
    }
    validate_path(path)?;
    Ok(Target {
        endpoint: Endpoint::Unix(PathBuf::from(socket)),
        host: "localhost".to_string(),
        path: path.to_string(),
    })
}

fn parse_http(rest: &str) -> Result<Target, TargetError> {
    let rest = match rest.find('#') {
        Some(i) => &rest[..i],
        None => rest,
    };
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(split);
    let path = if tail.is_empty() {
        "/".to_string()
    } else if tail.starts_with('?') {
        format!("/{tail}")
    } else {
        tail.to_string()
    };
    validate_path(&path)?;
    if authority.is_empty() || authority.contains('@') {
        return Err(TargetError::InvalidAuthority(authority.to_string()));
    }

    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let close = v6
            .find(']')
            .ok_or_else(|| TargetError::InvalidAuthority(authority.to_string()))?;
        let after = &v6[close + 1..];
        let port = match after {
            "" => None,
            p if p.starts_with(':') => Some(&p[1..]),
            _ => return Err(TargetError::InvalidAuthority(authority.to_string())),
        };
        let ip: IpAddr = v6[..close]
            .parse()
            .map_err(|_| TargetError::InvalidAuthority(authority.to_string()))?;
        (ip, port)
    } else {
        let (name, port) = match authority.rfind(':') {
            Some(i) => (&authority[..i], Some(&authority[i + 1..])),
            None => (authority, None),
        };
        let ip = if name.eq_ignore_ascii_case("localhost") {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else if name.is_empty() {
            return Err(TargetError::InvalidAuthority(authority.to_string()));
        } else {
            name.parse::<Ipv4Addr>()
                .map(IpAddr::V4)
                .map_err(|_| TargetError::UnresolvedHost(name.to_string()))?
        };
        (ip, port)
    };
    let port = match port {
        None => 80,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p
            .parse::<u16>()
            .map_err(|_| TargetError::InvalidPort(p.to_string()))?,
        Some(p) => return Err(TargetError::InvalidPort(p.to_string())),
    };
    Ok(Target {
        endpoint: Endpoint::Tcp(SocketAddr::new(host, port)),
        host: authority.to_string(),
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(url: &str) -> (SocketAddr, String, String) {
        let t = Target::parse(url).unwrap();
        match t.endpoint() {
            Endpoint::Tcp(a) => (*a, t.host().to_string(), t.path().to_string()),
            Endpoint::Unix(_) => panic!("expected tcp"),
        }
    }

    #[test]
    fn parses_http_targets() {
        assert_eq!(
            tcp("http://127.0.0.1:8080/x"),
            (
                "127.0.0.1:8080".parse().unwrap(),
                "127.0.0.1:8080".into(),
                "/x".into()
            )
        );
        assert_eq!(
            tcp("http://[::1]:8080/"),
            (
                "[::1]:8080".parse().unwrap(),
                "[::1]:8080".into(),
                "/".into()
            )
        );
        assert_eq!(
            tcp("HTTP://127.0.0.1"),
            (
                "127.0.0.1:80".parse().unwrap(),
                "127.0.0.1".into(),
                "/".into()
            )
        );
        assert_eq!(
            tcp("http://localhost:9000?a=1#frag"),
            (
                "127.0.0.1:9000".parse().unwrap(),
                "localhost:9000".into(),
                "/?a=1".into()
            )
        );
        assert_eq!(
            tcp("http://[::1]/a/b?c"),
            ("[::1]:80".parse().unwrap(), "[::1]".into(), "/a/b?c".into())
        );
    }

    #[test]
    fn parses_unix_targets() {
        let t = Target::parse("unix:/tmp/s.sock").unwrap();
        assert_eq!(t.endpoint(), &Endpoint::Unix("/tmp/s.sock".into()));
        assert_eq!((t.host(), t.path()), ("localhost", "/"));
        let t = Target::parse("unix:/tmp/s.sock:/healthz?x=1").unwrap();
        assert_eq!(t.endpoint(), &Endpoint::Unix("/tmp/s.sock".into()));
        assert_eq!(t.path(), "/healthz?x=1");
        assert_eq!(t.to_string(), "unix:/tmp/s.sock:/healthz?x=1");
        assert_eq!(
            Target::parse("unix:").unwrap_err(),
            TargetError::EmptySocketPath
        );
    }

    #[test]
    fn rejects_bad_targets() {
        use TargetError::*;
        let err = |u: &str| Target::parse(u).unwrap_err();
        assert!(matches!(err("https://127.0.0.1/"), UnsupportedScheme(s) if s == "https"));
        assert!(matches!(err("127.0.0.1:80"), MissingScheme(_)));
        assert!(matches!(err("http://example.com/"), UnresolvedHost(_)));
        assert!(matches!(err("http://127.0.0.1:99999/"), InvalidPort(_)));
        assert!(matches!(err("http://127.0.0.1:/"), InvalidPort(_)));
        assert!(matches!(err("http://127.0.0.1:8x/"), InvalidPort(_)));
        assert!(matches!(err("http:///x"), InvalidAuthority(_)));
        assert!(matches!(err("http://u@127.0.0.1/"), InvalidAuthority(_)));
        assert!(matches!(err("http://[::1/"), InvalidAuthority(_)));
        assert!(matches!(err("http://[::1]x/"), InvalidAuthority(_)));
        assert!(matches!(err("http://127.0.0.1/a b"), InvalidPath(_)));
        assert!(matches!(err("unix:/s.sock:/a\r\nX: y"), InvalidPath(_)));
        let t = Target::tcp("127.0.0.1:1".parse().unwrap());
        assert!(matches!(t.clone().with_path("x"), Err(InvalidPath(_))));
        assert!(matches!(t.clone().with_host("a b"), Err(InvalidHost(_))));
        assert_eq!(
            t.with_path("/y").unwrap().to_string(),
            "http://127.0.0.1:1/y"
        );
    }
}
