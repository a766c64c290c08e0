//! Contract: with a stop delay that covers kube-proxy's lag (a 2 s preStop sleep against a lag of
//! at most 1 s), a delete, a drain and a rollout each fail no request; the event log shows a
//! rollout within maxSurge and maxUnavailable and a drain within its budget. `changeover run` with
//! `changeover prestop` as the preStop hook works as the pod's command.

use std::collections::BTreeSet;

use crate::harness::{GENTLE, Manifest, assert_nothing_failed, events, hello, json, replay, sim};
use crate::support::{changeover, example, show};

#[tokio::test]
async fn delete_with_a_2s_prestop_sleep_fails_nothing() {
    let m = Manifest::default().yaml();
    let out = sim(
        &m,
        &[&GENTLE[..], &["--scenario", "delete", "--json"]].concat(),
        &hello(),
    )
    .await;
    let report = json(&out);
    assert_nothing_failed(&out, &report);
    assert_eq!(report["min_available"], 2);
}

#[tokio::test]
async fn rollout_with_a_2s_prestop_sleep_fails_nothing_and_keeps_within_surge_and_unavailable() {
    // 4 replicas, maxSurge 1, maxUnavailable 1: at least 3 available, at most 5 not terminating.
    let m = Manifest {
        replicas: 4,
        rolling: Some((1, 1)),
        ..Manifest::default()
    }
    .yaml();
    let out = sim(
        &m,
        &[&GENTLE[..], &["--scenario", "rollout", "--json"]].concat(),
        &hello(),
    )
    .await;
    let report = json(&out);
    assert_nothing_failed(&out, &report);
    let (min_available, _, max_live) = replay(&report, 4);
    assert!(
        min_available >= 3,
        "{min_available} available:\n{}",
        show(&out)
    );
    assert!(
        max_live <= 5,
        "{max_live} pods not terminating:\n{}",
        show(&out)
    );
    let revisions: BTreeSet<u64> = report["pods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["revision"].as_u64().unwrap())
        .collect();
    assert_eq!(revisions, BTreeSet::from([1, 2]));
}

#[tokio::test]
async fn drain_with_a_2s_prestop_sleep_fails_nothing_and_keeps_within_the_budget() {
    // One connection per request: every request is routed anew while pods come and go.
    let m = Manifest {
        replicas: 2,
        budget: true,
        ..Manifest::default()
    }
    .yaml();
    let out = sim(
        &m,
        &[
            &GENTLE[..],
            &["--scenario", "drain", "--no-keepalive", "--json"],
        ]
        .concat(),
        &hello(),
    )
    .await;
    let report = json(&out);
    assert_nothing_failed(&out, &report);
    // maxUnavailable 1: never more than one of the 2 pods disrupted at once.
    let (_, min_healthy, _) = replay(&report, 2);
    assert!(min_healthy >= 1, "{}", show(&out));
    let refused = events(&report)
        .iter()
        .filter(|e| e.2 == "eviction_refused")
        .count();
    assert!(
        refused >= 1,
        "the budget refused the second eviction at first:\n{}",
        show(&out)
    );
}

#[tokio::test]
async fn changeover_run_with_changeover_prestop_as_the_hook_fails_nothing() {
    // Each pod's own XDG_RUNTIME_DIR gives each `changeover run` its own control socket, which
    // the hook `changeover prestop` (found in PATH: the sim's own binary) reaches.
    let m = Manifest {
        replicas: 2,
        pre_stop: "exec: {command: [changeover, prestop]}",
        ..Manifest::default()
    }
    .yaml();
    let command = vec![
        changeover().to_string(),
        "run".into(),
        "--listen".into(),
        "{addr}".into(),
        "--stop-delay".into(),
        "2s".into(),
        "--".into(),
        example("hello").display().to_string(),
    ];
    let out = sim(
        &m,
        &[&GENTLE[..], &["--scenario", "delete", "--json"]].concat(),
        &command,
    )
    .await;
    let report = json(&out);
    assert_nothing_failed(&out, &report);
    let evs = events(&report);
    let victim = evs.iter().find(|e| e.2 == "terminating").unwrap().1.clone();
    let at = |kind: &str| {
        evs.iter()
            .find(|e| e.1 == victim && e.2 == kind && e.3.is_none())
            .map(|e| e.0)
    };
    let (pre_stop, signalled) = (at("pre_stop").unwrap(), at("signalled").unwrap());
    assert!(
        signalled - pre_stop >= 2_000,
        "the hook returned once the 2 s stop delay had passed"
    );
    assert!(
        !evs.iter().any(|e| e.2 == "pre_stop_failed"),
        "{}",
        show(&out)
    );
    // Every process of every pod is gone with the run: nothing answers on a pod's address.
    for pod in report["pods"].as_array().unwrap() {
        let addr = pod["addr"].as_str().unwrap();
        assert!(
            std::net::TcpStream::connect(addr).is_err(),
            "{addr} still answers after the run"
        );
    }
}
