//! The stop sequence of one container, in numbers: its stop delay and its drain deadline.
//!
//! The *stop delay* is the time a container keeps serving after Kubernetes decided to stop it, so
//! that every load balancer has removed the pod before the server stops accepting. It comes from:
//!
//! - a preStop `sleep` action (`sleep.seconds`);
//! - an `exec` preStop that runs `sleep N`, directly or inside a `sh -c`/`bash -c` script (all its
//!   `sleep`s add up); any other command of the hook takes a time the manifest does not show, so
//!   the delay is then *unknown* (at least the sleeps), as it is for an `httpGet` hook; commands
//!   known to return at once (`kill`, `echo`, `touch`, …) add nothing;
//! - `changeover run --stop-delay D` in the container's command or args: the supervisor keeps the
//!   server serving for D after SIGTERM. Without the flag `changeover run` waits 5 s, its default
//!   when `KUBERNETES_SERVICE_HOST` is set, which Kubernetes always sets;
//! - `changeover prestop` as the preStop hook: it returns once the supervisor's stop delay has
//!   passed, and the SIGTERM that follows finds the supervisor already past its delay, so the
//!   delay counts once, not twice.
//!
//! `changeover run` and `changeover prestop` command lines are read with the CLI's own clap
//! definitions, and `changeover run`'s flags checked with the very function the supervisor checks
//! its own with (`changeover_flags::run::RunArgs::check`: durations, signals, addresses, names,
//! `--ready`, `--max-draining`, the command), so the lint credits exactly what the CLI would do.
//! A command line the CLI refuses is a [`Refusal`]: the container never starts, or the hook
//! exits at once and gives no delay. So is a `changeover prestop` with no `changeover run` to
//! talk to (it exits 1 at once).
//!
//! A flag whose value the kubelet (`$(VAR)`) or a `sh -c` script (`$VAR`, `${VAR}`, `` `…` ``)
//! fills in is not checked: the manifest does not show the value. A stop delay or drain deadline
//! written that way is unknown. A host name in an address is not resolved either: whether it
//! resolves inside the pod is not visible here.
//!
//! A preStop sleep in front of `changeover run` adds up: the sleep runs first, then SIGTERM starts
//! the supervisor's own delay.
//!
//! The *drain deadline* is `changeover run --drain-timeout D` (20 s when unset): how long
//! in-flight requests get after the stop delay. Other servers' drain deadlines are not visible in a
//! manifest, so none is assumed for them.
//!
//! `command_line` reads the `changeover` command lines, `hooks` the preStop hook; this module adds
//! up their steps.

mod command_line;
mod hooks;
#[cfg(test)]
mod tests;

use changeover_flags::run::{
    DEFAULT_DRAIN_TIMEOUT, DEFAULT_KUBERNETES_STOP_DELAY, DEFAULT_READY_TIMEOUT,
};

pub use command_line::CommandLines;

use crate::duration::{FOREVER_MS, format_ms};
use crate::model::{Container, PodTemplate};
use command_line::run_of;

/// `changeover run`'s stop delay when `KUBERNETES_SERVICE_HOST` is set and no flag says otherwise
/// (`changeover_flags::run::DEFAULT_KUBERNETES_STOP_DELAY`, which the supervisor uses).
pub const SUPERVISOR_DEFAULT_STOP_DELAY_MS: u64 = DEFAULT_KUBERNETES_STOP_DELAY.as_millis() as u64;
/// `changeover run`'s default drain deadline (`changeover_flags::run::DEFAULT_DRAIN_TIMEOUT`).
pub const SUPERVISOR_DEFAULT_DRAIN_MS: u64 = DEFAULT_DRAIN_TIMEOUT.as_millis() as u64;
/// `changeover run`'s default readiness deadline (`changeover_flags::run::DEFAULT_READY_TIMEOUT`).
pub const SUPERVISOR_DEFAULT_READY_MS: u64 = DEFAULT_READY_TIMEOUT.as_millis() as u64;

/// Programs that return at once, so a hook made only of them delays nothing.
pub(crate) const INSTANT: &[&str] = &[
    "kill", "pkill", "killall", "echo", "printf", "true", "false", ":", "touch", "rm", "mkdir",
    "exit", "set", "cd", "trap", "wait",
];

/// One step of the stop sequence: how long it takes and where that number comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopStep {
    /// Milliseconds; `None` when the manifest does not say (`sleep $DELAY`, an `httpGet` hook, a
    /// script).
    pub ms: Option<u64>,
    /// Where the number comes from, e.g. ``preStop `sleep 5` ``.
    pub source: String,
}

impl StopStep {
    pub(super) fn known(ms: u64, source: String) -> StopStep {
        StopStep {
            ms: Some(ms),
            source,
        }
    }

    pub(super) fn unknown(source: String) -> StopStep {
        StopStep { ms: None, source }
    }

