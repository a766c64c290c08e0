//! `pdb-selector`: a budget must select the pods it is meant to protect, and only those.

use super::{Emitter, FindingDraft, Rule, name_a_few};
use crate::context::Context;
use crate::finding::Severity;

pub(crate) const RULE: Rule = Rule {
    id: "pdb-selector",
    severity: Severity::Warning,
    summary: "A PodDisruptionBudget's selector matches no pod template in the input, or is empty and so matches every pod in its namespace.",
    rationale: "A budget protects exactly the pods its selector matches, in its own namespace. \
        A selector that matches nothing (a typo in a label, a budget left behind after a \
        rename, a missing selector, which in policy/v1 selects no pod) protects nothing, and a \
        drain can take the workload down at once. An empty selector `{}` matches every pod of \
        the namespace: one budget then governs unrelated workloads, its percentages are \
        computed over all of them, and it overlaps every other budget there. A selector that \
        matches nothing is reported only when the input holds pods in the budget's namespace \
        (otherwise they are applied from elsewhere).",
    fix: "Copy the workload's `spec.selector` (its matchLabels) into the budget's selector, so \
        that it selects the pods of exactly one workload.",
    check,
};

fn check(cx: &Context<'_>, em: &mut Emitter<'_>) {
    for (bi, b) in cx.budgets.iter().enumerate() {
        let Some(selector) = &b.selector else {
            em.emit(
                &b.meta,
                FindingDraft::at(
                    b.meta.line,
                    "has no selector, so it selects no pod and protects nothing",
                ),
            );
            continue;
        };
        if selector.value.is_empty() && !b.is_v1beta1() {
            let covered: Vec<String> = cx
                .workloads_of_budget(bi)
                .iter()
                .map(|&wi| cx.workloads[wi].meta.reference())
                .collect();
            let message = format!(
                "the empty selector matches every pod in namespace {}, not one workload",
                b.meta.namespace
            );
            let matched = format!(
                "pod templates matched in the input: {}",
                name_a_few(covered)
            );
            em.emit(
                &b.meta,
                FindingDraft::at(selector.line, message).arithmetic(vec![matched]),
            );
            continue;
        }
        if selector.value.is_empty() {
            let message =
                "in policy/v1beta1 an empty selector selects no pod: the budget protects nothing";
            em.emit(&b.meta, FindingDraft::at(selector.line, message));
            continue;
        }
        if cx.workloads_of_budget(bi).is_empty()
            && cx.foreign_of_budget(bi).next().is_none()
            && cx.has_pods_in(&b.meta.namespace)
        {
            let message = format!(
                "selector {} matches no pod template in namespace {} of the input: the budget protects nothing",
                selector.value, b.meta.namespace
            );
            em.emit(&b.meta, FindingDraft::at(selector.line, message));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::test_support::findings;

    const POD: &str = "kind: Pod\nmetadata: {name: p, labels: {app: web, tier: front}}\nspec: {containers: [{name: c}]}\n---\n";

    fn budget(spec: &str) -> String {
        format!(
            "{POD}apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {{name: b}}\nspec:\n{spec}"
        )
    }

    #[test]
    fn matching_nothing_empty_or_missing_fires() {
        for spec in [
            "  selector: {matchLabels: {app: wbe}}\n",
            "  selector: {}\n",
            "  maxUnavailable: 1\n",
            "  selector: {matchExpressions: [{key: tier, operator: NotIn, values: [front]}]}\n",
        ] {
            assert_eq!(findings("pdb-selector", &budget(spec)).len(), 1, "{spec}");
        }
    }

    #[test]
    fn matching_selectors_pass() {
        for spec in [
            "  selector: {matchLabels: {app: web}}\n",
            "  selector: {matchExpressions: [{key: tier, operator: In, values: [front, back]}]}\n",
        ] {
            assert!(findings("pdb-selector", &budget(spec)).is_empty(), "{spec}");
        }
    }

    #[test]
    fn other_namespaces_do_not_count() {
        let budget = "kind: PodDisruptionBudget\nmetadata: {name: b, namespace: other}\nspec: {selector: {matchLabels: {app: web}}}\n";
        let other_pod = "kind: Pod\nmetadata: {name: q, namespace: other, labels: {app: api}}\nspec: {containers: [{name: c}]}\n---\n";
        assert_eq!(
            findings("pdb-selector", &format!("{POD}{other_pod}{budget}")).len(),
            1
        );
        // With no pods at all in its namespace the budget's pods are applied from elsewhere.
        assert!(findings("pdb-selector", &format!("{POD}{budget}")).is_empty());
    }
}
