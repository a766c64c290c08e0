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

use std::collections::HashMap;
use std::path::PathBuf;

use changeover_flags::cli::{one_line, parse_prestop, parse_run};
use changeover_flags::run::{
    DEFAULT_DRAIN_TIMEOUT, DEFAULT_KUBERNETES_STOP_DELAY, DEFAULT_READY_TIMEOUT,
};

use crate::duration::{FOREVER_MS, duration_ms, format_ms, parse_sleep_args};
use crate::model::{Container, Handler, PodTemplate};
use crate::shell::{basename, commands_of, shell_script};

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
    fn known(ms: u64, source: String) -> StopStep {
        StopStep {
            ms: Some(ms),
            source,
        }
    }

    fn unknown(source: String) -> StopStep {
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

/// A `changeover SUBCOMMAND …` found among the simple commands of an argv or script.
struct Invocation {
    /// The words after the subcommand.
    rest: Vec<String>,
    /// The whole command line, for messages.
    shown: String,
}

fn find_invocation(commands: &[Vec<String>], subcommand: &str) -> Option<Invocation> {
    commands.iter().find_map(|words| {
        let i = words
            .windows(2)
            .position(|w| basename(&w[0]) == "changeover" && w[1] == subcommand)?;
        Some(Invocation {
            rest: words[i + 2..].to_vec(),
            shown: words[i..].join(" "),
        })
    })
}

/// Whether a word's value is filled in when the container starts: by the kubelet (`$(VAR)`,
/// in any command or args) or, in a `sh -c` script, by the shell (`$VAR`, `${VAR}`, `$1`,
/// `` `cmd` ``).
fn filled_in(word: &str, script: bool) -> bool {
    if word.contains("$(") {
        return true;
    }
    script
        && (word.contains('`')
            || word.split('$').skip(1).any(|after| {
                after.starts_with(|c: char| {
                    c.is_ascii_alphanumeric()
                        || matches!(c, '_' | '{' | '@' | '*' | '#' | '?' | '!' | '-' | '$')
                })
            }))
}

/// The flag words of a `changeover run` line (before `--`) without the flags whose value is
/// filled in when the container starts (`--listen 0.0.0.0:$(PORT)`, `--stop-delay=$DELAY`), and
/// the names of those flags: the lint cannot check what the manifest does not show.
fn without_filled_in(rest: &[String], script: bool) -> (Vec<String>, Vec<String>) {
    let mut kept = Vec::with_capacity(rest.len());
    let mut unknown = Vec::new();
    let mut words = rest.iter().peekable();
    while let Some(word) = words.next() {
        if word == "--" {
            kept.push(word.clone());
            kept.extend(words.by_ref().cloned());
            break;
        }
        match word.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") && filled_in(value, script) => {
                unknown.push(flag.to_owned());
                continue;
            }
            _ => {}
        }
        if word.starts_with("--") && !word.contains('=') {
            if let Some(value) = words.peek() {
                if filled_in(value, script) {
                    unknown.push(word.clone());
                    words.next();
                    continue;
                }
            }
        }
        kept.push(word.clone());
    }
    (kept, unknown)
}

/// What the CLI makes of each distinct `changeover` command line, remembered so that a run over
/// thousands of containers with the same command parses it once (clap is not free).
#[derive(Debug, Default)]
pub struct CommandLines {
    /// By the words after `changeover run`, and whether a shell script holds them.
    run: HashMap<(Vec<String>, bool), Result<Supervisor, String>>,
    prestop: HashMap<Vec<String>, Result<Option<PathBuf>, String>>,
}

impl CommandLines {
    fn run(&mut self, rest: &[String], script: bool) -> Result<Supervisor, String> {
        let key = (rest.to_vec(), script);
        if let Some(known) = self.run.get(&key) {
            return known.clone();
        }
        let parsed = supervisor(rest, script);
        self.run.insert(key, parsed.clone());
        parsed
    }

