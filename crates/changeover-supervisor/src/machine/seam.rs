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
///
/// The methods after [`kill_group`](Processes::kill_group) are for proxy
/// mode (`--proxy`), where the seam also owns each generation's private
/// upstream and the public side (the *front*); they do nothing by default.
/// What they start is reported back as an [`Event`]: [`Event::Probed`],
/// [`Event::Drained`], [`Event::FrontClosed`].
pub trait Processes {
    /// Starts generation `generation` (a new child) with the listeners (in
    /// proxy mode: its private upstream); returns its pid. The child leads a
    /// process group of its own.
    fn start_child(&mut self, generation: u64) -> Result<u32, SpawnError>;
    /// Starts one run of the `exec:` readiness probe for child `child`;
    /// returns the probe's pid.
    fn start_probe(&mut self, child: u32) -> Result<u32, SpawnError>;
    /// Sends `signal` to process `pid`.
    fn signal(&mut self, pid: u32, signal: Signal);
    /// Sends SIGKILL to the process group that `pid` leads.
    fn kill_group(&mut self, pid: u32);

    /// Checks once whether generation `generation` serves on its upstream:
    /// a connection accepted (`path` `None`), or `GET path` answered 2xx.
    /// Reports [`Event::Probed`].
    fn probe_upstream(&mut self, generation: u64, path: Option<&str>) {
        let _unused = (generation, path);
    }
    /// Generation `generation` is ready: new requests go to it (it is the newest).
    fn route(&mut self, generation: u64) {
        let _unused = generation;
    }
    /// Generation `generation` gets no new request; reports
    /// [`Event::Drained`] once nothing is in flight to it.
    fn retire(&mut self, generation: u64) {
        let _unused = generation;
    }
    /// Ends generation `generation`'s upgraded connections (its drain deadline passed).
    fn cut(&mut self, generation: u64) {
        let _unused = generation;
    }
    /// Generation `generation`'s process is gone: it leaves the routing
    /// table, its upstream is removed.
    fn gone(&mut self, generation: u64) {
        let _unused = generation;
    }
    /// A stop began: every HTTP/1.1 response on the public side carries
    /// `Connection: close`; accepting goes on.
    fn front_draining(&mut self) {}
    /// The stop delay is over: the public side stops accepting and drains
    /// its client connections (cut at `--drain-timeout`); reports
    /// [`Event::FrontClosed`] once none is left.
    fn front_stop(&mut self) {}
    /// A forced stop: the public side cuts its client connections now.
    fn front_force(&mut self) {}
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
    /// Proxy mode: one check of a generation's upstream ended
    /// ([`Processes::probe_upstream`]): `Ok` it serves, `Err` why not yet.
    Probed {
        /// The generation.
        generation: u64,
        /// What the check found.
        result: Result<(), String>,
    },
    /// Proxy mode: nothing is in flight to retired generation `0`.
    Drained(u64),
    /// Proxy mode, stopping: the public side has no client connection left.
    FrontClosed,
}
