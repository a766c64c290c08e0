//! The control socket: the server side inside `changeover run`, and the
//! client side used by `changeover reload`, `status` and `prestop`.
//!
//! A Unix stream socket created with mode 0600, so only its owner (and
//! root) can reach it; see [`crate::protocol`] for what travels over it.

use std::fmt;
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use changeover::listeners::{self, ListenError, Listener, TokioListener};
use changeover::{ListenAddr, PidFile};
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::stat::{Mode, umask};
use nix::unistd::Pid;
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

/// Why the control socket could not be created.
#[derive(Debug)]
pub struct BindError {
    path: PathBuf,
    source: ListenError,
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let in_use = matches!(&self.source, ListenError::Bind { source, .. } if source.kind() == io::ErrorKind::AddrInUse);
        if in_use {
            write!(
                f,
                "control socket {} is in use: another changeover run is listening there; stop it, or give this one its own with --control PATH",
                self.path.display()
            )
        } else {
            write!(
                f,
                "cannot create control socket {}: {}; check that its directory exists and is writable, or pass --control PATH",
                self.path.display(),
                match &self.source {
                    ListenError::Bind { source, .. } => source.to_string(),
                    other => other.to_string(),
                }
            )
        }
    }
}

impl std::error::Error for BindError {}

/// Creates the control socket with mode 0600 (a stale file left by a
/// supervisor that is gone is replaced). Call it before any thread is
/// started: the file mode is set through the process-wide umask.
pub fn bind(path: &Path) -> Result<Listener, BindError> {
    let err = |source| BindError {
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
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(answer(stream, events.clone()));
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, "control socket accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
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
/// its pid. The signal is read from the supervisor's own command line
/// (`--reload-signal`, SIGHUP when absent), which also shows that the pid
/// is a `changeover run` and not a process that took over a stale pid.
pub fn signal_reload(pid_file: &Path) -> Result<u32, ClientError> {
    let bad = |m: String| ClientError::PidFile(pid_file.to_owned(), m);
    let pid = PidFile::new(pid_file)
        .read()
        .map_err(|e| bad(format!("cannot read it: {e}")))?
        .ok_or_else(|| {
            bad("it is missing or holds no pid: is `changeover run --pid-file` running with this path?".into())
        })?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).map_err(|_| {
        bad(format!(
            "no process {pid} is running: the supervisor has exited; remove the stale file"
        ))
    })?;
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let signal = reload_signal_of(&args).ok_or_else(|| {
        bad(format!(
            "process {pid} is not `changeover run` (it is {:?}); the file is stale: remove it",
            args.first().map(String::as_str).unwrap_or("?")
        ))
    })?;
    match kill(Pid::from_raw(pid as i32), signal) {
        Ok(()) => Ok(pid),
        Err(Errno::ESRCH) => Err(bad(format!(
            "no process {pid} is running: the supervisor has exited; remove the stale file"
        ))),
        Err(Errno::EPERM) => Err(bad(format!(
            "not allowed to signal process {pid}: run this as the user that started it"
        ))),
        Err(e) => Err(bad(format!("cannot signal process {pid}: {e}"))),
    }
}

/// The reload signal of a `changeover run` command line; `None` when it is not one.
fn reload_signal_of(args: &[String]) -> Option<Signal> {
    let run = args.iter().position(|a| a == "run")?;
    let mut flags = args[run + 1..].iter();
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
            reload_signal_of(&args("changeover run --listen 0:80 -- app")),
            Some(Signal::SIGHUP)
        );
        assert_eq!(
            reload_signal_of(&args("/bin/changeover run --reload-signal USR2 -- app")),
            Some(Signal::SIGUSR2)
        );
        assert_eq!(
            reload_signal_of(&args(
                "changeover run --reload-signal=quit -- app --reload-signal INT"
            )),
            Some(Signal::SIGQUIT)
        );
        assert_eq!(reload_signal_of(&args("nginx -g daemon")), None);
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
        let listener = bind(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let e = bind(&path).unwrap_err().to_string();
        assert!(e.contains("in use") && e.contains("--control"), "{e}");
        drop(listener);
    }
}
