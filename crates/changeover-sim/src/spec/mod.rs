//! What a rehearsal needs to know about the workload, read from the manifest: the pod's stop
//! sequence and probes, the Deployment's strategy, the Service's target port, the budget.
//!
//! [`SimSpec`] is plain data. [`read`] builds it from manifests with the lint crate's model
//! (`changeover_k8s`), plus the few fields that model does not keep (container ports, the
//! `httpGet` hook's path, `minReadySeconds`, `lifecycle.stopSignal`, startup probes, literal
//! `env`), which [`raw`] reads from the same YAML.

mod error;
mod raw;
mod read;
mod select;

use changeover_k8s::model::IntOrPercent;

pub use error::SpecError;
pub use read::{Input, read};

/// Kubernetes' default `periodSeconds` of a probe.
pub const DEFAULT_PROBE_PERIOD_S: u64 = 10;
/// Kubernetes' default `timeoutSeconds` of a probe.
pub const DEFAULT_PROBE_TIMEOUT_S: u64 = 1;
/// Kubernetes' default `failureThreshold` of a probe.
pub const DEFAULT_FAILURE_THRESHOLD: u32 = 3;
/// The most pods one run may start (each is a real process on its own loopback address).
pub const MAX_REPLICAS: i64 = 50;

/// Everything the simulation reads from the manifest.
#[derive(Debug, Clone)]
pub struct SimSpec {
    /// `Deployment/namespace/name`.
    pub workload: String,
    /// The Deployment's name; pods are named `NAME-1`, `NAME-2`, ….
    pub name: String,
    /// The replica count the rehearsal runs.
    pub replicas: i64,
    /// Where that count comes from (`spec.replicas`, an autoscaler's minimum, `--replicas`).
    pub replicas_source: String,
    /// The Deployment's update strategy.
    pub strategy: Strategy,
    /// `spec.minReadySeconds`.
    pub min_ready_seconds: u64,
    /// The pod template, as far as stopping and probing go.
    pub pod: PodSpec,
    /// The Service the load goes through, when the manifest has one.
    pub service: Option<String>,
    /// The PodDisruptionBudget that selects the pods, when there is one.
    pub budget: Option<BudgetSpec>,
    /// What the rehearsal leaves out or assumed, in words (another container, an unknown
    /// hook), shown with the report.
    pub notes: Vec<String>,
}

/// A Deployment's strategy, with Kubernetes' defaults applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// `RollingUpdate` with its two bounds.
    RollingUpdate {
        /// `maxSurge`.
        max_surge: IntOrPercent,
        /// `maxUnavailable`.
        max_unavailable: IntOrPercent,
    },
    /// `Recreate`: every old pod is gone before a new one is created.
    Recreate,
}

/// The one container the rehearsal runs (COMMAND stands in for it).
#[derive(Debug, Clone)]
pub struct PodSpec {
    /// The container's name.
    pub container: String,
    /// The container port the Service targets: `PORT`, and the port of `{addr}`.
    pub port: u16,
    /// `terminationGracePeriodSeconds` (30 when unset).
    pub grace_seconds: i64,
    /// `lifecycle.preStop`.
    pub pre_stop: Option<Hook>,
    /// `lifecycle.stopSignal`, else SIGTERM.
    pub stop_signal: StopSignal,
    /// `startupProbe`.
    pub startup: Option<Probe>,
    /// `readinessProbe`.
    pub readiness: Option<Probe>,
    /// `livenessProbe`.
    pub liveness: Option<Probe>,
    /// `env` entries with a literal `value`.
    pub env: Vec<(String, String)>,
}

/// A signal by number and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopSignal {
    /// The signal number.
    pub number: i32,
    /// `SIGTERM`, `SIGQUIT`, ….
    pub name: String,
}

impl StopSignal {
    /// SIGTERM, what the runtime sends when nothing else is said.
    pub fn term() -> StopSignal {
        StopSignal {
            number: nix::sys::signal::Signal::SIGTERM as i32,
            name: "SIGTERM".into(),
        }
    }
}

