//! The processes a scenario starts and watches: a server in a process group of its own
//! ([`Started`]), its notifications, signals, and waiting for any process to exit.

use std::ffi::OsString;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use changeover::notify::{NotifyReceiver, Report as Notification};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

use crate::ScenarioError;

/// A process started by a scenario, in a process group of its own that its successors
/// inherit: whatever is left of the group is killed when this is dropped, so a scenario that
/// fails half-way leaves no process behind.
#[derive(Debug)]
pub(crate) struct Started {
    child: Child,
    group: Pid,
}

impl Started {
    /// Its pid, while it has not been reaped.
    pub(crate) fn pid(&self) -> Result<u32, ScenarioError> {
        self.child
            .id()
            .ok_or(ScenarioError::Exited { when: "on its own" })
    }

    /// Waits up to `within` for it to exit; `what` names it in the error.
    pub(crate) async fn exited(
        &mut self,
        what: &str,
        within: Duration,
    ) -> Result<ExitStatus, ScenarioError> {
        match tokio::time::timeout(within, self.child.wait()).await {
            Ok(Ok(status)) => Ok(status),
            Ok(Err(e)) => Err(ScenarioError::Watch {
                pid: self.group.as_raw().unsigned_abs(),
                source: e,
            }),
            Err(_) => Err(ScenarioError::DidNotExit {
                what: what.to_owned(),
                within,
            }),
        }
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        // ESRCH: the whole group is gone already, which is the goal. Anything else (EPERM
        // cannot happen for a group we started) goes to standard error: a drop cannot fail.
        if let Err(e) = killpg(self.group, Signal::SIGKILL) {
            if e != nix::errno::Errno::ESRCH {
                eprintln!(
                    "changeover: could not clean up process group {}: {e}",
                    self.group
                );
            }
        }
    }
}

/// Starts `program ARGS` in a process group of its own with `NOTIFY_SOCKET` pointing at `rx`
/// (and no `LISTEN_*` of ours), standard output discarded and `RUST_LOG=warn`.
pub(crate) fn spawn(
    program: &Path,
    args: &[OsString],
    rx: &NotifyReceiver,
) -> Result<Started, ScenarioError> {
    let child = Command::new(program)
        .process_group(0)
        .args(args)
        .env("NOTIFY_SOCKET", rx.addr().to_env_value())
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_PID")
        .env_remove("LISTEN_FDNAMES")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| ScenarioError::Spawn {
            program: program.to_owned(),
            source,
        })?;
    let pid = child
        .id()
        .ok_or(ScenarioError::Exited { when: "at once" })?;
    Ok(Started {
        child,
        // A pid fits a pid_t: the kernel hands out nothing larger.
        group: Pid::from_raw(pid as i32),
    })
}

/// Starts `program ARGS` (see [`spawn`]) and waits up to `within` for its `READY=1`; returns it
/// and its pid.
pub(crate) async fn spawn_ready(
    program: &Path,
    args: &[OsString],
    rx: &NotifyReceiver,
    within: Duration,
) -> Result<(Started, u32), ScenarioError> {
    let started = spawn(program, args, rx)?;
    let pid = started.pid()?;
    notification(rx, pid, Notification::is_ready, within).await?;
    Ok((started, pid))
}

/// Waits up to `within` for a notification from `pid` that satisfies `want`. The sender's pid
/// comes from the kernel (`SCM_CREDENTIALS`), so another process cannot speak for it.
pub(crate) async fn notification(
    rx: &NotifyReceiver,
    pid: u32,
    want: impl Fn(&Notification) -> bool,
    within: Duration,
) -> Result<Notification, ScenarioError> {
    let wait = async {
        loop {
            match rx.recv().await {
                Ok(Ok(r)) if r.pid == Some(pid) && want(&r) => return Ok(r),
                // Another process's report, another kind of report, or a malformed datagram.
                Ok(_) => continue,
                Err(e) => return Err(ScenarioError::Notify(e)),
            }
        }
    };
    tokio::time::timeout(within, wait)
        .await
        .map_err(|_| ScenarioError::NoReport { pid, within })?
}

/// Sends `signal` to `pid`, a process this scenario started or was told of by one it started.
pub(crate) fn send(pid: u32, signal: Signal) -> Result<(), ScenarioError> {
    kill(Pid::from_raw(pid as i32), signal).map_err(|source| ScenarioError::Signal {
        pid,
        signal,
        source,
    })
}

/// Waits up to `within` for any process (not only a child of ours) to exit.
pub(crate) async fn gone(pid: u32, within: Duration) -> Result<(), ScenarioError> {
    tokio::time::timeout(within, changeover::process::wait_for_exit(pid))
        .await
        .map_err(|_| ScenarioError::DidNotExit {
            what: format!("process {pid}"),
            within,
        })?
        .map_err(|source| ScenarioError::Watch { pid, source })
}

/// A port on 127.0.0.1 that was free a moment ago.
pub(crate) fn free_port() -> Result<u16, ScenarioError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|source| ScenarioError::Setup {
            what: "no free port on 127.0.0.1".into(),
            source,
        })
}

/// A notify socket of the scenario's own, on an abstract name (nothing on disk).
pub(crate) fn notify_receiver() -> Result<NotifyReceiver, ScenarioError> {
    NotifyReceiver::bind_unique("demo").map_err(|source| ScenarioError::Setup {
        what: "cannot bind a notify socket".into(),
        source,
    })
}
