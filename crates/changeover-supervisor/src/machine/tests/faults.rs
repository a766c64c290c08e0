//! Issue 9's fault table on the paused clock: what happens to processes from
//! outside the supervisor (a kill it did not send, a flood of garbage on the
//! notify socket) is counted and reported, and changes nothing else.

use std::io::Write;
use std::sync::Mutex;

use super::*;

/// The fault table's "SIGKILL of the old generation mid-drain": the OOM
/// killer (not the supervisor at the drain deadline) ends the draining old
/// child. It is counted apart, with the signal, not as a clean drain nor as
/// one of the supervisor's own kills, and the new child serves on untouched.
#[tokio::test(start_paused = true)]
async fn a_draining_child_killed_from_outside_is_counted_apart_with_its_signal() {
    let mut h = started_and_ready(timing()).await;
    let _reply = h.reload();
    assert_eq!(h.next().await, (S(0), Act::Spawn(1002)));
    h.ready(1002);
    assert_eq!(h.next().await, (S(0), Act::Signal(1001, Signal::SIGTERM)));
    tokio::time::sleep(S(2)).await;
    h.exited(1001, killed_by(Signal::SIGKILL));
    assert_eq!(h.states().await, [(1002, "ready".into())]);
    let metrics = h.snapshot.borrow().metrics.clone();
    assert_eq!(metrics.exits_drained, 0, "a SIGKILL is no clean drain");
    assert_eq!(metrics.exits_killed, 0, "the supervisor killed nobody");
    assert_eq!(metrics.drain_seconds.count(), 0, "no drain to time");
    let text = metrics.render();
    let problems = changeover_proxy::prometheus::check(
        &text,
        &[
            "changeover_child_exits_total{how=\"drained\"} 0",
            "changeover_child_exits_total{how=\"killed\"} 0",
            "changeover_child_exits_total{how=\"signalled\"} 1",
            "changeover_child_outside_signals_total{signal=\"KILL\"} 1",
        ],
    );
    assert!(problems.is_empty(), "{problems:#?} in\n{text}");
    // Nothing is done to the new child: no kill at the old one's deadline either.
    h.nothing_until(S(60)).await;
    assert!(h.snapshot.borrow().ready);
}

/// The stop signal itself ending a child that does not handle it (a shell
/// script under SIGTERM) is the drain the supervisor asked for.
#[tokio::test(start_paused = true)]
async fn a_child_ended_by_its_own_stop_signal_counts_as_drained() {
    let mut h = started_and_ready(timing()).await;
    let _reply = h.reload();
    assert_eq!(h.next().await, (S(0), Act::Spawn(1002)));
    h.ready(1002);
    assert_eq!(h.next().await, (S(0), Act::Signal(1001, Signal::SIGTERM)));
    h.exited(1001, killed_by(Signal::SIGTERM));
    h.status().await;
    let metrics = h.snapshot.borrow().metrics.clone();
    assert_eq!(metrics.exits_drained, 1);
    let problems = changeover_proxy::prometheus::check(
        &metrics.render(),
        &["changeover_child_exits_total{how=\"signalled\"} 0"],
    );
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Log lines written while the guard lives, on this thread (the paused-clock
/// runtime runs the machine's task here too).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn install(&self) -> tracing::subscriber::DefaultGuard {
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        // tracing-core caches each callsite's interest for all threads, and
        // with a single registered dispatcher it asks only the default of the
        // thread that meets the callsite first: another test's thread, with no
        // subscriber, would cache "never" for the machine's warnings. A second
        // dispatcher, alive for the whole run, makes it ask every one.
        static SECOND: std::sync::OnceLock<tracing::Dispatch> = std::sync::OnceLock::new();
        SECOND.get_or_init(|| tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default()));
        tracing::subscriber::set_default(subscriber)
    }

    fn lines_with(&self, needle: &str) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect()
    }
}

/// The fault table's "garbage datagrams on the notify socket": 1,000
/// malformed datagrams within a second give one warning, not 1,000, and the
/// next one a second later says how many were not logged. The machine still
/// takes the child's own READY=1 after them.
#[tokio::test(start_paused = true)]
async fn a_flood_of_malformed_notifications_is_logged_once_a_second_with_the_count() {
    let log = Captured::default();
    let _guard = log.install();
    let h = Harness::start(timing()).await;
    let malformed = || {
        Event::Notify(Err(MalformedReport {
            pid: Some(4242),
            problem: "it is not UTF-8".into(),
        }))
    };
    for _ in 0..1000 {
        h.send(malformed());
    }
    h.status().await;
    let lines = log.lines_with("ignoring a malformed notification");
    assert_eq!(lines.len(), 1, "{lines:#?}");
    tokio::time::sleep(S(1)).await;
    h.send(malformed());
    h.status().await;
    let lines = log.lines_with("ignoring a malformed notification");
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(
        lines[1].contains("999 more not logged since the last such line, 1001 in all"),
        "{}",
        lines[1]
    );
    h.ready(1001);
    assert!(h.status().await.ready);
}
