//! One connection to an upstream: the socket and its buffers.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

use super::Upstream;
use super::head::Field;

/// How much room a read asks for: a typical response head and a small
/// body in one read; large bodies are read this much at a time.
pub(crate) const READ_SIZE: usize = 16 * 1024;

/// An upstream socket, TCP or Unix.
pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    /// A new connection to `upstream`.
    pub(crate) async fn connect(upstream: &Upstream) -> io::Result<Stream> {
        match upstream {
            Upstream::Tcp(a) => {
                let s = TcpStream::connect(a).await?;
                // Requests are small writes; without this each waits for an ACK.
                if let Err(e) = s.set_nodelay(true) {
                    tracing::debug!(error = %e, "upstream: could not set TCP_NODELAY");
                }
                Ok(Stream::Tcp(s))
            }
            Upstream::Unix(p) => Ok(Stream::Unix(UnixStream::connect(p).await?)),
        }
    }

    /// Reads what is there into `buf` without waiting: `WouldBlock` when
    /// nothing is (and then without a system call if the reactor saw
    /// nothing since the last `WouldBlock`).
    fn try_read_buf(&self, buf: &mut BytesMut) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.try_read_buf(buf),
            Stream::Unix(s) => s.try_read_buf(buf),
        }
    }

    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Stream::Tcp(s) => s.poll_read_ready(cx),
            Stream::Unix(s) => s.poll_read_ready(cx),
        }
    }

    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.try_write_vectored(bufs),
            Stream::Unix(s) => s.try_write_vectored(bufs),
        }
    }

    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Stream::Tcp(s) => s.poll_write_ready(cx),
            Stream::Unix(s) => s.poll_write_ready(cx),
        }
    }

    /// Reads into `buf` (which must have spare room); `Ok(0)` is EOF.
    pub(crate) fn poll_read_buf(
        &self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
    ) -> Poll<io::Result<usize>> {
        loop {
            match self.try_read_buf(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    ready!(self.poll_read_ready(cx))?;
                }
                r => return Poll::Ready(r),
            }
        }
    }

    /// Writes some of `bufs`, in order; how much.
    pub(crate) fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        loop {
            match self.try_write_vectored(bufs) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    ready!(self.poll_write_ready(cx))?;
                }
                r => return Poll::Ready(r),
            }
        }
    }
}

// For the tunnel of an upgraded connection, which copies with tokio's helpers.
impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }
    fn is_write_vectored(&self) -> bool {
        true
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// One upstream connection: HTTP/1.1, one exchange at a time.
pub(crate) struct Conn {
    pub(crate) stream: Stream,
    /// What was read and not consumed yet.
    pub(crate) rbuf: BytesMut,
    /// The request head being written (kept for its capacity).
    pub(crate) wbuf: Vec<u8>,
    /// Taken from the pool (it served a request before): a failure on it may
    /// be the upstream's close of an idle connection, which is worth a retry.
    pub(crate) reused: bool,
    /// Something went wrong mid-exchange (a request body not taken whole):
    /// never to be reused.
    pub(crate) broken: bool,
    /// Scratch room for parsing response heads, kept for its capacity.
    pub(crate) fields: Vec<Field>,
}

impl Conn {
    pub(crate) fn new(stream: Stream) -> Conn {
        Conn {
            stream,
            rbuf: BytesMut::new(),
            wbuf: Vec::new(),
            reused: false,
            broken: false,
            fields: Vec::new(),
        }
    }

    /// Makes room for the next read: in the buffer as it is when it has
    /// enough, else by taking back the room of responses that are gone
    /// (heads and bodies are split off it and shared, not copied), else in
    /// a new buffer.
    pub(crate) fn reserve(&mut self) {
        if self.rbuf.capacity() - self.rbuf.len() < READ_SIZE / 4
            && !self.rbuf.try_reclaim(READ_SIZE)
        {
            self.rbuf.reserve(READ_SIZE);
        }
    }

    /// Whether an idle connection can take a request: the upstream neither
    /// closed it nor sent anything since its last response. A read that
    /// would block says so; it also leaves the socket's readiness cleared,
    /// so the read for the response waits without a wasted system call.
    pub(crate) fn still_idle(&mut self) -> bool {
        self.reserve();
        match self.stream.try_read_buf(&mut self.rbuf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => true,
            // EOF (closed while idle), bytes nobody asked for, or an error.
            _ => false,
        }
    }

    /// Writes all of `wbuf` (the request head).
    pub(crate) fn poll_write_head(
        &mut self,
        cx: &mut Context<'_>,
        written: &mut usize,
    ) -> Poll<io::Result<()>> {
        while *written < self.wbuf.len() {
            let n = ready!(
                self.stream
                    .poll_write_vectored(cx, &[IoSlice::new(&self.wbuf[*written..])])
            )?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(()))
    }
}
