//! Idle HTTP/1.1 keep-alive connections across a self-upgrade of `hello`:
//! real processes, raw sockets, real signals, and Python `requests`.
//!
//! The contract: an upgrade closes no idle connection. Each is handed to
//! the successor, a request head partly received included, and served
//! there as its own; the old generation exits at once instead of after a
//! lame duck. A successor that cannot take them (it dies first, or it is
//! an older version that does not speak the hand-over) loses nothing a
//! stop would not: the old generation serves them through their lame duck
//! and closes them cleanly.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use changeover_tests::http1::{Response, get, get_on, read_response, unread_by_server};
use changeover_tests::pooled::{self, Restart};
use changeover_tests::{
    Server, clients_dir, example_bin, free_port, python_packages, signal, wait_gone,
};
use nix::sys::signal::Signal;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

const DEADLINE: Duration = Duration::from_secs(30);

/// A lame duck long enough that an old generation holding idle
/// connections through it stays visibly alive (each closes at a random
/// moment of its second half: none before 5 s).
const LONG_LAME_DUCK: &str = "10s";

/// The lame duck of an old generation that keeps its connections: a
/// request sent into one of them almost never meets its close (a race of
/// about 100 µs in 4 s, which a stop cannot avoid either), and the
/// connections not asked anything close within it.
const KEPT_LAME_DUCK: &str = "4s";

/// Well under [`LONG_LAME_DUCK`]: an old generation that handed its idle
/// connections over exits within this, on a busy machine too.
const PROMPTLY: Duration = Duration::from_secs(5);

fn hello(exe: &Path, port: u16, extra: &[&str]) -> Server {
    let mut cmd = Command::new(exe);
    cmd.arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .args(extra);
    Server::start(cmd)
}

/// The pid in `hello from <pid>`.
fn served_by(r: &Response) -> u32 {
    r.body
        .strip_prefix("hello from ")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("not an answer of hello: {r:?}"))
}

/// `n` keep-alive connections, each having had one answer from `pid`.
async fn idle_connections(port: u16, n: usize, pid: u32) -> Vec<TcpStream> {
    let mut conns = Vec::new();
    for _ in 0..n {
        let mut c = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let r = get_on(&mut c, "/").await.unwrap();
        assert_eq!((r.status, r.close, served_by(&r)), (200, false, pid));
        conns.push(c);
    }
    conns
}

