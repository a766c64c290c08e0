//! Any string through the duration grammar every flag and the lint use
//! (`changeover::parse_duration`, wherever it lives).
//!
//! Properties: no panic; what parses is formatted by `format_duration` into
//! text that parses back to within a millisecond of it (exactly, below a
//! second: `250ms`), for anything shorter than a century.

#![no_main]

use std::time::Duration;

use changeover::{format_duration, parse_duration};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(d) = parse_duration(text) else {
        return;
    };
    if d > Duration::from_secs(100 * 365 * 24 * 3600) {
        return;
    }
    let shown = format_duration(d);
    let back = parse_duration(&shown)
        .unwrap_or_else(|e| panic!("{text:?} = {d:?} is shown as {shown:?}, which does not parse: {e}"));
    let diff = if back > d { back - d } else { d - back };
    assert!(
        diff < Duration::from_millis(1),
        "{text:?} = {d:?} is shown as {shown:?} = {back:?}"
    );
});
