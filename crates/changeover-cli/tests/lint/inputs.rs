//! Contract: standard input, directories (searched for manifests only) and files are read; an
//! input that cannot be read or parsed, or holds nothing to lint, exits 2 with a clear error,
//! and the other inputs are still linted and reported; `--namespace` places objects that set
//! none.

use std::fs;

use crate::harness::{fixture, fixtures, lint, lint_in};

#[test]
fn standard_input_is_read_from_dash() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = fs::read(fixture("service-matches-nothing", "fire.yaml")).unwrap();
    lint_in(dir.path(), &["-"], &manifest)
        .status(1)
        .stdout_has("<stdin>:7: warning[service-matches-nothing] Service/users/profile");
}

#[test]
fn directories_are_searched_recursively_for_manifests_only() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("deploy/base")).unwrap();
    fs::create_dir_all(root.join(".git")).unwrap();
    let bad = fs::read(fixture("missing-pdb", "fire.yaml")).unwrap();
    fs::write(root.join("deploy/base/queue.yml"), &bad).unwrap();
    fs::write(root.join("deploy/budget.json"), br#"{"kind": "PodDisruptionBudget", "metadata": {"name": "b", "namespace": "infra"}, "spec": {"maxUnavailable": 1, "unhealthyPodEvictionPolicy": "AlwaysAllow", "selector": {"matchLabels": {"app": "nothing"}}}}"#).unwrap();
    fs::write(root.join("deploy/README.md"), "not a manifest: {{ }}").unwrap();
    fs::write(root.join(".git/config.yaml"), "{{ not linted }}").unwrap();
    let run = lint_in(root, &["deploy"], b"");
    run.status(1)
        .stdout_has("deploy/base/queue.yml:8: warning[missing-pdb]")
        .stdout_has("deploy/budget.json:1: warning[pdb-selector]")
        .stdout_has("checked 2 files, 2 objects");
    let run = lint_in(root, &["."], b"");
    run.status(1).stdout_has("checked 2 files");
}

#[test]
fn unreadable_inputs_exit_2_but_the_others_are_still_reported() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("broken.yaml"),
        "kind: Service\nmetadata:\n  name: [x\n",
    )
    .unwrap();
    let good = fixture("missing-pdb", "fire.yaml");
    let run = lint_in(dir.path(), &["missing.yaml", "broken.yaml", &good], b"");
    run.status(2)
        .stderr_has("error: missing.yaml: cannot read it")
        .stderr_has("error: broken.yaml:4: invalid YAML")
        .stderr_has("fix: ")
        .stdout_has("warning[missing-pdb]")
        .stdout_has("2 input problems");
}

#[test]
fn bad_inputs_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    fs::write(
        p.join("chart.yaml"),
        "kind: Deployment\nspec:\n  replicas: {{ .Values.replicas }}\n",
    )
    .unwrap();
    fs::write(p.join("blob.yaml"), b"\x00\x01\x02binary").unwrap();
    fs::write(p.join("empty.yaml"), "").unwrap();
    fs::write(
        p.join("widget.yaml"),
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n",
    )
    .unwrap();
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        bomb.push_str(&format!(
            "a{i}: &a{i} [{}]\n",
            vec![format!("*a{}", i - 1); 10].join(", ")
        ));
    }
    fs::write(p.join("bomb.yaml"), bomb).unwrap();
    fs::write(p.join("deep.yaml"), "- ".repeat(10_000) + "x\n").unwrap();

    lint_in(p, &["chart.yaml"], b"")
        .status(2)
        .stderr_has("chart.yaml:3: this is a template")
        .stderr_has("helm template");
    lint_in(p, &["blob.yaml"], b"")
        .status(2)
        .stderr_has("blob.yaml: this is a binary file");
    lint_in(p, &["empty.yaml"], b"")
        .status(2)
        .stderr_has("empty.yaml: nothing to lint: it holds no Kubernetes object");
    lint_in(p, &["--allow-empty", "empty.yaml"], b"")
        .status(0)
        .stdout_has("checked 1 file, 0 objects: no findings");
    lint_in(p, &["widget.yaml"], b"")
        .status(0)
        .stdout_has("1 of other kinds skipped");
    lint_in(p, &["bomb.yaml"], b"")
        .status(2)
        .stderr_has("alias bomb");
    lint_in(p, &["deep.yaml"], b"")
        .status(2)
        .stderr_has("nest more than");
}

/// Regression (issue 10): `changeover lint - </dev/null` (what a failed `helm template` pipes
/// without pipefail) and a directory without manifests exited 0, as if all were well.
#[test]
fn nothing_to_lint_exits_2_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("charts/empty")).unwrap();
    fs::write(
        dir.path().join("charts/empty/README.md"),
        "no manifests here",
    )
    .unwrap();
    lint_in(dir.path(), &["-"], b"")
        .status(2)
        .stderr_has("error: <stdin>: nothing to lint: standard input holds no Kubernetes object")
        .stderr_has("set -o pipefail");
    let run = lint_in(dir.path(), &["--format", "json", "-"], b"");
    run.status(2);
    let json = run.json();
    assert!(
        json["input_errors"][0]["problem"]
            .as_str()
            .unwrap()
            .starts_with("nothing to lint"),
        "{}",
        run.context()
    );
    lint_in(dir.path(), &["charts"], b"")
        .status(2)
        .stderr_has("charts: nothing to lint: the directory holds no *.yaml, *.yml or *.json file");
    lint_in(dir.path(), &["--allow-empty", "charts", "-"], b"").status(0);
}

/// Regression (issue 10): files meant for `kubectl apply -n NS` leave namespaces unset.
#[test]
fn namespace_puts_objects_without_one_there() {
    let path = fixtures()
        .join("regressions/namespace-flag.yaml")
        .display()
        .to_string();
    lint(&["--namespace", "shop", &path])
        .status(0)
        .stdout_has("no findings");
    // Without it the Deployment lands in `default`, away from its budget.
    lint(&[&path])
        .status(1)
        .stdout_has("warning[missing-pdb] Deployment/default/cart");
    lint(&["--namespace", "Shop_1", &path])
        .status(2)
        .stderr_has("--namespace \"Shop_1\": not a namespace name");
}
