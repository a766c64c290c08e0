//! The pod a workload creates: its containers, their ports, probes and lifecycle hooks, and its
//! grace period.

use std::collections::BTreeMap;

use super::Located;
use crate::yaml::Node;

/// A lifecycle hook handler (`preStop`, `postStart`).
#[derive(Debug, Clone)]
pub enum Handler {
    /// `exec.command`.
    Exec {
        /// The argv.
        command: Vec<String>,
        /// The line of the handler.
        line: usize,
    },
    /// The `sleep` action.
    Sleep {
        /// `sleep.seconds`.
        seconds: i64,
        /// The line of `sleep`.
        line: usize,
    },
    /// `httpGet`: an endpoint of the server is called.
    HttpGet {
        /// The line of the handler.
        line: usize,
    },
    /// `tcpSocket` or something this version does not know.
    Other {
        /// The line of the handler.
        line: usize,
    },
}

impl Handler {
    /// The line where the handler is written.
    pub fn line(&self) -> usize {
        match self {
            Handler::Exec { line, .. }
            | Handler::Sleep { line, .. }
            | Handler::HttpGet { line }
            | Handler::Other { line } => *line,
        }
    }
}

/// One (regular) container of a pod.
#[derive(Debug, Clone)]
pub struct Container {
    /// `name`.
    pub name: String,
    /// The line of the container's first key.
    pub line: usize,
    /// `image`, when set.
    pub image: Option<String>,
    /// `command` (the image's entrypoint when empty).
    pub command: Vec<String>,
    /// `args`.
    pub args: Vec<String>,
    /// `ports`: the ports the container declares.
    pub ports: Vec<ContainerPort>,
    /// A native sidecar: an init container with `restartPolicy: Always`, which runs beside the
    /// main containers and is stopped after them.
    pub sidecar: bool,
    /// `readinessProbe`.
    pub readiness_probe: Option<Node>,
    /// `livenessProbe`.
    pub liveness_probe: Option<Node>,
    /// `lifecycle.preStop`.
    pub pre_stop: Option<Handler>,
    /// `lifecycle.postStart`.
    pub post_start: Option<Handler>,
}

/// One entry of a container's `ports`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerPort {
    /// `containerPort`.
    pub number: Option<i64>,
    /// `name`.
    pub name: Option<String>,
}

impl Container {
    /// Whether the container declares at least one port.
    pub fn has_ports(&self) -> bool {
        !self.ports.is_empty()
    }

    /// The number of a port named `name`.
    pub fn port_number(&self, name: &str) -> Option<i64> {
        self.ports
            .iter()
            .find(|p| p.name.as_deref() == Some(name))
            .and_then(|p| p.number)
    }

    /// `command` followed by `args`: what runs, when `command` is set.
    pub fn argv(&self) -> Vec<String> {
        self.command.iter().chain(&self.args).cloned().collect()
    }
}

/// The pod a workload creates (or a Pod itself).
#[derive(Debug, Clone)]
pub struct PodTemplate {
    /// The template's labels, which Services and budgets select.
    pub labels: BTreeMap<String, String>,
    /// The line of the template (or of the Pod's `spec`).
    pub line: usize,
    /// `terminationGracePeriodSeconds`, when set (Kubernetes uses 30 otherwise).
    pub grace_period: Option<Located<i64>>,
    /// `shareProcessNamespace`.
    pub share_process_namespace: Option<Located<bool>>,
    /// Whether the pod asks for a proxy to be injected at admission (`linkerd.io/inject`,
    /// `sidecar.istio.io/inject`): a container the manifest does not show then listens on the
    /// ports no container declares.
    pub injected_proxy: bool,
    /// `containers`, then the native sidecars of `initContainers` (other init containers have
    /// finished before the pod serves, so they are not part of the stop sequence).
    pub containers: Vec<Container>,
}

/// Kubernetes' default `terminationGracePeriodSeconds`.
pub const DEFAULT_GRACE_SECONDS: i64 = 30;

impl PodTemplate {
    /// The grace period in seconds, with Kubernetes' default.
    pub fn grace_seconds(&self) -> i64 {
        self.grace_period.map_or(DEFAULT_GRACE_SECONDS, |g| g.value)
    }

    /// The grace period in milliseconds (a negative value counts as zero), the unit the
    /// stop delay and drain deadline are compared in.
    pub fn grace_ms(&self) -> u64 {
        u64::try_from(self.grace_seconds())
            .unwrap_or(0)
            .saturating_mul(1000)
    }

    /// The grace period as the arithmetic of a finding shows it, with where it comes from:
    /// `30s (terminationGracePeriodSeconds: 30)`, or
    /// `30s (terminationGracePeriodSeconds unset, the default)`.
    pub fn describe_grace(&self) -> String {
        match self.grace_period {
            Some(g) => format!("{}s (terminationGracePeriodSeconds: {})", g.value, g.value),
            None => format!(
                "{}s (terminationGracePeriodSeconds unset, the default)",
                self.grace_seconds()
            ),
        }
    }
}

/// A container port named by number or by name, as in `targetPort` or a probe's `port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortRef {
    /// `8080`.
    Number(i64),
    /// `http`: a port a container declares under this name.
    Name(String),
}
