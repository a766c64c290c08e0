//! Which object it is and where it comes from: its kind, name, namespace, input and line.

use std::fmt;
use std::sync::Arc;

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
