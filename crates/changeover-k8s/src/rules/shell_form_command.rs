//! `shell-form-command`: a shell wrapper must hand its PID to the server with `exec`.

use super::{Emitter, FindingDraft, Rule};
use crate::context::Context;
use crate::finding::Severity;
use crate::shell::{basename, shell_script, simple_commands, strip_launchers, traps_term};
use crate::timing::INSTANT;

pub(crate) const RULE: Rule = Rule {
    id: "shell-form-command",
    severity: Severity::Error,
    summary: "The container command is `sh -c`/`bash -c` with a script whose last command is not started with `exec`.",
    rationale: "With `command: [sh, -c, \"…; server\"]` the shell is the container's main process \
        and the server is its child. SIGTERM is delivered to the shell, which, as PID 1, ignores \
        every signal it has no handler for and does not forward it: the server never learns \
        that it should stop, keeps accepting until the grace period ends, and is then killed \
        with SIGKILL in the middle of its requests. Some shells replace themselves with the last \
        command as an optimisation, but not all do, and not in every script, so only `exec` is \
        reliable. A script that installs its own SIGTERM trap is assumed to forward the signal, and one that \
        ends in a compound command (`if …; then exec server; fi`) is accepted when it contains an \
        `exec`. A script of a single simple command is not flagged: bash, dash and busybox sh \
        replace themselves with it. Jobs' and CronJobs' pods are checked too (they get SIGTERM \
        when deleted or past their deadline).",
    fix: "Start the last command of the script with `exec` (`…; exec server --flag`) so that the \
        server replaces the shell and receives SIGTERM itself, or drop the shell and put the \
        server's argv in `command` directly.",
    check,
};

fn check(cx: &Context<'_>, em: &mut Emitter<'_>) {
    for w in &cx.workloads {
        for c in &w.template.containers {
            if strip_launchers(&c.command).is_empty() {
                continue; // the image's entrypoint runs; nothing to judge
            }
            let argv = c.argv();
            let Some(script) = shell_script(&argv) else {
                continue;
            };
            let program = strip_launchers(&c.command)[0].clone();
            let cmds = simple_commands(script);
            let words: Vec<Vec<String>> = cmds.iter().map(|c| c.words.clone()).collect();
            let Some(last) = cmds.last() else { continue };
            // A script of one simple command is exec'd by the shell itself (bash, dash and
            // busybox sh all replace themselves with it): the server is PID 1.
            if cmds.len() == 1 && !matches!(last.words[0].as_str(), "fi" | "done" | "esac") {
                continue;
            }
            // `if …; then exec app; fi` ends in a compound command: any `exec` inside may be it.
            let compound_end = matches!(last.words[0].as_str(), "fi" | "done" | "esac");
            let execs = words.iter().any(|c| c[0] == "exec");
            if last.words[0] == "exec" || (compound_end && execs) || traps_term(&words) {
                continue;
            }
            // A script that ends in `echo done` is not waiting on a server: it is over in a moment
            // (a CronJob's `date; echo hello`).
            if INSTANT.contains(&basename(&last.words[0])) {
                continue;
            }
            let (shown, fix) = if last.words[0] == "done" {
                (
                    "the script ends in a loop (`… done`) that the shell itself runs".to_string(),
                    "The shell is PID 1 and ignores SIGTERM: start the script with `trap 'exit 0' TERM` (and write each `sleep N` in the loop as `sleep N & wait $!`, so the trap runs at once), or run a program that handles SIGTERM instead of the loop.".to_string(),
                )
            } else if compound_end {
                (
                    format!(
                        "the script ends in a compound command (`… {}`) without `exec`",
                        last.words[0]
                    ),
                    "Start the server inside it with `exec` (`then exec server …`).".to_string(),
                )
            } else {
                (
                    format!(
                        "last command of the script: `{}` (not started with `exec`)",
                        last.source
                    ),
                    format!("Write `exec {}` as the script's last command.", last.source),
                )
            };
            let message = format!(
                "`{program} -c` runs the server as the shell's child without `exec`: SIGTERM stops at the shell and the server is SIGKILLed at the end of the grace period"
            );
            em.emit(
                &w.meta,
                FindingDraft::at(c.line, message)
                    .container(c)
                    .arithmetic(vec![shown])
                    .fix(fix),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::test_support::findings;

    fn pod(command: &str, args: &str) -> String {
        format!(
            "kind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - name: app\n    command: {command}\n    args: {args}\n"
        )
    }

    #[test]
    fn scripts_without_exec_fire() {
        for (command, args) in [
            ("[sh, -c, 'cd /app && node server.js']", "[]"),
            ("[/bin/bash, -c]", "['prepare; ./server']"),
            ("[/usr/bin/env, bash, -ec, \"prepare; ./server\"]", "[]"),
            ("[sh, -c, 'if true; then app; fi']", "[]"),
        ] {
            let f = findings("shell-form-command", &pod(command, args));
            assert_eq!(f.len(), 1, "{command} {args}");
        }
        let f = findings(
            "shell-form-command",
            &pod("[sh, -c, 'migrate && ./server --port 80']", "[]"),
        );
        assert!(f[0].arithmetic[0].contains("`./server --port 80`"));
    }

    #[test]
    fn exec_traps_and_plain_commands_pass() {
        for (command, args) in [
            ("[sh, -c, 'migrate; exec ./server']", "[]"),
            (
                "[sh, -c, 'if [ -f x ]; then exec a; else exec b; fi']",
                "[]",
            ),
            (
                "[sh, -c, \"trap 'kill -TERM $p' TERM; ./server & p=$!; wait $p\"]",
                "[]",
            ),
            ("[./server, -c, config.yaml]", "[]"),
            ("[sh, -c, './server --port 80']", "[]"),
            ("[sh, script.sh]", "[]"),
            ("[]", "[sh, -c, './server']"),
        ] {
            assert!(
                findings("shell-form-command", &pod(command, args)).is_empty(),
                "{command} {args}"
            );
        }
    }
}
