//! The timing rules, exactly: the real driver and state machine on tokio's
//! paused clock, with a fake in place of processes that records what it was
//! asked to do and when. Time only moves when every task waits, and then
//! straight to the next deadline, so each assertion on an instant is exact.
//!
//! One file above 500 lines on purpose: every test uses the harness at the
//! top, and each reads as one scenario from start to exit. Proxy mode's
//! scenarios are in `tests/proxy.rs`, on the same harness.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use std::os::unix::net::UnixDatagram;

use changeover::notify::{MalformedReport, Notifier, NotifyAddr, Report};
use changeover::spawn::SpawnError;
use nix::sys::signal::Signal;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::*;
use crate::config::{ReadyMode, Timing};

mod faults;
mod proxy;
use crate::protocol::{PrestopReply, ReloadReply, Status};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Spawn(u32),
    Probe(u32, u32),
    Signal(u32, Signal),
    KillGroup(u32),
    // Proxy mode only (`Timing::proxy`): what the machine asks of the data plane.
    /// A check of a generation's upstream; whether with a path (`http:`).
    CheckUpstream(u64, bool),
    Route(u64),
    Retire(u64),
    Cut(u64),
    Gone(u64),
    FrontDraining,
    FrontStop,
    FrontForce,
}

struct Fake {
    next_pid: u32,
    acts: UnboundedSender<(Instant, Act)>,
    fail_spawn: Arc<AtomicBool>,
    /// Record the proxy-mode acts (the real seam does nothing for them without `--proxy`).
    proxy: bool,
}

impl Fake {
    fn record(&self, act: Act) {
        self.acts.send((Instant::now(), act)).expect("test alive");
    }
}

impl Fake {
    fn record_proxy(&self, act: Act) {
        if self.proxy {
            self.record(act);
        }
    }
}

impl Processes for Fake {
    fn start_child(&mut self, _generation: u64) -> Result<u32, SpawnError> {
        if self.fail_spawn.load(Ordering::SeqCst) {
            return Err(SpawnError::NotFound("server".into()));
        }
        self.next_pid += 1;
        self.record(Act::Spawn(self.next_pid));
        Ok(self.next_pid)
    }
    fn start_probe(&mut self, child: u32) -> Result<u32, SpawnError> {
        self.next_pid += 1;
        self.record(Act::Probe(self.next_pid, child));
        Ok(self.next_pid)
    }
    fn signal(&mut self, pid: u32, signal: Signal) {
        self.record(Act::Signal(pid, signal));
    }
    fn kill_group(&mut self, pid: u32) {
        self.record(Act::KillGroup(pid));
    }
    fn probe_upstream(&mut self, generation: u64, path: Option<&str>) {
        self.record_proxy(Act::CheckUpstream(generation, path.is_some()));
    }
    fn route(&mut self, generation: u64) {
        self.record_proxy(Act::Route(generation));
    }
    fn retire(&mut self, generation: u64) {
        self.record_proxy(Act::Retire(generation));
    }
    fn cut(&mut self, generation: u64) {
        self.record_proxy(Act::Cut(generation));
    }
    fn gone(&mut self, generation: u64) {
        self.record_proxy(Act::Gone(generation));
    }
    fn front_draining(&mut self) {
        self.record_proxy(Act::FrontDraining);
    }
    fn front_stop(&mut self) {
        self.record_proxy(Act::FrontStop);
    }
    fn front_force(&mut self) {
        self.record_proxy(Act::FrontForce);
    }
}

fn timing() -> Timing {
    Timing {
        ready: ReadyMode::Notify,
        ready_timeout: Duration::from_secs(60),
        stop_delay: Duration::ZERO,
        drain_timeout: Duration::from_secs(20),
        stop_signal: Signal::SIGTERM,
        max_draining: 4,
        proxy: false,
    }
}

fn code(c: i32) -> ExitStatus {
    ExitStatus::from_raw(c << 8)
}

fn killed_by(s: Signal) -> ExitStatus {
    ExitStatus::from_raw(s as i32)
}

const S: fn(u64) -> Duration = Duration::from_secs;

