//! What every scenario of `changeover sim` shares: the test manifest and what it varies, `hello`
//! as the pods' command, running the binary with a deadline, and reading its JSON report (the
//! event log replayed into the fewest available pods and the most live ones).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;

use crate::support::{changeover, example, show};

/// Every run ends by this deadline.
pub(crate) const DEADLINE: Duration = Duration::from_secs(90);

/// What the test manifest varies.
pub(crate) struct Manifest {
    pub(crate) replicas: u32,
    /// `Some((surge, unavailable))`, or `None` for Recreate.
    pub(crate) rolling: Option<(u32, u32)>,
    pub(crate) grace: u32,
    pub(crate) pre_stop: &'static str,
    pub(crate) initial_delay: u32,
    pub(crate) budget: bool,
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
    pub(crate) fn yaml(&self) -> String {
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
pub(crate) fn hello() -> Vec<String> {
    vec![
        example("hello").display().to_string(),
        "--listen".into(),
        "{addr}".into(),
        "--stop-delay".into(),
        "0s".into(),
    ]
}

/// Runs `changeover sim MANIFEST ARGS -- COMMAND` in a fresh directory.
pub(crate) async fn sim(manifest: &str, args: &[&str], command: &[String]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("web.yaml");
    std::fs::write(&path, manifest).unwrap();
    sim_in(dir.path(), &[path.to_str().unwrap()], args, command).await
}

/// Runs `changeover sim MANIFESTS ARGS -- COMMAND` in `dir`.
pub(crate) async fn sim_in(
    dir: &Path,
    manifests: &[&str],
    args: &[&str],
    command: &[String],
) -> Output {
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

pub(crate) fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("JSON report ({e}):\n{}", show(out)))
}

pub(crate) fn events(report: &Value) -> Vec<(u64, String, String, Option<String>)> {
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
pub(crate) fn replay(report: &Value, replicas: usize) -> (usize, usize, usize) {
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

pub(crate) fn assert_nothing_failed(out: &Output, report: &Value) {
    assert_eq!(out.status.code(), Some(0), "{}", show(out));
    assert_eq!(report["failed"], 0, "{}", show(out));
    assert_eq!(report["completed"], true, "{}", show(out));
    // Zero is a number only if there was load: a few hundred requests a second throughout.
    assert!(report["requests"].as_u64().unwrap() > 500, "{}", show(out));
}

pub(crate) const GENTLE: [&str; 4] = ["--rate", "400", "--seed", "11"];