    /// The `--control` of a `changeover prestop` the CLI accepts.
    fn prestop(&mut self, rest: &[String]) -> Result<Option<PathBuf>, String> {
        if let Some(known) = self.prestop.get(rest) {
            return known.clone();
        }
        let parsed = parse_prestop(rest)
            .map(|a| a.control)
            .map_err(|e| one_line(&e));
        self.prestop.insert(rest.to_vec(), parsed.clone());
        parsed
    }
}

/// A `changeover run` the CLI accepts: its stop delay and drain deadline.
#[derive(Debug, Clone)]
struct Supervisor {
    stop_delay: StopStep,
    drain: StopStep,
    control: Option<PathBuf>,
}

/// Reads `changeover run`'s flags exactly as the CLI does, or says why the CLI refuses them:
/// clap's error, or the supervisor's own check's (the same function), after `changeover run: `
/// as the CLI prints it.
fn supervisor(rest: &[String], script: bool) -> Result<Supervisor, String> {
    let args = parse_run(rest).map_err(|e| one_line(&e))?;
    let (known, unknown) = without_filled_in(rest, script);
    let checked = if unknown.is_empty() {
        args.clone()
    } else {
        // In a line clap accepted, a filled-in word before `--` is a flag's value: dropping it
        // with its flag leaves a line clap accepts.
        parse_run(&known).map_err(|e| one_line(&e))?
    };
    let flags = checked
        .check()
        .map_err(|e| format!("changeover run: {e}"))?;
    let step = |flag: &str, value: &Option<String>, ms: u64, what: &str| {
        if unknown.iter().any(|u| u == flag) {
            return StopStep::unknown(format!(
                "{flag} {} of changeover run, filled in when the container starts",
                value.as_deref().unwrap_or_default()
            ));
        }
        match value {
            Some(v) => StopStep::known(ms, format!("{flag} {v} of changeover run")),
            None => StopStep::known(ms, format!("changeover run's default {what}")),
        }
    };
    Ok(Supervisor {
        stop_delay: step(
            "--stop-delay",
            &args.stop_delay,
            duration_ms(flags.stop_delay_or_default(true)),
            "stop delay",
        ),
        drain: step(
            "--drain-timeout",
            &args.drain_timeout,
            duration_ms(flags.drain_timeout),
            "drain deadline",
        ),
        control: args.control,
    })
}

