//! The stop sequence: `/readyz` turns 503 at once, the child serves on through the stop delay
//! and only then gets the stop signal (configurable); `changeover prestop` returns once the delay
//! has passed.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::support::{DEADLINE, Supervisor, example, free_port, get, show};

/// `hello` under `changeover run` with a health endpoint and `--stop-delay DELAY`: the
/// supervisor, the port it serves and its health port.
fn hello_with_stop_delay(delay: &str) -> (Supervisor, u16, u16) {
    let (port, health) = (free_port(), free_port());
    let (listen, health_addr) = (format!("127.0.0.1:{port}"), format!("127.0.0.1:{health}"));
    let sup = Supervisor::start(
        &[
            "--listen",
            &listen,
            "--health",
            &health_addr,
            "--stop-delay",
            delay,
        ],
        &[example("hello")],
    );
    (sup, port, health)
}

/// The stop sequence with `--stop-delay 2s`: `/readyz` turns 503 at once, requests are still
/// served by the same child during the delay, the child gets SIGTERM only after it, and the
/// supervisor exits with the child's status (0: it drained cleanly).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stop_sequence_serves_through_the_stop_delay() {
    let delay = Duration::from_secs(2);
    let (mut sup, port, health) = hello_with_stop_delay("2s");
    sup.wait_child_ready().await;
    let child = sup.ready_pid().await;
    assert_eq!(get(health, "/readyz").await.unwrap().0, 200);
    assert_eq!(get(health, "/livez").await.unwrap().0, 200);
    let metrics = get(health, "/metrics").await.unwrap().1;
    assert!(metrics.contains("changeover_ready 1"), "{metrics}");

    let stop = Instant::now();
    sup.server.signal(Signal::SIGTERM);
    loop {
        let (code, _) = get(health, "/readyz").await.unwrap();
        if code == 503 {
            break;
        }
        assert!(
            stop.elapsed() < delay,
            "/readyz still 200 when the stop delay ended"
        );
    }
    assert!(
        stop.elapsed() < delay,
        "/readyz turned 503 only after the delay"
    );
    let mut served = 0;
    while stop.elapsed() < delay / 2 {
        let (code, body) = get(port, "/").await.expect("served during the stop delay");
        assert_eq!((code, body), (200, format!("hello from {child}\n")));
        served += 1;
    }
    assert!(served > 0);
    sup.server.wait_for_line("stop delay over", DEADLINE).await;
    assert!(
        stop.elapsed() >= delay,
        "the delay ended early: {:?}",
        stop.elapsed()
    );
    sup.server
        .wait_for_line("sent SIGTERM to the child", DEADLINE)
        .await;
    let status = sup.server.wait_exit(DEADLINE).await;
    assert_eq!(status.code(), Some(0), "log:\n{}", sup.server.log());
    println!("served {served} requests during the stop delay");
}

/// `changeover prestop` (a Kubernetes preStop hook) begins the stop and returns once the stop
/// delay has passed; the child is stopped after it, and the supervisor exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prestop_returns_once_the_stop_delay_has_passed() {
    let (mut sup, _, _) = hello_with_stop_delay("1500ms");
    sup.wait_child_ready().await;
    let started = Instant::now();
    let out = sup.ctl("prestop", &[]).await;
    assert!(out.status.success(), "{}", show(&out));
    assert!(started.elapsed() >= Duration::from_millis(1500));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let waited = stdout
        .strip_prefix("stop delay over after ")
        .and_then(|rest| rest.split(':').next())
        .and_then(|d| changeover::parse_duration(d).ok())
        .unwrap_or_else(|| panic!("no waiting time in {stdout:?}"));
    assert!(waited >= Duration::from_millis(1500), "{stdout}");
    sup.server
        .wait_for_line("sent SIGTERM to the child", DEADLINE)
        .await;
    assert_eq!(sup.server.wait_exit(DEADLINE).await.code(), Some(0));
}

/// `--stop-signal QUIT` sends QUIT, not TERM, to the child, and its exit status passes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stop_signal_is_configurable() {
    let body = "trap 'echo child got QUIT >&2; exit 9' QUIT; trap 'exit 99' TERM; \
                echo child up >&2; while :; do sleep 0.1; done";
    let mut sup = Supervisor::start(
        &["--stop-signal", "QUIT", "--ready", "delay:100ms"],
        &["sh", "-c", body],
    );
    sup.wait_child_ready().await;
    sup.server.signal(Signal::SIGTERM);
    sup.server.wait_for_line("child got QUIT", DEADLINE).await;
    let status = sup.server.wait_exit(DEADLINE).await;
    assert_eq!(status.code(), Some(9), "log:\n{}", sup.server.log());
}
