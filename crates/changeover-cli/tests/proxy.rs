//! Black-box tests of `changeover run --proxy` with real servers we did not write. The contract:
//! whatever a child does on SIGTERM (Node closes its idle keep-alive connections, a Python server
//! exits at once, uvicorn drops what it accepted), 20 reloads fail no request, under keep-alive
//! load, one-request-per-connection load and pooled `requests` clients with idle gaps, all three
//! at once; a request in flight finishes on the old child; an upgraded connection stays with its
//! child until closed; the Kubernetes stop fails nothing; the failures a user can act on are
//! answered 400 (never reaching the child), 502 (counted) or rolled back.
//!
//! Needs `node`, `python3` with `requests` and `uvicorn` (`.ci/run` installs them).
//!
//! One file above 500 lines on purpose: every test shares the helpers at the top (the supervisor
//! in proxy mode, the three loads, the reload), and each reads as one scenario with real processes.

mod support;

use std::path::Path;
use std::time::Duration;

use changeover_load::{Config, LoadHandle, Target};
use changeover_tests::{Script, python_imports, wait_gone};
use nix::sys::signal::Signal;
use support::{DEADLINE, Supervisor, cli, fixture, free_port, get, show};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const RELOADS: usize = 20;

/// `changeover run --proxy ARGS -- COMMAND` on a free port; waits until the first child is ready.
async fn proxied(args: &[&str], command: &[&str]) -> (Supervisor, u16) {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut all = vec!["--proxy", "--listen", &listen];
    all.extend_from_slice(args);
    let mut sup = Supervisor::start(&all, command);
    sup.wait_child_ready().await;
    (sup, port)
}

fn fixture_arg(name: &str) -> String {
    fixture(name).display().to_string()
}

fn load(port: u16, connections: usize, keep_alive: bool, rate: f64) -> LoadHandle {
    let target = Target::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
    changeover_load::start(Config {
        connections,
        keep_alive,
        // Open loop: load enough to cross every reload, without starving the children of CPU.
        rate: Some(rate),
        // A safety bound; every test stops its load long before.
        duration: Some(Duration::from_secs(300)),
        ..Config::new(target)
    })
    .expect("valid load config")
}

/// Waits until the pooled clients have had at least `at_least` requests answered.
async fn pooled_ok(client: &mut Script, at_least: u64) -> u64 {
    client.wait_progress_ok(at_least, DEADLINE).await
}

/// One `reload --wait`: it must take over; returns the old child's pid, which must then exit.
async fn reload(sup: &mut Supervisor) -> u32 {
    let out = sup.ctl("reload", &["--wait"]).await;
    assert!(
        out.status.success(),
        "reload failed\n{}\nlog:\n{}",
        show(&out),
        sup.server.log()
    );
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    said.split("took over from pid ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no old pid in {said:?}"))
}

