//! Listening addresses as users write them: `HOST:PORT`, `[V6]:PORT`, `unix:PATH`.
//!
//! [`parse_addr`] checks what is written without any I/O, so `changeover lint` can say that
//! `--listen 0.0.0.0:99999` is refused. A host name (`localhost:8080`) passes that check as
//! [`Addr::HostName`]; only resolving it needs the machine, and that is the one piece of I/O in
//! this crate, behind the `resolve` feature ([`Addr::resolve`], and `ListenAddr: FromStr`,
//! which the library enables; the lint does not resolve: whether a name resolves inside a pod is
//! not visible from a manifest).

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Where a listener binds when it is not inherited.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ListenAddr {
    /// A TCP address, IPv4 or IPv6.
    Tcp(SocketAddr),
    /// A Unix stream socket at this path.
    Unix(PathBuf),
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Tcp(a) => write!(f, "{a}"),
            ListenAddr::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// An address that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrError {
    input: String,
    problem: String,
}

impl AddrError {
    fn new(input: &str, problem: impl Into<String>) -> AddrError {
        AddrError {
            input: input.to_owned(),
            problem: problem.into(),
        }
    }

    /// What was written.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// What is wrong with it, e.g. `the port is not a number from 0 to 65535`.
    pub fn problem(&self) -> &str {
        &self.problem
    }
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

/// An address that is well formed: one that needs nothing more, or a host name still to resolve.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Addr {
    /// A literal IP address and port, or a Unix socket path.
    Known(ListenAddr),
    /// A host name and port, e.g. `localhost:8080`, resolved when the address is used.
    HostName {
        /// What was written, for messages.
        input: String,
        /// The host name.
        host: String,
        /// The port.
        port: u16,
    },
}

/// Reads an address without resolving anything: every refusal that does not need the machine.
///
/// ```
/// use changeover_flags::addr::{Addr, ListenAddr, parse_addr};
/// assert_eq!(
///     parse_addr("[::1]:8080").unwrap(),
///     Addr::Known(ListenAddr::Tcp("[::1]:8080".parse().unwrap()))
/// );
/// assert!(matches!(parse_addr("localhost:8080").unwrap(), Addr::HostName { port: 8080, .. }));
/// let e = parse_addr("0.0.0.0:99999").unwrap_err();
/// assert!(e.to_string().starts_with(
///     "invalid listen address \"0.0.0.0:99999\": the port is not a number from 0 to 65535"
/// ));
/// ```
pub fn parse_addr(input: &str) -> Result<Addr, AddrError> {
    let err = |problem: &str| AddrError::new(input, problem);
    if let Some(path) = input.strip_prefix("unix:") {
        if path.is_empty() {
            return Err(err("the socket path is empty"));
        }
        return Ok(Addr::Known(ListenAddr::Unix(PathBuf::from(path))));
    }
    if let Ok(addr) = input.parse::<SocketAddr>() {
        return Ok(Addr::Known(ListenAddr::Tcp(addr)));
    }
    let Some((host, port)) = input.rsplit_once(':') else {
        return Err(err("it has no port"));
    };
    let Ok(port) = port.parse::<u16>() else {
        return Err(err("the port is not a number from 0 to 65535"));
    };
    if host.is_empty() {
        return Err(err("the host is empty (use 0.0.0.0 for every interface)"));
    }
    if host.contains(':') && !host.starts_with('[') {
        return Err(err("an IPv6 host must be written in brackets"));
    }
    Ok(Addr::HostName {
        input: input.to_owned(),
        host: host.to_owned(),
        port,
    })
}

#[cfg(feature = "resolve")]
impl Addr {
    /// The address to bind: a host name is resolved now, with the system resolver, so that a
    /// typo fails at start-up rather than at the first reload.
    pub fn resolve(self) -> Result<ListenAddr, AddrError> {
        use std::net::ToSocketAddrs;
        match self {
            Addr::Known(addr) => Ok(addr),
            Addr::HostName { input, host, port } => match (host.as_str(), port).to_socket_addrs() {
                Ok(mut addrs) => addrs
                    .next()
                    .map(ListenAddr::Tcp)
                    .ok_or_else(|| AddrError::new(&input, "the host name resolves to no address")),
                Err(e) => Err(AddrError::new(
                    &input,
                    format!("the host cannot be resolved ({e})"),
                )),
            },
        }
    }
}

/// [`parse_addr`], then [`Addr::resolve`].
#[cfg(feature = "resolve")]
impl std::str::FromStr for ListenAddr {
    type Err = AddrError;

    fn from_str(input: &str) -> Result<Self, AddrError> {
        parse_addr(input)?.resolve()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_form_without_io() {
        assert_eq!(
            parse_addr("127.0.0.1:8080").unwrap(),
            Addr::Known(ListenAddr::Tcp("127.0.0.1:8080".parse().unwrap()))
        );
        assert_eq!(
            parse_addr("[::1]:0").unwrap(),
            Addr::Known(ListenAddr::Tcp("[::1]:0".parse().unwrap()))
        );
        assert_eq!(
            parse_addr("unix:/run/app.sock").unwrap(),
            Addr::Known(ListenAddr::Unix("/run/app.sock".into()))
        );
        // Not looked up: a name that resolves nowhere is still well formed.
        assert_eq!(
            parse_addr("no-such-host.invalid:80").unwrap(),
            Addr::HostName {
                input: "no-such-host.invalid:80".into(),
                host: "no-such-host.invalid".into(),
                port: 80
            }
        );
    }

    #[test]
    fn explains_bad_addresses() {
        for (bad, why) in [
            ("8080", "it has no port"),
            ("127.0.0.1:http", "the port is not a number from 0 to 65535"),
            (
                "127.0.0.1:99999",
                "the port is not a number from 0 to 65535",
            ),
            (
                ":8080",
                "the host is empty (use 0.0.0.0 for every interface)",
            ),
            ("::1:8080", "an IPv6 host must be written in brackets"),
            ("unix:", "the socket path is empty"),
        ] {
            let e = parse_addr(bad).unwrap_err();
            assert_eq!((e.input(), e.problem()), (bad, why));
            assert_eq!(
                e.to_string(),
                format!(
                    "invalid listen address {bad:?}: {why}; write HOST:PORT (127.0.0.1:8080), [V6]:PORT ([::1]:8080) or unix:PATH"
                )
            );
        }
    }

    #[cfg(feature = "resolve")]
    #[test]
    fn resolves_host_names() {
        assert!(matches!(
            "localhost:80".parse::<ListenAddr>().unwrap(),
            ListenAddr::Tcp(a) if a.ip().is_loopback() && a.port() == 80
        ));
    }
}
