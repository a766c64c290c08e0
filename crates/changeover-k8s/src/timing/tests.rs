//! The stop arithmetic of one container, case by case.

use super::*;
use crate::duration::FOREVER_MS;
use crate::model::Handler;

fn container(command: &[&str], args: &[&str], pre_stop: Option<Handler>) -> Container {
    Container {
        name: "app".into(),
        line: 1,
        image: None,
        command: command.iter().map(|s| s.to_string()).collect(),
        args: args.iter().map(|s| s.to_string()).collect(),
        ports: vec![],
        sidecar: false,
        readiness_probe: None,
        liveness_probe: None,
        pre_stop,
        post_start: None,
    }
}

/// A pod of these containers, with Kubernetes' defaults.
fn pod_of(containers: Vec<Container>) -> PodTemplate {
    PodTemplate {
        labels: Default::default(),
        line: 1,
        grace_period: None,
        share_process_namespace: None,
        injected_proxy: false,
        containers,
    }
}

fn timing_of(c: Container) -> Timing {
    let pod = pod_of(vec![c]);
    container_timing(&pod.containers[0], &pod)
}

fn exec(words: &[&str]) -> Option<Handler> {
    Some(Handler::Exec {
        command: words.iter().map(|s| s.to_string()).collect(),
        line: 1,
    })
}

#[test]
fn sleeps_in_every_form() {
    let cases: [(Option<Handler>, u64); 6] = [
        (
            Some(Handler::Sleep {
                seconds: 7,
                line: 1,
            }),
            7_000,
        ),
        (exec(&["sleep", "5"]), 5_000),
        (exec(&["/bin/sleep", "2s"]), 2_000),
        (exec(&["sh", "-c", "sleep 3 && nginx -s quit"]), 3_000),
        (exec(&["/bin/bash", "-c", "sleep 1; sleep 2"]), 3_000),
        (exec(&["kill", "-QUIT", "1"]), 0),
    ];
    for (hook, want) in cases {
        let t = timing_of(container(&["app"], &[], hook.clone()));
        assert_eq!(t.stop_delay_ms(), want, "{hook:?}");
        assert!(t.drain.is_none());
    }
}

#[test]
fn unknown_sleep_is_a_delay_of_unknown_length() {
    let t = timing_of(container(&["app"], &[], exec(&["sh", "-c", "sleep $D"])));
    assert!(t.has_stop_delay());
    assert!(!t.exact());
}

#[test]
fn an_opaque_hook_is_an_unknown_delay_like_http_get() {
    // Regression (issue 10): an exec preStop running a script counted as no delay at all.
    for hook in [
        exec(&["/scripts/prestop.sh"]),
        exec(&["nginx", "-s", "quit"]),
        Some(Handler::HttpGet { line: 1 }),
    ] {
        let t = timing_of(container(&["app"], &[], hook.clone()));
        assert!(t.has_stop_delay() && !t.exact(), "{hook:?}: {t:?}");
    }
    let t = timing_of(container(
        &["app"],
        &[],
        exec(&["sh", "-c", "sleep 3; ./drain.sh"]),
    ));
    assert_eq!(t.stop_delay_ms(), 3_000);
    assert!(!t.exact());
}

#[test]
fn prestop_flags_it_lacks_and_prestop_without_run_give_no_delay() {
    // Regression (issue 10): `changeover prestop --stop-delay 3s` was credited 3 s; the CLI
    // has no such flag and the hook exits 2 at once.
    let run = ["changeover", "run", "--", "app"];
    let t = timing_of(container(
        &run,
        &[],
        exec(&["changeover", "prestop", "--stop-delay", "3s"]),
    ));
    assert_eq!(t.refusals.len(), 1);
    assert_eq!(
        t.refusals[0].message,
        "error: unexpected argument '--stop-delay' found"
    );
    // The SIGTERM that follows still meets the supervisor's own delay.
    assert_eq!(t.stop_delay_ms(), SUPERVISOR_DEFAULT_STOP_DELAY_MS);
    let t = timing_of(container(&["app"], &[], exec(&["changeover", "prestop"])));
    assert_eq!((t.stop_delay_ms(), t.refusals.len()), (0, 1));
}

