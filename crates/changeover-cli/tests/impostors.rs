//! No impostors, no wrong process signalled (issue 9, items 2 and 3).
//!
//! - Another local user could bind the default control socket first (it lived straight in
//!   world-writable `/tmp`), and `status`/`reload`/`prestop` talked to whoever listened. The
//!   client now checks the listener's uid (`SO_PEERCRED`: the same user or root) before it sends
//!   a byte; the supervisor checks its clients the same way; the default socket outside
//!   `XDG_RUNTIME_DIR` lives in `/tmp/changeover-<uid>/`, created 0700 and refused when another
//!   user owns it.
//! - `changeover reload --pid-file` accepted any command line with a bare `run` argument, so a
//!   stale pid file made it SIGHUP an unrelated `python3 - run`.
//!
//! These tests need root (to run processes as other users) and python3.

mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Stdio;

use changeover_tests::{Server, alive, signal};
use nix::sys::signal::Signal;
use support::{DEADLINE, Supervisor, changeover, cli, example, show};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

/// The user that plays the impostor.
const NOBODY: u32 = 65534;

fn need_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests need root, to run processes as other users"
    );
}

/// A directory every user may enter and write in (the impostor binds there).
fn shared_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    dir
}

/// Python, run as `uid`, reading its program from `code`; stdout piped.
fn python_as(uid: u32, code: &str, args: &[&str]) -> tokio::process::Child {
    let mut cmd = Command::new("python3");
    cmd.arg("-c")
        .arg(code)
        .args(args)
        .uid(uid)
        .gid(uid)
        .current_dir("/")
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    cmd.spawn().expect("python3")
}

async fn first_line(child: &mut tokio::process::Child) -> String {
    let mut out = BufReader::new(child.stdout.as_mut().unwrap());
    let mut line = String::new();
    tokio::time::timeout(DEADLINE, out.read_line(&mut line))
        .await
        .expect("a line in time")
        .unwrap();
    line.trim().to_owned()
}

/// An impostor listening where a supervisor would: accepts `n` connections,
/// reads each until the client closes (or 2 s), and reports the bytes it got.
const IMPOSTOR: &str = r#"
import os, socket, sys
path, n = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
os.chmod(path, 0o777)
s.listen(8)
print("listening", flush=True)
total = 0
for _ in range(n):
    c, _ = s.accept()
    c.settimeout(2)
    try:
        while True:
            data = c.recv(4096)
            if not data:
                break
            total += len(data)
    except socket.timeout:
        pass
    c.close()
print("received", total, flush=True)
"#;

