//! Starting a child the way systemd does: listening sockets at fd 3, 4, …,
//! `LISTEN_FDS`, `LISTEN_FDNAMES`, and `LISTEN_PID` set to the child's own pid.
//!
//! `LISTEN_PID` can only be known after `fork`, and a forked child of a
//! multi-threaded process may not allocate or touch the environment. So the
//! whole `execve` is prepared before the fork: the argument and environment
//! arrays are built in the parent, with room reserved in the `LISTEN_PID=`
//! entry; the child only moves fds (`dup2`, which also clears close-on-exec
//! on exactly those fds), writes its pid's digits into the reserved room, and
//! calls `execve`. Everything else the parent has open is close-on-exec, so
//! nothing else leaks into the child. A failed `execve` is reported through
//! a pipe of our own placed above every target fd (see `child`), so it is
//! never lost, whatever fds the parent has free.
//!
//! A child can be tied to its parent ([`ChildSpec::death_signal`]): it gets
//! that signal when the parent dies, even by SIGKILL, so it cannot outlive
//! it holding the listening sockets. Such children are forked from one
//! thread that lives as long as the process (see `forker`), because the
//! kernel sends the signal when the forking *thread* ends.
//!
//! [`spawn`] returns a tokio child, reaped by tokio; [`spawn_unreaped`]
//! returns a plain one for a parent that reaps every child itself (a PID 1),
//! with the same preparation.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use nix::libc;
use nix::sys::signal::Signal;

mod child;
mod forker;

use child::{Exec, PID_ROOM, Stage};

/// The first fd a socket is passed at (`SD_LISTEN_FDS_START`).
pub const LISTEN_FDS_START: RawFd = 3;

/// Environment variables of the socket-passing and notification protocols:
/// the parent's own values are never passed on; the child's are set from
/// [`ChildSpec::listeners`] and [`ChildSpec::notify_socket`].
pub const PROTOCOL_VARS: &[&str] = &[
    "LISTEN_FDS",
    "LISTEN_PID",
    "LISTEN_FDNAMES",
    "NOTIFY_SOCKET",
];

/// The death signal changeover gives the children that must not outlive
/// it (the supervisor's generations and probes, a library server's
/// successor until it is ready): SIGKILL.
///
/// Not the stop signal, although that would let the child drain: a parent
/// that dies uncleanly leaves nobody to enforce the drain deadline, so a
/// child that ignores or mishandles the stop signal (a shell, a server
/// stuck in its shutdown) would live on as the very orphan this prevents;
/// and a child that drains keeps the listening port bound for the whole
/// drain, while whatever restarts the parent (a container runtime, systemd)
/// needs the port now. SIGKILL is certain and frees the port at once; the
/// requests in flight in the child are lost either way once their parent
/// crashed.
pub const DEATH_SIGNAL: Signal = Signal::SIGKILL;

/// What to start, and which sockets and notify socket to give it.
#[derive(Debug)]
pub struct ChildSpec<'a> {
    /// The program to execute: a path, or a bare name looked up in `PATH`.
    pub program: OsString,
    /// `argv[0]` as the child will see it.
    pub argv0: OsString,
    /// The arguments after `argv[0]`.
    pub args: Vec<OsString>,
    /// The complete environment of the child (the protocol variables are added).
    pub env: Vec<(OsString, OsString)>,
    /// Listening sockets with their names, passed at fd 3, 4, ….
    pub listeners: Vec<(String, BorrowedFd<'a>)>,
    /// `NOTIFY_SOCKET` for the child, if any.
    pub notify_socket: Option<OsString>,
    /// Start the child in a process group of its own (so the whole group can be killed).
    pub own_process_group: bool,
    /// Where the child's standard output goes; `None` keeps the parent's.
    pub stdout: Option<std::process::Stdio>,
    /// Where the child's standard error goes; `None` keeps the parent's.
    pub stderr: Option<std::process::Stdio>,
    /// The signal the child gets when this process dies (`PR_SET_PDEATHSIG`),
    /// so that it cannot outlive it; `None` lets it outlive its parent.
    ///
    /// The signal is set before `exec` and survives it; a child whose parent
    /// died before the signal was set sends it to itself. A child that must
    /// outlive its parent after all (a successor that took over) clears it
    /// itself, as [`crate::Lifecycle::ready`] does.
    pub death_signal: Option<Signal>,
}

/// Why a child could not be started.
#[derive(Debug)]
pub enum SpawnError {
    /// The program does not exist (shell convention: exit status 127).
    NotFound(OsString),
    /// The program exists but cannot be executed (shell convention: 126).
    NotExecutable(PathBuf, io::Error),
    /// Anything else (fd exhaustion, fork failure, bad strings).
    Other(OsString, io::Error),
}

