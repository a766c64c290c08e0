//! `prestop-exceeds-grace`: a stop delay as long as the grace period leaves no time to stop.

use super::{Emitter, FindingDraft, Rule};
use crate::context::Context;
use crate::duration::format_ms;
use crate::finding::Severity;
use crate::model::PodTemplate;
use crate::timing::Timing;

pub(crate) const RULE: Rule = Rule {
    id: "prestop-exceeds-grace",
    severity: Severity::Error,
    summary: "The stop delay alone is as long as terminationGracePeriodSeconds, or longer.",
    rationale: "The grace period starts when the pod is deleted, before the preStop hook runs. A \
        hook that is still sleeping when the grace period ends is interrupted, and the kubelet \
        then gives the container a single 2-second extension before SIGKILL; a supervisor that \
        is still in its stop delay is killed outright. Either way the server never gets to stop \
        accepting and finish its requests: every request in flight at that moment fails.",
    fix: "Keep the stop delay well below the grace period (a few seconds is enough for endpoint \
        removal to propagate) and raise terminationGracePeriodSeconds to cover the stop delay, \
        the drain and a margin.",
    check,
};

/// Whether this rule fires for a container of `pod` whose stop sequence is `t`: it starts, and
/// its stop delay is not zero and not shorter than the grace period. `grace-budget` leaves such a
/// container to this rule.
pub(super) fn fires(t: &Timing, pod: &PodTemplate) -> bool {
    let delay = t.stop_delay_ms();
    !t.fails_to_start() && delay > 0 && delay >= pod.grace_ms()
}

fn check(cx: &Context<'_>, em: &mut Emitter<'_>) {
    for (wi, w) in cx.workloads.iter().enumerate() {
        let pod = &w.template;
        for (ci, c) in pod.containers.iter().enumerate() {
            let t = cx.timing(wi, ci);
            if !fires(t, pod) {
                continue;
            }
            let delay = t.stop_delay_ms();
            let terms = t.stop_delay_terms();
            let line = c.pre_stop.as_ref().map_or(c.line, |h| h.line());
            let message = format!(
                "the stop delay of {} is not shorter than the {}s grace period: the container is killed before it can drain",
                format_ms(delay),
                pod.grace_seconds()
            );
            let sum = format!(
                "stop delay {} = {} ≥ {}",
                terms.join(" + "),
                format_ms(delay),
                pod.describe_grace()
            );
            em.emit(
                &w.meta,
                FindingDraft::at(line, message)
                    .container(c)
                    .arithmetic(vec![sum]),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::test_support::findings;

    #[test]
    fn fires_at_and_above_the_grace_period() {
        let pod = |seconds: u32| {
            format!(
                "kind: Pod\nmetadata: {{name: p}}\nspec:\n  terminationGracePeriodSeconds: 10\n  containers:\n  - name: app\n    lifecycle:\n      preStop:\n        exec: {{command: [sh, -c, 'sleep {seconds}']}}\n"
            )
        };
        assert!(findings("prestop-exceeds-grace", &pod(9)).is_empty());
        let f = findings("prestop-exceeds-grace", &pod(10));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].line, 9);
        assert!(
            f[0].arithmetic[0].contains("≥ 10s (terminationGracePeriodSeconds: 10)"),
            "{:?}",
            f[0].arithmetic
        );
        assert_eq!(findings("prestop-exceeds-grace", &pod(60)).len(), 1);
    }
}
