//! The demo's `changeover sim` rows: a simulated Kubernetes delete of one pod of a 3-replica
//! Deployment whose pods are the demo server, once with a stop delay that covers kube-proxy's
//! lag (changeover's row) and once with none (the contrast, whose failures the simulator puts
//! down to the pod, the cause and the fix).
//!
//! The rehearsal is `changeover_sim::run` with a [`Plan`]; this module only builds the two plans
//! and runs them. They run at the same time, each in its own loopback block with its own Service
//! address, so the demo grows by one rehearsal's time (about 6 s) rather than two.
//!
//! The stop delay is the demo server's own (`demo-server --stop-delay`), not a preStop sleep in
//! the manifest: the two rows then differ in that one flag, and the server stops well by itself,
//! as the library's stop delay promises (it is the delay of the "kubernetes stop" row above).

use std::sync::Arc;
use std::time::Duration;

use changeover_sim::model::{ConsumerSpec, Scenario};
use changeover_sim::report::Report;
use changeover_sim::run::{LEAD_IN, Plan, RunError, TAIL};
use changeover_sim::spec::{Input, SimSpec, read};

/// The Deployment and Service rehearsed (the pods' command stands in for its image).
pub(super) const MANIFEST: &str = include_str!("kubernetes.yaml");
/// How the embedded manifest is named in messages.
const MANIFEST_NAME: &str = "changeover demo's kubernetes.yaml";
/// kube-proxy's lag, fixed: its default `minSyncPeriod`. A fixed lag (not a range) makes the
/// contrast's window of refused connections the same in every run.
pub(super) const LAG: Duration = Duration::from_secs(1);
/// The stop delay of changeover's row: twice the lag, the margin `changeover lint` asks for.
pub(super) const STOP_DELAY: Duration = Duration::from_secs(2);
/// Every random choice of both rehearsals (which pod is deleted, each connection's endpoint).
const SEED: u64 = 1;
/// Requests per second of each rehearsal's load, in all (open loop). Both run at once in this
/// process: a load as fast as answers come, a connection per request, would starve the
/// simulator's own timers on a small machine (kube-proxy's view would change late, and the
/// rehearsal would not be the one described); at this rate a 2-core machine keeps up.
pub(super) const RATE: f64 = 1000.0;
/// Longer than this and the rehearsal is stuck: the delete takes about 3 s.
const DEADLINE: Duration = Duration::from_secs(60);

/// The two rehearsals' outcomes.
pub(super) struct Outcomes {
    /// With [`STOP_DELAY`]: changeover's own row.
    pub(super) with_delay: Report,
    /// With no stop delay: the contrast.
    pub(super) without: Report,
}

/// The embedded manifest, read as `changeover sim` reads a file.
fn spec() -> Result<SimSpec, String> {
    let input = Input {
        name: MANIFEST_NAME.into(),
        bytes: MANIFEST.as_bytes().to_vec(),
    };
    read(&[input], None, None).map_err(|e| e.to_string())
}

/// The plan of one rehearsal: the demo server with `stop_delay` as each pod, one request per
/// connection (so every request is routed anew by the kube-proxy-like Service address, as the
/// lag matters only to new connections), `lead_in` of load before the delete and after it.
fn plan(
    spec: &Arc<SimSpec>,
    exe: &str,
    stop_delay: Duration,
    connections: usize,
    lead_in: Duration,
) -> Plan {
    // Explicit, even at 0: the simulator sets KUBERNETES_SERVICE_HOST, under which the library's
    // default stop delay is 5 s.
    let command = [
        exe,
        "demo-server",
        "--listen",
        "{addr}",
        "--stop-delay",
        &format!("{}ms", stop_delay.as_millis()),
    ]
    .map(String::from)
    .to_vec();
    let mut plan = Plan::new(spec.clone(), Scenario::Delete, command);
    let lag = LAG.as_millis() as u64;
    plan.consumers = vec![ConsumerSpec {
        min_ms: lag,
        max_ms: lag,
        ..ConsumerSpec::kube_proxy()
    }];
    plan.seed = SEED;
    plan.connections = connections;
    plan.keep_alive = false;
    plan.rate = Some(RATE);
    plan.deadline = DEADLINE;
    plan.lead_in = lead_in;
    plan.tail = lead_in;
    plan
}

