//! The forwarded fields (`X-Forwarded-For`, `Forwarded`, RFC 7239, and
//! `X-Forwarded-Proto`): rendered once per client connection, written
//! with the request's other fields.

use std::net::SocketAddr;

use http::header::{FORWARDED, HeaderMap, HeaderName, HeaderValue};

use super::RequestInfo;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// What the proxy adds for one client connection, rendered once per
/// connection.
#[derive(Debug, Clone)]
pub(crate) struct ForwardedValues {
    /// `X-Forwarded-For`: the client's IP; `None` when unknown (a Unix socket).
    xff: Option<HeaderValue>,
    /// `Forwarded`: `for=IP;proto=http` (RFC 7239), `for=unknown` when unknown.
    forwarded: HeaderValue,
    /// All three field lines, for the usual request that came with none of
    /// them: written in one piece.
    lines: Vec<u8>,
}

impl ForwardedValues {
    pub(crate) fn new(client: Option<SocketAddr>) -> ForwardedValues {
        let (xff, node) = match client {
            // IPv4-mapped IPv6 addresses (a dual-stack listener) read as IPv4.
            Some(a) => match a.ip().to_canonical() {
                std::net::IpAddr::V4(ip) => (Some(ip.to_string()), ip.to_string()),
                std::net::IpAddr::V6(ip) => (Some(ip.to_string()), format!("\"[{ip}]\"")),
            },
            None => (None, "unknown".to_owned()),
        };
        let xff = xff.and_then(|v| HeaderValue::try_from(v).ok());
        let forwarded = HeaderValue::try_from(format!("for={node};proto=http"))
            .unwrap_or_else(|_| HeaderValue::from_static("for=unknown;proto=http"));
        let mut lines = Vec::new();
        if let Some(ip) = &xff {
            line(&mut lines, X_FORWARDED_FOR.as_str(), ip.as_bytes());
        }
        line(&mut lines, FORWARDED.as_str(), forwarded.as_bytes());
        lines.extend_from_slice(b"x-forwarded-proto: http\r\n");
        ForwardedValues {
            xff,
            forwarded,
            lines,
        }
    }
}

/// Writes the request's field lines for the upstream: those in `headers`
/// (as [`request`] left them) and, with `forwarded`, the forwarded fields:
/// the client appended to `X-Forwarded-For` and `Forwarded` (every line
/// that came in joined into one, as the list grammar allows), and
/// `X-Forwarded-Proto: http` unless a proxy in front already set it (an
/// ingress that terminated TLS says `https`, and that is what the
/// application must see).
pub(crate) fn write_fields(
    buf: &mut Vec<u8>,
    headers: &HeaderMap,
    info: &RequestInfo,
    forwarded: Option<&ForwardedValues>,
) {
    let xff = forwarded.and_then(|f| f.xff.as_ref());
    // The chains that came in are written below, joined with ours.
    let skip_xff = xff.is_some() && info.had_xff;
    let skip_forwarded = forwarded.is_some() && info.had_forwarded;
    for (name, value) in headers {
        if (skip_xff && name == X_FORWARDED_FOR) || (skip_forwarded && name == FORWARDED) {
            continue;
        }
        line(buf, name.as_str(), value.as_bytes());
    }
    let Some(f) = forwarded else { return };
    if !(info.had_xff || info.had_forwarded || info.had_xfp) {
        buf.extend_from_slice(&f.lines);
        return;
    }
    if let Some(ip) = xff {
        chain(buf, X_FORWARDED_FOR, headers, skip_xff, ip);
    }
    chain(buf, FORWARDED, headers, skip_forwarded, &f.forwarded);
    if !info.had_xfp {
        buf.extend_from_slice(b"x-forwarded-proto: http\r\n");
    }
}

/// `name: value` and CRLF.
fn line(buf: &mut Vec<u8>, name: &str, value: &[u8]) {
    buf.extend_from_slice(name.as_bytes());
    buf.extend_from_slice(b": ");
    buf.extend_from_slice(value);
    buf.extend_from_slice(b"\r\n");
}

/// One `name` line: every value the request had for it (when `existing`),
/// then `ours`, joined by commas.
fn chain(
    buf: &mut Vec<u8>,
    name: HeaderName,
    headers: &HeaderMap,
    existing: bool,
    ours: &HeaderValue,
) {
    buf.extend_from_slice(name.as_str().as_bytes());
    buf.extend_from_slice(b": ");
    if existing {
        for v in headers.get_all(&name) {
            buf.extend_from_slice(v.as_bytes());
            buf.extend_from_slice(b", ");
        }
    }
    buf.extend_from_slice(ours.as_bytes());
    buf.extend_from_slice(b"\r\n");
}
