//! The stop sequence of one container, in numbers: its stop delay and its drain deadline.
//!
//! The *stop delay* is the time a container keeps serving after Kubernetes decided to stop it, so
//! that every load balancer has removed the pod before the server stops accepting. It comes from:
//!
//! - a preStop `sleep` action (`sleep.seconds`);
//! - an `exec` preStop that runs `sleep N`, directly or inside a `sh -c`/`bash -c` script (all its
//!   `sleep`s add up);
//! - `changeover run --stop-delay D` in the container's command or args: the supervisor keeps the
//!   server serving for D after SIGTERM. Without the flag `changeover run` waits 5 s, its default
//!   when `KUBERNETES_SERVICE_HOST` is set, which Kubernetes always sets;
//! - `changeover prestop` as the preStop hook: it returns once the supervisor's stop delay has
//!   passed (or its own `--stop-delay`), and the SIGTERM that follows finds the supervisor already
//!   past its delay, so the delay counts once, not twice.
//!
//! A preStop sleep in front of `changeover run` adds up: the sleep runs first, then SIGTERM starts
//! the supervisor's own delay.
//!
//! The *drain deadline* is `changeover run --drain-timeout D` (20 s when unset): how long
//! in-flight requests get after the stop delay. Other servers' drain deadlines are not visible in a
//! manifest, so none is assumed for them.

use crate::duration::{FOREVER_MS, format_ms, parse_duration, parse_sleep_args};
use crate::model::{Container, Handler};
use crate::shell::{basename, commands_of};

/// `changeover run`'s stop delay when `KUBERNETES_SERVICE_HOST` is set and no flag says otherwise.
pub const SUPERVISOR_DEFAULT_STOP_DELAY_MS: u64 = 5_000;
/// `changeover run`'s default drain deadline.
pub const SUPERVISOR_DEFAULT_DRAIN_MS: u64 = 20_000;

/// One addend of a sum shown to the user: a duration and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// Milliseconds; `None` when the manifest does not say (`sleep $DELAY`, an `httpGet` hook).
    pub ms: Option<u64>,
    /// Where the number comes from, e.g. ``preStop `sleep 5` ``.
    pub source: String,
}

impl Term {
    fn known(ms: u64, source: String) -> Term {
        Term {
            ms: Some(ms),
            source,
        }
    }

    /// `5s (preStop sleep.seconds: 5)` or `? (…)`.
    pub fn describe(&self) -> String {
        match self.ms {
            Some(ms) => format!("{} ({})", format_ms(ms), self.source),
            None => format!("unknown ({})", self.source),
        }
    }
}

/// A container's stop delay and drain deadline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timing {
    /// The parts of the stop delay, in the order they happen; empty when there is none.
    pub stop_delay: Vec<Term>,
    /// The drain deadline, when `changeover run` supervises the server.
    pub drain: Option<Term>,
    /// The preStop hook's own delay, apart from the supervisor's.
    pub pre_stop: Option<Term>,
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

    /// Whether every part of the stop delay is known.
    pub fn exact(&self) -> bool {
        self.stop_delay.iter().all(|t| t.ms.is_some())
    }

    /// The drain deadline in milliseconds, 0 when unknown.
    pub fn drain_ms(&self) -> u64 {
        self.drain.as_ref().and_then(|t| t.ms).unwrap_or(0)
    }
}

/// What a `changeover run` (or `changeover prestop`) invocation says.
#[derive(Debug, Clone)]
struct Changeover {
    stop_delay: Option<String>,
    drain_timeout: Option<String>,
}

