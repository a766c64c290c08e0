//! The control plane's side of the model: the Deployment controller, the ReplicaSet
//! controller, the Eviction API behind a drain, and the scenarios that set them going.

use super::deployment::{self, Rs, fenceposts};
use super::disruption::{self, PodState, Verdict};
use super::replicaset::{Candidate, deletion_order};
use super::{Cluster, DRAIN_RETRY_MS, EventKind, ReplicaSet, Scenario, ScenarioState};

impl Cluster {
    /// Adds a ReplicaSet for the Deployment's current template (the first, or a rollout's).
    pub(super) fn add_replica_set(&mut self) {
        let fp = fenceposts(&self.spec.strategy, self.replicas);
        let n = self.rss.len() + 1;
        self.rss.push(ReplicaSet {
            name: format!("{}-r{n}", self.spec.name),
            spec: 0,
            desired: self.replicas,
            max: self.replicas + fp.surge,
        });
    }

    /// One sync of the Deployment controller.
    pub(super) fn sync_deployment(&mut self) -> bool {
        let mut rows: Vec<Rs> = (0..self.rss.len())
            .map(|i| {
                let of = || self.pods.iter().filter(move |p| p.revision == i && !p.gone);
                Rs {
                    spec: self.rss[i].spec,
                    available: of().filter(|p| p.available).count() as i64,
                    pods: of().count() as i64,
                    desired: self.rss[i].desired,
                    max: self.rss[i].max,
                }
            })
            .collect();
        let changes = deployment::sync(self.replicas, &self.spec.strategy, &mut rows);
        for (rs, row) in self.rss.iter_mut().zip(&rows) {
            rs.spec = row.spec;
            rs.desired = row.desired;
            rs.max = row.max;
        }
        for &(i, from, to) in &changes {
            let name = self.rss[i].name.clone();
            self.event(
                None,
                EventKind::Scaled,
                format!("ReplicaSet {name}: {from} → {to}"),
            );
        }
        !changes.is_empty()
    }

    /// `manageReplicas` for every ReplicaSet: create missing pods, delete extra ones in
    /// Kubernetes' order.
    pub(super) fn manage_replica_sets(&mut self) -> bool {
        let mut changed = false;
        for i in 0..self.rss.len() {
            let active: Vec<usize> = (0..self.pods.len())
                .filter(|&p| self.pods[p].revision == i && self.pods[p].active())
                .collect();
            let diff = active.len() as i64 - self.rss[i].spec;
            if diff < 0 {
                for _ in 0..-diff {
                    self.create_pod(i);
                }
                changed = true;
            } else if diff > 0 {
                let mut ranked: Vec<Candidate> = active
                    .iter()
                    .map(|&id| {
                        let p = &self.pods[id];
                        Candidate {
                            id,
                            running: p.running(),
                            ready: p.ready,
                            ready_since: p.ready_since,
                            restarts: p.restarts,
                            created: p.created,
                            uid: p.uid,
                        }
                    })
                    .collect();
                deletion_order(&mut ranked, self.now);
                let why = format!("scale-down of ReplicaSet {}", self.rss[i].name);
                for c in ranked.iter().take(diff as usize) {
                    self.delete_pod(c.id, false, &why);
                }
                changed = true;
            }
        }
        changed
    }

    pub(super) fn begin_scenario(&mut self, scenario: Scenario) {
        let now = self.now;
        let active: Vec<usize> = (0..self.pods.len())
            .filter(|&p| self.pods[p].active())
            .collect();
        let state = match scenario {
            Scenario::Rollout => {
                self.add_replica_set();
                let name = self.rss.last().map(|r| r.name.clone()).unwrap_or_default();
                self.event(
                    None,
                    EventKind::Scenario,
                    format!("rollout: a new ReplicaSet {name} (the template changed)"),
                );
                ScenarioState::Rollout
            }
            Scenario::Drain => {
                self.event(
                    None,
                    EventKind::Scenario,
                    format!("drain: evicting {} pods", active.len()),
                );
                ScenarioState::Drain {
                    queue: active.iter().map(|&p| (p, now)).collect(),
                    targets: active,
                }
            }
            Scenario::Delete => {
                let pick = active[self.rng.below(active.len() as u64) as usize];
                let name = self.pods[pick].name.clone();
                self.event(None, EventKind::Scenario, format!("delete pod {name}"));
                self.delete_pod(pick, false, "kubectl delete pod");
                ScenarioState::Delete {
                    targets: vec![pick],
                }
            }
            Scenario::DeleteAll => {
                self.event(
                    None,
                    EventKind::Scenario,
                    format!("delete all {} pods at once", active.len()),
                );
                for &p in &active {
                    self.delete_pod(p, false, "kubectl delete pods --all");
                }
                ScenarioState::Delete { targets: active }
            }
        };
        self.scenario = Some((scenario, now, state));
        self.min_available = Some(self.available());
    }

