//! The rehearsal, wired together as ordered steps: claim the pods' addresses, start the
//! Service address, start the first pods and wait until every one listens and every consumer
//! routes to it, start the load, let it run a moment, begin the scenario, wait until it
//! completes (or its deadline), let the load run a moment more, stop it, kill what is left,
//! attribute the failures, and report.
//!
//! The model is driven by the wall clock here: each call passes the milliseconds since the
//! start, and the loop sleeps until the model's next wakeup or the next input from the world,
//! whichever comes first.

mod build;
mod error;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use changeover_load::{Config, LoadHandle, Target};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

use crate::model::{
    Action, Cluster, ConsumerSpec, EventKind, Input, Ms, Options, PodId, Route, Scenario,
};
use crate::report;
use crate::rng::Rng;
use crate::spec::SimSpec;
use crate::world::network::Network;
use crate::world::pods::{self, World};
use crate::world::proxy::{Backend, Proxy, View};

use build::build_report;
pub use error::RunError;
use error::{check_setup, setup_failed};

/// How long the load runs before the scenario begins, so the timeline shows the steady state
/// ([`Plan::lead_in`]'s default).
pub const LEAD_IN: Duration = Duration::from_millis(500);
/// How long the load runs after the scenario completed ([`Plan::tail`]'s default).
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
    /// How long the load runs before the scenario begins ([`LEAD_IN`]; shorter for a quick
    /// look, as `changeover demo --steady` gives).
    pub lead_in: Duration,
    /// How long the load runs after the scenario completed ([`TAIL`]).
    pub tail: Duration,
}

impl Plan {
    /// A plan with the defaults: kube-proxy lagging 0 to 1 s, 8 keep-alive connections as
    /// fast as answers come, `/`, 5 s per request, 30 s to get ready, 5 min for the scenario,
    /// [`LEAD_IN`] before it and [`TAIL`] after.
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
            lead_in: LEAD_IN,
            tail: TAIL,
        }
    }
}

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
                phase = Phase::LeadIn(now + plan.lead_in);
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
                    phase = Phase::Tail(now + plan.tail);
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
            plan.ready_timeout + plan.deadline + plan.lead_in + plan.tail + FIRST_OK + plan.timeout,
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
