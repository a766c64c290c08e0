//! Each failed request put down to a pod and a cause, with the fix — from what the Service
//! address saw (which pod, how it failed, when) and the event log (what that pod was going
//! through then).
//!
//! The rules, first match wins:
//!
//! - no endpoint to route to: the length of that gap, and why (Recreate, every pod deleted, a
//!   single replica);
//! - refused by a pod after its stop signal: it stopped accepting before the consumer stopped
//!   routing to it; the fix is a stop delay of at least the consumer's longest lag;
//! - refused by a pod that was not stopping: its container had exited, or it had no readiness
//!   probe and was routed to before it listened;
//! - reset or closed after SIGKILL: "cut" by the end of the grace period;
//! - reset or closed as the pod exited after its stop signal: it exited with requests in flight;
//! - reset or closed after the stop signal: it closed a keep-alive connection a request was in
//!   or on its way into;
//! - anything else: what happened, and what to check.

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;

use crate::fmt_ms;
use crate::model::{ConsumerSpec, Event, EventKind, Ms, Scenario};
use crate::spec::{SimSpec, Strategy};
use crate::world::proxy::{How, RawFailure};

/// How long before a failure the pod's exit may be noticed by the model and still count as
/// its cause (the proxy sees the connection break before the exit is reaped and reported).
const EXIT_SLACK_MS: Ms = 250;

/// How long before the stop signal a connection closed with a FIN, never answered, may have
/// been opened and still count as waiting in the accept queue when the server stopped
/// accepting. A reset one needs no such bound: see `broken`.
const QUEUE_SLACK_MS: Ms = 100;

/// What kind of failure, in the report's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The pod refused the connection.
    Refused,
    /// No endpoint to route to.
    NoEndpoint,
    /// The pod reset a connection with a request in it.
    Reset,
    /// The pod closed a connection with a request in it.
    Closed,
    /// SIGKILL cut the request short.
    Cut,
    /// No answer within the client's timeout.
    Timeout,
    /// A status outside 200–299.
    BadStatus,
    /// Not HTTP/1.x.
    Protocol,
    /// Connecting failed otherwise.
    Connect,
}

impl Kind {
    /// The name in JSON and in the text report.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Refused => "refused",
            Kind::NoEndpoint => "no_endpoint",
            Kind::Reset => "reset",
            Kind::Closed => "closed",
            Kind::Cut => "cut",
            Kind::Timeout => "timeout",
            Kind::BadStatus => "bad_status",
            Kind::Protocol => "protocol",
            Kind::Connect => "connect",
        }
    }
}

/// One failed request, attributed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// When it failed, in milliseconds since the simulation started.
    pub at_ms: Ms,
    /// The pod it went to.
    pub pod: Option<String>,
    /// What kind of failure.
    pub kind: Kind,
    /// Why, in words.
    pub cause: String,
    /// What to change.
    pub fix: String,
}

/// What attribution reads.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The event log.
    pub events: &'a [Event],
    /// Every pod's name, by pod id.
    pub pod_names: &'a [String],
    /// The workload.
    pub spec: &'a SimSpec,
    /// The scenario.
    pub scenario: Scenario,
    /// The consumer whose view the load went through.
    pub consumer: &'a ConsumerSpec,
    /// The client's per-request timeout.
    pub timeout: Duration,
}

/// Attributes every failure the proxy saw.
pub fn attribute(cx: &Context<'_>, raw: &[RawFailure]) -> Vec<Failure> {
    let mut out: Vec<Failure> = raw.iter().map(|f| one(cx, f)).collect();
    // "with N requests in flight": the cut failures of one pod's SIGKILL, counted together.
    let mut cut: HashMap<Option<String>, usize> = HashMap::new();
    for f in out.iter().filter(|f| f.kind == Kind::Cut) {
        *cut.entry(f.pod.clone()).or_default() += 1;
    }
    for f in out.iter_mut().filter(|f| f.kind == Kind::Cut) {
        let n = cut[&f.pod];
        let s = if n == 1 { "" } else { "s" };
        f.cause = format!("{} with {n} request{s} in flight", f.cause);
    }
    out
}

