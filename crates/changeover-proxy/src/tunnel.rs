//! HTTP/1.1 upgrades (WebSocket): once the upstream answered 101, bytes are
//! copied both ways until both sides closed, or until the generation's
//! tunnels are cut. The tunnel stays counted in flight to its generation
//! the whole time, so the supervisor does not stop a child under it.

use bytes::Bytes;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;

use crate::routes::InFlight;
use crate::upstream::Stream;

/// Runs the tunnel between the client's upgraded connection and the
/// upstream's socket in a task of its own; `early` is what the upstream
/// sent right after its 101, which goes to the client first.
pub(crate) fn spawn(client: OnUpgrade, mut upstream: Stream, early: Bytes, flight: InFlight) {
    tokio::spawn(async move {
        let generation = flight.generation().number;
        let cut = flight.generation().cut.clone();
        let run = async {
            // hyper hands the client's upgraded connection over once the 101
            // is written to it.
            let mut c = TokioIo::new(client.await.map_err(TunnelError::Upgrade)?);
            c.write_all(&early).await.map_err(TunnelError::Io)?;
            // EOF on one side is passed on as a half-close to the other.
            tokio::io::copy_bidirectional(&mut c, &mut upstream)
                .await
                .map_err(TunnelError::Io)
        };
        tokio::select! {
            r = run => match r {
                Ok((to_upstream, to_client)) => tracing::debug!(generation, to_upstream, to_client, "tunnel closed"),
                Err(e) => tracing::debug!(generation, error = %e, "tunnel ended with an error"),
            },
            _ = cut.cancelled() => tracing::debug!(generation, "tunnel cut at the generation's deadline"),
        }
        drop(flight);
    });
}

#[derive(Debug)]
enum TunnelError {
    Upgrade(hyper::Error),
    Io(std::io::Error),
}

impl std::fmt::Display for TunnelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TunnelError::Upgrade(e) => write!(f, "upgrade failed: {e}"),
            TunnelError::Io(e) => write!(f, "{e}"),
        }
    }
}