struct Harness {
    events: UnboundedSender<Event>,
    acts: UnboundedReceiver<(Instant, Act)>,
    snapshot: watch::Receiver<Snapshot>,
    exit: JoinHandle<u8>,
    fail_spawn: Arc<AtomicBool>,
    t0: Instant,
}

impl Harness {
    /// Starts the machine with its first child, pid 1001.
    async fn start(timing: Timing) -> Harness {
        Harness::start_with(timing, None).await
    }

    /// Starts the machine with its first child, pid 1001, and `service_manager`
    /// as the supervisor's own `NOTIFY_SOCKET`.
    async fn start_with(timing: Timing, service_manager: Option<Notifier>) -> Harness {
        let (tx, acts) = unbounded_channel();
        let fail_spawn = Arc::new(AtomicBool::new(false));
        let fake = Fake {
            next_pid: 1000,
            acts: tx,
            fail_spawn: fail_spawn.clone(),
            proxy: timing.proxy,
        };
        let t0 = Instant::now();
        let (mut machine, snapshot) = Machine::new(timing, fake, service_manager, t0);
        assert_eq!(machine.start(t0).unwrap(), 1001);
        let (events, queue) = unbounded_channel();
        let exit = tokio::spawn(drive(machine, queue));
        let mut h = Harness {
            events,
            acts,
            snapshot,
            exit,
            fail_spawn,
            t0,
        };
        assert_eq!(h.next().await, (S(0), Act::Spawn(1001)));
        h
    }

    /// The next thing done to a process, and when (since the start).
    async fn next(&mut self) -> (Duration, Act) {
        let (at, act) = tokio::time::timeout(S(3600), self.acts.recv())
            .await
            .expect("the machine did nothing for an hour")
            .expect("the machine is gone");
        (at - self.t0, act)
    }

    fn elapsed(&self) -> Duration {
        Instant::now() - self.t0
    }

    fn send(&self, e: Event) {
        self.events.send(e).expect("machine alive");
    }

    fn notify(&self, pid: u32, fields: &[(&str, &str)]) {
        self.send(Event::Notify(Ok(Report {
            pid: Some(pid),
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        })));
    }

    fn ready(&self, pid: u32) {
        self.notify(pid, &[("READY", "1")]);
    }

    fn exited(&self, pid: u32, status: ExitStatus) {
        self.send(Event::Exited { pid, status });
    }

    fn reload(&self) -> oneshot::Receiver<ReloadReply> {
        let (tx, rx) = oneshot::channel();
        self.send(Event::Reload {
            wait: true,
            reply: Some(tx),
        });
        rx
    }

    /// Every event sent so far has been handled (the queue is in order).
    async fn status(&self) -> Status {
        let (tx, rx) = oneshot::channel();
        self.send(Event::Status(tx));
        rx.await.expect("status")
    }

    async fn states(&self) -> Vec<(u32, String)> {
        self.status()
            .await
            .generations
            .into_iter()
            .map(|g| (g.pid, g.state))
            .collect()
    }

    /// Nothing is done to any process before `deadline` (since the start).
    async fn nothing_until(&mut self, deadline: Duration) {
        let wait = (self.t0 + deadline) - Instant::now();
        if let Ok(act) = tokio::time::timeout(wait, self.acts.recv()).await {
            panic!("unexpected {act:?} before {deadline:?}");
        }
    }

    async fn exit_code(self) -> u8 {
        tokio::time::timeout(S(3600), self.exit)
            .await
            .expect("the machine did not finish")
            .expect("driver")
    }
}

/// A datagram socket standing in for systemd's `NOTIFY_SOCKET`.
struct ServiceManager {
    socket: UnixDatagram,
    _dir: tempfile::TempDir,
}

impl ServiceManager {
    fn new() -> (ServiceManager, Notifier) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let socket = UnixDatagram::bind(&path).unwrap();
        socket.set_nonblocking(true).unwrap();
        let notifier = Notifier::new(NotifyAddr::parse(path.as_os_str()).unwrap());
        (ServiceManager { socket, _dir: dir }, notifier)
    }

    /// Every message received since the last call. The machine sends while
    /// it handles an event, so after an answer to a later event they are all here.
    fn received(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match self.socket.recv(&mut buf) {
                Ok(n) => out.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return out,
                Err(e) => panic!("service manager socket: {e}"),
            }
        }
    }
}

