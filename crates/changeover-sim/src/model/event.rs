//! The event log: everything that happened to pods, endpoints and controllers, in order.

use serde::Serialize;

use super::Ms;

/// One thing that happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Milliseconds since the simulation started.
    pub at_ms: Ms,
    /// The pod it happened to, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// What happened.
    pub event: EventKind,
    /// For endpoint changes: the consumer that saw it (`kube-proxy`, `ingress`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer: Option<String>,
    /// Details in words (the signal, the exit status, the hook, the budget's arithmetic).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// The kinds of [`Event`], named in JSON as snake_case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The pod object was created (by a ReplicaSet).
    Created,
    /// Its container's process was started.
    Started,
    /// Its Ready condition turned true.
    Ready,
    /// It has been Ready for `minReadySeconds` and is not terminating: it counts as available.
    Available,
    /// Its Ready condition turned false.
    Unready,
    /// A probe failed (the kubelet's `Unhealthy` event).
    Unhealthy,
    /// It was deleted: it has a deletion timestamp and its stop sequence began.
    Terminating,
    /// Its preStop hook began.
    PreStop,
    /// Its preStop hook failed (the kubelet goes on at once).
    PreStopFailed,
    /// The stop signal was sent.
    Signalled,
    /// SIGKILL, at the end of the grace period.
    Killed,
    /// Its container's process exited.
    Exited,
    /// Its container was started again (after a crash or a liveness kill).
    Restarted,
    /// The pod object is gone (its containers all stopped).
    Deleted,
    /// A consumer routes new connections to it as a ready endpoint.
    EndpointReady,
    /// A consumer no longer sees it as ready (it is terminating or not ready there).
    EndpointUnready,
    /// A consumer no longer sees it at all.
    EndpointRemoved,
    /// An eviction of it was accepted.
    Evicted,
    /// An eviction of it was refused by the budget (429); it is retried.
    EvictionRefused,
    /// A ReplicaSet was scaled.
    Scaled,
    /// The scenario began.
    Scenario,
    /// The scenario completed.
    Done,
}

impl EventKind {
    /// The name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::Started => "started",
            EventKind::Ready => "ready",
            EventKind::Available => "available",
            EventKind::Unready => "unready",
            EventKind::Unhealthy => "unhealthy",
            EventKind::Terminating => "terminating",
            EventKind::PreStop => "pre_stop",
            EventKind::PreStopFailed => "pre_stop_failed",
            EventKind::Signalled => "signalled",
            EventKind::Killed => "killed",
            EventKind::Exited => "exited",
            EventKind::Restarted => "restarted",
            EventKind::Deleted => "deleted",
            EventKind::EndpointReady => "endpoint_ready",
            EventKind::EndpointUnready => "endpoint_unready",
            EventKind::EndpointRemoved => "endpoint_removed",
            EventKind::Evicted => "evicted",
            EventKind::EvictionRefused => "eviction_refused",
            EventKind::Scaled => "scaled",
            EventKind::Scenario => "scenario",
            EventKind::Done => "done",
        }
    }
}
