//! The data plane of `changeover run --proxy`: an HTTP reverse proxy that
//! sends each request to the newest ready generation of a server, so what
//! a child does to its connections when it is stopped no longer reaches
//! the clients.
//!
//! # Theory of operation
//!
//! **Routing.** The supervisor drives a [`Routes`] table with three events:
//! [`Routes::ready`] (generation N serves at upstream U, a loopback TCP
//! address or a Unix socket), [`Routes::retire`] (N gets no new request:
//! its successor is ready) and [`Routes::gone`] (N's process exited). Each
//! new request goes to the highest-numbered generation that is ready and
//! not retired; with none, the proxy answers `503` itself. A request is
//! counted *in flight* to its generation from the moment it is routed until
//! the upstream's response body has been read to its end (or the client
//! went away); an upgraded connection until the tunnel closes.
//! [`Routes::drained`] resolves once a retired generation has nothing in
//! flight: then, and not before, the supervisor sends the child its stop
//! signal (DESIGN invariant 7). Picking a generation and counting the
//! request happen under the table's read lock and retiring under its write
//! lock, so a request is either counted before the retirement (and
//! `drained` waits for it) or sees the generation retired.
//!
//! **Upstream connections.** HTTP/1.1, pooled per generation: idle
//! connections are reused newest first, kept at most
//! [`Config::pool_idle_timeout`] (1 s by default, below the keep-alive
//! timeout of common servers — gunicorn 2 s, Node, uvicorn and Apache 5 s —
//! so the proxy rarely reuses a connection the child is about to close), and
//! all closed by the proxy as soon as their generation is retired, so a
//! child being stopped has no idle connection of the proxy's to close.
//! An idle connection does nothing (no task, no read); when it is taken
//! from the pool, a read that would block proves the child neither closed
//! it nor sent anything since, else the next one is tried.
//!
//! The upstream side is this crate's own HTTP/1.1 client (`httparse` for
//! response heads), not hyper's: hyper's runs every connection as a task
//! and hands each request and response across channels, two extra task
//! wake-ups per request that cost more than the rest of the proxy together
//! (see `docs/benchmarks.md`). Here the request's own future writes the
//! head, sends the body while it reads the response head, and hands the
//! connection back to the pool as soon as the response was read whole —
//! for a small `Content-Length` body, before the response is even returned
//! to the server. The retry rule below needs to know whether a connection
//! was reused and whether any byte came back on it, and one pool per
//! generation makes "close everything of generation N" a drop.
//!
//! Response bodies are framed by `Content-Length`, chunked (trailers
//! passed on) or by the close (RFC 9112 §6.3; none for HEAD, 204, 304);
//! informational responses other than 101 are skipped. Request bodies go
//! by the client's `Content-Length`, a known length, or chunked; GET, HEAD
//! and CONNECT with a body of unknown length are sent without it, as hyper's
//! client does. A connection is reused only after an exchange that left
//! nothing over either way: the request body sent whole, no byte after the
//! response, and no `Connection: close` (or an HTTP/1.0 answer). An
//! upstream that answers before it read the whole request body has its
//! answer passed on; its connection is dropped.
//!
//! **What is retried, and what is not.** A request is sent again, once, on a
//! *new* connection to the newest ready generation, when it failed on a
//! *reused* pooled connection (the child closed it while idle, and the
//! request crossed the close) and either
//! - not a byte of it was written yet (any method: the upstream never saw
//!   it; the body is sent only after the head), or
//! - it was written, no byte of a response came back, its method is
//!   idempotent (GET, HEAD, OPTIONS, TRACE, PUT, DELETE) and it has no body
//!   (so it can be sent again as it was; the proxy keeps no copy of bodies).
//!
//! Not retried, answered `502`: a failure on a new connection (the child is
//! unreachable or died), a POST or PATCH (or any request with a body) that
//! was written, any request after a byte of its response arrived, and a
//! request that was already retried. A retry sends the same head bytes
//! again. A response head that is not HTTP/1.1 (or a 101 nobody asked
//! for) is a `502` too. A response body that breaks off midway cuts the
//! client's connection (HTTP/1.1) or stream (HTTP/2): its status line is
//! gone already.
//!
//! **Streaming.** Request and response bodies are passed on frame by frame;
//! the next frame is read only once the last is written (by hyper's server
//! towards the client, by the proxy towards the upstream), so a slow reader
//! on either side slows the writer down and no body is held whole.
//!
//! **Headers.** Hop-by-hop fields are removed both ways (RFC 9110 §7.6.1):
//! `Connection` and every field it names, `Keep-Alive`, `Proxy-Connection`,
//! `TE`, `Transfer-Encoding` (the body is re-framed; a `Content-Length`
//! beside it is dropped too) and `Upgrade` (kept for an upgrade). `Host` is
//! kept (taken from the target for absolute-form and HTTP/2 requests; the
//! upstream's address for an HTTP/1.0 request without one); the target is
//! sent in origin form. With [`Config::forwarded_headers`] (the default),
//! the client's address is appended to `X-Forwarded-For` and, as
//! `for=…;proto=http`, to `Forwarded` (RFC 7239), and `X-Forwarded-Proto:
//! http` is set unless a proxy in front (an ingress that terminated TLS)
//! set it already.
//!
//! **Upgrades.** An HTTP/1.1 request with `Connection: upgrade` goes on a
//! connection of its own; on a `101` both upgraded connections are joined
//! by a tunnel task that copies bytes both ways (what the upstream sent
//! right after its 101 goes to the client first; EOF is passed on as a
//! half-close) until both sides closed, or until [`Routes::cut`] (the
//! supervisor's drain deadline) or [`Routes::gone`] ends it. It stays with
//! its generation, counted in flight, across any number of route switches.
//!
//! **Errors.** `503` when no generation is ready (with `Retry-After: 1`);
//! `502` when the upstream is unreachable or closed the connection before a
//! response and the request could not be retried, or answered with
//! something that is not HTTP/1.1; `400` for a request without `Host`
//! (HTTP/1.1) or with two, and for a request body that broke off before
//! its end (the client went away; the upstream connection is dropped);
//! `405` for CONNECT. Requests
//! hyper's server cannot parse are answered `400` by it and never reach
//! this service. Each with a short plain-text body, each counted in
//! [`MetricsSnapshot`].
//!
//! **Serving.** [`ProxyService`] is a plain hyper and tower service over
//! `Request<hyper::body::Incoming>`, made per client connection by
//! [`Proxy::service`] (it needs the client's address for the forwarded
//! headers); mount it on any hyper server with upgrades enabled. Its
//! `call` does at once what need not wait (checks, pick, a pooled
//! connection, the head written out), so the request's fields, slices of
//! the server's read buffer, are gone before the server reads again. The
//! response body, [`ResponseBody`], fails with a `std::io::Error` when the
//! upstream's body breaks off.
//!
//! # Example
//!
//! ```no_run
//! use changeover_proxy::{Config, Proxy, Upstream};
//! use hyper_util::rt::{TokioExecutor, TokioIo};
//! use hyper_util::server::conn::auto;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let proxy = Proxy::new(Config::default());
//! proxy.routes().ready(1, Upstream::Tcp("127.0.0.1:40001".parse()?))?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! loop {
//!     let (stream, peer) = listener.accept().await?;
//!     let service = proxy.service(Some(peer));
//!     tokio::spawn(async move {
//!         let builder = auto::Builder::new(TokioExecutor::new());
//!         let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
//!         if let Err(e) = conn.await {
//!             eprintln!("connection: {e}");
//!         }
//!     });
//! }
//! # }
//! ```

