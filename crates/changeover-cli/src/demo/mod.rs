//! `changeover demo`: restart a server many ways under load and count what failed.
//!
//! The demo server is this same binary (`changeover demo-server`), so it runs
//! from a fresh clone with nothing else built. The demo plays the part of
//! systemd (it hands each server a `NOTIFY_SOCKET` and waits for `READY=1`
//! and `MAINPID=` instead of sleeping) and of the load balancer (the load
//! driver, counting every failed request).
//!
//! Scenarios, each under keep-alive load:
//! 1. self-upgrade: SIGHUP to the server, N times;
//! 2. supervisor reload: `changeover reload --wait` of a `changeover run`, N times;
//! 3. a Kubernetes-style stop: SIGTERM with a stop delay, while the "load
//!    balancer" goes on sending for a moment before it removes the endpoint;
//! 4. with `--naive`: the same restarts done as stop-and-start.

mod server;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use changeover::notify::{NotifyReceiver, Report as Notification};
use changeover_load::{Config, LoadHandle, Report, Target};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

pub(crate) use server::{Args as ServerArgs, main as server_main};

/// Options of `changeover demo`.
#[derive(clap::Args, Debug)]
#[command(
    about = "Restart a demo server many ways under load and count failed requests",
    after_help = "Runs self-upgrades (SIGHUP), supervisor reloads (changeover run + changeover reload) and a Kubernetes-style stop with a stop delay, each under keep-alive load, and prints what failed. Exit status 0 when no request failed, 1 when some did (the --naive row does not count), 2 when the demo could not run."
)]
pub(crate) struct Args {
    /// Restarts per scenario.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    restarts: u32,
    /// Concurrent keep-alive connections of the load.
    #[arg(short = 'c', long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    connections: u32,
    /// Also run the restarts as a plain stop-and-start, to compare.
    #[arg(long)]
    naive: bool,
}

const DEADLINE: Duration = Duration::from_secs(30);
const STEADY: Duration = Duration::from_secs(2);

/// One line of the result table.
struct Row {
    scenario: &'static str,
    restarts: String,
    requests: u64,
    failed: u64,
    p99_steady: Option<Duration>,
    p99_restarts: Duration,
    counts: bool,
}

