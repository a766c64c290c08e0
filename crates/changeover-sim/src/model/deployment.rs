//! The Deployment controller's arithmetic (`pkg/controller/deployment`): fenceposts, one sync of
//! a rolling update or a Recreate, and proportional scaling when the replica count changes
//! mid-rollout. Pure functions over [`Rs`] rows, so Kubernetes' own cases are unit tests.
//!
//! One call of [`sync`] is one sync of the controller and does at most one kind of action, as
//! the controller does: scale proportionally (a scaling event), else scale the new ReplicaSet
//! up, else scale old ones down. The caller syncs again until nothing changes.

use changeover_k8s::model::IntOrPercent;

use crate::spec::Strategy;

/// One ReplicaSet as the controller sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rs {
    /// `spec.replicas`.
    pub spec: i64,
    /// `status.availableReplicas`: pods not terminating, Ready for `minReadySeconds`.
    pub available: i64,
    /// Pods that still exist, terminating ones included (Recreate waits for them).
    pub pods: i64,
    /// The `deployment.kubernetes.io/desired-replicas` annotation.
    pub desired: i64,
    /// The `deployment.kubernetes.io/max-replicas` annotation.
    pub max: i64,
}

impl Rs {
    /// A ReplicaSet of `spec` replicas, all available, annotated for `replicas` and `max`.
    pub fn new(spec: i64, available: i64, desired: i64, max: i64) -> Rs {
        Rs {
            spec,
            available,
            pods: spec,
            desired,
            max,
        }
    }
}

/// `maxSurge` and `maxUnavailable` resolved against the replica count (`ResolveFenceposts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fenceposts {
    /// Pods allowed above the replica count (rounded up).
    pub surge: i64,
    /// Pods allowed to be unavailable (rounded down, at most the replica count).
    pub unavailable: i64,
}

/// Resolves the strategy's bounds for `replicas`: surge rounds up, unavailable rounds down,
/// both 0 makes unavailable 1; Recreate has neither.
///
/// ```
/// use changeover_k8s::model::IntOrPercent::{Int, Percent};
/// use changeover_sim::model::deployment::fenceposts;
/// use changeover_sim::spec::Strategy;
/// let f = fenceposts(&Strategy::RollingUpdate { max_surge: Percent(25), max_unavailable: Percent(25) }, 3);
/// assert_eq!((f.surge, f.unavailable), (1, 0));
/// let f = fenceposts(&Strategy::RollingUpdate { max_surge: Int(0), max_unavailable: Percent(10) }, 3);
/// assert_eq!((f.surge, f.unavailable), (0, 1));
/// ```
pub fn fenceposts(strategy: &Strategy, replicas: i64) -> Fenceposts {
    match strategy {
        Strategy::Recreate => Fenceposts {
            surge: 0,
            unavailable: 0,
        },
        Strategy::RollingUpdate {
            max_surge,
            max_unavailable,
        } => {
            let surge = scaled(*max_surge, replicas, true);
            let mut unavailable = scaled(*max_unavailable, replicas, false);
            if surge == 0 && unavailable == 0 {
                unavailable = 1;
            }
            let unavailable = if replicas == 0 {
                0
            } else {
                unavailable.min(replicas)
            };
            Fenceposts { surge, unavailable }
        }
    }
}

fn scaled(v: IntOrPercent, replicas: i64, round_up: bool) -> i64 {
    v.scaled(replicas, round_up).max(0)
}

/// One sync over `rss` (oldest first; the last is the new ReplicaSet, whose template the
/// Deployment now has). Returns `(index, from, to)` for each ReplicaSet it scaled.
pub fn sync(replicas: i64, strategy: &Strategy, rss: &mut [Rs]) -> Vec<(usize, i64, i64)> {
    let Some(new) = rss.len().checked_sub(1) else {
        return Vec::new();
    };
    let fp = fenceposts(strategy, replicas);
    if is_scaling_event(replicas, rss) {
        return scale(replicas, strategy, fp, rss, new);
    }
    match strategy {
        Strategy::Recreate => recreate(replicas, fp, rss, new),
        Strategy::RollingUpdate { .. } => {
            let up = reconcile_new(replicas, fp, rss, new);
            if !up.is_empty() {
                return up;
            }
            reconcile_old(replicas, fp, rss, new)
        }
    }
}

fn set(
    rss: &mut [Rs],
    i: usize,
    to: i64,
    replicas: i64,
    fp: Fenceposts,
) -> Option<(usize, i64, i64)> {
    let from = rss[i].spec;
    rss[i].spec = to;
    rss[i].desired = replicas;
    rss[i].max = replicas + fp.surge;
    (from != to).then_some((i, from, to))
}

fn total_spec(rss: &[Rs]) -> i64 {
    rss.iter().map(|r| r.spec).sum()
}

/// A scaling event: an active ReplicaSet was sized for another replica count.
fn is_scaling_event(replicas: i64, rss: &[Rs]) -> bool {
    rss.iter().any(|r| r.spec > 0 && r.desired != replicas)
}

/// `rolloutRecreate`: old ReplicaSets to 0; once no old pod exists, the new one to `replicas`.
fn recreate(replicas: i64, fp: Fenceposts, rss: &mut [Rs], new: usize) -> Vec<(usize, i64, i64)> {
    let active: Vec<usize> = (0..new).filter(|&i| rss[i].spec > 0).collect();
    let scaled: Vec<_> = active
        .into_iter()
        .filter_map(|i| set(rss, i, 0, replicas, fp))
        .collect();
    if !scaled.is_empty() || rss[..new].iter().any(|r| r.pods > 0) {
        return scaled;
    }
    set(rss, new, replicas, replicas, fp).into_iter().collect()
}

