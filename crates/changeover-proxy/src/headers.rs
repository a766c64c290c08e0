//! Header rewriting between the two hops: hop-by-hop fields (RFC 9110
//! §7.6.1), `Host` and the request target, and the forwarded fields.

use std::net::SocketAddr;

use http::header::{
    CONNECTION, CONTENT_LENGTH, FORWARDED, HOST, HeaderMap, HeaderName, HeaderValue, TE,
    TRANSFER_ENCODING, UPGRADE,
};
use http::{Request, Uri, Version};

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
const UPGRADE_VALUE: HeaderValue = HeaderValue::from_static("upgrade");

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

/// Why a request is answered 400 by the proxy instead of being forwarded.
#[derive(Debug, Clone, Copy)]
pub(crate) enum BadRequest {
    NoHost,
    ManyHosts,
}

impl BadRequest {
    pub(crate) fn text(self) -> &'static str {
        match self {
            BadRequest::NoHost => "400 bad request: the request has no Host header\n",
            BadRequest::ManyHosts => "400 bad request: the request has more than one Host header\n",
        }
    }
}

/// What [`request`] found out about a request.
pub(crate) struct RequestInfo {
    /// An HTTP/1.1 upgrade (WebSocket): `Upgrade` and `Connection: upgrade`
    /// are kept for the upstream.
    pub(crate) upgrade: bool,
    /// It had no `Host` (HTTP/1.0): the upstream's address is to be set.
    pub(crate) needs_host: bool,
    /// It came with `X-Forwarded-For`, `Forwarded`, `X-Forwarded-Proto`
    /// (once the fields `Connection` named were gone).
    had_xff: bool,
    had_forwarded: bool,
    had_xfp: bool,
}

/// Which of the fields the proxy acts on a message has, found in one pass
/// over its fields: most messages have none of the hop-by-hop ones, and a
/// lookup by name costs a hash each, so only what is there is touched.
#[derive(Default)]
struct Present {
    hosts: u8,
    connection: bool,
    keep_alive: bool,
    proxy_connection: bool,
    te: bool,
    transfer_encoding: bool,
    upgrade: bool,
    xff: bool,
    forwarded: bool,
    xfp: bool,
}

impl Present {
    fn scan(headers: &HeaderMap) -> Present {
        let mut p = Present::default();
        // By name (each once), which is cheaper than by field line; a
        // second Host line is looked for only when some name has two.
        let repeated = headers.len() != headers.keys_len();
        for name in headers.keys() {
            match name.as_str() {
                "host" if repeated => p.hosts = headers.get_all(HOST).iter().count().min(2) as u8,
                "host" => p.hosts = 1,
                "connection" => p.connection = true,
                "keep-alive" => p.keep_alive = true,
                "proxy-connection" => p.proxy_connection = true,
                "te" => p.te = true,
                "transfer-encoding" => p.transfer_encoding = true,
                "upgrade" => p.upgrade = true,
                "x-forwarded-for" => p.xff = true,
                "forwarded" => p.forwarded = true,
                "x-forwarded-proto" => p.xfp = true,
                _ => {}
            }
        }
        p
    }
}

/// Rewrites a client's request head for the upstream: `Host` from the
/// request target when there is one, origin-form target, hop-by-hop fields
/// removed, HTTP/1.1. The forwarded fields are not added to the map but
/// written with the others by [`write_fields`] (no insertion, no growing
/// of the map for three fields that are only ever written out).
pub(crate) fn request<B>(req: &mut Request<B>) -> Result<RequestInfo, BadRequest> {
    let mut present = Present::scan(req.headers());
    let mut needs_host = false;
    if let Some(authority) = req.uri().authority() {
        // Absolute-form (or HTTP/2's :authority): RFC 9112 §3.2.2 says the
        // target's host wins over any Host field.
        let v = HeaderValue::from_str(authority.as_str()).map_err(|_| BadRequest::NoHost)?;
        req.headers_mut().insert(HOST, v);
    } else {
        match present.hosts {
            1 => {}
            0 if req.version() == Version::HTTP_11 => return Err(BadRequest::NoHost),
            0 => needs_host = true,
            _ => return Err(BadRequest::ManyHosts),
        }
    }
    if req.uri().scheme().is_some() || req.uri().authority().is_some() {
        let pq = req
            .uri()
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"));
        *req.uri_mut() = Uri::from(pq);
    }
    let wants_upgrade = strip_hop_by_hop(req.headers_mut(), &mut present);
    let upgrade = wants_upgrade && req.version() == Version::HTTP_11 && present.upgrade;
    if upgrade {
        req.headers_mut().insert(CONNECTION, UPGRADE_VALUE);
    } else if present.upgrade {
        req.headers_mut().remove(UPGRADE);
    }
    *req.version_mut() = Version::HTTP_11;
    Ok(RequestInfo {
        upgrade,
        needs_host,
        had_xff: present.xff,
        had_forwarded: present.forwarded,
        had_xfp: present.xfp,
    })
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

/// The hop-by-hop fields RFC 9110 §7.6.1 names, whether `Connection`
/// lists them or not. A response's are dropped as its head is parsed
/// (`upstream::head`, by [`classify`]); a request's by [`request`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hop {
    Connection,
    KeepAlive,
    ProxyConnection,
    Te,
    TransferEncoding,
    Upgrade,
}

