//! `changeover sim`: rehearse a Kubernetes rollout, drain or delete of your own manifest with
//! your own server — real processes, real load — and count every failed request.
//!
//! # Theory of operation
//!
//! (Filled in below as the parts land.)

pub mod attribute;
pub mod flags;
pub mod model;
pub mod report;
pub mod rng;
pub mod run;
pub mod spec;
pub mod svg;
pub mod world;

/// A duration in milliseconds as people read it: `800ms`, `2s`, `1.5s`, `2.25s`.
///
/// ```
/// use changeover_sim::fmt_ms;
/// assert_eq!(fmt_ms(800), "800ms");
/// assert_eq!(fmt_ms(2_000), "2s");
/// assert_eq!(fmt_ms(1_500), "1.5s");
/// assert_eq!(fmt_ms(2_250), "2.25s");
/// ```
pub fn fmt_ms(ms: u64) -> String {
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let text = format!("{:.2}", ms as f64 / 1000.0);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}s")
}
