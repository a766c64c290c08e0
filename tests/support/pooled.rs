//! Pooled real clients across restarts: `tests/clients/pooled.py` (Python
//! `requests`, no retries, one pooled keep-alive connection per thread,
//! idle gaps uniform in 0–2 s) against `hello` while it is restarted, for
//! the pooled-client test and the `pooled` benchmark.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use tokio::process::Command;

use crate::{Script, Server, changeover_run, example_bin, free_port, signal, wait_gone};

const DEADLINE: Duration = Duration::from_secs(60);

/// How `hello` is restarted.
#[derive(Debug, Clone)]
pub enum Restart {
    /// SIGHUP: the library's self-upgrade; each time until the successor is
    /// ready and the old generation is gone.
    Upgrade,
    /// `changeover reload --wait` of `changeover run` (this binary): a new
    /// child on the same socket, the old one stopped (no successor of its
    /// own, so a plain stop); each time until the new child is ready.
    Reload {
        /// The `changeover` binary.
        changeover: PathBuf,
    },
}

/// What one run counted.
#[derive(Debug, Clone)]
pub struct Counts {
    /// Requests sent.
    pub requests: u64,
    /// Answered with 200.
    pub ok: u64,
    /// Raised, or answered otherwise.
    pub failed: u64,
    /// The first failure messages.
    pub failures: Vec<String>,
    /// Whether a bound of the client (not the end of the restarts) ended it.
    pub bounded: bool,
    /// How long the restarts took.
    pub took: Duration,
}

async fn wait_ok(client: &mut Script, at_least: u64) -> u64 {
    client.wait_progress_ok(at_least, DEADLINE).await
}

/// Runs `threads` pooled clients against `hello` across `restarts`
/// restarts, 10 answered requests between two; the counts, and the log of
/// the server (and its generations, or the supervisor and its children).
pub async fn across(restart: &Restart, restarts: usize, threads: usize) -> (Counts, String) {
    let port = free_port();
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let control = scratch.path().join("control.sock");
    let hello = example_bin("hello");
    let mut cmd = match restart {
        Restart::Upgrade => Command::new(&hello),
        Restart::Reload { changeover } => changeover_run(changeover, port, &control, &hello),
    };
    if let Restart::Upgrade = restart {
        cmd.arg("--listen").arg(format!("127.0.0.1:{port}"));
    }
    cmd.env("RUST_LOG", "warn,changeover=info");
    let mut server = Server::start(cmd);
    let mut live = server.wait_ready(DEADLINE).await;
    // Bounded well beyond what the restarts take (well under a second each).
    let max_seconds = 30 + 3 * restarts;
    let mut client = Script::python(
        "pooled.py",
        &[
            "--url".into(),
            format!("http://127.0.0.1:{port}/"),
            "--threads".into(),
            threads.to_string(),
            "--max-seconds".into(),
            max_seconds.to_string(),
        ],
    );
    let mut ok = wait_ok(&mut client, threads as u64).await;
    let started = Instant::now();
    for i in 0..restarts {
        match restart {
            Restart::Upgrade => {
                signal(live, Signal::SIGHUP);
                let next = server.wait_ready(DEADLINE).await;
                assert!(
                    wait_gone(live, DEADLINE).await,
                    "old generation {live} did not exit after upgrade {i}; log:\n{}",
                    server.log()
                );
                live = next;
            }
            Restart::Reload { changeover } => {
                let out = Command::new(changeover)
                    .args(["reload", "--wait", "--control"])
                    .arg(&control)
                    .output()
                    .await
                    .expect("run changeover reload");
                assert!(
                    out.status.success(),
                    "reload {i}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        ok = wait_ok(&mut client, ok + 10).await;
    }
    let took = started.elapsed();
    let result = client.finish(DEADLINE).await;
    match restart {
        Restart::Upgrade => {
            signal(live, Signal::SIGTERM);
            wait_gone(live, DEADLINE).await;
        }
        Restart::Reload { .. } => {
            server.signal(Signal::SIGTERM);
            server.wait_exit(DEADLINE).await;
        }
    }
    let r: serde_json::Value = serde_json::from_str(&result).expect("the client's JSON");
    let counts = Counts {
        requests: r["requests"].as_u64().expect("requests"),
        ok: r["ok"].as_u64().expect("ok"),
        failed: r["failed"].as_u64().expect("failed"),
        failures: r["failures"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| f.as_str().unwrap_or("?").to_owned())
            .collect(),
        bounded: r["bounded"] == true,
        took,
    };
    (counts, server.log())
}
