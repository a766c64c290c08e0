//! What every part of changeover needs to know about other processes: how one
//! ended, in words and as a shell's exit status, and when one is gone.
//!
//! One copy of each, here: the library's self-upgrade, the supervisor, the
//! demo and the tests all describe and wait for processes the same way.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use nix::errno::Errno;
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
    let fd = match pidfd_open(pid) {
        Ok(fd) => fd,
        Err(Errno::ESRCH) => return Ok(()),
        Err(Errno::EINVAL) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{pid} is not a process id"),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    // SAFETY: an OwnedFd keeps its fd open and unchanged until it is
    // dropped, which is when the AsyncFd that owns it is.
    let afd = unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)
    }?;
    afd.readable().await.map(drop)
}

/// A pidfd for `pid` (Linux 5.3): a handle on that process and on no later
/// one that reuses its pid, so a check of the process and a signal sent
/// after it reach the same process. `ESRCH` when no such process runs,
/// `ENOSYS` before Linux 5.3, `EINVAL` for a pid the kernel cannot take.
pub fn pidfd_open(pid: u32) -> Result<OwnedFd, Errno> {
    let raw_pid = libc::pid_t::try_from(pid).map_err(|_| Errno::EINVAL)?;
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1;
    // it touches no memory of ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, raw_pid, 0) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: a fresh fd returned by pidfd_open, owned here from now on.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// Sends `signal` to the process a pidfd names (from [`pidfd_open`]);
/// `ESRCH` once it has exited, even if its pid was reused since.
pub fn pidfd_send_signal(fd: BorrowedFd<'_>, signal: Signal) -> Result<(), Errno> {
    // SAFETY: a valid pidfd, a signal number, no siginfo, no flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            signal as libc::c_int,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r < 0 { Err(Errno::last()) } else { Ok(()) }
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
