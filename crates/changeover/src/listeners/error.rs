//! Why a listener could not be had, each error naming the socket, the
//! problem and what to do.

use std::fmt;
use std::io;
use std::os::fd::RawFd;

use crate::addr::ListenAddr;

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
