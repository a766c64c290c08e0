//! Contract: exit 0 when no finding reaches `--fail-on`, 1 when one does, 2 for bad usage; the
//! text, JSON and SARIF formats have their documented shape; `--disable`, `--explain`,
//! `--kube-version` and the ignore annotation do what they say.

use std::fs;
use std::path::Path;

use serde_json::Value;

use crate::harness::{fixture, fixtures, lint, lint_in};

#[test]
fn text_format_is_file_line_severity_rule_object_container_then_arithmetic_and_fix() {
    let path = fixture("grace-budget", "fire.yaml");
    let run = lint(&[&path]);
    run.status(1);
    let block = format!(
        "{path}:16: error[grace-budget] Deployment/shop/checkout (container app): stop delay + drain deadline + margin = 37s, more than the 30s grace period: SIGKILL cuts the drain short\n  = 10s (--stop-delay 10s of changeover run) + 25s (--drain-timeout 25s of changeover run) + 2s (margin) = 37s > 30s (terminationGracePeriodSeconds unset, the default)\n  fix: Set terminationGracePeriodSeconds to at least 37, or shorten the stop delay or the drain deadline.\n"
    );
    run.stdout_has(&block)
        .stdout_has("checked 1 file, 1 object: 1 error, 1 warning\n");
}

#[test]
fn clean_manifests_exit_zero() {
    let dir = fixtures().join("clean").display().to_string();
    lint(&[&dir, "--kube-version", "1.33"])
        .status(0)
        .stdout_has("no findings");
}

#[test]
fn json_format_has_the_documented_shape() {
    let run = lint(&[
        "--format",
        "json",
        &fixture("pdb-blocks-eviction", "fire.yaml"),
    ]);
    run.status(1);
    let json = run.json();
    let f = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "pdb-blocks-eviction")
        .unwrap_or_else(|| panic!("no pdb-blocks-eviction finding\n{}", run.context()));
    assert_eq!(f["severity"], "error");
    assert_eq!(f["object"], "PodDisruptionBudget/default/cart");
    assert_eq!(f["container"], Value::Null);
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("disruptionsAllowed = 0"),
        "{f}"
    );
    assert_eq!(json["summary"]["files"], 1);
    assert_eq!(json["summary"]["objects"], 3);
    assert_eq!(json["summary"]["errors"], 1);
}

#[test]
fn sarif_format_is_sarif_2_1_0() {
    let run = lint(&[
        "--format",
        "sarif",
        &fixture("shell-form-command", "fire.yaml"),
    ]);
    run.status(1);
    let sarif = run.json();
    assert_eq!(sarif["version"], "2.1.0");
    let run0 = &sarif["runs"][0];
    assert_eq!(run0["tool"]["driver"]["name"], "changeover");
    assert_eq!(
        run0["tool"]["driver"]["rules"].as_array().unwrap().len(),
        changeover_k8s::rules::all().len()
    );
    let result = run0["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ruleId"] == "shell-form-command")
        .unwrap();
    assert_eq!(result["level"], "error");
    assert_eq!(
        result["locations"][0]["physicalLocation"]["region"]["startLine"],
        14
    );
    let index = result["ruleIndex"].as_u64().unwrap() as usize;
    assert_eq!(
        run0["tool"]["driver"]["rules"][index]["id"],
        "shell-form-command"
    );
}

#[test]
fn fail_on_error_ignores_warnings() {
    let path = fixture("missing-pdb", "fire.yaml");
    lint(&[&path]).status(1);
    lint(&["--fail-on", "error", &path])
        .status(0)
        .stdout_has("warning[missing-pdb]");
    lint(&["--fail-on", "error", &fixture("pdb-overlap", "fire.yaml")]).status(1);
}

#[test]
fn disable_turns_rules_off_and_unknown_rules_are_usage_errors() {
    let path = fixture("missing-pdb", "fire.yaml");
    lint(&["--disable", "missing-pdb", &path])
        .status(0)
        .stdout_has("no findings");
    lint(&["--disable", "grace-budget,missing-pdb", &path]).status(0);
    lint(&["--disable", "missing-pbd", &path])
        .status(2)
        .stderr_has("unknown rule \"missing-pbd\"")
        .stderr_has("missing-pdb");
}

#[test]
fn explain_prints_rationale_and_fix() {
    lint(&["--explain", "pdb-blocks-eviction"])
        .status(0)
        .stdout_has("pdb-blocks-eviction (error)")
        .stdout_has("Why:")
        .stdout_has("Fix:");
    lint(&["--explain", "no-such-rule"])
        .status(2)
        .stderr_has("unknown rule \"no-such-rule\"");
}

#[test]
fn usage_errors_exit_2() {
    lint(&[]).status(2).stderr_has("no input");
    lint(&["--kube-version", "one.thirty", "x.yaml"])
        .status(2)
        .stderr_has("X.Y");
    lint(&["--format", "xml", "x.yaml"]).status(2);
}

#[test]
fn ignore_annotation_exempts_an_object() {
    let dir = tempfile::tempdir().unwrap();
    let text = fs::read_to_string(fixture("missing-pdb", "fire.yaml")).unwrap().replace(
        "  namespace: infra\n",
        "  namespace: infra\n  annotations:\n    changeover.lint/ignore: \"missing-pdb, grace-budget\"\n",
    );
    fs::write(dir.path().join("queue.yaml"), text).unwrap();
    lint_in(dir.path(), &["queue.yaml"], b"")
        .status(0)
        .stdout_has("no findings");
}

#[test]
fn kube_version_enables_version_checks() {
    let path = fixture("prestop-sleep-unsupported", "fire.yaml");
    lint(&["--fail-on", "error", &path]).status(0);
    lint(&["--fail-on", "error", "--kube-version", "1.29", &path])
        .status(1)
        .stdout_has("error[prestop-sleep-unsupported]");
}

/// The repository's own `deploy/` manifests must lint clean (they are what the README
/// recommends). Skipped until the directory exists.
#[test]
fn repository_deploy_manifests_lint_clean() {
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
    if !deploy.is_dir() {
        eprintln!("no deploy/ directory yet: nothing to check");
        return;
    }
    lint(&[&deploy.display().to_string()]).status(0);
}