/// What a response field's name is to the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Name {
    /// Hop-by-hop: not passed on as it is.
    Hop(Hop),
    /// A common field, known without parsing its name.
    Known(Known),
    /// Any other: `HeaderName::from_bytes` it is.
    Other,
}

/// The end-to-end fields [`classify`] knows (those most responses carry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Known {
    Date,
    Vary,
    ETag,
    Server,
    Expires,
    Location,
    SetCookie,
    ContentType,
    CacheControl,
    LastModified,
    AcceptRanges,
    ContentLength,
    ContentEncoding,
}

impl Known {
    /// The field's name (a constant: no parsing, no allocation).
    pub(crate) fn name(self) -> HeaderName {
        use http::header::*;
        match self {
            Known::Date => DATE,
            Known::Vary => VARY,
            Known::ETag => ETAG,
            Known::Server => SERVER,
            Known::Expires => EXPIRES,
            Known::Location => LOCATION,
            Known::SetCookie => SET_COOKIE,
            Known::ContentType => CONTENT_TYPE,
            Known::CacheControl => CACHE_CONTROL,
            Known::LastModified => LAST_MODIFIED,
            Known::AcceptRanges => ACCEPT_RANGES,
            Known::ContentLength => CONTENT_LENGTH,
            Known::ContentEncoding => CONTENT_ENCODING,
        }
    }
}

/// Which field `name` is, for a name from a response head that httparse
/// parsed (so every byte of it is a token character; see [`token_eq`]).
/// The hop-by-hop fields and the fields most responses carry are told
/// apart by their length and one or two word compares, where parsing the
/// name as a `HeaderName` costs about a hundred instructions each.
pub(crate) fn classify(name: &[u8]) -> Name {
    use Name::{Hop as H, Known as K};
    // Constant tables (all `Copy`): nothing is built per call.
    let candidates: &[(&[u8], Name)] = match name.len() {
        2 => &[(b"te", H(Hop::Te))],
        4 => &[
            (b"date", K(Known::Date)),
            (b"vary", K(Known::Vary)),
            (b"etag", K(Known::ETag)),
        ],
        6 => &[(b"server", K(Known::Server))],
        7 => &[
            (b"upgrade", H(Hop::Upgrade)),
            (b"expires", K(Known::Expires)),
        ],
        8 => &[(b"location", K(Known::Location))],
        10 => &[
            (b"connection", H(Hop::Connection)),
            (b"keep-alive", H(Hop::KeepAlive)),
            (b"set-cookie", K(Known::SetCookie)),
        ],
        12 => &[(b"content-type", K(Known::ContentType))],
        13 => &[
            (b"cache-control", K(Known::CacheControl)),
            (b"last-modified", K(Known::LastModified)),
            (b"accept-ranges", K(Known::AcceptRanges)),
        ],
        14 => &[(b"content-length", K(Known::ContentLength))],
        16 => &[
            (b"proxy-connection", H(Hop::ProxyConnection)),
            (b"content-encoding", K(Known::ContentEncoding)),
        ],
        17 => &[(b"transfer-encoding", H(Hop::TransferEncoding))],
        _ => return Name::Other,
    };
    for &(lower, what) in candidates {
        if token_eq(name, lower) {
            return what;
        }
    }
    Name::Other
}

