//! The EndpointSlice of the Service and the consumers that watch it: each change of the slice
//! is sent to every consumer with a lag drawn for it, and each consumer's view changes when a
//! newer version arrives.

use super::endpoints::{Endpoint, Route};
use super::{Action, Cluster, Event, EventKind};

impl Cluster {
    /// Recomputes the slice from the pods; sends a change to every consumer.
    pub(super) fn publish_slice(&mut self) -> bool {
        let slice: Vec<Endpoint> = self
            .pods
            .iter()
            .filter(|p| !p.gone)
            .map(|p| Endpoint {
                pod: p.id,
                ready: p.ready && !p.terminating(),
                serving: p.ready,
                terminating: p.terminating(),
            })
            .collect();
        if slice == self.slice {
            return false;
        }
        self.slice_version += 1;
        for c in &mut self.consumers {
            let lag = self.rng.between(c.spec.min_ms, c.spec.max_ms);
            c.send(self.now + lag, self.slice_version, slice.clone());
        }
        self.slice = slice;
        true
    }

    /// Applies the changes that reached their consumers, with an event for each endpoint whose
    /// routing changed there.
    pub(super) fn deliver_views(&mut self) -> bool {
        let now = self.now;
        let mut changed = false;
        for i in 0..self.consumers.len() {
            let Some(old) = self.consumers[i].arrive(now) else {
                continue;
            };
            changed = true;
            let c = &self.consumers[i];
            let route =
                |view: &[Endpoint], pod| view.iter().find(|e| e.pod == pod).map(|e| c.route(e));
            let mut pods: Vec<usize> = old.iter().chain(&c.view).map(|e| e.pod).collect();
            pods.sort_unstable();
            pods.dedup();
            let mut events = Vec::new();
            for pod in pods {
                let (before, after) = (route(&old, pod), route(&c.view, pod));
                let kind = match (before, after) {
                    (b, Some(Route::Ready)) if b != Some(Route::Ready) => EventKind::EndpointReady,
                    (Some(Route::Ready), Some(r)) if r != Route::Ready => {
                        EventKind::EndpointUnready
                    }
                    (Some(_), None) => EventKind::EndpointRemoved,
                    _ => continue,
                };
                let detail = match (kind, after) {
                    (EventKind::EndpointUnready, Some(Route::Fallback)) => {
                        "terminating; used only when no endpoint is ready".to_string()
                    }
                    (EventKind::EndpointUnready, _) => "no new connections".to_string(),
                    _ => String::new(),
                };
                events.push(Event {
                    at_ms: now,
                    pod: Some(self.pods[pod].name.clone()),
                    event: kind,
                    consumer: Some(c.spec.name.clone()),
                    detail,
                });
            }
            self.events.extend(events);
            self.actions.push(Action::View { consumer: i });
        }
        changed
    }
}
