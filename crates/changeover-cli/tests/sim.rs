//! `changeover sim` through the binary, with `examples/hello` as the pods.
//!
//! Contract: with a stop delay that covers kube-proxy's lag (a 2 s preStop sleep against a lag
//! of at most 1 s), a delete, a drain and a rollout each fail no request; without one, a
//! delete fails requests and every failure names its pod and says to add a stop delay. The
//! event log shows a rollout within maxSurge and maxUnavailable, a drain within its budget,
//! and delete-all at zero available pods. A grace period shorter than the drain gets "cut"
//! failures put down to SIGKILL; Recreate gets "no endpoint" failures. Bad input ends with
//! status 2 and one line naming the problem. `changeover run` with `changeover prestop` as the
//! preStop hook works as the pod's command.
//!
//! Manifests use few replicas and 1 s probe periods so that each run takes seconds; the load is
//! an open loop of a few hundred requests per second, gentle on a shared machine.
//!
//! Why this file is long: it is the one file of this contract; the manifest builder and the
//! replay of the event log serve every scenario, and each scenario's checks are spelled out.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use serde_json::Value;
use support::{changeover, example, show};
use tokio::process::Command;

/// Every run ends by this deadline.
const DEADLINE: Duration = Duration::from_secs(90);

/// What the test manifest varies.
struct Manifest {
    replicas: u32,
    /// `Some((surge, unavailable))`, or `None` for Recreate.
    rolling: Option<(u32, u32)>,
    grace: u32,
    pre_stop: &'static str,
    initial_delay: u32,
    budget: bool,
}

impl Default for Manifest {
    fn default() -> Manifest {
        Manifest {
            replicas: 3,
            rolling: Some((1, 0)),
            grace: 10,
            pre_stop: "sleep: {seconds: 2}",
            initial_delay: 0,
            budget: false,
        }
    }
}

impl Manifest {
    fn yaml(&self) -> String {
        let strategy = match self.rolling {
            Some((s, u)) => format!(
                "{{type: RollingUpdate, rollingUpdate: {{maxSurge: {s}, maxUnavailable: {u}}}}}"
            ),
            None => "{type: Recreate}".into(),
        };
        let lifecycle = if self.pre_stop.is_empty() {
            String::new()
        } else {
            format!(
                "        lifecycle:\n          preStop:\n            {}\n",
                self.pre_stop
            )
        };
        let budget = if self.budget {
            "---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: web}\nspec:\n  maxUnavailable: 1\n  selector: {matchLabels: {app: web}}\n"
        } else {
            ""
        };
        format!(
            "apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: web}}}}
  strategy: {strategy}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      terminationGracePeriodSeconds: {grace}
      containers:
      - name: app
        image: example/web:1
        ports: [{{containerPort: 8080, name: http}}]
        readinessProbe:
          httpGet: {{path: /readyz, port: http}}
          initialDelaySeconds: {delay}
          periodSeconds: 1
          failureThreshold: 1
{lifecycle}---
apiVersion: v1
kind: Service
metadata: {{name: web}}
spec:
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: http}}]
{budget}",
            replicas = self.replicas,
            grace = self.grace,
            delay = self.initial_delay,
        )
    }
}

/// `hello` as the pod's command, with no stop delay of its own (the manifest decides).
fn hello() -> Vec<String> {
    vec![
        example("hello").display().to_string(),
        "--listen".into(),
        "{addr}".into(),
        "--stop-delay".into(),
        "0s".into(),
    ]
}

/// Runs `changeover sim MANIFEST ARGS -- COMMAND` in a fresh directory.
async fn sim(manifest: &str, args: &[&str], command: &[String]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("web.yaml");
    std::fs::write(&path, manifest).unwrap();
    sim_in(dir.path(), &[path.to_str().unwrap()], args, command).await
}

async fn sim_in(dir: &Path, manifests: &[&str], args: &[&str], command: &[String]) -> Output {
    let mut cmd = Command::new(changeover());
    cmd.arg("sim")
        .args(manifests)
        .args(args)
        .arg("--")
        .args(command)
        .current_dir(dir)
        .kill_on_drop(true);
    match tokio::time::timeout(DEADLINE, cmd.output()).await {
        Ok(out) => out.expect("changeover sim runs"),
        Err(_) => panic!("changeover sim {args:?} did not finish within {DEADLINE:?}"),
    }
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("JSON report ({e}):\n{}", show(out)))
}