mod body;
mod headers;
mod metrics;
mod pool;
pub mod prometheus;
mod routes;
mod service;
mod state;
mod tunnel;
mod upstream;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use body::ResponseBody;
pub use metrics::{
    DURATION_BUCKETS, DurationHistogram, GenerationMetrics, MetricsSnapshot, StatusCounts,
    UpstreamErrors,
};
pub use routes::{RouteError, Routes};
pub use service::{ProxyService, ResponseFuture};
pub use state::State;
pub use upstream::Upstream;

/// Settings of a [`Proxy`].
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Add `X-Forwarded-For`, `X-Forwarded-Proto` and `Forwarded` to every
    /// forwarded request (`--no-forwarded-headers` turns it off). Default on.
    pub forwarded_headers: bool,
    /// How long a connection to an upstream may take (loopback: normally
    /// well under a millisecond; a full accept queue is what makes it
    /// slow). Default 5 s; past it the request is answered 502.
    pub connect_timeout: Duration,
    /// How long an idle upstream connection is kept for reuse. Default 1 s.
    pub pool_idle_timeout: Duration,
    /// How many idle connections are kept per generation. Default 256.
    pub pool_max_idle: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            forwarded_headers: true,
            connect_timeout: Duration::from_secs(5),
            pool_idle_timeout: Duration::from_secs(1),
            pool_max_idle: 256,
        }
    }
}

/// What every connection's service shares.
pub(crate) struct Shared {
    pub(crate) routes: Routes,
    pub(crate) config: Arc<Config>,
    pub(crate) global: metrics::Global,
}

/// The proxy: its routing table, its counters, and the services that
/// forward client connections. Cheap to clone (one shared state).
#[derive(Clone)]
pub struct Proxy {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("routes", &self.shared.routes)
            .finish_non_exhaustive()
    }
}

impl Proxy {
    /// A proxy with an empty routing table (every request answered 503
    /// until [`Routes::ready`]).
    pub fn new(config: Config) -> Proxy {
        let config = Arc::new(config);
        Proxy {
            shared: Arc::new(Shared {
                routes: Routes::new(config.clone()),
                config,
                global: metrics::Global::default(),
            }),
        }
    }

    /// The routing table the supervisor drives.
    pub fn routes(&self) -> &Routes {
        &self.shared.routes
    }

    /// The service for one client connection from `client` (`None` when the
    /// address is unknown, as on a Unix socket).
    pub fn service(&self, client: Option<SocketAddr>) -> ProxyService {
        ProxyService::new(self.shared.clone(), client)
    }

    /// Everything counted so far; [`MetricsSnapshot::render_into`] writes it
    /// for `/metrics`.
    pub fn metrics(&self) -> MetricsSnapshot {
        MetricsSnapshot::collect(self.shared.routes.for_metrics(), &self.shared.global)
    }
}
