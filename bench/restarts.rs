//! The restart benchmark suite (not a test; not run by CI).
//!
//! Restarts the same kind of server N times under the same load, four ways,
//! and writes a table to `docs/benchmarks.md`:
//! - the library's self-upgrade (`hello`, SIGHUP);
//! - `changeover run` reloads of `hello` (`changeover reload --wait`);
//! - a naive stop-and-start of `hello` (SIGTERM, wait, start again);
//! - `nginx -s reload`, the reference most people trust (installed from the
//!   Debian package when missing).
//!
//! Each under keep-alive load and under one request per connection.
//!
//! ```text
//! cargo bench -p changeover-tests --bench restarts [-- --restarts 20 --connections 64]
//! ```

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use changeover_load::{Config, LoadHandle, Report, Target};
use changeover_tests::{Server, bench, changeover_run, free_port, signal, wait_gone};
use nix::sys::signal::Signal;
use tokio::process::Command;

const DEADLINE: Duration = Duration::from_secs(60);

struct Options {
    restarts: usize,
    connections: usize,
    write: bool,
}

fn options() -> Options {
    let mut o = Options {
        restarts: 20,
        connections: 64,
        write: true,
    };
    let mut args = bench::Args::new("restarts");
    while let Some(flag) = args.next_flag() {
        match flag.as_str() {
            "--restarts" => o.restarts = args.number(&flag),
            "--connections" => o.connections = args.number(&flag),
            "--no-write" => o.write = false,
            _ => args.unknown(&flag),
        }
    }
    o
}

/// One server under test, restarted in its own way.
enum Subject {
    SelfUpgrade {
        server: Server,
        live: u32,
    },
    Supervisor {
        server: Server,
        control: PathBuf,
        changeover: PathBuf,
    },
    Naive {
        server: Server,
        hello: PathBuf,
        port: u16,
    },
    Nginx {
        master: tokio::process::Child,
        conf: PathBuf,
        prefix: PathBuf,
        nginx: PathBuf,
    },
}

/// The children of `pid` (nginx's workers).
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn hello_cmd(hello: &Path, port: u16) -> Command {
    let mut cmd = Command::new(hello);
    cmd.arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "info");
    cmd
}

