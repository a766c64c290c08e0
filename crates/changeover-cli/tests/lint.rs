//! Black-box tests of `changeover lint`: the built binary, run in a fresh temporary directory,
//! checked on its exit status, standard output and standard error. Every failure prints the
//! command and both streams.
//!
//! Contract: exit 0 when no finding reaches `--fail-on`, 1 when one does, 2 for bad usage or an
//! input that cannot be read or parsed — and in that case the other inputs are still linted and
//! reported.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../changeover-k8s/tests/fixtures")
}

fn fixture(rule: &str, name: &str) -> String {
    fixtures().join(rule).join(name).display().to_string()
}

struct Run {
    command: String,
    status: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn context(&self) -> String {
        format!(
            "command: {}\nstatus: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command, self.status, self.stdout, self.stderr
        )
    }

    /// Asserts the exit status and returns self for further checks.
    fn status(&self, code: i32) -> &Run {
        assert_eq!(
            self.status,
            Some(code),
            "wrong exit status\n{}",
            self.context()
        );
        self
    }

    fn stdout_has(&self, needle: &str) -> &Run {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}\n{}",
            self.context()
        );
        self
    }

    fn stderr_has(&self, needle: &str) -> &Run {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}\n{}",
            self.context()
        );
        self
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON: {e}\n{}", self.context()))
    }
}

