//! The report for scripts: [`Report`]'s `Serialize` impl, through mirror structs that fix the
//! JSON keys and units (milliseconds, rounded to the microsecond) apart from the data model.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::ser::{Serialize, Serializer};

use crate::{CommandRun, CommandStatus, FailureCounts, FailureKind, Report};

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
                CommandStatus::Killed => Some(nix::sys::signal::Signal::SIGKILL as i32),
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
    use crate::report::fixture::report;

    #[test]
    fn json() {
        let r = report();
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
}
