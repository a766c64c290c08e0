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
//! **Stop** (SIGTERM or SIGINT, or [`Lifecycle::stop`]) runs the
//! [drain protocol](drain):
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
//! the same sockets, so no connection is refused, and it hands its idle
//! HTTP/1.1 keep-alive connections to the successor, which serves them as
//! its own (see [the drain protocol](drain#handing-idle-connections-over)),
//! so none is closed either. If the successor exits or
//! misses the ready deadline (default 60 s; it is then killed), this
//! generation serves on. Requests for an upgrade while one runs join it.
//! Under systemd, `RELOADING=1`, then `MAINPID=<successor>` and `READY=1`
//! are reported, and the successor reports to systemd from then on.
//!
//! **gRPC** (feature `grpc`): [`grpc::health_service`] is the standard
//! `grpc.health.v1.Health` service, `SERVING` while ready and `NOT_SERVING`
//! from the moment a stop began; tonic services are served like any other.
//!
//! # Shape
//!
//! The lifecycle is the one module that knows the others; it decides, and
//! each of them does one thing with what it is handed:
//!
//! | module | owns | gets from the lifecycle |
//! | --- | --- | --- |
//! | `lifecycle` | the handle, its builder, the request loop (signals, [`Lifecycle::stop`], [`Lifecycle::upgrade`]), this generation's links to its parent, systemd and a successor | — |
//! | [`drain`] | the drain protocol: the phase, the `shutdown`, `stop_accepting` and `cut` tokens, the connection tracker, and the stop sequence's waits | steps to take (begin, complete, finish) |
//! | `http` (feature `http`) | the accept loop, each connection's way through the drain, `/livez` and `/readyz`, `Connection: close` | a listener, a service and the drain signals (the receiving side only) |
//! | `upgrade` | starting a successor, waiting for its `READY=1`, handing over or killing it | an upgrade plan: program, arguments, environment, named listeners, upstream notify socket, ready deadline |
//! | `handover` (feature `http`) | passing connections between generations: the successor's intake, the old generation's outbox, `SCM_RIGHTS`, peer checks, the deadline | the successor's pid and intake address; the takers by listener name |
//! | [`listeners`] | binding and inheriting sockets (`LISTEN_FDS`) | — |
//! | [`spawn`] | starting a child the systemd way: sockets at fd 3…, `LISTEN_PID` | — |
//! | [`notify`] | `sd_notify`, both ends; `MONOTONIC_USEC` | — |
//! | [`process`] | how a process ended (in words, as a shell's status), waiting for any process | — |
//! | `grpc` (feature `grpc`) | `grpc.health.v1.Health` whose status follows the phase | the lifecycle's phase |
//!
//! Imports point one way, from the lifecycle down (`lifecycle` → `upgrade`
//! → `spawn`, `notify`, `process`; `lifecycle` → `http` → `drain`,
//! `listeners`; `lifecycle`, `http`, `drain` → `handover` → `notify`,
//! `process`); no two modules import each other. The supervisor
//! (`changeover-supervisor`) uses `listeners`, `spawn`, `notify`,
//! `process` and the lifecycle's defaults, never a [`Lifecycle`].
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
//!     let app = Router::new().route("/", get(|| async { "hello\n" }));
//!     // `with_state(())`, as `axum::serve` does: each handler becomes its
//!     // route once instead of on every request.
//!     lc.serve(listener, app.with_state(()))?;
//!     lc.ready()?;
//!     // SIGHUP upgrades, SIGTERM stops gracefully; `run` returns when done.
//!     Ok(lc.run().await.exit_code().into())
//! }
//! ```

mod addr;
pub mod drain;
mod duration;
#[cfg(feature = "http")]
mod handover;
mod lifecycle;
pub mod listeners;
pub mod log_limit;
pub mod notify;
mod pidfile;
pub mod process;
pub mod spawn;
mod upgrade;

#[cfg(feature = "http")]
pub mod http;

#[cfg(feature = "grpc")]
pub mod grpc;

pub use addr::{AddrError, ListenAddr};
pub use drain::Phase;
pub use duration::{DurationError, format_duration, parse_duration};
pub use lifecycle::{
    Builder, DEFAULT_DRAIN_TIMEOUT, DEFAULT_KUBERNETES_STOP_DELAY, DEFAULT_LAME_DUCK,
    DEFAULT_READY_TIMEOUT, Error, Lifecycle, Outcome, STOP_DELAY_VAR,
};
pub use listeners::{ListenError, Listener};
pub use pidfile::PidFile;
pub use upgrade::{UPSTREAM_NOTIFY_VAR, UpgradeError};
