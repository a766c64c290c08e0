//! `rollout-capacity-gap`: a rollout must leave the Service something to route to.

use super::{Emitter, FindingDraft, Rule, name_a_few, replicas};
use crate::context::Context;
use crate::finding::Severity;
use crate::model::{Kind, Strategy};

pub(crate) const RULE: Rule = Rule {
    id: "rollout-capacity-gap",
    severity: Severity::Warning,
    summary: "A Deployment behind a Service has fewer than 2 replicas, uses the Recreate strategy, or lets a rolling update take all replicas down (maxUnavailable, rounded down, ≥ replicas).",
    rationale: "A PodDisruptionBudget does not govern rolling updates: the Deployment \
        controller deletes old pods directly, limited only by maxUnavailable (a percentage \
        rounds down) and maxSurge (a percentage rounds up). With a single replica, every \
        restart, eviction or node failure leaves the Service without a ready endpoint for as \
        long as the replacement takes to become ready. `Recreate` stops every old pod before \
        starting any new one, and a maxUnavailable that resolves to the replica count allows \
        the same: in both cases each rollout is an outage. The replica count is spec.replicas, \
        or the minReplicas of an autoscaler that targets the Deployment. Only Services that \
        route to this Deployment alone count: one Service over several Deployments (canary or \
        version splits) keeps the others' endpoints. `replicas: 0` (scaled to zero on purpose) \
        and metrics-only Services are not checked.",
    fix: "Run at least 2 replicas, use the RollingUpdate strategy, and keep maxUnavailable \
        below the replica count (`maxUnavailable: 0` with `maxSurge: 1` keeps full capacity \
        during a rollout).",
    check,
};

fn check(cx: &Context<'_>, em: &mut Emitter<'_>) {
    for (wi, w) in cx.workloads.iter().enumerate() {
        if w.meta.kind != Kind::Deployment {
            continue;
        }
        let Some((count, source)) = cx.base_replicas(wi) else {
            continue;
        };
        if count == 0 {
            continue; // scaled to zero on purpose: nothing to keep serving
        }
        // Only Services this Deployment alone serves: with other workloads behind the Service
        // (canary or version splits such as bookinfo's reviews v1/v2/v3) it keeps endpoints
        // while this one rolls out. Metrics-only Services carry scrapes, not requests.
        let services: Vec<String> = cx
            .service_indices_of(wi)
            .iter()
            .filter(|&&si| !cx.services[si].metrics_only() && cx.other_endpoints(si, wi) == Some(0))
            .map(|&si| cx.services[si].meta.reference())
            .collect();
        if services.is_empty() {
            continue;
        }
        let served_by = name_a_few(services);
        let count_line = w
            .replicas
            .filter(|_| w.replicas_set)
            .map_or(w.meta.line, |r| r.line);
        if count < 2 {
            let message = format!(
                "{served_by} routes to {}: while it restarts, is evicted or is replaced, the Service has no ready endpoint",
                replicas(count)
            );
            em.emit(
                &w.meta,
                FindingDraft::at(count_line, message)
                    .arithmetic(vec![format!("{} ({source}) < 2", replicas(count))])
                    .fix("Run at least 2 replicas."),
            );
        }
        match &w.strategy {
            Some(Strategy::Recreate { line }) => {
                let message = format!(
                    "strategy Recreate stops every old pod before a new one starts: {served_by} has no endpoint during each rollout"
                );
                em.emit(
                    &w.meta,
                    FindingDraft::at(*line, message).fix("Use the RollingUpdate strategy."),
                );
            }
            Some(Strategy::RollingUpdate {
                max_unavailable,
                max_surge,
                line,
            }) if count >= 2 => {
                let unavailable = max_unavailable.scaled(count, false);
                if unavailable >= count {
                    let message = format!(
                        "maxUnavailable resolves to {unavailable} of {}: a rollout may take every pod behind {served_by} down at once",
                        replicas(count)
                    );
                    let arithmetic = vec![
                        format!(
                            "maxUnavailable {} ≥ {} ({source})",
                            max_unavailable.explain(count, false),
                            replicas(count)
                        ),
                        format!("maxSurge {}", max_surge.explain(count, true)),
                    ];
                    let fix = format!("Set maxUnavailable below {count}, for example 1 or 25%.");
                    em.emit(
                        &w.meta,
                        FindingDraft::at(*line, message)
                            .arithmetic(arithmetic)
                            .fix(fix),
                    );
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::test_support::findings;

    fn setup(spec: &str) -> String {
        format!(
            "kind: Service\nmetadata: {{name: s}}\nspec: {{selector: {{app: a}}}}\n---\nkind: Deployment\nmetadata: {{name: d}}\nspec:\n{spec}  template:\n    metadata: {{labels: {{app: a}}}}\n    spec: {{containers: [{{name: c}}]}}\n"
        )
    }

    #[test]
    fn single_replica_recreate_and_full_unavailability() {
        assert_eq!(findings("rollout-capacity-gap", &setup("")).len(), 1);
        assert_eq!(
            findings(
                "rollout-capacity-gap",
                &setup("  replicas: 3\n  strategy: {type: Recreate}\n")
            )
            .len(),
            1
        );
        let f = findings(
            "rollout-capacity-gap",
            &setup("  replicas: 4\n  strategy: {rollingUpdate: {maxUnavailable: 100%}}\n"),
        );
        assert_eq!(f.len(), 1);
        assert_eq!(
            f[0].arithmetic[0],
            "maxUnavailable 100% of 4 = 4 ≥ 4 replicas (spec.replicas)"
        );
        assert_eq!(f[0].arithmetic[1], "maxSurge 25% of 4 = 1");
    }

    #[test]
    fn percentages_round_down() {
        // 99% of 3 = 2.97, rounded down to 2 < 3.
        let text = setup("  replicas: 3\n  strategy: {rollingUpdate: {maxUnavailable: 99%}}\n");
        assert!(findings("rollout-capacity-gap", &text).is_empty());
        assert!(findings("rollout-capacity-gap", &setup("  replicas: 2\n")).is_empty());
    }
}
