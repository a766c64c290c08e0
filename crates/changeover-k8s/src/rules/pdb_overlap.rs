//! `pdb-overlap`: a pod may be covered by one budget only.

use super::{Emitter, FindingDraft, Rule};
use crate::context::Context;
use crate::finding::Severity;
use crate::model::Kind;

pub(crate) const RULE: Rule = Rule {
    id: "pdb-overlap",
    severity: Severity::Error,
    summary: "A pod template is selected by more than one PodDisruptionBudget.",
    rationale: "The Eviction API refuses to evict a pod that more than one budget selects (it \
        answers with an error instead of deciding which budget wins), so every node drain \
        that reaches such a pod fails, no matter how generous each budget is on its own.",
    fix: "Make the selectors disjoint so that each pod matches exactly one budget: narrow one of \
        them with an extra label, or merge the budgets into one.",
    check,
};

fn check(cx: &Context<'_>, em: &mut Emitter<'_>) {
    for (wi, w) in cx.workloads.iter().enumerate() {
        let budgets = cx.budget_indices_of(wi);
        // Drains skip DaemonSet pods (`kubectl drain --ignore-daemonsets`): no eviction to fail.
        if budgets.len() < 2 || w.meta.kind == Kind::DaemonSet {
            continue;
        }
        let arithmetic = budgets
            .iter()
            .map(|&bi| {
                let b = cx.budgets[bi];
                let selector = b
                    .selector
                    .as_ref()
                    .map(|s| s.value.to_string())
                    .unwrap_or_default();
                format!(
                    "{} ({}:{}) selects {selector}",
                    b.meta.reference(),
                    b.meta.file,
                    b.meta.line
                )
            })
            .collect();
        let message = format!(
            "its pods are selected by {} PodDisruptionBudgets: the Eviction API refuses to evict them, so node drains fail",
            budgets.len()
        );
        em.emit(
            &w.meta,
            FindingDraft::at(w.template.line, message).arithmetic(arithmetic),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::test_support::findings;

    #[test]
    fn two_budgets_one_pod() {
        let pod =
            "kind: Pod\nmetadata: {name: p, labels: {app: web}}\nspec: {containers: [{name: c}]}\n";
        let pdb = |name: &str, labels: &str| {
            format!(
                "---\nkind: PodDisruptionBudget\nmetadata: {{name: {name}}}\nspec: {{maxUnavailable: 1, selector: {{matchLabels: {labels}}}}}\n"
            )
        };
        let text = format!("{pod}{}{}", pdb("a", "{app: web}"), pdb("b", "{}"));
        let f = findings("pdb-overlap", &text);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].object, "Pod/default/p");
        assert_eq!(f[0].arithmetic.len(), 2);
        let text = format!("{pod}{}{}", pdb("a", "{app: web}"), pdb("b", "{app: api}"));
        assert!(findings("pdb-overlap", &text).is_empty());
    }
}
