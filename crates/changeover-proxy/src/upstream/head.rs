//! Heads on the wire: the request head the proxy writes to the upstream, and
//! the response head it parses from it (RFC 9112), with how each message's
//! body is framed.

use std::mem::MaybeUninit;

use bytes::{Buf, Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Uri, Version};

use crate::headers::{self, Hop, Known, Name};

/// The most fields a response head may have.
const MAX_HEADERS: usize = 128;
/// The longest response head read before giving up on it.
pub(crate) const MAX_HEAD: usize = 64 * 1024;

/// How the request body goes to the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body.
    None,
    /// `Content-Length` bytes, as they come.
    Length(u64),
    /// `Transfer-Encoding: chunked`: a body of unknown length.
    Chunked,
}

/// How to frame a request body, given what the client said about it: what
/// hyper's client does. A `Content-Length` the client sent stays and frames
/// it; a known length without one gets one; an unknown length is chunked,
/// except for GET, HEAD and CONNECT, which are sent without a body.
/// `Transfer-Encoding` never reaches here (hop-by-hop, removed before).
pub(crate) fn framing(
    method: &Method,
    headers: &HeaderMap,
    empty: bool,
    exact: Option<u64>,
) -> (Framing, bool) {
    if empty {
        return (Framing::None, false);
    }
    if let Some(n) = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| decimal(v.as_bytes()))
    {
        return (Framing::Length(n), false);
    }
    let add_length = !headers.contains_key(CONTENT_LENGTH);
    match exact {
        Some(n) if add_length => (Framing::Length(n), true),
        _ if *method == Method::GET || *method == Method::HEAD || *method == Method::CONNECT => {
            (Framing::None, false)
        }
        _ => (Framing::Chunked, false),
    }
}

/// Writes the request head: `METHOD target HTTP/1.1`, the field lines
/// `fields` writes, and the framing field the body needs. `uri` is in
/// origin form by now.
pub(crate) fn write_request(
    buf: &mut Vec<u8>,
    method: &Method,
    uri: &Uri,
    framing: Framing,
    add_length: bool,
    fields: impl FnOnce(&mut Vec<u8>),
) {
    buf.clear();
    buf.extend_from_slice(method.as_str().as_bytes());
    buf.push(b' ');
    buf.extend_from_slice(
        uri.path_and_query()
            .map_or("/", |pq| pq.as_str())
            .as_bytes(),
    );
    buf.extend_from_slice(b" HTTP/1.1\r\n");
    fields(buf);
    match framing {
        Framing::Length(n) if add_length => {
            buf.extend_from_slice(b"content-length: ");
            push_decimal(buf, n);
            buf.extend_from_slice(b"\r\n");
        }
        Framing::Chunked => buf.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        _ => {}
    }
    buf.extend_from_slice(b"\r\n");
}

/// Appends `n` in decimal.
pub(crate) fn push_decimal(buf: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[i..]);
}

/// Appends `n` in hexadecimal (a chunk size).
pub(crate) fn push_hex(buf: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 16];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b"0123456789abcdef"[(n & 15) as usize];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[i..]);
}

/// How a response body is framed (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyFraming {
    /// None at all (HEAD, 204, 304), whatever the fields say.
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// Chunked.
    Chunked,
    /// Until the upstream closes the connection.
    Close,
    /// A 101 to an upgrade: what follows belongs to the new protocol.
    Switching,
}

/// A response head from the upstream (its fields are in the map given to
/// [`parse_response`]).
#[derive(Debug)]
pub(crate) struct ResponseHead {
    pub(crate) status: StatusCode,
    pub(crate) version: Version,
    pub(crate) framing: BodyFraming,
    /// The upstream keeps the connection open after this exchange.
    pub(crate) keep_alive: bool,
    /// The whole body, when it came with the head (a `Content-Length` body
    /// that was read with it; most small responses).
    pub(crate) body: Option<Bytes>,
}

/// Why a response head is not acceptable.
#[derive(Debug)]
pub(crate) enum HeadError {
    /// Not HTTP/1.x, or a field line that does not parse.
    Parse(httparse::Error),
    /// Longer than [`MAX_HEAD`].
    TooLarge,
    /// An unusable status code.
    Status(u16),
    /// `Content-Length` that is not one number.
    ContentLength,
    /// A field name or value that is not valid.
    Field,
    /// A 101 that nobody asked for.
    UnaskedSwitch,
}

impl std::fmt::Display for HeadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeadError::Parse(e) => write!(f, "malformed response head: {e}"),
            HeadError::TooLarge => write!(f, "response head longer than {MAX_HEAD} bytes"),
            HeadError::Status(s) => write!(f, "invalid status code {s}"),
            HeadError::ContentLength => write!(f, "invalid Content-Length"),
            HeadError::Field => write!(f, "invalid header field"),
            HeadError::UnaskedSwitch => write!(
                f,
                "101 Switching Protocols to a request that asked for no upgrade"
            ),
        }
    }
}

/// Where a field is in the head, by offsets, so that the head can be
/// copied into one buffer that every value then shares. A connection
/// keeps a `Vec` of them for its capacity.
#[derive(Clone, Copy)]
pub(crate) struct Field {
    name: (usize, usize),
    value: (usize, usize),
    kind: Name,
}

