//! Where connections come from: the accept loop, which takes them until
//! accepting stops, and the adopter, which takes those a parent hands over
//! during an upgrade. Each runs as a tracked task, with a service made for
//! it from its peer address.

use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::TokioExecutor;
use tokio_util::either::Either;

use super::connection::{self, Served};
use super::service::{DrainAwareService, HttpService};
use super::stream::{self, Kind, Stream};
use crate::drain::DrainSignals;
use crate::handover::{Taker, Takers};
use crate::listeners::{Listener, TokioListener};

/// Serves `service` on `listener` under the drain protocol: spawns the
/// accept loop and returns at once. With `health`, `/livez` and `/readyz`
/// are answered before the service sees them. With `takers`, connections a
/// parent hands over for a listener of this name are served here too.
pub(crate) fn serve<S: HttpService>(
    listener: Listener,
    service: S,
    signals: DrainSignals,
    health: bool,
    takers: Option<&Takers>,
) -> io::Result<()> {
    let make = Arc::new(move |_: Option<SocketAddr>| service.clone());
    let (listener, served) = open(listener, signals)?;
    if let Some(takers) = takers {
        let adopter = Adopter {
            served: served.clone(),
            kind: kind_of(&listener),
            make: make.clone(),
            health,
        };
        takers.register(&served.listener, Arc::new(adopter));
    }
    start(listener, served, move |peer| make(peer), health);
    Ok(())
}

/// As [`serve`], with a service made for each connection by `make` from the
/// client's address (`None` on a Unix socket): a proxy that adds
/// `X-Forwarded-For`, or a service that logs its peer, needs it. Nothing is
/// taken over from a parent here (the owner runs its own stop sequence).
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
    let (listener, served) = open(listener, signals)?;
    start(listener, served, make, health);
    Ok(())
}

/// The tokio side of `listener`, and what its connections share.
fn open(listener: Listener, signals: DrainSignals) -> io::Result<(TokioListener, Arc<Served>)> {
    let name: Arc<str> = listener.name().into();
    let listener = listener.into_tokio()?;
    let served = Arc::new(Served {
        signals,
        http1: http1::Builder::new(),
        http2: http2::Builder::new(TokioExecutor::new()),
        listener: name,
    });
    Ok((listener, served))
}

fn kind_of(listener: &TokioListener) -> Kind {
    match listener {
        Either::Left(_) => Kind::Tcp,
        Either::Right(_) => Kind::Unix,
    }
}

fn start<F, S>(listener: TokioListener, served: Arc<Served>, make: F, health: bool)
where
    F: Fn(Option<SocketAddr>) -> S + Send + 'static,
    S: HttpService,
{
    let signals = served.signals.clone();
    signals.track_acceptor(accept_loop(listener, served, make, health));
}

async fn accept_loop<F, S>(listener: TokioListener, served: Arc<Served>, make: F, health: bool)
where
    F: Fn(Option<SocketAddr>) -> S,
    S: HttpService,
{
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
            Ok((stream, peer)) => {
                let service = DrainAwareService::new(signals.clone(), health, make(peer));
                let conn = connection::serve(served.clone(), service, stream, Bytes::new());
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

async fn accept(listener: &TokioListener) -> io::Result<(Stream, Option<SocketAddr>)> {
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

/// Serves the connections a parent hands over as if accepted here, the
/// bytes the parent already read first, each with a service made from its
/// peer address (read from the socket: the parent accepted it, not us).
struct Adopter<F> {
    served: Arc<Served>,
    kind: Kind,
    make: Arc<F>,
    health: bool,
}

impl<F, S> Taker for Adopter<F>
where
    F: Fn(Option<SocketAddr>) -> S + Send + Sync + 'static,
    S: HttpService,
{
    fn accepting(&self) -> bool {
        !self.served.signals.has_stopped_accepting()
    }

    fn adopt(&self, fd: OwnedFd, saved: Bytes) {
        let stream = match stream::from_fd(fd, self.kind) {
            Ok(stream) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "could not serve a connection taken over");
                return;
            }
        };
        let peer = match &stream {
            Either::Left(tcp) => match tcp.peer_addr() {
                Ok(peer) => Some(peer),
                Err(e) => {
                    // ENOTCONN: the client left while the connection was on its way.
                    tracing::debug!(error = %e, "a connection taken over has no peer any more");
                    return;
                }
            },
            Either::Right(_) => None,
        };
        let signals = &self.served.signals;
        let service = DrainAwareService::new(signals.clone(), self.health, (self.make)(peer));
        signals.track(connection::serve(
            self.served.clone(),
            service,
            stream,
            saved,
        ));
    }
}
