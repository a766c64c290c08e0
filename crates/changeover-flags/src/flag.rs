//! A flag's value read with the shared grammars, and the message the CLI prints when it refuses
//! one. `changeover run` prints these (after `changeover run: `) and exits 2; `changeover lint`
//! quotes them for a manifest whose command line the CLI would refuse. Each message is one line
//! naming the flag, the value, the problem and the fix.

use std::fmt;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::addr::AddrError;
use crate::duration::{DurationError, format_duration, parse_duration};
use crate::signal::{parse_signal, signal_name};

/// A flag value the CLI refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlagError {
    /// A duration that cannot be read.
    Duration {
        /// The flag, e.g. `--stop-delay`.
        flag: &'static str,
        /// The parse error.
        source: DurationError,
    },
    /// A signal name that is not one.
    UnknownSignal {
        /// The flag, e.g. `--stop-signal`.
        flag: &'static str,
        /// What was written.
        value: String,
    },
    /// A signal that cannot serve this purpose.
    UnusableSignal {
        /// The flag, e.g. `--reload-signal`.
        flag: &'static str,
        /// The signal.
        signal: Signal,
        /// Why not (see [`crate::signal::reload_signal_problem`]).
        problem: &'static str,
    },
    /// An address that cannot be read (or, when the supervisor resolves it, found).
    Address {
        /// The flag, e.g. `--listen`.
        flag: &'static str,
        /// The parse error.
        source: AddrError,
    },
    /// A listener name that cannot go into `LISTEN_FDNAMES`.
    ListenName {
        /// The name.
        name: String,
    },
    /// Two listeners of one name.
    DuplicateName {
        /// The name.
        name: String,
    },
    /// `--ready` in none of its forms.
    Ready {
        /// What was written.
        value: String,
    },
    /// `--ready http:` without a path.
    ReadyPath {
        /// What was written.
        value: String,
    },
    /// `--upstream` in neither of its forms.
    Upstream {
        /// What was written.
        value: String,
    },
    /// A flag that means something only with `--proxy`, given without it.
    NeedsProxy {
        /// The flag as written (`--upstream`, `--ready http:/x`).
        flag: String,
    },
    /// `--ready delay:` not shorter than `--ready-timeout`.
    DelayNotBeforeTimeout {
        /// The delay.
        delay: Duration,
        /// The timeout.
        timeout: Duration,
    },
    /// `--max-draining` not a whole number of at least 1.
    MaxDraining {
        /// What was written.
        value: String,
    },
    /// Nothing after `--`.
    NoCommand,
}

impl fmt::Display for FlagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlagError::Duration { flag, source } => write!(f, "{flag}: {source}"),
            FlagError::UnknownSignal { flag, value } => write!(
                f,
                "{flag} {value:?}: unknown signal name; use a name such as TERM, QUIT, INT, HUP, USR1, USR2 or WINCH (with or without SIG), or a number"
            ),
            FlagError::UnusableSignal {
                flag,
                signal,
                problem,
            } => write!(f, "{flag} {}: {problem}", signal_name(*signal)),
            FlagError::Address { flag, source } => write!(f, "{flag}: {source}"),
            FlagError::ListenName { name } => write!(
                f,
                "--listen: invalid socket name {name:?}; a name is 1 to 255 of A-Z a-z 0-9 _ . - (write NAME=ADDR, e.g. http=0.0.0.0:8080)"
            ),
            FlagError::DuplicateName { name } => write!(
                f,
                "--listen: the name {name:?} is given twice; give each socket its own name (NAME=ADDR)"
            ),
            FlagError::Ready { value } => write!(
                f,
                "--ready {value:?}: not a readiness check; write notify, delay:DURATION (e.g. delay:2s), exec:COMMAND or (with --proxy) http:PATH"
            ),
            FlagError::ReadyPath { value } => write!(
                f,
                "--ready {value:?}: the path is missing; write http: and the path to GET on the new child, e.g. http:/healthz"
            ),
            FlagError::Upstream { value } => write!(
                f,
                "--upstream {value:?}: not an upstream; write fd (a private socket at fd 3, the default) or env:VAR (a free loopback port in $VAR, e.g. env:PORT)"
            ),
            FlagError::NeedsProxy { flag } => write!(
                f,
                "{flag} needs --proxy: without it the child serves the public sockets itself; add --proxy, or drop {flag}"
            ),
            FlagError::DelayNotBeforeTimeout { delay, timeout } => write!(
                f,
                "--ready delay:{} is not shorter than --ready-timeout {}: no child could ever become ready; shorten the delay or raise the timeout",
                format_duration(*delay),
                format_duration(*timeout)
            ),
            FlagError::MaxDraining { value } => write!(
                f,
                "--max-draining {value:?}: write a whole number of at least 1"
            ),
            FlagError::NoCommand => write!(
                f,
                "no command given: write the server's command after --, e.g. changeover run --listen 0.0.0.0:8080 -- ./server"
            ),
        }
    }
}

impl std::error::Error for FlagError {}

/// The duration `flag` was given, or `default` when it was not.
///
/// ```
/// use std::time::Duration;
/// use changeover_flags::duration_flag;
/// assert_eq!(duration_flag("--stop-delay", None, Duration::ZERO), Ok(Duration::ZERO));
/// let e = duration_flag("--stop-delay", Some("7"), Duration::ZERO).unwrap_err();
/// assert!(e.to_string().starts_with("--stop-delay: invalid duration \"7\": a number has no unit"));
/// ```
pub fn duration_flag(
    flag: &'static str,
    value: Option<&str>,
    default: Duration,
) -> Result<Duration, FlagError> {
    match value {
        None => Ok(default),
        Some(v) => parse_duration(v).map_err(|source| FlagError::Duration { flag, source }),
    }
}

/// The signal `flag` was given, or `default` when it was not.
pub fn signal_flag(
    flag: &'static str,
    value: Option<&str>,
    default: Signal,
) -> Result<Signal, FlagError> {
    match value {
        None => Ok(default),
        Some(v) => parse_signal(v).ok_or_else(|| FlagError::UnknownSignal {
            flag,
            value: v.to_owned(),
        }),
    }
}
