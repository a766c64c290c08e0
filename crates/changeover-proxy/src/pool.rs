//! Upstream connections of one generation: connect, keep idle ones for reuse
//! (newest first), and know, for a failed request, whether any byte of a
//! response had arrived.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::HeaderValue;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

use crate::Config;
use crate::body::ReqBody;
use crate::routes::Upstream;

/// What the pool and the request in flight on a connection share.
#[derive(Debug)]
pub(crate) struct ConnState {
    /// Bytes read from the upstream so far. HTTP/1.1 has one exchange at a
    /// time, so bytes read after a request was handed over are its response.
    read: AtomicU64,
    /// Whether the request body of the current exchange was sent whole: a
    /// connection whose request body is still streaming is not reusable.
    pub(crate) body_sent: AtomicBool,
}

impl ConnState {
    pub(crate) fn bytes_read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }
}

/// One upstream connection, with the handle hyper sends requests through.
pub(crate) struct Conn {
    pub(crate) sender: http1::SendRequest<ReqBody>,
    pub(crate) state: Arc<ConnState>,
    /// Taken from the pool (it served a request before): a failure on it may
    /// be the upstream's close of an idle connection, which is worth a retry.
    pub(crate) reused: bool,
}

struct Idle {
    conn: Conn,
    since: Instant,
}

/// Why a connection to the upstream could not be made.
#[derive(Debug)]
pub(crate) enum ConnectError {
    Io(io::Error),
    Timeout(Duration),
    Handshake(hyper::Error),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Io(e) => write!(f, "{e}"),
            ConnectError::Timeout(d) => write!(f, "no connection within {d:?}"),
            ConnectError::Handshake(e) => write!(f, "{e}"),
        }
    }
}

/// The idle connections of one generation.
pub(crate) struct Pool {
    upstream: Upstream,
    /// `Host` for a request that has none (HTTP/1.0): the upstream's address.
    host: HeaderValue,
    /// Newest last: reusing the most recently used connection keeps the set
    /// of warm connections small and lets the others expire from the front.
    idle: Mutex<VecDeque<Idle>>,
    /// Set once the generation is gone: nothing is kept any more.
    closed: AtomicBool,
    max_idle: usize,
    idle_timeout: Duration,
    connect_timeout: Duration,
}

impl Pool {
    pub(crate) fn new(upstream: Upstream, config: &Config) -> Pool {
        let host = match &upstream {
            Upstream::Tcp(a) => HeaderValue::try_from(a.to_string()),
            Upstream::Unix(_) => Ok(HeaderValue::from_static("localhost")),
        }
        .unwrap_or_else(|_| HeaderValue::from_static("localhost"));
        Pool {
            upstream,
            host,
            idle: Mutex::new(VecDeque::new()),
            closed: AtomicBool::new(false),
            max_idle: config.pool_max_idle,
            idle_timeout: config.pool_idle_timeout,
            connect_timeout: config.connect_timeout,
        }
    }

