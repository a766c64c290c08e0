//! The bodies that flow through: the request body towards the upstream, and
//! the response body towards the client, which keeps its request counted in
//! flight and hands the upstream connection back to the pool when it ends.
//! Both stream frame by frame: hyper asks for the next frame only when the
//! previous one was written, so a slow reader slows the writer down.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use crate::metrics::UpstreamError;
use crate::pool::{Conn, ConnState};
use crate::routes::InFlight;

/// A request body on its way to the upstream.
pub(crate) enum ReqBody {
    /// No body (most GET requests): replayable, and sent at once.
    Empty,
    /// The client's body, streamed as it arrives.
    Stream {
        inner: Incoming,
        /// The connection it is sent on: told when the body was sent whole.
        state: Option<Arc<ConnState>>,
    },
}

impl ReqBody {
    pub(crate) fn new(inner: Incoming) -> ReqBody {
        if inner.is_end_stream() {
            ReqBody::Empty
        } else {
            ReqBody::Stream { inner, state: None }
        }
    }

    /// Ties the body to the connection it is about to be sent on.
    pub(crate) fn bind(&mut self, conn: &Conn) {
        if let ReqBody::Stream { state, .. } = self {
            conn.state.body_sent.store(false, Ordering::Release);
            *state = Some(conn.state.clone());
        }
    }
}

impl Body for ReqBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            ReqBody::Empty => Poll::Ready(None),
            ReqBody::Stream { inner, state } => {
                let frame = ready!(Pin::new(&mut *inner).poll_frame(cx));
                // hyper stops polling once `is_end_stream` says so, so the
                // end is noticed after the last frame, not only at `None`.
                if frame.is_none() || inner.is_end_stream() {
                    if let Some(s) = state {
                        s.body_sent.store(true, Ordering::Release);
                    }
                }
                Poll::Ready(frame)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ReqBody::Empty => true,
            ReqBody::Stream { inner, .. } => inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ReqBody::Empty => SizeHint::with_exact(0),
            ReqBody::Stream { inner, .. } => inner.size_hint(),
        }
    }
}

/// What happens when an upstream response body ends: the request leaves
/// the in-flight count and its connection goes back to the pool.
pub(crate) struct Exchange {
    pub(crate) flight: InFlight,
    /// `None` for a connection that cannot be reused (an upgrade attempt).
    pub(crate) conn: Option<Conn>,
}

impl Exchange {
    fn complete(self) {
        if let Some(conn) = self.conn {
            self.flight.generation().pool.checkin(conn, Instant::now());
        }
        // `self.flight` drops here: the request is no longer in flight.
    }
}

/// The body of a response the proxy sends to a client.
pub struct ResponseBody(Kind);

enum Kind {
    /// The upstream's body; the exchange completes when it ends.
    Upstream {
        inner: Incoming,
        exchange: Option<Exchange>,
    },
    /// A body made by the proxy (an error text), or none.
    Full(Option<Bytes>),
}

impl ResponseBody {
    pub(crate) fn upstream(inner: Incoming, exchange: Exchange) -> ResponseBody {
        if inner.is_end_stream() {
            // Nothing to stream (HEAD, 204, 304, Content-Length: 0): the
            // exchange is over now; hyper will not poll this body.
            exchange.complete();
            return ResponseBody(Kind::Upstream {
                inner,
                exchange: None,
            });
        }
        ResponseBody(Kind::Upstream {
            inner,
            exchange: Some(exchange),
        })
    }

    pub(crate) fn full(b: impl Into<Bytes>) -> ResponseBody {
        ResponseBody(Kind::Full(Some(b.into())))
    }

    pub(crate) fn empty() -> ResponseBody {
        ResponseBody(Kind::Full(None))
    }
}

impl std::fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match &self.0 {
            Kind::Upstream { .. } => "ResponseBody(upstream)",
            Kind::Full(_) => "ResponseBody(proxy)",
        })
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match &mut self.get_mut().0 {
            Kind::Upstream { inner, exchange } => {
                let frame = ready!(Pin::new(&mut *inner).poll_frame(cx));
                let Some(x) = exchange.take() else {
                    return Poll::Ready(frame);
                };
                match &frame {
                    Some(Err(_)) => {
                        // The child died or cut the connection midway; the
                        // connection is not reusable.
                        x.flight.generation().counters.error(UpstreamError::Body);
                    }
                    // hyper stops polling once `is_end_stream` says so (a
                    // Content-Length body), so the end is noticed after the
                    // last frame, not only at `None`.
                    Some(Ok(_)) if !inner.is_end_stream() => *exchange = Some(x),
                    Some(Ok(_)) | None => x.complete(),
                }
                Poll::Ready(frame)
            }
            Kind::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            Kind::Upstream { inner, .. } => inner.is_end_stream(),
            Kind::Full(b) => b.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            Kind::Upstream { inner, .. } => inner.size_hint(),
            Kind::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
        }
    }
}
