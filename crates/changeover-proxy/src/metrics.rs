//! Counters for `/metrics`: kept in atomics on the request path (no lock),
//! read as a [`MetricsSnapshot`] and rendered in the Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::state::State;

/// Upper bounds of the request duration histogram, in seconds.
pub const DURATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Responses by status class, one counter each for 1xx to 5xx.
#[derive(Default)]
pub(crate) struct ClassCounters([AtomicU64; 5]);

impl ClassCounters {
    pub(crate) fn count(&self, status: http::StatusCode) {
        let i = usize::from(status.as_u16() / 100).clamp(1, 5) - 1;
        self.0[i].fetch_add(1, Ordering::Relaxed);
    }

    fn get(&self) -> StatusCounts {
        StatusCounts(self.0.each_ref().map(|c| c.load(Ordering::Relaxed)))
    }
}

/// The kinds of upstream failure.
#[derive(Debug, Clone, Copy)]
pub(crate) enum UpstreamError {
    /// No connection could be made (refused, timeout).
    Connect = 0,
    /// The connection closed or broke before a complete response head.
    Closed = 1,
    /// The response body broke off midway.
    Body = 2,
}

/// What one generation counts.
#[derive(Default)]
pub(crate) struct GenCounters {
    pub(crate) responses: ClassCounters,
    errors: [AtomicU64; 3],
    retries: AtomicU64,
}

