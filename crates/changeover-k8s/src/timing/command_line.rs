//! The `changeover run` and `changeover prestop` command lines of a container, read with the CLI's
//! own clap definitions and checked with the supervisor's own function
//! (`changeover_flags::run::RunArgs::check`), so the lint credits exactly what the CLI would do.
//! A flag whose value the kubelet or a shell fills in is left out of the check: the manifest does
//! not show it.

use std::collections::HashMap;
use std::path::PathBuf;

use changeover_flags::cli::{one_line, parse_prestop, parse_run};

use super::StopStep;
use crate::duration::duration_ms;
use crate::model::Container;
use crate::shell::{basename, commands_of, shell_script};

/// A `changeover SUBCOMMAND …` found among the simple commands of an argv or script.
pub(super) struct Invocation {
    /// The words after the subcommand.
    pub(super) rest: Vec<String>,
    /// The whole command line, for messages.
    pub(super) shown: String,
}

/// The first `changeover SUBCOMMAND` among `commands`, the simple commands of an argv or script.
pub(super) fn find_invocation(commands: &[Vec<String>], subcommand: &str) -> Option<Invocation> {
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
    pub(super) fn prestop(&mut self, rest: &[String]) -> Result<Option<PathBuf>, String> {
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
pub(super) struct Supervisor {
    pub(super) stop_delay: StopStep,
    pub(super) drain: StopStep,
    pub(super) control: Option<PathBuf>,
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

/// The `changeover run` of `container`'s command line, if it has one, and what the CLI makes of
/// it: the supervisor it starts, or the CLI's refusal.
pub(super) fn run_of(
    container: &Container,
    lines: &mut CommandLines,
) -> Option<(Invocation, Result<Supervisor, String>)> {
    let argv = container.argv();
    let invocation = find_invocation(&commands_of(&argv), "run")?;
    let supervisor = lines.run(&invocation.rest, shell_script(&argv).is_some());
    Some((invocation, supervisor))
}
