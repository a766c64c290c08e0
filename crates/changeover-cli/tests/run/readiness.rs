//! Readiness: only the child's own well-formed `READY=1` counts (garbage and strangers are
//! ignored, signals are forwarded), or the `--ready exec:` probe.

use nix::sys::signal::Signal;

use crate::support::{DEADLINE, Supervisor, fixture};

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
