//! Kubernetes' own cases for the Deployment controller (A9 of the termination notes), run sync
//! by sync as the controller would, with pods following the ReplicaSets' sizes at once.

use changeover_k8s::model::IntOrPercent::{Int, Percent};

use super::*;

fn rolling(surge: i64, unavailable: i64) -> Strategy {
    Strategy::RollingUpdate {
        max_surge: Int(surge),
        max_unavailable: Int(unavailable),
    }
}

/// Syncs until nothing changes. After each sync, a ReplicaSet's pods follow its size: a
/// shrunk one loses available pods at once (they terminate), a grown one gains pods that are
/// available only when `ready(index)` says new pods get ready.
fn settle(replicas: i64, strategy: &Strategy, rss: &mut [Rs], ready: impl Fn(usize) -> bool) {
    for _ in 0..100 {
        let changes = sync(replicas, strategy, rss);
        if changes.is_empty() {
            return;
        }
        for r in rss.iter_mut().enumerate() {
            let (i, r) = r;
            r.pods = r.spec;
            r.available = if ready(i) {
                r.spec
            } else {
                r.available.min(r.spec)
            };
        }
    }
    panic!("the controller did not settle: {rss:?}");
}

fn specs(rss: &[Rs]) -> Vec<i64> {
    rss.iter().map(|r| r.spec).collect()
}

#[test]
fn fenceposts_round_surge_up_and_unavailable_down() {
    let f = fenceposts(
        &Strategy::RollingUpdate {
            max_surge: Percent(25),
            max_unavailable: Percent(25),
        },
        10,
    );
    assert_eq!((f.surge, f.unavailable), (3, 2));
    let f = fenceposts(&rolling(0, 0), 5);
    assert_eq!(
        (f.surge, f.unavailable),
        (0, 1),
        "both 0: unavailable becomes 1"
    );
    let f = fenceposts(&rolling(1, 9), 3);
    assert_eq!(f.unavailable, 3, "at most the replica count");
    let f = fenceposts(&Strategy::Recreate, 3);
    assert_eq!((f.surge, f.unavailable), (0, 0));
}

#[test]
fn new_pods_never_ready_stop_at_old_8_new_5_then_scale_proportionally_to_20_and_13() {
    // R = 10, surge 3, unavailable 2, the new image never gets ready.
    let s = rolling(3, 2);
    let mut rss = vec![Rs::new(10, 10, 10, 13), Rs::new(0, 0, 10, 13)];
    settle(10, &s, &mut rss, |i| i == 0);
    assert_eq!(specs(&rss), [8, 5]);
    // The Deployment is scaled to 30 mid-rollout: 20 more pods, shared in proportion.
    let changes = sync(30, &s, &mut rss);
    assert_eq!(specs(&rss), [20, 13], "{changes:?}");
    assert!(rss.iter().all(|r| r.desired == 30 && r.max == 33));
}

#[test]
fn unavailable_0_with_all_ready_scales_old_to_9() {
    let s = rolling(1, 0);
    let mut rss = vec![Rs::new(10, 10, 10, 11), Rs::new(0, 0, 10, 11)];
    assert_eq!(sync(10, &s, &mut rss), [(1, 0, 1)]);
    rss[1].available = 1;
    assert_eq!(sync(10, &s, &mut rss), [(0, 10, 9)]);
}

#[test]
fn unavailable_2_with_old_8_and_new_2_unready_scales_nothing_down() {
    let s = rolling(3, 2);
    let mut rss = vec![Rs::new(8, 8, 10, 13), Rs::new(2, 0, 10, 13)];
    let fp = fenceposts(&s, 10);
    assert!(reconcile_old(10, fp, &mut rss, 1).is_empty());
    assert_eq!(specs(&rss), [8, 2]);
}

#[test]
fn unhealthy_old_pods_go_first() {
    // Old has 10 pods of which 3 are unavailable; with surge 0 and unavailable 3 the controller
    // may take 3 pods away, and takes the 3 unhealthy ones, keeping 7 available.
    let s = rolling(0, 3);
    let mut rss = vec![Rs::new(10, 7, 10, 10), Rs::new(0, 0, 10, 10)];
    let fp = fenceposts(&s, 10);
    assert_eq!(reconcile_old(10, fp, &mut rss, 1), [(0, 10, 7)]);
}

#[test]
fn a_full_rollout_ends_with_the_new_replicaset_alone() {
    let s = rolling(1, 0);
    let mut rss = vec![Rs::new(3, 3, 3, 4), Rs::new(0, 0, 3, 4)];
    settle(3, &s, &mut rss, |_| true);
    assert_eq!(specs(&rss), [0, 3]);
}

#[test]
fn recreate_waits_for_every_old_pod() {
    let s = Strategy::Recreate;
    let mut rss = vec![Rs::new(3, 3, 3, 3), Rs::new(0, 0, 3, 3)];
    assert_eq!(sync(3, &s, &mut rss), [(0, 3, 0)]);
    assert!(sync(3, &s, &mut rss).is_empty(), "old pods still exist");
    rss[0].pods = 1;
    assert!(
        sync(3, &s, &mut rss).is_empty(),
        "one old pod still terminating"
    );
    rss[0].pods = 0;
    rss[0].available = 0;
    assert_eq!(sync(3, &s, &mut rss), [(1, 0, 3)]);
}