#[test]
fn prestop_finds_its_supervisor_on_a_shared_socket_or_trusts_the_entrypoint() {
    let hook = exec(&["changeover", "prestop", "--control", "/shared/c.sock"]);
    let main = container(&["app"], &[], hook);
    let mut sidecar = container(
        &[
            "changeover",
            "run",
            "--control=/shared/c.sock",
            "--stop-delay=3s",
            "--",
            "x",
        ],
        &[],
        None,
    );
    sidecar.name = "supervisor".into();
    let pod = pod_of(vec![main, sidecar]);
    let t = container_timing(&pod.containers[0], &pod);
    assert!(t.refusals.is_empty(), "{:?}", t.refusals);
    assert_eq!(t.stop_delay_ms(), 3_000);
    // No command: the image's entrypoint runs, which may be `changeover run`.
    let t = timing_of(container(&[], &[], exec(&["changeover", "prestop"])));
    assert!(t.refusals.is_empty() && t.has_stop_delay() && !t.exact());
}

#[test]
fn run_flags_the_cli_refuses_mean_the_container_never_starts() {
    // Regression (issue 10): `--stop-delay 7` was credited 7 s; the CLI wants a unit.
    for flags in [
        &["--stop-delay", "7"][..],
        &["--drain-timeout=soon"],
        &["--stop-signal", "TREM"],
        &["--ready", "delay:2"],
        &["--no-such-flag"],
    ] {
        let mut command = vec!["changeover", "run"];
        command.extend_from_slice(flags);
        command.extend(["--", "app"]);
        let t = timing_of(container(&command, &[], None));
        assert!(t.fails_to_start(), "{flags:?}");
    }
}

#[test]
fn every_check_of_the_supervisor_is_the_lints() {
    // Issue 10: the lint knew durations and signals only; `--listen 0.0.0.0:99999` never
    // starts either. Each refusal is the supervisor's own message (changeover-flags).
    for (flags, message) in [
        (
            &["--listen", "0.0.0.0:99999", "--", "app"][..],
            "changeover run: --listen: invalid listen address \"0.0.0.0:99999\": the port is not a number from 0 to 65535",
        ),
        (
            &["--health", "9090", "--", "app"],
            "changeover run: --health: invalid listen address \"9090\": it has no port",
        ),
        (
            &["--listen", "web+tls=0.0.0.0:8443", "--", "app"],
            "changeover run: --listen: invalid socket name \"web+tls\"",
        ),
        (
            &[
                "--listen",
                "0.0.0.0:8080",
                "--listen",
                "http=0.0.0.0:8081",
                "--",
                "app",
            ],
            "changeover run: --listen: the name \"http\" is given twice",
        ),
        (
            &["--ready", "tcp:8080", "--", "app"],
            "changeover run: --ready \"tcp:8080\": not a readiness check",
        ),
        (
            &["--ready", "delay:90s", "--", "app"],
            "changeover run: --ready delay:90s is not shorter than --ready-timeout 60s",
        ),
        (
            &["--max-draining", "0", "--", "app"],
            "changeover run: --max-draining \"0\": write a whole number of at least 1",
        ),
        (
            &["--listen", "0.0.0.0:8080", "--"],
            "changeover run: no command given",
        ),
    ] {
        let mut command = vec!["changeover", "run"];
        command.extend_from_slice(flags);
        let t = timing_of(container(&command, &[], None));
        assert!(t.fails_to_start(), "{command:?}");
        assert!(
            t.refusals[0].message.starts_with(message),
            "{command:?}: {}",
            t.refusals[0].message
        );
    }
    // A host name is not resolved: whether it resolves in the pod is not visible here.
    let t = timing_of(container(
        &[
            "changeover",
            "run",
            "--listen",
            "db-proxy.internal:5432",
            "--",
            "app",
        ],
        &[],
        None,
    ));
    assert!(t.refusals.is_empty(), "{:?}", t.refusals);
}

