//! The accept loop: takes connections until accepting stops, and runs each
//! one as a tracked task.

use std::io;
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
    let listener = listener.into_tokio()?;
    let service = DrainAwareService::new(signals.clone(), health, service);
    let builder = Arc::new(auto::Builder::new(TokioExecutor::new()));
    signals.track_acceptor(accept_loop(signals.clone(), listener, builder, service));
    Ok(())
}

async fn accept_loop<S: HttpService>(
    signals: DrainSignals,
    listener: TokioListener,
    builder: Arc<auto::Builder<TokioExecutor>>,
    service: DrainAwareService<S>,
) {
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
            Ok(stream) => {
                let conn =
                    connection::serve(signals.clone(), builder.clone(), service.clone(), stream);
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

async fn accept(listener: &TokioListener) -> io::Result<connection::Stream> {
    match listener {
        Either::Left(tcp) => {
            let (s, _) = tcp.accept().await?;
            if let Err(e) = s.set_nodelay(true) {
                tracing::debug!(error = %e, "could not set TCP_NODELAY");
            }
            Ok(Either::Left(s))
        }
        Either::Right(unix) => Ok(Either::Right(unix.accept().await?.0)),
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
