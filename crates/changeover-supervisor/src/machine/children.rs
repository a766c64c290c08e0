//! What comes from the children — a process reaped (a child, a probe or an
//! orphan), a notification — and the signals passed on to the current one.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use changeover::format_duration;
use changeover::log_limit::Counts;
use changeover::notify::{MalformedReport, Report};
use changeover::process::describe_exit;
use nix::sys::signal::Signal;
use tokio::time::Instant;

use super::failure::ReloadFailure;
use super::generation::{Check, Phase};
use super::seam::Processes;
use super::state::{Machine, Mode};
use crate::config::signal_name;
use crate::metrics::ExitKind;

impl<P: Processes> Machine<P> {
    pub(crate) fn on_exit(&mut self, now: Instant, pid: u32, status: ExitStatus) {
        if let Some(i) = self.generations.iter().position(|g| g.pid == pid) {
            self.child_exited(now, i, status);
            return;
        }
        if let Some(i) = self
            .generations
            .iter()
            .position(|g| g.running_probe() == Some(pid))
        {
            self.probe_exited(now, i, status);
            return;
        }
        self.metrics.orphans_reaped += 1;
        tracing::debug!(pid, "reaped an orphan ({})", describe_exit(status));
    }

    /// The child of the generation at `index` ended: it is gone.
    fn child_exited(&mut self, now: Instant, index: usize, status: ExitStatus) {
        let how = describe_exit(status);
        let g = self.generations.remove(index);
        let pid = g.pid;
        // Proxy mode: out of the routing table; requests still in flight to it fail (502).
        self.processes.gone(g.id);
        if let Some(probe) = g.running_probe() {
            self.processes.kill_group(probe);
        }
        if g.id == self.main_generation {
            self.main_exit = Some(status);
        }
        let kind = match g.phase {
            Phase::Killed => {
                tracing::warn!(generation = g.id, pid, "killed child exited ({how})");
                ExitKind::Killed
            }
            // A signal other than the one it was sent, and not our SIGKILL
            // (that is `Killed`): something else ended it mid-drain.
            Phase::Draining { .. }
                if status
                    .signal()
                    .is_some_and(|s| s != self.timing.stop_signal as i32) =>
            {
                let signal = status.signal().and_then(|s| Signal::try_from(s).ok());
                let name = signal.map_or("an unknown signal", signal_name);
                tracing::warn!(
                    generation = g.id,
                    pid,
                    "draining child was killed by SIG{name}, a signal the supervisor did not send (the OOM killer? see dmesg); requests in flight to it were lost"
                );
                match signal {
                    Some(signal) => ExitKind::Signalled(signal),
                    None => ExitKind::Unexpected,
                }
            }
            Phase::Draining { signalled_at, .. } => {
                let took = now - signalled_at;
                self.metrics.drain_seconds.observe(took);
                tracing::info!(
                    generation = g.id,
                    pid,
                    took = %format_duration(took),
                    "child drained and exited ({how})"
                );
                ExitKind::Drained
            }
            Phase::Starting { .. } | Phase::Abandoned | Phase::Ready | Phase::Retired { .. } => {
                ExitKind::Unexpected
            }
        };
        self.metrics.child_exited(kind);
        let is_successor = self.is_successor(g.id);
        match g.phase {
            Phase::Starting { .. } | Phase::Abandoned if is_successor => {
                self.reload_failed(ReloadFailure::Exited(status));
            }
            Phase::Starting { .. } | Phase::Abandoned => {
                tracing::error!(
                    generation = g.id,
                    pid,
                    "the child exited before it was ready ({how}); exiting with its status"
                );
                self.begin_exiting();
            }
            Phase::Ready => match self.mode {
                Mode::Reloading(_) => tracing::warn!(
                    generation = g.id,
                    pid,
                    "the serving child exited ({how}) during a reload; the new child takes over once ready"
                ),
                Mode::Running => {
                    tracing::warn!(
                        generation = g.id,
                        pid,
                        "the child exited on its own ({how}); exiting with its status"
                    );
                    self.mode = Mode::Exiting;
                }
                Mode::Stopping(_) | Mode::Exiting => {}
            },
            // Killed at its ready deadline (already reported), or by a forced stop.
            Phase::Draining { .. } | Phase::Killed if is_successor => {
                self.reload_failed(ReloadFailure::Exited(status));
            }
            Phase::Retired { .. } => tracing::warn!(
                generation = g.id,
                pid,
                "a retired child exited before its stop signal ({how}); requests still in flight to it are answered 502"
            ),
            Phase::Draining { .. } | Phase::Killed => {}
        }
        self.check_still_serving();
    }

