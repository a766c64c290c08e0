//! Restart scenarios under load, each a row of figures: what `changeover demo` runs, and what
//! the simulator and the benchmarks reuse.
//!
//! A scenario starts a server (a [`ServerCommand`]: `changeover demo-server`,
//! `examples/hello`, any server that speaks the `changeover` library's protocol), waits for
//! its `READY=1` on a notify socket of its own (no sleeping: the scenario plays systemd), drives
//! keep-alive load at it with [`changeover_load`] (playing the load balancer, counting every
//! failed request), restarts it [`Setup::restarts`] times one way or another, waiting for
//! [`Setup::answered_between`] answers after each, stops everything it started, and returns an
//! [`Outcome`]: the load's [`Report`](changeover_load::Report) and the steady p99 before.
//!
//! The scenarios ([`Scenario`]):
//! 1. [`Scenario::SelfUpgrade`]: SIGHUP to the server, N times;
//! 2. [`Scenario::SupervisorReload`]: `changeover reload --wait` of a `changeover run`, N times;
//! 3. [`Scenario::KubernetesStop`]: SIGTERM with a stop delay, while the load goes on for a
//!    moment before the endpoint is removed;
//! 4. [`Scenario::NaiveRestart`]: the same restarts done as stop-and-start, the contrast
//!    ([`Scenario::is_contrast`]): its failures are expected.
//!
//! Every process a scenario starts is in a process group of its own (successors inherit it),
//! killed when the scenario ends, whether it succeeded or not. Every wait is bounded by
//! [`Setup::deadline`]. Processes are told apart by the pid the kernel attaches to each
//! notification, and only processes the scenario started, or that one of them named as its
//! successor, are signalled.
//!
//! ```no_run
//! use changeover_scenario::{Scenario, ServerCommand, Setup};
//!
//! # async fn demo() -> Result<(), changeover_scenario::ScenarioError> {
//! let setup = Setup {
//!     restarts: 3,
//!     ..Setup::new(
//!         ServerCommand::new("target/release/examples/hello"),
//!         "target/release/changeover",
//!     )
//! };
//! let outcome = changeover_scenario::run(Scenario::SelfUpgrade, &setup, &mut |step| {
//!     eprintln!("{step:?}")
//! })
//! .await?;
//! assert_eq!(outcome.failed(), 0, "{}", outcome.report.summary());
//! # Ok(())
//! # }
//! ```
//!
//! Dependencies point one way: this crate uses `changeover` (the notify receiver) and
//! `changeover-load`; the `changeover` binary uses this crate, never the reverse.

mod error;
mod kubernetes_stop;
mod load;
mod naive_restart;
mod process;
mod run;
mod scenario;
mod self_upgrade;
mod setup;
mod supervisor_reload;

pub use error::ScenarioError;
pub use kubernetes_stop::{ENDPOINT_LAG, KUBERNETES_STOP_DELAY};
pub use run::run;
pub use scenario::{Outcome, Progress, Scenario};
pub use setup::{ServerCommand, Setup};
