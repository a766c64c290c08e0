//! The preStop hook's share of the stop delay: a `sleep` action, the sleeps of an exec hook (and
//! an unknown step for what else it runs), an `httpGet`, or `changeover prestop`, which waits out
//! the delay of the supervisor it talks to.

use super::command_line::{CommandLines, Invocation, Supervisor, find_invocation, run_of};
use super::{INSTANT, Refusal, RefusedPart, StopStep, Timing};
use crate::duration::parse_sleep_args;
use crate::model::{Container, Handler, PodTemplate};
use crate::shell::{basename, commands_of};

/// Fills in `timing.pre_stop` from `container`'s preStop hook (`run` is its own `changeover run`,
/// if any). Returns whether the hook is a `changeover prestop` that waits out the supervisor's
/// delay, which then does not count a second time: the SIGTERM that follows finds the supervisor
/// past it.
pub(super) fn pre_stop(
    container: &Container,
    pod: &PodTemplate,
    run: &Option<(Invocation, Result<Supervisor, String>)>,
    timing: &mut Timing,
    lines: &mut CommandLines,
) -> bool {
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
                let step = prestop_step(container, pod, run, &invocation, *line, timing, lines);
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
    run_delay_counted
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
