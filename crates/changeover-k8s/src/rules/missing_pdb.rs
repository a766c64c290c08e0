//! `missing-pdb`: replicated workloads need a budget to survive node drains.

use super::{Emitter, FindingDraft, Rule, replicas};
use crate::context::Context;
use crate::finding::Severity;
use crate::model::Kind;

pub(crate) const RULE: Rule = Rule {
    id: "missing-pdb",
    severity: Severity::Warning,
    summary: "A Deployment or StatefulSet with 2 or more replicas has no PodDisruptionBudget.",
    rationale: "Running several replicas only keeps a service up during voluntary disruptions \
        if something stops them all being disrupted together. Node drains (upgrades, the \
        cluster autoscaler, maintenance) evict pods through the Eviction API, which only holds \
        back when a budget says so; without one, a drain of the nodes hosting the replicas can \
        evict all of them at once. The replica count is spec.replicas, or the minReplicas of \
        an autoscaler that targets the workload.",
    fix: "Add a PodDisruptionBudget with the workload's selector, `maxUnavailable: 1` and \
        `unhealthyPodEvictionPolicy: AlwaysAllow`.",
    check,
};

fn check(cx: &Context<'_>, em: &mut Emitter<'_>) {
    for (wi, w) in cx.workloads.iter().enumerate() {
        if !matches!(w.meta.kind, Kind::Deployment | Kind::StatefulSet) {
            continue;
        }
        let Some((count, source)) = cx.base_replicas(wi) else {
            continue;
        };
        if count < 2 || !cx.budget_indices_of(wi).is_empty() {
            continue;
        }
        let line = if w.replicas_set {
            w.replicas.map_or(w.meta.line, |r| r.line)
        } else {
            w.meta.line
        };
        let message = format!(
            "runs {} but no PodDisruptionBudget selects its pods: a node drain may evict all of them at once",
            replicas(count)
        );
        let count = format!(
            "{} ({source}) ≥ 2, budgets selecting its pods: 0",
            replicas(count)
        );
        em.emit(
            &w.meta,
            FindingDraft::at(line, message).arithmetic(vec![count]),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::test_support::findings;

    fn deployment(replicas: u32) -> String {
        format!(
            "kind: Deployment\nmetadata: {{name: d}}\nspec:\n  replicas: {replicas}\n  template:\n    metadata: {{labels: {{app: a}}}}\n    spec: {{containers: [{{name: c}}]}}\n"
        )
    }

    #[test]
    fn replicated_without_budget() {
        let f = findings("missing-pdb", &deployment(2));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].line, 4);
        assert!(findings("missing-pdb", &deployment(1)).is_empty());
        let with_budget = format!(
            "{}---\nkind: PodDisruptionBudget\nmetadata: {{name: b}}\nspec: {{maxUnavailable: 1, selector: {{matchLabels: {{app: a}}}}}}\n",
            deployment(3)
        );
        assert!(findings("missing-pdb", &with_budget).is_empty());
    }
}
