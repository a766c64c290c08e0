//! `shared-pid-namespace`: with a shared PID namespace, PID 1 is not the server.

use super::{Emitter, FindingDraft, Rule};
use crate::context::Context;
use crate::finding::Severity;
use crate::model::Handler;
use crate::shell::{commands_of, kills_pid_one};

pub(crate) const RULE: Rule = Rule {
    id: "shared-pid-namespace",
    severity: Severity::Warning,
    summary: "shareProcessNamespace is true and a lifecycle hook signals PID 1, which is then the pod's pause process.",
    rationale: "With `shareProcessNamespace: true` all containers of the pod share one PID \
        namespace whose PID 1 is the sandbox's pause process, not the server. A hook that runs \
        `kill -TERM 1` (a common way to start a graceful stop or a reload from preStop) signals \
        the pause process instead: the server is not told anything, and taking down the pause \
        process tears down the whole pod at once.",
    fix: "Signal the server by its own PID (a pid file, `pidof`, or `pkill -TERM -x server`), \
        use `changeover prestop` / `changeover reload`, which talk to the supervisor over its \
        control socket, or turn shareProcessNamespace off.",
    check,
};

fn check(cx: &Context<'_>, em: &mut Emitter<'_>) {
    for w in &cx.workloads {
        let Some(shared) = w.template.share_process_namespace else {
            continue;
        };
        if !shared.value {
            continue;
        }
        for c in &w.template.containers {
            let hooks = [("preStop", &c.pre_stop), ("postStart", &c.post_start)];
            for (hook, handler) in hooks {
                let Some(Handler::Exec { command, line }) = handler else {
                    continue;
                };
                let cmds = commands_of(command);
                let Some(kill) = kills_pid_one(&cmds) else {
                    continue;
                };
                let message = format!(
                    "the {hook} hook runs `{}` but PID 1 is the pod's pause process (shareProcessNamespace: true), not the server",
                    kill.join(" ")
                );
                let why = format!(
                    "shareProcessNamespace: true (line {}) ⇒ PID 1 = pause",
                    shared.line
                );
                em.emit(
                    &w.meta,
                    FindingDraft::at(*line, message)
                        .container(c)
                        .arithmetic(vec![why]),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::test_support::findings;

    fn pod(share: &str, hook: &str) -> String {
        format!(
            "kind: Pod\nmetadata: {{name: p}}\nspec:\n  shareProcessNamespace: {share}\n  containers:\n  - name: app\n    lifecycle: {{preStop: {{exec: {{command: {hook}}}}}}}\n"
        )
    }

    #[test]
    fn kill_one_with_shared_namespace() {
        assert_eq!(
            findings("shared-pid-namespace", &pod("true", "[kill, -TERM, '1']")).len(),
            1
        );
        assert_eq!(
            findings(
                "shared-pid-namespace",
                &pod("true", "[sh, -c, 'sleep 5; kill 1']")
            )
            .len(),
            1
        );
        assert!(findings("shared-pid-namespace", &pod("false", "[kill, -TERM, '1']")).is_empty());
        assert!(findings("shared-pid-namespace", &pod("true", "[kill, -TERM, '12']")).is_empty());
    }
}
