//! The one retry (DESIGN invariant 7): a request that failed on a reused
//! pooled connection before any response byte is sent again on a new
//! connection when that is safe — idempotent and without a body — and
//! answered 502 otherwise.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use changeover_proxy::{Config, Proxy, Upstream};
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use support::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// What a raw upstream does after answering the first request of a connection.
#[derive(Clone, Copy)]
enum Then {
    /// Reads the next request and closes without answering: the request
    /// crossed the server's close of an idle connection.
    CloseOnNextRequest,
    /// Closes at once, while the connection is idle (a keep-alive timeout,
    /// Node's `closeIdleConnections()`), and reports it.
    CloseWhileIdle,
}

struct RawUpstream {
    addr: SocketAddr,
    requests: Arc<AtomicUsize>,
    connections: Arc<AtomicUsize>,
    idle_closed: mpsc::UnboundedReceiver<()>,
}

/// An upstream that answers the first request on every connection (keep-alive)
/// and then does `then`.
async fn raw_upstream(then: Then) -> RawUpstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let connections = Arc::new(AtomicUsize::new(0));
    let (closed_tx, idle_closed) = mpsc::unbounded_channel();
    let (r, c) = (requests.clone(), connections.clone());
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            c.fetch_add(1, Ordering::SeqCst);
            let (r, closed_tx) = (r.clone(), closed_tx.clone());
            tokio::spawn(async move {
                if next_request_head(&mut s).await.is_none() {
                    return;
                }
                r.fetch_add(1, Ordering::SeqCst);
                s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await
                    .unwrap();
                match then {
                    Then::CloseOnNextRequest => {
                        if next_request_head(&mut s).await.is_some() {
                            r.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    Then::CloseWhileIdle => {
                        s.shutdown().await.unwrap();
                        drop(s);
                        closed_tx.send(()).unwrap();
                    }
                }
            });
        }
    });
    RawUpstream {
        addr,
        requests,
        connections,
        idle_closed,
    }
}

async fn request(addr: SocketAddr, method: Method, body: &'static str) -> (StatusCode, String) {
    let req = Request::builder()
        .method(method)
        .uri("/")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap();
    let resp = send(addr, req).await;
    (resp.status(), text(resp.into_body()).await)
}

/// The contract, per method: after one request warmed the pool, the next
/// request goes on the pooled connection, which the upstream closes on
/// reading it. Idempotent requests without a body are retried on a new
/// connection and succeed; anything else is answered 502 — the upstream
/// did receive it, so sending it again could do its work twice.
#[tokio::test]
async fn only_idempotent_requests_without_a_body_are_retried() {
    let cases: &[(Method, &str, StatusCode)] = &[
        (Method::GET, "", StatusCode::OK),
        (Method::HEAD, "", StatusCode::OK),
        (Method::DELETE, "", StatusCode::OK),
        (Method::PUT, "", StatusCode::OK),
        (Method::POST, "", StatusCode::BAD_GATEWAY),
        (Method::PATCH, "", StatusCode::BAD_GATEWAY),
        (
            Method::PUT,
            "a body the proxy does not keep",
            StatusCode::BAD_GATEWAY,
        ),
    ];
    for (method, body, want) in cases {
        let up = raw_upstream(Then::CloseOnNextRequest).await;
        let proxy = Proxy::new(Config::default());
        proxy.routes().ready(1, Upstream::Tcp(up.addr)).unwrap();
        let addr = serve_proxy(&proxy).await;
        assert_eq!(
            request(addr, Method::GET, "").await.0,
            StatusCode::OK,
            "warm-up"
        );
        let what = format!("{method} with body {body:?}");
        let (status, text) = request(addr, method.clone(), body).await;
        assert_eq!(status, *want, "{what}: {text}");
        let m = proxy.metrics();
        let g = m.generation(1).unwrap();
        if *want == StatusCode::OK {
            assert_eq!(g.retries, 1, "{what}");
            // The warm-up, the one that crossed the close, and the retry.
            assert_eq!(up.requests.load(Ordering::SeqCst), 3, "{what}");
            assert_eq!(up.connections.load(Ordering::SeqCst), 2, "{what}");
            assert_eq!(g.upstream_errors.closed, 0, "{what}");
        } else {
            assert_eq!(g.retries, 0, "{what}");
            assert_eq!(
                up.connections.load(Ordering::SeqCst),
                1,
                "{what}: sent again"
            );
            assert_eq!(g.upstream_errors.closed, 1, "{what}");
            assert!(
                text.contains("closed the connection before answering"),
                "{what}: {text}"
            );
        }
        assert_eq!(g.in_flight, 0, "{what}");
    }
}

/// The contract: a pooled connection the upstream closed while it was idle
/// never fails the next request: either the pool notices the close and
/// connects anew, or the request crosses the close and is retried.
#[tokio::test]
async fn a_connection_closed_while_idle_fails_no_request() {
    let mut up = raw_upstream(Then::CloseWhileIdle).await;
    let proxy = Proxy::new(Config::default());
    proxy.routes().ready(1, Upstream::Tcp(up.addr)).unwrap();
    let addr = serve_proxy(&proxy).await;
    for i in 0..20 {
        let (status, body) = request(addr, Method::GET, "").await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, "ok"),
            "request {i}"
        );
        within("the upstream's idle close", up.idle_closed.recv())
            .await
            .unwrap();
    }
    let m = proxy.metrics();
    let g = m.generation(1).unwrap();
    assert_eq!(g.responses.class(2), 20);
    assert_eq!(g.upstream_errors.closed, 0);
    assert_eq!(
        up.connections.load(Ordering::SeqCst),
        20 + g.retries as usize
    );
}
