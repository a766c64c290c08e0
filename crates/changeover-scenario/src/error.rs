//! [`ScenarioError`]: why a scenario could not be carried out (as opposed to the requests it
//! counted as failed, which are its result).

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

use changeover_load::{ConfigError, TargetError, WaitError};
use nix::errno::Errno;
use nix::sys::signal::Signal;

/// Why a scenario could not be carried out.
#[derive(Debug)]
#[non_exhaustive]
pub enum ScenarioError {
    /// Something the scenario needs could not be had: `what` (a free port, the notify socket,
    /// a scratch directory...), and the error.
    Setup {
        /// What was being set up, in words.
        what: String,
        /// The error.
        source: io::Error,
    },
    /// A program could not be started.
    Spawn {
        /// The program.
        program: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The server exited while the scenario still needed it.
    Exited {
        /// When, in words (`at once`, `on its own`).
        when: &'static str,
    },
    /// A process did not send the notification the scenario waited for (`READY=1`,
    /// `MAINPID=`) in time.
    NoReport {
        /// The process.
        pid: u32,
        /// The deadline it had.
        within: Duration,
    },
    /// A successor was announced with `MAINPID=` but not as a pid.
    BadHandover {
        /// The value of `MAINPID=`.
        value: String,
    },
    /// Reading the notify socket failed.
    Notify(io::Error),
    /// A signal could not be sent.
    Signal {
        /// The process.
        pid: u32,
        /// The signal.
        signal: Signal,
        /// The error.
        source: Errno,
    },
    /// A process could not be watched for its exit.
    Watch {
        /// The process.
        pid: u32,
        /// The error.
        source: io::Error,
    },
    /// A process did not exit in time.
    DidNotExit {
        /// The process, in words (`process 4242`, `changeover run`).
        what: String,
        /// The deadline it had.
        within: Duration,
    },
    /// The server stopped, but not with status 0.
    ServerFailed {
        /// How it ended.
        status: ExitStatus,
    },
    /// `changeover reload --wait` did not succeed; what it wrote to standard error.
    Reload {
        /// Its standard error, trimmed.
        stderr: String,
    },
    /// The load's target could not be built.
    Target(TargetError),
    /// The load's settings were rejected.
    Load(ConfigError),
    /// The load did not get the answers it waited for between two restarts.
    Stalled(WaitError),
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScenarioError::Setup { what, source } => write!(f, "{what}: {source}"),
            ScenarioError::Spawn { program, source } => {
                write!(f, "cannot start {}: {source}", program.display())
            }
            ScenarioError::Exited { when } => write!(f, "the server exited {when}"),
            ScenarioError::NoReport { pid, within } => {
                write!(f, "process {pid} did not report within {within:?}")
            }
            ScenarioError::BadHandover { value } => {
                write!(f, "MAINPID= without a pid (MAINPID={value})")
            }
            ScenarioError::Notify(e) => write!(f, "notify socket: {e}"),
            ScenarioError::Signal {
                pid,
                signal,
                source,
            } => write!(f, "kill -{signal} {pid}: {source}"),
            ScenarioError::Watch { pid, source } => {
                write!(f, "cannot watch process {pid}: {source}")
            }
            ScenarioError::DidNotExit { what, within } => {
                write!(f, "{what} did not exit within {within:?}")
            }
            ScenarioError::ServerFailed { status } => write!(
                f,
                "the server ended with {}",
                changeover::process::describe_exit(*status)
            ),
            ScenarioError::Reload { stderr } => write!(f, "changeover reload failed: {stderr}"),
            ScenarioError::Target(e) => write!(f, "the load's target: {e}"),
            ScenarioError::Load(e) => write!(f, "the load: {e}"),
            ScenarioError::Stalled(e) => write!(f, "the load stalled: {e}"),
        }
    }
}

impl std::error::Error for ScenarioError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ScenarioError::Setup { source, .. }
            | ScenarioError::Spawn { source, .. }
            | ScenarioError::Watch { source, .. }
            | ScenarioError::Notify(source) => Some(source),
            ScenarioError::Signal { source, .. } => Some(source),
            ScenarioError::Target(e) => Some(e),
            ScenarioError::Load(e) => Some(e),
            ScenarioError::Stalled(e) => Some(e),
            ScenarioError::Exited { .. }
            | ScenarioError::NoReport { .. }
            | ScenarioError::BadHandover { .. }
            | ScenarioError::DidNotExit { .. }
            | ScenarioError::ServerFailed { .. }
            | ScenarioError::Reload { .. } => None,
        }
    }
}
