//! HTTP/1.1 on the wire: the request bytes, and reading exactly one response with `httparse`
//! (bodies by `Content-Length`, chunked, or until EOF), discarding the body as it streams in.
//!
//! Above 500 lines with its tests, which are a third of it: the parser and the wire cases it
//! must survive (trickled bytes, interim responses, truncations) read best side by side.

use std::fmt;
use std::io;

use httparse::Status;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::{FailureKind, Target};

/// Most headers a response may carry.
const MAX_HEADERS: usize = 64;
/// Largest response head (status line and headers), and largest chunk-size or trailer area.
const MAX_HEAD: usize = 64 * 1024;
/// Initial receive buffer size per connection.
const READ_CHUNK: usize = 16 * 1024;
/// A read is only issued with at least this much free room in the buffer.
const MIN_SPARE: usize = 4 * 1024;

/// The request every connection sends, built once per run.
pub(crate) fn build_request(target: &Target, keep_alive: bool) -> Vec<u8> {
    let mut r = Vec::with_capacity(64 + target.path().len() + target.host().len());
    r.extend_from_slice(b"GET ");
    r.extend_from_slice(target.path().as_bytes());
    r.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    r.extend_from_slice(target.host().as_bytes());
    r.extend_from_slice(b"\r\n");
    if !keep_alive {
        r.extend_from_slice(b"Connection: close\r\n");
    }
    r.extend_from_slice(b"\r\n");
    r
}

/// A connection's receive buffer, reused for every response on every connection of one task.
#[derive(Debug)]
pub(crate) struct RecvBuf {
    buf: Vec<u8>,
    /// Start of the bytes not consumed yet.
    pos: usize,
}

impl RecvBuf {
    pub(crate) fn new() -> RecvBuf {
        RecvBuf {
            buf: Vec::with_capacity(READ_CHUNK),
            pos: 0,
        }
    }

    /// Forgets everything buffered (for a new connection); keeps the allocation.
    pub(crate) fn clear(&mut self) {
        self.buf.clear();
        self.pos = 0;
    }

    fn available(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    fn consume(&mut self, n: usize) {
        debug_assert!(self.pos + n <= self.buf.len());
        self.pos += n;
    }

    /// Reads once from `r`, appending; returns the number of bytes read (0 at EOF).
    /// Cancel-safe: a read that did not complete loses nothing.
    pub(crate) async fn fill<R: AsyncRead + Unpin>(&mut self, r: &mut R) -> io::Result<usize> {
        if self.pos == self.buf.len() {
            self.clear();
        } else if self.pos > 0 && self.buf.capacity() - self.buf.len() < MIN_SPARE {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        if self.buf.capacity() - self.buf.len() < MIN_SPARE {
            self.buf.reserve(READ_CHUNK);
        }
        r.read_buf(&mut self.buf).await
    }
}

/// What the client needs from a complete response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Response {
    pub(crate) status: u16,
    /// The server allows another request on this connection.
    pub(crate) reusable: bool,
}

/// Why one request/response exchange did not produce a complete response.
#[derive(Debug)]
pub(crate) enum ExchangeError {
    Write(io::Error),
    Read(io::Error),
    /// EOF before the response was complete; `received` bytes of it had arrived.
    Eof {
        received: u64,
    },
    Protocol(String),
}

impl ExchangeError {
    pub(crate) fn kind(&self) -> FailureKind {
        match self {
            ExchangeError::Write(e) | ExchangeError::Read(e) => io_failure_kind(e),
            ExchangeError::Eof { .. } => FailureKind::Closed,
            ExchangeError::Protocol(_) => FailureKind::Protocol,
        }
    }
}

impl fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExchangeError::Write(e) => write!(f, "writing request: {e}"),
            ExchangeError::Read(e) => write!(f, "reading response: {e}"),
            ExchangeError::Eof { received: 0 } => {
                write!(f, "connection closed before any response byte")
            }
            ExchangeError::Eof { received } => write!(
                f,
                "connection closed after {received} bytes of an incomplete response"
            ),
            ExchangeError::Protocol(m) => write!(f, "invalid response: {m}"),
        }
    }
}

