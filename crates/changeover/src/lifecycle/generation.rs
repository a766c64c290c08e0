//! This process as one generation of the server: where it came from (the
//! parent it reports ready to during an upgrade), where it reports its state
//! (systemd's notify socket, or a supervisor's), and what it would hand a
//! successor (its program, arguments and listeners), as an [`UpgradePlan`].

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::config::Error;
use crate::notify::{Notifier, NotifyAddr, monotonic_usec};
use crate::upgrade::{UPSTREAM_NOTIFY_VAR, UpgradeError, UpgradePlan};

/// Where this process reports its state.
#[derive(Debug, Default)]
struct NotifyTargets {
    /// The parent's handover socket, while this process is a successor that
    /// has not yet reported ready.
    handover: Option<Notifier>,
    /// systemd's socket (or a supervisor's), for everything else.
    upstream: Option<Notifier>,
}

/// This generation's links to the ones before and after it.
#[derive(Debug)]
pub(super) struct Generation {
    notify: Mutex<NotifyTargets>,
    /// The pid of the generation that started this one, while this one is
    /// its successor and has not reported ready yet (the parent's handover
    /// socket is in `notify`).
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    parent: Option<u32>,
    /// Where a successor is started from, and with which arguments.
    program: Option<OsString>,
    args: Vec<OsString>,
    /// A copy of every listener handed out, to pass to a successor.
    listeners: Mutex<Vec<(String, Arc<OwnedFd>)>>,
    ready_timeout: Duration,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind; keep going.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Generation {
    /// Reads this process's command line, `NOTIFY_SOCKET` and
    /// [`UPSTREAM_NOTIFY_VAR`].
    pub(super) fn from_process(ready_timeout: Duration) -> Result<Generation, Error> {
        let (program, args) = own_command_line();
        let notify = notify_targets()?;
        // A changeover parent starts its successor itself (fork, exec), so
        // the successor's parent process is that generation.
        let parent = notify
            .handover
            .as_ref()
            .map(|_| std::os::unix::process::parent_id());
        Ok(Generation {
            notify: Mutex::new(notify),
            parent,
            program,
            args,
            listeners: Mutex::new(Vec::new()),
            ready_timeout,
        })
    }

    /// Keeps a copy of a listener handed out, to pass on to a successor.
    pub(super) fn keep_listener(&self, name: &str, copy: OwnedFd) {
        lock(&self.listeners).push((name.to_owned(), Arc::new(copy)));
    }

    /// Closes the copies: once accepting stopped no successor can be
    /// started, and nothing here should hold the sockets open.
    pub(super) fn close_listeners(&self) {
        lock(&self.listeners).clear();
    }

    /// The generation this one succeeds, while it has not reported ready
    /// to it yet.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(super) fn parent(&self) -> Option<u32> {
        self.parent
            .filter(|_| lock(&self.notify).handover.is_some())
    }

    /// Reports `READY=1`: to the parent while this process is its successor
    /// (once: the parent is gone after), with `to_parent` (more
    /// `KEY=VALUE` lines) after it; else upstream.
    pub(super) fn report_ready(&self, to_parent: &str) {
        let mut notify = lock(&self.notify);
        let result = match notify.handover.take() {
            // A successor is tied to its parent until now; from READY=1 on it
            // is the server and outlives the parent, which exits once drained.
            Some(parent) => crate::spawn::outlive_parent()
                .and_then(|()| parent.send(&format!("READY=1\n{to_parent}"))),
            None => match &notify.upstream {
                Some(up) => up.send("READY=1"),
                None => Ok(()),
            },
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not report READY=1");
        }
    }

    /// Reports `message` upstream, if anyone listens there.
    pub(super) fn notify_upstream(&self, message: &str) {
        if let Some(up) = &lock(&self.notify).upstream {
            if let Err(e) = up.send(message) {
                tracing::warn!(error = %e, message, "could not notify");
            }
        }
    }

    /// Reports `RELOADING=1` upstream, with the `MONOTONIC_USEC` it asks for.
    pub(super) fn notify_reloading(&self) {
        match monotonic_usec() {
            Ok(us) => self.notify_upstream(&format!(
                "RELOADING=1\nMONOTONIC_USEC={us}\nSTATUS=upgrading"
            )),
            Err(e) => {
                // Never seen on Linux; a reload reported without the
                // timestamp beats one not reported (the supervisor does the same).
                tracing::warn!(error = %e, "cannot read CLOCK_MONOTONIC; reporting RELOADING=1 without MONOTONIC_USEC");
                self.notify_upstream("RELOADING=1\nSTATUS=upgrading");
            }
        }
    }

    /// What a successor started now gets: this process's program, arguments
    /// and environment, every listener handed out, the upstream notify socket.
    pub(super) fn plan_upgrade(&self) -> Result<UpgradePlan, UpgradeError> {
        Ok(UpgradePlan {
            program: self.program.clone().ok_or(UpgradeError::NoProgram)?,
            args: self.args.clone(),
            env: std::env::vars_os().collect(),
            listeners: lock(&self.listeners).clone(),
            upstream_notify: lock(&self.notify)
                .upstream
                .as_ref()
                .map(|n| n.addr().clone()),
            ready_timeout: self.ready_timeout,
        })
    }
}

/// The path to start a successor from, as this process was started (so a
/// binary replaced on disk is picked up), made absolute now in case the
/// working directory changes; and the arguments.
fn own_command_line() -> (Option<OsString>, Vec<OsString>) {
    let mut argv = std::env::args_os();
    let argv0 = argv.next();
    let args = argv.collect();
    let exe = argv0.map(|a0| {
        let p = PathBuf::from(&a0);
        if p.is_absolute() || !a0.as_encoded_bytes().contains(&b'/') {
            a0
        } else {
            match std::env::current_dir() {
                Ok(cwd) => cwd.join(p).into_os_string(),
                Err(_) => a0,
            }
        }
    });
    (exe, args)
}

/// Reads `NOTIFY_SOCKET` and [`UPSTREAM_NOTIFY_VAR`]: a successor started
/// by a changeover parent has both, anything else only the first.
fn notify_targets() -> Result<NotifyTargets, Error> {
    let parse = |v: OsString| NotifyAddr::parse(&v).map(Notifier::new);
    let notify_socket = std::env::var_os("NOTIFY_SOCKET").filter(|v| !v.is_empty());
    match std::env::var_os(UPSTREAM_NOTIFY_VAR) {
        // Started by a changeover parent as its successor.
        Some(up) => Ok(NotifyTargets {
            handover: notify_socket
                .map(parse)
                .transpose()
                .map_err(Error::Notify)?,
            upstream: Some(up)
                .filter(|v| !v.is_empty())
                .map(|v| NotifyAddr::parse_var(UPSTREAM_NOTIFY_VAR, &v).map(Notifier::new))
                .transpose()
                .map_err(Error::Notify)?,
        }),
        None => Ok(NotifyTargets {
            handover: None,
            upstream: notify_socket
                .map(parse)
                .transpose()
                .map_err(Error::Notify)?,
        }),
    }
}
