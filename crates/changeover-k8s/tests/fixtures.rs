//! Contract: every rule has a fixture that fires (`tests/fixtures/<rule>/fire.yaml`) and one
//! that must not (`dont-fire.yaml`), checked end to end through the JSON output; every rule has
//! fix text; and the realistic manifests in `tests/fixtures/clean/` produce no finding at all.
//!
//! A fixture whose first line is `# lint-args: --kube-version X.Y` is linted with that option.

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
            other => panic!("unsupported lint-args in fixture: {other:?}"),
        }
    }
    config
}

/// Lints one file and returns the parsed JSON output.
fn lint_json(path: &Path, config: Option<Config>) -> Value {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let config = config.unwrap_or_else(|| config_for(&String::from_utf8_lossy(&bytes)));
    let mut linter = Linter::new(config);
    linter.add_input(&path.display().to_string(), &bytes);
    let report = linter.finish();
    assert!(
        report.errors.is_empty(),
        "{}: {:?}",
        path.display(),
        report.errors
    );
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
        if name != "clean" && rules::find(&name).is_none() {
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
    assert_eq!(top, ["findings", "summary"]);
    let mut finding = keys(&json["findings"][0]);
    finding.sort();
    assert_eq!(
        finding,
        [
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
    assert_eq!(summary, ["errors", "files", "objects", "warnings"]);
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
    let pdb = lint_json(&fixtures().join("pdb-unhealthy-policy/fire.yaml"), None);
    assert_eq!(pdb["findings"][0]["container"], Value::Null);
}
