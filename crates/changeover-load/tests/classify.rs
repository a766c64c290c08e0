//! Every request outcome against small servers on 127.0.0.1 that misbehave on purpose.
//!
//! One file above 500 lines on purpose: it is the classification contract, one test per way a
//! server can end a request, and reads as one table.

mod support;

use std::sync::Arc;
use std::time::Duration;

use changeover_load::{Config, FailureKind, LoadHandle, Report, Target, WaitError, start};
use support::{Stats, asks_close, read_request, reply, response, serve, within};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn config(addr: std::net::SocketAddr) -> Config {
    Config::new(Target::tcp(addr))
}

async fn run(config: Config) -> Report {
    let load = start(config).expect("valid config");
    within("load run", load.finished()).await
}

/// Every failure in `report` is of one of `kinds`.
fn only_failures(report: &Report, kinds: &[FailureKind]) {
    for (kind, n) in report.failures.iter() {
        if !kinds.contains(&kind) {
            assert_eq!(n, 0, "unexpected {kind} failures:\n{}", report.summary());
        }
    }
}

/// Answers every request on a connection with `resp`, keeping the connection open.
async fn keep_alive(mut s: TcpStream, stats: Arc<Stats>, resp: Vec<u8>) {
    let mut buf = Vec::new();
    while read_request(&mut s, &mut buf).await.is_some() {
        stats.count_request();
        if s.write_all(&resp).await.is_err() {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_server_all_ok() {
    let server = serve(|s, st| keep_alive(s, st, response("200 OK", ""))).await;
    let report = run(Config {
        connections: 4,
        max_requests: Some(400),
        ..config(server.addr)
    })
    .await;
    assert_eq!(report.requests, 400, "{}", report.summary());
    assert_eq!(report.ok, 400);
    assert_eq!(report.failed(), 0);
    assert_eq!(report.connects, 4, "keep-alive connections are reused");
    assert_eq!(server.stats.accepted(), 4);
    assert_eq!(server.stats.requests(), 400);
    assert_eq!(report.latency.count(), 400);
    assert!(report.latency.p50() <= report.latency.p99());
    assert!(report.latency.p99() <= report.latency.max());
    assert!(report.latency.max() > Duration::ZERO);
    let (ok, failed) = report
        .timeline
        .iter()
        .fold((0, 0), |(o, f), e| (o + e.ok, f + e.failed));
    assert_eq!((ok, failed), (400, 0));
    assert!(report.samples.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_statuses_are_counted_per_code() {
    let server = serve(|mut s, stats| async move {
        let mut buf = Vec::new();
        let mut n = 0;
        while read_request(&mut s, &mut buf).await.is_some() {
            stats.count_request();
            let status = [
                "200 OK",
                "500 Internal Server Error",
                "503 Service Unavailable",
            ][n % 3];
            n += 1;
            if s.write_all(&response(status, "")).await.is_err() {
                return;
            }
        }
    })
    .await;
    let report = run(Config {
        connections: 1,
        max_requests: Some(30),
        ..config(server.addr)
    })
    .await;
    assert_eq!(report.requests, 30, "{}", report.summary());
    assert_eq!(report.ok, 10);
    assert_eq!(report.failures.bad_status, 20);
    assert_eq!(report.failed(), 20);
    only_failures(&report, &[FailureKind::BadStatus]);
    assert_eq!(
        report
            .bad_statuses
            .iter()
            .map(|(c, n)| (*c, *n))
            .collect::<Vec<_>>(),
        vec![(500, 10), (503, 10)]
    );
    assert_eq!(
        report.connects, 1,
        "a bad status does not end the connection"
    );
    assert_eq!(
        report.latency.count(),
        30,
        "bad statuses are complete responses"
    );
    assert_eq!(report.samples[0].error, "status 500");
    assert!(report.summary().contains("500 x10"), "{}", report.summary());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_port_is_refused() {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let load = start(Config {
        connections: 2,
        max_requests: Some(50),
        ..config(addr)
    })
    .unwrap();
    let err = load.wait_for_ok(1, support::DEADLINE).await.unwrap_err();
    assert!(matches!(err, WaitError::Finished(_)), "{err}");
    let report = within("refused run", load.finished()).await;
    assert_eq!(report.requests, 50, "{}", report.summary());
    assert_eq!(report.failures.refused, 50);
    only_failures(&report, &[FailureKind::Refused]);
    assert_eq!(report.connects, 0);
    assert_eq!(report.samples.len(), Report::MAX_SAMPLES);
    let sample = &report.samples[0];
    assert_eq!(sample.kind, FailureKind::Refused);
    assert!(sample.connection < 2);
    assert!(sample.error.starts_with("connect:"), "{}", sample.error);
    assert_eq!(report.latency.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_without_answer_is_closed() {
    let server = serve(|mut s, stats| async move {
        let mut buf = Vec::new();
        if read_request(&mut s, &mut buf).await.is_some() {
            stats.count_request();
        }
        // Dropped after reading the whole request: a FIN, no RST.
    })
    .await;
    let report = run(Config {
        connections: 2,
        max_requests: Some(20),
        ..config(server.addr)
    })
    .await;
    assert_eq!(report.requests, 20, "{}", report.summary());
    assert_eq!(report.failures.closed, 20, "{}", report.summary());
    assert_eq!(report.connects, 20);
    assert_eq!(
        report.samples[0].error,
        "connection closed before any response byte"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eof_mid_body_is_closed() {
    let server = serve(|mut s, stats| async move {
        let mut buf = Vec::new();
        if read_request(&mut s, &mut buf).await.is_some() {
            stats.count_request();
            reply(
                &mut s,
                b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part",
            )
            .await;
        }
    })
    .await;
    let report = run(Config {
        connections: 1,
        max_requests: Some(5),
        ..config(server.addr)
    })
    .await;
    assert_eq!(report.failures.closed, 5, "{}", report.summary());
    assert_eq!(report.ok, 0);
    assert!(
        report.samples[0].error.contains("incomplete response"),
        "{}",
        report.samples[0].error
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_by_server_is_reset() {
    let server = serve(|mut s, stats| async move {
        let mut buf = Vec::new();
        if read_request(&mut s, &mut buf).await.is_some() {
            stats.count_request();
            // SO_LINGER 0 then close: the kernel sends RST instead of FIN.
            socket2::SockRef::from(&s)
                .set_linger(Some(Duration::ZERO))
                .unwrap();
        }
    })
    .await;
    let report = run(Config {
        connections: 2,
        max_requests: Some(20),
        ..config(server.addr)
    })
    .await;
    assert_eq!(report.requests, 20, "{}", report.summary());
    assert_eq!(report.failures.reset, 20, "{}", report.summary());
    assert!(
        report.samples[0].error.starts_with("reading response:"),
        "{}",
        report.samples[0].error
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_server_times_out() {
    let server = serve(|mut s, stats| async move {
        let mut buf = Vec::new();
        while read_request(&mut s, &mut buf).await.is_some() {
            stats.count_request();
        }
    })
    .await;
    let load = start(Config {
        connections: 2,
        max_requests: Some(4),
        timeout: Duration::from_millis(200),
        ..config(server.addr)
    })
    .unwrap();
    let err = load
        .wait_for_ok(1, Duration::from_millis(50))
        .await
        .unwrap_err();
    assert!(matches!(err, WaitError::Deadline(c) if c.ok == 0), "{err}");
    let report = within("timeout run", load.finished()).await;
    assert_eq!(report.requests, 4, "{}", report.summary());
    assert_eq!(report.failures.timeout, 4, "{}", report.summary());
    assert!(
        report.elapsed >= Duration::from_millis(400),
        "two rounds of 200 ms"
    );
    assert_eq!(report.samples[0].error, "no complete response within 200ms");
    assert_eq!(report.connects, 4, "a timed-out connection is not reused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_close_responses_reconnect_without_failures() {
    let server = serve(|mut s, stats| async move {
        let mut buf = Vec::new();
        if read_request(&mut s, &mut buf).await.is_some() {
            stats.count_request();
            reply(&mut s, &response("200 OK", "Connection: close\r\n")).await;
        }
    })
    .await;
    let report = run(Config {
        connections: 2,
        max_requests: Some(100),
        ..config(server.addr)
    })
    .await;
    assert_eq!(report.ok, 100, "{}", report.summary());
    assert_eq!(report.failed(), 0);
    assert_eq!(report.connects, 100);
    assert_eq!(server.stats.accepted(), 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_off_sends_connection_close() {
    let server = serve(|mut s, stats| async move {
        let mut buf = Vec::new();
        while let Some(head) = read_request(&mut s, &mut buf).await {
            stats.count_request();
            // Answer like a keep-alive server, but honour the client's close.
            let status = if asks_close(&head) {
                "200 OK"
            } else {
                "400 Bad Request"
            };
            if !reply(&mut s, &response(status, "")).await || asks_close(&head) {
                return;
            }
        }
    })
    .await;
    let report = run(Config {
        connections: 2,
        keep_alive: false,
        max_requests: Some(50),
        ..config(server.addr)
    })
    .await;
    assert_eq!(report.ok, 50, "{}", report.summary());
    assert_eq!(report.connects, 50, "one connection per request");
    assert_eq!(server.stats.accepted(), 50);
}

/// Answers one request without `Connection: close`, then closes the connection.
async fn answer_once_then_close(mut s: TcpStream, stats: Arc<Stats>) {
    let mut buf = Vec::new();
    if read_request(&mut s, &mut buf).await.is_some() {
        stats.count_request();
        reply(&mut s, &response("200 OK", "")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_connection_closed_by_server_fails_the_next_request() {
    // Answers one request without `Connection: close`, then closes: the client's next request
    // on that connection meets the close and must be counted, not retried.
    let server = serve(answer_once_then_close).await;
    let report = run(Config {
        connections: 1,
        max_requests: Some(10),
        ..config(server.addr)
    })
    .await;
    assert_eq!(report.requests, 10, "{}", report.summary());
    assert_eq!(report.ok, 5, "{}", report.summary());
    assert_eq!(report.failed(), 5, "{}", report.summary());
    only_failures(&report, &[FailureKind::Closed, FailureKind::Reset]);
    assert_eq!(report.connects, 5);
    assert_eq!(report.idle_closes, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_replaces_connections_closed_while_idle() {
    // Same server, but the client idles 100 ms between requests: the close is seen while idle,
    // before a request is written, so nothing fails.
    let server = serve(answer_once_then_close).await;
    let report = run(Config {
        connections: 1,
        rate: Some(10.0),
        max_requests: Some(5),
        ..config(server.addr)
    })
    .await;
    assert_eq!(report.ok, 5, "{}", report.summary());
    assert_eq!(report.failed(), 0, "{}", report.summary());
    assert_eq!(report.connects, 5);
    assert!(report.idle_closes >= 4, "{}", report.summary());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_and_large_bodies() {
    let server = serve(|mut s, stats| async move {
        let mut buf = Vec::new();
        let mut n = 0u64;
        let big = vec![b'x'; 1 << 20];
        while read_request(&mut s, &mut buf).await.is_some() {
            stats.count_request();
            n += 1;
            let ok = if n % 2 == 0 {
                // Chunked, written in pieces so the client sees partial chunks.
                let mut ok = s
                    .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel")
                    .await
                    .is_ok();
                tokio::task::yield_now().await;
                ok &= s
                    .write_all(b"lo\r\n10;name=value\r\n0123456789abcdef\r\n0\r\nX-T: 1\r\n")
                    .await
                    .is_ok();
                tokio::task::yield_now().await;
                ok && s.write_all(b"\r\n").await.is_ok()
            } else {
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", big.len());
                s.write_all(head.as_bytes()).await.is_ok() && s.write_all(&big).await.is_ok()
            };
            if !ok {
                return;
            }
        }
    })
    .await;
    let report = run(Config {
        connections: 2,
        max_requests: Some(40),
        ..config(server.addr)
    })
    .await;
    assert_eq!(report.ok, 40, "{}", report.summary());
    assert_eq!(
        report.connects, 2,
        "body boundaries found: connections stay usable"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_with_requests_in_flight_fails_nothing() {
    // Every response takes 200 ms, so at any moment each connection has a request in flight.
    let server = serve(|mut s, stats| async move {
        let mut buf = Vec::new();
        while read_request(&mut s, &mut buf).await.is_some() {
            stats.count_request();
            tokio::time::sleep(Duration::from_millis(200)).await;
            if s.write_all(&response("200 OK", "")).await.is_err() {
                return;
            }
        }
    })
    .await;
    let load = start(Config {
        connections: 8,
        duration: Some(Duration::from_secs(60)),
        ..config(server.addr)
    })
    .unwrap();
    let counts = load.wait_for_ok(8, support::DEADLINE).await.unwrap();
    // Each connection has written its next request: all 8 are in flight.
    server
        .stats
        .wait_until("8 requests in flight", |s| s.requests() >= counts.ok + 8)
        .await;
    load.mark("stop");
    let report = within("stop", load.stop()).await;
    assert_eq!(report.failed(), 0, "{}", report.summary());
    assert_eq!(
        report.ok,
        server.stats.requests(),
        "every request the server received was answered and counted"
    );
    assert!(report.ok >= 16, "{}", report.summary());
    assert_eq!(report.events.len(), 1);
    assert_eq!(report.events[0].label, "stop");
    assert!(report.elapsed >= report.events[0].at);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duration_ends_the_run_and_report_serializes() {
    let server = serve(|s, st| keep_alive(s, st, response("200 OK", ""))).await;
    let load = start(Config {
        connections: 2,
        duration: Some(Duration::from_millis(300)),
        ..config(server.addr)
    })
    .unwrap();
    load.wait_for_ok(10, support::DEADLINE).await.unwrap();
    load.mark("ten ok");
    let report = within("300 ms run", load.finished()).await;
    assert!(report.requests >= 10);
    assert_eq!(report.failed(), 0, "{}", report.summary());
    assert!(report.elapsed >= Duration::from_millis(300));
    assert_eq!(report.events[0].label, "ten ok");
    let timeline_total: u64 = report.timeline.iter().map(|e| e.ok + e.failed).sum();
    assert_eq!(timeline_total, report.requests);

    let json = serde_json::to_value(&report).unwrap();
    for key in [
        "requests",
        "ok",
        "failed",
        "errors",
        "status",
        "rps",
        "elapsed_s",
        "latency_ms",
        "connects",
        "idle_closes",
        "events",
        "timeline",
        "samples",
    ] {
        assert!(json.get(key).is_some(), "missing {key} in {json}");
    }
    assert_eq!(json["requests"], report.requests);
    assert_eq!(json["errors"]["refused"], 0);
    for q in ["p50", "p90", "p99", "max"] {
        assert!(json["latency_ms"][q].as_f64().unwrap() > 0.0, "{json}");
    }
    assert_eq!(json["events"][0]["label"], "ten ok");
    assert_eq!(json["timeline"][0]["second"], 0);
    assert!(json["rps"].as_f64().unwrap() > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_keeps_to_the_rate() {
    let server = serve(|s, st| keep_alive(s, st, response("200 OK", ""))).await;
    let report = run(Config {
        connections: 2,
        rate: Some(100.0),
        duration: Some(Duration::from_millis(500)),
        ..config(server.addr)
    })
    .await;
    assert_eq!(report.failed(), 0, "{}", report.summary());
    assert!(report.ok >= 1);
    // Each connection sends at most one request per 20 ms slot, the first at once.
    let most = 100.0 * report.elapsed.as_secs_f64() + 2.0;
    assert!(report.requests as f64 <= most, "{}", report.summary());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unix_socket_target() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let server = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        while let Ok((mut s, _)) = listener.accept().await {
            conns.spawn(async move {
                let mut buf = Vec::new();
                while let Some(head) = read_request(&mut s, &mut buf).await {
                    let ok = head.starts_with("GET /healthz HTTP/1.1\r\n")
                        && head.contains("\r\nHost: localhost\r\n");
                    let status = if ok { "200 OK" } else { "404 Not Found" };
                    if s.write_all(&response(status, "")).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let target = Target::parse(&format!("unix:{}:/healthz", path.display())).unwrap();
    let report = run(Config {
        connections: 2,
        max_requests: Some(50),
        ..Config::new(target)
    })
    .await;
    assert_eq!(report.ok, 50, "{}", report.summary());
    // Keep-alive connections are reused. Only 1 when one task took all 50 requests before the
    // other first ran (seen on a busy machine).
    assert!((1..=2).contains(&report.connects), "{}", report.summary());
    server.abort();

    // No socket file at all: a connect error that is not a refusal.
    let missing = Target::unix(dir.path().join("missing.sock"));
    let report = run(Config {
        connections: 1,
        max_requests: Some(3),
        ..Config::new(missing)
    })
    .await;
    assert_eq!(report.failures.connect, 3, "{}", report.summary());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_handle_stops_the_load() {
    let server = serve(|s, st| keep_alive(s, st, response("200 OK", ""))).await;
    let load: LoadHandle = start(Config {
        connections: 2,
        ..config(server.addr)
    })
    .unwrap();
    load.wait_for_ok(10, support::DEADLINE).await.unwrap();
    // Ten responses can all come from one connection before the other task first ran (seen on
    // a busy machine); a connection never opened cannot be closed.
    server
        .stats
        .wait_until("both connections open", |s| s.accepted() == 2)
        .await;
    drop(load);
    // Both connections get closed by the client (each handler returns at EOF).
    server
        .stats
        .wait_until("connections closed after drop", |s| {
            s.accepted() == 2 && s.ended() == 2
        })
        .await;
}

#[test]
fn start_rejects_a_bad_config() {
    let c = Config {
        connections: 0,
        ..Config::new(Target::tcp("127.0.0.1:9".parse().unwrap()))
    };
    // Validation happens before anything is spawned, so no runtime is needed.
    assert!(start(c).is_err());
}
