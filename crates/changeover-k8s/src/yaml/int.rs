//! Integers as go-yaml, which kubectl uses, resolves plain scalars: YAML 1.1's bases, `_`
//! separators, and a float that is a whole number (Kubernetes' YAML-to-JSON step writes it as an
//! integer).

/// An integer as go-yaml (what kubectl uses) resolves a plain scalar, then a whole float.
pub(super) fn yaml_int(text: &str) -> Option<i64> {
    // The common case, `30` or `-1`, without an allocation.
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    if !unsigned.is_empty()
        && unsigned.bytes().all(|b| b.is_ascii_digit())
        && (unsigned.len() == 1 || !unsigned.starts_with('0'))
    {
        return text.strip_prefix('+').unwrap_or(text).parse().ok();
    }
    if !text.bytes().any(|b| b.is_ascii_digit()) {
        return None; // `true`, `web`, `.inf`: no number at all
    }
    let cleaned: String = text.chars().filter(|&c| c != '_').collect();
    let (negative, digits) = match cleaned.as_bytes().first() {
        Some(b'-') => (true, &cleaned[1..]),
        Some(b'+') => (false, &cleaned[1..]),
        _ => (false, cleaned.as_str()),
    };
    if digits.is_empty() {
        return None;
    }
    let lower = digits.to_ascii_lowercase();
    let magnitude = if let Some(hex) = lower.strip_prefix("0x") {
        i128::from_str_radix(hex, 16).ok()
    } else if let Some(bin) = lower.strip_prefix("0b") {
        i128::from_str_radix(bin, 2).ok()
    } else if let Some(oct) = lower.strip_prefix("0o") {
        i128::from_str_radix(oct, 8).ok()
    } else if lower.len() > 1 && lower.starts_with('0') && lower.bytes().all(|b| b.is_ascii_digit())
    {
        i128::from_str_radix(&lower[1..], 8).ok()
    } else if lower.bytes().all(|b| b.is_ascii_digit()) {
        lower.parse::<i128>().ok()
    } else {
        None
    };
    if let Some(m) = magnitude {
        return i64::try_from(if negative { -m } else { m }).ok();
    }
    // A float, when it is a whole number: `30.0`, `3e1`, `30.` (not `.inf`, `.nan`, `1.5`).
    let float_like = lower
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'+' | b'-'))
        && lower.bytes().any(|b| b.is_ascii_digit());
    if !float_like {
        return None;
    }
    let value: f64 = digits.parse().ok()?;
    let value = if negative { -value } else { value };
    // 2^63 is exactly representable; anything at or beyond it does not fit.
    if value.fract() == 0.0 && value.abs() < 9.223_372_036_854_776e18 {
        #[allow(clippy::cast_possible_truncation)]
        Some(value as i64)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use crate::yaml::parse_documents;

    #[test]
    fn integers_as_kubectl_reads_them() {
        // Regression (issue 10): `30.0` and `0x1E` were refused where kubectl accepts them.
        let docs = parse_documents(
            "a: 30.0\nb: 0x1E\nc: 036\nd: 0o36\ne: 1_000\nf: 3e1\ng: -0x10\nh: 1.5\ni: .inf\nj: '30'\nk: 0b11110\n",
        )
        .unwrap();
        let int = |k: &str| docs[0].get(k).unwrap().as_i64();
        assert_eq!(
            [
                int("a"),
                int("b"),
                int("c"),
                int("d"),
                int("e"),
                int("f"),
                int("g"),
                int("k")
            ],
            [
                Some(30),
                Some(30),
                Some(30),
                Some(30),
                Some(1000),
                Some(30),
                Some(-16),
                Some(30)
            ]
        );
        assert_eq!((int("h"), int("i"), int("j")), (None, None, None));
    }
}
