//! The handle an application holds, [`Lifecycle`]: it hands out listeners,
//! declares readiness, takes stop and upgrade requests (from signals or
//! calls), and drives them.
//!
//! It is the one part that knows all the others and the only one that
//! decides: an upgrade is an [`UpgradePlan`](crate::upgrade::UpgradePlan)
//! handed to the `upgrade` module; a stop or a handover moves the
//! [drain protocol](crate::drain) forward; serving is
//! [`http`](crate::http) given the drain signals. None of them knows the
//! lifecycle. Its setup (defaults, environment, errors) is in `config`;
//! what links this process to its parent, to systemd and to a successor is
//! its `generation`; stop and upgrade requests arrive as `requests`; the
//! [`Builder`] that makes one is `builder`.

mod builder;
mod config;
mod generation;
mod requests;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::addr::ListenAddr;
use crate::drain::{Deadlines, Drain, Draining, Phase};
use crate::listeners::{self, Inherited, ListenError, Listener};
use crate::pidfile::PidFile;
use crate::upgrade::{self, UpgradeError};
use generation::Generation;
use requests::Request;

pub use builder::Builder;
pub use config::{
    DEFAULT_DRAIN_TIMEOUT, DEFAULT_KUBERNETES_STOP_DELAY, DEFAULT_LAME_DUCK, DEFAULT_READY_TIMEOUT,
    Error, STOP_DELAY_VAR,
};

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

struct Inner {
    /// The drain protocol's state: phase, tokens, connection tracker.
    drain: Drain,
    stop_delay: Duration,
    drain_timeout: Duration,
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    health: bool,
    pid_file: Option<PidFile>,
    requests: mpsc::UnboundedSender<Request>,
    /// Taken by [`Lifecycle::run`].
    requests_rx: Mutex<Option<mpsc::UnboundedReceiver<Request>>>,
    inherited: Mutex<Inherited>,
    generation: Generation,
    /// Who adopts connections a parent hands over, by listener name.
    #[cfg(feature = "http")]
    takers: Arc<crate::handover::Takers>,
}

