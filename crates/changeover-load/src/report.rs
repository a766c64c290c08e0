//! The result of a run: [`Report`], its latency view [`Latency`], and the records it keeps.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::ser::{Serialize, Serializer};

use crate::{CommandRun, CommandStatus, DuringSummary, FailureCounts, FailureKind};

/// A labelled point in time: recorded with [`LoadHandle::mark`](crate::LoadHandle::mark), or the
/// start of a run of a [`During`](crate::During) command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Time since the run started.
    pub at: Duration,
    /// The label given to `mark`, or the command.
    pub label: String,
    /// For a command run: which run, and how it ended. `None` for a mark.
    pub command: Option<CommandRun>,
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

    /// The headline figures for humans: totals and requests/s, failures by kind, bad
    /// statuses, latency percentiles, connections, and the [`During`](crate::During)
    /// schedule's runs.
    pub fn overview(&self) -> String {
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
            let _ = writeln!(s, "  failures: {}", kinds_text(&self.failures));
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
        if let Some(d) = &self.during {
            let _ = write!(
                s,
                "  during: `{}` every {}: {} runs, {} failed",
                d.command,
                fmt_offset(d.every),
                d.runs,
                d.failed
            );
            if d.skipped > 0 {
                let _ = write!(
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
            let _ = writeln!(
                s,
                "  event +{:.3}s {}",
                e.at.as_secs_f64(),
                event_text(i, e, self)
            );
        }
        if self.events.len() > Self::MAX_SAMPLES {
            let _ = writeln!(
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
        let _ = writeln!(
            s,
            "{:>8}  {:>8}  {:>9}  {:>7}",
            "from", "to", "ok", "failed"
        );
        let mut shown = 0;
        let mut show_events_until = |s: &mut String, until: usize| {
            while shown < until.min(self.events.len()) {
                let e = &self.events[shown];
                let _ = writeln!(
                    s,
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
            let _ = write!(
                s,
                "{:>8}  {:>8}  {:>9}  {:>7}",
                fmt_offset(from),
                fmt_offset(to),
                entry.ok,
                entry.failed
            );
            if entry.failed > 0 {
                let _ = write!(s, "  {}", kinds_text(&entry.failures));
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
                let _ = write!(s, " after {}", fmt_offset(took));
            }
            if let Some(line) = run.last_line() {
                let _ = write!(s, " ({line})");
            }
            s
        }
    };
    let failed = report.failed_after(index);
    if failed > 0 {
        let _ = write!(s, ", {failed} failed after it");
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

/// Milliseconds, rounded to the microsecond.
fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
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
    failed_after: u64,
    command: Option<CommandJson<'a>>,
}

#[derive(serde::Serialize)]
struct CommandJson<'a> {
    run: u64,
    status: String,
    success: bool,
    exit_code: Option<i32>,
    signal: Option<i32>,
    took_ms: Option<f64>,
    output: &'a str,
}

impl<'a> CommandJson<'a> {
    fn new(run: &'a CommandRun) -> CommandJson<'a> {
        CommandJson {
            run: run.run,
            status: run.status.to_string(),
            success: run.status.success(),
            exit_code: match run.status {
                CommandStatus::Exited(code) => Some(code),
                _ => None,
            },
            signal: match run.status {
                CommandStatus::Signalled(signal) => Some(signal),
                CommandStatus::Killed => Some(9),
                _ => None,
            },
            took_ms: run.took.map(ms),
            output: &run.output,
        }
    }
}

#[derive(serde::Serialize)]
struct DuringJson<'a> {
    command: &'a str,
    every_ms: f64,
    runs: u64,
    failed: u64,
    skipped: u64,
}

#[derive(serde::Serialize)]
struct TimelineJson {
    second: u64,
    after_event: Option<usize>,
    ok: u64,
    failed: u64,
    errors: BTreeMap<&'static str, u64>,
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
    during: Option<DuringJson<'a>>,
    events: Vec<EventJson<'a>>,
    timeline: Vec<TimelineJson>,
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
            during: self.during.as_ref().map(|d| DuringJson {
                command: &d.command,
                every_ms: ms(d.every),
                runs: d.runs,
                failed: d.failed,
                skipped: d.skipped,
            }),
            events: self
                .events
                .iter()
                .enumerate()
                .map(|(i, e)| EventJson {
                    at_ms: ms(e.at),
                    label: &e.label,
                    failed_after: self.failed_after(i),
                    command: e.command.as_ref().map(CommandJson::new),
                })
                .collect(),
            timeline: self
                .timeline
                .iter()
                .map(|t| TimelineJson {
                    second: t.second,
                    after_event: t.after_event,
                    ok: t.ok,
                    failed: t.failed,
                    errors: t
                        .failures
                        .iter()
                        .filter(|(_, n)| *n > 0)
                        .map(|(k, n)| (k.as_str(), n))
                        .collect(),
                })
                .collect(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CommandRun, CommandStatus};

    fn ms(n: u64) -> Duration {
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
    fn report() -> Report {
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
    fn spans() {
        let r = report();
        assert_eq!(r.timeline[0].span(&r.events), (ms(0), ms(1000)));
        assert_eq!(r.timeline[1].span(&r.events), (ms(1000), ms(1204)));
        assert_eq!(r.timeline[2].span(&r.events), (ms(1204), ms(2000)));
    }

    #[test]
    fn summary_and_json() {
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
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["events"][0]["failed_after"], 3);
        assert_eq!(json["events"][0]["command"]["exit_code"], 0);
        assert_eq!(json["events"][1]["command"], serde_json::Value::Null);
        assert_eq!(json["timeline"][2]["after_event"], 0);
        assert_eq!(
            json["timeline"][2]["errors"],
            serde_json::json!({"reset": 3})
        );
        assert_eq!(json["timeline"][0]["errors"], serde_json::json!({}));
        assert_eq!(json["during"], serde_json::Value::Null);
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