async fn started_and_ready(timing: Timing) -> Harness {
    let h = Harness::start(timing).await;
    h.ready(1001);
    assert!(h.status().await.ready);
    h
}

#[tokio::test(start_paused = true)]
async fn a_reload_hands_over_only_after_the_new_child_is_ready() {
    let mut h = started_and_ready(timing()).await;
    let reply = h.reload();
    assert_eq!(h.next().await, (S(0), Act::Spawn(1002)));
    tokio::time::sleep(S(3)).await;
    assert_eq!(
        h.states().await,
        [(1001, "ready".into()), (1002, "starting".into())],
        "the old child serves alone while the new one starts"
    );
    h.ready(1002);
    assert_eq!(h.next().await, (S(3), Act::Signal(1001, Signal::SIGTERM)));
    assert_eq!(
        reply.await.unwrap(),
        ReloadReply::TookOver {
            pid: 1002,
            previous: vec![1001],
            millis: 3000
        }
    );
    tokio::time::sleep(S(1)).await;
    h.exited(1001, code(0));
    let status = h.status().await;
    assert_eq!(status.reloads, 1);
    assert_eq!(status.generations.len(), 1);
    let metrics = h.snapshot.borrow().metrics.clone();
    assert_eq!(metrics.drain_seconds.count(), 1);
    assert_eq!(metrics.exits_drained, 1);
    assert!(h.snapshot.borrow().ready);
}

#[tokio::test(start_paused = true)]
async fn an_old_child_is_killed_at_the_drain_deadline() {
    let mut h = started_and_ready(timing()).await;
    tokio::time::sleep(S(1)).await;
    let _reply = h.reload();
    assert_eq!(h.next().await, (S(1), Act::Spawn(1002)));
    h.ready(1002);
    assert_eq!(h.next().await, (S(1), Act::Signal(1001, Signal::SIGTERM)));
    assert_eq!(h.next().await, (S(21), Act::KillGroup(1001)));
    h.exited(1001, killed_by(Signal::SIGKILL));
    assert_eq!(
        h.snapshot.borrow().metrics.exits_killed,
        0,
        "published after the event"
    );
    h.status().await;
    assert_eq!(h.snapshot.borrow().metrics.exits_killed, 1);
}

#[tokio::test(start_paused = true)]
async fn a_new_child_never_ready_is_killed_at_the_ready_timeout_and_the_old_serves_on() {
    let mut h = started_and_ready(Timing {
        ready_timeout: S(10),
        ..timing()
    })
    .await;
    let reply = h.reload();
    assert_eq!(h.next().await, (S(0), Act::Spawn(1002)));
    assert_eq!(h.next().await, (S(10), Act::KillGroup(1002)));
    let ReloadReply::RolledBack { reason } = reply.await.unwrap() else {
        panic!("not rolled back")
    };
    assert!(
        reason.contains("did not send READY=1 within 10s"),
        "{reason}"
    );
    h.exited(1002, killed_by(Signal::SIGKILL));
    assert_eq!(h.states().await, [(1001, "ready".into())]);
    let status = h.status().await;
    assert!(status.ready);
    assert_eq!(status.failed_reloads, 1);
    // The old child was never told anything.
    h.nothing_until(S(100)).await;
}

#[tokio::test(start_paused = true)]
async fn a_new_child_that_exits_is_rolled_back() {
    let mut h = started_and_ready(timing()).await;
    let reply = h.reload();
    assert_eq!(h.next().await, (S(0), Act::Spawn(1002)));
    tokio::time::sleep(S(1)).await;
    h.exited(1002, code(3));
    let ReloadReply::RolledBack { reason } = reply.await.unwrap() else {
        panic!("not rolled back")
    };
    assert!(
        reason.contains("exited before it was ready (exit status 3)"),
        "{reason}"
    );
    assert_eq!(h.states().await, [(1001, "ready".into())]);
    h.nothing_until(S(100)).await;
}

