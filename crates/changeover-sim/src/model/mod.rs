//! The simulated control plane and kubelet: a state machine that reads inputs from the world
//! (a process started or exited, a probe answered, a hook finished) and the clock, and answers
//! with actions (start a process, probe it, run its hook, signal it, kill it, change a
//! consumer's routing). It never touches a process, a socket or a clock itself.
//!
//! # Why an explicit clock
//!
//! Time is passed in: every call carries `now`, in milliseconds since the simulation started,
//! and [`Cluster::next_wakeup`] says when the machine next needs to be called. The real driver
//! calls it from tokio with the wall clock; tests call it with any times they like, with a
//! fake world answering instantly or never, and get exact, replayable results without a
//! runtime. (Tokio's paused clock would also work, but would put awaits inside the
//! controllers' rules for no gain.)
//!
//! # What happens in one call
//!
//! An input or a tick applies what is due, then repeats until nothing changes: the pods'
//! timers (a hook's end, SIGKILL, a probe tick, a restart), their conditions (Ready,
//! available), the scenario (evictions due), the Deployment controller (one sync at a time),
//! the ReplicaSets (create or delete pods), the EndpointSlice, and each consumer's view.

pub mod deployment;
pub mod disruption;
pub mod endpoints;
pub mod event;
pub mod kubelet;
pub mod pod;
pub mod probe;
pub mod replicaset;

mod conditions;
mod control;
mod lifecycle;
mod routing;

use std::sync::Arc;

use crate::rng::Rng;
use crate::spec::SimSpec;

pub use endpoints::{ConsumerSpec, Endpoint, Route};
pub use event::{Event, EventKind};
pub use pod::{Container, Deletion, Exit, Pod, Stage};
pub use probe::ProbeKind;

/// Milliseconds since the simulation started.
pub type Ms = u64;

/// A pod's index in [`Cluster::pods`].
pub type PodId = usize;

/// What the world tells the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The process of `pod` (this incarnation) is running.
    Started {
        /// The pod.
        pod: PodId,
        /// Which start of its container.
        incarnation: u32,
    },
    /// The process could not be started.
    StartFailed {
        /// The pod.
        pod: PodId,
        /// Which start.
        incarnation: u32,
        /// Why, in words.
        error: String,
    },
    /// The process exited.
    Exited {
        /// The pod.
        pod: PodId,
        /// Which start.
        incarnation: u32,
        /// How.
        exit: Exit,
    },
    /// A probe answered.
    Probed {
        /// The pod.
        pod: PodId,
        /// Which start.
        incarnation: u32,
        /// Which probe.
        kind: ProbeKind,
        /// Success.
        ok: bool,
        /// What happened (`status 503`, `connect: refused`).
        detail: String,
    },
    /// An `exec` or `httpGet` preStop hook finished.
    HookDone {
        /// The pod.
        pod: PodId,
        /// Which start.
        incarnation: u32,
        /// Success (for `httpGet`, any response; only a transport error fails).
        ok: bool,
        /// What happened.
        detail: String,
    },
}

/// What the model asks of the world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start the pod's process (its container).
    Start {
        /// The pod.
        pod: PodId,
        /// Which start this is.
        incarnation: u32,
    },
    /// Run one of its probes.
    Probe {
        /// The pod.
        pod: PodId,
        /// Which start.
        incarnation: u32,
        /// Which probe.
        kind: ProbeKind,
    },
    /// Run its `exec` or `httpGet` preStop hook.
    Hook {
        /// The pod.
        pod: PodId,
        /// Which start.
        incarnation: u32,
    },
    /// Send the stop signal to its process.
    Signal {
        /// The pod.
        pod: PodId,
        /// Which start.
        incarnation: u32,
        /// The signal number.
        signal: i32,
    },
    /// SIGKILL everything in the container.
    Kill {
        /// The pod.
        pod: PodId,
        /// Which start.
        incarnation: u32,
    },
    /// A consumer's view of the endpoints changed.
    View {
        /// The consumer's index.
        consumer: usize,
    },
}

