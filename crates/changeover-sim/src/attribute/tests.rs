//! Attribution on hand-written histories: each rule, with the words it must say.

use std::time::Duration;

use super::*;
use crate::spec::SimSpec;
use crate::world::proxy::{How, RawFailure};

fn ev(at_ms: Ms, pod: &str, event: EventKind, consumer: Option<&str>) -> Event {
    Event {
        at_ms,
        pod: (!pod.is_empty()).then(|| pod.to_string()),
        event,
        consumer: consumer.map(String::from),
        detail: String::new(),
    }
}

fn raw(at_ms: Ms, pod: Option<usize>, how: How) -> RawFailure {
    RawFailure {
        at_ms,
        pod,
        how,
        connected_ms: at_ms,
        request_ms: at_ms,
        answered: 1,
    }
}

fn attribute_with(
    spec: &SimSpec,
    scenario: Scenario,
    events: &[Event],
    failures: &[RawFailure],
) -> Vec<Failure> {
    let names = vec!["web-1".to_string(), "web-2".to_string()];
    let consumer = ConsumerSpec {
        name: "kube-proxy".into(),
        min_ms: 0,
        max_ms: 1500,
    };
    attribute(
        &Context {
            events,
            pod_names: &names,
            spec,
            scenario,
            consumer: &consumer,
            timeout: Duration::from_secs(5),
        },
        failures,
    )
}

const KP: Option<&str> = Some("kube-proxy");

#[test]
fn refused_after_the_signal_says_how_much_stop_delay_was_missing() {
    let events = [
        ev(1000, "web-1", EventKind::Terminating, None),
        ev(1000, "web-1", EventKind::Signalled, None),
        ev(1020, "web-1", EventKind::Exited, None),
        ev(1800, "web-1", EventKind::EndpointUnready, KP),
    ];
    let f = attribute_with(
        &SimSpec::new("web", 2),
        Scenario::Delete,
        &events,
        &[raw(1500, Some(0), How::Refused)],
    );
    assert_eq!(f[0].kind, Kind::Refused);
    assert_eq!(f[0].pod.as_deref(), Some("web-1"));
    assert_eq!(
        f[0].cause,
        "pod web-1 stopped accepting 800ms before kube-proxy stopped routing to it"
    );
    // The longest lag is 1.5 s: a whole 2 s covers it.
    assert!(
        f[0].fix.starts_with("give it a stop delay of at least 2s"),
        "{}",
        f[0].fix
    );
}

#[test]
fn resets_after_sigkill_are_cut_and_counted_together() {
    let events = [
        ev(1000, "web-1", EventKind::Terminating, None),
        ev(1000, "web-1", EventKind::Signalled, None),
        ev(3000, "web-1", EventKind::Killed, None),
    ];
    let mut spec = SimSpec::new("web", 2);
    spec.pod.grace_seconds = 2;
    let f = attribute_with(
        &spec,
        Scenario::Delete,
        &events,
        &[
            raw(3002, Some(0), How::Reset),
            raw(3003, Some(0), How::Closed),
        ],
    );
    assert!(f.iter().all(|f| f.kind == Kind::Cut));
    assert_eq!(
        f[0].cause,
        "SIGKILL at the end of the 2s grace period with 2 requests in flight"
    );
}

#[test]
fn a_keep_alive_close_on_sigterm_and_an_exit_with_requests_in_flight() {
    let events = [
        ev(1000, "web-1", EventKind::Terminating, None),
        ev(1000, "web-1", EventKind::Signalled, None),
        ev(4000, "web-1", EventKind::Exited, None),
    ];
    let spec = SimSpec::new("web", 2);
    let f = attribute_with(
        &spec,
        Scenario::Delete,
        &events,
        &[
            raw(1200, Some(0), How::ClosedIdle),
            raw(3900, Some(0), How::Reset),
        ],
    );
    assert_eq!(f[0].kind, Kind::Closed);
    assert_eq!(
        f[0].cause,
        "pod web-1 closed an idle keep-alive connection on SIGTERM; the next request was already on its way"
    );
    assert!(f[0].fix.contains("Connection: close"));
    assert_eq!(f[1].kind, Kind::Reset);
    assert_eq!(
        f[1].cause,
        "pod web-1 exited 3s after SIGTERM with a request in flight"
    );
}

