//! Running the load: [`start`], the [`LoadHandle`] a caller holds, and one task per connection.
//!
//! Hot-path counters (ok, failures by kind, issued requests) are shared atomics. Bad-status
//! counts are kept per connection task and merged into the [`Report`] at the end. Latencies are
//! collected per connection in a small buffer and added to the one shared histogram
//! [`LATENCY_BATCH`] at a time, so a request takes no lock and a connection costs about 2 KiB
//! rather than a histogram of its own (some 100 KiB at 3 significant digits).
//!
//! The timeline is keyed by (second, epoch), where the epoch is the number of events recorded
//! before the request ended: every event bumps it, so the requests of a second are split at
//! each event in it, and a failure always lands after the event that preceded it. Each
//! connection counts into its current (second, epoch) cell and adds the cell to one shared map
//! when the key changes, about once a second.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::sync::Notify;
use tokio::task::{AbortHandle, JoinHandle};
use tokio::time::{Instant, Interval, MissedTickBehavior, sleep_until, timeout_at};
use tokio_util::sync::CancellationToken;

use crate::during::run_schedule;
use crate::http::{RecvBuf, build_request, exchange};
use crate::stream::Stream;
use crate::{
    CommandRun, Config, ConfigError, During, DuringSummary, Endpoint, Event, FailureCounts,
    FailureKind, FailureSample, Latency, Report, TimelineEntry,
};

/// Extra time [`LoadHandle::stop`] gives connection tasks beyond the per-request timeout
/// before it aborts them.
const STOP_GRACE: Duration = Duration::from_secs(1);

/// Latencies a connection buffers before adding them to the shared histogram.
const LATENCY_BATCH: usize = 256;

/// Beyond its grace, how long [`LoadHandle::stop`] waits for a [`During`] schedule to kill and
/// reap its last run.
const SCHEDULE_GRACE: Duration = Duration::from_secs(10);

/// Live counters of a run, from [`LoadHandle::snapshot`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Requests that ended so far (`ok + failed`).
    pub requests: u64,
    /// Requests that got a complete 2xx response.
    pub ok: u64,
    /// Requests that failed, all kinds together.
    pub failed: u64,
    /// Failed requests by kind.
    pub failures: FailureCounts,
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} requests, {} ok, {} failed",
            self.requests, self.ok, self.failed
        )
    }
}

/// Why [`LoadHandle::wait_until`] / [`LoadHandle::wait_for_ok`] gave up.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitError {
    /// The deadline passed first; the counts at that moment.
    Deadline(Counts),
    /// The run ended (every connection task finished) first; the final counts.
    Finished(Counts),
}

impl WaitError {
    /// The counts when the wait gave up.
    pub fn counts(&self) -> Counts {
        match self {
            WaitError::Deadline(c) | WaitError::Finished(c) => *c,
        }
    }
}

impl fmt::Display for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitError::Deadline(c) => write!(f, "load condition not met before the deadline ({c})"),
            WaitError::Finished(c) => {
                write!(f, "load run ended before the condition was met ({c})")
            }
        }
    }
}

impl std::error::Error for WaitError {}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Requests that ended in one (second, epoch) cell of the timeline.
#[derive(Debug, Clone, Copy, Default)]
struct Cell {
    ok: u64,
    failed: [u64; FailureKind::COUNT],
}

/// A timeline key: the second since the start, and the number of events recorded before.
type CellKey = (u64, usize);

