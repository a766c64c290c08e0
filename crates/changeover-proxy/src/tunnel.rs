//! HTTP/1.1 upgrades (WebSocket): once the upstream answered 101, bytes are
//! copied both ways until both sides closed, or until the generation's
//! tunnels are cut. The tunnel stays counted in flight to its generation
//! the whole time, so the supervisor does not stop a child under it.

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use crate::pool::Conn;
use crate::routes::InFlight;

/// Runs the tunnel between the client's and the upstream's upgraded
/// connections in a task of its own.
pub(crate) fn spawn(client: OnUpgrade, upstream: OnUpgrade, conn: Conn, flight: InFlight) {
    tokio::spawn(async move {
        let generation = flight.generation().number;
        let cut = flight.generation().cut.clone();
        let run = async {
            // hyper hands the upgraded streams over once the 101 is written
            // to the client and read from the upstream.
            let (c, u) = tokio::try_join!(client, upstream)?;
            // The request handle has no more use once the upstream's stream is ours.
            drop(conn);
            let (mut c, mut u) = (TokioIo::new(c), TokioIo::new(u));
            // EOF on one side is passed on as a half-close to the other.
            tokio::io::copy_bidirectional(&mut c, &mut u)
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

impl From<hyper::Error> for TunnelError {
    fn from(e: hyper::Error) -> TunnelError {
        TunnelError::Upgrade(e)
    }
}

impl std::fmt::Display for TunnelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TunnelError::Upgrade(e) => write!(f, "upgrade failed: {e}"),
            TunnelError::Io(e) => write!(f, "{e}"),
        }
    }
}