fn last(cx: &Context<'_>, pod: &str, kind: EventKind, until: Ms) -> Option<Ms> {
    cx.events
        .iter()
        .filter(|e| e.event == kind && e.consumer.is_none() && e.pod.as_deref() == Some(pod))
        .map(|e| e.at_ms)
        .filter(|&t| t <= until)
        .max()
}

/// When the consumer stopped routing new connections to `pod` as a ready endpoint, at or after
/// `from`.
fn unrouted(cx: &Context<'_>, pod: &str, from: Ms) -> Option<Ms> {
    cx.events
        .iter()
        .filter(|e| {
            matches!(
                e.event,
                EventKind::EndpointUnready | EventKind::EndpointRemoved
            ) && e.consumer.as_deref() == Some(cx.consumer.name.as_str())
                && e.pod.as_deref() == Some(pod)
                && e.at_ms >= from
        })
        .map(|e| e.at_ms)
        .min()
}

/// How many endpoints other than `pod` the consumer routed to as ready at `t`.
fn others_ready_at(cx: &Context<'_>, pod: &str, t: Ms) -> usize {
    let mut ready: Vec<&str> = Vec::new();
    for e in cx.events.iter().take_while(|e| e.at_ms <= t) {
        if e.consumer.as_deref() != Some(cx.consumer.name.as_str()) {
            continue;
        }
        let Some(p) = e.pod.as_deref() else { continue };
        match e.event {
            EventKind::EndpointReady if !ready.contains(&p) => ready.push(p),
            EventKind::EndpointUnready | EventKind::EndpointRemoved => ready.retain(|r| *r != p),
            _ => {}
        }
    }
    ready.iter().filter(|r| **r != pod).count()
}

/// The stop delay that would have covered the consumer's lag: its longest lag, in whole
/// seconds, at least 1 s.
fn needed_delay(cx: &Context<'_>) -> String {
    let s = cx.consumer.max_ms.div_ceil(1000).max(1);
    format!("{s}s")
}

fn one(cx: &Context<'_>, f: &RawFailure) -> Failure {
    let pod = f.pod.and_then(|p| cx.pod_names.get(p).cloned());
    let (kind, cause, fix) = match (&pod, f.how) {
        (_, How::NoEndpoint) | (None, _) => no_endpoint(cx, f.at_ms),
        (Some(p), How::Refused) => refused(cx, p, f.at_ms),
        (Some(p), How::Reset | How::Closed | How::ClosedIdle | How::Connect) => broken(cx, p, f),
        (Some(p), How::Timeout) => (
            Kind::Timeout,
            format!(
                "pod {p} did not answer within the client's {} timeout{}",
                fmt_ms(cx.timeout.as_millis() as u64),
                stopping_words(cx, p, f.at_ms)
            ),
            "find out why the server hangs (its log is in the pod's directory); a request slower than the client's timeout has failed anyway".into(),
        ),
        (Some(p), How::BadStatus(status)) => {
            let stopping = last(cx, p, EventKind::Terminating, f.at_ms).is_some();
            if stopping {
                (
                    Kind::BadStatus,
                    format!("pod {p} answered {status} after it was told to stop"),
                    "keep answering requests normally until the stop delay is over; only the readiness endpoint should fail once stopping".into(),
                )
            } else {
                (
                    Kind::BadStatus,
                    format!("pod {p} answered {status}"),
                    "check the server and the path the load requests (--path)".into(),
                )
            }
        }
        (Some(p), How::Protocol) => (
            Kind::Protocol,
            format!("pod {p} answered with something that is not HTTP/1.x"),
            "load a port and path the server answers over plain HTTP/1.1".into(),
        ),
    };
    Failure {
        at_ms: f.at_ms,
        pod,
        kind,
        cause,
        fix,
    }
}

fn stopping_words(cx: &Context<'_>, pod: &str, t: Ms) -> String {
    match (
        last(cx, pod, EventKind::Killed, t),
        last(cx, pod, EventKind::Signalled, t),
    ) {
        (Some(_), _) => " (it was SIGKILLed)".into(),
        (None, Some(s)) => format!(" ({} after its stop signal)", fmt_ms(t - s)),
        _ => String::new(),
    }
}

