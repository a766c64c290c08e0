//! Self-upgrade of the `hello` example under load: real processes, real
//! sockets, real signals. The contract: no request fails across any number
//! of upgrades, whether clients keep connections alive or open one per
//! request; a bad deploy never becomes an outage.

use std::path::Path;
use std::time::Duration;

use changeover_load::Target;
use changeover_tests::{
    Server, example_bin, free_port, kill_if_alive, load, load_at, signal, wait_gone,
};
use nix::sys::signal::Signal;
use tokio::process::Command;

const DEADLINE: Duration = Duration::from_secs(30);

fn hello(exe: &Path, port: u16, pid_file: &Path, extra: &[&str]) -> Server {
    let mut cmd = Command::new(exe);
    cmd.arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--pid-file")
        .arg(pid_file)
        .args(extra);
    Server::start(cmd)
}

fn read_pid(path: &Path) -> u32 {
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Runs `upgrades` SIGHUP upgrades in a row under load; returns the pids.
async fn upgrade_many(keep_alive: bool, connections: usize, upgrades: usize) {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("hello.pid");
    let port = free_port();
    let mut server = hello(&example_bin("hello"), port, &pid_file, &[]);
    let mut live = server.wait_ready(DEADLINE).await;
    let load = load(port, connections, keep_alive);
    load.wait_for_ok(500, DEADLINE).await.unwrap();
    let mut pids = vec![live];
    for i in 0..upgrades {
        signal(live, Signal::SIGHUP);
        let next = server.wait_ready(DEADLINE).await;
        assert_ne!(next, live, "upgrade {i} produced no new process");
        // The old generation drains and exits on its own.
        assert!(
            wait_gone(live, DEADLINE).await,
            "generation {live} still alive after its successor took over; log:\n{}",
            server.log()
        );
        assert_eq!(
            read_pid(&pid_file),
            next,
            "pid file names the live generation"
        );
        // Keep load flowing through the new generation before the next upgrade.
        let ok = load.snapshot().ok;
        load.wait_for_ok(ok + 200, DEADLINE).await.unwrap();
        live = next;
        pids.push(live);
    }
    let report = load.stop().await;
    signal(live, Signal::SIGTERM);
    assert!(wait_gone(live, DEADLINE).await);
    pids.sort_unstable();
    pids.dedup();
    assert_eq!(pids.len(), upgrades + 1, "every upgrade made a new pid");
    assert_eq!(
        report.failed(),
        0,
        "requests failed across {upgrades} upgrades:\n{}\nserver log:\n{}",
        report.summary(),
        server.log()
    );
    assert!(report.ok > 0);
    println!("{}", report.summary());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_upgrades_under_keepalive_load_fail_no_request() {
    upgrade_many(true, 32, 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_upgrades_under_one_request_per_connection_fail_no_request() {
    upgrade_many(false, 32, 20).await;
}

/// A bad deploy: the binary on disk is replaced by one that exits at once,
/// then by one that never becomes ready. The old generation serves on with
/// no failed request, the hung successor is killed at the readiness
/// deadline, and putting the real binary back upgrades normally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_deploy_is_rolled_back_without_an_outage() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("app");
    let real = example_bin("hello");
    let deploy = |from: &Path| {
        // Deploy as tools do: write beside, then rename over the running binary.
        let tmp = dir.path().join("app.new");
        std::fs::copy(from, &tmp).unwrap();
        std::fs::rename(&tmp, &exe).unwrap();
    };
    let script = |name: &str, body: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        p
    };
    deploy(&real);
    let pid_file = dir.path().join("app.pid");
    let port = free_port();
    let mut server = hello(&exe, port, &pid_file, &["--ready-timeout", "2s"]);
    let old = server.wait_ready(DEADLINE).await;
    let load = load(port, 16, true);
    load.wait_for_ok(200, DEADLINE).await.unwrap();

    deploy(&script("crash", "echo 'crashing at start' >&2; exit 3"));
    signal(old, Signal::SIGHUP);
    server
        .wait_for_line("upgrade failed, still serving", DEADLINE)
        .await;

    deploy(&script("hang", "exec sleep 600"));
    signal(old, Signal::SIGHUP);
    let started = server.wait_for_line("started successor", DEADLINE).await;
    let hung: u32 = started
        .split("successor=")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no successor pid in {started:?}"));
    // SIGHUPs while an upgrade runs join it: no second successor is started.
    signal(old, Signal::SIGHUP);
    server
        .wait_for_line("this request joins it", DEADLINE)
        .await;
    signal(old, Signal::SIGHUP);
    server
        .wait_for_line("this request joins it", DEADLINE)
        .await;
    let line = server
        .wait_for_line("upgrade failed, still serving", DEADLINE)
        .await;
    assert!(line.contains("within 2s"), "{line}");
    assert_eq!(
        server.log().matches("started successor").count(),
        2,
        "one successor for the crash, one for the three SIGHUPs of the hang"
    );
    assert!(
        wait_gone(hung, DEADLINE).await,
        "the hung successor {hung} was not killed"
    );
    kill_if_alive(hung);
    let ok = load.snapshot().ok;
    load.wait_for_ok(ok + 200, DEADLINE).await.unwrap();
    assert_eq!(
        read_pid(&pid_file),
        old,
        "the old generation is still the live one"
    );

    deploy(&real);
    signal(old, Signal::SIGHUP);
    let new = server.wait_ready(DEADLINE).await;
    assert_ne!(new, old);
    assert!(wait_gone(old, DEADLINE).await);
    let ok = load.snapshot().ok;
    load.wait_for_ok(ok + 200, DEADLINE).await.unwrap();
    let report = load.stop().await;
    signal(new, Signal::SIGTERM);
    assert!(wait_gone(new, DEADLINE).await);
    assert_eq!(
        report.failed(),
        0,
        "{}\nserver log:\n{}",
        report.summary(),
        server.log()
    );
}

/// The same contract on the other listener kinds: a Unix stream socket and
/// IPv6 loopback, under keep-alive load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrades_over_unix_and_ipv6_listeners_fail_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("hello.sock");
    let v6 = std::net::TcpListener::bind("[::1]:0")
        .expect("IPv6 loopback")
        .local_addr()
        .unwrap();
    for (listen, target) in [
        (format!("unix:{}", sock.display()), Target::unix(&sock)),
        (v6.to_string(), Target::tcp(v6)),
    ] {
        let mut cmd = Command::new(example_bin("hello"));
        cmd.arg("--listen").arg(&listen);
        let mut server = Server::start(cmd);
        let mut live = server.wait_ready(DEADLINE).await;
        let load = load_at(target, 16, true);
        load.wait_for_ok(200, DEADLINE).await.unwrap();
        for _ in 0..5 {
            signal(live, Signal::SIGHUP);
            let next = server.wait_ready(DEADLINE).await;
            assert!(wait_gone(live, DEADLINE).await);
            live = next;
            let ok = load.snapshot().ok;
            load.wait_for_ok(ok + 200, DEADLINE).await.unwrap();
        }
        let report = load.stop().await;
        signal(live, Signal::SIGTERM);
        assert!(wait_gone(live, DEADLINE).await);
        assert_eq!(
            report.failed(),
            0,
            "{listen}: {}\nserver log:\n{}",
            report.summary(),
            server.log()
        );
    }
}
