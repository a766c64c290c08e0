//! Socket inheritance and notification, with the test acting as systemd:
//! it binds the sockets, starts `hello` with `LISTEN_FDS`/`LISTEN_PID`/
//! `LISTEN_FDNAMES` and a `NOTIFY_SOCKET`, and reads what `hello` reports.
//! The contract: the inherited socket is served (nothing is bound), `READY=1`
//! then `STOPPING=1` arrive, an upgrade hands a successor exactly the
//! listening socket and nothing else, and after a handover the successor
//! reports to systemd's socket itself.

use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use changeover::notify::{NotifyReceiver, Report};
use changeover::spawn::{ChildSpec, spawn};
use changeover_tests::{Server, example_bin, signal, wait_gone};
use nix::sys::signal::Signal;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DEADLINE: Duration = Duration::from_secs(30);

async fn next_report(rx: &NotifyReceiver) -> Report {
    tokio::time::timeout(DEADLINE, rx.recv())
        .await
        .expect("a notification in time")
        .expect("receive")
        .expect("well-formed")
}

/// Reads reports until one carries `key`; returns it.
async fn report_with(rx: &NotifyReceiver, key: &str) -> Report {
    loop {
        let r = next_report(rx).await;
        if r.get(key).is_some() {
            return r;
        }
    }
}

fn socket_inode(fd: &impl AsFd) -> String {
    let file = std::fs::File::from(fd.as_fd().try_clone_to_owned().unwrap());
    format!("socket:[{}]", file.metadata().unwrap().ino())
}

async fn hello_text(addr: std::net::SocketAddr) -> String {
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).await.unwrap();
    out
}

fn deploy(from: &Path, to: &Path) {
    let tmp = to.with_extension("new");
    std::fs::copy(from, &tmp).unwrap();
    std::fs::rename(&tmp, to).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_inherited_socket_reports_state_and_leaks_nothing_to_a_successor() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("app");
    deploy(&example_bin("hello"), &exe);
    let http = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = http.local_addr().unwrap();
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let systemd = NotifyReceiver::bind_unique("fake-systemd").unwrap();

    let mut env: Vec<_> = std::env::vars_os().collect();
    env.push(("RUST_LOG".into(), "info".into()));
    let child = spawn(ChildSpec {
        program: exe.clone().into(),
        argv0: exe.clone().into(),
        // Binding this address would fail (it is taken): only inheritance works.
        args: vec!["--listen".into(), addr.to_string().into()],
        env,
        listeners: vec![
            ("http".into(), http.as_fd()),
            ("admin".into(), unused.as_fd()),
        ],
        notify_socket: Some(systemd.addr().to_env_value()),
        own_process_group: false,
        stdout: None,
        death_signal: None,
        stderr: Some(Stdio::piped()),
    })
    .unwrap();
    let mut server = Server::from_child(child);
    let pid = server.pid();

    let ready = next_report(&systemd).await;
    assert!(ready.is_ready(), "{ready:?}");
    assert_eq!(ready.pid, Some(pid), "READY=1 comes from the server itself");
    assert!(
        hello_text(addr)
            .await
            .contains(&format!("hello from {pid}"))
    );

    let fds = changeover_tests::open_fds(pid);
    let http_inode = socket_inode(&http);
    let unused_inode = socket_inode(&unused);
    assert!(fds.iter().any(|(_, t)| *t == http_inode), "{fds:?}");
    assert!(
        !fds.iter().any(|(_, t)| *t == unused_inode),
        "the inherited socket nobody asked for is closed once ready: {fds:?}"
    );

    // An upgrade to a program that reports what it was given, then exits.
    deploy(&example_bin("fdreport"), &exe);
    signal(pid, Signal::SIGHUP);
    let reloading = next_report(&systemd).await;
    assert_eq!(reloading.get("RELOADING"), Some("1"), "{reloading:?}");
    assert!(reloading.get("MONOTONIC_USEC").is_some());
    server
        .wait_for_line("upgrade failed, still serving", DEADLINE)
        .await;
    let log = server.log();
    let report: Vec<&str> = log
        .lines()
        .filter_map(|l| l.strip_prefix("fdreport "))
        .collect();
    let successor_pid = report
        .iter()
        .find_map(|l| l.strip_prefix("pid="))
        .expect("fdreport ran");
    let fd_lines: Vec<&str> = report
        .iter()
        .copied()
        .filter(|l| l.starts_with("fd="))
        .collect();
    let fd_numbers: Vec<&str> = fd_lines
        .iter()
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(
        fd_numbers,
        ["fd=0", "fd=1", "fd=2", "fd=3"],
        "a successor gets stdio and the one listener, nothing else: {fd_lines:?}"
    );
    assert_eq!(fd_lines[3], format!("fd=3 target={http_inode}"));
    let env = |var: &str| {
        report
            .iter()
            .find_map(|l| l.strip_prefix(&format!("env {var}=")))
            .unwrap_or_else(|| panic!("fdreport printed no {var}"))
    };
    assert_eq!(env("LISTEN_FDS"), "1");
    assert_eq!(env("LISTEN_FDNAMES"), "http");
    assert_eq!(
        env("LISTEN_PID"),
        successor_pid,
        "LISTEN_PID is the successor's own"
    );
    assert!(
        env("NOTIFY_SOCKET").starts_with("@changeover/"),
        "a handover socket of the old process"
    );
    assert_eq!(
        env("CHANGEOVER_NOTIFY_UPSTREAM"),
        systemd.addr().to_env_value().to_str().unwrap(),
        "systemd's socket is passed on beside it"
    );
    let rolled_back = next_report(&systemd).await;
    assert!(
        rolled_back.is_ready(),
        "systemd leaves the reloading state: {rolled_back:?}"
    );
    assert!(
        rolled_back
            .get("STATUS")
            .unwrap()
            .contains("upgrade failed")
    );
    assert!(
        hello_text(addr)
            .await
            .contains(&format!("hello from {pid}"))
    );

    // The real binary again: a handover, reported to systemd by the old process.
    deploy(&example_bin("hello"), &exe);
    signal(pid, Signal::SIGHUP);
    let handover = report_with(&systemd, "MAINPID").await;
    assert_eq!(
        handover.pid,
        Some(pid),
        "only the main process may name a new one"
    );
    let successor: u32 = handover.get("MAINPID").unwrap().parse().unwrap();
    assert_ne!(successor, pid);
    assert!(handover.is_ready());
    let status = server.wait_exit(DEADLINE).await;
    assert_eq!(status.code(), Some(0), "the old generation drained cleanly");
    assert!(
        hello_text(addr)
            .await
            .contains(&format!("hello from {successor}"))
    );

    // The successor now reports to systemd directly.
    signal(successor, Signal::SIGTERM);
    let stopping = report_with(&systemd, "STOPPING").await;
    assert_eq!(stopping.pid, Some(successor));
    assert!(wait_gone(successor, DEADLINE).await);
}
