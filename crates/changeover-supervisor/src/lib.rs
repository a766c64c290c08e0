//! `changeover run`: a zero-downtime supervisor and container PID 1 for
//! servers written in any language.
//!
//! # Theory of operation
//!
//! The supervisor binds every listening socket once (`--listen`, or what
//! systemd passed it in `LISTEN_FDS`) and keeps it open for its whole life.
//! Each child it starts — a *generation* — gets those sockets by the systemd
//! protocol (fd 3 onwards, `LISTEN_FDS`, `LISTEN_FDNAMES`, `LISTEN_PID`
//! written after the fork), a `NOTIFY_SOCKET` of the supervisor's, its own
//! process group, and `CHANGEOVER_STOP_DELAY=0s` so that a server built on
//! the `changeover` library leaves the stop delay to the supervisor. Nothing
//! else is inherited: every other fd is close-on-exec.
//!
//! **Generations.** Each child is in one phase, and each phase carries
//! what is true only in it (a deadline, how readiness is checked):
//!
//! | phase | left when | to |
//! | --- | --- | --- |
//! | Starting (ready deadline; `READY=1`, a `delay:` instant or an `exec:` probe) | `READY=1` from its pid (`--ready notify`), the delay passed (`delay:`), the probe exited 0 (`exec:`) | Ready |
//! | Starting | it exits | gone: rolled back |
//! | Starting | `--ready-timeout` passes, or the probe cannot be started | Killed (SIGKILL to its group), then gone: rolled back |
//! | Starting | a stop began | Abandoned: neither timed nor promoted |
//! | Ready | a successor became ready, or the stop delay passed | Draining: the stop signal is sent |
//! | Ready (`--proxy`) | a successor became ready, or the client connections closed after the stop delay | Retired: no new request goes to it |
//! | Retired | nothing is in flight to it, or `--drain-timeout` passed (its tunnels are cut) | Draining: the stop signal is sent; SIGKILL at the same deadline, at least 1 s after the signal |
//! | Abandoned | the stop delay passed | Draining: the stop signal is sent |
//! | Draining (kill deadline) | it exits, or `--drain-timeout` passes (SIGKILL to its group) | gone (Killed until reaped) |
//!
//! `changeover status` shows an abandoned child as `starting`. The
//! supervisor as a whole is running, reloading (one successor starting),
//! stopping (in the stop delay, then signalled) or exiting.
//!
//! **Reload** (the reload signal, SIGHUP by default, or `changeover reload`):
//! a new generation starts beside the ready one, which keeps accepting on the
//! shared sockets — the kernel's accept queue is never closed, so no
//! connection is refused. Only when the new one is ready does the old one get
//! the stop signal. A new generation that exits or misses the ready timeout
//! is killed and the old one serves on. Reload requests that arrive while one
//! runs join it and get its outcome. At most `--max-draining` old
//! generations drain at once; beyond that the oldest is killed.
//!
//! **Stop** (SIGTERM/SIGINT, or `changeover prestop`): `/readyz` answers 503
//! at once; children serve on for `--stop-delay` (so load balancers stop
//! routing here first); then every child gets the stop signal and, at
//! `--drain-timeout`, SIGKILL to its process group. The supervisor exits
//! with the status of the generation that was serving (128 + signal when a
//! signal ended it). `prestop` answers once the delay has passed, and the
//! SIGTERM Kubernetes sends after it is not counted as a second signal. A
//! second SIGTERM/SIGINT skips what is left of the delay, sends the stop
//! signal again (a changeover server then cuts its connections) and kills
//! what is left [`FORCE_GRACE`](machine::FORCE_GRACE) later; a third kills at once.
//!
//! **Proxy mode** (`--proxy`): the public sockets are the supervisor's own,
//! served with the library's serve path ([`changeover::http::Server`]), and no
//! child gets them; each generation gets a private upstream instead (a Unix
//! socket in a 0700 directory at fd 3, or a free loopback port in `$VAR`),
//! and every request goes to the newest ready generation
//! ([`changeover_proxy`]). A reload *retires* the old generation, which
//! gets its stop signal only once nothing is in flight to it; a stop turns
//! on `Connection: close` at once, stops accepting at the end of the delay,
//! and retires the children only once the client connections are closed.
//! Readiness may be `http:PATH`, checked on the generation's own upstream.
//! [`proxy`] is that side of the seam.
//!
//! **The child dies on its own**: the supervisor exits with its status once
//! every child is gone, unless a reload is bringing up a successor.
//!
//! **PID 1.** It reaps every process that ends — its children, the probes,
//! and orphans reparented to it (it makes itself a subreaper when it is not
//! PID 1) — with `waitpid(-1)` on SIGCHLD. Other catchable signals are
//! forwarded to the current child ([`signals`] has the table).
//!
//! **Ordering guarantees.** The sockets are bound before the first child
//! starts and never closed while a child lives; signal handlers are in place
//! before the first child starts; the old generation gets its stop signal
//! strictly after its successor was ready; every wait has a deadline.
//!
//! # Structure
//!
//! [`machine::Machine`] is the state machine; it acts only through the
//! [`machine::Processes`] seam and learns of everything through
//! [`machine::Event`]s, so its timing rules are tested on tokio's paused
//! clock with a fake. Its files follow its concerns: the generation and its
//! phase, the machine's data and views (status, the health snapshot), the
//! reload (spawn, readiness, takeover, rollback), the stop (signals,
//! prestop, delay, force), what children report, and the loop with its
//! clock; the [`machine`] module doc has the map and the direction of their
//! dependencies. [`run::run`] wires it to real processes as ordered steps.
//! [`control`] and [`protocol`] are the control socket, [`health`] the
//! `/livez`, `/readyz`, `/metrics` responder (hyper's HTTP/1.1), [`metrics`]
//! the counters, [`signals`] the signal table, [`process`] the real
//! processes and the reaper, [`proxy`] the data plane's side of the real
//! processes in proxy mode.
//!
//! # Example
//!
//! The state machine with a stand-in for real processes: a reload starts a
//! second child and, once it is ready, sends the first one SIGTERM.
//!
//! ```
//! use changeover::notify::Report;
//! use changeover::spawn::SpawnError;
//! use changeover_supervisor::config::{ReadyMode, Timing};
//! use changeover_supervisor::machine::{Event, Machine, Processes};
//! use nix::sys::signal::Signal;
//! use std::time::Duration;
//! use tokio::time::Instant;
//!
//! #[derive(Default)]
//! struct Fake { next: u32, signals: Vec<(u32, Signal)> }
//! impl Processes for Fake {
//!     fn start_child(&mut self, _: u64) -> Result<u32, SpawnError> { self.next += 1; Ok(100 + self.next) }
//!     fn start_probe(&mut self, _: u32) -> Result<u32, SpawnError> { unreachable!() }
//!     fn signal(&mut self, pid: u32, s: Signal) { self.signals.push((pid, s)) }
//!     fn kill_group(&mut self, _: u32) {}
//! }
//! let ready = |pid| Event::Notify(Ok(Report { pid: Some(pid), fields: vec![("READY".into(), "1".into())] }));
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let timing = Timing {
//!     ready: ReadyMode::Notify,
//!     ready_timeout: Duration::from_secs(60),
//!     stop_delay: Duration::ZERO,
//!     drain_timeout: Duration::from_secs(20),
//!     stop_signal: Signal::SIGTERM,
//!     max_draining: 4,
//!     proxy: false,
//! };
//! let now = Instant::now();
//! let (mut m, snapshot) = Machine::new(timing, Fake::default(), None, now);
//! m.start(now).unwrap();                       // pid 101
//! m.handle(now, ready(101));
//! assert!(snapshot.borrow().ready);
//! m.handle(now, Event::Reload { wait: false, reply: None }); // pid 102
//! assert!(m.processes().signals.is_empty(), "the old child serves until the new one is ready");
//! m.handle(now, ready(102));
//! assert_eq!(m.processes().signals, [(101, Signal::SIGTERM)]);
//! # });
//! ```

pub mod config;
pub mod control;
pub mod health;
pub mod machine;
pub mod metrics;
pub mod process;
pub mod protocol;
pub mod proxy;
pub mod run;
pub mod signals;

pub use config::{Config, ConfigError, Defaults, Options};
pub use run::{RunError, run};