pub(crate) fn main(args: Args) -> ExitCode {
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("changeover demo: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(run(&args)) {
        Ok(rows) => {
            print_table(&rows);
            let failed: u64 = rows.iter().filter(|r| r.counts).map(|r| r.failed).sum();
            if failed == 0 {
                println!("\nno request failed.");
                ExitCode::SUCCESS
            } else {
                println!("\n{failed} requests failed.");
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("changeover demo: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: &Args) -> Result<Vec<Row>, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let dir = Scratch::new()?;
    let mut rows = Vec::new();
    rows.push(self_upgrade(&exe, args).await?);
    rows.push(supervisor_reload(&exe, &dir.0, args).await?);
    rows.push(kubernetes_stop(&exe, args).await?);
    if args.naive {
        rows.push(naive_restart(&exe, args).await?);
    }
    Ok(rows)
}

/// A scratch directory, removed when the demo ends.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch, String> {
        let dir = std::env::temp_dir().join(format!("changeover-demo-{}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            eprintln!(
                "changeover demo: could not remove {}: {e}",
                self.0.display()
            );
        }
    }
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port on 127.0.0.1: {e}"))
}

fn progress(line: &str) {
    eprintln!("  {line}");
}

/// A server started by the demo, in a process group of its own that its
/// successors inherit: whatever is left of the group is killed when this is
/// dropped, so a scenario that fails half-way leaves no process behind.
struct Started {
    child: Child,
    group: Pid,
}

impl Started {
    fn pid(&self) -> Result<u32, String> {
        self.child
            .id()
            .ok_or_else(|| "the demo server exited on its own".to_owned())
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        // ESRCH: the whole group is gone already, which is the goal.
        if let Err(e) = nix::sys::signal::killpg(self.group, Signal::SIGKILL) {
            if e != nix::errno::Errno::ESRCH {
                eprintln!(
                    "changeover demo: could not clean up process group {}: {e}",
                    self.group
                );
            }
        }
    }
}

/// Starts `exe ARGS` with `NOTIFY_SOCKET` pointing at `rx`, quiet.
fn start(exe: &Path, args: &[OsString], rx: &NotifyReceiver) -> Result<Started, String> {
    let child = Command::new(exe)
        .process_group(0)
        .args(args)
        .env("NOTIFY_SOCKET", rx.addr().to_env_value())
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_PID")
        .env_remove("LISTEN_FDNAMES")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    let pid = child.id().ok_or("the demo server exited at once")?;
    Ok(Started {
        child,
        group: Pid::from_raw(pid as i32),
    })
}

/// Starts `exe ARGS` and waits for its `READY=1`; returns it and its pid.
async fn start_ready(
    exe: &Path,
    args: &[OsString],
    rx: &NotifyReceiver,
) -> Result<(Started, u32), String> {
    let started = start(exe, args, rx)?;
    let pid = started.pid()?;
    notification(rx, pid, Notification::is_ready).await?;
    Ok((started, pid))
}

/// `demo-server` on 127.0.0.1:`port`, with `extra` flags.
fn demo_server(port: u16, extra: &[&str]) -> Vec<OsString> {
    let mut argv: Vec<OsString> = vec![
        "demo-server".into(),
        "--listen".into(),
        format!("127.0.0.1:{port}").into(),
    ];
    argv.extend(extra.iter().map(OsString::from));
    argv
}

/// Waits for a notification from `pid` that satisfies `want`.
async fn notification(
    rx: &NotifyReceiver,
    pid: u32,
    want: impl Fn(&Notification) -> bool,
) -> Result<Notification, String> {
    let wait = async {
        loop {
            match rx.recv().await {
                Ok(Ok(r)) if r.pid == Some(pid) && want(&r) => return Ok(r),
                Ok(_) => continue,
                Err(e) => return Err(format!("notify socket: {e}")),
            }
        }
    };
    tokio::time::timeout(DEADLINE, wait)
        .await
        .map_err(|_| format!("process {pid} did not report within {DEADLINE:?}"))?
}

fn send(pid: u32, sig: Signal) -> Result<(), String> {
    kill(Pid::from_raw(pid as i32), sig).map_err(|e| format!("kill -{sig} {pid}: {e}"))
}

/// Waits for any process (not only a child of ours) to exit, through a pidfd.
async fn gone(pid: u32) -> Result<(), String> {
    use std::os::fd::{FromRawFd, OwnedFd};
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { nix::libc::syscall(nix::libc::SYS_pidfd_open, pid as nix::libc::pid_t, 0) };
    if fd < 0 {
        // ESRCH: it is gone already.
        return Ok(());
    }
    // SAFETY: a fresh fd returned by pidfd_open, owned here from now on.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    // SAFETY: the pidfd stays owned by the AsyncFd for its whole life.
    let afd = unsafe { tokio::io::unix::AsyncFd::register(fd) }
        .map_err(|e| format!("cannot watch process {pid}: {e}"))?;
    tokio::time::timeout(DEADLINE, afd.readable())
        .await
        .map_err(|_| format!("process {pid} did not exit within {DEADLINE:?}"))?
        .map(drop)
        .map_err(|e| format!("cannot watch process {pid}: {e}"))
}

fn load(port: u16, args: &Args, duration: Duration) -> Result<LoadHandle, String> {
    let target = Target::parse(&format!("http://127.0.0.1:{port}/")).map_err(|e| e.to_string())?;
    changeover_load::start(Config {
        connections: args.connections as usize,
        duration: Some(duration),
        ..Config::new(target)
    })
    .map_err(|e| e.to_string())
}

/// p99 latency of an undisturbed run.
async fn steady_p99(port: u16, args: &Args) -> Result<Duration, String> {
    let report = load(port, args, STEADY)?.finished().await;
    Ok(report.latency.p99())
}

/// Load running through a series of restarts.
struct Driven(LoadHandle);

impl Driven {
    async fn start(port: u16, args: &Args) -> Result<Driven, String> {
        let driven = Driven(load(port, args, Duration::from_secs(600))?);
        driven.more().await?;
        Ok(driven)
    }

    /// Waits until 200 more requests were answered: the server serves.
    async fn more(&self) -> Result<(), String> {
        let target = self.0.snapshot().ok + 200;
        self.0
            .wait_for_ok(target, DEADLINE)
            .await
            .map(drop)
            .map_err(|e| format!("the load stalled: {e:?}"))
    }

    async fn stop(self) -> Report {
        self.0.stop().await
    }
}

async fn self_upgrade(exe: &Path, args: &Args) -> Result<Row, String> {
    eprintln!(
        "self-upgrade: SIGHUP to the server, {} times",
        args.restarts
    );
    let rx = NotifyReceiver::bind_unique("demo").map_err(|e| e.to_string())?;
    let port = free_port()?;
    let (child, mut live) = start_ready(exe, &demo_server(port, &[]), &rx).await?;
    let p99_steady = steady_p99(port, args).await?;
    let driven = Driven::start(port, args).await?;
    for i in 1..=args.restarts {
        send(live, Signal::SIGHUP)?;
        // The old generation names its successor once the successor is ready.
        let handover = notification(&rx, live, |r| r.get("MAINPID").is_some()).await?;
        let next: u32 = handover
            .get("MAINPID")
            .and_then(|p| p.parse().ok())
            .ok_or("MAINPID= without a pid")?;
        gone(live).await?;
        progress(&format!(
            "upgrade {i}/{}: pid {live} -> {next}",
            args.restarts
        ));
        live = next;
        driven.more().await?;
    }
    let report = driven.stop().await;
    send(live, Signal::SIGTERM)?;
    gone(live).await?;
    drop(child);
    Ok(row(
        "self-upgrade (SIGHUP)",
        args,
        &report,
        Some(p99_steady),
    ))
}

fn row(scenario: &'static str, args: &Args, report: &Report, p99_steady: Option<Duration>) -> Row {
    Row {
        scenario,
        restarts: args.restarts.to_string(),
        requests: report.requests,
        failed: report.failed(),
        p99_steady,
        p99_restarts: report.latency.p99(),
        counts: true,
    }
}

async fn supervisor_reload(exe: &Path, dir: &Path, args: &Args) -> Result<Row, String> {
    eprintln!(
        "supervisor: changeover run, then changeover reload --wait, {} times",
        args.restarts
    );
    let rx = NotifyReceiver::bind_unique("demo").map_err(|e| e.to_string())?;
    let port = free_port()?;
    let control = dir.join("control.sock");
    let argv: Vec<OsString> = vec![
        "run".into(),
        "--listen".into(),
        format!("127.0.0.1:{port}").into(),
        "--control".into(),
        control.clone().into(),
        "--".into(),
        exe.into(),
        "demo-server".into(),
    ];
    let (mut supervisor, pid) = start_ready(exe, &argv, &rx).await?;
    // Keep reading what the supervisor reports on every reload.
    let drain = tokio::spawn(async move { while rx.recv().await.is_ok() {} });
    let p99_steady = steady_p99(port, args).await?;
    let driven = Driven::start(port, args).await?;
    for i in 1..=args.restarts {
        let out = Command::new(exe)
            .arg("reload")
            .arg("--wait")
            .arg("--control")
            .arg(&control)
            .output()
            .await
            .map_err(|e| format!("cannot run changeover reload: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "changeover reload failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        progress(&format!(
            "reload {i}/{}: {}",
            args.restarts,
            String::from_utf8_lossy(&out.stdout).trim()
        ));
        driven.more().await?;
    }
    let report = driven.stop().await;
    send(pid, Signal::SIGTERM)?;
    tokio::time::timeout(DEADLINE, supervisor.child.wait())
        .await
        .map_err(|_| "changeover run did not stop".to_owned())?
        .map_err(|e| e.to_string())?;
    drain.abort();
    Ok(row("supervisor reload", args, &report, Some(p99_steady)))
}

/// The stop delay of the Kubernetes scenario, and how long the "load
/// balancer" goes on routing to the pod after SIGTERM (kube-proxy takes
/// about a second).
const STOP_DELAY: Duration = Duration::from_secs(2);
const ENDPOINT_LAG: Duration = Duration::from_secs(1);

async fn kubernetes_stop(exe: &Path, args: &Args) -> Result<Row, String> {
    eprintln!(
        "kubernetes stop: SIGTERM with a {}s stop delay; traffic goes on for {}s",
        STOP_DELAY.as_secs(),
        ENDPOINT_LAG.as_secs()
    );
    let rx = NotifyReceiver::bind_unique("demo").map_err(|e| e.to_string())?;
    let port = free_port()?;
    let delay = format!("{}s", STOP_DELAY.as_secs());
    let argv = demo_server(port, &["--stop-delay", &delay]);
    let (mut child, pid) = start_ready(exe, &argv, &rx).await?;
    let driven = Driven::start(port, args).await?;
    let sigterm = Instant::now();
    send(pid, Signal::SIGTERM)?;
    // The endpoint is still in rotation for a while: that lag is the
    // scenario, not a wait for something to settle.
    tokio::time::sleep(ENDPOINT_LAG).await;
    let report = driven.stop().await;
    let status = tokio::time::timeout(DEADLINE, child.child.wait())
        .await
        .map_err(|_| "the demo server did not stop".to_owned())?
        .map_err(|e| e.to_string())?;
    progress(&format!(
        "stopped {:.1}s after SIGTERM, {}",
        sigterm.elapsed().as_secs_f64(),
        changeover::describe_exit(status)
    ));
    let mut row = row("kubernetes stop (2s delay)", args, &report, None);
    row.restarts = "1 stop".into();
    if !status.success() {
        return Err(format!(
            "the demo server ended with {}",
            changeover::describe_exit(status)
        ));
    }
    Ok(row)
}

async fn naive_restart(exe: &Path, args: &Args) -> Result<Row, String> {
    eprintln!(
        "naive: stop the server, start a new one, {} times",
        args.restarts
    );
    let rx = NotifyReceiver::bind_unique("demo").map_err(|e| e.to_string())?;
    let port = free_port()?;
    let argv = demo_server(port, &[]);
    let (mut child, _) = start_ready(exe, &argv, &rx).await?;
    let p99_steady = steady_p99(port, args).await?;
    let driven = Driven::start(port, args).await?;
    for i in 1..=args.restarts {
        let old = child.pid()?;
        send(old, Signal::SIGTERM)?;
        child.child.wait().await.map_err(|e| e.to_string())?;
        let (next, new) = start_ready(exe, &argv, &rx).await?;
        child = next;
        progress(&format!(
            "restart {i}/{}: pid {old} -> {new}",
            args.restarts
        ));
        driven.more().await?;
    }
    let report = driven.stop().await;
    send(child.pid()?, Signal::SIGTERM)?;
    child.child.wait().await.map_err(|e| e.to_string())?;
    let mut row = row("naive stop-and-start", args, &report, Some(p99_steady));
    row.counts = false;
    Ok(row)
}

fn print_table(rows: &[Row]) {
    let ms = |d: Duration| format!("{:.1}ms", d.as_secs_f64() * 1000.0);
    println!(
        "
{:<28} {:>8} {:>10} {:>8} {:>12} {:>16}",
        "scenario", "restarts", "requests", "failed", "p99 steady", "p99 restarting"
    );
    for r in rows {
        println!(
            "{:<28} {:>8} {:>10} {:>8} {:>12} {:>16}",
            r.scenario,
            r.restarts,
            r.requests,
            r.failed,
            r.p99_steady.map(ms).unwrap_or_else(|| "-".into()),
            ms(r.p99_restarts),
        );
    }
}
