//! Black-box tests of `changeover run` with real processes, real sockets on 127.0.0.1 and real
//! signals. The contract: reloads under load fail no request, with the supervisor's pid
//! unchanged; a bad deploy is rolled back while the old child serves on; the stop sequence keeps
//! serving through the stop delay; a child gets exactly its sockets and protocol variables; the
//! supervisor exits with its child's status.

mod support;

use std::time::{Duration, Instant};

use changeover_load::{Config, LoadHandle, Target};
use changeover_tests::{signal, wait_gone};
use nix::sys::signal::Signal;
use support::{DEADLINE, Supervisor, example, fixture, free_port, get, rss_kib, script, show};

fn load(port: u16, connections: usize, keep_alive: bool) -> LoadHandle {
    let target = Target::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
    changeover_load::start(Config {
        connections,
        keep_alive,
        // A safety bound; every test stops its load long before.
        duration: Some(Duration::from_secs(300)),
        ..Config::new(target)
    })
    .expect("valid load config")
}

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

/// The stop sequence with `--stop-delay 2s`: `/readyz` turns 503 at once, requests are still
/// served by the same child during the delay, the child gets SIGTERM only after it, and the
/// supervisor exits with the child's status (0: it drained cleanly).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stop_sequence_serves_through_the_stop_delay() {
    let (port, health) = (free_port(), free_port());
    let (listen, health_addr) = (format!("127.0.0.1:{port}"), format!("127.0.0.1:{health}"));
    let delay = Duration::from_secs(2);
    let mut sup = Supervisor::start(
        &[
            "--listen",
            &listen,
            "--health",
            &health_addr,
            "--stop-delay",
            "2s",
        ],
        &[example("hello")],
    );
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
    let (port, health) = (free_port(), free_port());
    let (listen, health_addr) = (format!("127.0.0.1:{port}"), format!("127.0.0.1:{health}"));
    let mut sup = Supervisor::start(
        &[
            "--listen",
            &listen,
            "--health",
            &health_addr,
            "--stop-delay",
            "1500ms",
        ],
        &[example("hello")],
    );
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

/// A child gets exactly fd 0-2 and its socket at fd 3, `LISTEN_FDS=1`, `LISTEN_PID` = its own
/// pid, its socket's name, a `NOTIFY_SOCKET` of the supervisor, and nothing of the library's
/// handover variables. It exits 3 before it is ready: so does the supervisor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_gets_exactly_its_socket_and_the_supervisor_exits_with_its_status() {
    let mut sup = Supervisor::start(&["--listen", "api=127.0.0.1:0"], &[example("fdreport")]);
    // Its report ends with the pid line; the log is read as it comes, so wait for it.
    sup.server.wait_for_line("fdreport pid=", DEADLINE).await;
    let status = sup.server.wait_exit(DEADLINE).await;
    assert_eq!(status.code(), Some(3), "log:\n{}", sup.server.log());
    let log = sup.server.log();
    let fds: Vec<&str> = log
        .lines()
        .filter_map(|l| l.strip_prefix("fdreport fd="))
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(fds, ["0", "1", "2", "3"], "log:\n{log}");
    assert!(log.contains("fdreport fd=3 target=socket:["), "{log}");
    let pid = log
        .lines()
        .find_map(|l| l.strip_prefix("fdreport pid="))
        .expect("pid line");
    for expected in [
        "fdreport env LISTEN_FDS=1".to_owned(),
        format!("fdreport env LISTEN_PID={pid}"),
        "fdreport env LISTEN_FDNAMES=api".to_owned(),
        "fdreport env NOTIFY_SOCKET=@changeover/run/".to_owned(),
        "fdreport env CHANGEOVER_NOTIFY_UPSTREAM=<unset>".to_owned(),
    ] {
        assert!(log.contains(&expected), "{expected:?} missing:\n{log}");
    }
}

/// Exit statuses: the child's code, or 128 + the signal that ended it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_supervisor_exits_with_the_childs_status() {
    for (script, expected) in [
        ("exit 7", 7),
        ("exit 0", 0),
        ("kill -TERM $$", 128 + 15),
        ("kill -KILL $$", 128 + 9),
    ] {
        let mut sup = Supervisor::start(&[], &["sh", "-c", script]);
        let status = sup.server.wait_exit(DEADLINE).await;
        assert_eq!(
            status.code(),
            Some(expected),
            "{script}; log:\n{}",
            sup.server.log()
        );
    }
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

/// Garbage on the notify socket and READY=1 from a process that is not the child are ignored
/// and logged; the child stays "starting" until it notifies itself, which it does only on
/// SIGUSR1 — a signal that reaches it only through the supervisor's forwarding. SIGTERM, which
/// the child does not handle, ends it: the supervisor exits 128 + 15.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_garbage_and_strangers_are_ignored_and_signals_are_forwarded() {
    let mut sup = Supervisor::start(&[], &["python3".into(), fixture("notifier.py")]);
    sup.server
        .wait_for_line("ignoring a malformed notification", DEADLINE)
        .await;
    sup.server
        .wait_for_line(
            "ignoring a notification from a process that is not a child",
            DEADLINE,
        )
        .await;
    let status = sup.status().await;
    assert_eq!(status.generations.len(), 1);
    assert_eq!(status.generations[0].state, "starting", "{status:?}");
    assert!(!status.ready);
    sup.server.signal(Signal::SIGUSR1);
    sup.server
        .wait_for_line("forwarding SIGUSR1 to the child", DEADLINE)
        .await;
    sup.wait_child_ready().await;
    let status = sup.status().await;
    assert!(status.ready, "{status:?}");
    assert_eq!(
        status.generations[0].status.as_deref(),
        Some("ready after USR1")
    );
    sup.server.signal(Signal::SIGTERM);
    let exit = sup.server.wait_exit(DEADLINE).await;
    assert_eq!(exit.code(), Some(128 + 15), "log:\n{}", sup.server.log());
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

