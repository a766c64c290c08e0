//! Headers between the hops: hop-by-hop fields (RFC 9110 §7.6.1) stop at
//! the proxy in both directions, end-to-end fields pass, the forwarded
//! fields are added (or not, when turned off), and `Host` reaches the
//! upstream for HTTP/1.1, HTTP/1.0 and HTTP/2 clients alike.

mod support;

use bytes::Bytes;
use changeover_proxy::{Config, Proxy, Upstream};
use http::{Request, Response, StatusCode};
use http_body_util::Empty;
use hyper_util::rt::{TokioExecutor, TokioIo};
use support::*;

/// An upstream that answers with the request's version and headers, one
/// `name: value` line each, sorted; its response carries hop-by-hop fields
/// of its own.
async fn echo_headers() -> TestUpstream {
    upstream(|req| async move {
        let mut lines: Vec<String> = req
            .headers()
            .iter()
            .map(|(k, v)| format!("{}: {}", k, v.to_str().unwrap()))
            .collect();
        lines.sort();
        let body = format!("{:?}\n{}\n", req.version(), lines.join("\n"));
        Response::builder()
            .header("connection", "x-resp-hop")
            .header("x-resp-hop", "secret")
            .header("keep-alive", "timeout=1")
            .header("proxy-connection", "keep-alive")
            .header("x-resp-end", "kept")
            .body(full(body))
            .unwrap()
    })
    .await
}

fn lines(body: &str) -> Vec<&str> {
    body.lines().collect()
}

const HOP_BY_HOP_REQUEST: &[u8] = b"GET /h HTTP/1.1\r\n\
Host: example.test\r\n\
Connection: X-Hop, close\r\n\
X-Hop: secret\r\n\
Keep-Alive: timeout=5\r\n\
Proxy-Connection: keep-alive\r\n\
TE: trailers\r\n\
Upgrade: h2c\r\n\
X-Forwarded-For: 192.0.2.7\r\n\
X-End: kept\r\n\
\r\n";

/// The contract: hop-by-hop fields do not cross the proxy, in either
/// direction; the forwarded fields name the client (appended to a chain
/// that came in); end-to-end fields pass untouched.
#[tokio::test]
async fn hop_by_hop_fields_stop_and_forwarded_fields_are_added() {
    let up = echo_headers().await;
    let proxy = Proxy::new(Config::default());
    proxy.routes().ready(1, Upstream::Tcp(up.addr)).unwrap();
    let addr = serve_proxy(&proxy).await;

    let resp = raw(addr, HOP_BY_HOP_REQUEST).await;
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let seen = lines(body);
    assert_eq!(
        seen,
        [
            "HTTP/1.1",
            "forwarded: for=127.0.0.1;proto=http",
            "host: example.test",
            "x-end: kept",
            "x-forwarded-for: 192.0.2.7, 127.0.0.1",
            "x-forwarded-proto: http",
        ],
        "what the upstream received"
    );
    // The response: the upstream's hop-by-hop fields are gone; the only
    // Connection field is the proxy's own answer to the client's `close`.
    for gone in ["x-resp-hop", "keep-alive", "proxy-connection"] {
        assert_eq!(
            head_value(head, gone),
            None,
            "{gone} reached the client: {head}"
        );
    }
    assert_eq!(head_value(head, "connection"), Some("close"));
    assert_eq!(head_value(head, "x-resp-end"), Some("kept"));
}

/// The contract: with the forwarded fields off, none is added and the
/// client's own pass untouched.
#[tokio::test]
async fn forwarded_fields_can_be_turned_off() {
    let up = echo_headers().await;
    let proxy = Proxy::new(Config {
        forwarded_headers: false,
        ..Config::default()
    });
    proxy.routes().ready(1, Upstream::Tcp(up.addr)).unwrap();
    let addr = serve_proxy(&proxy).await;
    let resp = raw(addr, HOP_BY_HOP_REQUEST).await;
    let body = resp.split_once("\r\n\r\n").unwrap().1;
    assert_eq!(
        lines(body),
        [
            "HTTP/1.1",
            "host: example.test",
            "x-end: kept",
            "x-forwarded-for: 192.0.2.7",
        ]
    );
}

/// The contract: the upstream always gets an HTTP/1.1 request with one
/// `Host` — the client's; for an HTTP/1.0 request without one, the
/// upstream's address; for HTTP/2, the `:authority`.
#[tokio::test]
async fn host_reaches_the_upstream_from_every_client_version() {
    let up = echo_headers().await;
    let proxy = Proxy::new(Config {
        forwarded_headers: false,
        ..Config::default()
    });
    proxy.routes().ready(1, Upstream::Tcp(up.addr)).unwrap();
    let addr = serve_proxy(&proxy).await;

    let resp = raw(addr, b"GET / HTTP/1.0\r\n\r\n").await;
    assert!(resp.starts_with("HTTP/1.0 200"), "{resp}");
    let body = resp.split_once("\r\n\r\n").unwrap().1;
    assert_eq!(
        lines(body),
        ["HTTP/1.1".to_owned(), format!("host: {}", up.addr)]
    );

    // HTTP/2 with prior knowledge, as gRPC clients and h2c load balancers speak.
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut h2, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = Request::get("http://app.example:8443/h2?x=1")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = within("an HTTP/2 response", h2.send_request(req))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.version(), http::Version::HTTP_2);
    assert_eq!(resp.headers()["x-resp-end"], "kept");
    assert!(!resp.headers().contains_key("connection"));
    let body = text(resp.into_body()).await;
    assert_eq!(lines(&body), ["HTTP/1.1", "host: app.example:8443"]);
}
