//! The Eviction API's answer (`pkg/registry/core/pod/storage/eviction.go`) for a pod under a
//! PodDisruptionBudget, computed from the pods as the disruption controller counts them.
//!
//! Healthy pods are the Ready ones without a deletion timestamp. `desiredHealthy` comes from
//! `minAvailable`, or from the expected count minus `maxUnavailable`; percentages of the
//! expected count (the Deployment's replicas) round up in both. An eviction of a healthy pod is
//! allowed while `healthy − desiredHealthy > 0`. A pod that is Pending, or already terminating,
//! is evicted without asking the budget; a Running pod that is not Ready is evicted when the
//! budget is met (`IfHealthyBudget`, the default) or always (`AlwaysAllow`).

use crate::spec::BudgetSpec;

/// The budget's verdict on one eviction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// 200: the pod is deleted.
    Allowed,
    /// 429: evicting it would violate the budget; `kubectl drain` retries in 5 s.
    Refused {
        /// Healthy pods now.
        healthy: i64,
        /// Healthy pods the budget wants.
        desired: i64,
    },
}

/// What the budget needs to know about the pod being evicted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodState {
    /// Its container has not started.
    Pending,
    /// It already has a deletion timestamp.
    Terminating,
    /// Running and Ready.
    Healthy,
    /// Running, not Ready.
    Unhealthy,
}

/// `desiredHealthy` for `expected` pods.
///
/// ```
/// use changeover_k8s::model::IntOrPercent::Percent;
/// use changeover_sim::model::disruption::desired_healthy;
/// use changeover_sim::spec::BudgetSpec;
/// let b = BudgetSpec { name: "b".into(), min_available: None, max_unavailable: Some(Percent(10)), always_allow_unhealthy: false };
/// assert_eq!(desired_healthy(&b, 3), 2); // 10% of 3 rounds up to 1 unavailable
/// ```
pub fn desired_healthy(budget: &BudgetSpec, expected: i64) -> i64 {
    if let Some(max) = budget.max_unavailable {
        (expected - max.scaled(expected, true)).max(0)
    } else if let Some(min) = budget.min_available {
        min.scaled(expected, true)
    } else {
        // Neither set: the API rejects such a budget; treat it as allowing everything.
        0
    }
}

/// The answer to evicting a pod in `state` when `healthy` pods are healthy.
pub fn evict(budget: &BudgetSpec, expected: i64, healthy: i64, state: PodState) -> Verdict {
    let desired = desired_healthy(budget, expected);
    let allowed = match state {
        PodState::Pending | PodState::Terminating => true,
        PodState::Unhealthy => budget.always_allow_unhealthy || healthy >= desired,
        PodState::Healthy => healthy - desired > 0,
    };
    if allowed {
        Verdict::Allowed
    } else {
        Verdict::Refused { healthy, desired }
    }
}

#[cfg(test)]
mod tests {
    use changeover_k8s::model::IntOrPercent::{Int, Percent};

    use super::*;

    fn budget(min: Option<i64>, max: Option<i64>) -> BudgetSpec {
        BudgetSpec {
            name: "PodDisruptionBudget/default/web".into(),
            min_available: min.map(Int),
            max_unavailable: max.map(Int),
            always_allow_unhealthy: false,
        }
    }

    #[test]
    fn max_unavailable_1_allows_one_at_a_time() {
        let b = budget(None, Some(1));
        assert_eq!(evict(&b, 3, 3, PodState::Healthy), Verdict::Allowed);
        assert_eq!(
            evict(&b, 3, 2, PodState::Healthy),
            Verdict::Refused {
                healthy: 2,
                desired: 2
            }
        );
        assert_eq!(evict(&b, 3, 2, PodState::Terminating), Verdict::Allowed);
        assert_eq!(evict(&b, 3, 0, PodState::Pending), Verdict::Allowed);
    }

    #[test]
    fn percentages_round_up_and_unhealthy_pods_follow_the_policy() {
        let mut b = budget(None, None);
        b.min_available = Some(Percent(50));
        assert_eq!(desired_healthy(&b, 3), 2);
        assert_eq!(
            evict(&b, 3, 2, PodState::Healthy),
            Verdict::Refused {
                healthy: 2,
                desired: 2
            }
        );
        assert_eq!(
            evict(&b, 3, 2, PodState::Unhealthy),
            Verdict::Allowed,
            "budget met"
        );
        assert_ne!(evict(&b, 3, 1, PodState::Unhealthy), Verdict::Allowed);
        b.always_allow_unhealthy = true;
        assert_eq!(evict(&b, 3, 1, PodState::Unhealthy), Verdict::Allowed);
        let b = budget(Some(3), None);
        assert_ne!(
            evict(&b, 3, 3, PodState::Healthy),
            Verdict::Allowed,
            "minAvailable = all"
        );
    }
}
