//! A PodDisruptionBudget: its label selector and its `minAvailable`, `maxUnavailable` and
//! `unhealthyPodEvictionPolicy`.

use super::fields::{Fields, Result, join};
use crate::model::Located;
use crate::model::budget::Budget;
use crate::model::meta::Meta;
use crate::model::selector::{LabelSelector, Operator, Requirement};
use crate::yaml::Node;

/// The budget whose `spec` is `spec`.
pub(super) fn budget(f: &Fields<'_>, meta: Meta, spec: Option<&Node>) -> Result<Budget> {
    let selector = match spec.and_then(|s| s.entry("selector")) {
        Some(e) if !e.value.is_null() => Some(Located {
            value: label_selector(f, &e.value, "spec.selector")?,
            line: e.line,
        }),
        _ => None,
    };
    let min_available = spec
        .map(|s| f.int_or_percent(s, "spec", "minAvailable"))
        .transpose()?
        .flatten();
    let max_unavailable = spec
        .map(|s| f.int_or_percent(s, "spec", "maxUnavailable"))
        .transpose()?
        .flatten();
    let unhealthy_pod_eviction_policy = spec
        .map(|s| f.string(s, "spec", "unhealthyPodEvictionPolicy"))
        .transpose()?
        .flatten();
    Ok(Budget {
        meta,
        selector,
        min_available,
        max_unavailable,
        unhealthy_pod_eviction_policy,
    })
}

/// A `metav1.LabelSelector` at `path`.
fn label_selector(f: &Fields<'_>, node: &Node, path: &str) -> Result<LabelSelector> {
    if node.as_map().is_none() {
        return Err(f.invalid(node, path, "a mapping"));
    }
    let mut selector = LabelSelector::default();
    if let Some(labels) = node.get("matchLabels") {
        selector.match_labels = f.string_map(labels, &join(path, "matchLabels"))?;
    }
    let exprs_path = join(path, "matchExpressions");
    for (i, e) in f
        .seq(node, path, "matchExpressions")?
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let at = format!("{exprs_path}[{i}]");
        let key = f
            .string(e, &at, "key")?
            .map(|a| a.value)
            .unwrap_or_default();
        let op_node = e.get("operator");
        let operator = op_node
            .and_then(Node::as_str)
            .and_then(Operator::from_name)
            .ok_or_else(|| {
                f.invalid(
                    op_node.unwrap_or(e),
                    &join(&at, "operator"),
                    "In, NotIn, Exists or DoesNotExist",
                )
            })?;
        let values = f.string_list(e, &at, "values")?;
        selector.match_expressions.push(Requirement {
            key,
            operator,
            values,
        });
    }
    Ok(selector)
}
