//! Small hand-written HTTP servers on 127.0.0.1:0 for the load driver's tests.

// Each test file uses a part of this module.
#![allow(dead_code)]

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};

/// Bound on every wait in these tests.
pub(crate) const DEADLINE: Duration = Duration::from_secs(20);

/// Fails the test if `fut` takes longer than [`DEADLINE`].
pub(crate) async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(DEADLINE, fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what} did not finish within {DEADLINE:?}"),
    }
}

/// What a test server saw.
#[derive(Default)]
pub(crate) struct Stats {
    accepted: AtomicU64,
    /// Connections whose handler returned (the client went away, or the handler closed it).
    ended: AtomicU64,
    requests: AtomicU64,
    changed: Notify,
}

impl Stats {
    pub(crate) fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }

    pub(crate) fn ended(&self) -> u64 {
        self.ended.load(Ordering::SeqCst)
    }

    pub(crate) fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    pub(crate) fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    /// Waits (woken by every change, bounded by [`DEADLINE`]) until `cond` holds.
    pub(crate) async fn wait_until(&self, what: &str, cond: impl Fn(&Stats) -> bool) {
        within(what, async {
            loop {
                let notified = self.changed.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if cond(self) {
                    return;
                }
                notified.await;
            }
        })
        .await;
    }
}

/// A running test server; dropping it stops it and every connection it holds.
pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    pub(crate) stats: Arc<Stats>,
    task: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves on 127.0.0.1:0, running `conn` for every accepted connection.
pub(crate) async fn serve<F, Fut>(conn: F) -> Server
where
    F: Fn(TcpStream, Arc<Stats>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stats = Arc::new(Stats::default());
    let task_stats = stats.clone();
    let task = tokio::spawn(async move {
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    task_stats.accepted.fetch_add(1, Ordering::SeqCst);
                    task_stats.changed.notify_waiters();
                    conns.spawn(conn(stream, task_stats.clone()));
                }
                Some(_) = conns.join_next(), if !conns.is_empty() => {
                    task_stats.ended.fetch_add(1, Ordering::SeqCst);
                    task_stats.changed.notify_waiters();
                }
            }
        }
    });
    Server { addr, stats, task }
}

/// Reads one request head (requests here have no body); `None` at EOF or error. Bytes after
/// the head stay in `buf`.
pub(crate) async fn read_request<S: AsyncRead + Unpin>(
    s: &mut S,
    buf: &mut Vec<u8>,
) -> Option<String> {
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head: Vec<u8> = buf.drain(..i + 4).collect();
            return Some(String::from_utf8_lossy(&head).into_owned());
        }
        let mut chunk = [0u8; 4096];
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Writes `bytes` to the client; `false` when the client is gone (it reset or closed first,
/// which some tests provoke: what the client saw is what they check). Any other write error is
/// a broken test server, and fails the test.
pub(crate) async fn reply<S: AsyncWrite + Unpin>(s: &mut S, bytes: &[u8]) -> bool {
    match s.write_all(bytes).await {
        Ok(()) => true,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::ConnectionAborted
            ) =>
        {
            false
        }
        Err(e) => panic!("test server: cannot write to the client: {e}"),
    }
}

/// `HTTP/1.1 <status>` with a small Content-Length body.
pub(crate) fn response(status: &str, extra_headers: &str) -> Vec<u8> {
    format!("HTTP/1.1 {status}\r\nContent-Length: 5\r\n{extra_headers}\r\nhello").into_bytes()
}

/// Does `head` carry `Connection: close`?
pub(crate) fn asks_close(head: &str) -> bool {
    head.lines().any(|l| {
        l.split_once(':').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("connection")
                && value.trim().eq_ignore_ascii_case("close")
        })
    })
}
