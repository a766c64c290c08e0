//! Two helpers the library is about to own: the supervisor keeps its own
//! copies here, in one place, until the switch.

use std::process::ExitStatus;

/// The supervisor's exit status for a child's: its code, or 128 + the signal.
// switch to changeover::process::exit_code
pub fn exit_code(status: ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => code as u8,
        (None, Some(sig)) => (128 + sig) as u8,
        _ => 1,
    }
}

/// `CLOCK_MONOTONIC` in microseconds, for `MONOTONIC_USEC=` beside `RELOADING=1`.
// switch to changeover::notify::monotonic_usec
pub(super) fn monotonic_usec() -> Option<u64> {
    let ts = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).ok()?;
    Some(ts.tv_sec() as u64 * 1_000_000 + ts.tv_nsec() as u64 / 1_000)
}
