//! Black-box tests of `changeover load`: the built binary against small HTTP servers that each
//! test starts on 127.0.0.1:0, checked on exit status, stdout (text or JSON) and stderr. Every
//! failure prints the command and both streams.
//!
//! Contract: every request the server received is counted (the report's requests plus the one
//! probe request); exit 0 when no request failed, 1 when some did or a `--during` run failed,
//! 2 for bad usage (one line naming the input, the problem and the fix) or a URL unreachable at
//! start; SIGINT/SIGTERM stop cleanly and still print the report; `--during` runs are events,
//! and failures are placed after the event that preceded them; no progress line off a terminal.
//!
//! Above 500 lines on purpose: the contract above is one command's, and its tests share the
//! servers and the runner below; split, each file would carry half of the helpers.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::Command;
use tokio::sync::Notify;

/// Bound on every wait in these tests.
const DEADLINE: Duration = Duration::from_secs(30);

/// What a test server saw.
#[derive(Default)]
struct Seen {
    accepted: AtomicU64,
    requests: AtomicU64,
    changed: Notify,
}

impl Seen {
    fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Waits (woken by every request, bounded) until at least `n` requests arrived.
    async fn wait_requests(&self, n: u64) {
        let reached = tokio::time::timeout(DEADLINE, async {
            loop {
                let notified = self.changed.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if self.requests() >= n {
                    return;
                }
                notified.await;
            }
        })
        .await;
        assert!(
            reached.is_ok(),
            "only {} requests within {DEADLINE:?}",
            self.requests()
        );
    }
}

/// A test server; dropping it stops it.
struct Server {
    addr: SocketAddr,
    seen: Arc<Seen>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

/// Serves HTTP/1.1 keep-alive on 127.0.0.1:0, answering each request with the status
/// `status()` gives at that moment (and `Connection: close` when the request asked for it).
async fn serve(status: impl Fn() -> &'static str + Send + Sync + 'static) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let status = Arc::new(status);
    let task_seen = seen.clone();
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    task_seen.accepted.fetch_add(1, Ordering::SeqCst);
                    conns.spawn(connection(stream, task_seen.clone(), status.clone()));
                }
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
    });
    Server { addr, seen, task }
}

async fn connection(
    mut s: TcpStream,
    seen: Arc<Seen>,
    status: Arc<impl Fn() -> &'static str + Send + Sync>,
) {
    let mut buf = Vec::new();
    loop {
        let head = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head: Vec<u8> = buf.drain(..i + 4).collect();
                break String::from_utf8_lossy(&head).to_ascii_lowercase();
            }
            let mut chunk = [0u8; 4096];
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        seen.requests.fetch_add(1, Ordering::SeqCst);
        seen.changed.notify_waiters();
        let close = head.contains("\r\nconnection: close\r\n");
        let response = format!(
            "HTTP/1.1 {}\r\nContent-Length: 5\r\n{}\r\nhello",
            status(),
            if close { "Connection: close\r\n" } else { "" }
        );
        if s.write_all(response.as_bytes()).await.is_err() || close {
            return;
        }
    }
}

fn ok() -> &'static str {
    "200 OK"
}

/// Shows a finished command for assertion messages.
fn show(args: &[&str], out: &Output) -> String {
    format!(
        "command: changeover {}\nstatus: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_changeover"));
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Runs `changeover ARGS` to its end, bounded by [`DEADLINE`].
async fn changeover(args: &[&str]) -> Output {
    let child = command(args).spawn().expect("start changeover");
    match tokio::time::timeout(DEADLINE, child.wait_with_output()).await {
        Ok(out) => out.expect("wait for changeover"),
        Err(_) => panic!(
            "changeover {} still running after {DEADLINE:?}",
            args.join(" ")
        ),
    }
}

fn json(args: &[&str], out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON object: {e}\n{}", show(args, out)))
}

fn status(args: &[&str], out: &Output, code: i32) {
    assert_eq!(out.status.code(), Some(code), "{}", show(args, out));
}

/// Runs `changeover ARGS` to its end and checks that it exits `code`.
async fn exits(args: &[&str], code: i32) -> Output {
    let out = changeover(args).await;
    status(args, &out, code);
    out
}

fn u(v: &Value) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("{v} is not a whole number"))
}