/// Whether `token` is `lower` in any case, for a `token` of token
/// characters (RFC 9110 §5.6.2) and a `lower` of lowercase letters, digits
/// and `-` of the same length. Each byte is compared with bit 5 (the ASCII
/// case bit) set: for a token character that makes a lowercase letter only
/// from that letter in either case, and `-` or a digit only from itself
/// (the other byte that would, 0x0D or 0x10-0x19, is no token character).
/// Eight bytes at a time.
fn token_eq(token: &[u8], lower: &[u8]) -> bool {
    const CASE: u64 = 0x2020_2020_2020_2020;
    let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
    let n = token.len();
    if n != lower.len() {
        return false;
    }
    if n < 8 {
        return token.iter().zip(lower).all(|(t, l)| t | 0x20 == *l);
    }
    // Eight at a time, the last eight overlapping those before.
    let mut at = 0;
    while at + 8 < n {
        if word(&token[at..at + 8]) | CASE != word(&lower[at..at + 8]) {
            return false;
        }
        at += 8;
    }
    word(&token[n - 8..]) | CASE == word(&lower[n - 8..])
}

/// Removes the fields named in `Connection`, `Connection` itself, and the
/// fields RFC 9110 §7.6.1 names as hop-by-hop whether listed or not
/// (`Proxy-Connection`, `Keep-Alive`, `TE`, `Transfer-Encoding`; `Upgrade`
/// is left to the caller). Returns whether `Connection` listed `upgrade`.
/// `present` is kept true to what is left.
fn strip_hop_by_hop(headers: &mut HeaderMap, present: &mut Present) -> bool {
    let mut upgrade = false;
    // Noted before `Connection` may name it away: how the body was framed.
    let framed_by_transfer_encoding = present.transfer_encoding;
    if present.connection {
        if let http::header::Entry::Occupied(e) = headers.entry(CONNECTION) {
            let (_, values) = e.remove_entry_mult();
            // Collected first: the map cannot be changed while the entry lives.
            let values: Few = values.collect();
            for v in values.iter() {
                let Ok(s) = v.to_str() else { continue };
                for token in s.split(',') {
                    let token = token.trim();
                    if token.is_empty() {
                        continue;
                    }
                    if token.eq_ignore_ascii_case("upgrade") {
                        upgrade = true;
                        // Kept for the upgrade; the caller decides.
                        continue;
                    }
                    if token.eq_ignore_ascii_case("close")
                        || token.eq_ignore_ascii_case("keep-alive")
                    {
                        // Options, not field names (Keep-Alive goes below anyway).
                        continue;
                    }
                    if headers.remove(token).is_some() {
                        // A listed field may be one the proxy looks at later.
                        *present = Present {
                            connection: false,
                            ..Present::scan(headers)
                        };
                    }
                }
            }
        }
    }
    if present.keep_alive {
        headers.remove(KEEP_ALIVE);
    }
    if present.proxy_connection {
        headers.remove(PROXY_CONNECTION);
    }
    if present.te {
        headers.remove(TE);
    }
    if framed_by_transfer_encoding {
        headers.remove(TRANSFER_ENCODING);
        // A message with both was framed by Transfer-Encoding (RFC 9112
        // §6.3); forwarding its Content-Length too would invite smuggling.
        headers.remove(CONTENT_LENGTH);
    }
    upgrade
}

/// A few header values, collected without a heap allocation for up to two
/// (nearly every request has one `Connection` line).
#[derive(Default)]
struct Few {
    inline: [Option<HeaderValue>; 2],
    more: Vec<HeaderValue>,
}

impl FromIterator<HeaderValue> for Few {
    fn from_iter<I: IntoIterator<Item = HeaderValue>>(iter: I) -> Few {
        let mut v = Few::default();
        for (i, x) in iter.into_iter().enumerate() {
            match v.inline.get_mut(i) {
                Some(slot) => *slot = Some(x),
                None => v.more.push(x),
            }
        }
        v
    }
}

