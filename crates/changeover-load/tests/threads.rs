//! `Config::threads`: connections on threads of their own, one single-threaded runtime each.
//!
//! Contract: the same counts as on the caller's runtime (every request counted once, keep-alive
//! connections reused); `stop` still fails nothing and `stop_now` still returns at once; the
//! threads end with the run.

mod support;

use std::sync::Arc;
use std::time::Duration;

use changeover_load::{Config, ConfigError, Target, start};
use support::{Stats, read_request, response, serve, within};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Answers every request, after `delay`.
async fn answer(mut s: TcpStream, stats: Arc<Stats>, delay: Duration) {
    let mut buf = Vec::new();
    let resp = response("200 OK", "");
    while read_request(&mut s, &mut buf).await.is_some() {
        stats.count_request();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if s.write_all(&resp).await.is_err() {
            return;
        }
    }
}

/// Tests that start load threads take this, so that each sees only its own threads.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Names of this process's threads that start with `load-`.
fn load_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("load-"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_run_on_threads_of_their_own() {
    let _serial = SERIAL.lock().await;
    // Each answer takes 1 ms, so the run lasts long enough for all three threads to start
    // even on a loaded machine (a flake seen once: the first answer came before the third
    // thread existed).
    let server = serve(|s, st| answer(s, st, Duration::from_millis(1))).await;
    let load = start(Config {
        connections: 8,
        threads: Some(3),
        max_requests: Some(2000),
        ..Config::new(Target::tcp(server.addr))
    })
    .unwrap();
    load.wait_for_ok(1, support::DEADLINE).await.unwrap();
    within("three load threads", async {
        while load_threads() < 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert_eq!(load_threads(), 3);
    let report = within("run", load.finished()).await;
    assert_eq!(report.requests, 2000, "{}", report.summary());
    assert_eq!(report.ok, 2000);
    // Keep-alive connections are reused (fewer than 8 only if a task was not scheduled before
    // the others had issued all 2000).
    assert!(report.connects <= 8, "{}", report.summary());
    assert_eq!(server.stats.requests(), 2000);
    assert_eq!(report.latency.count(), 2000);
    let timeline_ok: u64 = report.timeline.iter().map(|e| e.ok).sum();
    assert_eq!(timeline_ok, 2000);
    // A thread ends right after its last connection; bounded wait for the OS to see it.
    within("load threads to end", async {
        while load_threads() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_fails_nothing_and_stop_now_returns_at_once() {
    let _serial = SERIAL.lock().await;
    // Every response takes 200 ms, so each connection always has a request in flight.
    let server = serve(|s, st| answer(s, st, Duration::from_millis(200))).await;
    let config = Config {
        connections: 4,
        threads: Some(2),
        duration: Some(Duration::from_secs(60)),
        ..Config::new(Target::tcp(server.addr))
    };
    let load = start(config.clone()).unwrap();
    load.wait_for_ok(4, support::DEADLINE).await.unwrap();
    let report = within("stop", load.stop()).await;
    assert_eq!(report.failed(), 0, "{}", report.summary());
    assert_eq!(report.ok, server.stats.requests());

    // With a 60 s timeout, only an abort makes this return within the test deadline.
    let load = start(Config {
        timeout: Duration::from_secs(60),
        ..config
    })
    .unwrap();
    load.wait_for_ok(report.ok + 4, support::DEADLINE)
        .await
        .unwrap();
    load.control().stop_now();
    let report = within("stop_now", load.finished()).await;
    assert_eq!(report.failed(), 0, "{}", report.summary());
}

#[test]
fn zero_threads_is_rejected() {
    let config = Config {
        threads: Some(0),
        ..Config::new(Target::tcp("127.0.0.1:9".parse().unwrap()))
    };
    assert_eq!(config.validate(), Err(ConfigError::NoThreads));
    assert!(start(config).is_err());
}