/// Classifies an I/O error met while writing a request or reading a response.
pub(crate) fn io_failure_kind(e: &io::Error) -> FailureKind {
    match e.kind() {
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::ConnectionAborted => FailureKind::Reset,
        io::ErrorKind::UnexpectedEof => FailureKind::Closed,
        _ => FailureKind::Io,
    }
}

/// Writes `request` and reads one complete response.
pub(crate) async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    rb: &mut RecvBuf,
    request: &[u8],
) -> Result<Response, ExchangeError> {
    s.write_all(request).await.map_err(ExchangeError::Write)?;
    read_response(s, rb).await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    Empty,
    Length(u64),
    Chunked,
    UntilEof,
}

#[derive(Debug)]
struct Head {
    status: u16,
    body: Body,
    reusable: bool,
}

fn protocol(m: impl Into<String>) -> ExchangeError {
    ExchangeError::Protocol(m.into())
}

fn parse_decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    v.iter().try_fold(0u64, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// Parses a response head at the start of `buf`: `Ok(None)` when more bytes are needed.
fn parse_head(buf: &[u8]) -> Result<Option<(Head, usize)>, ExchangeError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(Status::Complete(len)) => len,
        Ok(Status::Partial) => return Ok(None),
        Err(e) => return Err(protocol(format!("bad response head: {e}"))),
    };
    let (Some(status), Some(version)) = (resp.code, resp.version) else {
        return Err(protocol("response head without status or version"));
    };
    let mut content_length = None;
    let mut transfer_encoding = false;
    let mut chunked = false;
    let mut close = false;
    let mut keep_alive = false;
    for h in resp.headers.iter() {
        let value = h.value.trim_ascii();
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = parse_decimal(value).ok_or_else(|| protocol("bad Content-Length"))?;
            if content_length.is_some_and(|prev| prev != n) {
                return Err(protocol("conflicting Content-Length headers"));
            }
            content_length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            // The last coding of the last header decides whether the body is chunked.
            transfer_encoding = true;
            chunked = value
                .rsplit(|&b| b == b',')
                .next()
                .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    // httparse takes any three digits; a status code is 100 to 599 (RFC 9110, section 15).
    if !(100..=599).contains(&status) {
        return Err(protocol(format!(
            "status code {status:03} is not between 100 and 599"
        )));
    }
    if status == 101 {
        return Err(protocol("unexpected 101 Switching Protocols"));
    }
    let body = if (100..200).contains(&status) || status == 204 || status == 304 {
        Body::Empty
    } else if chunked {
        Body::Chunked
    } else if transfer_encoding {
        // A response with a transfer coding other than chunked is delimited by EOF.
        Body::UntilEof
    } else if let Some(n) = content_length {
        Body::Length(n)
    } else {
        Body::UntilEof
    };
    let reusable = body != Body::UntilEof && !close && (version >= 1 || keep_alive);
    Ok(Some((
        Head {
            status,
            body,
            reusable,
        },
        len,
    )))
}

/// Reads more bytes; EOF is an incomplete response.
async fn read_more<S: AsyncRead + Unpin>(
    s: &mut S,
    rb: &mut RecvBuf,
    received: &mut u64,
) -> Result<(), ExchangeError> {
    match rb.fill(s).await {
        Ok(0) => Err(ExchangeError::Eof {
            received: *received,
        }),
        Ok(n) => {
            *received += n as u64;
            Ok(())
        }
        Err(e) => Err(ExchangeError::Read(e)),
    }
}

/// Discards exactly `n` body bytes.
async fn skip<S: AsyncRead + Unpin>(
    s: &mut S,
    rb: &mut RecvBuf,
    mut n: u64,
    received: &mut u64,
) -> Result<(), ExchangeError> {
    loop {
        let take = n.min(rb.available().len() as u64);
        rb.consume(take as usize);
        n -= take;
        if n == 0 {
            return Ok(());
        }
        read_more(s, rb, received).await?;
    }
}

