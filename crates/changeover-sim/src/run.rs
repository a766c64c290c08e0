//! The rehearsal, wired together as ordered steps: claim the pods' addresses, start the
//! Service address, start the first pods and wait until every one listens and every consumer
//! routes to it, start the load, let it run a moment, begin the scenario, wait until it
//! completes (or its deadline), let the load run a moment more, stop it, kill what is left,
//! attribute the failures, and report.
//!
//! The model is driven by the wall clock here: each call passes the milliseconds since the
//! start, and the loop sleeps until the model's next wakeup or the next input from the world,
//! whichever comes first.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use changeover_load::{Config, LoadHandle, Target};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

use crate::attribute::{self, Context, Failure};
use crate::model::{
    Action, Cluster, ConsumerSpec, EventKind, Input, Ms, Options, PodId, Route, Scenario,
};
use crate::report::{self, Interval, Latency, PodRow, Propagation};
use crate::rng::Rng;
use crate::spec::SimSpec;
use crate::world::network::Network;
use crate::world::pods::{self, World};
use crate::world::proxy::{BUCKET_MS, Backend, Proxy, View};

/// How long the load runs before the scenario begins, so the timeline shows the steady state.
pub const LEAD_IN: Duration = Duration::from_millis(500);
/// How long the load runs after the scenario completed.
pub const TAIL: Duration = Duration::from_millis(500);
/// How long the first requests through the Service address may take to succeed.
const FIRST_OK: Duration = Duration::from_secs(10);

/// Everything one rehearsal needs.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The workload.
    pub spec: Arc<SimSpec>,
    /// What to rehearse.
    pub scenario: Scenario,
    /// The command each pod runs (`{addr}` is replaced).
    pub command: Vec<String>,
    /// The consumers of endpoint changes and their lags.
    pub consumers: Vec<ConsumerSpec>,
    /// Fixes every random choice.
    pub seed: u64,
    /// Model a kubelet that gives the full grace period again after the hook.
    pub legacy_grace: bool,
    /// Load connections.
    pub connections: usize,
    /// Keep-alive (else a connection per request).
    pub keep_alive: bool,
    /// Requests per second in all (open loop); `None`: as fast as answers come.
    pub rate: Option<f64>,
    /// The request path.
    pub path: String,
    /// The per-request timeout.
    pub timeout: Duration,
    /// How long the first pods get to listen and be ready.
    pub ready_timeout: Duration,
    /// How long the scenario may take.
    pub deadline: Duration,
}

impl Plan {
    /// A plan with the defaults: kube-proxy lagging 0 to 1 s, 8 keep-alive connections as
    /// fast as answers come, `/`, 5 s per request, 30 s to get ready, 5 min for the scenario.
    pub fn new(spec: Arc<SimSpec>, scenario: Scenario, command: Vec<String>) -> Plan {
        Plan {
            spec,
            scenario,
            command,
            consumers: vec![ConsumerSpec::kube_proxy()],
            seed: 1,
            legacy_grace: false,
            connections: 8,
            keep_alive: true,
            rate: None,
            path: "/".into(),
            timeout: Config::DEFAULT_TIMEOUT,
            ready_timeout: Duration::from_secs(30),
            deadline: Duration::from_secs(300),
        }
    }
}

