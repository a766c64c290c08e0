//! What the machine holds — every generation, its [`Mode`], the counters —
//! and the views of it the outside sees: `changeover status` and the
//! [`Snapshot`] behind `/livez`, `/readyz` and `/metrics`. Plus the few
//! acts every concern shares: sending the stop signal, telling the service
//! manager.

use std::process::ExitStatus;

use changeover::format_duration;
use changeover::log_limit::LogLimit;
use changeover::notify::Notifier;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use super::generation::{Generation, Phase};
use super::seam::Processes;
use crate::config::{Timing, signal_name};
use crate::metrics::Metrics;
use crate::protocol::{GenerationStatus, PrestopReply, ReloadReply, Status};
use changeover::process::exit_code;

/// What `/livez`, `/readyz` and `/metrics` show, published after every event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// What `/readyz` answers.
    pub ready: bool,
    /// Whether a stop began.
    pub stopping: bool,
    /// The counters.
    pub metrics: Metrics,
}

/// What the supervisor as a whole is doing.
pub(crate) enum Mode {
    /// Serving, or bringing up the first child; a reload is accepted once a
    /// child is ready.
    Running,
    /// A new generation is starting beside the serving one.
    Reloading(Reload),
    /// A stop began: no new generation; every child gets the stop signal
    /// once the stop delay has passed.
    Stopping(Stop),
    /// The child died on its own, or never became ready: no new work; the
    /// supervisor exits once every child is gone.
    Exiting,
}

/// The reload in progress.
pub(crate) struct Reload {
    /// The generation being brought up.
    pub(crate) successor: u64,
    /// `changeover reload --wait` requests, answered with the outcome.
    pub(crate) waiters: Vec<oneshot::Sender<ReloadReply>>,
}

/// Where the stop is.
pub(crate) enum Stop {
    /// The children serve on until `until`; each `changeover prestop`
    /// (with the instant it asked) is answered then.
    Delay {
        until: Instant,
        prestop: Vec<(Instant, oneshot::Sender<PrestopReply>)>,
    },
    /// Proxy mode: the delay is over; the public side stopped accepting and
    /// drains its client connections, which the ready generations still
    /// serve; they are retired once none is left, or at `deadline` (the
    /// drain deadline).
    Closing { deadline: Instant },
    /// The delay is over: every child has had the stop signal (in proxy
    /// mode: or is retired, and gets it once nothing is in flight to it).
    Signalled,
}

/// At most one warning this often about bad datagrams on the notify socket.
const NOTIFY_WARNING_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// The supervisor's state: every generation, the reload or the stop in progress.
pub struct Machine<P> {
    pub(crate) timing: Timing,
    pub(crate) processes: P,
    /// Oldest first.
    pub(crate) generations: Vec<Generation>,
    pub(crate) next_id: u64,
    /// The generation whose exit status becomes the supervisor's (systemd's
    /// "main process"): the first child, then each one that took over.
    pub(crate) main_generation: u64,
    /// How the main generation ended, once it has.
    pub(crate) main_exit: Option<ExitStatus>,
    pub(crate) mode: Mode,
    /// SIGTERM/SIGINT received so far.
    pub(crate) stop_signals: u32,
    pub(crate) metrics: Metrics,
    /// The supervisor's own `NOTIFY_SOCKET` (systemd's), if it has one.
    pub(crate) service_manager: Option<Notifier>,
    /// Warnings about datagrams on the notify socket that are malformed, or
    /// from a process that is not a child: anyone who can reach the socket
    /// can send thousands a second, so at most one line a second of each,
    /// with the count of those not logged.
    pub(crate) malformed_notes: LogLimit,
    pub(crate) stranger_notes: LogLimit,
    published: watch::Sender<Snapshot>,
    started: Instant,
    supervisor_pid: u32,
}

impl<P: Processes> Machine<P> {
    /// A machine with no child yet. `service_manager` is the supervisor's own
    /// `NOTIFY_SOCKET` (systemd's), told about readiness, reloads and stops.
    pub fn new(
        timing: Timing,
        processes: P,
        service_manager: Option<Notifier>,
        now: Instant,
    ) -> (Machine<P>, watch::Receiver<Snapshot>) {
        let (published, snapshots) = watch::channel(Snapshot::default());
        let machine = Machine {
            timing,
            processes,
            generations: Vec::new(),
            next_id: 1,
            main_generation: 1,
            main_exit: None,
            mode: Mode::Running,
            stop_signals: 0,
            metrics: Metrics::default(),
            service_manager,
            malformed_notes: LogLimit::new(NOTIFY_WARNING_INTERVAL),
            stranger_notes: LogLimit::new(NOTIFY_WARNING_INTERVAL),
            published,
            started: now,
            supervisor_pid: std::process::id(),
        };
        (machine, snapshots)
    }

    /// The process seam (for tests to look into).
    pub fn processes(&mut self) -> &mut P {
        &mut self.processes
    }

    /// The supervisor's exit status, once every child is gone.
    pub fn exit_code(&self) -> Option<u8> {
        if !self.generations.is_empty() || self.next_id == 1 {
            return None;
        }
        Some(self.main_exit.map(exit_code).unwrap_or(1))
    }