/// A preStop hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hook {
    /// The `sleep` action: the kubelet waits, nothing runs.
    Sleep {
        /// How long, in milliseconds.
        ms: u64,
    },
    /// `exec.command`, run in the pod's environment and directory.
    Exec {
        /// The argv (no shell unless it names one).
        command: Vec<String>,
    },
    /// `httpGet`, sent to the pod; its status is ignored, as the kubelet ignores it.
    HttpGet {
        /// The request path.
        path: String,
        /// The port.
        port: u16,
    },
}

impl Hook {
    /// The hook in a few words, for events (`sleep 2s`, ``exec `changeover prestop` ``).
    pub fn describe(&self) -> String {
        match self {
            Hook::Sleep { ms } => format!("sleep {}", crate::fmt_ms(*ms)),
            Hook::Exec { command } => format!("exec `{}`", command.join(" ")),
            Hook::HttpGet { path, port } => format!("httpGet :{port}{path}"),
        }
    }
}

/// A probe: what it does and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// What is checked.
    pub action: ProbeAction,
    /// When and how often, and how many results count.
    pub timing: ProbeTiming,
    /// The probe's own `terminationGracePeriodSeconds` (liveness and startup kills).
    pub termination_grace_seconds: Option<i64>,
}

/// What a probe checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeAction {
    /// `httpGet`: a status from 200 to 399 succeeds.
    HttpGet {
        /// The path.
        path: String,
        /// The port.
        port: u16,
    },
    /// `tcpSocket`: a connection succeeds.
    TcpSocket {
        /// The port.
        port: u16,
    },
    /// `exec`: exit status 0 succeeds.
    Exec {
        /// The argv.
        command: Vec<String>,
    },
}

impl ProbeAction {
    /// The probe in a few words (`GET :8080/readyz`).
    pub fn describe(&self) -> String {
        match self {
            ProbeAction::HttpGet { path, port } => format!("GET :{port}{path}"),
            ProbeAction::TcpSocket { port } => format!("TCP :{port}"),
            ProbeAction::Exec { command } => format!("exec `{}`", command.join(" ")),
        }
    }
}

/// The timing fields of a probe, with Kubernetes' defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeTiming {
    /// `initialDelaySeconds`.
    pub initial_delay_s: u64,
    /// `periodSeconds`, in milliseconds.
    pub period_ms: u64,
    /// `timeoutSeconds`, in milliseconds.
    pub timeout_ms: u64,
    /// `successThreshold`.
    pub success_threshold: u32,
    /// `failureThreshold`.
    pub failure_threshold: u32,
}

impl Default for ProbeTiming {
    fn default() -> ProbeTiming {
        ProbeTiming {
            initial_delay_s: 0,
            period_ms: DEFAULT_PROBE_PERIOD_S * 1000,
            timeout_ms: DEFAULT_PROBE_TIMEOUT_S * 1000,
            success_threshold: 1,
            failure_threshold: DEFAULT_FAILURE_THRESHOLD,
        }
    }
}

/// A PodDisruptionBudget, as the Eviction API reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetSpec {
    /// `PodDisruptionBudget/namespace/name`.
    pub name: String,
    /// `minAvailable`.
    pub min_available: Option<IntOrPercent>,
    /// `maxUnavailable`.
    pub max_unavailable: Option<IntOrPercent>,
    /// `unhealthyPodEvictionPolicy: AlwaysAllow`.
    pub always_allow_unhealthy: bool,
}

impl SimSpec {
    /// A spec with Kubernetes' defaults for a Deployment `name` of `replicas` pods listening on
    /// port 8080 with no probe and no hook: the starting point of tests and examples.
    pub fn new(name: &str, replicas: i64) -> SimSpec {
        SimSpec {
            workload: format!("Deployment/default/{name}"),
            name: name.to_string(),
            replicas,
            replicas_source: "spec.replicas".into(),
            strategy: Strategy::RollingUpdate {
                max_surge: IntOrPercent::Percent(25),
                max_unavailable: IntOrPercent::Percent(25),
            },
            min_ready_seconds: 0,
            pod: PodSpec {
                container: "app".into(),
                port: 8080,
                grace_seconds: changeover_k8s::model::DEFAULT_GRACE_SECONDS,
                pre_stop: None,
                stop_signal: StopSignal::term(),
                startup: None,
                readiness: None,
                liveness: None,
                env: Vec::new(),
            },
            service: None,
            budget: None,
            notes: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests;