/// The supervisors of a pod's containers, by container index (`None`: no `changeover run`, or
/// one the CLI refuses).
fn run_of(
    container: &Container,
    lines: &mut CommandLines,
) -> Option<(Invocation, Result<Supervisor, String>)> {
    let argv = container.argv();
    let invocation = find_invocation(&commands_of(&argv), "run")?;
    let supervisor = lines.run(&invocation.rest, shell_script(&argv).is_some());
    Some((invocation, supervisor))
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

    let mut run_delay_counted = false;
    match &container.pre_stop {
        Some(Handler::Sleep { seconds, .. }) => {
            let ms = u64::try_from(*seconds).unwrap_or(0).saturating_mul(1000);
            timing.pre_stop.push(StopStep::known(
                ms,
                format!("preStop sleep action, sleep.seconds: {seconds}"),
            ));
        }
        Some(Handler::Exec { command, line }) => {
            let commands = commands_of(command);
            if let Some(invocation) = find_invocation(&commands, "prestop") {
                let step =
                    prestop_step(container, pod, &run, &invocation, *line, &mut timing, lines);
                // The SIGTERM after a successful `changeover prestop` finds the supervisor past
                // its delay.
                run_delay_counted = step.is_some();
                timing.pre_stop.push(step.unwrap_or_else(|| {
                    StopStep::known(0, "changeover prestop fails at once".to_string())
                }));
            } else {
                timing.pre_stop = exec_hook_steps(&commands);
            }
        }
        Some(Handler::HttpGet { .. }) => {
            timing.pre_stop.push(StopStep::unknown(
                "preStop httpGet, as long as the server takes to answer".to_string(),
            ));
        }
        Some(Handler::Other { .. }) | None => {}
    }
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

/// What a `changeover prestop` hook waits for, or `None` (with a refusal) when it fails at once.
fn prestop_step(
    container: &Container,
    pod: &PodTemplate,
    run: &Option<(Invocation, Result<Supervisor, String>)>,
    invocation: &Invocation,
    line: usize,
    timing: &mut Timing,
    lines: &mut CommandLines,
) -> Option<StopStep> {
    let mut refuse = |message: String| {
        timing.refusals.push(Refusal {
            part: RefusedPart::PreStop,
            command: invocation.shown.clone(),
            message,
            line,
        });
        None
    };
    let control = match lines.prestop(&invocation.rest) {
        Ok(control) => control,
        Err(message) => return refuse(message),
    };
    match run {
        Some((_, Ok(s))) if s.control == control => {
            return Some(StopStep {
                ms: s.stop_delay.ms,
                source: format!(
                    "changeover prestop waits out the supervisor's delay: {}",
                    s.stop_delay.source
                ),
            });
        }
        Some((_, Err(_))) => return None, // the container never starts: said once already
        _ => {}
    }
    // A supervisor in another container of the pod, on a control socket both name explicitly
    // (a shared volume).
    if let Some(path) = &control {
        for other in &pod.containers {
            if let Some((_, Ok(s))) = run_of(other, lines) {
                if s.control.as_ref() == Some(path) {
                    return Some(StopStep {
                        ms: s.stop_delay.ms,
                        source: format!(
                            "changeover prestop waits out the delay of the supervisor in container {}: {}",
                            other.name, s.stop_delay.source
                        ),
                    });
                }
            }
        }
    }
    if container.command.is_empty() && run.is_none() {
        // The image's entrypoint runs, which may well be `changeover run`; the manifest does not
        // show it.
        return Some(StopStep::unknown(
            "changeover prestop waits out the stop delay of the image's entrypoint, which the manifest does not show".to_string(),
        ));
    }
    let control = control.as_ref().map_or_else(
        || "the default control socket".to_string(),
        |p| p.display().to_string(),
    );
    refuse(format!(
        "no `changeover run` in this pod listens on {control}: changeover prestop exits 1 at once (no supervisor answered) and the hook gives no stop delay"
    ))
}

/// The delay of an exec preStop hook that is not `changeover prestop`: its sleeps, then an
/// unknown step for the commands that may take time (a script, `nginx -s quit`, `curl …`).
fn exec_hook_steps(commands: &[Vec<String>]) -> Vec<StopStep> {
    let shown = |cmds: &[&Vec<String>]| -> String {
        cmds.iter()
            .map(|c| c.join(" "))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let sleeps: Vec<&Vec<String>> = commands
        .iter()
        .filter(|c| basename(&c[0]) == "sleep")
        .collect();
    let opaque: Vec<&Vec<String>> = commands
        .iter()
        .filter(|c| {
            let program = basename(&c[0]);
            program != "sleep" && !INSTANT.contains(&program)
        })
        .collect();
    let mut steps = Vec::new();
    if !sleeps.is_empty() {
        let ms = sleeps.iter().try_fold(0u64, |acc, c| {
            parse_sleep_args(&c[1..]).map(|ms| acc.saturating_add(ms))
        });
        steps.push(StopStep {
            ms,
            source: format!("preStop `{}`", shown(&sleeps)),
        });
    }
    if !opaque.is_empty() {
        steps.push(StopStep::unknown(format!(
            "preStop `{}`, whose duration the manifest does not show",
            shown(&opaque)
        )));
    }
    if steps.is_empty() {
        let all: Vec<&Vec<String>> = commands.iter().collect();
        steps.push(StopStep::known(
            0,
            format!("preStop `{}` returns at once", shown(&all)),
        ));
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(command: &[&str], args: &[&str], pre_stop: Option<Handler>) -> Container {
        Container {
            name: "app".into(),
            line: 1,
            image: None,
            command: command.iter().map(|s| s.to_string()).collect(),
            args: args.iter().map(|s| s.to_string()).collect(),
            ports: vec![],
            sidecar: false,
            readiness_probe: None,
            liveness_probe: None,
            pre_stop,
            post_start: None,
        }
    }

    fn timing_of(c: Container) -> Timing {
        let pod = PodTemplate {
            labels: Default::default(),
            line: 1,
            grace_period: None,
            share_process_namespace: None,
            injected_proxy: false,
            containers: vec![c],
        };
        container_timing(&pod.containers[0], &pod)
    }

    fn exec(words: &[&str]) -> Option<Handler> {
        Some(Handler::Exec {
            command: words.iter().map(|s| s.to_string()).collect(),
            line: 1,
        })
    }

    #[test]
    fn sleeps_in_every_form() {
        let cases: [(Option<Handler>, u64); 6] = [
            (
                Some(Handler::Sleep {
                    seconds: 7,
                    line: 1,
                }),
                7_000,
            ),
            (exec(&["sleep", "5"]), 5_000),
            (exec(&["/bin/sleep", "2s"]), 2_000),
            (exec(&["sh", "-c", "sleep 3 && nginx -s quit"]), 3_000),
            (exec(&["/bin/bash", "-c", "sleep 1; sleep 2"]), 3_000),
            (exec(&["kill", "-QUIT", "1"]), 0),
        ];
        for (hook, want) in cases {
            let t = timing_of(container(&["app"], &[], hook.clone()));
            assert_eq!(t.stop_delay_ms(), want, "{hook:?}");
            assert!(t.drain.is_none());
        }
    }

    #[test]
    fn unknown_sleep_is_a_delay_of_unknown_length() {
        let t = timing_of(container(&["app"], &[], exec(&["sh", "-c", "sleep $D"])));
        assert!(t.has_stop_delay());
        assert!(!t.exact());
    }

    #[test]
    fn an_opaque_hook_is_an_unknown_delay_like_http_get() {
        // Regression (issue 10): an exec preStop running a script counted as no delay at all.
        for hook in [
            exec(&["/scripts/prestop.sh"]),
            exec(&["nginx", "-s", "quit"]),
            Some(Handler::HttpGet { line: 1 }),
        ] {
            let t = timing_of(container(&["app"], &[], hook.clone()));
            assert!(t.has_stop_delay() && !t.exact(), "{hook:?}: {t:?}");
        }
        let t = timing_of(container(
            &["app"],
            &[],
            exec(&["sh", "-c", "sleep 3; ./drain.sh"]),
        ));
        assert_eq!(t.stop_delay_ms(), 3_000);
        assert!(!t.exact());
    }

    #[test]
    fn prestop_flags_it_lacks_and_prestop_without_run_give_no_delay() {
        // Regression (issue 10): `changeover prestop --stop-delay 3s` was credited 3 s; the CLI
        // has no such flag and the hook exits 2 at once.
        let run = ["changeover", "run", "--", "app"];
        let t = timing_of(container(
            &run,
            &[],
            exec(&["changeover", "prestop", "--stop-delay", "3s"]),
        ));
        assert_eq!(t.refusals.len(), 1);
        assert_eq!(
            t.refusals[0].message,
            "error: unexpected argument '--stop-delay' found"
        );
        // The SIGTERM that follows still meets the supervisor's own delay.
        assert_eq!(t.stop_delay_ms(), SUPERVISOR_DEFAULT_STOP_DELAY_MS);
        let t = timing_of(container(&["app"], &[], exec(&["changeover", "prestop"])));
        assert_eq!((t.stop_delay_ms(), t.refusals.len()), (0, 1));
    }

    #[test]
    fn prestop_finds_its_supervisor_on_a_shared_socket_or_trusts_the_entrypoint() {
        let hook = exec(&["changeover", "prestop", "--control", "/shared/c.sock"]);
        let main = container(&["app"], &[], hook);
        let mut sidecar = container(
            &[
                "changeover",
                "run",
                "--control=/shared/c.sock",
                "--stop-delay=3s",
                "--",
                "x",
            ],
            &[],
            None,
        );
        sidecar.name = "supervisor".into();
        let pod = PodTemplate {
            labels: Default::default(),
            line: 1,
            grace_period: None,
            share_process_namespace: None,
            injected_proxy: false,
            containers: vec![main, sidecar],
        };
        let t = container_timing(&pod.containers[0], &pod);
        assert!(t.refusals.is_empty(), "{:?}", t.refusals);
        assert_eq!(t.stop_delay_ms(), 3_000);
        // No command: the image's entrypoint runs, which may be `changeover run`.
        let t = timing_of(container(&[], &[], exec(&["changeover", "prestop"])));
        assert!(t.refusals.is_empty() && t.has_stop_delay() && !t.exact());
    }

    #[test]
    fn run_flags_the_cli_refuses_mean_the_container_never_starts() {
        // Regression (issue 10): `--stop-delay 7` was credited 7 s; the CLI wants a unit.
        for flags in [
            &["--stop-delay", "7"][..],
            &["--drain-timeout=soon"],
            &["--stop-signal", "TREM"],
            &["--ready", "delay:2"],
            &["--no-such-flag"],
        ] {
            let mut command = vec!["changeover", "run"];
            command.extend_from_slice(flags);
            command.extend(["--", "app"]);
            let t = timing_of(container(&command, &[], None));
            assert!(t.fails_to_start(), "{flags:?}");
        }
    }

    #[test]
    fn every_check_of_the_supervisor_is_the_lints() {
        // Issue 10: the lint knew durations and signals only; `--listen 0.0.0.0:99999` never
        // starts either. Each refusal is the supervisor's own message (changeover-flags).
        for (flags, message) in [
            (
                &["--listen", "0.0.0.0:99999", "--", "app"][..],
                "changeover run: --listen: invalid listen address \"0.0.0.0:99999\": the port is not a number from 0 to 65535",
            ),
            (
                &["--health", "9090", "--", "app"],
                "changeover run: --health: invalid listen address \"9090\": it has no port",
            ),
            (
                &["--listen", "web+tls=0.0.0.0:8443", "--", "app"],
                "changeover run: --listen: invalid socket name \"web+tls\"",
            ),
            (
                &[
                    "--listen",
                    "0.0.0.0:8080",
                    "--listen",
                    "http=0.0.0.0:8081",
                    "--",
                    "app",
                ],
                "changeover run: --listen: the name \"http\" is given twice",
            ),
            (
                &["--ready", "tcp:8080", "--", "app"],
                "changeover run: --ready \"tcp:8080\": not a readiness check",
            ),
            (
                &["--ready", "delay:90s", "--", "app"],
                "changeover run: --ready delay:90s is not shorter than --ready-timeout 60s",
            ),
            (
                &["--max-draining", "0", "--", "app"],
                "changeover run: --max-draining \"0\": write a whole number of at least 1",
            ),
            (
                &["--listen", "0.0.0.0:8080", "--"],
                "changeover run: no command given",
            ),
        ] {
            let mut command = vec!["changeover", "run"];
            command.extend_from_slice(flags);
            let t = timing_of(container(&command, &[], None));
            assert!(t.fails_to_start(), "{command:?}");
            assert!(
                t.refusals[0].message.starts_with(message),
                "{command:?}: {}",
                t.refusals[0].message
            );
        }
        // A host name is not resolved: whether it resolves in the pod is not visible here.
        let t = timing_of(container(
            &[
                "changeover",
                "run",
                "--listen",
                "db-proxy.internal:5432",
                "--",
                "app",
            ],
            &[],
            None,
        ));
        assert!(t.refusals.is_empty(), "{:?}", t.refusals);
    }

    #[test]
    fn values_filled_in_when_the_container_starts_are_not_checked() {
        // `$(VAR)` is the kubelet's, in command and args alike; `$VAR` only a shell's.
        let t = timing_of(container(
            &["changeover", "run"],
            &[
                "--listen=0.0.0.0:$(PORT)",
                "--stop-delay",
                "$(STOP_DELAY)",
                "--drain-timeout",
                "25s",
                "--",
                "app",
            ],
            None,
        ));
        assert!(t.refusals.is_empty(), "{:?}", t.refusals);
        assert!(t.has_stop_delay() && !t.exact(), "{t:?}");
        assert_eq!(t.drain_ms(), 25_000);
        let t = timing_of(container(
            &[
                "sh",
                "-c",
                "exec changeover run --listen \"0.0.0.0:${PORT}\" --drain-timeout=$DRAIN -- app",
            ],
            &[],
            None,
        ));
        assert!(t.refusals.is_empty(), "{:?}", t.refusals);
        assert_eq!(
            t.drain,
            Some(StopStep::unknown(
                "--drain-timeout $DRAIN of changeover run, filled in when the container starts"
                    .into()
            ))
        );
        assert_eq!(t.stop_delay_ms(), SUPERVISOR_DEFAULT_STOP_DELAY_MS);
        // Without a shell nothing expands `$PORT`: the CLI gets it as written and refuses it.
        let t = timing_of(container(
            &[
                "changeover",
                "run",
                "--listen",
                "0.0.0.0:$PORT",
                "--",
                "app",
            ],
            &[],
            None,
        ));
        assert!(t.fails_to_start());
        // The other flags of the line are still checked.
        let t = timing_of(container(
            &[
                "changeover",
                "run",
                "--listen",
                "0.0.0.0:$(PORT)",
                "--stop-delay",
                "7",
                "--",
                "app",
            ],
            &[],
            None,
        ));
        assert!(
            t.refusals[0]
                .message
                .contains("--stop-delay: invalid duration \"7\"")
        );
    }

    #[test]
    fn supervisor_flags_in_both_spellings_and_defaults() {
        let t = timing_of(container(
            &["changeover", "run"],
            &[
                "--stop-delay",
                "500ms",
                "--drain-timeout=1m",
                "--",
                "app",
                "--stop-delay",
                "9s",
            ],
            None,
        ));
        assert_eq!(t.stop_delay_ms(), 500);
        assert_eq!(t.drain_ms(), 60_000);

        let t = timing_of(container(
            &["/usr/local/bin/changeover", "run", "--", "app"],
            &[],
            None,
        ));
        assert_eq!(t.stop_delay_ms(), SUPERVISOR_DEFAULT_STOP_DELAY_MS);
        assert_eq!(t.drain_ms(), SUPERVISOR_DEFAULT_DRAIN_MS);

        let t = timing_of(container(
            &["sh", "-c", "exec changeover run --stop-delay 2s -- app"],
            &[],
            None,
        ));
        assert_eq!(t.stop_delay_ms(), 2_000);
    }

    #[test]
    fn prestop_sleep_adds_to_supervisor_delay_but_changeover_prestop_does_not() {
        let run = ["changeover", "run", "--stop-delay", "5s", "--", "app"];
        let t = timing_of(container(&run, &[], exec(&["sleep", "3"])));
        assert_eq!(t.stop_delay_ms(), 8_000);
        assert_eq!(t.stop_delay.len(), 2);

        let t = timing_of(container(&run, &[], exec(&["changeover", "prestop"])));
        assert_eq!(t.stop_delay_ms(), 5_000);
        assert_eq!(t.stop_delay.len(), 1);
    }

    #[test]
    fn infinite_sleep() {
        let t = timing_of(container(
            &["changeover", "run"],
            &[],
            exec(&["sleep", "infinity"]),
        ));
        assert_eq!(t.stop_delay_ms(), FOREVER_MS);
    }
}
