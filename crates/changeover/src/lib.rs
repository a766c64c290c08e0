//! Graceful stop and zero-downtime self-upgrade for Rust servers.
//!
//! # Theory of operation
//!
//! One handle, [`Lifecycle`], owns the process's life. Its phases are
//! [`Phase::Starting`] → [`Phase::Ready`] → [`Phase::Draining`] →
//! [`Phase::Stopped`], observable through [`Lifecycle::phase`].
//!
//! **Listeners.** [`Lifecycle::listen`] takes a name and an address. A socket
//! of that name passed in by the systemd protocol (`LISTEN_FDS`,
//! `LISTEN_PID`, `LISTEN_FDNAMES`, fds from 3) is used; otherwise the address
//! is bound. Sockets arrive from systemd socket activation, from
//! `changeover run`, or from this process's own parent during an upgrade.
//! Inherited sockets nobody asked for are closed at [`Lifecycle::ready`].
//!
//! **Readiness.** [`Lifecycle::ready`] writes the pid file and sends
//! `READY=1` to `NOTIFY_SOCKET` (path or `@abstract`).
//!
//! **Stop** (SIGTERM or SIGINT, or [`Lifecycle::stop`]):
//! 1. phase Draining: `/readyz` answers 503, every HTTP/1.1 response carries
//!    `Connection: close`, `STOPPING=1` is reported, the
//!    [shutdown token](Lifecycle::shutdown_token) is cancelled;
//! 2. the *stop delay* passes while serving normally (default 5 s under
//!    Kubernetes, else 0), so load balancers stop routing here first;
//! 3. accepting stops; in-flight requests finish; idle keep-alive
//!    connections get a lame-duck window, then close write side first;
//! 4. [`Lifecycle::run`] returns as soon as the last connection is gone, or
//!    at the *drain deadline* (default 20 s) after cutting what is left.
//!
//! A second SIGTERM/SIGINT at any point skips what is left of the delay and
//! the drain; so does the first one while an old generation drains after a
//! handover (it is already stopping). Every wait has a deadline.
//!
//! **Upgrade** (SIGHUP, or [`Lifecycle::upgrade`]): the successor is started
//! from the path this process was started with (so a binary replaced on disk
//! is picked up), with the same arguments and environment, every listener at
//! fd 3 onwards, and `NOTIFY_SOCKET` pointing at a socket of this process.
//! This generation keeps accepting until the successor reports `READY=1`;
//! then it drains as in a stop, without the stop delay: the successor serves
//! the same sockets, so no connection is refused. If the successor exits or
//! misses the ready deadline (default 60 s; it is then killed), this
//! generation serves on. Requests for an upgrade while one runs join it.
//! Under systemd, `RELOADING=1`, then `MAINPID=<successor>` and `READY=1`
//! are reported, and the successor reports to systemd from then on.
//!
//! # Example
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use changeover::Lifecycle;
//!
//! #[tokio::main]
//! async fn main() -> Result<std::process::ExitCode, Box<dyn std::error::Error>> {
//!     let lc = Lifecycle::builder().pid_file("/tmp/app.pid").build()?;
//!     let listener = lc.listen("http", &"127.0.0.1:8080".parse()?)?;
//!     lc.serve(listener, Router::new().route("/", get(|| async { "hello\n" })))?;
//!     lc.ready()?;
//!     // SIGHUP upgrades, SIGTERM stops gracefully; `run` returns when done.
//!     Ok(lc.run().await.exit_code().into())
//! }
//! ```

mod addr;
mod duration;
mod lifecycle;
pub mod listeners;
pub mod log_limit;
pub mod notify;
mod pidfile;
pub mod spawn;
mod upgrade;

#[cfg(feature = "http")]
pub mod http;

pub use addr::{AddrError, ListenAddr};
pub use duration::{DurationError, format_duration, parse_duration};
pub use lifecycle::{
    Builder, DEFAULT_DRAIN_TIMEOUT, DEFAULT_KUBERNETES_STOP_DELAY, DEFAULT_LAME_DUCK,
    DEFAULT_READY_TIMEOUT, Error, Lifecycle, Outcome, Phase, STOP_DELAY_VAR, UPSTREAM_NOTIFY_VAR,
};
pub use listeners::{ListenError, Listener};
pub use pidfile::PidFile;
pub use upgrade::{UpgradeError, describe_exit};
