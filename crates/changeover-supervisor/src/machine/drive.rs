//! The loop and the clock: events are handled as they come, deadlines
//! (ready timeout, `delay:` readiness, probe runs, stop delay, drain
//! deadline) when they come due, one at a time, on tokio's time.

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::failure::ReloadFailure;
use super::generation::{Check, Phase, ProbeRun};
use super::seam::{Event, Processes};
use super::state::{Machine, Mode, Stop};
use super::stop::FORCE_GRACE;

impl<P: Processes> Machine<P> {
    /// Acts on one event.
    pub fn handle(&mut self, now: Instant, event: Event) {
        match event {
            Event::Stop(signal) => self.on_stop_signal(now, signal),
            Event::Prestop(reply) => self.on_prestop(now, reply),
            Event::Reload { wait, reply } => self.on_reload(now, wait, reply),
            Event::Status(reply) => {
                if reply.send(self.status(now)).is_err() {
                    tracing::debug!("status requester went away");
                }
            }
            Event::Forward(signal) => self.forward(signal),
            Event::Exited { pid, status } => self.on_exit(now, pid, status),
            Event::Notify(report) => self.on_notify(now, report),
            Event::Probed { generation, result } => {
                self.upstream_probed(now, generation, result);
            }
            Event::Drained(generation) => self.drained(now, generation),
            Event::FrontClosed => self.front_closed(now),
        }
        self.publish();
    }

    /// When [`Machine::tick`] must run next, if anything is scheduled.
    pub fn next_deadline(&self) -> Option<Instant> {
        let stop_delay = match &self.mode {
            Mode::Stopping(Stop::Delay { until, .. }) => Some(*until),
            Mode::Stopping(Stop::Closing { deadline }) => Some(*deadline),
            _ => None,
        };
        self.generations
            .iter()
            .filter_map(|g| g.deadline())
            .chain(stop_delay)
            .min()
    }

    /// Acts on whatever deadline has come.
    pub fn tick(&mut self, now: Instant) {
        if let Mode::Stopping(Stop::Delay { until, .. }) = &self.mode {
            if *until <= now {
                self.end_stop_delay(now);
            }
        }
        if let Mode::Stopping(Stop::Closing { deadline }) = &self.mode {
            if *deadline <= now {
                tracing::warn!(
                    "client connections still open at the drain deadline; the children are retired"
                );
                self.front_closed(now);
            }
        }
        let ids: Vec<u64> = self.generations.iter().map(|g| g.id).collect();
        for id in ids {
            let Some(g) = self.generation(id) else {
                continue;
            };
            match &g.phase {
                Phase::Starting {
                    ready_deadline,
                    check,
                } => {
                    if *ready_deadline <= now {
                        let timeout = self.timing.ready_timeout;
                        let failure = match check {
                            Check::Upstream { path, last, .. } => ReloadFailure::NotServing {
                                timeout,
                                path: path.clone(),
                                last: last.clone(),
                            },
                            Check::Probe { last, .. } => ReloadFailure::Timeout {
                                timeout,
                                mode: self.timing.ready.clone(),
                                last_probe: *last,
                            },
                            Check::Notify | Check::Delay { .. } => ReloadFailure::Timeout {
                                timeout,
                                mode: self.timing.ready.clone(),
                                last_probe: None,
                            },
                        };
                        self.fail_generation(id, failure);
                        continue;
                    }
                    match check {
                        Check::Delay { ready_at } if *ready_at <= now => {
                            self.became_ready(now, id);
                        }
                        Check::Probe {
                            run: ProbeRun::Due(at),
                            ..
                        } if *at <= now => self.run_probe(id),
                        Check::Upstream { due: Some(at), .. } if *at <= now => {
                            self.probe_upstream(id);
                        }
                        _ => {}
                    }
                }
                Phase::Retired { kill_deadline } if *kill_deadline <= now => {
                    tracing::warn!(
                        generation = id,
                        pid = g.pid,
                        "requests still in flight to the retired child at its drain deadline: its tunnels are cut, it gets its stop signal, SIGKILL follows"
                    );
                    self.processes.cut(id);
                    self.begin_drain_until(now, id, now + FORCE_GRACE);
                }
                Phase::Draining { kill_deadline, .. } if *kill_deadline <= now => {
                    tracing::warn!(
                        generation = id,
                        pid = g.pid,
                        "still running at its deadline: SIGKILL to its process group"
                    );
                    self.kill(id);
                }
                _ => {}
            }
        }
        self.publish();
    }
}

/// Runs the machine until every child is gone; returns the exit status.
///
/// Events come from `events`; deadlines from the machine itself.
pub async fn drive<P: Processes>(
    mut machine: Machine<P>,
    mut events: mpsc::UnboundedReceiver<Event>,
) -> u8 {
    loop {
        if let Some(code) = machine.exit_code() {
            return code;
        }
        let deadline = machine.next_deadline();
        let sleep = async {
            match deadline {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            // A deadline that has come is acted on before an event that arrived at the same
            // instant: the order is then the same on every run, not a coin toss.
            biased;
            () = sleep => machine.tick(Instant::now()),
            event = events.recv() => match event {
                Some(event) => machine.handle(Instant::now(), event),
                None => {
                    tracing::error!("every event source is gone; exiting");
                    return 1;
                }
            },
        }
    }
}