/// Waits until the server read everything `conn` sent (nothing unread in
/// its socket), so those bytes are in the server's own buffers.
async fn wait_read_by_server(port: u16, conn: &TcpStream) {
    let deadline = Instant::now() + DEADLINE;
    while unread_by_server(port, conn) != Some(0) {
        assert!(
            Instant::now() < deadline,
            "the server did not read what was sent within {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// An upgrade hands idle connections to the successor: the next request on
/// each is answered by the successor, on the same connection, with no
/// `Connection: close`; and the old generation exits at once, not after
/// its lame duck.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_served_by_the_successor_and_the_old_generation_exits_at_once() {
    let port = free_port();
    let mut server = hello(
        &example_bin("hello"),
        port,
        &["--lame-duck", LONG_LAME_DUCK],
    );
    let old = server.wait_ready(DEADLINE).await;
    let mut conns = idle_connections(port, 16, old).await;

    signal(old, Signal::SIGHUP);
    let new = server.wait_ready(DEADLINE).await;
    let ready_at = Instant::now();
    assert!(
        wait_gone(old, PROMPTLY).await,
        "the old generation held its idle connections instead of handing them over; log:\n{}",
        server.log()
    );
    println!(
        "old generation gone {:?} after the successor was ready",
        ready_at.elapsed()
    );
    for c in &mut conns {
        let r = get_on(c, "/").await.expect("the connection is still open");
        assert_eq!((r.status, r.close, served_by(&r)), (200, false, new));
    }
    let took = server
        .wait_for_line("took over idle connections", DEADLINE)
        .await;
    assert!(took.contains("taken=16 "), "{took}");
    println!("{took}");
    drop(conns);
    signal(new, Signal::SIGTERM);
    assert!(wait_gone(new, DEADLINE).await);
}

/// A request head partly received when the upgrade comes, on a new
/// connection and on one that already had an answer: the bytes the old
/// generation read go over with the connection, and the successor, given
/// the rest, answers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_partly_received_at_the_handover_is_answered_by_the_successor() {
    let port = free_port();
    let mut server = hello(
        &example_bin("hello"),
        port,
        &["--lame-duck", LONG_LAME_DUCK],
    );
    let old = server.wait_ready(DEADLINE).await;
    let mut fresh = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut used = idle_connections(port, 1, old).await.pop().unwrap();
    for c in [&mut fresh, &mut used] {
        c.write_all(b"GET / HTTP/1.1\r\nHo").await.unwrap();
        wait_read_by_server(port, c).await;
    }

    signal(old, Signal::SIGHUP);
    let new = server.wait_ready(DEADLINE).await;
    assert!(
        wait_gone(old, PROMPTLY).await,
        "the old generation held the half-received requests; log:\n{}",
        server.log()
    );
    for c in [&mut fresh, &mut used] {
        c.write_all(b"st: t\r\n\r\n").await.unwrap();
        let r = read_response(c).await.expect("an answer");
        assert_eq!((r.status, r.close, served_by(&r)), (200, false, new));
    }
    drop((fresh, used));
    signal(new, Signal::SIGTERM);
    assert!(wait_gone(new, DEADLINE).await);
}

/// A copy of `hello` at a path of its own, so a test can deploy another
/// program over it before an upgrade.
fn deployable(dir: &Path) -> PathBuf {
    let exe = dir.join("app");
    std::fs::copy(example_bin("hello"), &exe).unwrap();
    exe
}

/// Deploys `tests/clients/successor.py MODE` over `exe`, as tools deploy:
/// written beside it, renamed over it.
fn deploy_successor(exe: &Path, mode: &str) {
    let tmp = exe.with_extension("new");
    let script = clients_dir().join("successor.py");
    std::fs::write(
        &tmp,
        format!("#!/bin/sh\nexec python3 -u {} {mode}\n", script.display()),
    )
    .unwrap();
    std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::rename(&tmp, exe).unwrap();
}

/// What an idle connection of an old generation that kept it must do: be
/// closed already, cleanly; or answer a request (from `old`, asking the
/// client to close) and then close cleanly. Never a reset, never a request
/// left unanswered in an open connection.
async fn served_the_old_way(conn: &mut TcpStream, old: u32) {
    let mut probe = [0u8; 1];
    match conn.try_read(&mut probe) {
        // Closed in its lame duck, cleanly, before this request.
        Ok(0) => return,
        Ok(_) => panic!("unasked-for bytes on an idle connection"),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        Err(e) => panic!("an idle connection of the old generation was reset: {e}"),
    }
    let r = get_on(conn, "/")
        .await
        .expect("a request in the lame duck is answered");
    assert_eq!((r.status, r.close, served_by(&r)), (200, true, old));
    let mut rest = Vec::new();
    assert!(
        matches!(conn.read_to_end(&mut rest).await, Ok(0)),
        "then a clean end of stream"
    );
}

/// Idle connections an old generation kept: a request on the first two is
/// answered (by `old`, asking the client to close); the others, untouched,
/// close in their lame duck; every one ends cleanly; and the generation
/// exits with status 0, nothing cut at the drain deadline.
async fn kept_and_closed_the_old_way(server: &mut Server, conns: Vec<TcpStream>, old: u32) {
    // Each closed on this side once done with, as a client does: the old
    // generation waits (its lame duck at most) for that before it lets go.
    for (i, mut c) in conns.into_iter().enumerate() {
        if i < 2 {
            served_the_old_way(&mut c, old).await;
        } else {
            let mut rest = Vec::new();
            assert!(
                matches!(c.read_to_end(&mut rest).await, Ok(0)),
                "an idle connection closes in its lame duck, cleanly"
            );
        }
    }
    assert_eq!(
        server.wait_exit(DEADLINE).await.code(),
        Some(0),
        "log:\n{}",
        server.log()
    );
}

/// A successor that dies after it said it takes connections and received
/// the first, before it answered: the old generation gets them all back
/// and keeps them through their lame duck, as in a stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_successor_that_dies_before_taking_them_loses_none() {
    let dir = tempfile::tempdir().unwrap();
    let exe = deployable(dir.path());
    let port = free_port();
    let mut server = hello(&exe, port, &["--lame-duck", KEPT_LAME_DUCK]);
    let old = server.wait_ready(DEADLINE).await;
    let conns = idle_connections(port, 8, old).await;

    deploy_successor(&exe, "dies");
    signal(old, Signal::SIGHUP);
    let successor = server.wait_ready(DEADLINE).await;
    server
        .wait_for_line(
            "closing the connections it did not take the old way",
            DEADLINE,
        )
        .await;
    assert!(wait_gone(successor, DEADLINE).await, "the successor died");
    kept_and_closed_the_old_way(&mut server, conns, old).await;
}

