//! What a rehearsal found: [`Report`], printed as text for people or as one JSON object.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::attribute::{Failure, Kind};
use crate::fmt_ms;
use crate::model::{Event, EventKind, Ms, Scenario};

/// The most failures listed one by one in the JSON (all are counted, and grouped by cause).
pub const MAX_FAILURES_LISTED: usize = 10_000;

/// A consumer of endpoint changes and its lag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Propagation {
    /// Its name.
    pub consumer: String,
    /// Shortest lag.
    pub min_ms: Ms,
    /// Longest lag.
    pub max_ms: Ms,
    /// Whether the load went through its view (the slowest one's).
    pub load: bool,
}

/// Failures with one pod, kind and cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cause {
    /// The kind.
    pub kind: Kind,
    /// The pod.
    pub pod: Option<String>,
    /// Why.
    pub cause: String,
    /// What to change.
    pub fix: String,
    /// How many.
    pub count: u64,
    /// The first one.
    pub first_ms: Ms,
    /// The last one.
    pub last_ms: Ms,
}

impl Cause {
    /// Its two lines in the text report: how many, the kind, when, the pod and the cause; then
    /// the fix. `changeover demo` prints them under its contrast row too.
    ///
    /// ```
    /// use changeover_sim::attribute::Kind;
    /// use changeover_sim::report::Cause;
    /// let c = Cause {
    ///     kind: Kind::Refused,
    ///     pod: Some("web-2".into()),
    ///     cause: "pod web-2 stopped accepting 1s before kube-proxy stopped routing to it".into(),
    ///     fix: "give it a stop delay of at least 1s".into(),
    ///     count: 12,
    ///     first_ms: 2_500,
    ///     last_ms: 3_500,
    /// };
    /// assert_eq!(
    ///     c.text(),
    ///     "    12 × refused at 2.5s–3.5s: pod web-2 stopped accepting 1s before kube-proxy stopped routing to it\n         fix: give it a stop delay of at least 1s\n"
    /// );
    /// ```
    pub fn text(&self) -> String {
        let (first, last) = (fmt_ms(self.first_ms), fmt_ms(self.last_ms));
        // Failures a millisecond or two apart read as one moment, not as "2.52s–2.52s".
        let span = if first == last {
            first
        } else {
            format!("{first}–{last}")
        };
        format!(
            "{:>6} × {} at {span}: {}\n         fix: {}\n",
            self.count,
            self.kind.as_str(),
            self.cause,
            self.fix
        )
    }
}

/// A pod of the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodRow {
    /// Its name.
    pub name: String,
    /// Its address.
    pub addr: String,
    /// Its ReplicaSet's revision, from 1.
    pub revision: usize,
    /// Connections the Service address routed to it.
    pub connections: u64,
}

/// Requests that ended in one interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Interval {
    /// Its start.
    pub at_ms: Ms,
    /// Answered with 2xx.
    pub ok: u64,
    /// Failed.
    pub failed: u64,
}

/// Latency of answered requests.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    /// Median, in milliseconds.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
}

/// The outcome of one rehearsal.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// What was rehearsed.
    pub scenario: Scenario,
    /// `Deployment/namespace/name`.
    pub workload: String,
    /// Replicas.
    pub replicas: i64,
    /// Where that number comes from.
    pub replicas_source: String,
    /// The seed of every random choice.
    pub seed: u64,
    /// COMMAND.
    pub command: Vec<String>,
    /// The Service the load stands for.
    pub service: Option<String>,
    /// The local Service address the load went to.
    pub service_addr: String,
    /// The pods' address block.
    pub pod_network: String,
    /// Each consumer's lag.
    pub propagation: Vec<Propagation>,
    /// Whether the scenario completed within the deadline.
    pub completed: bool,
    /// When the scenario began.
    pub scenario_ms: Ms,
    /// When it completed.
    pub done_ms: Option<Ms>,
    /// When the run ended.
    pub end_ms: Ms,
    /// Requests the load sent.
    pub requests: u64,
    /// Answered with 2xx.
    pub ok: u64,
    /// Failed.
    pub failed: u64,
    /// Failed, by kind (as seen at the pods).
    pub failed_by_kind: BTreeMap<&'static str, u64>,
    /// Failures the load counted that the Service address did not see (0 unless something
    /// outside the pods failed).
    pub unattributed: u64,
    /// The fewest available pods at any moment of the scenario.
    pub min_available: i64,
    /// Latency of answered requests.
    pub latency_ms: Latency,
    /// The failures grouped by pod, kind and cause, largest group first.
    pub causes: Vec<Cause>,
    /// Every failure (the first [`MAX_FAILURES_LISTED`]).
    pub failures: Vec<Failure>,
    /// Failures beyond [`MAX_FAILURES_LISTED`], counted but not listed.
    pub failures_omitted: u64,
    /// Everything that happened.
    pub events: Vec<Event>,
    /// The pods.
    pub pods: Vec<PodRow>,
    /// Requests per 100 ms.
    pub timeline: Vec<Interval>,
    /// What the rehearsal left out or assumed.
    pub notes: Vec<String>,
}

