//! `prestop-needs-shell`: an exec preStop needs its program in the image.

use super::{Emitter, FindingDraft, Rule};
use crate::context::Context;
use crate::finding::Severity;
use crate::image::shell_less_reason;
use crate::model::Handler;
use crate::shell::{basename, is_shell, strip_launchers};

pub(crate) const RULE: Rule = Rule {
    id: "prestop-needs-shell",
    severity: Severity::Warning,
    summary: "An exec preStop runs sh, bash or sleep in an image that has no shell (distroless, Chainguard static, scratch, `ko://`).",
    rationale: "An exec hook runs inside the container's own image. Minimal images ship no \
        shell and no `sleep` binary, so the hook fails at once; the kubelet logs a \
        FailedPreStopHook event and sends SIGTERM immediately, and the stop delay the hook was \
        meant to provide silently disappears. The image is judged by its name: distroless \
        images (except their :debug tags), Chainguard's static image, images named scratch, \
        and `ko://` references (ko builds on a static base by default).",
    fix: "Use the preStop `sleep` action (`lifecycle: {preStop: {sleep: {seconds: 5}}}`, \
        Kubernetes 1.30+), which needs nothing in the image, or ship the changeover binary and \
        run `changeover prestop`.",
    check,
};

fn check(cx: &Context<'_>, em: &mut Emitter<'_>) {
    for w in &cx.workloads {
        for c in &w.template.containers {
            let Some(Handler::Exec { command, line }) = &c.pre_stop else {
                continue;
            };
            let Some(program) = strip_launchers(command).first() else {
                continue;
            };
            if !(is_shell(program) || basename(program) == "sleep") {
                continue;
            }
            let Some(image) = &c.image else { continue };
            let Some(reason) = shell_less_reason(image) else {
                continue;
            };
            let message = format!(
                "the preStop hook runs `{program}`, which image {image} most likely lacks: the hook fails and the stop delay is lost"
            );
            em.emit(
                &w.meta,
                FindingDraft::at(*line, message)
                    .container(c)
                    .arithmetic(vec![format!("{image}: {reason}")]),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::test_support::findings;

    fn pod(image: &str, hook: &str) -> String {
        format!(
            "kind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - name: app\n    image: {image}\n    lifecycle: {{preStop: {hook}}}\n"
        )
    }

    #[test]
    fn shells_and_sleep_in_shell_less_images() {
        for hook in [
            "{exec: {command: [/bin/sh, -c, sleep 5]}}",
            "{exec: {command: [sleep, '5']}}",
        ] {
            let f = findings(
                "prestop-needs-shell",
                &pod("gcr.io/distroless/static", hook),
            );
            assert_eq!(f.len(), 1, "{hook}");
        }
    }

    #[test]
    fn other_hooks_and_images_pass() {
        let ok = [
            pod("gcr.io/distroless/static", "{sleep: {seconds: 5}}"),
            pod(
                "gcr.io/distroless/static",
                "{exec: {command: [changeover, prestop]}}",
            ),
            pod("debian:12", "{exec: {command: [sh, -c, sleep 5]}}"),
        ];
        for text in ok {
            assert!(findings("prestop-needs-shell", &text).is_empty(), "{text}");
        }
    }
}
