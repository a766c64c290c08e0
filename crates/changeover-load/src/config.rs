//! How much load, for how long: [`Config`] and its validation.

use std::fmt;
use std::time::Duration;

use crate::{During, Target};

/// Settings of one load run, passed to [`start`](crate::start).
///
/// Build it with [`Config::new`] and set the public fields; struct update syntax
/// (`Config { connections: 4, ..Config::new(target) }`) works too.
///
/// A run ends when the first of these happens: `duration` elapses, `max_requests` requests have
/// been issued, [`LoadHandle::stop`](crate::LoadHandle::stop) is called, or the
/// [`LoadHandle`](crate::LoadHandle) is dropped. When `duration` is `None`, the run still ends
/// after [`Config::RUN_LIMIT`] so that a forgotten handle can never load a server forever.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where requests go.
    pub target: Target,
    /// Number of concurrent connections, each driven by its own task (at least 1).
    pub connections: usize,
    /// Reuse connections (HTTP/1.1 keep-alive). When `false`, every request carries
    /// `Connection: close` and gets a connection of its own.
    pub keep_alive: bool,
    /// Stop issuing requests after this long (requests in flight then still finish).
    pub duration: Option<Duration>,
    /// Issue at most this many requests in total (over all connections).
    pub max_requests: Option<u64>,
    /// Open loop: send this many requests per second in total, spread evenly over the
    /// connections. `None` is the closed loop: each connection sends its next request as soon as
    /// the previous response is complete.
    pub rate: Option<f64>,
    /// Per-request deadline, covering connect, writing the request and reading the whole
    /// response.
    pub timeout: Duration,
    /// A shell command to run on a schedule while the load runs (a restart, a reload), each
    /// run recorded as an [`Event`](crate::Event). `None`: no command.
    pub during: Option<During>,
    /// Run the connections on this many threads of their own, each with a single-threaded
    /// tokio runtime (connections spread round-robin), like wrk's `-t`. `None`: on the
    /// caller's runtime. Threads scale a connection-heavy load better (one event loop each,
    /// instead of the multi-thread runtime's one shared I/O driver); tests and embedders are
    /// usually fine with `None`.
    pub threads: Option<usize>,
}

impl Config {
    /// Default per-request timeout: 5 s.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
    /// Default number of connections: 8.
    pub const DEFAULT_CONNECTIONS: usize = 8;
    /// Longest run when `duration` is `None` (10 minutes): a safety bound, not a knob.
    pub const RUN_LIMIT: Duration = Duration::from_secs(600);
    /// Largest accepted `timeout` (1 hour).
    pub const MAX_TIMEOUT: Duration = Duration::from_secs(3600);

    /// A closed-loop, keep-alive configuration with [`Config::DEFAULT_CONNECTIONS`]
    /// connections, [`Config::DEFAULT_TIMEOUT`], and no duration or request bound (so it runs
    /// until stopped, at most [`Config::RUN_LIMIT`]).
    pub fn new(target: Target) -> Config {
        Config {
            target,
            connections: Self::DEFAULT_CONNECTIONS,
            keep_alive: true,
            duration: None,
            max_requests: None,
            rate: None,
            timeout: Self::DEFAULT_TIMEOUT,
            during: None,
            threads: None,
        }
    }

    /// Checks the settings; [`start`](crate::start) calls this.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.connections == 0 {
            return Err(ConfigError::NoConnections);
        }
        if self.timeout.is_zero() || self.timeout > Self::MAX_TIMEOUT {
            return Err(ConfigError::InvalidTimeout(self.timeout));
        }
        if let Some(rate) = self.rate {
            self.pace_interval(rate)
                .ok_or(ConfigError::InvalidRate(rate))?;
        }
        if let Some(during) = &self.during {
            validate_during(during)?;
        }
        if self.threads == Some(0) {
            return Err(ConfigError::NoThreads);
        }
        Ok(())
    }

    /// The interval between two requests of one connection in open-loop mode.
    pub(crate) fn pace_interval(&self, rate: f64) -> Option<Duration> {
        if !(rate.is_finite() && rate > 0.0) {
            return None;
        }
        Duration::try_from_secs_f64(self.connections as f64 / rate)
            .ok()
            .filter(|d| !d.is_zero())
    }
}

