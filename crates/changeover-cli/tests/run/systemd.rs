//! Under systemd (`Type=notify-reload`, socket activation): the supervisor adopts the socket and
//! reports `READY=1`, `RELOADING=1` and `STOPPING=1` from its own pid.

use nix::sys::signal::Signal;

use crate::support::{self, DEADLINE, example, get, show};

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
