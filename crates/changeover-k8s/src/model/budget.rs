//! A PodDisruptionBudget, and the `disruptionsAllowed` the disruption controller computes from it.

use super::Located;
use super::int_or_percent::IntOrPercent;
use super::meta::Meta;
use super::selector::LabelSelector;

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
