//! The control socket: the server side inside `changeover run`, and the
//! client side used by `changeover reload`, `status` and `prestop`.
//!
//! A Unix stream socket created with mode 0600, so only its owner (and
//! root) can reach it; see [`crate::protocol`] for what travels over it.
//! Neither side trusts the other for being local: each checks the peer's
//! credentials (`SO_PEERCRED`) and talks only to its own user or root. The
//! default socket outside `XDG_RUNTIME_DIR` lives in a directory of the
//! user's own, mode 0700 ([`crate::config::private_control_dir`]), which
//! is refused when someone else got there first.

use std::fmt;
use std::io::{self, BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use changeover::listeners::{self, ListenError, Listener, TokioListener};
use changeover::{ListenAddr, PidFile};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::libc;
use nix::sys::signal::Signal;
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use nix::sys::stat::{FileStat, Mode, SFlag, fchmod, fstat, lstat, umask};
use nix::unistd::{Uid, User, geteuid};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::oneshot;

use crate::config::parse_signal;
use crate::machine::Event;
use crate::protocol::{Request, Response};

/// The longest request line accepted.
const MAX_REQUEST: u64 = 64 * 1024;
/// How long a client may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether a peer running as `uid` may be talked to: the same user, or root.
fn trusted(uid: u32) -> bool {
    uid == geteuid().as_raw() || uid == 0
}

/// A user id with its name when it has one: `uid 65534 (nobody)`.
fn describe_uid(uid: u32) -> String {
    match User::from_uid(Uid::from_raw(uid)) {
        Ok(Some(user)) => format!("uid {uid} ({})", user.name),
        _ => format!("uid {uid}"),
    }
}

/// Why the control socket could not be created.
#[derive(Debug)]
pub enum BindError {
    /// Binding the socket failed.
    Socket {
        /// The socket's path.
        path: PathBuf,
        /// What went wrong.
        source: ListenError,
    },
    /// The private directory the socket belongs in is not safe to use.
    UnsafeDir {
        /// The directory.
        dir: PathBuf,
        /// What is wrong with it, and what to do.
        problem: String,
    },
}

/// The way out when the private directory cannot be used.
const ELSEWHERE: &str = "or set XDG_RUNTIME_DIR, or pass --control PATH in a directory of your own";

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BindError::Socket { path, source } => {
                let in_use = matches!(source, ListenError::Bind { source, .. } if source.kind() == io::ErrorKind::AddrInUse);
                if in_use {
                    write!(
                        f,
                        "control socket {} is in use: another changeover run is listening there; stop it, or give this one its own with --control PATH",
                        path.display()
                    )
                } else {
                    write!(
                        f,
                        "cannot create control socket {}: {}; check that its directory exists and is writable, or pass --control PATH",
                        path.display(),
                        match source {
                            ListenError::Bind { source, .. } => source.to_string(),
                            other => other.to_string(),
                        }
                    )
                }
            }
            BindError::UnsafeDir { dir, problem } => {
                write!(f, "control socket directory {}: {problem}", dir.display())
            }
        }
    }
}

impl std::error::Error for BindError {}

/// Creates `dir` with mode 0700, or checks the one that is there: a real
/// directory (not a symbolic link), owned by this user, that nobody else
/// can enter. Nothing is created inside a directory that fails a check.
///
/// No check-then-use race: the checks are made on the directory opened with
/// `O_NOFOLLOW`, and the directory sits in a sticky one (`/tmp`), where only
/// its owner — the user just checked — can rename or remove it afterwards.
pub fn ensure_private_dir(dir: &Path) -> Result<(), BindError> {
    let unsafe_dir = |problem: String| BindError::UnsafeDir {
        dir: dir.to_owned(),
        problem,
    };
    let me = geteuid().as_raw();
    let created = match nix::unistd::mkdir(dir, Mode::S_IRWXU) {
        Ok(()) => true,
        Err(Errno::EEXIST) => false,
        Err(e) => {
            return Err(unsafe_dir(format!(
                "cannot create it: {e}; check that its parent exists and is writable, {ELSEWHERE}"
            )));
        }
    };
    let opened = nix::fcntl::open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    );
    let fd: OwnedFd = match opened {
        Ok(fd) => fd,
        Err(Errno::ELOOP | Errno::ENOTDIR) => {
            let what = match lstat(dir) {
                Ok(st)
                    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK =>
                {
                    "is a symbolic link, not a directory"
                }
                _ => "is not a directory",
            };
            let owner = lstat(dir)
                .map(|st| describe_uid(st.st_uid))
                .unwrap_or_else(|_| "?".into());
            return Err(unsafe_dir(format!(
                "{what} (owned by {owner}): someone may have planted it to catch the socket; remove it (rm {}), {ELSEWHERE}",
                dir.display()
            )));
        }
        Err(e) => {
            return Err(unsafe_dir(format!(
                "cannot open it: {e}; remove it, {ELSEWHERE}"
            )));
        }
    };
    let st: FileStat = fstat(&fd).map_err(|e| unsafe_dir(format!("cannot inspect it: {e}")))?;
    if st.st_uid != me {
        return Err(unsafe_dir(format!(
            "it belongs to {}, not to you ({}): another user may be squatting it to impersonate the supervisor; have its owner or root remove it (rm -r {}), {ELSEWHERE}",
            describe_uid(st.st_uid),
            describe_uid(me),
            dir.display()
        )));
    }
    if created {
        // The umask may have taken bits off; exactly 0700, on the directory just checked.
        fchmod(&fd, Mode::S_IRWXU).map_err(|e| unsafe_dir(format!("cannot set its mode: {e}")))?;
    } else if st.st_mode & 0o077 != 0 {
        return Err(unsafe_dir(format!(
            "it has mode {:04o}, so other users can reach what is in it; make it private (chmod 700 {}), {ELSEWHERE}",
            st.st_mode & 0o7777,
            dir.display()
        )));
    }
    Ok(())
}

