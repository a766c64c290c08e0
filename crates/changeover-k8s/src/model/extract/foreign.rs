//! Pods the lint cannot see the spec of, though Services and budgets may select them: those an
//! operator creates from a custom resource, and those of a workload that could not be read.

use std::collections::BTreeMap;

use crate::model::meta::Kind;
use crate::model::workload::ForeignPods;
use crate::yaml::Node;

/// Labels of a string map, skipping values that are not strings.
fn lenient_labels(node: Option<&Node>) -> BTreeMap<String, String> {
    node.and_then(Node::as_map)
        .unwrap_or_default()
        .iter()
        .filter_map(|e| Some((e.key.clone(), e.value.as_str()?.to_string())))
        .collect()
}

/// The pod template labels of a workload whose spec has a bad field, as far as they can be read.
pub(super) fn pod_labels_of_unreadable(
    node: &Node,
    kind: Kind,
) -> Option<BTreeMap<String, String>> {
    let path: &[&str] = match kind {
        Kind::Pod => &["metadata", "labels"],
        Kind::CronJob => &[
            "spec",
            "jobTemplate",
            "spec",
            "template",
            "metadata",
            "labels",
        ],
        Kind::Service | Kind::PodDisruptionBudget | Kind::HorizontalPodAutoscaler => return None,
        _ => &["spec", "template", "metadata", "labels"],
    };
    let labels = lenient_labels(node.path(path));
    (!labels.is_empty()).then_some(labels)
}

/// Operators whose pods carry labels derived from the custom resource's name, beside those of
/// `spec.podMetadata`: (API group, kind, the label that carries the name, app.kubernetes.io/name).
const KNOWN_OPERATORS: &[(&str, &str, &str, &str)] = &[
    (
        "monitoring.coreos.com",
        "Prometheus",
        "prometheus",
        "prometheus",
    ),
    (
        "monitoring.coreos.com",
        "Alertmanager",
        "alertmanager",
        "alertmanager",
    ),
    (
        "monitoring.coreos.com",
        "ThanosRuler",
        "thanos-ruler",
        "thanos-ruler",
    ),
    (
        "monitoring.coreos.com",
        "PrometheusAgent",
        "prometheus",
        "prometheus-agent",
    ),
];

/// The pods a custom resource stands for, when it looks like one an operator turns into pods: it
/// has `spec.replicas`, a pod `spec.template` or `spec.podMetadata`, or is a known operator's.
pub(super) fn operator_pods(node: &Node, kind: &str, namespace: &str) -> Option<ForeignPods> {
    let api_version = node.get("apiVersion").and_then(Node::as_str)?;
    let group = api_version.split_once('/').map(|(g, _)| g)?;
    if !group.contains('.') || group.ends_with(".k8s.io") {
        return None; // a built-in API (rbac, networking, …): no pods
    }
    let spec = node.get("spec").filter(|s| s.as_map().is_some())?;
    let known = KNOWN_OPERATORS
        .iter()
        .find(|(g, k, ..)| *g == group && *k == kind);
    let replicas = spec.get("replicas").and_then(Node::as_i64);
    let has_template = spec.path(&["template", "spec"]).is_some();
    let pod_metadata = spec.get("podMetadata");
    if known.is_none() && replicas.is_none() && !has_template && pod_metadata.is_none() {
        return None;
    }
    let metadata = node.get("metadata");
    let name = metadata
        .and_then(|m| m.get("name"))
        .and_then(Node::as_str)
        .unwrap_or("<unnamed>");
    let namespace = metadata
        .and_then(|m| m.get("namespace"))
        .and_then(Node::as_str)
        .filter(|n| !n.is_empty())
        .unwrap_or(namespace);
    let mut labels = lenient_labels(metadata.and_then(|m| m.get("labels")));
    labels.extend(lenient_labels(
        spec.path(&["template", "metadata", "labels"]),
    ));
    labels.extend(lenient_labels(pod_metadata.and_then(|p| p.get("labels"))));
    if let Some((_, _, name_label, app)) = known {
        labels.insert((*name_label).to_string(), name.to_string());
        labels.insert("app.kubernetes.io/name".into(), (*app).to_string());
        labels.insert("app.kubernetes.io/instance".into(), name.to_string());
        labels.insert(
            "app.kubernetes.io/managed-by".into(),
            "prometheus-operator".into(),
        );
    }
    let reference = format!("{kind}/{namespace}/{name}");
    Some(ForeignPods {
        origin: format!("created by an operator from {reference}"),
        reference,
        namespace: namespace.to_string(),
        labels,
        replicas,
    })
}
