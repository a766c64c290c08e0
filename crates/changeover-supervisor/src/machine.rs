//! The state machine of generations, and the loop that drives it.
//!
//! [`Machine`] holds every child alive and decides what happens next; it
//! never touches a process itself. What it does to processes goes through
//! the [`Processes`] seam, and everything that happens to them comes back as
//! an [`Event`]: a reaped exit, a notification, a signal to the supervisor, a
//! control request. Time is tokio's, so the timing rules (ready timeout,
//! stop delay, drain deadline, forced stop) run exactly on a paused clock in
//! tests, with a fake in place of real processes.

use std::process::ExitStatus;
use std::time::Duration;

use changeover::notify::{MalformedReport, Notifier, Report};
use changeover::spawn::SpawnError;
use changeover::{describe_exit, format_duration};
use nix::sys::signal::Signal;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::config::{ReadyMode, Timing, signal_name};
use crate::metrics::{ExitKind, Metrics};
use crate::protocol::{GenerationStatus, PrestopReply, ReloadReply, Status};

/// How long after a second stop signal what is left is killed.
pub const FORCE_GRACE: Duration = Duration::from_secs(1);

/// How long to wait between two runs of an `exec:` readiness probe.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(200);

/// What the supervisor does to processes: the seam between the state
/// machine and the operating system. The real one forks and signals; a
/// test's records what was asked, and when.
pub trait Processes {
    /// Starts a new child (a generation) with the listeners; returns its pid.
    /// The child leads a process group of its own.
    fn start_child(&mut self) -> Result<u32, SpawnError>;
    /// Starts one run of the `exec:` readiness probe for child `child`;
    /// returns the probe's pid.
    fn start_probe(&mut self, child: u32) -> Result<u32, SpawnError>;
    /// Sends `signal` to process `pid`.
    fn signal(&mut self, pid: u32, signal: Signal);
    /// Sends SIGKILL to the process group that `pid` leads.
    fn kill_group(&mut self, pid: u32);
}

/// Something that happened, for the state machine to act on.
#[derive(Debug)]
pub enum Event {
    /// SIGTERM or SIGINT reached the supervisor.
    Stop(Signal),
    /// `changeover prestop`: begin the stop; answer once the stop delay has passed.
    Prestop(oneshot::Sender<PrestopReply>),
    /// The reload signal (no reply) or `changeover reload` (a reply, at once
    /// or, with `wait`, once the outcome is known).
    Reload {
        /// Answer with the outcome rather than at once.
        wait: bool,
        /// Where the answer goes.
        reply: Option<oneshot::Sender<ReloadReply>>,
    },
    /// `changeover status`.
    Status(oneshot::Sender<Status>),
    /// A signal to pass on to the current child.
    Forward(Signal),
    /// A process was reaped: a child, a probe, or an orphan.
    Exited {
        /// Its pid.
        pid: u32,
        /// How it ended.
        status: ExitStatus,
    },
    /// A datagram arrived on the notify socket.
    Notify(Result<Report, MalformedReport>),
}

/// Where a generation is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Started, not yet ready: it gets no stop signal on a takeover.
    Starting,
    /// Serving; the newest ready generation is the current one.
    Ready,
    /// Told to stop (the stop signal was sent); SIGKILL at its drain deadline.
    Draining,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            State::Starting => "starting",
            State::Ready => "ready",
            State::Draining => "draining",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    Idle,
    Running(u32),
    Next(Instant),
}

#[derive(Debug)]
struct Generation {
    id: u64,
    pid: u32,
    state: State,
    started: Instant,
    /// Starting: killed if not ready by then.
    ready_by: Option<Instant>,
    /// Starting, `delay:` mode: ready at this instant.
    ready_at: Option<Instant>,
    probe: Probe,
    last_probe: Option<String>,
    /// When the stop signal was sent.
    signalled: Option<Instant>,
    /// SIGKILL to its group at this instant.
    kill_at: Option<Instant>,
    killed: bool,
    status_text: Option<String>,
}

/// Why a reload was rolled back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadFailure {
    /// The new child could not be started.
    Spawn(String),
    /// The new child exited before it was ready.
    Exited(String),
    /// The new child was not ready within the ready timeout and was killed.
    Timeout {
        /// The timeout.
        timeout: Duration,
        /// How the check was made.
        mode: ReadyMode,
        /// The last probe's result, in `exec:` mode.
        last_probe: Option<String>,
    },
    /// The readiness probe could not be started.
    Probe(String),
    /// A stop began while the new child was starting.
    Stopping,
}

