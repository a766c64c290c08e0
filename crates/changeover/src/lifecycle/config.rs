//! What a lifecycle is set up from: the defaults, changeover's own
//! environment variables, and the errors of setting up.

use std::path::PathBuf;
use std::time::Duration;

use crate::duration::parse_duration;
use crate::listeners::ListenError;
use crate::notify::NotifyAddrError;

/// Overrides the default stop delay, for a process whose supervisor runs the
/// stop delay itself (`changeover run` sets it to `0s` for its child).
pub const STOP_DELAY_VAR: &str = "CHANGEOVER_STOP_DELAY";

/// The default drain deadline: 5 s stop delay + 20 s drain fit in
/// Kubernetes' default 30 s grace period with room to spare.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(20);
/// The default stop delay on Kubernetes (elsewhere it is zero).
pub const DEFAULT_KUBERNETES_STOP_DELAY: Duration = Duration::from_secs(5);
/// How long a successor may take to report `READY=1` before it is killed.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long an idle keep-alive connection is kept open once accepting
/// stopped, so a request the client is already sending is still answered
/// (with `Connection: close`) instead of meeting a closed socket.
pub const DEFAULT_LAME_DUCK: Duration = Duration::from_secs(1);

/// Why the lifecycle could not be set up.
#[derive(Debug)]
pub enum Error {
    /// A listener could not be inherited or bound.
    Listen(ListenError),
    /// `NOTIFY_SOCKET` (or the upstream variable) is malformed.
    Notify(NotifyAddrError),
    /// An environment variable of changeover's own is malformed.
    Env {
        /// The variable.
        var: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// Signal handlers could not be installed.
    Signals(std::io::Error),
    /// The pid file could not be written.
    PidFile(PathBuf, std::io::Error),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Listen(e) => e.fmt(f),
            Error::Notify(e) => e.fmt(f),
            Error::Env { var, problem } => write!(f, "{var}: {problem}"),
            Error::Signals(e) => write!(f, "cannot install signal handlers: {e}"),
            Error::PidFile(p, e) => write!(
                f,
                "cannot write pid file {}: {e}; check that its directory exists and is writable",
                p.display()
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Listen(e) => Some(e),
            Error::Notify(e) => Some(e),
            Error::Env { .. } => None,
            Error::Signals(e) | Error::PidFile(_, e) => Some(e),
        }
    }
}

impl From<ListenError> for Error {
    fn from(e: ListenError) -> Error {
        Error::Listen(e)
    }
}

/// The stop delay when the builder was given none: [`STOP_DELAY_VAR`], else
/// the Kubernetes default when `KUBERNETES_SERVICE_HOST` is set, else zero.
pub(super) fn default_stop_delay() -> Result<Duration, Error> {
    if let Some(v) = std::env::var_os(STOP_DELAY_VAR) {
        let v = v.to_string_lossy();
        return parse_duration(&v).map_err(|e| Error::Env {
            var: STOP_DELAY_VAR,
            problem: e.to_string(),
        });
    }
    Ok(if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() {
        DEFAULT_KUBERNETES_STOP_DELAY
    } else {
        Duration::ZERO
    })
}