fn no_endpoint(cx: &Context<'_>, t: Ms) -> (Kind, String, String) {
    let gap = gap_around(cx, t).map_or("a moment".into(), fmt_ms);
    let consumer = &cx.consumer.name;
    let (why, fix) = match (cx.scenario, cx.spec.strategy) {
        (Scenario::Rollout, Strategy::Recreate) => (
            "Recreate stops every old pod before it creates a new one",
            "use strategy RollingUpdate with maxUnavailable: 0 and maxSurge: 1, so new pods are ready before old ones stop",
        ),
        (Scenario::DeleteAll, _) => (
            "every pod was deleted at once; neither a PodDisruptionBudget nor a rolling update prevents that",
            "delete pods one at a time, or restart them with `kubectl rollout restart`, which follows maxUnavailable",
        ),
        _ if cx.spec.replicas == 1 => (
            "the only replica was stopped",
            "run at least 2 replicas, and roll out with maxUnavailable: 0",
        ),
        _ => (
            "no pod was ready",
            "keep enough pods ready: maxUnavailable: 0 for rollouts, a PodDisruptionBudget for drains, a readiness probe that passes",
        ),
    };
    (
        Kind::NoEndpoint,
        format!("no endpoint for {gap} in {consumer}'s view: {why}"),
        fix.into(),
    )
}

/// The length of the stretch around `t` in which the consumer listed no ready endpoint.
fn gap_around(cx: &Context<'_>, t: Ms) -> Option<Ms> {
    let mut ready: Vec<&str> = Vec::new();
    let mut empty_since: Option<Ms> = None;
    let mut started = false;
    for e in cx.events {
        if e.consumer.as_deref() != Some(cx.consumer.name.as_str()) {
            continue;
        }
        let Some(pod) = e.pod.as_deref() else {
            continue;
        };
        match e.event {
            EventKind::EndpointReady => {
                if !ready.contains(&pod) {
                    ready.push(pod);
                }
                started = true;
            }
            EventKind::EndpointUnready | EventKind::EndpointRemoved => ready.retain(|p| *p != pod),
            _ => continue,
        }
        match (ready.is_empty(), empty_since) {
            (true, None) if started => empty_since = Some(e.at_ms),
            (false, Some(since)) => {
                if (since..=e.at_ms).contains(&t) {
                    return Some(e.at_ms - since);
                }
                empty_since = None;
            }
            _ => {}
        }
    }
    empty_since.filter(|&s| s <= t).map(|s| t - s)
}

fn refused(cx: &Context<'_>, p: &str, t: Ms) -> (Kind, String, String) {
    let consumer = &cx.consumer.name;
    let delay_fix = format!(
        "give it a stop delay of at least {} (preStop sleep, or --stop-delay of changeover run)",
        needed_delay(cx)
    );
    if let (Some(term), Some(signal)) = (
        last(cx, p, EventKind::Terminating, t),
        last(cx, p, EventKind::Signalled, t),
    ) {
        return match unrouted(cx, p, term) {
            // Before the consumer's change, or racing it: other pods were ready, so the pod
            // was picked as a ready one.
            Some(u) if t < u || others_ready_at(cx, p, t) > 0 => (
                Kind::Refused,
                format!(
                    "pod {p} stopped accepting {} before {consumer} stopped routing to it",
                    fmt_ms(u.saturating_sub(signal))
                ),
                delay_fix,
            ),
            // No longer ready there, yet picked: no pod was ready, and a terminating pod still
            // listed as serving is kube-proxy's last resort.
            Some(_) => (
                Kind::Refused,
                format!(
                    "pod {p} had stopped accepting, but no pod was ready, so {consumer} fell back to it as a terminating pod still listed as serving"
                ),
                format!(
                    "{delay_fix}, and keep a pod ready throughout (maxUnavailable: 0, or more replicas)"
                ),
            ),
            None => (
                Kind::Refused,
                format!("pod {p} stopped accepting while {consumer} still routed to it"),
                delay_fix,
            ),
        };
    }
    if let Some(exit) = last(cx, p, EventKind::Exited, t + EXIT_SLACK_MS) {
        if last(cx, p, EventKind::Terminating, t).is_none() {
            return (
                Kind::Refused,
                format!(
                    "pod {p}'s container had exited ({} before) while it was still routed to",
                    fmt_ms(t.saturating_sub(exit))
                ),
                "find out why it exited (output.log in the pod's directory); a readiness probe that fails first takes it out of rotation".into(),
            );
        }
    }
    if cx.spec.pod.readiness.is_none() {
        return (
            Kind::Refused,
            format!(
                "pod {p} was routed to before it listened: with no readiness probe it counts as ready as soon as its process starts"
            ),
            "add a readiness probe (httpGet on the port the Service targets)".into(),
        );
    }
    (
        Kind::Refused,
        format!("pod {p} refused a connection while it was ready"),
        "make the readiness probe check the port the Service targets".into(),
    )
}

