//! What creates pods: a workload with its replica count and update strategy, and the pods the lint
//! cannot see the spec of.

use std::collections::BTreeMap;

use super::Located;
use super::int_or_percent::IntOrPercent;
use super::meta::Meta;
use super::pod::PodTemplate;

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
