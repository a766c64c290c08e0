//! The response body towards the client. Most upstream bodies are read
//! whole with their head (a small `Content-Length` body); then the exchange
//! is over before the response is returned: the connection is back in the
//! pool and the request no longer in flight. A larger body streams: each
//! frame is read from the upstream only when hyper asks for it (after it
//! wrote the last one), so a slow client slows the upstream down, and the
//! request stays in flight, holding its connection, until the body ends.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use crate::metrics::UpstreamError;
use crate::routes::InFlight;
use crate::upstream::Conn;
use crate::upstream::decode::{Decoder, Step};
use crate::upstream::send::Outgoing;

/// The end of an exchange, at `now`: the connection goes back to the pool
/// when it can serve another request, and the request leaves the
/// in-flight count.
pub(crate) fn complete(
    conn: Box<Conn>,
    outgoing: Option<Box<Outgoing>>,
    keep_alive: bool,
    flight: InFlight,
    now: Instant,
) {
    // Reusable only with nothing left over either way: the request body
    // sent whole, not a stray byte after the response.
    if keep_alive && outgoing.is_none() && !conn.broken && conn.rbuf.is_empty() {
        flight.generation().pool.checkin(conn, now);
    }
    // `flight` drops here: the request is no longer in flight.
}

/// A response body still coming from the upstream.
pub(crate) struct Streaming {
    pub(crate) conn: Box<Conn>,
    pub(crate) decoder: Decoder,
    /// The rest of the request body, when the upstream answered before it
    /// had all of it (sent on beside the response).
    pub(crate) outgoing: Option<Box<Outgoing>>,
    pub(crate) keep_alive: bool,
    pub(crate) flight: InFlight,
}

/// The body of a response the proxy sends to a client: an `http_body::Body`
/// of `Bytes` whose error, a `std::io::Error`, means the upstream's body
/// broke off midway (the server then cuts the client's connection or
/// stream).
pub struct ResponseBody(Kind);

enum Kind {
    /// A body already read whole (or made by the proxy, or none).
    Full(Option<Bytes>),
    /// The upstream's body, still coming.
    Streaming(Box<Streaming>),
}

impl ResponseBody {
    pub(crate) fn full(b: impl Into<Bytes>) -> ResponseBody {
        ResponseBody(Kind::Full(Some(b.into())))
    }

    pub(crate) fn empty() -> ResponseBody {
        ResponseBody(Kind::Full(None))
    }

    pub(crate) fn streaming(s: Streaming) -> ResponseBody {
        ResponseBody(Kind::Streaming(Box::new(s)))
    }

    /// The body has ended: the exchange completes.
    fn end(&mut self) {
        if let Kind::Streaming(s) = std::mem::replace(&mut self.0, Kind::Full(None)) {
            let s = *s;
            complete(s.conn, s.outgoing, s.keep_alive, s.flight, Instant::now());
        }
    }

    /// The body broke off: counted; the connection is dropped.
    fn fail(&mut self, e: io::Error) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if let Kind::Streaming(s) = std::mem::replace(&mut self.0, Kind::Full(None)) {
            let g = s.flight.generation();
            g.counters.error(UpstreamError::Body);
            tracing::debug!(generation = g.number, error = %e, "proxy: upstream response body broke off; cutting the client's response");
        }
        Poll::Ready(Some(Err(e)))
    }
}

impl std::fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match &self.0 {
            Kind::Streaming(_) => "ResponseBody(upstream)",
            Kind::Full(_) => "ResponseBody(whole)",
        })
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        let s = match &mut this.0 {
            Kind::Full(b) => return Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Kind::Streaming(s) => &mut **s,
        };
        if let Some(out) = &mut s.outgoing {
            match out.poll_send(&s.conn.stream, cx) {
                Poll::Pending => {}
                Poll::Ready(Ok(())) => s.outgoing = None,
                Poll::Ready(Err(e)) => {
                    // The response goes on; the connection will not be reused.
                    tracing::debug!(error = ?e, "request body not sent whole beside its response");
                    s.outgoing = None;
                    s.conn.broken = true;
                }
            }
        }
        loop {
            match s.decoder.decode(&mut s.conn.rbuf) {
                Ok(Step::Data(b)) => {
                    // hyper stops polling once `is_end_stream` says so, so
                    // the end is dealt with now, not at the next poll.
                    if s.decoder.is_done() {
                        this.end();
                    }
                    return Poll::Ready(Some(Ok(Frame::data(b))));
                }
                Ok(Step::Trailers(t)) => {
                    this.end();
                    return Poll::Ready(Some(Ok(Frame::trailers(t))));
                }
                Ok(Step::End) => {
                    this.end();
                    return Poll::Ready(None);
                }
                Ok(Step::More) => {}
                Err(e) => {
                    return this.fail(io::Error::new(io::ErrorKind::InvalidData, e.to_string()));
                }
            }
            s.conn.reserve();
            match ready!(s.conn.stream.poll_read_buf(cx, &mut s.conn.rbuf)) {
                Ok(0) => match s.decoder.eof() {
                    Ok(()) => {
                        this.end();
                        return Poll::Ready(None);
                    }
                    Err(e) => {
                        return this
                            .fail(io::Error::new(io::ErrorKind::UnexpectedEof, e.to_string()));
                    }
                },
                Ok(_) => {}
                Err(e) => return this.fail(e),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.0, Kind::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            Kind::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Streaming(s) => match s.decoder {
                Decoder::Length(n) => SizeHint::with_exact(n),
                _ => SizeHint::default(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The body type is what hyper and tower need of it, as before.
    #[test]
    fn response_body_and_future_are_send() {
        fn send_sync_unpin<T: Send + Sync + Unpin + 'static>() {}
        fn send<T: Send + 'static>() {}
        send_sync_unpin::<ResponseBody>();
        send::<crate::ResponseFuture>();
    }
}