/// Creates the control socket with mode 0600 (a stale file left by a
/// supervisor that is gone is replaced), first creating or checking its
/// private directory when it has one (see [`ensure_private_dir`]). Call it
/// before any thread is started: the file mode is set through the
/// process-wide umask.
pub fn bind(path: &Path, private_dir: Option<&Path>) -> Result<Listener, BindError> {
    if let Some(dir) = private_dir {
        ensure_private_dir(dir)?;
    }
    let err = |source| BindError::Socket {
        path: path.to_owned(),
        source,
    };
    // The mode of a socket file comes from the umask at bind(): no window in
    // which another user could connect.
    let old = umask(Mode::from_bits_truncate(0o177));
    let bound = listeners::bind("control", &ListenAddr::Unix(path.to_owned()));
    umask(old);
    let listener = bound.map_err(err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|source| {
        err(ListenError::Bind {
            addr: ListenAddr::Unix(path.to_owned()),
            source,
        })
    })?;
    Ok(listener)
}

/// Answers requests on the control socket until the runtime ends.
pub async fn serve(listener: TokioListener, events: UnboundedSender<Event>) {
    let TokioListener::Right(listener) = listener else {
        tracing::error!("the control socket is not a Unix socket");
        return;
    };
    let mut failures = changeover::log_limit::LogLimit::new(Duration::from_secs(1));
    loop {
        match listener.accept().await {
            Ok((stream, _)) => match stream.peer_cred() {
                Ok(cred) if trusted(cred.uid()) => {
                    tokio::spawn(answer(stream, events.clone()));
                }
                Ok(cred) => {
                    tracing::warn!(
                        uid = cred.uid(),
                        pid = ?cred.pid(),
                        "refused a control client of another user (only this user and root may control the supervisor)"
                    );
                    tokio::spawn(refuse(stream, cred.uid()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "refused a control client whose credentials cannot be read")
                }
            },
            Err(e) => {
                // EMFILE and friends: back off instead of spinning, and
                // say so once a second, not at every try.
                if let Some(n) = failures.hit(std::time::Instant::now()) {
                    tracing::warn!(error = %e, failures = n.total, unlogged = n.unlogged, "control socket accept failed; retrying every 100ms (logged at most once a second)");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Tells a client of another user why it is refused. Its request line is
/// read first (bounded, and never looked at), so that the client is not
/// cut off mid-write and can read the answer.
async fn refuse(stream: tokio::net::UnixStream, uid: u32) {
    let (read, mut write) = stream.into_split();
    let mut reader = tokio::io::BufReader::new(read.take(MAX_REQUEST));
    let mut ignored = String::new();
    if tokio::time::timeout(REQUEST_TIMEOUT, reader.read_line(&mut ignored))
        .await
        .is_err()
    {
        tracing::debug!(uid, "a refused control client sent no request");
    }
    let response = Response::Error {
        message: format!(
            "permission denied: this supervisor runs as {}, and only that user and root may control it",
            describe_uid(geteuid().as_raw())
        ),
    };
    if let Ok(mut text) = serde_json::to_string(&response) {
        text.push('\n');
        if let Err(e) = write.write_all(text.as_bytes()).await {
            tracing::debug!(uid, error = %e, "a refused control client went away");
        }
    }
}

async fn answer(stream: tokio::net::UnixStream, events: UnboundedSender<Event>) {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = tokio::io::BufReader::new(read.take(MAX_REQUEST));
    let response = match tokio::time::timeout(REQUEST_TIMEOUT, reader.read_line(&mut line)).await {
        Err(_) => Response::Error {
            message: "no request within 10s".into(),
        },
        Ok(Err(e)) => Response::Error {
            message: format!("cannot read the request: {e}"),
        },
        Ok(Ok(_)) => match serde_json::from_str::<Request>(line.trim()) {
            Err(e) => Response::Error {
                message: format!(
                    "not a control request ({e}); use changeover reload, status or prestop"
                ),
            },
            Ok(request) => ask(request, &events).await,
        },
    };
    let mut text = match serde_json::to_string(&response) {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "cannot encode a control response");
            return;
        }
    };
    text.push('\n');
    if let Err(e) = write.write_all(text.as_bytes()).await {
        tracing::debug!(error = %e, "control client went away before the answer");
    }
}

async fn ask(request: Request, events: &UnboundedSender<Event>) -> Response {
    let gone = || Response::Error {
        message: "the supervisor is exiting".into(),
    };
    match request {
        Request::Reload { wait } => {
            let (tx, rx) = oneshot::channel();
            if events
                .send(Event::Reload {
                    wait,
                    reply: Some(tx),
                })
                .is_err()
            {
                return gone();
            }
            rx.await.map(Response::Reload).unwrap_or_else(|_| gone())
        }
        Request::Status => {
            let (tx, rx) = oneshot::channel();
            if events.send(Event::Status(tx)).is_err() {
                return gone();
            }
            rx.await.map(Response::Status).unwrap_or_else(|_| gone())
        }
        Request::Prestop => {
            let (tx, rx) = oneshot::channel();
            if events.send(Event::Prestop(tx)).is_err() {
                return gone();
            }
            rx.await.map(Response::Prestop).unwrap_or_else(|_| gone())
        }
    }
}

/// Why a client request failed.
#[derive(Debug)]
pub enum ClientError {
    /// Nothing listens at the path.
    NoSupervisor(PathBuf),
    /// The socket belongs to another user.
    PermissionDenied(PathBuf),
    /// The process listening there runs as another user (not root either):
    /// not our supervisor, nothing was sent to it.
    Impostor {
        /// The socket.
        path: PathBuf,
        /// The listener's user id.
        uid: u32,
    },
    /// No answer in time.
    Timeout(PathBuf, Duration),
    /// The connection closed without an answer.
    Closed(PathBuf),
    /// The answer could not be read.
    BadResponse(PathBuf, String),
    /// The supervisor answered with an error.
    Refused(String),
    /// Another I/O error.
    Io(PathBuf, io::Error),
    /// The pid file is missing, empty, or names no supervisor.
    PidFile(PathBuf, String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::NoSupervisor(p) => write!(
                f,
                "no supervisor is listening on {}: start one with `changeover run`, or pass the --control PATH it was started with",
                p.display()
            ),
            ClientError::PermissionDenied(p) => write!(
                f,
                "cannot connect to {}: permission denied; run this as the user that started `changeover run` (the socket is mode 0600)",
                p.display()
            ),
            ClientError::Impostor { path, uid } => write!(
                f,
                "refusing to talk to {}: it is served by {}, not by you ({}) or root, so it is not your supervisor (another user may have bound it first); check who owns it (ls -l {}), and pass the --control PATH your `changeover run` uses",
                path.display(),
                describe_uid(*uid),
                describe_uid(geteuid().as_raw()),
                path.display()
            ),
            ClientError::Timeout(p, d) => write!(
                f,
                "no answer from the supervisor on {} within {}; `changeover status` shows what it is doing, and --timeout waits longer",
                p.display(),
                changeover::format_duration(*d)
            ),
            ClientError::Closed(p) => write!(
                f,
                "the supervisor on {} closed the connection without answering; it may have exited",
                p.display()
            ),
            ClientError::BadResponse(p, e) => write!(
                f,
                "unreadable answer from {} ({e}); is it a changeover control socket of the same version?",
                p.display()
            ),
            ClientError::Refused(m) => write!(f, "the supervisor refused the request: {m}"),
            ClientError::Io(p, e) => {
                write!(f, "cannot talk to the supervisor on {}: {e}", p.display())
            }
            ClientError::PidFile(p, m) => write!(f, "pid file {}: {m}", p.display()),
        }
    }
}

impl std::error::Error for ClientError {}

/// Sends `request` to the supervisor at `path` and waits (at most `timeout`,
/// or without bound for `None`) for its answer.
pub fn request(
    path: &Path,
    request: &Request,
    timeout: Option<Duration>,
) -> Result<Response, ClientError> {
    let io_err = |e: io::Error| match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
            ClientError::NoSupervisor(path.to_owned())
        }
        io::ErrorKind::PermissionDenied => ClientError::PermissionDenied(path.to_owned()),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            ClientError::Timeout(path.to_owned(), timeout.unwrap_or_default())
        }
        _ => ClientError::Io(path.to_owned(), e),
    };
    let mut stream = UnixStream::connect(path).map_err(io_err)?;
    // Before a byte is sent: a request (and a prestop) must reach our own
    // supervisor, not whoever bound the path first.
    let peer = getsockopt(&stream, PeerCredentials)
        .map_err(|e| ClientError::Io(path.to_owned(), e.into()))?;
    if !trusted(peer.uid()) {
        return Err(ClientError::Impostor {
            path: path.to_owned(),
            uid: peer.uid(),
        });
    }
    stream.set_read_timeout(timeout).map_err(io_err)?;
    stream
        .set_write_timeout(Some(REQUEST_TIMEOUT))
        .map_err(io_err)?;
    let mut line = serde_json::to_string(request)
        .map_err(|e| ClientError::BadResponse(path.to_owned(), e.to_string()))?;
    line.push('\n');
    stream.write_all(line.as_bytes()).map_err(io_err)?;
    let mut answer = String::new();
    BufReader::new(io::Read::take(&stream, MAX_REQUEST))
        .read_line(&mut answer)
        .map_err(io_err)?;
    if answer.is_empty() {
        return Err(ClientError::Closed(path.to_owned()));
    }
    match serde_json::from_str::<Response>(answer.trim()) {
        Ok(Response::Error { message }) => Err(ClientError::Refused(message)),
        Ok(r) => Ok(r),
        Err(e) => Err(ClientError::BadResponse(path.to_owned(), e.to_string())),
    }
}

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

    /// `bind` changes the process-wide umask for an instant: the tests that
    /// create files take turns.
    static FILES: std::sync::Mutex<()> = std::sync::Mutex::new(());

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

    #[test]
    fn a_missing_supervisor_is_named_with_the_fix() {
        let _turn = FILES.lock().unwrap_or_else(|p| p.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("none.sock");
        let e = request(&path, &Request::Status, Some(Duration::from_secs(1))).unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, ClientError::NoSupervisor(_)), "{text}");
        assert!(
            text.contains("none.sock") && text.contains("changeover run"),
            "{text}"
        );
    }

    #[test]
    fn the_socket_is_private_and_a_second_one_is_refused() {
        let _turn = FILES.lock().unwrap_or_else(|p| p.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.sock");
        let listener = bind(&path, None).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let e = bind(&path, None).unwrap_err().to_string();
        assert!(e.contains("in use") && e.contains("--control"), "{e}");
        drop(listener);
    }
    /// Regression (issue 9, item 2): the default socket lived straight in
    /// `/tmp`, where another user could bind it first. Its directory is now
    /// created 0700 and checked; one that someone else planted is refused
    /// with its owner named. Needs root (to play the other user).
    #[test]
    fn the_private_directory_is_ours_with_mode_0700_or_refused() {
        assert!(
            geteuid().is_root(),
            "this test needs root, to create files of another user"
        );
        let _turn = FILES.lock().unwrap_or_else(|p| p.into_inner());
        let tmp = tempfile::tempdir().unwrap();
        let mode_of =
            |p: &Path| std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777;

        let dir = tmp.path().join("changeover-0");
        let listener = bind(&dir.join("control.sock"), Some(&dir)).unwrap();
        assert_eq!(mode_of(&dir), 0o700);
        assert_eq!(mode_of(&dir.join("control.sock")), 0o600);
        drop(listener);
        // Ours already: used as it is.
        ensure_private_dir(&dir).unwrap();

        let refused = |p: &Path| ensure_private_dir(p).unwrap_err().to_string();
        let theirs = tmp.path().join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
        let e = refused(&theirs);
        assert!(
            e.contains("belongs to uid 65534")
                && e.contains("rm -r")
                && e.contains("--control PATH"),
            "{e}"
        );
        // Binding is refused before anything is created in it.
        let e = bind(&theirs.join("control.sock"), Some(&theirs))
            .unwrap_err()
            .to_string();
        assert!(e.contains("belongs to uid 65534"), "{e}");
        assert!(!theirs.join("control.sock").exists());

        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        let e = refused(&link);
        assert!(e.contains("symbolic link") && e.contains("rm "), "{e}");

        let open = tmp.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        let e = refused(&open);
        assert!(e.contains("mode 0755") && e.contains("chmod 700"), "{e}");

        let file = tmp.path().join("file");
        std::fs::write(&file, "").unwrap();
        let e = refused(&file);
        assert!(e.contains("is not a directory"), "{e}");
    }
}
