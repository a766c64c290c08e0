//! The connection's socket: an accepted (or handed over) stream, the wrapper
//! hyper reads and writes it through, which gives it back instead of
//! closing it, and the way to and from a bare fd for a hand-over.

use std::io;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;
use tokio_util::either::Either;

/// An accepted stream: TCP on the left, Unix on the right.
pub(crate) type Stream = Either<tokio::net::TcpStream, tokio::net::UnixStream>;

/// Which kind of [`Stream`] a socket is, to make one from a bare fd.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Tcp,
    Unix,
}

/// The stream while hyper serves it, with the bytes read before hyper had
/// it served first. Hyper closes what it drops; this one, dropped, goes
/// back to the connection task instead, so that the close can be made
/// polite (write side first, see `connection::linger`).
pub(super) struct ReturnedOnDrop {
    stream: Option<Stream>,
    back: Option<oneshot::Sender<Stream>>,
    /// Read before hyper had the stream (by the protocol sniff, or by a
    /// parent that handed the connection over); hyper reads these first.
    saved: Bytes,
    /// Set by the connection task before it asks hyper to stop so as to
    /// hand the connection over: hyper's closing then leaves the socket
    /// open (a later `linger` still shuts it down when it is not handed
    /// over).
    stopping: Arc<AtomicBool>,
    /// Whether anything was written once `stopping` was set: a response to
    /// a request that was under way, which carries `Connection: close`
    /// (draining began before), so the connection is not handed over.
    wrote_while_stopping: bool,
}

impl ReturnedOnDrop {
    pub(super) fn new(
        stream: Stream,
        saved: Bytes,
        back: oneshot::Sender<Stream>,
        stopping: Arc<AtomicBool>,
    ) -> ReturnedOnDrop {
        ReturnedOnDrop {
            stream: Some(stream),
            back: Some(back),
            saved,
            stopping,
            wrote_while_stopping: false,
        }
    }

    fn stream(self: Pin<&mut Self>) -> Pin<&mut Stream> {
        Pin::new(
            self.get_mut()
                .stream
                .as_mut()
                .expect("present until dropped"),
        )
    }

    /// Takes the stream back from a connection hyper is done with: the
    /// stream, the saved bytes hyper did not read, and whether anything was
    /// written while stopping.
    pub(super) fn into_parts(mut self) -> (Stream, Bytes, bool) {
        let stream = self.stream.take().expect("present until dropped");
        (
            stream,
            std::mem::take(&mut self.saved),
            self.wrote_while_stopping,
        )
    }

    /// Serves the saved bytes; out of line, so later reads pay one branch.
    #[cold]
    #[inline(never)]
    fn read_saved(&mut self, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let n = self.saved.len().min(buf.remaining());
        buf.put_slice(&self.saved.split_to(n));
        if self.saved.is_empty() {
            // An empty slice still holds the whole first-read buffer.
            self.saved = Bytes::new();
        }
        Poll::Ready(Ok(()))
    }

    fn note_write(&mut self) {
        if !self.wrote_while_stopping {
            self.wrote_while_stopping = self.stopping.load(Ordering::Relaxed);
        }
    }
}

impl Drop for ReturnedOnDrop {
    fn drop(&mut self) {
        if let (Some(stream), Some(back)) = (self.stream.take(), self.back.take()) {
            // If the connection task is gone (cut), the stream just closes.
            let _closed_if_nobody_waits = back.send(stream);
        }
    }
}

impl AsyncRead for ReturnedOnDrop {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.saved.is_empty() {
            return self.read_saved(buf);
        }
        self.stream().poll_read(cx, buf)
    }
}

impl AsyncWrite for ReturnedOnDrop {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.note_write();
        self.stream().poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.note_write();
        self.stream().poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        // Both kinds of stream write vectored.
        true
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.stream().poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.stopping.load(Ordering::Relaxed) {
            return Poll::Ready(Ok(()));
        }
        self.stream().poll_shutdown(cx)
    }
}

pub(super) fn into_fd(stream: Stream) -> io::Result<(OwnedFd, Kind)> {
    // Off the runtime first: a registration left behind would keep
    // reporting the successor's traffic on this socket to this process.
    Ok(match stream {
        Either::Left(tcp) => (tcp.into_std()?.into(), Kind::Tcp),
        Either::Right(unix) => (unix.into_std()?.into(), Kind::Unix),
    })
}

/// A [`Stream`] of a connected socket handed over (or given back).
pub(crate) fn from_fd(fd: OwnedFd, kind: Kind) -> io::Result<Stream> {
    Ok(match kind {
        Kind::Tcp => {
            let s = std::net::TcpStream::from(fd);
            s.set_nonblocking(true)?;
            Either::Left(tokio::net::TcpStream::from_std(s)?)
        }
        Kind::Unix => {
            let s = std::os::unix::net::UnixStream::from(fd);
            s.set_nonblocking(true)?;
            Either::Right(tokio::net::UnixStream::from_std(s)?)
        }
    })
}