/// The load before and after the delete: a quarter of `--steady`, at most the simulator's own.
pub(super) fn lead_in(steady: Duration) -> Duration {
    (steady / 4).min(LEAD_IN.min(TAIL))
}

/// The line that announces the two rehearsals.
pub(super) fn heading() -> String {
    format!(
        "kubernetes delete (changeover sim): 3 demo servers behind a Service, kube-proxy {}s behind, one pod deleted; with a {}s stop delay and, at the same time, with none (for comparison)",
        LAG.as_secs(),
        STOP_DELAY.as_secs()
    )
}

/// Runs both rehearsals at once; each progress line is said with the row it belongs to.
pub(super) async fn run(
    exe: &str,
    connections: usize,
    steady: Duration,
    say: &dyn Fn(&str),
) -> Result<Outcomes, String> {
    let spec = Arc::new(spec()?);
    let lead_in = lead_in(steady);
    let with_delay = plan(&spec, exe, STOP_DELAY, connections, lead_in);
    let without = plan(&spec, exe, Duration::ZERO, connections, lead_in);
    let delay_label = format!("{}s stop delay", STOP_DELAY.as_secs());
    let (a, b) = tokio::join!(
        changeover_sim::run::run(with_delay, |l| say(&format!("{delay_label}: {l}"))),
        changeover_sim::run::run(without, |l| say(&format!("no stop delay: {l}"))),
    );
    let complete = |r: Result<Report, RunError>, which: &str| {
        let r = r.map_err(|e| format!("the simulated delete ({which}): {e}"))?;
        if r.completed {
            Ok(r)
        } else {
            Err(format!(
                "the simulated delete ({which}) did not complete within {}s",
                DEADLINE.as_secs()
            ))
        }
    };
    Ok(Outcomes {
        with_delay: complete(a, &delay_label)?,
        without: complete(b, "no stop delay")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rows' names say 3 pods and a Service; the stop delay is the server's flag alone, so
    /// the manifest must have no preStop hook of its own.
    #[test]
    fn the_embedded_manifest_is_three_pods_behind_a_service_with_no_hook() {
        let spec = spec().unwrap();
        assert_eq!(spec.replicas, 3);
        assert_eq!(spec.service.as_deref(), Some("Service/default/demo"));
        assert!(spec.pod.pre_stop.is_none(), "{:?}", spec.pod.pre_stop);
        assert!(spec.pod.readiness.is_some());
        // The grace period outlasts the stop delay: no SIGKILL cuts changeover's row short.
        assert!(spec.pod.grace_seconds as u64 > STOP_DELAY.as_secs() + 2);
    }

    #[test]
    fn the_plans_differ_only_in_the_stop_delay() {
        let spec = Arc::new(spec().unwrap());
        let a = plan(
            &spec,
            "/x/changeover",
            STOP_DELAY,
            8,
            lead_in(Duration::from_secs(2)),
        );
        let b = plan(
            &spec,
            "/x/changeover",
            Duration::ZERO,
            8,
            lead_in(Duration::from_secs(2)),
        );
        assert_eq!(a.command[a.command.len() - 1], "2000ms");
        assert_eq!(b.command[b.command.len() - 1], "0ms");
        assert_eq!(
            a.command[..a.command.len() - 1],
            b.command[..b.command.len() - 1]
        );
        assert_eq!(a.consumers, b.consumers);
        assert_eq!((a.consumers[0].min_ms, a.consumers[0].max_ms), (1000, 1000));
        assert_eq!(
            (a.seed, a.keep_alive, a.lead_in),
            (b.seed, b.keep_alive, b.lead_in)
        );
        assert!(STOP_DELAY > LAG);
    }

    #[test]
    fn a_short_steady_run_shortens_the_load_around_the_delete() {
        assert_eq!(lead_in(Duration::from_secs(2)), Duration::from_millis(500));
        assert_eq!(lead_in(Duration::from_secs(10)), Duration::from_millis(500));
        assert_eq!(
            lead_in(Duration::from_millis(200)),
            Duration::from_millis(50)
        );
    }
}
