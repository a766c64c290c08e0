//! What the benchmarks under `bench/` share: their command line, the release
//! binaries they build, nginx (the reference they compare with), valgrind,
//! and a bounded load that must fail nothing.
//!
//! Benchmarks print figures and are not run by CI; their helpers live here
//! so that each `bench/*.rs` holds only what it measures.

use std::path::{Path, PathBuf};
use std::time::Duration;

use changeover_load::{Config, Report, Target};
use tokio::process::Command;

use crate::Server;

/// A benchmark's command line (`cargo bench … -- --flag value`), read one
/// flag at a time. Bad input ends the benchmark with status 2 and one line
/// that names the flag, the problem and where the options are documented.
///
/// ```no_run
/// let mut reloads = 1000;
/// let mut args = changeover_tests::bench::Args::new("reloads");
/// while let Some(flag) = args.next_flag() {
///     match flag.as_str() {
///         "--reloads" => reloads = args.number(&flag),
///         _ => args.unknown(&flag),
///     }
/// }
/// ```
pub struct Args {
    bench: &'static str,
    args: std::iter::Skip<std::env::Args>,
}

impl Args {
    /// The arguments of the benchmark `bench/<bench>.rs`.
    pub fn new(bench: &'static str) -> Args {
        Args {
            bench,
            args: std::env::args().skip(1),
        }
    }

    /// The next flag; `--bench`, which `cargo bench` passes to every
    /// benchmark, is skipped. `--help` says where the options are described
    /// and ends the benchmark (status 0) before it measures anything.
    pub fn next_flag(&mut self) -> Option<String> {
        let flag = self.args.by_ref().find(|a| a != "--bench")?;
        if flag == "--help" || flag == "-h" {
            println!(
                "the {0} benchmark's options and what it prints are in the header of bench/{0}.rs",
                self.bench
            );
            std::process::exit(0);
        }
        Some(flag)
    }

    /// The value after `flag`.
    pub fn value(&mut self, flag: &str) -> String {
        self.args
            .next()
            .unwrap_or_else(|| self.refuse(&format!("{flag} needs a value")))
    }

    /// The whole number after `flag`.
    pub fn number(&mut self, flag: &str) -> usize {
        let value = self.value(flag);
        value
            .parse()
            .unwrap_or_else(|_| self.refuse(&format!("{flag} needs a whole number, not {value:?}")))
    }

    /// Refuses an argument the benchmark does not know.
    pub fn unknown(&self, flag: &str) -> ! {
        self.refuse(&format!("unknown argument {flag:?}"))
    }

    /// Ends the benchmark: `problem`, and where its options are described.
    pub fn refuse(&self, problem: &str) -> ! {
        let bench = self.bench;
        eprintln!("{bench} bench: {problem}; see the header of bench/{bench}.rs for its options");
        std::process::exit(2);
    }
}

/// Builds release binaries (`cargo build --release ARGS`; `cargo bench`
/// builds only the benchmark itself) and returns the release directory:
/// `changeover` is in it, the examples in its `examples/`.
pub fn release(args: &[&str]) -> PathBuf {
    crate::build_release(args);
    // target/release/deps/<bench> -> target/release
    let exe = std::env::current_exe().expect("the benchmark's path");
    exe.parent()
        .and_then(Path::parent)
        .expect("a target directory")
        .to_owned()
}

/// The release builds of `changeover` and `hello`, built first.
pub fn changeover_and_hello() -> (PathBuf, PathBuf) {
    let release = release(&[
        "-p",
        "changeover-cli",
        "-p",
        "changeover-tests",
        "--bins",
        "--examples",
    ]);
    (
        release.join("changeover"),
        release.join("examples").join("hello"),
    )
}

/// nginx, installed from the Debian package when it is missing; `None` when
/// that failed too (the benchmark then leaves its rows out).
pub fn nginx() -> Option<PathBuf> {
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

/// Ends the benchmark `bench` with status 2 unless valgrind is installed.
pub fn require_valgrind(bench: &str) {
    let found = std::process::Command::new("valgrind")
        .arg("--version")
        .output();
    if !found.is_ok_and(|out| out.status.success()) {
        eprintln!(
            "{bench} bench: valgrind is not installed; install it (apt-get install valgrind)"
        );
        std::process::exit(2);
    }
}

/// Where callgrind's files go: `keep` (`--keep DIR`, created), or a
/// temporary directory removed when the returned guard is dropped.
pub fn callgrind_dir(keep: Option<&Path>) -> (Option<tempfile::TempDir>, PathBuf) {
    match keep {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .unwrap_or_else(|e| panic!("create --keep {}: {e}", dir.display()));
            (None, dir.to_owned())
        }
        None => {
            let tmp = tempfile::tempdir().expect("a temporary directory");
            let dir = tmp.path().to_owned();
            (Some(tmp), dir)
        }
    }
}

/// The instructions counted in a callgrind output file (its `summary:` or
/// `totals:` line).
pub fn callgrind_total(file: &Path) -> u64 {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    text.lines()
        .find_map(|l| l.strip_prefix("summary: ").or(l.strip_prefix("totals: ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no summary line in {}", file.display()))
}

/// A built example server (`hello`, `plain`) started on 127.0.0.1:`port`,
/// logging only warnings and the library's lines; returns once it is ready.
pub async fn start_example(bin: &Path, port: u16, deadline: Duration) -> Server {
    let mut cmd = Command::new(bin);
    cmd.arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn,changeover=info");
    let mut server = Server::start(cmd);
    server.wait_ready(deadline).await;
    server
}

/// Keep-alive load on 127.0.0.1:`port` from `connections` connections for
/// `duration`; the report, once no request failed (a benchmark's figures
/// mean nothing otherwise).
pub async fn load_without_failure(port: u16, connections: usize, duration: Duration) -> Report {
    let report = changeover_load::start(Config {
        connections,
        duration: Some(duration),
        ..Config::new(Target::tcp(([127, 0, 0, 1], port).into()))
    })
    .expect("a valid load configuration")
    .finished()
    .await;
    assert_eq!(report.failed(), 0, "{}", report.summary());
    report
}
