//! Counting requests by the time they ended, split at every event: the shared
//! [`TimelineCells`], each connection's [`OpenCell`], and turning the cells into the report's
//! [`TimelineEntry`]s.
//!
//! A cell is keyed by (second since the start, number of events recorded before the request
//! ended). Every event adds one to that number, so the requests of a second are split at each
//! event in it, and a failure always lands after the event that preceded it. Each connection
//! counts into its open cell and adds it to the shared map when the key changes, about once a
//! second, so the map's lock is not taken per request.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::sync::lock;
use crate::{Event, FailureCounts, FailureKind, TimelineEntry};

/// Requests that ended in one (second, events before) cell of the timeline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Cell {
    ok: u64,
    failed: [u64; FailureKind::COUNT],
}

/// A timeline key: the second since the start, and the number of events recorded before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct CellKey {
    /// Whole seconds since the run started.
    pub(crate) second: u64,
    /// Events recorded before the requests of this cell ended.
    pub(crate) events_before: usize,
}

/// The cells every connection adds to.
#[derive(Debug, Default)]
pub(crate) struct TimelineCells(Mutex<BTreeMap<CellKey, Cell>>);

impl TimelineCells {
    fn add(&self, key: CellKey, cell: &Cell) {
        let mut cells = lock(&self.0);
        let total = cells.entry(key).or_default();
        total.ok += cell.ok;
        for (t, n) in total.failed.iter_mut().zip(cell.failed) {
            *t += n;
        }
    }

    /// The timeline of the report, given the run's `events` (in time order).
    pub(crate) fn entries(&self, events: &[Event]) -> Vec<TimelineEntry> {
        build_timeline(&lock(&self.0), events)
    }
}

/// The cell one connection is counting into, not yet added to the shared cells.
#[derive(Debug, Default)]
pub(crate) struct OpenCell(Option<(CellKey, Cell)>);

impl OpenCell {
    /// Counts one request that ended in cell `key`: ok, or failed as `failure`. A new key first
    /// adds the open cell to `shared`.
    pub(crate) fn count(
        &mut self,
        shared: &TimelineCells,
        key: CellKey,
        failure: Option<FailureKind>,
    ) {
        let cell = match &mut self.0 {
            Some((k, cell)) if *k == key => cell,
            slot => {
                if let Some((k, cell)) = slot.take() {
                    shared.add(k, &cell);
                }
                &mut slot.insert((key, Cell::default())).1
            }
        };
        match failure {
            None => cell.ok += 1,
            Some(kind) => cell.failed[kind.index()] += 1,
        }
    }

    /// Adds the open cell to `shared` (when the connection ends).
    pub(crate) fn flush(&mut self, shared: &TimelineCells) {
        if let Some((key, cell)) = self.0.take() {
            shared.add(key, &cell);
        }
    }
}

/// Turns the cells into timeline entries: in time order, every second from 0 to the last one
/// with a request present at least once (a second without any request gets an empty entry
/// after the events before it).
fn build_timeline(cells: &BTreeMap<CellKey, Cell>, events: &[Event]) -> Vec<TimelineEntry> {
    let entry = |second: u64, events_before: usize, cell: &Cell| {
        let failures = FailureCounts::from_array(cell.failed);
        TimelineEntry {
            second,
            after_event: events_before.checked_sub(1),
            ok: cell.ok,
            failed: failures.total(),
            failures,
        }
    };
    let mut out = Vec::with_capacity(cells.len());
    let mut next_second = 0;
    for (key, cell) in cells {
        for empty in next_second..key.second {
            let start = Duration::from_secs(empty);
            let events_before = events.partition_point(|e| e.at <= start);
            out.push(entry(empty, events_before, &Cell::default()));
        }
        next_second = next_second.max(key.second + 1);
        out.push(entry(key.second, key.events_before, cell));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(ok: u64, refused: u64) -> Cell {
        let mut failed = [0; FailureKind::COUNT];
        failed[FailureKind::Refused.index()] = refused;
        Cell { ok, failed }
    }

    fn key(second: u64, events_before: usize) -> CellKey {
        CellKey {
            second,
            events_before,
        }
    }

    #[test]
    fn timeline_fills_gaps_after_the_events_before_them() {
        let events: Vec<Event> = [500, 2500]
            .into_iter()
            .map(|ms| Event {
                at: Duration::from_millis(ms),
                label: format!("at {ms}"),
                command: None,
            })
            .collect();
        // Second 0 split by the event at 0.5 s; nothing ended in seconds 1 to 3.
        let cells = BTreeMap::from([
            (key(0, 0), cell(5, 0)),
            (key(0, 1), cell(1, 2)),
            (key(4, 2), cell(7, 0)),
        ]);
        let got: Vec<(u64, Option<usize>, u64, u64)> = build_timeline(&cells, &events)
            .iter()
            .map(|e| (e.second, e.after_event, e.ok, e.failed))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, None, 5, 0),
                (0, Some(0), 1, 2),
                (1, Some(0), 0, 0),
                (2, Some(0), 0, 0),
                (3, Some(1), 0, 0),
                (4, Some(1), 7, 0),
            ]
        );
        assert!(build_timeline(&BTreeMap::new(), &events).is_empty());
    }

    #[test]
    fn an_open_cell_reaches_the_shared_cells_on_a_new_key_and_on_flush() {
        let shared = TimelineCells::default();
        let mut open = OpenCell::default();
        open.count(&shared, key(0, 0), None);
        open.count(&shared, key(0, 0), Some(FailureKind::Refused));
        assert!(lock(&shared.0).is_empty());
        open.count(&shared, key(0, 1), None);
        assert_eq!(lock(&shared.0)[&key(0, 0)], cell(1, 1));
        open.flush(&shared);
        assert_eq!(lock(&shared.0)[&key(0, 1)], cell(1, 0));
        assert_eq!(shared.entries(&[]).len(), 2);
    }
}
