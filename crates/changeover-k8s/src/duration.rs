//! Durations of the stop sequence, kept in milliseconds: the arguments of `sleep` (`5`, `0.5`,
//! `1m`, `infinity`), which is coreutils' grammar and not changeover's, and how findings show a
//! duration. changeover's own flags (`5s`, `500ms`, `1m30s`) are read by `changeover-flags`, the
//! parser the CLI itself uses, never here.

/// A duration that never ends (`sleep infinity`).
pub const FOREVER_MS: u64 = u64::MAX;

/// Parses the arguments of `sleep` (GNU and busybox): each a number with an optional suffix `s`,
/// `m`, `h` or `d`, added together; `inf`/`infinity` never ends. `None` when an argument is not a
/// number (for example `$DELAY`), or there is none.
///
/// ```
/// use changeover_k8s::duration::{parse_sleep_args, FOREVER_MS};
/// assert_eq!(parse_sleep_args(&["5"]), Some(5_000));
/// assert_eq!(parse_sleep_args(&["1m", "0.5"]), Some(60_500));
/// assert_eq!(parse_sleep_args(&["infinity"]), Some(FOREVER_MS));
/// assert_eq!(parse_sleep_args(&["$DELAY"]), None);
/// ```
pub fn parse_sleep_args<S: AsRef<str>>(args: &[S]) -> Option<u64> {
    if args.is_empty() {
        return None;
    }
    let mut total: u128 = 0;
    for arg in args {
        let arg = arg.as_ref();
        if matches!(arg, "inf" | "infinity") {
            return Some(FOREVER_MS);
        }
        let (number, scale) = match arg.char_indices().last() {
            Some((i, 's')) => (&arg[..i], 1_000_000_000),
            Some((i, 'm')) => (&arg[..i], 60_000_000_000),
            Some((i, 'h')) => (&arg[..i], 3_600_000_000_000),
            Some((i, 'd')) => (&arg[..i], 86_400_000_000_000),
            _ => (arg, 1_000_000_000),
        };
        total = total.saturating_add(number_nanos(number, scale)?);
    }
    Some(nanos_to_ms(total))
}

/// `digits[.digits]` times `scale` nanoseconds, exactly.
fn number_nanos(number: &str, scale: u128) -> Option<u128> {
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && frac.is_empty() {
        return None;
    }
    let all_digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if !all_digits(whole) || !all_digits(frac) || whole.len() > 30 {
        return None;
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut value = whole.saturating_mul(scale);
    // Digits beyond nanosecond precision do not matter.
    let frac = &frac[..frac.len().min(18)];
    if !frac.is_empty() {
        let digits: u128 = frac.parse().ok()?;
        let denominator = 10u128.pow(u32::try_from(frac.len()).ok()?);
        value = value.saturating_add(digits.saturating_mul(scale) / denominator);
    }
    Some(value)
}

fn nanos_to_ms(ns: u128) -> u64 {
    u64::try_from(ns.saturating_add(500_000) / 1_000_000).unwrap_or(FOREVER_MS)
}

/// Formats milliseconds the way findings show them (changeover's one formatter, and `forever`
/// for `sleep infinity`): `5s`, `1.5s`, `250ms`, `forever`.
///
/// ```
/// use changeover_k8s::duration::format_ms;
/// assert_eq!(format_ms(5_000), "5s");
/// assert_eq!(format_ms(1_500), "1.5s");
/// assert_eq!(format_ms(250), "250ms");
/// assert_eq!(format_ms(0), "0s");
/// ```
pub fn format_ms(ms: u64) -> String {
    if ms == FOREVER_MS {
        return "forever".to_string();
    }
    changeover_flags::format_duration(std::time::Duration::from_millis(ms))
}

/// Milliseconds of a duration, saturating at [`FOREVER_MS`].
pub fn duration_ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(FOREVER_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleep_arguments() {
        assert_eq!(parse_sleep_args(&["2d"]), Some(172_800_000));
        assert_eq!(parse_sleep_args(&[".5"]), Some(500));
        assert_eq!(parse_sleep_args::<&str>(&[]), None);
        assert_eq!(parse_sleep_args(&["5", "x"]), None);
    }
}
