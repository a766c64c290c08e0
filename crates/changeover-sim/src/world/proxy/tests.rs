//! The Service address against tiny servers: each way a request can fail is recorded once,
//! with its pod, and an answered request is counted.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";
const DEADLINE: Duration = Duration::from_secs(10);

async fn proxy(view: View) -> Proxy {
    let p = Proxy::start(Instant::now(), Rng::new(5), Duration::from_secs(2))
        .await
        .unwrap();
    p.set_view(view);
    p
}

fn backend(pod: PodId, addr: SocketAddr) -> View {
    View {
        ready: vec![Backend { pod, addr }],
        fallback: Vec::new(),
    }
}

/// One request on a fresh connection through the proxy: what came back before the close.
async fn request(p: &Proxy) -> Vec<u8> {
    let mut c = TcpStream::connect(p.addr()).await.unwrap();
    c.write_all(REQUEST).await.unwrap();
    let mut out = Vec::new();
    let _read = tokio::time::timeout(DEADLINE, c.read_to_end(&mut out))
        .await
        .expect("the proxy answers or closes");
    out
}

/// Waits until the proxy has recorded `n` failures.
async fn failures(p: &Proxy, n: usize) -> Vec<RawFailure> {
    tokio::time::timeout(DEADLINE, async {
        loop {
            let log = p.log();
            if log.failures.len() >= n {
                return log.failures;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the failure is recorded")
}

/// A server that runs `serve` on each connection.
async fn server<F, Fut>(serve: F) -> SocketAddr
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            serve(s).await;
        }
    });
    addr
}

async fn read_request(s: &mut TcpStream) {
    let mut buf = [0u8; 1024];
    let mut got = Vec::new();
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf).await.unwrap();
        if n == 0 {
            return;
        }
        got.extend_from_slice(&buf[..n]);
    }
}

#[tokio::test]
async fn no_endpoint_and_refused_are_recorded_when_the_request_arrives() {
    let p = proxy(View::default()).await;
    assert!(request(&p).await.is_empty());
    let f = failures(&p, 1).await;
    assert_eq!((f[0].how, f[0].pod), (How::NoEndpoint, None));

    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    p.set_view(backend(3, closed));
    assert!(request(&p).await.is_empty());
    let f = failures(&p, 2).await;
    assert_eq!((f[1].how, f[1].pod), (How::Refused, Some(3)));
}

#[tokio::test]
async fn answers_count_and_a_bad_status_fails() {
    let addr = server(|mut s| async move {
        for body in ["200 OK", "503 Busy"] {
            read_request(&mut s).await;
            let r = format!("HTTP/1.1 {body}\r\nContent-Length: 2\r\n\r\nok");
            s.write_all(r.as_bytes()).await.unwrap();
        }
    })
    .await;
    let p = proxy(backend(0, addr)).await;
    let mut c = TcpStream::connect(p.addr()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    for _ in 0..2 {
        c.write_all(REQUEST).await.unwrap();
        let n = c.read(&mut buf).await.unwrap();
        assert!(n > 0);
    }
    let f = failures(&p, 1).await;
    assert_eq!((f[0].how, f[0].pod), (How::BadStatus(503), Some(0)));
    assert_eq!(p.log().buckets.iter().map(|b| b.ok).sum::<u64>(), 1);
}

#[tokio::test]
async fn a_close_with_the_request_unanswered_fails_it() {
    let addr = server(|mut s| async move {
        read_request(&mut s).await;
        drop(s);
    })
    .await;
    let p = proxy(backend(1, addr)).await;
    assert!(request(&p).await.is_empty());
    assert_eq!(failures(&p, 1).await[0].how, How::Closed);
}

#[tokio::test]
async fn a_request_into_a_connection_the_pod_closed_while_idle_fails() {
    let addr = server(|mut s| async move {
        read_request(&mut s).await;
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .await
            .unwrap();
        drop(s); // closed after the answer, without `Connection: close`
    })
    .await;
    let p = proxy(backend(2, addr)).await;
    let mut c = TcpStream::connect(p.addr()).await.unwrap();
    c.write_all(REQUEST).await.unwrap();
    let mut buf = vec![0u8; 4096];
    assert!(c.read(&mut buf).await.unwrap() > 0);
    // The client did not notice the close yet and sends its next request.
    let _written = c.write_all(REQUEST).await;
    let f = failures(&p, 1).await;
    assert!(
        matches!(f[0].how, How::ClosedIdle | How::Closed | How::Reset),
        "{f:?}"
    );
    assert_eq!(f[0].pod, Some(2));
    assert_eq!(p.log().buckets.iter().map(|b| b.ok).sum::<u64>(), 1);
}

#[tokio::test]
async fn picks_among_ready_endpoints_and_falls_back_only_when_none_is_ready() {
    let addr = server(|mut s| async move {
        read_request(&mut s).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .await;
    })
    .await;
    let view = View {
        ready: vec![Backend { pod: 0, addr }, Backend { pod: 1, addr }],
        fallback: vec![Backend { pod: 2, addr }],
    };
    let p = proxy(view.clone()).await;
    for _ in 0..40 {
        request(&p).await;
    }
    let used: Vec<PodId> = {
        let mut u: Vec<PodId> = p.log().connections.iter().map(|c| c.0).collect();
        u.sort_unstable();
        u
    };
    assert_eq!(used, [0, 1], "both ready pods, never the fallback");
    p.set_view(View {
        ready: Vec::new(),
        ..view
    });
    request(&p).await;
    assert!(p.log().connections.iter().any(|c| c.0 == 2));
    assert!(p.log().failures.is_empty());
}
