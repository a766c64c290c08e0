//! One connection through the [drain protocol](crate::drain#one-connection):
//! tell HTTP/1 from HTTP/2 by its first bytes, serve it; once accepting
//! stopped, hand it to a successor that takes idle connections, or give it
//! a lame-duck window; then close it politely — write side first, socket
//! last.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::after_goaway::AfterGoaway;
use super::service::{DrainAwareService, HttpService};
use super::sniff::{has_whole_head, is_http2};
use super::stream::{ReturnedOnDrop, Stream, from_fd, into_fd};
use crate::drain::{DrainSignals, Step, StepWatch};
use crate::handover::{MAX_SAVED, Refused};

/// What every connection of one listener shares (each has a service of
/// its own, made for its peer).
pub(crate) struct Served {
    pub(crate) signals: DrainSignals,
    pub(crate) http1: http1::Builder,
    pub(crate) http2: http2::Builder<TokioExecutor>,
    /// The listener's name: a successor takes the connection for its own
    /// listener of that name.
    pub(crate) listener: Arc<str>,
}

/// How much each read before hyper takes.
const FIRST_READ: usize = 4096;

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
pub(crate) async fn serve<S: HttpService>(
    served: Arc<Served>,
    service: DrainAwareService<S>,
    stream: Stream,
    saved: Bytes,
) {
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
            } => serve_http1(&served, &service, w, stream, saved, lame_duck).await,
            Next::Http2 {
                stream,
                saved,
                stopped,
            } => serve_http2(&served, &service, w, stream, saved, stopped).await,
            Next::Offer(stream, saved) => offer(&served, w, stream, saved).await,
            Next::Linger(stream) => {
                linger(stream, &served.signals).await;
                return;
            }
            Next::Done => return,
        }
    }
}

/// Reads until the first bytes tell the protocol, and for HTTP/1 until
/// the first request head is whole (or too long to keep for a successor).
/// Once accepting stopped, a connection that sent nothing by then is
/// offered to the successor, or closed at its moment of the lame duck.
async fn sniff(
    served: &Served,
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
                        close_at = Some(served.signals.lame_duck_close());
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

async fn serve_http1<S: HttpService>(
    served: &Served,
    service: &DrainAwareService<S>,
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
    let service = Box::new(TowerToHyperService::new(service.clone()));
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
    let window = tokio::time::timeout_at(signals.lame_duck_close(), Pin::new(&mut conn));
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
/// it on a draining process for the lame-duck window. The client's frames
/// for streams it opens after the last GOAWAY are kept from failing the
/// connection ([`AfterGoaway`]).
async fn serve_http2<S: HttpService>(
    served: &Served,
    service: &DrainAwareService<S>,
    watch: &mut Watch<'_, '_>,
    stream: Stream,
    saved: Bytes,
    stopped: bool,
) -> Next {
    let (back_tx, back_rx) = oneshot::channel();
    let io = AfterGoaway::new(ReturnedOnDrop::new(
        stream,
        saved,
        back_tx,
        Arc::new(AtomicBool::new(false)),
    ));
    let shutting_down = io.armed();
    let io = TokioIo::new(io);
    let mut conn = Box::pin(
        served
            .http2
            .serve_connection(io, TowerToHyperService::new(service.clone())),
    );
    let result = 'served: {
        if !stopped {
            match unless(watch, Step::AcceptingStopped, conn.as_mut()).await {
                Ok(r) => break 'served r,
                Err(Step::Cut) => return Next::Done,
                Err(_) => {}
            }
        }
        shutting_down.store(true, Ordering::Relaxed);
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
async fn offer(served: &Served, watch: &mut Watch<'_, '_>, stream: Stream, saved: Bytes) -> Next {
    let signals = &served.signals;
    let Some(outbox) = signals.handoff() else {
        return Next::Sniff {
            stream,
            saved,
            close_at: Some(signals.lame_duck_close()),
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
                close_at: Some(signals.lame_duck_close()),
            },
            Err(e) => {
                tracing::debug!(error = %e, "could not serve a connection given back");
                Next::Done
            }
        },
    }
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
