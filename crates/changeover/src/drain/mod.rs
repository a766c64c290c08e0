//! The drain protocol: how a generation stops serving without failing a
//! request, in one place.
//!
//! Three cancellation tokens fire in this order, each at most once; the
//! [phase](Phase) and a `draining` flag move with the first one.
//!
//! | step | when | token (and state) | what the server does |
//! | --- | --- | --- | --- |
//! | 1. begin | a stop (SIGTERM, SIGINT, [`Lifecycle::stop`](crate::Lifecycle::stop)) or a handover to a ready successor | `shutdown`; phase [`Draining`](Phase::Draining), `draining` flag set | `/readyz` answers 503; every HTTP/1.1 response carries `Connection: close`, so a busy keep-alive connection ends itself after its current response; the application's background work sees [`Lifecycle::shutdown_token`](crate::Lifecycle::shutdown_token) cancelled. Accepting and serving go on. |
//! | 2. stop delay | after step 1: the stop delay on a stop (default 5 s on Kubernetes, else 0), none after a handover (the successor serves the same sockets) | — | Serving goes on, so load balancers stop routing here before anything is refused. |
//! | 3. stop accepting | the delay is over | `stop_accepting`; the connection tracker is closed | The accept loops end (what is still queued in the kernel is left to the successor sharing the socket); the copies of the listeners kept for a successor are closed. After a handover to a successor that takes connections, each idle HTTP/1.1 connection is handed to it (see [below](#handing-idle-connections-over)); every other open connection gets its *lame-duck* window (default 1 s). |
//! | 4. cut | the drain deadline (default 20 s after step 3) passes, or a second stop signal comes, with connections still open | `cut` | Every connection is dropped at once; the generation exits with status 1. Tasks that ignore the token get 1 s more, then are left behind. |
//!
//! Without step 4, the generation ends (phase [`Stopped`](Phase::Stopped),
//! status 0) as soon as the accept loops ended and the last tracked
//! connection or task is gone.
//!
//! # One connection
//!
//! Which protocol a connection speaks is told by its first bytes (the
//! HTTP/2 client preface, or not); an HTTP/1 connection is handed to hyper
//! once its first request head is whole, and counts as idle until then.
//! From step 3 on, each connection runs through these, every wait also
//! ending at once at the `cut` token:
//!
//! 1. **Lame duck** (HTTP/1): for the lame-duck window the connection is
//!    served as before. A request the client is already sending, or that sat
//!    accepted but unread, is read and answered (with `Connection: close`),
//!    and a connection that ends itself in the window is done. An idle one
//!    is closed at a moment drawn at random within the window's second half
//!    (HAProxy's `close-spread-time`; the first half leaves room for a
//!    request already on its way), not at its end: the closes of a stop are
//!    spread over it, so no client's timer (a 1 s poll interval, say)
//!    lines up with all of them. An HTTP/2
//!    connection (told by its first bytes, the client preface) skips this
//!    step: its GOAWAY already leaves room for a stream on its way, and
//!    sending it at once moves a pooled client (gRPC) off this generation
//!    now instead of a lame-duck window later.
//! 2. **Graceful shutdown**: then hyper is asked to close: an idle HTTP/1.1
//!    connection closes now, a busy one after its response; HTTP/2 gets
//!    h2's two-step GOAWAY (the highest stream id, then after a ping round
//!    trip the real last one), and the streams in flight finish.
//! 3. **Write side first**: once hyper is done, the socket is shut down for
//!    writing (FIN) and what the client still sends is read and discarded
//!    until it closes its side, bounded by the lame-duck window (at least
//!    100 ms). Closing a socket with unread data in it sends a reset, and a
//!    reset makes the client's kernel drop a response it has not read yet.
//!
//! A connection upgraded to another protocol (WebSocket) is the
//! application's from then on: it ends at `cut` like a task.
//!
//! # Handing idle connections over
//!
//! A stop closes idle keep-alive connections, and a client may be writing
//! its next request into one just then (a client that does not retry, like
//! Python's `urllib3` or the JDK's, then fails it). A handover need not:
//! the successor serves the same sockets, so at step 3 each idle HTTP/1.1
//! connection goes to it, socket and bytes already read, and the successor
//! serves it as its own (the `handover` module has the protocol between
//! the generations; the successor says in its `READY=1` that it takes
//! connections). Idle means no request under way: nothing, or a request
//! head partly received (those bytes go with it). Hyper is asked to stop
//! and gives the socket back without closing it; a connection that wrote
//! anything on the way (the response to a request that was under way,
//! which carries `Connection: close`) is closed as in a stop instead.
//!
//! | connection | at a handover |
//! | --- | --- |
//! | HTTP/1.1, idle (or a request head partly received) | handed over; the successor answers its next request |
//! | HTTP/1.1, a request under way | answered with `Connection: close`, then closed write side first |
//! | HTTP/2 (gRPC) | two-step GOAWAY, as in a stop: the client opens its next connection to the successor |
//! | upgraded (WebSocket) | the application's; ends at `cut` |
//! | more than 32 KiB read and not yet answered (pipelined requests) | the lame duck, as in a stop |
//! | any, when the successor does not take connections (an older version), dies or does not answer within 2 s | the lame duck, as in a stop: nothing is lost that a stop would not lose |
//!
//! TLS is not the library's (a TLS terminator in front keeps its own
//! connections). Under `changeover run` there is no handover: the
//! supervisor passes listening sockets to each new child, not connections;
//! the old child gets a stop signal and goes through a stop, lame duck
//! included.
//!
//! The lifecycle owns the sending side of this protocol (`Drain`); the
//! serve path gets its receiving side (`DrainSignals`) and can only obey it.
//! A connection asks for steps 3 and 4 on every poll, through a `StepWatch`:
//! one atomic load, its task's waker registered with the tokens once.
//!
//! The module's parts: `signals` (the serve path's side, `DrainSignals` and
//! `StepWatch`), `sequence` (the lifecycle's side, `Drain`: the stop
//! sequence's steps and waits) and `spread` (the random moment of each
//! lame-duck close); the state they share is defined here.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

