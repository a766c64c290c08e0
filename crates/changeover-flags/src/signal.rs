//! Signals as users write them: `TERM`, `SIGTERM`, `term` or `15`.

use std::str::FromStr;

use nix::sys::signal::Signal;

/// A signal's name without the `SIG` prefix, as users write it.
///
/// ```
/// use nix::sys::signal::Signal;
/// assert_eq!(changeover_flags::signal_name(Signal::SIGQUIT), "QUIT");
/// ```
pub fn signal_name(signal: Signal) -> &'static str {
    let s = signal.as_str();
    s.strip_prefix("SIG").unwrap_or(s)
}

/// Reads a signal written as `TERM`, `SIGTERM`, `term` or `15`.
///
/// ```
/// use changeover_flags::parse_signal;
/// use nix::sys::signal::Signal;
/// assert_eq!(parse_signal("quit"), Some(Signal::SIGQUIT));
/// assert_eq!(parse_signal("SIGUSR2"), Some(Signal::SIGUSR2));
/// assert_eq!(parse_signal("1"), Some(Signal::SIGHUP));
/// assert_eq!(parse_signal("TREM"), None);
/// ```
pub fn parse_signal(value: &str) -> Option<Signal> {
    let value = value.trim();
    if let Ok(n) = value.parse::<i32>() {
        return Signal::try_from(n).ok();
    }
    let upper = value.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if name.is_empty() {
        return None;
    }
    Signal::from_str(&format!("SIG{name}")).ok()
}
