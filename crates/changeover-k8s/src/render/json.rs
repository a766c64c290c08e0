//! The machine format:
//! `{"findings":[{"rule","severity","file","line","object","container","message","fix"}],"summary":{"files","objects","errors","warnings"}}`.

use serde::Serialize;

use crate::{Report, Severity};

#[derive(Serialize)]
struct Json<'a> {
    findings: Vec<JsonFinding<'a>>,
    summary: Summary,
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
    fix: &'a str,
}

#[derive(Serialize)]
struct Summary {
    files: usize,
    objects: usize,
    errors: usize,
    warnings: usize,
}

/// The report as one JSON document (`errors` and `warnings` count findings by severity), with a
/// trailing newline.
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
                fix: &f.fix,
            })
            .collect(),
        summary: Summary {
            files: report.files,
            objects: report.objects,
            errors: report.count(Severity::Error),
            warnings: report.count(Severity::Warning),
        },
    };
    let mut out = serde_json::to_string_pretty(&doc)
        .unwrap_or_else(|e| format!("{{\"error\":{:?}}}", e.to_string()));
    out.push('\n');
    out
}
