//! Many reloads under load: does `changeover run` leak? (Not a test; not run by CI.)
//!
//! Runs `changeover run` with `hello`, drives keep-alive load at it, reloads it N times with
//! `changeover reload --wait`, and prints the supervisor's open fds and resident memory after
//! the first reload and after the last, with the failed requests (issue 9, fault table: "1,000
//! reloads under load: 0 lost; supervisor fds equal and RSS within 1 MiB, first vs last"). The
//! CI test `reloads_under_load_leak_no_supervisor_fd` does fewer reloads and checks fds only.
//!
//! ```text
//! cargo bench -p changeover-tests --bench reloads [-- --reloads 1000 --connections 32]
//! ```

use std::path::Path;
use std::time::{Duration, Instant};

use changeover_load::{Config, Target};
use changeover_tests::{Server, bench, changeover_run, free_port, open_fds, wait_gone};
use nix::sys::signal::Signal;
use tokio::process::Command;

const DEADLINE: Duration = Duration::from_secs(60);

struct Options {
    reloads: usize,
    connections: usize,
}

fn options() -> Options {
    let mut o = Options {
        reloads: 1000,
        connections: 32,
    };
    let mut args = bench::Args::new("reloads");
    while let Some(flag) = args.next_flag() {
        match flag.as_str() {
            "--reloads" => o.reloads = args.number(&flag),
            "--connections" => o.connections = args.number(&flag),
            _ => args.unknown(&flag),
        }
    }
    o
}

/// Resident memory (VmRSS) of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .expect("VmRSS")
}

/// `changeover status --json`: its output, and whether it succeeded.
async fn status_json(changeover: &Path, control: &Path) -> (bool, String) {
    let out = Command::new(changeover)
        .args(["status", "--json", "--control"])
        .arg(control)
        .output()
        .await
        .unwrap();
    let text = if out.status.success() {
        String::from_utf8_lossy(&out.stdout)
    } else {
        String::from_utf8_lossy(&out.stderr)
    };
    (out.status.success(), text.into_owned())
}

/// The pid of the one ready child, from `changeover status --json`.
async fn ready_child(changeover: &Path, control: &Path) -> u32 {
    let (ok, text) = status_json(changeover, control).await;
    assert!(ok, "{text}");
    // {"generations":[{"generation":N,"pid":P,"state":"ready",...}]}: the ready one's pid.
    let at = text.find("\"state\": \"ready\"").expect("a ready child");
    let before = &text[..at];
    let pid_at = before.rfind("\"pid\":").expect("its pid") + "\"pid\":".len();
    before[pid_at..]
        .trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a pid")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let o = options();
    let (changeover, hello) = bench::changeover_and_hello();
    let scratch = tempfile::tempdir().unwrap();
    let control = scratch.path().join("control.sock");
    let port = free_port();
    let mut cmd = changeover_run(&changeover, port, &control, &hello);
    // Only warnings: a thousand reloads log a lot at info.
    cmd.env("RUST_LOG", "warn");
    let mut sup = Server::start(cmd);
    let supervisor = sup.pid();
    let t = Instant::now();
    while !control.exists() || ready_child_is_missing(&changeover, &control).await {
        assert!(t.elapsed() < DEADLINE, "the first child never got ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let load = changeover_load::start(Config {
        connections: o.connections,
        keep_alive: true,
        duration: Some(Duration::from_secs(24 * 3600)),
        ..Config::new(Target::parse(&format!("http://127.0.0.1:{port}/")).unwrap())
    })
    .unwrap();
    load.wait_for_ok(500, DEADLINE).await.unwrap();
    let mut first = None;
    let started = Instant::now();
    for i in 0..o.reloads {
        let old = ready_child(&changeover, &control).await;
        let out = Command::new(&changeover)
            .args(["reload", "--wait", "--control"])
            .arg(&control)
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "reload {i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            wait_gone(old, DEADLINE).await,
            "reload {i}: the old child lingers"
        );
        let ok = load.snapshot().ok;
        load.wait_for_ok(ok + 50, DEADLINE).await.unwrap();
        if i == 0 {
            first = Some((open_fds(supervisor).len(), rss_kib(supervisor)));
        }
        if (i + 1) % 100 == 0 {
            eprintln!(
                "{} reloads, {:.0}s: fds {}, RSS {} KiB",
                i + 1,
                started.elapsed().as_secs_f64(),
                open_fds(supervisor).len(),
                rss_kib(supervisor)
            );
        }
    }
    let last = (open_fds(supervisor).len(), rss_kib(supervisor));
    let report = load.stop().await;
    sup.signal(Signal::SIGTERM);
    sup.wait_exit(DEADLINE).await;
    let (first_fds, first_rss) = first.expect("at least one reload");
    println!(
        "{} reloads of hello under changeover run, {} keep-alive connections, {:.0}s",
        o.reloads,
        o.connections,
        started.elapsed().as_secs_f64()
    );
    println!(
        "supervisor fds: {first_fds} after the first reload, {} after the last",
        last.0
    );
    println!(
        "supervisor RSS: {first_rss} KiB after the first reload, {} KiB after the last ({:+} KiB)",
        last.1,
        last.1 as i64 - first_rss as i64
    );
    println!("requests: {} ok, {} failed", report.ok, report.failed());
}

async fn ready_child_is_missing(changeover: &Path, control: &Path) -> bool {
    let (ok, text) = status_json(changeover, control).await;
    !(ok && text.contains("\"state\": \"ready\""))
}
