//! `service-matches-nothing`: a Service must route to some pods.

use super::{Emitter, FindingDraft, Rule};
use crate::context::Context;
use crate::finding::Severity;

pub(crate) const RULE: Rule = Rule {
    id: "service-matches-nothing",
    severity: Severity::Warning,
    summary: "A Service's selector matches no pod template in the input.",
    rationale: "A Service routes to the pods whose labels include every pair of its selector, \
        in its own namespace. When no pod template matches (a typo, a label changed on one \
        side only, a different namespace), the Service has no endpoints and every request to \
        it fails, and the rules that protect its pods during a stop cannot see them either. \
        Services without a selector (manual endpoints) and ExternalName Services are not \
        checked, nor Services of a namespace in which the input has no pods at all (their \
        workloads are applied from elsewhere). Labels the controllers add to every pod count (a StatefulSet's \
        `statefulset.kubernetes.io/pod-name`, `apps.kubernetes.io/pod-index`), and so do the \
        pods an operator creates from a custom resource in the input (a `Prometheus`, an \
        `Alertmanager`, anything with `spec.template`, `spec.podMetadata` or `spec.replicas`), \
        with the labels the resource shows.",
    fix: "Make the Service's `spec.selector` a subset of the pod template's labels, in the same \
        namespace, or lint the Service together with the manifests of its workload.",
    check,
};

fn check(cx: &Context<'_>, em: &mut Emitter<'_>) {
    for (si, s) in cx.services.iter().enumerate() {
        if s.external_name
            || s.selector.is_empty()
            || cx.workloads_of_service(si).next().is_some()
            || cx.foreign_of_service(si).next().is_some()
            || !cx.has_pods_in(&s.meta.namespace)
        {
            continue;
        }
        let selector: Vec<String> = s.selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let message = format!(
            "selector {} matches no pod template in namespace {} of the input: the Service has no endpoints",
            selector.join(","),
            s.meta.namespace
        );
        em.emit(&s.meta, FindingDraft::at(s.selector_line, message));
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::test_support::findings;

    #[test]
    fn selectors_must_be_a_subset_of_labels() {
        let text = |selector: &str| {
            format!(
                "kind: Service\nmetadata: {{name: s}}\nspec:\n  selector: {selector}\n---\nkind: Pod\nmetadata: {{name: p, labels: {{app: a, v: '1'}}}}\nspec: {{containers: [{{name: c}}]}}\n"
            )
        };
        assert!(findings("service-matches-nothing", &text("{app: a}")).is_empty());
        let f = findings("service-matches-nothing", &text("{app: a, v: '2'}"));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].line, 4);
        assert!(findings("service-matches-nothing", &text("{}")).is_empty());
    }
}
