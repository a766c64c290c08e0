//! Any string through the signal-name parser of `--stop-signal` and
//! `--reload-signal` (the supervisor's `parse_signal`, wherever it lives).
//!
//! Properties: no panic; a signal that parses is named by `signal_name` in
//! a form that parses back to it, with or without `SIG`, in any case.

#![no_main]

use changeover_supervisor::config::{parse_signal, signal_name};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(signal) = parse_signal(text) {
        let name = signal_name(signal);
        assert_eq!(parse_signal(name), Some(signal), "{text:?}");
        assert_eq!(parse_signal(&format!("SIG{name}")), Some(signal), "{text:?}");
        assert_eq!(parse_signal(&name.to_ascii_lowercase()), Some(signal), "{text:?}");
        assert_eq!(parse_signal(&(signal as i32).to_string()), Some(signal), "{text:?}");
    }
});
