//! The client side, used by `changeover reload`, `status` and `prestop`: one request, one answer,
//! and nothing sent to a socket that is not our own user's (or root's).

use std::fmt;
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use nix::unistd::geteuid;

use super::peer::{describe_uid, trusted};
use super::{MAX_REQUEST, REQUEST_TIMEOUT};
use crate::protocol::{Request, Response};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::tests::FILES;

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
}
