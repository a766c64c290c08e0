//! The stop: SIGTERM/SIGINT or `changeover prestop` begins it, the children
//! serve on for the stop delay, then each gets the stop signal and drains
//! until its deadline. A second signal forces it, a third kills at once.

use std::time::Duration;

use changeover::format_duration;
use nix::sys::signal::Signal;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::failure::ReloadFailure;
use super::generation::{Generation, Phase};
use super::seam::Processes;
use super::state::{Machine, Mode, Stop};
use crate::config::signal_name;
use crate::protocol::{PrestopReply, ReloadReply};

/// How long after a second stop signal what is left is killed.
pub const FORCE_GRACE: Duration = Duration::from_secs(1);

impl<P: Processes> Machine<P> {
    pub(crate) fn on_stop_signal(&mut self, now: Instant, signal: Signal) {
        self.stop_signals += 1;
        let name = signal_name(signal);
        if !self.is_stopping() {
            tracing::info!("SIG{name} received: stopping");
            self.begin_stop(now);
        } else if self.stop_signals == 1 {
            // The stop was begun by `changeover prestop`; this is Kubernetes'
            // SIGTERM after the hook, not a second request.
            tracing::info!("SIG{name} received after prestop: the stop goes on");
            if matches!(self.mode, Mode::Stopping(Stop::Delay { .. })) {
                self.end_stop_delay(now);
            }
        } else {
            tracing::warn!("second stop signal (SIG{name}): stopping now");
            self.force(now);
        }
    }

    pub(crate) fn on_prestop(&mut self, now: Instant, reply: oneshot::Sender<PrestopReply>) {
        if !self.is_stopping() {
            tracing::info!("prestop: stopping");
            self.begin_stop(now);
        }
        match &mut self.mode {
            Mode::Stopping(Stop::Delay { prestop, .. }) => prestop.push((now, reply)),
            _ => {
                if reply.send(PrestopReply { waited_ms: 0 }).is_err() {
                    tracing::debug!("prestop requester went away");
                }
            }
        }
    }

    fn begin_stop(&mut self, now: Instant) {
        let delay = self.timing.stop_delay;
        let before = std::mem::replace(
            &mut self.mode,
            Mode::Stopping(Stop::Delay {
                until: now + delay,
                prestop: Vec::new(),
            }),
        );
        if let Mode::Reloading(reload) = before {
            tracing::warn!("a stop began during a reload: the reload is abandoned");
            for w in reload.waiters {
                let reply = ReloadReply::RolledBack {
                    reason: ReloadFailure::Stopping.to_string(),
                };
                if w.send(reply).is_err() {
                    tracing::debug!("reload requester went away");
                }
            }
        }
        let probes: Vec<u32> = self
            .generations
            .iter_mut()
            .filter(|g| matches!(g.phase, Phase::Starting { .. }))
            .filter_map(|g| g.enter(Phase::Abandoned))
            .collect();
        for p in probes {
            self.processes.kill_group(p);
        }
        self.tell_service_manager("STOPPING=1\nSTATUS=stopping");
        // Proxy mode: the public side answers with `Connection: close` from now on.
        self.processes.front_draining();
        tracing::info!(
            delay = %format_duration(delay),
            "stop: /readyz answers 503; children serve on for the stop delay"
        );
        if delay.is_zero() {
            self.end_stop_delay(now);
        }
    }

    /// The stop delay is over (or cut short): prestop gets its answer, and
    /// every child not yet told gets the stop signal. In proxy mode, only
    /// those that never served: the public side stops accepting and drains
    /// its client connections first, served by the ready generations.
    pub(crate) fn end_stop_delay(&mut self, now: Instant) {
        let next = if self.timing.proxy {
            Stop::Closing {
                deadline: now + self.timing.drain_timeout,
            }
        } else {
            Stop::Signalled
        };
        let Mode::Stopping(stop) = &mut self.mode else {
            return;
        };
        if !matches!(stop, Stop::Delay { .. }) {
            return;
        }
        if let Stop::Delay { prestop, .. } = std::mem::replace(stop, next) {
            for (since, w) in prestop {
                let reply = PrestopReply {
                    waited_ms: (now - since).as_millis() as u64,
                };
                if w.send(reply).is_err() {
                    tracing::debug!("prestop requester went away");
                }
            }
        }
        let proxy = self.timing.proxy;
        let ids: Vec<u64> = self
            .generations
            .iter()
            .filter(|g| g.awaits_stop_signal())
            .filter(|g| !proxy || g.is_starting())
            .map(|g| g.id)
            .collect();
        if !self.timing.stop_delay.is_zero() {
            tracing::info!("stop delay over");
        }
        for id in ids {
            self.begin_drain(now, id);
        }
        if proxy {
            tracing::info!(
                "the public sockets stop accepting; the children serve the open client connections until they close"
            );
            self.processes.front_stop();
        }
    }

    /// Proxy mode, stopping: the client connections are all closed (or the
    /// drain deadline passed): every ready generation is retired and gets
    /// its stop signal once nothing is in flight to it.
    pub(crate) fn front_closed(&mut self, _now: Instant) {
        let Mode::Stopping(Stop::Closing { deadline }) = self.mode else {
            return;
        };
        self.mode = Mode::Stopping(Stop::Signalled);
        let ready: Vec<u64> = self
            .generations
            .iter()
            .filter(|g| g.is_ready())
            .map(|g| g.id)
            .collect();
        for id in ready {
            self.retire(id, deadline);
        }
    }

    fn force(&mut self, now: Instant) {
        if self.stop_signals >= 3 {
            tracing::warn!("third stop signal: SIGKILL to every child's process group");
            let alive: Vec<u64> = self
                .generations
                .iter()
                .filter(|g| !g.is_killed())
                .map(|g| g.id)
                .collect();
            for id in alive {
                self.kill(id);
            }
            return;
        }
        let first_signal_now: Vec<u64> = self
            .generations
            .iter()
            .filter(|g| g.awaits_stop_signal())
            .map(|g| g.id)
            .collect();
        self.end_stop_delay(now);
        if self.timing.proxy {
            // Stop now: the client connections are cut, and every child
            // still serving gets its stop signal without waiting for them.
            self.processes.front_force();
            if let Mode::Stopping(stop) = &mut self.mode {
                *stop = Stop::Signalled;
            }
            let serving: Vec<u64> = self
                .generations
                .iter()
                .filter(|g| g.awaits_stop_signal())
                .map(|g| g.id)
                .collect();
            for id in serving {
                self.processes.cut(id);
                self.begin_drain(now, id);
            }
        }
        let signal = self.timing.stop_signal;
        let at = now + FORCE_GRACE;
        for g in &mut self.generations {
            // The delay is over: every child not killed is draining.
            let Generation {
                id,
                pid,
                phase: Phase::Draining { kill_deadline, .. },
                ..
            } = g
            else {
                continue;
            };
            if !first_signal_now.contains(id) {
                // A second stop signal tells a changeover server to cut its connections now.
                self.processes.signal(*pid, signal);
            }
            *kill_deadline = (*kill_deadline).min(at);
        }
    }
}
