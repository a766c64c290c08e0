//! Routing: each new request goes to the newest ready generation; a retired
//! generation finishes what it has in flight and then reports drained; with
//! no generation ready the proxy answers 503 itself.

mod support;

use std::time::Duration;

use changeover_proxy::{Config, Proxy, RouteError, State, Upstream};
use http::Response;
use http::StatusCode;
use support::*;
use tokio::sync::mpsc;

/// An upstream whose `/slow?ms=N` answers after N ms, reporting through
/// `events` when such a request arrived and when its handler returns;
/// everything else answers `name`.
async fn slow_capable(
    name: &'static str,
    events: mpsc::UnboundedSender<&'static str>,
) -> TestUpstream {
    upstream(move |req| {
        let events = events.clone();
        async move {
            if let Some(ms) = req
                .uri()
                .query()
                .and_then(|q| q.strip_prefix("ms="))
                .and_then(|v| v.parse::<u64>().ok())
            {
                events.send("started").unwrap();
                tokio::time::sleep(Duration::from_millis(ms)).await;
                events.send("finished").unwrap();
                return Response::new(full(format!("{name} after {ms}ms")));
            }
            Response::new(full(name))
        }
    })
    .await
}

/// The contract: after generation 2 is ready, new requests go to 2; a
/// 1.5 s request that generation 1 had started before the switch is
/// answered 200 by generation 1; `drained(1)` resolves only after that
/// answer, with nothing left in flight to 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switch_routes_new_requests_and_the_old_generation_drains_after_its_long_request() {
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let a = slow_capable("a", events_tx.clone()).await;
    let b = slow_capable("b", events_tx).await;
    let proxy = Proxy::new(Config::default());
    let routes = proxy.routes().clone();
    routes.ready(1, Upstream::Tcp(a.addr)).unwrap();
    let addr = serve_proxy(&proxy).await;

    assert_eq!(get(addr, "/").await.2, "a");
    assert_eq!(routes.current(), Some(1));

    let long = tokio::spawn(get(addr, "/slow?ms=1500"));
    let first = within("the long request to reach generation 1", events.recv()).await;
    assert_eq!(first, Some("started"));
    assert_eq!(routes.in_flight(1), Some(1));

    routes.ready(2, Upstream::Tcp(b.addr)).unwrap();
    routes.retire(1);
    assert_eq!(routes.current(), Some(2));
    assert_eq!(routes.state(1), Some(State::Retired));
    for _ in 0..5 {
        assert_eq!(
            get(addr, "/").await.2,
            "b",
            "a new request went to the retired generation"
        );
    }
    assert_eq!(
        routes.in_flight(1),
        Some(1),
        "the long request is still in flight"
    );

    // Generation 1's handler must return before drained(1) resolves (both
    // may be ready by the time this task runs: the handler's event first).
    let drained = routes.drained(1);
    tokio::pin!(drained);
    tokio::select! {
        biased;
        e = events.recv() => assert_eq!(e, Some("finished")),
        _ = &mut drained => panic!("drained(1) resolved while a request was in flight to it"),
        _ = tokio::time::sleep(DEADLINE) => panic!("the long request did not finish"),
    }
    let (status, _, body) = within("the long response", long).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "a after 1500ms");
    within("drained(1)", drained).await;
    assert_eq!(routes.in_flight(1), Some(0));

    let m = proxy.metrics();
    assert_eq!(m.generation(1).unwrap().responses.class(2), 2);
    assert_eq!(m.generation(2).unwrap().responses.class(2), 5);
    assert_eq!(m.generation(1).unwrap().in_flight, 0);
    assert_eq!(a.requests(), 2);
    assert_eq!(b.requests(), 5);
    // One after the other, so each generation's pool reused one connection.
    assert_eq!((a.connections(), b.connections()), (1, 1));
    assert_eq!(m.generation(2).unwrap().idle_connections, 1);

    routes.gone(1);
    assert_eq!(routes.state(1), Some(State::Gone));
    assert_eq!(routes.in_flight(1), None);
    assert_eq!(get(addr, "/").await.2, "b");
}

