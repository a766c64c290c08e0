//! Self-upgrade: start a successor from an [`UpgradePlan`], wait for its
//! `READY=1` (bounded), then hand over — or kill it and serve on.
//!
//! The plan says everything the successor gets: the program, its arguments
//! and environment, the listeners by name (passed at fd 3 onwards, the
//! systemd way), the notify socket this generation reports to (passed on as
//! [`UPSTREAM_NOTIFY_VAR`], so the successor reports there once it has taken
//! over), and how long it may take to get ready. The successor's
//! `NOTIFY_SOCKET` is a fresh socket of this process; only reports the
//! kernel says come from the successor's own pid count.
//!
//! The outcome is the [`Successor`] (it is the live generation now, left
//! running): its pid, and where it takes idle connections if it does (the
//! [`CONNECTIONS_FIELD`] of its `READY=1`); or an [`UpgradeError`] (it
//! exited, or it was killed at the deadline). What the lifecycle does with
//! either (drain, hand connections over, or serve on) is not this module's
//! business.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

use crate::duration::format_duration;
use crate::notify::{NotifyAddr, NotifyReceiver};
use crate::process::describe_exit;
use crate::spawn::{self, ChildSpec, SpawnError};

#[cfg(test)]
mod tests;

/// Set by a parent for its successor: the notify socket the parent itself
/// reports to (systemd's), so that the successor can report there once it
/// has taken over. Empty when the parent had none.
pub const UPSTREAM_NOTIFY_VAR: &str = "CHANGEOVER_NOTIFY_UPSTREAM";

/// The field of a successor's `READY=1` (to its parent's handover socket)
/// that says it takes idle connections over, and where: the address of a
/// `SOCK_SEQPACKET` Unix socket (`@abstract` or a path). A successor that
/// does not send it gets no connection; its parent closes them as before.
pub(crate) const CONNECTIONS_FIELD: &str = "X_CHANGEOVER_CONNECTIONS";

/// A successor that reported ready: the live generation from now on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Successor {
    /// Its pid.
    pub(crate) pid: u32,
    /// Where it takes idle connections over, when it said so.
    pub(crate) connections: Option<NotifyAddr>,
}

/// Why an upgrade did not happen. In every case the old generation serves on.
#[derive(Debug, Clone)]
pub enum UpgradeError {
    /// The server has not declared itself ready yet.
    NotReady,
    /// A stop began; upgrades are off.
    Stopping,
    /// This process was started without an `argv[0]`, so there is no
    /// program to start the successor from.
    NoProgram,
    /// The successor could not be started.
    Spawn(Arc<SpawnError>),
    /// The successor exited before it reported ready.
    Exited(ExitStatus),
    /// Waiting for the successor failed.
    Wait(Arc<io::Error>),
    /// The successor did not report ready within the deadline and was killed.
    Timeout(Duration),
    /// The handover socket failed.
    Io(Arc<io::Error>),
}

impl std::fmt::Display for UpgradeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpgradeError::NotReady => write!(f, "the server is not ready yet; retry once it is"),
            UpgradeError::Stopping => write!(f, "the server is stopping"),
            UpgradeError::NoProgram => write!(
                f,
                "the successor could not be started: this process has no argv[0]"
            ),
            UpgradeError::Spawn(e) => write!(f, "the successor could not be started: {e}"),
            UpgradeError::Exited(status) => write!(
                f,
                "the successor exited before it was ready ({}); see its output above",
                describe_exit(*status)
            ),
            UpgradeError::Wait(e) => write!(f, "could not wait for the successor: {e}"),
            UpgradeError::Timeout(d) => write!(
                f,
                "the successor did not report READY=1 within {} and was killed; raise the ready timeout if it needs longer",
                format_duration(*d)
            ),
            UpgradeError::Io(e) => write!(f, "the handover socket failed: {e}"),
        }
    }
}

impl std::error::Error for UpgradeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            UpgradeError::Spawn(e) => Some(&**e),
            UpgradeError::Wait(e) | UpgradeError::Io(e) => Some(&**e),
            _ => None,
        }
    }
}

