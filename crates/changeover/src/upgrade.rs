//! Self-upgrade: start the successor with our listeners, wait for its
//! `READY=1` (bounded), then hand over — or kill it and serve on.

use std::ffi::OsString;
use std::os::fd::AsFd;
use std::process::ExitStatus;
use std::time::Duration;

use crate::duration::format_duration;
use crate::lifecycle::{Lifecycle, UPSTREAM_NOTIFY_VAR, lock};
use crate::notify::NotifyReceiver;
use crate::spawn::{self, ChildSpec, SpawnError};

/// Why an upgrade did not happen. In every case the old generation serves on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpgradeError {
    /// The server has not declared itself ready yet.
    NotReady,
    /// A stop began; upgrades are off.
    Stopping,
    /// The successor could not be started.
    Spawn(String),
    /// The successor exited before it reported ready.
    Exited(String),
    /// The successor did not report ready within the deadline and was killed.
    Timeout(Duration),
    /// The handover socket failed.
    Io(String),
}

impl std::fmt::Display for UpgradeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpgradeError::NotReady => write!(f, "the server is not ready yet; retry once it is"),
            UpgradeError::Stopping => write!(f, "the server is stopping"),
            UpgradeError::Spawn(e) => write!(f, "the successor could not be started: {e}"),
            UpgradeError::Exited(status) => write!(
                f,
                "the successor exited before it was ready ({status}); see its output above"
            ),
            UpgradeError::Timeout(d) => write!(
                f,
                "the successor did not report READY=1 within {} and was killed; raise the ready timeout if it needs longer",
                format_duration(*d)
            ),
            UpgradeError::Io(e) => write!(f, "the handover socket failed: {e}"),
        }
    }
}

impl std::error::Error for UpgradeError {}

/// Describes how a child ended, the way a shell would.
pub fn describe_exit(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => {
            let name = nix::sys::signal::Signal::try_from(sig)
                .map(|s| s.as_str().to_owned())
                .unwrap_or_else(|_| format!("signal {sig}"));
            format!("killed by {name}")
        }
        _ => "ended".to_owned(),
    }
}

/// Kills the child when dropped, unless it was handed over.
struct Candidate {
    child: Option<tokio::process::Child>,
}

impl Candidate {
    fn hand_over(mut self) {
        // Not killed, not waited for: it is the live generation now and
        // outlives this process.
        drop(self.child.take());
    }
}

impl Drop for Candidate {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            if let Err(e) = child.start_kill() {
                tracing::warn!(error = %e, "could not kill the abandoned successor");
            }
        }
    }
}

/// Runs one upgrade; the successor's pid once it is ready.
pub(crate) async fn run(lc: Lifecycle) -> Result<u32, UpgradeError> {
    let inner = &lc.inner;
    let program = inner
        .exe
        .clone()
        .ok_or_else(|| UpgradeError::Spawn("this process has no argv[0]".into()))?;
    let receiver =
        NotifyReceiver::bind_unique("upgrade").map_err(|e| UpgradeError::Io(e.to_string()))?;
    let upstream: OsString = lock(&inner.notify)
        .upstream
        .as_ref()
        .map(|n| n.addr().to_env_value())
        .unwrap_or_default();
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(k, _)| k != UPSTREAM_NOTIFY_VAR)
        .collect();
    env.push((UPSTREAM_NOTIFY_VAR.into(), upstream));
    let child = {
        let passed = lock(&inner.passed);
        spawn::spawn(ChildSpec {
            program: program.clone(),
            argv0: program.clone(),
            args: inner.args.clone(),
            env,
            listeners: passed
                .iter()
                .map(|(name, fd)| (name.clone(), fd.as_fd()))
                .collect(),
            notify_socket: Some(receiver.addr().to_env_value()),
            own_process_group: false,
            stdout: None,
            stderr: None,
            // Until it is ready it must not outlive us; it clears this itself then.
            death_signal: Some(spawn::DEATH_SIGNAL),
        })
    }
    .map_err(|e: SpawnError| UpgradeError::Spawn(e.to_string()))?;
    let pid = child
        .id()
        .ok_or_else(|| UpgradeError::Exited("at once".into()))?;
    tracing::info!(successor = pid, program = %program.to_string_lossy(), "started successor; waiting for READY=1");
    let mut candidate = Candidate { child: Some(child) };
    let deadline = tokio::time::sleep(inner.ready_timeout);
    tokio::pin!(deadline);
    loop {
        let child = candidate.child.as_mut().expect("present until handed over");
        tokio::select! {
            report = receiver.recv() => match report {
                Ok(Ok(report)) if report.pid == Some(pid) => {
                    if let Some(status) = report.get("STATUS") {
                        tracing::info!(successor = pid, status, "successor status");
                    }
                    if report.is_ready() {
                        // It may have died right after sending READY=1: hand over only to a
                        // successor that is still there.
                        if let Ok(Some(status)) = child.try_wait() {
                            candidate.child = None;
                            return Err(UpgradeError::Exited(describe_exit(status)));
                        }
                        candidate.hand_over();
                        return Ok(pid);
                    }
                }
                Ok(Ok(report)) => tracing::warn!(
                    sender = ?report.pid, successor = pid,
                    "ignoring a notification from a process that is not the successor"
                ),
                Ok(Err(bad)) => tracing::warn!("ignoring {bad}"),
                Err(e) => return Err(UpgradeError::Io(e.to_string())),
            },
            status = child.wait() => {
                candidate.child = None;
                return Err(UpgradeError::Exited(match status {
                    Ok(s) => describe_exit(s),
                    Err(e) => e.to_string(),
                }));
            }
            _ = &mut deadline => {
                if let Err(e) = child.kill().await {
                    tracing::warn!(error = %e, successor = pid, "could not kill the successor");
                }
                candidate.child = None;
                return Err(UpgradeError::Timeout(inner.ready_timeout));
            }
        }
    }
}
