//! `pdb-blocks-eviction`: a budget that allows no eviction blocks every node drain.

use super::{Emitter, FindingDraft, Rule, replicas};
use crate::context::Context;
use crate::finding::Severity;
use crate::model::{Budget, ForeignPods, IntOrPercent, Kind};

pub(crate) const RULE: Rule = Rule {
    id: "pdb-blocks-eviction",
    severity: Severity::Error,
    summary: "A PodDisruptionBudget allows zero disruptions at the workload's replica count (or at its autoscaler's minimum or maximum).",
    rationale: "The Eviction API, which `kubectl drain`, the cluster autoscaler and node \
        upgrades use, refuses to evict a pod while its budget's disruptionsAllowed is 0. The \
        disruption controller computes it as the healthy pods minus the pods that must stay: \
        `maxUnavailable: 0`, `0%`, or a `minAvailable` that, after rounding a percentage up, \
        reaches the replica count leaves nothing to evict. The drain then hangs until someone \
        intervenes, and upgrades stall. Checked at spec.replicas and, when a \
        HorizontalPodAutoscaler targets the workload, at its minReplicas and maxReplicas.",
    fix: "Prefer `maxUnavailable: 1` (one pod may always be evicted, at any scale), or keep \
        minAvailable below the smallest replica count the workload runs at.",
    check,
};

fn field_line(b: &Budget) -> usize {
    b.max_unavailable
        .map(|m| m.line)
        .or(b.min_available.map(|m| m.line))
        .unwrap_or(b.meta.line)
}

/// The finding of a budget that refuses every eviction of `subject`'s pods at `scale` (`any
/// scale`, `2 replicas`), at the budget's field.
fn blocks(b: &Budget, subject: &str, scale: &str) -> FindingDraft {
    FindingDraft::at(
        field_line(b),
        format!(
            "allows 0 disruptions for {subject} at {scale} (disruptionsAllowed = 0): every eviction is refused and node drains hang"
        ),
    )
}

/// The finding of a budget that blocks at any scale (see [`blocks_at_any_scale`]): `how` it does.
fn blocks_at_any_scale_finding(b: &Budget, subject: &str, how: String) -> FindingDraft {
    blocks(b, subject, "any scale")
        .arithmetic(vec![how])
        .fix("Set maxUnavailable to 1 or more (or minAvailable below 100%).")
}

/// How a budget refuses every eviction whatever the pod count: `maxUnavailable: 0` (or `0%`), or
/// `minAvailable: 100%`.
fn blocks_at_any_scale(b: &Budget) -> Option<String> {
    if let Some(max) = b.max_unavailable {
        return matches!(max.value, IntOrPercent::Int(0) | IntOrPercent::Percent(0)).then(|| {
            format!(
                "maxUnavailable {} ⇒ disruptionsAllowed = 0 at any scale",
                max.value
            )
        });
    }
    let min = b.min_available?;
    matches!(min.value, IntOrPercent::Percent(p) if p >= 100).then(|| {
        format!(
            "minAvailable {} ⇒ disruptionsAllowed = 0 at any scale",
            min.value
        )
    })
}

