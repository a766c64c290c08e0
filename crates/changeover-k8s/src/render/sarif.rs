//! SARIF 2.1.0, the format code-scanning services (GitHub, GitLab, Azure DevOps) import.
//!
//! Every rule is listed in `tool.driver.rules` with its rationale and fix; each finding is a
//! result whose message carries the arithmetic and the fix; inputs that could not be linted are
//! tool execution notifications, and make `executionSuccessful` false.

use serde_json::{Value, json};

use crate::{Finding, Report, Severity, rules};

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// Percent-encodes what may not appear in a relative URI reference (spaces, `%`, `#`, `?`,
/// non-ASCII bytes); keeps `/`.
fn uri(path: &str) -> String {
    let mut out = String::new();
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn location(file: &str, line: Option<usize>) -> Value {
    let mut physical = json!({ "artifactLocation": { "uri": uri(file) } });
    if let Some(line) = line {
        physical["region"] = json!({ "startLine": line.max(1) });
    }
    json!({ "physicalLocation": physical })
}

fn result(f: &Finding) -> Value {
    let index = rules::all()
        .iter()
        .position(|r| r.id == f.rule)
        .unwrap_or(0);
    let mut text = f.message.clone();
    for step in &f.arithmetic {
        text.push_str("\n= ");
        text.push_str(step);
    }
    text.push_str("\nfix: ");
    text.push_str(&f.fix);
    let mut location = location(&f.file, Some(f.line));
    location["logicalLocations"] = json!([{ "fullyQualifiedName": f.object, "kind": "object" }]);
    json!({
        "ruleId": f.rule,
        "ruleIndex": index,
        "level": level(f.severity),
        "message": { "text": format!("{}: {text}", match &f.container {
            Some(c) => format!("{} (container {c})", f.object),
            None => f.object.clone(),
        }) },
        "locations": [location],
    })
}

/// The report as a SARIF 2.1.0 log with one run, with a trailing newline.
pub fn sarif(report: &Report) -> String {
    let rules: Vec<Value> = rules::all()
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "shortDescription": { "text": r.summary },
                "fullDescription": { "text": r.rationale },
                "help": { "text": r.fix },
                "defaultConfiguration": { "level": level(r.severity) },
            })
        })
        .collect();
    let notifications: Vec<Value> = report
        .errors
        .iter()
        .map(|e| {
            json!({
                "level": "error",
                "message": { "text": format!("{} Fix: {}", e.problem(), e.fix()) },
                "locations": [location(&e.file, e.line)],
            })
        })
        .collect();
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "changeover",
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "invocations": [{
                "executionSuccessful": report.errors.is_empty(),
                "toolExecutionNotifications": notifications,
            }],
            "results": report.findings.iter().map(result).collect::<Vec<_>>(),
        }],
    });
    let mut out = serde_json::to_string_pretty(&log).unwrap_or_default();
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::uri;

    #[test]
    fn uris() {
        assert_eq!(uri("deploy/web app.yaml"), "deploy/web%20app.yaml");
        assert_eq!(uri("<stdin>"), "%3Cstdin%3E");
    }
}