    pub(crate) fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    pub(crate) fn host(&self) -> &HeaderValue {
        &self.host
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Idle>> {
        // Pushes and pops only: a panic elsewhere cannot leave it inconsistent.
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An idle connection ready for a request, or `None` (then connect).
    pub(crate) async fn checkout(&self, now: Instant) -> Option<Conn> {
        loop {
            let idle = {
                let mut idle = self.lock();
                let top = idle.pop_back()?;
                if now.saturating_duration_since(top.since) > self.idle_timeout {
                    // Newest last: if the newest expired, all of them did.
                    idle.clear();
                    return None;
                }
                top
            };
            let mut conn = idle.conn;
            if conn.sender.is_ready() {
                return Some(conn);
            }
            if conn.sender.is_closed() {
                continue;
            }
            // Checked in when its exchange ended; hyper's connection task
            // marks it ready on its next turn.
            if conn.sender.ready().await.is_ok() {
                return Some(conn);
            }
        }
    }

    /// Keeps `conn` for the next request, unless the pool is full or closed
    /// or the connection is not reusable.
    pub(crate) fn checkin(&self, mut conn: Conn, now: Instant) {
        if self.closed.load(Ordering::Relaxed)
            || conn.sender.is_closed()
            || !conn.state.body_sent.load(Ordering::Acquire)
        {
            return;
        }
        conn.reused = true;
        let mut idle = self.lock();
        // Again under the lock: `clear` may have emptied the pool since.
        if self.closed.load(Ordering::Relaxed) {
            return;
        }
        // The oldest go once expired, so a burst's extra connections do not
        // linger (closed by the child, or open) under a steady lighter load.
        while idle
            .front()
            .is_some_and(|i| now.saturating_duration_since(i.since) > self.idle_timeout)
        {
            idle.pop_front();
        }
        if idle.len() < self.max_idle {
            idle.push_back(Idle { conn, since: now });
        }
    }

    /// Drops every idle connection and keeps none from now on.
    pub(crate) fn clear(&self) {
        // Set before taking the lock, read by `checkin` under it: a
        // connection checked in concurrently is either drained here or
        // refused there.
        self.closed.store(true, Ordering::Relaxed);
        let drained = std::mem::take(&mut *self.lock());
        drop(drained);
    }

    /// How many connections are idle now.
    pub(crate) fn idle_count(&self) -> usize {
        self.lock().len()
    }

    /// A new connection, its hyper connection task spawned.
    pub(crate) async fn connect(&self) -> Result<Conn, ConnectError> {
        let stream = tokio::time::timeout(self.connect_timeout, async {
            match &self.upstream {
                Upstream::Tcp(a) => {
                    let s = TcpStream::connect(a).await?;
                    // Requests are small writes; without this each waits for an ACK.
                    if let Err(e) = s.set_nodelay(true) {
                        tracing::debug!(error = %e, "upstream: could not set TCP_NODELAY");
                    }
                    Ok::<_, io::Error>(Stream::Tcp(s))
                }
                Upstream::Unix(p) => Ok(Stream::Unix(UnixStream::connect(p).await?)),
            }
        })
        .await
        .map_err(|_| ConnectError::Timeout(self.connect_timeout))?
        .map_err(ConnectError::Io)?;
        let state = Arc::new(ConnState {
            read: AtomicU64::new(0),
            body_sent: AtomicBool::new(true),
        });
        let io = TokioIo::new(Counted {
            stream,
            state: state.clone(),
        });
        let (sender, conn) = http1::Builder::new()
            .handshake(io)
            .await
            .map_err(ConnectError::Handshake)?;
        tokio::spawn(async move {
            // Ends when the upstream closes, or when the sender is dropped
            // and no exchange is left; an upgrade hands the socket on.
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!(error = %e, "upstream connection ended with an error");
            }
        });
        Ok(Conn {
            sender,
            state,
            reused: false,
        })
    }
}

/// An upstream stream, TCP or Unix.
enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// The stream as hyper sees it, counting the bytes it reads.
struct Counted {
    stream: Stream,
    state: Arc<ConnState>,
}

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match &mut $self.get_mut().stream {
            Stream::Tcp($s) => {
                let $s = Pin::new($s);
                $e
            }
            Stream::Unix($s) => {
                let $s = Pin::new($s);
                $e
            }
        }
    };
}

impl AsyncRead for Counted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = self.get_mut();
        let r = match &mut this.stream {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
        };
        let n = buf.filled().len() - before;
        if n > 0 {
            // Only this connection's task writes it; Relaxed is enough
            // because the reader learns of a failure through hyper's
            // channel, which synchronises.
            this.state.read.fetch_add(n as u64, Ordering::Relaxed);
        }
        r
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => s.poll_write(cx, buf))
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => s.poll_write_vectored(cx, bufs))
    }
    fn is_write_vectored(&self) -> bool {
        true
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_flush(cx))
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_shutdown(cx))
    }
}
