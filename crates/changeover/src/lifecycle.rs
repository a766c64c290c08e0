//! The handle an application holds: phases, signals, the stop sequence, and
//! the driver loop that ties them together.

use std::ffi::OsString;
use std::future::Future;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::addr::ListenAddr;
use crate::duration::{format_duration, parse_duration};
use crate::listeners::{self, Inherited, ListenEnv, ListenError, Listener};
use crate::notify::{Notifier, NotifyAddr, NotifyAddrError};
use crate::pidfile::PidFile;
use crate::upgrade::{self, UpgradeError};

/// Set by a parent for its successor: the notify socket the parent itself
/// reports to (systemd's), so that the successor can report there once it
/// has taken over. Empty when the parent had none.
pub const UPSTREAM_NOTIFY_VAR: &str = "CHANGEOVER_NOTIFY_UPSTREAM";

/// Overrides the default stop delay, for a process whose supervisor runs the
/// stop delay itself (`changeover run` sets it to `0s` for its child).
pub const STOP_DELAY_VAR: &str = "CHANGEOVER_STOP_DELAY";

/// The default drain deadline: 5 s stop delay + 20 s drain fit in
/// Kubernetes' default 30 s grace period with room to spare.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(20);
/// The default stop delay on Kubernetes (elsewhere it is zero).
pub const DEFAULT_KUBERNETES_STOP_DELAY: Duration = Duration::from_secs(5);
/// How long a successor may take to report `READY=1` before it is killed.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long an idle keep-alive connection is kept open once accepting
/// stopped, so a request the client is already sending is still answered
/// (with `Connection: close`) instead of meeting a closed socket.
pub const DEFAULT_LAME_DUCK: Duration = Duration::from_secs(1);

/// Where the process is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// Listening, not yet declared ready: `/readyz` answers 503.
    Starting,
    /// Serving normally: `/readyz` answers 200.
    Ready,
    /// A stop or a handover began: `/readyz` answers 503, every HTTP/1.1
    /// response carries `Connection: close`; after the stop delay (none for
    /// a handover) accepting stops and connections drain.
    Draining,
    /// Every connection is closed; [`Lifecycle::run`] is returning.
    Stopped,
}

/// How the process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A stop: every connection finished (`forced: false`) or what was left
    /// was cut at the drain deadline or by a second stop signal.
    Stopped {
        /// Whether connections were cut.
        forced: bool,
    },
    /// A successor took over and this generation drained.
    Upgraded {
        /// The successor's pid.
        successor: u32,
        /// Whether connections were cut.
        forced: bool,
    },
}

impl Outcome {
    /// The exit status for it: 0 when every connection finished, 1 when some were cut.
    pub fn exit_code(&self) -> u8 {
        match self {
            Outcome::Stopped { forced } | Outcome::Upgraded { forced, .. } => u8::from(*forced),
        }
    }
}

/// Why the lifecycle could not be set up.
#[derive(Debug)]
pub enum Error {
    /// A listener could not be inherited or bound.
    Listen(ListenError),
    /// `NOTIFY_SOCKET` (or the upstream variable) is malformed.
    Notify(NotifyAddrError),
    /// An environment variable of changeover's own is malformed.
    Env {
        /// The variable.
        var: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// Signal handlers could not be installed.
    Signals(std::io::Error),
    /// The pid file could not be written.
    PidFile(PathBuf, std::io::Error),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Listen(e) => e.fmt(f),
            Error::Notify(e) => e.fmt(f),
            Error::Env { var, problem } => write!(f, "{var}: {problem}"),
            Error::Signals(e) => write!(f, "cannot install signal handlers: {e}"),
            Error::PidFile(p, e) => write!(
                f,
                "cannot write pid file {}: {e}; check that its directory exists and is writable",
                p.display()
            ),
        }
    }
}

impl std::error::Error for Error {}

impl From<ListenError> for Error {
    fn from(e: ListenError) -> Error {
        Error::Listen(e)
    }
}

/// Configures a [`Lifecycle`].
#[derive(Debug, Clone)]
pub struct Builder {
    stop_delay: Option<Duration>,
    drain_timeout: Duration,
    ready_timeout: Duration,
    lame_duck: Duration,
    pid_file: Option<PathBuf>,
    signals: bool,
    health: bool,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder {
            stop_delay: None,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            ready_timeout: DEFAULT_READY_TIMEOUT,
            lame_duck: DEFAULT_LAME_DUCK,
            pid_file: None,
            signals: true,
            health: true,
        }
    }
}

