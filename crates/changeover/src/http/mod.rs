//! Serving hyper/tower (and so axum) services with keep-alive-safe draining.
//!
//! Every accepted connection is tracked. Once a stop or a handover began,
//! every HTTP/1.1 response carries `Connection: close`, so busy keep-alive
//! connections end themselves after their current request. When accepting
//! stops, each connection gets a lame-duck window: a request the client is
//! already sending (or that was accepted but not yet read) is still read and
//! answered; only then is an idle connection closed, write side first
//! (HTTP/2 gets GOAWAY), and its socket is closed once the client has closed
//! its side too, so a late request never turns into a reset that would
//! destroy the response before it. `/livez` and `/readyz` are answered here.

mod connection;
mod service;

use std::error::Error as StdError;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioExecutor;
use hyper_util::server::conn::auto;

use crate::lifecycle::Lifecycle;
use crate::listeners::{Listener, TokioListener};

pub use service::Draining;

/// The error type services may return.
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// What [`Lifecycle::serve`] accepts: a cloneable tower service over
/// `http::Request<hyper::body::Incoming>` whose responses have a body of
/// `Bytes` (an axum `Router`, for one). Implemented for every such service.
pub trait HttpService:
    tower_service::Service<
        Request<Incoming>,
        Response = Response<Self::ResBody>,
        Error: Into<BoxError>,
        Future: Send + 'static,
    > + Clone
    + Send
    + Sync
    + 'static
{
    /// The response body.
    type ResBody: http_body::Body<Data = Bytes, Error: Into<BoxError>> + Send + 'static;
}

impl<S, B> HttpService for S
where
    S: tower_service::Service<Request<Incoming>, Response = Response<B>>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type ResBody = B;
}

impl Lifecycle {
    /// Serves `service` on `listener` until the stop sequence ends it:
    /// spawns the accept loop and returns at once.
    ///
    /// Any tower service over `http::Request<hyper::body::Incoming>` works,
    /// an axum `Router` among them; see the crate documentation for a whole server.
    pub fn serve<S: HttpService>(&self, listener: Listener, service: S) -> io::Result<()> {
        let listener = listener.into_tokio()?;
        let service = service::Wrapped::new(self.clone(), service);
        let builder = Arc::new(auto::Builder::new(TokioExecutor::new()));
        let lc = self.clone();
        tokio::spawn(accept_loop(lc, listener, builder, service));
        Ok(())
    }
}

async fn accept_loop<S: HttpService>(
    lc: Lifecycle,
    listener: TokioListener,
    builder: Arc<auto::Builder<TokioExecutor>>,
    service: service::Wrapped<S>,
) {
    let stop = lc.inner.stop_accepting.clone();
    let mut failures = crate::log_limit::LogLimit::new(Duration::from_secs(1));
    loop {
        // Checked first on every turn: nothing is accepted once accepting
        // stopped; what is still queued is left to the successor sharing the socket.
        let accepted = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            r = accept(&listener) => r,
        };
        match accepted {
            Ok(stream) => {
                let conn = connection::serve(lc.clone(), builder.clone(), service.clone(), stream);
                lc.inner.tracker.spawn(conn);
            }
            Err(e) if is_transient(&e) => {
                tracing::debug!(error = %e, "accept: connection gone before it was accepted");
            }
            Err(e) => {
                // Out of fds or memory: back off briefly instead of spinning,
                // and say so once a second, not twenty times.
                if let Some(n) = failures.hit(std::time::Instant::now()) {
                    tracing::warn!(error = %e, failures = n.total, unlogged = n.unlogged, "accept failed; retrying every 50ms (logged at most once a second)");
                }
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
            }
        }
    }
    tracing::debug!("accept loop ended");
}

async fn accept(listener: &TokioListener) -> io::Result<connection::Stream> {
    match listener {
        TokioListener::Tcp(l) => {
            let (s, _) = l.accept().await?;
            if let Err(e) = s.set_nodelay(true) {
                tracing::debug!(error = %e, "could not set TCP_NODELAY");
            }
            Ok(connection::Stream::Tcp(s))
        }
        TokioListener::Unix(l) => Ok(connection::Stream::Unix(l.accept().await?.0)),
    }
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}
