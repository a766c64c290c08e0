//! Checking that a target answers before loading it: [`probe`].

use std::fmt;
use std::io;
use std::time::Duration;

use tokio::time::{Instant, timeout_at};

use crate::http::{RecvBuf, build_request, exchange};
use crate::stream;
use crate::{Endpoint, FailureKind, Target};

/// The response to a [`probe`] request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// Its status code (any status: a 404 still proves the server is there).
    pub status: u16,
    /// From connecting to the last response byte.
    pub latency: Duration,
}

/// Why a [`probe`] got no complete response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeError {
    /// Classified as a request of a run would be (never [`FailureKind::BadStatus`]).
    pub kind: FailureKind,
    /// What happened, in words (`connect: Connection refused (os error 111)`).
    pub error: String,
    /// Where the probe went.
    pub endpoint: Endpoint,
    /// The timeout it had.
    pub timeout: Duration,
}

impl ProbeError {
    /// What to check or do about it, in one sentence.
    pub fn fix(&self) -> String {
        let unix = matches!(self.endpoint, Endpoint::Unix(_));
        match self.kind {
            FailureKind::Refused if unix => {
                "is the server running? (the socket file exists but nobody accepts on it)".into()
            }
            FailureKind::Refused => format!(
                "is the server running, and listening on {}?",
                endpoint_text(&self.endpoint)
            ),
            FailureKind::Connect if unix => {
                "is the server running? Check the socket path and that you may connect to it".into()
            }
            FailureKind::Connect | FailureKind::Io => "check the address in the URL".into(),
            FailureKind::Timeout => format!(
                "nothing answered within {:?}: check the address, and that the server is not \
                 stopped or overloaded (or allow a longer timeout)",
                self.timeout
            ),
            FailureKind::Reset | FailureKind::Closed | FailureKind::Protocol => {
                "the server does not answer HTTP/1.1 there: is it an HTTPS, HTTP/2-only or \
                 non-HTTP port?"
                    .into()
            }
            FailureKind::BadStatus => "the server answered".into(),
        }
    }
}

fn endpoint_text(endpoint: &Endpoint) -> String {
    match endpoint {
        Endpoint::Tcp(addr) => addr.to_string(),
        Endpoint::Unix(path) => path.display().to_string(),
    }
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.error, self.kind)
    }
}

impl std::error::Error for ProbeError {}

/// Sends one request to `target` on a connection of its own (with `Connection: close`) and
/// reads the whole response, all within `timeout`: a load run's first check that the server
/// is there and speaks HTTP/1.1.
///
/// # Errors
///
/// [`ProbeError`] when no complete response arrived (refused, reset, timed out...); a complete
/// response with any status is `Ok`.
pub async fn probe(target: &Target, timeout: Duration) -> Result<Probe, ProbeError> {
    let started = Instant::now();
    let deadline = started + timeout;
    let fail = |kind, error: String| ProbeError {
        kind,
        error,
        endpoint: target.endpoint().clone(),
        timeout,
    };
    let timed_out = || {
        fail(
            FailureKind::Timeout,
            format!("no response within {timeout:?}"),
        )
    };
    let mut conn = match timeout_at(deadline, stream::connect(target.endpoint())).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            let kind = if e.kind() == io::ErrorKind::ConnectionRefused {
                FailureKind::Refused
            } else {
                FailureKind::Connect
            };
            return Err(fail(kind, format!("connect: {e}")));
        }
        Err(_) => return Err(timed_out()),
    };
    let request = build_request(target, false);
    let mut rb = RecvBuf::new();
    match timeout_at(deadline, exchange(&mut conn, &mut rb, &request)).await {
        Ok(Ok(response)) => Ok(Probe {
            status: response.status,
            latency: started.elapsed(),
        }),
        Ok(Err(e)) => Err(fail(e.kind(), e.to_string())),
        Err(_) => Err(timed_out()),
    }
}