fn events(report: &Value) -> Vec<(u64, String, String, Option<String>)> {
    report["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["at_ms"].as_u64().unwrap(),
                e["pod"].as_str().unwrap_or("").to_string(),
                e["event"].as_str().unwrap().to_string(),
                e["consumer"].as_str().map(String::from),
            )
        })
        .collect()
}

/// Replays the pods' own events: the fewest available pods once all `replicas` had been
/// available, the fewest Ready and not terminating pods likewise, and the most pods not
/// terminating at any moment.
fn replay(report: &Value, replicas: usize) -> (usize, usize, usize) {
    let (mut available, mut healthy, mut live) =
        (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    let (mut min_available, mut min_healthy, mut max_live) = (usize::MAX, usize::MAX, 0);
    let (mut up, mut all_healthy) = (false, false);
    let mut terminating = BTreeSet::new();
    for (_, pod, event, consumer) in events(report) {
        if consumer.is_some() || pod.is_empty() {
            continue;
        }
        match event.as_str() {
            "created" => {
                live.insert(pod);
            }
            "available" => {
                available.insert(pod);
            }
            "ready" if !terminating.contains(&pod) => {
                healthy.insert(pod);
            }
            "unready" => {
                available.remove(&pod);
                healthy.remove(&pod);
            }
            "terminating" => {
                available.remove(&pod);
                healthy.remove(&pod);
                live.remove(&pod);
                terminating.insert(pod);
            }
            _ => {}
        }
        up |= available.len() == replicas;
        all_healthy |= healthy.len() == replicas;
        if up {
            min_available = min_available.min(available.len());
        }
        if all_healthy {
            min_healthy = min_healthy.min(healthy.len());
        }
        max_live = max_live.max(live.len());
    }
    (min_available, min_healthy, max_live)
}

fn assert_nothing_failed(out: &Output, report: &Value) {
    assert_eq!(out.status.code(), Some(0), "{}", show(out));
    assert_eq!(report["failed"], 0, "{}", show(out));
    assert_eq!(report["completed"], true, "{}", show(out));
    // Zero is a number only if there was load: a few hundred requests a second throughout.
    assert!(report["requests"].as_u64().unwrap() > 500, "{}", show(out));
}

const GENTLE: [&str; 4] = ["--rate", "400", "--seed", "11"];

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

mod bad_input {
    use super::*;

    async fn fails(manifest: &str, args: &[&str], command: &[String], needles: &[&str]) {
        let out = sim(manifest, args, command).await;
        assert_eq!(out.status.code(), Some(2), "{}", show(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        for n in needles {
            assert!(err.contains(n), "{n:?} missing:\n{}", show(&out));
        }
    }

    #[tokio::test]
    async fn no_workload() {
        let m =
            "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {selector: {app: web}}\n";
        fails(m, &[], &hello(), &["no workload", "web.yaml", "Deployment"]).await;
    }

    #[tokio::test]
    async fn several_workloads_and_no_choice() {
        let one = Manifest::default().yaml();
        let two = one.replace("name: web}", "name: api}");
        let m = format!("{one}---\n{two}");
        fails(
            &m,
            &[],
            &hello(),
            &[
                "Deployment/default/web",
                "Deployment/default/api",
                "--workload Deployment/web",
            ],
        )
        .await;
        // Choosing one is enough to get past it (and to fail later on the missing COMMAND file).
        let out = sim(&m, &["--workload", "Deployment/nope"], &hello()).await;
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("no such workload"),
            "{}",
            show(&out)
        );
    }

    #[tokio::test]
    async fn an_unsupported_kind() {
        let m = Manifest::default()
            .yaml()
            .replacen("kind: Deployment", "kind: StatefulSet", 1);
        fails(
            &m,
            &[],
            &hello(),
            &["StatefulSet/default/web", "rehearses Deployments"],
        )
        .await;
    }

    #[tokio::test]
    async fn a_command_that_exits_at_once() {
        let mut command = hello();
        command.push("--no-such-flag".into());
        fails(
            &Manifest::default().yaml(),
            &[],
            &command,
            &["pod web-", "exited (exit status 2)", "unknown argument"],
        )
        .await;
    }

    #[tokio::test]
    async fn a_command_that_never_listens() {
        let command = vec!["sleep".to_string(), "30".to_string()];
        fails(
            &Manifest::default().yaml(),
            &["--ready-timeout", "1s"],
            &command,
            &["pod web-", "nothing listened on 127.0.", ":8080", "{addr}"],
        )
        .await;
    }

    #[tokio::test]
    async fn no_command() {
        fails(&Manifest::default().yaml(), &[], &[], &["no COMMAND"]).await;
    }
}