impl Report {
    /// Groups failures by pod, kind and cause.
    pub fn group(failures: &[Failure]) -> Vec<Cause> {
        let mut groups: Vec<Cause> = Vec::new();
        for f in failures {
            match groups
                .iter_mut()
                .find(|g| g.kind == f.kind && g.pod == f.pod && g.cause == f.cause)
            {
                Some(g) => {
                    g.count += 1;
                    g.first_ms = g.first_ms.min(f.at_ms);
                    g.last_ms = g.last_ms.max(f.at_ms);
                }
                None => groups.push(Cause {
                    kind: f.kind,
                    pod: f.pod.clone(),
                    cause: f.cause.clone(),
                    fix: f.fix.clone(),
                    count: 1,
                    first_ms: f.at_ms,
                    last_ms: f.at_ms,
                }),
            }
        }
        groups.sort_by(|a, b| b.count.cmp(&a.count).then(a.first_ms.cmp(&b.first_ms)));
        groups
    }

    /// One JSON object.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// The report for a terminal: what ran, the timeline of what happened, the counts, and
    /// each cause of failure with its fix.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "changeover sim: {} of {} ({} replicas, {}), seed {}",
            self.scenario.as_str(),
            self.workload,
            self.replicas,
            self.replicas_source,
            self.seed
        );
        let consumers: Vec<String> = self
            .propagation
            .iter()
            .map(|p| {
                let lag = if p.min_ms == p.max_ms {
                    fmt_ms(p.max_ms)
                } else {
                    format!("{}..{}", fmt_ms(p.min_ms), fmt_ms(p.max_ms))
                };
                let load = if p.load { ", the load's view" } else { "" };
                format!("{} lag {lag}{load}", p.consumer)
            })
            .collect();
        let _ = writeln!(
            out,
            "  pods on {} run `{}`; load through {} ({})",
            self.pod_network,
            self.command.join(" "),
            self.service_addr,
            consumers.join("; ")
        );
        for n in &self.notes {
            let _ = writeln!(out, "  note: {n}");
        }
        let _ = writeln!(out, "\ntimeline (time since start):");
        out.push_str(&self.timeline_text());
        let _ = writeln!(out);
        let kinds: Vec<String> = self
            .failed_by_kind
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let _ = writeln!(
            out,
            "{} requests: {} ok, {} failed{}; fewest available pods during the {}: {} of {}",
            self.requests,
            self.ok,
            self.failed,
            if kinds.is_empty() {
                String::new()
            } else {
                format!(" ({})", kinds.join(", "))
            },
            self.scenario.as_str(),
            self.min_available,
            self.replicas
        );
        if let Some(done) = self.done_ms {
            let _ = writeln!(
                out,
                "the {} took {} (run {} in all, {} from the scenario's start to the end of the load)",
                self.scenario.as_str(),
                fmt_ms(done - self.scenario_ms),
                fmt_ms(self.end_ms),
                fmt_ms(self.end_ms - self.scenario_ms)
            );
        } else {
            let _ = writeln!(
                out,
                "the {} did NOT complete before the deadline ({} after it began)",
                self.scenario.as_str(),
                fmt_ms(self.end_ms - self.scenario_ms)
            );
        }
        for c in &self.causes {
            let _ = write!(out, "\n{}", c.text());
        }
        if self.unattributed > 0 {
            let _ = writeln!(
                out,
                "\n{} failures were counted by the load but not seen at the Service address",
                self.unattributed
            );
        }
        if self.failed == 0 {
            let _ = writeln!(out, "\nno request failed.");
        }
        out
    }

    /// The events worth a line, with a line for each 100 ms in which requests failed, placed
    /// at the end of those 100 ms.
    pub fn timeline_text(&self) -> String {
        let bucket = crate::world::proxy::BUCKET_MS;
        let mut out = String::new();
        let interval = |out: &mut String, i: &Interval| {
            let _ = writeln!(
                out,
                "{:>9}  {:<12} {} failed, {} ok since {}",
                fmt_ms(i.at_ms + bucket),
                "",
                i.failed,
                i.ok,
                fmt_ms(i.at_ms)
            );
        };
        let mut failures = self.timeline.iter().filter(|i| i.failed > 0).peekable();
        for e in &self.events {
            if e.event == EventKind::Unhealthy
                || (e.event == EventKind::Started && e.at_ms < self.scenario_ms)
            {
                continue;
            }
            while let Some(i) = failures.next_if(|i| i.at_ms + bucket <= e.at_ms) {
                interval(&mut out, i);
            }
            let who = match (&e.pod, &e.consumer) {
                (Some(p), Some(c)) => format!("{p} @{c}"),
                (Some(p), None) => p.clone(),
                (None, _) => "-".into(),
            };
            let detail = if e.detail.is_empty() {
                String::new()
            } else {
                format!(": {}", e.detail)
            };
            let _ = writeln!(
                out,
                "{:>9}  {:<12} {}{detail}",
                fmt_ms(e.at_ms),
                who,
                e.event.as_str()
            );
        }
        for i in failures {
            interval(&mut out, i);
        }
        out
    }
}
