//! From parsed YAML documents to [`Object`]s, with a precise complaint for each field of the wrong
//! type. Objects of kinds changeover does not read are counted and skipped.
//!
//! `document` finds the objects of a document and their names; `fields` reads typed fields and
//! names the one of the wrong type; each kind has its file (`workload`, `pod` for the pod template
//! they share, `service`, `budget`, `autoscaler`); `foreign` stands in for pods whose spec the
//! input does not show.

mod autoscaler;
mod budget;
mod document;
mod fields;
mod foreign;
mod pod;
mod service;
mod workload;

use std::sync::Arc;

pub use document::{IGNORE_ANNOTATION, each_object, name_and_namespace};

use crate::model::Object;
use crate::model::meta::{Kind, Meta};
use crate::model::workload::ForeignPods;
use crate::yaml::Node;
use fields::{Fields, Result};
use foreign::{operator_pods, pod_labels_of_unreadable};

/// What one document held.
#[derive(Debug, Default)]
pub struct Extracted {
    /// Objects of the kinds changeover reads.
    pub objects: Vec<Object>,
    /// Objects that could not be read because a field has the wrong type.
    pub invalid: Vec<InvalidField>,
    /// Objects of other kinds (ConfigMap, Ingress, custom resources, …).
    pub skipped: usize,
    /// Pods that Services and budgets may select but whose spec is not read: those of a custom
    /// resource an operator turns into pods, and those of a workload that failed to load.
    pub foreign: Vec<ForeignPods>,
}

/// A field of an object that Kubernetes would reject, so the object cannot be linted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidField {
    /// `Kind/namespace/name` of the object.
    pub object: String,
    /// The line of the field.
    pub line: usize,
    /// The field's path, e.g. `spec.replicas`.
    pub field: String,
    /// What it should be and what it is.
    pub problem: String,
    /// Whether the value still holds template syntax (`{{ … }}`).
    pub template: bool,
}

/// Reads the objects of one YAML document: a single object, or a `kind: List` (or `…List`) of
/// them, nested lists included. Objects without `metadata.namespace` get `namespace`.
pub fn objects_from_document(doc: &Node, file: &Arc<str>, namespace: &str) -> Extracted {
    let mut out = Extracted::default();
    each_object(doc, |kind, node| {
        let Some(kind) = Kind::from_name(kind) else {
            out.skipped += 1;
            out.foreign.extend(operator_pods(node, kind, namespace));
            return;
        };
        let meta = document::meta(node, kind, file, namespace);
        match object(&Fields::new(&meta), meta.clone(), node) {
            Ok(object) => out.objects.push(object),
            Err(e) => {
                // Its Services and budgets still select its pods: say so once (the input
                // error), not again as "matches nothing".
                if let Some(labels) = pod_labels_of_unreadable(node, kind) {
                    out.foreign.push(ForeignPods {
                        reference: meta.reference(),
                        namespace: meta.namespace.clone(),
                        labels,
                        replicas: None,
                        origin: format!("not linted: {}", e.problem),
                    });
                }
                out.invalid.push(e);
            }
        }
    });
    out
}

/// The object `node`, read by the file of its kind.
fn object(f: &Fields<'_>, meta: Meta, node: &Node) -> Result<Object> {
    let spec = f.map(node, "", "spec")?;
    Ok(match meta.kind {
        Kind::Deployment
        | Kind::StatefulSet
        | Kind::ReplicaSet
        | Kind::DaemonSet
        | Kind::ReplicationController
        | Kind::Job
        | Kind::CronJob => Object::Workload(workload::controller(f, meta, node, spec)?),
        Kind::Pod => Object::Workload(workload::pod(f, meta, node, spec)?),
        Kind::Service => Object::Service(service::service(f, meta, node, spec)?),
        Kind::PodDisruptionBudget => Object::Budget(budget::budget(f, meta, spec)?),
        Kind::HorizontalPodAutoscaler => Object::Autoscaler(autoscaler::autoscaler(f, meta, spec)?),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::{IntOrPercent, Object, Strategy};
    use crate::yaml::parse_documents;

    fn extract(text: &str) -> Extracted {
        let docs = parse_documents(text).unwrap();
        let file: Arc<str> = Arc::from("t.yaml");
        let mut all = Extracted::default();
        for d in &docs {
            let e = objects_from_document(d, &file, "default");
            all.objects.extend(e.objects);
            all.invalid.extend(e.invalid);
            all.skipped += e.skipped;
        }
        all
    }

    #[test]
    fn deployment_defaults() {
        let e = extract(
            "kind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: app\n        image: x\n",
        );
        let Object::Workload(w) = &e.objects[0] else {
            panic!()
        };
        assert_eq!(w.meta.reference(), "Deployment/default/web");
        assert_eq!(w.replicas.unwrap().value, 1);
        assert!(!w.replicas_set);
        assert_eq!(w.template.grace_seconds(), 30);
        assert_eq!(w.template.containers[0].line, 9);
        assert_eq!(
            w.strategy,
            Some(Strategy::RollingUpdate {
                max_unavailable: IntOrPercent::Percent(25),
                max_surge: IntOrPercent::Percent(25),
                line: 4
            })
        );
    }

    #[test]
    fn lists_unknown_kinds_and_non_objects() {
        let e = extract(
            "kind: List\nitems:\n- kind: Service\n  metadata: {name: a}\n- kind: ConfigMap\n  metadata: {name: b}\n---\n- just a list\n---\nname: not-k8s\n",
        );
        assert_eq!(e.objects.len(), 1);
        assert_eq!(e.skipped, 1);
        assert_eq!(e.objects[0].meta().line, 3);
    }

    #[test]
    fn wrong_types_name_the_field() {
        let e = extract("kind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: three\n");
        assert_eq!(e.invalid.len(), 1);
        assert_eq!(e.invalid[0].field, "spec.replicas");
        assert_eq!(e.invalid[0].line, 4);
        let e = extract(
            "kind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: \"{{ .Values.n }}\"\n",
        );
        assert!(e.invalid[0].template);
    }

    #[test]
    fn int_or_percent_values() {
        let e = extract(
            "kind: PodDisruptionBudget\nmetadata: {name: b}\nspec:\n  minAvailable: 50%\n  maxUnavailable: 1\n",
        );
        let Object::Budget(b) = &e.objects[0] else {
            panic!()
        };
        assert_eq!(b.min_available.unwrap().value, IntOrPercent::Percent(50));
        assert_eq!(b.max_unavailable.unwrap().value, IntOrPercent::Int(1));
        let e = extract(
            "kind: PodDisruptionBudget\nmetadata: {name: b}\nspec:\n  minAvailable: \"1\"\n",
        );
        assert_eq!(e.invalid.len(), 1);
    }

    #[test]
    fn ignore_annotation_is_split() {
        let e = extract(
            "kind: Service\nmetadata:\n  name: s\n  annotations:\n    changeover.lint/ignore: \"a, b\"\n",
        );
        assert_eq!(e.objects[0].meta().ignored_rules, vec!["a", "b"]);
    }
}
