//! Disturbing the server on a schedule: [`During`] runs a shell command every so often while the
//! load runs and records each run as an [`Event`](crate::Event) carrying its [`CommandRun`].

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior, interval_at, timeout};

use crate::events::{CommandRun, CommandStatus, EventLog};
use crate::stop::StopSignals;

/// Bytes of standard output and of standard error kept from a run that did not succeed.
const OUTPUT_TAIL: usize = 1024;

/// After a run exits, how long its output may still take to reach end of file. A command that
/// leaves a background process holding its output open is not waited for beyond this.
const OUTPUT_WAIT: Duration = Duration::from_millis(200);

/// After killing a run's process group, how long to wait for `sh` to be reaped.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// A shell command run on a schedule while the load runs ([`Config::during`](crate::Config)):
/// `kill -HUP $(cat app.pid)`, `nginx -s reload`, `kubectl rollout restart ...`.
///
/// # Schedule
///
/// The first run starts [`During::every`] after the load starts (so the report has a steady
/// state to compare with), then one every `every`, measured from start to start, the last one
/// before the load's [`Config::duration`](crate::Config) is over. Runs are never
/// stacked: when a run is due while the previous one is still going, that slot is skipped and
/// counted in [`DuringSummary::skipped`]; the next run starts at the first slot after the
/// previous one ended. Each run is recorded as an [`Event`](crate::Event) at its start, so the
/// failures it causes show after it in the [`Report`](crate::Report) timeline.
///
/// # The end of the load
///
/// When the load stops issuing requests, no new run starts. A run still going gets up to
/// [`During::grace`] to finish; after that (or at once on
/// [`Control::stop_now`](crate::Control::stop_now)) its process group is killed and the run is
/// recorded as [`CommandStatus::Killed`].
///
/// # Processes
///
/// Each run is `sh -c COMMAND` in a process group of its own (so a Ctrl-C at the terminal
/// reaches the load driver, which then lets the command finish, and not the command halfway),
/// with standard input from `/dev/null` and standard output and error captured: the last KiB
/// of each is kept in [`CommandRun::output`] when the run did not succeed.
///
/// ```
/// use std::time::Duration;
///
/// use changeover_load::During;
///
/// let during = During::new("kill -HUP $(cat /run/app.pid)", Duration::from_secs(2));
/// assert_eq!(during.grace, During::DEFAULT_GRACE);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct During {
    /// The command, run through `sh -c`.
    pub command: String,
    /// Time between the starts of two runs; the first run starts this long after the load.
    pub every: Duration,
    /// When the load ends, how long a run still going may take before it is killed.
    pub grace: Duration,
}

impl During {
    /// Default [`During::grace`]: 10 s.
    pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);
    /// Shortest accepted [`During::every`]: 10 ms.
    pub const MIN_EVERY: Duration = Duration::from_millis(10);
    /// Longest accepted [`During::grace`]: 1 hour.
    pub const MAX_GRACE: Duration = Duration::from_secs(3600);

    /// `command` every `every`, with [`During::DEFAULT_GRACE`].
    pub fn new(command: impl Into<String>, every: Duration) -> During {
        During {
            command: command.into(),
            every,
            grace: Self::DEFAULT_GRACE,
        }
    }
}

/// What a run's exit status means. (The one interpretation of an exit status in this crate.)
impl CommandStatus {
    fn from_exit(status: ExitStatus) -> CommandStatus {
        match (status.code(), status.signal()) {
            (Some(code), _) => CommandStatus::Exited(code),
            (None, Some(signal)) => CommandStatus::Signalled(signal),
            // Neither a code nor a signal: not produced by waitpid on Unix.
            (None, None) => CommandStatus::Exited(-1),
        }
    }
}

/// What a [`During`] schedule did over a whole load run ([`Report::during`](crate::Report)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuringSummary {
    /// The command.
    pub command: String,
    /// The interval between starts.
    pub every: Duration,
    /// Runs started (or attempted: a run that could not start counts, and fails).
    pub runs: u64,
    /// Runs that did not exit with status 0.
    pub failed: u64,
    /// Slots skipped because the previous run was still going (runs are never stacked).
    pub skipped: u64,
}

/// A run in progress.
struct RunInProgress {
    child: Child,
    pid: Option<u32>,
    event: usize,
    run: u64,
    started: Instant,
    stdout: Option<JoinHandle<Vec<u8>>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
}

/// Runs the schedule until the load stops issuing requests, then waits for (or kills) the run
/// still going. No run starts at or after `end`, when the load is due to stop: its effect
/// could not be measured. Each run is recorded in `events`; `start` is when the load started.
/// Returns the number of skipped slots.
pub(crate) async fn run_schedule(
    events: Arc<EventLog>,
    stop: StopSignals,
    during: During,
    start: Instant,
    end: Instant,
) -> u64 {
    let mut slots = interval_at(start + during.every, during.every);
    slots.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut current: Option<RunInProgress> = None;
    let mut runs = 0u64;
    let mut skipped = 0u64;
    loop {
        tokio::select! {
            biased;
            () = stop.stopping() => break,
            status = wait_for_exit(&mut current) => {
                if let Some(running) = current.take() {
                    finish(&events, running, CommandStatus::from_exit(status)).await;
                }
            }
            slot = slots.tick() => {
                if slot >= end {
                    continue;
                }
                if current.is_some() {
                    skipped += 1;
                } else {
                    runs += 1;
                    current = launch(&events, &during, runs);
                }
            }
        }
    }
    if let Some(mut running) = current.take() {
        let status = tokio::select! {
            waited = timeout(during.grace, running.child.wait()) => match waited {
                Ok(Ok(status)) => Some(CommandStatus::from_exit(status)),
                Ok(Err(e)) => Some(CommandStatus::NotStarted(format!("waiting for it: {e}"))),
                Err(_) => None,
            },
            () = stop.stopping_now() => None,
        };
        let status = match status {
            Some(status) => status,
            None => kill(&mut running).await,
        };
        finish(&events, running, status).await;
    }
    skipped
}

