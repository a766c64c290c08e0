//! Contract: without a stop delay a delete fails requests, and every failure names its pod and
//! says to add a stop delay; delete-all reaches zero available pods; a grace period shorter than
//! the drain gets "cut" failures put down to SIGKILL; Recreate gets "no endpoint" failures, in the
//! text report and the timeline.

use serde_json::Value;

use crate::harness::{GENTLE, Manifest, events, hello, json, replay, sim, sim_in};
use crate::support::show;

#[tokio::test]
async fn without_a_stop_delay_a_delete_fails_requests_and_each_names_its_pod_and_the_stop_delay() {
    let m = Manifest {
        pre_stop: "",
        ..Manifest::default()
    }
    .yaml();
    let out = sim(
        &m,
        &[
            &GENTLE[..],
            &[
                "--scenario",
                "delete",
                "--no-keepalive",
                "--propagation",
                "kube-proxy=1s",
                "--json",
            ],
        ]
        .concat(),
        &hello(),
    )
    .await;
    let report = json(&out);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let failed = report["failed"].as_u64().unwrap();
    assert!(failed > 0, "{}", show(&out));
    let failures = report["failures"].as_array().unwrap();
    assert_eq!(failures.len() as u64, failed, "every failure is attributed");
    let victim = events(&report)
        .into_iter()
        .find(|e| e.2 == "terminating")
        .unwrap()
        .1;
    for f in failures {
        assert_eq!(f["pod"].as_str(), Some(victim.as_str()), "{f}");
        assert!(
            f["fix"]
                .as_str()
                .unwrap()
                .contains("stop delay of at least 1s"),
            "{f}"
        );
        assert!(
            f["cause"].as_str().unwrap().contains("stopped accepting"),
            "{f}"
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.is_empty());
}

#[tokio::test]
async fn delete_all_reaches_zero_available() {
    let m = Manifest {
        replicas: 2,
        pre_stop: "",
        ..Manifest::default()
    }
    .yaml();
    let out = sim(
        &m,
        &[&GENTLE[..], &["--scenario", "delete-all", "--json"]].concat(),
        &hello(),
    )
    .await;
    let report = json(&out);
    assert_eq!(report["completed"], true, "{}", show(&out));
    assert_eq!(report["min_available"], 0, "{}", show(&out));
    let (min_available, _, _) = replay(&report, 2);
    assert_eq!(min_available, 0, "{}", show(&out));
}

#[tokio::test]
async fn a_grace_period_shorter_than_the_drain_gets_cut_failures_put_down_to_sigkill() {
    // One pod serving 4 s requests on 4 connections; SIGKILL 2 s after SIGTERM (the kubelet's
    // floor under a 1 s grace period) cuts every one of them.
    let m = Manifest {
        replicas: 1,
        grace: 1,
        pre_stop: "",
        ..Manifest::default()
    }
    .yaml();
    let mut command = hello();
    command.extend(["--drain-timeout".into(), "30s".into()]);
    let out = sim(
        &m,
        &[
            "--scenario",
            "delete",
            "-c",
            "4",
            "--path",
            "/slow?ms=4000",
            "--timeout",
            "10s",
            "--propagation",
            "kube-proxy=0s",
            "--json",
            "--seed",
            "3",
        ],
        &command,
    )
    .await;
    let report = json(&out);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let cut: Vec<&Value> = report["failures"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "cut")
        .collect();
    assert_eq!(cut.len(), 4, "{}", show(&out));
    for f in cut {
        assert_eq!(f["pod"], "web-1");
        assert!(
            f["cause"]
                .as_str()
                .unwrap()
                .contains("SIGKILL at the end of the 1s grace period with 4 requests in flight"),
            "{f}"
        );
        assert!(
            f["fix"]
                .as_str()
                .unwrap()
                .contains("terminationGracePeriodSeconds"),
            "{f}"
        );
    }
    assert!(
        events(&report)
            .iter()
            .any(|e| e.1 == "web-1" && e.2 == "killed")
    );
}

#[tokio::test]
async fn recreate_gets_no_endpoint_failures_shown_in_the_text_report_and_the_timeline() {
    // New pods are ready a second after they start, and start only once every old one is gone.
    let m = Manifest {
        replicas: 2,
        rolling: None,
        pre_stop: "",
        initial_delay: 1,
        ..Manifest::default()
    }
    .yaml();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("web.yaml");
    std::fs::write(&path, m).unwrap();
    let svg = dir.path().join("recreate.svg");
    let out = sim_in(
        dir.path(),
        &[path.to_str().unwrap()],
        &[
            &GENTLE[..],
            &[
                "--scenario",
                "rollout",
                "--no-keepalive",
                "--propagation",
                "kube-proxy=0s",
                "--timeline",
                svg.to_str().unwrap(),
            ],
        ]
        .concat(),
        &hello(),
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    // `   312 × no_endpoint at 3.1s–4.1s: no endpoint for 1.02s in kube-proxy's view: Recreate …`
    let line = text
        .lines()
        .find(|l| l.contains("× no_endpoint"))
        .unwrap_or_else(|| panic!("{}", show(&out)));
    assert!(line.contains("Recreate stops every old pod"), "{line}");
    let count: u64 = line.split('×').next().unwrap().trim().parse().unwrap();
    assert!(count > 10, "{line}");
    assert!(
        text.contains("fix: use strategy RollingUpdate with maxUnavailable: 0"),
        "{text}"
    );
    assert!(
        text.contains("fewest available pods during the rollout: 0 of 2"),
        "{text}"
    );
    let picture = std::fs::read_to_string(&svg).unwrap();
    assert!(picture.starts_with("<svg") && picture.trim_end().ends_with("</svg>"));
    for pod in [
        "web-1",
        "web-2",
        "web-3",
        "web-4",
        "no endpoint",
        "requests",
    ] {
        assert!(
            picture.contains(&format!(">{pod}")),
            "{pod} has no lane in the picture"
        );
    }
}
