//! The accept loop: takes connections until accepting stops, and runs each
//! one as a tracked task, with a service made for it from its peer address.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioExecutor;
use hyper_util::server::conn::auto;
use tokio_util::either::Either;

use super::connection;
use super::service::{DrainAwareService, HttpService};
use crate::drain::DrainSignals;
use crate::listeners::{Listener, TokioListener};

/// Serves `service` on `listener` under the drain protocol: spawns the
/// accept loop and returns at once. With `health`, `/livez` and `/readyz`
/// are answered before the service sees them.
pub(crate) fn serve<S: HttpService>(
    listener: Listener,
    service: S,
    signals: DrainSignals,
    health: bool,
) -> io::Result<()> {
    serve_with(listener, move |_| service.clone(), signals, health)
}

/// As [`serve`], with a service made for each connection by `make` from the
/// client's address (`None` on a Unix socket): a proxy that adds
/// `X-Forwarded-For`, or a service that logs its peer, needs it.
pub(crate) fn serve_with<F, S>(
    listener: Listener,
    make: F,
    signals: DrainSignals,
    health: bool,
) -> io::Result<()>
where
    F: Fn(Option<SocketAddr>) -> S + Send + 'static,
    S: HttpService,
{
    let listener = listener.into_tokio()?;
    let builder = Arc::new(auto::Builder::new(TokioExecutor::new()));
    signals.track_acceptor(accept_loop(
        signals.clone(),
        listener,
        builder,
        make,
        health,
    ));
    Ok(())
}

async fn accept_loop<F, S>(
    signals: DrainSignals,
    listener: TokioListener,
    builder: Arc<auto::Builder<TokioExecutor>>,
    make: F,
    health: bool,
) where
    F: Fn(Option<SocketAddr>) -> S,
    S: HttpService,
{
    let mut failures = crate::log_limit::LogLimit::new(Duration::from_secs(1));
    loop {
        // Checked first on every turn: nothing is accepted once accepting
        // stopped; what is still queued is left to the successor sharing the socket.
        let accepted = tokio::select! {
            biased;
            _ = signals.accepting_stopped() => break,
            r = accept(&listener) => r,
        };
        match accepted {
            Ok((stream, peer)) => {
                let service = DrainAwareService::new(signals.clone(), health, make(peer));
                let conn = connection::serve(signals.clone(), builder.clone(), service, stream);
                signals.track(conn);
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
                    _ = signals.accepting_stopped() => break,
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
            }
        }
    }
    tracing::debug!("accept loop ended");
}

async fn accept(listener: &TokioListener) -> io::Result<(connection::Stream, Option<SocketAddr>)> {
    match listener {
        Either::Left(tcp) => {
            let (s, peer) = tcp.accept().await?;
            if let Err(e) = s.set_nodelay(true) {
                tracing::debug!(error = %e, "could not set TCP_NODELAY");
            }
            Ok((Either::Left(s), Some(peer)))
        }
        Either::Right(unix) => Ok((Either::Right(unix.accept().await?.0), None)),
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
