//! The proxy's cost benchmark (not a test; not run by CI).
//!
//! Requests/s and p50/p99 latency against the same `hello` server three
//! ways, alternating within each round so drift on a shared machine hits
//! all three alike:
//! - directly;
//! - through the changeover proxy (`changeover-proxy`'s `proxy` example:
//!   the data plane of `changeover run --proxy`, served by plain hyper-util);
//! - through `changeover run --proxy` itself, with `hello` as its child (the
//!   library's serve path in front, a private Unix socket behind);
//! - through nginx as a reverse proxy (`upstream` with `keepalive`,
//!   `proxy_http_version 1.1`, the setup most people would put in front;
//!   installed from the Debian package when missing, its rows left out if
//!   that fails).
//!
//! Prints a table per round and the medians with their ratios to direct.
//!
//! Then `--reloads` (50) reloads under keep-alive load through `changeover run
//! --proxy` with a Node `http` child on fd 3 that closes its idle connections
//! on SIGTERM (`crates/changeover-cli/tests/fixtures/node_fd3.js`): requests
//! failed (the target is 0) and the handover time `changeover reload --wait`
//! reports (start of the new child to its readiness, `--ready http:/`).
//! Needs `node`; `--reloads 0` skips it.
//!
//! ```text
//! cargo bench -p changeover-tests --bench proxy [-- --rounds 3 --seconds 5 --connections 64 --reloads 50]
//! ```
//!
//! With `--instructions`, counts instructions per request instead, under
//! `valgrind --tool=callgrind`: figures that do not move with the load of a
//! shared machine. See `proxy_instructions.rs`:
//!
//! ```text
//! cargo bench -p changeover-tests --bench proxy -- --instructions [--rounds 1 --seconds 3 --connections 8 --keep DIR]
//! ```

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use changeover_load::{Config, Report, Target};
use changeover_tests::{Server, bench, free_port};
use nix::sys::signal::Signal;
use tokio::process::{Child, Command};

#[path = "proxy_instructions.rs"]
mod proxy_instructions;

const DEADLINE: Duration = Duration::from_secs(60);

struct Options {
    rounds: usize,
    seconds: u64,
    connections: usize,
    reloads: usize,
    /// Count instructions under callgrind instead of timing.
    instructions: bool,
    /// Where the callgrind files stay (`--instructions`).
    keep: Option<PathBuf>,
}

fn options() -> Options {
    let (mut rounds, mut seconds, mut connections, mut reloads) = (None, None, None, None);
    let (mut instructions, mut keep) = (false, None);
    let mut args = bench::Args::new("proxy");
    while let Some(flag) = args.next_flag() {
        match flag.as_str() {
            "--rounds" => rounds = Some(args.number(&flag)),
            "--seconds" => seconds = Some(args.number(&flag) as u64),
            "--connections" => connections = Some(args.number(&flag)),
            "--reloads" => reloads = Some(args.number(&flag)),
            "--instructions" => instructions = true,
            "--keep" => keep = Some(PathBuf::from(args.value(&flag))),
            _ => args.unknown(&flag),
        }
    }
    // Under callgrind everything runs some 50 times slower: a few seconds
    // of 8 connections give thousands of requests.
    let o = if instructions {
        Options {
            rounds: rounds.unwrap_or(1),
            seconds: seconds.unwrap_or(3),
            connections: connections.unwrap_or(8),
            reloads: 0,
            instructions,
            keep,
        }
    } else {
        Options {
            rounds: rounds.unwrap_or(3),
            seconds: seconds.unwrap_or(5),
            connections: connections.unwrap_or(64),
            reloads: reloads.unwrap_or(50),
            instructions,
            keep,
        }
    };
    assert!(
        o.rounds > 0 && o.seconds > 0 && o.connections > 0,
        "every option must be at least 1"
    );
    assert!(
        o.keep.is_none() || o.instructions,
        "--keep goes with --instructions"
    );
    o
}

/// Release builds of `hello`, the `proxy` example and `changeover`.
fn build() -> (PathBuf, PathBuf, PathBuf) {
    bench::release(&[
        "-p",
        "changeover-tests",
        "-p",
        "changeover-proxy",
        "--examples",
    ]);
    let release = bench::release(&["-p", "changeover-cli"]);
    let examples = release.join("examples");
    (
        examples.join("hello"),
        examples.join("proxy"),
        release.join("changeover"),
    )
}

