//! What happened to the server while the load ran: [`Event`]s (marks, and runs of a
//! [`During`](crate::During) command with their [`CommandRun`]), and the [`EventLog`] they are
//! recorded in.
//!
//! The log is shared by the handle ([`LoadHandle::mark`](crate::LoadHandle::mark)), the
//! run-limit timer and the `During` schedule, which write to it, and by the connection tasks,
//! which read its length: a request counts in the timeline after the events recorded before it
//! ended (see `timeline.rs`).

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::sync::lock;

/// A labelled point in time: recorded with [`LoadHandle::mark`](crate::LoadHandle::mark), or the
/// start of a run of a [`During`](crate::During) command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Time since the run started.
    pub at: Duration,
    /// The label given to `mark`, or the command.
    pub label: String,
    /// For a command run: which run, and how it ended. `None` for a mark.
    pub command: Option<CommandRun>,
}

/// How one run of a [`During`](crate::During) command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandStatus {
    /// Still going when the report was made (only when it could not be waited for or killed).
    Running,
    /// It exited with this status code.
    Exited(i32),
    /// A signal (this number) ended it, sent by someone other than the load driver.
    Signalled(i32),
    /// It was still going [`During::grace`](crate::During::grace) after the load ended, or the
    /// run was stopped with [`Control::stop_now`](crate::Control::stop_now): its process group
    /// was killed.
    Killed,
    /// `sh` could not be started; the error.
    NotStarted(String),
}

impl CommandStatus {
    /// Whether the run exited with status 0.
    pub fn success(&self) -> bool {
        *self == CommandStatus::Exited(0)
    }
}

impl fmt::Display for CommandStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandStatus::Running => f.write_str("still running"),
            CommandStatus::Exited(code) => write!(f, "exit {code}"),
            CommandStatus::Signalled(signal) => match nix::sys::signal::Signal::try_from(*signal) {
                Ok(name) => write!(f, "killed by {name}"),
                Err(_) => write!(f, "killed by signal {signal}"),
            },
            CommandStatus::Killed => f.write_str("killed at the end of the load"),
            CommandStatus::NotStarted(e) => write!(f, "could not start sh: {e}"),
        }
    }
}

/// One run of a [`During`](crate::During) command, attached to the [`Event`] marking its start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRun {
    /// Which run this is, from 1.
    pub run: u64,
    /// How it ended.
    pub status: CommandStatus,
    /// From its start until it exited or was killed; `None` while it runs.
    pub took: Option<Duration>,
    /// The end of what it wrote (standard output, then standard error), kept only when it did
    /// not succeed; lossily decoded, trimmed.
    pub output: String,
}

impl CommandRun {
    /// The last non-empty line of [`CommandRun::output`], for one-line reports.
    pub fn last_line(&self) -> Option<&str> {
        self.output
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| !l.is_empty())
    }
}

/// The events of one run, in time order.
#[derive(Debug)]
pub(crate) struct EventLog {
    /// When the run started: events are recorded as offsets from it.
    start: Instant,
    events: Mutex<Vec<Event>>,
    /// `events.len()`, readable without the lock (stored under it, after the push), so that a
    /// connection task can place each request after the events before it at the cost of an
    /// atomic load.
    count: AtomicUsize,
}

impl EventLog {
    /// An empty log for a run that started at `start`.
    pub(crate) fn new(start: Instant) -> EventLog {
        EventLog {
            start,
            events: Mutex::new(Vec::new()),
            count: AtomicUsize::new(0),
        }
    }

    /// Records a mark now.
    pub(crate) fn mark(&self, label: String) {
        self.push(label, None);
    }

    /// Records an event now; returns its index in the report's events.
    pub(crate) fn push(&self, label: String, command: Option<CommandRun>) -> usize {
        let mut events = lock(&self.events);
        // Taken under the lock, so events are in time order.
        let at = Instant::now().saturating_duration_since(self.start);
        events.push(Event { at, label, command });
        self.count.store(events.len(), Ordering::SeqCst);
        events.len() - 1
    }

    /// Replaces the command outcome of event `index`.
    pub(crate) fn update_command(&self, index: usize, run: CommandRun) {
        if let Some(event) = lock(&self.events).get_mut(index) {
            event.command = Some(run);
        }
    }

    /// Number of events recorded so far.
    pub(crate) fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// A copy of every event recorded so far.
    pub(crate) fn to_vec(&self) -> Vec<Event> {
        lock(&self.events).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert!(CommandStatus::Exited(0).success());
        assert!(!CommandStatus::Exited(1).success());
        assert!(!CommandStatus::Killed.success());
        assert_eq!(CommandStatus::Exited(2).to_string(), "exit 2");
    }

    #[test]
    fn last_line() {
        let run = CommandRun {
            run: 1,
            status: CommandStatus::Exited(1),
            took: None,
            output: "first\nnginx: [error] no pid\n  \n".into(),
        };
        assert_eq!(run.last_line(), Some("nginx: [error] no pid"));
    }

    #[tokio::test]
    async fn the_count_follows_the_pushes_and_updates_keep_it() {
        let log = EventLog::new(Instant::now());
        assert_eq!(log.count(), 0);
        log.mark("a".into());
        let run = CommandRun {
            run: 1,
            status: CommandStatus::Running,
            took: None,
            output: String::new(),
        };
        let i = log.push("cmd".into(), Some(run.clone()));
        assert_eq!((i, log.count()), (1, 2));
        let done = CommandRun {
            status: CommandStatus::Exited(0),
            ..run
        };
        log.update_command(i, done.clone());
        let events = log.to_vec();
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].command, Some(done));
        assert!(events[0].at <= events[1].at);
    }
}
