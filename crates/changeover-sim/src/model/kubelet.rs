//! The kubelet's arithmetic for stopping one container (`killContainer`): how much of the grace
//! period the preStop hook may use, and when SIGKILL follows the stop signal.
//!
//! The budget `g` starts at the pod's deletion grace period (or a probe's own, for a liveness
//! kill), floored at 1 s. The hook runs first and may take all of `g`; the kubelet then takes
//! off the hook's time **truncated to whole seconds**, floors what is left at 2 s (the "minimal
//! shutdown window"), sends the stop signal, and SIGKILL after that many seconds. Kubelets from
//! 1.22 until kubernetes#115835 handed the runtime the whole `g` after the hook (`legacy`), so a
//! pod could take nearly twice its grace period.

use super::Ms;

/// The kubelet's floor on the window between the stop signal and SIGKILL.
pub const MIN_STOP_WINDOW_S: i64 = 2;

/// The grace period the kubelet works with: at least 1 s (`calculateEffectiveGracePeriod`).
pub fn effective_grace_s(grace_s: i64) -> i64 {
    grace_s.max(1)
}

/// When the hook's wait ends at the latest: the kubelet waits for the hook or `g`, whichever
/// comes first.
pub fn hook_deadline(started: Ms, grace_s: i64) -> Ms {
    started + secs_ms(effective_grace_s(grace_s))
}

/// Milliseconds from the stop signal to SIGKILL, given the hook's elapsed time (`None`: there
/// was no hook).
///
/// ```
/// use changeover_sim::model::kubelet::stop_window_ms;
/// assert_eq!(stop_window_ms(30, Some(2_400), false), 28_000); // 2.4 s counts as 2
/// assert_eq!(stop_window_ms(30, Some(30_000), false), 2_000); // hook used it all: 2 s floor
/// assert_eq!(stop_window_ms(30, None, false), 30_000);
/// assert_eq!(stop_window_ms(30, Some(5_000), true), 30_000); // legacy kubelet: G again
/// ```
pub fn stop_window_ms(grace_s: i64, hook_elapsed_ms: Option<u64>, legacy: bool) -> u64 {
    let g = effective_grace_s(grace_s);
    let left = match hook_elapsed_ms {
        Some(_) if legacy => g,
        Some(ms) => g - i64::try_from(ms / 1000).unwrap_or(i64::MAX),
        None => g,
    };
    secs_ms(left.max(MIN_STOP_WINDOW_S))
}

fn secs_ms(s: i64) -> u64 {
    u64::try_from(s).unwrap_or(0).saturating_mul(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kubelets_numbers() {
        // A negative or zero grace period still gives the hook 1 s and the server 2 s.
        assert_eq!(effective_grace_s(0), 1);
        assert_eq!(hook_deadline(500, 0), 1_500);
        assert_eq!(stop_window_ms(0, Some(999), false), 2_000);
        // A hook of 40 s under a 30 s grace is cut at 30 s; 2 s remain for the server.
        assert_eq!(hook_deadline(0, 30), 30_000);
        assert_eq!(stop_window_ms(30, Some(30_000), false), 2_000);
        // 1.9 s of hook counts as 1 s: SIGKILL comes 29 s after the signal, 30.9 s in all.
        assert_eq!(stop_window_ms(30, Some(1_900), false), 29_000);
        assert_eq!(stop_window_ms(3, Some(2_000), false), 2_000);
    }
}