/// What to rehearse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// A rolling update (or Recreate) to a new ReplicaSet.
    Rollout,
    /// `kubectl drain`: every pod evicted through the budget, retried every 5 s.
    Drain,
    /// One pod deleted.
    Delete,
    /// Every pod deleted at once.
    DeleteAll,
}

impl Scenario {
    /// The name as on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Scenario::Rollout => "rollout",
            Scenario::Drain => "drain",
            Scenario::Delete => "delete",
            Scenario::DeleteAll => "delete-all",
        }
    }
}

/// `kubectl drain`'s wait before retrying a refused eviction.
pub const DRAIN_RETRY_MS: Ms = 5_000;

/// Options of the model.
#[derive(Debug, Clone)]
pub struct Options {
    /// Fixes every random choice.
    pub seed: u64,
    /// A kubelet from 1.22 until kubernetes#115835: the full grace period again after the hook.
    pub legacy_grace: bool,
    /// The consumers of endpoint changes (at least one).
    pub consumers: Vec<ConsumerSpec>,
}

/// One ReplicaSet of the Deployment.
#[derive(Debug, Clone)]
pub struct ReplicaSet {
    /// `NAME-rN`.
    pub name: String,
    /// `spec.replicas`.
    pub spec: i64,
    /// The desired-replicas annotation.
    pub desired: i64,
    /// The max-replicas annotation.
    pub max: i64,
}

#[derive(Debug, Clone)]
enum ScenarioState {
    Rollout,
    Drain {
        /// Pods still to evict and when to try next.
        queue: Vec<(PodId, Ms)>,
        targets: Vec<PodId>,
    },
    Delete {
        targets: Vec<PodId>,
    },
}

/// The simulated cluster: one Deployment, its ReplicaSets and pods, its EndpointSlice, and the
/// consumers of that slice.
#[derive(Debug)]
pub struct Cluster {
    spec: Arc<SimSpec>,
    legacy_grace: bool,
    rng: Rng,
    now: Ms,
    replicas: i64,
    pods: Vec<Pod>,
    rss: Vec<ReplicaSet>,
    slice: Vec<Endpoint>,
    slice_version: u64,
    consumers: Vec<endpoints::Consumer>,
    load_consumer: usize,
    events: Vec<Event>,
    actions: Vec<Action>,
    scenario: Option<(Scenario, Ms, ScenarioState)>,
    done: Option<Ms>,
    min_available: Option<i64>,
}

impl Cluster {
    /// A cluster for `spec`, with nothing created yet; [`Cluster::start`] creates the pods.
    pub fn new(spec: Arc<SimSpec>, options: Options) -> Cluster {
        let mut consumers = options.consumers;
        if consumers.is_empty() {
            consumers.push(ConsumerSpec::kube_proxy());
        }
        // The load goes through the slowest consumer's view (the first of the slowest).
        let load_consumer = (0..consumers.len())
            .rev()
            .max_by_key(|&i| consumers[i].max_ms)
            .unwrap_or(0);
        Cluster {
            replicas: spec.replicas,
            spec,
            legacy_grace: options.legacy_grace,
            rng: Rng::new(options.seed),
            now: 0,
            pods: Vec::new(),
            rss: Vec::new(),
            slice: Vec::new(),
            slice_version: 0,
            consumers: consumers
                .into_iter()
                .map(endpoints::Consumer::new)
                .collect(),
            load_consumer,
            events: Vec::new(),
            actions: Vec::new(),
            scenario: None,
            done: None,
            min_available: None,
        }
    }

    /// Creates the Deployment's first ReplicaSet, whose pods the world is then asked to start.
    pub fn start(&mut self, now: Ms) {
        self.now = now;
        self.add_replica_set();
        self.advance(now);
    }

    /// Applies an input from the world, then whatever is due.
    pub fn handle(&mut self, now: Ms, input: Input) {
        self.now = self.now.max(now);
        self.apply_input(input);
        self.advance(now);
    }

