//! `pdb-unhealthy-policy`: pods that are not ready must not hold a drain hostage.

use super::{Emitter, FindingDraft, Rule};
use crate::context::Context;
use crate::finding::Severity;
use crate::model::Kind;
use crate::version::KubeVersion;

/// The first version in which `unhealthyPodEvictionPolicy` is on by default (beta).
const SINCE: KubeVersion = KubeVersion::new(1, 27);
/// The version whose API server no longer serves `policy/v1beta1`.
const V1BETA1_REMOVED: KubeVersion = KubeVersion::new(1, 25);

pub(crate) const RULE: Rule = Rule {
    id: "pdb-unhealthy-policy",
    severity: Severity::Warning,
    summary: "A PodDisruptionBudget does not set `unhealthyPodEvictionPolicy: AlwaysAllow`, or is `policy/v1beta1`, which cannot carry it and was removed in 1.25.",
    rationale: "By default (IfHealthyBudget) a pod that is running but not ready can only be \
        evicted while the budget is satisfied. A crash-looping or stuck pod makes the budget \
        unsatisfied, and then itself cannot be evicted: the drain of its node waits forever for \
        a pod that will never become healthy. AlwaysAllow lets unhealthy pods be evicted, \
        which costs no availability since they serve nothing. The field is on by default since \
        Kubernetes 1.27 (GA in 1.31); with `--kube-version` below 1.27 the rule is skipped. A \
        `policy/v1beta1` budget cannot carry the field, and API servers from 1.25 on refuse the \
        version altogether, which is the finding then. Budgets over DaemonSet pods only are \
        skipped: drains do not evict those.",
    fix: "Set `spec.unhealthyPodEvictionPolicy: AlwaysAllow` on the budget.",
    check,
};

fn check(cx: &Context<'_>, em: &mut Emitter<'_>) {
    for (bi, b) in cx.budgets.iter().enumerate() {
        let targets = cx.workloads_of_budget(bi);
        let only_daemon_sets = !targets.is_empty()
            && cx.foreign_of_budget(bi).next().is_none()
            && targets
                .iter()
                .all(|&wi| cx.workloads[wi].meta.kind == Kind::DaemonSet);
        if only_daemon_sets {
            continue; // drains skip DaemonSet pods: nothing for the policy to unblock
        }
        if b.is_v1beta1() {
            if cx.kube_version.is_none_or(|v| v >= V1BETA1_REMOVED) {
                let message = "policy/v1beta1 PodDisruptionBudget was removed in Kubernetes 1.25: the API server refuses it, so nothing guards these pods during drains (and v1beta1 cannot carry unhealthyPodEvictionPolicy)";
                let fix = "Write it as apiVersion: policy/v1 (the spec is the same) and set unhealthyPodEvictionPolicy: AlwaysAllow.";
                em.emit(&b.meta, FindingDraft::at(b.meta.line, message).fix(fix));
            }
            continue;
        }
        if cx.kube_version.is_some_and(|v| v < SINCE) {
            continue;
        }
        let policy = b.unhealthy_pod_eviction_policy.as_ref();
        if policy.is_some_and(|p| p.value == "AlwaysAllow") {
            continue;
        }
        let (line, shown) = match policy {
            Some(p) => (p.line, p.value.clone()),
            None => (b.meta.line, "unset, so IfHealthyBudget".to_string()),
        };
        let message = format!(
            "unhealthyPodEvictionPolicy is {shown}: a pod that never becomes ready cannot be evicted and blocks node drains"
        );
        em.emit(&b.meta, FindingDraft::at(line, message));
    }
}

#[cfg(test)]
mod tests {
    use crate::Config;
    use crate::rules::test_support::{findings, lint_with};

    fn budget(policy: &str) -> String {
        format!(
            "kind: PodDisruptionBudget\nmetadata: {{name: b}}\nspec:\n  maxUnavailable: 1\n{policy}"
        )
    }

    #[test]
    fn policy_values() {
        assert_eq!(findings("pdb-unhealthy-policy", &budget("")).len(), 1);
        let f = findings(
            "pdb-unhealthy-policy",
            &budget("  unhealthyPodEvictionPolicy: IfHealthyBudget\n"),
        );
        assert_eq!(f[0].line, 5);
        assert!(
            findings(
                "pdb-unhealthy-policy",
                &budget("  unhealthyPodEvictionPolicy: AlwaysAllow\n")
            )
            .is_empty()
        );
    }

    #[test]
    fn skipped_for_old_clusters() {
        let mut config = Config::default();
        config.kube_version = Some("1.26".parse().unwrap());
        let f = lint_with(&budget(""), config);
        assert!(f.iter().all(|f| f.rule != "pdb-unhealthy-policy"));
    }
}
