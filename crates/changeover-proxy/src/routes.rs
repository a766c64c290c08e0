//! The routing table the supervisor drives: which generation serves at which
//! upstream, which one gets new requests, and how many requests are in flight
//! to each.

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::Config;
use crate::metrics::{GenCounters, GenerationMetrics};
use crate::pool::Pool;
use crate::state::State;
use crate::upstream::Upstream;

/// Why the routing table refused a change.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouteError {
    /// [`Routes::ready`] for a generation number the table already has.
    Duplicate(u64),
    /// [`Routes::ready`] with a TCP address that is not loopback: a private
    /// upstream must be reachable from this host only.
    NotLoopback(SocketAddr),
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteError::Duplicate(g) => write!(
                f,
                "generation {g} is already in the routing table; give each generation a new number"
            ),
            RouteError::NotLoopback(a) => write!(
                f,
                "upstream {a} is not a loopback address; a generation's private upstream must be on 127.0.0.0/8, [::1] or a Unix socket"
            ),
        }
    }
}

impl std::error::Error for RouteError {}

const READY: u8 = 0;
const RETIRED: u8 = 1;
const GONE: u8 = 2;

fn state_of(v: u8) -> State {
    match v {
        READY => State::Ready,
        RETIRED => State::Retired,
        _ => State::Gone,
    }
}

/// One generation: its upstream, its pool of connections, its counters.
pub(crate) struct Gen {
    pub(crate) number: u64,
    pub(crate) pool: Pool,
    state: AtomicU8,
    in_flight: AtomicUsize,
    /// Woken when `in_flight` reaches 0 while not ready, and on every state change.
    idle: Notify,
    /// Cancelled by [`Routes::cut`] and [`Routes::gone`]: ends its tunnels.
    pub(crate) cut: CancellationToken,
    pub(crate) counters: GenCounters,
}

impl Gen {
    pub(crate) fn state(&self) -> State {
        state_of(self.state.load(Ordering::SeqCst))
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    fn set_state(&self, s: u8) {
        self.state.store(s, Ordering::SeqCst);
        self.idle.notify_waiters();
    }
}

/// One request (or tunnel) in flight to a generation; counted until dropped.
pub(crate) struct InFlight(Arc<Gen>);

impl InFlight {
    pub(crate) fn generation(&self) -> &Arc<Gen> {
        &self.0
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        // SeqCst on both sides of the count/state pair: `drained` reads the
        // state then the count, this writes the count then reads the state,
        // so at least one of the two sees the other's write.
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1
            && self.0.state.load(Ordering::SeqCst) != READY
        {
            self.0.idle.notify_waiters();
        }
    }
}

/// How many generations that are gone stay visible in the metrics.
const GONE_KEPT: usize = 4;

#[derive(Default)]
struct Table {
    /// Ascending by generation number.
    live: Vec<Arc<Gen>>,
    /// The last few gone, oldest first, for their final counts.
    gone: VecDeque<Arc<Gen>>,
}

/// The routing table: the supervisor tells it when a generation is ready,
/// retired and gone; every new request goes to the newest ready generation.
///
/// Cheap to clone (one shared table). Every method is synchronous and
/// short, except [`Routes::drained`], which waits.
///
/// ```
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use changeover_proxy::{Config, Proxy, Upstream};
///
/// let proxy = Proxy::new(Config::default());
/// let routes = proxy.routes();
/// routes.ready(1, Upstream::Tcp("127.0.0.1:40001".parse()?))?;
/// // A reload: generation 2 is ready, so generation 1 gets no new request.
/// routes.ready(2, Upstream::Tcp("127.0.0.1:40002".parse()?))?;
/// routes.retire(1);
/// routes.drained(1).await; // nothing in flight to 1: now send it SIGTERM
/// // ... and once its process exited:
/// routes.gone(1);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Routes {
    table: Arc<RwLock<Table>>,
    config: Arc<Config>,
}

impl fmt::Debug for Routes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut l = f.debug_list();
        for g in &self.read().live {
            l.entry(&(g.number, g.pool.upstream(), g.state(), g.in_flight()));
        }
        l.finish()
    }
}