impl std::fmt::Display for SpawnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SpawnError::NotFound(p) => write!(
                f,
                "command {:?} not found: check the path, or that it is installed and in PATH",
                p
            ),
            SpawnError::NotExecutable(p, e) => {
                let fix = match e.raw_os_error() {
                    Some(libc::ENOEXEC) => {
                        "check its format: a program built for this machine, or a script whose first line is #!INTERPRETER"
                    }
                    // The file exists (it was resolved), so what is missing is its interpreter.
                    Some(libc::ENOENT) => {
                        "the interpreter it names is missing: check its #! line (or ELF loader), or install its interpreter"
                    }
                    _ => "check its permissions (chmod +x) and format",
                };
                write!(f, "command {} cannot be executed ({e}): {fix}", p.display())
            }
            SpawnError::Other(p, e) => write!(f, "could not start {:?}: {e}", p),
        }
    }
}

impl std::error::Error for SpawnError {}

impl SpawnError {
    /// The exit status a shell would use for this failure.
    pub fn exit_status(&self) -> u8 {
        match self {
            SpawnError::NotFound(_) => 127,
            SpawnError::NotExecutable(..) => 126,
            SpawnError::Other(..) => 1,
        }
    }
}

/// Finds the program as `execvp` would: a name with a `/` is used as it is,
/// a bare name is searched in `PATH`.
pub fn resolve_program(program: &OsStr, path_var: Option<&OsStr>) -> Result<PathBuf, SpawnError> {
    if program.as_bytes().contains(&b'/') {
        let p = PathBuf::from(program);
        return check_executable(&p).map(|()| p);
    }
    if program.is_empty() {
        return Err(SpawnError::NotFound(program.to_owned()));
    }
    let path_var = path_var.unwrap_or(OsStr::new("/usr/local/bin:/usr/bin:/bin"));
    let mut denied = None;
    for dir in std::env::split_paths(path_var) {
        let candidate = dir.join(program);
        match check_executable(&candidate) {
            Ok(()) => return Ok(candidate),
            Err(SpawnError::NotExecutable(p, e)) => denied = Some((p, e)),
            Err(_) => {}
        }
    }
    Err(match denied {
        Some((p, e)) => SpawnError::NotExecutable(p, e),
        None => SpawnError::NotFound(program.to_owned()),
    })
}

fn check_executable(p: &Path) -> Result<(), SpawnError> {
    match std::fs::metadata(p) {
        Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => Ok(()),
        Ok(m) if m.is_dir() => Err(SpawnError::NotExecutable(
            p.to_owned(),
            io::Error::other("it is a directory"),
        )),
        Ok(_) => Err(SpawnError::NotExecutable(
            p.to_owned(),
            io::Error::from(io::ErrorKind::PermissionDenied),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            Err(SpawnError::NotFound(p.as_os_str().to_owned()))
        }
        Err(e) => Err(SpawnError::NotExecutable(p.to_owned(), e)),
    }
}

fn cstring(s: &OsStr, what: &str) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what} {s:?} contains a NUL byte"),
        )
    })
}

/// A child ready to be started: the command with its `pre_exec` hook, the
/// listener copies and the failure pipe's write end, which must stay open
/// until the fork has happened, and the pipe's read end.
struct Prepared {
    command: std::process::Command,
    copies: Vec<OwnedFd>,
    report_write: OwnedFd,
    report_read: OwnedFd,
    program: OsString,
    path: PathBuf,
    tied: bool,
}

/// Classifies an error from `Command::spawn` (the fork itself) the way a shell would.
fn spawn_error(program: &OsStr, path: &Path, e: io::Error) -> SpawnError {
    match e.kind() {
        io::ErrorKind::NotFound => SpawnError::NotFound(program.to_owned()),
        io::ErrorKind::PermissionDenied => SpawnError::NotExecutable(path.to_owned(), e),
        _ => SpawnError::Other(program.to_owned(), e),
    }
}

