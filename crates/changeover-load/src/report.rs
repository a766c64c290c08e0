//! The result of a run, as data: [`Report`], its latency view [`Latency`], and the records it
//! keeps ([`TimelineEntry`], [`FailureSample`]; the [`Event`](crate::Event)s come from
//! `events.rs`).
//!
//! Rendering lives apart, in `render/`: `render/text.rs` for people ([`Report::summary`],
//! [`Report::overview`], [`Report::timeline_text`], [`Report::samples_text`]) and
//! `render/json.rs` for scripts (the `Serialize` impl), the way the lint crate renders its
//! findings.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::{CommandRun, DuringSummary, Event, FailureCounts, FailureKind};

/// One of the first failures of a run ([`Report::samples`]), for debugging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureSample {
    /// When the failure was recorded, since the run started.
    pub at: Duration,
    /// How the request failed.
    pub kind: FailureKind,
    /// Index of the connection (task) that saw it, from 0.
    pub connection: usize,
    /// What happened, in words (`connect: Connection refused (os error 111)`, `status 503`...).
    pub error: String,
}

/// Requests that ended during one second of the run, or during the part of it between two
/// events ([`Report::timeline`]).
///
/// Every failure is counted after the event that preceded it: a second holding events is split
/// into one entry per part that saw requests end, told apart by `after_event`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimelineEntry {
    /// Seconds since the run started: this entry lies in `[second, second + 1)`.
    pub second: u64,
    /// Index in [`Report::events`] of the last event recorded before these requests ended;
    /// `None` before the first event.
    pub after_event: Option<usize>,
    /// Requests that ended `Ok`.
    pub ok: u64,
    /// Requests that failed.
    pub failed: u64,
    /// The failed ones by kind.
    pub failures: FailureCounts,
}

impl TimelineEntry {
    /// The part of the run this entry covers: its second, narrowed by the events of
    /// `events` (the report's) that fall inside it.
    pub fn span(&self, events: &[Event]) -> (Duration, Duration) {
        let second = Duration::from_secs(self.second);
        let next = second + Duration::from_secs(1);
        let from = self
            .after_event
            .and_then(|i| events.get(i))
            .map_or(second, |e| e.at.clamp(second, next));
        let to = events
            .get(self.after_event.map_or(0, |i| i + 1))
            .map_or(next, |e| e.at.clamp(from, next));
        (from, to)
    }
}

/// Latency of completed requests (any status), from writing the request until the last
/// response byte, in microseconds with 3 significant digits. Connect time is not included
/// (as in wrk); failed exchanges are not recorded.
#[derive(Debug, Clone)]
pub struct Latency {
    hist: Histogram<u64>,
}

impl Latency {
    pub(crate) fn new(hist: Histogram<u64>) -> Latency {
        Latency { hist }
    }

    /// Number of recorded latencies.
    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    /// The latency at quantile `q` (0.0 ..= 1.0); zero when nothing was recorded.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.hist.is_empty() {
            return Duration::ZERO;
        }
        Duration::from_micros(self.hist.value_at_quantile(q))
    }

    /// Median.
    pub fn p50(&self) -> Duration {
        self.quantile(0.50)
    }

    /// 90th percentile.
    pub fn p90(&self) -> Duration {
        self.quantile(0.90)
    }

    /// 99th percentile.
    pub fn p99(&self) -> Duration {
        self.quantile(0.99)
    }

    /// Largest recorded latency (to the histogram's precision).
    pub fn max(&self) -> Duration {
        if self.hist.is_empty() {
            return Duration::ZERO;
        }
        Duration::from_micros(self.hist.max())
    }

    /// Mean latency.
    pub fn mean(&self) -> Duration {
        Duration::from_secs_f64(self.hist.mean().max(0.0) / 1e6)
    }

    /// The merged histogram itself (values in microseconds).
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.hist
    }
}