    /// The evictions of a drain that are due: each is tried against the budget; a refused one
    /// is retried 5 s later, as `kubectl drain` does.
    pub(super) fn scenario_step(&mut self) -> bool {
        let now = self.now;
        let Some((_, _, ScenarioState::Drain { queue, .. })) = &mut self.scenario else {
            return false;
        };
        let due: Vec<usize> = queue.iter().filter(|q| q.1 <= now).map(|q| q.0).collect();
        if due.is_empty() {
            return false;
        }
        for id in due {
            let p = &self.pods[id];
            let verdict = if p.gone {
                Verdict::Allowed
            } else {
                let state = if p.terminating() {
                    PodState::Terminating
                } else if !p.running() {
                    PodState::Pending
                } else if p.ready {
                    PodState::Healthy
                } else {
                    PodState::Unhealthy
                };
                match &self.spec.budget {
                    None => Verdict::Allowed,
                    Some(b) => {
                        let healthy =
                            self.pods.iter().filter(|p| p.active() && p.ready).count() as i64;
                        disruption::evict(b, self.replicas, healthy, state)
                    }
                }
            };
            let budget = self.spec.budget.as_ref().map(|b| b.name.clone());
            let next = match verdict {
                Verdict::Allowed => {
                    let detail = match &budget {
                        Some(b) => format!("{b} allows it"),
                        None => "no PodDisruptionBudget selects it".into(),
                    };
                    self.event(Some(id), EventKind::Evicted, detail);
                    self.delete_pod(id, true, "evicted by kubectl drain");
                    None
                }
                Verdict::Refused { healthy, desired } => {
                    self.event(
                        Some(id),
                        EventKind::EvictionRefused,
                        format!(
                            "429: {} would be violated ({healthy} healthy, {desired} needed); kubectl drain retries in 5s",
                            budget.unwrap_or_default()
                        ),
                    );
                    Some(now + DRAIN_RETRY_MS)
                }
            };
            if let Some((_, _, ScenarioState::Drain { queue, .. })) = &mut self.scenario {
                match next {
                    Some(t) => queue.iter_mut().filter(|q| q.0 == id).for_each(|q| q.1 = t),
                    None => queue.retain(|q| q.0 != id),
                }
            }
        }
        true
    }

    /// Notes the fewest available pods since the scenario began.
    pub(super) fn note_available(&mut self) {
        if self.scenario.is_some() && self.done.is_none() {
            let available = self.available();
            self.min_available = Some(self.min_available.map_or(available, |m| m.min(available)));
        }
    }

    /// Notes whether the scenario is complete: the newest
    /// ReplicaSet has every replica available, no older pod exists, every target of the
    /// scenario is gone, and every consumer has seen the last change.
    pub(super) fn track_progress(&mut self) {
        let Some((_, _, state)) = &self.scenario else {
            return;
        };
        if self.done.is_some() {
            return;
        }
        let newest = self.rss.len() - 1;
        let targets_gone = match state {
            ScenarioState::Rollout => true,
            ScenarioState::Drain { queue, targets } => {
                queue.is_empty() && targets.iter().all(|&t| self.pods[t].gone)
            }
            ScenarioState::Delete { targets } => targets.iter().all(|&t| self.pods[t].gone),
        };
        let complete = targets_gone
            && self.rss[newest].spec == self.replicas
            && self
                .pods
                .iter()
                .filter(|p| p.revision == newest && p.available)
                .count() as i64
                == self.replicas
            && self.pods.iter().all(|p| p.revision == newest || p.gone)
            && self.consumers.iter().all(|c| !c.has_pending());
        if complete {
            self.done = Some(self.now);
            self.event(None, EventKind::Done, String::new());
        }
    }
}
