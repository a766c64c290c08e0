//! Where in its lame-duck window an idle connection closes: at a moment
//! drawn at random (as HAProxy's `close-spread-time`), so that the closes
//! of one stop do not all fall at the window's end, where a client whose
//! timer matches the window (a 1 s poll) would meet every one of them.
//!
//! Only within the window's second half: the first half is every
//! connection's, so that a request already on its way when accepting
//! stopped (sent before the client could see a `Connection: close`, or on
//! a connection accepted just then) is read and answered. Spread over the
//! whole window, a close drawn near its start raced those requests
//! (regression: `changeover run`'s twenty reloads under keep-alive load
//! failed 2 requests, "closed before any response byte").

use std::time::Duration;

/// A moment within the second half of `window`, uniformly at random.
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(super) fn spread(window: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    // Each `RandomState` has fresh keys: its hash of nothing is a random
    // number, which is all this needs.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let half = window / 2;
    half + half.mul_f64((random >> 11) as f64 / (1u64 << 53) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closes_spread_over_the_second_half_of_the_window() {
        let window = Duration::from_secs(1);
        let moments: Vec<Duration> = (0..1000).map(|_| spread(window)).collect();
        assert!(moments.iter().all(|m| *m >= window / 2 && *m < window));
        // Ten slices of the second half, each hit: not all at one end.
        let mut slices = [0u32; 10];
        for m in &moments {
            slices[((m.as_secs_f64() - 0.5) * 20.0) as usize] += 1;
        }
        assert!(slices.iter().all(|&n| n > 40), "{slices:?}");
    }
}
