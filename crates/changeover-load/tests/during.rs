//! The `During` schedule: a shell command run every so often while the load runs.
//!
//! Contract: each run is an event at its start carrying its exit status, duration and (when it
//! failed) the end of its output; runs never overlap (a slot that comes while the previous run
//! is going is skipped and counted); when the load ends, a run still going gets its grace and is
//! then killed with its whole process group; `Control::stop_now` kills it at once.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use changeover_load::{CommandStatus, Config, During, Report, Target, start};
use support::{Stats, read_request, response, serve, within};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

async fn ok_forever(mut s: TcpStream, stats: Arc<Stats>) {
    let mut buf = Vec::new();
    let resp = response("200 OK", "");
    while read_request(&mut s, &mut buf).await.is_some() {
        stats.count_request();
        if s.write_all(&resp).await.is_err() {
            return;
        }
    }
}

fn config(addr: std::net::SocketAddr, duration_ms: u64, during: During) -> Config {
    Config {
        connections: 2,
        duration: Some(Duration::from_millis(duration_ms)),
        during: Some(during),
        ..Config::new(Target::tcp(addr))
    }
}

fn runs(report: &Report) -> Vec<(Duration, &changeover_load::CommandRun)> {
    report
        .events
        .iter()
        .filter_map(|e| e.command.as_ref().map(|c| (e.at, c)))
        .collect()
}

/// Whether `pid` is gone (or a zombie, which holds nothing but its exit status).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            stat.rsplit(')')
                .next()
                .and_then(|s| s.split_whitespace().next())
                == Some("Z")
        }
        Err(_) => true,
    }
}

