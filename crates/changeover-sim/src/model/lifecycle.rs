//! The kubelet's side of the model: starting containers, probing them, the stop sequence
//! (preStop, stop signal, SIGKILL), restarts, and the conditions that follow (Ready, available).

use super::kubelet::{effective_grace_s, hook_deadline, stop_window_ms};
use super::pod::{Container, Deletion, Stage};
use super::probe::{ProbeKind, Worker};
use super::{Action, Cluster, EventKind, Exit, Input, Ms, Pod, PodId};
use crate::spec::{Hook, Probe};

/// The kubelet's first restart delay after the first (immediate) restart, doubled each time.
const BACKOFF_MS: Ms = 10_000;
/// The longest restart delay.
const MAX_BACKOFF_MS: Ms = 300_000;

impl Cluster {
    pub(super) fn apply_input(&mut self, input: Input) {
        let (pod, incarnation) = match &input {
            Input::Started { pod, incarnation }
            | Input::StartFailed {
                pod, incarnation, ..
            }
            | Input::Exited {
                pod, incarnation, ..
            }
            | Input::Probed {
                pod, incarnation, ..
            }
            | Input::HookDone {
                pod, incarnation, ..
            } => (*pod, *incarnation),
        };
        if self
            .pods
            .get(pod)
            .is_none_or(|p| p.incarnation != incarnation || p.gone)
        {
            return; // about an earlier process of the pod, or a pod that is gone
        }
        match input {
            Input::Started { .. } => self.started(pod),
            Input::StartFailed { error, .. } => {
                self.event(
                    Some(pod),
                    EventKind::Exited,
                    format!("could not start: {error}"),
                );
                self.exited(pod, Exit::Code(127));
            }
            Input::Exited { exit, .. } => {
                let context = match self.pods[pod].container {
                    Container::Stopping {
                        stage: Stage::Killed { .. },
                        ..
                    } => " after SIGKILL",
                    Container::Stopping {
                        stage: Stage::Signalled { .. },
                        ..
                    } => " after the stop signal",
                    Container::Stopping { .. } => " during its preStop hook",
                    _ => " on its own",
                };
                self.event(Some(pod), EventKind::Exited, format!("{exit}{context}"));
                self.exited(pod, exit);
            }
            Input::Probed {
                kind, ok, detail, ..
            } => self.probed(pod, kind, ok, detail),
            Input::HookDone { ok, detail, .. } => {
                if let Container::Stopping {
                    stage:
                        Stage::PreStop {
                            sleep_until: None, ..
                        },
                    ..
                } = self.pods[pod].container
                {
                    if !ok {
                        self.event(Some(pod), EventKind::PreStopFailed, detail);
                    }
                    self.end_pre_stop(pod);
                }
            }
        }
    }

    fn started(&mut self, id: PodId) {
        let now = self.now;
        let spec = self.spec.clone();
        let p = &mut self.pods[id];
        if !matches!(p.container, Container::Starting { .. }) {
            return;
        }
        p.container = Container::Running { since: now };
        p.started = spec.pod.startup.is_none();
        let probes = [
            (ProbeKind::Startup, &spec.pod.startup),
            (ProbeKind::Readiness, &spec.pod.readiness),
            (ProbeKind::Liveness, &spec.pod.liveness),
        ];
        p.probes = probes
            .into_iter()
            .filter_map(|(kind, probe)| probe.as_ref().map(|pr| Worker::new(kind, pr.timing, now)))
            .collect();
        let kind = if p.restarts > 0 {
            EventKind::Restarted
        } else {
            EventKind::Started
        };
        let detail = if p.restarts > 0 {
            format!("restart {}", p.restarts)
        } else {
            String::new()
        };
        let deleted = p.deletion;
        self.event(Some(id), kind, detail);
        if let Some(d) = deleted {
            // Deleted while its process was starting: stop it now that it runs.
            self.begin_stop(id, d.grace_s);
        }
    }

    fn exited(&mut self, id: PodId, exit: Exit) {
        let now = self.now;
        let p = &mut self.pods[id];
        p.container = Container::Exited { at: now, exit };
        p.probes.clear();
        if p.deletion.is_some() {
            // Every container has stopped: the pod is terminal and its object is deleted.
            p.gone = true;
            self.event(Some(id), EventKind::Deleted, String::new());
            return;
        }
        // restartPolicy Always: the first restart at once, then 10 s, 20 s, … up to 5 min.
        let delay = match p.restarts {
            0 => 0,
            n => BACKOFF_MS
                .saturating_mul(1 << (n - 1).min(8))
                .min(MAX_BACKOFF_MS),
        };
        p.restarts += 1;
        p.container = Container::BackOff { until: now + delay };
    }

