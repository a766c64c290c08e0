//! `missing-readiness-probe`: a served container must say when it is ready.

use super::{Emitter, Hit, Rule, name_some};
use crate::context::Context;
use crate::finding::Severity;

pub(crate) const RULE: Rule = Rule {
    id: "missing-readiness-probe",
    severity: Severity::Warning,
    summary: "A container with ports, in a pod selected by a Service, has no readinessProbe.",
    rationale: "Without a readiness probe a container counts as ready as soon as it has \
        started, so the Service sends it requests before the server listens (refused \
        connections on every rollout and every scale-up), and a server that knows it is \
        overloaded or draining has no way to ask to be taken out of rotation.",
    fix: "Add a readinessProbe on an endpoint that succeeds only once the server accepts \
        requests and fails as soon as it starts to stop (changeover's `/readyz` turns 503 at \
        the start of the stop delay).",
    check,
};

fn check(cx: &Context<'_>, em: &mut Emitter<'_>) {
    for (wi, w) in cx.workloads.iter().enumerate() {
        let services: Vec<String> = cx.services_of(wi).map(|s| s.meta.reference()).collect();
        if services.is_empty() {
            continue;
        }
        for c in w
            .template
            .containers
            .iter()
            .filter(|c| c.has_ports && c.readiness_probe.is_none())
        {
            em.emit(
                &w.meta,
                Hit {
                    line: c.line,
                    container: Some(c.name.clone()),
                    message: format!(
                        "no readinessProbe although the container has ports and {} routes to it: it gets traffic before it listens",
                        name_some(services.iter().cloned())
                    ),
                    arithmetic: vec![],
                    fix: None,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::test_support::findings;

    #[test]
    fn ports_without_probe_behind_a_service() {
        let text = |probe: &str| {
            format!(
                "kind: Service\nmetadata: {{name: s}}\nspec: {{selector: {{app: a}}}}\n---\nkind: Pod\nmetadata: {{name: p, labels: {{app: a}}}}\nspec:\n  containers:\n  - name: app\n    ports: [{{containerPort: 80}}]\n{probe}  - name: metrics-less-sidecar\n"
            )
        };
        assert_eq!(findings("missing-readiness-probe", &text("")).len(), 1);
        assert!(
            findings(
                "missing-readiness-probe",
                &text("    readinessProbe: {tcpSocket: {port: 80}}\n")
            )
            .is_empty()
        );
    }
}
