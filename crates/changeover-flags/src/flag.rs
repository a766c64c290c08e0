//! A flag's value read with the shared grammars, and the message the CLI prints when it refuses
//! one. `changeover run` prints these (after `changeover run: `) and exits 2; `changeover lint`
//! quotes them for a manifest whose command line the CLI would refuse.

use std::fmt;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::duration::{DurationError, parse_duration};
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