/// 20 reloads under three loads at once — 8 keep-alive connections, 4 connections of one
/// request each, 48 pooled `requests` clients idle 0–2 s between requests — each with requests
/// answered between two reloads; none of the three may fail a request, and the proxy must have
/// answered no 5xx.
async fn twenty_reloads_fail_nothing(args: &[&str], command: &[&str]) {
    python_imports("requests", "requests").unwrap_or_else(|e| panic!("{e}"));
    let (mut sup, port) = proxied(args, command).await;
    let keep_alive = load(port, 8, true, 800.0);
    let one_each = load(port, 4, false, 200.0);
    let mut pooled = Script::python(
        "pooled.py",
        &[
            "--url".into(),
            format!("http://127.0.0.1:{port}/"),
            "--max-seconds".into(),
            "120".into(),
        ],
    );
    let mut ok = pooled_ok(&mut pooled, 10).await;
    for i in 0..RELOADS {
        keep_alive.mark(format!("reload {i}"));
        let old = reload(&mut sup).await;
        assert!(
            wait_gone(old, DEADLINE).await,
            "old child {old} did not exit; log:\n{}",
            sup.server.log()
        );
        for l in [&keep_alive, &one_each] {
            let n = l.snapshot().ok;
            l.wait_for_ok(n + 20, DEADLINE).await.unwrap();
        }
        ok = pooled_ok(&mut pooled, ok + 5).await;
    }
    let (keep_alive, one_each) = (keep_alive.stop().await, one_each.stop().await);
    let pooled: serde_json::Value = serde_json::from_str(&pooled.finish(DEADLINE).await).unwrap();
    let metrics = get_metrics(&sup).await;
    let log = sup.server.log();
    assert_eq!(
        keep_alive.failed(),
        0,
        "keep-alive:\n{}\nlog:\n{log}",
        keep_alive.summary()
    );
    assert_eq!(
        one_each.failed(),
        0,
        "one request per connection:\n{}\nlog:\n{log}",
        one_each.summary()
    );
    assert_eq!(pooled["failed"], 0, "pooled clients: {pooled}\nlog:\n{log}");
    assert!(
        pooled["ok"].as_u64().unwrap() > RELOADS as u64 * 5,
        "{pooled}"
    );
    let five =
        |l: &&str| l.starts_with("changeover_proxy_requests_total") && l.contains("class=\"5xx\"");
    for l in metrics.lines().filter(five) {
        assert!(l.ends_with(" 0"), "{l}\n{metrics}");
    }
    println!(
        "keep-alive: {}\none request per connection: {}\npooled: {pooled}",
        keep_alive.summary(),
        one_each.summary()
    );
    sup.server.signal(Signal::SIGTERM);
    sup.server.wait_exit(DEADLINE).await;
}

/// `/metrics` of a supervisor started with `--health 127.0.0.1:PORT`.
async fn get_metrics(sup: &Supervisor) -> String {
    let log = sup.server.log();
    let Some(port) = log
        .lines()
        .find(|l| l.contains("serving /livez, /readyz and /metrics"))
        .and_then(|l| l.rsplit("addr=127.0.0.1:").next())
        .and_then(|p| p.split_whitespace().next())
        .and_then(|p| p.parse().ok())
    else {
        return String::new();
    };
    get(port, "/metrics")
        .await
        .map(|(_, body)| body)
        .unwrap_or_default()
}