    pub(crate) fn on_notify(&mut self, now: Instant, report: Result<Report, MalformedReport>) {
        let report = match report {
            Ok(r) => r,
            Err(bad) => {
                if let Some(counts) = self.malformed_notes.hit(now.into_std()) {
                    tracing::warn!(
                        "ignoring a malformed notification: {bad}{}",
                        not_logged(counts)
                    );
                }
                return;
            }
        };
        let Some(g) = report
            .pid
            .and_then(|pid| self.generations.iter_mut().find(|g| g.pid == pid))
        else {
            let Some(counts) = self.stranger_notes.hit(now.into_std()) else {
                return;
            };
            let fields: Vec<String> = report
                .fields
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            tracing::warn!(
                sender = ?report.pid,
                fields = ?fields,
                "ignoring a notification from a process that is not a child{}",
                not_logged(counts)
            );
            return;
        };
        let (id, pid) = (g.id, g.pid);
        if let Some(s) = report.get("STATUS") {
            tracing::info!(generation = id, pid, status = s, "child status");
            g.status_text = Some(s.to_owned());
        }
        if report.get("RELOADING") == Some("1") {
            tracing::info!(
                generation = id,
                pid,
                "child reports RELOADING=1 (under changeover run a reload starts a new child; nothing to do)"
            );
        }
        if report.get("STOPPING") == Some("1") {
            tracing::debug!(generation = id, pid, "child reports STOPPING=1");
        }
        if report.get("MAINPID").is_some() {
            tracing::warn!(
                generation = id,
                pid,
                "child sent MAINPID=, which changeover run does not follow; ignored"
            );
        }
        if report.is_ready() {
            // READY=1 counts only when `--ready notify` is how this child is checked.
            if matches!(
                g.phase,
                Phase::Starting {
                    check: Check::Notify,
                    ..
                }
            ) {
                self.became_ready(now, id);
            } else {
                tracing::debug!(generation = id, pid, "READY=1 needs no action");
            }
        }
    }

    /// Proxy mode: nothing is in flight to generation `id` any more. If it
    /// is retired, now it gets its stop signal; its SIGKILL deadline stays
    /// its drain deadline, with at least [`FORCE_GRACE`] after the signal.
    ///
    /// [`FORCE_GRACE`]: super::FORCE_GRACE
    pub(crate) fn drained(&mut self, now: Instant, id: u64) {
        let Some(g) = self.generation(id) else {
            return;
        };
        let Phase::Retired { kill_deadline } = g.phase else {
            return;
        };
        tracing::info!(
            generation = id,
            pid = g.pid,
            "nothing is in flight to the retired child"
        );
        self.begin_drain_until(now, id, kill_deadline.max(now + super::FORCE_GRACE));
    }

    pub(crate) fn forward(&mut self, signal: Signal) {
        let target = self
            .generations
            .iter()
            .rev()
            .find(|g| g.is_ready())
            .or_else(|| self.generations.iter().rev().find(|g| !g.is_killed()))
            .map(|g| (g.id, g.pid));
        match target {
            Some((id, pid)) => {
                tracing::info!(
                    generation = id,
                    pid,
                    "forwarding SIG{} to the child",
                    signal_name(signal)
                );
                self.processes.signal(pid, signal);
            }
            None => tracing::info!(
                "SIG{} received with no child to forward it to",
                signal_name(signal)
            ),
        }
    }
}

/// What a rate-limited warning adds about the ones before it that were not logged.
fn not_logged(counts: Counts) -> String {
    if counts.unlogged == 0 {
        String::new()
    } else {
        format!(
            " ({} more not logged since the last such line, {} in all)",
            counts.unlogged, counts.total
        )
    }
}
