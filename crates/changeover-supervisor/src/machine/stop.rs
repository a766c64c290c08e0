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
        tracing::info!(
            delay = %format_duration(delay),
            "stop: /readyz answers 503; children serve on for the stop delay"
        );
        if delay.is_zero() {
            self.end_stop_delay(now);
        }
    }

    /// The stop delay is over (or cut short): prestop gets its answer, and
    /// every child not yet told gets the stop signal.
    pub(crate) fn end_stop_delay(&mut self, now: Instant) {
        let Mode::Stopping(stop) = &mut self.mode else {
            return;
        };
        if let Stop::Delay { prestop, .. } = std::mem::replace(stop, Stop::Signalled) {
            for (since, w) in prestop {
                let reply = PrestopReply {
                    waited_ms: (now - since).as_millis() as u64,
                };
                if w.send(reply).is_err() {
                    tracing::debug!("prestop requester went away");
                }
            }
        }
        let ids: Vec<u64> = self
            .generations
            .iter()
            .filter(|g| g.awaits_stop_signal())
            .map(|g| g.id)
            .collect();
        if !self.timing.stop_delay.is_zero() {
            tracing::info!("stop delay over");
        }
        for id in ids {
            self.begin_drain(now, id);
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
