//! Listening sockets: inherited through `LISTEN_FDS`, or bound here.
//!
//! A process started by systemd socket activation, by `changeover run`, or by
//! its own parent during an upgrade finds its sockets at fd 3, 4, … with
//! `LISTEN_FDS` (how many), `LISTEN_PID` (which process they are for) and
//! optionally `LISTEN_FDNAMES` (colon-separated names). Asking for a listener
//! by name takes the inherited socket of that name; otherwise the address is
//! bound. `LISTEN_PID` naming another process means the sockets are not ours
//! (they leaked through an intermediate process) and they are left alone.
//!
//! The parts: `inherit` (reading `LISTEN_*` and taking the fds), `bind`
//! (binding an address, a stale Unix socket file replaced), `error` (why a
//! listener could not be had); the [`Listener`] they all make, and its
//! tokio side, are here.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener as StdUnixListener;

use socket2::Socket;
use tokio_util::either::Either;

use crate::addr::ListenAddr;

mod bind;
mod error;
mod inherit;
#[cfg(test)]
mod tests;

pub use bind::bind;
pub use error::ListenError;
pub use inherit::{Inherited, ListenEnv};

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

impl AsRawFd for Listener {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}
