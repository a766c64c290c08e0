//! A HorizontalPodAutoscaler: its scale target and its minimum and maximum replica counts.

use super::fields::{Fields, Result};
use crate::model::autoscaler::Autoscaler;
use crate::model::meta::Meta;
use crate::yaml::Node;

/// The autoscaler whose `spec` is `spec`.
pub(super) fn autoscaler(f: &Fields<'_>, meta: Meta, spec: Option<&Node>) -> Result<Autoscaler> {
    let target = spec
        .map(|s| f.map(s, "spec", "scaleTargetRef"))
        .transpose()?
        .flatten();
    let field = |key: &str| -> Result<String> {
        Ok(target
            .map(|t| f.string(t, "spec.scaleTargetRef", key))
            .transpose()?
            .flatten()
            .map(|a| a.value)
            .unwrap_or_default())
    };
    let min_replicas = spec
        .map(|s| f.int(s, "spec", "minReplicas"))
        .transpose()?
        .flatten()
        .map_or(1, |a| a.value);
    let max_replicas = spec
        .map(|s| f.int(s, "spec", "maxReplicas"))
        .transpose()?
        .flatten()
        .map(|a| a.value);
    Ok(Autoscaler {
        meta,
        target_kind: field("kind")?,
        target_name: field("name")?,
        min_replicas,
        max_replicas,
    })
}