/// Under systemd (`Type=notify-reload`, socket activation), with the test playing systemd: the
/// supervisor adopts the socket passed in `LISTEN_FDS` instead of binding one, reports `READY=1`
/// once its child is ready, `RELOADING=1` with `MONOTONIC_USEC` and then `READY=1` around a
/// reload, and `STOPPING=1` on SIGTERM — all from its own pid, which never changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_systemd_it_adopts_the_socket_and_reports_ready_reloading_stopping() {
    use std::os::fd::AsFd;

    use changeover::notify::{NotifyReceiver, Report};
    use changeover::spawn::{ChildSpec, spawn};
    use changeover_tests::Server;

    async fn report_with(rx: &NotifyReceiver, key: &str) -> Report {
        loop {
            let r = tokio::time::timeout(DEADLINE, rx.recv())
                .await
                .expect("a notification in time")
                .expect("receive")
                .expect("well-formed");
            if r.get(key).is_some() {
                return r;
            }
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let control = dir.path().join("control.sock");
    let systemd = NotifyReceiver::bind_unique("test-systemd").unwrap();
    let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    let mut env: Vec<(std::ffi::OsString, std::ffi::OsString)> = std::env::vars_os()
        .filter(|(k, _)| k != "RUST_LOG" && k != "KUBERNETES_SERVICE_HOST")
        .collect();
    env.push(("RUST_LOG".into(), "info".into()));
    let child = spawn(ChildSpec {
        program: support::changeover().into(),
        argv0: "changeover".into(),
        args: vec![
            "run".into(),
            "--control".into(),
            control.clone().into(),
            "--".into(),
            example("hello").into(),
        ],
        env,
        listeners: vec![("http".into(), socket.as_fd())],
        notify_socket: Some(systemd.addr().to_env_value()),
        own_process_group: false,
        stdout: None,
        stderr: Some(std::process::Stdio::piped()),
        death_signal: None,
    })
    .expect("start changeover run");
    let mut sup = Server::from_child(child);
    drop(socket);
    let supervisor = sup.pid();
    sup.wait_for_line("adopted a socket passed by the service manager", DEADLINE)
        .await;
    let ready = report_with(&systemd, "READY").await;
    assert_eq!(ready.pid, Some(supervisor));
    let control = control.display().to_string();
    let mut children = support::Children::default();
    children.note(&control).await;
    let (code, body) = get(port, "/").await.unwrap();
    assert_eq!(code, 200, "{body}");

    let out = support::cli(&["reload", "--wait", "--control", &control]).await;
    assert!(out.status.success(), "{}", show(&out));
    children.note(&control).await;
    let reloading = report_with(&systemd, "RELOADING").await;
    assert_eq!(reloading.pid, Some(supervisor));
    let usec: u64 = reloading
        .get("MONOTONIC_USEC")
        .and_then(|v| v.parse().ok())
        .expect("MONOTONIC_USEC with RELOADING=1");
    assert!(usec > 0);
    let ready = report_with(&systemd, "READY").await;
    assert_eq!(ready.pid, Some(supervisor));
    assert!(
        ready.get("STATUS").unwrap_or("").contains("serving"),
        "{ready:?}"
    );
    let (code, _) = get(port, "/").await.unwrap();
    assert_eq!(code, 200);

    sup.signal(Signal::SIGTERM);
    let stopping = report_with(&systemd, "STOPPING").await;
    assert_eq!(stopping.pid, Some(supervisor));
    assert_eq!(
        sup.wait_exit(DEADLINE).await.code(),
        Some(0),
        "log:\n{}",
        sup.log()
    );
}

/// `--ready exec:COMMAND` runs the probe (by /bin/sh, in the supervisor's directory, with the
/// child's pid in `CHANGEOVER_CHILD_PID`) until it succeeds: here, until the child has created
/// a file named after its own pid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exec_probe_gates_readiness_and_knows_the_childs_pid() {
    let mut sup = Supervisor::start(
        &["--ready", "exec:test -e ready.$CHANGEOVER_CHILD_PID"],
        &[
            "sh",
            "-c",
            "sleep 0.3; touch ready.$$; echo child touched >&2; exec sleep 600",
        ],
    );
    sup.server.wait_for_line("child touched", DEADLINE).await;
    sup.wait_child_ready().await;
    let status = sup.status().await;
    assert!(status.ready, "{status:?}");
    let pid = status.generations[0].pid;
    assert!(sup.dir.path().join(format!("ready.{pid}")).exists());
    sup.server.signal(Signal::SIGTERM);
    assert_eq!(sup.server.wait_exit(DEADLINE).await.code(), Some(128 + 15));
}