/// State shared by the handle, every connection task and the [`During`] schedule.
pub(crate) struct Shared {
    pub(crate) start: Instant,
    /// Cancelled when the run stops issuing requests.
    pub(crate) stop: CancellationToken,
    /// Cancelled by [`Control::stop_now`]: stop without waiting for anything.
    pub(crate) now: CancellationToken,
    ok: AtomicU64,
    failures: [AtomicU64; FailureKind::COUNT],
    issued: AtomicU64,
    max_requests: Option<u64>,
    /// Number of callers inside `wait_until`; workers only notify when it is non-zero.
    waiters: AtomicUsize,
    notify: Notify,
    /// Connection tasks not finished yet.
    running: AtomicUsize,
    sample_slots: AtomicUsize,
    samples: Mutex<Vec<FailureSample>>,
    events: Mutex<Vec<Event>>,
    /// `events.len()`, readable without the lock (bumped under it, after the push).
    epoch: AtomicUsize,
    timeline: Mutex<BTreeMap<CellKey, Cell>>,
    /// Latencies in microseconds, fed in batches by the connection tasks.
    latency: Mutex<Histogram<u64>>,
}

impl Shared {
    fn counts(&self) -> Counts {
        let ok = self.ok.load(Ordering::SeqCst);
        let failures = FailureCounts::from_array(std::array::from_fn(|i| {
            self.failures[i].load(Ordering::SeqCst)
        }));
        let failed = failures.total();
        Counts {
            requests: ok + failed,
            ok,
            failed,
            failures,
        }
    }

    fn offset(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.start)
    }

    /// Takes the right to issue one more request (under `max_requests`).
    fn take_ticket(&self) -> bool {
        match self.max_requests {
            Some(max) => self.issued.fetch_add(1, Ordering::Relaxed) < max,
            None => true,
        }
    }

    fn wake_waiters(&self) {
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.notify.notify_waiters();
        }
    }

    fn record_ok(&self) {
        self.ok.fetch_add(1, Ordering::SeqCst);
        self.wake_waiters();
    }

    fn record_failure(
        &self,
        kind: FailureKind,
        connection: usize,
        at: Instant,
        error: impl FnOnce() -> String,
    ) {
        self.failures[kind.index()].fetch_add(1, Ordering::SeqCst);
        if self.sample_slots.load(Ordering::Relaxed) < Report::MAX_SAMPLES
            && self.sample_slots.fetch_add(1, Ordering::Relaxed) < Report::MAX_SAMPLES
        {
            let sample = FailureSample {
                at: self.offset(at),
                kind,
                connection,
                error: error(),
            };
            lock(&self.samples).push(sample);
        }
        self.wake_waiters();
    }

    fn mark(&self, label: String) {
        self.push_event(label, None);
    }

    /// Records an event now; returns its index in the report's events.
    pub(crate) fn push_event(&self, label: String, command: Option<CommandRun>) -> usize {
        let mut events = lock(&self.events);
        // Taken under the lock, so events are in time order.
        let at = self.offset(Instant::now());
        events.push(Event { at, label, command });
        let index = events.len() - 1;
        self.epoch.store(events.len(), Ordering::SeqCst);
        index
    }

    /// Replaces the command outcome of event `index`.
    pub(crate) fn update_command(&self, index: usize, run: CommandRun) {
        if let Some(event) = lock(&self.events).get_mut(index) {
            event.command = Some(run);
        }
    }

    fn epoch(&self) -> usize {
        self.epoch.load(Ordering::SeqCst)
    }

    fn add_cell(&self, key: CellKey, cell: &Cell) {
        let mut timeline = lock(&self.timeline);
        let total = timeline.entry(key).or_default();
        total.ok += cell.ok;
        for (t, n) in total.failed.iter_mut().zip(cell.failed) {
            *t += n;
        }
    }
}

/// Decrements `running` when a connection task ends, however it ends.
struct RunningGuard(Arc<Shared>);

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }
}

struct WaiterGuard<'a>(&'a AtomicUsize);

impl Drop for WaiterGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What one connection task counted, merged into the report at the end.
struct ConnStats {
    /// Latencies (µs) not yet added to the shared histogram.
    latencies: Vec<u64>,
    bad_statuses: BTreeMap<u16, u64>,
    /// The timeline cell being counted, not yet added to the shared timeline.
    cell: Option<(CellKey, Cell)>,
    connects: u64,
    idle_closes: u64,
    ended: Instant,
}

