//! The upstream side of an exchange: HTTP/1.1 on one connection to a
//! generation, written and parsed here (with `httparse`) instead of through
//! hyper's client.
//!
//! Why not hyper's client: it runs every connection as a task of its own
//! and hands each request to it, and each response back, through channels,
//! so every request costs two extra task wake-ups and the dispatch around
//! them (about 12,000 instructions per request under callgrind, more than
//! the rest of the proxy together). Here the request's own future writes
//! the head, reads the answer and hands the connection back to the pool
//! the moment the response was read whole; a connection does nothing while
//! idle, so it is checked for a close (or stray bytes) when it is taken
//! from the pool.
//!
//! - [`conn`]: the socket (TCP or Unix) and its read and write buffers.
//! - [`head`]: the request head written out, the response head parsed
//!   (hop-by-hop fields dropped there), and how each body is framed.
//! - [`decode`]: the response body, by `Content-Length`, chunked, or until
//!   the upstream closes.
//! - [`exchange`]: one attempt: head out, body out, response head in.
//! - [`send`]: the request body, streamed out as the client sends it, while
//!   the response is read (an upstream may answer before it read it all).

pub(crate) mod conn;
pub(crate) mod decode;
pub(crate) mod exchange;
pub(crate) mod head;
pub(crate) mod send;

pub(crate) use conn::{Conn, Stream};

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Where a generation serves its private upstream.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Upstream {
    /// A loopback TCP address (`127.0.0.0/8` or `[::1]`).
    Tcp(SocketAddr),
    /// A Unix stream socket.
    Unix(PathBuf),
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Upstream::Tcp(a) => write!(f, "{a}"),
            Upstream::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}
