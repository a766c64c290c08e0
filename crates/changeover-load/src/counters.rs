//! The live counts of a run: [`Counters`] (atomics shared by every connection task), the
//! [`Counts`] read from them, and waiting until they satisfy a condition.
//!
//! Every request that ends bumps one atomic (ok, or its failure kind), so no request takes a
//! lock; the first [`Report::MAX_SAMPLES`] failures also keep their error text. A caller in
//! [`Counters::wait_until`] is woken by every request that ends, and by every connection task
//! that ends; connection tasks only notify while someone waits.

use std::fmt;
use std::pin::pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::{Instant, timeout_at};

use crate::sync::lock;
use crate::{FailureCounts, FailureKind, FailureSample, Report};

/// Live counters of a run, from [`LoadHandle::snapshot`](crate::LoadHandle::snapshot).
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

/// Why [`LoadHandle::wait_until`](crate::LoadHandle::wait_until) /
/// [`LoadHandle::wait_for_ok`](crate::LoadHandle::wait_for_ok) gave up.
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

/// The counters every connection task adds to.
#[derive(Debug)]
pub(crate) struct Counters {
    ok: AtomicU64,
    failures: [AtomicU64; FailureKind::COUNT],
    /// Requests allowed to start so far, under `max_requests`.
    tickets_taken: AtomicU64,
    max_requests: Option<u64>,
    /// Number of callers inside `wait_until`; connection tasks only notify when it is non-zero.
    waiters: AtomicUsize,
    notify: Notify,
    /// Connection tasks not finished yet.
    running_tasks: AtomicUsize,
    /// Failure samples claimed so far (can exceed [`Report::MAX_SAMPLES`]: a claim past it is
    /// refused).
    sample_slots: AtomicUsize,
    samples: Mutex<Vec<FailureSample>>,
}

impl Counters {
    /// Counters for `tasks` connection tasks (counted as running from the start), allowing
    /// `max_requests` requests in total.
    pub(crate) fn new(tasks: usize, max_requests: Option<u64>) -> Counters {
        Counters {
            ok: AtomicU64::new(0),
            failures: std::array::from_fn(|_| AtomicU64::new(0)),
            tickets_taken: AtomicU64::new(0),
            max_requests,
            waiters: AtomicUsize::new(0),
            notify: Notify::new(),
            running_tasks: AtomicUsize::new(tasks),
            sample_slots: AtomicUsize::new(0),
            samples: Mutex::new(Vec::new()),
        }
    }

    /// The counts now.
    pub(crate) fn counts(&self) -> Counts {
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

    /// Takes the right to issue one more request (under `max_requests`).
    pub(crate) fn take_ticket(&self) -> bool {
        match self.max_requests {
            Some(max) => self.tickets_taken.fetch_add(1, Ordering::Relaxed) < max,
            None => true,
        }
    }

    fn wake_waiters(&self) {
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.notify.notify_waiters();
        }
    }

    /// Counts a request that ended `Ok`.
    pub(crate) fn record_ok(&self) {
        self.ok.fetch_add(1, Ordering::SeqCst);
        self.wake_waiters();
    }

    /// Counts a failed request, seen by connection `connection` at `at` (since the start);
    /// `error` is only called for one of the first [`Report::MAX_SAMPLES`] failures.
    pub(crate) fn record_failure(
        &self,
        kind: FailureKind,
        connection: usize,
        at: Duration,
        error: impl FnOnce() -> String,
    ) {
        self.failures[kind.index()].fetch_add(1, Ordering::SeqCst);
        if self.sample_slots.load(Ordering::Relaxed) < Report::MAX_SAMPLES
            && self.sample_slots.fetch_add(1, Ordering::Relaxed) < Report::MAX_SAMPLES
        {
            let sample = FailureSample {
                at,
                kind,
                connection,
                error: error(),
            };
            lock(&self.samples).push(sample);
        }
        self.wake_waiters();
    }

    /// The failure samples, in time order.
    pub(crate) fn samples(&self) -> Vec<FailureSample> {
        let mut samples = lock(&self.samples).clone();
        samples.sort_by_key(|s| s.at);
        samples
    }

    /// Whether every connection task has ended.
    pub(crate) fn all_tasks_ended(&self) -> bool {
        self.running_tasks.load(Ordering::SeqCst) == 0
    }

    /// Waits until `condition` holds for the counts, or `until`, or the end of every connection
    /// task, whichever comes first.
    pub(crate) async fn wait_until(
        &self,
        mut condition: impl FnMut(&Counts) -> bool,
        until: Instant,
    ) -> Result<Counts, WaitError> {
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let _waiter = Waiter(&self.waiters);
        loop {
            // Registered before the counts are read, so a request ending in between wakes it.
            let mut notified = pin!(self.notify.notified());
            notified.as_mut().enable();
            let counts = self.counts();
            if condition(&counts) {
                return Ok(counts);
            }
            if self.all_tasks_ended() {
                return Err(WaitError::Finished(counts));
            }
            if timeout_at(until, notified).await.is_err() {
                let counts = self.counts();
                return if condition(&counts) {
                    Ok(counts)
                } else {
                    Err(WaitError::Deadline(counts))
                };
            }
        }
    }
}

/// A connection task, counted as running until this is dropped (however the task ends).
pub(crate) struct RunningTask(pub(crate) Arc<Counters>);

impl Drop for RunningTask {
    fn drop(&mut self) {
        self.0.running_tasks.fetch_sub(1, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }
}

/// A caller inside `wait_until`, counted until this is dropped.
struct Waiter<'a>(&'a AtomicUsize);

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_stop_at_max_requests() {
        let c = Counters::new(1, Some(2));
        assert!(c.take_ticket());
        assert!(c.take_ticket());
        assert!(!c.take_ticket());
        assert!(Counters::new(1, None).take_ticket());
    }

    #[test]
    fn only_the_first_failures_keep_a_sample() {
        let c = Counters::new(1, None);
        let mut asked = 0;
        for i in 0..Report::MAX_SAMPLES + 5 {
            c.record_failure(
                FailureKind::Reset,
                0,
                Duration::from_millis(i as u64),
                || {
                    asked += 1;
                    format!("failure {i}")
                },
            );
        }
        c.record_ok();
        let counts = c.counts();
        assert_eq!(
            (counts.ok, counts.failed, counts.failures.reset),
            (1, 25, 25)
        );
        assert_eq!(asked, Report::MAX_SAMPLES);
        assert_eq!(c.samples().len(), Report::MAX_SAMPLES);
    }

    #[tokio::test]
    async fn a_wait_ends_when_the_last_task_does() {
        let c = Arc::new(Counters::new(1, None));
        let task = RunningTask(c.clone());
        let waiting = {
            let c = c.clone();
            tokio::spawn(async move {
                let until = Instant::now() + Duration::from_secs(30);
                c.wait_until(|counts| counts.ok > 0, until).await
            })
        };
        drop(task);
        let got = waiting.await.unwrap();
        assert_eq!(got, Err(WaitError::Finished(Counts::default())));
        assert!(c.all_tasks_ended());
    }
}
