//! How a run is told to stop: the two [`StopSignals`] that the handle, every connection task,
//! the run-limit timer and the [`During`](crate::During) schedule share.
//!
//! Stopping happens in one of two strengths, always in this order:
//! 1. **stop** (the duration is over, `max_requests` issued, [`LoadHandle::stop`], the handle
//!    dropped, the first Ctrl-C): no new request starts and no new command run starts; requests
//!    already written finish (bounded by the per-request timeout) and a command run still going
//!    gets its grace.
//! 2. **stop now** ([`Control::stop_now`], the second Ctrl-C): also abandon the requests in
//!    flight (they are not counted) and kill the command run still going.
//!
//! [`LoadHandle::stop`]: crate::LoadHandle::stop
//! [`Control::stop_now`]: crate::Control::stop_now

use tokio_util::sync::CancellationToken;

/// The stop signals of one run; clones share them.
#[derive(Debug, Clone, Default)]
pub(crate) struct StopSignals {
    /// Cancelled when the run stops issuing requests.
    stopping: CancellationToken,
    /// Cancelled by a stop now; never without `stopping`.
    stopping_now: CancellationToken,
}

impl StopSignals {
    /// Stops issuing requests; what is in flight finishes.
    pub(crate) fn stop(&self) {
        self.stopping.cancel();
    }

    /// Stops at once: what is in flight is abandoned.
    pub(crate) fn stop_now(&self) {
        self.stopping.cancel();
        self.stopping_now.cancel();
    }

    /// Whether the run has stopped issuing requests.
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.is_cancelled()
    }

    /// Resolves once the run stops issuing requests.
    pub(crate) async fn stopping(&self) {
        self.stopping.cancelled().await;
    }

    /// Resolves once the run is stopped now.
    pub(crate) async fn stopping_now(&self) {
        self.stopping_now.cancelled().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_now_implies_stop_and_not_the_reverse() {
        let graceful = StopSignals::default();
        graceful.clone().stop();
        assert!(graceful.is_stopping());
        assert!(!graceful.stopping_now.is_cancelled());

        let now = StopSignals::default();
        now.clone().stop_now();
        assert!(now.is_stopping());
        assert!(now.stopping_now.is_cancelled());
    }
}