fn broken(cx: &Context<'_>, p: &str, f: &RawFailure) -> (Kind, String, String) {
    let t = f.at_ms;
    let kind = match f.how {
        How::Reset | How::Connect => Kind::Reset,
        _ => Kind::Closed,
    };
    let signal = cx.spec.pod.stop_signal.name.as_str();
    if last(cx, p, EventKind::Killed, t).is_some() {
        let grace = cx.spec.pod.grace_seconds;
        return (
            Kind::Cut,
            format!("SIGKILL at the end of the {grace}s grace period"),
            format!(
                "let the server finish within the grace period: raise terminationGracePeriodSeconds (now {grace}) above its stop delay + drain deadline + 2s, or shorten its drain (--drain-timeout of changeover run)"
            ),
        );
    }
    let terminating = last(cx, p, EventKind::Terminating, t);
    let signalled = last(cx, p, EventKind::Signalled, t);
    let exited = last(cx, p, EventKind::Exited, t + EXIT_SLACK_MS);
    // A connection that never got an answer and was still in the accept queue when the
    // listening socket closed. Reset, it is one the server never read a byte of (one it had
    // read and then dropped ends with a FIN, as nothing is left unread), however long it had
    // waited: on a busy machine the queue holds a connection for longer than any fixed bound.
    // Closed with a FIN, only one opened about when the pod was told to stop. Routed there by
    // the lag, like a refused one, or by a stop that came before its turn.
    if let (Some(term), Some(s)) = (terminating, signalled) {
        let queued = f.answered == 0
            && match f.how {
                How::Reset => true,
                How::Closed => f.connected_ms + QUEUE_SLACK_MS >= s,
                _ => false,
            };
        if queued {
            let lag = unrouted(cx, p, term).map_or(String::new(), |u| {
                format!(
                    " {} before {} stopped routing to it",
                    fmt_ms(u.saturating_sub(s)),
                    cx.consumer.name
                )
            });
            return (
                kind,
                format!(
                    "pod {p} stopped accepting{lag}; this connection was still in its accept queue when it closed its listening socket"
                ),
                format!(
                    "give it a stop delay of at least {} (preStop sleep, or --stop-delay of changeover run)",
                    needed_delay(cx)
                ),
            );
        }
    }
    match (terminating, signalled) {
        (_, Some(s)) if exited.is_some_and(|e| e >= s) => (
            kind,
            format!(
                "pod {p} exited {} after {signal} with a request in flight",
                fmt_ms(exited.unwrap_or(s).saturating_sub(s))
            ),
            "on the stop signal, stop accepting but finish the requests in flight before exiting (changeover's serve path does)".into(),
        ),
        (Some(_), Some(_)) => (
            kind,
            if f.how == How::ClosedIdle {
                format!("pod {p} closed an idle keep-alive connection on {signal}; the next request was already on its way")
            } else {
                format!("pod {p} closed a keep-alive connection on {signal} with a request in it")
            },
            format!("on {signal}, answer each keep-alive connection's next request with `Connection: close` before closing it (a lame-duck window), as changeover's serve path does"),
        ),
        (Some(_), None) => (
            kind,
            format!("pod {p} closed a connection during its preStop hook"),
            "keep serving until the stop signal; the preStop hook is the stop delay".into(),
        ),
        (None, Some(_)) => (
            kind,
            format!("pod {p} was restarted by its liveness or startup probe with a request in flight"),
            "make the liveness probe slower to give up (failureThreshold, timeoutSeconds), so a busy server is not killed".into(),
        ),
        (None, None) => (
            kind,
            format!("pod {p} closed a connection with a request in it while it was serving"),
            "check the server's keep-alive idle timeout: it must outlast the client's, or the server must answer `Connection: close` first".into(),
        ),
    }
}

#[cfg(test)]
mod tests;
