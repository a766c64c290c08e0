//! One connection through the [drain protocol](crate::drain#one-connection):
//! tell HTTP/1 from HTTP/2 by its first bytes, serve it; once accepting
//! stopped, hand it to a successor that takes idle connections, or give it
//! a lame-duck window; then close it politely — write side first, socket
//! last.

use std::future::{Future, poll_fn};
use std::io;
use std::os::fd::OwnedFd;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::either::Either;

use super::service::{DrainAwareService, HttpService};
use crate::drain::{DrainSignals, Step, StepWatch};
use crate::handover::{MAX_SAVED, Refused};

/// An accepted stream: TCP on the left, Unix on the right.
pub(crate) type Stream = Either<tokio::net::TcpStream, tokio::net::UnixStream>;

/// Which kind of [`Stream`] a socket is, to make one from a bare fd.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Tcp,
    Unix,
}

/// What every connection of one listener shares.
pub(crate) struct Served<S> {
    pub(crate) signals: DrainSignals,
    pub(crate) service: DrainAwareService<S>,
    pub(crate) http1: http1::Builder,
    pub(crate) http2: http2::Builder<TokioExecutor>,
    /// The listener's name: a successor takes the connection for its own
    /// listener of that name.
    pub(crate) listener: Arc<str>,
}

/// What an HTTP/2 client sends first (RFC 9113 §3.4); no HTTP/1 request
/// starts with it.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How much each read before hyper takes.
const FIRST_READ: usize = 4096;

/// The stream while hyper serves it, with the bytes read before hyper had
/// it served first. Hyper closes what it drops; this one, dropped, goes
/// back to the connection task instead, so that the close can be made
/// polite (write side first, see [`linger`]).
struct ReturnedOnDrop {
    stream: Option<Stream>,
    back: Option<oneshot::Sender<Stream>>,
    /// Read before hyper had the stream (by the protocol sniff, or by a
    /// parent that handed the connection over); hyper reads these first.
    saved: Bytes,
    /// Set by the connection task before it asks hyper to stop so as to
    /// hand the connection over: hyper's closing then leaves the socket
    /// open (a later [`linger`] still shuts it down when it is not handed
    /// over).
    stopping: Arc<AtomicBool>,
    /// Whether anything was written once `stopping` was set: a response to
    /// a request that was under way, which carries `Connection: close`
    /// (draining began before), so the connection is not handed over.
    wrote_while_stopping: bool,
}

