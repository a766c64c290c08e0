//! `changeover reload --pid-file`: the reload signal sent to the supervisor a pid file names,
//! once the process is shown to be a `changeover run`, and held by a pidfd from the check to the
//! signal.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use changeover::PidFile;
use nix::errno::Errno;
use nix::libc;
use nix::sys::signal::Signal;

use super::client::ClientError;
use crate::config::parse_signal;

/// Sends the reload signal to the supervisor named by a pid file; returns
/// its pid.
///
/// A pid file can be stale, and its pid reused by anything: the process is
/// signalled only once shown to be a `changeover run` — `argv[1]` is exactly
/// `run` and `argv[0]` is a `changeover` binary (by file name, or the very
/// executable running this) — and it is held by a pidfd from before the
/// check to the signal, so a process that exits meanwhile and whose pid is
/// reused is not signalled in its stead. The signal is read from the same
/// command line (`--reload-signal`, SIGHUP when absent).
pub fn signal_reload(pid_file: &Path) -> Result<u32, ClientError> {
    let bad = |m: String| ClientError::PidFile(pid_file.to_owned(), m);
    let pid = PidFile::new(pid_file)
        .read()
        .map_err(|e| bad(format!("cannot read it: {e}")))?
        .ok_or_else(|| {
            bad("it is missing or holds no pid: is `changeover run --pid-file` running with this path?".into())
        })?;
    let gone = || {
        bad(format!(
            "no process {pid} is running: the supervisor has exited; remove the stale file"
        ))
    };
    let pidfd = match pidfd_open(pid) {
        Ok(fd) => Some(fd),
        Err(Errno::ESRCH) => return Err(gone()),
        // Linux before 5.3: the check and the signal below stay, without the hold.
        Err(Errno::ENOSYS) => None,
        Err(e) => return Err(bad(format!("cannot open process {pid}: {e}"))),
    };
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).map_err(|_| gone())?;
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let signal = reload_signal_of(&args, same_executable(pid)).ok_or_else(|| {
        let shown: Vec<&str> = args.iter().map(String::as_str).filter(|a| !a.is_empty()).collect();
        bad(format!(
            "process {pid} is not `changeover run` (its command line is {:?}); the file is stale or names another program: remove it",
            shown.join(" ")
        ))
    })?;
    let sent = match &pidfd {
        Some(fd) => pidfd_send_signal(fd, signal),
        None => nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal),
    };
    match sent {
        Ok(()) => Ok(pid),
        Err(Errno::ESRCH) => Err(gone()),
        Err(Errno::EPERM) => Err(bad(format!(
            "not allowed to signal process {pid}: run this as the user that started it"
        ))),
        Err(e) => Err(bad(format!("cannot signal process {pid}: {e}"))),
    }
}

/// A pidfd for `pid` (Linux 5.3): it names that process and no later one
/// that reuses its pid.
fn pidfd_open(pid: u32) -> Result<OwnedFd, Errno> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: a fresh fd returned by pidfd_open, owned here.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Sends `signal` to the process a pidfd names; ESRCH once it has exited.
fn pidfd_send_signal(fd: &OwnedFd, signal: Signal) -> Result<(), Errno> {
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

/// Whether process `pid` runs the very executable this process runs (a
/// `changeover` installed under another name).
fn same_executable(pid: u32) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (
        std::fs::metadata(format!("/proc/{pid}/exe")),
        std::fs::metadata("/proc/self/exe"),
    ) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// The reload signal of a `changeover run` command line; `None` when it is
/// not one: `argv[1]` must be exactly `run`, and `argv[0]` name a
/// `changeover` binary (or `same_exe`: it is the one running this).
fn reload_signal_of(args: &[String], same_exe: bool) -> Option<Signal> {
    let (argv0, rest) = args.split_first()?;
    let (sub, flags) = rest.split_first()?;
    let named = Path::new(argv0)
        .file_name()
        .is_some_and(|n| n == "changeover");
    if sub != "run" || !(named || same_exe) {
        return None;
    }
    let mut flags = flags.iter();
    let mut signal = Signal::SIGHUP;
    while let Some(flag) = flags.next() {
        if flag == "--" {
            break;
        }
        let value = match flag.split_once('=') {
            Some(("--reload-signal", v)) => Some(v.to_owned()),
            _ if flag == "--reload-signal" => flags.next().cloned(),
            _ => None,
        };
        if let Some(v) = value {
            signal = parse_signal(&v)?;
        }
    }
    Some(signal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn reads_the_reload_signal_from_a_command_line() {
        assert_eq!(
            reload_signal_of(&args("changeover run --listen 0:80 -- app"), false),
            Some(Signal::SIGHUP)
        );
        assert_eq!(
            reload_signal_of(
                &args("/bin/changeover run --reload-signal USR2 -- app"),
                false
            ),
            Some(Signal::SIGUSR2)
        );
        assert_eq!(
            reload_signal_of(
                &args("changeover run --reload-signal=quit -- app --reload-signal INT"),
                false
            ),
            Some(Signal::SIGQUIT)
        );
        assert_eq!(reload_signal_of(&args("nginx -g daemon"), false), None);
        // Installed under another name, recognised by its executable.
        assert_eq!(
            reload_signal_of(&args("/opt/co-1.2 run -- app"), true),
            Some(Signal::SIGHUP)
        );
    }

    /// Regression (issue 9, item 3): any command line with a bare `run`
    /// argument passed, so a stale pid file made `reload` SIGHUP (and so
    /// kill) an unrelated process.
    #[test]
    fn other_programs_with_a_run_argument_are_not_supervisors() {
        for line in [
            "npm run start",
            "python3 - run",
            "python3 /srv/app.py run --reload-signal HUP",
            "/usr/bin/changeover-helper run",
            "changeover status run",
            "changeover lint run",
            "make -C changeover run",
        ] {
            assert_eq!(reload_signal_of(&args(line), false), None, "{line}");
        }
    }
}