/// Finds `changeover SUBCOMMAND` among `commands` and reads its flags (both `--flag=V` and
/// `--flag V`), stopping at `--`, after which the supervised command's own flags begin.
fn find_changeover(commands: &[Vec<String>], subcommand: &str) -> Option<Changeover> {
    for words in commands {
        let Some(i) = words
            .windows(2)
            .position(|w| basename(&w[0]) == "changeover" && w[1] == subcommand)
        else {
            continue;
        };
        let mut found = Changeover {
            stop_delay: None,
            drain_timeout: None,
        };
        let mut flags = words[i + 2..].iter();
        while let Some(flag) = flags.next() {
            if flag == "--" {
                break;
            }
            let (name, inline) = match flag.split_once('=') {
                Some((name, value)) => (name, Some(value.to_string())),
                None => (flag.as_str(), None),
            };
            let slot = match name {
                "--stop-delay" => &mut found.stop_delay,
                "--drain-timeout" => &mut found.drain_timeout,
                _ => continue,
            };
            *slot = inline.or_else(|| flags.next().cloned());
        }
        return Some(found);
    }
    None
}

fn flag_term(value: Option<&str>, flag: &str, program: &str, default_ms: u64, what: &str) -> Term {
    match value {
        Some(v) => match parse_duration(v) {
            Some(ms) => Term::known(ms, format!("{flag} {v} of {program}")),
            None => Term {
                ms: None,
                source: format!("{flag} {v:?} of {program} is not a duration"),
            },
        },
        None => Term::known(default_ms, format!("{program}'s default {what}")),
    }
}