impl ConnStats {
    fn record_latency(&mut self, shared: &Shared, us: u64) {
        self.latencies.push(us.max(1));
        if self.latencies.len() >= LATENCY_BATCH {
            self.flush_latencies(shared);
        }
    }

    fn flush_latencies(&mut self, shared: &Shared) {
        if self.latencies.is_empty() {
            return;
        }
        let mut hist = lock(&shared.latency);
        for us in self.latencies.drain(..) {
            hist.saturating_record(us);
        }
    }

    /// Counts a request that ended at `at`: ok, or failed as `failure`.
    fn tick(&mut self, shared: &Shared, at: Instant, failure: Option<FailureKind>) {
        let key = (shared.offset(at).as_secs(), shared.epoch());
        let cell = match &mut self.cell {
            Some((k, cell)) if *k == key => cell,
            slot => {
                if let Some((k, cell)) = slot.take() {
                    shared.add_cell(k, &cell);
                }
                &mut slot.insert((key, Cell::default())).1
            }
        };
        match failure {
            None => cell.ok += 1,
            Some(kind) => cell.failed[kind.index()] += 1,
        }
    }

    fn flush_cell(&mut self, shared: &Shared) {
        if let Some((key, cell)) = self.cell.take() {
            shared.add_cell(key, &cell);
        }
    }
}

fn new_histogram(high_us: u64) -> Histogram<u64> {
    // Bounds 1..=high with high >= 2 and 3 significant digits are always valid.
    Histogram::new_with_bounds(1, high_us.max(2), 3).expect("valid histogram bounds")
}

/// One connection: sends requests one at a time, reconnecting whenever the connection is gone.
struct Worker {
    index: usize,
    shared: Arc<Shared>,
    endpoint: Endpoint,
    request: Arc<[u8]>,
    keep_alive: bool,
    timeout: Duration,
    /// Open loop: first send time and interval.
    pace: Option<(Instant, Duration)>,
    stats: ConnStats,
}

impl Worker {
    fn fail(&mut self, at: Instant, kind: FailureKind, error: impl FnOnce() -> String) {
        // Placed in the timeline before it is counted, so whoever sees the count (a test's
        // `wait_until`) and then records an event finds the failure before that event.
        self.stats.tick(&self.shared, at, Some(kind));
        self.shared.record_failure(kind, self.index, at, error);
    }

