//! How the proxy reads an upstream's HTTP/1.1 byte by byte: bodies framed
//! by `Content-Length`, chunked, or by the close; heads and bodies split
//! across reads; informational responses skipped; an upstream that answers
//! before it read the request body; bytes after a response; heads that are
//! not HTTP. Each upstream here is a raw socket script, so the bytes are
//! exactly the ones under test.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use changeover_proxy::{Config, Proxy, Upstream};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// One step of a scripted upstream's answer.
#[derive(Clone)]
enum Step {
    /// Write these bytes.
    Write(&'static [u8]),
    /// Wait this long (so the proxy reads what came before on its own).
    Pause(Duration),
    /// Close the connection.
    Close,
}

/// A raw upstream that, on every connection and for every request on it,
/// reads the request (head, and a body by `Content-Length` when `read_body`)
/// and reports it, then plays `script`.
struct Scripted {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    requests: mpsc::UnboundedReceiver<Vec<u8>>,
}

fn content_length(head: &[u8]) -> usize {
    String::from_utf8_lossy(head)
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0)
}

async fn scripted(read_body: bool, script: Vec<Step>) -> Scripted {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let (tx, requests) = mpsc::unbounded_channel();
    let c = connections.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            c.fetch_add(1, Ordering::SeqCst);
            let (tx, script) = (tx.clone(), script.clone());
            tokio::spawn(async move {
                while let Some(mut request) = next_request_head(&mut s).await {
                    if read_body {
                        let mut body = vec![0u8; content_length(&request)];
                        if s.read_exact(&mut body).await.is_err() {
                            return;
                        }
                        request.extend_from_slice(&body);
                    }
                    // The test may have stopped listening; the request was
                    // read either way.
                    let _unheard = tx.send(request);
                    for step in &script {
                        match step {
                            Step::Write(b) => {
                                if s.write_all(b).await.is_err() {
                                    return;
                                }
                            }
                            Step::Pause(d) => tokio::time::sleep(*d).await,
                            Step::Close => return,
                        }
                    }
                }
            });
        }
    });
    Scripted {
        addr,
        connections,
        requests,
    }
}

async fn proxy_to(up: &Scripted) -> (Proxy, SocketAddr) {
    let proxy = Proxy::new(Config {
        forwarded_headers: false,
        ..Config::default()
    });
    proxy.routes().ready(1, Upstream::Tcp(up.addr)).unwrap();
    let addr = serve_proxy(&proxy).await;
    (proxy, addr)
}

const PAUSE: Step = Step::Pause(Duration::from_millis(50));

/// The contract: a response without `Content-Length` or chunked coding is
/// read until the upstream closes (HTTP/1.0 style), passed on whole, and
/// its connection is not reused.
#[tokio::test]
async fn a_body_framed_by_the_close_is_read_to_the_close() {
    let up = scripted(
        false,
        vec![
            Step::Write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst part, "),
            PAUSE,
            Step::Write(b"and the rest"),
            Step::Close,
        ],
    )
    .await;
    let (proxy, addr) = proxy_to(&up).await;
    for _ in 0..2 {
        let (status, headers, body) = get(addr, "/").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["content-type"], "text/plain");
        assert_eq!(body, "first part, and the rest");
    }
    assert_eq!(
        up.connections.load(Ordering::SeqCst),
        2,
        "reused a closed connection"
    );
    let m = proxy.metrics();
    let g = m.generation(1).unwrap();
    assert_eq!((g.responses.class(2), g.upstream_errors.body), (2, 0));
    assert_eq!(g.in_flight, 0);
}

/// The contract: a head and a body that come in pieces (the head split
/// mid-field, a chunk size split from its data, trailers last) make the
/// same response as if they had come at once; the connection is reused.
#[tokio::test]
async fn heads_and_chunked_bodies_split_across_reads() {
    let up = scripted(
        false,
        vec![
            Step::Write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chu"),
            PAUSE,
            Step::Write(b"nked\r\nX-Up: 1\r\n\r\n5\r\nhel"),
            PAUSE,
            Step::Write(b"lo\r\n6\r\n world\r\n0\r\n"),
            PAUSE,
            Step::Write(b"\r\n"),
        ],
    )
    .await;
    let (proxy, addr) = proxy_to(&up).await;
    for _ in 0..2 {
        let (status, headers, body) = get(addr, "/").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["x-up"], "1");
        assert_eq!(body, "hello world");
    }
    assert_eq!(up.connections.load(Ordering::SeqCst), 1, "not reused");
    assert_eq!(proxy.metrics().generation(1).unwrap().idle_connections, 1);
}

