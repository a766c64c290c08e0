//! A generation (one child process) and the phase it is in.
//!
//! The phase is data: each variant carries what is true only in it (a
//! starting child's readiness deadline and how its readiness is checked, a
//! draining child's kill deadline), so a deadline that no longer applies
//! cannot linger and a killed child cannot also be "ready". The life of one
//! generation:
//!
//! | phase | left when | to |
//! | --- | --- | --- |
//! | `Starting` | it is ready (`READY=1`, the `delay:` passed, the probe exited 0) | `Ready` |
//! | `Starting` | a stop began | `Abandoned` |
//! | `Starting` | the ready timeout passed, or the probe cannot be started | `Killed` |
//! | `Abandoned` | the stop delay ended | `Draining` |
//! | `Ready` | a successor took over, or the stop delay ended | `Draining` |
//! | `Ready` (proxy mode) | a successor took over, or the client connections closed after the stop delay | `Retired` |
//! | `Retired` | nothing is in flight to it, or its drain deadline passed (its tunnels are cut) | `Draining` |
//! | `Draining` | the drain deadline, `--max-draining`, a third stop signal | `Killed` |
//!
//! From any phase, it is gone (removed) when it is reaped.

use std::process::ExitStatus;

use tokio::time::Instant;

/// One child process and what the machine knows of it.
#[derive(Debug)]
pub(crate) struct Generation {
    /// Counts up from 1, one per child started.
    pub(crate) id: u64,
    pub(crate) pid: u32,
    pub(crate) started: Instant,
    /// The last `STATUS=` the child sent.
    pub(crate) status_text: Option<String>,
    pub(crate) phase: Phase,
}

/// Where a generation is in its life.
#[derive(Debug)]
pub(crate) enum Phase {
    /// Started, not yet ready: it gets no stop signal on a takeover, and is
    /// killed if not ready by `ready_deadline`.
    Starting {
        ready_deadline: Instant,
        check: Check,
    },
    /// It was starting when a stop began: neither timed nor promoted any
    /// more; it gets the stop signal with the others when the stop delay ends.
    Abandoned,
    /// Serving; the newest ready generation is the current one.
    Ready,
    /// Proxy mode: no new request goes to it; it gets the stop signal once
    /// nothing is in flight to it, or at `kill_deadline` (its drain
    /// deadline, which stays its SIGKILL deadline).
    Retired { kill_deadline: Instant },
    /// Told to stop (the stop signal was sent at `signalled_at`); SIGKILL to
    /// its group at `kill_deadline`.
    Draining {
        signalled_at: Instant,
        kill_deadline: Instant,
    },
    /// SIGKILL was sent to its group; it is only waited for.
    Killed,
}

/// How a starting generation's readiness is established (`--ready`).
#[derive(Debug)]
pub(crate) enum Check {
    /// `READY=1` from its pid.
    Notify,
    /// `delay:`: ready at this instant.
    Delay { ready_at: Instant },
    /// `exec:`: a probe run until it exits 0; `last` is how the last run ended.
    Probe {
        run: ProbeRun,
        last: Option<ExitStatus>,
    },
    /// Proxy mode, `http:PATH` (`path`) or a connection (`None`): a check of
    /// its upstream, repeated until it passes. `due` is when the next one
    /// starts (`None` while one runs); `last` why the last one failed.
    Upstream {
        path: Option<String>,
        due: Option<Instant>,
        last: Option<String>,
    },
}

/// The `exec:` probe of a starting generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProbeRun {
    /// A run is under way with this pid.
    Running(u32),
    /// The next run starts at this instant.
    Due(Instant),
}

impl Phase {
    /// The name `changeover status` shows.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            // Abandoned is still a child that never became ready.
            Phase::Starting { .. } | Phase::Abandoned => "starting",
            Phase::Ready => "ready",
            Phase::Retired { .. } => "retired",
            Phase::Draining { .. } => "draining",
            Phase::Killed => "killed",
        }
    }
}

impl Generation {
    pub(crate) fn is_ready(&self) -> bool {
        matches!(self.phase, Phase::Ready)
    }

    /// Not yet ready, and not killed (a `/metrics` "starting" generation).
    pub(crate) fn is_starting(&self) -> bool {
        matches!(self.phase, Phase::Starting { .. } | Phase::Abandoned)
    }

    pub(crate) fn is_killed(&self) -> bool {
        matches!(self.phase, Phase::Killed)
    }

    /// Not yet sent the stop signal, and not killed.
    pub(crate) fn awaits_stop_signal(&self) -> bool {
        matches!(
            self.phase,
            Phase::Starting { .. } | Phase::Abandoned | Phase::Ready | Phase::Retired { .. }
        )
    }

    /// Told to stop or about to be: draining, killed, or (proxy mode)
    /// retired, for `--max-draining` and the `/metrics` gauge.
    pub(crate) fn is_leaving(&self) -> bool {
        matches!(
            self.phase,
            Phase::Retired { .. } | Phase::Draining { .. } | Phase::Killed
        )
    }

    /// The pid of its readiness probe, while one runs.
    pub(crate) fn running_probe(&self) -> Option<u32> {
        match self.phase {
            Phase::Starting {
                check:
                    Check::Probe {
                        run: ProbeRun::Running(pid),
                        ..
                    },
                ..
            } => Some(pid),
            _ => None,
        }
    }

    /// The next instant at which something is due for it, if any.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Starting {
                ready_deadline,
                check,
            } => {
                let check_at = match check {
                    Check::Notify => None,
                    Check::Delay { ready_at } => Some(*ready_at),
                    Check::Probe {
                        run: ProbeRun::Due(at),
                        ..
                    } => Some(*at),
                    Check::Probe {
                        run: ProbeRun::Running(_),
                        ..
                    } => None,
                    Check::Upstream { due, .. } => *due,
                };
                Some(check_at.map_or(*ready_deadline, |t| t.min(*ready_deadline)))
            }
            Phase::Draining { kill_deadline, .. } | Phase::Retired { kill_deadline } => {
                Some(*kill_deadline)
            }
            Phase::Abandoned | Phase::Ready | Phase::Killed => None,
        }
    }

    /// Moves it to `phase`. Returns the pid of a readiness probe that was
    /// still running: it belonged to the phase left, and the caller kills it.
    #[must_use = "a probe still running must be killed"]
    pub(crate) fn enter(&mut self, phase: Phase) -> Option<u32> {
        let probe = self.running_probe();
        self.phase = phase;
        probe
    }
}