    fn probed(&mut self, id: PodId, kind: ProbeKind, ok: bool, detail: String) {
        let now = self.now;
        let spec = self.spec.clone();
        let Some(w) = self.pods[id].probes.iter_mut().find(|w| w.kind == kind) else {
            return;
        };
        if !w.active {
            return;
        }
        let changed = w.record(now, ok);
        if !ok {
            self.event(
                Some(id),
                EventKind::Unhealthy,
                format!("{} probe failed: {detail}", kind.as_str()),
            );
        }
        match (kind, changed) {
            (ProbeKind::Startup, Some(true)) => self.pods[id].started = true,
            (ProbeKind::Startup | ProbeKind::Liveness, Some(false)) => {
                let probe: &Option<Probe> = if kind == ProbeKind::Startup {
                    &spec.pod.startup
                } else {
                    &spec.pod.liveness
                };
                let grace = probe
                    .as_ref()
                    .and_then(|p| p.termination_grace_seconds)
                    .unwrap_or(spec.pod.grace_seconds);
                if matches!(self.pods[id].container, Container::Running { .. }) {
                    self.begin_stop(id, grace);
                }
            }
            _ => {}
        }
    }

    /// Creates a pod of ReplicaSet `revision` and asks for its process.
    pub(super) fn create_pod(&mut self, revision: usize) {
        let id = self.pods.len();
        let ordinal = id as u32 + 1;
        let uid = self.rng.next_u64();
        self.pods.push(Pod {
            id,
            name: format!("{}-{ordinal}", self.spec.name),
            ordinal,
            revision,
            uid,
            created: self.now,
            incarnation: 0,
            container: Container::Starting { since: self.now },
            started: false,
            ready: false,
            ready_since: None,
            available: false,
            deletion: None,
            restarts: 0,
            gone: false,
            probes: Vec::new(),
        });
        let rs = self.rss[revision].name.clone();
        self.event(Some(id), EventKind::Created, format!("by ReplicaSet {rs}"));
        self.start_container(id);
    }

    fn start_container(&mut self, id: PodId) {
        let p = &mut self.pods[id];
        p.incarnation += 1;
        p.container = Container::Starting { since: self.now };
        p.started = false;
        p.probes.clear();
        let incarnation = p.incarnation;
        self.actions.push(Action::Start {
            pod: id,
            incarnation,
        });
    }

    /// Deletes a pod with its grace period: it becomes terminating and its stop sequence
    /// begins. `why` says who deleted it.
    pub(super) fn delete_pod(&mut self, id: PodId, evicted: bool, why: &str) {
        let grace_s = self.spec.pod.grace_seconds;
        let now = self.now;
        let p = &mut self.pods[id];
        if p.terminating() || p.gone {
            return;
        }
        p.deletion = Some(Deletion {
            at: now,
            grace_s,
            evicted,
        });
        p.available = false;
        // StopLivenessAndStartup: readiness goes on until the containers stop.
        for w in &mut p.probes {
            if w.kind != ProbeKind::Readiness {
                w.active = false;
            }
        }
        let container = p.container.clone();
        self.event(
            Some(id),
            EventKind::Terminating,
            format!("{why}; grace period {grace_s}s"),
        );
        match container {
            Container::Running { .. } => self.begin_stop(id, grace_s),
            // Its stop is under way (a liveness kill), or starts once the process runs.
            Container::Stopping { .. } | Container::Starting { .. } => {}
            Container::BackOff { .. } | Container::Exited { .. } => {
                self.pods[id].gone = true;
                self.event(
                    Some(id),
                    EventKind::Deleted,
                    "no container was running".into(),
                );
            }
        }
    }

