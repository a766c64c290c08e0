//! [`Server`]: the serve path for a process whose stop sequence is its own
//! (a supervisor, a proxy): the same connections, lame duck, GOAWAY and
//! write-side-first close as [`Lifecycle::serve`](crate::Lifecycle::serve),
//! with no signal handling, no `/livez` or `/readyz`, no inherited sockets
//! and no `NOTIFY_SOCKET`; the owner moves the [drain protocol](crate::drain)
//! forward itself.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::accept;
use super::service::HttpService;
use crate::drain::{Deadlines, Drain};
use crate::listeners::Listener;

/// Serves HTTP on listeners under the drain protocol, stopped by its owner.
///
/// The owner calls [`begin_drain`](Server::begin_drain) when a stop begins
/// (every HTTP/1.1 response then carries `Connection: close`), waits out its
/// own stop delay, then [`stop`](Server::stop): accepting ends, each
/// connection gets its lame-duck window (HTTP/2 its GOAWAY) and closes
/// politely, and what is still open at the drain deadline is cut. Cheap to
/// clone: every clone drives the same drain.
///
/// ```no_run
/// use std::time::Duration;
/// use changeover::http::Server;
///
/// # async fn demo(listener: changeover::Listener) -> std::io::Result<()> {
/// let server = Server::new(changeover::DEFAULT_LAME_DUCK);
/// // A service per connection, made from the client's address.
/// server.serve_with(listener, |_peer| axum::Router::new())?;
/// // ... the owner's stop begins:
/// server.begin_drain();
/// tokio::time::sleep(Duration::from_secs(5)).await; // its stop delay
/// let cut = server.stop(Duration::from_secs(20), std::future::pending()).await;
/// assert!(!cut, "every connection finished before the deadline");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Server {
    drain: Arc<Drain>,
}

impl Server {
    /// A server with nothing served yet; `lame_duck` is each idle HTTP/1.1
    /// connection's window once accepting stopped
    /// ([`DEFAULT_LAME_DUCK`](crate::DEFAULT_LAME_DUCK) is 1 s).
    pub fn new(lame_duck: Duration) -> Server {
        let drain = Drain::new(lame_duck);
        drain.mark_ready();
        Server {
            drain: Arc::new(drain),
        }
    }

    /// Serves `service` on `listener` until [`stop`](Server::stop) ends it:
    /// spawns the accept loop and returns at once. Must be called inside a
    /// tokio runtime.
    pub fn serve<S: HttpService>(&self, listener: Listener, service: S) -> std::io::Result<()> {
        accept::serve(listener, service, self.drain.signals(), false, None)
    }

    /// As [`serve`](Server::serve), with a service made for each connection
    /// by `make` from the client's address (`None` on a Unix socket).
    pub fn serve_with<F, S>(&self, listener: Listener, make: F) -> std::io::Result<()>
    where
        F: Fn(Option<SocketAddr>) -> S + Send + 'static,
        S: HttpService,
    {
        accept::serve_with(listener, make, self.drain.signals(), false)
    }

    /// Step 1 of the drain: every HTTP/1.1 response from now on carries
    /// `Connection: close`; accepting and serving go on. Idempotent.
    pub fn begin_drain(&self) {
        self.drain.begin();
    }

    /// Whether [`begin_drain`](Server::begin_drain) (or `stop`) was called.
    pub fn is_draining(&self) -> bool {
        self.drain.draining().get()
    }

    /// Steps 3 and 4: stops accepting, lets every connection finish through
    /// its lame duck (or GOAWAY) and polite close, and cuts what is still
    /// open `drain` later, or as soon as `force` completes. Returns whether
    /// connections were cut. Begins the drain first if that was not done.
    ///
    /// A connection upgraded to another protocol (WebSocket) belongs to the
    /// service from its upgrade on: the service ends it itself at
    /// [`cut_begun`](Server::cut_begun), or the drain leaves it behind 1 s
    /// after the cut.
    pub async fn stop<F: Future<Output = ()>>(&self, drain: Duration, force: F) -> bool {
        self.drain.begin();
        let force = std::pin::pin!(force);
        let deadlines = Deadlines {
            stop_delay: Duration::ZERO,
            drain,
        };
        let cut = self.drain.complete(deadlines, force, || {}).await;
        self.drain.finish();
        cut
    }

    /// Completes when [`stop`](Server::stop) cuts what is left (its
    /// deadline or its `force`): the moment to end the connections the
    /// service owns, such as upgraded ones.
    pub async fn cut_begun(&self) {
        self.drain.signals().cut().await;
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.drain.tracker().len()
    }
}

#[cfg(test)]
mod tests {
    use axum::{Router, routing::get};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::addr::ListenAddr;

    async fn exchange(addr: SocketAddr) -> String {
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        conn.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .unwrap();
        let mut buf = vec![0u8; 4096];
        let n = conn.read(&mut buf).await.unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    /// The contract: each connection's service is made from its peer; the
    /// server answers no `/readyz` of its own; after `begin_drain` a response
    /// says `Connection: close`; `stop` with nothing open returns at once,
    /// uncut, and nothing is accepted after.
    #[tokio::test]
    async fn serves_per_peer_and_stops_when_told() {
        let listener =
            crate::listeners::bind("http", &ListenAddr::Tcp("127.0.0.1:0".parse().unwrap()))
                .unwrap();
        let ListenAddr::Tcp(addr) = listener.local_addr().clone() else {
            unreachable!()
        };
        let server = Server::new(Duration::from_millis(100));
        server
            .serve_with(listener, |peer: Option<SocketAddr>| {
                let ip = peer.map(|p| p.ip().to_string()).unwrap_or_default();
                Router::new()
                    .route("/", get(move || async move { format!("peer {ip}") }))
                    .route("/readyz", get(|| async { "the application's own" }))
            })
            .unwrap();
        let out = exchange(addr).await;
        assert!(out.ends_with("peer 127.0.0.1"), "{out}");
        assert!(!out.contains("connection: close"), "{out}");
        server.begin_drain();
        assert!(server.is_draining());
        let out = exchange(addr).await;
        assert!(out.contains("connection: close"), "{out}");
        let stopped = tokio::time::timeout(
            Duration::from_secs(10),
            server.stop(Duration::from_secs(20), std::future::pending()),
        )
        .await
        .expect("stop returns once the connections closed");
        assert!(!stopped, "nothing was cut");
        assert_eq!(server.open_connections(), 0);
    }
}
