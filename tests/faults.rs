//! The fault table of issue 9, for a self-upgrading library server (`hello`): each row a test,
//! each under load that counts every failed request ("lost"). The rows for `changeover run`
//! are in `crates/changeover-cli/tests/faults.rs`.
//!
//! | fault | expected |
//! |---|---|
//! | SIGKILL of the old generation mid-drain | nothing lost beyond its in-flight requests (counted and reported); the new one serves on |
//! | SIGKILL of the successor right after READY=1, before the handover | rollback: the old one serves on, 0 lost |
//! | SIGSTOP of the successor during an upgrade | the ready timeout kills it, the old one serves on, 0 lost |
//! | pid file directory read-only or full | a clear error at start; during an upgrade, a successor that cannot write it is rolled back |

use std::path::Path;
use std::time::Duration;

use changeover_tests::{
    READY_ON_USR2, Server, alive, example_bin, free_port, kill_if_alive, load, more_ok, signal,
    slow_requests, wait_bindable, wait_connections, wait_gone,
};
use nix::sys::signal::Signal;
use tokio::process::Command;

const DEADLINE: Duration = Duration::from_secs(30);

fn deploy(from: &Path, to: &Path) {
    // As deploy tools do: written beside, renamed over the running binary.
    let tmp = to.with_extension("new");
    std::fs::copy(from, &tmp).unwrap();
    std::fs::rename(&tmp, to).unwrap();
}

fn script(dir: &Path, name: &str, body: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    p
}

/// The successor pid in an upgrade's `started successor ... successor=N` line.
fn successor_pid(line: &str) -> u32 {
    line.split("successor=")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no successor pid in {line:?}"))
}

fn read_pid(path: &Path) -> u32 {
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_the_old_generation_mid_drain_loses_only_its_in_flight_requests() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("hello.pid");
    let port = free_port();
    let mut cmd = Command::new(example_bin("hello"));
    cmd.arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--pid-file")
        .arg(&pid_file);
    let mut server = Server::start(cmd);
    let old = server.wait_ready(DEADLINE).await;
    let load = load(port, 16, true);
    more_ok(&load, 200, DEADLINE).await;
    let in_flight = slow_requests(port, 4, 30_000).await;
    signal(old, Signal::SIGHUP);
    let new = server.wait_ready(DEADLINE).await;
    // Its keep-alive connections have moved to the successor; only the slow ones remain.
    assert!(
        wait_connections(old, port, 4, DEADLINE).await,
        "the draining generation kept other connections: {}",
        changeover_tests::established_connections(old, port)
    );
    signal(old, Signal::SIGKILL);
    assert!(wait_gone(old, DEADLINE).await);
    let mut lost_in_flight = 0;
    for t in in_flight {
        if t.await.unwrap().is_err() {
            lost_in_flight += 1;
        }
    }
    more_ok(&load, 500, DEADLINE).await;
    let report = load.stop().await;
    println!(
        "SIGKILL mid-drain (library): {lost_in_flight} in-flight requests of the killed generation lost; load: {}",
        report.summary().lines().next().unwrap_or_default()
    );
    assert_eq!(lost_in_flight, 4, "its in-flight requests die with it");
    assert_eq!(report.failed(), 0, "{}", report.summary());
    assert!(alive(new), "the successor outlives its SIGKILLed parent");
    assert_eq!(read_pid(&pid_file), new);
    signal(new, Signal::SIGTERM);
    assert!(wait_gone(new, DEADLINE).await);
}

