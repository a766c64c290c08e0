//! What runs in the forked child, between `fork` and `execve`, and how a
//! failure there gets back to the parent.
//!
//! The child of a multi-threaded process may only make async-signal-safe
//! calls: everything used here was prepared before the fork ([`Exec`]).
//!
//! A failure is reported through a pipe of our own, never through the
//! standard library's: std creates its close-on-exec error pipe at the
//! lowest free fds, which, in a parent whose fds 3.. are free, are exactly
//! the fds the listeners are moved to. Its write end was then overwritten by
//! a listener, a failed `execve` wrote the errno into a listening socket, the
//! child died of SIGPIPE and the parent was told the exec had succeeded. Our
//! pipe is created above every target fd, so no move can touch it, and the
//! child reports and `_exit`s itself instead of returning to std.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::libc;

use super::LISTEN_FDS_START;

/// Room for the decimal digits of any pid, plus the terminating NUL.
pub(super) const PID_ROOM: usize = 24;

/// The exit status of a child whose exec failed; the parent reaps it and
/// reports the failure itself, so nobody sees this but a debugger.
const FAILED: libc::c_int = 127;

/// Which step in the child failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    /// `prctl(PR_SET_PDEATHSIG)`.
    DeathSignal = 1,
    /// Moving a listener into place with `dup2`.
    Move = 2,
    /// `execve` itself.
    Exec = 3,
}

/// Everything `execve` needs, prepared before the fork. The pointer arrays
/// point into the owned buffers, which never move once built.
pub(super) struct Exec {
    pub(super) _strings: Vec<CString>,
    pub(super) argv: Vec<*const libc::c_char>,
    pub(super) envp: Vec<*const libc::c_char>,
    pub(super) path: CString,
    pub(super) listen_pid: Option<Box<[u8]>>,
    /// (source, target) fd pairs; sources are close-on-exec copies above every target.
    pub(super) moves: Vec<(RawFd, RawFd)>,
    /// The write end of the failure pipe, above every target.
    pub(super) report: RawFd,
    /// The signal the child gets when the thread that forked it ends; 0 for none.
    pub(super) death_signal: libc::c_int,
    /// The parent's pid, recorded before the fork.
    pub(super) parent: libc::pid_t,
}

// SAFETY: the raw pointers point into buffers owned by the same struct; it is
// only read (and the pid room written) in the forked child, which has its own
// copy of the memory.
unsafe impl Send for Exec {}
// SAFETY: as above; the parent never reads through the pointers.
unsafe impl Sync for Exec {}

/// The two ends of the failure pipe, both close-on-exec and both at or
/// above `min` (the first fd no listener is moved to).
pub(super) fn failure_pipe(min: RawFd) -> io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)?;
    Ok((above(&r, min)?, above(&w, min)?))
}

