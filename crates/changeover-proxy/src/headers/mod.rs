//! Header rewriting between the two hops: hop-by-hop fields (RFC 9110
//! §7.6.1), `Host` and the request target here; the forwarded fields in
//! [`forwarded`]; response field names, told apart cheaply, in [`names`].

mod forwarded;
mod names;

pub(crate) use forwarded::{ForwardedValues, write_fields};
pub(crate) use names::{Hop, Known, Name, classify};

use http::header::{
    CONNECTION, CONTENT_LENGTH, HOST, HeaderMap, HeaderName, HeaderValue, TE, TRANSFER_ENCODING,
    UPGRADE,
};
use http::{Request, Uri, Version};

const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
const UPGRADE_VALUE: HeaderValue = HeaderValue::from_static("upgrade");

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