async fn read_chunked<S: AsyncRead + Unpin>(
    s: &mut S,
    rb: &mut RecvBuf,
    received: &mut u64,
) -> Result<(), ExchangeError> {
    loop {
        let size = loop {
            match httparse::parse_chunk_size(rb.available()) {
                Ok(Status::Complete((used, size))) => {
                    rb.consume(used);
                    break size;
                }
                Ok(Status::Partial) if rb.available().len() > MAX_HEAD => {
                    return Err(protocol("chunk size line too long"));
                }
                Ok(Status::Partial) => read_more(s, rb, received).await?,
                Err(_) => return Err(protocol("bad chunk size line")),
            }
        };
        if size == 0 {
            break;
        }
        skip(s, rb, size, received).await?;
        while rb.available().len() < 2 {
            read_more(s, rb, received).await?;
        }
        if &rb.available()[..2] != b"\r\n" {
            return Err(protocol("chunk data not followed by CRLF"));
        }
        rb.consume(2);
    }
    // Trailer section: header lines, then an empty line.
    loop {
        match rb.available().windows(2).position(|w| w == b"\r\n") {
            Some(0) => {
                rb.consume(2);
                return Ok(());
            }
            Some(i) => rb.consume(i + 2),
            None if rb.available().len() > MAX_HEAD => {
                return Err(protocol("chunked trailer section too long"));
            }
            None => read_more(s, rb, received).await?,
        }
    }
}

