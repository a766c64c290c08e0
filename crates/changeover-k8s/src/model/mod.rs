//! The part of the Kubernetes object model that graceful termination depends on.
//!
//! Only the fields the rules read are kept; everything else in a manifest is ignored. Defaults are
//! applied where Kubernetes applies them (replicas 1, namespace `default`, grace 30 s, rolling
//! update 25 %/25 %) so that every rule reads one value and explains it.

mod extract;
mod selector;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

pub use extract::{Extracted, IGNORE_ANNOTATION, InvalidField, objects_from_document};
pub use selector::{LabelSelector, Operator, Requirement};

use crate::yaml::Node;

/// The kinds of object changeover reads; every other kind is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `apps/v1` Deployment.
    Deployment,
    /// `apps/v1` StatefulSet.
    StatefulSet,
    /// `apps/v1` DaemonSet.
    DaemonSet,
    /// `apps/v1` ReplicaSet.
    ReplicaSet,
    /// `v1` ReplicationController.
    ReplicationController,
    /// `batch/v1` Job.
    Job,
    /// `batch/v1` CronJob.
    CronJob,
    /// `v1` Pod.
    Pod,
    /// `v1` Service.
    Service,
    /// `policy/v1` PodDisruptionBudget.
    PodDisruptionBudget,
    /// `autoscaling` HorizontalPodAutoscaler.
    HorizontalPodAutoscaler,
}

impl Kind {
    /// The kind as written in a manifest, if it is one changeover reads.
    pub fn from_name(name: &str) -> Option<Kind> {
        Some(match name {
            "Deployment" => Kind::Deployment,
            "StatefulSet" => Kind::StatefulSet,
            "DaemonSet" => Kind::DaemonSet,
            "ReplicaSet" => Kind::ReplicaSet,
            "ReplicationController" => Kind::ReplicationController,
            "Job" => Kind::Job,
            "CronJob" => Kind::CronJob,
            "Pod" => Kind::Pod,
            "Service" => Kind::Service,
            "PodDisruptionBudget" => Kind::PodDisruptionBudget,
            "HorizontalPodAutoscaler" => Kind::HorizontalPodAutoscaler,
            _ => return None,
        })
    }

    /// The kind as written in a manifest.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Deployment => "Deployment",
            Kind::StatefulSet => "StatefulSet",
            Kind::DaemonSet => "DaemonSet",
            Kind::ReplicaSet => "ReplicaSet",
            Kind::ReplicationController => "ReplicationController",
            Kind::Job => "Job",
            Kind::CronJob => "CronJob",
            Kind::Pod => "Pod",
            Kind::Service => "Service",
            Kind::PodDisruptionBudget => "PodDisruptionBudget",
            Kind::HorizontalPodAutoscaler => "HorizontalPodAutoscaler",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Identity and provenance of an object.
#[derive(Debug, Clone)]
pub struct Meta {
    /// The object's kind.
    pub kind: Kind,
    /// The `apiVersion` as written (empty when missing).
    pub api_version: String,
    /// `metadata.name` (or `generateName`, or `<unnamed>`).
    pub name: String,
    /// `metadata.namespace`, `default` when unset.
    pub namespace: String,
    /// The input the object came from.
    pub file: Arc<str>,
    /// The line where the object starts.
    pub line: usize,
    /// Rules named in the `changeover.lint/ignore` annotation.
    pub ignored_rules: Vec<String>,
}

impl Meta {
    /// `Kind/namespace/name`, the way findings name an object.
    pub fn reference(&self) -> String {
        format!("{}/{}/{}", self.kind, self.namespace, self.name)
    }

    /// Whether the object's annotation exempts it from `rule`.
    pub fn ignores(&self, rule: &str) -> bool {
        self.ignored_rules.iter().any(|r| r == rule)
    }
}

/// An integer or a percentage, as in `maxUnavailable: 1` or `minAvailable: "50%"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntOrPercent {
    /// An absolute count.
    Int(i64),
    /// A percentage of the replica count.
    Percent(i64),
}

impl IntOrPercent {
    /// The count at `replicas`, a percentage rounded up or down.
    ///
    /// ```
    /// use changeover_k8s::model::IntOrPercent;
    /// assert_eq!(IntOrPercent::Percent(25).scaled(3, true), 1);
    /// assert_eq!(IntOrPercent::Percent(25).scaled(3, false), 0);
    /// assert_eq!(IntOrPercent::Int(2).scaled(3, false), 2);
    /// ```
    pub fn scaled(self, replicas: i64, round_up: bool) -> i64 {
        match self {
            IntOrPercent::Int(n) => n,
            IntOrPercent::Percent(p) => {
                let product = p.saturating_mul(replicas);
                if round_up {
                    product.div_euclid(100) + i64::from(product.rem_euclid(100) != 0)
                } else {
                    product.div_euclid(100)
                }
            }
        }
    }

