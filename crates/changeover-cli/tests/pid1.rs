//! `changeover run` as PID 1 of a fresh PID namespace (`unshare --pid --fork --mount-proc`, as
//! root), as in a container. The contract: orphans of the child are reparented to the supervisor
//! and reaped (no zombie remains); SIGTERM reaches the child; the supervisor exits promptly with
//! the child's status. These tests need root and util-linux `unshare`; where either is missing
//! they fail, loudly, rather than skip.

mod support;

use std::time::{Duration, Instant};

use changeover_tests::{Server, signal};
use nix::sys::signal::Signal;
use support::{DEADLINE, changeover};
use tokio::process::Command;

/// How many orphans the child leaves behind.
const ORPHANS: usize = 5;

/// Starts `changeover run ARGS -- sh -c SCRIPT` as PID 1 of a new PID namespace. `--kill-child`
/// takes the whole namespace down if the test dies first.
fn start_pid1(dir: &std::path::Path, args: &[&str], script: &str) -> Server {
    let mut cmd = Command::new("unshare");
    // `env` sets the log filter (and then executes the supervisor, which stays PID 1).
    cmd.args(["--pid", "--fork", "--mount-proc", "--kill-child"])
        .args(["env", "RUST_LOG=changeover_supervisor=debug,info"])
        .arg(changeover())
        .arg("run")
        .arg("--control")
        .arg(dir.join("control.sock"))
        .args(args)
        .args(["--", "sh", "-c", script])
        .env_remove("KUBERNETES_SERVICE_HOST");
    Server::start(cmd)
}

/// The supervisor's pid as seen from here: the one child of `unshare`.
fn supervisor_pid(unshare: u32) -> u32 {
    let children = std::fs::read_to_string(format!("/proc/{unshare}/task/{unshare}/children"))
        .expect("unshare's children");
    let pids: Vec<u32> = children
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 1, "unshare should have one child: {pids:?}");
    pids[0]
}

/// Processes whose parent is `pid` and that are zombies.
fn zombie_children(pid: u32) -> Vec<u32> {
    let mut zombies = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(p) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let mut rest = stat.rsplit(')').next().unwrap_or("").split_whitespace();
        let (state, ppid) = (rest.next(), rest.next().and_then(|s| s.parse::<u32>().ok()));
        if state == Some("Z") && ppid == Some(pid) {
            zombies.push(p);
        }
    }
    zombies
}

/// The child leaves five orphans behind (each a `sleep` whose parent exited), which the kernel
/// hands to PID 1: the supervisor reaps every one and no zombie remains. SIGTERM to PID 1
/// reaches the child, whose handler exits 7, and the supervisor exits 7 right after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_pid_1_orphans_are_reaped_and_sigterm_reaches_the_child() {
    let dir = tempfile::tempdir().unwrap();
    let script = format!(
        "for i in $(seq {ORPHANS}); do (sleep 0.2 &); done; \
         trap 'echo child got TERM >&2; exit 7' TERM; \
         echo child made orphans >&2; \
         while :; do sleep 1 & wait $!; done"
    );
    let mut sup = start_pid1(dir.path(), &["--ready", "delay:100ms"], &script);
    sup.wait_for_line("pid1=true", DEADLINE).await;
    for _ in 0..ORPHANS {
        sup.wait_for_line("reaped an orphan (exit status 0)", DEADLINE)
            .await;
    }
    // Readiness (after 100ms) may come before or among the reaps, which were waited for above.
    if !sup.log().contains("child is ready") {
        sup.wait_for_line("child is ready", DEADLINE).await;
    }
    let pid1 = supervisor_pid(sup.pid());
    assert_eq!(
        zombie_children(pid1),
        Vec::<u32>::new(),
        "zombies left under PID 1"
    );
    let control = dir.path().join("control.sock").display().to_string();
    let status = support::cli(&["status", "--json", "--control", &control]).await;
    let status: changeover_supervisor::protocol::Status =
        serde_json::from_slice(&status.stdout).expect("status JSON");
    assert_eq!(status.supervisor_pid, 1, "{status:?}");
    assert!(status.ready);

    let stop = Instant::now();
    signal(pid1, Signal::SIGTERM);
    sup.wait_for_line("child got TERM", DEADLINE).await;
    let exit = sup.wait_exit(DEADLINE).await;
    let took = stop.elapsed();
    assert_eq!(exit.code(), Some(7), "log:\n{}", sup.log());
    // The child's loop wakes within a second; nothing else should hold the exit up.
    assert!(
        took < Duration::from_secs(5),
        "exit took {took:?}; log:\n{}",
        sup.log()
    );
}

/// A child with no handler for SIGTERM (it is not PID 1 here, so the default action applies):
/// the supervisor exits 128 + 15.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_pid_1_a_child_killed_by_sigterm_gives_143() {
    let dir = tempfile::tempdir().unwrap();
    let mut sup = start_pid1(
        dir.path(),
        &["--ready", "delay:100ms"],
        "echo child up >&2; exec sleep 600",
    );
    sup.wait_for_line("pid1=true", DEADLINE).await;
    sup.wait_for_line("child is ready", DEADLINE).await;
    let pid1 = supervisor_pid(sup.pid());
    signal(pid1, Signal::SIGTERM);
    let exit = sup.wait_exit(DEADLINE).await;
    assert_eq!(exit.code(), Some(128 + 15), "log:\n{}", sup.log());
}
