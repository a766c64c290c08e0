//! Pooled real clients across restarts (not a test; not run by CI; the
//! pooled-client test in `tests/handover.rs` runs the upgrade mode once).
//!
//! `tests/clients/pooled.py` — Python `requests` (urllib3, no retries), 48
//! threads each with its own pooled keep-alive connection and idle gaps
//! uniform in 0–2 s — runs against `hello` while it is restarted N times:
//! - `--mode upgrade` (default): SIGHUP, each time until the successor is
//!   ready and the old generation is gone. Idle connections are handed to
//!   the successor, so none is closed.
//! - `--mode reload`: `changeover reload --wait` of `changeover run`, each
//!   time until the new child is ready; the old child stops (no successor
//!   of its own) and closes its idle connections through the lame duck,
//!   each at a random moment of the window. A client whose gap ends just
//!   as its connection closes writes into it: urllib3 reports "Remote end
//!   closed connection without response".
//!
//! Prints the counts and every failure message; exit status 1 when any
//! request failed.
//!
//! ```text
//! cargo bench -p changeover-tests --bench pooled [-- --mode upgrade|reload --restarts 40 --threads 48 --runs 1]
//! ```

use changeover_tests::bench;
use changeover_tests::pooled::{Restart, across};
use changeover_tests::python_imports;

struct Options {
    reload: bool,
    restarts: usize,
    threads: usize,
    runs: usize,
}

fn options() -> Options {
    let mut o = Options {
        reload: false,
        restarts: 40,
        threads: 48,
        runs: 1,
    };
    let mut args = bench::Args::new("pooled");
    while let Some(flag) = args.next_flag() {
        match flag.as_str() {
            // `--upgrades` is the name this option had before the reload mode.
            "--restarts" | "--upgrades" => o.restarts = args.number(&flag),
            "--threads" => o.threads = args.number(&flag),
            "--runs" => o.runs = args.number(&flag),
            "--mode" => {
                o.reload = match args.value(&flag).as_str() {
                    "upgrade" => false,
                    "reload" => true,
                    _ => args.refuse("--mode takes upgrade or reload"),
                }
            }
            _ => args.unknown(&flag),
        }
    }
    o
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if let Err(e) = python_imports("requests", "requests") {
        eprintln!("pooled bench: {e}");
        std::process::exit(2);
    }
    let o = options();
    let (changeover, _hello) = bench::changeover_and_hello();
    let (restart, what) = if o.reload {
        (Restart::Reload { changeover }, "reloads of changeover run")
    } else {
        (Restart::Upgrade, "self-upgrades")
    };
    println!(
        "## pooled clients (requests/urllib3, no retries, {} threads, idle 0-2 s) across {what} of hello\n",
        o.threads
    );
    println!("| run | restarts | requests | ok | failed | note |");
    println!("|---|---|---|---|---|---|");
    let (mut requests, mut failed) = (0, 0);
    for round in 1..=o.runs {
        let (c, _log) = across(&restart, o.restarts, o.threads).await;
        println!(
            "| {round} | {} in {:.1} s | {} | {} | {} | {} |",
            o.restarts,
            c.took.as_secs_f64(),
            c.requests,
            c.ok,
            c.failed,
            if c.bounded { "a bound ended it" } else { "-" }
        );
        for f in &c.failures {
            println!("|   | failure: {f} | | | | |");
        }
        requests += c.requests;
        failed += c.failed;
    }
    println!("\n{failed} of {requests} requests failed");
    std::process::exit(i32::from(failed > 0));
}
