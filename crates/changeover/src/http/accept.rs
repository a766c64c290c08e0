//! Where connections come from: the accept loop, which takes them until
//! accepting stops, and the adopter, which takes those a parent hands over
//! during an upgrade; each runs as a tracked task.

use std::io;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::TokioExecutor;
use tokio_util::either::Either;

use super::connection::{self, Served};
use super::service::{DrainAwareService, HttpService};
use super::stream::{self, Kind};
use crate::drain::DrainSignals;
use crate::handover::{Taker, Takers};
use crate::listeners::{Listener, TokioListener};

/// Serves `service` on `listener` under the drain protocol: spawns the
/// accept loop and returns at once. With `health`, `/livez` and `/readyz`
/// are answered before the service sees them. Connections a parent hands
/// over for a listener of this name are served here too (`takers`).
pub(crate) fn serve<S: HttpService>(
    listener: Listener,
    service: S,
    signals: DrainSignals,
    health: bool,
    takers: &Takers,
) -> io::Result<()> {
    let name: Arc<str> = listener.name().into();
    let listener = listener.into_tokio()?;
    let kind = match &listener {
        Either::Left(_) => Kind::Tcp,
        Either::Right(_) => Kind::Unix,
    };
    let served = Arc::new(Served {
        service: DrainAwareService::new(signals.clone(), health, service),
        signals,
        http1: http1::Builder::new(),
        http2: http2::Builder::new(TokioExecutor::new()),
        listener: name.clone(),
    });
    takers.register(
        &name,
        Arc::new(Adopter {
            served: served.clone(),
            kind,
        }),
    );
    let signals = served.signals.clone();
    signals.track_acceptor(accept_loop(listener, served));
    Ok(())
}

async fn accept_loop<S: HttpService>(listener: TokioListener, served: Arc<Served<S>>) {
    let signals = &served.signals;
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
                signals.track(connection::serve(served.clone(), stream, Bytes::new()));
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

async fn accept(listener: &TokioListener) -> io::Result<stream::Stream> {
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

/// Serves the connections a parent hands over as if accepted here, the
/// bytes the parent already read first.
struct Adopter<S> {
    served: Arc<Served<S>>,
    kind: Kind,
}

impl<S: HttpService> Taker for Adopter<S> {
    fn accepting(&self) -> bool {
        !self.served.signals.has_stopped_accepting()
    }

    fn adopt(&self, fd: OwnedFd, saved: Bytes) {
        match stream::from_fd(fd, self.kind) {
            Ok(stream) => {
                self.served
                    .signals
                    .track(connection::serve(self.served.clone(), stream, saved))
            }
            Err(e) => tracing::warn!(error = %e, "could not serve a connection taken over"),
        }
    }
}
