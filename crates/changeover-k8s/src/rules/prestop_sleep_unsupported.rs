//! `prestop-sleep-unsupported`: the sleep action needs a recent enough cluster.

use super::{Emitter, FindingDraft, Rule};
use crate::context::Context;
use crate::finding::Severity;
use crate::model::Handler;
use crate::version::KubeVersion;

/// The sleep action is beta and on by default from this version.
const SLEEP_ACTION: KubeVersion = KubeVersion::new(1, 30);
/// `sleep.seconds: 0` is accepted from this version.
const SLEEP_ZERO: KubeVersion = KubeVersion::new(1, 33);

pub(crate) const RULE: Rule = Rule {
    id: "prestop-sleep-unsupported",
    severity: Severity::Error,
    summary: "With --kube-version: a lifecycle `sleep` action on a cluster older than 1.30, or `sleep.seconds: 0` older than 1.33.",
    rationale: "The `sleep` lifecycle action (PodLifecycleSleepAction) is on by default from \
        Kubernetes 1.30; older API servers reject the object or drop the field, and then the \
        pod has no stop delay at all. A zero-second sleep (PodLifecycleSleepActionAllowZero) is \
        accepted from 1.33 only. This rule runs only when `--kube-version` names the target \
        cluster.",
    fix: "Use an exec preStop instead (`command: [sleep, \"5\"]`, which needs `sleep` in the \
        image) or `changeover prestop`, or target a cluster version that supports the field.",
    check,
};

fn check(cx: &Context<'_>, em: &mut Emitter<'_>) {
    let Some(version) = cx.kube_version else {
        return;
    };
    for w in &cx.workloads {
        for c in &w.template.containers {
            for (hook, handler) in [("preStop", &c.pre_stop), ("postStart", &c.post_start)] {
                let Some(Handler::Sleep { seconds, line }) = handler else {
                    continue;
                };
                let (needed, what) = if version < SLEEP_ACTION {
                    (SLEEP_ACTION, "the sleep action")
                } else if *seconds == 0 && version < SLEEP_ZERO {
                    (SLEEP_ZERO, "sleep.seconds: 0")
                } else {
                    continue;
                };
                em.emit(
                    &w.meta,
                    FindingDraft::at(
                        *line,
                        format!("{hook} uses {what}, which Kubernetes {version} does not accept"),
                    )
                    .container(c)
                    .arithmetic(vec![format!(
                        "{what} needs Kubernetes ≥ {needed}; --kube-version is {version}"
                    )]),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::Config;
    use crate::rules::test_support::lint_with;

    fn run(seconds: u32, version: Option<&str>) -> usize {
        let text = format!(
            "kind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - name: app\n    lifecycle: {{preStop: {{sleep: {{seconds: {seconds}}}}}}}\n"
        );
        let mut config = Config::default();
        config.kube_version = version.map(|v| v.parse().unwrap());
        lint_with(&text, config)
            .iter()
            .filter(|f| f.rule == "prestop-sleep-unsupported")
            .count()
    }

    #[test]
    fn versions() {
        assert_eq!(run(5, None), 0);
        assert_eq!(run(5, Some("1.29")), 1);
        assert_eq!(run(5, Some("1.30")), 0);
        assert_eq!(run(0, Some("1.32")), 1);
        assert_eq!(run(0, Some("1.33")), 0);
    }
}
