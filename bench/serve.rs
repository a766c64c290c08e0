//! Benchmark of the library's serve path and self-upgrade (not a test).
//!
//! Prints, measured side by side on this machine:
//! 1. requests/s through `hello` (the library's serve path) and through
//!    `plain` (the same axum handler on plain hyper), alternating A B A B so
//!    drift on a shared machine hits both, with the ratio per pair;
//! 2. failed requests over N self-upgrades under keep-alive load and under
//!    one-request-per-connection load;
//! 3. the handover time: SIGHUP to the old generation's exit.
//!
//! ```text
//! cargo bench -p changeover-tests --bench serve [-- --rounds 3 --seconds 3 --upgrades 50 --connections 64]
//! ```

use std::time::{Duration, Instant};

use changeover_load::{Config, Target};
use changeover_tests::{Server, bench, example_bin, free_port, signal, wait_gone};
use nix::sys::signal::Signal;

const DEADLINE: Duration = Duration::from_secs(60);

struct Options {
    rounds: usize,
    seconds: u64,
    upgrades: usize,
    connections: usize,
}

fn options() -> Options {
    let mut o = Options {
        rounds: 3,
        seconds: 3,
        upgrades: 50,
        connections: 64,
    };
    let mut args = bench::Args::new("serve");
    while let Some(flag) = args.next_flag() {
        match flag.as_str() {
            "--rounds" => o.rounds = args.number(&flag),
            "--seconds" => o.seconds = args.number(&flag) as u64,
            "--upgrades" => o.upgrades = args.number(&flag),
            "--connections" => o.connections = args.number(&flag),
            _ => args.unknown(&flag),
        }
    }
    o
}

async fn start(example: &str, port: u16) -> Server {
    bench::start_example(&example_bin(example), port, DEADLINE).await
}

fn load_config(port: u16, connections: usize, keep_alive: bool, seconds: Option<u64>) -> Config {
    Config {
        connections,
        keep_alive,
        duration: seconds.map(Duration::from_secs),
        ..Config::new(Target::parse(&format!("http://127.0.0.1:{port}/")).unwrap())
    }
}

async fn rps(port: u16, o: &Options) -> f64 {
    bench::load_without_failure(port, o.connections, Duration::from_secs(o.seconds))
        .await
        .rps()
}

async fn throughput(o: &Options) {
    let (pa, pb) = (free_port(), free_port());
    let mut a = start("hello", pa).await;
    let mut b = start("plain", pb).await;
    println!(
        "## requests/s, {} keep-alive connections, {} s per run, A B alternating",
        o.connections, o.seconds
    );
    println!("| round | changeover serve (hello) | plain hyper (plain) | ratio |");
    println!("|---|---|---|---|");
    let mut ratios = Vec::new();
    for round in 1..=o.rounds {
        let ra = rps(pa, o).await;
        let rb = rps(pb, o).await;
        ratios.push(ra / rb);
        println!("| {round} | {ra:.0} | {rb:.0} | {:.3} |", ra / rb);
    }
    ratios.sort_by(f64::total_cmp);
    println!("median ratio: {:.3}\n", ratios[ratios.len() / 2]);
    a.signal(Signal::SIGTERM);
    a.wait_exit(DEADLINE).await;
    b.signal(Signal::SIGKILL);
    b.wait_exit(DEADLINE).await;
}

async fn upgrades(o: &Options, keep_alive: bool) {
    let port = free_port();
    let mut server = start("hello", port).await;
    let mut live = server.pid();
    let load =
        changeover_load::start(load_config(port, o.connections, keep_alive, Some(600))).unwrap();
    load.wait_for_ok(1000, DEADLINE).await.unwrap();
    let started = Instant::now();
    let mut handovers = Vec::new();
    for _ in 0..o.upgrades {
        let t = Instant::now();
        signal(live, Signal::SIGHUP);
        let next = server.wait_ready(DEADLINE).await;
        assert!(
            wait_gone(live, DEADLINE).await,
            "old generation {live} did not exit"
        );
        handovers.push(t.elapsed());
        live = next;
        let ok = load.snapshot().ok;
        load.wait_for_ok(ok + 100, DEADLINE).await.unwrap();
    }
    let elapsed = started.elapsed();
    let report = load.stop().await;
    signal(live, Signal::SIGTERM);
    wait_gone(live, DEADLINE).await;
    handovers.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "| {} | {} in {:.1} s | {} | {} | {:.0} | {:.1} | {:.1} | {:.1} |",
        if keep_alive {
            "keep-alive"
        } else {
            "one request per connection"
        },
        o.upgrades,
        elapsed.as_secs_f64(),
        report.requests,
        report.failed(),
        report.rps(),
        ms(handovers[handovers.len() / 2]),
        ms(*handovers.last().unwrap()),
        ms(report.latency.p99()),
    );
    if report.failed() > 0 {
        println!("{}", report.summary());
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let o = options();
    changeover_tests::build_release(&["-p", "changeover-tests", "--examples"]);
    println!(
        "# changeover serve-path and self-upgrade benchmark ({} cores)\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    throughput(&o).await;
    println!(
        "## {} self-upgrades (SIGHUP) of hello under load, {} connections",
        o.upgrades, o.connections
    );
    println!(
        "| load | upgrades | requests | failed | requests/s | handover median ms | handover max ms | p99 latency ms |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    upgrades(&o, true).await;
    upgrades(&o, false).await;
    println!(
        "\nhandover = SIGHUP sent until the old generation has exited (successor ready + old drained)"
    );
}
