//! Rate limiting for a warning that can repeat many times a second.
//!
//! An accept loop out of file descriptors fails 20 times a second (it backs
//! off 50 ms between tries); logging each one buries every other line and,
//! on a full disk, makes things worse. [`LogLimit`] lets one line through
//! per interval and counts the rest, so the line that does get through
//! says how many there were.

use std::time::{Duration, Instant};

/// Lets a repeated event be logged at most once per interval, counting them all.
///
/// ```
/// use std::time::{Duration, Instant};
/// use changeover::log_limit::LogLimit;
///
/// let mut limit = LogLimit::new(Duration::from_secs(1));
/// let t0 = Instant::now();
/// assert!(limit.hit(t0).is_some()); // the first is logged
/// assert!(limit.hit(t0 + Duration::from_millis(50)).is_none());
/// let line = limit.hit(t0 + Duration::from_secs(1)).unwrap();
/// assert_eq!((line.total, line.unlogged), (3, 1));
/// ```
#[derive(Debug, Clone)]
pub struct LogLimit {
    interval: Duration,
    last: Option<Instant>,
    unlogged: u64,
    total: u64,
}

/// What a line that is let through should report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Occurrences so far, this one included.
    pub total: u64,
    /// Occurrences not logged since the previous line.
    pub unlogged: u64,
}

impl LogLimit {
    /// At most one line per `interval`.
    pub const fn new(interval: Duration) -> LogLimit {
        LogLimit {
            interval,
            last: None,
            unlogged: 0,
            total: 0,
        }
    }

    /// Counts one occurrence at `now`; `Some` when it should be logged.
    pub fn hit(&mut self, now: Instant) -> Option<Counts> {
        self.total += 1;
        let due = self
            .last
            .is_none_or(|last| now.saturating_duration_since(last) >= self.interval);
        if !due {
            self.unlogged += 1;
            return None;
        }
        self.last = Some(now);
        let unlogged = std::mem::take(&mut self.unlogged);
        Some(Counts {
            total: self.total,
            unlogged,
        })
    }

    /// Occurrences so far.
    pub fn total(&self) -> u64 {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twenty_a_second_for_three_seconds_make_three_lines_that_count_them_all() {
        let mut limit = LogLimit::new(Duration::from_secs(1));
        let t0 = Instant::now();
        let lines: Vec<(u64, Counts)> = (0..60u64)
            .filter_map(|i| {
                limit
                    .hit(t0 + Duration::from_millis(50 * i))
                    .map(|c| (i, c))
            })
            .collect();
        assert_eq!(
            lines,
            [
                (
                    0,
                    Counts {
                        total: 1,
                        unlogged: 0
                    }
                ),
                (
                    20,
                    Counts {
                        total: 21,
                        unlogged: 19
                    }
                ),
                (
                    40,
                    Counts {
                        total: 41,
                        unlogged: 19
                    }
                ),
            ]
        );
        assert_eq!(limit.total(), 60);
    }
}
