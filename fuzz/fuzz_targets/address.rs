//! Any string through the listen-address parser (`--listen`, `--health`,
//! `hello --listen`).
//!
//! Strings that would reach the host-name lookup are skipped: resolving
//! random names would make the fuzzer send DNS queries. Properties: no
//! panic; an address that parses is displayed as text that parses back to
//! the same address.

#![no_main]

use std::net::SocketAddr;

use changeover::ListenAddr;
use libfuzzer_sys::fuzz_target;

/// Whether the parser would resolve `input` as a host name (mirrors its order of checks).
fn would_resolve(input: &str) -> bool {
    if input.starts_with("unix:") || input.parse::<SocketAddr>().is_ok() {
        return false;
    }
    let Some((host, port)) = input.rsplit_once(':') else {
        return false;
    };
    port.parse::<u16>().is_ok()
        && !host.is_empty()
        && !(host.contains(':') && !host.starts_with('['))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if would_resolve(text) {
        return;
    }
    if let Ok(addr) = text.parse::<ListenAddr>() {
        let shown = addr.to_string();
        assert_eq!(
            shown.parse::<ListenAddr>().ok(),
            Some(addr.clone()),
            "{text:?} is shown as {shown:?}"
        );
    }
});
