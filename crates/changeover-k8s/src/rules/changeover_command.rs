//! `changeover-command`: a `changeover run` or `changeover prestop` the CLI would refuse.

use super::{Emitter, FindingDraft, Rule};
use crate::context::Context;
use crate::finding::Severity;
use crate::timing::RefusedPart;

pub(crate) const RULE: Rule = Rule {
    id: "changeover-command",
    severity: Severity::Error,
    summary: "A `changeover run` or `changeover prestop` command line fails as soon as it runs: the CLI refuses its flags, or `changeover prestop` has no `changeover run` to talk to.",
    rationale: "The lint reads changeover's command lines with the CLI's own flag definitions, \
        and checks `changeover run`'s flags with the very function the supervisor checks its own \
        with, so it knows what the CLI does with them. A `changeover run` whose flags the CLI \
        refuses (an unknown flag, `--stop-delay 7` without a unit, a signal name that is none, \
        `--listen 0.0.0.0:99999`, two sockets of one name, a `--ready` in none of its forms or \
        not shorter than `--ready-timeout`, `--max-draining 0`, nothing after `--`) exits with \
        status 2 before starting the server: the container never becomes ready and crash-loops. \
        A value the kubelet or a shell fills in (`$(PORT)`, `$DELAY`) is not checked, and a host \
        name is not resolved: the manifest does not show what they become in the pod. A `changeover prestop` hook with a flag it does not have exits 2 \
        at once, and one with no `changeover run` in the pod listening on its control socket \
        exits 1 at once: either way the kubelet sends SIGTERM immediately and the stop delay the \
        hook was meant to give is gone. The message quoted is the CLI's own.",
    fix: "Correct the command line as the message says (`changeover run --help`, `changeover \
        prestop --help`); give `changeover prestop` a `changeover run` as the container's main \
        process, on the same control socket.",
    check,
};

fn check(cx: &Context<'_>, em: &mut Emitter<'_>) {
    for (wi, w) in cx.workloads.iter().enumerate() {
        for (ci, c) in w.template.containers.iter().enumerate() {
            for refusal in &cx.timing(wi, ci).refusals {
                let message = match refusal.part {
                    RefusedPart::Command => format!(
                        "`{}` fails before the server starts: the container never becomes ready",
                        refusal.command
                    ),
                    RefusedPart::PreStop => format!(
                        "the preStop hook `{}` fails at once: SIGTERM follows immediately, with no stop delay",
                        refusal.command
                    ),
                };
                em.emit(
                    &w.meta,
                    FindingDraft::at(refusal.line, message)
                        .container(c)
                        .arithmetic(vec![refusal.message.clone()]),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::test_support::findings;

    fn pod(command: &str, hook: &str) -> String {
        format!(
            "kind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - name: app\n    command: {command}\n    lifecycle: {{preStop: {{exec: {{command: {hook}}}}}}}\n"
        )
    }

    #[test]
    fn refused_command_lines_are_findings_with_the_cli_message() {
        let f = findings(
            "changeover-command",
            &pod(
                "[changeover, run, --stop-delay, '7', --, app]",
                "[changeover, prestop]",
            ),
        );
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].arithmetic[0].starts_with(
            "changeover run: --stop-delay: invalid duration \"7\": a number has no unit"
        ));
        let f = findings(
            "changeover-command",
            &pod(
                "[changeover, run, --, app]",
                "[changeover, prestop, --stop-delay, 3s]",
            ),
        );
        assert_eq!(f.len(), 1);
        assert_eq!(
            f[0].arithmetic[0],
            "error: unexpected argument '--stop-delay' found"
        );
        let f = findings("changeover-command", &pod("[app]", "[changeover, prestop]"));
        assert_eq!(f.len(), 1);
        assert!(f[0].arithmetic[0].contains("no `changeover run` in this pod"));
    }

    #[test]
    fn accepted_command_lines_pass() {
        for (command, hook) in [
            (
                "[changeover, run, --stop-delay=5s, --, app]",
                "[changeover, prestop]",
            ),
            (
                "[changeover, run, --control, /run/c.sock, --, app]",
                "[changeover, prestop, --control=/run/c.sock]",
            ),
            (
                "[sh, -c, 'exec changeover run --stop-signal QUIT -- nginx']",
                "[sleep, '5']",
            ),
        ] {
            assert!(
                findings("changeover-command", &pod(command, hook)).is_empty(),
                "{command}"
            );
        }
    }
}
