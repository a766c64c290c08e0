//! Recording latencies without a lock per request: each connection keeps a [`LatencyBatch`] of
//! a few hundred and adds it to the run's one [`SharedHistogram`] when it is full, so a
//! connection costs about 2 KiB rather than a histogram of its own (some 100 KiB at 3
//! significant digits).

use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::sync::lock;

/// Latencies a connection buffers before adding them to the shared histogram.
const LATENCY_BATCH: usize = 256;

/// The run's latencies in microseconds, fed in batches by the connection tasks.
#[derive(Debug)]
pub(crate) struct SharedHistogram(Mutex<Histogram<u64>>);

impl SharedHistogram {
    /// An empty histogram for latencies up to `highest` (the per-request timeout).
    pub(crate) fn new(highest: Duration) -> SharedHistogram {
        let high_us = u64::try_from(highest.as_micros()).unwrap_or(u64::MAX);
        // Bounds 1..=high with high >= 2 and 3 significant digits are always valid.
        let hist =
            Histogram::new_with_bounds(1, high_us.max(2), 3).expect("valid histogram bounds");
        SharedHistogram(Mutex::new(hist))
    }

    /// A copy of everything recorded so far.
    pub(crate) fn to_histogram(&self) -> Histogram<u64> {
        lock(&self.0).clone()
    }
}

/// One connection's latencies not yet added to the shared histogram.
#[derive(Debug)]
pub(crate) struct LatencyBatch(Vec<u64>);

impl LatencyBatch {
    /// An empty batch, allocated once for the connection's life.
    pub(crate) fn new() -> LatencyBatch {
        LatencyBatch(Vec::with_capacity(LATENCY_BATCH))
    }

    /// Records one latency; a full batch goes to `shared`.
    pub(crate) fn record(&mut self, shared: &SharedHistogram, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.0.push(us.max(1));
        if self.0.len() >= LATENCY_BATCH {
            self.flush(shared);
        }
    }

    /// Adds what is buffered to `shared`.
    pub(crate) fn flush(&mut self, shared: &SharedHistogram) {
        if self.0.is_empty() {
            return;
        }
        let mut hist = lock(&shared.0);
        for us in self.0.drain(..) {
            hist.saturating_record(us);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_reaches_the_histogram_when_full_or_flushed() {
        let shared = SharedHistogram::new(Duration::from_secs(5));
        let mut batch = LatencyBatch::new();
        for _ in 0..LATENCY_BATCH - 1 {
            batch.record(&shared, Duration::from_micros(100));
        }
        assert_eq!(shared.to_histogram().len(), 0);
        batch.record(&shared, Duration::ZERO);
        assert_eq!(shared.to_histogram().len(), LATENCY_BATCH as u64);
        batch.record(&shared, Duration::from_secs(3600));
        batch.flush(&shared);
        let hist = shared.to_histogram();
        assert_eq!(hist.len(), LATENCY_BATCH as u64 + 1);
        // Zero is recorded as 1 µs, beyond the bound as the bound.
        assert_eq!(hist.min(), 1);
        assert!(
            hist.max() >= 5_000_000 && hist.max() < 5_010_000,
            "{}",
            hist.max()
        );
    }
}
