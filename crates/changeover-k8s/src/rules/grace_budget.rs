//! `grace-budget`: the stop sequence must fit in the grace period.

use super::{Emitter, FindingDraft, Rule, prestop_exceeds_grace};
use crate::context::Context;
use crate::duration::format_ms;
use crate::finding::Severity;

/// Time the kubelet and the runtime need between the end of the drain and SIGKILL.
pub(crate) const MARGIN_MS: u64 = 2_000;

pub(crate) const RULE: Rule = Rule {
    id: "grace-budget",
    severity: Severity::Error,
    summary: "The stop delay plus the drain deadline plus a 2 s margin exceeds terminationGracePeriodSeconds.",
    rationale: "terminationGracePeriodSeconds is one budget for the whole stop: the preStop hook, the \
        time the server keeps serving after SIGTERM, and the time it takes to finish in-flight \
        requests all come out of it, and at its end the kubelet sends SIGKILL. When the stop \
        delay and the drain deadline together do not fit, with a couple of seconds to spare for \
        the kubelet and the runtime, requests still in flight when the budget runs out are cut \
        off, on every rollout and every drain.",
    fix: "Raise terminationGracePeriodSeconds to at least stop delay + drain deadline + 2 s, or \
        shorten the stop delay or the drain deadline (`changeover run --drain-timeout`).",
    check,
};

fn check(cx: &Context<'_>, em: &mut Emitter<'_>) {
    for (wi, w) in cx.workloads.iter().enumerate() {
        let pod = &w.template;
        let grace_ms = pod.grace_ms();
        for (ci, c) in pod.containers.iter().enumerate() {
            let t = cx.timing(wi, ci);
            // Nothing known to add up: no drain deadline and no known delay (a hook of unknown
            // length alone says nothing about the grace period).
            if t.fails_to_start() || (t.drain.is_none() && t.stop_delay_ms() == 0) {
                continue;
            }
            // A stop delay as long as the grace period is prestop-exceeds-grace's finding: one
            // problem, one finding.
            if prestop_exceeds_grace::fires(t, pod)
                && em.reports(&prestop_exceeds_grace::RULE, &w.meta)
            {
                continue;
            }
            let total = t
                .stop_delay_ms()
                .saturating_add(t.drain_ms())
                .saturating_add(MARGIN_MS);
            if total <= grace_ms {
                continue;
            }
            let mut terms = t.stop_delay_terms();
            if t.stop_delay.is_empty() {
                terms.push("0s (no stop delay)".to_string());
            }
            match &t.drain {
                Some(d) => terms.push(d.describe()),
                None => terms.push("0s (no drain deadline visible)".to_string()),
            }
            terms.push(format!("{} (margin)", format_ms(MARGIN_MS)));
            let at_least = if t.exact() { "" } else { "at least " };
            let needed_s = total.div_ceil(1000);
            let message = format!(
                "stop delay + drain deadline + margin = {at_least}{}, more than the {}s grace period: SIGKILL cuts the drain short",
                format_ms(total),
                pod.grace_seconds()
            );
            let sum = format!(
                "{} = {at_least}{} > {}",
                terms.join(" + "),
                format_ms(total),
                pod.describe_grace()
            );
            let fix = format!(
                "Set terminationGracePeriodSeconds to at least {needed_s}, or shorten the stop delay or the drain deadline."
            );
            em.emit(
                &w.meta,
                FindingDraft::at(c.line, message)
                    .container(c)
                    .arithmetic(vec![sum])
                    .fix(fix),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::test_support::findings;

    fn pod(grace: &str, command: &str, pre_stop: &str) -> String {
        format!(
            "kind: Pod\nmetadata: {{name: p}}\nspec:\n{grace}  containers:\n  - name: app\n    image: x\n    command: {command}\n{pre_stop}"
        )
    }

    #[test]
    fn shows_the_sum() {
        let text = pod(
            "  terminationGracePeriodSeconds: 30\n",
            "[changeover, run, --drain-timeout, 25s, --, app]",
            "    lifecycle: {preStop: {sleep: {seconds: 5}}}\n",
        );
        let f = findings("grace-budget", &text);
        assert_eq!(f.len(), 1);
        assert_eq!(
            f[0].arithmetic[0],
            "5s (preStop sleep action, sleep.seconds: 5) + 5s (changeover run's default stop delay) \
             + 25s (--drain-timeout 25s of changeover run) + 2s (margin) = 37s > 30s (terminationGracePeriodSeconds: 30)"
        );
        assert!(f[0].fix.contains("at least 37"));
        assert_eq!(f[0].line, 6);
    }

    #[test]
    fn default_grace_fits_defaults() {
        // changeover run's defaults (5 s + 20 s) plus the margin fit Kubernetes' default 30 s.
        let text = pod("", "[changeover, run, --, app]", "");
        assert!(findings("grace-budget", &text).is_empty());
    }

    #[test]
    fn exactly_full_is_fine_one_more_is_not() {
        let fits = pod(
            "  terminationGracePeriodSeconds: 12\n",
            "[changeover, run, --stop-delay=5s, --drain-timeout=5s, --, app]",
            "",
        );
        assert!(findings("grace-budget", &fits).is_empty());
        let over = pod(
            "  terminationGracePeriodSeconds: 11\n",
            "[changeover, run, --stop-delay=5s, --drain-timeout=5s, --, app]",
            "",
        );
        assert_eq!(findings("grace-budget", &over).len(), 1);
    }

    #[test]
    fn plain_containers_are_not_judged() {
        let text = pod("  terminationGracePeriodSeconds: 0\n", "[app]", "");
        assert!(findings("grace-budget", &text).is_empty());
    }
}
