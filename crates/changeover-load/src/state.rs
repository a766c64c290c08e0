//! [`RunState`]: what the handle and every connection task of one run share.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::counters::Counters;
use crate::events::EventLog;
use crate::latency::SharedHistogram;
use crate::stop::StopSignals;
use crate::timeline::{CellKey, TimelineCells};

/// The state of one run, shared by the [`LoadHandle`](crate::LoadHandle), its
/// [`Control`](crate::Control)s and every connection task. (The run-limit timer and the
/// [`During`](crate::During) schedule get only the stop signals and the event log.)
#[derive(Debug)]
pub(crate) struct RunState {
    /// When the run started; every offset in the report is from here.
    pub(crate) start: Instant,
    pub(crate) stop: StopSignals,
    /// Shared with each connection task's running-task guard, hence its own `Arc`.
    pub(crate) counters: Arc<Counters>,
    /// Shared with the `During` schedule, hence its own `Arc`.
    pub(crate) events: Arc<EventLog>,
    pub(crate) timeline: TimelineCells,
    pub(crate) latency: SharedHistogram,
}

impl RunState {
    /// Time from the start of the run to `at`.
    pub(crate) fn offset(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.start)
    }

    /// The timeline cell of a request that ends at `at`.
    pub(crate) fn cell_key(&self, at: Instant) -> CellKey {
        CellKey {
            second: self.offset(at).as_secs(),
            events_before: self.events.count(),
        }
    }
}