/// Runs `changeover lint ARGS` in `dir`, feeding `stdin`.
fn lint_in(dir: &Path, args: &[&str], stdin: &[u8]) -> Run {
    let exe = env!("CARGO_BIN_EXE_changeover");
    let mut child = Command::new(exe)
        .arg("lint")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the changeover binary starts");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin)
        .expect("stdin accepts input");
    let out = child
        .wait_with_output()
        .expect("the changeover binary finishes");
    Run {
        command: format!(
            "(cd {} && changeover lint {})",
            dir.display(),
            args.join(" ")
        ),
        status: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn lint(args: &[&str]) -> Run {
    let dir = tempfile::tempdir().expect("a temporary directory");
    lint_in(dir.path(), args, b"")
}

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

/// Runs the real `changeover` binary with `args` and returns its standard error.
fn changeover_stderr(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_changeover"))
        .args(args)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .stdin(Stdio::null())
        .output()
        .expect("the changeover binary runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A YAML flow sequence of `words`, each double-quoted.
fn yaml_words(words: &[&str]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("{w:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

/// Contract (issue 10): a command line the CLI refuses is a finding that quotes the CLI's own
/// message, word for word: the lint and the binary parse with the same definitions and check
/// with the same function. One case per way `changeover run` (and `prestop`) refuses its flags.
#[test]
fn refused_command_lines_quote_what_the_cli_itself_prints() {
    // (what the binary is run with, the preStop hook of the pod)
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["prestop", "--stop-delay", "3s"],
            &["changeover", "prestop", "--stop-delay", "3s"],
        ),
        (&["run", "--no-such-flag", "--", "app"], &["sleep", "1"]),
        (&["run", "--stop-delay", "7", "--", "app"], &["sleep", "1"]),
        (
            &["run", "--drain-timeout", "soon", "--", "app"],
            &["sleep", "1"],
        ),
        (
            &["run", "--ready-timeout", "90", "--", "app"],
            &["sleep", "1"],
        ),
        (
            &["run", "--stop-signal", "TREM", "--", "app"],
            &["sleep", "1"],
        ),
        (
            &["run", "--reload-signal", "TERM", "--", "app"],
            &["sleep", "1"],
        ),
        (
            &["run", "--reload-signal", "KILL", "--", "app"],
            &["sleep", "1"],
        ),
        (
            &["run", "--listen", "0.0.0.0:99999", "--", "app"],
            &["sleep", "1"],
        ),
        (
            &["run", "--listen", ":::8080", "--", "app"],
            &["sleep", "1"],
        ),
        (&["run", "--listen", "unix:", "--", "app"], &["sleep", "1"]),
        (&["run", "--health", "9090", "--", "app"], &["sleep", "1"]),
        (&["run", "--health", ":9090", "--", "app"], &["sleep", "1"]),
        (
            &["run", "--listen", "web+tls=0.0.0.0:8443", "--", "app"],
            &["sleep", "1"],
        ),
        (
            &[
                "run",
                "--listen",
                "0.0.0.0:8080",
                "--listen",
                "http=0.0.0.0:8081",
                "--",
                "app",
            ],
            &["sleep", "1"],
        ),
        (
            &["run", "--ready", "tcp:8080", "--", "app"],
            &["sleep", "1"],
        ),
        (&["run", "--ready", "exec:", "--", "app"], &["sleep", "1"]),
        (&["run", "--ready", "delay:2", "--", "app"], &["sleep", "1"]),
        (
            &["run", "--ready", "delay:90s", "--", "app"],
            &["sleep", "1"],
        ),
        (
            &[
                "run",
                "--ready",
                "delay:5s",
                "--ready-timeout",
                "5s",
                "--",
                "app",
            ],
            &["sleep", "1"],
        ),
        (
            &["run", "--max-draining", "0", "--", "app"],
            &["sleep", "1"],
        ),
        (
            &["run", "--max-draining", "all", "--", "app"],
            &["sleep", "1"],
        ),
        (&["run", "--listen", "0.0.0.0:8080"], &["sleep", "1"]),
        (&["run", "--"], &["sleep", "1"]),
    ];
    // Every case is a pod of its own in one manifest, linted once.
    let mut manifest = String::new();
    for (i, (args, hook)) in cases.iter().enumerate() {
        let command: Vec<&str> = if args[0] == "run" {
            std::iter::once("changeover")
                .chain(args.iter().copied())
                .collect()
        } else {
            vec!["changeover", "run", "--", "app"]
        };
        manifest.push_str(&format!(
            "---\nkind: Pod\nmetadata: {{name: p{i}}}\nspec:\n  containers:\n  - name: app\n    command: {}\n    lifecycle: {{preStop: {{exec: {{command: {}}}}}}}\n",
            yaml_words(&command),
            yaml_words(hook)
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let run = lint_in(dir.path(), &["--format", "json", "-"], manifest.as_bytes());
    run.status(1);
    let json = run.json();
    let findings = json["findings"].as_array().unwrap();
    for (i, (args, _)) in cases.iter().enumerate() {
        let (status, stderr) = changeover_stderr(args);
        assert_eq!(status, Some(2), "{args:?}: {stderr}");
        let cli_message: Vec<&str> = stderr
            .lines()
            .take_while(|l| !l.starts_with("Usage:"))
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let ours: Vec<&Value> = findings
            .iter()
            .filter(|f| {
                f["rule"] == "changeover-command" && f["object"] == format!("Pod/default/p{i}")
            })
            .collect();
        assert_eq!(ours.len(), 1, "{args:?}: {ours:?}\n{}", run.context());
        assert_eq!(ours[0]["arithmetic"][0], cli_message.join(" "), "{args:?}");
    }
}

/// Contract (issue 10): every flag of `changeover run` goes through the very parser and checks
/// the CLI uses, so the two cannot disagree: for each flag and each form of its value, the lint
/// refuses exactly what `changeover run` refuses, with the same message, and credits exactly the
/// stop delay and drain deadline the supervisor would run with (in a pod, where
/// `KUBERNETES_SERVICE_HOST` is set). A flag added to `changeover_flags::run::RunArgs` fails this
/// test until it has a case the CLI accepts and one it refuses.
#[test]
fn every_flag_the_lint_reads_agrees_with_the_cli() {
    use changeover_k8s::input::load;
    use changeover_k8s::model::Object;
    use changeover_k8s::timing::container_timing;
    use changeover_supervisor::{Config, Defaults};
    use clap::Args;

    let flags: &[&[&str]] = &[
        &[],
        &["--stop-delay", "7"],
        &["--stop-delay", "7s"],
        &["--stop-delay=1m30s"],
        &["--stop-delay", "0"],
        &["--stop-delay", "500ms"],
        &["--stop-delay", "1.5s"],
        &["--stop-delay", "5us"],
        &["--stop-delay", "-1s"],
        &["--stop-delay", "2min"],
        &["--stop-delay"],
        &["--drain-timeout", "20"],
        &["--drain-timeout=25s"],
        &["--drain-timeout", "soon"],
        &["--ready-timeout", "90s"],
        &["--ready-timeout", "90"],
        &["--ready", "notify"],
        &["--ready", "Notify"],
        &["--ready", "delay:2s"],
        &["--ready", "delay:2"],
        &["--ready", "delay:"],
        &["--ready", "delay:59s"],
        &["--ready", "delay:60s"],
        &["--ready", "delay:90s", "--ready-timeout", "2m"],
        &["--ready-timeout", "5s", "--ready", "delay:5s"],
        &["--ready", "exec:curl -fs localhost:8080/readyz"],
        &["--ready", "exec:"],
        &["--ready", "exec: "],
        &["--ready", "tcp:8080"],
        &["--ready", "http"],
        &["--stop-signal", "QUIT"],
        &["--stop-signal", "sigquit"],
        &["--stop-signal", "3"],
        &["--stop-signal", "KILL"],
        &["--stop-signal", "TREM"],
        &["--stop-signal", "0"],
        &["--reload-signal", "USR2"],
        &["--reload-signal", "hup"],
        &["--reload-signal", "WINCH"],
        &["--reload-signal", "KILL"],
        &["--reload-signal", "STOP"],
        &["--reload-signal", "INT"],
        &["--reload-signal", "CHLD"],
        &["--reload-signal", "SEGV"],
        &["--reload-signal", "NOPE"],
        &["--control", "/run/c.sock"],
        &["--control"],
        &["--pid-file", "/run/app.pid"],
        &["--pid-file"],
        &["--listen", "0.0.0.0:8080"],
        &["--listen=[::]:8080"],
        &["--listen", "unix:/run/app.sock"],
        &["--listen", "unix:/run/a=b.sock"],
        &["--listen", "localhost:8080"],
        &["--listen", "admin=127.0.0.1:9000"],
        &["--listen", "0.0.0.0:8080", "--listen", "0.0.0.0:8081"],
        &["--listen", "0.0.0.0:8080", "--listen", "http=0.0.0.0:8081"],
        &["--listen", "a=0.0.0.0:8080", "--listen", "a=0.0.0.0:8081"],
        &["--listen", "0.0.0.0:99999"],
        &["--listen", "0.0.0.0:http"],
        &["--listen", "8080"],
        &["--listen", ":8080"],
        &["--listen", "::1:8080"],
        &["--listen", ":::8080"],
        &["--listen", "unix:"],
        &["--listen", "web+tls=0.0.0.0:8443"],
        &["--listen", "=0.0.0.0:8080"],
        &["--listen"],
        &["--health", "0.0.0.0:9090"],
        &["--health", "[::1]:9090"],
        &["--health", "unix:/run/health.sock"],
        &["--health", "9090"],
        &["--health", "localhost"],
        &["--health", ":9090"],
        &["--max-draining", "1"],
        &["--max-draining", "10"],
        &["--max-draining", " 2"],
        &["--max-draining", "0"],
        &["--max-draining", "none"],
        &["--max-draining", "-1"],
        &["--no-such-flag"],
        &["-s", "5s"],
    ];
    // Each with a command, then the ways to give none.
    let mut cases: Vec<Vec<&str>> = flags
        .iter()
        .map(|f| f.iter().copied().chain(["--", "/app/server"]).collect())
        .collect();
    cases.extend([
        vec![],
        vec!["--"],
        vec!["--listen", "0.0.0.0:8080"],
        vec!["--stop-delay", "5s", "--"],
        vec!["--", ""],
    ]);

    // Every flag of `changeover run` has a case the CLI accepts and one it refuses.
    let mut accepted: Vec<String> = Vec::new();
    let mut refused: Vec<String> = Vec::new();

    let defaults = Defaults {
        kubernetes: true,
        runtime_dir: None,
        uid: 0,
    };
    for words in &cases {
        let cli = changeover_flags::cli::parse_run(words)
            .map_err(|e| changeover_flags::cli::one_line(&e))
            .and_then(|a| {
                Config::from_options(a, &defaults).map_err(|e| format!("changeover run: {e}"))
            });
        let command: Vec<&str> = ["changeover", "run"]
            .into_iter()
            .chain(words.iter().copied())
            .collect();
        let manifest = format!(
            "kind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - name: app\n    command: {}\n",
            yaml_words(&command)
        );
        let loaded = load("p.yaml", manifest.as_bytes());
        let Object::Workload(pod) = &loaded.objects[0] else {
            panic!("{manifest}")
        };
        let timing = container_timing(&pod.template.containers[0], &pod.template);
        let used = words
            .iter()
            .take_while(|w| **w != "--")
            .filter_map(|w| w.strip_prefix("--"))
            .map(|w| w.split('=').next().unwrap_or(w).to_string());
        match cli {
            Ok(config) => {
                accepted.extend(used);
                assert!(
                    timing.refusals.is_empty(),
                    "{words:?}: {:?}",
                    timing.refusals
                );
                assert_eq!(
                    timing.stop_delay_ms(),
                    config.timing.stop_delay.as_millis() as u64,
                    "{words:?}"
                );
                assert_eq!(
                    timing.drain_ms(),
                    config.timing.drain_timeout.as_millis() as u64,
                    "{words:?}"
                );
            }
            Err(message) => {
                refused.extend(used);
                assert_eq!(
                    timing.refusals.len(),
                    1,
                    "{words:?}: the CLI refuses: {message}"
                );
                assert_eq!(timing.refusals[0].message, message, "{words:?}");
            }
        }
    }
    let run = changeover_flags::cli::RunArgs::augment_args(clap::Command::new("run"));
    let mut missing = Vec::new();
    for long in run.get_arguments().filter_map(|a| a.get_long()) {
        if !accepted.iter().any(|f| f == long) {
            missing.push(format!("--{long}: no case the CLI accepts"));
        }
        if !refused.iter().any(|f| f == long) {
            missing.push(format!("--{long}: no case the CLI refuses"));
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
}

/// `changeover run`'s defaults (`changeover_flags::run`, which the supervisor and the lint use)
/// are the library's.
#[test]
fn the_lint_knows_the_supervisor_defaults() {
    use changeover_flags::run;
    use changeover_k8s::timing::{
        SUPERVISOR_DEFAULT_DRAIN_MS, SUPERVISOR_DEFAULT_READY_MS, SUPERVISOR_DEFAULT_STOP_DELAY_MS,
    };
    assert_eq!(
        run::DEFAULT_KUBERNETES_STOP_DELAY,
        changeover::DEFAULT_KUBERNETES_STOP_DELAY
    );
    assert_eq!(
        run::DEFAULT_DRAIN_TIMEOUT,
        changeover::DEFAULT_DRAIN_TIMEOUT
    );
    assert_eq!(
        run::DEFAULT_READY_TIMEOUT,
        changeover::DEFAULT_READY_TIMEOUT
    );
    assert_eq!(
        u128::from(SUPERVISOR_DEFAULT_STOP_DELAY_MS),
        changeover::DEFAULT_KUBERNETES_STOP_DELAY.as_millis()
    );
    assert_eq!(
        u128::from(SUPERVISOR_DEFAULT_DRAIN_MS),
        changeover::DEFAULT_DRAIN_TIMEOUT.as_millis()
    );
    assert_eq!(
        u128::from(SUPERVISOR_DEFAULT_READY_MS),
        changeover::DEFAULT_READY_TIMEOUT.as_millis()
    );
}
