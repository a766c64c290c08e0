//! `missing-readiness-probe`: a served container must say when it is ready.

use super::{Emitter, FindingDraft, Rule, traffic_services};
use crate::context::Context;
use crate::finding::Severity;

pub(crate) const RULE: Rule = Rule {
    id: "missing-readiness-probe",
    severity: Severity::Warning,
    summary: "A container that a Service port reaches has no readinessProbe.",
    rationale: "Without a readiness probe a container counts as ready as soon as it has \
        started, so the Service sends it requests before the server listens (refused \
        connections on every rollout and every scale-up), and a server that knows it is \
        overloaded or draining has no way to ask to be taken out of rotation. A container is \
        reached when a Service port's `targetPort` names or numbers one of its ports, or when no \
        container declares that port and it declares none (a single-container pod); ports named \
        `metrics` (or `*-metrics`, `metrics-*`) carry scrapes, not requests, and do not count.",
    fix: "Add a readinessProbe on an endpoint that succeeds only once the server accepts \
        requests and fails as soon as it starts to stop (changeover's `/readyz` turns 503 at \
        the start of the stop delay).",
    check,
};

fn check(cx: &Context<'_>, em: &mut Emitter<'_>) {
    for (wi, w) in cx.workloads.iter().enumerate() {
        for (ci, c) in w.template.containers.iter().enumerate() {
            if c.readiness_probe.is_some() {
                continue;
            }
            let Some(services) = traffic_services(cx, wi, ci) else {
                continue;
            };
            let message = format!(
                "no readinessProbe although {services} routes to this container: it gets traffic before it listens"
            );
            em.emit(&w.meta, FindingDraft::at(c.line, message).container(c));
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
