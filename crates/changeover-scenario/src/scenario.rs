//! The scenarios ([`Scenario`]), what one produces ([`Outcome`]), and what it reports while
//! it runs ([`Progress`]).

use std::fmt;
use std::process::ExitStatus;
use std::time::Duration;

use changeover_load::Report;

/// One way to restart (or stop) a server under load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scenario {
    /// SIGHUP to the server, [`Setup::restarts`](crate::Setup::restarts) times: it starts its successor on the same
    /// sockets and exits once the successor is ready (the `changeover` library's upgrade).
    SelfUpgrade,
    /// `changeover run` with the server as its child, then `changeover reload --wait`,
    /// [`Setup::restarts`](crate::Setup::restarts) times.
    SupervisorReload,
    /// As [`Scenario::SupervisorReload`], with `changeover run --proxy`: the supervisor holds
    /// the client connections and forwards to the newest ready child, so a child that mishandles
    /// its connections on SIGTERM (closes idle keep-alive ones) fails nothing.
    ProxyReload,
    /// One stop the Kubernetes way: SIGTERM to a server with a
    /// [`KUBERNETES_STOP_DELAY`](crate::KUBERNETES_STOP_DELAY), while the load goes on for
    /// [`ENDPOINT_LAG`](crate::ENDPOINT_LAG) (the time the endpoint takes to leave the load
    /// balancer) and then stops. The server must exit with status 0.
    KubernetesStop,
    /// SIGTERM, wait for the exit, start a new server, [`Setup::restarts`](crate::Setup::restarts) times: what
    /// changeover is compared with. Nothing listens between the stop and the start, so this
    /// one fails requests, as expected.
    NaiveRestart,
}

impl Scenario {
    /// changeover's own scenarios, in the order `changeover demo` runs them.
    pub const CHANGEOVER: [Scenario; 3] = [
        Scenario::SelfUpgrade,
        Scenario::SupervisorReload,
        Scenario::KubernetesStop,
    ];

    /// The name in a table of results: `self-upgrade (SIGHUP)`, `supervisor reload`,
    /// `kubernetes stop (2s delay)`, `naive stop-and-start`.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::SelfUpgrade => "self-upgrade (SIGHUP)",
            Scenario::SupervisorReload => "supervisor reload",
            Scenario::ProxyReload => "supervisor reload --proxy",
            Scenario::KubernetesStop => "kubernetes stop (2s delay)",
            Scenario::NaiveRestart => "naive stop-and-start",
        }
    }

    /// Whether this is the contrast changeover is compared with rather than one of changeover's
    /// own ways: its failed requests are expected, and say nothing about changeover.
    pub fn is_contrast(self) -> bool {
        self == Scenario::NaiveRestart
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What one scenario produced: a row of figures, and the load's whole report.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Which scenario.
    pub scenario: Scenario,
    /// Restarts done (for [`Scenario::KubernetesStop`]: 1, the stop).
    pub restarts: u32,
    /// The load through the restarts: its requests, failures and latency.
    pub report: Report,
    /// p99 latency of the undisturbed load before the restarts (`None` for
    /// [`Scenario::KubernetesStop`], which measures none).
    pub steady_p99: Option<Duration>,
}

impl Outcome {
    /// Requests that failed during the restarts.
    pub fn failed(&self) -> u64 {
        self.report.failed()
    }
}

/// What a scenario reports while it runs, one step at a time (for a progress display).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Progress<'a> {
    /// Self-upgrade `n` of `of`: `from` handed over to `to` and exited.
    Upgraded {
        /// Which upgrade, from 1.
        n: u32,
        /// How many there are.
        of: u32,
        /// The old server's pid.
        from: u32,
        /// Its successor's pid.
        to: u32,
    },
    /// Supervisor reload `n` of `of` took over; what `changeover reload --wait` said.
    Reloaded {
        /// Which reload, from 1.
        n: u32,
        /// How many there are.
        of: u32,
        /// Its standard output, trimmed.
        said: &'a str,
    },
    /// The Kubernetes stop: the server ended `after` the SIGTERM, this way.
    Stopped {
        /// From SIGTERM to its exit.
        after: Duration,
        /// How it ended.
        status: ExitStatus,
    },
    /// Naive restart `n` of `of`: `from` stopped, `to` started and ready.
    Restarted {
        /// Which restart, from 1.
        n: u32,
        /// How many there are.
        of: u32,
        /// The stopped server's pid.
        from: u32,
        /// The new server's pid.
        to: u32,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_naive_restart_is_the_contrast() {
        assert!(Scenario::CHANGEOVER.iter().all(|s| !s.is_contrast()));
        assert!(Scenario::NaiveRestart.is_contrast());
    }
}
