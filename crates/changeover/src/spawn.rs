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
//! nothing else leaks into the child.
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
            SpawnError::NotExecutable(p, e) => write!(
                f,
                "command {} cannot be executed ({e}): check its permissions (chmod +x) and format",
                p.display()
            ),
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

/// Room for the decimal digits of any pid, plus the terminating NUL.
const PID_ROOM: usize = 24;

/// Everything `execve` needs, prepared before the fork. The pointer arrays
/// point into the owned buffers, which never move once built.
struct Exec {
    _strings: Vec<CString>,
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
    path: CString,
    listen_pid: Option<Box<[u8]>>,
    /// (source, target) fd pairs; sources are close-on-exec copies above every target.
    moves: Vec<(RawFd, RawFd)>,
}

// SAFETY: the raw pointers point into buffers owned by the same struct; it is
// only read (and the pid room written) in the forked child, which has its own
// copy of the memory.
unsafe impl Send for Exec {}
// SAFETY: as above; the parent never reads through the pointers.
unsafe impl Sync for Exec {}

fn cstring(s: &OsStr, what: &str) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what} {s:?} contains a NUL byte"),
        )
    })
}

/// A child ready to be started: the command with its `pre_exec` hook, and
/// the listener copies that must stay open until the fork has happened.
struct Prepared {
    command: std::process::Command,
    copies: Vec<OwnedFd>,
    program: OsString,
    path: PathBuf,
}

/// Classifies an error from `Command::spawn` the way a shell would.
fn spawn_error(program: &OsStr, path: &Path, e: io::Error) -> SpawnError {
    match e.kind() {
        io::ErrorKind::NotFound => SpawnError::NotFound(program.to_owned()),
        io::ErrorKind::PermissionDenied => SpawnError::NotExecutable(path.to_owned(), e),
        _ => SpawnError::Other(program.to_owned(), e),
    }
}

/// Starts the child described by `spec`.
///
/// Must be called inside a tokio runtime; the returned child is reaped by
/// tokio when waited on.
pub fn spawn(spec: ChildSpec<'_>) -> Result<tokio::process::Child, SpawnError> {
    let Prepared {
        command,
        copies,
        program,
        path,
    } = prepare(spec)?;
    let child = tokio::process::Command::from(command).spawn();
    // The fork duplicated the copies into the child; these can go.
    drop(copies);
    child.map_err(|e| spawn_error(&program, &path, e))
}

/// Starts the child described by `spec` and returns it as a plain
/// [`std::process::Child`], which nobody reaps on the caller's behalf.
///
/// For a caller that reaps every child itself with `waitpid(-1)` — a PID 1
/// or a subreaper, which must also collect orphans — where tokio's reaper
/// would race it for the exit statuses. Such a caller must not reap while
/// this function runs: when `exec` fails, the standard library waits for the
/// failed child itself, and finding it already reaped is a panic there.
/// Needs no runtime.
pub fn spawn_unreaped(spec: ChildSpec<'_>) -> Result<std::process::Child, SpawnError> {
    let Prepared {
        mut command,
        copies,
        program,
        path,
    } = prepare(spec)?;
    let child = command.spawn();
    drop(copies);
    child.map_err(|e| spawn_error(&program, &path, e))
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
    // async-signal-safe calls (dup2, getpid, execve) and writes into memory
    // prepared before the fork; it allocates nothing.
    unsafe {
        command.pre_exec(move || exec_in_child(&mut exec));
    }
    Ok(Prepared {
        command,
        copies,
        program: spec.program,
        path,
    })
}

/// Runs in the forked child: moves the listeners into place, fills in
/// `LISTEN_PID`, and replaces the process image. Returns only on failure.
fn exec_in_child(exec: &mut Exec) -> io::Result<()> {
    for &(from, to) in &exec.moves {
        // SAFETY: both are plain fd numbers; dup2 clears close-on-exec on `to`.
        if unsafe { libc::dup2(from, to) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    // Everything above the passed sockets is marked close-on-exec: a parent
    // may itself hold fds without the flag (a job server pipe, a shell's
    // descriptors), and none of them is the child's business. (Marked, not
    // closed: the pipe that reports a failed exec back must stay open.)
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
    Err(io::Error::last_os_error())
}

/// Writes `n` in decimal followed by NUL into `room`, without allocating.
fn write_decimal(room: &mut [u8], mut n: u64) {
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

#[cfg(test)]
mod tests;
