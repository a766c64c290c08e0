//! A HorizontalPodAutoscaler: the workload it scales and between which counts.

use super::meta::Meta;

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
