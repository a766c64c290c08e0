//! Which pods a ReplicaSet deletes first when it has too many (`ActivePodsWithRanks` in
//! `pkg/controller/controller_utils.go`, with `LogarithmicScaleDown`).
//!
//! The first rule that tells two pods apart decides: a pod whose container has not started
//! (Pending) before a running one; not Ready before Ready; both Ready: the one Ready more
//! recently first, compared in buckets of floor(log2(nanoseconds since)); more container
//! restarts first; the newer first, compared in the same buckets of age; then by UID.
//! Timestamps are whole seconds, as the API server stores them. All pods share one node
//! here, so the rules about scheduling and co-located pods never decide.

use std::cmp::Ordering;

use super::Ms;

/// What the ranking reads of one pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// The caller's handle for the pod.
    pub id: usize,
    /// Whether its container is running (else the pod is Pending).
    pub running: bool,
    /// Its Ready condition.
    pub ready: bool,
    /// When it last turned Ready.
    pub ready_since: Option<Ms>,
    /// Container restarts.
    pub restarts: u32,
    /// When it was created.
    pub created: Ms,
    /// Its UID, the last tie-break.
    pub uid: u64,
}

/// Sorts `pods` so that the ones to delete first come first.
pub fn deletion_order(pods: &mut [Candidate], now: Ms) {
    pods.sort_by(|a, b| compare(a, b, now));
}

/// floor(log2(now − t)) in nanoseconds, with `t` truncated to whole seconds; -1 when `t` is
/// not in the past.
fn bucket(t: Ms, now: Ms) -> i64 {
    let t = t / 1000 * 1000;
    let ns = u128::from(now.saturating_sub(t)) * 1_000_000;
    if ns == 0 {
        -1
    } else {
        i64::from(127 - ns.leading_zeros() as i32)
    }
}

fn compare(a: &Candidate, b: &Candidate, now: Ms) -> Ordering {
    // Pending before Running.
    if a.running != b.running {
        return a.running.cmp(&b.running);
    }
    // Not ready before ready.
    if a.ready != b.ready {
        return a.ready.cmp(&b.ready);
    }
    // Both ready: the one ready more recently first (a smaller bucket of time since).
    if let (true, Some(ra), Some(rb)) = (a.ready, a.ready_since, b.ready_since) {
        if ra / 1000 != rb / 1000 {
            let diff = bucket(ra, now).cmp(&bucket(rb, now));
            if diff != Ordering::Equal {
                return diff;
            }
        }
    }
    // More restarts first.
    if a.restarts != b.restarts {
        return b.restarts.cmp(&a.restarts);
    }
    // Newer first (a smaller bucket of age), then by UID.
    if a.created / 1000 != b.created / 1000 {
        let diff = bucket(a.created, now).cmp(&bucket(b.created, now));
        if diff != Ordering::Equal {
            return diff;
        }
    }
    a.uid.cmp(&b.uid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(id: usize, ready_since: Option<Ms>, created: Ms) -> Candidate {
        Candidate {
            id,
            running: true,
            ready: ready_since.is_some(),
            ready_since,
            restarts: 0,
            created,
            uid: id as u64,
        }
    }

    fn order(mut pods: Vec<Candidate>, now: Ms) -> Vec<usize> {
        deletion_order(&mut pods, now);
        pods.iter().map(|p| p.id).collect()
    }

    #[test]
    fn pending_then_unready_then_recently_ready() {
        let now = 100_000;
        let mut pending = pod(3, None, 0);
        pending.running = false;
        let pods = vec![
            pod(0, Some(1_000), 0),  // ready 99 s ago
            pod(1, Some(90_000), 0), // ready 10 s ago
            pod(2, None, 0),         // not ready
            pending,
        ];
        assert_eq!(order(pods, now), [3, 2, 1, 0]);
    }

    #[test]
    fn same_bucket_falls_through_to_restarts_then_age_then_uid() {
        let now = 100_000;
        // Ready 40 s and 50 s ago: both in the 2^35 ns bucket, so readiness does not decide.
        let mut a = pod(0, Some(60_000), 0);
        let b = pod(1, Some(50_000), 0);
        assert_eq!(order(vec![a, b], now), [0, 1], "same bucket and age: UID");
        a.restarts = 0;
        let mut c = b;
        c.restarts = 2;
        assert_eq!(order(vec![a, c], now), [1, 0], "more restarts first");
        // Created 1 s and 90 s ago: the newer goes first.
        let d = pod(5, None, 99_000);
        let e = pod(4, None, 10_000);
        assert_eq!(order(vec![e, d], now), [5, 4]);
    }
}
