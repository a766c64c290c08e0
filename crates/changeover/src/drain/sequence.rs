//! The lifecycle's side of the drain protocol: it moves the steps forward,
//! and waits out the stop sequence (the stop delay, the drain, the cut).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::signals::DrainSignals;
use super::{Draining, Phase, Shared, Step};
use crate::duration::format_duration;

/// How long tasks that ignore the `cut` token get before they are left behind.
const AFTER_CUT: Duration = Duration::from_secs(1);

/// How long each wait of a stop lasts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadlines {
    /// Step 2.
    pub(crate) stop_delay: Duration,
    /// From step 3 to step 4.
    pub(crate) drain: Duration,
}

/// The lifecycle's side of the protocol: it moves the steps forward.
#[derive(Debug)]
pub(crate) struct Drain(pub(super) Arc<Shared>);

impl Drain {
    /// A protocol in phase [`Starting`](Phase::Starting), nothing fired.
    pub(crate) fn new(lame_duck: Duration) -> Drain {
        let (phase, _) = watch::channel(Phase::Starting);
        Drain(Arc::new(Shared {
            phase,
            draining: AtomicBool::new(false),
            step: AtomicU8::new(Step::Serving as u8),
            shutdown: CancellationToken::new(),
            stop_accepting: CancellationToken::new(),
            cut: CancellationToken::new(),
            tracker: TaskTracker::new(),
            acceptors: TaskTracker::new(),
            lame_duck,
            #[cfg(feature = "http")]
            handoff: std::sync::OnceLock::new(),
        }))
    }

    /// Before step 1 of a handover: idle connections go to the successor
    /// behind `outbox` at step 3 instead of their lame duck.
    #[cfg(feature = "http")]
    pub(crate) fn hand_off_to(&self, outbox: crate::handover::Outbox) {
        if self.0.handoff.set(outbox).is_err() {
            tracing::warn!("a second successor to hand connections to; keeping the first");
        }
    }

    /// What the serve path needs.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn signals(&self) -> DrainSignals {
        DrainSignals(self.0.clone())
    }

    /// The public view of the `draining` flag.
    pub(crate) fn draining(&self) -> Draining {
        Draining(self.0.clone())
    }

    /// The phase now.
    pub(crate) fn phase(&self) -> Phase {
        *self.0.phase.borrow()
    }

    /// Watches the phase.
    pub(crate) fn subscribe(&self) -> watch::Receiver<Phase> {
        self.0.phase.subscribe()
    }

    /// The token of step 1, for the application.
    pub(crate) fn shutdown_token(&self) -> CancellationToken {
        self.0.shutdown.clone()
    }

    /// Connections and tasks the drain waits for.
    pub(crate) fn tracker(&self) -> &TaskTracker {
        &self.0.tracker
    }

    /// Starting → Ready; a later phase stays.
    pub(crate) fn mark_ready(&self) {
        self.0.phase.send_if_modified(|p| {
            let changed = *p == Phase::Starting;
            if changed {
                *p = Phase::Ready;
            }
            changed
        });
    }

    /// Step 1.
    pub(crate) fn begin(&self) {
        self.set_phase(Phase::Draining);
        self.0.shutdown.cancel();
    }

    /// Steps 2 to 4: the stop delay, stop accepting (then
    /// `on_stop_accepting` runs), wait for the connections, cut what is left
    /// at the deadline. `second_stop` completing at any point skips the
    /// waits that are left. Returns whether connections were cut.
    pub(crate) async fn complete<F>(
        &self,
        deadlines: Deadlines,
        mut second_stop: Pin<&mut F>,
        on_stop_accepting: impl FnOnce(),
    ) -> bool
    where
        F: Future<Output = ()>,
    {
        let shared = &self.0;
        let mut force = false;
        if !deadlines.stop_delay.is_zero() {
            tracing::info!(delay = %format_duration(deadlines.stop_delay), "stop delay: still serving while load balancers catch up");
            tokio::select! {
                _ = tokio::time::sleep(deadlines.stop_delay) => {}
                _ = second_stop.as_mut() => { force = true; tracing::warn!("second stop signal: stopping now"); }
            }
        }
        self.advance(Step::AcceptingStopped);
        on_stop_accepting();
        shared.acceptors.close();
        shared.tracker.close();
        tracing::info!(
            open = shared.tracker.len(),
            deadline = %format_duration(deadlines.drain),
            "stopped accepting; draining"
        );
        if !force {
            let drained = async {
                shared.acceptors.wait().await;
                shared.tracker.wait().await;
            };
            tokio::select! {
                _ = drained => {}
                _ = tokio::time::sleep(deadlines.drain) => {
                    force = true;
                    tracing::warn!(open = shared.tracker.len(), "drain deadline reached: closing what is left");
                }
                _ = second_stop.as_mut() => {
                    force = true;
                    tracing::warn!(open = shared.tracker.len(), "second stop signal: closing what is left");
                }
            }
        }
        if !force {
            return false;
        }
        let cut = !shared.tracker.is_empty();
        self.advance(Step::Cut);
        // Connections end as soon as they see the cut token; this bound
        // only guards against an application task that ignores it.
        if tokio::time::timeout(AFTER_CUT, shared.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                open = shared.tracker.len(),
                "tasks still running after the forced stop; leaving them"
            );
        }
        cut
    }

    /// Step 3 or 4: the step first, then the token, so that whoever the
    /// token wakes reads the step it is at.
    pub(super) fn advance(&self, step: Step) {
        self.0.step.store(step as u8, Ordering::Release);
        match step {
            // Where every protocol starts; there is nothing to fire.
            Step::Serving => {}
            Step::AcceptingStopped => self.0.stop_accepting.cancel(),
            Step::Cut => self.0.cut.cancel(),
        }
    }

    /// The end: phase [`Stopped`](Phase::Stopped).
    pub(crate) fn finish(&self) {
        self.set_phase(Phase::Stopped);
    }

    fn set_phase(&self, phase: Phase) {
        if phase >= Phase::Draining {
            self.0.draining.store(true, Ordering::Release);
        }
        self.0.phase.send_replace(phase);
    }
}