impl Builder {
    /// How long to keep serving normally after a stop signal, so load
    /// balancers stop routing here first. Default: `CHANGEOVER_STOP_DELAY`
    /// when set, else 5 s when `KUBERNETES_SERVICE_HOST` is set, else 0.
    pub fn stop_delay(mut self, d: Duration) -> Builder {
        self.stop_delay = Some(d);
        self
    }

    /// How long connections may take to finish once accepting stopped
    /// (default 20 s); what is left then is closed.
    pub fn drain_timeout(mut self, d: Duration) -> Builder {
        self.drain_timeout = d;
        self
    }

    /// How long a successor may take to become ready (default 60 s).
    pub fn ready_timeout(mut self, d: Duration) -> Builder {
        self.ready_timeout = d;
        self
    }

    /// How long an idle keep-alive connection stays open once accepting
    /// stopped (default 1 s).
    pub fn lame_duck(mut self, d: Duration) -> Builder {
        self.lame_duck = d;
        self
    }

    /// Keep a pid file naming the live generation.
    pub fn pid_file(mut self, path: impl Into<PathBuf>) -> Builder {
        self.pid_file = Some(path.into());
        self
    }

    /// Whether to handle SIGTERM, SIGINT and SIGHUP (default true). Without
    /// them, call [`Lifecycle::stop`] and [`Lifecycle::upgrade`] yourself.
    pub fn signals(mut self, on: bool) -> Builder {
        self.signals = on;
        self
    }

    /// Whether served HTTP services answer `/livez` and `/readyz` themselves
    /// (default true).
    pub fn health_endpoints(mut self, on: bool) -> Builder {
        self.health = on;
        self
    }

    /// Reads the environment (`LISTEN_*`, `NOTIFY_SOCKET`, the stop delay),
    /// adopts inherited sockets, and installs the signal handlers.
    ///
    /// Must be called inside a tokio runtime.
    pub fn build(self) -> Result<Lifecycle, Error> {
        let stop_delay = match self.stop_delay {
            Some(d) => d,
            None => default_stop_delay()?,
        };
        let inherited = Inherited::adopt(&ListenEnv::from_process())?;
        let notify = NotifyTargets::from_process()?;
        let (exe, args) = own_command_line();
        let (tx, rx) = mpsc::unbounded_channel();
        let (phase_tx, _) = watch::channel(Phase::Starting);
        let lc = Lifecycle {
            inner: Arc::new(Inner {
                stop_delay,
                drain_timeout: self.drain_timeout,
                ready_timeout: self.ready_timeout,
                lame_duck: self.lame_duck,
                health: self.health,
                pid_file: self.pid_file.map(PidFile::new),
                phase: phase_tx,
                draining: AtomicBool::new(false),
                shutdown: CancellationToken::new(),
                stop_accepting: CancellationToken::new(),
                force: CancellationToken::new(),
                tracker: TaskTracker::new(),
                commands: tx,
                commands_rx: Mutex::new(Some(rx)),
                inherited: Mutex::new(inherited),
                passed: Mutex::new(Vec::new()),
                notify: Mutex::new(notify),
                exe,
                args,
            }),
        };
        if self.signals {
            lc.install_signal_handlers().map_err(Error::Signals)?;
        }
        Ok(lc)
    }
}