#[tokio::test(start_paused = true)]
async fn a_reload_whose_command_cannot_start_is_rolled_back() {
    let h = started_and_ready(timing()).await;
    h.fail_spawn.store(true, Ordering::SeqCst);
    let ReloadReply::RolledBack { reason } = h.reload().await.unwrap() else {
        panic!("not rolled back")
    };
    assert!(reason.contains("could not be started"), "{reason}");
    assert!(h.status().await.ready);
}

#[tokio::test(start_paused = true)]
async fn reloads_during_a_reload_join_it() {
    let mut h = started_and_ready(timing()).await;
    let first = h.reload();
    assert_eq!(h.next().await, (S(0), Act::Spawn(1002)));
    let second = h.reload();
    h.send(Event::Reload {
        wait: false,
        reply: None,
    });
    h.ready(1002);
    assert_eq!(h.next().await, (S(0), Act::Signal(1001, Signal::SIGTERM)));
    let took = ReloadReply::TookOver {
        pid: 1002,
        previous: vec![1001],
        millis: 0,
    };
    assert_eq!(first.await.unwrap(), took);
    assert_eq!(second.await.unwrap(), took);
    assert_eq!(
        h.status().await.generations.len(),
        2,
        "one new child, not three"
    );
}

#[tokio::test(start_paused = true)]
async fn beyond_max_draining_the_oldest_is_killed() {
    let mut h = started_and_ready(Timing {
        max_draining: 1,
        ..timing()
    })
    .await;
    let _r = h.reload();
    assert_eq!(h.next().await.1, Act::Spawn(1002));
    h.ready(1002);
    assert_eq!(h.next().await.1, Act::Signal(1001, Signal::SIGTERM));
    let _r = h.reload();
    assert_eq!(h.next().await.1, Act::Spawn(1003));
    h.ready(1003);
    assert_eq!(h.next().await.1, Act::Signal(1002, Signal::SIGTERM));
    assert_eq!(h.next().await, (S(0), Act::KillGroup(1001)));
}

#[tokio::test(start_paused = true)]
async fn a_stop_serves_through_the_delay_then_signals_then_kills_at_the_deadline() {
    let mut h = started_and_ready(Timing {
        stop_delay: S(5),
        ..timing()
    })
    .await;
    h.send(Event::Stop(Signal::SIGTERM));
    let status = h.status().await;
    assert!(!status.ready, "/readyz turns 503 at once");
    assert_eq!(status.state, "stopping");
    assert!(h.snapshot.borrow().stopping);
    assert_eq!(h.states().await, [(1001, "ready".into())], "still serving");
    assert_eq!(h.next().await, (S(5), Act::Signal(1001, Signal::SIGTERM)));
    assert_eq!(h.next().await, (S(25), Act::KillGroup(1001)));
    h.exited(1001, killed_by(Signal::SIGKILL));
    assert_eq!(h.exit_code().await, 128 + 9);
}

#[tokio::test(start_paused = true)]
async fn a_stop_ends_with_the_childs_own_status() {
    let mut h = started_and_ready(timing()).await;
    h.send(Event::Stop(Signal::SIGINT));
    assert_eq!(h.next().await, (S(0), Act::Signal(1001, Signal::SIGTERM)));
    tokio::time::sleep(S(2)).await;
    h.exited(1001, code(0));
    assert_eq!(h.exit_code().await, 0);
}

#[tokio::test(start_paused = true)]
async fn a_second_stop_signal_stops_at_once() {
    let mut h = started_and_ready(Timing {
        stop_delay: S(5),
        ..timing()
    })
    .await;
    h.send(Event::Stop(Signal::SIGTERM));
    tokio::time::sleep(S(1)).await;
    h.send(Event::Stop(Signal::SIGTERM));
    assert_eq!(h.next().await, (S(1), Act::Signal(1001, Signal::SIGTERM)));
    assert_eq!(h.next().await, (S(1) + FORCE_GRACE, Act::KillGroup(1001)));
    h.exited(1001, code(1));
    assert_eq!(h.exit_code().await, 1);
}