/// Reads one complete response (skipping 1xx interim responses), discarding its body. Bytes
/// after the response stay in `rb`.
pub(crate) async fn read_response<S: AsyncRead + Unpin>(
    s: &mut S,
    rb: &mut RecvBuf,
) -> Result<Response, ExchangeError> {
    let mut received = rb.available().len() as u64;
    let head = loop {
        match parse_head(rb.available())? {
            Some((head, len)) => {
                rb.consume(len);
                if (100..200).contains(&head.status) {
                    continue;
                }
                break head;
            }
            None if rb.available().len() > MAX_HEAD => {
                return Err(protocol("response head too large"));
            }
            None => read_more(s, rb, &mut received).await?,
        }
    };
    match head.body {
        Body::Empty => {}
        Body::Length(n) => skip(s, rb, n, &mut received).await?,
        Body::Chunked => read_chunked(s, rb, &mut received).await?,
        Body::UntilEof => loop {
            let n = rb.available().len();
            rb.consume(n);
            match rb.fill(s).await {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => return Err(ExchangeError::Read(e)),
            }
        },
    }
    Ok(Response {
        status: head.status,
        reusable: head.reusable,
    })
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use super::*;

    /// Hands out `data` at most `step` bytes per read, then EOF.
    struct Trickle {
        data: Vec<u8>,
        pos: usize,
        step: usize,
    }

    impl AsyncRead for Trickle {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let n = self
                .step
                .min(self.data.len() - self.pos)
                .min(buf.remaining());
            let start = self.pos;
            buf.put_slice(&self.data[start..start + n]);
            self.pos += n;
            Poll::Ready(Ok(()))
        }
    }

    /// Reads every response in `wire`, with every read size from 1 to 9 and a large one, and
    /// checks each reading gives the same list.
    async fn read_all(wire: &[u8]) -> Vec<Result<Response, String>> {
        let mut first: Option<Vec<Result<Response, String>>> = None;
        for step in (1..10).chain([usize::MAX]) {
            let mut s = Trickle {
                data: wire.to_vec(),
                pos: 0,
                step,
            };
            let mut rb = RecvBuf::new();
            let mut out = Vec::new();
            loop {
                match read_response(&mut s, &mut rb).await {
                    Ok(r) => out.push(Ok(r)),
                    Err(ExchangeError::Eof { received: 0 }) => break,
                    Err(e) => {
                        out.push(Err(format!("{:?}: {e}", e.kind())));
                        break;
                    }
                }
            }
            match &first {
                None => first = Some(out),
                Some(f) => assert_eq!(f, &out, "read size {step}"),
            }
        }
        first.unwrap_or_default()
    }

    const fn ok(status: u16, reusable: bool) -> Result<Response, String> {
        Ok(Response { status, reusable })
    }

    /// Found by the `http_response` fuzz target: `HTTP/1.1 002 OK` was read as a response of
    /// status 2 (counted as a bad status); a code outside 100-599 is a broken response.
    #[tokio::test]
    async fn status_codes_outside_100_to_599_are_protocol_errors() {
        for code in ["002", "099", "600", "999"] {
            let wire = format!("HTTP/1.1 {code} OK\r\nContent-Length: 0\r\n\r\n");
            let got = read_all(wire.as_bytes()).await;
            assert_eq!(got.len(), 1, "{code}: {got:?}");
            let err = got[0].as_ref().unwrap_err();
            assert!(
                err.starts_with("Protocol: invalid response: status code") && err.contains(code),
                "{code}: {err}"
            );
        }
        assert_eq!(
            read_all(b"HTTP/1.1 599 X\r\nContent-Length: 0\r\n\r\n").await,
            [ok(599, true)]
        );
    }

    #[tokio::test]
    async fn content_length_bodies_back_to_back() {
        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello\
HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n\
HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive, Close\r\n\r\nabc";
        assert_eq!(
            read_all(wire).await,
            vec![ok(200, true), ok(503, true), ok(200, false)]
        );
    }

    #[tokio::test]
    async fn chunked_bodies_with_extensions_and_trailers() {
        let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
5\r\nhello\r\n1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n\
HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 99\r\n\r\n\
3\r\nabc\r\n0\r\nX-Trailer: 1\r\nY: 2\r\n\r\n";
        assert_eq!(read_all(wire).await, vec![ok(200, true), ok(200, true)]);
    }

    #[tokio::test]
    async fn interim_and_bodyless_responses() {
        let wire = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n\
HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n\
HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\nx\
HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\ny";
        assert_eq!(
            read_all(wire).await,
            vec![ok(204, true), ok(304, true), ok(200, true), ok(200, false)]
        );
    }

    #[tokio::test]
    async fn body_until_eof() {
        let wire = b"HTTP/1.1 200 OK\r\n\r\nall of this is body until the end";
        assert_eq!(read_all(wire).await, vec![ok(200, false)]);
        let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nbody";
        assert_eq!(read_all(wire).await, vec![ok(200, false)]);
    }

    #[tokio::test]
    async fn truncated_responses_are_closed() {
        let closed = |n: u64| {
            Err::<Response, _>(format!(
                "Closed: connection closed after {n} bytes of an incomplete response"
            ))
        };
        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
        assert_eq!(read_all(wire).await, vec![closed(wire.len() as u64)]);
        let wire = b"HTTP/1.1 200 OK\r\nContent-Le";
        assert_eq!(read_all(wire).await, vec![closed(wire.len() as u64)]);
        let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n";
        assert_eq!(read_all(wire).await, vec![closed(wire.len() as u64)]);
        assert_eq!(read_all(b"").await, vec![]);
    }

    #[tokio::test]
    async fn protocol_errors() {
        for wire in [
            &b"SSH-2.0-OpenSSH\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
        ] {
            let got = read_all(wire).await;
            assert_eq!(got.len(), 1, "{got:?}");
            assert!(
                got[0].as_ref().is_err_and(|e| e.starts_with("Protocol")),
                "{}: {got:?}",
                String::from_utf8_lossy(wire)
            );
        }
    }

    #[test]
    fn request_bytes() {
        let t = Target::parse("http://127.0.0.1:8080/a?b=1").unwrap();
        assert_eq!(
            build_request(&t, true),
            b"GET /a?b=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"
        );
        assert_eq!(
            build_request(&t, false),
            b"GET /a?b=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn io_errors_are_classified() {
        use io::ErrorKind::*;
        for (kind, want) in [
            (ConnectionReset, FailureKind::Reset),
            (BrokenPipe, FailureKind::Reset),
            (ConnectionAborted, FailureKind::Reset),
            (UnexpectedEof, FailureKind::Closed),
            (PermissionDenied, FailureKind::Io),
        ] {
            assert_eq!(io_failure_kind(&io::Error::from(kind)), want);
            assert_eq!(ExchangeError::Write(io::Error::from(kind)).kind(), want);
        }
    }
}