/// Parses the response head at the start of `buf` and puts its end-to-end
/// fields into `map` (cleared first; the request's map, kept for its
/// capacity). `Ok(None)`: not all there yet. On success the head is
/// consumed from `buf`, and so is the body when it is all there (a
/// `Content-Length` body); an informational (1xx) response other than 101
/// is consumed and skipped, as clients of a proxy do not see them.
///
/// The head (and such a body) is split off `buf` and shared by the field
/// values and the body, without a copy; once they are dropped (hyper drops
/// the values as it writes the head) `buf` reclaims the room
/// ([`Conn::reserve`](super::Conn::reserve)).
pub(crate) fn parse_response(
    buf: &mut BytesMut,
    method: &Method,
    upgrade: bool,
    fields: &mut Vec<Field>,
    map: &mut HeaderMap,
) -> Result<Option<ResponseHead>, HeadError> {
    loop {
        let mut parsed = [MaybeUninit::<httparse::Header<'_>>::uninit(); MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut []);
        let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
            &mut resp,
            buf,
            &mut parsed,
        ) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => {
                return Err(HeadError::TooLarge);
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => return Err(HeadError::Parse(e)),
        };
        let code = resp.code.unwrap_or(0);
        let status = StatusCode::from_u16(code).map_err(|_| HeadError::Status(code))?;
        if status.is_informational() && status != StatusCode::SWITCHING_PROTOCOLS {
            buf.advance(len);
            continue;
        }
        let version = if resp.version == Some(0) {
            Version::HTTP_10
        } else {
            Version::HTTP_11
        };
        let switching = status == StatusCode::SWITCHING_PROTOCOLS;
        if switching && !upgrade {
            return Err(HeadError::UnaskedSwitch);
        }

        // One pass: where each field is, which are hop-by-hop, and what
        // the framing fields say.
        let base = buf.as_ptr() as usize;
        let offset = |s: &[u8]| (s.as_ptr() as usize - base, s.len());
        fields.clear();
        let mut close = version == Version::HTTP_10;
        let mut chunked = None;
        let mut length: Option<u64> = None;
        let mut named_by_connection = false;
        for h in resp.headers.iter() {
            let kind = headers::classify(h.name.as_bytes());
            match kind {
                Name::Hop(Hop::Connection) => {
                    for token in list(h.value) {
                        if token.eq_ignore_ascii_case(b"close") {
                            close = true;
                        } else if token.eq_ignore_ascii_case(b"keep-alive") {
                            if version == Version::HTTP_10 {
                                close = false;
                            }
                        } else if !token.eq_ignore_ascii_case(b"upgrade") {
                            named_by_connection = true;
                        }
                    }
                }
                Name::Hop(Hop::TransferEncoding) => {
                    // Chunked only when it is the last coding.
                    chunked = Some(
                        list(h.value)
                            .last()
                            .is_some_and(|t| t.eq_ignore_ascii_case(b"chunked")),
                    );
                }
                Name::Known(Known::ContentLength) => {
                    let n = decimal(h.value).ok_or(HeadError::ContentLength)?;
                    if length.is_some_and(|l| l != n) {
                        return Err(HeadError::ContentLength);
                    }
                    length = Some(n);
                }
                _ => {}
            }
            fields.push(Field {
                name: offset(h.name.as_bytes()),
                value: offset(h.value),
                kind,
            });
        }
        let framing = if switching {
            BodyFraming::Switching
        } else if *method == Method::HEAD
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED
        {
            BodyFraming::Empty
        } else {
            match (chunked, length) {
                (Some(true), _) => BodyFraming::Chunked,
                (Some(false), _) => BodyFraming::Close,
                (None, Some(n)) => BodyFraming::Length(n),
                (None, None) => BodyFraming::Close,
            }
        };
        let keep_alive = !close && framing != BodyFraming::Close;
        // The body goes with the head when it is all there.
        let whole = match framing {
            BodyFraming::Length(n) if (buf.len() - len) as u64 >= n => len + n as usize,
            _ => len,
        };
        let copy = buf.split_to(whole).freeze();
        let body = (whole > len).then(|| copy.slice(len..whole));

        map.clear();
        map.reserve(fields.len());
        for f in fields.iter() {
            let name = match f.kind {
                Name::Hop(Hop::Upgrade) if switching => http::header::UPGRADE,
                Name::Hop(_) => continue,
                // A message framed by Transfer-Encoding must not pass on its
                // Content-Length (RFC 9112 §6.3: smuggling).
                Name::Known(Known::ContentLength) if chunked.is_some() => continue,
                Name::Known(k) => k.name(),
                Name::Other => HeaderName::from_bytes(&copy[f.name.0..f.name.0 + f.name.1])
                    .map_err(|_| HeadError::Field)?,
            };
            let value =
                HeaderValue::from_maybe_shared(copy.slice(f.value.0..f.value.0 + f.value.1))
                    .map_err(|_| HeadError::Field)?;
            map.append(name, value);
        }
        if named_by_connection {
            for f in fields.iter() {
                if f.kind == Name::Hop(Hop::Connection) {
                    for token in list(&copy[f.value.0..f.value.0 + f.value.1]) {
                        if let Ok(name) = HeaderName::from_bytes(token) {
                            map.remove(name);
                        }
                    }
                }
            }
        }
        if switching {
            map.insert(
                http::header::CONNECTION,
                HeaderValue::from_static("upgrade"),
            );
        }
        return Ok(Some(ResponseHead {
            status,
            version,
            framing,
            keep_alive,
            body,
        }));
    }
}

/// A `Content-Length` value: digits only (around them, whitespace).
fn decimal(v: &[u8]) -> Option<u64> {
    let v = v.trim_ascii();
    if v.is_empty() || v.len() > 19 {
        return None;
    }
    let mut n = 0u64;
    for &b in v {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(b - b'0');
    }
    Some(n)
}

/// The elements of a comma-separated list (RFC 9110 §5.6.1), trimmed,
/// empty ones skipped.
fn list(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
}