    /// How the scaled value was computed, for the arithmetic shown with a finding.
    ///
    /// ```
    /// use changeover_k8s::model::IntOrPercent;
    /// assert_eq!(IntOrPercent::Percent(50).explain(3, true), "50% of 3 = 1.5, rounded up to 2");
    /// assert_eq!(IntOrPercent::Percent(50).explain(4, true), "50% of 4 = 2");
    /// assert_eq!(IntOrPercent::Int(1).explain(4, true), "1");
    /// ```
    pub fn explain(self, replicas: i64, round_up: bool) -> String {
        match self {
            IntOrPercent::Int(n) => n.to_string(),
            IntOrPercent::Percent(p) => {
                let product = p.saturating_mul(replicas);
                let value = self.scaled(replicas, round_up);
                if product % 100 == 0 {
                    format!("{p}% of {replicas} = {value}")
                } else {
                    let direction = if round_up { "up" } else { "down" };
                    let whole = product / 100;
                    let frac = product % 100;
                    let exact = if frac % 10 == 0 {
                        format!("{whole}.{}", frac / 10)
                    } else {
                        format!("{whole}.{frac:02}")
                    };
                    format!("{p}% of {replicas} = {exact}, rounded {direction} to {value}")
                }
            }
        }
    }
}

impl fmt::Display for IntOrPercent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntOrPercent::Int(n) => write!(f, "{n}"),
            IntOrPercent::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// A value read from a manifest together with the line it was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Located<T> {
    /// The value.
    pub value: T,
    /// The line of its key.
    pub line: usize,
}

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

/// A Deployment's update strategy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Strategy {
    /// `type: Recreate`: every old pod stops before a new one starts.
    Recreate {
        /// The line of `strategy`.
        line: usize,
    },
    /// `type: RollingUpdate` (the default).
    RollingUpdate {
        /// `maxUnavailable`, 25 % when unset.
        max_unavailable: IntOrPercent,
        /// `maxSurge`, 25 % when unset.
        max_surge: IntOrPercent,
        /// The line of `maxUnavailable`, or of `strategy`, or of the spec.
        line: usize,
    },
}

/// Kubernetes' default `maxUnavailable` and `maxSurge` for a Deployment.
pub const DEFAULT_ROLLING_PERCENT: IntOrPercent = IntOrPercent::Percent(25);

/// Something that creates pods: Deployment, StatefulSet, DaemonSet, ReplicaSet, or a bare Pod.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Identity.
    pub meta: Meta,
    /// `spec.replicas` with its default of 1; `None` when the count is not the workload's to say
    /// (a DaemonSet runs one pod per node, a Job or CronJob as many as it is running). A Pod is 1.
    pub replicas: Option<Located<i64>>,
    /// Whether `spec.replicas` was written (not defaulted).
    pub replicas_set: bool,
    /// A Deployment's strategy; `None` for other kinds.
    pub strategy: Option<Strategy>,
    /// The pod it creates.
    pub template: PodTemplate,
}

/// A Service.
#[derive(Debug, Clone)]
pub struct Service {
    /// Identity.
    pub meta: Meta,
    /// `spec.selector`; `None` or empty when the Service has no selector (manual endpoints).
    pub selector: BTreeMap<String, String>,
    /// The line of `selector` (or of the object).
    pub selector_line: usize,
    /// `type: ExternalName`, which routes to no pod.
    pub external_name: bool,
    /// `clusterIP: None`: clients get the pods' addresses from DNS and pick one themselves.
    pub headless: bool,
    /// `spec.ports`.
    pub ports: Vec<ServicePort>,
}

/// One entry of a Service's `ports`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    /// `name`.
    pub name: Option<String>,
    /// `port`.
    pub port: Option<i64>,
    /// `targetPort`, which defaults to `port`.
    pub target: Option<PortRef>,
}

/// A container port named by number or by name, as in `targetPort` or a probe's `port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortRef {
    /// `8080`.
    Number(i64),
    /// `http`: a port a container declares under this name.
    Name(String),
}

impl ServicePort {
    /// Whether this port carries metrics scrapes rather than traffic: its name is `metrics`, or
    /// ends in `-metrics` or starts with `metrics-` (`http-metrics`, `metrics-tls`). A missed
    /// scrape is not a dropped request, so such ports are left out of the traffic rules.
    pub fn is_metrics(&self) -> bool {
        self.name.as_deref().is_some_and(|n| {
            let n = n.to_ascii_lowercase();
            n == "metrics" || n.ends_with("-metrics") || n.starts_with("metrics-")
        })
    }
}

impl Service {
    /// Whether every port of the Service carries metrics scrapes only (see
    /// [`ServicePort::is_metrics`]); a Service without ports is not one.
    pub fn metrics_only(&self) -> bool {
        !self.ports.is_empty() && self.ports.iter().all(ServicePort::is_metrics)
    }
}

