//! gRPC on the library's serve path, with a real gRPC client (Python's
//! `grpcio`, which `.ci/run` installs) and the `grpc` example. The
//! contracts: `Health/Check` on pooled channels fails no RPC across
//! self-upgrades; from the moment a stop begins it answers `NOT_SERVING`
//! while the server still serves through the stop delay; and HTTP/2
//! connections are drained the way gRPC clients need, GOAWAY in two steps.

use std::path::Path;
use std::time::{Duration, Instant};

use changeover_tests::http2::{
    ACK, Frame, GOAWAY, PING, PREFACE, RST_STREAM, SETTINGS, WINDOW_UPDATE, frame, get, read_frame,
};
use changeover_tests::{
    Script, Server, example_bin, free_port, python_packages, signal, wait_gone,
};
use nix::sys::signal::Signal;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

const DEADLINE: Duration = Duration::from_secs(30);

fn grpc_server(port: u16, pid_file: Option<&Path>, extra: &[&str]) -> Server {
    let mut cmd = Command::new(example_bin("grpc"));
    cmd.arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .args(extra);
    if let Some(p) = pid_file {
        cmd.arg("--pid-file").arg(p);
    }
    Server::start(cmd)
}

/// 16 channels, each its own HTTP/2 connection calling `Health/Check` one
/// RPC after the other, across 20 SIGHUP upgrades: no RPC fails, and every
/// channel is still calling after the last upgrade (a client that lost its
/// connection for good at a GOAWAY would show here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_check_on_16_channels_across_20_upgrades_fails_no_rpc() {
    if !python_packages("grpc, grpc_health.v1", "grpcio grpcio-health-checking") {
        return;
    }
    const CHANNELS: u64 = 16;
    const UPGRADES: usize = 20;
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("grpc.pid");
    let port = free_port();
    let mut server = grpc_server(port, Some(&pid_file), &[]);
    let mut live = server.wait_ready(DEADLINE).await;
    let target = format!("127.0.0.1:{port}");
    let mut driver = Script::python(
        "grpc_check.py",
        &[
            "load".into(),
            "--target".into(),
            target,
            "--channels".into(),
            CHANNELS.to_string(),
            "--max-seconds".into(),
            "240".into(),
        ],
    );
    let mut ok = driver.wait_progress_ok(500, DEADLINE).await;
    let started = Instant::now();
    for i in 0..UPGRADES {
        signal(live, Signal::SIGHUP);
        let next = server.wait_ready(DEADLINE).await;
        assert_ne!(next, live, "upgrade {i} produced no new process");
        assert!(
            wait_gone(live, DEADLINE).await,
            "generation {live} still alive after its successor took over; log:\n{}",
            server.log()
        );
        // RPCs flow through the new generation before the next upgrade.
        ok = driver.wait_progress_ok(ok + CHANNELS * 20, DEADLINE).await;
        live = next;
    }
    let upgrading = started.elapsed();
    driver.send("mark").await;
    driver.wait_for(|l| l == "marked", DEADLINE).await;
    driver.wait_progress_ok(ok + CHANNELS * 100, DEADLINE).await;
    let result = driver.finish(DEADLINE).await;
    signal(live, Signal::SIGTERM);
    assert!(wait_gone(live, DEADLINE).await);
    let r: serde_json::Value = serde_json::from_str(&result).expect("the driver's JSON");
    assert_eq!(
        r["failed"],
        0,
        "RPCs failed across {UPGRADES} upgrades: {}\nserver log:\n{}",
        r["failures"],
        server.log()
    );
    assert_eq!(r["bounded"], false, "the driver hit a bound: {result}");
    let since = r["ok_per_channel_since_mark"]
        .as_array()
        .expect("per-channel counts");
    assert_eq!(since.len() as u64, CHANNELS);
    assert!(
        since.iter().all(|n| n.as_u64().unwrap() > 0),
        "a channel made no RPC after the last upgrade: {result}"
    );
    println!(
        "{UPGRADES} upgrades in {:.1}s: {} RPCs on {CHANNELS} channels, {} SERVING, {} NOT_SERVING (from a draining old generation), {} failed",
        upgrading.as_secs_f64(),
        r["rpcs"],
        r["ok"],
        r["not_serving"],
        r["failed"]
    );
}

