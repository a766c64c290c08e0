//! `--instructions`: what one request costs the reverse proxy, counted in
//! instructions under `valgrind --tool=callgrind`, for the changeover proxy
//! and for nginx in front of the same `hello`.
//!
//! Wall-clock ratios on a machine shared with other work move by tens of
//! percent from run to run; instruction counts move by about one. The
//! proxy is run under callgrind (the `hello` behind it and the load are
//! not), with `changeover load`'s driver as the client, keep-alive,
//! `--connections` of them (8): one second of warm-up, counters zeroed
//! (`callgrind_control -z`), `--seconds` of load (3), counters dumped
//! (`callgrind_control -d`); the dump's total over the requests answered in
//! between is the cost of one. Start-up, connection set-up and the warm-up
//! are not in it.
//!
//! Like against like: nginx runs one worker in the foreground
//! (`master_process off`), the changeover proxy one tokio worker thread
//! (`TOKIO_WORKER_THREADS=1`), so neither count depends on how threads
//! interleave. Both see the same load, which under callgrind keeps them
//! busy all the time (so each wake-up finds about the same work waiting).
//! `hello` alone under callgrind, with the same load, is printed for scale.
//!
//! With `--keep DIR` the callgrind files stay in DIR, for
//! `callgrind_annotate DIR/proxy-1.out.1` (per-function counts).

use std::path::{Path, PathBuf};
use std::time::Duration;

use changeover_load::Report;
use changeover_tests::{Server, bench, free_port, signal};
use nix::sys::signal::Signal;
use tokio::process::Command;

use super::{DEADLINE, Options, answers, nginx_conf};

/// Valgrind runs a program some 50 times slower: its start and stop too.
const SLOW_DEADLINE: Duration = Duration::from_secs(300);

/// Runs `cmd` (`what` for messages) under callgrind, its output in `out`.
fn under_callgrind(program: &Path, out: &Path) -> Command {
    let mut cmd = Command::new("valgrind");
    cmd.arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(program);
    cmd
}

/// `callgrind_control ARG PID`, checked.
fn callgrind_control(arg: &str, pid: u32) {
    let out = std::process::Command::new("callgrind_control")
        .arg(arg)
        .arg(pid.to_string())
        .output()
        .expect("run callgrind_control (it comes with valgrind)");
    assert!(
        out.status.success(),
        "callgrind_control {arg} {pid}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn load(port: u16, connections: usize, seconds: u64) -> Report {
    bench::load_without_failure(port, connections, Duration::from_secs(seconds)).await
}

/// Warm-up, zero, load, dump: the instructions per request of the process
/// `pid` (under callgrind, writing to `out`) serving on `port`.
async fn count(pid: u32, port: u16, out: &Path, o: &Options) -> (u64, u64) {
    load(port, o.connections, 1).await;
    callgrind_control("-z", pid);
    let report = load(port, o.connections, o.seconds).await;
    callgrind_control("-d", pid);
    // The first dump on request is part 1.
    let dump = PathBuf::from(format!("{}.1", out.display()));
    (bench::callgrind_total(&dump), report.ok)
}

/// One measurement of `way`: started, counted, stopped.
async fn measure(
    way: &Way<'_>,
    hello_port: u16,
    dir: &Path,
    round: usize,
    o: &Options,
) -> (u64, u64) {
    let out = dir.join(format!("{}-{round}.out", way.file));
    let port = free_port();
    let upstream = format!("127.0.0.1:{hello_port}");
    let (mut server, pid) = match way.kind {
        Kind::Proxy(bin) => {
            let mut cmd = under_callgrind(bin, &out);
            cmd.args([
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--upstream",
                &upstream,
            ])
            .env("TOKIO_WORKER_THREADS", "1");
            let mut s = Server::start(cmd);
            s.wait_for_line("listening", SLOW_DEADLINE).await;
            let pid = s.pid();
            (s, pid)
        }
        Kind::Hello(bin) => {
            let mut cmd = under_callgrind(bin, &out);
            cmd.args(["--listen", &format!("127.0.0.1:{port}")])
                .env("TOKIO_WORKER_THREADS", "1");
            let mut s = Server::start(cmd);
            let pid = s.wait_ready(SLOW_DEADLINE).await;
            (s, pid)
        }
        Kind::Nginx(bin) => {
            let conf_dir = dir.join(format!("nginx-{round}"));
            let conf = nginx_conf(
                &conf_dir,
                "master_process off;\nworker_processes 1;\ndaemon off;",
                port,
                hello_port,
                o.connections,
            );
            let mut cmd = under_callgrind(bin, &out);
            cmd.arg("-c").arg(&conf).arg("-p").arg(&conf_dir);
            let s = Server::start(cmd);
            answers(port, "nginx under callgrind").await;
            let pid = s.pid();
            (s, pid)
        }
    };
    let counted = count(pid, port, &out, o).await;
    // Valgrind runs the program in its own process: this is the server.
    signal(pid, Signal::SIGKILL);
    server.wait_exit(SLOW_DEADLINE).await;
    counted
}

enum Kind<'a> {
    Proxy(&'a Path),
    Nginx(&'a Path),
    Hello(&'a Path),
}

struct Way<'a> {
    name: &'a str,
    file: &'a str,
    kind: Kind<'a>,
}

/// Prints instructions per request: the changeover proxy, nginx (when
/// installed), and `hello` alone for scale.
pub(super) async fn run(o: &Options, hello_bin: &Path, proxy_bin: &Path, nginx: Option<PathBuf>) {
    bench::require_valgrind("proxy --instructions");
    let (_tmp, dir) = bench::callgrind_dir(o.keep.as_deref());

    let hello_port = free_port();
    let mut hello = bench::start_example(hello_bin, hello_port, DEADLINE).await;

    let mut ways = vec![Way {
        name: "changeover proxy (1 worker thread)",
        file: "proxy",
        kind: Kind::Proxy(proxy_bin),
    }];
    if let Some(n) = &nginx {
        ways.push(Way {
            name: "nginx (1 worker, master_process off)",
            file: "nginx",
            kind: Kind::Nginx(n),
        });
    }
    ways.push(Way {
        name: "hello alone, no proxy (for scale)",
        file: "hello",
        kind: Kind::Hello(hello_bin),
    });

    println!(
        "## Reverse proxy: instructions per request (valgrind --tool=callgrind; {} keep-alive connections, 1 s warm-up, {} s counted)\n",
        o.connections, o.seconds
    );
    println!("| round | in front of hello | requests | instructions | per request |");
    println!("|---|---|---|---|---|");
    let mut per: Vec<Vec<f64>> = vec![Vec::new(); ways.len()];
    for round in 1..=o.rounds {
        for (i, way) in ways.iter().enumerate() {
            let (instructions, requests) = measure(way, hello_port, &dir, round, o).await;
            assert!(requests > 0, "{}: no request answered", way.name);
            let each = instructions as f64 / requests as f64;
            println!(
                "| {round} | {} | {requests} | {instructions} | {each:.0} |",
                way.name
            );
            per[i].push(each);
        }
    }
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    if nginx.is_some() {
        let (p, n) = (median(&per[0]), median(&per[1]));
        println!(
            "\nchangeover proxy / nginx: {:.3} ({p:.0} / {n:.0} instructions per request)",
            p / n
        );
    } else {
        println!("\nnginx is not installed: its row is left out");
    }
    if o.keep.is_some() {
        println!(
            "\ncallgrind files in {d}: callgrind_annotate {d}/proxy-1.out.1",
            d = dir.display()
        );
    }
    hello.signal(Signal::SIGTERM);
    hello.wait_exit(DEADLINE).await;
}