#[test]
fn values_filled_in_when_the_container_starts_are_not_checked() {
    // `$(VAR)` is the kubelet's, in command and args alike; `$VAR` only a shell's.
    let t = timing_of(container(
        &["changeover", "run"],
        &[
            "--listen=0.0.0.0:$(PORT)",
            "--stop-delay",
            "$(STOP_DELAY)",
            "--drain-timeout",
            "25s",
            "--",
            "app",
        ],
        None,
    ));
    assert!(t.refusals.is_empty(), "{:?}", t.refusals);
    assert!(t.has_stop_delay() && !t.exact(), "{t:?}");
    assert_eq!(t.drain_ms(), 25_000);
    let t = timing_of(container(
        &[
            "sh",
            "-c",
            "exec changeover run --listen \"0.0.0.0:${PORT}\" --drain-timeout=$DRAIN -- app",
        ],
        &[],
        None,
    ));
    assert!(t.refusals.is_empty(), "{:?}", t.refusals);
    assert_eq!(
        t.drain,
        Some(StopStep::unknown(
            "--drain-timeout $DRAIN of changeover run, filled in when the container starts".into()
        ))
    );
    assert_eq!(t.stop_delay_ms(), SUPERVISOR_DEFAULT_STOP_DELAY_MS);
    // Without a shell nothing expands `$PORT`: the CLI gets it as written and refuses it.
    let t = timing_of(container(
        &[
            "changeover",
            "run",
            "--listen",
            "0.0.0.0:$PORT",
            "--",
            "app",
        ],
        &[],
        None,
    ));
    assert!(t.fails_to_start());
    // The other flags of the line are still checked.
    let t = timing_of(container(
        &[
            "changeover",
            "run",
            "--listen",
            "0.0.0.0:$(PORT)",
            "--stop-delay",
            "7",
            "--",
            "app",
        ],
        &[],
        None,
    ));
    assert!(
        t.refusals[0]
            .message
            .contains("--stop-delay: invalid duration \"7\"")
    );
}

#[test]
fn supervisor_flags_in_both_spellings_and_defaults() {
    let t = timing_of(container(
        &["changeover", "run"],
        &[
            "--stop-delay",
            "500ms",
            "--drain-timeout=1m",
            "--",
            "app",
            "--stop-delay",
            "9s",
        ],
        None,
    ));
    assert_eq!(t.stop_delay_ms(), 500);
    assert_eq!(t.drain_ms(), 60_000);

    let t = timing_of(container(
        &["/usr/local/bin/changeover", "run", "--", "app"],
        &[],
        None,
    ));
    assert_eq!(t.stop_delay_ms(), SUPERVISOR_DEFAULT_STOP_DELAY_MS);
    assert_eq!(t.drain_ms(), SUPERVISOR_DEFAULT_DRAIN_MS);

    let t = timing_of(container(
        &["sh", "-c", "exec changeover run --stop-delay 2s -- app"],
        &[],
        None,
    ));
    assert_eq!(t.stop_delay_ms(), 2_000);
}

#[test]
fn prestop_sleep_adds_to_supervisor_delay_but_changeover_prestop_does_not() {
    let run = ["changeover", "run", "--stop-delay", "5s", "--", "app"];
    let t = timing_of(container(&run, &[], exec(&["sleep", "3"])));
    assert_eq!(t.stop_delay_ms(), 8_000);
    assert_eq!(t.stop_delay.len(), 2);

    let t = timing_of(container(&run, &[], exec(&["changeover", "prestop"])));
    assert_eq!(t.stop_delay_ms(), 5_000);
    assert_eq!(t.stop_delay.len(), 1);
}

#[test]
fn infinite_sleep() {
    let t = timing_of(container(
        &["changeover", "run"],
        &[],
        exec(&["sleep", "infinity"]),
    ));
    assert_eq!(t.stop_delay_ms(), FOREVER_MS);
}