fn default_stop_delay() -> Result<Duration, Error> {
    if let Some(v) = std::env::var_os(STOP_DELAY_VAR) {
        let v = v.to_string_lossy();
        return parse_duration(&v).map_err(|e| Error::Env {
            var: STOP_DELAY_VAR,
            problem: e.to_string(),
        });
    }
    Ok(if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() {
        DEFAULT_KUBERNETES_STOP_DELAY
    } else {
        Duration::ZERO
    })
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

/// Where this process reports its state.
#[derive(Debug, Default)]
pub(crate) struct NotifyTargets {
    /// The parent's handover socket, while this process is a successor that
    /// has not yet reported ready.
    pub(crate) handover: Option<Notifier>,
    /// systemd's socket (or a supervisor's), for everything else.
    pub(crate) upstream: Option<Notifier>,
}

impl NotifyTargets {
    fn from_process() -> Result<NotifyTargets, Error> {
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
}

pub(crate) enum Command {
    Stop,
    Upgrade(Option<oneshot::Sender<Result<u32, UpgradeError>>>),
}

pub(crate) struct Inner {
    pub(crate) stop_delay: Duration,
    pub(crate) drain_timeout: Duration,
    pub(crate) ready_timeout: Duration,
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) lame_duck: Duration,
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) health: bool,
    pub(crate) pid_file: Option<PidFile>,
    pub(crate) phase: watch::Sender<Phase>,
    /// Mirrors `phase >= Draining`, read on every response.
    pub(crate) draining: AtomicBool,
    pub(crate) shutdown: CancellationToken,
    pub(crate) stop_accepting: CancellationToken,
    pub(crate) force: CancellationToken,
    pub(crate) tracker: TaskTracker,
    commands: mpsc::UnboundedSender<Command>,
    commands_rx: Mutex<Option<mpsc::UnboundedReceiver<Command>>>,
    inherited: Mutex<Inherited>,
    /// A copy of every listener handed out, to pass to a successor.
    pub(crate) passed: Mutex<Vec<(String, OwnedFd)>>,
    pub(crate) notify: Mutex<NotifyTargets>,
    pub(crate) exe: Option<OsString>,
    pub(crate) args: Vec<OsString>,
}

/// The lifecycle of a server process: one handle, cheap to clone.
///
/// See the [crate documentation](crate) for the sequence it runs.
#[derive(Clone)]
pub struct Lifecycle {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Lifecycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lifecycle")
            .field("phase", &*self.inner.phase.borrow())
            .field("stop_delay", &self.inner.stop_delay)
            .field("drain_timeout", &self.inner.drain_timeout)
            .finish_non_exhaustive()
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind; keep going.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Lifecycle {
    /// Starts configuring a lifecycle.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// A lifecycle with every default. Must be called inside a tokio runtime.
    pub fn new() -> Result<Lifecycle, Error> {
        Builder::default().build()
    }

    /// The listener called `name`: inherited when the process was started
    /// with one of that name (or with exactly one), bound at `addr` otherwise.
    pub fn listen(&self, name: &str, addr: &ListenAddr) -> Result<Listener, ListenError> {
        let inherited = lock(&self.inner.inherited).take(name);
        let listener = match inherited {
            Some(l) => {
                tracing::info!(name, addr = %l.local_addr(), "serving inherited listener");
                l
            }
            None => {
                let l = listeners::bind(name, addr)?;
                tracing::info!(name, addr = %l.local_addr(), "listening");
                l
            }
        };
        let copy = listener.copy_fd()?;
        lock(&self.inner.passed).push((name.to_owned(), copy));
        Ok(listener)
    }

    /// Declares the application ready: closes inherited sockets nobody asked
    /// for, writes the pid file, and reports `READY=1` (to the parent during
    /// an upgrade, else to `NOTIFY_SOCKET`).
    pub fn ready(&self) -> Result<(), Error> {
        for name in lock(&self.inner.inherited).close_unclaimed() {
            tracing::info!(name, "closed an inherited listener nobody asked for");
        }
        if let Some(pf) = &self.inner.pid_file {
            pf.write(std::process::id())
                .map_err(|e| Error::PidFile(pf.path().to_owned(), e))?;
        }
        self.inner.phase.send_if_modified(|p| {
            let changed = *p == Phase::Starting;
            if changed {
                *p = Phase::Ready;
            }
            changed
        });
        let mut notify = lock(&self.inner.notify);
        let result = match notify.handover.take() {
            // A successor is tied to its parent until now; from READY=1 on it
            // is the server and outlives the parent, which exits once drained.
            Some(parent) => crate::spawn::outlive_parent().and_then(|()| parent.send("READY=1")),
            None => match &notify.upstream {
                Some(up) => up.send("READY=1"),
                None => Ok(()),
            },
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not report READY=1");
        }
        tracing::info!(pid = std::process::id(), "ready");
        Ok(())
    }

    /// Watches the phase.
    pub fn phase(&self) -> watch::Receiver<Phase> {
        self.inner.phase.subscribe()
    }

    /// Cancelled when a stop or a handover begins: background work of the
    /// application listens to it to finish cleanly (the Rust form of Go's
    /// `signal.NotifyContext`).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.inner.shutdown.clone()
    }