/// `reconcileNewReplicaSet`: grow the new ReplicaSet while the total stays within surge.
pub fn reconcile_new(
    replicas: i64,
    fp: Fenceposts,
    rss: &mut [Rs],
    new: usize,
) -> Vec<(usize, i64, i64)> {
    let spec = rss[new].spec;
    if spec == replicas {
        return Vec::new();
    }
    if spec > replicas {
        return set(rss, new, replicas, replicas, fp).into_iter().collect();
    }
    let max_total = replicas + fp.surge;
    let current = total_spec(rss);
    let to = if current >= max_total {
        spec
    } else {
        spec + (max_total - current).min(replicas - spec)
    };
    set(rss, new, to, replicas, fp).into_iter().collect()
}

/// `reconcileOldReplicaSets`: shrink old ReplicaSets, unhealthy pods first, while at least
/// `replicas - maxUnavailable` pods stay available.
pub fn reconcile_old(
    replicas: i64,
    fp: Fenceposts,
    rss: &mut [Rs],
    new: usize,
) -> Vec<(usize, i64, i64)> {
    let old_pods: i64 = rss[..new].iter().map(|r| r.spec).sum();
    if old_pods == 0 {
        return Vec::new();
    }
    let min_available = replicas - fp.unavailable;
    let new_unavailable = rss[new].spec - rss[new].available;
    let max_scaled_down = total_spec(rss) - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return Vec::new();
    }
    let mut changes = Vec::new();
    // cleanupUnhealthyReplicas: the unavailable part of old ReplicaSets, oldest first.
    let mut cleaned = 0;
    for i in 0..new {
        if cleaned >= max_scaled_down {
            break;
        }
        let r = rss[i];
        if r.spec == 0 || r.spec == r.available {
            continue;
        }
        let k = (max_scaled_down - cleaned).min(r.spec - r.available);
        changes.extend(set(rss, i, r.spec - k, replicas, fp));
        cleaned += k;
    }
    // scaleDownOldReplicaSetsForRollingUpdate: available pods above the minimum, oldest first.
    let available: i64 = rss.iter().map(|r| r.available).sum();
    if available > min_available {
        let budget = available - min_available;
        let mut done = 0;
        for i in 0..new {
            if done >= budget {
                break;
            }
            let spec = rss[i].spec;
            if spec == 0 {
                continue;
            }
            let k = spec.min(budget - done);
            changes.extend(set(rss, i, spec - k, replicas, fp));
            done += k;
        }
    }
    changes
}

/// `scale`: the replica count changed; spread the difference over the active ReplicaSets in
/// proportion to their size (rolling update), or give it all to the only active one.
fn scale(
    replicas: i64,
    strategy: &Strategy,
    fp: Fenceposts,
    rss: &mut [Rs],
    new: usize,
) -> Vec<(usize, i64, i64)> {
    let active: Vec<usize> = (0..rss.len()).filter(|&i| rss[i].spec > 0).collect();
    if active.len() <= 1 {
        let target = active.first().copied().unwrap_or(new);
        return set(rss, target, replicas, replicas, fp)
            .into_iter()
            .collect();
    }
    let saturated =
        rss[new].spec == replicas && rss[new].desired == replicas && rss[new].available == replicas;
    if saturated {
        return (0..new)
            .filter_map(|i| set(rss, i, 0, replicas, fp))
            .collect();
    }
    if *strategy == Strategy::Recreate {
        return Vec::new();
    }
    let allowed = if replicas > 0 { replicas + fp.surge } else { 0 };
    let to_add = allowed - active.iter().map(|&i| rss[i].spec).sum::<i64>();
    let mut order = active;
    // Larger first; on a tie newer first when growing, older first when shrinking.
    order.sort_by(|&a, &b| {
        rss[b]
            .spec
            .cmp(&rss[a].spec)
            .then(if to_add > 0 { b.cmp(&a) } else { a.cmp(&b) })
    });
    let mut added = 0;
    let mut sizes: Vec<(usize, i64)> = Vec::new();
    for &i in &order {
        let r = rss[i];
        let proportion = if to_add == 0 || to_add == added {
            0
        } else {
            let fraction = if replicas == 0 {
                -r.spec
            } else {
                let annotated = if r.max > 0 { r.max } else { total_spec(rss) };
                round_half_away(r.spec * (replicas + fp.surge), annotated) - r.spec
            };
            let allowed = to_add - added;
            if to_add > 0 {
                fraction.min(allowed)
            } else {
                fraction.max(allowed)
            }
        };
        sizes.push((i, r.spec + proportion));
        added += proportion;
    }
    if let Some(first) = sizes.first_mut() {
        first.1 = (first.1 + to_add - added).max(0);
    }
    sizes
        .into_iter()
        .filter_map(|(i, to)| set(rss, i, to, replicas, fp))
        .collect()
}

/// `a / b` rounded half away from zero, as Go's `math.Round` does.
fn round_half_away(a: i64, b: i64) -> i64 {
    if b == 0 {
        return 0;
    }
    let q = a as f64 / b as f64;
    q.round() as i64
}

#[cfg(test)]
mod tests;