/// The lifecycle of a server process: one handle, cheap to clone.
///
/// See the [crate documentation](crate) for the sequence it runs.
#[derive(Clone)]
pub struct Lifecycle {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Lifecycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lifecycle")
            .field("phase", &self.inner.drain.phase())
            .field("stop_delay", &self.inner.stop_delay)
            .field("drain_timeout", &self.inner.drain_timeout)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
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
        self.inner.generation.keep_listener(name, copy);
        Ok(listener)
    }

    /// Serves `service` on `listener` until the stop sequence ends it:
    /// spawns the accept loop and returns at once.
    ///
    /// Any tower service over `http::Request<hyper::body::Incoming>` works,
    /// an axum `Router` among them; see the crate documentation for a whole
    /// server, and the [drain protocol](crate::drain) for what each
    /// connection goes through when the server stops.
    ///
    /// Pass an axum `Router` as `router.with_state(())`, as `axum::serve`
    /// does: a `Router` served as it is clones and boxes the handler it
    /// routes to, as a route, again on every request (about 180
    /// instructions per request in `examples/hello`, mostly the
    /// allocator); `with_state` does that once for every handler.
    #[cfg(feature = "http")]
    pub fn serve<S: crate::http::HttpService>(
        &self,
        listener: Listener,
        service: S,
    ) -> std::io::Result<()> {
        crate::http::serve(
            listener,
            service,
            self.inner.drain.signals(),
            self.inner.health,
            Some(&self.inner.takers),
        )
    }

    /// The drain signals, for a serve path of the library's own beside
    /// [`serve`](Self::serve) (gRPC health).
    #[cfg(feature = "grpc")]
    pub(crate) fn drain_signals(&self) -> crate::drain::DrainSignals {
        self.inner.drain.signals()
    }

    /// Declares the application ready: closes inherited sockets nobody asked
    /// for, writes the pid file, and reports `READY=1` (to the parent during
    /// an upgrade, else to `NOTIFY_SOCKET`). During an upgrade, a server that
    /// serves HTTP (its [`serve`](Self::serve) calls came first) also tells
    /// its parent where to hand its idle connections.
    pub fn ready(&self) -> Result<(), Error> {
        for name in lock(&self.inner.inherited).close_unclaimed() {
            tracing::info!(name, "closed an inherited listener nobody asked for");
        }
        if let Some(pf) = &self.inner.pid_file {
            pf.write(std::process::id())
                .map_err(|e| Error::PidFile(pf.path().to_owned(), e))?;
        }
        self.inner.drain.mark_ready();
        #[cfg(feature = "http")]
        let intake = self.open_intake();
        #[cfg(feature = "http")]
        let to_parent = intake.as_ref().map_or("", |(field, _)| field.as_str());
        #[cfg(not(feature = "http"))]
        let to_parent = "";
        self.inner.generation.report_ready(to_parent);
        #[cfg(feature = "http")]
        if let Some((_, take_connections)) = intake {
            tokio::spawn(take_connections);
        }
        tracing::info!(pid = std::process::id(), "ready");
        Ok(())
    }

    /// When this is a successor that serves HTTP: an intake for the idle
    /// connections of its parent, as the field of `READY=1` that says where
    /// it is and the future that takes them.
    #[cfg(feature = "http")]
    fn open_intake(&self) -> Option<(String, impl Future<Output = ()> + Send + 'static)> {
        let parent = self.inner.generation.parent()?;
        if self.inner.takers.is_empty() {
            return None;
        }
        match crate::handover::Intake::bind() {
            Ok(intake) => {
                let field = format!(
                    "{}={}",
                    upgrade::CONNECTIONS_FIELD,
                    intake.addr().to_env_value().to_string_lossy()
                );
                let takers = self.inner.takers.clone();
                Some((field, intake.run(parent, takers)))
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot open a socket for the old generation's idle connections; it closes them instead");
                None
            }
        }
    }

    /// Watches the phase.
    pub fn phase(&self) -> watch::Receiver<Phase> {
        self.inner.drain.subscribe()
    }

    /// Cancelled when a stop or a handover begins: background work of the
    /// application listens to it to finish cleanly (the Rust form of Go's
    /// `signal.NotifyContext`).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.inner.drain.shutdown_token()
    }

    /// A cheap view of whether draining began, for handlers that want to know.
    pub fn draining(&self) -> Draining {
        self.inner.drain.draining()
    }

    /// Runs `future` as part of the server: the drain waits for it (up to the
    /// drain deadline), like a connection.
    pub fn spawn<F>(&self, future: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.inner.drain.tracker().spawn(future)
    }

    /// Starts a graceful stop, as SIGTERM does; a second call forces it.
    pub fn stop(&self) {
        // The receiver lives as long as `run`; after it, there is nothing to stop.
        if self.inner.requests.send(Request::Stop).is_err() {
            tracing::debug!("stop requested after the lifecycle ended");
        }
    }

    /// Starts an upgrade, as SIGHUP does, and waits for its outcome: the
    /// successor's pid once it reported ready (this generation then drains),
    /// or why it was rolled back (this generation serves on).
    pub async fn upgrade(&self) -> Result<u32, UpgradeError> {
        let (tx, rx) = oneshot::channel();
        self.inner
            .requests
            .send(Request::Upgrade(Some(tx)))
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
        self.inner.drain.tracker().len()
    }

    /// Drives the server until it stops or hands over: takes stop and
    /// upgrade requests (from signals, [`stop`](Self::stop) and
    /// [`upgrade`](Self::upgrade)), runs upgrades, then the stop sequence.
    /// Returns when every connection is closed.
    ///
    /// # Panics
    /// When called twice.
    pub async fn run(&self) -> Outcome {
        let mut rx = lock(&self.inner.requests_rx)
            .take()
            .expect("Lifecycle::run called twice");
        type Pending =
            Pin<Box<dyn Future<Output = Result<upgrade::Successor, UpgradeError>> + Send>>;
        let mut upgrading: Option<Pending> = None;
        let mut waiters: Vec<oneshot::Sender<Result<u32, UpgradeError>>> = Vec::new();
        let successor = loop {
            tokio::select! {
                request = rx.recv() => match request {
                    Some(Request::Stop) | None => {
                        if upgrading.take().is_some() {
                            tracing::warn!("stop during an upgrade: the successor is killed");
                        }
                        for w in waiters.drain(..) {
                            let _ignored_if_caller_left = w.send(Err(UpgradeError::Stopping));
                        }
                        break None;
                    }
                    Some(Request::Upgrade(reply)) => {
                        if upgrading.is_some() {
                            tracing::info!("an upgrade is already in progress; this request joins it");
                        } else if self.inner.drain.phase() != Phase::Ready {
                            tracing::warn!("upgrade requested before the server is ready; ignored");
                            if let Some(r) = reply {
                                let _ignored_if_caller_left = r.send(Err(UpgradeError::NotReady));
                            }
                            continue;
                        } else {
                            self.inner.generation.notify_reloading();
                            let plan = self.inner.generation.plan_upgrade();
                            upgrading = Some(Box::pin(async move { upgrade::run(plan?).await }));
                        }
                        waiters.extend(reply);
                    }
                },
                result = async { upgrading.as_mut().expect("guarded").await }, if upgrading.is_some() => {
                    upgrading = None;
                    let handed_over = match &result {
                        Ok(successor) => {
                            let pid = successor.pid;
                            tracing::info!(successor = pid, "successor is ready; draining");
                            #[cfg(feature = "http")]
                            self.hand_idle_connections_to(successor);
                            self.inner.generation.notify_upstream(&format!("MAINPID={pid}\nREADY=1\nSTATUS=handed over to {pid}"));
                            Some(pid)
                        }
                        Err(e) => {
                            tracing::error!("upgrade failed, still serving: {e}");
                            self.inner.generation.notify_upstream(&format!("READY=1\nSTATUS=upgrade failed: {e}"));
                            None
                        }
                    };
                    for w in waiters.drain(..) {
                        let _ignored_if_caller_left = w.send(result.clone().map(|s| s.pid));
                    }
                    if handed_over.is_some() {
                        break handed_over;
                    }
                }
            }
        };
        self.stop_sequence(successor, rx).await
    }

    /// Before the drain of a handover: when the successor takes idle
    /// connections, connects to it, so that they go there instead of
    /// through their lame duck.
    #[cfg(feature = "http")]
    fn hand_idle_connections_to(&self, successor: &upgrade::Successor) {
        let Some(addr) = &successor.connections else {
            tracing::info!(
                successor = successor.pid,
                "the successor does not take connections over; idle ones close after their lame duck"
            );
            return;
        };
        match crate::handover::Outbox::connect(addr, successor.pid) {
            Ok(outbox) => self.inner.drain.hand_off_to(outbox),
            Err(e) => tracing::warn!(
                successor = successor.pid,
                error = %e,
                "cannot hand idle connections to the successor; they close after their lame duck"
            ),
        }
    }

    /// The [drain protocol](crate::drain) from step 1 to the end; after a
    /// handover to `successor`, without the stop delay.
    async fn stop_sequence(
        &self,
        successor: Option<u32>,
        mut rx: mpsc::UnboundedReceiver<Request>,
    ) -> Outcome {
        let inner = &self.inner;
        inner.drain.begin();
        let stop_delay = match successor {
            Some(_) => Duration::ZERO,
            None => {
                inner
                    .generation
                    .notify_upstream("STOPPING=1\nSTATUS=stopping");
                inner.stop_delay
            }
        };
        // Any stop request from here on (a second SIGTERM) forces the stop.
        let second_stop = async move {
            loop {
                match rx.recv().await {
                    Some(Request::Stop) => return,
                    Some(Request::Upgrade(reply)) => {
                        tracing::info!("upgrade requested while stopping; ignored");
                        if let Some(r) = reply {
                            let _ignored_if_caller_left = r.send(Err(UpgradeError::Stopping));
                        }
                    }
                    None => std::future::pending::<()>().await,
                }
            }
        };
        tokio::pin!(second_stop);
        let deadlines = Deadlines {
            stop_delay,
            drain: inner.drain_timeout,
        };
        let cut = inner
            .drain
            .complete(deadlines, second_stop, || {
                inner.generation.close_listeners()
            })
            .await;
        if successor.is_none() {
            if let Some(pf) = &inner.pid_file {
                if let Err(e) = pf.remove_if_ours(std::process::id()) {
                    tracing::warn!(path = %pf.path().display(), error = %e, "could not remove pid file");
                }
            }
        }
        inner.drain.finish();
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
