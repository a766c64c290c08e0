//! Bringing a generation up: starting it, checking its readiness, the
//! takeover from the generation it replaces (at most `--max-draining` old
//! ones drain at once), and the rollback when it fails.

use std::process::ExitStatus;
use std::time::Duration;

use changeover::format_duration;
use changeover::process::describe_exit;
use changeover::spawn::SpawnError;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::failure::{Refusal, ReloadFailure};
use super::generation::{Check, Generation, Phase, ProbeRun};
use super::seam::Processes;
use super::state::{Machine, Mode, Reload};
use crate::config::ReadyMode;
use crate::protocol::ReloadReply;

/// How long to wait between two runs of an `exec:` readiness probe.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(200);

/// Answers one reload request, if it wants an answer.
fn reply_to(reply: Option<oneshot::Sender<ReloadReply>>, answer: ReloadReply) {
    if let Some(tx) = reply {
        if tx.send(answer).is_err() {
            tracing::debug!("reload requester went away");
        }
    }
}

impl<P: Processes> Machine<P> {
    /// Starts the first child.
    pub fn start(&mut self, now: Instant) -> Result<u32, SpawnError> {
        let id = self.spawn_generation(now)?;
        self.main_generation = id;
        self.publish();
        Ok(self.generation(id).map(|g| g.pid).unwrap_or_default())
    }

    fn spawn_generation(&mut self, now: Instant) -> Result<u64, SpawnError> {
        let id = self.next_id;
        let pid = self.processes.start_child(id)?;
        self.next_id += 1;
        let upstream = |path: Option<&String>| Check::Upstream {
            path: path.cloned(),
            due: Some(now),
            last: None,
        };
        let check = match &self.timing.ready {
            ReadyMode::Notify => Check::Notify,
            ReadyMode::Delay(d) => Check::Delay { ready_at: now + *d },
            ReadyMode::Exec(_) => Check::Probe {
                run: ProbeRun::Due(now),
                last: None,
            },
            ReadyMode::Http(path) => upstream(Some(path)),
            ReadyMode::Connect => upstream(None),
        };
        tracing::info!(
            generation = id,
            pid,
            ready = %self.timing.ready,
            timeout = %format_duration(self.timing.ready_timeout),
            "started child; waiting until it is ready"
        );
        self.generations.push(Generation {
            id,
            pid,
            started: now,
            status_text: None,
            phase: Phase::Starting {
                ready_deadline: now + self.timing.ready_timeout,
                check,
            },
        });
        Ok(id)
    }

    pub(crate) fn on_reload(
        &mut self,
        now: Instant,
        wait: bool,
        reply: Option<oneshot::Sender<ReloadReply>>,
    ) {
        let refusal = match self.mode {
            Mode::Stopping(_) => Some(Refusal::Stopping),
            Mode::Exiting => Some(Refusal::Exiting),
            Mode::Running if !self.any_ready() => Some(Refusal::NotReady),
            Mode::Running | Mode::Reloading(_) => None,
        };
        if let Some(refusal) = refusal {
            tracing::warn!("reload refused: {refusal}");
            // systemd (`systemctl reload`) waits for the READY=1 that ends a
            // RELOADING=1; but after STOPPING=1 the two would tell it that a
            // stopping service is ready again.
            if refusal != Refusal::Stopping {
                self.tell_reloading();
                self.tell_service_manager(&format!("READY=1\nSTATUS=reload refused: {refusal}"));
            }
            reply_to(
                reply,
                ReloadReply::Refused {
                    reason: refusal.to_string(),
                },
            );
            return;
        }
        self.tell_reloading();
        if let Mode::Reloading(r) = &mut self.mode {
            let successor = r.successor;
            let pid = self
                .generations
                .iter()
                .find(|g| g.id == successor)
                .map(|g| g.pid)
                .unwrap_or_default();
            tracing::info!(
                pid,
                "a reload is already in progress; this request joins it"
            );
            match (wait, reply) {
                (true, Some(tx)) => r.waiters.push(tx),
                (_, reply) => reply_to(reply, ReloadReply::Joined { pid }),
            }
            return;
        }
        tracing::info!("reload: starting a new child beside the current one");
        match self.spawn_generation(now) {
            Err(e) => {
                let failure = ReloadFailure::Spawn(e);
                self.metrics.failed_reloads += 1;
                tracing::error!("reload failed, still serving: {failure}");
                self.tell_service_manager(&format!("READY=1\nSTATUS=reload failed: {failure}"));
                reply_to(
                    reply,
                    ReloadReply::RolledBack {
                        reason: failure.to_string(),
                    },
                );
            }
            Ok(id) => {
                let pid = self.generation(id).map(|g| g.pid).unwrap_or_default();
                let mut waiters = Vec::new();
                match (wait, reply) {
                    (true, Some(tx)) => waiters.push(tx),
                    (_, reply) => reply_to(reply, ReloadReply::Started { pid }),
                }
                self.mode = Mode::Reloading(Reload {
                    successor: id,
                    waiters,
                });
            }
        }
    }

