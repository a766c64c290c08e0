//! Client scripts in other languages (`tests/clients/`), run as children:
//! commands go to their stdin, their stdout is read line by line as events,
//! and every wait has a deadline.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

/// The folder of the client scripts.
pub fn clients_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("clients")
}

/// Whether `python3` can import `modules` (`"grpc, grpc_health.v1"`);
/// the error says what to install when it cannot.
pub fn python_imports(modules: &str, packages: &str) -> Result<(), String> {
    let out = std::process::Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .output()
        .map_err(|e| format!("cannot run python3: {e}; install Python 3 (.ci/run does)"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "python3 cannot import {modules}: {}; install them with `python3 -m pip install {packages}` (.ci/run does)",
            String::from_utf8_lossy(&out.stderr)
                .trim()
                .lines()
                .last()
                .unwrap_or("")
        ))
    }
}

/// Whether a test that needs the PyPI `packages` (importing `modules`) can
/// run. `.ci/run` installs them; only when pip cannot install packages on
/// this Python does it set `CHANGEOVER_NO_GRPCIO` (to pip's complaint), and
/// only then is the test skipped, loudly. Anywhere else a missing package
/// fails the test: a green run must not hide it.
pub fn python_packages(modules: &str, packages: &str) -> bool {
    match python_imports(modules, packages) {
        Ok(()) => true,
        Err(e) => match std::env::var("CHANGEOVER_NO_GRPCIO") {
            Ok(why) => {
                eprintln!("SKIPPED: {e}; .ci/run could not install it: {why}");
                false
            }
            Err(_) => panic!("{e}"),
        },
    }
}

/// A running client script.
pub struct Script {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<String>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Script {
    /// Starts `python3 tests/clients/<name> <args>`.
    pub fn python(name: &str, args: &[String]) -> Script {
        let mut cmd = Command::new("python3");
        cmd.arg("-u")
            .arg(clients_dir().join(name))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("start python3");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, lines) = mpsc::unbounded_channel();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let (log1, log2) = (log.clone(), log.clone());
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                log1.lock().unwrap().push(line.clone());
                // Nobody waiting is fine: the line is in the log.
                let _unheard = tx.send(line);
            }
        });
        tokio::spawn(async move {
            let mut reader = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                log2.lock().unwrap().push(format!("stderr: {line}"));
            }
        });
        Script {
            stdin: child.stdin.take(),
            child,
            lines,
            log,
        }
    }

    /// Everything it printed so far (stderr lines marked).
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Writes one command line to its stdin.
    pub async fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("write to the client script");
        stdin.flush().await.expect("flush to the client script");
    }

    /// Waits for the next stdout line that `pred` accepts; returns it.
    pub async fn wait_for(
        &mut self,
        mut pred: impl FnMut(&str) -> bool,
        deadline: Duration,
    ) -> String {
        let found = tokio::time::timeout(deadline, async {
            while let Some(line) = self.lines.recv().await {
                if pred(&line) {
                    return Some(line);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(line)) => line,
            Ok(None) => panic!(
                "client script ended without the line awaited; its output:\n{}",
                self.log()
            ),
            Err(_) => panic!(
                "client script: no line awaited within {deadline:?}; its output:\n{}",
                self.log()
            ),
        }
    }

    /// Waits for a `progress ok=N …` line (what `pooled.py` prints as it
    /// goes) with N at least `at_least`; returns N.
    pub async fn wait_progress_ok(&mut self, at_least: u64, deadline: Duration) -> u64 {
        let line = self
            .wait_for(
                |l| progress_ok(l).is_some_and(|ok| ok >= at_least),
                deadline,
            )
            .await;
        progress_ok(&line).expect("a progress line")
    }

    /// Closes its stdin (the signal to finish), waits for its `result …`
    /// line and its exit; returns what follows `result `.
    pub async fn finish(mut self, deadline: Duration) -> String {
        drop(self.stdin.take());
        let line = self.wait_for(|l| l.starts_with("result "), deadline).await;
        match tokio::time::timeout(deadline, self.child.wait()).await {
            Ok(Ok(status)) if status.success() => {}
            other => panic!(
                "client script ended with {other:?}; its output:\n{}",
                self.log()
            ),
        }
        line["result ".len()..].to_owned()
    }
}

/// The count of requests answered so far in a `progress ok=N …` line.
fn progress_ok(line: &str) -> Option<u64> {
    line.strip_prefix("progress ")?
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("ok="))?
        .parse()
        .ok()
}