/// Classifies a failure the child reported, the way a shell would: 127
/// when the program is not there, 126 when it is but cannot be executed.
fn child_error(program: &OsStr, path: &Path, stage: Stage, e: io::Error) -> SpawnError {
    let other = |what: &str| {
        SpawnError::Other(program.to_owned(), io::Error::other(format!("{what}: {e}")))
    };
    match stage {
        Stage::DeathSignal => {
            other("cannot tie the child to its parent (PR_SET_PDEATHSIG needs Linux 2.1.57)")
        }
        Stage::Move => other("cannot pass the listening sockets"),
        Stage::Exec => match e.raw_os_error() {
            // The file was there when it was resolved; if it still is, what
            // is missing is its interpreter (a `#!` line or the ELF loader).
            Some(libc::ENOENT) if path.exists() => SpawnError::NotExecutable(path.to_owned(), e),
            Some(libc::ENOENT) => SpawnError::NotFound(program.to_owned()),
            Some(
                libc::ENOEXEC
                | libc::EACCES
                | libc::EPERM
                | libc::EISDIR
                | libc::ENOTDIR
                | libc::ETXTBSY
                | libc::ELOOP
                | libc::ELIBBAD
                | libc::ENAMETOOLONG,
            ) => SpawnError::NotExecutable(path.to_owned(), e),
            _ => SpawnError::Other(program.to_owned(), e),
        },
    }
}

impl Prepared {
    /// Forks (through `fork`), then waits for the child to either execute
    /// (the failure pipe closes) or report why it could not. On a failure
    /// the child, which has exited, is handed to `reap`.
    fn start<C>(
        self,
        fork: impl FnOnce(std::process::Command) -> io::Result<C>,
        reap: impl FnOnce(C),
    ) -> Result<C, SpawnError> {
        let Prepared {
            command,
            copies,
            report_write,
            report_read,
            program,
            path,
            tied: _,
        } = self;
        let child = fork(command);
        // The fork duplicated these into the child; the parent's copies go,
        // so that the pipe reads end-of-file once the child has executed.
        drop(copies);
        drop(report_write);
        let child = child.map_err(|e| spawn_error(&program, &path, e))?;
        match child::read_failure(&report_read) {
            Ok(None) => Ok(child),
            Ok(Some((stage, e))) => {
                reap(child);
                Err(child_error(&program, &path, stage, e))
            }
            Err(e) => Err(SpawnError::Other(
                program,
                io::Error::other(format!("cannot learn whether the child started: {e}")),
            )),
        }
    }
}

/// Starts the child described by `spec`.
///
/// Must be called inside a tokio runtime; the returned child is reaped by
/// tokio when waited on.
pub fn spawn(spec: ChildSpec<'_>) -> Result<tokio::process::Child, SpawnError> {
    let prepared = prepare(spec)?;
    let fork = |prepared: Prepared| {
        prepared.start(
            |c| tokio::process::Command::from(c).spawn(),
            // A dropped tokio child that has exited is reaped by tokio's orphan queue.
            drop,
        )
    };
    if !prepared.tied {
        return fork(prepared);
    }
    let program = prepared.program.clone();
    let runtime = tokio::runtime::Handle::current();
    forker::run(move || {
        // The child registers with this runtime's process driver, as if
        // started on one of its threads.
        let _entered = runtime.enter();
        fork(prepared)
    })
    .map_err(|e| SpawnError::Other(program, e))?
}

/// Starts the child described by `spec` and returns it as a plain
/// [`std::process::Child`], which nobody reaps on the caller's behalf.
///
/// For a caller that reaps every child itself with `waitpid(-1)` — a PID 1
/// or a subreaper, which must also collect orphans — where tokio's reaper
/// would race it for the exit statuses. Such a caller must not reap while
/// this function runs: when `exec` fails, this function waits for the
/// failed child itself. Needs no runtime.
pub fn spawn_unreaped(spec: ChildSpec<'_>) -> Result<std::process::Child, SpawnError> {
    let prepared = prepare(spec)?;
    let fork = |prepared: Prepared| {
        prepared.start(
            |mut c| c.spawn(),
            |mut child| {
                // It has exited (it reported and called _exit): this returns at once.
                if let Err(e) = child.wait() {
                    tracing::warn!(pid = child.id(), error = %e, "cannot reap a child whose exec failed");
                }
            },
        )
    };
    if !prepared.tied {
        return fork(prepared);
    }
    let program = prepared.program.clone();
    forker::run(move || fork(prepared)).map_err(|e| SpawnError::Other(program, e))?
}

