//! The state machine of generations, and the loop that drives it.
//!
//! [`Machine`] holds every child alive and decides what happens next; it
//! never touches a process itself. What it does to processes goes through
//! the [`Processes`] seam, and everything that happens to them comes back as
//! an [`Event`]: a reaped exit, a notification, a signal to the supervisor, a
//! control request. Time is tokio's, so the timing rules (ready timeout,
//! stop delay, drain deadline, forced stop) run exactly on a paused clock in
//! tests, with a fake in place of real processes.
//!
//! One file per concern, each adding to `impl Machine` what its concern does:
//!
//! | module | holds |
//! | --- | --- |
//! | `seam` | [`Processes`] and [`Event`]: the machine's two edges |
//! | `generation` | a child and its phase (starting, abandoned, ready, retired, draining, killed), as data |
//! | `state` | the machine's data: generations, its mode (running, reloading, stopping, exiting), counters; `status`, the [`Snapshot`], sending the stop signal and SIGKILL |
//! | `failure` | [`Refusal`] and [`ReloadFailure`]: why a reload did not happen |
//! | `reload` | spawn, readiness, takeover, rollback, `--max-draining` |
//! | `stop` | stop signals, prestop, the stop delay, the front's drain (proxy mode), the forced stop |
//! | `children` | exits, notifications, a retired child drained (proxy mode), forwarded signals |
//! | `drive` | [`Machine::handle`], the clock ([`Machine::next_deadline`], [`Machine::tick`]) and [`drive()`] |
//!
//! Each module uses (imports from, or calls methods defined in) only modules
//! listed above it, so there is no cycle: the data modules (`seam`,
//! `generation`, `state`, `failure`) know nothing of the concerns; `stop` and
//! `children` call into `reload` (a takeover, a rollback), never the reverse;
//! only `drive` calls into every concern.

mod children;
mod drive;
mod failure;
mod generation;
mod reload;
mod seam;
mod state;
mod stop;

pub use changeover::process::exit_code;
pub use drive::drive;
pub use failure::{Refusal, ReloadFailure};
pub use reload::PROBE_INTERVAL;
pub use seam::{Event, Processes};
pub use state::{Machine, Snapshot};
pub use stop::FORCE_GRACE;

#[cfg(test)]
mod tests;