#[tokio::test(start_paused = true)]
async fn a_second_signal_during_the_drain_repeats_the_stop_signal() {
    let mut h = started_and_ready(timing()).await;
    h.send(Event::Stop(Signal::SIGTERM));
    assert_eq!(h.next().await, (S(0), Act::Signal(1001, Signal::SIGTERM)));
    tokio::time::sleep(S(3)).await;
    h.send(Event::Stop(Signal::SIGINT));
    assert_eq!(h.next().await, (S(3), Act::Signal(1001, Signal::SIGTERM)));
    assert_eq!(h.next().await, (S(3) + FORCE_GRACE, Act::KillGroup(1001)));
}

#[tokio::test(start_paused = true)]
async fn prestop_answers_after_the_delay_and_the_sigterm_after_it_is_no_second_signal() {
    let mut h = started_and_ready(Timing {
        stop_delay: S(5),
        ..timing()
    })
    .await;
    let (tx, rx) = oneshot::channel();
    h.send(Event::Prestop(tx));
    assert!(!h.status().await.ready);
    assert_eq!(rx.await.unwrap(), PrestopReply { waited_ms: 5000 });
    assert_eq!(h.elapsed(), S(5));
    assert_eq!(h.next().await, (S(5), Act::Signal(1001, Signal::SIGTERM)));
    // Kubernetes sends SIGTERM once the hook returned: the drain goes on.
    tokio::time::sleep(S(1)).await;
    h.send(Event::Stop(Signal::SIGTERM));
    assert_eq!(h.next().await, (S(25), Act::KillGroup(1001)));
}

#[tokio::test(start_paused = true)]
async fn sigterm_during_prestop_ends_the_delay() {
    let mut h = started_and_ready(Timing {
        stop_delay: S(5),
        ..timing()
    })
    .await;
    let (tx, rx) = oneshot::channel();
    h.send(Event::Prestop(tx));
    tokio::time::sleep(S(2)).await;
    h.send(Event::Stop(Signal::SIGTERM));
    assert_eq!(h.next().await, (S(2), Act::Signal(1001, Signal::SIGTERM)));
    assert_eq!(rx.await.unwrap(), PrestopReply { waited_ms: 2000 });
}

#[tokio::test(start_paused = true)]
async fn a_stop_during_a_reload_abandons_it() {
    let mut h = started_and_ready(Timing {
        stop_delay: S(5),
        ..timing()
    })
    .await;
    let reply = h.reload();
    assert_eq!(h.next().await, (S(0), Act::Spawn(1002)));
    h.send(Event::Stop(Signal::SIGTERM));
    let ReloadReply::RolledBack { reason } = reply.await.unwrap() else {
        panic!()
    };
    assert!(reason.contains("a stop began"), "{reason}");
    h.ready(1002);
    // Both children get the stop signal after the delay; the latecomer is not promoted.
    let mut acts = vec![h.next().await, h.next().await];
    acts.sort_by_key(|(_, a)| format!("{a:?}"));
    assert_eq!(
        acts,
        [
            (S(5), Act::Signal(1001, Signal::SIGTERM)),
            (S(5), Act::Signal(1002, Signal::SIGTERM))
        ]
    );
    h.exited(1002, code(0));
    h.exited(1001, code(0));
    assert_eq!(h.exit_code().await, 0);
}

#[tokio::test(start_paused = true)]
async fn reloads_are_refused_before_ready_and_while_stopping() {
    let h = Harness::start(timing()).await;
    let ReloadReply::Refused { reason } = h.reload().await.unwrap() else {
        panic!()
    };
    assert!(reason.contains("not ready yet"), "{reason}");
    h.ready(1001);
    h.send(Event::Stop(Signal::SIGTERM));
    let ReloadReply::Refused { reason } = h.reload().await.unwrap() else {
        panic!()
    };
    assert!(reason.contains("stopping"), "{reason}");
}

#[tokio::test(start_paused = true)]
async fn a_child_that_dies_on_its_own_ends_the_supervisor_with_its_status() {
    let h = started_and_ready(timing()).await;
    tokio::time::sleep(S(7)).await;
    h.exited(1001, code(42));
    assert_eq!(h.exit_code().await, 42);
}

#[tokio::test(start_paused = true)]
async fn a_child_killed_by_a_signal_gives_128_plus_the_signal() {
    let h = started_and_ready(timing()).await;
    h.exited(1001, killed_by(Signal::SIGSEGV));
    assert_eq!(h.exit_code().await, 128 + 11);
}

