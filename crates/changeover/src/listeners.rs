//! Listening sockets: inherited through `LISTEN_FDS`, or bound here.
//!
//! A process started by systemd socket activation, by `changeover run`, or by
//! its own parent during an upgrade finds its sockets at fd 3, 4, … with
//! `LISTEN_FDS` (how many), `LISTEN_PID` (which process they are for) and
//! optionally `LISTEN_FDNAMES` (colon-separated names). Asking for a listener
//! by name takes the inherited socket of that name; otherwise the address is
//! bound. `LISTEN_PID` naming another process means the sockets are not ours
//! (they leaked through an intermediate process) and they are left alone.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener as StdUnixListener;
use std::path::PathBuf;

use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use socket2::{Domain, SockAddr, Socket, Type};
use tokio_util::either::Either;

use crate::addr::ListenAddr;
use crate::spawn::LISTEN_FDS_START;

/// The backlog of sockets bound here: deep enough that a burst arriving
/// during a handover waits in the kernel instead of being refused.
const BACKLOG: i32 = 1024;

/// A listening socket, inherited or bound, ready to be served.
#[derive(Debug)]
pub struct Listener {
    name: String,
    socket: Socket,
    local: ListenAddr,
    inherited: bool,
}

impl Listener {
    /// The name it was asked for (and is passed on under, to a successor).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address it listens on (with the real port when bound to port 0).
    pub fn local_addr(&self) -> &ListenAddr {
        &self.local
    }

    /// Whether it came from the parent rather than being bound here.
    pub fn is_inherited(&self) -> bool {
        self.inherited
    }

    /// A second fd for the same socket (close-on-exec), kept to pass the
    /// socket on to a successor or a child.
    pub fn copy_fd(&self) -> Result<OwnedFd, ListenError> {
        self.socket
            .as_fd()
            .try_clone_to_owned()
            .map_err(|source| ListenError::Copy {
                name: self.name.clone(),
                addr: self.local.clone(),
                source,
            })
    }

    /// Splits into a tokio listener, for serving.
    pub fn into_tokio(self) -> io::Result<TokioListener> {
        self.socket.set_nonblocking(true)?;
        let fd = OwnedFd::from(self.socket);
        Ok(match self.local {
            ListenAddr::Tcp(_) => Either::Left(tokio::net::TcpListener::from_std(fd.into())?),
            ListenAddr::Unix(_) => Either::Right(tokio::net::UnixListener::from_std(
                StdUnixListener::from(fd),
            )?),
        })
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

/// A listener converted for tokio: TCP on the left, Unix on the right.
pub type TokioListener = Either<tokio::net::TcpListener, tokio::net::UnixListener>;

/// Why a listener could not be had.
#[derive(Debug)]
pub enum ListenError {
    /// A `LISTEN_*` variable is malformed.
    Env {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// What is wrong with it.
        problem: String,
    },
    /// An fd announced by `LISTEN_FDS` is not a listening stream socket.
    BadFd {
        /// The fd number.
        fd: RawFd,
        /// What it is instead.
        problem: String,
    },
    /// Binding the address failed.
    Bind {
        /// The address.
        addr: ListenAddr,
        /// The error from the kernel.
        source: io::Error,
    },
    /// The socket is bound, but a copy of its fd (kept to pass it on)
    /// could not be made: `dup` failed, out of file descriptors.
    Copy {
        /// The listener's name.
        name: String,
        /// The address it listens on.
        addr: ListenAddr,
        /// The error from the kernel.
        source: io::Error,
    },
}

/// The fix for an fd table that is full, or `None` for another error.
fn out_of_fds(e: &io::Error) -> Option<&'static str> {
    matches!(e.raw_os_error(), Some(nix::libc::EMFILE | nix::libc::ENFILE)).then_some(
        "the process is out of file descriptors: raise its limit (ulimit -n; LimitNOFILE= under systemd) or close what leaks them",
    )
}

impl fmt::Display for ListenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenError::Env {
                var,
                value,
                problem,
            } => write!(
                f,
                "{var}={value:?} is malformed: {problem}; the process that started this one must pass sockets the systemd way (LISTEN_FDS=N, LISTEN_PID=<child pid>, LISTEN_FDNAMES=a:b), or unset the LISTEN_* variables"
            ),
            ListenError::BadFd { fd, problem } => write!(
                f,
                "fd {fd} passed by LISTEN_FDS {problem}; the process that started this one must pass listening stream sockets from fd 3 on, or unset the LISTEN_* variables"
            ),
            ListenError::Copy { name, addr, source } => write!(
                f,
                "listening on {addr}, but cannot keep a copy of socket {name:?} to pass on: {source}; {}",
                out_of_fds(source).unwrap_or("check the limits on open files (ulimit -n)")
            ),
            ListenError::Bind { addr, source } => {
                let fix = match source.kind() {
                    _ if out_of_fds(source).is_some() => out_of_fds(source).unwrap_or_default(),
                    io::ErrorKind::AddrInUse => {
                        "another process is listening there: stop it or choose another address"
                    }
                    io::ErrorKind::AddrNotAvailable => {
                        "no interface of this machine has that address: use 127.0.0.1, 0.0.0.0 or one of its own addresses"
                    }
                    io::ErrorKind::PermissionDenied => {
                        "ports below 1024 need privileges (CAP_NET_BIND_SERVICE), and socket paths a writable directory"
                    }
                    _ => "check the address",
                };
                write!(f, "cannot listen on {addr}: {source}; {fix}")
            }
        }
    }
}

