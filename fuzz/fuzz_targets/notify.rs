//! Any datagram through the notify parser the supervisor and an upgrading
//! server run on every report they receive (any local process can send one),
//! and any `NOTIFY_SOCKET` value through the address parser.
//!
//! Properties: no panic; a report that parses has at least one field, every
//! key is an upper-case name, and writing it back out as `KEY=VALUE` lines
//! parses to the same report; an address that parses writes back to the
//! same value.

#![no_main]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use changeover::notify::{NotifyAddr, parse_report};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(report) = parse_report(Some(1), data) {
        assert!(!report.fields.is_empty());
        let mut text = String::new();
        for (k, v) in &report.fields {
            assert!(!k.is_empty());
            assert!(k.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'));
            assert!(!v.contains('\n'));
            text.push_str(k);
            text.push('=');
            text.push_str(v);
            text.push('\n');
        }
        assert_eq!(parse_report(Some(1), text.as_bytes()), Ok(report.clone()));
        let _ = report.is_ready();
        let _ = report.get("STATUS");
    }
    if let Ok(addr) = NotifyAddr::parse(OsStr::from_bytes(data)) {
        assert_eq!(addr.to_env_value().as_bytes(), data);
    }
});
