//! Durations as people write them in manifests: changeover's flags (`5s`, `500ms`, `1m30s`) and
//! the arguments of `sleep` (`5`, `0.5`, `1m`, `infinity`). Everything is kept in milliseconds.

/// A duration that never ends (`sleep infinity`).
pub const FOREVER_MS: u64 = u64::MAX;

/// Parses a flag duration: one or more `NUMBER UNIT` pairs with units `ns`, `us`, `ms`, `s`, `m`,
/// `h`, or a bare number of seconds. Returns milliseconds, rounded to the nearest.
///
/// ```
/// use changeover_k8s::duration::parse_duration;
/// assert_eq!(parse_duration("5s"), Some(5_000));
/// assert_eq!(parse_duration("500ms"), Some(500));
/// assert_eq!(parse_duration("1m30s"), Some(90_000));
/// assert_eq!(parse_duration("1.5s"), Some(1_500));
/// assert_eq!(parse_duration("7"), Some(7_000));
/// assert_eq!(parse_duration("soon"), None);
/// ```
pub fn parse_duration(text: &str) -> Option<u64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Some(ns) = number_nanos(text, 1_000_000_000) {
        return Some(nanos_to_ms(ns));
    }
    let mut rest = text;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let scale: u128 = match unit {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        total = total.saturating_add(number_nanos(number, scale)?);
        rest = after;
    }
    Some(nanos_to_ms(total))
}

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

/// Formats milliseconds the way findings show them: `5s`, `1.5s`, `250ms`, `forever`.
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
    if ms % 1000 == 0 {
        return format!("{}s", ms / 1000);
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let frac = format!("{:03}", ms % 1000);
    format!("{}.{}s", ms / 1000, frac.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_durations() {
        assert_eq!(parse_duration("1h"), Some(3_600_000));
        assert_eq!(parse_duration("2m"), Some(120_000));
        assert_eq!(parse_duration("0"), Some(0));
        assert_eq!(parse_duration("100us"), Some(0));
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(parse_duration("s"), None);
        assert_eq!(parse_duration("-5s"), None);
        assert_eq!(parse_duration(""), None);
        assert_eq!(
            parse_duration("99999999999999999999999999h"),
            Some(FOREVER_MS)
        );
    }

    #[test]
    fn sleep_arguments() {
        assert_eq!(parse_sleep_args(&["2d"]), Some(172_800_000));
        assert_eq!(parse_sleep_args(&[".5"]), Some(500));
        assert_eq!(parse_sleep_args::<&str>(&[]), None);
        assert_eq!(parse_sleep_args(&["5", "x"]), None);
    }
}
