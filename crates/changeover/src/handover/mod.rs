//! Passing connections from one generation to the next: the sockets of
//! idle HTTP/1.1 keep-alive connections, each with the bytes already read
//! from it, so that a self-upgrade closes none of them.
//!
//! # The protocol
//!
//! 1. A successor started by a changeover parent (it has the parent's
//!    handover `NOTIFY_SOCKET`) that serves HTTP binds an [`Intake`]: a
//!    `SOCK_SEQPACKET` Unix socket on a fresh abstract name. Its `READY=1`
//!    to the parent carries the address in a field of its own,
//!    [`CONNECTIONS_FIELD`](crate::upgrade::CONNECTIONS_FIELD)
//!    (`X_CHANGEOVER_CONNECTIONS=@…`). A successor that does not speak the
//!    protocol (an older version, another program) sends no such field and
//!    gets no connection: the old generation closes them as it always did.
//! 2. The old generation connects an [`Outbox`] to that address and checks
//!    the peer (`SO_PEERCRED`): it must be the successor's pid, which the
//!    old generation knows since it started it. The intake checks its peer
//!    too: it must be its parent.
//! 3. For each connection one message goes over: the connected socket as
//!    `SCM_RIGHTS`, the name of the listener it was accepted on, and the
//!    bytes already read from it (a request head partly received). The
//!    successor answers each message, in order, with one byte: taken (it
//!    serves the connection from now on, the saved bytes first) or refused
//!    (no service on a listener of that name, or it is stopping itself).
//!    It answers before it reads anything from the socket, and serves only
//!    what it could answer for.
//! 4. The old generation keeps its own copy of each socket until the answer
//!    comes, so a successor that dies or hangs loses nothing: what it did
//!    not take is given back and closed the old way (lame duck, write side
//!    first). The wait is bounded ([`DEADLINE`]); at the deadline the old
//!    generation shuts its reading side, which makes the successor's later
//!    answers fail (so it serves none of those), reads the answers already
//!    there, and gives back the rest.
//!
//! This module knows sockets, bytes and listener names only; what a
//! connection is, and when one is idle, is the serve path's business.
//!
//! The parts: `outbox` (the old generation's side: offers, answers, the
//! deadline) and `intake` (the successor's side: the socket it binds, the
//! takers by listener name); the wire format's constants and the socket
//! helpers both use are here.

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use socket2::SockAddr;
use tokio::io::unix::AsyncFd;

use crate::notify::NotifyAddr;

mod intake;
mod outbox;
#[cfg(test)]
mod tests;

pub(crate) use intake::{Intake, Taker, Takers};
pub(crate) use outbox::{Outbox, Refused};

/// How long the old generation waits for the successor to take its
/// connections; what it has not taken by then is closed the old way.
pub(crate) const DEADLINE: Duration = Duration::from_secs(2);

/// The most bytes already read that may go with a connection. An idle
/// connection has at most a partly received request head; one with more
/// (pipelined requests) is closed the old way instead.
pub(crate) const MAX_SAVED: usize = 32 * 1024;

/// The first byte of every message: the version of this protocol.
pub(super) const VERSION: u8 = 1;
/// The answers.
pub(super) const TAKEN: u8 = 1;
pub(super) const REFUSED: u8 = 0;
/// Listener names are at most 255 bytes (systemd's limit for `LISTEN_FDNAMES`).
pub(super) const MAX_NAME: usize = 255;

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding this lock leaves plain data behind; keep going.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(super) fn sockaddr(addr: &NotifyAddr) -> io::Result<SockAddr> {
    match addr {
        NotifyAddr::Path(p) => SockAddr::unix(p),
        NotifyAddr::Abstract(name) => {
            // socket2 reads a leading NUL as an abstract name.
            let mut raw = vec![0u8];
            raw.extend_from_slice(name);
            SockAddr::unix(std::ffi::OsStr::from_bytes(&raw))
        }
    }
}

pub(super) fn register(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: an OwnedFd keeps its fd open and unchanged until it is
    // dropped, which is when the AsyncFd that owns it is.
    Ok(unsafe { AsyncFd::register(fd) }?)
}

pub(super) fn peer_pid(fd: &impl std::os::fd::AsFd) -> io::Result<u32> {
    let cred = getsockopt(fd, PeerCredentials).map_err(io::Error::from)?;
    u32::try_from(cred.pid()).map_err(|_| io::Error::other("the peer has no pid"))
}
