//! Tests of spawning: exactly the listeners, `LISTEN_PID`, exec errors, the death signal.
use super::*;

#[test]
fn decimal_digits_are_written_in_place() {
    let mut room = [0xffu8; PID_ROOM];
    child::write_decimal(&mut room, 4_194_304);
    assert_eq!(&room[..8], b"4194304\0");
    child::write_decimal(&mut room, 0);
    assert_eq!(&room[..2], b"0\0");
}

#[test]
fn programs_resolve_like_execvp() {
    assert!(resolve_program(OsStr::new("sh"), Some(OsStr::new("/usr/bin:/bin"))).is_ok());
    assert!(matches!(
        resolve_program(OsStr::new("no-such-program-xyz"), None),
        Err(SpawnError::NotFound(_))
    ));
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("not-executable");
    std::fs::write(&plain, "data").unwrap();
    assert!(matches!(
        resolve_program(plain.as_os_str(), None),
        Err(SpawnError::NotExecutable(..))
    ));
    assert!(matches!(
        resolve_program(OsStr::new("/"), None),
        Err(SpawnError::NotExecutable(..))
    ));
}

#[tokio::test]
async fn child_gets_exactly_the_listeners_and_its_own_pid() {
    let l1 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let l2 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    // An fd without close-on-exec, as a job server or a shell leaves behind.
    let (_r, _w) = nix::unistd::pipe().unwrap();
    let script = "echo \"$LISTEN_PID $LISTEN_FDS $LISTEN_FDNAMES $$\"; ls /proc/self/fd | sort -n | tr '\\n' ' '";
    let mut spec = ChildSpec {
        program: "sh".into(),
        argv0: "sh".into(),
        args: vec!["-c".into(), script.into()],
        env: std::env::vars_os().collect(),
        listeners: vec![("http".into(), l1.as_fd()), ("admin".into(), l2.as_fd())],
        notify_socket: None,
        own_process_group: false,
        stdout: None,
        stderr: None,
        death_signal: None,
    };
    spec.env.push(("LISTEN_FDS".into(), "9".into()));
    let child = spawn_piped(spec).await;
    let mut lines = child.lines();
    let first: Vec<&str> = lines.next().unwrap().split(' ').collect();
    assert_eq!(first[0], first[3], "LISTEN_PID is the child's own pid");
    assert_eq!(first[1], "2");
    assert_eq!(first[2], "http:admin");
    // fds 0-2, the two listeners, and the fd `ls` opened for /proc/self/fd.
    let fds: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(fds, ["0", "1", "2", "3", "4", "5"]);
}

use std::os::fd::AsFd;

/// The variant for a parent that reaps by itself prepares the child the same way.
#[test]
fn unreaped_child_gets_its_listener_and_its_own_pid() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let script = "echo \"$LISTEN_PID $LISTEN_FDS $LISTEN_FDNAMES $$\"; ls /proc/self/fd | sort -n | tr '\\n' ' '";
    let child = spawn_unreaped(ChildSpec {
        program: "sh".into(),
        argv0: "sh".into(),
        args: vec!["-c".into(), script.into()],
        env: std::env::vars_os().collect(),
        listeners: vec![("http".into(), l.as_fd())],
        notify_socket: None,
        own_process_group: true,
        stdout: Some(std::process::Stdio::piped()),
        stderr: None,
        death_signal: None,
    })
    .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        format!("{pid} 1 http {pid}"),
        "LISTEN_PID is the child's own pid"
    );
    let fds: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(fds, ["0", "1", "2", "3", "4"]);
    assert!(matches!(
        spawn_unreaped(ChildSpec {
            program: "no-such-program-xyz".into(),
            argv0: "x".into(),
            args: vec![],
            env: vec![],
            listeners: vec![],
            notify_socket: None,
            own_process_group: false,
            stdout: None,
            stderr: None,
            death_signal: None,
        }),
        Err(SpawnError::NotFound(_))
    ));
}

/// The kernel sends the death signal when the *thread* that forked the
/// child ends. A tied child asked for by a thread that ends at once (as
/// tokio's blocking threads do after ten idle seconds) must not die with
/// that thread: it is forked on one that lives as long as the process.
#[test]
fn a_tied_child_outlives_the_thread_that_started_it() {
    let (mut child, tid) = std::thread::spawn(|| {
        let child = spawn_unreaped(ChildSpec {
            program: "sleep".into(),
            argv0: "sleep".into(),
            args: vec!["30".into()],
            env: std::env::vars_os().collect(),
            listeners: vec![],
            notify_socket: None,
            own_process_group: false,
            stdout: None,
            stderr: None,
            death_signal: Some(Signal::SIGKILL),
        })
        .unwrap();
        (child, nix::unistd::gettid().as_raw())
    })
    .join()
    .unwrap();
    // The death signal is sent while the thread exits, before its
    // /proc entry goes away: wait for that, with a deadline.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::path::Path::new(&format!("/proc/self/task/{tid}")).exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the thread never ended"
        );
        std::thread::yield_now();
    }
    // A SIGKILL sent by then would win over this SIGTERM.
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, Signal::SIGTERM).unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        child.wait().unwrap().signal(),
        Some(Signal::SIGTERM as i32),
        "the child was killed when the thread that asked for it ended"
    );
}

async fn spawn_piped(mut spec: ChildSpec<'_>) -> String {
    spec.stdout = Some(std::process::Stdio::piped());
    let out = spawn(spec).unwrap().wait_with_output().await.unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}
