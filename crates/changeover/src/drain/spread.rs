//! Where in its lame-duck window an idle connection closes: at a moment
//! drawn at random (as HAProxy's `close-spread-time`), so that the closes
//! of one stop do not all fall at the window's end, where a client whose
//! timer matches the window (a 1 s poll) would meet every one of them.

use std::time::Duration;

/// A moment within `window`, uniformly at random.
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(super) fn spread(window: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    // Each `RandomState` has fresh keys: its hash of nothing is a random
    // number, which is all this needs.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    window.mul_f64((random >> 11) as f64 / (1u64 << 53) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closes_spread_over_the_whole_window() {
        let window = Duration::from_secs(1);
        let moments: Vec<Duration> = (0..1000).map(|_| spread(window)).collect();
        assert!(moments.iter().all(|m| *m < window));
        // Ten slices of the window, each hit: not all at one end.
        let mut slices = [0u32; 10];
        for m in &moments {
            slices[(m.as_secs_f64() * 10.0) as usize] += 1;
        }
        assert!(slices.iter().all(|&n| n > 40), "{slices:?}");
    }
}
