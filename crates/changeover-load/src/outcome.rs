//! How a request can fail: [`FailureKind`] and the per-kind [`FailureCounts`].

use std::fmt;

use serde::Serialize;

/// Why a request failed. Every request ends either `Ok` (complete 2xx response) or as exactly
/// one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// A complete response arrived with a status outside 200..=299.
    BadStatus,
    /// Connecting failed with `ECONNREFUSED` (nobody listening, or the accept queue's socket
    /// is gone).
    Refused,
    /// Connecting failed with another error (for example a missing Unix socket file).
    Connect,
    /// `ECONNRESET`, `EPIPE` or `ECONNABORTED` while writing the request or reading the
    /// response.
    Reset,
    /// The connection reached EOF after the request was written and before the response was
    /// complete (no response byte at all, or a truncated response).
    Closed,
    /// No complete response within the per-request timeout (connect included).
    Timeout,
    /// The server sent something that is not a valid HTTP/1.x response.
    Protocol,
    /// Any other I/O error while writing or reading.
    Io,
}

impl FailureKind {
    /// Every kind, in the order used by reports.
    pub const ALL: [FailureKind; 8] = [
        FailureKind::BadStatus,
        FailureKind::Refused,
        FailureKind::Connect,
        FailureKind::Reset,
        FailureKind::Closed,
        FailureKind::Timeout,
        FailureKind::Protocol,
        FailureKind::Io,
    ];

    pub(crate) const COUNT: usize = Self::ALL.len();

    /// The snake_case name used in JSON and in summaries (`bad_status`, `refused`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::BadStatus => "bad_status",
            FailureKind::Refused => "refused",
            FailureKind::Connect => "connect",
            FailureKind::Reset => "reset",
            FailureKind::Closed => "closed",
            FailureKind::Timeout => "timeout",
            FailureKind::Protocol => "protocol",
            FailureKind::Io => "io",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Number of failed requests of each [`FailureKind`]. Serializes as an object with every kind
/// as a key (zeros included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
pub struct FailureCounts {
    /// [`FailureKind::BadStatus`]
    pub bad_status: u64,
    /// [`FailureKind::Refused`]
    pub refused: u64,
    /// [`FailureKind::Connect`]
    pub connect: u64,
    /// [`FailureKind::Reset`]
    pub reset: u64,
    /// [`FailureKind::Closed`]
    pub closed: u64,
    /// [`FailureKind::Timeout`]
    pub timeout: u64,
    /// [`FailureKind::Protocol`]
    pub protocol: u64,
    /// [`FailureKind::Io`]
    pub io: u64,
}

impl FailureCounts {
    /// The count of one kind.
    pub fn get(&self, kind: FailureKind) -> u64 {
        match kind {
            FailureKind::BadStatus => self.bad_status,
            FailureKind::Refused => self.refused,
            FailureKind::Connect => self.connect,
            FailureKind::Reset => self.reset,
            FailureKind::Closed => self.closed,
            FailureKind::Timeout => self.timeout,
            FailureKind::Protocol => self.protocol,
            FailureKind::Io => self.io,
        }
    }

    /// All failures together.
    pub fn total(&self) -> u64 {
        self.iter().map(|(_, n)| n).sum()
    }

    /// `(kind, count)` for every kind, zeros included, in [`FailureKind::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (FailureKind, u64)> + '_ {
        FailureKind::ALL.into_iter().map(|k| (k, self.get(k)))
    }

    pub(crate) fn from_array(a: [u64; FailureKind::COUNT]) -> FailureCounts {
        FailureCounts {
            bad_status: a[FailureKind::BadStatus.index()],
            refused: a[FailureKind::Refused.index()],
            connect: a[FailureKind::Connect.index()],
            reset: a[FailureKind::Reset.index()],
            closed: a[FailureKind::Closed.index()],
            timeout: a[FailureKind::Timeout.index()],
            protocol: a[FailureKind::Protocol.index()],
            io: a[FailureKind::Io.index()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_match_all_order() {
        for (i, k) in FailureKind::ALL.into_iter().enumerate() {
            assert_eq!(k.index(), i);
        }
        let mut a = [0; FailureKind::COUNT];
        for (i, slot) in a.iter_mut().enumerate() {
            *slot = i as u64 + 1;
        }
        let c = FailureCounts::from_array(a);
        for k in FailureKind::ALL {
            assert_eq!(c.get(k), k.index() as u64 + 1);
        }
        assert_eq!(c.total(), 36);
    }
}
