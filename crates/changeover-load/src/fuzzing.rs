//! For the fuzz target only (feature `fuzzing`): the driver's response
//! reader over a buffer of bytes, as if a server had sent them. A server's
//! bytes are untrusted input to `changeover load`.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use crate::http::{RecvBuf, read_response};

/// What reading responses from a byte stream came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    /// Status and reusability of each complete response, in order.
    pub responses: Vec<(u16, bool)>,
    /// Why reading stopped: the error after the last complete response, as
    /// the driver would classify and describe it (`None` at a clean EOF).
    pub stopped: Option<String>,
}

/// Reads responses from `bytes` one after another, as a keep-alive
/// connection does, until one fails or the bytes run out (EOF).
pub fn read_responses(bytes: &[u8]) -> Read {
    let mut stream = bytes;
    let mut rb = RecvBuf::new();
    let mut responses = Vec::new();
    let waker = Waker::noop();
    let mut cx = Context::from_waker(waker);
    loop {
        // Reading from a slice never waits: one poll runs the read to its end.
        let result = match pin!(read_response(&mut stream, &mut rb)).poll(&mut cx) {
            Poll::Ready(r) => r,
            Poll::Pending => panic!("reading from a byte slice never waits"),
        };
        match result {
            Ok(r) => {
                responses.push((r.status, r.reusable));
                if !r.reusable {
                    return Read {
                        responses,
                        stopped: None,
                    };
                }
            }
            Err(e) => {
                return Read {
                    responses,
                    stopped: Some(format!("{:?}: {e}", e.kind())),
                };
            }
        }
    }
}
