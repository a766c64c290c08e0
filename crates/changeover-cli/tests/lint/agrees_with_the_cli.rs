//! Contract (issue 10): the lint reads `changeover run` and `changeover prestop` command lines
//! with the CLI's own definitions and checks, so the two cannot disagree: what the binary refuses
//! is a finding quoting its message word for word, what it accepts is credited the stop delay and
//! drain deadline the supervisor would run with, and both know the same defaults.

use serde_json::Value;

use crate::harness::{changeover_stderr, lint_in, yaml_words};

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
        &["--proxy"],
        &["--proxy=yes"],
        &["--proxy", "--upstream", "fd"],
        &["--proxy", "--upstream", "env:PORT"],
        &["--proxy", "--upstream", "tcp:9000"],
        &["--proxy", "--upstream", "env:"],
        &["--upstream", "env:PORT"],
        &["--proxy", "--no-forwarded-headers"],
        &["--no-forwarded-headers"],
        &["--proxy", "--ready", "http:/healthz"],
        &["--proxy", "--ready", "http:"],
        &["--ready", "http:/healthz"],
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