#[test]
fn no_endpoint_gives_the_gap_and_the_reason() {
    let events = [
        ev(100, "web-1", EventKind::EndpointReady, KP),
        ev(1000, "web-1", EventKind::EndpointRemoved, KP),
        ev(3100, "web-2", EventKind::EndpointReady, KP),
    ];
    let mut spec = SimSpec::new("web", 1);
    spec.strategy = crate::spec::Strategy::Recreate;
    let f = attribute_with(
        &spec,
        Scenario::Rollout,
        &events,
        &[raw(2000, None, How::NoEndpoint)],
    );
    assert_eq!(f[0].kind, Kind::NoEndpoint);
    assert_eq!(f[0].pod, None);
    assert!(
        f[0].cause
            .starts_with("no endpoint for 2.1s in kube-proxy's view: Recreate"),
        "{}",
        f[0].cause
    );
    let f = attribute_with(
        &SimSpec::new("web", 2),
        Scenario::DeleteAll,
        &events,
        &[raw(2000, None, How::NoEndpoint)],
    );
    assert!(
        f[0].cause.contains("every pod was deleted at once"),
        "{}",
        f[0].cause
    );
}

#[test]
fn refused_by_a_pod_with_no_readiness_probe_before_it_listened() {
    let events = [
        ev(0, "web-2", EventKind::Started, None),
        ev(0, "web-2", EventKind::Ready, None),
    ];
    let f = attribute_with(
        &SimSpec::new("web", 2),
        Scenario::Rollout,
        &events,
        &[raw(5, Some(1), How::Refused)],
    );
    assert!(f[0].cause.contains("before it listened"), "{}", f[0].cause);
    assert!(f[0].fix.contains("readiness probe"));
}

#[test]
fn a_fresh_connection_reset_as_the_pod_stops_accepting_was_in_its_accept_queue() {
    let events = [
        ev(0, "web-2", EventKind::EndpointReady, KP),
        ev(1000, "web-1", EventKind::Terminating, None),
        ev(1000, "web-1", EventKind::Signalled, None),
        ev(1800, "web-1", EventKind::EndpointUnready, KP),
    ];
    let mut fresh = raw(1005, Some(0), How::Reset);
    fresh.answered = 0;
    fresh.connected_ms = 990;
    let f = attribute_with(&SimSpec::new("web", 2), Scenario::Delete, &events, &[fresh]);
    assert_eq!(f[0].kind, Kind::Reset);
    assert_eq!(
        f[0].cause,
        "pod web-1 stopped accepting 800ms before kube-proxy stopped routing to it; this connection was still in its accept queue when it closed its listening socket"
    );
    assert!(f[0].fix.contains("stop delay of at least 2s"));
    // Opened well before the signal but still queued (a busy machine's accept loop), reset
    // unread: the same cause. Closed with a FIN instead, it was read, then dropped.
    let mut queued_long = fresh;
    queued_long.connected_ms = 600;
    let f = attribute_with(
        &SimSpec::new("web", 2),
        Scenario::Delete,
        &events,
        &[queued_long],
    );
    assert!(
        f[0].cause.contains("still in its accept queue"),
        "{}",
        f[0].cause
    );
    queued_long.how = How::Closed;
    let f = attribute_with(
        &SimSpec::new("web", 2),
        Scenario::Delete,
        &events,
        &[queued_long],
    );
    assert!(!f[0].cause.contains("accept queue"), "{}", f[0].cause);
    // Picked in the same moment the view changed, while another pod was ready: still the lag.
    let f = attribute_with(
        &SimSpec::new("web", 2),
        Scenario::Delete,
        &events,
        &[raw(1800, Some(0), How::Refused)],
    );
    assert!(
        f[0].cause.contains("stopped accepting 800ms before"),
        "{}",
        f[0].cause
    );
}