    /// `killContainer`: the preStop hook (bounded by the grace budget), then the stop signal.
    fn begin_stop(&mut self, id: PodId, grace_s: i64) {
        let g = effective_grace_s(grace_s);
        let now = self.now;
        let since = now;
        let hook = self.spec.pod.pre_stop.clone();
        let incarnation = self.pods[id].incarnation;
        match hook {
            Some(hook) => {
                let sleep_until = match &hook {
                    Hook::Sleep { ms } => Some(now + ms),
                    Hook::Exec { .. } | Hook::HttpGet { .. } => {
                        self.actions.push(Action::Hook {
                            pod: id,
                            incarnation,
                        });
                        None
                    }
                };
                self.pods[id].container = Container::Stopping {
                    since,
                    grace_s: g,
                    stage: Stage::PreStop {
                        started: now,
                        deadline: hook_deadline(now, g),
                        sleep_until,
                    },
                };
                self.event(Some(id), EventKind::PreStop, hook.describe());
            }
            None => {
                self.pods[id].container = Container::Stopping {
                    since,
                    grace_s: g,
                    stage: Stage::Signalled {
                        at: now,
                        kill_at: now,
                    },
                };
                self.signal(id, None);
            }
        }
    }

    fn end_pre_stop(&mut self, id: PodId) {
        if let Container::Stopping {
            stage: Stage::PreStop { started, .. },
            ..
        } = self.pods[id].container
        {
            let elapsed = self.now.saturating_sub(started);
            self.signal(id, Some(elapsed));
        }
    }

    /// Sends the stop signal and schedules SIGKILL.
    fn signal(&mut self, id: PodId, hook_elapsed: Option<Ms>) {
        let now = self.now;
        let Container::Stopping { since, grace_s, .. } = self.pods[id].container else {
            return;
        };
        let window = stop_window_ms(grace_s, hook_elapsed, self.legacy_grace);
        self.pods[id].container = Container::Stopping {
            since,
            grace_s,
            stage: Stage::Signalled {
                at: now,
                kill_at: now + window,
            },
        };
        let incarnation = self.pods[id].incarnation;
        let signal = self.spec.pod.stop_signal.clone();
        self.actions.push(Action::Signal {
            pod: id,
            incarnation,
            signal: signal.number,
        });
        self.event(
            Some(id),
            EventKind::Signalled,
            format!("{}; SIGKILL in {}", signal.name, crate::fmt_ms(window)),
        );
    }

    /// Applies the pods' timers that are due: restarts, hook ends, SIGKILL, probe ticks.
    pub(super) fn pod_timers(&mut self) -> bool {
        let now = self.now;
        let mut changed = false;
        for id in 0..self.pods.len() {
            if self.pods[id].gone {
                continue;
            }
            match self.pods[id].container {
                Container::BackOff { until } if until <= now => {
                    self.start_container(id);
                    changed = true;
                }
                Container::Stopping {
                    stage:
                        Stage::PreStop {
                            deadline,
                            sleep_until,
                            ..
                        },
                    ..
                } => {
                    let end = sleep_until.map_or(deadline, |s| s.min(deadline));
                    if end <= now {
                        if sleep_until.is_none_or(|s| s > deadline) {
                            // The hook is not killed; the kubelet just stops waiting for it.
                            self.event(
                                Some(id),
                                EventKind::PreStopFailed,
                                "still running when the grace budget ran out; the kubelet went on"
                                    .into(),
                            );
                        }
                        self.end_pre_stop(id);
                        changed = true;
                    }
                }
                Container::Stopping {
                    since,
                    grace_s,
                    stage: Stage::Signalled { kill_at, .. },
                } if kill_at <= now => {
                    self.pods[id].container = Container::Stopping {
                        since,
                        grace_s,
                        stage: Stage::Killed { at: now },
                    };
                    let incarnation = self.pods[id].incarnation;
                    self.actions.push(Action::Kill {
                        pod: id,
                        incarnation,
                    });
                    self.event(
                        Some(id),
                        EventKind::Killed,
                        format!("SIGKILL at the end of the {grace_s}s grace period"),
                    );
                    changed = true;
                }
                _ => {}
            }
            changed |= self.probe_ticks(id);
        }
        changed
    }

    fn probe_ticks(&mut self, id: PodId) -> bool {
        let now = self.now;
        let p = &mut self.pods[id];
        if !p.running() {
            return false;
        }
        let started = p.started;
        let incarnation = p.incarnation;
        let mut fired = Vec::new();
        for w in &mut p.probes {
            if w.due().is_some_and(|d| d <= now) {
                let gated = w.kind != ProbeKind::Startup && !started;
                if w.tick(now, gated) {
                    fired.push(w.kind);
                }
            }
        }
        let changed = !fired.is_empty();
        for kind in fired {
            self.actions.push(Action::Probe {
                pod: id,
                incarnation,
                kind,
            });
        }
        changed
    }
}