/// A stop with a stop delay: `Check` answers `NOT_SERVING` from the moment
/// SIGTERM arrives, on an existing connection and on a new one (so the
/// server still accepts and serves during the delay); a `Watch` opened
/// before sees `SERVING`, then `NOT_SERVING`, and ends with `UNAVAILABLE`
/// only once the delay is over; the process then exits promptly, status 0,
/// without waiting for the drain deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn during_the_stop_delay_check_answers_not_serving_and_the_server_still_serves() {
    if !python_packages("grpc, grpc_health.v1", "grpcio grpcio-health-checking") {
        return;
    }
    let delay = Duration::from_secs(2);
    let port = free_port();
    let mut server = grpc_server(
        port,
        None,
        &["--stop-delay", "2s", "--drain-timeout", "20s"],
    );
    server.wait_ready(DEADLINE).await;
    let mut probe = Script::python(
        "grpc_check.py",
        &[
            "probe".into(),
            "--target".into(),
            format!("127.0.0.1:{port}"),
        ],
    );
    assert_eq!(ask(&mut probe, "check").await, "SERVING");
    probe.send("watch").await;
    probe.wait_for(|l| l == "watch SERVING", DEADLINE).await;

    let stopping = Instant::now();
    server.signal(Signal::SIGTERM);
    probe.wait_for(|l| l == "watch NOT_SERVING", DEADLINE).await;
    assert_eq!(ask(&mut probe, "check").await, "NOT_SERVING");
    assert_eq!(
        ask(&mut probe, "check-new").await,
        "NOT_SERVING",
        "a new connection during the stop delay is accepted and answered"
    );
    assert!(
        stopping.elapsed() < delay,
        "the checks took longer than the stop delay; the test proves nothing on a machine this slow"
    );
    let end = probe
        .wait_for(|l| l.starts_with("watch-end "), DEADLINE)
        .await;
    assert!(
        stopping.elapsed() >= delay,
        "the watch ended before the stop delay was over"
    );
    assert!(end.starts_with("watch-end UNAVAILABLE"), "{end}");
    let status = server.wait_exit(DEADLINE).await;
    let took = stopping.elapsed();
    assert_eq!(status.code(), Some(0), "log:\n{}", server.log());
    assert!(
        took < Duration::from_secs(10),
        "exit took {took:?}: the watch or its connection held the drain; log:\n{}",
        server.log()
    );
    drop(probe);
}

/// Sends a probe command and returns its answer (the line after `cmd `).
async fn ask(probe: &mut Script, cmd: &str) -> String {
    probe.send(cmd).await;
    let prefix = format!("{cmd} ");
    let line = probe.wait_for(|l| l.starts_with(&prefix), DEADLINE).await;
    line[prefix.len()..].to_owned()
}

async fn next_frame(s: &mut TcpStream) -> Frame {
    tokio::time::timeout(DEADLINE, read_frame(s))
        .await
        .expect("a frame within the deadline")
        .expect("no reset")
        .expect("a frame, not the end of the connection")
}

/// Reads frames (answering SETTINGS) until the response on `stream` ended.
async fn read_response(s: &mut TcpStream, stream: u32) {
    loop {
        let f = next_frame(s).await;
        assert_ne!(f.kind, RST_STREAM, "stream {} reset", f.stream);
        if f.kind == SETTINGS && f.flags & ACK == 0 {
            s.write_all(&frame(SETTINGS, ACK, 0, &[])).await.unwrap();
        }
        if f.ends(stream) {
            return;
        }
    }
}

/// `hello` with no stop delay, and an HTTP/2 connection to it past the
/// preface and our SETTINGS.
async fn hello_over_http2() -> (Server, u16, TcpStream) {
    let port = free_port();
    let mut cmd = Command::new(example_bin("hello"));
    cmd.arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .args(["--stop-delay", "0s"]);
    let mut server = Server::start(cmd);
    server.wait_ready(DEADLINE).await;
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(PREFACE).await.unwrap();
    s.write_all(&frame(SETTINGS, 0, 0, &[])).await.unwrap();
    (server, port, s)
}

/// Every frame until the server's FIN, within the deadline; a reset fails.
async fn frames_to_the_end(s: &mut TcpStream) -> Vec<Frame> {
    let mut frames = Vec::new();
    loop {
        let f = tokio::time::timeout(DEADLINE, read_frame(s))
            .await
            .expect("the connection ends within the deadline")
            .expect("ends with FIN, not a reset");
        match f {
            Some(f) => frames.push(f),
            None => return frames,
        }
    }
}

/// The (last stream, error code) of each GOAWAY among `frames`.
fn goaways(frames: &[Frame]) -> Vec<(u32, u32)> {
    frames
        .iter()
        .filter(|f| f.kind == GOAWAY)
        .map(goaway_last_stream)
        .collect()
}

fn goaway_last_stream(f: &Frame) -> (u32, u32) {
    let last = u32::from_be_bytes(f.payload[0..4].try_into().unwrap()) & 0x7fff_ffff;
    let code = u32::from_be_bytes(f.payload[4..8].try_into().unwrap());
    (last, code)
}

