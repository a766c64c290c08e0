//! The proxy's cost benchmark (not a test; not run by CI).
//!
//! Requests/s and p50/p99 latency against the same `hello` server three
//! ways, alternating within each round so drift on a shared machine hits
//! all three alike:
//! - directly;
//! - through the changeover proxy (`changeover-proxy`'s `proxy` example:
//!   the data plane of `changeover run --proxy`, served by plain hyper-util);
//! - through nginx as a reverse proxy (`upstream` with `keepalive`,
//!   `proxy_http_version 1.1`, the setup most people would put in front;
//!   installed from the Debian package when missing, its rows left out if
//!   that fails).
//!
//! Prints a table per round and the medians with their ratios to direct.
//!
//! ```text
//! cargo bench -p changeover-tests --bench proxy [-- --rounds 3 --seconds 5 --connections 64]
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
use changeover_tests::{Server, free_port};
use nix::sys::signal::Signal;
use tokio::process::{Child, Command};

#[path = "proxy_instructions.rs"]
mod proxy_instructions;

const DEADLINE: Duration = Duration::from_secs(60);

struct Options {
    rounds: usize,
    seconds: u64,
    connections: usize,
    /// Count instructions under callgrind instead of timing.
    instructions: bool,
    /// Where the callgrind files stay (`--instructions`).
    keep: Option<PathBuf>,
}

fn options() -> Options {
    let (mut rounds, mut seconds, mut connections) = (None, None, None);
    let (mut instructions, mut keep) = (false, None);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num = || -> usize {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{a} needs a number"))
        };
        match a.as_str() {
            "--rounds" => rounds = Some(num()),
            "--seconds" => seconds = Some(num() as u64),
            "--connections" => connections = Some(num()),
            "--instructions" => instructions = true,
            "--keep" => {
                keep = Some(PathBuf::from(
                    args.next().expect("--keep needs a directory"),
                ));
            }
            "--bench" => {}
            other => panic!("unknown argument {other:?}; see the header of bench/proxy.rs"),
        }
    }
    // Under callgrind everything runs some 50 times slower: a few seconds
    // of 8 connections give thousands of requests.
    let o = if instructions {
        Options {
            rounds: rounds.unwrap_or(1),
            seconds: seconds.unwrap_or(3),
            connections: connections.unwrap_or(8),
            instructions,
            keep,
        }
    } else {
        Options {
            rounds: rounds.unwrap_or(3),
            seconds: seconds.unwrap_or(5),
            connections: connections.unwrap_or(64),
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

/// Release builds of `hello` and the `proxy` example.
fn build() -> (PathBuf, PathBuf) {
    changeover_tests::build_release(&[
        "-p",
        "changeover-tests",
        "-p",
        "changeover-proxy",
        "--examples",
    ]);
    let exe = std::env::current_exe().unwrap();
    let examples = exe
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("examples");
    (examples.join("hello"), examples.join("proxy"))
}

fn nginx() -> Option<PathBuf> {
    let found = |p: &str| Path::new(p).exists().then(|| PathBuf::from(p));
    if let Some(p) = found("/usr/sbin/nginx") {
        return Some(p);
    }
    eprintln!("nginx is missing: installing the Debian package");
    let ok = std::process::Command::new("sh")
        .args(["-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("could not install nginx; its rows are left out");
    }
    found("/usr/sbin/nginx")
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
    let report = changeover_load::start(Config {
        connections: o.connections,
        duration: Some(Duration::from_secs(o.seconds)),
        ..Config::new(Target::tcp(([127, 0, 0, 1], port).into()))
    })
    .unwrap()
    .finished()
    .await;
    assert_eq!(report.failed(), 0, "{}", report.summary());
    report
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
    let (hello_bin, proxy_bin) = build();
    if o.instructions {
        proxy_instructions::run(&o, &hello_bin, &proxy_bin, nginx()).await;
        return;
    }
    let scratch = tempfile::tempdir().unwrap();

    let hello_port = free_port();
    let mut hello_cmd = Command::new(&hello_bin);
    hello_cmd
        .arg("--listen")
        .arg(format!("127.0.0.1:{hello_port}"))
        .env("RUST_LOG", "warn,changeover=info");
    let mut hello = Server::start(hello_cmd);
    hello.wait_ready(DEADLINE).await;

    let proxy_port = free_port();
    let mut proxy_cmd = Command::new(&proxy_bin);
    proxy_cmd
        .arg("--listen")
        .arg(format!("127.0.0.1:{proxy_port}"))
        .arg("--upstream")
        .arg(format!("127.0.0.1:{hello_port}"));
    let mut proxy = Server::start(proxy_cmd);
    proxy.wait_for_line("listening", DEADLINE).await;

    let mut ways: Vec<(&str, u16)> = vec![("direct", hello_port), ("changeover proxy", proxy_port)];
    let nginx_port = free_port();
    let nginx = match nginx() {
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
    if ways.len() == 3 {
        let p = median(figures[1].iter().map(|f| f.0).collect());
        let n = median(figures[2].iter().map(|f| f.0).collect());
        println!("\nchangeover proxy / nginx: {:.2}", p / n);
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
}