impl std::error::Error for ListenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ListenError::Bind { source, .. } | ListenError::Copy { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The `LISTEN_*` variables as found in the environment.
#[derive(Debug, Clone, Default)]
pub struct ListenEnv {
    /// `LISTEN_PID`.
    pub pid: Option<String>,
    /// `LISTEN_FDS`.
    pub fds: Option<String>,
    /// `LISTEN_FDNAMES`.
    pub names: Option<String>,
}

impl ListenEnv {
    /// Reads the variables of this process.
    pub fn from_process() -> ListenEnv {
        let var = |k| std::env::var_os(k).map(|v| v.to_string_lossy().into_owned());
        ListenEnv {
            pid: var("LISTEN_PID"),
            fds: var("LISTEN_FDS"),
            names: var("LISTEN_FDNAMES"),
        }
    }

    /// The fds and names meant for process `my_pid`, checked for form only.
    ///
    /// No `LISTEN_FDS`, or a `LISTEN_PID` of another process, means none.
    pub fn parse(&self, my_pid: u32) -> Result<Vec<(RawFd, String)>, ListenError> {
        let env_err = |var, value: &str, problem: &str| ListenError::Env {
            var,
            value: value.to_owned(),
            problem: problem.to_owned(),
        };
        let Some(fds) = &self.fds else {
            return Ok(Vec::new());
        };
        match &self.pid {
            None => {
                return Err(env_err(
                    "LISTEN_PID",
                    "",
                    "it is unset while LISTEN_FDS is set, so nobody can tell whom the sockets are for",
                ));
            }
            Some(pid) => {
                let pid: u32 = pid
                    .trim()
                    .parse()
                    .map_err(|_| env_err("LISTEN_PID", pid, "it is not a process id"))?;
                if pid != my_pid {
                    tracing::debug!(
                        listen_pid = pid,
                        my_pid,
                        "LISTEN_PID names another process; ignoring LISTEN_FDS"
                    );
                    return Ok(Vec::new());
                }
            }
        }
        let count: RawFd = fds
            .trim()
            .parse()
            .map_err(|_| env_err("LISTEN_FDS", fds, "it is not a number"))?;
        if !(0..=4096).contains(&count) {
            return Err(env_err("LISTEN_FDS", fds, "it is not between 0 and 4096"));
        }
        let names: Vec<String> = match &self.names {
            None => vec!["unknown".to_owned(); count as usize],
            Some(names) => {
                let names: Vec<String> = names.split(':').map(str::to_owned).collect();
                if names.len() != count as usize {
                    return Err(env_err(
                        "LISTEN_FDNAMES",
                        self.names.as_deref().unwrap_or_default(),
                        &format!("it has {} names for {count} sockets", names.len()),
                    ));
                }
                names
            }
        };
        Ok(names
            .into_iter()
            .enumerate()
            .map(|(i, name)| (LISTEN_FDS_START + i as RawFd, name))
            .collect())
    }
}

/// The sockets this process inherited and has not yet handed out.
#[derive(Debug, Default)]
pub struct Inherited {
    sockets: Vec<(String, Socket, ListenAddr)>,
}

impl Inherited {
    /// Takes ownership of the fds announced in `env` for this process, after
    /// checking each is an open listening stream socket, and marks them
    /// close-on-exec (a successor gets them only when passed on on purpose).
    pub fn adopt(env: &ListenEnv) -> Result<Inherited, ListenError> {
        let mut sockets = Vec::new();
        for (fd, name) in env.parse(std::process::id())? {
            let bad = |problem: &str| ListenError::BadFd {
                fd,
                problem: problem.to_owned(),
            };
            // SAFETY: only looks at the flags of an fd number; fails with EBADF when it is not open.
            let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
            let flags = fcntl(borrowed, FcntlArg::F_GETFD).map_err(|_| bad("is not open"))?;
            let mut flags = FdFlag::from_bits_truncate(flags);
            flags.insert(FdFlag::FD_CLOEXEC);
            fcntl(borrowed, FcntlArg::F_SETFD(flags)).map_err(|e| bad(&e.to_string()))?;
            // SAFETY: the fd is open and, by the protocol, handed to this process to own.
            let socket = Socket::from(unsafe { OwnedFd::from_raw_fd(fd) });
            let local = classify(&socket).map_err(|p| bad(&p))?;
            tracing::debug!(fd, name = %name, addr = %local, "inherited listener");
            sockets.push((name, socket, local));
        }
        Ok(Inherited { sockets })
    }

