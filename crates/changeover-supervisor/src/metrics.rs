//! Counters the state machine keeps, rendered in the Prometheus text format
//! for `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::config::signal_name;

/// Upper bounds of the duration histograms, in seconds.
const BUCKETS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0];

/// A histogram of durations with fixed buckets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    /// Observations per bucket (not cumulative); the last is above every bound.
    counts: [u64; BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

impl Histogram {
    /// Records one duration.
    pub fn observe(&mut self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(BUCKETS.len());
        self.counts[i] += 1;
        self.sum += secs;
        self.count += 1;
    }

    /// How many durations were recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let cumulative = BUCKETS
            .iter()
            .zip(self.counts)
            .scan(0, |total, (&bound, n)| {
                *total += n;
                Some((bound, *total))
            });
        changeover_proxy::prometheus::histogram(out, name, help, cumulative, self.count, self.sum);
    }
}

/// Why a child process ended, for `changeover_child_exits_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// It exited after the stop signal, within the drain deadline.
    Drained,
    /// It was killed with SIGKILL (drain deadline, ready timeout, forced stop).
    Killed,
    /// While draining, it was ended by this signal, which is not its stop
    /// signal and not the supervisor's SIGKILL: something else killed it
    /// (the OOM killer, an operator), and what was in flight to it was lost.
    Signalled(Signal),
    /// It exited on its own, while starting or serving.
    Unexpected,
}

/// Everything `/metrics` shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    /// Whether `/readyz` answers 200.
    pub ready: bool,
    /// Generations starting.
    pub starting: u64,
    /// Generations serving.
    pub serving: u64,
    /// Generations draining (or killed, not yet reaped).
    pub draining: u64,
    /// Reloads in which the new child took over.
    pub reloads: u64,
    /// Reloads rolled back.
    pub failed_reloads: u64,
    /// Children that exited after draining.
    pub exits_drained: u64,
    /// Children killed.
    pub exits_killed: u64,
    /// Draining children ended by a signal the supervisor did not send, by
    /// signal name (`KILL`); their sum is the `how="signalled"` exits.
    pub outside_signals: BTreeMap<&'static str, u64>,
    /// Children that exited on their own.
    pub exits_unexpected: u64,
    /// Processes reaped that were not children of the supervisor's own making.
    pub orphans_reaped: u64,
    /// From a child's stop signal to its exit.
    pub drain_seconds: Histogram,
    /// From starting a new child in a reload to its readiness.
    pub reload_seconds: Histogram,
}

impl Metrics {
    /// Counts one child exit.
    pub fn child_exited(&mut self, kind: ExitKind) {
        match kind {
            ExitKind::Drained => self.exits_drained += 1,
            ExitKind::Killed => self.exits_killed += 1,
            ExitKind::Signalled(signal) => {
                *self.outside_signals.entry(signal_name(signal)).or_default() += 1;
            }
            ExitKind::Unexpected => self.exits_unexpected += 1,
        }
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        let mut gauge = |name: &str, help: &str, lines: &[(&str, u64)]| {
            let _infallible = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            for (labels, v) in lines {
                let _infallible = writeln!(out, "{name}{labels} {v}");
            }
        };
        gauge(
            "changeover_ready",
            "1 when a child is ready and no stop began (what /readyz answers).",
            &[("", u64::from(self.ready))],
        );
        gauge(
            "changeover_generations",
            "Child processes alive, by state.",
            &[
                ("{state=\"starting\"}", self.starting),
                ("{state=\"ready\"}", self.serving),
                ("{state=\"draining\"}", self.draining),
            ],
        );
        let mut counter = |name: &str, help: &str, lines: &[(&str, u64)]| {
            let _infallible = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (labels, v) in lines {
                let _infallible = writeln!(out, "{name}{labels} {v}");
            }
        };
        counter(
            "changeover_reloads_total",
            "Reloads in which a new child took over.",
            &[("", self.reloads)],
        );
        counter(
            "changeover_reloads_failed_total",
            "Reloads rolled back: the new child exited, missed the ready timeout or could not start.",
            &[("", self.failed_reloads)],
        );
        counter(
            "changeover_child_exits_total",
            "Child processes that ended, by how.",
            &[
                ("{how=\"drained\"}", self.exits_drained),
                ("{how=\"killed\"}", self.exits_killed),
                ("{how=\"signalled\"}", self.outside_signals.values().sum()),
                ("{how=\"unexpected\"}", self.exits_unexpected),
            ],
        );
        let outside: Vec<(String, u64)> = self
            .outside_signals
            .iter()
            .map(|(name, n)| (format!("{{signal=\"{name}\"}}"), *n))
            .collect();
        let outside: Vec<(&str, u64)> = outside.iter().map(|(l, n)| (l.as_str(), *n)).collect();
        counter(
            "changeover_child_outside_signals_total",
            "Draining children ended by a signal the supervisor did not send (the OOM killer's SIGKILL), by signal.",
            &outside,
        );
        counter(
            "changeover_orphans_reaped_total",
            "Orphaned processes reaped by the supervisor.",
            &[("", self.orphans_reaped)],
        );
        self.drain_seconds.render(
            &mut out,
            "changeover_drain_duration_seconds",
            "From a child's stop signal to its exit.",
        );
        self.reload_seconds.render(
            &mut out,
            "changeover_reload_duration_seconds",
            "From starting a new child in a reload to its readiness.",
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let mut m = Metrics {
            ready: true,
            serving: 1,
            reloads: 3,
            ..Metrics::default()
        };
        m.drain_seconds.observe(Duration::from_millis(300));
        m.drain_seconds.observe(Duration::from_secs(100));
        let text = m.render();
        let problems = changeover_proxy::prometheus::check(
            &text,
            &[
                "changeover_ready 1",
                "changeover_generations{state=\"ready\"} 1",
                "changeover_reloads_total 3",
                "changeover_drain_duration_seconds_bucket{le=\"0.25\"} 0",
                "changeover_drain_duration_seconds_bucket{le=\"0.5\"} 1",
                "changeover_drain_duration_seconds_bucket{le=\"60\"} 1",
                "changeover_drain_duration_seconds_bucket{le=\"+Inf\"} 2",
                "changeover_drain_duration_seconds_count 2",
                "# TYPE changeover_child_exits_total counter",
            ],
        );
        assert!(problems.is_empty(), "{problems:#?} in\n{text}");
    }
}
