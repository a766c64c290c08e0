//! The successor's side: the socket its parent passes connections to, the
//! check that the peer is that parent, and the takers that serve what it
//! takes, by listener name.

use std::collections::HashMap;
use std::io::{self, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use nix::sys::socket::{ControlMessageOwned, MsgFlags, UnixAddr, recvmsg};
use socket2::{Domain, Socket, Type};
use tokio::io::unix::AsyncFd;

use super::{MAX_NAME, MAX_SAVED, REFUSED, TAKEN, VERSION, lock, peer_pid, register};
use crate::notify::NotifyAddr;

/// How long an intake waits for its parent to connect. The parent does so
/// as soon as it reads `READY=1`; one that never does (an older version)
/// leaves the intake to close at this deadline or when it exits.
const INTAKE_DEADLINE: Duration = Duration::from_secs(30);

/// What adopts the connections of one listener in the successor.
pub(crate) trait Taker: Send + Sync {
    /// Whether it takes connections now (not once it is stopping).
    fn accepting(&self) -> bool;
    /// Serves a connection taken over, the saved bytes first.
    fn adopt(&self, fd: OwnedFd, saved: Bytes);
}

/// The takers of a generation, by listener name.
#[derive(Default)]
pub(crate) struct Takers(Mutex<HashMap<String, Arc<dyn Taker>>>);

impl std::fmt::Debug for Takers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(lock(&self.0).keys()).finish()
    }
}

impl Takers {
    /// Connections of `listener` go to `taker` from now on.
    pub(crate) fn register(&self, listener: &str, taker: Arc<dyn Taker>) {
        lock(&self.0).insert(listener.to_owned(), taker);
    }

    /// Whether there is none.
    pub(crate) fn is_empty(&self) -> bool {
        lock(&self.0).is_empty()
    }

    fn get(&self, listener: &str) -> Option<Arc<dyn Taker>> {
        lock(&self.0).get(listener).cloned()
    }
}

/// The successor's side: a socket its parent passes connections to.
#[derive(Debug)]
pub(crate) struct Intake {
    pub(super) listener: AsyncFd<OwnedFd>,
    addr: NotifyAddr,
}

impl Intake {
    /// Binds an intake on a fresh abstract name, which the kernel picks
    /// (autobind): no name to guess or to take first, and no file left in a
    /// shared directory. Whoever connects is checked anyway (see
    /// [`run`](Self::run)).
    ///
    /// Must be called inside a tokio runtime.
    pub(crate) fn bind() -> io::Result<Intake> {
        let sock = Socket::new(Domain::UNIX, Type::SEQPACKET.nonblocking().cloexec(), None)?;
        nix::sys::socket::bind(sock.as_raw_fd(), &UnixAddr::new_unnamed())
            .map_err(io::Error::from)?;
        let bound: UnixAddr =
            nix::sys::socket::getsockname(sock.as_raw_fd()).map_err(io::Error::from)?;
        let name = bound.as_abstract().ok_or_else(|| {
            io::Error::other("the kernel gave the connection intake no abstract name")
        })?;
        let addr = NotifyAddr::Abstract(name.to_vec());
        sock.listen(4)?;
        Ok(Intake {
            listener: register(OwnedFd::from(sock))?,
            addr,
        })
    }

    /// The address for [`CONNECTIONS_FIELD`](crate::upgrade::CONNECTIONS_FIELD).
    pub(crate) fn addr(&self) -> &NotifyAddr {
        &self.addr
    }

    /// Takes the connections process `parent` passes, handing each to the
    /// taker of its listener; returns after one session with the parent,
    /// or when the parent is gone, or at the intake's deadline.
    pub(crate) async fn run(self, parent: u32, takers: Arc<Takers>) {
        let deadline = tokio::time::sleep(INTAKE_DEADLINE);
        tokio::pin!(deadline);
        let parent_gone = async {
            if crate::process::wait_for_exit(parent).await.is_err() {
                // No pidfd (an old kernel): the deadline ends the wait.
                std::future::pending::<()>().await;
            }
        };
        tokio::pin!(parent_gone);
        loop {
            let accepted = tokio::select! {
                _ = &mut deadline => return,
                _ = &mut parent_gone => return,
                r = accept(&self.listener) => r,
            };
            let conn = match accepted {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "connection intake failed; no connections are taken over");
                    return;
                }
            };
            match peer_pid(&conn) {
                Ok(pid) if pid == parent => {}
                Ok(pid) => {
                    tracing::warn!(
                        pid,
                        parent,
                        "ignoring a connection to the intake from a process that is not the parent"
                    );
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot check the intake's peer; ignoring it");
                    continue;
                }
            }
            let conn = match register(conn) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "connection intake failed; no connections are taken over");
                    return;
                }
            };
            let (taken, refused) = session(&conn, &takers).await;
            tracing::info!(
                taken,
                refused,
                "took over idle connections from the old generation"
            );
            return;
        }
    }
}