    /// Runs `future` as part of the server: the drain waits for it (up to the
    /// drain deadline), like a connection.
    pub fn spawn<F>(&self, future: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.inner.tracker.spawn(future)
    }

    /// Starts a graceful stop, as SIGTERM does; a second call forces it.
    pub fn stop(&self) {
        // The receiver lives as long as `run`; after it, there is nothing to stop.
        if self.inner.commands.send(Command::Stop).is_err() {
            tracing::debug!("stop requested after the lifecycle ended");
        }
    }

    /// Starts an upgrade, as SIGHUP does, and waits for its outcome: the
    /// successor's pid once it reported ready (this generation then drains),
    /// or why it was rolled back (this generation serves on).
    pub async fn upgrade(&self) -> Result<u32, UpgradeError> {
        let (tx, rx) = oneshot::channel();
        self.inner
            .commands
            .send(Command::Upgrade(Some(tx)))
            .map_err(|_| UpgradeError::Stopping)?;
        rx.await.unwrap_or(Err(UpgradeError::Stopping))
    }

    /// The stop delay in force.
    pub fn stop_delay(&self) -> Duration {
        self.inner.stop_delay
    }

    /// The drain deadline in force.
    pub fn drain_timeout(&self) -> Duration {
        self.inner.drain_timeout
    }

    /// How many connections (and spawned tasks) are open.
    pub fn open_connections(&self) -> usize {
        self.inner.tracker.len()
    }

    fn install_signal_handlers(&self) -> std::io::Result<()> {
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut hup = signal(SignalKind::hangup())?;
        let tx = self.inner.commands.clone();
        tokio::spawn(async move {
            loop {
                let (cmd, name) = tokio::select! {
                    _ = term.recv() => (Command::Stop, "SIGTERM"),
                    _ = int.recv() => (Command::Stop, "SIGINT"),
                    _ = hup.recv() => (Command::Upgrade(None), "SIGHUP: upgrade"),
                };
                // Act first, log second: a logger that fails (a closed
                // stderr can make some panic) must not eat the signal.
                if tx.send(cmd).is_err() {
                    return;
                }
                tracing::info!("{name}");
            }
        });
        Ok(())
    }

    fn set_phase(&self, phase: Phase) {
        if phase >= Phase::Draining {
            self.inner.draining.store(true, Ordering::Release);
        }
        self.inner.phase.send_replace(phase);
    }

    fn notify_upstream(&self, message: &str) {
        if let Some(up) = &lock(&self.inner.notify).upstream {
            if let Err(e) = up.send(message) {
                tracing::warn!(error = %e, message, "could not notify");
            }
        }
    }

