//! Proxy mode (`--proxy`) on the paused clock: an old generation is told to
//! stop only once nothing is in flight to it (the data plane reports
//! `Drained`), SIGKILL stays at its drain deadline; a stop drains the client
//! connections (the front) before any serving child is signalled; `http:`
//! readiness is checked on the generation's own upstream.

use super::*;

fn proxied() -> Timing {
    Timing {
        proxy: true,
        ..timing()
    }
}

/// Started (pid 1001, generation 1), ready and routed.
async fn routed(timing: Timing) -> Harness {
    let mut h = Harness::start(timing).await;
    h.ready(1001);
    assert_eq!(h.next().await, (S(0), Act::Route(1)));
    h
}

/// A reload at `at` to pid 1002 (generation 2), ready at once: routed,
/// generation 1 retired.
async fn reloaded(h: &mut Harness, at: Duration) {
    tokio::time::sleep(at - h.elapsed()).await;
    let _reply = h.reload();
    assert_eq!(h.next().await, (at, Act::Spawn(1002)));
    h.ready(1002);
    assert_eq!(h.next().await, (at, Act::Route(2)));
    assert_eq!(h.next().await, (at, Act::Retire(1)));
}

/// The contract of invariant 7: after a takeover the old child gets its stop
/// signal when the proxy says nothing is in flight to it, not before; it is
/// `retired` meanwhile; it leaves the routing table when it exits.
#[tokio::test(start_paused = true)]
async fn an_old_child_is_signalled_only_once_nothing_is_in_flight_to_it() {
    let mut h = routed(proxied()).await;
    reloaded(&mut h, S(1)).await;
    assert_eq!(
        h.states().await,
        [(1001, "retired".into()), (1002, "ready".into())]
    );
    h.nothing_until(S(4)).await;
    h.send(Event::Drained(1));
    assert_eq!(h.next().await, (S(4), Act::Signal(1001, Signal::SIGTERM)));
    h.exited(1001, code(0));
    assert_eq!(h.next().await, (S(4), Act::Gone(1)));
    let status = h.status().await;
    assert_eq!(status.reloads, 1);
    assert_eq!(h.snapshot.borrow().metrics.exits_drained, 1);
    assert!(h.snapshot.borrow().ready);
}

/// Requests still in flight at the drain deadline (20 s after retirement):
/// the tunnels are cut, the stop signal goes, and SIGKILL follows a second
/// later, so the child always has a moment between the two.
#[tokio::test(start_paused = true)]
async fn a_retired_child_busy_at_its_deadline_is_cut_signalled_then_killed() {
    let mut h = routed(proxied()).await;
    reloaded(&mut h, S(0)).await;
    assert_eq!(h.next().await, (S(20), Act::Cut(1)));
    assert_eq!(h.next().await, (S(20), Act::Signal(1001, Signal::SIGTERM)));
    assert_eq!(h.next().await, (S(21), Act::KillGroup(1001)));
    assert_eq!(h.next().await, (S(21), Act::Cut(1)));
    h.exited(1001, killed_by(Signal::SIGKILL));
    assert_eq!(h.next().await, (S(21), Act::Gone(1)));
}

/// Drained just before its deadline: the stop signal now, SIGKILL no sooner
/// than a second after it; drained early: SIGKILL stays at the deadline.
#[tokio::test(start_paused = true)]
async fn sigkill_stays_at_the_drain_deadline_with_a_second_after_the_signal() {
    let mut h = routed(proxied()).await;
    reloaded(&mut h, S(0)).await;
    tokio::time::sleep(Duration::from_millis(19_500)).await;
    h.send(Event::Drained(1));
    let late = Duration::from_millis(19_500);
    assert_eq!(h.next().await, (late, Act::Signal(1001, Signal::SIGTERM)));
    assert_eq!(h.next().await.0, late + FORCE_GRACE, "SIGKILL");

    let mut h = routed(proxied()).await;
    reloaded(&mut h, S(0)).await;
    tokio::time::sleep(S(2)).await;
    h.send(Event::Drained(1));
    assert_eq!(h.next().await, (S(2), Act::Signal(1001, Signal::SIGTERM)));
    assert_eq!(h.next().await, (S(20), Act::KillGroup(1001)));
}

/// The Kubernetes stop through the proxy: `/readyz` 503 and `Connection:
/// close` on the public side at once; the front stops accepting at the end
/// of the stop delay while the child serves the open connections; only once
/// they are closed is the child retired, and signalled once nothing is in
/// flight; the supervisor exits with its status.
#[tokio::test(start_paused = true)]
async fn a_stop_closes_the_client_connections_before_the_child_is_signalled() {
    let mut h = routed(Timing {
        stop_delay: S(5),
        ..proxied()
    })
    .await;
    h.send(Event::Stop(Signal::SIGTERM));
    assert_eq!(h.next().await, (S(0), Act::FrontDraining));
    assert!(!h.status().await.ready, "/readyz answers 503 at once");
    assert_eq!(h.next().await, (S(5), Act::FrontStop));
    h.nothing_until(S(7)).await;
    assert_eq!(h.states().await, [(1001, "ready".into())]);
    h.send(Event::FrontClosed);
    assert_eq!(h.next().await, (S(7), Act::Retire(1)));
    h.send(Event::Drained(1));
    assert_eq!(h.next().await, (S(7), Act::Signal(1001, Signal::SIGTERM)));
    h.exited(1001, code(0));
    assert_eq!(h.next().await, (S(7), Act::Gone(1)));
    assert_eq!(h.exit_code().await, 0);
}