async fn accept(listener: &AsyncFd<OwnedFd>) -> io::Result<OwnedFd> {
    loop {
        let mut guard = listener.readable().await?;
        match guard.try_io(|l| {
            let fd = nix::sys::socket::accept4(
                l.get_ref().as_raw_fd(),
                nix::sys::socket::SockFlag::SOCK_CLOEXEC
                    | nix::sys::socket::SockFlag::SOCK_NONBLOCK,
            )
            .map_err(io::Error::from)?;
            // SAFETY: accept4 just returned this fd, and nothing else owns it.
            Ok(unsafe { OwnedFd::from_raw_fd(fd) })
        }) {
            Ok(r) => return r,
            Err(_would_block) => continue,
        }
    }
}

/// One message: the socket, the listener's name, the saved bytes.
pub(super) struct Message {
    pub(super) fd: OwnedFd,
    pub(super) listener: String,
    pub(super) saved: Bytes,
}

/// Receives and answers until the parent's end; (taken, refused).
async fn session(conn: &AsyncFd<OwnedFd>, takers: &Takers) -> (usize, usize) {
    let (mut taken, mut refused) = (0, 0);
    let mut buf = vec![0u8; 2 + MAX_NAME + MAX_SAVED];
    loop {
        let message = match receive(conn, &mut buf).await {
            Ok(Some(m)) => m,
            Ok(None) => return (taken, refused),
            Err(e) => {
                tracing::warn!(error = %e, "connection intake: the old generation's message is unreadable; taking no more");
                return (taken, refused);
            }
        };
        let taker = takers.get(&message.listener).filter(|t| t.accepting());
        let answer = if taker.is_some() { TAKEN } else { REFUSED };
        // Answered before anything is read from the socket: if the answer
        // cannot be sent, the old generation still serves it (it gave up
        // on us), and our copy just closes.
        if let Err(e) = send_answer(conn, answer).await {
            tracing::warn!(error = %e, "connection intake: the old generation stopped listening; taking no more");
            return (taken, refused);
        }
        match taker {
            Some(t) => {
                taken += 1;
                t.adopt(message.fd, message.saved);
            }
            None => {
                refused += 1;
                tracing::debug!(listener = %message.listener, "refused a connection: no service for this listener, or stopping");
            }
        }
    }
}

async fn send_answer(conn: &AsyncFd<OwnedFd>, answer: u8) -> io::Result<()> {
    loop {
        let mut guard = conn.writable().await?;
        match guard.try_io(|c| {
            nix::sys::socket::send(
                c.get_ref().as_raw_fd(),
                &[answer],
                MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT,
            )
            .map_err(io::Error::from)
        }) {
            Ok(r) => return r.map(drop),
            Err(_would_block) => continue,
        }
    }
}

async fn receive(conn: &AsyncFd<OwnedFd>, buf: &mut [u8]) -> io::Result<Option<Message>> {
    loop {
        let mut guard = conn.readable().await?;
        match guard.try_io(|c| receive_now(c.get_ref().as_raw_fd(), buf)) {
            Ok(r) => return r,
            Err(_would_block) => continue,
        }
    }
}

pub(super) fn receive_now(fd: RawFd, buf: &mut [u8]) -> io::Result<Option<Message>> {
    let mut cmsg = nix::cmsg_space!([RawFd; 4]);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<UnixAddr>(
        fd,
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(io::Error::from)?;
    let mut fds = Vec::new();
    for c in msg.cmsgs().map_err(io::Error::from)? {
        if let ControlMessageOwned::ScmRights(received) = c {
            // SAFETY: the kernel just installed these fds in this process for us.
            fds.extend(
                received
                    .into_iter()
                    .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
            );
        }
    }
    let (len, flags) = (msg.bytes, msg.flags);
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    if len == 0 && fds.is_empty() {
        return Ok(None);
    }
    if flags.intersects(MsgFlags::MSG_TRUNC | MsgFlags::MSG_CTRUNC) {
        return Err(bad("a message longer than the protocol allows"));
    }
    let data = &buf[..len];
    if data.len() < 2 || data[0] != VERSION {
        return Err(bad("a message of another protocol version"));
    }
    let name_len = usize::from(data[1]);
    let name = data
        .get(2..2 + name_len)
        .and_then(|n| std::str::from_utf8(n).ok())
        .ok_or_else(|| bad("a message with a malformed listener name"))?
        .to_owned();
    let saved = Bytes::copy_from_slice(&data[2 + name_len..]);
    let mut fds = fds.into_iter();
    match (fds.next(), fds.next()) {
        (Some(fd), None) => Ok(Some(Message {
            fd,
            listener: name,
            saved,
        })),
        _ => Err(bad("a message without exactly one socket")),
    }
}
