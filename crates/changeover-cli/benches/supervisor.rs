//! Benchmark of `changeover run` (not a test): reloads under the supervisor beside the
//! library's own self-upgrade, and the supervisor's resident memory.
//!
//! Prints, for N handovers of the `hello` example under keep-alive load, each way:
//! failed requests, and the handover time from the request (SIGHUP to `hello`, or
//! `changeover reload --wait`) to the old generation's exit; then the supervisor's RSS (current
//! and peak).
//!
//! ```text
//! cargo build --release -p changeover-tests --examples
//! cargo bench -p changeover-cli --bench supervisor [-- --reloads 50 --connections 64]
//! ```

use std::path::PathBuf;
use std::time::{Duration, Instant};

use changeover_load::{Config, LoadHandle, Target};
use changeover_tests::{Server, signal, wait_gone};
use nix::sys::signal::Signal;
use tokio::process::Command;

const DEADLINE: Duration = Duration::from_secs(60);

fn hello() -> PathBuf {
    let exe = std::env::current_exe().expect("bench binary path");
    let bin = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target dir")
        .join("examples/hello");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --release -p changeover-tests --examples` first",
        bin.display()
    );
    bin
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn load(port: u16, connections: usize) -> LoadHandle {
    let target = Target::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
    changeover_load::start(Config {
        connections,
        duration: Some(Duration::from_secs(600)),
        ..Config::new(target)
    })
    .expect("load config")
}

fn rss(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| "?".into())
    };
    format!("RSS {} (peak {})", field("VmRSS:"), field("VmHWM:"))
}

fn percentiles(what: &str, mut d: Vec<Duration>) {
    d.sort_unstable();
    let at = |q: f64| d[((d.len() - 1) as f64 * q).round() as usize];
    println!(
        "  {what}: p50 {:.1}ms  p90 {:.1}ms  max {:.1}ms",
        at(0.5).as_secs_f64() * 1e3,
        at(0.9).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3
    );
}

async fn next_pid(server: &mut Server, old: u32) -> u32 {
    loop {
        let pid = server.wait_ready(DEADLINE).await;
        if pid != old {
            return pid;
        }
    }
}

/// The library's self-upgrade: SIGHUP to the live generation of `hello`.
async fn self_upgrade(reloads: usize, connections: usize) {
    let port = free_port();
    let mut cmd = Command::new(hello());
    cmd.arg("--listen").arg(format!("127.0.0.1:{port}"));
    let mut server = Server::start(cmd);
    let mut live = server.wait_ready(DEADLINE).await;
    let load = load(port, connections);
    load.wait_for_ok(1000, DEADLINE).await.unwrap();
    let mut took = Vec::new();
    for _ in 0..reloads {
        let t = Instant::now();
        signal(live, Signal::SIGHUP);
        let next = next_pid(&mut server, live).await;
        assert!(wait_gone(live, DEADLINE).await);
        took.push(t.elapsed());
        live = next;
        let ok = load.snapshot().ok;
        load.wait_for_ok(ok + 500, DEADLINE).await.unwrap();
    }
    let report = load.stop().await;
    signal(live, Signal::SIGTERM);
    assert!(wait_gone(live, DEADLINE).await);
    println!("self-upgrade of hello (SIGHUP), {reloads} times:");
    println!("  {}", report.summary());
    percentiles("SIGHUP to old generation's exit", took);
}

/// `changeover run -- hello`, reloaded with `changeover reload --wait`.
async fn supervised(reloads: usize, connections: usize) {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let control = dir.path().join("control.sock");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_changeover"));
    cmd.arg("run")
        .arg("--control")
        .arg(&control)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--")
        .arg(hello());
    let mut server = Server::start(cmd);
    let supervisor = server.pid();
    let mut live = server.wait_ready(DEADLINE).await;
    let rss_idle = rss(supervisor);
    let load = load(port, connections);
    load.wait_for_ok(1000, DEADLINE).await.unwrap();
    let mut took = Vec::new();
    for _ in 0..reloads {
        let t = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_changeover"))
            .arg("reload")
            .arg("--wait")
            .arg("--control")
            .arg(&control)
            .output()
            .await
            .expect("reload");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let next = next_pid(&mut server, live).await;
        assert!(wait_gone(live, DEADLINE).await);
        took.push(t.elapsed());
        live = next;
        let ok = load.snapshot().ok;
        load.wait_for_ok(ok + 500, DEADLINE).await.unwrap();
    }
    let report = load.stop().await;
    let rss_after = rss(supervisor);
    server.signal(Signal::SIGTERM);
    server.wait_exit(DEADLINE).await;
    println!("changeover run -- hello, `changeover reload --wait` {reloads} times:");
    println!("  {}", report.summary());
    percentiles("reload request to old generation's exit", took);
    println!("  supervisor before load: {rss_idle}; after {reloads} reloads: {rss_after}");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (mut reloads, mut connections) = (30, 64);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num = || -> usize {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{a} needs a number"))
        };
        match a.as_str() {
            "--reloads" => reloads = num(),
            "--connections" => connections = num(),
            "--bench" => {}
            other => panic!("unknown argument {other:?}"),
        }
    }
    self_upgrade(reloads, connections).await;
    supervised(reloads, connections).await;
}