impl ReturnedOnDrop {
    fn new(
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
    fn into_parts(mut self) -> (Stream, Bytes, bool) {
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

/// How far a connection got, and what to do with it next.
enum Next {
    /// Read until the first bytes tell the protocol (and for HTTP/1 until
    /// the first request head is whole). `close_at`: accepting stopped, and
    /// the connection closes at that moment of its lame duck unless a
    /// request began by then.
    Sniff {
        stream: Stream,
        saved: Bytes,
        close_at: Option<Instant>,
    },
    /// Serve HTTP/1; `lame_duck` once accepting stopped.
    Http1 {
        stream: Stream,
        saved: Bytes,
        lame_duck: bool,
    },
    /// Serve HTTP/2; `stopped`: accepting stopped, GOAWAY at once.
    Http2 {
        stream: Stream,
        saved: Bytes,
        stopped: bool,
    },
    /// Idle once accepting stopped: offer it to the successor.
    Offer(Stream, Bytes),
    /// Served; close politely.
    Linger(Stream),
    /// Gone, or someone else's now.
    Done,
}

/// Serves one connection through the whole drain protocol, `saved` (the
/// bytes a parent already read from it) first.
pub(crate) async fn serve<S: HttpService>(served: Arc<Served<S>>, stream: Stream, saved: Bytes) {
    // Every wait below also ends at `cut`. Asking the watch is one atomic
    // load per wakeup (an HTTP/1.1 connection is woken on every request),
    // where re-polling two cancellation futures took two mutexes each.
    let mut watch = pin!(served.signals.watch());
    let w = &mut watch;
    let mut next = Next::Sniff {
        stream,
        saved,
        close_at: None,
    };
    loop {
        next = match next {
            Next::Sniff {
                stream,
                saved,
                close_at,
            } => sniff(&served, w, stream, saved, close_at).await,
            Next::Http1 {
                stream,
                saved,
                lame_duck,
            } => serve_http1(&served, w, stream, saved, lame_duck).await,
            Next::Http2 {
                stream,
                saved,
                stopped,
            } => serve_http2(&served, w, stream, saved, stopped).await,
            Next::Offer(stream, saved) => offer(&served, w, stream, saved).await,
            Next::Linger(stream) => {
                linger(stream, &served.signals).await;
                return;
            }
            Next::Done => return,
        }
    }
}

/// Whether these first bytes are HTTP/2's (`Some(true)`), HTTP/1's, or
/// too few to tell.
fn is_http2(first: &[u8]) -> Option<bool> {
    let n = first.len().min(H2_PREFACE.len());
    if first[..n] != H2_PREFACE[..n] {
        Some(false)
    } else if n == H2_PREFACE.len() {
        Some(true)
    } else {
        None
    }
}

/// Whether `first` holds a whole request head (it ends at an empty line).
/// Until it does, a connection counts as idle: hyper takes a new
/// connection's first request as begun with its first byte, and would then
/// not let the connection go before answering it.
fn has_whole_head(first: &[u8]) -> bool {
    first.iter().enumerate().any(|(i, &b)| {
        b == b'\n' && (first.get(i + 1) == Some(&b'\n') || first.get(i + 1..i + 3) == Some(b"\r\n"))
    })
}

/// Reads until the first bytes tell the protocol, and for HTTP/1 until
/// the first request head is whole (or too long to keep for a successor).
/// Once accepting stopped, a connection that sent nothing by then is
/// offered to the successor, or closed at its moment of the lame duck.
async fn sniff<S: HttpService>(
    served: &Served<S>,
    watch: &mut Watch<'_, '_>,
    mut stream: Stream,
    saved: Bytes,
    mut close_at: Option<Instant>,
) -> Next {
    let mut first = BytesMut::with_capacity(FIRST_READ.max(saved.len()));
    first.extend_from_slice(&saved);
    loop {
        match is_http2(&first) {
            Some(true) => {
                return Next::Http2 {
                    stream,
                    saved: first.freeze(),
                    stopped: close_at.is_some(),
                };
            }
            Some(false) if first.len() >= MAX_SAVED || has_whole_head(&first) => {
                return Next::Http1 {
                    stream,
                    saved: first.freeze(),
                    lame_duck: close_at.is_some(),
                };
            }
            _ => {}
        }
        first.reserve(FIRST_READ);
        let read = match close_at {
            None => {
                let read = pin!(stream.read_buf(&mut first));
                match unless(watch, Step::AcceptingStopped, read).await {
                    Ok(r) => r,
                    Err(Step::Cut) => return Next::Done,
                    // Nothing (or not a whole request head) came yet: idle.
                    Err(_) if served.signals.handoff().is_some() => {
                        return Next::Offer(stream, first.freeze());
                    }
                    Err(_) => {
                        close_at = Some(lame_duck_close(&served.signals));
                        continue;
                    }
                }
            }
            // Nothing came by its moment: closed. (A request begun is
            // waited for, as hyper would: it is answered, with
            // `Connection: close`.)
            Some(at) if first.is_empty() => {
                let read = pin!(tokio::time::timeout_at(at, stream.read_buf(&mut first)));
                match unless(watch, Step::Cut, read).await {
                    Ok(Ok(r)) => r,
                    Ok(Err(_its_moment)) => return Next::Linger(stream),
                    Err(_) => return Next::Done,
                }
            }
            Some(_) => match unless(watch, Step::Cut, pin!(stream.read_buf(&mut first))).await {
                Ok(r) => r,
                Err(_) => return Next::Done,
            },
        };
        match read {
            // Gone before it said anything: nothing to answer, nothing unread.
            Ok(0) | Err(_) => return Next::Done,
            Ok(_) => {}
        }
    }
}

/// When an idle connection entering its lame duck now closes: a moment
/// drawn at random within the window, so that the closes of a stop are
/// spread over it and no client's timer lines up with all of them.
fn lame_duck_close(signals: &DrainSignals) -> Instant {
    Instant::now() + spread(signals.lame_duck())
}

async fn serve_http1<S: HttpService>(
    served: &Served<S>,
    watch: &mut Watch<'_, '_>,
    stream: Stream,
    saved: Bytes,
    lame_duck: bool,
) -> Next {
    let signals = &served.signals;
    let stopping = Arc::new(AtomicBool::new(false));
    let (back_tx, back_rx) = oneshot::channel();
    let io = TokioIo::new(ReturnedOnDrop::new(
        stream,
        saved,
        back_tx,
        stopping.clone(),
    ));
    // Boxed so the connection is `Unpin` whatever the service is, and can
    // be taken apart once hyper is done with it.
    let service = Box::new(TowerToHyperService::new(served.service.clone()));
    let mut conn = served.http1.serve_connection(io, service).with_upgrades();
    if !lame_duck {
        match unless(watch, Step::AcceptingStopped, Pin::new(&mut conn)).await {
            Ok(r) => return ended(signals, watch, r, conn, back_rx).await,
            Err(Step::Cut) => return Next::Done,
            Err(_) => {}
        }
        if signals.handoff().is_some() {
            // Ask hyper to stop: an idle connection (a request head partly
            // received counts as idle) stops at once, a busy one after its
            // response; either way the socket stays open, to be handed over.
            stopping.store(true, Ordering::Relaxed);
            Pin::new(&mut conn).graceful_shutdown();
            return match unless(watch, Step::Cut, Pin::new(&mut conn)).await {
                Ok(r) => stopped_for_handover(watch, r, conn, back_rx).await,
                Err(_) => Next::Done,
            };
        }
    }
    // Lame duck: a request already on its way is read and answered (with
    // Connection: close); an idle connection is closed at its moment.
    let window = tokio::time::timeout_at(lame_duck_close(signals), Pin::new(&mut conn));
    let r = match unless(watch, Step::Cut, pin!(window)).await {
        Ok(Ok(r)) => r,
        Ok(Err(_close_now)) => {
            Pin::new(&mut conn).graceful_shutdown();
            match unless(watch, Step::Cut, Pin::new(&mut conn)).await {
                Ok(r) => r,
                Err(_) => return Next::Done,
            }
        }
        Err(_) => return Next::Done,
    };
    ended(signals, watch, r, conn, back_rx).await
}

/// A connection's view of the drain's steps 3 and 4 (see [`unless`]).
type Watch<'a, 'b> = Pin<&'a mut StepWatch<'b>>;

/// Polls `fut` until it completes, or until the drain reaches `step` (or
/// a later one), which is asked first on every poll: `Err` with the step.
async fn unless<F: Future>(
    watch: &mut Watch<'_, '_>,
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

type Http1Conn<S> = http1::UpgradeableConnection<
    TokioIo<ReturnedOnDrop>,
    Box<TowerToHyperService<DrainAwareService<S>>>,
>;

/// Hyper is done with an HTTP/1 connection: close it politely, or wait for
/// the application to drop an upgraded one, or serve it as HTTP/2 after
/// all.
async fn ended<S: HttpService>(
    signals: &DrainSignals,
    watch: &mut Watch<'_, '_>,
    result: hyper::Result<()>,
    conn: Http1Conn<S>,
    back: oneshot::Receiver<Stream>,
) -> Next {
    let Some(parts) = conn.into_parts() else {
        return upgraded(watch, back).await;
    };
    let (stream, unread, _) = parts.io.into_inner().into_parts();
    match result {
        Ok(()) => Next::Linger(stream),
        Err(e) if e.is_parse_version_h2() => Next::Http2 {
            stream,
            saved: join(parts.read_buf, unread),
            stopped: signals.has_stopped_accepting(),
        },
        Err(e) => {
            tracing::debug!(error = %e, "connection ended with an error");
            Next::Linger(stream)
        }
    }
}

/// Hyper stopped an HTTP/1 connection so it could be handed over: offer
/// it, unless it had to say something on the way (a response, which told
/// the client to close).
async fn stopped_for_handover<S: HttpService>(
    watch: &mut Watch<'_, '_>,
    result: hyper::Result<()>,
    conn: Http1Conn<S>,
    back: oneshot::Receiver<Stream>,
) -> Next {
    let Some(parts) = conn.into_parts() else {
        return upgraded(watch, back).await;
    };
    let (stream, unread, wrote_while_stopping) = parts.io.into_inner().into_parts();
    let saved = join(parts.read_buf, unread);
    match result {
        Ok(()) if !wrote_while_stopping => Next::Offer(stream, saved),
        Ok(()) => Next::Linger(stream),
        Err(e) if e.is_parse_version_h2() => Next::Http2 {
            stream,
            saved,
            stopped: true,
        },
        Err(e) => {
            tracing::debug!(error = %e, "connection ended with an error");
            Next::Linger(stream)
        }
    }
}

/// An upgraded connection (WebSocket) is the application's: its stream
/// comes back when the application drops it, or the cut ends the wait.
async fn upgraded(watch: &mut Watch<'_, '_>, back: oneshot::Receiver<Stream>) -> Next {
    match unless(watch, Step::Cut, pin!(back)).await {
        Ok(Ok(stream)) => Next::Linger(stream),
        // Dropped without coming back (the application kept it), or cut.
        Ok(Err(_)) | Err(_) => Next::Done,
    }
}

fn join(first: Bytes, then: Bytes) -> Bytes {
    if then.is_empty() {
        first
    } else if first.is_empty() {
        then
    } else {
        let mut both = BytesMut::with_capacity(first.len() + then.len());
        both.extend_from_slice(&first);
        both.extend_from_slice(&then);
        both.freeze()
    }
}

/// HTTP/2 has its own lame duck: GOAWAY in two steps (the highest stream
/// id first, the real last one after a ping round trip), so a stream the
/// client is sending is still served. Sent as soon as accepting stops, it
/// moves the client to the successor (or elsewhere) now, instead of leaving
/// it on a draining process for the lame-duck window.
async fn serve_http2<S: HttpService>(
    served: &Served<S>,
    watch: &mut Watch<'_, '_>,
    stream: Stream,
    saved: Bytes,
    stopped: bool,
) -> Next {
    let (back_tx, back_rx) = oneshot::channel();
    let io = TokioIo::new(ReturnedOnDrop::new(
        stream,
        saved,
        back_tx,
        Arc::new(AtomicBool::new(false)),
    ));
    let mut conn = Box::pin(
        served
            .http2
            .serve_connection(io, TowerToHyperService::new(served.service.clone())),
    );
    let result = 'served: {
        if !stopped {
            match unless(watch, Step::AcceptingStopped, conn.as_mut()).await {
                Ok(r) => break 'served r,
                Err(Step::Cut) => return Next::Done,
                Err(_) => {}
            }
        }
        conn.as_mut().graceful_shutdown();
        match unless(watch, Step::Cut, conn.as_mut()).await {
            Ok(r) => r,
            Err(_) => return Next::Done,
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection ended with an error");
    }
    drop(conn);
    match back_rx.await {
        Ok(stream) => Next::Linger(stream),
        Err(_) => Next::Done,
    }
}

/// Offers an idle connection to the successor; the lame duck if it does
/// not take it.
async fn offer<S>(
    served: &Served<S>,
    watch: &mut Watch<'_, '_>,
    stream: Stream,
    saved: Bytes,
) -> Next {
    let signals = &served.signals;
    let Some(outbox) = signals.handoff() else {
        return Next::Sniff {
            stream,
            saved,
            close_at: Some(lame_duck_close(signals)),
        };
    };
    let (fd, kind) = match into_fd(stream) {
        Ok(parts) => parts,
        Err(e) => {
            tracing::debug!(error = %e, "could not take a connection off the runtime to hand it over");
            return Next::Done;
        }
    };
    let back = match unless(
        watch,
        Step::Cut,
        pin!(outbox.offer(&served.listener, fd, saved)),
    )
    .await
    {
        Ok(back) => back,
        Err(_) => return Next::Done,
    };
    match back {
        // The successor serves it from now on.
        None => Next::Done,
        Some(Refused { fd, saved }) => match from_fd(fd, kind) {
            Ok(stream) => Next::Sniff {
                stream,
                saved,
                close_at: Some(lame_duck_close(signals)),
            },
            Err(e) => {
                tracing::debug!(error = %e, "could not serve a connection given back");
                Next::Done
            }
        },
    }
}

fn into_fd(stream: Stream) -> io::Result<(OwnedFd, Kind)> {
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

/// A moment within `window`, uniformly at random (as HAProxy's
/// `close-spread-time`).
fn spread(window: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    // Each `RandomState` has fresh keys: its hash of nothing is a random
    // number, which is all this needs.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    window.mul_f64((random >> 11) as f64 / (1u64 << 53) as f64)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_bytes_tell_the_protocol() {
        assert_eq!(is_http2(b"GET / HTTP/1.1\r\n"), Some(false));
        assert_eq!(is_http2(b"P"), None);
        assert_eq!(is_http2(b"POST"), Some(false));
        assert_eq!(is_http2(b"PRI * HTTP/2.0\r\n"), None);
        assert_eq!(is_http2(H2_PREFACE), Some(true));
        assert_eq!(
            is_http2(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0"),
            Some(true)
        );
    }

    #[test]
    fn a_request_head_is_whole_at_its_empty_line() {
        assert!(!has_whole_head(b"GET / HTTP/1.1\r\nHo"));
        assert!(!has_whole_head(b"GET / HTTP/1.1\r\nHost: x\r\n"));
        assert!(!has_whole_head(b"GET / HTTP/1.1\r\nHost: x\r\n\r"));
        assert!(has_whole_head(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(has_whole_head(b"GET / HTTP/1.1\nHost: x\n\n"));
        assert!(has_whole_head(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody"));
    }

    #[test]
    fn closes_spread_over_the_whole_window() {
        let window = Duration::from_secs(1);
        let moments: Vec<Duration> = (0..1000).map(|_| spread(window)).collect();
        assert!(moments.iter().all(|m| *m < window));
        // Ten slices of the window, each hit: not all at one end.
        let mut slices = [0u32; 10];
        for m in &moments {
            slices[(m.as_secs_f64() * 10.0) as usize] += 1;
        }
        assert!(slices.iter().all(|&n| n > 40), "{slices:?}");
    }
}