impl Few {
    fn iter(&self) -> impl Iterator<Item = &HeaderValue> {
        self.inline.iter().flatten().chain(&self.more)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every name `classify` knows, in every case, is known as what
    /// `HeaderName` makes of it; a name that differs in any one byte (by
    /// any token character but the same letter's other case) is not.
    #[test]
    fn classify_knows_exactly_its_names() {
        let hops = [
            ("te", Hop::Te),
            ("upgrade", Hop::Upgrade),
            ("connection", Hop::Connection),
            ("keep-alive", Hop::KeepAlive),
            ("proxy-connection", Hop::ProxyConnection),
            ("transfer-encoding", Hop::TransferEncoding),
        ];
        let known = [
            "date",
            "vary",
            "etag",
            "server",
            "expires",
            "location",
            "set-cookie",
            "content-type",
            "cache-control",
            "last-modified",
            "accept-ranges",
            "content-length",
            "content-encoding",
        ];
        let tchars: Vec<u8> = (0u8..=127)
            .filter(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b))
            .collect();
        let names = hops.iter().map(|(n, _)| *n).chain(known);
        for name in names {
            let want = match hops.iter().find(|(n, _)| *n == name) {
                Some((_, h)) => Name::Hop(*h),
                None => match classify(name.as_bytes()) {
                    Name::Known(k) => {
                        assert_eq!(k.name(), HeaderName::from_static(name));
                        Name::Known(k)
                    }
                    other => panic!("{name}: {other:?}"),
                },
            };
            for variant in [
                name.to_owned(),
                name.to_ascii_uppercase(),
                name.char_indices()
                    .map(|(i, c)| {
                        if i % 2 == 0 {
                            c.to_ascii_uppercase()
                        } else {
                            c
                        }
                    })
                    .collect(),
            ] {
                assert_eq!(classify(variant.as_bytes()), want, "{variant}");
            }
            for at in 0..name.len() {
                for &t in &tchars {
                    let mut other = name.as_bytes().to_vec();
                    if other[at].eq_ignore_ascii_case(&t) {
                        continue;
                    }
                    other[at] = t;
                    assert_ne!(
                        classify(&other),
                        want,
                        "{:?} taken for {name}",
                        String::from_utf8_lossy(&other)
                    );
                }
            }
        }
        for other in ["x-request-id", "content-lengths", "dates", "", "t"] {
            assert_eq!(classify(other.as_bytes()), Name::Other, "{other}");
        }
    }