/// Checks the settings of a [`During`] schedule.
fn validate_during(during: &During) -> Result<(), ConfigError> {
    if during.command.trim().is_empty() {
        return Err(ConfigError::EmptyCommand);
    }
    if during.every < During::MIN_EVERY {
        return Err(ConfigError::InvalidEvery(during.every));
    }
    if during.grace > During::MAX_GRACE {
        return Err(ConfigError::InvalidGrace(during.grace));
    }
    Ok(())
}

/// Why a [`Config`] was rejected.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ConfigError {
    /// `connections` is 0.
    NoConnections,
    /// `rate` is not a positive, finite number of requests per second (or so small or large
    /// that the interval per connection cannot be represented).
    InvalidRate(f64),
    /// `timeout` is zero or above [`Config::MAX_TIMEOUT`].
    InvalidTimeout(Duration),
    /// [`During::command`] is empty or blank.
    EmptyCommand,
    /// [`During::every`] is below [`During::MIN_EVERY`].
    InvalidEvery(Duration),
    /// [`During::grace`] is above [`During::MAX_GRACE`].
    InvalidGrace(Duration),
    /// `threads` is `Some(0)`.
    NoThreads,
    /// A load thread or its runtime could not be started; the error.
    Threads(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::NoConnections => write!(f, "connections must be at least 1"),
            ConfigError::InvalidRate(r) => {
                write!(
                    f,
                    "rate must be a positive number of requests per second, got {r}"
                )
            }
            ConfigError::InvalidTimeout(t) => write!(
                f,
                "timeout must be above zero and at most {:?}, got {t:?}",
                Config::MAX_TIMEOUT
            ),
            ConfigError::EmptyCommand => write!(f, "the command to run during the load is empty"),
            ConfigError::InvalidEvery(d) => write!(
                f,
                "the interval between command runs must be at least {:?}, got {d:?}",
                During::MIN_EVERY
            ),
            ConfigError::NoThreads => write!(f, "threads must be at least 1"),
            ConfigError::Threads(e) => write!(f, "cannot start a load thread: {e}"),
            ConfigError::InvalidGrace(d) => write!(
                f,
                "the grace for the last command run must be at most {:?}, got {d:?}",
                During::MAX_GRACE
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        let base = Config::new(Target::tcp("127.0.0.1:1".parse().unwrap()));
        assert_eq!(base.validate(), Ok(()));
        let c = Config {
            connections: 0,
            ..base.clone()
        };
        assert_eq!(c.validate(), Err(ConfigError::NoConnections));
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-300] {
            let c = Config {
                rate: Some(rate),
                ..base.clone()
            };
            assert!(
                matches!(c.validate(), Err(ConfigError::InvalidRate(_))),
                "{rate}"
            );
        }
        let c = Config {
            rate: Some(1000.0),
            connections: 4,
            ..base.clone()
        };
        assert_eq!(c.pace_interval(1000.0), Some(Duration::from_millis(4)));
        assert_eq!(c.validate(), Ok(()));
        let c = Config {
            timeout: Duration::ZERO,
            ..base.clone()
        };
        assert!(matches!(c.validate(), Err(ConfigError::InvalidTimeout(_))));
        let with = |during: During| Config {
            during: Some(during),
            ..base.clone()
        };
        let every = Duration::from_millis(100);
        assert_eq!(with(During::new("true", every)).validate(), Ok(()));
        assert_eq!(
            with(During::new("  ", every)).validate(),
            Err(ConfigError::EmptyCommand)
        );
        assert_eq!(
            with(During::new("true", Duration::from_millis(1))).validate(),
            Err(ConfigError::InvalidEvery(Duration::from_millis(1)))
        );
        let long = During {
            grace: During::MAX_GRACE * 2,
            ..During::new("true", every)
        };
        assert!(matches!(
            with(long).validate(),
            Err(ConfigError::InvalidGrace(_))
        ));
    }
}