    /// `RELOADING=1` to the service manager, as systemd's `notify-reload` expects.
    fn tell_reloading(&self) {
        if self.service_manager.is_some() {
            match changeover::notify::monotonic_usec() {
                Ok(us) => self.tell_service_manager(&format!("RELOADING=1\nMONOTONIC_USEC={us}")),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read CLOCK_MONOTONIC; RELOADING=1 goes without MONOTONIC_USEC");
                    self.tell_service_manager("RELOADING=1");
                }
            }
        }
    }

    /// Generation `id` is ready: it serves, and if a reload brought it up,
    /// it takes over and the generations it replaces get the stop signal.
    pub(crate) fn became_ready(&mut self, now: Instant, id: u64) {
        let Some(g) = self.generation_mut(id) else {
            return;
        };
        let probe = g.enter(Phase::Ready);
        let (pid, took) = (g.pid, now - g.started);
        if let Some(probe) = probe {
            self.processes.kill_group(probe);
        }
        // Proxy mode: new requests go to it from now on (the newest ready).
        self.processes.route(id);
        let reload = match std::mem::replace(&mut self.mode, Mode::Running) {
            Mode::Reloading(r) if r.successor == id => r,
            other => {
                self.mode = other;
                tracing::info!(generation = id, pid, took = %format_duration(took), "child is ready");
                self.tell_service_manager(&format!("READY=1\nSTATUS=serving, child pid {pid}"));
                return;
            }
        };
        let old: Vec<u64> = self
            .generations
            .iter()
            .filter(|g| g.id != id && g.is_ready())
            .map(|g| g.id)
            .collect();
        let previous: Vec<u32> = old
            .iter()
            .filter_map(|&o| self.generation(o).map(|g| g.pid))
            .collect();
        self.main_generation = id;
        self.main_exit = None;
        self.metrics.reloads += 1;
        self.metrics.reload_seconds.observe(took);
        tracing::info!(
            generation = id,
            pid,
            took = %format_duration(took),
            previous = ?previous,
            "new child is ready and takes over"
        );
        for o in old {
            if self.timing.proxy {
                // Its stop signal waits until nothing is in flight to it.
                self.retire(o, now + self.timing.drain_timeout);
            } else {
                self.begin_drain(now, o);
            }
        }
        self.enforce_max_draining();
        let millis = took.as_millis() as u64;
        for w in reload.waiters {
            let reply = ReloadReply::TookOver {
                pid,
                previous: previous.clone(),
                millis,
            };
            if w.send(reply).is_err() {
                tracing::debug!("reload requester went away");
            }
        }
        self.tell_service_manager(&format!("READY=1\nSTATUS=serving, child pid {pid}"));
    }

    /// Beyond `--max-draining` draining generations, kills the oldest.
    fn enforce_max_draining(&mut self) {
        let draining: Vec<u64> = self
            .generations
            .iter()
            .filter(|g| g.is_leaving() && !g.is_killed())
            .map(|g| g.id)
            .collect();
        let max = self.timing.max_draining;
        let excess = draining.len().saturating_sub(max);
        for &id in &draining[..excess] {
            if let Some(pid) = self.kill(id) {
                tracing::warn!(
                    generation = id,
                    pid,
                    max_draining = max,
                    "too many generations draining: SIGKILL to the oldest one's process group"
                );
            }
        }
    }

    /// Kills a generation that will never be ready.
    pub(crate) fn fail_generation(&mut self, id: u64, failure: ReloadFailure) {
        let Some(pid) = self.kill(id) else {
            return;
        };
        if self.is_successor(id) {
            self.reload_failed(failure);
        } else {
            tracing::error!(
                generation = id,
                pid,
                "the child never became ready: {failure}"
            );
            self.begin_exiting();
        }
    }

    /// Rolls the reload in progress back: the old generation serves on.
    pub(crate) fn reload_failed(&mut self, failure: ReloadFailure) {
        let reload = match std::mem::replace(&mut self.mode, Mode::Running) {
            Mode::Reloading(r) => r,
            other => {
                self.mode = other;
                return;
            }
        };
        self.metrics.failed_reloads += 1;
        tracing::error!("reload failed, still serving: {failure}");
        self.tell_service_manager(&format!("READY=1\nSTATUS=reload failed: {failure}"));
        for w in reload.waiters {
            let reply = ReloadReply::RolledBack {
                reason: failure.to_string(),
            };
            if w.send(reply).is_err() {
                tracing::debug!("reload requester went away");
            }
        }
        self.check_still_serving();
    }

    /// After a loss: when no child serves and none is coming, exit with the
    /// status of the one that served.
    pub(crate) fn check_still_serving(&mut self) {
        // A reload brings a child; a stop or an exit is already under way.
        if !matches!(self.mode, Mode::Running) {
            return;
        }
        if !self.any_ready() {
            self.mode = Mode::Exiting;
            tracing::warn!(
                "no child is serving and none is starting: exiting once every child is gone"
            );
        }
    }

    /// Starts one check of generation `id`'s upstream (`http:PATH`, or a
    /// connection).
    pub(crate) fn probe_upstream(&mut self, id: u64) {
        let Some(Generation {
            phase:
                Phase::Starting {
                    check: Check::Upstream { path, due, .. },
                    ..
                },
            ..
        }) = self.generations.iter_mut().find(|g| g.id == id)
        else {
            return;
        };
        *due = None;
        let path = path.clone();
        self.processes.probe_upstream(id, path.as_deref());
    }

    /// A check of generation `id`'s upstream ended.
    pub(crate) fn upstream_probed(&mut self, now: Instant, id: u64, result: Result<(), String>) {
        let Some(Generation {
            phase:
                Phase::Starting {
                    check: Check::Upstream { due, last, .. },
                    ..
                },
            pid,
            ..
        }) = self.generations.iter_mut().find(|g| g.id == id)
        else {
            return;
        };
        match result {
            Ok(()) => self.became_ready(now, id),
            Err(why) => {
                tracing::debug!(
                    generation = id,
                    pid = *pid,
                    "not serving on its upstream yet: {why}; retrying"
                );
                *last = Some(why);
                *due = Some(now + PROBE_INTERVAL);
            }
        }
    }

    /// Starts one run of generation `id`'s `exec:` readiness probe.
    pub(crate) fn run_probe(&mut self, id: u64) {
        let Some(pid) = self.generation(id).map(|g| g.pid) else {
            return;
        };
        match self.processes.start_probe(pid) {
            Ok(probe) => {
                if let Some(Generation {
                    phase:
                        Phase::Starting {
                            check: Check::Probe { run, .. },
                            ..
                        },
                    ..
                }) = self.generation_mut(id)
                {
                    *run = ProbeRun::Running(probe);
                }
            }
            Err(e) => self.fail_generation(id, ReloadFailure::Probe(e)),
        }
    }

    /// A readiness probe of generation at `index` ended.
    pub(crate) fn probe_exited(&mut self, now: Instant, index: usize, status: ExitStatus) {
        let g = &mut self.generations[index];
        let (id, child) = (g.id, g.pid);
        let Phase::Starting {
            check: Check::Probe { run, last },
            ..
        } = &mut g.phase
        else {
            return;
        };
        *last = Some(status);
        // This run is over; the next is due after the interval, unless it is ready now.
        *run = ProbeRun::Due(now + PROBE_INTERVAL);
        if status.success() {
            tracing::debug!(generation = id, pid = child, "readiness probe succeeded");
            self.became_ready(now, id);
        } else {
            tracing::debug!(
                generation = id,
                pid = child,
                "readiness probe failed ({}); retrying",
                describe_exit(status)
            );
        }
    }
}