    fn parts(lines: &[(&str, &str)]) -> Request<()> {
        let mut b = http::Request::builder().uri("/x?y=1");
        for (k, v) in lines {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap()
    }

    /// What the upstream gets: `request`, then the field lines as written,
    /// read back into a map.
    fn sent(p: &mut Request<()>, f: Option<&ForwardedValues>) -> HeaderMap {
        let info = request(p).unwrap();
        let mut buf = Vec::new();
        write_fields(&mut buf, p.headers(), &info, f);
        let mut fields = [httparse::EMPTY_HEADER; 32];
        buf.extend_from_slice(b"\r\n");
        let (_, fields) = httparse::parse_headers(&buf, &mut fields).unwrap().unwrap();
        let mut map = HeaderMap::new();
        for h in fields {
            map.append(
                HeaderName::from_bytes(h.name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(h.value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn hop_by_hop_fields_go_end_to_end_fields_stay() {
        let mut p = parts(&[
            ("host", "example.com"),
            ("connection", "keep-alive, X-Hop"),
            ("connection", "x-other"),
            ("x-hop", "1"),
            ("x-other", "2"),
            ("keep-alive", "timeout=5"),
            ("proxy-connection", "keep-alive"),
            ("te", "trailers"),
            ("upgrade", "h2c"),
            ("x-end", "3"),
        ]);
        let info = request(&mut p).unwrap();
        assert!(!info.upgrade);
        for gone in [
            "connection",
            "x-hop",
            "x-other",
            "keep-alive",
            "proxy-connection",
            "te",
            "upgrade",
        ] {
            assert!(!p.headers().contains_key(gone), "{gone} forwarded");
        }
        assert_eq!(p.headers()["x-end"], "3");
        assert_eq!(p.headers()["host"], "example.com");
    }

    #[test]
    fn upgrade_keeps_upgrade_and_says_connection_upgrade() {
        let mut p = parts(&[
            ("host", "h"),
            ("connection", "Upgrade, x-hop"),
            ("upgrade", "websocket"),
            ("x-hop", "1"),
        ]);
        let info = request(&mut p).unwrap();
        assert!(info.upgrade);
        assert_eq!(p.headers()["upgrade"], "websocket");
        assert_eq!(p.headers()["connection"], "upgrade");
        assert!(!p.headers().contains_key("x-hop"));
        // A field named in Connection that the proxy sets itself is replaced
        // by the proxy's own, not appended to.
        let f = ForwardedValues::new(Some("10.0.0.1:1".parse().unwrap()));
        let mut p = parts(&[
            ("host", "h"),
            ("connection", "x-forwarded-for"),
            ("x-forwarded-for", "6.6.6.6"),
        ]);
        let got = sent(&mut p, Some(&f));
        assert_eq!(got.get_all("x-forwarded-for").iter().count(), 1);
        assert_eq!(got["x-forwarded-for"], "10.0.0.1");
    }

    #[test]
    fn transfer_encoding_wins_over_content_length() {
        let mut p = parts(&[
            ("host", "h"),
            ("content-length", "5"),
            ("transfer-encoding", "chunked"),
        ]);
        request(&mut p).unwrap();
        assert!(!p.headers().contains_key("content-length"));
        assert!(!p.headers().contains_key("transfer-encoding"));
        // Also when Connection names Transfer-Encoding away first.
        let mut p = parts(&[
            ("host", "h"),
            ("connection", "transfer-encoding"),
            ("content-length", "5"),
            ("transfer-encoding", "chunked"),
        ]);
        request(&mut p).unwrap();
        assert!(!p.headers().contains_key("content-length"));
    }

    #[test]
    fn forwarded_fields_append_to_a_chain() {
        let f = ForwardedValues::new(Some("10.1.2.3:5555".parse().unwrap()));
        let mut p = parts(&[
            ("host", "h"),
            ("x-forwarded-for", "192.0.2.1"),
            ("x-forwarded-for", "192.0.2.2"),
            ("forwarded", "for=192.0.2.1"),
        ]);
        let got = sent(&mut p, Some(&f));
        assert_eq!(got.get_all("x-forwarded-for").iter().count(), 1, "one line");
        assert_eq!(got["x-forwarded-for"], "192.0.2.1, 192.0.2.2, 10.1.2.3");
        assert_eq!(got["forwarded"], "for=192.0.2.1, for=10.1.2.3;proto=http");
        assert_eq!(got["x-forwarded-proto"], "http");
        assert_eq!(got["host"], "h");

        let v6 = ForwardedValues::new(Some("[2001:db8::1]:80".parse().unwrap()));
        let mut p = parts(&[("host", "h"), ("x-forwarded-proto", "https")]);
        let got = sent(&mut p, Some(&v6));
        assert_eq!(got["x-forwarded-for"], "2001:db8::1");
        assert_eq!(got["forwarded"], "for=\"[2001:db8::1]\";proto=http");
        assert_eq!(
            got.get_all("x-forwarded-proto").iter().collect::<Vec<_>>(),
            ["https"],
            "kept from the proxy in front"
        );

        // None of them came in (the usual case, written in one piece).
        let mapped = ForwardedValues::new(Some("[::ffff:127.0.0.1]:80".parse().unwrap()));
        let mut p = parts(&[("host", "h")]);
        let got = sent(&mut p, Some(&mapped));
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!(got["x-forwarded-for"], "127.0.0.1");
        assert_eq!(got["forwarded"], "for=127.0.0.1;proto=http");
        assert_eq!(got["x-forwarded-proto"], "http");

        // A client on a Unix socket: no address to add; a chain that came
        // in passes as it was.
        let unknown = ForwardedValues::new(None);
        let mut p = parts(&[("host", "h"), ("x-forwarded-for", "192.0.2.9")]);
        let got = sent(&mut p, Some(&unknown));
        assert_eq!(got["x-forwarded-for"], "192.0.2.9");
        assert_eq!(got["forwarded"], "for=unknown;proto=http");

        // Off: nothing added, nothing changed.
        let mut p = parts(&[("host", "h"), ("x-forwarded-for", "192.0.2.9")]);
        let got = sent(&mut p, None);
        assert_eq!(got.len(), 2);
        assert_eq!(got["x-forwarded-for"], "192.0.2.9");
    }

    #[test]
    fn host_rules() {
        let mut p = parts(&[]);
        assert!(matches!(request(&mut p), Err(BadRequest::NoHost)));
        let mut p = parts(&[("host", "a"), ("host", "b")]);
        assert!(matches!(request(&mut p), Err(BadRequest::ManyHosts)));
        let mut p = parts(&[]);
        *p.version_mut() = Version::HTTP_10;
        assert!(request(&mut p).unwrap().needs_host);
        assert_eq!(p.version(), Version::HTTP_11);
        // Absolute form: the target's authority replaces Host; the target
        // becomes origin-form.
        let mut p = parts(&[("host", "ignored")]);
        *p.uri_mut() = "http://example.com:8080/a?b".parse().unwrap();
        request(&mut p).unwrap();
        assert_eq!(p.headers()["host"], "example.com:8080");
        assert_eq!(p.uri(), "/a?b");
    }
}
