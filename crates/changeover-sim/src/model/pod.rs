//! A pod as the simulation tracks it: its container's state as data, its conditions, its
//! deletion.

use std::fmt;

use super::probe::Worker;
use super::{Ms, PodId};

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this status.
    Code(i32),
    /// A signal ended it.
    Signal(i32),
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exit status {c}"),
            Exit::Signal(s) => match nix::sys::signal::Signal::try_from(*s) {
                Ok(sig) => write!(f, "killed by {}", sig.as_str()),
                Err(_) => write!(f, "killed by signal {s}"),
            },
        }
    }
}

/// Where a pod's container is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Container {
    /// The kubelet asked for the process; it has not started yet.
    Starting {
        /// Since when.
        since: Ms,
    },
    /// Waiting to be restarted (CrashLoopBackOff).
    BackOff {
        /// When the restart is due.
        until: Ms,
    },
    /// Running.
    Running {
        /// Since when.
        since: Ms,
    },
    /// Being stopped (deletion, or a liveness or startup kill).
    Stopping {
        /// When the stop began.
        since: Ms,
        /// The grace budget `g` of this stop, in seconds.
        grace_s: i64,
        /// How far it got.
        stage: Stage,
    },
    /// The process has exited.
    Exited {
        /// When.
        at: Ms,
        /// How.
        exit: Exit,
    },
}

/// How far a container's stop got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The preStop hook runs.
    PreStop {
        /// When it started.
        started: Ms,
        /// When the kubelet stops waiting for it (the grace budget).
        deadline: Ms,
        /// The end of a `sleep` action; `None` while an `exec` or `httpGet` hook runs.
        sleep_until: Option<Ms>,
    },
    /// The stop signal was sent.
    Signalled {
        /// When.
        at: Ms,
        /// When SIGKILL is due.
        kill_at: Ms,
    },
    /// SIGKILL was sent.
    Killed {
        /// When.
        at: Ms,
    },
}

/// Why a pod is being deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deletion {
    /// When the deletion was accepted (the deletion timestamp minus the grace).
    pub at: Ms,
    /// The grace period, in seconds.
    pub grace_s: i64,
    /// Through the Eviction API (a drain) rather than a plain delete.
    pub evicted: bool,
}

/// One pod.
#[derive(Debug, Clone)]
pub struct Pod {
    /// Its handle.
    pub id: PodId,
    /// `NAME-N`.
    pub name: String,
    /// N: the pod's number, also the last byte of its address.
    pub ordinal: u32,
    /// The index of its ReplicaSet (0 is the first revision).
    pub revision: usize,
    /// A pseudo-random UID, the last tie-break of the scale-down order.
    pub uid: u64,
    /// When it was created.
    pub created: Ms,
    /// How many times its container was started (tags actions and inputs, so a late answer
    /// about an earlier process is recognised).
    pub incarnation: u32,
    /// Its container.
    pub container: Container,
    /// Whether the startup probe has succeeded (or there is none) for this container.
    pub started: bool,
    /// The Ready condition.
    pub ready: bool,
    /// When it last turned Ready.
    pub ready_since: Option<Ms>,
    /// Ready for `minReadySeconds` and not terminating.
    pub available: bool,
    /// Set once the pod is deleted.
    pub deletion: Option<Deletion>,
    /// Container restarts.
    pub restarts: u32,
    /// The pod object is gone.
    pub gone: bool,
    pub(super) probes: Vec<Worker>,
}

impl Pod {
    /// Whether it has a deletion timestamp.
    pub fn terminating(&self) -> bool {
        self.deletion.is_some()
    }

    /// Whether the ReplicaSet counts it: not terminating, not gone.
    pub fn active(&self) -> bool {
        !self.terminating() && !self.gone
    }

    /// Whether a process of it is meant to be running now.
    pub fn running(&self) -> bool {
        matches!(
            self.container,
            Container::Running { .. } | Container::Stopping { .. }
        )
    }
}
