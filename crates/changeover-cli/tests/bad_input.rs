//! Bad input to `changeover run`, `reload`, `status` and `prestop`: each is one clear line on
//! stderr naming the input, the problem and the fix, and a nonzero exit — 2 for bad usage, 127
//! and 126 for a command that is missing or not executable, 1 for what the environment refused.

mod support;

use std::process::Output;

use support::{DEADLINE, Supervisor, cli, example, show};

/// Asserts the exit status and that stderr is one line containing every needle.
fn one_line(out: &Output, code: i32, needles: &[&str]) {
    assert_eq!(out.status.code(), Some(code), "{}", show(out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "not one line:\n{}",
        show(out)
    );
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}:\n{}", show(out));
    }
}

#[tokio::test]
async fn run_rejects_bad_flags_with_status_2() {
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["--stop-signal", "TREM"],
            &["--stop-signal \"TREM\": unknown signal name", "TERM"],
        ),
        (
            &["--reload-signal", "KILL"],
            &["--reload-signal KILL: it cannot be caught"],
        ),
        (
            &["--listen", "127.0.0.1:http"],
            &["invalid listen address \"127.0.0.1:http\"", "HOST:PORT"],
        ),
        (
            &["--health", "localhost"],
            &["--health: invalid listen address \"localhost\": it has no port"],
        ),
        (
            &["--stop-delay", "5"],
            &["--stop-delay: invalid duration \"5\"", "5s"],
        ),
        (
            &["--ready", "http"],
            &["--ready \"http\": not a readiness check"],
        ),
        (&["--max-draining", "none"], &["--max-draining \"none\""]),
        (
            &["--listen", "0.0.0.0:99999"],
            &[
                "--listen: invalid listen address \"0.0.0.0:99999\": the port is not a number from 0 to 65535",
            ],
        ),
        (
            &["--listen", ":::8080"],
            &["an IPv6 host must be written in brackets", "[V6]:PORT"],
        ),
        (
            &["--listen", "web+tls=127.0.0.1:0"],
            &["--listen: invalid socket name \"web+tls\"", "NAME=ADDR"],
        ),
        (
            &["--listen", "127.0.0.1:0", "--listen", "http=127.0.0.1:0"],
            &["--listen: the name \"http\" is given twice"],
        ),
        (
            &["--ready", "exec:"],
            &["--ready \"exec:\": not a readiness check", "exec:COMMAND"],
        ),
        (
            &["--ready", "delay:90s"],
            &[
                "--ready delay:90s is not shorter than --ready-timeout 60s",
                "raise the timeout",
            ],
        ),
    ];
    for (flags, needles) in cases {
        let mut args = vec!["run"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["--", "true"]);
        let out = cli(&args).await;
        one_line(&out, 2, needles);
    }
}

#[tokio::test]
async fn run_without_a_command_says_where_it_goes() {
    one_line(&cli(&["run"]).await, 2, &["no command given", "after --"]);
    one_line(&cli(&["run", "--"]).await, 2, &["no command given"]);
}

#[tokio::test]
async fn a_missing_command_is_127_and_a_non_executable_one_126() {
    one_line(
        &cli(&["run", "--", "/no/such/server"]).await,
        127,
        &["\"/no/such/server\" not found"],
    );
    one_line(
        &cli(&["run", "--", "no-such-server-xyz"]).await,
        127,
        &["not found", "PATH"],
    );
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("server");
    std::fs::write(&plain, "not a program").unwrap();
    one_line(
        &cli(&["run", "--", &plain.display().to_string()]).await,
        126,
        &["cannot be executed", "chmod +x"],
    );
}

/// Regression (issue 9, item 4): a file with execute permission that the
/// kernel cannot run (ENOEXEC), or whose interpreter is missing, was exit
/// status 1; a shell says 126, and so does the help.
#[tokio::test]
async fn a_file_the_kernel_cannot_execute_is_126() {
    let dir = tempfile::tempdir().unwrap();
    let control = dir.path().join("c.sock").display().to_string();
    let garbage = dir.path().join("garbage");
    std::fs::write(&garbage, b"\x01\x02 not a program").unwrap();
    let script = dir.path().join("script");
    std::fs::write(&script, "#!/no/such/interpreter\n").unwrap();
    for (file, needle) in [
        (&garbage, "Exec format error"),
        (&script, "its interpreter"),
    ] {
        std::fs::set_permissions(file, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let out = cli(&[
            "run",
            "--control",
            &control,
            "--",
            &file.display().to_string(),
        ])
        .await;
        assert_eq!(out.status.code(), Some(126), "{}", show(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.trim_end().lines().last().unwrap_or_default();
        assert!(
            last.starts_with("changeover run: command ")
                && last.contains("cannot be executed")
                && last.contains(needle),
            "{}",
            show(&out)
        );
    }
}

#[tokio::test]
async fn a_port_in_use_is_named() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let control = dir.path().join("c.sock").display().to_string();
    let out = cli(&[
        "run",
        "--control",
        &control,
        "--listen",
        &addr,
        "--",
        "true",
    ])
    .await;
    one_line(
        &out,
        1,
        &[
            &format!("cannot listen on {addr}"),
            "another process is listening",
        ],
    );
}

#[tokio::test]
async fn a_second_supervisor_on_the_same_control_socket_is_refused() {
    let mut first = Supervisor::start(&["--ready", "delay:10ms"], &[example("hello")]);
    first.wait_child_ready().await;
    let control = first.control.display().to_string();
    let out = cli(&["run", "--control", &control, "--", "true"]).await;
    one_line(&out, 1, &["control socket", "is in use", "--control PATH"]);
    first.server.signal(nix::sys::signal::Signal::SIGTERM);
    first.server.wait_exit(DEADLINE).await;
}

#[tokio::test]
async fn reload_status_and_prestop_with_no_supervisor_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let control = dir.path().join("none.sock").display().to_string();
    for sub in ["reload", "status", "prestop"] {
        let out = cli(&[sub, "--control", &control]).await;
        one_line(
            &out,
            1,
            &[
                "no supervisor is listening on",
                "none.sock",
                "changeover run",
            ],
        );
    }
    let out = cli(&["reload", "--wait", "--control", &control]).await;
    one_line(&out, 1, &["no supervisor is listening on"]);
    let pid_file = dir.path().join("none.pid").display().to_string();
    let out = cli(&["reload", "--pid-file", &pid_file]).await;
    one_line(&out, 1, &["none.pid", "missing"]);
    let out = cli(&["reload", "--timeout", "soon", "--control", &control]).await;
    one_line(&out, 2, &["--timeout", "invalid duration"]);
}