/// What gRPC clients rely on when a server drains an HTTP/2 connection
/// (h2's graceful shutdown, RFC 9113 §6.8): first a GOAWAY with the highest
/// stream id and a PING; a stream the client opens before it answers that
/// PING is still served; then the GOAWAY naming the real last stream, no
/// stream reset, and a clean close. Driven frame by frame on a raw socket
/// so each step is seen. The GOAWAY comes as soon as accepting stops, while
/// an idle HTTP/1.1 connection beside it is still in its lame-duck window
/// (it was once sent only after that window, leaving pooled gRPC channels
/// on a draining process, answered NOT_SERVING, for a second).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_drain_sends_goaway_in_two_steps_and_serves_the_stream_sent_between() {
    let (mut server, port, mut s) = hello_over_http2().await;
    s.write_all(&get(1, "/")).await.unwrap();
    read_response(&mut s, 1).await;
    let mut h1 = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    h1.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 4096];
    let n = h1.read(&mut answer).await.unwrap();
    assert!(answer[..n].starts_with(b"HTTP/1.1 200"));

    server.signal(Signal::SIGTERM);
    let first = loop {
        let f = next_frame(&mut s).await;
        assert_ne!(f.kind, RST_STREAM);
        if f.kind == GOAWAY {
            break f;
        }
    };
    match h1.try_read(&mut answer) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!(
            "the idle HTTP/1.1 connection ended ({other:?}) before HTTP/2 got its GOAWAY: HTTP/2 waited out the lame-duck window"
        ),
    }
    assert_eq!(
        goaway_last_stream(&first),
        (0x7fff_ffff, 0),
        "the first GOAWAY announces the shutdown without refusing any stream"
    );
    let ping = loop {
        let f = next_frame(&mut s).await;
        assert_ne!(f.kind, RST_STREAM);
        if f.kind == PING && f.flags & ACK == 0 {
            break f;
        }
    };
    // A request that was already on its way when the GOAWAY arrived.
    s.write_all(&get(3, "/")).await.unwrap();
    s.write_all(&frame(PING, ACK, 0, &ping.payload))
        .await
        .unwrap();
    let rest = frames_to_the_end(&mut s).await;
    assert!(
        rest.iter().all(|f| f.kind != RST_STREAM),
        "a stream was reset"
    );
    assert!(
        rest.iter().any(|f| f.ends(3)),
        "the stream sent between the two GOAWAYs was answered"
    );
    assert_eq!(
        goaways(&rest),
        [(3, 0)],
        "the second GOAWAY names the last stream served, with NO_ERROR"
    );
    drop(s);
    let end = tokio::time::timeout(DEADLINE, h1.read(&mut answer))
        .await
        .expect("the idle HTTP/1.1 connection is closed after its lame-duck window");
    assert_eq!(end.unwrap(), 0, "closed with FIN, nothing more sent");
    drop(h1);
    assert_eq!(server.wait_exit(DEADLINE).await.code(), Some(0));
}

/// What grpcio does in a drain, one upgrade in about 180 with 16 busy
/// channels: right after it answers the shutdown PING it still opens a
/// stream, with a WINDOW_UPDATE on it. The server ignores that stream
/// (the client retries it elsewhere), but h2 took the WINDOW_UPDATE for a
/// protocol error and tore the connection down with GOAWAY
/// `PROTOCOL_ERROR`, failing the request still in flight on it. That
/// request is answered, every GOAWAY says NO_ERROR, and the connection ends
/// with a FIN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_drain_serves_the_stream_in_flight_when_the_client_opens_one_after_the_last_goaway() {
    let (mut server, _, mut s) = hello_over_http2().await;
    s.write_all(&get(1, "/slow?ms=1000")).await.unwrap();
    server.wait_for_line("slow request started", DEADLINE).await;

    server.signal(Signal::SIGTERM);
    let ping = loop {
        let f = next_frame(&mut s).await;
        assert_ne!(f.kind, RST_STREAM, "stream {} reset", f.stream);
        if f.kind == SETTINGS && f.flags & ACK == 0 {
            s.write_all(&frame(SETTINGS, ACK, 0, &[])).await.unwrap();
        }
        if f.kind == GOAWAY {
            assert_eq!(goaway_last_stream(&f), (0x7fff_ffff, 0));
        }
        if f.kind == PING && f.flags & ACK == 0 {
            break f;
        }
    };
    // The answer, then a stream opened after it, in one write as grpcio's.
    let mut late = frame(PING, ACK, 0, &ping.payload);
    late.extend(get(3, "/"));
    late.extend(frame(WINDOW_UPDATE, 0, 3, &5u32.to_be_bytes()));
    s.write_all(&late).await.unwrap();

    let rest = frames_to_the_end(&mut s).await;
    assert!(
        !rest.iter().any(|f| f.kind == RST_STREAM && f.stream == 1),
        "the request in flight was reset"
    );
    let answered = rest.iter().any(|f| f.ends(1));
    assert_eq!(
        goaways(&rest),
        [(1, 0)],
        "one more GOAWAY, naming the stream in flight as the last, NO_ERROR (PROTOCOL_ERROR is 1); log:\n{}",
        server.log()
    );
    assert!(answered, "the request in flight was answered");
    assert_eq!(server.wait_exit(DEADLINE).await.code(), Some(0));
}