impl std::fmt::Display for ReloadFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReloadFailure::Spawn(e) => write!(f, "the new child could not be started: {e}"),
            ReloadFailure::Exited(s) => write!(
                f,
                "the new child exited before it was ready ({s}); see its output above"
            ),
            ReloadFailure::Timeout {
                timeout,
                mode,
                last_probe,
            } => {
                let t = format_duration(*timeout);
                match mode {
                    ReadyMode::Notify => write!(
                        f,
                        "the new child did not send READY=1 within {t} and was killed; raise --ready-timeout, or use --ready delay:DURATION or exec:COMMAND if it cannot notify"
                    ),
                    ReadyMode::Delay(_) => write!(f, "the new child was not ready within {t}"),
                    ReadyMode::Exec(cmd) => write!(
                        f,
                        "the readiness probe {cmd:?} did not succeed within {t} (last run: {}); the new child was killed",
                        last_probe.as_deref().unwrap_or("none finished")
                    ),
                }
            }
            ReloadFailure::Probe(e) => write!(f, "the readiness probe could not be started: {e}"),
            ReloadFailure::Stopping => write!(f, "a stop began while the new child was starting"),
        }
    }
}

/// Why a reload was not even started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The supervisor is stopping.
    Stopping,
    /// The child exited and the supervisor is exiting with its status.
    Exiting,
    /// The first child is not ready yet.
    NotReady,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Stopping => write!(f, "the supervisor is stopping"),
            Refusal::Exiting => write!(
                f,
                "the child exited and the supervisor is exiting with its status"
            ),
            Refusal::NotReady => write!(
                f,
                "the first child is not ready yet; retry once `changeover status` shows it ready"
            ),
        }
    }
}

struct Reload {
    successor: u64,
    waiters: Vec<oneshot::Sender<ReloadReply>>,
}

struct Stop {
    /// The stop delay runs until then; `None` once it has passed.
    delay_until: Option<Instant>,
    prestop: Vec<(Instant, oneshot::Sender<PrestopReply>)>,
}

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

/// The supervisor's state: every generation, the reload and the stop in progress.
pub struct Machine<P> {
    timing: Timing,
    procs: P,
    gens: Vec<Generation>,
    next_id: u64,
    /// The generation whose exit status becomes the supervisor's.
    primary: u64,
    primary_status: Option<ExitStatus>,
    reload: Option<Reload>,
    stop: Option<Stop>,
    /// The child died on its own: no new work; exit once every child is gone.
    exiting: bool,
    stop_signals: u32,
    metrics: Metrics,
    upstream: Option<Notifier>,
    published: watch::Sender<Snapshot>,
    started: Instant,
    supervisor_pid: u32,
}

/// The supervisor's exit status for a child's: its code, or 128 + the signal.
pub fn exit_code(status: ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => code as u8,
        (None, Some(sig)) => (128 + sig) as u8,
        _ => 1,
    }
}

fn monotonic_usec() -> Option<u64> {
    let ts = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).ok()?;
    Some(ts.tv_sec() as u64 * 1_000_000 + ts.tv_nsec() as u64 / 1_000)
}

impl<P: Processes> Machine<P> {
    /// A machine with no child yet. `upstream` is the supervisor's own
    /// `NOTIFY_SOCKET` (systemd's), told about readiness, reloads and stops.
    pub fn new(
        timing: Timing,
        procs: P,
        upstream: Option<Notifier>,
        now: Instant,
    ) -> (Machine<P>, watch::Receiver<Snapshot>) {
        let (published, snapshots) = watch::channel(Snapshot::default());
        let machine = Machine {
            timing,
            procs,
            gens: Vec::new(),
            next_id: 1,
            primary: 1,
            primary_status: None,
            reload: None,
            stop: None,
            exiting: false,
            stop_signals: 0,
            metrics: Metrics::default(),
            upstream,
            published,
            started: now,
            supervisor_pid: std::process::id(),
        };
        (machine, snapshots)
    }

    /// The process seam (for tests to look into).
    pub fn processes(&mut self) -> &mut P {
        &mut self.procs
    }

    /// Starts the first child.
    pub fn start(&mut self, now: Instant) -> Result<u32, SpawnError> {
        let id = self.spawn_generation(now)?;
        self.primary = id;
        self.publish();
        Ok(self.gen_ref(id).map(|g| g.pid).unwrap_or_default())
    }

