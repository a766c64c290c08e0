//! Faults: an unreachable upstream and an upstream that dies with the
//! request in flight are answered 502 (counted); a body cut off midway cuts
//! the client's connection; a malformed request is answered 400 by the
//! proxy's own HTTP server and never reaches the upstream.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use changeover_proxy::{Config, Proxy, Upstream};
use http::StatusCode;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A raw upstream: for every connection, reads one request head, then
/// writes `reply` (maybe nothing) and closes. Counts connections.
async fn dies_after_head(reply: &'static [u8]) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let conns = Arc::new(AtomicUsize::new(0));
    let c = conns.clone();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            c.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                // What a process that dies here leaves behind: maybe a
                // partial answer, then the kernel closes its socket.
                let _gone = s.write_all(reply).await;
            });
        }
    });
    (addr, conns)
}

/// The contract: nothing listening at the upstream is a 502 with a short
/// text naming the generation, counted as a connect error; nothing stays in
/// flight.
#[tokio::test]
async fn unreachable_upstream_is_502() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    }; // closed again: nothing listens there now
    let proxy = Proxy::new(Config::default());
    proxy.routes().ready(7, Upstream::Tcp(port)).unwrap();
    let addr = serve_proxy(&proxy).await;
    let (status, headers, body) = get(addr, "/").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        body,
        "502 bad gateway: the server (generation 7) is unreachable\n"
    );
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    let m = proxy.metrics();
    let g = m.generation(7).unwrap();
    assert_eq!(g.upstream_errors.connect, 1);
    assert_eq!(g.responses.class(5), 1);
    assert_eq!(g.in_flight, 0);
}

/// The contract: an upstream that reads the request and dies before
/// answering gives the client a 502 (no retry: the connection was new, so
/// it was no idle close), counted as `closed`; in flight goes back to 0.
#[tokio::test]
async fn upstream_dying_with_the_request_in_flight_is_502() {
    let (up, conns) = dies_after_head(b"").await;
    let proxy = Proxy::new(Config::default());
    proxy.routes().ready(1, Upstream::Tcp(up)).unwrap();
    let addr = serve_proxy(&proxy).await;
    let (status, _, body) = get(addr, "/work").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        body,
        "502 bad gateway: the server (generation 1) closed the connection before answering\n"
    );
    assert_eq!(
        conns.load(Ordering::SeqCst),
        1,
        "retried although nothing was reused"
    );
    let m = proxy.metrics();
    let g = m.generation(1).unwrap();
    assert_eq!(g.upstream_errors.closed, 1);
    assert_eq!(g.retries, 0);
    assert_eq!(g.in_flight, 0);
}

/// The contract: a response whose body breaks off midway cannot become a
/// 502 (its status line may be on the wire already); the client must see
/// its connection cut — before the head or after part of the body — never
/// a whole response that is short.
#[tokio::test]
async fn body_cut_off_midway_cuts_the_client_connection() {
    let (up, _) =
        dies_after_head(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly part of it").await;
    let proxy = Proxy::new(Config::default());
    proxy.routes().ready(1, Upstream::Tcp(up)).unwrap();
    let addr = serve_proxy(&proxy).await;
    let got = raw(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    if let Some((head, body)) = got.split_once("\r\n\r\n") {
        assert!(head.starts_with("HTTP/1.1 200"), "{got:?}");
        assert_eq!(head_value(head, "content-length"), Some("100"), "{got:?}");
        assert!(body.len() < 100, "a cut-off body arrived whole: {got:?}");
    } else {
        assert!(
            !got.starts_with("HTTP/1.1 5"),
            "the proxy made up a status: {got:?}"
        );
    }
    let m = proxy.metrics();
    let g = m.generation(1).unwrap();
    assert_eq!(g.upstream_errors.body, 1);
    assert_eq!(g.in_flight, 0);
}

/// The contract: requests that are malformed, ambiguous or not meant for a
/// reverse proxy are answered 4xx by the proxy; the upstream never sees a
/// connection, let alone the request.
#[tokio::test]
async fn malformed_requests_get_400_and_never_reach_the_upstream() {
    let up = named("should not be reached").await;
    let proxy = Proxy::new(Config::default());
    proxy.routes().ready(1, Upstream::Tcp(up.addr)).unwrap();
    let addr = serve_proxy(&proxy).await;
    let cases: &[(&str, &[u8], &str)] = &[
        (
            "a header line without a colon",
            b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
            "HTTP/1.1 400",
        ),
        ("not HTTP at all", b"HELLO THERE\r\n\r\n", "HTTP/1.1 400"),
        (
            "a transfer coding other than chunked",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
            "HTTP/1.1 400",
        ),
        (
            "two different Content-Lengths",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
            "HTTP/1.1 400",
        ),
        (
            "no Host",
            b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 400",
        ),
        (
            "two Hosts",
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 400",
        ),
        (
            "CONNECT",
            b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 405",
        ),
    ];
    for (what, request, want) in cases {
        let got = raw(addr, request).await;
        assert!(got.starts_with(want), "{what}: got {got:?}");
    }
    let no_host = raw(addr, b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").await;
    assert!(
        no_host.ends_with("400 bad request: the request has no Host header\n"),
        "{no_host:?}"
    );
    assert_eq!(
        up.connections(),
        0,
        "a malformed request reached the upstream"
    );
    assert_eq!(up.requests(), 0);
    // A good request still works, on the same proxy.
    assert_eq!(get(addr, "/").await.2, "should not be reached");
    assert_eq!(up.requests(), 1);
    // The proxy's own: no Host (twice), two Hosts, CONNECT; hyper's parse
    // errors never reach it.
    assert_eq!(proxy.metrics().unrouted.class(4), 4);
}