impl Routes {
    pub(crate) fn new(config: Arc<Config>) -> Routes {
        Routes {
            table: Arc::default(),
            config,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Table> {
        // A panic while holding the lock cannot leave the table half-changed
        // (every change is one push, remove or store), so poison is ignored.
        self.table.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Table> {
        self.table.write().unwrap_or_else(|p| p.into_inner())
    }

    fn find(&self, number: u64) -> Option<Arc<Gen>> {
        self.read()
            .live
            .iter()
            .find(|g| g.number == number)
            .cloned()
    }

    /// Generation `number` is ready at `upstream`. It gets every new request
    /// from now on unless a higher-numbered generation is ready too.
    pub fn ready(&self, number: u64, upstream: Upstream) -> Result<(), RouteError> {
        if let Upstream::Tcp(a) = &upstream {
            if !a.ip().is_loopback() {
                return Err(RouteError::NotLoopback(*a));
            }
        }
        let mut t = self.write();
        if t.live.iter().chain(&t.gone).any(|g| g.number == number) {
            return Err(RouteError::Duplicate(number));
        }
        let gen_ = Arc::new(Gen {
            number,
            pool: Pool::new(upstream, &self.config),
            state: AtomicU8::new(READY),
            in_flight: AtomicUsize::new(0),
            idle: Notify::new(),
            cut: CancellationToken::new(),
            counters: GenCounters::default(),
        });
        let at = t.live.partition_point(|g| g.number < number);
        t.live.insert(at, gen_);
        tracing::debug!(generation = number, "proxy: generation ready");
        Ok(())
    }

    /// Generation `number` gets no new request (its successor is ready).
    /// Its idle upstream connections are closed now, by the proxy; requests
    /// and tunnels in flight to it go on; wait for them with
    /// [`Routes::drained`]. Unknown numbers are ignored.
    pub fn retire(&self, number: u64) {
        // Under the write lock: a request that picked this generation did so
        // before (and is counted, so `drained` waits for it) or after (and
        // sees it retired).
        let t = self.write();
        if let Some(g) = t.live.iter().find(|g| g.number == number) {
            if g.state.load(Ordering::SeqCst) == READY {
                g.set_state(RETIRED);
                // Its idle connections will never be used again: closed
                // now, by the proxy, so the child has none to close under a
                // request when it is stopped.
                g.pool.clear();
                tracing::debug!(generation = number, "proxy: generation retired");
            }
        }
    }

    /// Generation `number` is gone (its process exited): it leaves the table,
    /// its idle upstream connections are closed and its tunnels cut. Requests
    /// still in flight to it fail with 502 as their connections die.
    pub fn gone(&self, number: u64) {
        let mut t = self.write();
        let Some(i) = t.live.iter().position(|g| g.number == number) else {
            return;
        };
        let g = t.live.remove(i);
        g.set_state(GONE);
        g.cut.cancel();
        g.pool.clear();
        if t.gone.len() == GONE_KEPT {
            t.gone.pop_front();
        }
        t.gone.push_back(g);
        tracing::debug!(generation = number, "proxy: generation gone");
    }

    /// Cuts the upgraded connections (WebSocket tunnels) of generation
    /// `number` now: the supervisor's drain deadline for it has passed.
    /// Plain requests are not cut here; they end when the child does.
    pub fn cut(&self, number: u64) {
        if let Some(g) = self.find(number) {
            g.cut.cancel();
        }
    }

    /// Cuts the tunnels of every generation (a forced stop).
    pub fn cut_all(&self) {
        for g in &self.read().live {
            g.cut.cancel();
        }
    }

    /// Resolves once generation `number` gets no new request (retired or
    /// gone) and nothing is in flight to it: the moment to send it its stop
    /// signal. At once for a number the table does not have. Bound it with
    /// the drain deadline (`tokio::time::timeout`), then [`Routes::cut`].
    pub async fn drained(&self, number: u64) {
        let Some(g) = self.find(number) else { return };
        loop {
            let notified = g.idle.notified();
            tokio::pin!(notified);
            // Registered before the check, so a wake between the check and
            // the await is not lost.
            notified.as_mut().enable();
            if g.state.load(Ordering::SeqCst) != READY && g.in_flight.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Requests (and tunnels) in flight to generation `number`; `None` for a
    /// number the table does not have.
    pub fn in_flight(&self, number: u64) -> Option<usize> {
        self.find(number).map(|g| g.in_flight())
    }

    /// The state of generation `number`, `None` for one the table never had
    /// or forgot.
    pub fn state(&self, number: u64) -> Option<State> {
        let t = self.read();
        t.live
            .iter()
            .chain(&t.gone)
            .find(|g| g.number == number)
            .map(|g| g.state())
    }

    /// The generation new requests go to now: the newest ready one.
    pub fn current(&self) -> Option<u64> {
        let t = self.read();
        t.live
            .iter()
            .rev()
            .find(|g| g.state() == State::Ready)
            .map(|g| g.number)
    }

    /// Picks the newest ready generation for a new request and counts it in
    /// flight there.
    pub(crate) fn pick(&self) -> Option<InFlight> {
        let t = self.read();
        let g = t
            .live
            .iter()
            .rev()
            .find(|g| g.state.load(Ordering::SeqCst) == READY)?;
        // Counted under the read lock: `retire` takes the write lock, so it
        // is ordered entirely before or after this.
        g.in_flight.fetch_add(1, Ordering::SeqCst);
        Some(InFlight(g.clone()))
    }

    /// The numbers of every generation the metrics show: the last few
    /// gone, then the live.
    pub(crate) fn for_metrics(&self) -> Vec<GenerationMetrics> {
        let t = self.read();
        t.gone
            .iter()
            .chain(&t.live)
            .map(|g| {
                let (responses, upstream_errors, retries) = g.counters.get();
                GenerationMetrics {
                    generation: g.number,
                    state: g.state(),
                    in_flight: g.in_flight(),
                    idle_connections: g.pool.idle_count(),
                    responses,
                    upstream_errors,
                    retries,
                }
            })
            .collect()
    }
}