/// Waits (bounded) until `path` holds a pid, written by a command; returns it.
async fn read_pid(path: &Path) -> u32 {
    within("the command to write its pid", async {
        loop {
            if let Some(pid) = std::fs::read_to_string(path)
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                return pid;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_run_is_an_event_with_its_outcome() {
    let server = serve(ok_forever).await;
    let during = During::new(
        "echo to stdout; echo 'it broke' >&2; exit 3",
        Duration::from_millis(100),
    );
    let report = within(
        "run",
        start(config(server.addr, 550, during)).unwrap().finished(),
    )
    .await;
    let runs = runs(&report);
    assert!(!runs.is_empty(), "{}", report.summary());
    for (i, (at, run)) in runs.iter().enumerate() {
        assert_eq!(run.run, i as u64 + 1);
        assert_eq!(run.status, CommandStatus::Exited(3), "{}", report.summary());
        assert!(run.took.is_some());
        assert_eq!(run.output, "to stdout\nit broke");
        assert_eq!(run.last_line(), Some("it broke"));
        assert!(
            *at >= Duration::from_millis(100),
            "first run after one interval: {at:?}"
        );
    }
    let during = report.during.as_ref().expect("during summary");
    assert_eq!(during.runs, runs.len() as u64);
    assert_eq!(during.failed, during.runs);
    assert_eq!(report.failed(), 0, "the load itself is fine");
    assert_eq!(report.failed_commands().count(), runs.len());
    let text = report.timeline_text();
    assert!(text.contains(">> run 1: exit 3 after"), "{text}");
    assert!(text.contains("(it broke)"), "{text}");

    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["during"]["runs"], during.runs);
    let first = &json["events"][0];
    assert_eq!(first["command"]["exit_code"], 3);
    assert_eq!(first["command"]["success"], false);
    assert_eq!(first["command"]["status"], "exit 3");
    assert!(first["command"]["took_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(first["failed_after"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn successful_runs_keep_no_output() {
    let server = serve(ok_forever).await;
    let during = During::new("echo fine", Duration::from_millis(50));
    let report = within(
        "run",
        start(config(server.addr, 300, during)).unwrap().finished(),
    )
    .await;
    let runs = runs(&report);
    assert!(!runs.is_empty());
    for (_, run) in runs {
        assert!(run.status.success(), "{}", report.summary());
        assert_eq!(run.output, "");
    }
    assert_eq!(report.during.as_ref().unwrap().failed, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_are_never_stacked() {
    // Each run takes 150 ms, a slot comes every 40 ms: most slots find a run going.
    let server = serve(ok_forever).await;
    let during = During::new("sleep 0.15", Duration::from_millis(40));
    let report = within(
        "run",
        start(config(server.addr, 700, during)).unwrap().finished(),
    )
    .await;
    let runs = runs(&report);
    let summary = report.during.as_ref().unwrap();
    assert!(!runs.is_empty(), "{}", report.summary());
    assert!(summary.skipped >= 1, "{}", report.summary());
    for pair in runs.windows(2) {
        let (at, run) = pair[0];
        let (next_at, _) = pair[1];
        assert!(
            next_at >= at + run.took.unwrap(),
            "run {} started before the previous one ended\n{}",
            run.run + 1,
            report.summary()
        );
    }
    assert!(
        runs.iter().all(|(_, r)| r.status.success()),
        "{}",
        report.summary()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_still_going_after_the_grace_is_killed_with_its_group() {
    let server = serve(ok_forever).await;
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("sleep.pid");
    // The shell starts a child and waits: both are in the run's process group.
    let command = format!("sleep 30 & echo $! > {}; wait", pid_file.display());
    let during = During {
        grace: Duration::from_millis(100),
        ..During::new(command, Duration::from_millis(50))
    };
    let load = start(config(server.addr, 200, during)).unwrap();
    let sleeper = read_pid(&pid_file).await;
    let report = within("run", load.finished()).await;
    let runs = runs(&report);
    assert_eq!(runs.len(), 1, "{}", report.summary());
    assert_eq!(runs[0].1.status, CommandStatus::Killed);
    assert!(runs[0].1.took.unwrap() >= Duration::from_millis(100));
    within("the command's child to die", async {
        while !gone(sleeper) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["events"][0]["command"]["signal"], 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_now_kills_a_run_without_waiting_for_the_grace() {
    let server = serve(ok_forever).await;
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("sh.pid");
    let command = format!("echo $$ > {}; sleep 30", pid_file.display());
    let during = During {
        // If stop_now waited for this, `within` would fail the test.
        grace: During::MAX_GRACE,
        ..During::new(command, Duration::from_millis(20))
    };
    let mut config = config(server.addr, 60_000, during);
    config.duration = Some(Duration::from_secs(60));
    let load = start(config).unwrap();
    let control = load.control();
    let shell = read_pid(&pid_file).await;
    load.wait_for_ok(10, support::DEADLINE).await.unwrap();
    control.stop_now();
    assert!(control.is_stopping());
    let report = within("stop_now", load.finished()).await;
    let runs = runs(&report);
    assert_eq!(runs.len(), 1, "{}", report.summary());
    assert_eq!(runs[0].1.status, CommandStatus::Killed);
    assert!(gone(shell), "the shell was reaped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_stops_the_run_from_another_task() {
    let server = serve(ok_forever).await;
    let load = start(Config {
        connections: 2,
        duration: Some(Duration::from_secs(60)),
        ..Config::new(Target::tcp(server.addr))
    })
    .unwrap();
    let control = load.control();
    let stopper = tokio::spawn(async move {
        // Watches from elsewhere, as a progress line or a signal handler would.
        while control.snapshot().ok < 50 {
            tokio::task::yield_now().await;
        }
        control.mark("enough");
        control.stop();
    });
    let report = within("stopped run", load.finished()).await;
    within("stopper", stopper).await.unwrap();
    assert!(report.ok >= 50, "{}", report.summary());
    assert_eq!(report.failed(), 0, "{}", report.summary());
    assert_eq!(report.events[0].label, "enough");
    assert!(report.during.is_none());
}