/// Clears this process's own death signal (see [`ChildSpec::death_signal`]):
/// for a successor that has just become ready, and so must outlive the
/// parent that started it. Harmless when none was set.
pub(crate) fn outlive_parent() -> io::Result<()> {
    // SAFETY: prctl with integer arguments touches no memory.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, 0, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Resolves the program and builds everything `execve` needs (see the
/// module documentation), wrapped in a command whose `pre_exec` hook moves
/// the listeners into place and executes.
fn prepare(spec: ChildSpec<'_>) -> Result<Prepared, SpawnError> {
    let path_var = spec
        .env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_os_str());
    let path = resolve_program(&spec.program, path_var)?;
    let other = |e: io::Error| SpawnError::Other(spec.program.clone(), e);

    // Copies of the listeners above every target fd, close-on-exec, so that
    // moving them into place in the child can never overwrite one another.
    let n = spec.listeners.len() as RawFd;
    let mut copies: Vec<OwnedFd> = Vec::with_capacity(spec.listeners.len());
    for (_, fd) in &spec.listeners {
        // SAFETY: F_DUPFD_CLOEXEC on a valid borrowed fd returns a new fd or -1.
        let raw =
            unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, LISTEN_FDS_START + n) };
        if raw < 0 {
            return Err(other(io::Error::last_os_error()));
        }
        // SAFETY: `raw` is a fresh fd that nothing else owns.
        copies.push(unsafe { OwnedFd::from_raw_fd(raw) });
    }
    // Above every target too, for the same reason.
    let (report_read, report_write) = child::failure_pipe(LISTEN_FDS_START + n).map_err(other)?;

    let mut strings = Vec::new();
    let path_c = cstring(path.as_os_str(), "program").map_err(other)?;
    strings.push(cstring(&spec.argv0, "argument").map_err(other)?);
    for a in &spec.args {
        strings.push(cstring(a, "argument").map_err(other)?);
    }
    let argc = strings.len();
    for (k, v) in &spec.env {
        if PROTOCOL_VARS.iter().any(|p| k == p) {
            continue;
        }
        let mut kv = k.as_bytes().to_vec();
        kv.push(b'=');
        kv.extend_from_slice(v.as_bytes());
        strings.push(cstring(OsStr::from_bytes(&kv), "environment entry").map_err(other)?);
    }
    if !spec.listeners.is_empty() {
        strings.push(CString::new(format!("LISTEN_FDS={n}")).expect("no NUL"));
        let names: Vec<&str> = spec.listeners.iter().map(|(n, _)| n.as_str()).collect();
        strings.push(
            CString::new(format!("LISTEN_FDNAMES={}", names.join(":")))
                .map_err(|_| other(io::Error::other("a listener name contains a NUL byte")))?,
        );
    }
    if let Some(sock) = &spec.notify_socket {
        let mut kv = b"NOTIFY_SOCKET=".to_vec();
        kv.extend_from_slice(sock.as_bytes());
        strings.push(cstring(OsStr::from_bytes(&kv), "NOTIFY_SOCKET").map_err(other)?);
    }
    let listen_pid: Option<Box<[u8]>> = (!spec.listeners.is_empty()).then(|| {
        let mut room = b"LISTEN_PID=".to_vec();
        room.resize(room.len() + PID_ROOM, 0);
        room.into_boxed_slice()
    });

    let mut argv: Vec<*const libc::c_char> = strings[..argc].iter().map(|s| s.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = strings[argc..].iter().map(|s| s.as_ptr()).collect();
    if let Some(room) = &listen_pid {
        envp.push(room.as_ptr().cast());
    }
    envp.push(std::ptr::null());
    let moves = copies
        .iter()
        .enumerate()
        .map(|(i, fd)| (fd.as_raw_fd(), LISTEN_FDS_START + i as RawFd))
        .collect();
    let mut exec = Exec {
        _strings: strings,
        argv,
        envp,
        path: path_c,
        listen_pid,
        moves,
        report: report_write.as_raw_fd(),
        death_signal: spec.death_signal.map_or(0, |s| s as libc::c_int),
        parent: nix::unistd::getpid().as_raw(),
    };

    let mut command = std::process::Command::new(&path);
    if spec.own_process_group {
        command.process_group(0);
    }
    if let Some(stdout) = spec.stdout {
        command.stdout(stdout);
    }
    if let Some(stderr) = spec.stderr {
        command.stderr(stderr);
    }
    // SAFETY: the closure runs in the forked child and only makes
    // async-signal-safe calls (prctl, getppid, dup2, close_range, getpid,
    // execve, write, _exit) and writes into memory prepared before the
    // fork; it allocates nothing, and it never returns to the standard
    // library (see `child`).
    unsafe {
        command.pre_exec(move || child::exec_in_child(&mut exec));
    }
    Ok(Prepared {
        command,
        copies,
        report_write,
        report_read,
        program: spec.program,
        path,
        tied: spec.death_signal.is_some(),
    })
}

#[cfg(test)]
mod tests;