#[tokio::test(start_paused = true)]
async fn a_child_that_dies_during_a_reload_is_replaced_by_its_successor() {
    let mut h = started_and_ready(timing()).await;
    let reply = h.reload();
    assert_eq!(h.next().await.1, Act::Spawn(1002));
    h.exited(1001, code(1));
    let status = h.status().await;
    assert!(!status.ready, "nobody is ready while the successor starts");
    h.ready(1002);
    assert_eq!(
        reply.await.unwrap(),
        ReloadReply::TookOver {
            pid: 1002,
            previous: vec![],
            millis: 0
        }
    );
    assert!(h.status().await.ready);
    h.send(Event::Stop(Signal::SIGTERM));
    assert_eq!(h.next().await.1, Act::Signal(1002, Signal::SIGTERM));
    h.exited(1002, code(0));
    assert_eq!(
        h.exit_code().await,
        0,
        "the successor's status, not the dead one's"
    );
}

#[tokio::test(start_paused = true)]
async fn the_first_child_never_ready_is_killed_at_the_ready_timeout() {
    let mut h = Harness::start(timing()).await;
    assert_eq!(h.next().await, (S(60), Act::KillGroup(1001)));
    h.exited(1001, killed_by(Signal::SIGKILL));
    assert_eq!(h.exit_code().await, 137);
}

#[tokio::test(start_paused = true)]
async fn the_first_child_exiting_before_ready_ends_the_supervisor() {
    let h = Harness::start(timing()).await;
    h.exited(1001, code(2));
    assert_eq!(h.exit_code().await, 2);
}

#[tokio::test(start_paused = true)]
async fn delay_readiness_is_exact() {
    let mut h = Harness::start(Timing {
        ready: ReadyMode::Delay(S(2)),
        ..timing()
    })
    .await;
    // READY=1 does not count when the user chose a delay.
    h.ready(1001);
    assert!(!h.status().await.ready);
    tokio::time::sleep(S(2)).await;
    assert!(h.status().await.ready);
    tokio::time::sleep(S(10)).await;
    let _r = h.reload();
    assert_eq!(h.next().await, (S(12), Act::Spawn(1002)));
    assert_eq!(h.next().await, (S(14), Act::Signal(1001, Signal::SIGTERM)));
}

#[tokio::test(start_paused = true)]
async fn an_exec_probe_runs_until_it_succeeds() {
    let mut h = Harness::start(Timing {
        ready: ReadyMode::Exec("true".into()),
        ..timing()
    })
    .await;
    assert_eq!(h.next().await, (S(0), Act::Probe(1002, 1001)));
    h.exited(1002, code(1));
    assert_eq!(h.next().await, (PROBE_INTERVAL, Act::Probe(1003, 1001)));
    assert!(!h.status().await.ready);
    h.exited(1003, code(0));
    assert!(h.status().await.ready);
    assert_eq!(
        h.snapshot.borrow().metrics.orphans_reaped,
        0,
        "probes are not orphans"
    );
}

