//! Messages that named the wrong thing, and a warning that flooded the log
//! (issue 9, item 5, all but the first point).
//!
//! - A malformed `CHANGEOVER_NOTIFY_UPSTREAM` was reported as `NOTIFY_SOCKET`.
//! - Out of file descriptors, a failed `dup` of a bound socket (and a failed
//!   `socket`) read "cannot listen on ADDR …; check the address".
//! - The accept-failure warning under EMFILE was logged 20 times a second;
//!   it is now logged at most once a second, with the count.

use std::process::Stdio;
use std::time::Duration;

use changeover_tests::{Server, example_bin, free_port, signal, wait_gone};
use nix::sys::signal::Signal;
use tokio::process::Command;

const DEADLINE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_malformed_upstream_notify_variable_is_named() {
    let out = Command::new(example_bin("hello"))
        .args(["--listen", "127.0.0.1:0"])
        .env("CHANGEOVER_NOTIFY_UPSTREAM", "relative/socket")
        .env_remove("NOTIFY_SOCKET")
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let last = err.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.starts_with(
            "hello: CHANGEOVER_NOTIFY_UPSTREAM=\"relative/socket\" is not a socket address"
        ),
        "{err}"
    );
}

/// `hello` under `ulimit -n LIMIT`: its exit status (None: it got ready and
/// was stopped) and the last line it wrote.
async fn hello_with_fd_limit(limit: u32) -> (Option<i32>, String) {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n {limit} && exec \"$0\" --listen 127.0.0.1:0"
        ))
        .arg(example_bin("hello"))
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut last = String::new();
    let ready = tokio::time::timeout(DEADLINE, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains(" ready pid=") {
                return true;
            }
            last = line;
        }
        false
    })
    .await
    .expect("hello neither got ready nor exited");
    if ready {
        signal(child.id().unwrap(), Signal::SIGTERM);
    }
    let status = tokio::time::timeout(DEADLINE, child.wait())
        .await
        .expect("hello exits")
        .unwrap();
    (if ready { None } else { status.code() }, last)
}

#[tokio::test]
async fn out_of_fds_is_named_as_such_not_as_a_bad_address() {
    // From a limit too low for anything up to one that starts: every
    // failure on the way names the real problem, and one of them is the
    // copy of an already bound socket.
    let mut copy_failed = false;
    let mut started = false;
    for limit in 4..64 {
        let (code, last) = hello_with_fd_limit(limit).await;
        let Some(code) = code else {
            started = true;
            break;
        };
        assert!(code != 0, "limit {limit}: exit 0 without getting ready");
        assert!(
            !last.contains("check the address"),
            "limit {limit}: a full fd table blamed on the address: {last}"
        );
        if last.contains("cannot keep a copy of socket \"http\"") {
            assert!(
                last.contains("listening on 127.0.0.1:")
                    && last.contains("out of file descriptors")
                    && last.contains("ulimit -n"),
                "limit {limit}: {last}"
            );
            copy_failed = true;
        }
    }
    assert!(started, "hello never started, even with 63 fds");
    assert!(
        copy_failed,
        "no limit made the copy of the bound socket fail"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_failures_are_logged_once_a_second_with_a_count() {
    let port = free_port();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            "ulimit -n 48 && exec \"$0\" --listen 127.0.0.1:{port}"
        ))
        .arg(example_bin("hello"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::null());
    let mut server = Server::start(cmd);
    let pid = server.wait_ready(DEADLINE).await;
    // More connections than the server has fds left: once its table is
    // full, every accept fails with EMFILE, retried every 50 ms.
    let mut conns = Vec::new();
    for _ in 0..64 {
        conns.push(
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap(),
        );
    }
    let first = server.wait_for_line("accept failed", DEADLINE).await;
    let second = server.wait_for_line("accept failed", DEADLINE).await;
    assert!(first.contains("failures=1 "), "{first}");
    // Twenty retries a second: the second line comes a second later and
    // counts the ones in between.
    let unlogged: u64 = second
        .split("unlogged=")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no count in {second:?}"));
    assert!(unlogged >= 5, "{second}");
    assert_eq!(
        server.log().matches("accept failed").count(),
        2,
        "more lines than one a second:\n{}",
        server.log()
    );
    drop(conns);
    signal(pid, Signal::SIGTERM);
    assert!(wait_gone(pid, DEADLINE).await);
}
