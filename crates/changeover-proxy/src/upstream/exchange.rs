//! One attempt at an exchange: the request head written, its body sent as
//! it comes, and the response head read, all from the request's own future.

use std::future::poll_fn;
use std::io;
use std::task::Poll;

use http::{HeaderMap, Method};

use super::conn::Conn;
use super::head::{self, HeadError, ResponseHead};
use super::send::{Outgoing, SendError};

/// What went wrong before a complete response head.
#[derive(Debug)]
pub(crate) enum Cause {
    /// Writing or reading failed.
    Io(io::Error),
    /// The upstream closed the connection.
    Eof,
    /// The response head is not acceptable.
    Head(HeadError),
    /// The client's request body broke off: the upstream got part of it.
    ClientBody(hyper::Error),
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cause::Io(e) => write!(f, "{e}"),
            Cause::Eof => write!(f, "connection closed before a complete response head"),
            Cause::Head(e) => write!(f, "{e}"),
            Cause::ClientBody(e) => write!(f, "the client's request body broke off: {e}"),
        }
    }
}

/// An attempt that failed before a complete response head, with what the
/// retry rule needs to know.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) cause: Cause,
    /// Not a byte of the request was written: the upstream never saw it.
    pub(crate) unsent: bool,
    /// Some bytes of a response had arrived.
    pub(crate) answered: bool,
}

/// Writes the head in `conn.wbuf`, then sends `outgoing` (set to `None`
/// once it was sent whole) while reading the response head, whose fields
/// go into `map` (the request's: by the time a response head arrives its
/// fields were written, and a request is only sent again when no byte of
/// a response came). A body the upstream stops taking (it answered early
/// and closed) marks the connection broken; the response, if one comes,
/// is still passed on.
pub(crate) async fn send(
    conn: &mut Conn,
    outgoing: &mut Option<Box<Outgoing>>,
    method: &Method,
    upgrade: bool,
    map: &mut HeaderMap,
) -> Result<ResponseHead, Failure> {
    let mut written = 0;
    let mut head_sent = false;
    let mut parsed_to = 0;
    let mut answered = false;
    poll_fn(|cx| {
        if !head_sent {
            match conn.poll_write_head(cx, &mut written) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => {
                    return Poll::Ready(Err(Failure {
                        cause: Cause::Io(e),
                        unsent: written == 0,
                        answered: false,
                    }));
                }
                Poll::Ready(Ok(())) => head_sent = true,
            }
        }
        if let Some(body) = outgoing {
            match body.poll_send(&conn.stream, cx) {
                Poll::Pending => {}
                Poll::Ready(Ok(())) => *outgoing = None,
                Poll::Ready(Err(SendError::Upstream(e))) => {
                    tracing::debug!(error = %e, "upstream stopped taking the request body");
                    *outgoing = None;
                    conn.broken = true;
                }
                Poll::Ready(Err(SendError::Client(e))) => {
                    return Poll::Ready(Err(Failure {
                        cause: Cause::ClientBody(e),
                        unsent: false,
                        answered,
                    }));
                }
            }
        }
        loop {
            if conn.rbuf.len() > parsed_to {
                match head::parse_response(&mut conn.rbuf, method, upgrade, &mut conn.fields, map) {
                    Ok(Some(h)) => return Poll::Ready(Ok(h)),
                    Ok(None) => parsed_to = conn.rbuf.len(),
                    Err(e) => {
                        return Poll::Ready(Err(Failure {
                            cause: Cause::Head(e),
                            unsent: false,
                            answered: true,
                        }));
                    }
                }
            }
            conn.reserve();
            let read = match conn.stream.poll_read_buf(cx, &mut conn.rbuf) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(r) => r,
            };
            let cause = match read {
                Ok(0) => Cause::Eof,
                Ok(_) => {
                    answered = true;
                    continue;
                }
                Err(e) => Cause::Io(e),
            };
            return Poll::Ready(Err(Failure {
                cause,
                unsent: false,
                answered,
            }));
        }
    })
    .await
}
