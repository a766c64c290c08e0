//! The response body as it comes off the upstream connection: by
//! `Content-Length`, chunked (RFC 9112 §7.1), or until the upstream closes.
//! Data is handed on as slices of the read buffer, never copied.

use bytes::{Buf, Bytes, BytesMut};
use http::header::{HeaderMap, HeaderName, HeaderValue};

use super::head::BodyFraming;

/// The longest chunk-size line (with extensions) or trailer section read.
const MAX_LINE: usize = 16 * 1024;
/// The most trailer fields taken.
const MAX_TRAILERS: usize = 32;

/// Where the decoder is in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decoder {
    /// This many bytes are still to come.
    Length(u64),
    /// A chunk-size line is next.
    ChunkSize,
    /// This many bytes of the current chunk are still to come.
    ChunkData(u64),
    /// The CRLF after a chunk's data.
    ChunkEnd,
    /// The trailer section after the last chunk.
    Trailers,
    /// Everything until EOF.
    Close,
    /// The body has ended.
    Done,
}

/// What the decoder made of the bytes it was given.
#[derive(Debug)]
pub(crate) enum Step {
    /// Body bytes.
    Data(Bytes),
    /// The trailer fields of a chunked body (then the body has ended).
    Trailers(HeaderMap),
    /// The body has ended.
    End,
    /// More bytes are needed.
    More,
}

/// The body does not follow its framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// The connection ended before the body did.
    Eof,
    /// A chunk-size line, chunk end or trailer section that is malformed.
    Chunk,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DecodeError::Eof => "the upstream closed the connection before the end of the body",
            DecodeError::Chunk => "malformed chunked body",
        })
    }
}