    /// Describes every generation.
    pub fn status(&self, now: Instant) -> Status {
        let state = match self.mode {
            Mode::Stopping(_) => "stopping",
            Mode::Exiting => "exiting",
            Mode::Reloading(_) => "reloading",
            Mode::Running if self.any_ready() => "running",
            Mode::Running => "starting",
        };
        Status {
            supervisor_pid: self.supervisor_pid,
            state: state.to_owned(),
            ready: self.is_ready(),
            uptime_secs: (now - self.started).as_secs_f64(),
            generations: self
                .generations
                .iter()
                .map(|g| GenerationStatus {
                    generation: g.id,
                    pid: g.pid,
                    state: g.phase.name().to_owned(),
                    age_secs: (now - g.started).as_secs_f64(),
                    status: g.status_text.clone(),
                })
                .collect(),
            reloads: self.metrics.reloads,
            failed_reloads: self.metrics.failed_reloads,
        }
    }

    /// What `/readyz` answers: a child serves and no stop began.
    fn is_ready(&self) -> bool {
        matches!(self.mode, Mode::Running | Mode::Reloading(_)) && self.any_ready()
    }

    pub(crate) fn any_ready(&self) -> bool {
        self.generations.iter().any(Generation::is_ready)
    }

    pub(crate) fn is_stopping(&self) -> bool {
        matches!(self.mode, Mode::Stopping(_))
    }

    /// Whether generation `id` is the one the reload in progress brings up.
    pub(crate) fn is_successor(&self, id: u64) -> bool {
        matches!(&self.mode, Mode::Reloading(r) if r.successor == id)
    }

    /// No new work; exit once every child is gone. A stop in progress goes
    /// on as it is (it ends the same way). Reached only when no reload is in
    /// progress: a reload needs a ready child, and none of these paths has one.
    pub(crate) fn begin_exiting(&mut self) {
        if !self.is_stopping() {
            self.mode = Mode::Exiting;
        }
    }

    /// Publishes the snapshot for `/livez`, `/readyz` and `/metrics`.
    pub(crate) fn publish(&mut self) {
        let mut m = self.metrics.clone();
        m.ready = self.is_ready();
        m.starting = self.count(Generation::is_starting);
        m.serving = self.count(Generation::is_ready);
        m.draining = self.count(Generation::is_leaving);
        self.published.send_replace(Snapshot {
            ready: m.ready,
            stopping: self.is_stopping(),
            metrics: m,
        });
    }

    fn count(&self, f: impl Fn(&Generation) -> bool) -> u64 {
        self.generations.iter().filter(|g| f(g)).count() as u64
    }

    pub(crate) fn generation(&self, id: u64) -> Option<&Generation> {
        self.generations.iter().find(|g| g.id == id)
    }

    pub(crate) fn generation_mut(&mut self, id: u64) -> Option<&mut Generation> {
        self.generations.iter_mut().find(|g| g.id == id)
    }

    /// Sends `message` to the service manager, if there is one.
    pub(crate) fn tell_service_manager(&self, message: &str) {
        if let Some(n) = &self.service_manager {
            if let Err(e) = n.send(message) {
                tracing::warn!(error = %e, message, "could not notify the service manager");
            }
        }
    }

    /// Sends the stop signal and sets the drain deadline.
    pub(crate) fn begin_drain(&mut self, now: Instant, id: u64) {
        self.begin_drain_until(now, id, now + self.timing.drain_timeout);
    }

    /// Sends the stop signal; SIGKILL at `kill_deadline`.
    pub(crate) fn begin_drain_until(&mut self, now: Instant, id: u64, kill_deadline: Instant) {
        let signal = self.timing.stop_signal;
        let Some(g) = self.generation_mut(id) else {
            return;
        };
        let probe = g.enter(Phase::Draining {
            signalled_at: now,
            kill_deadline,
        });
        let pid = g.pid;
        tracing::info!(
            generation = id,
            pid,
            deadline = %format_duration(kill_deadline.saturating_duration_since(now)),
            "sent SIG{} to the child; it drains until it exits or the deadline",
            signal_name(signal)
        );
        self.processes.signal(pid, signal);
        if let Some(probe) = probe {
            self.processes.kill_group(probe);
        }
    }

    /// Proxy mode: generation `id` gets no new request; its stop signal
    /// waits until nothing is in flight to it ([`Event::Drained`]), or until
    /// `kill_deadline`.
    ///
    /// [`Event::Drained`]: super::Event::Drained
    pub(crate) fn retire(&mut self, id: u64, kill_deadline: Instant) {
        let Some(g) = self.generation_mut(id) else {
            return;
        };
        let probe = g.enter(Phase::Retired { kill_deadline });
        let pid = g.pid;
        if let Some(probe) = probe {
            self.processes.kill_group(probe);
        }
        tracing::info!(
            generation = id,
            pid,
            "no new request goes to the child; it gets SIG{} once nothing is in flight to it",
            signal_name(self.timing.stop_signal)
        );
        self.processes.retire(id);
    }

    /// SIGKILL to generation `id`'s process group, and to its readiness
    /// probe's if one runs. Returns its pid.
    pub(crate) fn kill(&mut self, id: u64) -> Option<u32> {
        let g = self.generation_mut(id)?;
        let probe = g.enter(Phase::Killed);
        let pid = g.pid;
        self.processes.kill_group(pid);
        // Proxy mode: its tunnels end with it.
        self.processes.cut(id);
        if let Some(probe) = probe {
            self.processes.kill_group(probe);
        }
        Some(pid)
    }
}
