//! Locking that outlives a panic: a connection task that panicked while holding a lock has
//! already lost its own counts; the rest of the run's records are still whole and worth a report.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `m`, taking the data over from a holder that panicked.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