    /// `5s (preStop sleep.seconds: 5)` or `unknown (…)`.
    pub fn describe(&self) -> String {
        match self.ms {
            Some(ms) => format!("{} ({})", format_ms(ms), self.source),
            None => format!("unknown ({})", self.source),
        }
    }
}

/// Where a refused `changeover` command line is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusedPart {
    /// The container's command: `changeover run` exits 2 and the container never starts.
    Command,
    /// The preStop hook: `changeover prestop` exits at once and gives no stop delay.
    PreStop,
}

/// A `changeover` command line that fails as soon as it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Which part of the container it is.
    pub part: RefusedPart,
    /// The command line as written, e.g. `changeover prestop --stop-delay 3s`.
    pub command: String,
    /// Why it fails: the CLI's own message where the CLI refuses it.
    pub message: String,
    /// The line of the container or of the hook.
    pub line: usize,
}

/// A container's stop delay and drain deadline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timing {
    /// The parts of the stop delay, in the order they happen; empty when there is none.
    pub stop_delay: Vec<StopStep>,
    /// The drain deadline, when `changeover run` supervises the server.
    pub drain: Option<StopStep>,
    /// The preStop hook's own delay, apart from the supervisor's (several steps for a script).
    pub pre_stop: Vec<StopStep>,
    /// `changeover` command lines that fail at once.
    pub refusals: Vec<Refusal>,
}

impl Timing {
    /// Whether anything delays the stop (an unknown delay counts: the author meant one).
    pub fn has_stop_delay(&self) -> bool {
        self.stop_delay.iter().any(|t| t.ms != Some(0))
    }

    /// The known part of the stop delay, in milliseconds (a lower bound when [`Self::exact`] is
    /// false).
    pub fn stop_delay_ms(&self) -> u64 {
        self.stop_delay
            .iter()
            .filter_map(|t| t.ms)
            .fold(0, u64::saturating_add)
    }

    /// Each part of the stop delay as the arithmetic of a finding shows it (see
    /// [`StopStep::describe`]).
    pub fn stop_delay_terms(&self) -> Vec<String> {
        self.stop_delay.iter().map(StopStep::describe).collect()
    }

    /// Whether every part of the stop delay is known.
    pub fn exact(&self) -> bool {
        self.stop_delay.iter().all(|t| t.ms.is_some())
    }

    /// The drain deadline in milliseconds, 0 when unknown.
    pub fn drain_ms(&self) -> u64 {
        self.drain.as_ref().and_then(|t| t.ms).unwrap_or(0)
    }

    /// Whether the container never starts (its `changeover run` command line is refused), so
    /// nothing about its stop sequence matters until that is fixed.
    pub fn fails_to_start(&self) -> bool {
        self.refusals.iter().any(|r| r.part == RefusedPart::Command)
    }
}

/// Works out the stop delay and drain deadline of `container`, one of `pod`'s.
///
/// ```
/// use changeover_k8s::input::load;
/// use changeover_k8s::model::Object;
/// use changeover_k8s::timing::container_timing;
///
/// let loaded = load("p.yaml", br#"
/// kind: Pod
/// metadata: {name: p}
/// spec:
///   containers:
///   - name: app
///     command: [changeover, run, --stop-delay=3s, --drain-timeout, 10s, --, app]
/// "#);
/// let Object::Workload(pod) = &loaded.objects[0] else { unreachable!() };
/// let timing = container_timing(&pod.template.containers[0], &pod.template);
/// assert_eq!(timing.stop_delay_ms(), 3_000);
/// assert_eq!(timing.drain_ms(), 10_000);
/// ```
pub fn container_timing(container: &Container, pod: &PodTemplate) -> Timing {
    container_timing_with(container, pod, &mut CommandLines::default())
}

/// [`container_timing`], reusing what `lines` already knows about command lines.
pub fn container_timing_with(
    container: &Container,
    pod: &PodTemplate,
    lines: &mut CommandLines,
) -> Timing {
    let mut timing = Timing::default();
    let run = run_of(container, lines);
    let mut run_delay = None;
    if let Some((invocation, result)) = &run {
        match result {
            Ok(s) => {
                run_delay = Some(s.stop_delay.clone());
                timing.drain = Some(s.drain.clone());
            }
            Err(message) => timing.refusals.push(Refusal {
                part: RefusedPart::Command,
                command: invocation.shown.clone(),
                message: message.clone(),
                line: container.line,
            }),
        }
    }

    let run_delay_counted = hooks::pre_stop(container, pod, &run, &mut timing, lines);
    timing.stop_delay.extend(timing.pre_stop.iter().cloned());
    if let Some(run) = run_delay {
        if !run_delay_counted {
            timing.stop_delay.push(run);
        }
    }
    if timing.stop_delay_ms() == FOREVER_MS {
        timing.stop_delay.retain(|t| t.ms == Some(FOREVER_MS));
    }
    timing
}
