//! What a child gets (exactly its sockets and the protocol variables), and the supervisor's exit
//! status (the child's, or 128 + the signal that ended it).

use crate::support::{DEADLINE, Supervisor, example};

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
