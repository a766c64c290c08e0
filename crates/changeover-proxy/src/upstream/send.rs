//! The request body on its way to the upstream: each frame written as it
//! arrives from the client (chunk-framed when its length is unknown), the
//! next one asked for only once the last is written, so a slow upstream
//! slows the client down and no body is held whole.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use http::HeaderMap;
use http::header::{HeaderName, TRAILER};
use http_body::Body;
use hyper::body::Incoming;

use super::conn::Stream;
use super::head::{Framing, push_hex};

/// Why a request body did not reach the upstream whole.
#[derive(Debug)]
pub(crate) enum SendError {
    /// The client's body broke off (it went away, or sent bad framing).
    Client(hyper::Error),
    /// Writing to the upstream failed (it closed or reset the connection).
    Upstream(io::Error),
}

/// A request body being sent.
pub(crate) struct Outgoing {
    body: Incoming,
    chunked: bool,
    /// Trailer fields the client announced in `Trailer`: the only ones sent
    /// (as hyper's client does); `None` for a body that is not chunked.
    trailers: Option<Vec<HeaderName>>,
    /// Framing to write before `data`: a chunk-size line (after the CRLF
    /// that ends the previous chunk), or the last chunk and the trailers.
    prefix: Vec<u8>,
    at: usize,
    data: Bytes,
    /// A chunk's data was queued and its CRLF is not written yet.
    chunk_open: bool,
    /// Everything is queued; done once written.
    finished: bool,
}

impl Outgoing {
    /// The body of a request with these fields, to be sent framed as
    /// `framing` (`Length` or `Chunked`).
    pub(crate) fn new(body: Incoming, framing: Framing, headers: &HeaderMap) -> Outgoing {
        let chunked = framing == Framing::Chunked;
        let trailers = chunked.then(|| {
            headers
                .get_all(TRAILER)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|s| s.split(','))
                .filter_map(|s| HeaderName::from_bytes(s.trim().as_bytes()).ok())
                .collect()
        });
        Outgoing {
            body,
            chunked,
            trailers,
            prefix: Vec::new(),
            at: 0,
            data: Bytes::new(),
            chunk_open: false,
            finished: false,
        }
    }

    fn queue(&mut self, data: Bytes) {
        self.prefix.clear();
        self.at = 0;
        if self.chunked {
            if self.chunk_open {
                self.prefix.extend_from_slice(b"\r\n");
            }
            push_hex(&mut self.prefix, data.len() as u64);
            self.prefix.extend_from_slice(b"\r\n");
            self.chunk_open = true;
        }
        self.data = data;
    }

    fn finish(&mut self, trailers: Option<HeaderMap>) {
        self.prefix.clear();
        self.at = 0;
        self.finished = true;
        if !self.chunked {
            return;
        }
        if self.chunk_open {
            self.prefix.extend_from_slice(b"\r\n");
        }
        self.prefix.extend_from_slice(b"0\r\n");
        if let (Some(fields), Some(allowed)) = (trailers, &self.trailers) {
            for (name, value) in &fields {
                if allowed.contains(name) {
                    self.prefix.extend_from_slice(name.as_str().as_bytes());
                    self.prefix.extend_from_slice(b": ");
                    self.prefix.extend_from_slice(value.as_bytes());
                    self.prefix.extend_from_slice(b"\r\n");
                }
            }
        }
        self.prefix.extend_from_slice(b"\r\n");
    }

    /// Sends what the client has sent so far; `Ready(Ok)` once the whole
    /// body is written.
    pub(crate) fn poll_send(
        &mut self,
        stream: &Stream,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), SendError>> {
        loop {
            let framing = self.prefix.len() - self.at;
            if framing > 0 || !self.data.is_empty() {
                let bufs = [
                    IoSlice::new(&self.prefix[self.at..]),
                    IoSlice::new(&self.data),
                ];
                let n =
                    ready!(stream.poll_write_vectored(cx, &bufs)).map_err(SendError::Upstream)?;
                if n == 0 {
                    return Poll::Ready(Err(SendError::Upstream(io::ErrorKind::WriteZero.into())));
                }
                let of_framing = framing.min(n);
                self.at += of_framing;
                self.data.advance(n - of_framing);
                continue;
            }
            if self.finished {
                return Poll::Ready(Ok(()));
            }
            match ready!(Pin::new(&mut self.body).poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) if data.is_empty() => {}
                    Ok(data) => self.queue(data),
                    Err(frame) => {
                        if let Ok(trailers) = frame.into_trailers() {
                            self.finish(Some(trailers));
                        }
                    }
                },
                Some(Err(e)) => return Poll::Ready(Err(SendError::Client(e))),
                None => self.finish(None),
            }
        }
    }
}