impl Subject {
    /// Restarts once; returns the handover time as this way defines it.
    async fn restart(&mut self) -> Duration {
        let t = Instant::now();
        match self {
            Subject::SelfUpgrade { server, live } => {
                signal(*live, Signal::SIGHUP);
                let next = server.wait_ready(DEADLINE).await;
                assert!(wait_gone(*live, DEADLINE).await);
                *live = next;
            }
            Subject::Supervisor {
                control,
                changeover,
                ..
            } => {
                let out = Command::new(&*changeover)
                    .args(["reload", "--wait", "--control"])
                    .arg(&*control)
                    .output()
                    .await
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            Subject::Naive {
                server,
                hello,
                port,
            } => {
                server.signal(Signal::SIGTERM);
                server.wait_exit(DEADLINE).await;
                *server = Server::start(hello_cmd(hello, *port));
                server.wait_ready(DEADLINE).await;
            }
            Subject::Nginx {
                master,
                conf,
                prefix,
                nginx,
            } => {
                let old_workers = children(master.id().expect("nginx runs"));
                let status = Command::new(&*nginx)
                    .arg("-c")
                    .arg(&*conf)
                    .arg("-p")
                    .arg(&*prefix)
                    .args(["-s", "reload"])
                    .status()
                    .await
                    .unwrap();
                assert!(status.success());
                // The handover is over when the old workers have exited.
                for w in old_workers {
                    assert!(wait_gone(w, DEADLINE).await, "old nginx worker {w} lingers");
                }
            }
        }
        t.elapsed()
    }

    /// Peak resident memory of the supervising process, where there is one.
    fn supervisor_memory(&self) -> Option<u64> {
        let pid = match self {
            Subject::Supervisor { server, .. } => server.pid(),
            Subject::Nginx { master, .. } => master.id()?,
            _ => return None,
        };
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
    }

    async fn stop(self) {
        match self {
            Subject::SelfUpgrade { live, .. } => {
                signal(live, Signal::SIGTERM);
                assert!(wait_gone(live, DEADLINE).await);
            }
            Subject::Supervisor { mut server, .. } | Subject::Naive { mut server, .. } => {
                server.signal(Signal::SIGTERM);
                server.wait_exit(DEADLINE).await;
            }
            Subject::Nginx { mut master, .. } => {
                signal(master.id().unwrap(), Signal::SIGQUIT);
                tokio::time::timeout(DEADLINE, master.wait())
                    .await
                    .unwrap()
                    .unwrap();
            }
        }
    }
}

struct Tools {
    changeover: PathBuf,
    hello: PathBuf,
    nginx: Option<PathBuf>,
    scratch: tempfile::TempDir,
}

async fn start(way: &str, tools: &Tools, port: u16) -> Subject {
    match way {
        "self-upgrade" => {
            let mut server = Server::start(hello_cmd(&tools.hello, port));
            let live = server.wait_ready(DEADLINE).await;
            Subject::SelfUpgrade { server, live }
        }
        "changeover run" => {
            let control = tools.scratch.path().join(format!("control-{port}.sock"));
            let mut cmd = changeover_run(&tools.changeover, port, &control, &tools.hello);
            cmd.env("RUST_LOG", "info");
            let mut server = Server::start(cmd);
            server.wait_ready(DEADLINE).await;
            Subject::Supervisor {
                server,
                control,
                changeover: tools.changeover.clone(),
            }
        }
        "naive stop-and-start" => {
            let mut server = Server::start(hello_cmd(&tools.hello, port));
            server.wait_ready(DEADLINE).await;
            Subject::Naive {
                server,
                hello: tools.hello.clone(),
                port,
            }
        }
        "nginx -s reload" => {
            let nginx = tools.nginx.clone().expect("nginx present");
            let prefix = tools.scratch.path().join(format!("nginx-{port}"));
            std::fs::create_dir_all(prefix.join("logs")).unwrap();
            let conf = prefix.join("nginx.conf");
            std::fs::write(
                &conf,
                format!(
                    "worker_processes 2;\npid {p}/nginx.pid;\nerror_log {p}/logs/error.log;\nevents {{ worker_connections 4096; }}\nhttp {{\n  access_log off;\n  server {{\n    listen 127.0.0.1:{port};\n    location / {{ return 200 \"hello\\n\"; }}\n  }}\n}}\n",
                    p = prefix.display()
                ),
            )
            .unwrap();
            let master = Command::new(&nginx)
                .arg("-c")
                .arg(&conf)
                .arg("-p")
                .arg(&prefix)
                .args(["-g", "daemon off;"])
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .unwrap();
            // nginx says nothing when ready; its pid file appears once it listens.
            let pid_file = prefix.join("nginx.pid");
            let t = Instant::now();
            while !pid_file.exists() || std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(t.elapsed() < DEADLINE, "nginx did not start");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Subject::Nginx {
                master,
                conf,
                prefix,
                nginx,
            }
        }
        other => unreachable!("{other}"),
    }
}

struct Row {
    way: &'static str,
    keep_alive: bool,
    report: Report,
    handover: Vec<Duration>,
    memory_kib: Option<u64>,
}

async fn measure(way: &'static str, keep_alive: bool, tools: &Tools, o: &Options) -> Row {
    let port = free_port();
    let mut subject = start(way, tools, port).await;
    let target = Target::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
    let load: LoadHandle = changeover_load::start(Config {
        connections: o.connections,
        keep_alive,
        duration: Some(Duration::from_secs(600)),
        ..Config::new(target)
    })
    .unwrap();
    load.wait_for_ok(1000, DEADLINE).await.unwrap();
    let mut handover = Vec::new();
    for i in 0..o.restarts {
        load.mark(format!("restart {}", i + 1));
        handover.push(subject.restart().await);
        let ok = load.snapshot().ok;
        // Failures do not move `ok`; a stalled server fails the wait loudly.
        load.wait_for_ok(ok + 200, DEADLINE).await.unwrap();
    }
    let report = load.stop().await;
    let memory_kib = subject.supervisor_memory();
    subject.stop().await;
    handover.sort();
    eprintln!(
        "{way} ({}): {}",
        if keep_alive {
            "keep-alive"
        } else {
            "one request per connection"
        },
        report.summary().lines().next().unwrap_or_default()
    );
    Row {
        way,
        keep_alive,
        report,
        handover,
        memory_kib,
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cores} cores ({cpu}), Linux {}", kernel.trim())
}

fn table(rows: &[Row]) -> String {
    let ms = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1000.0);
    let mut t = String::new();
    t.push_str("| restarted by | load | requests | failed | requests/s | p99 ms | handover median ms | handover max ms | supervisor peak RSS |\n");
    t.push_str("|---|---|---|---|---|---|---|---|---|\n");
    for r in rows {
        let failed = r.report.failed();
        let kinds: Vec<String> = r
            .report
            .failures
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        t.push_str(&format!(
            "| {} | {} | {} | {}{} | {:.0} | {} | {} | {} | {} |\n",
            r.way,
            if r.keep_alive {
                "keep-alive"
            } else {
                "1 request/connection"
            },
            r.report.requests,
            failed,
            if kinds.is_empty() {
                String::new()
            } else {
                format!(" ({})", kinds.join(", "))
            },
            r.report.rps(),
            ms(r.report.latency.p99()),
            ms(r.handover[r.handover.len() / 2]),
            ms(*r.handover.last().unwrap()),
            r.memory_kib
                .map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
                .unwrap_or_else(|| "-".into()),
        ));
    }
    t
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let o = options();
    // Built here, so that one command is enough.
    let (changeover, hello) = bench::changeover_and_hello();
    let tools = Tools {
        changeover,
        hello,
        nginx: bench::nginx(),
        scratch: tempfile::tempdir().unwrap(),
    };
    let mut ways = vec!["self-upgrade", "changeover run", "naive stop-and-start"];
    if tools.nginx.is_some() {
        ways.push("nginx -s reload");
    }
    let mut rows = Vec::new();
    for way in ways {
        for keep_alive in [true, false] {
            rows.push(measure(way, keep_alive, &tools, &o).await);
        }
    }
    let command = format!(
        "cargo bench -p changeover-tests --bench restarts -- --restarts {} --connections {}",
        o.restarts, o.connections
    );
    let date = String::from_utf8(
        std::process::Command::new("date")
            .arg("-u")
            .arg("+%Y-%m-%d")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let doc = format!(
        "# Benchmarks\n\nGenerated by `{command}` on {date} on {machine}.\n\n## Restarts under load\n\n{restarts} restarts each, {c} connections of load (`changeover-load`, closed loop), 200 answered requests between two restarts. *handover*: self-upgrade, SIGHUP until the old generation exited; `changeover run`, the `changeover reload --wait` command; naive, SIGTERM until the new process is ready; nginx, `nginx -s reload` until every old worker exited. *supervisor peak RSS*: VmHWM of `changeover run` (of the nginx master for nginx).\n\n{table}\nWhat fails: a naive restart refuses connections while nothing listens; nginx closes idle keep-alive connections of its old workers while clients are sending into them. changeover's two ways share one listening socket across generations and drain keep-alive connections with `Connection: close` and a lame-duck window.\n",
        date = date.trim(),
        machine = machine(),
        restarts = o.restarts,
        c = o.connections,
        table = table(&rows),
    );
    println!("{doc}");
    if o.write {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/benchmarks.md");
        // Other benchmarks keep their own sections in the same page.
        let others = std::fs::read_to_string(&path)
            .map(|old| other_sections(&old))
            .unwrap_or_default();
        std::fs::write(&path, doc + &others).unwrap();
        eprintln!("wrote {}", path.display());
    }
}

/// The `## ` sections of the page that this benchmark does not write,
/// each after a blank line.
fn other_sections(page: &str) -> String {
    let mut sections: Vec<String> = Vec::new();
    let mut keep = false;
    for line in page.split_inclusive('\n') {
        if let Some(heading) = line.strip_prefix("## ") {
            keep = heading.trim() != "Restarts under load";
            if keep {
                sections.push(String::new());
            }
        }
        if keep {
            sections
                .last_mut()
                .expect("pushed at its heading")
                .push_str(line);
        }
    }
    sections
        .iter()
        .map(|s| format!("\n{}\n", s.trim_end()))
        .collect()
}
