//! The drain protocol's order and timing, on tokio's paused clock.

use std::time::Duration;

use super::Phase;
use super::sequence::{Deadlines, Drain};

/// The order is the protocol: nothing but step 1 before the delay is
/// over, the lame duck starts only at step 3, and `cut` fires only for
/// what is still open at the deadline.
#[tokio::test(start_paused = true)]
async fn the_tokens_fire_in_order_and_cut_only_what_is_left() {
    let drain = Drain::new(Duration::from_secs(1));
    let signals = drain.signals();
    let draining = drain.draining();
    drain.mark_ready();
    assert_eq!(signals.phase(), Phase::Ready);
    assert!(!draining.get());

    // A connection that finishes 2 s into the drain, and one that never does.
    let (quick, slow) = (signals.clone(), signals.clone());
    signals.track(async move {
        quick.accepting_stopped().await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    });
    signals.track(async move { slow.cut().await });

    drain.begin();
    assert_eq!(signals.phase(), Phase::Draining);
    assert!(draining.get() && signals.is_draining());
    assert!(drain.shutdown_token().is_cancelled());

    let start = tokio::time::Instant::now();
    let mut accepting_stopped_at = None;
    let never = std::pin::pin!(std::future::pending::<()>());
    let cut = drain
        .complete(
            Deadlines {
                stop_delay: Duration::from_secs(5),
                drain: Duration::from_secs(20),
            },
            never,
            || accepting_stopped_at = Some(start.elapsed()),
        )
        .await;
    assert_eq!(accepting_stopped_at, Some(Duration::from_secs(5)));
    assert!(cut, "the slow connection was still open at the deadline");
    assert_eq!(start.elapsed(), Duration::from_secs(25));
    assert!(drain.tracker().is_empty());
    drain.finish();
    assert_eq!(signals.phase(), Phase::Stopped);
}

#[tokio::test(start_paused = true)]
async fn a_second_stop_skips_the_waits_and_nothing_open_is_not_a_cut() {
    let drain = Drain::new(Duration::from_secs(1));
    drain.begin();
    let start = tokio::time::Instant::now();
    let second = std::pin::pin!(tokio::time::sleep(Duration::from_secs(1)));
    let cut = drain
        .complete(
            Deadlines {
                stop_delay: Duration::from_secs(5),
                drain: Duration::from_secs(20),
            },
            second,
            || {},
        )
        .await;
    assert!(!cut, "nothing was open");
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert!(drain.0.stop_accepting.is_cancelled() && drain.0.cut.is_cancelled());
}
/// Regression (a reset in the upgrade test's one-request-per-connection
/// load, at a drain that found nothing open): an accept loop that took a
/// connection from the kernel just as accepting stopped tracks it a
/// moment later; the drain waits for that connection instead of ending
/// the generation under it.
#[tokio::test(start_paused = true)]
async fn a_connection_accepted_as_accepting_stops_is_drained() {
    let drain = Drain::new(Duration::from_secs(1));
    let signals = drain.signals();
    let acceptor = signals.clone();
    signals.track_acceptor(async move {
        acceptor.accepting_stopped().await;
        tokio::task::yield_now().await;
        acceptor.track(tokio::time::sleep(Duration::from_secs(2)));
    });
    drain.begin();
    let start = tokio::time::Instant::now();
    let never = std::pin::pin!(std::future::pending::<()>());
    let cut = drain
        .complete(
            Deadlines {
                stop_delay: Duration::ZERO,
                drain: Duration::from_secs(20),
            },
            never,
            || {},
        )
        .await;
    assert!(!cut, "the connection finished before the deadline");
    assert_eq!(start.elapsed(), Duration::from_secs(2));
}

/// A connection asks the watch on every poll but registers its waker
/// once; steps 3 and 4 must still wake it, also when it was first
/// polled from another task (whose waker then goes nowhere), and a
/// watch made late sees the step already taken.
#[cfg(feature = "http")]
#[test]
fn a_watch_wakes_its_connection_at_steps_3_and_4() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Wake, Waker};

    use super::Step;

    struct Wakes(AtomicUsize);
    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    let drain = Drain::new(Duration::from_secs(1));
    let signals = drain.signals();
    let mut watch = std::pin::pin!(signals.watch());
    let mut elsewhere = Context::from_waker(Waker::noop());
    assert_eq!(watch.as_mut().poll_step(&mut elsewhere), Step::Serving);

    let wakes = Arc::new(Wakes(AtomicUsize::new(0)));
    let waker = Waker::from(wakes.clone());
    let mut cx = Context::from_waker(&waker);
    for _ in 0..3 {
        assert_eq!(watch.as_mut().poll_step(&mut cx), Step::Serving);
    }
    assert_eq!(wakes.0.load(Ordering::SeqCst), 0);

    drain.advance(Step::AcceptingStopped);
    assert_eq!(wakes.0.load(Ordering::SeqCst), 1, "step 3 woke it");
    assert_eq!(watch.as_mut().poll_step(&mut cx), Step::AcceptingStopped);
    let late = std::pin::pin!(signals.watch());
    assert_eq!(late.poll_step(&mut elsewhere), Step::AcceptingStopped);

    drain.advance(Step::Cut);
    assert_eq!(wakes.0.load(Ordering::SeqCst), 2, "step 4 woke it");
    assert_eq!(watch.as_mut().poll_step(&mut cx), Step::Cut);
}