/// READY=1 is sent while the old generation is stopped (SIGSTOP), and the successor is
/// SIGKILLed before the old one wakes: it finds the READY=1 of a successor that is already
/// dead, and must roll back, not hand over to nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_the_successor_right_after_ready_rolls_back() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("app");
    deploy(&example_bin("hello"), &exe);
    std::fs::write(dir.path().join("ready.py"), READY_ON_USR2).unwrap();
    let port = free_port();
    let mut cmd = Command::new(&exe);
    cmd.arg("--listen").arg(format!("127.0.0.1:{port}"));
    let mut server = Server::start(cmd);
    let old = server.wait_ready(DEADLINE).await;
    let load = load(port, 16, true);
    more_ok(&load, 200, DEADLINE).await;

    let next = script(
        dir.path(),
        "next",
        &format!("exec python3 {}", dir.path().join("ready.py").display()),
    );
    deploy(&next, &exe);
    signal(old, Signal::SIGHUP);
    let successor = successor_pid(&server.wait_for_line("started successor", DEADLINE).await);
    server
        .wait_for_line("ready-on-usr2: waiting", DEADLINE)
        .await;
    signal(old, Signal::SIGSTOP);
    signal(successor, Signal::SIGUSR2);
    server
        .wait_for_line("ready-on-usr2: sent READY=1", DEADLINE)
        .await;
    signal(successor, Signal::SIGKILL);
    let gone = wait_gone(successor, DEADLINE).await;
    signal(old, Signal::SIGCONT);
    assert!(gone);
    let line = server
        .wait_for_line("upgrade failed, still serving", DEADLINE)
        .await;
    assert!(line.contains("killed by SIGKILL"), "{line}");
    more_ok(&load, 500, DEADLINE).await;
    let report = load.stop().await;
    assert_eq!(report.failed(), 0, "{}", report.summary());
    assert!(alive(old), "the old generation serves on");
    kill_if_alive(successor);
    signal(old, Signal::SIGTERM);
    assert!(wait_gone(old, DEADLINE).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_successor_is_killed_at_the_ready_timeout_and_the_old_serves_on() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("app");
    let real = example_bin("hello");
    deploy(&real, &exe);
    let port = free_port();
    let mut cmd = Command::new(&exe);
    cmd.arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .args(["--ready-timeout", "2s"]);
    let mut server = Server::start(cmd);
    let old = server.wait_ready(DEADLINE).await;
    let load = load(port, 16, true);
    more_ok(&load, 200, DEADLINE).await;
    // The next version is stopped (as a SIGSTOP from outside would) before it can start.
    let next = script(
        dir.path(),
        "next",
        &format!("kill -STOP $$; exec {}", real.display()),
    );
    deploy(&next, &exe);
    signal(old, Signal::SIGHUP);
    let successor = successor_pid(&server.wait_for_line("started successor", DEADLINE).await);
    let line = server
        .wait_for_line("upgrade failed, still serving", DEADLINE)
        .await;
    assert!(line.contains("within 2s"), "{line}");
    assert!(
        wait_gone(successor, DEADLINE).await,
        "the stopped successor was not killed"
    );
    more_ok(&load, 500, DEADLINE).await;
    let report = load.stop().await;
    assert_eq!(report.failed(), 0, "{}", report.summary());
    assert!(alive(old));
    signal(old, Signal::SIGTERM);
    assert!(wait_gone(old, DEADLINE).await);
}

/// `hello --pid-file` in a read-only directory (a tmpfs of a mount namespace of its own,
/// through `unshare`): one clear error line, exit 2, the port released.
#[tokio::test]
async fn a_pid_file_in_a_read_only_directory_is_a_clear_error_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg("mount -t tmpfs -o ro tmpfs \"$0\" && shift && exec \"$@\"")
        .arg(dir.path())
        .arg("--")
        .arg(example_bin("hello"))
        .args(["--listen", &format!("127.0.0.1:{port}"), "--pid-file"])
        .arg(dir.path().join("hello.pid"))
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let last = err.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.starts_with("hello: cannot write pid file")
            && last.contains("Read-only file system")
            && last.contains("writable"),
        "{err}"
    );
    assert!(wait_bindable(port, DEADLINE).await);
}

/// The pid file's directory fills up while the server runs: the successor of an upgrade cannot
/// write it, exits, and is rolled back; the old generation serves on and its pid file stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_successor_that_cannot_write_the_pid_file_is_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    std::fs::create_dir(&pids).unwrap();
    let port = free_port();
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg("mount -t tmpfs -o size=16k tmpfs \"$0\" && shift && exec \"$@\"")
        .arg(&pids)
        .arg("--")
        .arg(example_bin("hello"))
        .args(["--listen", &format!("127.0.0.1:{port}"), "--pid-file"])
        .arg(pids.join("hello.pid"));
    let mut server = Server::start(cmd);
    let old = server.wait_ready(DEADLINE).await;
    let load = load(port, 16, true);
    more_ok(&load, 200, DEADLINE).await;
    // Fill the server's tmpfs, seen through its own root.
    let fill = format!("/proc/{old}/root{}/fill", pids.display());
    let mut f = std::fs::File::create(&fill).unwrap();
    let full = loop {
        if let Err(e) = std::io::Write::write_all(&mut f, &[0u8; 4096]) {
            break e;
        }
    };
    assert_eq!(full.raw_os_error(), Some(nix::libc::ENOSPC), "{full}");
    signal(old, Signal::SIGHUP);
    let line = server
        .wait_for_line("upgrade failed, still serving", DEADLINE)
        .await;
    assert!(line.contains("exit status 2"), "{line}");
    assert!(
        server.log().contains("No space left on device"),
        "{}",
        server.log()
    );
    more_ok(&load, 500, DEADLINE).await;
    let report = load.stop().await;
    let pid_file = format!("/proc/{old}/root{}/hello.pid", pids.display());
    assert_eq!(read_pid(Path::new(&pid_file)), old);
    println!(
        "successor out of disk: {} of {} requests failed",
        report.failed(),
        report.requests
    );
    assert_eq!(report.failed(), 0, "{}", report.summary());
    signal(old, Signal::SIGTERM);
    assert!(wait_gone(old, DEADLINE).await);
}