/// `changeover run --proxy` on `port` with `child`, its control socket in `dir`; returns once
/// its first child is ready.
async fn start_supervisor(
    changeover: &Path,
    dir: &Path,
    port: u16,
    extra: &[&str],
    child: &[&str],
) -> Server {
    let mut cmd = Command::new(changeover);
    cmd.arg("run")
        .arg("--proxy")
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--control")
        .arg(dir.join("control.sock"))
        .args(extra)
        .arg("--")
        .args(child)
        .env(
            "RUST_LOG",
            "warn,changeover_supervisor::machine::reload=info",
        );
    let mut sup = Server::start(cmd);
    sup.wait_for_line("child is ready", DEADLINE).await;
    sup
}

/// 50 reloads of a Node child under keep-alive load through `changeover run --proxy`.
async fn reloads(changeover: &Path, dir: &Path, o: &Options) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/changeover-cli/tests/fixtures/node_fd3.js");
    let port = free_port();
    let script = script.display().to_string();
    let mut sup = start_supervisor(
        changeover,
        dir,
        port,
        &["--ready", "http:/"],
        &["node", &script],
    )
    .await;
    let load = changeover_load::start(Config {
        connections: o.connections,
        duration: Some(Duration::from_secs(600)),
        ..Config::new(Target::tcp(([127, 0, 0, 1], port).into()))
    })
    .unwrap();
    load.wait_for_ok(1000, DEADLINE).await.unwrap();
    let control = dir.join("control.sock");
    let mut handovers = Vec::new();
    let started = Instant::now();
    for _ in 0..o.reloads {
        let out = tokio::time::timeout(
            DEADLINE,
            Command::new(changeover)
                .args(["reload", "--wait", "--control"])
                .arg(&control)
                .output(),
        )
        .await
        .expect("reload --wait within the deadline")
        .unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "reload failed: {said} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ms: f64 = said
            .rsplit("in ")
            .next()
            .and_then(|s| s.trim().strip_suffix("ms"))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no handover time in {said:?}"));
        handovers.push(ms);
        let ok = load.snapshot().ok;
        load.wait_for_ok(ok + 200, DEADLINE).await.unwrap();
    }
    let took = started.elapsed();
    let report = load.stop().await;
    sup.signal(Signal::SIGTERM);
    sup.wait_exit(DEADLINE).await;
    handovers.sort_by(f64::total_cmp);
    println!(
        "\n# {} reloads of a Node child (closes idle connections on SIGTERM) through changeover run --proxy, {} keep-alive connections, in {:.1} s\n",
        o.reloads,
        o.connections,
        took.as_secs_f64()
    );
    println!("| requests | failed | handover median ms | handover max ms |");
    println!("|---|---|---|---|");
    println!(
        "| {} | {} | {:.0} | {:.0} |",
        report.requests,
        report.failed(),
        median(handovers.clone()),
        handovers.last().copied().unwrap_or(0.0)
    );
    if report.failed() > 0 {
        println!("\n{}", report.summary());
    }
}

/// An nginx configuration in `dir` (written there; its path returned):
/// reverse proxy on `port` in front of `upstream`, keep-alive to the
/// upstream, no access log; `top` goes first (the process model).
fn nginx_conf(dir: &Path, top: &str, port: u16, upstream: u16, connections: usize) -> PathBuf {
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    let conf = dir.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "{top}
pid {d}/nginx.pid;
error_log {d}/logs/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  upstream hello {{
    server 127.0.0.1:{upstream};
    keepalive {connections};
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://hello;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
    }}
  }}
}}
",
            d = dir.display()
        ),
    )
    .unwrap();
    conf
}

/// nginx in front of `upstream`, on `port`: two workers (one per core of the
/// development machine), keep-alive to the upstream, no access log.
async fn start_nginx(
    nginx: &Path,
    dir: &Path,
    port: u16,
    upstream: u16,
    connections: usize,
) -> Child {
    let conf = nginx_conf(dir, "worker_processes 2;", port, upstream, connections);
    let child = Command::new(nginx)
        .arg("-c")
        .arg(&conf)
        .arg("-p")
        .arg(dir)
        .args(["-g", "daemon off;"])
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    answers(port, "nginx").await;
    child
}