    /// Drives the server until it stops or hands over: takes stop and
    /// upgrade requests (from signals, [`stop`](Self::stop) and
    /// [`upgrade`](Self::upgrade)), runs upgrades, then the stop sequence.
    /// Returns when every connection is closed.
    ///
    /// # Panics
    /// When called twice.
    pub async fn run(&self) -> Outcome {
        let mut rx = lock(&self.inner.commands_rx)
            .take()
            .expect("Lifecycle::run called twice");
        type Pending = Pin<Box<dyn Future<Output = Result<u32, UpgradeError>> + Send>>;
        let mut upgrading: Option<Pending> = None;
        let mut waiters: Vec<oneshot::Sender<Result<u32, UpgradeError>>> = Vec::new();
        let successor = loop {
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(Command::Stop) | None => {
                        if upgrading.take().is_some() {
                            tracing::warn!("stop during an upgrade: the successor is killed");
                        }
                        for w in waiters.drain(..) {
                            let _ignored_if_caller_left = w.send(Err(UpgradeError::Stopping));
                        }
                        break None;
                    }
                    Some(Command::Upgrade(reply)) => {
                        if upgrading.is_some() {
                            tracing::info!("an upgrade is already in progress; this request joins it");
                        } else if *self.inner.phase.borrow() != Phase::Ready {
                            tracing::warn!("upgrade requested before the server is ready; ignored");
                            if let Some(r) = reply {
                                let _ignored_if_caller_left = r.send(Err(UpgradeError::NotReady));
                            }
                            continue;
                        } else {
                            self.notify_upstream(&format!(
                                "RELOADING=1\nMONOTONIC_USEC={}\nSTATUS=upgrading",
                                monotonic_usec()
                            ));
                            upgrading = Some(Box::pin(upgrade::run(self.clone())));
                        }
                        waiters.extend(reply);
                    }
                },
                result = async { upgrading.as_mut().expect("guarded").await }, if upgrading.is_some() => {
                    upgrading = None;
                    let handed_over = match &result {
                        Ok(pid) => {
                            tracing::info!(successor = pid, "successor is ready; draining");
                            self.notify_upstream(&format!("MAINPID={pid}\nREADY=1\nSTATUS=handed over to {pid}"));
                            Some(*pid)
                        }
                        Err(e) => {
                            tracing::error!("upgrade failed, still serving: {e}");
                            self.notify_upstream(&format!("READY=1\nSTATUS=upgrade failed: {e}"));
                            None
                        }
                    };
                    for w in waiters.drain(..) {
                        let _ignored_if_caller_left = w.send(result.clone());
                    }
                    if handed_over.is_some() {
                        break handed_over;
                    }
                }
            }
        };
        self.stop_sequence(successor, rx).await
    }

    async fn stop_sequence(
        &self,
        successor: Option<u32>,
        mut rx: mpsc::UnboundedReceiver<Command>,
    ) -> Outcome {
        let inner = &self.inner;
        self.set_phase(Phase::Draining);
        inner.shutdown.cancel();
        let delay = match successor {
            Some(_) => Duration::ZERO,
            None => {
                self.notify_upstream("STOPPING=1\nSTATUS=stopping");
                inner.stop_delay
            }
        };
        // Any stop request from here on (a second SIGTERM) forces the stop.
        let forced = async move {
            loop {
                match rx.recv().await {
                    Some(Command::Stop) => return,
                    Some(Command::Upgrade(reply)) => {
                        tracing::info!("upgrade requested while stopping; ignored");
                        if let Some(r) = reply {
                            let _ignored_if_caller_left = r.send(Err(UpgradeError::Stopping));
                        }
                    }
                    None => std::future::pending::<()>().await,
                }
            }
        };
        tokio::pin!(forced);
        let mut force = false;
        if !delay.is_zero() {
            tracing::info!(delay = %format_duration(delay), "stop delay: still serving while load balancers catch up");
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = &mut forced => { force = true; tracing::warn!("second stop signal: stopping now"); }
            }
        }
        inner.stop_accepting.cancel();
        lock(&inner.passed).clear();
        inner.tracker.close();
        tracing::info!(
            open = inner.tracker.len(),
            deadline = %format_duration(inner.drain_timeout),
            "stopped accepting; draining"
        );
        if !force {
            tokio::select! {
                _ = inner.tracker.wait() => {}
                _ = tokio::time::sleep(inner.drain_timeout) => {
                    force = true;
                    tracing::warn!(open = inner.tracker.len(), "drain deadline reached: closing what is left");
                }
                _ = &mut forced => {
                    force = true;
                    tracing::warn!(open = inner.tracker.len(), "second stop signal: closing what is left");
                }
            }
        }
        let mut cut = false;
        if force {
            cut = !inner.tracker.is_empty();
            inner.force.cancel();
            // Connections end as soon as they see the force token; this bound
            // only guards against an application task that ignores it.
            if tokio::time::timeout(Duration::from_secs(1), inner.tracker.wait())
                .await
                .is_err()
            {
                tracing::warn!(
                    open = inner.tracker.len(),
                    "tasks still running after the forced stop; leaving them"
                );
            }
        }
        if successor.is_none() {
            if let Some(pf) = &inner.pid_file {
                if let Err(e) = pf.remove_if_ours(std::process::id()) {
                    tracing::warn!(path = %pf.path().display(), error = %e, "could not remove pid file");
                }
            }
        }
        self.set_phase(Phase::Stopped);
        tracing::info!(cut, "stopped");
        match successor {
            Some(successor) => Outcome::Upgraded {
                successor,
                forced: cut,
            },
            None => Outcome::Stopped { forced: cut },
        }
    }
}

fn monotonic_usec() -> u128 {
    match nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC) {
        Ok(ts) => ts.tv_sec() as u128 * 1_000_000 + ts.tv_nsec() as u128 / 1000,
        Err(_) => 0,
    }
}
