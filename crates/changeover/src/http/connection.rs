//! One connection through the [drain protocol](crate::drain#one-connection):
//! serve it, give it a lame-duck window once accepting stopped, then close it
//! politely — write side first, socket last.

use std::future::{Future, poll_fn};
use std::io;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::oneshot;
use tokio_util::either::Either;

use super::service::{DrainAwareService, HttpService};
use crate::drain::{DrainSignals, Step, StepWatch};

/// An accepted stream: TCP on the left, Unix on the right.
pub(crate) type Stream = Either<tokio::net::TcpStream, tokio::net::UnixStream>;

/// The stream while hyper serves it. Hyper closes what it drops; this one,
/// dropped, goes back to the connection task instead, so that the close can
/// be made polite (write side first, see [`linger`]).
struct ReturnedOnDrop {
    stream: Option<Stream>,
    back: Option<oneshot::Sender<Stream>>,
    /// Whether the client opened with the HTTP/2 preface, decided on the
    /// first read (hyper-util's auto builder does not say which it chose).
    h2: Arc<AtomicBool>,
    sniffed: bool,
}

/// What an HTTP/2 client sends first (RFC 9113 §3.4); no HTTP/1 request
/// starts with it.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

impl ReturnedOnDrop {
    fn stream(self: Pin<&mut Self>) -> Pin<&mut Stream> {
        Pin::new(
            self.get_mut()
                .stream
                .as_mut()
                .expect("present until dropped"),
        )
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

impl ReturnedOnDrop {
    /// The first read, which also tells whether the client speaks HTTP/2;
    /// kept out of line so later reads pay one branch for it.
    #[cold]
    #[inline(never)]
    fn poll_first_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = self.as_mut().stream().poll_read(cx, buf);
        if buf.filled().len() > before {
            let first = &buf.filled()[before..];
            let n = first.len().min(H2_PREFACE.len());
            self.h2
                .store(first[..n] == H2_PREFACE[..n], Ordering::Relaxed);
            self.sniffed = true;
        }
        polled
    }
}

impl AsyncRead for ReturnedOnDrop {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.sniffed {
            return self.poll_first_read(cx, buf);
        }
        self.stream().poll_read(cx, buf)
    }
}

impl AsyncWrite for ReturnedOnDrop {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.stream().poll_write(cx, buf)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
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
        self.stream().poll_shutdown(cx)
    }
}

/// Serves one connection through the whole drain protocol.
pub(crate) async fn serve<S: HttpService>(
    signals: DrainSignals,
    builder: Arc<auto::Builder<TokioExecutor>>,
    service: DrainAwareService<S>,
    stream: Stream,
) {
    let (back_tx, back_rx) = oneshot::channel();
    let h2 = Arc::new(AtomicBool::new(false));
    let io = TokioIo::new(ReturnedOnDrop {
        stream: Some(stream),
        back: Some(back_tx),
        h2: h2.clone(),
        sniffed: false,
    });
    let mut conn =
        Box::pin(builder.serve_connection_with_upgrades(io, TowerToHyperService::new(service)));
    // Every wait below also ends at `cut`. Asking the watch is one atomic
    // load per wakeup (an HTTP/1.1 connection is woken on every request),
    // where re-polling two cancellation futures took two mutexes each.
    let mut watch = pin!(signals.watch());
    let result = match unless(&mut watch, Step::AcceptingStopped, conn.as_mut()).await {
        Ok(r) => r,
        Err(Step::Cut) => return,
        // HTTP/2 has its own lame duck: GOAWAY in two steps (the highest
        // stream id first, the real last one after a ping round trip), so
        // a stream the client is sending is still served. Sent at once, it
        // moves the client to the successor (or elsewhere) now, instead of
        // leaving it on a draining process for the lame-duck window.
        Err(_) if h2.load(Ordering::Relaxed) => {
            conn.as_mut().graceful_shutdown();
            match unless(&mut watch, Step::Cut, conn.as_mut()).await {
                Ok(r) => r,
                Err(_) => return,
            }
        }
        Err(_) => {
            // Lame duck: a request already on its way is read and answered
            // (with Connection: close); an idle connection is closed after.
            let lame_duck = tokio::time::timeout(signals.lame_duck(), conn.as_mut());
            match unless(&mut watch, Step::Cut, pin!(lame_duck)).await {
                Ok(Ok(r)) => r,
                Ok(Err(_window_over)) => {
                    conn.as_mut().graceful_shutdown();
                    match unless(&mut watch, Step::Cut, conn.as_mut()).await {
                        Ok(r) => r,
                        Err(_) => return,
                    }
                }
                Err(_) => return,
            }
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection ended with an error");
    }
    drop(conn);
    // Upgraded connections (WebSocket) keep their stream; nothing comes back.
    if let Ok(stream) = back_rx.await {
        linger(stream, &signals).await;
    }
}

/// Polls `fut` until it completes, or until the drain reaches `step` (or
/// a later one), which is asked first on every poll: `Err` with the step.
async fn unless<F: Future>(
    watch: &mut Pin<&mut StepWatch<'_>>,
    step: Step,
    mut fut: Pin<&mut F>,
) -> Result<F::Output, Step> {
    poll_fn(|cx| {
        let now = watch.as_mut().poll_step(cx);
        if now >= step {
            return Poll::Ready(Err(now));
        }
        fut.as_mut().poll(cx).map(Ok)
    })
    .await
}

/// Closes politely: our side first (FIN), then wait, bounded, for the client
/// to close its side, discarding anything it still sends. Closing the socket
/// with unread data in it would send a reset, and a reset makes the client's
/// kernel throw away a response it has not read yet.
async fn linger(mut stream: Stream, signals: &DrainSignals) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let mut scratch = [0u8; 1024];
    let drain = async {
        loop {
            match stream.read(&mut scratch).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    };
    tokio::select! {
        _ = drain => {}
        _ = tokio::time::sleep(signals.lame_duck().max(Duration::from_millis(100))) => {}
        _ = signals.cut() => {}
    }
}