/// A successor from before the hand-over (its `READY=1` has no connection
/// socket) gets no connection: the old generation keeps its idle ones
/// through their lame duck, while new connections go to the successor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_successor_that_does_not_speak_the_handover_gets_none() {
    let dir = tempfile::tempdir().unwrap();
    let exe = deployable(dir.path());
    let port = free_port();
    let mut server = hello(&exe, port, &["--lame-duck", KEPT_LAME_DUCK]);
    let old = server.wait_ready(DEADLINE).await;
    let conns = idle_connections(port, 8, old).await;

    deploy_successor(&exe, "older");
    signal(old, Signal::SIGHUP);
    let older = server.wait_ready(DEADLINE).await;
    server
        .wait_for_line("the successor does not take connections over", DEADLINE)
        .await;
    server.wait_for_line("stopped accepting", DEADLINE).await;
    let r = get(port, "/").await.expect("the successor serves");
    assert_eq!(r.body, format!("older {older}\n"));
    kept_and_closed_the_old_way(&mut server, conns, old).await;
    signal(older, Signal::SIGTERM);
    assert!(wait_gone(older, DEADLINE).await);
}

/// Regression (issue 11): Python `requests` (urllib3, which does not
/// retry), 48 threads each with its own pooled connection idle 0–2 s
/// between requests, across 40 self-upgrades: 1 to 3 requests failed in
/// every run ("Remote end closed connection without response") while the
/// old generation closed idle connections at the end of its lame duck.
/// Handed over, none is closed, and none fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_upgrades_under_pooled_python_clients_fail_no_request() {
    if !python_packages("requests", "requests") {
        return;
    }
    let (counts, log) = pooled::across(&Restart::Upgrade, 40, 48).await;
    println!(
        "{} requests, {} failed, 40 upgrades in {:.1} s",
        counts.requests,
        counts.failed,
        counts.took.as_secs_f64()
    );
    assert_eq!(
        counts.failed, 0,
        "failures: {:?}\nserver log:\n{log}",
        counts.failures
    );
    assert!(!counts.bounded, "a bound of the client ended the run");
    assert!(counts.ok >= 40 * 10, "{counts:?}");
    let handovers: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("took over idle connections"))
        .collect();
    assert_eq!(
        handovers.len(),
        40,
        "one hand-over per upgrade; log:\n{log}"
    );
    assert!(
        handovers.iter().all(|l| !l.contains("taken=0 ")),
        "every upgrade handed pooled connections over: {handovers:#?}"
    );
}