mod sequence;
mod signals;
mod spread;
#[cfg(test)]
mod tests;

pub(crate) use sequence::{Deadlines, Drain};
#[cfg_attr(not(feature = "http"), allow(unused_imports))]
pub(crate) use signals::DrainSignals;
#[cfg(feature = "http")]
pub(crate) use signals::StepWatch;

/// Where the process is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// Listening, not yet declared ready: `/readyz` answers 503.
    Starting,
    /// Serving normally: `/readyz` answers 200.
    Ready,
    /// A stop or a handover began: `/readyz` answers 503, every HTTP/1.1
    /// response carries `Connection: close`; after the stop delay (none for
    /// a handover) accepting stops and connections drain.
    Draining,
    /// Every connection is closed; [`Lifecycle::run`](crate::Lifecycle::run) is returning.
    Stopped,
}

/// The state both sides share.
#[derive(Debug)]
struct Shared {
    phase: watch::Sender<Phase>,
    /// Mirrors `phase >= Draining`; read on every response, so a plain
    /// atomic rather than the watch's lock.
    draining: AtomicBool,
    /// Mirrors which of `stop_accepting` and `cut` fired, as a [`Step`];
    /// set before the token is cancelled, so whoever the token wakes sees
    /// it. Read by every connection on every poll.
    step: AtomicU8,
    shutdown: CancellationToken,
    stop_accepting: CancellationToken,
    cut: CancellationToken,
    /// Every connection and every task spawned through the lifecycle.
    tracker: TaskTracker,
    /// The accept loops, apart from `tracker`: they end at step 3, but a
    /// loop that just took a connection from the kernel tracks it a moment
    /// later, on its own thread. Had the drain found `tracker` empty in
    /// between, the process would exit and the client, its request
    /// unread, would get a reset.
    acceptors: TaskTracker,
    lame_duck: Duration,
    /// Where idle connections go at step 3 instead of their lame duck: a
    /// successor that takes them. Set at most once, before step 1.
    #[cfg(feature = "http")]
    handoff: std::sync::OnceLock<crate::handover::Outbox>,
}

/// Whether the process is draining; cheap to ask on every request.
#[derive(Debug, Clone)]
pub struct Draining(Arc<Shared>);

impl Draining {
    /// Whether a stop or handover began.
    pub fn get(&self) -> bool {
        self.0.draining.load(Ordering::Acquire)
    }
}

/// How far steps 3 and 4 went, in their order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub(crate) enum Step {
    /// Before step 3: accept and serve.
    Serving = 0,
    /// Step 3 happened: accepting stopped, the lame duck began.
    AcceptingStopped = 1,
    /// Step 4 happened: drop what is left.
    Cut = 2,
}

impl Shared {
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    fn step(&self) -> Step {
        match self.step.load(Ordering::Acquire) {
            0 => Step::Serving,
            1 => Step::AcceptingStopped,
            _ => Step::Cut,
        }
    }
}