/// Everything a successor is started with.
#[derive(Debug)]
pub(crate) struct UpgradePlan {
    /// The program to execute, also its `argv[0]`.
    pub(crate) program: OsString,
    /// The arguments after `argv[0]`.
    pub(crate) args: Vec<OsString>,
    /// Its environment; the protocol variables (`LISTEN_*`,
    /// `NOTIFY_SOCKET`, [`UPSTREAM_NOTIFY_VAR`]) are set from the plan.
    pub(crate) env: Vec<(OsString, OsString)>,
    /// The listeners, by name, in the order they are passed.
    pub(crate) listeners: Vec<(String, Arc<OwnedFd>)>,
    /// Where this generation reports (systemd's socket), for the successor
    /// to report to once it has taken over.
    pub(crate) upstream_notify: Option<NotifyAddr>,
    /// How long the successor may take to report `READY=1`.
    pub(crate) ready_timeout: Duration,
}

/// Kills the successor when dropped, unless it was handed over: an upgrade
/// abandoned half-way (a stop began) leaves no second generation behind.
struct KillUnlessHandedOver {
    child: Option<tokio::process::Child>,
}

impl KillUnlessHandedOver {
    fn hand_over(mut self) {
        // Not killed, not waited for: it is the live generation now and
        // outlives this process.
        drop(self.child.take());
    }
}

impl Drop for KillUnlessHandedOver {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            if let Err(e) = child.start_kill() {
                tracing::warn!(error = %e, "could not kill the abandoned successor");
            }
        }
    }
}

/// Runs one upgrade; the successor once it is ready.
pub(crate) async fn run(plan: UpgradePlan) -> Result<Successor, UpgradeError> {
    let receiver =
        NotifyReceiver::bind_unique("upgrade").map_err(|e| UpgradeError::Io(Arc::new(e)))?;
    let upstream: OsString = plan
        .upstream_notify
        .as_ref()
        .map(NotifyAddr::to_env_value)
        .unwrap_or_default();
    let mut env: Vec<(OsString, OsString)> = plan
        .env
        .into_iter()
        .filter(|(k, _)| k != UPSTREAM_NOTIFY_VAR)
        .collect();
    env.push((UPSTREAM_NOTIFY_VAR.into(), upstream));
    let child = spawn::spawn(ChildSpec {
        program: plan.program.clone(),
        argv0: plan.program.clone(),
        args: plan.args,
        env,
        listeners: plan
            .listeners
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
    .map_err(|e| UpgradeError::Spawn(Arc::new(e)))?;
    let pid = child.id().ok_or_else(|| {
        UpgradeError::Wait(Arc::new(io::Error::other(
            "the successor was reaped before its pid was known",
        )))
    })?;
    tracing::info!(successor = pid, program = %plan.program.to_string_lossy(), "started successor; waiting for READY=1");
    let mut candidate = KillUnlessHandedOver { child: Some(child) };
    let deadline = tokio::time::sleep(plan.ready_timeout);
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
                            return Err(UpgradeError::Exited(status));
                        }
                        candidate.hand_over();
                        let connections = report.get(CONNECTIONS_FIELD).and_then(|v| {
                            let addr = NotifyAddr::parse(v.as_ref()).ok();
                            if addr.is_none() {
                                tracing::warn!(successor = pid, value = v, "ignoring {CONNECTIONS_FIELD}: not a socket address; idle connections close the old way");
                            }
                            addr
                        });
                        return Ok(Successor { pid, connections });
                    }
                }
                Ok(Ok(report)) => tracing::warn!(
                    sender = ?report.pid, successor = pid,
                    "ignoring a notification from a process that is not the successor"
                ),
                Ok(Err(bad)) => tracing::warn!("ignoring {bad}"),
                Err(e) => return Err(UpgradeError::Io(Arc::new(e))),
            },
            status = child.wait() => {
                candidate.child = None;
                return Err(match status {
                    Ok(s) => UpgradeError::Exited(s),
                    Err(e) => UpgradeError::Wait(Arc::new(e)),
                });
            }
            _ = &mut deadline => {
                if let Err(e) = child.kill().await {
                    tracing::warn!(error = %e, successor = pid, "could not kill the successor");
                }
                candidate.child = None;
                return Err(UpgradeError::Timeout(plan.ready_timeout));
            }
        }
    }
}