fn above(fd: &OwnedFd, min: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC on a valid fd returns a new fd or -1.
    let raw = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Reads the child's report after the fork: `None` when the write end
/// closed without a word (the exec succeeded and closed it), or the stage
/// and errno of the failure. The parent's own copy of the write end must be
/// closed first, or this waits forever.
pub(super) fn read_failure(read_end: &OwnedFd) -> io::Result<Option<(Stage, io::Error)>> {
    let mut buf = [0u8; 8];
    let mut len = 0;
    while len < buf.len() {
        // SAFETY: reads into the unfilled part of a local buffer.
        let n = unsafe {
            libc::read(
                read_end.as_raw_fd(),
                buf[len..].as_mut_ptr().cast(),
                buf.len() - len,
            )
        };
        match n {
            0 => break,
            n if n > 0 => len += n as usize,
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
    match len {
        0 => Ok(None),
        8 => {
            let stage = match u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) {
                1 => Stage::DeathSignal,
                2 => Stage::Move,
                _ => Stage::Exec,
            };
            let errno = i32::from_ne_bytes([buf[4], buf[5], buf[6], buf[7]]);
            Ok(Some((stage, io::Error::from_raw_os_error(errno))))
        }
        n => Err(io::Error::other(format!(
            "the child sent {n} bytes of a failure report"
        ))),
    }
}

/// Runs in the forked child: ties it to the forking thread when asked,
/// moves the listeners into place, fills in `LISTEN_PID`, and replaces the
/// process image. Never returns: a failure is written to the pipe and the
/// child exits.
pub(super) fn exec_in_child(exec: &mut Exec) -> ! {
    if exec.death_signal != 0 {
        // SAFETY: prctl with integer arguments touches no memory.
        if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, exec.death_signal, 0, 0, 0) } != 0 {
            fail(exec.report, Stage::DeathSignal);
        }
        // The parent may have died between the fork and the prctl, and then
        // nobody will ever send the signal: the child is already an orphan
        // (re-parented, so getppid has changed). It goes the way it would
        // have gone a moment later.
        // SAFETY: getppid, getpid and kill are async-signal-safe.
        if unsafe { libc::getppid() } != exec.parent {
            unsafe {
                libc::kill(libc::getpid(), exec.death_signal);
                libc::_exit(FAILED)
            }
        }
    }
    for &(from, to) in &exec.moves {
        // SAFETY: both are plain fd numbers; dup2 clears close-on-exec on `to`.
        if unsafe { libc::dup2(from, to) } < 0 {
            fail(exec.report, Stage::Move);
        }
    }
    // Everything above the passed sockets is marked close-on-exec: a parent
    // may itself hold fds without the flag (a job server pipe, a shell's
    // descriptors), and none of them is the child's business. (Marked, not
    // closed: the failure pipe must stay open until the exec.)
    let first_unpassed = LISTEN_FDS_START + exec.moves.len() as RawFd;
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range only changes fd flags; no memory is touched.
    let marked = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first_unpassed as libc::c_uint,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    };
    if marked < 0 {
        // Kernels before 5.11: one by one, up to the fd limit.
        // SAFETY: sysconf and fcntl are async-signal-safe and touch no memory.
        let max = unsafe { libc::sysconf(libc::_SC_OPEN_MAX) }.clamp(1024, 1 << 20) as RawFd;
        for fd in first_unpassed..max {
            // SAFETY: as above; EBADF for fds that are not open is expected.
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
    }
    if let Some(room) = exec.listen_pid.as_mut() {
        // SAFETY: getpid cannot fail.
        let pid = unsafe { libc::getpid() } as u64;
        write_decimal(&mut room["LISTEN_PID=".len()..], pid);
    }
    // SAFETY: path, argv and envp are NUL-terminated strings and
    // NULL-terminated arrays prepared before the fork.
    unsafe { libc::execve(exec.path.as_ptr(), exec.argv.as_ptr(), exec.envp.as_ptr()) };
    fail(exec.report, Stage::Exec)
}

/// Reports `errno` and the failed stage to the parent, then exits.
fn fail(report: RawFd, stage: Stage) -> ! {
    let errno = io::Error::last_os_error().raw_os_error().unwrap_or(0);
    let mut buf = [0u8; 8];
    buf[..4].copy_from_slice(&(stage as u32).to_ne_bytes());
    buf[4..].copy_from_slice(&errno.to_ne_bytes());
    // SAFETY: write and _exit are async-signal-safe. Eight bytes into an
    // empty pipe never write partially; if the parent is gone there is
    // nobody to tell, so the result is not looked at.
    unsafe {
        libc::write(report, buf.as_ptr().cast(), buf.len());
        libc::_exit(FAILED)
    }
}

/// Writes `n` in decimal followed by NUL into `room`, without allocating.
pub(super) fn write_decimal(room: &mut [u8], mut n: u64) {
    let mut digits = [0u8; 20];
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for i in 0..len {
        room[i] = digits[len - 1 - i];
    }
    room[len] = 0;
}
