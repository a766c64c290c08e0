//! The serve path's side of the drain protocol: what a connection waits
//! for and obeys, and the cheap per-poll watch of steps 3 and 4.

use std::future::Future;
#[cfg(feature = "http")]
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
#[cfg(feature = "http")]
use std::task::{Context, Waker};
use std::time::Duration;

use tokio_util::sync::WaitForCancellationFuture;

#[cfg(feature = "http")]
use super::Step;
use super::{Phase, Shared};

#[cfg(feature = "http")]
pin_project_lite::pin_project! {
    /// One connection's wait for steps 3 and 4, cheap enough to ask on
    /// every poll of the connection: [`poll_step`](Self::poll_step) is one
    /// atomic load, once the task's waker is registered with both tokens
    /// (on the first poll, and again only if the task polling it changes).
    /// Polling two cancellation futures instead costs two mutexes per
    /// wakeup, and an HTTP/1.1 connection is woken on every request.
    pub(crate) struct StepWatch<'a> {
        shared: &'a Shared,
        #[pin]
        accepting_stopped: WaitForCancellationFuture<'a>,
        #[pin]
        cut: WaitForCancellationFuture<'a>,
        registered: Option<Waker>,
    }
}

#[cfg(feature = "http")]
impl StepWatch<'_> {
    /// The step the drain is at. Until it is [`Step::Cut`], `cx`'s task is
    /// woken when it moves on.
    pub(crate) fn poll_step(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Step {
        let this = self.project();
        if !this
            .registered
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            // Registered before the step is read, so a step taken in between
            // still wakes the task. Whether a token already fired is the
            // step's to say, read below.
            let _registered_or_fired = this.accepting_stopped.poll(cx);
            let _registered_or_fired = this.cut.poll(cx);
            *this.registered = Some(cx.waker().clone());
        }
        this.shared.step()
    }
}

/// The serve path's view of the protocol: what it waits for and obeys.
/// Cheap to clone (one reference count).
#[derive(Debug, Clone)]
pub(crate) struct DrainSignals(pub(super) Arc<Shared>);

#[cfg_attr(not(feature = "http"), allow(dead_code))]
impl DrainSignals {
    /// Step 1 happened: responses carry `Connection: close`.
    pub(crate) fn is_draining(&self) -> bool {
        self.0.draining.load(Ordering::Acquire)
    }

    /// The phase, for `/readyz`.
    pub(crate) fn phase(&self) -> Phase {
        *self.0.phase.borrow()
    }

    /// Completes at step 3: stop accepting, start the lame duck.
    pub(crate) fn accepting_stopped(&self) -> WaitForCancellationFuture<'_> {
        self.0.stop_accepting.cancelled()
    }

    /// Whether step 3 happened.
    #[cfg(feature = "http")]
    pub(crate) fn has_stopped_accepting(&self) -> bool {
        self.0.stop_accepting.is_cancelled()
    }

    /// The successor that takes idle connections at step 3, if any.
    #[cfg(feature = "http")]
    pub(crate) fn handoff(&self) -> Option<&crate::handover::Outbox> {
        self.0.handoff.get()
    }

    /// [`accepting_stopped`](Self::accepting_stopped), owning its token,
    /// for a stream that outlives this borrow (gRPC health's `Watch`).
    #[cfg(feature = "grpc")]
    pub(crate) fn accepting_stopped_owned(
        &self,
    ) -> tokio_util::sync::WaitForCancellationFutureOwned {
        self.0.stop_accepting.clone().cancelled_owned()
    }

    /// Completes at step 4: drop the connection now.
    pub(crate) fn cut(&self) -> WaitForCancellationFuture<'_> {
        self.0.cut.cancelled()
    }

    /// Steps 3 and 4 for a connection, which asks on every poll.
    #[cfg(feature = "http")]
    pub(crate) fn watch(&self) -> StepWatch<'_> {
        StepWatch {
            shared: &self.0,
            accepting_stopped: self.0.stop_accepting.cancelled(),
            cut: self.0.cut.cancelled(),
            registered: None,
        }
    }

    /// The lame-duck window of each connection.
    pub(crate) fn lame_duck(&self) -> Duration {
        self.0.lame_duck
    }

    /// When an idle connection entering its lame duck now closes: a moment
    /// drawn at random within the window's second half, so that the closes of a stop are
    /// spread over it and no client's timer lines up with all of them.
    #[cfg(feature = "http")]
    pub(crate) fn lame_duck_close(&self) -> tokio::time::Instant {
        tokio::time::Instant::now() + super::spread::spread(self.0.lame_duck)
    }

    /// Runs a connection as part of the drain: the generation waits for it.
    pub(crate) fn track<F>(&self, connection: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.0.tracker.spawn(connection);
    }

    /// Runs an accept loop, which must end at step 3: the drain counts
    /// the connections only once every accept loop ended.
    pub(crate) fn track_acceptor<F>(&self, accept_loop: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.0.acceptors.spawn(accept_loop);
    }
}
