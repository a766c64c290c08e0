//! Reloads: under load no request fails and the supervisor keeps its pid; a bad deploy is rolled
//! back while the old child serves on; `reload --pid-file` sends the supervisor's own reload
//! signal.

use std::time::{Duration, Instant};

use changeover_load::LoadHandle;
use changeover_tests::{load, signal, wait_gone};
use nix::sys::signal::Signal;

use crate::support::{
    self, DEADLINE, Supervisor, example, fixture, free_port, get, rss_kib, script, show,
};

/// Reloads `n` times with `reload --wait`, checking each outcome, that the old child exits, that
/// the supervisor keeps its pid, and that load keeps flowing; returns the handover times (ms).
async fn reload_many(sup: &mut Supervisor, load: &LoadHandle, n: usize) -> Vec<u64> {
    let supervisor_pid = sup.pid();
    let mut live = sup.ready_pid().await;
    let mut handovers = Vec::new();
    for i in 0..n {
        let out = sup.ctl("reload", &["--wait"]).await;
        assert!(
            out.status.success(),
            "reload {i} failed\n{}\nlog:\n{}",
            show(&out),
            sup.server.log()
        );
        let line = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            line.contains(&format!("took over from pid {live}")),
            "{line}"
        );
        let ms: u64 = line
            .rsplit("in ")
            .next()
            .and_then(|s| s.trim().strip_suffix("ms"))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no handover time in {line:?}"));
        handovers.push(ms);
        let next = sup.ready_pid().await;
        assert_ne!(next, live, "reload {i} made no new child");
        assert!(
            wait_gone(live, DEADLINE).await,
            "old child {live} still alive after reload {i}; log:\n{}",
            sup.server.log()
        );
        let status = sup.status().await;
        assert_eq!(
            status.supervisor_pid, supervisor_pid,
            "the supervisor's pid never changes"
        );
        let ok = load.snapshot().ok;
        load.wait_for_ok(ok + 100, DEADLINE).await.unwrap();
        live = next;
    }
    handovers
}

fn summarize(what: &str, mut ms: Vec<u64>) {
    ms.sort_unstable();
    if let (Some(first), Some(last)) = (ms.first(), ms.last()) {
        println!(
            "{what}: {} reloads, handover (start to ready) median {}ms, min {first}ms, max {last}ms",
            ms.len(),
            ms[ms.len() / 2],
        );
    }
}

/// The library's `hello`, run with no flags at all, reloaded 20 times while 32 keep-alive
/// connections drive load: no request fails, every `reload --wait` exits 0, and the supervisor
/// keeps its pid. It then stops cleanly with status 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_reloads_of_hello_under_keepalive_load_fail_no_request() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut sup = Supervisor::start(&["--listen", &listen], &[example("hello")]);
    sup.wait_child_ready().await;
    let load = load(port, 32, true);
    load.wait_for_ok(500, DEADLINE).await.unwrap();
    let handovers = reload_many(&mut sup, &load, 20).await;
    let report = load.stop().await;
    let rss = rss_kib(sup.pid());
    sup.server.signal(Signal::SIGTERM);
    let status = sup.server.wait_exit(DEADLINE).await;
    assert_eq!(status.code(), Some(0), "log:\n{}", sup.server.log());
    assert_eq!(
        report.failed(),
        0,
        "requests failed across 20 reloads:\n{}\nlog:\n{}",
        report.summary(),
        sup.server.log()
    );
    summarize("hello under changeover run", handovers);
    println!("supervisor RSS after 20 reloads: {} KiB", rss.unwrap_or(0));
    println!("{}", report.summary());
}

