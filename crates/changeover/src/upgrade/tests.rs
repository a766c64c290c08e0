//! The upgrade on its own, with `/bin/sh` successors: one that reports
//! ready and then serves the listener it was given, one that exits, one that
//! never gets ready. `python3` (installed by `.ci/run`) sends the datagram:
//! `exec`'d by the script, so the report comes from the successor's own pid.

use std::error::Error as _;
use std::os::fd::OwnedFd;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::*;
use crate::process::wait_for_exit;

/// Reports `READY=1` (after a `STATUS=`) to `NOTIFY_SOCKET`, then answers one
/// connection on the listener at fd 3 with what it was given.
const READY_THEN_SERVE: &str = r#"
import os, socket, sys
addr = os.environ["NOTIFY_SOCKET"]
if addr.startswith("@"):
    addr = "\0" + addr[1:]
report = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
report.sendto(b"STATUS=warming up", addr)
report.sendto(b"READY=1", addr)
listener = socket.socket(fileno=3)
conn, _ = listener.accept()
given = [os.environ["LISTEN_FDS"], os.environ["LISTEN_FDNAMES"],
         os.environ["CHANGEOVER_NOTIFY_UPSTREAM"], os.environ["GREETING"]] + sys.argv[1:]
conn.sendall(" ".join(given).encode())
"#;

/// Reports `READY=1` with the field that says where it takes connections.
const READY_TAKING_CONNECTIONS: &str = r#"
import os, socket
addr = os.environ["NOTIFY_SOCKET"]
if addr.startswith("@"):
    addr = "\0" + addr[1:]
socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(
    b"READY=1\nX_CHANGEOVER_CONNECTIONS=@intake-here", addr)
"#;

/// Sends `READY=1` from a process that is *not* the successor.
const FOREIGN_READY: &str = r#"
import os, socket
addr = os.environ["NOTIFY_SOCKET"]
socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"READY=1", "\0" + addr[1:])
"#;

fn plan(script: &str, listeners: Vec<(String, Arc<OwnedFd>)>) -> UpgradePlan {
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    env.push(("READY_THEN_SERVE".into(), READY_THEN_SERVE.into()));
    env.push(("FOREIGN_READY".into(), FOREIGN_READY.into()));
    env.push((
        "READY_TAKING_CONNECTIONS".into(),
        READY_TAKING_CONNECTIONS.into(),
    ));
    env.push(("GREETING".into(), "hello".into()));
    // A value inherited from our own parent must not reach the successor.
    env.push((UPSTREAM_NOTIFY_VAR.into(), "@stale".into()));
    UpgradePlan {
        program: "/bin/sh".into(),
        args: vec!["-c".into(), script.into(), "sh".into(), "--flag".into()],
        env,
        listeners,
        upstream_notify: Some(NotifyAddr::Abstract(b"systemd-here".to_vec())),
        ready_timeout: Duration::from_secs(20),
    }
}

/// Handover: the successor's pid comes back once it reported ready, and it
/// is left running — it serves the listener it got at fd 3, with the
/// arguments, environment and upstream notify socket of the plan.
#[tokio::test]
async fn a_successor_that_reports_ready_takes_over_and_serves_on() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let fd = Arc::new(OwnedFd::from(listener));
    let script = r#"exec python3 -c "$READY_THEN_SERVE" "$@""#;
    let successor = tokio::time::timeout(
        Duration::from_secs(30),
        run(plan(script, vec![("http".into(), fd)])),
    )
    .await
    .expect("the upgrade ends within its deadline")
    .unwrap();
    // It said nothing about connections: it gets none.
    assert_eq!(successor.connections, None);
    let pid = successor.pid;

    // Only the successor accepts on this socket: an answer proves it is
    // alive after the handover and holds the listener.
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut given = String::new();
    tokio::time::timeout(Duration::from_secs(10), conn.read_to_string(&mut given))
        .await
        .expect("the successor answers")
        .unwrap();
    assert_eq!(given, "1 http @systemd-here hello --flag");
    tokio::time::timeout(Duration::from_secs(10), wait_for_exit(pid))
        .await
        .expect("the successor exits once it answered")
        .unwrap();
}

/// A successor that takes idle connections says where in its `READY=1`;
/// the outcome carries the address.
#[tokio::test]
async fn a_successor_that_takes_connections_says_where() {
    let script = r#"exec python3 -c "$READY_TAKING_CONNECTIONS""#;
    let successor = tokio::time::timeout(Duration::from_secs(30), run(plan(script, vec![])))
        .await
        .expect("the upgrade ends within its deadline")
        .unwrap();
    assert_eq!(
        successor.connections,
        Some(NotifyAddr::Abstract(b"intake-here".to_vec()))
    );
    tokio::time::timeout(Duration::from_secs(10), wait_for_exit(successor.pid))
        .await
        .expect("the successor exits")
        .unwrap();
}

/// Rollback on exit: a successor that exits before it is ready is reported
/// with its status, and a `READY=1` from another process does not count.
#[tokio::test]
async fn a_successor_that_exits_is_rolled_back() {
    let script = r#"python3 -c "$FOREIGN_READY"; exit 3"#;
    let e = tokio::time::timeout(Duration::from_secs(30), run(plan(script, vec![])))
        .await
        .expect("the upgrade ends within its deadline")
        .unwrap_err();
    assert!(
        matches!(e, UpgradeError::Exited(s) if s.code() == Some(3)),
        "{e:?}"
    );
    assert!(e.to_string().contains("exit status 3"), "{e}");
}

/// Rollback on timeout: a successor that never reports ready is killed at
/// the deadline, and the error says which deadline.
#[tokio::test]
async fn a_successor_that_never_gets_ready_is_killed_at_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("successor.pid");
    let script = format!("echo $$ > {}; exec sleep 60", pid_file.display());
    let mut plan = plan(&script, vec![]);
    // Long enough for the shell to write its pid on a loaded machine.
    plan.ready_timeout = Duration::from_secs(1);
    let e = tokio::time::timeout(Duration::from_secs(30), run(plan))
        .await
        .expect("the upgrade ends at its ready deadline")
        .unwrap_err();
    assert!(
        matches!(e, UpgradeError::Timeout(d) if d == Duration::from_secs(1)),
        "{e:?}"
    );
    assert!(e.to_string().contains("within 1s"), "{e}");
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .expect("the successor started and wrote its pid")
        .trim()
        .parse()
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), wait_for_exit(pid))
        .await
        .expect("the successor was killed, not left sleeping")
        .unwrap();
}

/// A successor that cannot be started keeps its cause as the error's source.
#[tokio::test]
async fn a_successor_that_cannot_start_keeps_the_cause() {
    let mut plan = plan("", vec![]);
    plan.program = "/no/such/program".into();
    let e = run(plan).await.unwrap_err();
    let source = e.source().expect("the spawn error is the source");
    let spawn = source.downcast_ref::<SpawnError>().expect("a SpawnError");
    assert!(matches!(spawn, SpawnError::NotFound(_)), "{spawn:?}");
    assert!(e.to_string().contains("/no/such/program"), "{e}");
}
