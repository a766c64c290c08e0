//! One client connection: a TCP or a Unix stream, as tokio-util's [`Either`] (which reads and
//! writes through whichever side it holds).

use std::io;

use tokio::net::{TcpStream, UnixStream};
use tokio_util::either::Either;

use crate::Endpoint;

/// A connected TCP (left) or Unix (right) stream.
pub(crate) type Stream = Either<TcpStream, UnixStream>;

/// Connects to `endpoint` (no timeout here: the caller bounds it).
///
/// A TCP connection gets `TCP_NODELAY`: requests are written in one piece, and Nagle's
/// algorithm would hold one back while an ACK is outstanding. Setting it on a socket that just
/// connected cannot fail on Linux (the option has no state to check); if it ever does, the
/// socket is not what this crate thinks it is, and the error is the connect's.
pub(crate) async fn connect(endpoint: &Endpoint) -> io::Result<Stream> {
    match endpoint {
        Endpoint::Tcp(addr) => {
            let s = TcpStream::connect(*addr).await?;
            s.set_nodelay(true)
                .map_err(|e| io::Error::new(e.kind(), format!("setting TCP_NODELAY: {e}")))?;
            Ok(Either::Left(s))
        }
        Endpoint::Unix(path) => Ok(Either::Right(UnixStream::connect(path).await?)),
    }
}
