//! The machine format:
//!
//! ```text
//! {"findings": [{"rule", "severity", "file", "line", "object", "container", "message",
//!                "arithmetic": [step, …], "fix"}],
//!  "input_errors": [{"file", "line", "problem", "fix"}],
//!  "summary": {"files", "objects", "skipped", "errors", "warnings", "input_errors"}}
//! ```
//!
//! A script that sees exit status 2 finds why in `input_errors`, with the same text as standard
//! error.

use serde::Serialize;

use crate::{Report, Severity};

#[derive(Serialize)]
struct Json<'a> {
    findings: Vec<JsonFinding<'a>>,
    input_errors: Vec<JsonInputError<'a>>,
    summary: Summary,
}

#[derive(Serialize)]
struct JsonInputError<'a> {
    file: &'a str,
    line: Option<usize>,
    problem: String,
    fix: String,
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    rule: &'a str,
    severity: &'a str,
    file: &'a str,
    line: usize,
    object: &'a str,
    container: Option<&'a str>,
    message: &'a str,
    arithmetic: &'a [String],
    fix: &'a str,
}

#[derive(Serialize)]
struct Summary {
    files: usize,
    objects: usize,
    skipped: usize,
    errors: usize,
    warnings: usize,
    input_errors: usize,
}

/// The report as one JSON document (`errors` and `warnings` count findings by severity,
/// `input_errors` inputs that could not be linted), with a trailing newline.
pub fn json(report: &Report) -> String {
    let doc = Json {
        findings: report
            .findings
            .iter()
            .map(|f| JsonFinding {
                rule: f.rule,
                severity: f.severity.as_str(),
                file: &f.file,
                line: f.line,
                object: &f.object,
                container: f.container.as_deref(),
                message: &f.message,
                arithmetic: &f.arithmetic,
                fix: &f.fix,
            })
            .collect(),
        input_errors: report
            .errors
            .iter()
            .map(|e| JsonInputError {
                file: &e.file,
                line: e.line,
                problem: e.problem(),
                fix: e.fix(),
            })
            .collect(),
        summary: Summary {
            files: report.files,
            objects: report.objects,
            skipped: report.skipped,
            errors: report.count(Severity::Error),
            warnings: report.count(Severity::Warning),
            input_errors: report.errors.len(),
        },
    };
    let mut out = serde_json::to_string_pretty(&doc)
        .unwrap_or_else(|e| format!("{{\"error\":{:?}}}", e.to_string()));
    out.push('\n');
    out
}
