//! The `--proxy` flags: how each generation gets its private upstream (`--upstream`) and
//! whether forwarded headers are added.

use std::fmt;

use crate::flag::FlagError;

/// How a generation's private upstream is given to it (`--upstream`, with `--proxy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamMode {
    /// `fd` (the default): a listening Unix socket of its own, in a directory
    /// only the supervisor's user can enter, passed at fd 3 by the systemd
    /// protocol under the name `http`.
    Fd,
    /// `env:VAR`: a free loopback TCP port, in `VAR` (and `HOST=127.0.0.1`);
    /// the child binds it itself.
    Env(String),
}

impl fmt::Display for UpstreamMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpstreamMode::Fd => write!(f, "fd"),
            UpstreamMode::Env(var) => write!(f, "env:{var}"),
        }
    }
}

/// `--proxy`: the supervisor serves the public sockets and forwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyFlags {
    /// How each generation gets its private upstream.
    pub upstream: UpstreamMode,
    /// Add `X-Forwarded-For`, `X-Forwarded-Proto` and `Forwarded`.
    pub forwarded_headers: bool,
}

/// Reads `--upstream`: `fd`, or `env:VAR` with VAR a shell variable name.
///
/// ```
/// use changeover_flags::run::{UpstreamMode, parse_upstream};
/// assert_eq!(parse_upstream("env:PORT").unwrap(), UpstreamMode::Env("PORT".into()));
/// assert!(parse_upstream("env:8080").is_err());
/// ```
pub fn parse_upstream(value: &str) -> Result<UpstreamMode, FlagError> {
    if value == "fd" {
        return Ok(UpstreamMode::Fd);
    }
    let var = value.strip_prefix("env:").unwrap_or_default();
    let mut chars = var.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(UpstreamMode::Env(var.to_owned()))
    } else {
        Err(FlagError::Upstream {
            value: value.to_owned(),
        })
    }
}