impl Decoder {
    /// The decoder for a body framed as `framing`.
    pub(crate) fn new(framing: BodyFraming) -> Decoder {
        match framing {
            BodyFraming::Empty | BodyFraming::Switching | BodyFraming::Length(0) => Decoder::Done,
            BodyFraming::Length(n) => Decoder::Length(n),
            BodyFraming::Chunked => Decoder::ChunkSize,
            BodyFraming::Close => Decoder::Close,
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        *self == Decoder::Done
    }

    /// The next step, taking what it uses from `buf`.
    pub(crate) fn decode(&mut self, buf: &mut BytesMut) -> Result<Step, DecodeError> {
        loop {
            match *self {
                Decoder::Done => return Ok(Step::End),
                Decoder::Length(n) => {
                    if buf.is_empty() {
                        return Ok(Step::More);
                    }
                    let take = n.min(buf.len() as u64);
                    let rest = n - take;
                    *self = if rest == 0 {
                        Decoder::Done
                    } else {
                        Decoder::Length(rest)
                    };
                    return Ok(Step::Data(buf.split_to(take as usize).freeze()));
                }
                Decoder::Close => {
                    if buf.is_empty() {
                        return Ok(Step::More);
                    }
                    return Ok(Step::Data(buf.split().freeze()));
                }
                Decoder::ChunkSize => match httparse::parse_chunk_size(buf) {
                    Ok(httparse::Status::Complete((used, size))) => {
                        buf.advance(used);
                        *self = if size == 0 {
                            Decoder::Trailers
                        } else {
                            Decoder::ChunkData(size)
                        };
                    }
                    Ok(httparse::Status::Partial) if buf.len() < MAX_LINE => {
                        return Ok(Step::More);
                    }
                    _ => return Err(DecodeError::Chunk),
                },
                Decoder::ChunkData(n) => {
                    if buf.is_empty() {
                        return Ok(Step::More);
                    }
                    let take = n.min(buf.len() as u64);
                    let rest = n - take;
                    *self = if rest == 0 {
                        Decoder::ChunkEnd
                    } else {
                        Decoder::ChunkData(rest)
                    };
                    return Ok(Step::Data(buf.split_to(take as usize).freeze()));
                }
                Decoder::ChunkEnd => {
                    if buf.len() < 2 {
                        return Ok(Step::More);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(DecodeError::Chunk);
                    }
                    buf.advance(2);
                    *self = Decoder::ChunkSize;
                }
                Decoder::Trailers => {
                    if buf.starts_with(b"\r\n") {
                        buf.advance(2);
                        *self = Decoder::Done;
                        return Ok(Step::End);
                    }
                    let mut fields = [httparse::EMPTY_HEADER; MAX_TRAILERS];
                    match httparse::parse_headers(buf, &mut fields) {
                        Ok(httparse::Status::Complete((used, fields))) => {
                            let mut map = HeaderMap::with_capacity(fields.len());
                            for f in fields {
                                if let (Ok(name), Ok(value)) = (
                                    HeaderName::from_bytes(f.name.as_bytes()),
                                    HeaderValue::from_bytes(f.value),
                                ) {
                                    map.append(name, value);
                                }
                            }
                            buf.advance(used);
                            *self = Decoder::Done;
                            return Ok(Step::Trailers(map));
                        }
                        Ok(httparse::Status::Partial) if buf.len() < MAX_LINE => {
                            return Ok(Step::More);
                        }
                        _ => return Err(DecodeError::Chunk),
                    }
                }
            }
        }
    }

    /// The upstream closed the connection: the end of a body read until
    /// EOF, an error for any other.
    pub(crate) fn eof(&mut self) -> Result<(), DecodeError> {
        match *self {
            Decoder::Close | Decoder::Done => {
                *self = Decoder::Done;
                Ok(())
            }
            _ => Err(DecodeError::Eof),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` one byte at a time (the worst split) and collects
    /// the body and trailers.
    fn decode_bytewise(
        mut d: Decoder,
        input: &[u8],
    ) -> Result<(Vec<u8>, Option<HeaderMap>), DecodeError> {
        let mut buf = BytesMut::new();
        let mut body = Vec::new();
        let mut trailers = None;
        let mut rest = input;
        loop {
            match d.decode(&mut buf)? {
                Step::Data(b) => body.extend_from_slice(&b),
                Step::Trailers(t) => trailers = Some(t),
                Step::End => return Ok((body, trailers)),
                Step::More => match rest.split_first() {
                    Some((b, r)) => {
                        buf.extend_from_slice(&[*b]);
                        rest = r;
                    }
                    None => {
                        d.eof()?;
                        return Ok((body, trailers));
                    }
                },
            }
        }
    }

    #[test]
    fn chunked_bodies_with_extensions_and_trailers() {
        let (body, trailers) = decode_bytewise(
            Decoder::ChunkSize,
            b"5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nx-sum: 42\r\n\r\n",
        )
        .unwrap();
        assert_eq!(body, b"hello 0123456789");
        assert_eq!(trailers.unwrap()["x-sum"], "42");
        let (body, trailers) =
            decode_bytewise(Decoder::ChunkSize, b"3\r\nabc\r\n0\r\n\r\n").unwrap();
        assert_eq!(body, b"abc");
        assert!(trailers.is_none());
    }

    #[test]
    fn broken_bodies_are_errors() {
        for bad in [&b"5\r\nhello0\r\n\r\n"[..], b"zz\r\n", b"3\r\nabc\r\n"] {
            assert!(decode_bytewise(Decoder::ChunkSize, bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            decode_bytewise(Decoder::Length(10), b"short").unwrap_err(),
            DecodeError::Eof
        );
        let (body, _) = decode_bytewise(Decoder::Close, b"until the end").unwrap();
        assert_eq!(body, b"until the end");
    }

    #[test]
    fn a_length_body_stops_at_its_length() {
        let mut d = Decoder::Length(3);
        let mut buf = BytesMut::from(&b"abcHTTP/1.1"[..]);
        assert!(matches!(d.decode(&mut buf), Ok(Step::Data(b)) if b == "abc"));
        assert!(d.is_done());
        assert_eq!(&buf[..], b"HTTP/1.1", "what follows is left alone");
    }
}
