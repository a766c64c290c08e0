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

/// Why `signal` cannot be the signal that starts a reload, or `None` when it can: it must be one
/// the supervisor can catch, that does not already mean stop, and that the kernel does not send
/// for other reasons.
///
/// ```
/// use nix::sys::signal::Signal;
/// use changeover_flags::signal::reload_signal_problem;
/// assert!(reload_signal_problem(Signal::SIGHUP).is_none());
/// assert!(reload_signal_problem(Signal::SIGKILL).unwrap().starts_with("it cannot be caught"));
/// ```
pub fn reload_signal_problem(signal: Signal) -> Option<&'static str> {
    match signal {
        Signal::SIGKILL | Signal::SIGSTOP => {
            Some("it cannot be caught; choose another, such as HUP or USR2")
        }
        Signal::SIGTERM | Signal::SIGINT => {
            Some("it already means stop; choose another, such as HUP or USR2")
        }
        Signal::SIGCHLD | Signal::SIGSEGV | Signal::SIGBUS | Signal::SIGILL | Signal::SIGFPE => {
            Some("the kernel sends it for other reasons; choose another, such as HUP or USR2")
        }
        _ => None,
    }
}