/// Client connections still open at the drain deadline (counted from the end
/// of the stop delay, when the front cuts them): the child is retired, its
/// tunnels cut and its stop signal sent then, SIGKILL a second later.
#[tokio::test(start_paused = true)]
async fn a_front_still_open_at_the_deadline_retires_the_child_anyway() {
    let mut h = routed(proxied()).await;
    h.send(Event::Stop(Signal::SIGTERM));
    assert_eq!(h.next().await, (S(0), Act::FrontDraining));
    assert_eq!(h.next().await, (S(0), Act::FrontStop));
    assert_eq!(h.next().await, (S(20), Act::Retire(1)));
    assert_eq!(h.next().await, (S(20), Act::Cut(1)));
    assert_eq!(h.next().await, (S(20), Act::Signal(1001, Signal::SIGTERM)));
    // Drained after the signal changes nothing.
    h.send(Event::Drained(1));
    assert_eq!(h.next().await, (S(21), Act::KillGroup(1001)));
    // A late FrontClosed changes nothing.
    h.send(Event::FrontClosed);
    h.exited(1001, killed_by(Signal::SIGKILL));
    assert_eq!(h.next().await.1, Act::Cut(1));
    assert_eq!(h.next().await.1, Act::Gone(1));
    assert_eq!(h.exit_code().await, 128 + 9);
}

/// A second SIGTERM stops now: the client connections are cut, the serving
/// child is signalled without waiting for them, and killed a second later.
#[tokio::test(start_paused = true)]
async fn a_second_stop_signal_cuts_the_clients_and_signals_at_once() {
    let mut h = routed(Timing {
        stop_delay: S(5),
        ..proxied()
    })
    .await;
    h.send(Event::Stop(Signal::SIGTERM));
    assert_eq!(h.next().await, (S(0), Act::FrontDraining));
    tokio::time::sleep(S(1)).await;
    h.send(Event::Stop(Signal::SIGTERM));
    assert_eq!(h.next().await, (S(1), Act::FrontStop));
    assert_eq!(h.next().await, (S(1), Act::FrontForce));
    assert_eq!(h.next().await, (S(1), Act::Cut(1)));
    assert_eq!(h.next().await, (S(1), Act::Signal(1001, Signal::SIGTERM)));
    assert_eq!(h.next().await, (S(2), Act::KillGroup(1001)));
}

/// `--ready http:PATH`: checks of the generation's own upstream, every
/// probe interval until one passes; a new child that never passes is killed
/// at the ready timeout and the reload names the last answer.
#[tokio::test(start_paused = true)]
async fn http_readiness_is_checked_on_the_generations_own_upstream() {
    let mut h = Harness::start(Timing {
        ready: ReadyMode::Http("/healthz".into()),
        ready_timeout: S(10),
        ..proxied()
    })
    .await;
    assert_eq!(h.next().await, (S(0), Act::CheckUpstream(1, true)));
    h.send(Event::Probed {
        generation: 1,
        result: Err("GET /healthz answered 503".into()),
    });
    assert_eq!(
        h.next().await,
        (PROBE_INTERVAL, Act::CheckUpstream(1, true))
    );
    h.send(Event::Probed {
        generation: 1,
        result: Ok(()),
    });
    assert_eq!(h.next().await, (PROBE_INTERVAL, Act::Route(1)));
    assert!(h.status().await.ready);
    let reply = h.reload();
    assert_eq!(h.next().await.1, Act::Spawn(1002));
    loop {
        let (at, act) = h.next().await;
        match act {
            Act::CheckUpstream(2, true) => h.send(Event::Probed {
                generation: 2,
                result: Err("GET /healthz answered 503".into()),
            }),
            Act::KillGroup(1002) => {
                assert_eq!(at, PROBE_INTERVAL + S(10));
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(h.next().await.1, Act::Cut(2));
    let ReloadReply::RolledBack { reason } = reply.await.unwrap() else {
        panic!("not rolled back")
    };
    assert!(
        reason.contains(
            "did not answer GET /healthz with 2xx on its upstream within 10s (last: GET /healthz answered 503)"
        ),
        "{reason}"
    );
    h.exited(1002, killed_by(Signal::SIGKILL));
    assert_eq!(h.next().await.1, Act::Gone(2));
    assert_eq!(h.states().await, [(1001, "ready".into())]);
}
