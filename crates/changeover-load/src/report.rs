//! The result of a run: [`Report`], its latency view [`Latency`], and the records it keeps.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::ser::{Serialize, Serializer};

use crate::{FailureCounts, FailureKind};

/// A labelled point in time recorded with [`LoadHandle::mark`](crate::LoadHandle::mark).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Time since the run started.
    pub at: Duration,
    /// The label given to `mark`.
    pub label: String,
}

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

/// Requests that ended during one second of the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct TimelineEntry {
    /// Seconds since the run started: this entry covers `[second, second + 1)`.
    pub second: u64,
    /// Requests that ended `Ok` in that second.
    pub ok: u64,
    /// Requests that failed in that second.
    pub failed: u64,
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
/// `events` (`[{at_ms, label}]`), `timeline` (`[{second, ok, failed}]`) and `samples`
/// (`[{at_ms, kind, connection, error}]`).
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
    /// Per-second ok/failed counts since the start, one entry per second, gaps filled with 0.
    pub timeline: Vec<TimelineEntry>,
    /// Marks recorded during the run, in order.
    pub events: Vec<Event>,
    /// The first failures of the run (at most [`Report::MAX_SAMPLES`]), in the order seen.
    pub samples: Vec<FailureSample>,
    /// Connections opened.
    pub connects: u64,
    /// Keep-alive connections the server closed (or sent unexpected bytes on) while they were
    /// idle between open-loop requests, noticed before the next request was written. Such a
    /// connection is simply replaced: no request was lost, so these are not failures.
    pub idle_closes: u64,
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

    /// A few lines for humans: totals, failures by kind, bad statuses, latency percentiles,
    /// connections, events and the first failure samples.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} requests in {:.2}s ({:.1} req/s): {} ok, {} failed",
            self.requests,
            self.elapsed.as_secs_f64(),
            self.rps(),
            self.ok,
            self.failed()
        );
        if self.failed() > 0 {
            let kinds: Vec<String> = self
                .failures
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            let _ = writeln!(s, "  failures: {}", kinds.join(", "));
        }
        if !self.bad_statuses.is_empty() {
            let statuses: Vec<String> = self
                .bad_statuses
                .iter()
                .map(|(code, n)| format!("{code} x{n}"))
                .collect();
            let _ = writeln!(s, "  bad statuses: {}", statuses.join(", "));
        }
        let _ = writeln!(
            s,
            "  latency: p50 {} p90 {} p99 {} max {}",
            fmt_ms(self.latency.p50()),
            fmt_ms(self.latency.p90()),
            fmt_ms(self.latency.p99()),
            fmt_ms(self.latency.max())
        );
        let _ = writeln!(
            s,
            "  connections opened: {}, closed while idle: {}",
            self.connects, self.idle_closes
        );
        for e in &self.events {
            let _ = writeln!(s, "  event +{:.3}s {}", e.at.as_secs_f64(), e.label);
        }
        if !self.samples.is_empty() {
            let _ = writeln!(s, "  first failures:");
            for f in &self.samples {
                let _ = writeln!(
                    s,
                    "    +{:.3}s conn {} {}: {}",
                    f.at.as_secs_f64(),
                    f.connection,
                    f.kind,
                    f.error
                );
            }
        }
        s
    }
}

fn fmt_ms(d: Duration) -> String {
    format!("{:.2}ms", d.as_secs_f64() * 1e3)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[derive(serde::Serialize)]
struct LatencyJson {
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
    mean: f64,
}

#[derive(serde::Serialize)]
struct EventJson<'a> {
    at_ms: f64,
    label: &'a str,
}

#[derive(serde::Serialize)]
struct SampleJson<'a> {
    at_ms: f64,
    kind: FailureKind,
    connection: usize,
    error: &'a str,
}

#[derive(serde::Serialize)]
struct ReportJson<'a> {
    requests: u64,
    ok: u64,
    failed: u64,
    errors: &'a FailureCounts,
    status: &'a BTreeMap<u16, u64>,
    rps: f64,
    elapsed_s: f64,
    latency_ms: LatencyJson,
    connects: u64,
    idle_closes: u64,
    events: Vec<EventJson<'a>>,
    timeline: &'a [TimelineEntry],
    samples: Vec<SampleJson<'a>>,
}

impl Serialize for Report {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ReportJson {
            requests: self.requests,
            ok: self.ok,
            failed: self.failed(),
            errors: &self.failures,
            status: &self.bad_statuses,
            rps: self.rps(),
            elapsed_s: self.elapsed.as_secs_f64(),
            latency_ms: LatencyJson {
                p50: ms(self.latency.p50()),
                p90: ms(self.latency.p90()),
                p99: ms(self.latency.p99()),
                max: ms(self.latency.max()),
                mean: ms(self.latency.mean()),
            },
            connects: self.connects,
            idle_closes: self.idle_closes,
            events: self
                .events
                .iter()
                .map(|e| EventJson {
                    at_ms: ms(e.at),
                    label: &e.label,
                })
                .collect(),
            timeline: &self.timeline,
            samples: self
                .samples
                .iter()
                .map(|f| SampleJson {
                    at_ms: ms(f.at),
                    kind: f.kind,
                    connection: f.connection,
                    error: &f.error,
                })
                .collect(),
        }
        .serialize(serializer)
    }
}