/// A server in Python that takes its socket from fd 3 and cannot notify (`--ready delay:`),
/// reloaded under one-request-per-connection load: no request fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_child_reloads_under_one_request_per_connection_load() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut sup = Supervisor::start(
        &["--listen", &listen, "--ready", "delay:500ms"],
        &["python3".into(), fixture("server.py")],
    );
    sup.wait_child_ready().await;
    let (code, body) = get(port, "/").await.unwrap();
    assert_eq!(
        (code, body.starts_with("hello from python")),
        (200, true),
        "{body}"
    );
    let load = load(port, 16, false);
    load.wait_for_ok(300, DEADLINE).await.unwrap();
    let handovers = reload_many(&mut sup, &load, 5).await;
    let report = load.stop().await;
    sup.server.signal(Signal::SIGTERM);
    let status = sup.server.wait_exit(DEADLINE).await;
    assert_eq!(status.code(), Some(0), "log:\n{}", sup.server.log());
    assert_eq!(
        report.failed(),
        0,
        "{}\nlog:\n{}",
        report.summary(),
        sup.server.log()
    );
    summarize("python under changeover run", handovers);
    println!("{}", report.summary());
}

/// A bad deploy: the command is replaced on disk by one that exits at once, then by one that
/// never becomes ready. Each `reload --wait` exits nonzero and says why, the old child serves on
/// (no request fails), and putting the real server back reloads normally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_deploy_is_rolled_back_and_the_old_child_serves_on() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app");
    let hello = example("hello");
    let real = format!("exec {} \"$@\"", hello.display());
    script(&app, &real);
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut sup = Supervisor::start_in(
        dir,
        &["--listen", &listen, "--ready-timeout", "2s"],
        &[&app],
        |_| {},
    );
    sup.wait_child_ready().await;
    let old = sup.ready_pid().await;
    let load = load(port, 16, true);
    load.wait_for_ok(300, DEADLINE).await.unwrap();

    script(&app, "echo 'crashing at start' >&2; exit 3");
    let out = sup.ctl("reload", &["--wait"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("rolled back") && err.contains("exited before it was ready (exit status 3)"),
        "{err}"
    );
    assert_eq!(sup.ready_pid().await, old);

    script(&app, "exec sleep 600");
    let started = Instant::now();
    let out = sup.ctl("reload", &["--wait"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("did not send READY=1 within 2s"), "{err}");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "rolled back before the ready timeout"
    );
    sup.server
        .wait_for_line("killed child exited", DEADLINE)
        .await;
    let status = sup.status().await;
    assert_eq!(status.generations.len(), 1, "{status:?}");
    assert_eq!((status.generations[0].pid, status.ready), (old, true));
    assert_eq!(status.failed_reloads, 2);
    let ok = load.snapshot().ok;
    load.wait_for_ok(ok + 200, DEADLINE).await.unwrap();

    script(&app, &real);
    let out = sup.ctl("reload", &["--wait"]).await;
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        wait_gone(old, DEADLINE).await,
        "the old child did not drain"
    );
    let ok = load.snapshot().ok;
    load.wait_for_ok(ok + 200, DEADLINE).await.unwrap();
    let report = load.stop().await;
    assert_eq!(
        report.failed(),
        0,
        "{}\nlog:\n{}",
        report.summary(),
        sup.server.log()
    );
    sup.server.signal(Signal::SIGTERM);
    assert_eq!(sup.server.wait_exit(DEADLINE).await.code(), Some(0));
}

/// `reload --pid-file` finds the supervisor through its pid file and sends the reload signal
/// read from its command line (here USR2); SIGHUP, no longer the reload signal, is forwarded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_through_the_pid_file_uses_the_supervisors_reload_signal() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("run.pid");
    let pid_arg = pid_file.display().to_string();
    let mut sup = Supervisor::start_in(
        dir,
        &[
            "--listen",
            "127.0.0.1:0",
            "--pid-file",
            &pid_arg,
            "--reload-signal",
            "USR2",
        ],
        &[example("hello")],
        |_| {},
    );
    sup.wait_child_ready().await;
    let first = sup.ready_pid().await;
    let written: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(written, sup.pid(), "the pid file names the supervisor");
    let out = support::cli(&["reload", "--pid-file", &pid_arg]).await;
    assert!(out.status.success(), "{}", show(&out));
    sup.wait_child_ready().await;
    assert!(wait_gone(first, DEADLINE).await);
    let out = support::cli(&["reload", "--pid-file", &pid_arg, "--wait"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    signal(sup.pid(), Signal::SIGTERM);
    assert_eq!(sup.server.wait_exit(DEADLINE).await.code(), Some(0));
    assert!(!pid_file.exists(), "the pid file is removed on exit");
}
