//! A generation's state in the routing table: what the supervisor said of
//! it last. Its own module because the table keeps it and the metrics
//! report it.

/// A generation's state, as the supervisor told it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Ready: gets new requests when it is the newest ready generation.
    Ready,
    /// Retired: gets no new request; requests in flight finish.
    Retired,
    /// Gone: its process exited; it is out of the table.
    Gone,
}
