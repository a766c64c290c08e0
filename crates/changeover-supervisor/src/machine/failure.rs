//! Why a reload did not happen: [`Refusal`] (it was not even started) and
//! [`ReloadFailure`] (it was rolled back). Their `Display` is what
//! `changeover reload` prints and what the log says; a failure keeps the
//! error that caused it as its `source()`.

use std::error::Error;
use std::fmt;
use std::process::ExitStatus;
use std::time::Duration;

use changeover::format_duration;
use changeover::process::describe_exit;
use changeover::spawn::SpawnError;

use crate::config::ReadyMode;

/// Why a reload was rolled back.
#[derive(Debug)]
pub enum ReloadFailure {
    /// The new child could not be started.
    Spawn(SpawnError),
    /// The new child exited before it was ready.
    Exited(ExitStatus),
    /// The new child was not ready within the ready timeout and was killed.
    Timeout {
        /// The timeout.
        timeout: Duration,
        /// How the check was made.
        mode: ReadyMode,
        /// How the last probe run ended, in `exec:` mode.
        last_probe: Option<ExitStatus>,
    },
    /// Proxy mode: the new child did not serve on its upstream (`http:PATH`
    /// answered 2xx, or a connection accepted) within the ready timeout and
    /// was killed.
    NotServing {
        /// The timeout.
        timeout: Duration,
        /// The path asked for (`None`: a connection was all it took).
        path: Option<String>,
        /// Why the last check failed.
        last: Option<String>,
    },
    /// The readiness probe could not be started.
    Probe(SpawnError),
    /// A stop began while the new child was starting.
    Stopping,
}

impl fmt::Display for ReloadFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReloadFailure::Spawn(e) => write!(f, "the new child could not be started: {e}"),
            ReloadFailure::Exited(status) => write!(
                f,
                "the new child exited before it was ready ({}); see its output above",
                describe_exit(*status)
            ),
            ReloadFailure::Timeout {
                timeout,
                mode,
                last_probe,
            } => {
                let t = format_duration(*timeout);
                match mode {
                    ReadyMode::Notify => write!(
                        f,
                        "the new child did not send READY=1 within {t} and was killed; raise --ready-timeout, or use --ready delay:DURATION or exec:COMMAND (with --proxy: http:PATH) if it cannot notify"
                    ),
                    ReadyMode::Delay(_) | ReadyMode::Http(_) | ReadyMode::Connect => {
                        write!(f, "the new child was not ready within {t}")
                    }
                    ReadyMode::Exec(cmd) => write!(
                        f,
                        "the readiness probe {cmd:?} did not succeed within {t} (last run: {}); the new child was killed",
                        last_probe.map_or_else(|| "none finished".to_owned(), describe_exit)
                    ),
                }
            }
            ReloadFailure::NotServing {
                timeout,
                path,
                last,
            } => {
                let t = format_duration(*timeout);
                let last = last.as_deref().unwrap_or("none finished");
                match path {
                    Some(p) => write!(
                        f,
                        "the new child did not answer GET {p} with 2xx on its upstream within {t} (last: {last}) and was killed; check the path, or raise --ready-timeout"
                    ),
                    None => write!(
                        f,
                        "the new child did not accept a connection on its upstream port within {t} (last: {last}) and was killed; it must listen on the port in the variable --upstream env: names, at $HOST"
                    ),
                }
            }
            ReloadFailure::Probe(e) => write!(f, "the readiness probe could not be started: {e}"),
            ReloadFailure::Stopping => write!(f, "a stop began while the new child was starting"),
        }
    }
}

impl Error for ReloadFailure {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            ReloadFailure::Spawn(e) | ReloadFailure::Probe(e) => Some(e),
            ReloadFailure::Exited(_)
            | ReloadFailure::Timeout { .. }
            | ReloadFailure::NotServing { .. }
            | ReloadFailure::Stopping => None,
        }
    }
}

/// Why a reload was not even started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The supervisor is stopping.
    Stopping,
    /// The child exited and the supervisor is exiting with its status.
    Exiting,
    /// The first child is not ready yet.
    NotReady,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Stopping => write!(f, "the supervisor is stopping"),
            Refusal::Exiting => write!(
                f,
                "the child exited and the supervisor is exiting with its status"
            ),
            Refusal::NotReady => write!(
                f,
                "the first child is not ready yet; retry once `changeover status` shows it ready"
            ),
        }
    }
}

impl Error for Refusal {}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    /// What users read is unchanged since the failures kept their sources.
    #[test]
    fn failures_read_as_before() {
        let secs = Duration::from_secs;
        for (failure, text) in [
            (
                ReloadFailure::Spawn(SpawnError::NotFound("server".into())),
                "the new child could not be started: command \"server\" not found: check the path, or that it is installed and in PATH",
            ),
            (
                ReloadFailure::Exited(ExitStatus::from_raw(3 << 8)),
                "the new child exited before it was ready (exit status 3); see its output above",
            ),
            (
                ReloadFailure::Timeout {
                    timeout: secs(10),
                    mode: ReadyMode::Notify,
                    last_probe: None,
                },
                "the new child did not send READY=1 within 10s and was killed; raise --ready-timeout, or use --ready delay:DURATION or exec:COMMAND (with --proxy: http:PATH) if it cannot notify",
            ),
            (
                ReloadFailure::Timeout {
                    timeout: secs(10),
                    mode: ReadyMode::Delay(secs(20)),
                    last_probe: None,
                },
                "the new child was not ready within 10s",
            ),
            (
                ReloadFailure::Timeout {
                    timeout: secs(1),
                    mode: ReadyMode::Exec("check".into()),
                    last_probe: Some(ExitStatus::from_raw(7 << 8)),
                },
                "the readiness probe \"check\" did not succeed within 1s (last run: exit status 7); the new child was killed",
            ),
            (
                ReloadFailure::Timeout {
                    timeout: secs(1),
                    mode: ReadyMode::Exec("check".into()),
                    last_probe: None,
                },
                "the readiness probe \"check\" did not succeed within 1s (last run: none finished); the new child was killed",
            ),
            (
                ReloadFailure::Probe(SpawnError::NotFound("sh".into())),
                "the readiness probe could not be started: command \"sh\" not found: check the path, or that it is installed and in PATH",
            ),
            (
                ReloadFailure::Stopping,
                "a stop began while the new child was starting",
            ),
        ] {
            assert_eq!(failure.to_string(), text);
        }
    }

    #[test]
    fn a_failure_to_start_keeps_the_spawn_error_as_its_source() {
        for failure in [
            ReloadFailure::Spawn(SpawnError::NotFound("server".into())),
            ReloadFailure::Probe(SpawnError::NotFound("server".into())),
        ] {
            let source = failure.source().expect("a source");
            let spawn = source
                .downcast_ref::<SpawnError>()
                .expect("the SpawnError itself");
            assert_eq!(spawn.exit_status(), 127);
        }
        assert!(ReloadFailure::Stopping.source().is_none());
    }
}
