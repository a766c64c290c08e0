//! The old generation's side: it offers each idle connection to the
//! successor, one message each, keeps its own copy until the answer, and
//! gives back what is not taken by the deadline.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use nix::sys::socket::{ControlMessage, MsgFlags, Shutdown, UnixAddr, sendmsg, shutdown};
use socket2::{Domain, Socket, Type};
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, oneshot};

use super::{DEADLINE, MAX_NAME, MAX_SAVED, TAKEN, VERSION, peer_pid, register, sockaddr};
use crate::notify::NotifyAddr;

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

    pub(super) fn connect_with_deadline(
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
