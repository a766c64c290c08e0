//! No orphans: every child of `changeover run` dies with it, even when it
//! dies by SIGKILL (the OOM killer, a careless script, a crashed node agent).
//!
//! Regression (issue 9, item 1): three children were found serving old code
//! minutes after their supervisors were killed, holding the listening socket,
//! so the port could not be bound again. Children are now tied to the
//! supervisor with `PR_SET_PDEATHSIG` (SIGKILL), set before exec from a
//! thread that lives as long as the supervisor.

mod support;

use changeover_tests::{alive, kill_if_alive, signal, wait_bindable, wait_gone};
use nix::sys::signal::Signal;
use support::{DEADLINE, Supervisor, example, free_port, script};

/// A serving child and a reload's new child that is still starting, both
/// gone once the supervisor is SIGKILLed; and the port free again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_the_supervisor_takes_every_child_along() {
    let dir = tempfile::tempdir().unwrap();
    let server = dir.path().join("server");
    // The first start is the real server; the next never gets ready.
    script(
        &server,
        &format!(
            "if [ -e started ]; then exec sleep 600; fi\ntouch started\nexec {}",
            example("hello").display()
        ),
    );
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut sup = Supervisor::start_in(
        dir,
        &["--listen", &listen, "--ready-timeout", "60s"],
        &[&server],
        |_| {},
    );
    sup.wait_child_ready().await;
    let out = sup.ctl("reload", &[]).await;
    assert!(out.status.success(), "{}", support::show(&out));
    let status = sup.status().await;
    let children: Vec<u32> = status.generations.iter().map(|g| g.pid).collect();
    assert_eq!(children.len(), 2, "one serving, one starting: {status:?}");
    assert!(children.iter().all(|&c| alive(c)));

    signal(sup.pid(), Signal::SIGKILL);
    let mut survivors = Vec::new();
    for &child in &children {
        if !wait_gone(child, DEADLINE).await {
            survivors.push(child);
        }
        kill_if_alive(child);
    }
    assert!(
        survivors.is_empty(),
        "children {survivors:?} outlived their SIGKILLed supervisor; log:\n{}",
        sup.server.log()
    );
    assert!(
        wait_bindable(port, DEADLINE).await,
        "port {port} still bound after the supervisor and its children are gone"
    );
}
