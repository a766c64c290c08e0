//! EndpointSlice conditions and the consumers that watch them, each with its own lag.
//!
//! An endpoint's conditions follow KEP-1672: `serving` is the pod's Ready condition,
//! `terminating` is set once the pod has a deletion timestamp, and `ready` is
//! `serving && !terminating`. The endpoint stays in the slice until every container of the pod
//! has exited. A consumer (kube-proxy, an ingress controller) sees each change of the slice
//! after its own lag, drawn per change; a change overtaken by a later one that arrives first is
//! never applied. kube-proxy routes a new connection to a ready endpoint, else to a serving and
//! terminating one (KEP-1669), else refuses it; other consumers (ingress-nginx) use ready ones
//! only.

use super::{Ms, PodId};

/// One endpoint of the slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// The pod.
    pub pod: PodId,
    /// `conditions.ready`.
    pub ready: bool,
    /// `conditions.serving`.
    pub serving: bool,
    /// `conditions.terminating`.
    pub terminating: bool,
}

/// How a consumer treats an endpoint for a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Picked among the ready endpoints.
    Ready,
    /// Picked only when no endpoint is ready (kube-proxy's serving-terminating fallback).
    Fallback,
    /// Listed, never picked.
    Unused,
}

/// A consumer of endpoint changes and its lag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerSpec {
    /// Its name (`kube-proxy`, `ingress`).
    pub name: String,
    /// The shortest lag, in milliseconds.
    pub min_ms: u64,
    /// The longest lag, in milliseconds.
    pub max_ms: u64,
}

impl ConsumerSpec {
    /// kube-proxy with its default `minSyncPeriod` of 1 s: a lag from 0 to 1 s.
    pub fn kube_proxy() -> ConsumerSpec {
        ConsumerSpec {
            name: "kube-proxy".into(),
            min_ms: 0,
            max_ms: 1000,
        }
    }

    /// Whether it falls back to serving-and-terminating endpoints, as kube-proxy does.
    pub fn falls_back(&self) -> bool {
        self.name == "kube-proxy"
    }
}

/// A consumer's view of the slice, and the changes on their way to it.
#[derive(Debug, Clone)]
pub struct Consumer {
    /// Who it is.
    pub spec: ConsumerSpec,
    /// The slice as it sees it now.
    pub view: Vec<Endpoint>,
    applied: u64,
    pending: Vec<(Ms, u64, Vec<Endpoint>)>,
}

impl Consumer {
    /// A consumer that has seen nothing yet.
    pub fn new(spec: ConsumerSpec) -> Consumer {
        Consumer {
            spec,
            view: Vec::new(),
            applied: 0,
            pending: Vec::new(),
        }
    }

    /// How the view routes to an endpoint.
    pub fn route(&self, e: &Endpoint) -> Route {
        if e.ready {
            Route::Ready
        } else if e.serving && e.terminating && self.spec.falls_back() {
            Route::Fallback
        } else {
            Route::Unused
        }
    }

    /// The route of `pod` in the view, `None` when the view does not list it.
    pub fn route_of(&self, pod: PodId) -> Option<Route> {
        self.view
            .iter()
            .find(|e| e.pod == pod)
            .map(|e| self.route(e))
    }

    /// A new version of the slice, to arrive at `due`.
    pub fn send(&mut self, due: Ms, version: u64, slice: Vec<Endpoint>) {
        self.pending.push((due, version, slice));
    }

    /// When the next change arrives.
    pub fn due(&self) -> Option<Ms> {
        self.pending.iter().map(|p| p.0).min()
    }

    /// Whether changes are still on their way.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Applies what has arrived by `now`: the newest version among them, if newer than the
    /// view. Returns the previous view when it changed.
    pub fn arrive(&mut self, now: Ms) -> Option<Vec<Endpoint>> {
        let mut newest: Option<(u64, Vec<Endpoint>)> = None;
        self.pending.retain(|(due, version, slice)| {
            if *due > now {
                return true;
            }
            if newest.as_ref().is_none_or(|(v, _)| version > v) {
                newest = Some((*version, slice.clone()));
            }
            false
        });
        let (version, slice) = newest?;
        if version <= self.applied {
            return None;
        }
        self.applied = version;
        Some(std::mem::replace(&mut self.view, slice))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(pod: PodId, ready: bool, terminating: bool) -> Endpoint {
        Endpoint {
            pod,
            ready: ready && !terminating,
            serving: ready,
            terminating,
        }
    }

    #[test]
    fn an_overtaken_change_is_never_applied() {
        let mut c = Consumer::new(ConsumerSpec::kube_proxy());
        c.send(900, 1, vec![ep(0, true, false)]);
        c.send(300, 2, vec![ep(0, true, true)]);
        assert!(c.arrive(299).is_none());
        assert!(c.arrive(300).is_some());
        assert_eq!(c.view, [ep(0, true, true)]);
        assert_eq!(c.due(), Some(900));
        assert!(c.arrive(900).is_none(), "version 1 is older than the view");
        assert!(!c.has_pending());
    }

    #[test]
    fn kube_proxy_falls_back_to_serving_terminating_and_ingress_does_not() {
        let kp = Consumer::new(ConsumerSpec::kube_proxy());
        let ing = Consumer::new(ConsumerSpec {
            name: "ingress".into(),
            min_ms: 0,
            max_ms: 3000,
        });
        let e = ep(0, true, true);
        assert_eq!(kp.route(&e), Route::Fallback);
        assert_eq!(ing.route(&e), Route::Unused);
        assert_eq!(kp.route(&ep(1, false, true)), Route::Unused);
        assert_eq!(kp.route(&ep(2, true, false)), Route::Ready);
    }
}
