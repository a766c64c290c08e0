//! The Prometheus text format (0.0.4), the parts both `/metrics` renderers
//! share: the proxy's series here and the supervisor's own.

use std::fmt::Write;

/// Appends a histogram named `name` to `out`: its `# HELP`/`# TYPE` lines,
/// one `_bucket` line per `(upper bound in seconds, observations at or below
/// it)` in `cumulative` (cumulative counts, as Prometheus wants them), then
/// `+Inf` (every observation, `count`), `_sum` and `_count`.
///
/// ```
/// let mut out = String::new();
/// changeover_proxy::prometheus::histogram(&mut out, "t_seconds", "How long.", [(0.5, 1), (1.0, 1)], 2, 3.25);
/// assert_eq!(
///     out,
///     "# HELP t_seconds How long.\n# TYPE t_seconds histogram\n\
///      t_seconds_bucket{le=\"0.5\"} 1\nt_seconds_bucket{le=\"1\"} 1\n\
///      t_seconds_bucket{le=\"+Inf\"} 2\nt_seconds_sum 3.25\nt_seconds_count 2\n"
/// );
/// ```
pub fn histogram(
    out: &mut String,
    name: &str,
    help: &str,
    cumulative: impl IntoIterator<Item = (f64, u64)>,
    count: u64,
    sum_seconds: f64,
) {
    // Writing to a String cannot fail.
    let _infallible = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
    for (bound, n) in cumulative {
        let _infallible = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {n}");
    }
    let _infallible = writeln!(
        out,
        "{name}_bucket{{le=\"+Inf\"}} {count}\n{name}_sum {sum_seconds}\n{name}_count {count}"
    );
}

/// What a renderer's test checks in its output `text`: each of `expected`
/// stands in it as a whole line, and every sample line (not a `#` comment)
/// ends in a number. Returns the lines that fail, with what is wrong.
///
/// ```
/// use changeover_proxy::prometheus::check;
/// let text = "# TYPE up gauge\nup 1\ndown x\n";
/// assert_eq!(check(text, &["up 1"]), [r#"not a number: "down x""#]);
/// assert_eq!(check(text, &["up 2"]).len(), 2);
/// ```
pub fn check(text: &str, expected: &[&str]) -> Vec<String> {
    let missing = expected
        .iter()
        .filter(|want| !text.lines().any(|l| l == **want))
        .map(|want| format!("missing: {want:?}"));
    let malformed = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.rsplit(' ')
                .next()
                .is_none_or(|v| v.parse::<f64>().is_err())
        })
        .map(|l| format!("not a number: {l:?}"));
    missing.chain(malformed).collect()
}