/// The contract: informational responses (100 Continue, 103 Early Hints)
/// are not the answer: the proxy waits for the final one.
#[tokio::test]
async fn informational_responses_are_skipped() {
    let up = scripted(
        false,
        vec![
            Step::Write(b"HTTP/1.1 100 Continue\r\n\r\n"),
            PAUSE,
            Step::Write(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\ndone"),
        ],
    )
    .await;
    let (_proxy, addr) = proxy_to(&up).await;
    let (status, headers, body) = get(addr, "/").await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(
        !headers.contains_key("link"),
        "an informational field leaked"
    );
    assert_eq!(body, "done");
}

/// The contract: a request body with `Content-Length` reaches the upstream
/// byte for byte, framed the same way; the connection serves the next
/// request.
#[tokio::test]
async fn a_content_length_request_body_goes_as_it_came() {
    let mut up = scripted(
        true,
        vec![Step::Write(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        )],
    )
    .await;
    let (_proxy, addr) = proxy_to(&up).await;
    let body = "x".repeat(100_000);
    for _ in 0..2 {
        let req = Request::post("/upload")
            .header("content-length", body.len())
            .body(Full::new(Bytes::from(body.clone())))
            .unwrap();
        let resp = send(addr, req).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(text(resp.into_body()).await, "ok");
        let got = within("the request", up.requests.recv()).await.unwrap();
        let (head, sent) = got.split_at(got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4);
        let head = String::from_utf8_lossy(head).to_ascii_lowercase();
        assert!(head.starts_with("post /upload http/1.1\r\n"), "{head}");
        assert!(head.contains("content-length: 100000\r\n"), "{head}");
        assert!(!head.contains("transfer-encoding"), "{head}");
        assert_eq!(sent, body.as_bytes());
    }
    assert_eq!(up.connections.load(Ordering::SeqCst), 1);
}

/// The contract: an upstream that answers before it has read the request
/// body (a 413, the connection left open) has its answer passed on; the
/// connection is not reused, since the rest of that body would arrive on
/// it as the next request.
#[tokio::test]
async fn an_answer_before_the_body_is_passed_on() {
    let up = scripted(
        false,
        vec![Step::Write(
            b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 9\r\n\r\ntoo large",
        )],
    )
    .await;
    let (proxy, addr) = proxy_to(&up).await;
    let (tx, body) = channel_body();
    let req = Request::post("/upload").body(body).unwrap();
    let response = tokio::spawn(send(addr, req));
    // A first chunk, then nothing more until the answer is in.
    tx.send(Bytes::from_static(b"some of it")).await.unwrap();
    let resp = within("the early answer", response).await.unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let mut body = resp.into_body();
    let mut got = Vec::new();
    while let Some(frame) = within("the body", body.frame()).await {
        got.extend_from_slice(&frame.unwrap().into_data().unwrap_or_default());
    }
    assert_eq!(got, b"too large");
    drop(tx);
    let m = proxy.metrics();
    let g = m.generation(1).unwrap();
    assert_eq!(g.responses.class(4), 1);
    assert_eq!(
        g.idle_connections, 0,
        "a connection with an unsent body was kept"
    );
}

/// The contract: bytes after a complete response (more than its
/// `Content-Length`) do not reach the client, and the connection they came
/// on is not used again.
#[tokio::test]
async fn bytes_after_a_response_retire_its_connection() {
    let up = scripted(
        false,
        vec![Step::Write(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n",
        )],
    )
    .await;
    let (proxy, addr) = proxy_to(&up).await;
    for _ in 0..3 {
        assert_eq!(get(addr, "/").await.2, "ok");
    }
    assert_eq!(up.connections.load(Ordering::SeqCst), 3);
    assert_eq!(proxy.metrics().generation(1).unwrap().idle_connections, 0);
}

/// The contract: an upstream that answers with something that is not an
/// HTTP/1.1 response head (garbage, two different lengths, a 101 nobody
/// asked for) gets the client a 502 saying so, counted; nothing of it is
/// passed on.
#[tokio::test]
async fn heads_that_are_not_http_are_502() {
    let cases: [&'static [u8]; 3] = [
        b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
    ];
    for reply in cases {
        let up = scripted(false, vec![Step::Write(reply), Step::Close]).await;
        let (proxy, addr) = proxy_to(&up).await;
        let (status, _, body) = get(addr, "/").await;
        let what = String::from_utf8_lossy(reply);
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{what}");
        assert_eq!(
            body,
            "502 bad gateway: the server (generation 1) sent a response head that is not valid HTTP/1.1\n",
            "{what}"
        );
        let m = proxy.metrics();
        assert_eq!(m.generation(1).unwrap().upstream_errors.closed, 1, "{what}");
    }
}