/// Waits until a request to `port` is answered (nginx says nothing when it
/// is ready): a probe at a time, each bounded, all within [`DEADLINE`].
async fn answers(port: u16, what: &str) {
    let target = Target::tcp(([127, 0, 0, 1], port).into());
    let t = Instant::now();
    while changeover_load::probe(&target, Duration::from_secs(1))
        .await
        .is_err()
    {
        assert!(
            t.elapsed() < DEADLINE,
            "{what} did not answer within {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn measure(port: u16, o: &Options) -> Report {
    bench::load_without_failure(port, o.connections, Duration::from_secs(o.seconds)).await
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let o = options();
    let (hello_bin, proxy_bin, changeover) = build();
    if o.instructions {
        proxy_instructions::run(&o, &hello_bin, &proxy_bin, bench::nginx()).await;
        return;
    }
    let scratch = tempfile::tempdir().unwrap();

    let hello_port = free_port();
    let mut hello = bench::start_example(&hello_bin, hello_port, DEADLINE).await;

    let proxy_port = free_port();
    let mut proxy_cmd = Command::new(&proxy_bin);
    proxy_cmd
        .arg("--listen")
        .arg(format!("127.0.0.1:{proxy_port}"))
        .arg("--upstream")
        .arg(format!("127.0.0.1:{hello_port}"));
    let mut proxy = Server::start(proxy_cmd);
    proxy.wait_for_line("listening", DEADLINE).await;

    let run_port = free_port();
    let hello_arg = hello_bin.display().to_string();
    let mut supervisor =
        start_supervisor(&changeover, scratch.path(), run_port, &[], &[&hello_arg]).await;

    let mut ways: Vec<(&str, u16)> = vec![
        ("direct", hello_port),
        ("changeover proxy", proxy_port),
        ("changeover run --proxy", run_port),
    ];
    let nginx_port = free_port();
    let nginx = match bench::nginx() {
        Some(bin) => {
            let child = start_nginx(
                &bin,
                &scratch.path().join("nginx"),
                nginx_port,
                hello_port,
                o.connections,
            )
            .await;
            ways.push(("nginx", nginx_port));
            Some(child)
        }
        None => None,
    };

    println!(
        "# Reverse proxy benchmark: {} keep-alive connections, {} s per run, {} cores, alternating\n",
        o.connections,
        o.seconds,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("| round | way | requests/s | p50 ms | p99 ms |");
    println!("|---|---|---|---|---|");
    let mut figures: Vec<Vec<(f64, f64, f64)>> = vec![Vec::new(); ways.len()];
    for round in 1..=o.rounds {
        for (i, (way, port)) in ways.iter().enumerate() {
            let r = measure(*port, &o).await;
            let (rps, p50, p99) = (r.rps(), ms(r.latency.p50()), ms(r.latency.p99()));
            println!("| {round} | {way} | {rps:.0} | {p50:.2} | {p99:.2} |");
            figures[i].push((rps, p50, p99));
        }
    }
    let direct = median(figures[0].iter().map(|f| f.0).collect());
    println!("\n| way | median requests/s | of direct | median p50 ms | median p99 ms |");
    println!("|---|---|---|---|---|");
    for (i, (way, _)) in ways.iter().enumerate() {
        let rps = median(figures[i].iter().map(|f| f.0).collect());
        println!(
            "| {way} | {rps:.0} | {:.2} | {:.2} | {:.2} |",
            rps / direct,
            median(figures[i].iter().map(|f| f.1).collect()),
            median(figures[i].iter().map(|f| f.2).collect()),
        );
    }
    if ways.len() == 4 {
        let n = median(figures[3].iter().map(|f| f.0).collect());
        for i in [1, 2] {
            let p = median(figures[i].iter().map(|f| f.0).collect());
            println!("\n{} / nginx: {:.2}", ways[i].0, p / n);
        }
    }

    if let Some(mut n) = nginx {
        changeover_tests::signal(n.id().unwrap(), Signal::SIGQUIT);
        tokio::time::timeout(DEADLINE, n.wait())
            .await
            .unwrap()
            .unwrap();
    }
    proxy.signal(Signal::SIGKILL);
    proxy.wait_exit(DEADLINE).await;
    hello.signal(Signal::SIGTERM);
    hello.wait_exit(DEADLINE).await;
    supervisor.signal(Signal::SIGTERM);
    supervisor.wait_exit(DEADLINE).await;

    if o.reloads > 0 {
        let dir = scratch.path().join("reloads");
        std::fs::create_dir_all(&dir).unwrap();
        reloads(&changeover, &dir, &o).await;
    }
}