#[tokio::test]
async fn clients_refuse_a_socket_of_another_user_before_sending_a_byte() {
    need_root();
    let dir = shared_dir();
    let path = dir.path().join("control.sock");
    let path_s = path.display().to_string();
    let mut impostor = python_as(NOBODY, IMPOSTOR, &[&path_s, "3"]);
    assert_eq!(first_line(&mut impostor).await, "listening");
    for sub in ["status", "reload", "prestop"] {
        let out = cli(&[sub, "--control", &path_s]).await;
        assert_eq!(out.status.code(), Some(1), "{sub}: {}", show(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("refusing to talk to")
                && err.contains(&format!("uid {NOBODY}"))
                && err.contains("--control PATH"),
            "{sub}: {}",
            show(&out)
        );
    }
    assert_eq!(
        first_line(&mut impostor).await,
        "received 0",
        "a client sent the impostor its request"
    );
}

#[tokio::test]
async fn the_supervisor_refuses_clients_of_another_user() {
    need_root();
    let mut sup = Supervisor::start(&["--ready", "delay:10ms"], &[example("hello")]);
    sup.wait_child_ready().await;
    // Open the way on purpose, as a careless --control in a shared place would.
    std::fs::set_permissions(sup.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&sup.control, std::fs::Permissions::from_mode(0o666)).unwrap();
    let client = r#"
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(b'{"op":"prestop"}\n')
s.settimeout(20)
print(s.makefile().readline().strip(), flush=True)
"#;
    let mut stranger = python_as(NOBODY, client, &[&sup.control.display().to_string()]);
    let answer = first_line(&mut stranger).await;
    assert!(
        answer.contains("permission denied") && answer.contains("uid 0"),
        "{answer}"
    );
    sup.server
        .wait_for_line("refused a control client of another user", DEADLINE)
        .await;
    // The prestop it asked for did not happen: the supervisor still serves, ready.
    let status = sup.status().await;
    assert_eq!(status.state, "running", "{status:?}");
    assert!(status.ready);
    sup.server.signal(Signal::SIGTERM);
    sup.server.wait_exit(DEADLINE).await;
}

/// The user the default-path test runs `changeover run` as: unused on the
/// machine, so its `/tmp/changeover-<uid>` is this test's alone.
const USER: u32 = 65533;

fn as_user(cmd: &mut Command) {
    cmd.uid(USER)
        .gid(USER)
        .current_dir("/")
        .kill_on_drop(true)
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("KUBERNETES_SERVICE_HOST");
}

#[tokio::test]
async fn the_default_socket_is_in_a_private_directory_and_a_squatted_one_is_refused() {
    need_root();
    let private = Path::new("/tmp/changeover-65533");
    // Left by an earlier failed run of this very test, if anything.
    if private.exists() {
        std::fs::remove_dir_all(private).unwrap();
    }
    // Another user got there first.
    std::fs::create_dir(private).unwrap();
    std::os::unix::fs::chown(private, Some(NOBODY), Some(NOBODY)).unwrap();
    let mut cmd = Command::new(changeover());
    cmd.args(["run", "--", "sleep", "600"]);
    as_user(&mut cmd);
    let out = tokio::time::timeout(DEADLINE, cmd.output())
        .await
        .expect("in time")
        .unwrap();
    std::fs::remove_dir(private).unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{}", show(&out));
    for needle in [
        "/tmp/changeover-65533",
        "belongs to uid 65534 (nobody)",
        "not to you (uid 65533)",
        "rm -r /tmp/changeover-65533",
        "XDG_RUNTIME_DIR",
    ] {
        assert!(
            err.contains(needle),
            "stderr lacks {needle:?}: {}",
            show(&out)
        );
    }

    // Nobody there: created 0700 for the user, the socket 0600 inside.
    let mut cmd = Command::new(changeover());
    cmd.args(["run", "--ready", "delay:10ms", "--", "sleep", "600"])
        .env("RUST_LOG", "info");
    as_user(&mut cmd);
    let mut sup = Server::start(cmd);
    sup.wait_for_line("child is ready", DEADLINE).await;
    let meta = std::fs::symlink_metadata(private).unwrap();
    assert!(meta.is_dir());
    assert_eq!((meta.uid(), meta.mode() & 0o7777), (USER, 0o700));
    let sock = std::fs::symlink_metadata(private.join("control.sock")).unwrap();
    assert_eq!((sock.uid(), sock.mode() & 0o777), (USER, 0o600));
    // The same user finds it with no flag.
    let mut status = Command::new(changeover());
    status.args(["status", "--json"]);
    as_user(&mut status);
    let out = tokio::time::timeout(DEADLINE, status.output())
        .await
        .expect("in time")
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    sup.signal(Signal::SIGTERM);
    sup.wait_exit(DEADLINE).await;
    // The supervisor removes its socket as it exits; the directory stays for the next run.
    assert!(!private.join("control.sock").exists());
    std::fs::remove_dir_all(private).unwrap();
}

#[tokio::test]
async fn reload_with_a_stale_pid_file_never_signals_an_unrelated_process() {
    // `python3 - run`: argv[1] is "-", and a bare "run" follows, which used to pass.
    let mut stranger = Command::new("python3");
    stranger
        .args(["-", "run"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    let mut stranger = stranger.spawn().unwrap();
    let mut stdin = stranger.stdin.take().unwrap();
    stdin
        .write_all(b"import time\nprint('up', flush=True)\ntime.sleep(600)\n")
        .await
        .unwrap();
    drop(stdin);
    assert_eq!(first_line(&mut stranger).await, "up");
    let pid = stranger.id().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("run.pid");
    std::fs::write(&pid_file, format!("{pid}\n")).unwrap();
    let out = cli(&["reload", "--pid-file", &pid_file.display().to_string()]).await;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is not `changeover run`") && err.contains("python3 - run"),
        "{}",
        show(&out)
    );
    // Had SIGHUP been sent, it would be pending or done by now, and being
    // the lower signal number it would be the one that ends the process.
    signal(pid, Signal::SIGTERM);
    let status = tokio::time::timeout(DEADLINE, stranger.wait())
        .await
        .expect("exits")
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(Signal::SIGTERM as i32),
        "it was sent SIGHUP"
    );
    assert!(!alive(pid));
}
