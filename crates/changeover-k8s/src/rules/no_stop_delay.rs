//! `no-stop-delay`: a served container must keep serving while endpoints are removed.

use super::{Emitter, FindingDraft, Rule, traffic_services};
use crate::context::Context;
use crate::finding::Severity;

pub(crate) const RULE: Rule = Rule {
    id: "no-stop-delay",
    severity: Severity::Warning,
    summary: "A container behind a Service has no stop delay, so endpoint removal races SIGTERM.",
    rationale: "When a pod is deleted, the kubelet stops the container while, independently, \
        the endpoint is marked terminating and every kube-proxy, ingress controller and cloud \
        load balancer drops it on its own schedule: about a second for kube-proxy, several for \
        an ingress, longer for some cloud balancers. A server that stops accepting as soon as \
        SIGTERM arrives refuses the connections that are still routed to it during that window. \
        Only the containers a Service port reaches are checked: its `targetPort` names or numbers \
        one of their ports, or, when no container declares that port, one that declares none. \
        Services whose ports are all named `metrics` (or `*-metrics`, `metrics-*`) carry scrapes, \
        not requests, and are left out; so is a preStop hook whose length the manifest does not \
        show (a script, `httpGet`), which is taken to be a delay.",
    fix: "Give the container a stop delay of a few seconds: a preStop `sleep` action \
        (`lifecycle: {preStop: {sleep: {seconds: 5}}}`, Kubernetes 1.30+), an exec preStop \
        `sleep 5`, or run the server under `changeover run --stop-delay 5s`; then check that \
        terminationGracePeriodSeconds still covers the delay, the drain and a margin.",
    check,
};

fn check(cx: &Context<'_>, em: &mut Emitter<'_>) {
    for (wi, w) in cx.workloads.iter().enumerate() {
        for (ci, c) in w.template.containers.iter().enumerate() {
            let t = cx.timing(wi, ci);
            // A refused changeover command line is changeover-command's finding, which says the
            // delay is lost: one problem, one finding.
            if t.has_stop_delay() || !t.refusals.is_empty() {
                continue;
            }
            let Some(services) = traffic_services(cx, wi, ci) else {
                continue;
            };
            let why_zero = if t.stop_delay.is_empty() {
                "no preStop sleep, no changeover run or prestop".to_string()
            } else {
                t.stop_delay_terms().join(" + ")
            };
            let message = format!(
                "no stop delay although {services} routes to this pod: connections still routed here after SIGTERM are refused"
            );
            let arithmetic = vec![
                format!("stop delay = 0s ({why_zero})"),
                "endpoint removal takes ~1s (kube-proxy) to several seconds (ingress, cloud load balancers)".to_string(),
            ];
            em.emit(
                &w.meta,
                FindingDraft::at(c.line, message)
                    .container(c)
                    .arithmetic(arithmetic),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::test_support::findings;

    const SERVICE: &str = "kind: Service\nmetadata: {name: s}\nspec: {selector: {app: a}}\n---\n";

    fn deployment(containers: &str) -> String {
        format!(
            "{SERVICE}kind: Deployment\nmetadata: {{name: d}}\nspec:\n  template:\n    metadata: {{labels: {{app: a}}}}\n    spec:\n      containers:\n{containers}"
        )
    }

    #[test]
    fn only_served_containers_are_checked() {
        let text = deployment(
            "      - {name: app, ports: [{containerPort: 80}]}\n      - {name: sidecar}\n",
        );
        let f = findings("no-stop-delay", &text);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].container.as_deref(), Some("app"));
        assert!(f[0].message.contains("Service/default/s"));
    }

    #[test]
    fn zero_second_sleep_is_no_delay() {
        let text = deployment("      - {name: app, lifecycle: {preStop: {sleep: {seconds: 0}}}}\n");
        let f = findings("no-stop-delay", &text);
        assert_eq!(f.len(), 1);
        assert!(f[0].arithmetic[0].contains("sleep.seconds: 0"));
    }

    #[test]
    fn unselected_pods_and_delayed_containers_pass() {
        let unselected = "kind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    metadata: {labels: {app: b}}\n    spec:\n      containers: [{name: app}]\n";
        assert!(findings("no-stop-delay", &format!("{SERVICE}{unselected}")).is_empty());
        let delayed = deployment("      - {name: app, command: [changeover, run, --, app]}\n");
        assert!(findings("no-stop-delay", &delayed).is_empty());
    }
}
