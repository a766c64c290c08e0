//! `replicas-with-autoscaler`: a workload an autoscaler scales must not pin its replica count.

use super::{Emitter, FindingDraft, Rule, replicas};
use crate::context::Context;
use crate::finding::Severity;

pub(crate) const RULE: Rule = Rule {
    id: "replicas-with-autoscaler",
    severity: Severity::Warning,
    summary: "A workload that a HorizontalPodAutoscaler scales also sets spec.replicas.",
    rationale: "Once an autoscaler drives a workload, the replica count is the autoscaler's. A \
        manifest that still sets spec.replicas resets it on every `kubectl apply` (and every \
        GitOps sync): a Deployment scaled out to 10 under load is cut back to the 2 of the \
        manifest at once, its surplus pods deleted mid-request, and the survivors overloaded \
        until the autoscaler scales out again a few minutes later.",
    fix: "Remove spec.replicas from the manifest (the autoscaler's minReplicas then applies), or \
        stop the tool from managing the field.",
    check,
};

fn check(cx: &Context<'_>, em: &mut Emitter<'_>) {
    for (wi, w) in cx.workloads.iter().enumerate() {
        let (Some(a), Some(r)) = (cx.autoscaler_of(wi), w.replicas) else {
            continue;
        };
        if !w.replicas_set {
            continue;
        }
        let range = match a.max_replicas {
            Some(max) => format!("{}–{}", a.min_replicas, max),
            None => format!("at least {}", a.min_replicas),
        };
        let message = format!(
            "spec.replicas is {} although {} scales it ({range}): every apply resets the scale to {}",
            r.value,
            a.meta.reference(),
            replicas(r.value)
        );
        let targets = format!("{} targets {}", a.meta.reference(), w.meta.reference());
        em.emit(
            &w.meta,
            FindingDraft::at(r.line, message).arithmetic(vec![targets]),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::test_support::findings;

    fn setup(replicas: &str) -> String {
        format!(
            "kind: Deployment\nmetadata: {{name: web}}\nspec:\n{replicas}  template:\n    metadata: {{labels: {{app: web}}}}\n    spec: {{containers: [{{name: app}}]}}\n---\nkind: HorizontalPodAutoscaler\nmetadata: {{name: web}}\nspec:\n  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}\n  minReplicas: 2\n  maxReplicas: 10\n"
        )
    }

    #[test]
    fn pinned_replicas_under_an_autoscaler() {
        let f = findings("replicas-with-autoscaler", &setup("  replicas: 3\n"));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].line, 4);
        assert!(findings("replicas-with-autoscaler", &setup("")).is_empty());
    }
}