/// Timeline failures before the first event, and after event `i`.
fn failed_before_and_after(report: &Value, i: u64) -> (u64, u64) {
    let entries = report["timeline"].as_array().unwrap();
    let before = entries
        .iter()
        .filter(|e| e["after_event"].is_null())
        .map(|e| u(&e["failed"]))
        .sum();
    let after = entries
        .iter()
        .filter(|e| e["after_event"].as_u64() == Some(i))
        .map(|e| u(&e["failed"]))
        .sum();
    (before, after)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_every_request_and_exits_0_when_none_failed() {
    let server = serve(ok).await;
    let url = server.url();
    let args = ["load", &url, "-c", "4", "-d", "500ms", "--json"];
    let out = exits(&args, 0).await;
    let r = json(&args, &out);
    for key in [
        "requests",
        "ok",
        "failed",
        "errors",
        "rps",
        "latency_ms",
        "events",
        "timeline",
    ] {
        assert!(r.get(key).is_some(), "no {key}\n{}", show(&args, &out));
    }
    for kind in ["refused", "reset", "closed", "timeout", "bad_status"] {
        assert_eq!(r["errors"][kind], 0, "{kind}");
    }
    for q in ["p50", "p90", "p99", "max"] {
        assert!(r["latency_ms"][q].as_f64().unwrap() > 0.0, "{q}");
    }
    assert!(u(&r["requests"]) > 0);
    assert_eq!(r["requests"], r["ok"]);
    assert_eq!(r["failed"], 0);
    assert!(r["rps"].as_f64().unwrap() > 0.0);
    assert_eq!(r["config"]["connections"], 4);
    assert!(r["interrupted"].is_null());
    assert_eq!(
        server.seen.requests(),
        u(&r["requests"]) + 1,
        "every request the server got is counted, plus the probe\n{}",
        show(&args, &out)
    );
    let timeline_ok: u64 = r["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| u(&e["ok"]))
        .sum();
    assert_eq!(timeline_ok, u(&r["ok"]));
    assert!(
        out.stderr.is_empty(),
        "no progress line when stderr is not a terminal\n{}",
        show(&args, &out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_report_has_the_summary_and_the_timeline() {
    let server = serve(ok).await;
    let url = server.url();
    let args = ["load", &url, "-c", "2", "-d", "300ms"];
    let out = exits(&args, 0).await;
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        &format!("changeover load {url}: 2 connections, keep-alive, 300ms"),
        " ok, 0 failed",
        "req/s",
        "latency: p50 ",
        " p90 ",
        " p99 ",
        " max ",
        "timeline (",
        "    from        to         ok   failed\n      0s ",
    ] {
        assert!(
            text.contains(needle),
            "no {needle:?}\n{}",
            show(&args, &out)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_keepalive_uses_a_connection_per_request() {
    let server = serve(ok).await;
    let url = server.url();
    let args = [
        "load",
        &url,
        "-c",
        "2",
        "-d",
        "300ms",
        "--no-keepalive",
        "--json",
    ];
    let out = exits(&args, 0).await;
    let r = json(&args, &out);
    // One connection per request; a connection opened as the run stopped (at most one per
    // connection task) carries none.
    let (connects, requests) = (u(&r["connects"]), u(&r["requests"]));
    assert!(
        (requests..=requests + 2).contains(&connects),
        "{}",
        show(&args, &out)
    );
    // The server saw those, and the probe's.
    assert!(server.seen.accepted() > requests);
    assert_eq!(server.seen.requests(), u(&r["requests"]) + 1);
    assert_eq!(r["config"]["keep_alive"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_requests_exit_1_and_are_counted_by_kind() {
    let server = serve(|| "503 Service Unavailable").await;
    let url = server.url();
    let args = ["load", &url, "-c", "2", "-d", "300ms", "--json"];
    let out = exits(&args, 1).await;
    let r = json(&args, &out);
    assert!(u(&r["failed"]) > 0);
    assert_eq!(r["errors"]["bad_status"], r["failed"]);
    assert_eq!(r["status"]["503"], r["failed"]);
    assert_eq!(r["ok"], 0);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("answered a first request with status 503"),
        "{}",
        show(&args, &out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_url_exits_2_naming_it_and_the_fix() {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let url = format!("http://{addr}/");
    let args = ["load", &url, "-d", "1s"];
    let out = exits(&args, 2).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{}", show(&args, &out));
    for needle in [
        url.as_str(),
        "unreachable",
        "refused",
        "is the server running",
    ] {
        assert!(err.contains(needle), "no {needle:?}\n{}", show(&args, &out));
    }
    assert!(out.stdout.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_flags_exit_2_with_one_line_naming_input_problem_and_fix() {
    let url = "http://127.0.0.1:9/";
    let cases: &[(&[&str], &[&str])] = &[
        (&["load"], &["no URL given", "changeover load http://"]),
        (
            &["load", "https://127.0.0.1/"],
            &["\"https://127.0.0.1/\"", "https", "http://127.0.0.1:8080/"],
        ),
        (
            &["load", "http://example.com/"],
            &["example.com", "not an IP address"],
        ),
        (&["load", url, "-c", "0"], &["-c \"0\"", "from 1", "-c 64"]),
        (&["load", url, "-c", "-5"], &["-c \"-5\"", "-c 64"]),
        (&["load", url, "-d", "10"], &["-d", "\"10\"", "5s"]),
        (&["load", url, "-d", "0"], &["-d \"0\"", "above zero"]),
        (
            &["load", url, "--timeout", "0s"],
            &["--timeout", "above zero"],
        ),
        (
            &["load", url, "--timeout", "2h"],
            &["--timeout", "at most 1h"],
        ),
        (
            &["load", url, "--rate", "-3"],
            &["--rate \"-3\"", "positive", "--rate 1000"],
        ),
        (&["load", url, "--rate", "fast"], &["--rate \"fast\""]),
        (&["load", url, "--every", "1s"], &["--every needs --during"]),
        (&["load", url, "--during", " "], &["--during", "empty"]),
        (
            &["load", url, "--during", "true", "--every", "1ms"],
            &["--every", "at least 10ms"],
        ),
    ];
    for (args, needles) in cases {
        let out = changeover(args).await;
        status(args, &out, 2);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "not one line\n{}",
            show(args, &out)
        );
        assert!(err.starts_with("changeover load: "), "{}", show(args, &out));
        for n in *needles {
            assert!(err.contains(n), "no {n:?}\n{}", show(args, &out));
        }
        assert!(out.stdout.is_empty());
    }
}

/// A server that fails every request (503) once `flag` exists.
async fn breaks_when(flag: PathBuf) -> Server {
    serve(move || {
        if flag.exists() {
            "503 Service Unavailable"
        } else {
            "200 OK"
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn during_runs_are_events_and_failures_follow_them() {
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("broken");
    let server = breaks_when(flag.clone()).await;
    let url = server.url();
    let during = format!("touch {}", flag.display());
    let args = [
        "load", &url, "-c", "2", "-d", "800ms", "--during", &during, "--every", "300ms", "--json",
    ];
    let out = exits(&args, 1).await;
    let r = json(&args, &out);
    let events = r["events"].as_array().unwrap();
    assert_eq!(
        events.len(),
        2,
        "runs at 300 and 600 ms\n{}",
        show(&args, &out)
    );
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["command"]["run"], i as u64 + 1);
        assert_eq!(e["command"]["success"], true);
        assert_eq!(e["command"]["exit_code"], 0);
        assert!(e["command"]["took_ms"].as_f64().unwrap() > 0.0);
        assert_eq!(e["label"], during.as_str());
    }
    assert!(events[0]["at_ms"].as_f64().unwrap() >= 300.0);
    assert_eq!(r["during"]["runs"], 2);
    assert_eq!(r["during"]["failed"], 0);
    let (before, after) = failed_before_and_after(&r, 0);
    assert_eq!(
        before,
        0,
        "nothing failed before the first run\n{}",
        show(&args, &out)
    );
    assert!(after > 0, "{}", show(&args, &out));
    assert_eq!(events[0]["failed_after"], after);
    assert_eq!(
        after + u(&events[1]["failed_after"]),
        u(&r["failed"]),
        "every failure follows one of the two runs"
    );
    assert!(u(&r["ok"]) > 0, "the load was ok before the first run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_text_timeline_shows_failures_after_their_event() {
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("broken");
    let server = breaks_when(flag.clone()).await;
    let url = server.url();
    let during = format!("touch {}", flag.display());
    let args = [
        "load", &url, "-c", "2", "-d", "500ms", "--during", &during, "--every", "250ms",
    ];
    let out = exits(&args, 1).await;
    let text = String::from_utf8_lossy(&out.stdout);
    let timeline: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("timeline"))
        .skip(2)
        .take_while(|l| !l.is_empty())
        .collect();
    let event = timeline
        .iter()
        .position(|l| l.contains(">> run 1: exit 0 after"))
        .unwrap_or_else(|| panic!("no event line\n{}", show(&args, &out)));
    for (i, line) in timeline.iter().enumerate() {
        if line.contains(">>") {
            continue;
        }
        let failed: u64 = line.split_whitespace().nth(3).unwrap().parse().unwrap();
        if i < event {
            assert_eq!(failed, 0, "failure before the event\n{}", show(&args, &out));
        } else if failed > 0 {
            assert!(line.ends_with(&format!("bad_status {failed}")), "{line}");
        }
    }
    assert!(text.contains("failed after it"), "{}", show(&args, &out));
    assert!(text.contains("first failures:"), "{}", show(&args, &out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_during_command_exits_1_and_says_why() {
    let server = serve(ok).await;
    let url = server.url();
    let args = [
        "load",
        &url,
        "-c",
        "2",
        "-d",
        "350ms",
        "--during",
        "echo no such app >&2; exit 4",
        "--every",
        "100ms",
        "--json",
    ];
    let out = exits(&args, 1).await;
    let r = json(&args, &out);
    assert_eq!(r["failed"], 0, "no request failed");
    let first = &r["events"][0]["command"];
    assert_eq!(first["exit_code"], 4);
    assert_eq!(first["output"], "no such app");
    assert_eq!(r["during"]["failed"], r["during"]["runs"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--during run 1 at +0.1"),
        "{}",
        show(&args, &out)
    );
    assert!(err.contains("exit 4: no such app"), "{}", show(&args, &out));
    assert!(err.contains("did not exit 0"), "{}", show(&args, &out));
}

/// Starts a long run, waits until the server has seen `n` requests, sends `signal`, and returns
/// the output.
async fn interrupted_run(args: &[&str], seen: &Seen, signal: nix::sys::signal::Signal) -> Output {
    let child = command(args).spawn().expect("start changeover");
    let pid = child.id().expect("running") as i32;
    seen.wait_requests(200).await;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal).expect("signal changeover");
    match tokio::time::timeout(DEADLINE, child.wait_with_output()).await {
        Ok(out) => out.expect("wait for changeover"),
        Err(_) => panic!("changeover still running {DEADLINE:?} after {signal}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_and_sigterm_stop_cleanly_and_still_report() {
    use nix::sys::signal::Signal;
    for (signal, extra) in [
        (Signal::SIGINT, None),
        (Signal::SIGTERM, Some("--no-keepalive")),
    ] {
        let server = serve(ok).await;
        let url = server.url();
        let mut args = vec!["load", url.as_str(), "-c", "4", "-d", "60s", "--json"];
        args.extend(extra);
        let out = interrupted_run(&args, &server.seen, signal).await;
        status(&args, &out, 0);
        let r = json(&args, &out);
        assert_eq!(r["interrupted"], signal.as_str(), "{}", show(&args, &out));
        assert_eq!(
            r["failed"],
            0,
            "stopping fails nothing\n{}",
            show(&args, &out)
        );
        assert!(r["elapsed_s"].as_f64().unwrap() < 60.0);
        assert_eq!(
            server.seen.requests(),
            u(&r["requests"]) + 1,
            "every request written was answered and counted\n{}",
            show(&args, &out)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_progress_line_on_a_terminal() {
    // `script` gives the command a pseudo-terminal; both streams go to it.
    let server = serve(ok).await;
    let cmd = format!(
        "{} load {} -c 2 -d 1s",
        env!("CARGO_BIN_EXE_changeover"),
        server.url()
    );
    let args = ["-qec", cmd.as_str(), "/dev/null"];
    let mut script = Command::new("script");
    script
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = script.spawn().expect("run script (util-linux)");
    let out = tokio::time::timeout(DEADLINE, child.wait_with_output())
        .await
        .expect("script finished")
        .unwrap();
    status(&args, &out, 0);
    let all = String::from_utf8_lossy(&out.stdout);
    // Only the progress line says "N requests  N failed".
    assert!(
        all.contains(" requests  0 failed  "),
        "no progress line\n{}",
        show(&args, &out)
    );
    assert!(all.contains("timeline ("), "{}", show(&args, &out));
}

#[tokio::test]
async fn an_absent_unix_socket_exits_2_naming_the_path_problem() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("unix:{}", dir.path().join("app.sock").display());
    let args = ["load", url.as_str(), "-d", "1s"];
    let out = exits(&args, 2).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&url) && err.contains("socket path"),
        "{}",
        show(&args, &out)
    );
}
