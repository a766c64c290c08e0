//! How a YAML document holds Kubernetes objects, and how each names itself. The simulator reads
//! its own fields from the same documents with the same two functions, so that both find the same
//! objects under the same names.

use std::sync::Arc;

use crate::model::meta::{Kind, Meta};
use crate::yaml::Node;

/// The annotation that exempts an object from rules: `changeover.lint/ignore: "rule-a,rule-b"`.
pub const IGNORE_ANNOTATION: &str = "changeover.lint/ignore";

/// Calls `f` with each Kubernetes object of one YAML document, and its `kind`: the document
/// itself, or the items of a `kind: List` (or any `…List` with `items`), nested lists included,
/// in document order. A node without a `kind` (a CI workflow, a Helm values file) is no object
/// and is passed over.
///
/// ```
/// use changeover_k8s::model::each_object;
/// use changeover_k8s::yaml::parse_documents;
///
/// let docs = parse_documents("kind: List\nitems:\n- {kind: Service}\n- {kind: Pod}\n").unwrap();
/// let mut kinds = Vec::new();
/// each_object(&docs[0], |kind, _| kinds.push(kind.to_string()));
/// assert_eq!(kinds, ["Service", "Pod"]);
/// ```
pub fn each_object(doc: &Node, mut f: impl FnMut(&str, &Node)) {
    let mut pending = vec![doc.clone()];
    while let Some(node) = pending.pop() {
        let Some(kind) = node.get("kind").and_then(Node::as_str) else {
            continue;
        };
        if kind.ends_with("List") {
            if let Some(items) = node.get("items").and_then(Node::as_seq) {
                // Reversed so that popping keeps document order.
                pending.extend(items.iter().rev().cloned());
                continue;
            }
        }
        f(kind, &node);
    }
}

/// How an object names itself: `metadata.name` (else `generateName`, else `<unnamed>`), and
/// `metadata.namespace` (else `default_namespace`).
pub fn name_and_namespace<'n>(node: &'n Node, default_namespace: &'n str) -> (&'n str, &'n str) {
    names(node.get("metadata"), default_namespace)
}

/// [`name_and_namespace`] from the object's `metadata`.
fn names<'n>(metadata: Option<&'n Node>, default_namespace: &'n str) -> (&'n str, &'n str) {
    let text = |key: &str| metadata.and_then(|m| m.get(key)).and_then(Node::as_str);
    let name = text("name")
        .or_else(|| text("generateName"))
        .unwrap_or("<unnamed>");
    let namespace = text("namespace")
        .filter(|n| !n.is_empty())
        .unwrap_or(default_namespace);
    (name, namespace)
}

/// The identity of the object `node`, of a kind changeover reads, from input `file`.
pub(super) fn meta(node: &Node, kind: Kind, file: &Arc<str>, default_namespace: &str) -> Meta {
    let metadata = node.get("metadata");
    let (name, namespace) = names(metadata, default_namespace);
    let ignored_rules = metadata
        .and_then(|m| m.path(&["annotations", IGNORE_ANNOTATION]))
        .and_then(Node::as_str)
        .map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    Meta {
        kind,
        api_version: node
            .get("apiVersion")
            .and_then(Node::as_str)
            .unwrap_or("")
            .to_string(),
        name: name.to_string(),
        namespace: namespace.to_string(),
        file: file.clone(),
        line: node.line(),
        ignored_rules,
    }
}
