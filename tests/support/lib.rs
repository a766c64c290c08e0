//! Test support: start example servers as real processes, read their logs as
//! events, signal them, and wait for them — every wait with a deadline.
//!
//! A server's stderr is read line by line as it comes; tests wait for a log
//! line (`ready pid=…`) rather than sleeping. Processes that are not our
//! children (the successors of an upgrade) are waited for through a pidfd,
//! which becomes readable when the process exits.

pub mod bench;
pub mod http1;
pub mod http2;
pub mod pooled;
mod script;

pub use script::{Script, clients_dir, python_imports, python_packages};

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::broadcast;

/// A TCP port on 127.0.0.1 that nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// Builds release binaries for a benchmark (`cargo bench` builds only the
/// benchmark itself); a no-op when they are up to date.
pub fn build_release(args: &[&str]) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["build", "--release"])
        .args(args)
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cargo build --release {args:?} failed");
}

/// The path of a built example (cargo builds them for this package's tests).
pub fn example_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test> -> target/<profile>/examples/<name>
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let bin = dir.join("examples").join(name);
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p changeover-tests --examples` first (or test the whole workspace)",
        bin.display()
    );
    bin
}

/// `changeover run --listen 127.0.0.1:PORT --control CONTROL -- CHILD`: the
/// supervisor in front of one child, reloadable through its control socket.
pub fn changeover_run(changeover: &Path, port: u16, control: &Path, child: &Path) -> Command {
    let mut cmd = Command::new(changeover);
    cmd.arg("run")
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--control")
        .arg(control)
        .arg("--")
        .arg(child);
    cmd
}

/// A server process started by a test, with its log.
pub struct Server {
    child: Child,
    /// Every generation seen ready; whichever is still alive is killed on drop.
    generations: Vec<u32>,
    log: Arc<Mutex<Vec<String>>>,
    lines: broadcast::Receiver<String>,
}

impl Server {
    /// Starts `cmd` with stderr captured (stdout is inherited).
    pub fn start(mut cmd: Command) -> Server {
        cmd.stderr(Stdio::piped()).kill_on_drop(true);
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info");
        }
        Server::from_child(cmd.spawn().expect("start server"))
    }

    /// Wraps a child started some other way, with its stderr piped.
    pub fn from_child(mut child: Child) -> Server {
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, lines) = broadcast::channel(100_000);
        let log2 = log.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                log2.lock().unwrap().push(line.clone());
                // Nobody listening is fine: the line is in the log.
                let _unheard = tx.send(line);
            }
        });
        Server {
            child,
            generations: Vec::new(),
            log,
            lines,
        }
    }

    /// The pid of the process that was started.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// Everything it (and its successors, which share its stderr) logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Waits for the next log line containing `needle`; returns it.
    pub async fn wait_for_line(&mut self, needle: &str, deadline: Duration) -> String {
        let found = tokio::time::timeout(deadline, async {
            loop {
                match self.lines.recv().await {
                    Ok(line) if line.contains(needle) => return Some(line),
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .await;
        match found {
            Ok(Some(line)) => line,
            Ok(None) => panic!("log ended without {needle:?}; log:\n{}", self.log()),
            Err(_) => panic!("no {needle:?} within {deadline:?}; log:\n{}", self.log()),
        }
    }

    /// Waits for a `ready pid=N` line and returns N.
    pub async fn wait_ready(&mut self, deadline: Duration) -> u32 {
        let line = self.wait_for_line(" ready pid=", deadline).await;
        let pid = ready_pid(&line).unwrap_or_else(|| panic!("no pid in {line:?}"));
        self.generations.push(pid);
        pid
    }

    /// Sends a signal to the process that was started.
    pub fn signal(&self, sig: Signal) {
        signal(self.pid(), sig);
    }

    /// Whether the process that was started has exited, without waiting.
    pub fn try_wait(&mut self) -> std::io::Result<Option<ExitStatus>> {
        self.child.try_wait()
    }

    /// Waits for the process that was started to exit.
    pub async fn wait_exit(&mut self, deadline: Duration) -> ExitStatus {
        match tokio::time::timeout(deadline, self.child.wait()).await {
            Ok(status) => status.expect("wait"),
            Err(_) => panic!("still running after {deadline:?}; log:\n{}", self.log()),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Children started without kill_on_drop, and successors, which are
        // not our children at all, are ended here after a failed test.
        // An error means it has exited already: nothing left to end.
        self.child.start_kill().ok();
        for &pid in &self.generations {
            kill_if_alive(pid);
        }
    }
}

/// The pid in a `ready pid=N` log line.
pub fn ready_pid(line: &str) -> Option<u32> {
    let rest = &line[line.find("pid=")? + 4..];
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Sends `sig` to `pid`, which the test started (directly or as a successor).
pub fn signal(pid: u32, sig: Signal) {
    kill(Pid::from_raw(pid as i32), sig).unwrap_or_else(|e| panic!("kill -{sig} {pid}: {e}"));
}

/// Whether `pid` is a live process (not a zombie).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|s| s.split_whitespace().next());
            state != Some("Z")
        }
        Err(_) => false,
    }
}

/// Waits for any process (not only a child) to exit, through a pidfd;
/// whether it did within `deadline`.
pub async fn wait_gone(pid: u32, deadline: Duration) -> bool {
    match tokio::time::timeout(deadline, changeover::process::wait_for_exit(pid)).await {
        Ok(Ok(())) => true,
        // No pidfd (an old kernel): whether it is gone now.
        Ok(Err(_)) => !alive(pid),
        Err(_) => false,
    }
}

/// Kills `pid` if it is still alive (clean-up after a failed test).
pub fn kill_if_alive(pid: u32) {
    if alive(pid) {
        // ESRCH: it exited between the check and the kill, which is the goal.
        let _gone_already = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
    }
}

/// Reads the fds a process has open: `(fd, target)` from `/proc/<pid>/fd`.
pub fn open_fds(pid: u32) -> Vec<(i32, String)> {
    let mut fds: Vec<(i32, String)> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read /proc/pid/fd")
        .filter_map(|e| {
            let e = e.ok()?;
            let fd = e.file_name().to_str()?.parse().ok()?;
            let target = std::fs::read_link(e.path()).ok()?;
            Some((fd, target.display().to_string()))
        })
        .collect();
    fds.sort();
    fds
}

/// How many TCP connections to local `port` process `pid` holds
/// established (its accepted, server-side sockets), from `/proc`.
pub fn established_connections(pid: u32, port: u16) -> usize {
    let inodes: std::collections::HashSet<u64> = open_fds(pid)
        .into_iter()
        .filter_map(|(_, target)| {
            target
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect();
    let mut n = 0;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // local_address rem_address st ... inode (field 9)
            let (Some(local), Some(state), Some(inode)) = (f.get(1), f.get(3), f.get(9)) else {
                continue;
            };
            let local_port = local
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            let established = *state == "01";
            if established
                && local_port == Some(port)
                && inode.parse().is_ok_and(|i: u64| inodes.contains(&i))
            {
                n += 1;
            }
        }
    }
    n
}

/// Waits (polling /proc, with a deadline) until `pid` holds exactly `n`
/// established connections on `port`; false at the deadline.
pub async fn wait_connections(pid: u32, port: u16, n: usize, deadline: Duration) -> bool {
    let end = std::time::Instant::now() + deadline;
    loop {
        if established_connections(pid, port) == n {
            return true;
        }
        if std::time::Instant::now() > end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits, with the deadline, until `port` on 127.0.0.1 can be bound again
/// (no listening socket holds it any more).
pub async fn wait_bindable(port: u16, deadline: Duration) -> bool {
    let end = std::time::Instant::now() + deadline;
    loop {
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return true;
        }
        if std::time::Instant::now() > end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Starts `n` requests for `/slow?ms=MS` on connections of their own and
/// returns once each has been sent; each task ends with the status line's
/// code, or an error when the connection failed before a complete answer.
pub async fn slow_requests(
    port: u16,
    n: usize,
    ms: u64,
) -> Vec<tokio::task::JoinHandle<std::io::Result<u16>>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tasks = Vec::new();
    for _ in 0..n {
        let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect for a slow request");
        conn.write_all(
            format!("GET /slow?ms={ms} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .expect("send a slow request");
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            conn.read_to_end(&mut out).await?;
            let text = String::from_utf8_lossy(&out);
            if !text.contains("slow done") {
                return Err(std::io::Error::other(format!(
                    "incomplete answer: {text:?}"
                )));
            }
            text.get(9..12)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| std::io::Error::other("no status"))
        }));
    }
    tasks
}

/// Load on 127.0.0.1:`port` from `connections` connections, keep-alive or
/// one request per connection, counting every failed request. It stops when
/// the test stops it, or after five minutes at the latest (a safety bound:
/// every test stops its load long before).
pub fn load(port: u16, connections: usize, keep_alive: bool) -> changeover_load::LoadHandle {
    load_at(
        changeover_load::Target::tcp(([127, 0, 0, 1], port).into()),
        connections,
        keep_alive,
    )
}

/// As [`load`], on any target (a Unix socket too).
pub fn load_at(
    target: changeover_load::Target,
    connections: usize,
    keep_alive: bool,
) -> changeover_load::LoadHandle {
    changeover_load::start(changeover_load::Config {
        connections,
        keep_alive,
        duration: Some(Duration::from_secs(300)),
        ..changeover_load::Config::new(target)
    })
    .expect("a valid load configuration")
}

/// Waits, with the deadline, for `n` more successful requests than so far
/// (the server serves on).
pub async fn more_ok(load: &changeover_load::LoadHandle, n: u64, deadline: Duration) {
    let ok = load.snapshot().ok;
    load.wait_for_ok(ok + n, deadline)
        .await
        .unwrap_or_else(|e| panic!("load stalled: {e:?}"));
}

/// A Python child that sends READY=1 to `NOTIFY_SOCKET` when it gets SIGUSR2, says so on
/// stderr, then waits (the fault table's "SIGKILL right after READY=1").
pub const READY_ON_USR2: &str = r#"
import os, signal, socket, sys
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
print("ready-on-usr2: waiting", file=sys.stderr, flush=True)
signal.sigwait({signal.SIGUSR2})
addr = os.environ["NOTIFY_SOCKET"]
if addr.startswith("@"):
    addr = "\0" + addr[1:]
with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
    s.sendto(b"READY=1", addr)
print("ready-on-usr2: sent READY=1", file=sys.stderr, flush=True)
while True:
    signal.pause()
"#;