/// A PodDisruptionBudget.
#[derive(Debug, Clone)]
pub struct Budget {
    /// Identity.
    pub meta: Meta,
    /// `spec.selector`; `None` when absent (which selects no pod).
    pub selector: Option<Located<LabelSelector>>,
    /// `spec.minAvailable`.
    pub min_available: Option<Located<IntOrPercent>>,
    /// `spec.maxUnavailable`.
    pub max_unavailable: Option<Located<IntOrPercent>>,
    /// `spec.unhealthyPodEvictionPolicy`.
    pub unhealthy_pod_eviction_policy: Option<Located<String>>,
}

impl Budget {
    /// `policy/v1beta1`, where an empty selector matched nothing instead of everything.
    pub fn is_v1beta1(&self) -> bool {
        self.meta.api_version == "policy/v1beta1"
    }

    /// The `disruptionsAllowed` the disruption controller computes when `replicas` pods are
    /// expected and all are healthy, and how: both `minAvailable` and `maxUnavailable`
    /// percentages round up; with neither set, every pod may be evicted.
    ///
    /// ```
    /// use changeover_k8s::model::{Located, Budget, IntOrPercent, Kind, Meta};
    /// let meta = Meta {
    ///     kind: Kind::PodDisruptionBudget,
    ///     api_version: "policy/v1".into(),
    ///     name: "web".into(),
    ///     namespace: "default".into(),
    ///     file: "b.yaml".into(),
    ///     line: 1,
    ///     ignored_rules: vec![],
    /// };
    /// let budget = Budget {
    ///     meta,
    ///     selector: None,
    ///     min_available: Some(Located { value: IntOrPercent::Percent(50), line: 5 }),
    ///     max_unavailable: None,
    ///     unhealthy_pod_eviction_policy: None,
    /// };
    /// let (allowed, how) = budget.disruptions_allowed(1);
    /// assert_eq!(allowed, 0);
    /// assert_eq!(how, "minAvailable 50% of 1 = 0.5, rounded up to 1 ⇒ disruptionsAllowed = 1 − 1 = 0");
    /// ```
    pub fn disruptions_allowed(&self, replicas: i64) -> (i64, String) {
        if let Some(max) = self.max_unavailable {
            let unavailable = max.value.scaled(replicas, true);
            let allowed = unavailable.clamp(0, replicas.max(0));
            let how = format!(
                "maxUnavailable {} ⇒ disruptionsAllowed = {allowed}",
                max.value.explain(replicas, true)
            );
            (allowed, how)
        } else if let Some(min) = self.min_available {
            let desired = min.value.scaled(replicas, true);
            let allowed = (replicas - desired).max(0);
            let floor = if replicas - desired < 0 {
                format!("max(0, {replicas} − {desired})")
            } else {
                format!("{replicas} − {desired}")
            };
            let how = format!(
                "minAvailable {} ⇒ disruptionsAllowed = {floor} = {allowed}",
                min.value.explain(replicas, true)
            );
            (allowed, how)
        } else {
            let allowed = replicas.max(0);
            (
                allowed,
                format!("neither minAvailable nor maxUnavailable ⇒ disruptionsAllowed = {allowed}"),
            )
        }
    }
}

/// A HorizontalPodAutoscaler.
#[derive(Debug, Clone)]
pub struct Autoscaler {
    /// Identity.
    pub meta: Meta,
    /// `spec.scaleTargetRef.kind`.
    pub target_kind: String,
    /// `spec.scaleTargetRef.name`.
    pub target_name: String,
    /// `spec.minReplicas`, 1 when unset.
    pub min_replicas: i64,
    /// `spec.maxReplicas`.
    pub max_replicas: Option<i64>,
}

/// Pods the lint cannot see the spec of, but that Services and budgets may select: those an
/// operator creates from a custom resource in the input (a `Prometheus`, an `Alertmanager`, an
/// Argo `Rollout`), and those of a workload that could not be read for one bad field.
#[derive(Debug, Clone)]
pub struct ForeignPods {
    /// `Kind/namespace/name` of the object the pods come from.
    pub reference: String,
    /// Its namespace (`default` when unset).
    pub namespace: String,
    /// The labels its pods carry, as far as the input shows them.
    pub labels: BTreeMap<String, String>,
    /// How many pods, when the object says (`spec.replicas`).
    pub replicas: Option<i64>,
    /// Why the pods cannot be seen, e.g. `created by an operator from Prometheus/monitoring/k8s`.
    pub origin: String,
}

/// One object read from a manifest.
#[derive(Debug, Clone)]
pub enum Object {
    /// Something that creates pods.
    Workload(Workload),
    /// A Service.
    Service(Service),
    /// A PodDisruptionBudget.
    Budget(Budget),
    /// A HorizontalPodAutoscaler.
    Autoscaler(Autoscaler),
}

impl Object {
    /// Identity of the object.
    pub fn meta(&self) -> &Meta {
        match self {
            Object::Workload(w) => &w.meta,
            Object::Service(s) => &s.meta,
            Object::Budget(b) => &b.meta,
            Object::Autoscaler(a) => &a.meta,
        }
    }
}
