//! The report for people: [`Report::overview`], [`Report::summary`], [`Report::samples_text`]
//! and [`Report::timeline_text`].

use std::time::Duration;

use crate::{Event, FailureCounts, Report};

impl Report {
    /// The headline figures for humans: totals and requests/s, failures by kind, bad
    /// statuses, latency percentiles, connections, and the [`During`](crate::During)
    /// schedule's runs.
    pub fn overview(&self) -> String {
        let mut s = String::new();
        putln!(
            s,
            "{} requests in {:.2}s ({:.1} req/s): {} ok, {} failed",
            self.requests,
            self.elapsed.as_secs_f64(),
            self.rps(),
            self.ok,
            self.failed()
        );
        if self.failed() > 0 {
            putln!(s, "  failures: {}", kinds_text(&self.failures));
        }
        if !self.bad_statuses.is_empty() {
            let statuses: Vec<String> = self
                .bad_statuses
                .iter()
                .map(|(code, n)| format!("{code} x{n}"))
                .collect();
            putln!(s, "  bad statuses: {}", statuses.join(", "));
        }
        putln!(
            s,
            "  latency: p50 {} p90 {} p99 {} max {}",
            fmt_ms(self.latency.p50()),
            fmt_ms(self.latency.p90()),
            fmt_ms(self.latency.p99()),
            fmt_ms(self.latency.max())
        );
        putln!(
            s,
            "  connections opened: {}, closed while idle: {}",
            self.connects,
            self.idle_closes
        );
        if let Some(d) = &self.during {
            put!(
                s,
                "  during: `{}` every {}: {} runs, {} failed",
                d.command,
                fmt_offset(d.every),
                d.runs,
                d.failed
            );
            if d.skipped > 0 {
                put!(
                    s,
                    ", {} skipped (the previous run was still going)",
                    d.skipped
                );
            }
            s.push('\n');
        }
        s
    }

    /// A few lines for humans: the [`Report::overview`], then the events (at most
    /// [`Report::MAX_SAMPLES`] of them) and the first failure samples.
    pub fn summary(&self) -> String {
        let mut s = self.overview();
        for (i, e) in self.events.iter().enumerate().take(Self::MAX_SAMPLES) {
            putln!(
                s,
                "  event +{:.3}s {}",
                e.at.as_secs_f64(),
                event_text(i, e, self)
            );
        }
        if self.events.len() > Self::MAX_SAMPLES {
            putln!(
                s,
                "  ... {} more events",
                self.events.len() - Self::MAX_SAMPLES
            );
        }
        s.push_str(&self.samples_text());
        s
    }

    /// The first failures (with when, which connection, and the error), or nothing when no
    /// request failed.
    pub fn samples_text(&self) -> String {
        let mut s = String::new();
        if !self.samples.is_empty() {
            putln!(s, "  first failures:");
            for f in &self.samples {
                putln!(
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

    /// The per-second timeline as a table: one row per second (or per part of a second
    /// between events) with its ok and failed counts and the failures by kind, and a line for
    /// each event where it happened, so every failure shows after the event that preceded it.
    ///
    /// ```text
    ///     from        to        ok  failed
    ///       0s        1s     48213       0
    ///       1s    1.204s     24020       0
    ///   1.204s  >> run 1: exit 0 after 12ms, 3 failed after it
    ///   1.204s        2s     23980       3  reset 3
    /// ```
    pub fn timeline_text(&self) -> String {
        let mut s = String::new();
        putln!(
            s,
            "{:>8}  {:>8}  {:>9}  {:>7}",
            "from",
            "to",
            "ok",
            "failed"
        );
        let mut shown = 0;
        let mut show_events_until = |s: &mut String, until: usize| {
            while shown < until.min(self.events.len()) {
                let e = &self.events[shown];
                putln!(
                    *s,
                    "{:>8}  >> {}",
                    fmt_offset(e.at),
                    event_text(shown, e, self)
                );
                shown += 1;
            }
        };
        for entry in &self.timeline {
            show_events_until(&mut s, entry.after_event.map_or(0, |i| i + 1));
            let (from, to) = entry.span(&self.events);
            // The last second ends with the run.
            let to = to.min(self.elapsed.max(from));
            put!(
                s,
                "{:>8}  {:>8}  {:>9}  {:>7}",
                fmt_offset(from),
                fmt_offset(to),
                entry.ok,
                entry.failed
            );
            if entry.failed > 0 {
                put!(s, "  {}", kinds_text(&entry.failures));
            }
            s.push('\n');
        }
        show_events_until(&mut s, self.events.len());
        s
    }
}

/// `reset 3, closed 1`: the nonzero kinds.
fn kinds_text(failures: &FailureCounts) -> String {
    let kinds: Vec<String> = failures
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    kinds.join(", ")
}

/// One line about event `index`: the label of a mark, or how a command run went; with the
/// failures that followed it when there were any.
fn event_text(index: usize, event: &Event, report: &Report) -> String {
    let mut s = match &event.command {
        None => event.label.clone(),
        Some(run) => {
            let mut s = format!("run {}: {}", run.run, run.status);
            if let Some(took) = run.took {
                put!(s, " after {}", fmt_offset(took));
            }
            if let Some(line) = run.last_line() {
                put!(s, " ({line})");
            }
            s
        }
    };
    let failed = report.failed_after(index);
    if failed > 0 {
        put!(s, ", {failed} failed after it");
    }
    s
}

/// `0s`, `1.204s`, `35ms`, `0.4ms`: whole seconds bare, other times to the millisecond (to a
/// tenth of one below 1 ms).
fn fmt_offset(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d < Duration::from_millis(1) {
        format!("{:.1}ms", d.as_secs_f64() * 1e3)
    } else if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.3}s", d.as_secs_f64())
    }
}

fn fmt_ms(d: Duration) -> String {
    format!("{:.2}ms", d.as_secs_f64() * 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::{ms, report};

    #[test]
    fn timeline_text_splits_seconds_at_events() {
        let r = report();
        assert_eq!(r.failed_after(0), 3);
        assert_eq!(r.failed_after(1), 0);
        assert_eq!(
            r.timeline_text(),
            "    from        to         ok   failed
      0s        1s         50        0
      1s    1.204s         20        0
  1.204s  >> run 1: exit 0 after 12ms, 3 failed after it
  1.204s        2s         30        3  reset 3
  2.500s  >> done
"
        );
    }

    #[test]
    fn summary() {
        let r = report();
        let s = r.summary();
        assert!(
            s.starts_with(
                "103 requests in 2.00s (51.5 req/s): 100 ok, 3 failed\n  failures: reset 3\n"
            ),
            "{s}"
        );
        assert!(
            s.contains("event +1.204s run 1: exit 0 after 12ms, 3 failed after it"),
            "{s}"
        );
    }

    #[test]
    fn offsets() {
        assert_eq!(fmt_offset(Duration::ZERO), "0s");
        assert_eq!(fmt_offset(ms(3000)), "3s");
        assert_eq!(fmt_offset(ms(35)), "35ms");
        assert_eq!(fmt_offset(Duration::from_micros(400)), "0.4ms");
        assert_eq!(fmt_offset(ms(1204)), "1.204s");
    }
}
