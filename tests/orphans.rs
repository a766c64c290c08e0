//! No orphans: a successor that is not yet ready dies with the generation
//! that started it, however that generation died.
//!
//! Regression (issue 9, item 1): `kill -9` of a server mid-upgrade left its
//! successor running, holding the listening socket, so the port could not
//! be bound again until someone found and killed it. A successor is now
//! tied to its parent (`PR_SET_PDEATHSIG`, SIGKILL) until it reports
//! READY=1; after that it is the server and outlives its parent, which the
//! fault-table tests (`faults.rs`) and every upgrade test show.

use std::path::Path;
use std::time::Duration;

use changeover_tests::{
    Server, example_bin, free_port, kill_if_alive, signal, wait_bindable, wait_gone,
};
use nix::sys::signal::Signal;
use tokio::process::Command;

const DEADLINE: Duration = Duration::from_secs(30);

/// The successor pid in an upgrade's `started successor ... successor=N` line.
fn successor_pid(line: &str) -> u32 {
    line.split("successor=")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no successor pid in {line:?}"))
}

fn deploy(from: &Path, to: &Path) {
    // As deploy tools do: written beside, renamed over the running binary.
    let tmp = to.with_extension("new");
    std::fs::copy(from, &tmp).unwrap();
    std::fs::rename(&tmp, to).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_upgrade_takes_the_unready_successor_along() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("app");
    deploy(&example_bin("hello"), &exe);
    let port = free_port();
    let mut cmd = Command::new(&exe);
    cmd.arg("--listen").arg(format!("127.0.0.1:{port}"));
    let mut server = Server::start(cmd);
    let old = server.wait_ready(DEADLINE).await;

    // The next version takes its time to start: it never reports ready.
    let hang = dir.path().join("hang");
    std::fs::write(&hang, "#!/bin/sh\nexec sleep 600\n").unwrap();
    std::fs::set_permissions(&hang, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    deploy(&hang, &exe);
    signal(old, Signal::SIGHUP);
    let successor = successor_pid(&server.wait_for_line("started successor", DEADLINE).await);
    assert!(changeover_tests::alive(successor));

    signal(old, Signal::SIGKILL);
    let gone = wait_gone(successor, DEADLINE).await;
    kill_if_alive(successor);
    assert!(
        gone,
        "the successor {successor} outlived the SIGKILLed generation {old}; log:\n{}",
        server.log()
    );
    assert!(
        wait_bindable(port, DEADLINE).await,
        "port {port} still bound after both generations are gone"
    );
}
