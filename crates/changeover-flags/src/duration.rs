//! Human durations: `500ms`, `5s`, `1m`, `2h`, and combinations such as `1m30s`.
//!
//! Read with exact decimal arithmetic (no floating point), so `0.1s` is exactly 100 ms and the
//! answer never depends on rounding.

use std::fmt;
use std::time::Duration;

/// A duration string that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationError {
    input: String,
    problem: &'static str,
}

impl DurationError {
    /// What was written.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// What is wrong with it, e.g. `a number has no unit`.
    pub fn problem(&self) -> &'static str {
        self.problem
    }
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid duration {:?}: {}; write a number with a unit, like 500ms, 5s, 1m or 1m30s",
            self.input, self.problem
        )
    }
}

impl std::error::Error for DurationError {}

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Reads a duration written as numbers with units (`ms`, `s`, `m` or `min`, `h`).
///
/// `0` alone is accepted without a unit; any other number needs one, so that
/// `--stop-delay 5` is never silently read as five milliseconds or five minutes.
///
/// ```
/// use std::time::Duration;
/// use changeover_flags::parse_duration;
/// assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
/// assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
/// assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
/// assert!(parse_duration("5").is_err());
/// ```
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let err = |problem| DurationError {
        input: input.to_owned(),
        problem,
    };
    let s = input.trim();
    if s.is_empty() {
        return Err(err("it is empty"));
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| err("a number has no unit"))?;
        if digits == 0 {
            return Err(err("expected a number"));
        }
        let number = &rest[..digits];
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per_unit: u128 = match &rest[..unit_len] {
            "ms" => 1_000_000,
            "s" => NANOS_PER_SEC,
            "m" | "min" => 60 * NANOS_PER_SEC,
            "h" => 3600 * NANOS_PER_SEC,
            _ => return Err(err("unknown unit (use ms, s, m or h)")),
        };
        rest = &rest[unit_len..];
        let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
        if (whole.is_empty() && frac.is_empty()) || frac.contains('.') {
            return Err(err("a number is malformed"));
        }
        let too_large = || err("it is too large");
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| too_large())?
        };
        let mut part = whole.checked_mul(nanos_per_unit).ok_or_else(too_large)?;
        // Digits beyond nanosecond precision cannot matter: at most 20 are read.
        let frac = &frac[..frac.len().min(20)];
        if !frac.is_empty() {
            let digits: u128 = frac.parse().map_err(|_| err("a number is malformed"))?;
            let scale = 10u128.pow(u32::try_from(frac.len()).unwrap_or(20));
            part += digits * nanos_per_unit / scale;
        }
        total = total.checked_add(part).ok_or_else(too_large)?;
    }
    let secs = u64::try_from(total / NANOS_PER_SEC).map_err(|_| err("it is too large"))?;
    let nanos = u32::try_from(total % NANOS_PER_SEC).unwrap_or(0);
    Ok(Duration::new(secs, nanos))
}

/// Writes a duration the way [`parse_duration`] reads it, to the millisecond (finer parts are
/// dropped: a measured `took` of 3.2 ms shows as `3ms`), as short as it can be: `0s`, `5s`,
/// `1.5s`, `250ms`.
///
/// ```
/// use std::time::Duration;
/// use changeover_flags::format_duration;
/// assert_eq!(format_duration(Duration::from_secs(20)), "20s");
/// assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
/// assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
/// assert_eq!(format_duration(Duration::from_micros(3_200)), "3ms");
/// ```
pub fn format_duration(d: Duration) -> String {
    let millis = d.subsec_millis();
    if d.is_zero() {
        "0s".to_owned()
    } else if d < Duration::from_secs(1) {
        format!("{millis}ms")
    } else if millis == 0 {
        format!("{}s", d.as_secs())
    } else {
        let frac = format!("{millis:03}");
        format!("{}.{}s", d.as_secs(), frac.trim_end_matches('0'))
    }
}

/// Writes an elapsed time for a status table, rounded to what a person reads at a glance:
/// tenths of a second under a minute (`12.3s`), then minutes and seconds (`4m05s`), then hours
/// and minutes (`2h07m`).
///
/// ```
/// use std::time::Duration;
/// use changeover_flags::format_elapsed;
/// assert_eq!(format_elapsed(Duration::from_millis(1040)), "1.0s");
/// assert_eq!(format_elapsed(Duration::from_secs(245)), "4m05s");
/// assert_eq!(format_elapsed(Duration::from_secs(7620)), "2h07m");
/// ```
pub fn format_elapsed(d: Duration) -> String {
    let secs = d.as_secs_f64();
    let whole = d.as_secs();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else if secs < 3600.0 {
        format!("{}m{:02}s", whole / 60, whole % 60)
    } else {
        format!("{}h{:02}m", whole / 3600, (whole % 3600) / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_units_and_combinations() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("2min").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("0.1s").unwrap(), Duration::from_millis(100));
        assert_eq!(parse_duration(".5s").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration(" 5s ").unwrap(), Duration::from_secs(5));
        assert_eq!(
            parse_duration("1m30s500ms").unwrap(),
            Duration::from_millis(90_500)
        );
    }

    #[test]
    fn rejects_what_a_user_could_misread() {
        for bad in [
            "",
            "5",
            "7",
            "s",
            "5x",
            "-1s",
            "1e3s",
            "5 s",
            "1.2.3s",
            ".s",
            "5us",
            "5ns",
            "5sec",
            "99999999999999999999999999h",
        ] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.to_string().contains("like 500ms"), "{bad}: {e}");
        }
        assert_eq!(
            parse_duration("7").unwrap_err().problem(),
            "a number has no unit"
        );
    }

    #[test]
    fn formats_round_trip() {
        for d in [
            Duration::ZERO,
            Duration::from_millis(250),
            Duration::from_secs(20),
            Duration::from_millis(1500),
            Duration::from_millis(1005),
            Duration::from_millis(60_010),
        ] {
            assert_eq!(parse_duration(&format_duration(d)).unwrap(), d, "{d:?}");
        }
    }

    #[test]
    fn elapsed_times() {
        assert_eq!(format_elapsed(Duration::ZERO), "0.0s");
        assert_eq!(format_elapsed(Duration::from_millis(59_940)), "59.9s");
        assert_eq!(format_elapsed(Duration::from_secs(60)), "1m00s");
        assert_eq!(format_elapsed(Duration::from_secs(3600)), "1h00m");
    }
}
