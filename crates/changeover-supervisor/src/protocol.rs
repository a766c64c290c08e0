//! The control protocol: what `reload`, `status` and `prestop` ask a running
//! supervisor over its control socket, and what it answers.
//!
//! One request per connection: the client writes one JSON object on one
//! line, the supervisor answers with one JSON line and closes. For example:
//!
//! ```text
//! > {"op":"reload","wait":true}
//! < {"reload":{"outcome":"took_over","pid":4242,"previous":[4100],"millis":85}}
//! > {"op":"status"}
//! < {"status":{"supervisor_pid":1,"state":"running","ready":true,"generations":[…],…}}
//! > {"op":"prestop"}
//! < {"prestop":{"waited_ms":5000}}
//! ```

use serde::{Deserialize, Serialize};

/// A request to the supervisor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Start a new generation; with `wait`, answer once it took over or was rolled back.
    Reload {
        /// Answer with the outcome rather than at once.
        wait: bool,
    },
    /// Describe every generation.
    Status,
    /// Begin the stop sequence and answer once the stop delay has passed.
    Prestop,
}

/// What a reload request came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ReloadReply {
    /// A new child was started (the request did not wait for the outcome).
    Started {
        /// The new child's pid.
        pid: u32,
    },
    /// A reload was already in progress; this request joined it (no waiting).
    Joined {
        /// The pid of the child being brought up.
        pid: u32,
    },
    /// The new child is ready and the old ones were told to drain.
    TookOver {
        /// The new child's pid.
        pid: u32,
        /// The pids of the children it replaced.
        previous: Vec<u32>,
        /// Milliseconds from starting the new child to its readiness.
        millis: u64,
    },
    /// The new child failed; the old one serves on.
    RolledBack {
        /// Why, in one line.
        reason: String,
    },
    /// No reload was started.
    Refused {
        /// Why, in one line.
        reason: String,
    },
}

impl ReloadReply {
    /// Whether the request did what was asked: a child started, joined, or took over.
    pub fn is_success(&self) -> bool {
        matches!(
            self,
            ReloadReply::Started { .. } | ReloadReply::Joined { .. } | ReloadReply::TookOver { .. }
        )
    }
}

impl std::fmt::Display for ReloadReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReloadReply::Started { pid } => write!(f, "reload started: new child pid {pid}"),
            ReloadReply::Joined { pid } => write!(
                f,
                "a reload was already in progress (new child pid {pid}); this request joined it"
            ),
            ReloadReply::TookOver {
                pid,
                previous,
                millis,
            } => {
                let previous: Vec<String> = previous.iter().map(u32::to_string).collect();
                write!(
                    f,
                    "reloaded: pid {pid} took over from pid {} in {millis}ms",
                    if previous.is_empty() {
                        "-".to_owned()
                    } else {
                        previous.join(", ")
                    }
                )
            }
            ReloadReply::RolledBack { reason } => {
                write!(f, "reload rolled back, the old child serves on: {reason}")
            }
            ReloadReply::Refused { reason } => write!(f, "reload refused: {reason}"),
        }
    }
}

/// The answer to `prestop`: the stop delay has passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrestopReply {
    /// How long this request waited, in milliseconds.
    pub waited_ms: u64,
}

/// One generation: one child process and where it is in its life.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationStatus {
    /// 1 for the first child, then one more per reload.
    pub generation: u64,
    /// Its pid.
    pub pid: u32,
    /// `starting`, `ready`, `draining` or `killed`.
    pub state: String,
    /// Seconds since it was started.
    pub age_secs: f64,
    /// The last `STATUS=` it reported, if any.
    pub status: Option<String>,
}

/// The answer to `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// The supervisor's pid (it never changes).
    pub supervisor_pid: u32,
    /// `starting`, `running`, `reloading`, `stopping` or `exiting`.
    pub state: String,
    /// What `/readyz` answers: true when a child is ready and no stop began.
    pub ready: bool,
    /// Seconds since the supervisor started.
    pub uptime_secs: f64,
    /// Every generation alive, oldest first.
    pub generations: Vec<GenerationStatus>,
    /// Reloads in which a new child took over.
    pub reloads: u64,
    /// Reloads that were rolled back.
    pub failed_reloads: u64,
}

impl std::fmt::Display for Status {
    /// A table for people.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "supervisor pid {}: {}, {}, up {}; reloads: {} took over, {} rolled back",
            self.supervisor_pid,
            self.state,
            if self.ready { "ready" } else { "not ready" },
            human_secs(self.uptime_secs),
            self.reloads,
            self.failed_reloads
        )?;
        writeln!(
            f,
            "{:>10}  {:>8}  {:<9}  {:>8}  STATUS",
            "GENERATION", "PID", "STATE", "AGE"
        )?;
        for g in &self.generations {
            writeln!(
                f,
                "{:>10}  {:>8}  {:<9}  {:>8}  {}",
                g.generation,
                g.pid,
                g.state,
                human_secs(g.age_secs),
                g.status.as_deref().unwrap_or("-")
            )?;
        }
        Ok(())
    }
}

fn human_secs(secs: f64) -> String {
    // One formatter for every duration changeover shows (changeover-flags).
    let elapsed =
        std::time::Duration::try_from_secs_f64(secs.max(0.0)).unwrap_or(std::time::Duration::MAX);
    changeover_flags::format_elapsed(elapsed)
}

/// The supervisor's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// To [`Request::Reload`].
    Reload(ReloadReply),
    /// To [`Request::Status`].
    Status(Status),
    /// To [`Request::Prestop`].
    Prestop(PrestopReply),
    /// The request could not be read.
    Error {
        /// What was wrong with it.
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format_is_stable() {
        assert_eq!(
            serde_json::to_string(&Request::Reload { wait: true }).unwrap(),
            r#"{"op":"reload","wait":true}"#
        );
        assert_eq!(
            serde_json::to_string(&Request::Status).unwrap(),
            r#"{"op":"status"}"#
        );
        let r = Response::Reload(ReloadReply::TookOver {
            pid: 2,
            previous: vec![1],
            millis: 85,
        });
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(
            text,
            r#"{"reload":{"outcome":"took_over","pid":2,"previous":[1],"millis":85}}"#
        );
        assert_eq!(serde_json::from_str::<Response>(&text).unwrap(), r);
    }

    #[test]
    fn replies_read_as_sentences() {
        let r = ReloadReply::TookOver {
            pid: 2,
            previous: vec![1],
            millis: 85,
        };
        assert_eq!(
            r.to_string(),
            "reloaded: pid 2 took over from pid 1 in 85ms"
        );
        assert!(r.is_success());
        assert!(!ReloadReply::RolledBack { reason: "x".into() }.is_success());
    }
}