    async fn run(mut self) -> ConnStats {
        let _running = RunningGuard(self.shared.clone());
        let stop = self.shared.stop.clone();
        let mut conn: Option<Stream> = None;
        let mut rb = RecvBuf::new();
        let mut pacer = self.pace.map(|(first, period)| {
            let mut i = tokio::time::interval_at(first, period);
            i.set_missed_tick_behavior(MissedTickBehavior::Delay);
            i
        });
        loop {
            if stop.is_cancelled() {
                break;
            }
            match pacer.as_mut() {
                Some(pacer) => {
                    if !self
                        .idle_until_next_slot(pacer, &mut conn, &mut rb, &stop)
                        .await
                    {
                        break;
                    }
                }
                // The closed loop may never meet a pending future (say, connects refused at
                // once): give the runtime its turn now and then.
                None => tokio::task::coop::consume_budget().await,
            }
            if !self.shared.take_ticket() {
                break;
            }
            let deadline = Instant::now() + self.timeout;
            if conn.is_none() {
                // Stopping while connecting abandons the request: nothing was written yet.
                let connected = tokio::select! {
                    biased;
                    () = stop.cancelled() => break,
                    r = timeout_at(deadline, Stream::connect(&self.endpoint)) => r,
                };
                let now = Instant::now();
                match connected {
                    Ok(Ok(s)) => {
                        self.stats.connects += 1;
                        rb.clear();
                        conn = Some(s);
                    }
                    Ok(Err(e)) => {
                        let kind = if e.kind() == io::ErrorKind::ConnectionRefused {
                            FailureKind::Refused
                        } else {
                            FailureKind::Connect
                        };
                        self.fail(now, kind, || format!("connect: {e}"));
                        continue;
                    }
                    Err(_) => {
                        let t = self.timeout;
                        self.fail(now, FailureKind::Timeout, || {
                            format!("connect not done within {t:?}")
                        });
                        continue;
                    }
                }
                if stop.is_cancelled() {
                    break;
                }
            }
            let Some(stream) = conn.as_mut() else {
                continue;
            };
            let sent = Instant::now();
            let result = timeout_at(deadline, exchange(stream, &mut rb, &self.request)).await;
            let done = Instant::now();
            match result {
                Ok(Ok(resp)) => {
                    let us = u64::try_from((done - sent).as_micros()).unwrap_or(u64::MAX);
                    self.stats.record_latency(&self.shared, us);
                    if !(self.keep_alive && resp.reusable) {
                        conn = None;
                    }
                    if (200..300).contains(&resp.status) {
                        self.stats.tick(&self.shared, done, None);
                        self.shared.record_ok();
                    } else {
                        *self.stats.bad_statuses.entry(resp.status).or_default() += 1;
                        let status = resp.status;
                        self.fail(done, FailureKind::BadStatus, || format!("status {status}"));
                    }
                }
                Ok(Err(e)) => {
                    conn = None;
                    self.fail(done, e.kind(), || e.to_string());
                }
                Err(_) => {
                    conn = None;
                    let t = self.timeout;
                    self.fail(done, FailureKind::Timeout, || {
                        format!("no complete response within {t:?}")
                    });
                }
            }
        }
        self.stats.flush_latencies(&self.shared);
        self.stats.flush_cell(&self.shared);
        self.stats.ended = Instant::now();
        self.stats
    }

    /// Open loop: waits for the next send slot. Meanwhile an idle connection that the server
    /// closes (or sends anything on) is dropped, to be replaced when the slot comes. Returns
    /// `false` when the run is stopping.
    async fn idle_until_next_slot(
        &mut self,
        pacer: &mut Interval,
        conn: &mut Option<Stream>,
        rb: &mut RecvBuf,
        stop: &CancellationToken,
    ) -> bool {
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => return false,
                _ = idle_read(conn, rb) => {
                    *conn = None;
                    self.stats.idle_closes += 1;
                }
                _ = pacer.tick() => return true,
            }
        }
    }
}

async fn idle_read(conn: &mut Option<Stream>, rb: &mut RecvBuf) -> io::Result<usize> {
    match conn {
        Some(s) => rb.fill(s).await,
        None => std::future::pending().await,
    }
}