/// Everything a run counted, returned by [`LoadHandle::stop`](crate::LoadHandle::stop) and
/// [`LoadHandle::finished`](crate::LoadHandle::finished).
///
/// `requests == ok + failed()`. Serializes (serde) to an object with the keys `requests`, `ok`,
/// `failed`, `errors` (every [`FailureKind`] by name), `status` (bad statuses by code), `rps`,
/// `elapsed_s`, `latency_ms` (`p50`, `p90`, `p99`, `max`, `mean`), `connects`, `idle_closes`,
/// `during` (`null`, or `{command, every_ms, runs, failed, skipped}`), `events`
/// (`[{at_ms, label, failed_after, command}]`, where `failed_after` counts the failures
/// between this event and the next, and `command` is `null` for a mark or
/// `{run, status, success, exit_code, signal, took_ms, output}`), `timeline`
/// (`[{second, after_event, ok, failed, errors}]`, `errors` holding the nonzero kinds only) and
/// `samples` (`[{at_ms, kind, connection, error}]`).
#[derive(Debug, Clone)]
pub struct Report {
    /// Requests that ended (ok or failed). Requests abandoned before being written because
    /// the run stopped are not counted.
    pub requests: u64,
    /// Requests that got a complete 2xx response.
    pub ok: u64,
    /// Failed requests by kind.
    pub failures: FailureCounts,
    /// Complete non-2xx responses by status code (their sum is `failures.bad_status`).
    pub bad_statuses: BTreeMap<u16, u64>,
    /// Latency of completed requests.
    pub latency: Latency,
    /// From the start of the run until its last connection task ended.
    pub elapsed: Duration,
    /// Per-second ok/failed counts since the start, in time order: at least one entry per
    /// second (gaps filled with zeros), and one more for each part of a second that follows an
    /// event (see [`TimelineEntry`]).
    pub timeline: Vec<TimelineEntry>,
    /// Marks and command runs, in time order.
    pub events: Vec<Event>,
    /// The first failures of the run (at most [`Report::MAX_SAMPLES`]), in the order seen.
    pub samples: Vec<FailureSample>,
    /// Connections opened.
    pub connects: u64,
    /// Keep-alive connections the server closed (or sent unexpected bytes on) while they were
    /// idle between open-loop requests, noticed before the next request was written. Such a
    /// connection is simply replaced: no request was lost, so these are not failures.
    pub idle_closes: u64,
    /// What the [`During`](crate::During) schedule did, when the run had one.
    pub during: Option<DuringSummary>,
}

impl Report {
    /// How many failure samples a report keeps.
    pub const MAX_SAMPLES: usize = 20;

    /// Failed requests, all kinds together.
    pub fn failed(&self) -> u64 {
        self.failures.total()
    }

    /// Requests (ok or failed) per second of elapsed time.
    pub fn rps(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.requests as f64 / secs
        } else {
            0.0
        }
    }

    /// Failed requests that ended after event `index` and before the next event.
    pub fn failed_after(&self, index: usize) -> u64 {
        self.timeline
            .iter()
            .filter(|e| e.after_event == Some(index))
            .map(|e| e.failed)
            .sum()
    }

    /// Runs of the [`During`](crate::During) command that did not succeed.
    pub fn failed_commands(&self) -> impl Iterator<Item = (&Event, &CommandRun)> {
        self.events.iter().filter_map(|e| {
            e.command
                .as_ref()
                .filter(|run| !run.status.success())
                .map(|run| (e, run))
        })
    }
}

/// A report to render in tests.
#[cfg(test)]
pub(crate) mod fixture {
    use super::*;
    use crate::CommandStatus;

    pub(crate) fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn entry(second: u64, after_event: Option<usize>, ok: u64, reset: u64) -> TimelineEntry {
        let failures = FailureCounts {
            reset,
            ..FailureCounts::default()
        };
        TimelineEntry {
            second,
            after_event,
            ok,
            failed: failures.total(),
            failures,
        }
    }

    /// Two seconds; a reload at 1.204 s followed by 3 resets, and a mark at 2.5 s after the last
    /// request.
    pub(crate) fn report() -> Report {
        let mut hist = Histogram::new_with_bounds(1, 1_000_000, 3).unwrap();
        hist.record(1000).unwrap();
        Report {
            requests: 103,
            ok: 100,
            failures: FailureCounts {
                reset: 3,
                ..FailureCounts::default()
            },
            bad_statuses: BTreeMap::new(),
            latency: Latency::new(hist),
            elapsed: ms(2000),
            timeline: vec![
                entry(0, None, 50, 0),
                entry(1, None, 20, 0),
                entry(1, Some(0), 30, 3),
            ],
            events: vec![
                Event {
                    at: ms(1204),
                    label: "nginx -s reload".into(),
                    command: Some(CommandRun {
                        run: 1,
                        status: CommandStatus::Exited(0),
                        took: Some(ms(12)),
                        output: String::new(),
                    }),
                },
                Event {
                    at: ms(2500),
                    label: "done".into(),
                    command: None,
                },
            ],
            samples: Vec::new(),
            connects: 4,
            idle_closes: 0,
            during: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::{ms, report};

    #[test]
    fn spans() {
        let r = report();
        assert_eq!(r.timeline[0].span(&r.events), (ms(0), ms(1000)));
        assert_eq!(r.timeline[1].span(&r.events), (ms(1000), ms(1204)));
        assert_eq!(r.timeline[2].span(&r.events), (ms(1204), ms(2000)));
    }
}
