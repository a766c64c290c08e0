//! Pooled real clients across self-upgrades (not a test yet; not run by CI).
//!
//! `tests/clients/pooled.py` — Python `requests` (urllib3, no retries), 48
//! threads each with its own pooled keep-alive connection and idle gaps
//! uniform in 0–2 s — runs against `hello` while it upgrades itself N times
//! (SIGHUP; each time the successor is ready, the old generation is gone,
//! and some requests went through before the next). Prints the counts and
//! every failure message. Today an old generation closes each idle
//! connection when its lame-duck window ends, and a client whose gap ends
//! just then writes into the closing connection: urllib3 reports "Remote end
//! closed connection without response". Exit status 1 when any failed.
//!
//! ```text
//! cargo bench -p changeover-tests --bench pooled [-- --upgrades 40 --threads 48 --runs 1]
//! ```

use std::time::{Duration, Instant};

use changeover_tests::{
    Script, Server, bench, example_bin, free_port, python_imports, signal, wait_gone,
};
use nix::sys::signal::Signal;
use tokio::process::Command;

const DEADLINE: Duration = Duration::from_secs(60);

struct Options {
    upgrades: usize,
    threads: usize,
    runs: usize,
}

fn options() -> Options {
    let mut o = Options {
        upgrades: 40,
        threads: 48,
        runs: 1,
    };
    let mut args = bench::Args::new("pooled");
    while let Some(flag) = args.next_flag() {
        match flag.as_str() {
            "--upgrades" => o.upgrades = args.number(&flag),
            "--threads" => o.threads = args.number(&flag),
            "--runs" => o.runs = args.number(&flag),
            _ => args.unknown(&flag),
        }
    }
    o
}

async fn wait_ok(client: &mut Script, at_least: u64) -> u64 {
    client.wait_progress_ok(at_least, DEADLINE).await
}

/// One run: returns (requests, failed).
async fn run(o: &Options, round: usize) -> (u64, u64) {
    let port = free_port();
    let mut cmd = Command::new(example_bin("hello"));
    cmd.arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn,changeover=info");
    let mut server = Server::start(cmd);
    let mut live = server.wait_ready(DEADLINE).await;
    // Bounded well beyond what 40 upgrades take (about a second each).
    let max_seconds = 30 + 3 * o.upgrades;
    let mut client = Script::python(
        "pooled.py",
        &[
            "--url".into(),
            format!("http://127.0.0.1:{port}/"),
            "--threads".into(),
            o.threads.to_string(),
            "--max-seconds".into(),
            max_seconds.to_string(),
        ],
    );
    let mut ok = wait_ok(&mut client, o.threads as u64).await;
    let started = Instant::now();
    for _ in 0..o.upgrades {
        signal(live, Signal::SIGHUP);
        let next = server.wait_ready(DEADLINE).await;
        assert!(
            wait_gone(live, DEADLINE).await,
            "old generation {live} did not exit"
        );
        live = next;
        ok = wait_ok(&mut client, ok + 10).await;
    }
    let took = started.elapsed();
    let result = client.finish(DEADLINE).await;
    signal(live, Signal::SIGTERM);
    wait_gone(live, DEADLINE).await;
    let r: serde_json::Value = serde_json::from_str(&result).expect("the client's JSON");
    let (requests, failed) = (
        r["requests"].as_u64().unwrap(),
        r["failed"].as_u64().unwrap(),
    );
    println!(
        "| {round} | {} in {:.1} s | {requests} | {} | {failed} | {} |",
        o.upgrades,
        took.as_secs_f64(),
        r["ok"],
        if r["bounded"] == true {
            "a bound ended it"
        } else {
            "-"
        }
    );
    for f in r["failures"].as_array().into_iter().flatten() {
        println!("|   | failure: {} | | | | |", f.as_str().unwrap_or("?"));
    }
    (requests, failed)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if let Err(e) = python_imports("requests", "requests") {
        eprintln!("pooled bench: {e}");
        std::process::exit(2);
    }
    changeover_tests::build_release(&["-p", "changeover-tests", "--examples"]);
    let o = options();
    println!(
        "## pooled clients (requests/urllib3, no retries, {} threads, idle 0-2 s) across self-upgrades of hello\n",
        o.threads
    );
    println!("| run | upgrades | requests | ok | failed | note |");
    println!("|---|---|---|---|---|---|");
    let (mut requests, mut failed) = (0, 0);
    for round in 1..=o.runs {
        let (r, f) = run(&o, round).await;
        requests += r;
        failed += f;
    }
    println!("\n{failed} of {requests} requests failed");
    std::process::exit(i32::from(failed > 0));
}
