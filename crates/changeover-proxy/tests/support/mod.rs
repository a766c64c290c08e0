//! Test support: the proxy served on 127.0.0.1 by a plain hyper-util server,
//! upstream servers (hyper, or raw sockets when a test needs to misbehave
//! byte by byte), and small clients. Every wait has a deadline.

#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use changeover_proxy::Proxy;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Empty, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// The bound on every wait in these tests.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// A body type the test upstreams answer with.
pub type TestBody = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// A whole body from bytes.
pub fn full(b: impl Into<Bytes>) -> TestBody {
    Full::new(b.into())
        .map_err(|e: Infallible| match e {})
        .boxed()
}

/// An empty body.
pub fn empty() -> TestBody {
    Empty::new().map_err(|e: Infallible| match e {}).boxed()
}

/// A body fed from a channel, frame by frame, ending when the sender drops.
pub struct ChannelBody(pub mpsc::Receiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

/// A channel body and its sender.
pub fn channel_body() -> (mpsc::Sender<Bytes>, TestBody) {
    let (tx, rx) = mpsc::channel(1);
    (tx, ChannelBody(rx).boxed())
}

/// Waits for `f`, or panics naming `what` after [`DEADLINE`].
pub async fn within<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(DEADLINE, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: not within {DEADLINE:?}"),
    }
}

/// Serves `proxy` on 127.0.0.1 with a plain hyper-util server (HTTP/1.1
/// and HTTP/2, upgrades on), the way the supervisor will on its public
/// sockets. Returns the address.
pub async fn serve_proxy(proxy: &Proxy) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let proxy = proxy.clone();
    tokio::spawn(async move {
        let builder = Arc::new(auto::Builder::new(TokioExecutor::new()));
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            stream.set_nodelay(true).unwrap();
            let service = proxy.service(Some(peer));
            let builder = builder.clone();
            tokio::spawn(async move {
                // A client that breaks off is not the test's business.
                let _ended = builder
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// An upstream server run by a test.
pub struct TestUpstream {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Requests it received.
    pub requests: Arc<AtomicUsize>,
    /// Connections it accepted.
    pub connections: Arc<AtomicUsize>,
    /// Connections that ended (closed by the peer, or broken).
    closed: Arc<(AtomicUsize, tokio::sync::Notify)>,
    task: tokio::task::JoinHandle<()>,
}

impl TestUpstream {
    /// Requests received so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Waits until `n` connections have ended.
    pub async fn wait_closed(&self, n: usize) {
        let (count, notify) = &*self.closed;
        within("upstream connections to close", async {
            loop {
                let notified = notify.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if count.load(Ordering::SeqCst) >= n {
                    return;
                }
                notified.await;
            }
        })
        .await
    }
}

impl Drop for TestUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An HTTP/1.1 upstream (keep-alive, upgrades on) answering with `handler`.
pub async fn upstream<F, Fut>(handler: F) -> TestUpstream
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<TestBody>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let connections = Arc::new(AtomicUsize::new(0));
    let closed = Arc::new((AtomicUsize::new(0), tokio::sync::Notify::new()));
    let (r, c, d) = (requests.clone(), connections.clone(), closed.clone());
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            c.fetch_add(1, Ordering::SeqCst);
            let handler = handler.clone();
            let r = r.clone();
            let d = d.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    r.fetch_add(1, Ordering::SeqCst);
                    let f = handler(req);
                    async move { Ok::<_, Infallible>(f.await) }
                });
                let _ended = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .with_upgrades()
                    .await;
                d.0.fetch_add(1, Ordering::SeqCst);
                d.1.notify_waiters();
            });
        }
    });
    TestUpstream {
        addr,
        requests,
        connections,
        closed,
        task,
    }
}

/// An upstream that answers every request with `name` as its body.
pub async fn named(name: &'static str) -> TestUpstream {
    upstream(move |_req| async move { Response::new(full(name)) }).await
}

/// Reads a whole body into a string.
pub async fn text<B>(body: B) -> String
where
    B: Body,
    B::Error: std::fmt::Debug,
{
    let bytes = body.collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// Sends `req` on a new HTTP/1.1 connection to `addr` (a `Host` header is
/// added when missing).
pub async fn send<B>(addr: SocketAddr, mut req: Request<B>) -> Response<Incoming>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    if !req.headers().contains_key("host") {
        req.headers_mut()
            .insert("host", addr.to_string().parse().unwrap());
    }
    within("response", sender.send_request(req)).await.unwrap()
}

/// `GET path` on a new connection: status, headers and body text.
pub async fn get(addr: SocketAddr, path: &str) -> (StatusCode, HeaderMap, String) {
    let req = Request::get(path).body(Empty::<Bytes>::new()).unwrap();
    let resp = send(addr, req).await;
    let status = resp.status();
    let headers = resp.headers().clone();
    (
        status,
        headers,
        within("body", text(resp.into_body())).await,
    )
}

/// Writes `request` on a new connection and reads until the server closes
/// it: the raw bytes of whatever came back.
pub async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    within("the server to close", s.read_to_end(&mut out))
        .await
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads one request head from `s`, as an upstream would: byte by byte, so
/// nothing after it is taken; `None` at EOF (or an error).
pub async fn next_request_head(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte).await {
            Ok(1) => buf.push(byte[0]),
            _ => return None,
        }
    }
    Some(buf)
}

/// Reads from `s` until `\r\n\r\n`: a response head, as text.
pub async fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = within("a response head", s.read(&mut byte)).await.unwrap();
        assert!(
            n > 0,
            "closed before a head: {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

/// The value of header `name` in a raw response head (case-insensitive).
pub fn head_value<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}
