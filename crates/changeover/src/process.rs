//! What every part of changeover needs to know about other processes: how one
//! ended, in words and as a shell's exit status, and when one is gone.
//!
//! One copy of each, here: the library's self-upgrade, the supervisor, the
//! demo and the tests all describe and wait for processes the same way.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use nix::libc;
use nix::sys::signal::Signal;

/// Describes how a process ended, the way a shell would: `"exit status 3"`,
/// `"killed by SIGKILL"` (signals by name; a number only for a signal this
/// platform has no name for).
///
/// ```
/// use std::os::unix::process::ExitStatusExt;
/// use std::process::ExitStatus;
/// use changeover::process::describe_exit;
///
/// assert_eq!(describe_exit(ExitStatus::from_raw(3 << 8)), "exit status 3");
/// assert_eq!(describe_exit(ExitStatus::from_raw(9)), "killed by SIGKILL");
/// ```
pub fn describe_exit(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => match Signal::try_from(sig) {
            Ok(s) => format!("killed by {}", s.as_str()),
            Err(_) => format!("killed by signal {sig}"),
        },
        _ => "ended".to_owned(),
    }
}

/// The exit status a shell reports for a process that ended so: its exit
/// code, or 128 + the signal number when a signal ended it (1 for anything
/// else, which a process that ended cannot be).
///
/// ```
/// use std::os::unix::process::ExitStatusExt;
/// use std::process::ExitStatus;
/// use changeover::process::exit_code;
///
/// assert_eq!(exit_code(ExitStatus::from_raw(42 << 8)), 42);
/// assert_eq!(exit_code(ExitStatus::from_raw(15)), 128 + 15);
/// ```
pub fn exit_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        // An exit code is 0–255 by the kernel's own truncation.
        (Some(code), _) => code as u8,
        (None, Some(sig)) => (128 + sig) as u8,
        _ => 1,
    }
}

/// Waits for any process to exit, not only a child of this one (a
/// successor after a handover, a supervisor's child), through a pidfd,
/// which becomes readable when the process ends (a zombie has ended).
///
/// A process that is gone already (`ESRCH`) counts as exited. Errors are
/// a pid the kernel cannot take, and a kernel without `pidfd_open` (before
/// Linux 5.3: `ENOSYS`). Does not reap: a child of ours stays a zombie until
/// its parent waits for it. Must be awaited inside a tokio runtime.
pub async fn wait_for_exit(pid: u32) -> io::Result<()> {
    let Ok(raw_pid) = libc::pid_t::try_from(pid) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{pid} is not a process id"),
        ));
    };
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1;
    // it touches no memory of ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, raw_pid, 0) };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ESRCH) => Ok(()),
            _ => Err(e),
        };
    }
    // SAFETY: a fresh fd returned by pidfd_open, owned here from now on.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) };
    // SAFETY: an OwnedFd keeps its fd open and unchanged until it is
    // dropped, which is when the AsyncFd that owns it is.
    let afd = unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)
    }?;
    afd.readable().await.map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn exits_read_like_a_shell() {
        let exited = |code: i32| ExitStatus::from_raw(code << 8);
        let killed = |sig: i32| ExitStatus::from_raw(sig);
        assert_eq!(describe_exit(exited(0)), "exit status 0");
        assert_eq!(describe_exit(killed(15)), "killed by SIGTERM");
        assert_eq!(describe_exit(killed(11)), "killed by SIGSEGV");
        assert_eq!(exit_code(exited(0)), 0);
        assert_eq!(exit_code(exited(255)), 255);
        assert_eq!(exit_code(killed(9)), 137);
        assert_eq!(exit_code(killed(11)), 139);
    }

    #[tokio::test]
    async fn waits_for_a_process_until_it_exits() {
        let mut child = tokio::process::Command::new("sleep")
            .arg("30")
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let pid = child.id().unwrap();
        let mut wait = std::pin::pin!(wait_for_exit(pid));
        // Still running: the wait must not end on its own.
        assert!(
            tokio::time::timeout(Duration::from_millis(200), wait.as_mut())
                .await
                .is_err()
        );
        child.start_kill().unwrap();
        tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .expect("the wait ends when the process is killed")
            .unwrap();
        // Gone and reaped: the pid names nobody, which counts as exited.
        child.wait().await.unwrap();
        tokio::time::timeout(Duration::from_secs(10), wait_for_exit(pid))
            .await
            .expect("a pid that names nobody counts as exited")
            .unwrap();
        assert!(wait_for_exit(u32::MAX).await.is_err());
    }
}
