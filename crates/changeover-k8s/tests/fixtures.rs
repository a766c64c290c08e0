//! Contract: every rule has a fixture that fires (`tests/fixtures/<rule>/fire.yaml`) and one
//! that must not (`dont-fire.yaml`), checked end to end through the JSON output; every rule has
//! fix text; and the realistic manifests in `tests/fixtures/clean/` produce no finding at all.
//!
//! A fixture whose first line is `# lint-args: --kube-version X.Y` (or `--namespace NS`) is linted
//! with that option.
//!
//! `tests/fixtures/regressions/` holds one fixture per mistake found on real manifests (issue 10),
//! each shaped like the real file and headed by what it must produce:
//!
//! - `# expect: rule-a rule-b` (or `none`): exactly these rules fire, no other;
//! - `# expect-message: …`, `# expect-fix: …`, `# expect-arithmetic: …`, `# expect-container: …`:
//!   some finding of those rules carries this text;
//! - `# expect-error: …` and `# expect-error-line: N`: the input error it must report (none may
//!   be reported otherwise).

use std::fs;
use std::path::{Path, PathBuf};

use changeover_k8s::{Config, Linter, render, rules};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn config_for(text: &str) -> Config {
    let mut config = Config::default();
    if let Some(args) = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("# lint-args:"))
    {
        let words: Vec<&str> = args.split_whitespace().collect();
        match words.as_slice() {
            ["--kube-version", v] => {
                config.kube_version = Some(v.parse().expect("fixture version"))
            }
            ["--namespace", ns] => config.namespace = Some(ns.to_string()),
            other => panic!("unsupported lint-args in fixture: {other:?}"),
        }
    }
    config
}

/// Lints one file and returns the parsed JSON output, which must report no input error.
fn lint_json(path: &Path, config: Option<Config>) -> Value {
    let json = lint_json_allowing_errors(path, config);
    assert_eq!(
        json["input_errors"],
        Value::Array(vec![]),
        "{}",
        path.display()
    );
    json
}

/// Lints one file and returns the parsed JSON output.
fn lint_json_allowing_errors(path: &Path, config: Option<Config>) -> Value {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let config = config.unwrap_or_else(|| config_for(&String::from_utf8_lossy(&bytes)));
    let mut linter = Linter::new(config);
    linter.add_input(&path.display().to_string(), &bytes);
    let report = linter.finish();
    serde_json::from_str(&render::json(&report)).expect("the JSON output parses")
}

fn rules_fired(json: &Value) -> Vec<String> {
    json["findings"]
        .as_array()
        .expect("findings is an array")
        .iter()
        .map(|f| f["rule"].as_str().expect("rule is a string").to_string())
        .collect()
}

#[test]
fn every_rule_has_both_fixtures_and_fix_text() {
    let mut missing = Vec::new();
    for rule in rules::all() {
        for name in ["fire.yaml", "dont-fire.yaml"] {
            if !fixtures().join(rule.id).join(name).is_file() {
                missing.push(format!("{}/{name}", rule.id));
            }
        }
        if rule.fix.trim().is_empty() {
            missing.push(format!("{}: fix text", rule.id));
        }
    }
    // And no fixture directory for a rule that does not exist.
    for entry in fs::read_dir(fixtures()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name != "clean" && name != "regressions" && rules::find(&name).is_none() {
            missing.push(format!("fixture directory {name} names no rule"));
        }
    }
    assert!(missing.is_empty(), "missing: {missing:#?}");
}

