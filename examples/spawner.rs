//! `spawner`: a test-only program that starts a command through
//! `changeover::spawn` from a process whose fds 3 and up are free, and prints
//! what `spawn` answered.
//!
//! ```text
//! spawner tokio|unreaped PROGRAM [ARGS...]
//! ```
//!
//! Two listening sockets are passed (so the child's fds 3 and 4 are targets),
//! while the parent keeps its own copies far above them: every low fd is
//! free when `spawn` runs, which is where the standard library's
//! close-on-exec error pipe would land. Prints one line to stdout:
//! `spawned pid=N status=S` when the command ran (S its exit status or
//! `signal N`), or `error status=C message=M` when `spawn` refused
//! (C the shell-convention status of the error).

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitCode;

use changeover::spawn::{ChildSpec, SpawnError, spawn, spawn_unreaped};
use nix::libc;

/// Duplicates `fd` to the lowest free fd at or above `min`, close-on-exec.
fn dup_at_least(fd: RawFd, min: RawFd) -> OwnedFd {
    // SAFETY: fcntl on a valid fd returns a new fd or -1.
    let raw = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min) };
    assert!(raw >= 0, "fcntl: {}", std::io::Error::last_os_error());
    // SAFETY: a fresh fd owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(raw) }
}

fn report(result: Result<std::process::ExitStatus, SpawnError>, pid: Option<u32>) -> ExitCode {
    match result {
        Ok(status) => {
            let status = match (status.code(), status.signal()) {
                (Some(c), _) => c.to_string(),
                (None, Some(s)) => format!("signal {s}"),
                _ => "?".into(),
            };
            println!("spawned pid={} status={status}", pid.unwrap_or(0));
        }
        Err(e) => println!("error status={} message={e}", e.exit_status()),
    }
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let mode = args.next().expect("mode: tokio or unreaped");
    let program = args.next().expect("a program");
    let rest: Vec<_> = args.collect();

    // Occupy the low fds while the runtime opens its own, so that those land
    // high; then free them all again.
    let null = std::fs::File::open("/dev/null").expect("/dev/null");
    let placeholders: Vec<OwnedFd> = (0..16).map(|_| dup_at_least(null.as_raw_fd(), 3)).collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let bind = || std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let (a, b) = (bind(), bind());
    let a = dup_at_least(a.as_raw_fd(), 100);
    let b = dup_at_least(b.as_raw_fd(), 100);
    drop(placeholders);
    drop(null);
    for fd in 3..10 {
        // SAFETY: F_GETFD only reads flags; -1 (EBADF) means the fd is free.
        assert!(
            unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0,
            "fd {fd} is not free"
        );
    }
    let spec = ChildSpec {
        program: program.clone(),
        argv0: program,
        args: rest,
        env: std::env::vars_os().collect(),
        listeners: vec![("a".into(), a.as_fd()), ("b".into(), b.as_fd())],
        notify_socket: None,
        own_process_group: false,
        stdout: None,
        stderr: None,
        death_signal: None,
    };
    if mode == "tokio" {
        runtime.block_on(async {
            match spawn(spec) {
                Ok(mut child) => {
                    let pid = child.id();
                    report(Ok(child.wait().await.expect("wait")), pid)
                }
                Err(e) => report(Err(e), None),
            }
        })
    } else {
        match spawn_unreaped(spec) {
            Ok(mut child) => {
                let pid = child.id();
                report(Ok(child.wait().expect("wait")), Some(pid))
            }
            Err(e) => report(Err(e), None),
        }
    }
}
