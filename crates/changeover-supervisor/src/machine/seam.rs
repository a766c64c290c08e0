//! The machine's two edges: [`Processes`], what it does to processes, and
//! [`Event`], everything it learns. Nothing else reaches it, so a test can
//! stand in for the operating system on both sides.

use std::process::ExitStatus;

use changeover::notify::{MalformedReport, Report};
use changeover::spawn::SpawnError;
use nix::sys::signal::Signal;
use tokio::sync::oneshot;

use crate::protocol::{PrestopReply, ReloadReply, Status};

/// What the supervisor does to processes: the seam between the state
/// machine and the operating system. The real one forks and signals; a
/// test's records what was asked, and when.
pub trait Processes {
    /// Starts a new child (a generation) with the listeners; returns its pid.
    /// The child leads a process group of its own.
    fn start_child(&mut self) -> Result<u32, SpawnError>;
    /// Starts one run of the `exec:` readiness probe for child `child`;
    /// returns the probe's pid.
    fn start_probe(&mut self, child: u32) -> Result<u32, SpawnError>;
    /// Sends `signal` to process `pid`.
    fn signal(&mut self, pid: u32, signal: Signal);
    /// Sends SIGKILL to the process group that `pid` leads.
    fn kill_group(&mut self, pid: u32);
}

/// Something that happened, for the state machine to act on.
#[derive(Debug)]
pub enum Event {
    /// SIGTERM or SIGINT reached the supervisor.
    Stop(Signal),
    /// `changeover prestop`: begin the stop; answer once the stop delay has passed.
    Prestop(oneshot::Sender<PrestopReply>),
    /// The reload signal (no reply) or `changeover reload` (a reply, at once
    /// or, with `wait`, once the outcome is known).
    Reload {
        /// Answer with the outcome rather than at once.
        wait: bool,
        /// Where the answer goes.
        reply: Option<oneshot::Sender<ReloadReply>>,
    },
    /// `changeover status`.
    Status(oneshot::Sender<Status>),
    /// A signal to pass on to the current child.
    Forward(Signal),
    /// A process was reaped: a child, a probe, or an orphan.
    Exited {
        /// Its pid.
        pid: u32,
        /// How it ended.
        status: ExitStatus,
    },
    /// A datagram arrived on the notify socket.
    Notify(Result<Report, MalformedReport>),
}
