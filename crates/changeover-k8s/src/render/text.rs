//! The human format: one block per finding.
//!
//! ```text
//! web.yaml:14: error[grace-budget] Deployment/shop/web (container app): stop delay + … = 37s, more than the 30s grace period: …
//!   = 5s (preStop sleep action, sleep.seconds: 5) + … = 37s > 30s (terminationGracePeriodSeconds: 30)
//!   fix: set terminationGracePeriodSeconds to at least 37, or shorten the stop delay or the drain deadline
//! ```

use std::fmt::Write as _;

use crate::{Finding, Report, Rule, Severity};

fn finding(out: &mut String, f: &Finding) {
    let _ = write!(
        out,
        "{}:{}: {}[{}] {}",
        f.file, f.line, f.severity, f.rule, f.object
    );
    if let Some(c) = &f.container {
        let _ = write!(out, " (container {c})");
    }
    let _ = writeln!(out, ": {}", f.message);
    for step in &f.arithmetic {
        let _ = writeln!(out, "  = {step}");
    }
    let _ = writeln!(out, "  fix: {}", f.fix);
}

/// Every finding as a block followed by a blank line, then the [`summary`] line.
pub fn text(report: &Report) -> String {
    let mut out = String::new();
    for f in &report.findings {
        finding(&mut out, f);
        out.push('\n');
    }
    out.push_str(&summary(report));
    out.push('\n');
    out
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// One line: what was read and what was found, e.g.
/// `checked 2 files, 4 objects (1 of another kind skipped): 1 error, 2 warnings`.
pub fn summary(report: &Report) -> String {
    let mut line = format!(
        "checked {}, {}",
        plural(report.files, "file", "files"),
        plural(report.objects, "object", "objects")
    );
    if report.skipped > 0 {
        let _ = write!(line, " ({} of other kinds skipped)", report.skipped);
    }
    let errors = report.count(Severity::Error);
    let warnings = report.count(Severity::Warning);
    if errors + warnings == 0 {
        line.push_str(": no findings");
    } else {
        let _ = write!(
            line,
            ": {}, {}",
            plural(errors, "error", "errors"),
            plural(warnings, "warning", "warnings")
        );
    }
    if !report.errors.is_empty() {
        let problems = plural(report.errors.len(), "input problem", "input problems");
        let _ = write!(line, "; {problems} (see standard error)");
    }
    line
}

/// What `changeover lint --explain RULE` prints.
pub fn explain(rule: &Rule) -> String {
    format!(
        "{} ({})\n\n{}\n\nWhy:\n  {}\n\nFix:\n  {}\n\nSilence it with `--disable {}`, or for one object with the annotation\n  changeover.lint/ignore: \"{}\"\n",
        rule.id, rule.severity, rule.summary, rule.rationale, rule.fix, rule.id, rule.id
    )
}