#[tokio::test(start_paused = true)]
async fn an_exec_probe_that_never_succeeds_times_out_with_its_last_result() {
    let mut h = Harness::start(Timing {
        ready: ReadyMode::Exec("check".into()),
        ready_timeout: S(1),
        ..timing()
    })
    .await;
    assert_eq!(h.next().await, (S(0), Act::Probe(1002, 1001)));
    h.exited(1002, code(0));
    assert!(h.status().await.ready);
    let reply = h.reload();
    assert_eq!(h.next().await, (S(0), Act::Spawn(1003)));
    loop {
        match h.next().await {
            (_, Act::Probe(p, 1003)) => h.exited(p, code(7)),
            (t, Act::KillGroup(1003)) => {
                assert_eq!(t, S(1));
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    let ReloadReply::RolledBack { reason } = reply.await.unwrap() else {
        panic!()
    };
    assert!(
        reason.contains("\"check\" did not succeed within 1s (last run: exit status 7)"),
        "{reason}"
    );
}

#[tokio::test(start_paused = true)]
async fn notifications_from_strangers_and_garbage_are_ignored() {
    let h = Harness::start(timing()).await;
    h.ready(4242);
    h.send(Event::Notify(Err(MalformedReport {
        pid: Some(1001),
        problem: "it is not UTF-8".into(),
    })));
    h.send(Event::Notify(Ok(Report {
        pid: None,
        fields: vec![("READY".into(), "1".into())],
    })));
    assert!(!h.status().await.ready);
    h.notify(1001, &[("STATUS", "warming caches")]);
    assert_eq!(
        h.status().await.generations[0].status.as_deref(),
        Some("warming caches")
    );
    h.ready(1001);
    assert!(h.status().await.ready);
}

#[tokio::test(start_paused = true)]
async fn other_signals_are_forwarded_to_the_current_child() {
    let mut h = started_and_ready(timing()).await;
    h.send(Event::Forward(Signal::SIGUSR1));
    assert_eq!(h.next().await.1, Act::Signal(1001, Signal::SIGUSR1));
    let _r = h.reload();
    assert_eq!(h.next().await.1, Act::Spawn(1002));
    h.send(Event::Forward(Signal::SIGWINCH));
    assert_eq!(
        h.next().await.1,
        Act::Signal(1001, Signal::SIGWINCH),
        "still the current one"
    );
    h.ready(1002);
    assert_eq!(h.next().await.1, Act::Signal(1001, Signal::SIGTERM));
    h.send(Event::Forward(Signal::SIGUSR2));
    assert_eq!(h.next().await.1, Act::Signal(1002, Signal::SIGUSR2));
}

#[tokio::test(start_paused = true)]
async fn orphans_are_reaped_and_counted() {
    let h = started_and_ready(timing()).await;
    h.exited(7777, code(0));
    h.exited(7778, killed_by(Signal::SIGKILL));
    h.status().await;
    assert_eq!(h.snapshot.borrow().metrics.orphans_reaped, 2);
    assert!(h.status().await.ready, "an orphan is not the child");
}

/// Regression test (issue 9, found by reading): a reload refused because a stop
/// began still sent RELOADING=1 then READY=1 after STOPPING=1, so systemd took
/// a stopping service for a ready one again. During a stop it is told nothing.
#[tokio::test(start_paused = true)]
async fn a_reload_refused_during_a_stop_tells_systemd_nothing() {
    let (systemd, notifier) = ServiceManager::new();
    let h = Harness::start_with(
        Timing {
            stop_delay: S(5),
            ..timing()
        },
        Some(notifier),
    )
    .await;
    h.ready(1001);
    h.status().await;
    assert_eq!(
        systemd.received(),
        ["READY=1\nSTATUS=serving, child pid 1001"]
    );
    h.send(Event::Stop(Signal::SIGTERM));
    h.status().await;
    assert_eq!(systemd.received(), ["STOPPING=1\nSTATUS=stopping"]);
    let ReloadReply::Refused { reason } = h.reload().await.unwrap() else {
        panic!("not refused")
    };
    assert!(reason.contains("stopping"), "{reason}");
    // The reload signal, with no one to answer.
    h.send(Event::Reload {
        wait: false,
        reply: None,
    });
    h.status().await;
    assert_eq!(
        systemd.received(),
        Vec::<String>::new(),
        "nothing may follow STOPPING=1"
    );
}

/// Outside a stop, a refused reload still answers RELOADING=1 with READY=1:
/// `systemctl reload` waits for that READY=1.
#[tokio::test(start_paused = true)]
async fn a_reload_refused_outside_a_stop_still_ends_with_ready() {
    let (systemd, notifier) = ServiceManager::new();
    let h = Harness::start_with(timing(), Some(notifier)).await;
    let ReloadReply::Refused { reason } = h.reload().await.unwrap() else {
        panic!("not refused")
    };
    assert!(reason.contains("not ready yet"), "{reason}");
    let told = systemd.received();
    assert_eq!(told.len(), 2, "{told:?}");
    assert!(
        told[0].starts_with("RELOADING=1\nMONOTONIC_USEC="),
        "{told:?}"
    );
    assert_eq!(told[1], format!("READY=1\nSTATUS=reload refused: {reason}"));
}
