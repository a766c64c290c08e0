//! What a caller holds while a run goes on: the [`LoadHandle`] returned by
//! [`start`](crate::start), the cloneable [`Control`], and collecting the [`Report`] at the end.

use std::collections::BTreeMap;
use std::fmt;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::{AbortHandle, JoinHandle};
use tokio::time::Instant;

use crate::state::RunState;
use crate::worker::ConnTally;
use crate::{Config, Counts, During, DuringSummary, Latency, Report, WaitError};

/// Extra time [`LoadHandle::stop`] gives connection tasks beyond the per-request timeout
/// before it aborts them.
const STOP_GRACE: Duration = Duration::from_secs(1);

/// Beyond its grace, how long [`LoadHandle::stop`] waits for a [`During`] schedule to kill and
/// reap its last run.
const SCHEDULE_GRACE: Duration = Duration::from_secs(10);

/// A running load, returned by [`start`](crate::start).
///
/// Dropping the handle stops the run the way [`LoadHandle::stop`] does (requests in flight
/// still finish, bounded by the timeout; a [`During`] command still going gets its grace),
/// without waiting for it.
pub struct LoadHandle {
    state: Arc<RunState>,
    workers: Vec<JoinHandle<ConnTally>>,
    timeout: Duration,
    /// The [`During`] schedule and its task, which returns the number of skipped slots.
    schedule: Option<(During, JoinHandle<u64>)>,
}

/// A cheap, cloneable remote for a running load, from [`LoadHandle::control`]: watch it and
/// stop it from another task (a progress display, a signal handler) while the handle itself
/// waits in [`LoadHandle::finished`].
#[derive(Clone)]
pub struct Control {
    state: Arc<RunState>,
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
        self.state.counters.counts()
    }

    /// Time since the run started.
    pub fn elapsed(&self) -> Duration {
        self.state.offset(Instant::now())
    }

    /// Records an event, as [`LoadHandle::mark`].
    pub fn mark(&self, label: impl Into<String>) {
        self.state.events.mark(label.into());
    }

    /// Stops issuing requests, gracefully: requests in flight finish (bounded by the timeout)
    /// and a [`During`] command still going gets its grace. [`LoadHandle::finished`] then
    /// returns the report. The first Ctrl-C of a command-line tool.
    pub fn stop(&self) {
        self.state.stop.stop();
    }

    /// Stops at once: requests in flight are abandoned (not counted) and a [`During`] command
    /// still going is killed. [`LoadHandle::finished`] then returns the report of what ended
    /// so far. The second Ctrl-C of a command-line tool.
    pub fn stop_now(&self) {
        self.state.stop.stop_now();
    }

    /// Number of events recorded so far (marks and [`During`] runs).
    pub fn event_count(&self) -> usize {
        self.state.events.count()
    }

    /// Whether the run has stopped issuing requests (stopped, or its duration is over).
    pub fn is_stopping(&self) -> bool {
        self.state.stop.is_stopping()
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
    /// The handle of a run whose connection tasks and schedule were spawned.
    pub(crate) fn new(
        state: Arc<RunState>,
        workers: Vec<JoinHandle<ConnTally>>,
        timeout: Duration,
        schedule: Option<(During, JoinHandle<u64>)>,
    ) -> LoadHandle {
        LoadHandle {
            state,
            workers,
            timeout,
            schedule,
        }
    }

    /// The live counters: requests ended so far, ok, failed (and failed by kind).
    pub fn snapshot(&self) -> Counts {
        self.state.counters.counts()
    }

    /// A cloneable [`Control`] to watch and stop this run from other tasks.
    pub fn control(&self) -> Control {
        Control {
            state: self.state.clone(),
        }
    }

    /// Time since the run started.
    pub fn elapsed(&self) -> Duration {
        self.state.offset(Instant::now())
    }

    /// Whether every connection task has ended (duration over, `max_requests` issued, or
    /// stopped).
    pub fn is_finished(&self) -> bool {
        self.state.counters.all_tasks_ended()
    }

    /// Records an event labelled `label` at the current offset; it shows in
    /// [`Report::events`] and in the summary, to line failures up with what a test did.
    pub fn mark(&self, label: impl Into<String>) {
        self.state.events.mark(label.into());
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
        condition: impl FnMut(&Counts) -> bool,
        deadline: Duration,
    ) -> Result<Counts, WaitError> {
        let until = Instant::now()
            .checked_add(deadline)
            .unwrap_or_else(|| Instant::now() + Config::RUN_LIMIT * 2);
        self.state.counters.wait_until(condition, until).await
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
        self.state.stop.stop();
        self.collect().await
    }

    /// Waits until the run ends (its `duration`, `max_requests`, [`Config::RUN_LIMIT`], or a
    /// [`Control::stop`]) and returns its report.
    pub async fn finished(mut self) -> Report {
        self.collect().await
    }

    /// Waits for the connection tasks (aborting them on a stop now, or when one overstays its
    /// deadline), then for the schedule, and builds the report.
    async fn collect(&mut self) -> Report {
        let handles = std::mem::take(&mut self.workers);
        let aborts: Vec<AbortHandle> = handles.iter().map(JoinHandle::abort_handle).collect();
        let stop = self.state.stop.clone();
        let grace = self.timeout + STOP_GRACE;
        let mut joined = pin!(join_all(handles));
        let abort_all = || {
            for a in &aborts {
                a.abort();
            }
        };
        let tallies = tokio::select! {
            tallies = &mut joined => tallies,
            () = stop.stopping() => tokio::select! {
                tallies = &mut joined => tallies,
                () = stop.stopping_now() => {
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
        self.state.stop.stop();
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
        self.build_report(tallies, during)
    }

    /// The report, from the shared state and the connection tasks' own tallies.
    fn build_report(&self, tallies: Vec<ConnTally>, during: Option<(During, u64)>) -> Report {
        let state = &*self.state;
        let counts = state.counters.counts();
        let mut bad_statuses = BTreeMap::new();
        let mut connects = 0;
        let mut idle_closes = 0;
        let mut ended = None::<Instant>;
        for t in tallies {
            for (code, n) in t.bad_statuses {
                *bad_statuses.entry(code).or_insert(0) += n;
            }
            connects += t.connects;
            idle_closes += t.idle_closes;
            ended = Some(ended.map_or(t.ended, |e| e.max(t.ended)));
        }
        let events = state.events.to_vec();
        let timeline = state.timeline.entries(&events);
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
            latency: Latency::new(state.latency.to_histogram()),
            elapsed: state.offset(ended.unwrap_or_else(Instant::now)),
            timeline,
            events,
            samples: state.counters.samples(),
            connects,
            idle_closes,
            during,
        }
    }
}

impl Drop for LoadHandle {
    fn drop(&mut self) {
        self.state.stop.stop();
    }
}

/// Awaits every connection task in turn; a task that panicked panics here too, an aborted one
/// is left out.
async fn join_all(handles: Vec<JoinHandle<ConnTally>>) -> Vec<ConnTally> {
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        match h.await {
            Ok(t) => out.push(t),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => {}
        }
    }
    out
}
