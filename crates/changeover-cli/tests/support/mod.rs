//! Shared by the black-box tests of `changeover run`: where the binaries are, a supervisor
//! started in a fresh temporary directory with its own control socket, the CLI subcommands run
//! with a deadline, and clean-up of every child it started when a test fails.

#![allow(dead_code, unreachable_pub, unused_imports)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use changeover_supervisor::protocol::Status;
pub use changeover_tests::free_port;
use changeover_tests::{Server, kill_if_alive};
use tokio::process::Command;

/// Every wait in these tests ends by this deadline.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// The `changeover` binary under test.
pub fn changeover() -> &'static str {
    env!("CARGO_BIN_EXE_changeover")
}

/// A built example of the workspace (`hello`, `fdreport`).
pub fn example(name: &str) -> PathBuf {
    changeover_tests::example_bin(name)
}

/// A test fixture under `tests/fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A `changeover run` started by a test, with its own directory and control socket.
pub struct Supervisor {
    /// The process and its log (stderr, the children's included).
    pub server: Server,
    /// Its control socket.
    pub control: PathBuf,
    /// Its directory (removed on drop).
    pub dir: tempfile::TempDir,
    /// Children seen in `status`, killed on drop if still alive.
    seen: Vec<u32>,
    /// The supervisor's pid and start time, to know it is still the same process on drop.
    identity: (u32, Option<u64>),
}

/// A process's start time (in clock ticks since boot), which tells it from a later one that
/// reuses its pid.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 22; the fields after the command name start at field 3.
    stat.rsplit(')')
        .next()?
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()
}

impl Supervisor {
    /// Starts `changeover run ARGS -- COMMAND` (with `--control` in a fresh directory).
    pub fn start<S: AsRef<OsStr>>(args: &[&str], command: &[S]) -> Supervisor {
        let dir = tempfile::tempdir().expect("a temporary directory");
        Supervisor::start_in(dir, args, command, |_| {})
    }

    /// As [`Supervisor::start`], in `dir`, with a chance to adjust the command.
    pub fn start_in<S: AsRef<OsStr>>(
        dir: tempfile::TempDir,
        args: &[&str],
        command: &[S],
        adjust: impl FnOnce(&mut Command),
    ) -> Supervisor {
        let control = dir.path().join("control.sock");
        let mut cmd = Command::new(changeover());
        cmd.arg("run")
            .arg("--control")
            .arg(&control)
            .args(args)
            .arg("--")
            .args(command)
            .current_dir(dir.path())
            .env_remove("KUBERNETES_SERVICE_HOST");
        adjust(&mut cmd);
        let server = Server::start(cmd);
        let pid = server.pid();
        Supervisor {
            server,
            control,
            dir,
            seen: Vec::new(),
            identity: (pid, start_time(pid)),
        }
    }

    /// The supervisor's pid.
    pub fn pid(&self) -> u32 {
        self.identity.0
    }

    /// Waits for the log line saying a child is ready (the first, or the next, in order).
    pub async fn wait_child_ready(&mut self) {
        self.server.wait_for_line("child is ready", DEADLINE).await;
    }

    /// `changeover status --json`, parsed.
    pub async fn status(&mut self) -> Status {
        let out = cli(&[
            "status",
            "--json",
            "--control",
            &self.control.display().to_string(),
        ])
        .await;
        assert!(
            out.status.success(),
            "status failed: {}\nlog:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.server.log()
        );
        let status: Status = serde_json::from_slice(&out.stdout).expect("status JSON");
        for g in &status.generations {
            if !self.seen.contains(&g.pid) {
                self.seen.push(g.pid);
            }
        }
        status
    }

    /// The pid of the one generation that is ready.
    pub async fn ready_pid(&mut self) -> u32 {
        let status = self.status().await;
        let ready: Vec<u32> = status
            .generations
            .iter()
            .filter(|g| g.state == "ready")
            .map(|g| g.pid)
            .collect();
        assert_eq!(ready.len(), 1, "one ready generation expected: {status:?}");
        ready[0]
    }

    /// Runs a CLI subcommand against this supervisor's control socket.
    pub async fn ctl(&self, subcommand: &str, extra: &[&str]) -> Output {
        let control = self.control.display().to_string();
        let mut args = vec![subcommand, "--control", &control];
        args.extend_from_slice(extra);
        cli(&args).await
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        // After a failed test: children are in process groups of their own and would outlive
        // a killed supervisor. Each was started by this test's supervisor, which is still
        // alive here unless the test waited for its exit (its `Server` is dropped after this).
        let (pid, started) = self.identity;
        let same = started.is_some() && start_time(pid) == started;
        let current = same
            .then(|| std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok())
            .flatten()
            .unwrap_or_default();
        let current = current.split_whitespace().filter_map(|p| p.parse().ok());
        for pid in self.seen.iter().copied().chain(current) {
            kill_if_alive(pid);
        }
    }
}

/// Children of a supervisor a test started some other way than [`Supervisor::start`], killed
/// on drop if still alive (after a failed test; they lead process groups of their own and would
/// outlive a killed supervisor).
#[derive(Default)]
pub struct Children(Vec<u32>);

impl Children {
    /// Records every child that `status` on this control socket shows.
    pub async fn note(&mut self, control: &str) {
        let out = cli(&["status", "--json", "--control", control]).await;
        if let Ok(status) = serde_json::from_slice::<Status>(&out.stdout) {
            self.0.extend(status.generations.iter().map(|g| g.pid));
        }
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for &pid in &self.0 {
            kill_if_alive(pid);
        }
    }
}

/// Runs `changeover ARGS` to completion, within the deadline.
pub async fn cli(args: &[&str]) -> Output {
    let mut cmd = Command::new(changeover());
    cmd.args(args).kill_on_drop(true);
    match tokio::time::timeout(DEADLINE, cmd.output()).await {
        Ok(out) => out.expect("changeover runs"),
        Err(_) => panic!(
            "changeover {} did not finish within {DEADLINE:?}",
            args.join(" ")
        ),
    }
}

/// Standard output and error of a finished command, for messages.
pub fn show(out: &Output) -> String {
    format!(
        "status: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// One GET on a new connection: status code and body.
pub async fn get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    conn.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut out = String::new();
    tokio::time::timeout(DEADLINE, conn.read_to_string(&mut out))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    let code = out
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not HTTP: {out:?}")))?;
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((code, body))
}

/// The resident memory of a process, in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Writes an executable shell script.
pub fn script(path: &Path, body: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    // Deployed as tools do: written beside, renamed over the running one.
    std::fs::rename(&tmp, path).unwrap();
}
