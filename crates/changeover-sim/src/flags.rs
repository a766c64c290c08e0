//! The values of `changeover sim`'s own flags, parsed here so that the CLI stays thin and the
//! grammar is tested: `--propagation CONSUMER=DURATION[..DURATION]`.

use changeover::parse_duration;

use crate::model::ConsumerSpec;

/// Reads `kube-proxy=0..1s`, `ingress=3s`, `lb=500ms..2s` (durations as everywhere in
/// changeover: `500ms`, `2s`, `1m`, or `0`).
///
/// ```
/// use changeover_sim::flags::parse_propagation;
/// let c = parse_propagation("kube-proxy=0..1s").unwrap();
/// assert_eq!((c.name.as_str(), c.min_ms, c.max_ms), ("kube-proxy", 0, 1000));
/// let c = parse_propagation("ingress=3s").unwrap();
/// assert_eq!((c.min_ms, c.max_ms), (3000, 3000));
/// assert!(parse_propagation("ingress").is_err());
/// ```
pub fn parse_propagation(text: &str) -> Result<ConsumerSpec, String> {
    let example = "write CONSUMER=DURATION or CONSUMER=MIN..MAX, e.g. --propagation kube-proxy=0..1s or --propagation ingress=3s";
    let Some((name, lag)) = text.split_once('=') else {
        return Err(format!("--propagation {text:?}: no `=`; {example}"));
    };
    let name = name.trim();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    {
        return Err(format!(
            "--propagation {text:?}: the consumer's name must be letters, digits, '-', '_' or '.'; {example}"
        ));
    }
    let ms = |d: &str| {
        parse_duration(d)
            .map(|d| d.as_millis() as u64)
            .map_err(|e| format!("--propagation {text:?}: {e}"))
    };
    let (min_ms, max_ms) = match lag.split_once("..") {
        Some((lo, hi)) => (ms(lo)?, ms(hi)?),
        None => {
            let d = ms(lag)?;
            (d, d)
        }
    };
    if min_ms > max_ms {
        return Err(format!(
            "--propagation {text:?}: the range runs backwards; write the shorter lag first, e.g. {name}=0..1s"
        ));
    }
    Ok(ConsumerSpec {
        name: name.to_string(),
        min_ms,
        max_ms,
    })
}

/// The consumers of a run: kube-proxy at 0..1 s unless named, then each `--propagation` (one
/// that names a consumer again replaces it).
pub fn consumers(flags: &[String]) -> Result<Vec<ConsumerSpec>, String> {
    let mut out = vec![ConsumerSpec::kube_proxy()];
    for f in flags {
        let c = parse_propagation(f)?;
        match out.iter_mut().find(|o| o.name == c.name) {
            Some(o) => *o = c,
            None => out.push(c),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumers_default_replace_and_add() {
        assert_eq!(consumers(&[]).unwrap(), [ConsumerSpec::kube_proxy()]);
        let c = consumers(&["kube-proxy=1s".into(), "ingress=2s..4s".into()]).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].min_ms, c[0].max_ms), (1000, 1000));
        assert_eq!(
            (c[1].name.as_str(), c[1].min_ms, c[1].max_ms),
            ("ingress", 2000, 4000)
        );
        for bad in ["=1s", "a b=1s", "x=2s..1s", "x=soon", "x=5"] {
            assert!(parse_propagation(bad).is_err(), "{bad}");
        }
    }
}
