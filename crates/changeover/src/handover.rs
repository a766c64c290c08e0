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

use std::collections::{HashMap, VecDeque};
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use nix::sys::socket::{
    ControlMessage, ControlMessageOwned, MsgFlags, Shutdown, UnixAddr, getsockopt, recvmsg,
    sendmsg, shutdown, sockopt::PeerCredentials,
};
use socket2::{Domain, SockAddr, Socket, Type};
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, oneshot};

use crate::notify::NotifyAddr;

/// How long the old generation waits for the successor to take its
/// connections; what it has not taken by then is closed the old way.
pub(crate) const DEADLINE: Duration = Duration::from_secs(2);

/// The most bytes already read that may go with a connection. An idle
/// connection has at most a partly received request head; one with more
/// (pipelined requests) is closed the old way instead.
pub(crate) const MAX_SAVED: usize = 32 * 1024;

/// How long an intake waits for its parent to connect. The parent does so
/// as soon as it reads `READY=1`; one that never does (an older version)
/// leaves the intake to close at this deadline or when it exits.
const INTAKE_DEADLINE: Duration = Duration::from_secs(30);

/// The first byte of every message: the version of this protocol.
const VERSION: u8 = 1;
/// The answers.
const TAKEN: u8 = 1;
const REFUSED: u8 = 0;
/// Listener names are at most 255 bytes (systemd's limit for `LISTEN_FDNAMES`).
const MAX_NAME: usize = 255;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding this lock leaves plain data behind; keep going.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn sockaddr(addr: &NotifyAddr) -> io::Result<SockAddr> {
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

fn register(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: an OwnedFd keeps its fd open and unchanged until it is
    // dropped, which is when the AsyncFd that owns it is.
    Ok(unsafe { AsyncFd::register(fd) }?)
}

fn peer_pid(fd: &impl std::os::fd::AsFd) -> io::Result<u32> {
    let cred = getsockopt(fd, PeerCredentials).map_err(io::Error::from)?;
    u32::try_from(cred.pid()).map_err(|_| io::Error::other("the peer has no pid"))
}

/// A connection given back: the successor did not take it.
#[derive(Debug)]
pub(crate) struct Refused {
    /// The connected socket, still open.
    pub(crate) fd: OwnedFd,
    /// The bytes already read from it.
    pub(crate) saved: Bytes,
}

struct Offer {
    listener: Arc<str>,
    fd: OwnedFd,
    saved: Bytes,
    reply: oneshot::Sender<Result<(), Refused>>,
}

impl Offer {
    fn refuse(self) {
        // When the connection task that offered it is gone (cut), the
        // socket closes here.
        let _closed_if_nobody_waits = self.reply.send(Err(Refused {
            fd: self.fd,
            saved: self.saved,
        }));
    }

    fn taken(self) {
        // Our copy of the socket closes here; the successor's keeps it open.
        let _nobody_waits_after_a_cut = self.reply.send(Ok(()));
    }
}

/// The old generation's side: offers connections to the successor, one
/// at a time or many at once, and learns which it took.
#[derive(Debug)]
pub(crate) struct Outbox {
    tx: mpsc::UnboundedSender<Offer>,
}

impl std::fmt::Debug for Offer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Offer")
            .field("listener", &self.listener)
            .finish_non_exhaustive()
    }
}

impl Outbox {
    /// Connects to the intake at `addr`, which must be a socket of process
    /// `successor`; offers are answered until [`DEADLINE`] from now.
    ///
    /// Must be called inside a tokio runtime.
    pub(crate) fn connect(addr: &NotifyAddr, successor: u32) -> io::Result<Outbox> {
        Outbox::connect_with_deadline(addr, successor, DEADLINE)
    }

    fn connect_with_deadline(
        addr: &NotifyAddr,
        successor: u32,
        deadline: Duration,
    ) -> io::Result<Outbox> {
        let sock = Socket::new(Domain::UNIX, Type::SEQPACKET.nonblocking().cloexec(), None)?;
        // A Unix socket connects at once, or fails (EAGAIN: its backlog is
        // full, which the one parent of an intake never causes).
        sock.connect(&sockaddr(addr)?)?;
        let peer = peer_pid(&sock)?;
        if peer != successor {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "the connection socket {addr} belongs to pid {peer}, not to the successor {successor}"
                ),
            ));
        }
        let sock = register(OwnedFd::from(sock))?;
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(courier(sock, rx, deadline));
        Ok(Outbox { tx })
    }

    /// Offers a connection accepted on `listener`, with the bytes already
    /// read from it. `None` once the successor took it (this side's copy of
    /// the socket is closed then); else the connection, given back.
    pub(crate) async fn offer(
        &self,
        listener: &Arc<str>,
        fd: OwnedFd,
        saved: Bytes,
    ) -> Option<Refused> {
        if listener.len() > MAX_NAME || saved.len() > MAX_SAVED {
            return Some(Refused { fd, saved });
        }
        let (reply, answer) = oneshot::channel();
        let offer = Offer {
            listener: listener.clone(),
            fd,
            saved,
            reply,
        };
        if let Err(mpsc::error::SendError(offer)) = self.tx.send(offer) {
            return Some(Refused {
                fd: offer.fd,
                saved: offer.saved,
            });
        }
        // The courier answers every offer; it drops one unanswered only
        // when the runtime shuts down, and then the socket is gone anyway.
        answer.await.unwrap_or(Ok(())).err()
    }
}