    /// Applies whatever is due at `now`.
    pub fn advance(&mut self, now: Ms) {
        self.now = self.now.max(now);
        for _ in 0..1000 {
            let mut changed = self.pod_timers();
            changed |= self.update_conditions();
            self.note_available();
            changed |= self.scenario_step();
            changed |= self.sync_deployment();
            changed |= self.manage_replica_sets();
            self.note_available();
            changed |= self.publish_slice();
            changed |= self.deliver_views();
            if !changed {
                break;
            }
        }
        self.track_progress();
    }

    /// Starts the scenario now.
    pub fn begin(&mut self, now: Ms, scenario: Scenario) {
        self.now = self.now.max(now);
        self.begin_scenario(scenario);
        self.advance(now);
    }

    /// Changes the Deployment's replica count (an autoscaler or `kubectl scale`).
    pub fn scale(&mut self, now: Ms, replicas: i64) {
        self.now = self.now.max(now);
        self.replicas = replicas;
        self.advance(now);
    }

    /// The actions asked for since the last call, in order.
    pub fn take_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }

    /// When the model next needs [`Cluster::advance`], if ever.
    pub fn next_wakeup(&self) -> Option<Ms> {
        let pods = self.pods.iter().filter_map(|p| self.pod_wakeup(p));
        let consumers = self.consumers.iter().filter_map(|c| c.due());
        let drain = match &self.scenario {
            Some((_, _, ScenarioState::Drain { queue, .. })) => queue.iter().map(|q| q.1).min(),
            _ => None,
        };
        pods.chain(consumers).chain(drain).min()
    }

    /// The latest time it was called with.
    pub fn now(&self) -> Ms {
        self.now
    }

    /// The spec it simulates.
    pub fn spec(&self) -> &SimSpec {
        &self.spec
    }

    /// Every pod ever created.
    pub fn pods(&self) -> &[Pod] {
        &self.pods
    }

    /// The Deployment's ReplicaSets, oldest first.
    pub fn replica_sets(&self) -> &[ReplicaSet] {
        &self.rss
    }

    /// Everything that happened, in order.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The consumers of endpoint changes.
    pub fn consumers(&self) -> impl Iterator<Item = &ConsumerSpec> {
        self.consumers.iter().map(|c| &c.spec)
    }

    /// The consumer whose view the load goes through (the slowest).
    pub fn load_consumer(&self) -> usize {
        self.load_consumer
    }

    /// Consumer `i`'s routes: the pods it lists, with how it routes to each.
    pub fn routes(&self, i: usize) -> Vec<(PodId, Route)> {
        let c = &self.consumers[i];
        c.view.iter().map(|e| (e.pod, c.route(e))).collect()
    }

    /// Pods available now.
    pub fn available(&self) -> i64 {
        self.pods.iter().filter(|p| p.available).count() as i64
    }

    /// The fewest pods available at any moment since the scenario began.
    pub fn min_available(&self) -> Option<i64> {
        self.min_available
    }

    /// The scenario and when it began.
    pub fn scenario(&self) -> Option<(Scenario, Ms)> {
        self.scenario.as_ref().map(|(s, at, _)| (*s, *at))
    }

    /// When the scenario completed.
    pub fn done(&self) -> Option<Ms> {
        self.done
    }

    /// Whether the Deployment is up before any scenario: every replica available and every
    /// consumer routing to all of them, with no change on its way.
    pub fn settled(&self) -> bool {
        let r = self.replicas;
        self.available() == r
            && self.consumers.iter().all(|c| {
                !c.has_pending()
                    && c.view.iter().filter(|e| c.route(e) == Route::Ready).count() as i64 == r
            })
    }

    fn event(&mut self, pod: Option<PodId>, kind: EventKind, detail: String) {
        let pod = pod.map(|p| self.pods[p].name.clone());
        self.events.push(Event {
            at_ms: self.now,
            pod,
            event: kind,
            consumer: None,
            detail,
        });
    }
}

#[cfg(test)]
mod tests;