/// The contract: no generation ready means 503 with a short text (and
/// `Retry-After`), counted as unrouted; a newest generation that is gone
/// leaves the older ready one serving; a retired one never serves again.
#[tokio::test]
async fn no_ready_generation_is_503_and_routing_falls_back_to_the_newest_ready() {
    let a = named("a").await;
    let b = named("b").await;
    let proxy = Proxy::new(Config::default());
    let routes = proxy.routes();
    let addr = serve_proxy(&proxy).await;

    let (status, headers, body) = get(addr, "/").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body,
        "503 service unavailable: no generation of the server is ready yet\n"
    );
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(proxy.metrics().unrouted.class(5), 1);

    routes.ready(1, Upstream::Tcp(a.addr)).unwrap();
    routes.ready(2, Upstream::Tcp(b.addr)).unwrap();
    assert_eq!(get(addr, "/").await.2, "b");
    // The new generation died before it was ever retired: the old one serves on.
    routes.gone(2);
    assert_eq!(get(addr, "/").await.2, "a");
    routes.retire(1);
    assert_eq!(get(addr, "/").await.0, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(a.requests(), 1);
    assert_eq!(b.requests(), 1);
    // drained() of a retired generation with nothing in flight is immediate.
    within("drained(1)", routes.drained(1)).await;
}

/// The contract: retiring a generation closes its idle upstream
/// connections at once, from the proxy's side, so when the child is stopped
/// it has no keep-alive connection of ours to close under a request.
#[tokio::test]
async fn retire_closes_the_idle_connections_of_the_generation() {
    let a = named("a").await;
    let b = named("b").await;
    let proxy = Proxy::new(Config::default());
    let routes = proxy.routes();
    routes.ready(1, Upstream::Tcp(a.addr)).unwrap();
    let addr = serve_proxy(&proxy).await;
    assert_eq!(get(addr, "/").await.2, "a");
    assert_eq!(proxy.metrics().generation(1).unwrap().idle_connections, 1);
    routes.ready(2, Upstream::Tcp(b.addr)).unwrap();
    routes.retire(1);
    assert_eq!(proxy.metrics().generation(1).unwrap().idle_connections, 0);
    a.wait_closed(1).await;
    assert_eq!(get(addr, "/").await.2, "b");
}

/// The contract: the table refuses what would make routing ambiguous or
/// unsafe, with errors that say what to do.
#[test]
fn bad_route_changes_are_refused() {
    let proxy = Proxy::new(Config::default());
    let routes = proxy.routes();
    routes
        .ready(1, Upstream::Tcp("127.0.0.1:1".parse().unwrap()))
        .unwrap();
    let dup = routes
        .ready(1, Upstream::Tcp("127.0.0.1:2".parse().unwrap()))
        .unwrap_err();
    assert_eq!(dup, RouteError::Duplicate(1));
    assert!(
        dup.to_string()
            .contains("give each generation a new number"),
        "{dup}"
    );
    let far = routes
        .ready(2, Upstream::Tcp("192.0.2.1:80".parse().unwrap()))
        .unwrap_err();
    assert!(matches!(far, RouteError::NotLoopback(_)));
    assert!(far.to_string().contains("loopback"), "{far}");
    routes
        .ready(3, Upstream::Tcp("[::1]:8080".parse().unwrap()))
        .unwrap();
    routes
        .ready(4, Upstream::Unix("/run/app.sock".into()))
        .unwrap();
    assert_eq!(routes.current(), Some(4));
    // A gone number stays taken.
    routes.gone(4);
    assert_eq!(
        routes.ready(4, Upstream::Unix("/run/app.sock".into())),
        Err(RouteError::Duplicate(4))
    );
}

/// The contract: a Unix-socket upstream serves like a TCP one.
#[tokio::test]
async fn unix_socket_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gen1.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    tokio::spawn(async move {
        loop {
            let (s, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(Response::new(full("over unix")))
                });
                let _ended = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    let proxy = Proxy::new(Config::default());
    proxy.routes().ready(1, Upstream::Unix(path)).unwrap();
    let addr = serve_proxy(&proxy).await;
    for _ in 0..3 {
        let (status, _, body) = get(addr, "/").await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "over unix"));
    }
}