/// Sends offers over `sock` and matches the answers to them, until the
/// deadline or the successor's end; then gives back what it holds and
/// refuses whatever comes later.
async fn courier(
    sock: AsyncFd<OwnedFd>,
    mut rx: mpsc::UnboundedReceiver<Offer>,
    deadline: Duration,
) {
    let give_up_at = tokio::time::sleep(deadline);
    tokio::pin!(give_up_at);
    let mut queued: VecDeque<Offer> = VecDeque::new();
    let mut sent: VecDeque<Offer> = VecDeque::new();
    let (mut taken, mut offered) = (0usize, 0usize);
    let mut open = true;
    let why = loop {
        if !open && queued.is_empty() && sent.is_empty() {
            break String::new();
        }
        tokio::select! {
            biased;
            _ = &mut give_up_at => break "the successor did not take them in time".to_owned(),
            guard = sock.readable() => {
                let mut guard = match guard {
                    Ok(g) => g,
                    Err(e) => break format!("the connection socket failed: {e}"),
                };
                match guard.try_io(|s| read_answers(s.get_ref().as_raw_fd(), &mut sent, &mut taken)) {
                    Ok(Ok(())) => break "the successor closed its connection socket".to_owned(),
                    Ok(Err(e)) => break format!("the connection socket failed: {e}"),
                    Err(_would_block) => {}
                }
            }
            guard = sock.writable(), if !queued.is_empty() => {
                let mut guard = match guard {
                    Ok(g) => g,
                    Err(e) => break format!("the connection socket failed: {e}"),
                };
                let mut failed = None;
                while let Some(offer) = queued.pop_front() {
                    match guard.try_io(|s| send_offer(s.get_ref().as_raw_fd(), &offer)) {
                        Ok(Ok(())) => sent.push_back(offer),
                        Ok(Err(e)) => {
                            queued.push_front(offer);
                            failed = Some(e);
                            break;
                        }
                        Err(_would_block) => {
                            queued.push_front(offer);
                            break;
                        }
                    }
                }
                if let Some(e) = failed {
                    break format!("could not pass a connection: {e}");
                }
            }
            offer = rx.recv(), if open => match offer {
                Some(offer) => {
                    offered += 1;
                    queued.push_back(offer);
                }
                // The outbox is gone: nothing more will come.
                None => open = false,
            },
        }
    };
    // Whatever the successor answers from now on fails on its side (so it
    // serves none of those); the answers already here still count.
    let fd = sock.get_ref().as_raw_fd();
    if !sent.is_empty() {
        match shutdown(fd, Shutdown::Read) {
            Ok(()) => {
                if let Err(e) = read_answers(fd, &mut sent, &mut taken) {
                    if e.kind() != io::ErrorKind::WouldBlock {
                        tracing::debug!(error = %e, "reading the last answers");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not shut the connection socket"),
        }
    }
    drop(sock);
    let given_back = sent.len() + queued.len();
    if given_back > 0 {
        tracing::warn!(
            taken,
            given_back,
            "{why}; closing the connections it did not take the old way"
        );
    } else if !why.is_empty() {
        tracing::debug!(taken, offered, "{why}");
    }
    for offer in sent.into_iter().chain(queued) {
        offer.refuse();
    }
    while let Some(offer) = rx.recv().await {
        offer.refuse();
    }
}

fn send_offer(fd: RawFd, offer: &Offer) -> io::Result<()> {
    let header = [VERSION, offer.listener.len() as u8];
    let iov = [
        IoSlice::new(&header),
        IoSlice::new(offer.listener.as_bytes()),
        IoSlice::new(&offer.saved),
    ];
    let fds = [offer.fd.as_raw_fd()];
    // A seqpacket send is all or nothing.
    sendmsg::<UnixAddr>(
        fd,
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT,
        None,
    )
    .map_err(io::Error::from)?;
    Ok(())
}

/// Reads every answer there is: `Err(WouldBlock)` once they are all read,
/// `Ok(())` at the successor's end.
fn read_answers(fd: RawFd, sent: &mut VecDeque<Offer>, taken: &mut usize) -> io::Result<()> {
    loop {
        let mut answers = [0u8; 256];
        let n = nix::sys::socket::recv(fd, &mut answers, MsgFlags::MSG_DONTWAIT)
            .map_err(io::Error::from)?;
        if n == 0 {
            return Ok(());
        }
        for &answer in &answers[..n] {
            let offer = sent.pop_front().ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the successor answered an offer never made",
                )
            })?;
            if answer == TAKEN {
                *taken += 1;
                offer.taken();
            } else {
                offer.refuse();
            }
        }
    }
}

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
    listener: AsyncFd<OwnedFd>,
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
struct Message {
    fd: OwnedFd,
    listener: String,
    saved: Bytes,
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

fn receive_now(fd: RawFd, buf: &mut [u8]) -> io::Result<Option<Message>> {
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

#[cfg(test)]
mod tests;
