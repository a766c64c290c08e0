//! One probe worker of the kubelet (`pkg/kubelet/prober/worker.go`) for one container.
//!
//! The worker ticks every `periodSeconds` from the container's start. A tick within
//! `initialDelaySeconds` of the start (in whole seconds) probes nothing; so does a tick while the
//! previous probe is still out, or — for readiness and liveness — while a startup probe has not
//! yet succeeded. Results count through the thresholds: the cached result flips only after
//! `failureThreshold` failures or `successThreshold` successes in a row. Readiness starts as
//! failure, liveness as success, startup as failure.

use serde::Serialize;

use super::Ms;
use crate::spec::ProbeTiming;

/// Which of a container's probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeKind {
    /// `startupProbe`.
    Startup,
    /// `readinessProbe`.
    Readiness,
    /// `livenessProbe`.
    Liveness,
}

impl ProbeKind {
    /// `readiness`, `liveness`, `startup`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeKind::Startup => "startup",
            ProbeKind::Readiness => "readiness",
            ProbeKind::Liveness => "liveness",
        }
    }
}

/// The worker's state.
#[derive(Debug, Clone)]
pub struct Worker {
    /// Which probe.
    pub kind: ProbeKind,
    timing: ProbeTiming,
    started: Ms,
    next_tick: Ms,
    in_flight: bool,
    last: Option<bool>,
    run: u32,
    /// The cached result the kubelet acts on.
    pub result: bool,
    /// Whether it still probes (liveness and startup stop when the pod terminates, startup
    /// once it succeeded, liveness and startup after a failure until the container restarts).
    pub active: bool,
}

impl Worker {
    /// A worker for a container started at `started`.
    pub fn new(kind: ProbeKind, timing: ProbeTiming, started: Ms) -> Worker {
        Worker {
            kind,
            timing,
            started,
            next_tick: started,
            in_flight: false,
            last: None,
            run: 0,
            result: kind == ProbeKind::Liveness,
            active: true,
        }
    }

    /// When it next needs attention.
    pub fn due(&self) -> Option<Ms> {
        (self.active && !self.in_flight).then_some(self.next_tick)
    }

    /// A tick at `now` (at or after [`Worker::due`]): whether to send a probe now. `gated` is
    /// true while a startup probe holds readiness and liveness back.
    pub fn tick(&mut self, now: Ms, gated: bool) -> bool {
        let period = self.timing.period_ms.max(1);
        // The Go ticker drops ticks it could not deliver: the next one is on the grid after now.
        let ticks = (now.saturating_sub(self.started)) / period + 1;
        self.next_tick = self.started + ticks * period;
        let elapsed_s = now.saturating_sub(self.started) / 1000;
        if gated || elapsed_s < self.timing.initial_delay_s {
            return false;
        }
        self.in_flight = true;
        true
    }

    /// A probe's result: `Some(new cached result)` when the cached result changed, `None` when
    /// it did not (below a threshold, or the same).
    pub fn record(&mut self, now: Ms, ok: bool) -> Option<bool> {
        self.in_flight = false;
        if self.next_tick < now {
            // The probe outlasted its period: the buffered tick fires at once.
            self.next_tick = now;
        }
        if self.last == Some(ok) {
            self.run = self.run.saturating_add(1);
        } else {
            self.last = Some(ok);
            self.run = 1;
        }
        let below = if ok {
            self.run < self.timing.success_threshold.max(1)
        } else {
            self.run < self.timing.failure_threshold.max(1)
        };
        if below {
            return None;
        }
        if !ok && self.kind != ProbeKind::Readiness {
            // The container is being killed; the kubelet waits for the next one.
            self.active = false;
            self.run = 0;
        }
        if ok && self.kind == ProbeKind::Startup {
            self.active = false;
        }
        (self.result != ok).then(|| {
            self.result = ok;
            ok
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(initial_delay_s: u64, period_s: u64, success: u32, failure: u32) -> ProbeTiming {
        ProbeTiming {
            initial_delay_s,
            period_ms: period_s * 1000,
            timeout_ms: 1000,
            success_threshold: success,
            failure_threshold: failure,
        }
    }

    #[test]
    fn first_probe_waits_for_the_initial_delay_on_the_period_grid() {
        let mut w = Worker::new(ProbeKind::Readiness, timing(3, 2, 1, 3), 1_000);
        assert_eq!(w.due(), Some(1_000));
        assert!(!w.tick(1_000, false)); // 0 s in
        assert_eq!(w.due(), Some(3_000));
        assert!(!w.tick(3_000, false)); // 2 s in
        assert!(w.tick(5_000, false)); // 4 s in
        assert_eq!(w.due(), None, "one probe at a time");
        assert_eq!(w.record(5_010, true), Some(true));
        assert_eq!(w.due(), Some(7_000));
    }

    #[test]
    fn thresholds_need_runs_in_a_row() {
        let mut w = Worker::new(ProbeKind::Readiness, timing(0, 1, 2, 3), 0);
        assert!(!w.result, "readiness starts failed");
        assert_eq!(w.record(0, true), None);
        assert_eq!(w.record(1_000, true), Some(true));
        assert_eq!(w.record(2_000, false), None);
        assert_eq!(w.record(3_000, false), None);
        assert_eq!(
            w.record(4_000, true),
            None,
            "a success breaks the run of failures"
        );
        for t in [5_000, 6_000] {
            assert_eq!(w.record(t, false), None);
        }
        assert_eq!(w.record(7_000, false), Some(false));
        assert!(w.active, "readiness keeps probing");
    }

    #[test]
    fn liveness_failure_stops_the_worker_and_startup_success_too() {
        let mut w = Worker::new(ProbeKind::Liveness, timing(0, 1, 1, 1), 0);
        assert!(w.result);
        assert_eq!(w.record(0, false), Some(false));
        assert!(!w.active);
        let mut s = Worker::new(ProbeKind::Startup, timing(0, 1, 1, 3), 0);
        assert_eq!(s.record(0, true), Some(true));
        assert!(!s.active);
    }

    #[test]
    fn gated_ticks_send_nothing_and_a_slow_probe_fires_the_next_at_once() {
        let mut w = Worker::new(ProbeKind::Readiness, timing(0, 1, 1, 3), 0);
        assert!(!w.tick(0, true));
        assert!(w.tick(1_000, false));
        w.record(3_500, true);
        assert_eq!(w.due(), Some(3_500));
    }
}