    /// How many inherited sockets are still unclaimed.
    pub fn len(&self) -> usize {
        self.sockets.len()
    }

    /// Whether none is left.
    pub fn is_empty(&self) -> bool {
        self.sockets.is_empty()
    }

    /// Takes the socket of this name; or, when exactly one socket was
    /// inherited and none has this name, that one.
    pub fn take(&mut self, name: &str) -> Option<Listener> {
        let i = self
            .sockets
            .iter()
            .position(|(n, ..)| n == name)
            .or_else(|| (self.sockets.len() == 1).then_some(0))?;
        let (_, socket, local) = self.sockets.remove(i);
        Some(Listener {
            name: name.to_owned(),
            socket,
            local,
            inherited: true,
        })
    }

    /// Closes every socket nobody asked for, returning their names.
    pub fn close_unclaimed(&mut self) -> Vec<String> {
        self.sockets.drain(..).map(|(name, ..)| name).collect()
    }
}

fn classify(socket: &Socket) -> Result<ListenAddr, String> {
    let ty = socket
        .r#type()
        .map_err(|e| format!("is not a socket ({e})"))?;
    if ty != Type::STREAM {
        return Err("is not a stream socket".into());
    }
    if !socket.is_listener().map_err(|e| e.to_string())? {
        return Err("is not listening (listen() was never called on it)".into());
    }
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    if let Some(addr) = local.as_socket() {
        Ok(ListenAddr::Tcp(addr))
    } else if local.is_unix() {
        Ok(ListenAddr::Unix(
            local.as_pathname().map(PathBuf::from).unwrap_or_default(),
        ))
    } else {
        Err("is neither a TCP nor a Unix socket".into())
    }
}

/// Binds a new listening socket at `addr`, under this name.
pub fn bind(name: &str, addr: &ListenAddr) -> Result<Listener, ListenError> {
    let err = |source| ListenError::Bind {
        addr: addr.clone(),
        source,
    };
    let (socket, local) = match addr {
        ListenAddr::Tcp(sa) => {
            let socket = Socket::new(Domain::for_address(*sa), Type::STREAM, None).map_err(err)?;
            socket.set_reuse_address(true).map_err(err)?;
            socket.bind(&SockAddr::from(*sa)).map_err(err)?;
            socket.listen(BACKLOG).map_err(err)?;
            let local = socket.local_addr().map_err(err)?.as_socket().unwrap_or(*sa);
            (socket, ListenAddr::Tcp(local))
        }
        ListenAddr::Unix(path) => {
            remove_stale_socket(path).map_err(err)?;
            let socket = Socket::new(Domain::UNIX, Type::STREAM, None).map_err(err)?;
            socket
                .bind(&SockAddr::unix(path).map_err(err)?)
                .map_err(err)?;
            socket.listen(BACKLOG).map_err(err)?;
            (socket, addr.clone())
        }
    };
    Ok(Listener {
        name: name.to_owned(),
        socket,
        local,
        inherited: false,
    })
}

/// A socket file left behind by a process that is gone is removed; one that
/// still has a listener is reported as in use.
fn remove_stale_socket(path: &std::path::Path) -> io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
        Ok(m) if !m.file_type().is_socket() => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "a file that is not a socket is in the way",
        )),
        Ok(_) => match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => Err(io::Error::from(io::ErrorKind::AddrInUse)),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                tracing::debug!(path = %path.display(), "removing stale socket file");
                std::fs::remove_file(path)
            }
            Err(e) => Err(e),
        },
    }
}