impl GenCounters {
    pub(crate) fn error(&self, kind: UpstreamError) {
        self.errors[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// Responses, upstream errors and retries counted so far.
    pub(crate) fn get(&self) -> (StatusCounts, UpstreamErrors, u64) {
        let e = &self.errors;
        (
            self.responses.get(),
            UpstreamErrors {
                connect: e[0].load(Ordering::Relaxed),
                closed: e[1].load(Ordering::Relaxed),
                body: e[2].load(Ordering::Relaxed),
            },
            self.retries.load(Ordering::Relaxed),
        )
    }
}

/// What the proxy counts outside any generation.
#[derive(Default)]
pub(crate) struct Global {
    /// Responses the proxy made itself without a generation: 503 (none
    /// ready), 400 (bad request), 405 (CONNECT).
    pub(crate) unrouted: ClassCounters,
    buckets: [AtomicU64; DURATION_BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl Global {
    pub(crate) fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = DURATION_BUCKETS
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(DURATION_BUCKETS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    fn histogram(&self) -> DurationHistogram {
        let mut cumulative = 0;
        let mut buckets = Vec::with_capacity(DURATION_BUCKETS.len());
        for (bound, n) in DURATION_BUCKETS.iter().zip(&self.buckets) {
            cumulative += n.load(Ordering::Relaxed);
            buckets.push((*bound, cumulative));
        }
        let count = cumulative + self.buckets[DURATION_BUCKETS.len()].load(Ordering::Relaxed);
        DurationHistogram {
            buckets,
            count,
            sum: Duration::from_nanos(self.sum_nanos.load(Ordering::Relaxed)),
        }
    }
}

/// Responses by status class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusCounts(pub [u64; 5]);

impl StatusCounts {
    /// The count of status class `class` (1 to 5: 1xx to 5xx); 0 otherwise.
    pub fn class(&self, class: u16) -> u64 {
        match class {
            1..=5 => self.0[usize::from(class) - 1],
            _ => 0,
        }
    }

    /// All classes together.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

/// Upstream failures of one generation, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpstreamErrors {
    /// No connection could be made (refused, timed out): answered 502.
    pub connect: u64,
    /// The connection closed or broke before a complete response head, and
    /// the request could not be retried: answered 502.
    pub closed: u64,
    /// The response body broke off midway (the client sees its connection
    /// or stream cut: the status line had been sent already).
    pub body: u64,
}

/// The numbers of one generation.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationMetrics {
    /// The generation's number.
    pub generation: u64,
    /// Its state in the routing table.
    pub state: State,
    /// Requests and tunnels in flight to it.
    pub in_flight: usize,
    /// Idle upstream connections kept for it.
    pub idle_connections: usize,
    /// Responses it gave (the proxy's 502s for it included), by class.
    pub responses: StatusCounts,
    /// Upstream failures.
    pub upstream_errors: UpstreamErrors,
    /// Requests retried on a new connection after a reused one failed.
    pub retries: u64,
}

/// The request duration histogram: from a request's arrival to its
/// response head (the upstream's, or the proxy's own error).
#[derive(Debug, Clone, PartialEq)]
pub struct DurationHistogram {
    /// `(upper bound in seconds, observations at or below it)`, cumulative.
    pub buckets: Vec<(f64, u64)>,
    /// Observations in all.
    pub count: u64,
    /// Their sum.
    pub sum: Duration,
}

/// Everything the proxy counts, at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsSnapshot {
    /// The live generations and the last few gone, by number.
    pub generations: Vec<GenerationMetrics>,
    /// Responses made by the proxy itself without a generation: 503 when
    /// none was ready, 400 for a bad request, 405 for CONNECT.
    pub unrouted: StatusCounts,
    /// Request durations.
    pub duration: DurationHistogram,
}

impl MetricsSnapshot {
    pub(crate) fn collect(
        mut generations: Vec<GenerationMetrics>,
        global: &Global,
    ) -> MetricsSnapshot {
        generations.sort_by_key(|g| g.generation);
        MetricsSnapshot {
            generations,
            unrouted: global.unrouted.get(),
            duration: global.histogram(),
        }
    }

    /// The numbers of generation `n`, if it is listed.
    pub fn generation(&self, n: u64) -> Option<&GenerationMetrics> {
        self.generations.iter().find(|g| g.generation == n)
    }

    /// Appends the Prometheus text exposition (format 0.0.4) of these
    /// numbers to `out`, for the supervisor's `/metrics`.
    pub fn render_into(&self, out: &mut String) {
        const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
        // Writing to a String cannot fail.
        let _infallible = writeln!(
            out,
            "# HELP changeover_proxy_requests_total Responses sent to clients, by the generation that answered and status class; generation=\"none\": answered by the proxy itself (no generation ready, bad request).\n# TYPE changeover_proxy_requests_total counter"
        );
        for (i, class) in CLASSES.iter().enumerate() {
            let _infallible = writeln!(
                out,
                "changeover_proxy_requests_total{{generation=\"none\",class=\"{class}\"}} {}",
                self.unrouted.0[i]
            );
        }
        for g in &self.generations {
            for (i, class) in CLASSES.iter().enumerate() {
                let _infallible = writeln!(
                    out,
                    "changeover_proxy_requests_total{{generation=\"{}\",class=\"{class}\"}} {}",
                    g.generation, g.responses.0[i]
                );
            }
        }
        let mut per_gen =
            |name: &str, kind: &str, help: &str, value: &dyn Fn(&GenerationMetrics) -> u64| {
                let _infallible = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
                for g in &self.generations {
                    let _infallible = writeln!(
                        out,
                        "{name}{{generation=\"{}\"}} {}",
                        g.generation,
                        value(g)
                    );
                }
            };
        per_gen(
            "changeover_proxy_in_flight",
            "gauge",
            "Requests and upgraded connections in flight, by generation.",
            &|g| g.in_flight as u64,
        );
        per_gen(
            "changeover_proxy_upstream_idle_connections",
            "gauge",
            "Idle upstream connections kept for reuse, by generation.",
            &|g| g.idle_connections as u64,
        );
        per_gen(
            "changeover_proxy_retries_total",
            "counter",
            "Requests retried on a new connection after a reused upstream connection failed before any response byte.",
            &|g| g.retries,
        );
        let _infallible = writeln!(
            out,
            "# HELP changeover_proxy_upstream_errors_total Upstream failures, by generation and kind: connect (no connection), closed (closed before a response head; answered 502), body (response body cut off).\n# TYPE changeover_proxy_upstream_errors_total counter"
        );
        for g in &self.generations {
            let e = &g.upstream_errors;
            for (kind, v) in [
                ("connect", e.connect),
                ("closed", e.closed),
                ("body", e.body),
            ] {
                let _infallible = writeln!(
                    out,
                    "changeover_proxy_upstream_errors_total{{generation=\"{}\",kind=\"{kind}\"}} {v}",
                    g.generation
                );
            }
        }
        crate::prometheus::histogram(
            out,
            "changeover_proxy_request_duration_seconds",
            "From a request's arrival to its response head.",
            self.duration.buckets.iter().copied(),
            self.duration.count,
            self.duration.sum.as_secs_f64(),
        );
    }

    /// The Prometheus text exposition as a new string.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        self.render_into(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let global = Global::default();
        global.unrouted.count(http::StatusCode::SERVICE_UNAVAILABLE);
        global.observe(Duration::from_micros(300));
        global.observe(Duration::from_millis(20));
        global.observe(Duration::from_secs(60));
        let mut m = MetricsSnapshot::collect(Vec::new(), &global);
        m.generations.push(GenerationMetrics {
            generation: 3,
            state: State::Retired,
            in_flight: 2,
            idle_connections: 0,
            responses: StatusCounts([0, 7, 0, 1, 2]),
            upstream_errors: UpstreamErrors {
                connect: 1,
                closed: 1,
                body: 0,
            },
            retries: 4,
        });
        let text = m.render();
        let problems = crate::prometheus::check(
            &text,
            &[
                "# TYPE changeover_proxy_requests_total counter",
                "changeover_proxy_requests_total{generation=\"none\",class=\"5xx\"} 1",
                "changeover_proxy_requests_total{generation=\"3\",class=\"2xx\"} 7",
                "changeover_proxy_in_flight{generation=\"3\"} 2",
                "changeover_proxy_retries_total{generation=\"3\"} 4",
                "changeover_proxy_upstream_errors_total{generation=\"3\",kind=\"connect\"} 1",
                "changeover_proxy_request_duration_seconds_bucket{le=\"0.0005\"} 1",
                "changeover_proxy_request_duration_seconds_bucket{le=\"0.025\"} 2",
                "changeover_proxy_request_duration_seconds_bucket{le=\"10\"} 2",
                "changeover_proxy_request_duration_seconds_bucket{le=\"+Inf\"} 3",
                "changeover_proxy_request_duration_seconds_count 3",
            ],
        );
        assert!(problems.is_empty(), "{problems:#?} in\n{text}");
        assert_eq!(m.duration.count, 3);
        assert_eq!(m.generation(3).unwrap().responses.total(), 10);
    }
}
