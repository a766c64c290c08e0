//! [`Builder`]: a [`Lifecycle`]'s settings, and the setup that reads the
//! environment, adopts inherited sockets and installs the signal handlers.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use super::config::default_stop_delay;
use super::generation::Generation;
use super::{
    DEFAULT_DRAIN_TIMEOUT, DEFAULT_LAME_DUCK, DEFAULT_READY_TIMEOUT, Error, Inner, Lifecycle,
    requests,
};
use crate::drain::Drain;
use crate::listeners::{Inherited, ListenEnv};
use crate::pidfile::PidFile;

/// Configures a [`Lifecycle`].
#[derive(Debug, Clone)]
pub struct Builder {
    stop_delay: Option<Duration>,
    drain_timeout: Duration,
    ready_timeout: Duration,
    lame_duck: Duration,
    pid_file: Option<PathBuf>,
    signals: bool,
    health: bool,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder {
            stop_delay: None,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            ready_timeout: DEFAULT_READY_TIMEOUT,
            lame_duck: DEFAULT_LAME_DUCK,
            pid_file: None,
            signals: true,
            health: true,
        }
    }
}

impl Builder {
    /// How long to keep serving normally after a stop signal, so load
    /// balancers stop routing here first. Default: `CHANGEOVER_STOP_DELAY`
    /// when set, else 5 s when `KUBERNETES_SERVICE_HOST` is set, else 0.
    pub fn stop_delay(mut self, d: Duration) -> Builder {
        self.stop_delay = Some(d);
        self
    }

    /// How long connections may take to finish once accepting stopped
    /// (default 20 s); what is left then is closed.
    pub fn drain_timeout(mut self, d: Duration) -> Builder {
        self.drain_timeout = d;
        self
    }

    /// How long a successor may take to become ready (default 60 s).
    pub fn ready_timeout(mut self, d: Duration) -> Builder {
        self.ready_timeout = d;
        self
    }

    /// How long an idle keep-alive connection stays open once accepting
    /// stopped (default 1 s).
    pub fn lame_duck(mut self, d: Duration) -> Builder {
        self.lame_duck = d;
        self
    }

    /// Keep a pid file naming the live generation.
    pub fn pid_file(mut self, path: impl Into<PathBuf>) -> Builder {
        self.pid_file = Some(path.into());
        self
    }

    /// Whether to handle SIGTERM, SIGINT and SIGHUP (default true). Without
    /// them, call [`Lifecycle::stop`] and [`Lifecycle::upgrade`] yourself.
    pub fn signals(mut self, on: bool) -> Builder {
        self.signals = on;
        self
    }

    /// Whether served HTTP services answer `/livez` and `/readyz` themselves
    /// (default true).
    pub fn health_endpoints(mut self, on: bool) -> Builder {
        self.health = on;
        self
    }

    /// Reads the environment (`LISTEN_*`, `NOTIFY_SOCKET`, the stop delay),
    /// adopts inherited sockets, and installs the signal handlers.
    ///
    /// Must be called inside a tokio runtime.
    pub fn build(self) -> Result<Lifecycle, Error> {
        let stop_delay = match self.stop_delay {
            Some(d) => d,
            None => default_stop_delay()?,
        };
        let inherited = Inherited::adopt(&ListenEnv::from_process())?;
        let generation = Generation::from_process(self.ready_timeout)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let lc = Lifecycle {
            inner: Arc::new(Inner {
                drain: Drain::new(self.lame_duck),
                stop_delay,
                drain_timeout: self.drain_timeout,
                health: self.health,
                pid_file: self.pid_file.map(PidFile::new),
                requests: tx,
                requests_rx: Mutex::new(Some(rx)),
                inherited: Mutex::new(inherited),
                generation,
                #[cfg(feature = "http")]
                takers: Arc::default(),
            }),
        };
        if self.signals {
            requests::forward_signals(lc.inner.requests.clone()).map_err(Error::Signals)?;
        }
        Ok(lc)
    }
}