impl AsRawFd for Listener {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pid: Option<&str>, fds: Option<&str>, names: Option<&str>) -> ListenEnv {
        ListenEnv {
            pid: pid.map(Into::into),
            fds: fds.map(Into::into),
            names: names.map(Into::into),
        }
    }

    #[test]
    fn reads_the_systemd_variables() {
        assert!(env(None, None, None).parse(10).unwrap().is_empty());
        assert_eq!(
            env(Some("10"), Some("2"), Some("http:admin"))
                .parse(10)
                .unwrap(),
            vec![(3, "http".to_owned()), (4, "admin".to_owned())]
        );
        assert_eq!(
            env(Some("10"), Some("1"), None).parse(10).unwrap(),
            vec![(3, "unknown".to_owned())]
        );
    }

    #[test]
    fn sockets_for_another_pid_are_not_ours() {
        assert!(
            env(Some("11"), Some("2"), None)
                .parse(10)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn malformed_variables_are_named() {
        for (e, var) in [
            (env(Some("x"), Some("1"), None), "LISTEN_PID"),
            (env(None, Some("1"), None), "LISTEN_PID"),
            (env(Some("10"), Some("one"), None), "LISTEN_FDS"),
            (env(Some("10"), Some("-1"), None), "LISTEN_FDS"),
            (env(Some("10"), Some("2"), Some("http")), "LISTEN_FDNAMES"),
        ] {
            let msg = e.parse(10).unwrap_err().to_string();
            assert!(msg.starts_with(var), "{msg}");
        }
    }

    /// Regression (issue 9, item 5): out of fds, a failed `dup` and a
    /// failed `socket` were both "cannot listen on ADDR …; check the address".
    #[test]
    fn running_out_of_fds_is_named_as_such() {
        let emfile = || io::Error::from_raw_os_error(nix::libc::EMFILE);
        let addr: ListenAddr = "127.0.0.1:8080".parse().unwrap();
        let copy = ListenError::Copy {
            name: "http".into(),
            addr: addr.clone(),
            source: emfile(),
        }
        .to_string();
        assert!(
            copy.starts_with(
                "listening on 127.0.0.1:8080, but cannot keep a copy of socket \"http\""
            ) && copy.contains("out of file descriptors")
                && copy.contains("ulimit -n"),
            "{copy}"
        );
        let bind = ListenError::Bind {
            addr,
            source: emfile(),
        }
        .to_string();
        assert!(
            bind.contains("out of file descriptors") && !bind.contains("check the address"),
            "{bind}"
        );
    }

    #[test]
    fn binds_tcp_and_unix_and_reports_addresses_in_use() {
        let l = bind("http", &"127.0.0.1:0".parse().unwrap()).unwrap();
        let ListenAddr::Tcp(sa) = l.local_addr().clone() else {
            panic!()
        };
        assert_ne!(sa.port(), 0);
        let e = bind("http", &ListenAddr::Tcp(sa)).unwrap_err().to_string();
        assert!(e.contains("another process is listening"), "{e}");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let u = bind("http", &ListenAddr::Unix(path.clone())).unwrap();
        let e = bind("http", &ListenAddr::Unix(path.clone()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("another process is listening"), "{e}");
        drop(u);
        // The file stays behind with nobody listening: it is stale and replaced.
        bind("http", &ListenAddr::Unix(path)).unwrap();
    }
}