/// Why a rehearsal could not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunError {
    /// COMMAND could not be started for a pod.
    Start {
        /// The pod.
        pod: String,
        /// Why.
        error: String,
    },
    /// A first pod's process exited before the rehearsal could begin.
    Exited {
        /// The pod.
        pod: String,
        /// How.
        exit: String,
        /// Its address.
        addr: String,
        /// The end of its output.
        output: String,
    },
    /// A first pod never listened on its address.
    NeverListened {
        /// The pod.
        pod: String,
        /// Its address.
        addr: String,
        /// How long it had.
        waited: Duration,
    },
    /// A first pod listened but never became ready.
    NeverReady {
        /// The pod.
        pod: String,
        /// The last probe failure.
        why: String,
        /// How long it had.
        waited: Duration,
    },
    /// The machinery failed (addresses, the Service address, the load).
    Setup(String),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Start { pod, error } => {
                write!(f, "pod {pod}: COMMAND could not be started: {error}")
            }
            RunError::Exited {
                pod,
                exit,
                addr,
                output,
            } => {
                write!(
                    f,
                    "pod {pod}: COMMAND exited ({exit}) before the rehearsal began; it must keep running and listen on {addr} (write `{{addr}}` where it takes its listen address, or use $POD_IP and $PORT; it runs in a directory of its own, so paths in its arguments must be absolute)"
                )?;
                if !output.is_empty() {
                    write!(f, "; its output ended with:\n{output}")?;
                }
                Ok(())
            }
            RunError::NeverListened { pod, addr, waited } => write!(
                f,
                "pod {pod}: nothing listened on {addr} within {}; make COMMAND listen on its pod's address (write `{{addr}}` where it takes its listen address, or use $POD_IP and $PORT), or allow longer with --ready-timeout",
                crate::fmt_ms(waited.as_millis() as u64)
            ),
            RunError::NeverReady { pod, why, waited } => write!(
                f,
                "pod {pod}: it listens but was not ready within {}: {why}; fix the readiness probe or the server, or allow longer with --ready-timeout",
                crate::fmt_ms(waited.as_millis() as u64)
            ),
            RunError::Setup(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for RunError {}

enum Phase {
    Setup,
    LeadIn(Instant),
    Scenario(Instant),
    Tail(Instant),
}

/// Runs the rehearsal; `progress` hears of each step, in a line.
pub async fn run(plan: Plan, mut progress: impl FnMut(&str)) -> Result<report::Report, RunError> {
    let spec = plan.spec.clone();
    let mut rng = Rng::new(plan.seed);
    let model_seed = rng.next_u64();
    let network = Network::claim(spec.pod.port).map_err(|e| {
        RunError::Setup(format!(
            "cannot claim loopback addresses for the pods on port {}: {e}",
            spec.pod.port
        ))
    })?;
    let network_text = network.describe();
    let start = Instant::now();
    let ms = move || start.elapsed().as_millis() as Ms;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut world = World::new(
        spec.clone(),
        plan.command.clone(),
        network,
        tx,
        plan.ready_timeout,
    );
    let proxy = Proxy::start(start, rng.fork(), plan.timeout)
        .await
        .map_err(|e| {
            RunError::Setup(format!("cannot open the Service address on 127.0.0.1: {e}"))
        })?;
    let mut cluster = Cluster::new(
        spec.clone(),
        Options {
            seed: model_seed,
            legacy_grace: plan.legacy_grace,
            consumers: plan.consumers.clone(),
        },
    );
    progress(&format!(
        "starting {} pods of {} on {network_text}",
        spec.replicas, spec.workload
    ));
    cluster.start(0);
    let first: Vec<PodId> = (0..cluster.pods().len()).collect();
    let mut listening: HashSet<PodId> = HashSet::new();
    let mut phase = Phase::Setup;
    // The consumers must also have seen the pods ready: their lag comes on top.
    let lag = plan.consumers.iter().map(|c| c.max_ms).max().unwrap_or(0);
    let setup_deadline = start + plan.ready_timeout + Duration::from_millis(lag);
    let mut load: Option<LoadHandle> = None;
    loop {
        carry_out(&mut cluster, &mut world, &proxy);
        let now = Instant::now();
        match phase {
            Phase::Setup if cluster.settled() && first.iter().all(|p| listening.contains(p)) => {
                world.stop_watching_listening();
                load = Some(start_load(&plan, &proxy)?);
                progress(&format!(
                    "{} pods ready after {}; load through the Service address {}",
                    spec.replicas,
                    crate::fmt_ms(ms()),
                    proxy.addr()
                ));
                phase = Phase::LeadIn(now + LEAD_IN);
                continue;
            }
            Phase::Setup if now >= setup_deadline => {
                return Err(setup_failed(
                    &cluster,
                    &world,
                    &first,
                    &listening,
                    plan.ready_timeout,
                ));
            }
            Phase::LeadIn(until) if now >= until => {
                // Requests may still be on their way (a slow path); only failures with no
                // success at all hold the scenario back.
                let flowing = load
                    .as_ref()
                    .is_some_and(|l| l.snapshot().ok > 0 || l.snapshot().failed == 0);
                if !flowing && now < until + FIRST_OK {
                    // Nothing but failures so far: give the load a moment more.
                } else if !flowing {
                    return Err(RunError::Setup(format!(
                        "every request through the Service address {} failed for {}s although every pod is ready; check that the server answers GET {} with 2xx",
                        proxy.addr(),
                        FIRST_OK.as_secs(),
                        plan.path
                    )));
                } else {
                    cluster.begin(ms(), plan.scenario);
                    if let Some(l) = &load {
                        l.mark(plan.scenario.as_str());
                    }
                    let what = cluster
                        .events()
                        .iter()
                        .rev()
                        .find(|e| e.event == EventKind::Scenario)
                        .map(|e| e.detail.clone())
                        .unwrap_or_default();
                    progress(&format!("{}: {what}", crate::fmt_ms(ms())));
                    phase = Phase::Scenario(now + plan.deadline);
                    continue;
                }
            }
            Phase::Scenario(deadline) => {
                if cluster.done().is_some() {
                    progress(&format!(
                        "{}: the {} is complete",
                        crate::fmt_ms(ms()),
                        plan.scenario.as_str()
                    ));
                    phase = Phase::Tail(now + TAIL);
                    continue;
                }
                if now >= deadline {
                    progress(&format!(
                        "{}: the {} did not complete within {}",
                        crate::fmt_ms(ms()),
                        plan.scenario.as_str(),
                        crate::fmt_ms(plan.deadline.as_millis() as u64)
                    ));
                    phase = Phase::Tail(now);
                    continue;
                }
            }
            Phase::Tail(until) if now >= until => break,
            _ => {}
        }
        let phase_wake = match phase {
            Phase::Setup => setup_deadline,
            Phase::LeadIn(t) | Phase::Scenario(t) | Phase::Tail(t) => t,
        };
        let model_wake = cluster
            .next_wakeup()
            .map(|m| start + Duration::from_millis(m));
        let wake = model_wake.map_or(phase_wake, |m| m.min(phase_wake));
        tokio::select! {
            report = rx.recv() => match report {
                Some(pods::Report::Listening(p)) => {
                    listening.insert(p);
                }
                Some(pods::Report::Input(input)) => {
                    if matches!(phase, Phase::Setup) {
                        check_setup(&cluster, &world, &input)?;
                    }
                    if let Input::Exited { pod, .. } = input {
                        world.exited(pod);
                    }
                    cluster.handle(ms(), input);
                }
                None => return Err(RunError::Setup("the pods' reports stopped".into())),
            },
            () = sleep_until(wake) => cluster.advance(ms()),
        }
    }
    let load_report = match load {
        Some(l) => l.stop().await,
        None => return Err(RunError::Setup("the load never started".into())),
    };
    cluster.advance(ms());
    let end_ms = ms();
    world.shutdown(Duration::from_secs(5)).await;
    Ok(build_report(
        &plan,
        &cluster,
        &world,
        &proxy,
        &load_report,
        network_text,
        end_ms,
    ))
}

fn start_load(plan: &Plan, proxy: &Proxy) -> Result<LoadHandle, RunError> {
    let target = Target::tcp(proxy.addr())
        .with_path(&plan.path)
        .map_err(|e| RunError::Setup(format!("--path {:?}: {e}", plan.path)))?;
    let config = Config {
        connections: plan.connections,
        keep_alive: plan.keep_alive,
        rate: plan.rate,
        timeout: plan.timeout,
        // A bound for safety: the run stops the load itself long before.
        duration: Some(
            plan.ready_timeout + plan.deadline + LEAD_IN + TAIL + FIRST_OK + plan.timeout,
        ),
        ..Config::new(target)
    };
    changeover_load::start(config)
        .map_err(|e| RunError::Setup(format!("cannot start the load: {e}")))
}

/// Executes the model's actions: processes for the world, views for the Service address.
fn carry_out(cluster: &mut Cluster, world: &mut World, proxy: &Proxy) {
    for action in cluster.take_actions() {
        match action {
            Action::View { consumer } => {
                if consumer == cluster.load_consumer() {
                    proxy.set_view(view(cluster, world));
                }
            }
            a => {
                let pod = match a {
                    Action::Start { pod, .. }
                    | Action::Probe { pod, .. }
                    | Action::Hook { pod, .. }
                    | Action::Signal { pod, .. }
                    | Action::Kill { pod, .. } => pod,
                    Action::View { .. } => unreachable!("handled above"),
                };
                let p = &cluster.pods()[pod];
                world.act(&a, &p.name, p.ordinal);
            }
        }
    }
}

fn view(cluster: &Cluster, world: &World) -> View {
    let mut view = View::default();
    for (pod, route) in cluster.routes(cluster.load_consumer()) {
        let Some(addr) = world.addr(cluster.pods()[pod].ordinal) else {
            continue;
        };
        let b = Backend { pod, addr };
        match route {
            Route::Ready => view.ready.push(b),
            Route::Fallback => view.fallback.push(b),
            Route::Unused => {}
        }
    }
    view
}

fn check_setup(cluster: &Cluster, world: &World, input: &Input) -> Result<(), RunError> {
    match input {
        Input::StartFailed { pod, error, .. } => Err(RunError::Start {
            pod: cluster.pods()[*pod].name.clone(),
            error: error.clone(),
        }),
        Input::Exited { pod, exit, .. } => {
            let p = &cluster.pods()[*pod];
            Err(RunError::Exited {
                pod: p.name.clone(),
                exit: exit.to_string(),
                addr: world
                    .addr(p.ordinal)
                    .map(|a| a.to_string())
                    .unwrap_or_default(),
                output: world.output_tail(*pod, 5),
            })
        }
        _ => Ok(()),
    }
}

fn setup_failed(
    cluster: &Cluster,
    world: &World,
    first: &[PodId],
    listening: &HashSet<PodId>,
    waited: Duration,
) -> RunError {
    let name = |p: PodId| cluster.pods()[p].name.clone();
    if let Some(&p) = first.iter().find(|p| !listening.contains(p)) {
        return RunError::NeverListened {
            pod: name(p),
            addr: world
                .addr(cluster.pods()[p].ordinal)
                .map(|a| a.to_string())
                .unwrap_or_default(),
            waited,
        };
    }
    let p = first
        .iter()
        .copied()
        .find(|&p| !cluster.pods()[p].ready)
        .unwrap_or(first[0]);
    let why = cluster
        .events()
        .iter()
        .rev()
        .find(|e| e.event == EventKind::Unhealthy && e.pod.as_deref() == Some(name(p).as_str()))
        .map(|e| e.detail.clone())
        .unwrap_or_else(|| "its readiness probe never succeeded".into());
    RunError::NeverReady {
        pod: name(p),
        why,
        waited,
    }
}

fn build_report(
    plan: &Plan,
    cluster: &Cluster,
    world: &World,
    proxy: &Proxy,
    load: &changeover_load::Report,
    pod_network: String,
    end_ms: Ms,
) -> report::Report {
    let spec = cluster.spec();
    let log = proxy.log();
    let consumers: Vec<ConsumerSpec> = cluster.consumers().cloned().collect();
    let load_consumer = cluster.load_consumer();
    let (scenario, scenario_ms) = cluster.scenario().unwrap_or((plan.scenario, end_ms));
    let names: Vec<String> = cluster.pods().iter().map(|p| p.name.clone()).collect();
    let failures: Vec<Failure> = attribute::attribute(
        &Context {
            events: cluster.events(),
            pod_names: &names,
            spec,
            scenario,
            consumer: &consumers[load_consumer],
            timeout: plan.timeout,
        },
        &log.failures,
    );
    let mut failed_by_kind = std::collections::BTreeMap::new();
    for f in &failures {
        *failed_by_kind.entry(f.kind.as_str()).or_insert(0) += 1;
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    report::Report {
        scenario,
        workload: spec.workload.clone(),
        replicas: spec.replicas,
        replicas_source: spec.replicas_source.clone(),
        seed: plan.seed,
        command: plan.command.clone(),
        service: spec.service.clone(),
        service_addr: proxy.addr().to_string(),
        pod_network,
        propagation: consumers
            .iter()
            .enumerate()
            .map(|(i, c)| Propagation {
                consumer: c.name.clone(),
                min_ms: c.min_ms,
                max_ms: c.max_ms,
                load: i == load_consumer,
            })
            .collect(),
        completed: cluster.done().is_some(),
        scenario_ms,
        done_ms: cluster.done(),
        end_ms,
        requests: load.requests,
        ok: load.ok,
        failed: load.failed(),
        failed_by_kind,
        unattributed: load.failed().saturating_sub(failures.len() as u64),
        min_available: cluster.min_available().unwrap_or(spec.replicas),
        latency_ms: Latency {
            p50: ms(load.latency.p50()),
            p99: ms(load.latency.p99()),
            max: ms(load.latency.max()),
        },
        causes: report::Report::group(&failures),
        failures_omitted: failures.len().saturating_sub(report::MAX_FAILURES_LISTED) as u64,
        failures: failures
            .into_iter()
            .take(report::MAX_FAILURES_LISTED)
            .collect(),
        events: cluster.events().to_vec(),
        pods: cluster
            .pods()
            .iter()
            .map(|p| PodRow {
                name: p.name.clone(),
                addr: world
                    .addr(p.ordinal)
                    .map(|a| a.to_string())
                    .unwrap_or_default(),
                revision: p.revision + 1,
                connections: log
                    .connections
                    .iter()
                    .find(|c| c.0 == p.id)
                    .map_or(0, |c| c.1),
            })
            .collect(),
        timeline: log
            .buckets
            .iter()
            .enumerate()
            .map(|(i, b)| Interval {
                at_ms: i as Ms * BUCKET_MS,
                ok: b.ok,
                failed: b.failed,
            })
            .collect(),
        notes: spec.notes.clone(),
    }
}