fn health() -> String {
    format!("127.0.0.1:{}", free_port())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_on_fd_3_closing_idle_connections_on_sigterm_reloads_20_times_failing_nothing() {
    let h = health();
    let js = fixture_arg("node_fd3.js");
    twenty_reloads_fail_nothing(&["--health", &h, "--ready", "http:/"], &["node", &js]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_exiting_at_once_on_sigterm_bound_to_port_reloads_20_times_failing_nothing() {
    let h = health();
    let py = fixture_arg("python_port.py");
    twenty_reloads_fail_nothing(
        &["--health", &h, "--upstream", "env:PORT"],
        &["python3", &py],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uvicorn_on_fd_3_reloads_20_times_failing_nothing() {
    python_imports("uvicorn", "uvicorn").unwrap_or_else(|e| panic!("{e}"));
    let h = health();
    let dir = fixture("").display().to_string();
    twenty_reloads_fail_nothing(
        &["--health", &h, "--ready", "http:/"],
        &[
            "python3",
            "-m",
            "uvicorn",
            "--fd",
            "3",
            "--app-dir",
            &dir,
            "--lifespan",
            "off",
            "--no-access-log",
            "--log-level",
            "warning",
            "asgi_hello:app",
        ],
    )
    .await;
}

/// A raw HTTP/1.1 exchange on its own connection: what came back until the server closed.
async fn raw(port: u16, request: &[u8]) -> String {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    conn.write_all(request).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(DEADLINE, conn.read_to_end(&mut out))
        .await
        .expect("an answer")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

fn node() -> [String; 2] {
    ["node".into(), fixture_arg("node_fd3.js")]
}

/// A 1.5 s request that spans a reload is answered 200 by the old child, which stays alive
/// (retired) until it has answered and only then gets SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_request_spanning_a_reload_is_answered_by_the_old_child() {
    let node = node();
    let (mut sup, port) = proxied(&["--ready", "http:/"], &[&node[0], &node[1]]).await;
    let old = sup.ready_pid().await;
    let slow = tokio::spawn(raw(
        port,
        b"GET /slow HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    ));
    // The request is in flight once the child has it: wait for it to show in /seen.
    wait_seen(port, "/slow").await;
    assert_eq!(reload(&mut sup).await, old);
    assert!(
        changeover_tests::alive(old),
        "the old child was stopped with a request in flight"
    );
    let answer = slow.await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with(&format!("slow from {old}\n")), "{answer}");
    assert!(wait_gone(old, DEADLINE).await, "log:\n{}", sup.server.log());
    sup.server.signal(Signal::SIGTERM);
    assert_eq!(sup.server.wait_exit(DEADLINE).await.code(), Some(0));
}

async fn wait_seen(port: u16, path: &str) {
    tokio::time::timeout(DEADLINE, async {
        loop {
            if let Ok((200, seen)) = get(port, "/seen").await {
                if seen.lines().any(|l| l == path) {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the child never received {path}"));
}

/// An upgraded connection (an echo protocol, as WebSocket is) keeps working across a reload
/// with the child it was opened to, until the client closes it; then that child is stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgraded_connection_stays_with_its_child_across_a_reload_until_closed() {
    let node = node();
    let (mut sup, port) = proxied(&["--ready", "http:/"], &[&node[0], &node[1]]).await;
    let old = sup.ready_pid().await;
    let mut conn = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    conn.write_all(b"GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = conn.read(&mut buf).await.unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 101"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    let mut echo = async |conn: &mut TcpStream, what: &str| {
        conn.write_all(what.as_bytes()).await.unwrap();
        let n = tokio::time::timeout(DEADLINE, conn.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    assert_eq!(echo(&mut conn, "one").await, format!("echo {old} one"));
    assert_eq!(reload(&mut sup).await, old);
    for i in 0..3 {
        assert_eq!(
            echo(&mut conn, &format!("after {i}")).await,
            format!("echo {old} after {i}")
        );
    }
    assert!(
        changeover_tests::alive(old),
        "the old child was stopped under an open tunnel"
    );
    let (code, body) = get(port, "/").await.unwrap();
    assert!(
        code == 200 && !body.contains(&old.to_string()),
        "new requests go to the new child: {body}"
    );
    conn.shutdown().await.unwrap();
    assert!(wait_gone(old, DEADLINE).await, "log:\n{}", sup.server.log());
    sup.server.signal(Signal::SIGTERM);
    assert_eq!(sup.server.wait_exit(DEADLINE).await.code(), Some(0));
}

/// The Kubernetes stop through the proxy: SIGTERM with a 2 s stop delay; `/readyz` turns 503 at
/// once while keep-alive load goes on through the delay (the endpoint still routed here), and
/// fails nothing; the supervisor exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kubernetes_stop_through_the_proxy_fails_nothing_and_exits_0() {
    let node = node();
    let h = health();
    let (mut sup, port) = proxied(
        &["--ready", "http:/", "--health", &h, "--stop-delay", "2s"],
        &[&node[0], &node[1]],
    )
    .await;
    let health_port: u16 = h.rsplit(':').next().unwrap().parse().unwrap();
    let l = load(port, 16, true, 2000.0);
    l.wait_for_ok(200, DEADLINE).await.unwrap();
    sup.server.signal(Signal::SIGTERM);
    sup.server
        .wait_for_line("stop: /readyz answers 503", DEADLINE)
        .await;
    assert_eq!(get(health_port, "/readyz").await.unwrap().0, 503);
    let ok = l.snapshot().ok;
    l.wait_for_ok(ok + 200, DEADLINE).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let report = l.stop().await;
    assert_eq!(
        report.failed(),
        0,
        "{}\nlog:\n{}",
        report.summary(),
        sup.server.log()
    );
    assert_eq!(
        sup.server.wait_exit(DEADLINE).await.code(),
        Some(0),
        "log:\n{}",
        sup.server.log()
    );
}

/// A request hyper cannot parse is answered 400 by the proxy and never reaches the child.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_request_is_answered_400_by_the_proxy_and_never_reaches_the_child() {
    let node = node();
    let (mut sup, port) = proxied(&["--ready", "http:/"], &[&node[0], &node[1]]).await;
    let answer = raw(
        port,
        b"GET /malformed HTTP/1.1\r\nHost: t\r\nno colon in this line\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    let (code, seen) = get(port, "/seen").await.unwrap();
    assert_eq!(code, 200);
    assert!(!seen.contains("/malformed"), "the child saw it: {seen}");
    sup.server.signal(Signal::SIGTERM);
    sup.server.wait_exit(DEADLINE).await;
}

/// A retired child that dies with a request in flight: that request is answered 502, counted
/// on its generation, and the new child serves on. (The request is a POST: a GET that was in
/// flight on a reused upstream connection would be sent again, once, to the new child.) Then the only child crashing with requests in
/// flight: 502 for them, and the supervisor exits with its status, as without the proxy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_dying_with_requests_in_flight_gives_counted_502s() {
    let node = node();
    let h = health();
    let (mut sup, port) = proxied(
        &["--ready", "http:/", "--health", &h],
        &[&node[0], &node[1]],
    )
    .await;
    let old = sup.ready_pid().await;
    let slow = tokio::spawn(raw(
        port,
        b"POST /slow HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    ));
    wait_seen(port, "/slow").await;
    assert_eq!(reload(&mut sup).await, old);
    changeover_tests::signal(old, Signal::SIGKILL);
    let answer = slow.await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 502"), "{answer}");
    assert!(answer.contains("generation 1"), "{answer}");
    assert!(wait_gone(old, DEADLINE).await);
    let metrics = get_metrics(&sup).await;
    for line in [
        "changeover_proxy_requests_total{generation=\"1\",class=\"5xx\"} 1",
        "changeover_proxy_upstream_errors_total{generation=\"1\",kind=\"closed\"} 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} missing:\n{metrics}"
        );
    }
    assert_eq!(
        get(port, "/").await.unwrap().0,
        200,
        "the new child serves on"
    );
    let slow = tokio::spawn(raw(
        port,
        b"POST /slow HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    ));
    wait_seen(port, "/slow").await;
    let crash = raw(
        port,
        b"GET /crash HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(crash.starts_with("HTTP/1.1 502"), "{crash}");
    let slow = slow.await.unwrap();
    assert!(
        slow.starts_with("HTTP/1.1 502"),
        "{slow}\nlog:\n{}",
        sup.server.log()
    );
    assert_eq!(
        sup.server.wait_exit(DEADLINE).await.code(),
        Some(3),
        "log:\n{}",
        sup.server.log()
    );
}

/// `--upstream env:PORT` with a child that never binds its port: the reload is rolled back at
/// the ready timeout, saying so, and the old child serves on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_that_never_binds_its_port_is_rolled_back() {
    let py = fixture_arg("python_port.py");
    let (mut sup, port) = proxied(
        &["--upstream", "env:PORT", "--ready-timeout", "2s"],
        &["python3", &py],
    )
    .await;
    let old = sup.ready_pid().await;
    std::fs::write(sup.dir.path().join("nobind"), "").unwrap();
    let out = sup.ctl("reload", &["--wait"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rolled back"), "{}", show(&out));
    assert!(
        err.contains("did not accept a connection on its upstream port within 2s"),
        "{}",
        show(&out)
    );
    let (code, body) = get(port, "/").await.unwrap();
    assert_eq!((code, body), (200, format!("hello from python {old}\n")));
    assert_eq!(sup.ready_pid().await, old);
    sup.server.signal(Signal::SIGTERM);
    sup.server.wait_exit(DEADLINE).await;
}

/// An HTTP/2 client (curl, prior knowledge) is served by the public side and forwarded to the
/// HTTP/1.1 child, which sees `X-Forwarded-For` and `X-Forwarded-Proto`; with
/// `--no-forwarded-headers` it sees neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_clients_are_forwarded_with_forwarded_headers_unless_turned_off() {
    let node = node();
    for (flags, forwarded) in [
        (&["--ready", "http:/"][..], true),
        (&["--ready", "http:/", "--no-forwarded-headers"][..], false),
    ] {
        let (mut sup, port) = proxied(flags, &[&node[0], &node[1]]).await;
        let url = format!("http://127.0.0.1:{port}/headers");
        let out = tokio::time::timeout(
            DEADLINE,
            tokio::process::Command::new("curl")
                .args([
                    "-s",
                    "--http2-prior-knowledge",
                    "-w",
                    "\nversion %{http_version}",
                    &url,
                ])
                .output(),
        )
        .await
        .expect("curl within the deadline")
        .expect("curl runs (apt-get install curl; .ci/run does)");
        let said = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(said.ends_with("version 2"), "{said}");
        assert_eq!(
            said.contains("\"x-forwarded-for\":\"127.0.0.1\""),
            forwarded,
            "{said}"
        );
        assert_eq!(
            said.contains("\"x-forwarded-proto\":\"http\""),
            forwarded,
            "{said}"
        );
        sup.server.signal(Signal::SIGTERM);
        assert_eq!(sup.server.wait_exit(DEADLINE).await.code(), Some(0));
    }
}

/// Before any child is ready the proxy answers 503 itself, with `Retry-After`, counted as the
/// proxy's own (`generation="none"`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_any_child_is_ready_requests_are_answered_503_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("nobind"), "").unwrap();
    let (port, h) = (free_port(), health());
    let listen = format!("127.0.0.1:{port}");
    let py = fixture_arg("python_port.py");
    let args = [
        "--proxy",
        "--listen",
        &listen,
        "--health",
        &h,
        "--upstream",
        "env:PORT",
    ];
    let mut sup = Supervisor::start_in(dir, &args, &["python3", &py], |_| {});
    sup.server.wait_for_line("not binding", DEADLINE).await;
    let answer = raw(
        port,
        b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 1"),
        "{answer}"
    );
    let metrics = get_metrics(&sup).await;
    let line = "changeover_proxy_requests_total{generation=\"none\",class=\"5xx\"} 1";
    assert!(
        metrics.lines().any(|l| l == line),
        "{line} missing:\n{metrics}"
    );
    sup.server.signal(Signal::SIGTERM);
    sup.server.wait_exit(DEADLINE).await;
}

/// Bad input: one line naming the flag, the problem and the fix, exit 2, before anything starts.
#[tokio::test]
async fn proxy_flags_refuse_bad_input_with_status_2() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--proxy", "--upstream", "tcp:9000"],
            "--upstream \"tcp:9000\": not an upstream; write fd",
        ),
        (
            &["--proxy", "--ready", "http:"],
            "--ready \"http:\": the path is missing",
        ),
        (&["--upstream", "env:PORT"], "--upstream needs --proxy"),
        (
            &["--ready", "http:/healthz"],
            "--ready http:/healthz needs --proxy",
        ),
    ];
    for (flags, needle) in cases {
        let mut args = vec!["run"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["--", "true"]);
        let out = cli(&args).await;
        assert_eq!(out.status.code(), Some(2), "{}", show(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{}", show(&out));
        assert!(err.contains(needle), "{needle:?}:\n{}", show(&out));
    }
    assert!(Path::new(&fixture_arg("node_fd3.js")).exists());
}