    /// The supervisor's exit status, once every child is gone.
    pub fn exit_code(&self) -> Option<u8> {
        if !self.gens.is_empty() || self.next_id == 1 {
            return None;
        }
        Some(self.primary_status.map(exit_code).unwrap_or(1))
    }

    /// When [`Machine::tick`] must run next, if anything is scheduled.
    pub fn next_deadline(&self) -> Option<Instant> {
        let mut next: Option<Instant> = self.stop.as_ref().and_then(|s| s.delay_until);
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        for g in &self.gens {
            if g.killed {
                continue;
            }
            if g.state == State::Starting && self.stop.is_none() {
                consider(g.ready_by);
                consider(g.ready_at);
                if let Probe::Next(t) = g.probe {
                    consider(Some(t));
                }
            }
            consider(g.kill_at);
        }
        next
    }

    /// Acts on whatever deadline has come.
    pub fn tick(&mut self, now: Instant) {
        if let Some(until) = self.stop.as_ref().and_then(|s| s.delay_until) {
            if until <= now {
                self.end_stop_delay(now);
            }
        }
        let ids: Vec<u64> = self.gens.iter().map(|g| g.id).collect();
        for id in ids {
            let Some(g) = self.gen_ref(id) else { continue };
            if g.killed {
                continue;
            }
            if g.state == State::Starting && self.stop.is_none() {
                if g.ready_by.is_some_and(|t| t <= now) {
                    let failure = ReloadFailure::Timeout {
                        timeout: self.timing.ready_timeout,
                        mode: self.timing.ready.clone(),
                        last_probe: g.last_probe.clone(),
                    };
                    self.fail_generation(now, id, failure);
                    continue;
                }
                if g.ready_at.is_some_and(|t| t <= now) {
                    self.became_ready(now, id);
                    continue;
                }
                if let Probe::Next(t) = g.probe {
                    if t <= now {
                        self.run_probe(now, id);
                        continue;
                    }
                }
            }
            let Some(g) = self.gen_mut(id) else { continue };
            if g.kill_at.is_some_and(|t| t <= now) {
                g.killed = true;
                let (pid, gid) = (g.pid, g.id);
                tracing::warn!(
                    generation = gid,
                    pid,
                    "still running at its deadline: SIGKILL to its process group"
                );
                self.procs.kill_group(pid);
            }
        }
        self.publish();
    }

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
        }
        self.publish();
    }

    /// Describes every generation.
    pub fn status(&self, now: Instant) -> Status {
        let state = if self.stop.is_some() {
            "stopping"
        } else if self.exiting {
            "exiting"
        } else if self.reload.is_some() {
            "reloading"
        } else if self.gens.iter().any(|g| g.state == State::Ready) {
            "running"
        } else {
            "starting"
        };
        Status {
            supervisor_pid: self.supervisor_pid,
            state: state.to_owned(),
            ready: self.is_ready(),
            uptime_secs: (now - self.started).as_secs_f64(),
            generations: self
                .gens
                .iter()
                .map(|g| GenerationStatus {
                    generation: g.id,
                    pid: g.pid,
                    state: if g.killed { "killed" } else { g.state.as_str() }.to_owned(),
                    age_secs: (now - g.started).as_secs_f64(),
                    status: g.status_text.clone(),
                })
                .collect(),
            reloads: self.metrics.reloads,
            failed_reloads: self.metrics.failed_reloads,
        }
    }

    fn is_ready(&self) -> bool {
        self.stop.is_none()
            && !self.exiting
            && self
                .gens
                .iter()
                .any(|g| g.state == State::Ready && !g.killed)
    }

    fn publish(&mut self) {
        let mut m = self.metrics.clone();
        m.ready = self.is_ready();
        m.starting = self.count(|g| g.state == State::Starting && !g.killed);
        m.serving = self.count(|g| g.state == State::Ready && !g.killed);
        m.draining = self.count(|g| g.state == State::Draining || g.killed);
        self.published.send_replace(Snapshot {
            ready: m.ready,
            stopping: self.stop.is_some(),
            metrics: m,
        });
    }

    fn count(&self, f: impl Fn(&Generation) -> bool) -> u64 {
        self.gens.iter().filter(|g| f(g)).count() as u64
    }

    fn gen_ref(&self, id: u64) -> Option<&Generation> {
        self.gens.iter().find(|g| g.id == id)
    }

    fn gen_mut(&mut self, id: u64) -> Option<&mut Generation> {
        self.gens.iter_mut().find(|g| g.id == id)
    }

    fn tell_upstream(&self, message: &str) {
        if let Some(n) = &self.upstream {
            if let Err(e) = n.send(message) {
                tracing::warn!(error = %e, message, "could not notify the service manager");
            }
        }
    }

    fn spawn_generation(&mut self, now: Instant) -> Result<u64, SpawnError> {
        let pid = self.procs.start_child()?;
        let id = self.next_id;
        self.next_id += 1;
        let mut g = Generation {
            id,
            pid,
            state: State::Starting,
            started: now,
            ready_by: Some(now + self.timing.ready_timeout),
            ready_at: None,
            probe: Probe::Idle,
            last_probe: None,
            signalled: None,
            kill_at: None,
            killed: false,
            status_text: None,
        };
        match &self.timing.ready {
            ReadyMode::Notify => {}
            ReadyMode::Delay(d) => g.ready_at = Some(now + *d),
            ReadyMode::Exec(_) => g.probe = Probe::Next(now),
        }
        tracing::info!(
            generation = id,
            pid,
            ready = %self.timing.ready,
            timeout = %format_duration(self.timing.ready_timeout),
            "started child; waiting until it is ready"
        );
        self.gens.push(g);
        Ok(id)
    }

    fn on_reload(&mut self, now: Instant, wait: bool, reply: Option<oneshot::Sender<ReloadReply>>) {
        let answer = |reply: Option<oneshot::Sender<ReloadReply>>, r: ReloadReply| {
            if let Some(tx) = reply {
                if tx.send(r).is_err() {
                    tracing::debug!("reload requester went away");
                }
            }
        };
        let refusal = if self.stop.is_some() {
            Some(Refusal::Stopping)
        } else if self.exiting {
            Some(Refusal::Exiting)
        } else if self.reload.is_none() && !self.gens.iter().any(|g| g.state == State::Ready) {
            Some(Refusal::NotReady)
        } else {
            None
        };
        self.tell_upstream_reloading();
        if let Some(refusal) = refusal {
            tracing::warn!("reload refused: {refusal}");
            self.tell_upstream(&format!("READY=1\nSTATUS=reload refused: {refusal}"));
            answer(
                reply,
                ReloadReply::Refused {
                    reason: refusal.to_string(),
                },
            );
            return;
        }
        if let Some(r) = &mut self.reload {
            let pid = self
                .gens
                .iter()
                .find(|g| g.id == r.successor)
                .map(|g| g.pid)
                .unwrap_or_default();
            tracing::info!(
                pid,
                "a reload is already in progress; this request joins it"
            );
            match (wait, reply) {
                (true, Some(tx)) => r.waiters.push(tx),
                (_, reply) => answer(reply, ReloadReply::Joined { pid }),
            }
            return;
        }
        tracing::info!("reload: starting a new child beside the current one");
        match self.spawn_generation(now) {
            Err(e) => {
                let failure = ReloadFailure::Spawn(e.to_string());
                self.metrics.failed_reloads += 1;
                tracing::error!("reload failed, still serving: {failure}");
                self.tell_upstream(&format!("READY=1\nSTATUS=reload failed: {failure}"));
                answer(
                    reply,
                    ReloadReply::RolledBack {
                        reason: failure.to_string(),
                    },
                );
            }
            Ok(id) => {
                let pid = self.gen_ref(id).map(|g| g.pid).unwrap_or_default();
                let mut waiters = Vec::new();
                match (wait, reply) {
                    (true, Some(tx)) => waiters.push(tx),
                    (_, reply) => answer(reply, ReloadReply::Started { pid }),
                }
                self.reload = Some(Reload {
                    successor: id,
                    waiters,
                });
            }
        }
    }

    fn tell_upstream_reloading(&self) {
        if self.upstream.is_some() {
            match monotonic_usec() {
                Some(us) => self.tell_upstream(&format!("RELOADING=1\nMONOTONIC_USEC={us}")),
                None => self.tell_upstream("RELOADING=1"),
            }
        }
    }

    fn became_ready(&mut self, now: Instant, id: u64) {
        let Some(g) = self.gen_mut(id) else { return };
        g.state = State::Ready;
        g.ready_by = None;
        g.ready_at = None;
        let probe = std::mem::replace(&mut g.probe, Probe::Idle);
        let (pid, took) = (g.pid, now - g.started);
        if let Probe::Running(probe_pid) = probe {
            self.procs.kill_group(probe_pid);
        }
        let is_successor = self.reload.as_ref().is_some_and(|r| r.successor == id);
        if !is_successor {
            tracing::info!(generation = id, pid, took = %format_duration(took), "child is ready");
            self.tell_upstream(&format!("READY=1\nSTATUS=serving, child pid {pid}"));
            return;
        }
        let reload = self.reload.take().expect("checked above");
        let old: Vec<u64> = self
            .gens
            .iter()
            .filter(|g| g.id != id && g.state == State::Ready)
            .map(|g| g.id)
            .collect();
        let previous: Vec<u32> = old
            .iter()
            .filter_map(|&o| self.gen_ref(o).map(|g| g.pid))
            .collect();
        self.primary = id;
        self.primary_status = None;
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
            self.begin_drain(now, o);
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
        self.tell_upstream(&format!("READY=1\nSTATUS=serving, child pid {pid}"));
    }

    /// Sends the stop signal and sets the drain deadline.
    fn begin_drain(&mut self, now: Instant, id: u64) {
        let (signal, drain) = (self.timing.stop_signal, self.timing.drain_timeout);
        let Some(g) = self.gen_mut(id) else { return };
        g.state = State::Draining;
        g.signalled = Some(now);
        g.kill_at = Some(now + drain);
        g.ready_by = None;
        g.ready_at = None;
        let probe = std::mem::replace(&mut g.probe, Probe::Idle);
        let pid = g.pid;
        tracing::info!(
            generation = id,
            pid,
            deadline = %format_duration(drain),
            "sent SIG{} to the child; it drains until it exits or the deadline",
            signal_name(signal)
        );
        self.procs.signal(pid, signal);
        if let Probe::Running(probe_pid) = probe {
            self.procs.kill_group(probe_pid);
        }
    }

    fn enforce_max_draining(&mut self) {
        let draining: Vec<u64> = self
            .gens
            .iter()
            .filter(|g| g.state == State::Draining && !g.killed)
            .map(|g| g.id)
            .collect();
        let excess = draining.len().saturating_sub(self.timing.max_draining);
        for &id in &draining[..excess] {
            let max = self.timing.max_draining;
            if let Some(g) = self.gen_mut(id) {
                g.killed = true;
                let pid = g.pid;
                tracing::warn!(
                    generation = id,
                    pid,
                    max_draining = max,
                    "too many generations draining: SIGKILL to the oldest one's process group"
                );
                self.procs.kill_group(pid);
            }
        }
    }

    /// Kills a generation that will never be ready.
    fn fail_generation(&mut self, _now: Instant, id: u64, failure: ReloadFailure) {
        let Some(g) = self.gen_mut(id) else { return };
        g.killed = true;
        g.ready_by = None;
        g.ready_at = None;
        let probe = std::mem::replace(&mut g.probe, Probe::Idle);
        let pid = g.pid;
        self.procs.kill_group(pid);
        if let Probe::Running(probe_pid) = probe {
            self.procs.kill_group(probe_pid);
        }
        if self.reload.as_ref().is_some_and(|r| r.successor == id) {
            self.reload_failed(failure);
        } else {
            tracing::error!(
                generation = id,
                pid,
                "the child never became ready: {failure}"
            );
            self.exiting = true;
        }
    }

    fn reload_failed(&mut self, failure: ReloadFailure) {
        let Some(reload) = self.reload.take() else {
            return;
        };
        self.metrics.failed_reloads += 1;
        tracing::error!("reload failed, still serving: {failure}");
        self.tell_upstream(&format!("READY=1\nSTATUS=reload failed: {failure}"));
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
    fn check_still_serving(&mut self) {
        if self.stop.is_some() || self.exiting {
            return;
        }
        let serving = self
            .gens
            .iter()
            .any(|g| g.state == State::Ready && !g.killed);
        if !serving && self.reload.is_none() {
            self.exiting = true;
            tracing::warn!(
                "no child is serving and none is starting: exiting once every child is gone"
            );
        }
    }

    fn run_probe(&mut self, now: Instant, id: u64) {
        let Some(pid) = self.gen_ref(id).map(|g| g.pid) else {
            return;
        };
        match self.procs.start_probe(pid) {
            Ok(probe) => {
                if let Some(g) = self.gen_mut(id) {
                    g.probe = Probe::Running(probe);
                }
            }
            Err(e) => self.fail_generation(now, id, ReloadFailure::Probe(e.to_string())),
        }
    }

    fn on_exit(&mut self, now: Instant, pid: u32, status: ExitStatus) {
        let how = describe_exit(status);
        if let Some(i) = self.gens.iter().position(|g| g.pid == pid) {
            let g = self.gens.remove(i);
            if let Probe::Running(probe_pid) = g.probe {
                self.procs.kill_group(probe_pid);
            }
            if g.id == self.primary {
                self.primary_status = Some(status);
            }
            let kind = if g.killed {
                tracing::warn!(generation = g.id, pid, "killed child exited ({how})");
                ExitKind::Killed
            } else if let Some(at) = g.signalled {
                let took = now - at;
                self.metrics.drain_seconds.observe(took);
                tracing::info!(
                    generation = g.id,
                    pid,
                    took = %format_duration(took),
                    "child drained and exited ({how})"
                );
                ExitKind::Drained
            } else {
                ExitKind::Unexpected
            };
            self.metrics.child_exited(kind);
            if kind == ExitKind::Unexpected {
                let is_successor = self.reload.as_ref().is_some_and(|r| r.successor == g.id);
                match g.state {
                    State::Starting if is_successor => {
                        self.reload_failed(ReloadFailure::Exited(how));
                    }
                    State::Starting => {
                        tracing::error!(
                            generation = g.id,
                            pid,
                            "the child exited before it was ready ({how}); exiting with its status"
                        );
                        self.exiting = true;
                    }
                    State::Ready if self.reload.is_some() => tracing::warn!(
                        generation = g.id,
                        pid,
                        "the serving child exited ({how}) during a reload; the new child takes over once ready"
                    ),
                    State::Ready => {
                        if self.stop.is_none() && !self.exiting {
                            tracing::warn!(
                                generation = g.id,
                                pid,
                                "the child exited on its own ({how}); exiting with its status"
                            );
                            self.exiting = true;
                        }
                    }
                    State::Draining => {}
                }
            } else if self.reload.as_ref().is_some_and(|r| r.successor == g.id) {
                // Killed at its ready deadline (already reported), or by a forced stop.
                self.reload_failed(ReloadFailure::Exited(how));
            }
            self.check_still_serving();
            return;
        }
        let probe_of = self
            .gens
            .iter()
            .position(|g| g.probe == Probe::Running(pid));
        if let Some(i) = probe_of {
            let g = &mut self.gens[i];
            g.probe = Probe::Idle;
            g.last_probe = Some(how.clone());
            let (id, child) = (g.id, g.pid);
            if g.state != State::Starting || g.killed || self.stop.is_some() {
                return;
            }
            if status.success() {
                tracing::debug!(generation = id, pid = child, "readiness probe succeeded");
                self.became_ready(now, id);
            } else {
                tracing::debug!(
                    generation = id,
                    pid = child,
                    "readiness probe failed ({how}); retrying"
                );
                self.gens[i].probe = Probe::Next(now + PROBE_INTERVAL);
            }
            return;
        }
        self.metrics.orphans_reaped += 1;
        tracing::debug!(pid, "reaped an orphan ({how})");
    }

    fn on_notify(&mut self, now: Instant, report: Result<Report, MalformedReport>) {
        let report = match report {
            Ok(r) => r,
            Err(bad) => {
                tracing::warn!("ignoring a malformed notification: {bad}");
                return;
            }
        };
        let stopping = self.stop.is_some();
        let mode_notify = self.timing.ready == ReadyMode::Notify;
        let Some(g) = report
            .pid
            .and_then(|pid| self.gens.iter_mut().find(|g| g.pid == pid))
        else {
            let fields: Vec<String> = report
                .fields
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            tracing::warn!(
                sender = ?report.pid,
                fields = ?fields,
                "ignoring a notification from a process that is not a child"
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
            if g.state == State::Starting && !g.killed && !stopping && mode_notify {
                self.became_ready(now, id);
            } else {
                tracing::debug!(generation = id, pid, "READY=1 needs no action");
            }
        }
    }

    fn forward(&mut self, signal: Signal) {
        let target = self
            .gens
            .iter()
            .rev()
            .find(|g| g.state == State::Ready && !g.killed)
            .or_else(|| self.gens.iter().rev().find(|g| !g.killed))
            .map(|g| (g.id, g.pid));
        match target {
            Some((id, pid)) => {
                tracing::info!(
                    generation = id,
                    pid,
                    "forwarding SIG{} to the child",
                    signal_name(signal)
                );
                self.procs.signal(pid, signal);
            }
            None => tracing::info!(
                "SIG{} received with no child to forward it to",
                signal_name(signal)
            ),
        }
    }

    fn on_stop_signal(&mut self, now: Instant, signal: Signal) {
        self.stop_signals += 1;
        let name = signal_name(signal);
        if self.stop.is_none() {
            tracing::info!("SIG{name} received: stopping");
            self.begin_stop(now);
        } else if self.stop_signals == 1 {
            // The stop was begun by `changeover prestop`; this is Kubernetes'
            // SIGTERM after the hook, not a second request.
            tracing::info!("SIG{name} received after prestop: the stop goes on");
            if self.stop.as_ref().is_some_and(|s| s.delay_until.is_some()) {
                self.end_stop_delay(now);
            }
        } else {
            tracing::warn!("second stop signal (SIG{name}): stopping now");
            self.force(now);
        }
    }

    fn on_prestop(&mut self, now: Instant, reply: oneshot::Sender<PrestopReply>) {
        if self.stop.is_none() {
            tracing::info!("prestop: stopping");
            self.begin_stop(now);
        }
        match self.stop.as_mut() {
            Some(stop) if stop.delay_until.is_some() => stop.prestop.push((now, reply)),
            _ => {
                if reply.send(PrestopReply { waited_ms: 0 }).is_err() {
                    tracing::debug!("prestop requester went away");
                }
            }
        }
    }

    fn begin_stop(&mut self, now: Instant) {
        let delay = self.timing.stop_delay;
        self.stop = Some(Stop {
            delay_until: Some(now + delay),
            prestop: Vec::new(),
        });
        if self.reload.is_some() {
            tracing::warn!("a stop began during a reload: the reload is abandoned");
            if let Some(reload) = self.reload.take() {
                for w in reload.waiters {
                    let reply = ReloadReply::RolledBack {
                        reason: ReloadFailure::Stopping.to_string(),
                    };
                    if w.send(reply).is_err() {
                        tracing::debug!("reload requester went away");
                    }
                }
            }
        }
        let mut probes = Vec::new();
        for g in &mut self.gens {
            if g.state == State::Starting {
                g.ready_by = None;
                g.ready_at = None;
                if let Probe::Running(p) = std::mem::replace(&mut g.probe, Probe::Idle) {
                    probes.push(p);
                }
            }
        }
        for p in probes {
            self.procs.kill_group(p);
        }
        self.tell_upstream("STOPPING=1\nSTATUS=stopping");
        tracing::info!(
            delay = %format_duration(delay),
            "stop: /readyz answers 503; children serve on for the stop delay"
        );
        if delay.is_zero() {
            self.end_stop_delay(now);
        }
    }

    fn end_stop_delay(&mut self, now: Instant) {
        let Some(stop) = self.stop.as_mut() else {
            return;
        };
        stop.delay_until = None;
        for (since, w) in stop.prestop.drain(..) {
            let reply = PrestopReply {
                waited_ms: (now - since).as_millis() as u64,
            };
            if w.send(reply).is_err() {
                tracing::debug!("prestop requester went away");
            }
        }
        let ids: Vec<u64> = self
            .gens
            .iter()
            .filter(|g| g.signalled.is_none() && !g.killed)
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
            for g in &mut self.gens {
                if !g.killed {
                    g.killed = true;
                    self.procs.kill_group(g.pid);
                }
            }
            return;
        }
        let first_signal_now: Vec<u64> = self
            .gens
            .iter()
            .filter(|g| g.signalled.is_none() && !g.killed)
            .map(|g| g.id)
            .collect();
        self.end_stop_delay(now);
        let signal = self.timing.stop_signal;
        for g in &mut self.gens {
            if g.killed {
                continue;
            }
            if !first_signal_now.contains(&g.id) {
                // A second stop signal tells a changeover server to cut its connections now.
                self.procs.signal(g.pid, signal);
            }
            let at = now + FORCE_GRACE;
            g.kill_at = Some(g.kill_at.map_or(at, |k| k.min(at)));
        }
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

#[cfg(test)]
mod tests;
