//! A pod's conditions as the kubelet and the API server derive them — Ready from the probes,
//! available after `minReadySeconds` — and when a pod next needs attention.

use super::pod::{Container, Stage};
use super::probe::{ProbeKind, Worker};
use super::{Cluster, EventKind, Ms, Pod};

impl Cluster {
    /// Recomputes Ready and available from the probes and the clock.
    pub(super) fn update_conditions(&mut self) -> bool {
        let now = self.now;
        let min_ready_ms = self.spec.min_ready_seconds * 1000;
        let mut changed = false;
        for id in 0..self.pods.len() {
            let p = &self.pods[id];
            if p.gone {
                continue;
            }
            let readiness = p
                .probes
                .iter()
                .find(|w| w.kind == ProbeKind::Readiness)
                .map(|w| w.result);
            let has_probe = self.spec.pod.readiness.is_some();
            let ready = p.running() && p.started && (!has_probe || readiness == Some(true));
            if ready != p.ready {
                let p = &mut self.pods[id];
                p.ready = ready;
                p.ready_since = ready.then_some(now);
                let kind = if ready {
                    EventKind::Ready
                } else {
                    EventKind::Unready
                };
                self.event(Some(id), kind, String::new());
                changed = true;
            }
            let p = &self.pods[id];
            let available = p.ready
                && !p.terminating()
                && p.ready_since
                    .is_some_and(|t| min_ready_ms == 0 || now > t + min_ready_ms);
            if available != p.available {
                self.pods[id].available = available;
                if available {
                    self.event(Some(id), EventKind::Available, String::new());
                }
                changed = true;
            }
        }
        changed
    }

    /// When a pod next needs attention.
    pub(super) fn pod_wakeup(&self, p: &Pod) -> Option<Ms> {
        if p.gone {
            return None;
        }
        let container = match p.container {
            Container::BackOff { until } => Some(until),
            Container::Stopping { stage, .. } => match stage {
                Stage::PreStop {
                    deadline,
                    sleep_until,
                    ..
                } => Some(sleep_until.map_or(deadline, |s| s.min(deadline))),
                Stage::Signalled { kill_at, .. } => Some(kill_at),
                Stage::Killed { .. } => None,
            },
            _ => None,
        };
        let probes = p
            .running()
            .then(|| p.probes.iter().filter_map(Worker::due).min())
            .flatten();
        let min_ready_ms = self.spec.min_ready_seconds * 1000;
        let available = (p.ready && !p.available && !p.terminating() && min_ready_ms > 0)
            .then(|| p.ready_since.map(|t| t + min_ready_ms + 1))
            .flatten();
        [container, probes, available].into_iter().flatten().min()
    }
}
