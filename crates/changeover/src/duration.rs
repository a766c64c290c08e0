//! Human durations: `500ms`, `5s`, `1m`, `2h`, and combinations such as `1m30s`.
//!
//! The grammar lives in `changeover-flags`, shared with the `changeover` CLI and `changeover lint`,
//! so that a duration means the same everywhere; this module re-exports it.

pub use changeover_flags::duration::{DurationError, format_duration, parse_duration};