#[test]
fn fire_fixtures_fire_with_a_fix() {
    let mut failures = Vec::new();
    for rule in rules::all() {
        let path = fixtures().join(rule.id).join("fire.yaml");
        let json = lint_json(&path, None);
        let ours: Vec<&Value> = json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["rule"] == rule.id)
            .collect();
        if ours.is_empty() {
            failures.push(format!(
                "{} did not fire; findings: {:?}",
                rule.id,
                rules_fired(&json)
            ));
        }
        for f in ours {
            let fix = f["fix"].as_str().unwrap_or("");
            let line = f["line"].as_u64().unwrap_or(0);
            if fix.is_empty() || line == 0 || f["severity"] != rule.severity.as_str() {
                failures.push(format!("{}: incomplete finding {f}", rule.id));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn dont_fire_fixtures_stay_quiet() {
    let mut failures = Vec::new();
    for rule in rules::all() {
        let path = fixtures().join(rule.id).join("dont-fire.yaml");
        let json = lint_json(&path, None);
        if rules_fired(&json).iter().any(|r| r == rule.id) {
            failures.push(format!(
                "{} fired on its dont-fire fixture: {json:#}",
                rule.id
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn realistic_clean_manifests_produce_no_finding() {
    let dir = fixtures().join("clean");
    let mut seen = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        for version in [None, Some("1.33")] {
            let mut config = Config::default();
            config.kube_version = version.map(|v| v.parse().unwrap());
            let json = lint_json(&path, Some(config));
            assert_eq!(
                json["findings"],
                Value::Array(vec![]),
                "{}: {json:#}",
                path.display()
            );
            assert!(
                json["summary"]["objects"].as_u64().unwrap() >= 3,
                "{json:#}"
            );
        }
        seen += 1;
    }
    assert!(seen >= 2);
}

#[test]
fn all_clean_manifests_linted_together_stay_clean() {
    // Relations work across inputs: the Service in one file and its Deployment in another.
    let dir = fixtures().join("clean");
    let mut linter = Linter::new(Config::default());
    let mut paths: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    for path in &paths {
        linter.add_input(&path.display().to_string(), &fs::read(path).unwrap());
    }
    let report = linter.finish();
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    assert_eq!(report.files, paths.len());
}

#[test]
fn json_output_has_exactly_the_documented_shape() {
    let json = lint_json(&fixtures().join("grace-budget/fire.yaml"), None);
    let keys = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    let mut top = keys(&json);
    top.sort();
    assert_eq!(top, ["findings", "input_errors", "summary"]);
    let mut finding = keys(&json["findings"][0]);
    finding.sort();
    assert_eq!(
        finding,
        [
            "arithmetic",
            "container",
            "file",
            "fix",
            "line",
            "message",
            "object",
            "rule",
            "severity"
        ]
    );
    let mut summary = keys(&json["summary"]);
    summary.sort();
    assert_eq!(
        summary,
        [
            "errors",
            "files",
            "input_errors",
            "objects",
            "skipped",
            "warnings"
        ]
    );
    let f = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "grace-budget")
        .unwrap();
    assert_eq!(f["object"], "Deployment/shop/checkout");
    assert_eq!(f["container"], "app");
    assert_eq!(f["line"], 16);
    assert!(f["message"].as_str().unwrap().contains("37s"), "{f}");
    // Regression (issue 10): the arithmetic was only in the text output.
    assert_eq!(
        f["arithmetic"][0],
        "10s (--stop-delay 10s of changeover run) + 25s (--drain-timeout 25s of changeover run) + 2s (margin) = 37s > 30s (terminationGracePeriodSeconds unset, the default)"
    );
    let pdb = lint_json(&fixtures().join("pdb-unhealthy-policy/fire.yaml"), None);
    assert_eq!(pdb["findings"][0]["container"], Value::Null);
}

/// The `# expect…` header lines of a regression fixture.
fn header(text: &str, key: &str) -> Vec<String> {
    let prefix = format!("# {key}:");
    text.lines()
        .take_while(|l| l.starts_with('#'))
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.trim().to_string())
        .collect()
}

#[test]
fn regression_fixtures_fire_exactly_what_they_expect() {
    let dir = fixtures().join("regressions");
    let mut failures = Vec::new();
    let mut seen = 0;
    let mut paths: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    for path in paths {
        seen += 1;
        let text = fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let json = lint_json_allowing_errors(&path, None);
        let mut want: Vec<String> = header(&text, "expect")
            .iter()
            .flat_map(|l| l.split_whitespace().map(String::from).collect::<Vec<_>>())
            .filter(|r| r != "none")
            .collect();
        want.sort();
        let mut got = rules_fired(&json);
        got.sort();
        got.dedup();
        if got != want {
            failures.push(format!(
                "{name}: expected {want:?}, fired {got:?}: {json:#}"
            ));
        }
        let findings = json["findings"].as_array().unwrap();
        for (key, field) in [
            ("expect-message", "message"),
            ("expect-fix", "fix"),
            ("expect-container", "container"),
        ] {
            for needle in header(&text, key) {
                if !findings
                    .iter()
                    .any(|f| f[field].as_str().is_some_and(|v| v.contains(&needle)))
                {
                    failures.push(format!("{name}: no finding's {field} contains {needle:?}"));
                }
            }
        }
        for needle in header(&text, "expect-arithmetic") {
            let found = findings.iter().any(|f| {
                f["arithmetic"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|s| s.as_str().unwrap().contains(&needle))
            });
            if !found {
                failures.push(format!("{name}: no arithmetic contains {needle:?}"));
            }
        }
        let errors = json["input_errors"].as_array().unwrap();
        let want_errors = header(&text, "expect-error");
        if want_errors.is_empty() && !errors.is_empty() {
            failures.push(format!("{name}: unexpected input errors {errors:?}"));
        }
        for needle in want_errors {
            if !errors
                .iter()
                .any(|e| e["problem"].as_str().unwrap().contains(&needle))
            {
                failures.push(format!(
                    "{name}: no input error contains {needle:?}: {errors:?}"
                ));
            }
        }
        for line in header(&text, "expect-error-line") {
            let line: u64 = line.parse().unwrap();
            if !errors.iter().any(|e| e["line"] == line) {
                failures.push(format!("{name}: no input error at line {line}: {errors:?}"));
            }
        }
    }
    assert!(seen >= 25, "only {seen} regression fixtures");
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn json_output_carries_input_errors_and_the_skipped_count() {
    // Regression (issue 10): a script saw exit status 2 but not why; input errors were only on
    // standard error, and the count of skipped kinds only in the text summary.
    let mut linter = Linter::new(Config::default());
    linter.add_input("broken.yaml", b"kind: Service\nmetadata:\n  name: [x\n");
    linter.add_input(
        "cm.yaml",
        b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
    );
    let json: Value = serde_json::from_str(&render::json(&linter.finish())).unwrap();
    let e = &json["input_errors"][0];
    assert_eq!(e["file"], "broken.yaml");
    assert_eq!(e["line"], 4);
    assert!(
        e["problem"].as_str().unwrap().starts_with("invalid YAML"),
        "{e}"
    );
    assert!(!e["fix"].as_str().unwrap().is_empty());
    assert_eq!(json["summary"]["input_errors"], 1);
    assert_eq!(json["summary"]["skipped"], 1);
}