/// Waits for the current run to exit; pending forever when there is none.
async fn wait_for_exit(current: &mut Option<RunInProgress>) -> ExitStatus {
    match current {
        Some(running) => match running.child.wait().await {
            Ok(status) => status,
            // `wait` only fails if the child was already reaped, which nothing else does:
            // treat it as a failed run rather than waiting forever.
            Err(_) => ExitStatus::from_raw(0xff00),
        },
        None => std::future::pending().await,
    }
}

/// Starts run number `run`, recording its event; `None` (and a failed event) when `sh` cannot
/// be started.
fn launch(events: &EventLog, during: &During, run: u64) -> Option<RunInProgress> {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(&during.command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let started = Instant::now();
    let event = events.push(
        during.command.clone(),
        Some(CommandRun {
            run,
            status: CommandStatus::Running,
            took: None,
            output: String::new(),
        }),
    );
    match command.spawn() {
        Ok(mut child) => {
            let stdout = child.stdout.take().map(|s| tokio::spawn(read_tail(s)));
            let stderr = child.stderr.take().map(|s| tokio::spawn(read_tail(s)));
            Some(RunInProgress {
                pid: child.id(),
                child,
                event,
                run,
                started,
                stdout,
                stderr,
            })
        }
        Err(e) => {
            events.update_command(
                event,
                CommandRun {
                    run,
                    status: CommandStatus::NotStarted(e.to_string()),
                    took: Some(Duration::ZERO),
                    output: String::new(),
                },
            );
            None
        }
    }
}

/// Kills the run's process group (the run was started as its leader) and reaps `sh`.
async fn kill(running: &mut RunInProgress) -> CommandStatus {
    let group = running
        .pid
        .and_then(|p| i32::try_from(p).ok())
        .map(Pid::from_raw);
    let group_killed = match group.map(|group| killpg(group, Signal::SIGKILL)) {
        // ESRCH: the group is gone already, which is the goal.
        Some(Ok(()) | Err(Errno::ESRCH)) => true,
        // EPERM cannot happen for our own child's group: fall back to `sh` alone. No pid:
        // tokio has reaped `sh` already.
        Some(Err(_)) | None => false,
    };
    if !group_killed {
        match running.child.start_kill() {
            Ok(()) => {}
            // tokio refuses only once it has reaped `sh`: gone, which is the goal.
            Err(e) if e.kind() == io::ErrorKind::InvalidInput => {}
            // kill(2) cannot fail for our own unreaped child (a zombie included); if it did,
            // the wait below finds it still there and the run is reported as still running.
            Err(_) => {}
        }
    }
    match timeout(KILL_WAIT, running.child.wait()).await {
        Ok(_) => CommandStatus::Killed,
        Err(_) => CommandStatus::Running,
    }
}

/// Records how a run ended, with its output when it did not succeed.
async fn finish(events: &EventLog, mut running: RunInProgress, status: CommandStatus) {
    let took = running.started.elapsed();
    let stdout = collect_output(running.stdout.take()).await;
    let stderr = collect_output(running.stderr.take()).await;
    let output = if status.success() {
        String::new()
    } else {
        let mut text = String::from_utf8_lossy(&stdout).trim().to_string();
        let err = String::from_utf8_lossy(&stderr);
        if !err.trim().is_empty() {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(err.trim());
        }
        text
    };
    events.update_command(
        running.event,
        CommandRun {
            run: running.run,
            status,
            took: Some(took),
            output,
        },
    );
}

async fn collect_output(reader: Option<JoinHandle<Vec<u8>>>) -> Vec<u8> {
    let Some(mut reader) = reader else {
        return Vec::new();
    };
    match timeout(OUTPUT_WAIT, &mut reader).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => Vec::new(),
        Err(_) => {
            reader.abort();
            Vec::new()
        }
    }
}

/// Reads `r` to its end, keeping the last [`OUTPUT_TAIL`] bytes.
async fn read_tail<R: AsyncRead + Unpin>(mut r: R) -> Vec<u8> {
    let mut kept = Vec::with_capacity(OUTPUT_TAIL);
    let mut chunk = [0u8; 4096];
    loop {
        match r.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                kept.extend_from_slice(&chunk[..n]);
                if kept.len() > 2 * OUTPUT_TAIL {
                    kept.drain(..kept.len() - OUTPUT_TAIL);
                }
            }
        }
    }
    if kept.len() > OUTPUT_TAIL {
        kept.drain(..kept.len() - OUTPUT_TAIL);
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_statuses() {
        assert_eq!(
            CommandStatus::from_exit(ExitStatus::from_raw(3 << 8)),
            CommandStatus::Exited(3)
        );
        assert_eq!(
            CommandStatus::from_exit(ExitStatus::from_raw(9)),
            CommandStatus::Signalled(9)
        );
    }

    #[tokio::test]
    async fn tail_keeps_the_end() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let kept = read_tail(&data[..]).await;
        assert_eq!(kept, data[data.len() - OUTPUT_TAIL..]);
        assert_eq!(read_tail(&b"short"[..]).await, b"short");
    }
}
