//! Listening addresses as users write them: `HOST:PORT`, `[V6]:PORT`, `unix:PATH`.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::str::FromStr;

/// Where a listener binds when it is not inherited.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ListenAddr {
    /// A TCP address, IPv4 or IPv6.
    Tcp(SocketAddr),
    /// A Unix stream socket at this path.
    Unix(PathBuf),
}

/// An address that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrError {
    input: String,
    problem: String,
}

impl fmt::Display for AddrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid listen address {:?}: {}; write HOST:PORT (127.0.0.1:8080), [V6]:PORT ([::1]:8080) or unix:PATH",
            self.input, self.problem
        )
    }
}

impl std::error::Error for AddrError {}

impl FromStr for ListenAddr {
    type Err = AddrError;

    fn from_str(input: &str) -> Result<Self, AddrError> {
        let err = |problem: &str| AddrError {
            input: input.to_owned(),
            problem: problem.to_owned(),
        };
        if let Some(path) = input.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(err("the socket path is empty"));
            }
            return Ok(ListenAddr::Unix(PathBuf::from(path)));
        }
        if let Ok(addr) = input.parse::<SocketAddr>() {
            return Ok(ListenAddr::Tcp(addr));
        }
        let Some((host, port)) = input.rsplit_once(':') else {
            return Err(err("it has no port"));
        };
        if port.parse::<u16>().is_err() {
            return Err(err("the port is not a number from 0 to 65535"));
        }
        if host.is_empty() {
            return Err(err("the host is empty (use 0.0.0.0 for every interface)"));
        }
        if host.contains(':') && !host.starts_with('[') {
            return Err(err("an IPv6 host must be written in brackets"));
        }
        // A host name: resolve it once, now, so a typo fails at start-up.
        match (host, port.parse::<u16>().unwrap_or(0)).to_socket_addrs() {
            Ok(mut addrs) => addrs
                .next()
                .map(ListenAddr::Tcp)
                .ok_or_else(|| err("the host name resolves to no address")),
            Err(e) => Err(err(&format!("the host cannot be resolved ({e})"))),
        }
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Tcp(a) => write!(f, "{a}"),
            ListenAddr::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_form() {
        assert_eq!(
            "127.0.0.1:8080".parse::<ListenAddr>().unwrap(),
            ListenAddr::Tcp("127.0.0.1:8080".parse().unwrap())
        );
        assert_eq!(
            "[::1]:0".parse::<ListenAddr>().unwrap(),
            ListenAddr::Tcp("[::1]:0".parse().unwrap())
        );
        assert_eq!(
            "unix:/run/app.sock".parse::<ListenAddr>().unwrap(),
            ListenAddr::Unix("/run/app.sock".into())
        );
        assert!(matches!(
            "localhost:80".parse::<ListenAddr>().unwrap(),
            ListenAddr::Tcp(a) if a.ip().is_loopback()
        ));
    }

    #[test]
    fn explains_bad_addresses() {
        for (bad, why) in [
            ("8080", "no port"),
            ("127.0.0.1:http", "port is not a number"),
            ("127.0.0.1:99999", "port is not a number"),
            (":8080", "host is empty"),
            ("::1:8080", "brackets"),
            ("unix:", "path is empty"),
        ] {
            let e = bad.parse::<ListenAddr>().unwrap_err().to_string();
            assert!(e.contains(why) && e.contains(bad), "{bad}: {e}");
        }
    }
}
