//! What [`Lifecycle::run`](crate::Lifecycle::run) is asked to do, and the
//! signals that ask: SIGTERM and SIGINT stop, SIGHUP upgrades.

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, oneshot};

use crate::upgrade::UpgradeError;

/// A stop or an upgrade, from a signal or a call.
pub(super) enum Request {
    /// Stop gracefully; the second one forces it.
    Stop,
    /// Upgrade, with where to send the outcome when a caller waits for it.
    Upgrade(Option<oneshot::Sender<Result<u32, UpgradeError>>>),
}

/// Turns SIGTERM, SIGINT and SIGHUP into requests on `tx`, from now until
/// the receiver is gone.
pub(super) fn forward_signals(tx: mpsc::UnboundedSender<Request>) -> std::io::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        loop {
            let (request, name) = tokio::select! {
                _ = term.recv() => (Request::Stop, "SIGTERM"),
                _ = int.recv() => (Request::Stop, "SIGINT"),
                _ = hup.recv() => (Request::Upgrade(None), "SIGHUP: upgrade"),
            };
            // Act first, log second: a logger that fails (a closed
            // stderr can make some panic) must not eat the signal.
            if tx.send(request).is_err() {
                return;
            }
            tracing::info!("{name}");
        }
    });
    Ok(())
}