/// Starts a load run: spawns one task per connection (on the current tokio runtime, or on
/// [`Config::threads`] threads of their own), a timer, and the [`Config::during`] schedule, and
/// returns at once.
///
/// # Errors
///
/// [`ConfigError`] when `config` is invalid (see [`Config::validate`]), or
/// [`ConfigError::Threads`] when a load thread cannot be started.
///
/// # Panics
///
/// When called outside a tokio runtime (the runtime needs its I/O and time drivers enabled).
pub fn start(config: Config) -> Result<LoadHandle, ConfigError> {
    config.validate()?;
    // The load threads' runtimes, built first so that a failure starts nothing.
    let runtimes = match config.threads {
        None => Vec::new(),
        Some(n) => (0..n.min(config.connections))
            .map(|_| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| ConfigError::Threads(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    let start = Instant::now();
    let connections = config.connections;
    let shared = Arc::new(Shared {
        start,
        stop: CancellationToken::new(),
        now: CancellationToken::new(),
        ok: AtomicU64::new(0),
        failures: std::array::from_fn(|_| AtomicU64::new(0)),
        issued: AtomicU64::new(0),
        max_requests: config.max_requests,
        waiters: AtomicUsize::new(0),
        notify: Notify::new(),
        running: AtomicUsize::new(connections),
        sample_slots: AtomicUsize::new(0),
        samples: Mutex::new(Vec::new()),
        events: Mutex::new(Vec::new()),
        epoch: AtomicUsize::new(0),
        timeline: Mutex::new(BTreeMap::new()),
        latency: Mutex::new(new_histogram(
            u64::try_from(config.timeout.as_micros()).unwrap_or(u64::MAX),
        )),
    });

    let end = config.duration.and_then(|d| start.checked_add(d));
    let limited = end.is_none();
    let end = end.unwrap_or(start + Config::RUN_LIMIT);
    let timer_shared = shared.clone();
    tokio::spawn(async move {
        tokio::select! {
            () = sleep_until(end) => {
                if limited {
                    timer_shared.mark("run limit reached".to_string());
                }
                timer_shared.stop.cancel();
            }
            () = timer_shared.stop.cancelled() => {}
        }
    });

    let request: Arc<[u8]> = build_request(&config.target, config.keep_alive).into();
    let period = config.rate.and_then(|r| config.pace_interval(r));
    let workers: Vec<Worker> = (0..connections)
        .map(|index| {
            let pace = period.map(|p| (start + p.mul_f64(index as f64 / connections as f64), p));
            Worker {
                index,
                shared: shared.clone(),
                endpoint: config.target.endpoint().clone(),
                request: request.clone(),
                keep_alive: config.keep_alive,
                timeout: config.timeout,
                pace,
                stats: ConnStats {
                    latencies: Vec::with_capacity(LATENCY_BATCH),
                    bad_statuses: BTreeMap::new(),
                    cell: None,
                    connects: 0,
                    idle_closes: 0,
                    ended: start,
                },
            }
        })
        .collect();
    let workers = if runtimes.is_empty() {
        workers.into_iter().map(|w| tokio::spawn(w.run())).collect()
    } else {
        spawn_on_threads(runtimes, workers).inspect_err(|_| shared.stop.cancel())?
    };
    let schedule = config.during.map(|during| {
        let task = tokio::spawn(run_schedule(shared.clone(), during.clone(), end));
        (during, task)
    });
    Ok(LoadHandle {
        shared,
        workers,
        timeout: config.timeout,
        schedule,
    })
}

/// Spawns the workers round-robin on `runtimes`, each driven by a thread of its own until its
/// last worker ended (one event loop per thread, as wrk does: tokio's multi-thread scheduler
/// shares one I/O driver, which caps connection-heavy loads).
fn spawn_on_threads(
    runtimes: Vec<tokio::runtime::Runtime>,
    workers: Vec<Worker>,
) -> Result<Vec<JoinHandle<ConnStats>>, ConfigError> {
    let n = runtimes.len();
    let mut alive = Vec::with_capacity(n);
    let mut done = Vec::with_capacity(n);
    for _ in 0..n {
        let (tx, rx) = tokio::sync::mpsc::channel::<()>(1);
        alive.push(tx);
        done.push(rx);
    }
    let handles = workers
        .into_iter()
        .enumerate()
        .map(|(i, worker)| {
            // Each task holds a sender; the thread's receiver ends when the last one is gone.
            let alive = alive[i % n].clone();
            runtimes[i % n].spawn(async move {
                let _alive = alive;
                worker.run().await
            })
        })
        .collect();
    drop(alive);
    for (i, (runtime, mut done)) in runtimes.into_iter().zip(done).enumerate() {
        std::thread::Builder::new()
            .name(format!("load-{i}"))
            .spawn(move || {
                runtime.block_on(async move {
                    // `None` once every worker of this thread ended (or was aborted).
                    let _ended = done.recv().await;
                });
            })
            // The runtime went with the closure, cancelling its workers: their handles
            // resolve at once.
            .map_err(|e| ConfigError::Threads(e.to_string()))?;
    }
    Ok(handles)
}

/// A running load, returned by [`start`].
///
/// Dropping the handle stops the run the way [`LoadHandle::stop`] does (requests in flight
/// still finish, bounded by the timeout; a [`During`] command still going gets its grace),
/// without waiting for it.
pub struct LoadHandle {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<ConnStats>>,
    timeout: Duration,
    /// The [`During`] schedule and its task, which returns the number of skipped slots.
    schedule: Option<(During, JoinHandle<u64>)>,
}

/// A cheap, cloneable remote for a running load, from [`LoadHandle::control`]: watch it and
/// stop it from another task (a progress display, a signal handler) while the handle itself
/// waits in [`LoadHandle::finished`].
#[derive(Clone)]
pub struct Control {
    shared: Arc<Shared>,
}

impl fmt::Debug for Control {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Control")
            .field("counts", &self.snapshot())
            .field("stopping", &self.is_stopping())
            .finish()
    }
}

impl Control {
    /// The live counters, as [`LoadHandle::snapshot`].
    pub fn snapshot(&self) -> Counts {
        self.shared.counts()
    }

    /// Time since the run started.
    pub fn elapsed(&self) -> Duration {
        self.shared.offset(Instant::now())
    }

    /// Records an event, as [`LoadHandle::mark`].
    pub fn mark(&self, label: impl Into<String>) {
        self.shared.mark(label.into());
    }

    /// Stops issuing requests, gracefully: requests in flight finish (bounded by the timeout)
    /// and a [`During`] command still going gets its grace. [`LoadHandle::finished`] then
    /// returns the report. The first Ctrl-C of a command-line tool.
    pub fn stop(&self) {
        self.shared.stop.cancel();
    }

    /// Stops at once: requests in flight are abandoned (not counted) and a [`During`] command
    /// still going is killed. [`LoadHandle::finished`] then returns the report of what ended
    /// so far. The second Ctrl-C of a command-line tool.
    pub fn stop_now(&self) {
        self.shared.stop.cancel();
        self.shared.now.cancel();
    }

    /// Number of events recorded so far (marks and [`During`] runs).
    pub fn event_count(&self) -> usize {
        self.shared.epoch()
    }

    /// Whether the run has stopped issuing requests (stopped, or its duration is over).
    pub fn is_stopping(&self) -> bool {
        self.shared.stop.is_cancelled()
    }
}

impl fmt::Debug for LoadHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadHandle")
            .field("counts", &self.snapshot())
            .field("elapsed", &self.elapsed())
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl LoadHandle {
    /// The live counters: requests ended so far, ok, failed (and failed by kind).
    pub fn snapshot(&self) -> Counts {
        self.shared.counts()
    }

    /// A cloneable [`Control`] to watch and stop this run from other tasks.
    pub fn control(&self) -> Control {
        Control {
            shared: self.shared.clone(),
        }
    }

    /// Time since the run started.
    pub fn elapsed(&self) -> Duration {
        self.shared.offset(Instant::now())
    }

    /// Whether every connection task has ended (duration over, `max_requests` issued, or
    /// stopped).
    pub fn is_finished(&self) -> bool {
        self.shared.running.load(Ordering::SeqCst) == 0
    }

    /// Records an event labelled `label` at the current offset; it shows in
    /// [`Report::events`] and in the summary, to line failures up with what a test did.
    pub fn mark(&self, label: impl Into<String>) {
        self.shared.mark(label.into());
    }

    /// Waits until `condition` holds for the live counts, woken by every request that ends (no
    /// polling). Returns the counts that satisfied it.
    ///
    /// # Errors
    ///
    /// [`WaitError::Deadline`] when `deadline` passes first, [`WaitError::Finished`] when the
    /// run ends first.
    pub async fn wait_until(
        &self,
        mut condition: impl FnMut(&Counts) -> bool,
        deadline: Duration,
    ) -> Result<Counts, WaitError> {
        let shared = &*self.shared;
        let until = Instant::now()
            .checked_add(deadline)
            .unwrap_or_else(|| Instant::now() + Config::RUN_LIMIT * 2);
        shared.waiters.fetch_add(1, Ordering::SeqCst);
        let _waiter = WaiterGuard(&shared.waiters);
        loop {
            let mut notified = pin!(shared.notify.notified());
            notified.as_mut().enable();
            let counts = shared.counts();
            if condition(&counts) {
                return Ok(counts);
            }
            if shared.running.load(Ordering::SeqCst) == 0 {
                return Err(WaitError::Finished(counts));
            }
            if timeout_at(until, notified).await.is_err() {
                let counts = shared.counts();
                return if condition(&counts) {
                    Ok(counts)
                } else {
                    Err(WaitError::Deadline(counts))
                };
            }
        }
    }

    /// Waits until at least `n` requests ended `Ok` (see [`LoadHandle::wait_until`]).
    ///
    /// # Errors
    ///
    /// As [`LoadHandle::wait_until`].
    pub async fn wait_for_ok(&self, n: u64, deadline: Duration) -> Result<Counts, WaitError> {
        self.wait_until(|c| c.ok >= n, deadline).await
    }

    /// Stops the run and returns its report: no new request is issued, requests already
    /// written finish (each bounded by the per-request timeout, so this returns within about
    /// the timeout), and connections are then closed. Stopping never turns a request into a
    /// failure: a request interrupted before it was written is not counted at all. A
    /// [`During`] command still going gets up to its grace, then is killed.
    pub async fn stop(mut self) -> Report {
        self.shared.stop.cancel();
        self.collect().await
    }

    /// Waits until the run ends (its `duration`, `max_requests`, [`Config::RUN_LIMIT`], or a
    /// [`Control::stop`]) and returns its report.
    pub async fn finished(mut self) -> Report {
        self.collect().await
    }

    async fn collect(&mut self) -> Report {
        let handles = std::mem::take(&mut self.workers);
        let aborts: Vec<AbortHandle> = handles.iter().map(JoinHandle::abort_handle).collect();
        let stop = self.shared.stop.clone();
        let now = self.shared.now.clone();
        let grace = self.timeout + STOP_GRACE;
        let mut joined = pin!(join_all(handles));
        let abort_all = || {
            for a in &aborts {
                a.abort();
            }
        };
        let stats = tokio::select! {
            stats = &mut joined => stats,
            () = stop.cancelled() => tokio::select! {
                stats = &mut joined => stats,
                () = now.cancelled() => {
                    abort_all();
                    joined.await
                }
                () = tokio::time::sleep(grace) => {
                    // Only reachable if a task ignores its deadline; its counters stay in the
                    // totals, its unflushed latencies and timeline cell are lost.
                    abort_all();
                    joined.await
                }
            },
        };
        // Ends the timer task, and the schedule's runs.
        self.shared.stop.cancel();
        let during = match self.schedule.take() {
            Some((during, task)) => {
                let abort = task.abort_handle();
                let bound = during.grace + SCHEDULE_GRACE;
                let skipped = match tokio::time::timeout(bound, task).await {
                    Ok(Ok(skipped)) => skipped,
                    Ok(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    // Cancelled, or (never: the schedule bounds its own waits) too slow.
                    Ok(Err(_)) | Err(_) => {
                        abort.abort();
                        0
                    }
                };
                Some((during, skipped))
            }
            None => None,
        };
        self.build_report(stats, during)
    }

    fn build_report(&self, stats: Vec<ConnStats>, during: Option<(During, u64)>) -> Report {
        let shared = &*self.shared;
        let counts = shared.counts();
        let latency = lock(&shared.latency).clone();
        let mut bad_statuses = BTreeMap::new();
        let mut connects = 0;
        let mut idle_closes = 0;
        let mut ended = None::<Instant>;
        for s in stats {
            for (code, n) in s.bad_statuses {
                *bad_statuses.entry(code).or_insert(0) += n;
            }
            connects += s.connects;
            idle_closes += s.idle_closes;
            ended = Some(ended.map_or(s.ended, |e| e.max(s.ended)));
        }
        let mut samples = lock(&shared.samples).clone();
        samples.sort_by_key(|s| s.at);
        let events = lock(&shared.events).clone();
        let timeline = build_timeline(&lock(&shared.timeline), &events);
        let during = during.map(|(during, skipped)| {
            let runs = events.iter().filter_map(|e| e.command.as_ref());
            DuringSummary {
                runs: runs.clone().count() as u64,
                failed: runs.filter(|r| !r.status.success()).count() as u64,
                skipped,
                command: during.command,
                every: during.every,
            }
        });
        Report {
            requests: counts.requests,
            ok: counts.ok,
            failures: counts.failures,
            bad_statuses,
            latency: Latency::new(latency),
            elapsed: shared.offset(ended.unwrap_or_else(Instant::now)),
            timeline,
            events,
            samples,
            connects,
            idle_closes,
            during,
        }
    }
}

/// Turns the (second, epoch) cells into timeline entries: in time order, every second from 0 to
/// the last one with a request present at least once (a second without any request gets an
/// empty entry after the events before it).
fn build_timeline(cells: &BTreeMap<CellKey, Cell>, events: &[Event]) -> Vec<TimelineEntry> {
    let entry = |second: u64, epoch: usize, cell: &Cell| {
        let failures = FailureCounts::from_array(cell.failed);
        TimelineEntry {
            second,
            after_event: epoch.checked_sub(1),
            ok: cell.ok,
            failed: failures.total(),
            failures,
        }
    };
    let mut out = Vec::with_capacity(cells.len());
    let mut next_second = 0;
    for (&(second, epoch), cell) in cells {
        for empty in next_second..second {
            let start = Duration::from_secs(empty);
            let epoch = events.partition_point(|e| e.at <= start);
            out.push(entry(empty, epoch, &Cell::default()));
        }
        next_second = next_second.max(second + 1);
        out.push(entry(second, epoch, cell));
    }
    out
}

impl Drop for LoadHandle {
    fn drop(&mut self) {
        self.shared.stop.cancel();
    }
}

async fn join_all(handles: Vec<JoinHandle<ConnStats>>) -> Vec<ConnStats> {
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        match h.await {
            Ok(s) => out.push(s),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(ok: u64, refused: u64) -> Cell {
        let mut failed = [0; FailureKind::COUNT];
        failed[FailureKind::Refused.index()] = refused;
        Cell { ok, failed }
    }

    #[test]
    fn timeline_fills_gaps_after_the_events_before_them() {
        let events: Vec<Event> = [500, 2500]
            .into_iter()
            .map(|ms| Event {
                at: Duration::from_millis(ms),
                label: format!("at {ms}"),
                command: None,
            })
            .collect();
        // Second 0 split by the event at 0.5 s; nothing ended in seconds 1 to 3.
        let cells = BTreeMap::from([
            ((0, 0), cell(5, 0)),
            ((0, 1), cell(1, 2)),
            ((4, 2), cell(7, 0)),
        ]);
        let got: Vec<(u64, Option<usize>, u64, u64)> = build_timeline(&cells, &events)
            .iter()
            .map(|e| (e.second, e.after_event, e.ok, e.failed))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, None, 5, 0),
                (0, Some(0), 1, 2),
                (1, Some(0), 0, 0),
                (2, Some(0), 0, 0),
                (3, Some(1), 0, 0),
                (4, Some(1), 7, 0),
            ]
        );
        assert!(build_timeline(&BTreeMap::new(), &events).is_empty());
    }
}
