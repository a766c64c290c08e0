//! One connection task: a [`Worker`] sends requests one at a time, reconnecting whenever its
//! connection is gone, classifies how each ended, and keeps a [`ConnTally`] of what only it
//! needs to count.
//!
//! What every connection adds to goes to the run's shared state at once (the counters, which are
//! atomics) or in batches (latencies, timeline cells); per-connection figures (bad statuses,
//! connects, idle closes) are merged into the report when the run ends.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, Interval, MissedTickBehavior, timeout_at};

use crate::counters::RunningTask;
use crate::http::{RecvBuf, exchange};
use crate::latency::LatencyBatch;
use crate::state::RunState;
use crate::stop::StopSignals;
use crate::stream::{self, Stream};
use crate::timeline::OpenCell;
use crate::{Endpoint, FailureKind};

/// What one connection task counted on its own, merged into the report at the end.
#[derive(Debug)]
pub(crate) struct ConnTally {
    /// Latencies not yet added to the shared histogram.
    latencies: LatencyBatch,
    /// Complete non-2xx responses by status.
    pub(crate) bad_statuses: BTreeMap<u16, u64>,
    /// The timeline cell being counted, not yet added to the shared timeline.
    cell: OpenCell,
    /// Connections opened.
    pub(crate) connects: u64,
    /// Idle connections the server closed between open-loop slots.
    pub(crate) idle_closes: u64,
    /// When the task ended.
    pub(crate) ended: Instant,
}

impl ConnTally {
    fn new(start: Instant) -> ConnTally {
        ConnTally {
            latencies: LatencyBatch::new(),
            bad_statuses: BTreeMap::new(),
            cell: OpenCell::default(),
            connects: 0,
            idle_closes: 0,
            ended: start,
        }
    }
}

/// One connection: sends requests one at a time, reconnecting whenever the connection is gone.
pub(crate) struct Worker {
    index: usize,
    state: Arc<RunState>,
    endpoint: Endpoint,
    request: Arc<[u8]>,
    keep_alive: bool,
    timeout: Duration,
    /// Open loop: first send time and interval.
    pace: Option<(Instant, Duration)>,
    tally: ConnTally,
}

impl Worker {
    /// Connection number `index` of the run, sending `request` to `endpoint`.
    pub(crate) fn new(
        index: usize,
        state: Arc<RunState>,
        endpoint: Endpoint,
        request: Arc<[u8]>,
        keep_alive: bool,
        timeout: Duration,
        pace: Option<(Instant, Duration)>,
    ) -> Worker {
        let tally = ConnTally::new(state.start);
        Worker {
            index,
            state,
            endpoint,
            request,
            keep_alive,
            timeout,
            pace,
            tally,
        }
    }

    /// Counts a request that ended `Ok` at `at`.
    fn succeed(&mut self, at: Instant) {
        let key = self.state.cell_key(at);
        self.tally.cell.count(&self.state.timeline, key, None);
        self.state.counters.record_ok();
    }

    /// Counts a request that failed as `kind` at `at`.
    fn fail(&mut self, at: Instant, kind: FailureKind, error: impl FnOnce() -> String) {
        // Placed in the timeline before it is counted, so whoever sees the count (a test's
        // `wait_until`) and then records an event finds the failure before that event.
        let key = self.state.cell_key(at);
        self.tally.cell.count(&self.state.timeline, key, Some(kind));
        let offset = self.state.offset(at);
        self.state
            .counters
            .record_failure(kind, self.index, offset, error);
    }

    /// Runs the connection until the run stops; returns what it counted on its own.
    pub(crate) async fn run(mut self) -> ConnTally {
        let _running = RunningTask(self.state.counters.clone());
        let stop = self.state.stop.clone();
        let mut conn: Option<Stream> = None;
        let mut rb = RecvBuf::new();
        let mut pacer = self.pace.map(|(first, period)| {
            let mut i = tokio::time::interval_at(first, period);
            i.set_missed_tick_behavior(MissedTickBehavior::Delay);
            i
        });
        loop {
            if stop.is_stopping() {
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
            if !self.state.counters.take_ticket() {
                break;
            }
            let deadline = Instant::now() + self.timeout;
            if conn.is_none() {
                // Stopping while connecting abandons the request: nothing was written yet.
                let connected = tokio::select! {
                    biased;
                    () = stop.stopping() => break,
                    r = timeout_at(deadline, stream::connect(&self.endpoint)) => r,
                };
                let now = Instant::now();
                match connected {
                    Ok(Ok(s)) => {
                        self.tally.connects += 1;
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
                if stop.is_stopping() {
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
                    self.tally
                        .latencies
                        .record(&self.state.latency, done - sent);
                    if !(self.keep_alive && resp.reusable) {
                        conn = None;
                    }
                    if (200..300).contains(&resp.status) {
                        self.succeed(done);
                    } else {
                        *self.tally.bad_statuses.entry(resp.status).or_default() += 1;
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
        self.tally.latencies.flush(&self.state.latency);
        self.tally.cell.flush(&self.state.timeline);
        self.tally.ended = Instant::now();
        self.tally
    }

    /// Open loop: waits for the next send slot. Meanwhile an idle connection that the server
    /// closes (or sends anything on) is dropped, to be replaced when the slot comes. Returns
    /// `false` when the run is stopping.
    async fn idle_until_next_slot(
        &mut self,
        pacer: &mut Interval,
        conn: &mut Option<Stream>,
        rb: &mut RecvBuf,
        stop: &StopSignals,
    ) -> bool {
        loop {
            tokio::select! {
                biased;
                () = stop.stopping() => return false,
                _ = idle_read(conn, rb) => {
                    *conn = None;
                    self.tally.idle_closes += 1;
                }
                _ = pacer.tick() => return true,
            }
        }
    }
}

/// Reads from the idle connection (anything, EOF or an error ends it); pending forever when
/// there is none.
async fn idle_read(conn: &mut Option<Stream>, rb: &mut RecvBuf) -> io::Result<usize> {
    match conn {
        Some(s) => rb.fill(s).await,
        None => std::future::pending().await,
    }
}