fn check(cx: &Context<'_>, em: &mut Emitter<'_>) {
    for (bi, b) in cx.budgets.iter().enumerate() {
        if b.min_available.is_none() && b.max_unavailable.is_none() {
            continue;
        }
        let selected = cx.workloads_of_budget(bi);
        // Drains skip DaemonSet pods (`kubectl drain --ignore-daemonsets`): a budget over them
        // holds up nothing.
        let targets: Vec<usize> = selected
            .iter()
            .copied()
            .filter(|&wi| cx.workloads[wi].meta.kind != Kind::DaemonSet)
            .collect();
        let foreign: Vec<&ForeignPods> = cx.foreign_of_budget(bi).collect();
        let selects_something = b
            .selector
            .as_ref()
            .is_some_and(|s| !(s.value.is_empty() && b.is_v1beta1()));
        if targets.is_empty() && (!foreign.is_empty() || (selected.is_empty() && selects_something))
        {
            // Pods the input does not show (an operator's, or workloads applied elsewhere): only
            // a budget that blocks at every scale is certain, or a count the resource states.
            let at_any_scale = blocks_at_any_scale(b);
            let known = match foreign.as_slice() {
                [f] => f
                    .replicas
                    .filter(|n| *n > 0)
                    .map(|n| (n, f.reference.clone())),
                _ => None,
            };
            let subject = match foreign.as_slice() {
                [] => "the pods it selects (no workload of the input)".to_string(),
                [f] => format!("the pods of {} ({})", f.reference, f.origin),
                many => format!("the pods of {} objects", many.len()),
            };
            if let Some(how) = at_any_scale {
                em.emit(&b.meta, blocks_at_any_scale_finding(b, &subject, how));
            } else if let Some((n, source)) = known {
                let (allowed, how) = b.disruptions_allowed(n);
                if allowed == 0 {
                    let at = format!("at {} (spec.replicas of {source}): {how}", replicas(n));
                    em.emit(
                        &b.meta,
                        blocks(b, &subject, &replicas(n)).arithmetic(vec![at]).fix(
                            "Use maxUnavailable: 1 instead, or keep minAvailable below the replica count after rounding up.",
                        ),
                    );
                }
            }
            continue;
        }
        if targets.is_empty() {
            continue;
        }
        // (replica count, where it comes from)
        let mut scenarios: Vec<(i64, String)> = Vec::new();
        let mut unknown_count = false;
        if let [wi] = targets[..] {
            let w = cx.workloads[wi];
            match cx.autoscaler_of(wi) {
                Some(a) => {
                    scenarios.push((
                        a.min_replicas,
                        format!("minReplicas of {}", a.meta.reference()),
                    ));
                    if let Some(max) = a.max_replicas {
                        scenarios.push((max, format!("maxReplicas of {}", a.meta.reference())));
                    }
                    if let (Some(r), true) = (w.replicas, w.replicas_set) {
                        scenarios.push((r.value, "spec.replicas".to_string()));
                    }
                }
                None => match cx.base_replicas(wi) {
                    Some(base) => scenarios.push(base),
                    None => unknown_count = true,
                },
            }
        } else {
            let mut total = 0;
            let mut parts = Vec::new();
            for &wi in &targets {
                match cx.base_replicas(wi) {
                    Some((n, _)) => {
                        total += n;
                        parts.push(format!("{} {n}", cx.workloads[wi].meta.reference()));
                    }
                    None => unknown_count = true,
                }
            }
            scenarios.push((total, format!("in total: {}", parts.join(" + "))));
        }
        let subject = if let [wi] = targets[..] {
            cx.workloads[wi].meta.reference()
        } else {
            format!("{} workloads", targets.len())
        };

        let zero_max = b
            .max_unavailable
            .is_some_and(|m| matches!(m.value, IntOrPercent::Int(0) | IntOrPercent::Percent(0)));
        if unknown_count {
            // A Job's pod count is not the manifest's to say: only a budget that blocks at every
            // scale is certain.
            if let Some(how) = blocks_at_any_scale(b) {
                em.emit(&b.meta, blocks_at_any_scale_finding(b, &subject, how));
            }
            continue;
        }
        scenarios.sort_by_key(|(n, _)| *n);
        scenarios.dedup_by_key(|(n, _)| *n);
        scenarios.retain(|(n, _)| *n > 0);
        let evaluated: Vec<(i64, String, i64, String)> = scenarios
            .into_iter()
            .map(|(n, source)| {
                let (allowed, how) = b.disruptions_allowed(n);
                (n, source, allowed, how)
            })
            .collect();
        let blocked: Vec<i64> = evaluated
            .iter()
            .filter(|(_, _, allowed, _)| *allowed == 0)
            .map(|(n, ..)| *n)
            .collect();
        let Some(&smallest) = blocked.first() else {
            continue;
        };
        let at: Vec<String> = blocked.iter().map(|n| replicas(*n)).collect();
        let fix = if zero_max {
            "Set maxUnavailable to 1 or more.".to_string()
        } else if smallest == 1 {
            "Use maxUnavailable: 1 instead: at 1 replica any minAvailable above 0 refuses every eviction.".to_string()
        } else {
            format!(
                "Use maxUnavailable: 1 instead, or keep minAvailable below {smallest} after rounding up."
            )
        };
        let arithmetic = evaluated
            .iter()
            .map(|(n, source, _, how)| format!("at {} ({source}): {how}", replicas(*n)))
            .collect();
        em.emit(
            &b.meta,
            blocks(b, &subject, &at.join(" and "))
                .arithmetic(arithmetic)
                .fix(fix),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::test_support::findings;

    fn setup(replicas: &str, budget: &str, extra: &str) -> String {
        format!(
            "kind: Deployment\nmetadata: {{name: web}}\nspec:\n{replicas}  template:\n    metadata: {{labels: {{app: web}}}}\n    spec: {{containers: [{{name: app}}]}}\n---\nkind: PodDisruptionBudget\nmetadata: {{name: web}}\nspec:\n  selector: {{matchLabels: {{app: web}}}}\n  {budget}\n{extra}"
        )
    }

    #[test]
    fn rounding_up_percentages() {
        let f = findings(
            "pdb-blocks-eviction",
            &setup("  replicas: 1\n", "minAvailable: 50%", ""),
        );
        assert_eq!(f.len(), 1);
        assert_eq!(
            f[0].arithmetic,
            [
                "at 1 replica (spec.replicas): minAvailable 50% of 1 = 0.5, rounded up to 1 ⇒ disruptionsAllowed = 1 − 1 = 0"
            ]
        );
        assert!(
            findings(
                "pdb-blocks-eviction",
                &setup("  replicas: 3\n", "minAvailable: 50%", "")
            )
            .is_empty()
        );
        assert_eq!(
            findings(
                "pdb-blocks-eviction",
                &setup("  replicas: 3\n", "minAvailable: 3", "")
            )
            .len(),
            1
        );
        assert_eq!(
            findings(
                "pdb-blocks-eviction",
                &setup("  replicas: 3\n", "minAvailable: 90%", "")
            )
            .len(),
            1
        );
    }

    #[test]
    fn zero_max_unavailable() {
        for budget in ["maxUnavailable: 0", "maxUnavailable: 0%"] {
            let f = findings("pdb-blocks-eviction", &setup("  replicas: 5\n", budget, ""));
            assert_eq!(f.len(), 1, "{budget}");
            assert!(f[0].message.contains("disruptionsAllowed = 0"));
        }
        assert!(
            findings(
                "pdb-blocks-eviction",
                &setup("  replicas: 5\n", "maxUnavailable: 10%", "")
            )
            .is_empty()
        );
    }

    #[test]
    fn autoscaler_minimum_and_maximum() {
        let hpa = "---\nkind: HorizontalPodAutoscaler\nmetadata: {name: web}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n  minReplicas: 2\n  maxReplicas: 10\n";
        let f = findings("pdb-blocks-eviction", &setup("", "minAvailable: 2", hpa));
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("at 2 replicas"), "{}", f[0].message);
        assert_eq!(f[0].arithmetic.len(), 2);
        assert!(f[0].arithmetic[1].contains("maxReplicas"));
        assert!(findings("pdb-blocks-eviction", &setup("", "minAvailable: 1", hpa)).is_empty());
    }
}