/// Works out the stop delay and drain deadline of `container`.
///
/// ```
/// use changeover_k8s::model::Container;
/// use changeover_k8s::timing::container_timing;
///
/// let container = Container {
///     name: "app".into(),
///     line: 1,
///     image: None,
///     command: ["changeover", "run", "--stop-delay=3s", "--drain-timeout", "10s", "--", "app"]
///         .map(String::from)
///         .into(),
///     args: vec![],
///     has_ports: true,
///     readiness_probe: None,
///     liveness_probe: None,
///     pre_stop: None,
///     post_start: None,
/// };
/// let timing = container_timing(&container);
/// assert_eq!(timing.stop_delay_ms(), 3_000);
/// assert_eq!(timing.drain_ms(), 10_000);
/// ```
pub fn container_timing(container: &Container) -> Timing {
    let supervisor = find_changeover(&commands_of(&container.argv()), "run");
    let run_delay = supervisor.as_ref().map(|s| {
        flag_term(
            s.stop_delay.as_deref(),
            "--stop-delay",
            "changeover run",
            SUPERVISOR_DEFAULT_STOP_DELAY_MS,
            "stop delay",
        )
    });
    let drain = supervisor.as_ref().map(|s| {
        flag_term(
            s.drain_timeout.as_deref(),
            "--drain-timeout",
            "changeover run",
            SUPERVISOR_DEFAULT_DRAIN_MS,
            "drain deadline",
        )
    });

    let mut timing = Timing {
        drain,
        ..Timing::default()
    };
    let mut run_delay_counted = false;
    match &container.pre_stop {
        Some(Handler::Sleep { seconds, .. }) => {
            let ms = u64::try_from(*seconds).unwrap_or(0).saturating_mul(1000);
            timing.pre_stop = Some(Term::known(
                ms,
                format!("preStop sleep action, sleep.seconds: {seconds}"),
            ));
        }
        Some(Handler::Exec { command, .. }) => {
            let commands = commands_of(command);
            if let Some(prestop) = find_changeover(&commands, "prestop") {
                timing.pre_stop = Some(match (&prestop.stop_delay, &run_delay) {
                    (Some(v), _) => flag_term(
                        Some(v),
                        "--stop-delay",
                        "changeover prestop",
                        SUPERVISOR_DEFAULT_STOP_DELAY_MS,
                        "stop delay",
                    ),
                    (None, Some(run)) => {
                        run_delay_counted = true;
                        Term {
                            ms: run.ms,
                            source: format!(
                                "changeover prestop waits out the supervisor's delay: {}",
                                run.source
                            ),
                        }
                    }
                    (None, None) => Term::known(
                        SUPERVISOR_DEFAULT_STOP_DELAY_MS,
                        "changeover prestop's default stop delay".to_string(),
                    ),
                });
                // The SIGTERM after `changeover prestop` finds the supervisor past its delay.
                run_delay_counted = run_delay_counted || run_delay.is_some();
            } else {
                let sleeps: Vec<&Vec<String>> = commands
                    .iter()
                    .filter(|c| basename(&c[0]) == "sleep")
                    .collect();
                if !sleeps.is_empty() {
                    let ms = sleeps.iter().try_fold(0u64, |acc, c| {
                        parse_sleep_args(&c[1..]).map(|ms| acc.saturating_add(ms))
                    });
                    let shown: Vec<String> = sleeps.iter().map(|c| c.join(" ")).collect();
                    timing.pre_stop = Some(Term {
                        ms,
                        source: format!("preStop `{}`", shown.join("; ")),
                    });
                }
            }
        }
        Some(Handler::HttpGet { .. }) => {
            timing.pre_stop = Some(Term {
                ms: None,
                source: "preStop httpGet, as long as the server takes to answer".to_string(),
            });
        }
        Some(Handler::Other { .. }) | None => {}
    }
    timing.stop_delay.extend(timing.pre_stop.clone());
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
            has_ports: true,
            readiness_probe: None,
            liveness_probe: None,
            pre_stop,
            post_start: None,
        }
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
            (exec(&["nginx", "-s", "quit"]), 0),
        ];
        for (hook, want) in cases {
            let t = container_timing(&container(&["app"], &[], hook.clone()));
            assert_eq!(t.stop_delay_ms(), want, "{hook:?}");
            assert!(t.drain.is_none());
        }
    }

    #[test]
    fn unknown_sleep_is_a_delay_of_unknown_length() {
        let t = container_timing(&container(&["app"], &[], exec(&["sh", "-c", "sleep $D"])));
        assert!(t.has_stop_delay());
        assert!(!t.exact());
    }

    #[test]
    fn supervisor_flags_in_both_spellings_and_defaults() {
        let t = container_timing(&container(
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

        let t = container_timing(&container(
            &["/usr/local/bin/changeover", "run", "--", "app"],
            &[],
            None,
        ));
        assert_eq!(t.stop_delay_ms(), SUPERVISOR_DEFAULT_STOP_DELAY_MS);
        assert_eq!(t.drain_ms(), SUPERVISOR_DEFAULT_DRAIN_MS);

        let t = container_timing(&container(
            &["sh", "-c", "exec changeover run --stop-delay 2s -- app"],
            &[],
            None,
        ));
        assert_eq!(t.stop_delay_ms(), 2_000);
    }

    #[test]
    fn prestop_sleep_adds_to_supervisor_delay_but_changeover_prestop_does_not() {
        let run = ["changeover", "run", "--stop-delay", "5s", "--", "app"];
        let t = container_timing(&container(&run, &[], exec(&["sleep", "3"])));
        assert_eq!(t.stop_delay_ms(), 8_000);
        assert_eq!(t.stop_delay.len(), 2);

        let t = container_timing(&container(&run, &[], exec(&["changeover", "prestop"])));
        assert_eq!(t.stop_delay_ms(), 5_000);
        assert_eq!(t.stop_delay.len(), 1);

        let t = container_timing(&container(
            &["app"],
            &[],
            exec(&["changeover", "prestop", "--stop-delay=4s"]),
        ));
        assert_eq!(t.stop_delay_ms(), 4_000);
    }

    #[test]
    fn bad_flag_value_is_unknown() {
        let t = container_timing(&container(
            &["changeover", "run", "--stop-delay", "soon"],
            &[],
            None,
        ));
        assert!(!t.exact());
        assert!(t.stop_delay[0].source.contains("not a duration"));
    }

    #[test]
    fn infinite_sleep() {
        let t = container_timing(&container(
            &["changeover", "run"],
            &[],
            exec(&["sleep", "infinity"]),
        ));
        assert_eq!(t.stop_delay_ms(), FOREVER_MS);
    }
}
