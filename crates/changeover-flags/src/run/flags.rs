//! What `changeover run`'s flags mean once they were checked.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::DEFAULT_KUBERNETES_STOP_DELAY;
use super::proxy::ProxyFlags;
use crate::addr::Addr;
use crate::duration::format_duration;

/// How the supervisor learns that a new child is ready to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadyMode {
    /// The child sends `READY=1` to `NOTIFY_SOCKET` (systemd's protocol).
    Notify,
    /// The child is taken to be ready this long after it started, if it is still running.
    Delay(Duration),
    /// This command (run by `/bin/sh -c`, with `CHANGEOVER_CHILD_PID` set) is
    /// run until it exits 0.
    Exec(String),
    /// `http:PATH` (with `--proxy`): `GET PATH` on the generation's own
    /// upstream, repeated until it is answered 2xx.
    Http(String),
    /// With `--proxy --upstream env:VAR` when no `--ready` is given: a
    /// connection to the generation's port succeeds (the child binds it
    /// itself, so that proves it listens). Not written as a flag value.
    Connect,
}

impl fmt::Display for ReadyMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadyMode::Notify => write!(f, "notify"),
            ReadyMode::Delay(d) => write!(f, "delay:{}", format_duration(*d)),
            ReadyMode::Exec(c) => write!(f, "exec:{c}"),
            ReadyMode::Http(p) => write!(f, "http:{p}"),
            ReadyMode::Connect => write!(f, "connect"),
        }
    }
}

/// One `--listen`: the name it gets in `LISTEN_FDNAMES` and its address, not yet resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenSpec {
    /// The name in `LISTEN_FDNAMES`.
    pub name: String,
    /// Where to bind it.
    pub addr: Addr,
}

/// What `changeover run`'s flags mean, once [`RunArgs::check`](super::RunArgs::check) accepted them. Only what depends
/// on the machine is left open: host names to resolve, and the defaults that depend on the
/// environment (`None` below).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFlags {
    /// Sockets to bind, in order (fd 3, 4, … in the child).
    pub listen: Vec<ListenSpec>,
    /// Where to write the supervisor's pid.
    pub pid_file: Option<PathBuf>,
    /// The control socket; `None`: the environment's default.
    pub control: Option<PathBuf>,
    /// Where to serve `/livez`, `/readyz` and `/metrics`.
    pub health: Option<Addr>,
    /// How readiness is learnt.
    pub ready: ReadyMode,
    /// How long a new child may take to become ready before it is killed.
    pub ready_timeout: Duration,
    /// `--stop-delay`; `None`: the environment's default (see [`RunFlags::stop_delay_or_default`]).
    pub stop_delay: Option<Duration>,
    /// How long a child may drain after the stop signal before SIGKILL.
    pub drain_timeout: Duration,
    /// What a child is sent to make it drain and exit.
    pub stop_signal: Signal,
    /// The signal that starts a reload.
    pub reload_signal: Signal,
    /// How many old generations may drain at once.
    pub max_draining: usize,
    /// `--proxy`, if given.
    pub proxy: Option<ProxyFlags>,
    /// The program to run.
    pub program: OsString,
    /// Its arguments.
    pub args: Vec<OsString>,
}

impl RunFlags {
    /// The stop delay: `--stop-delay`, else [`DEFAULT_KUBERNETES_STOP_DELAY`] when
    /// `KUBERNETES_SERVICE_HOST` is set (`kubernetes`), else none.
    pub fn stop_delay_or_default(&self, kubernetes: bool) -> Duration {
        match self.stop_delay {
            Some(d) => d,
            None if kubernetes => DEFAULT_KUBERNETES_STOP_DELAY,
            None => Duration::ZERO,
        }
    }
}
