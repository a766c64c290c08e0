//! Label selectors: `matchLabels` and `matchExpressions`, matched against a pod template's labels.

use std::collections::BTreeMap;
use std::fmt;

/// A `metav1.LabelSelector`: every `matchLabels` pair and every expression must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    /// `matchLabels`.
    pub match_labels: BTreeMap<String, String>,
    /// `matchExpressions`.
    pub match_expressions: Vec<Requirement>,
}

/// One `matchExpressions` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// The label key.
    pub key: String,
    /// The operator.
    pub operator: Operator,
    /// The values (empty for `Exists` and `DoesNotExist`).
    pub values: Vec<String>,
}

/// A `matchExpressions` operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// The label is set to one of the values.
    In,
    /// The label is unset or set to none of the values.
    NotIn,
    /// The label is set.
    Exists,
    /// The label is unset.
    DoesNotExist,
}

impl Operator {
    /// The operator as written in a manifest.
    pub fn from_name(name: &str) -> Option<Operator> {
        Some(match name {
            "In" => Operator::In,
            "NotIn" => Operator::NotIn,
            "Exists" => Operator::Exists,
            "DoesNotExist" => Operator::DoesNotExist,
            _ => return None,
        })
    }
}

impl LabelSelector {
    /// A selector with no requirement at all, which matches every pod.
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }

    /// Whether `labels` satisfy the selector.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use changeover_k8s::model::{LabelSelector, Operator, Requirement};
    ///
    /// let labels = BTreeMap::from([("app".to_string(), "web".to_string())]);
    /// let mut selector = LabelSelector::default();
    /// selector.match_labels.insert("app".into(), "web".into());
    /// selector.match_expressions.push(Requirement {
    ///     key: "tier".into(),
    ///     operator: Operator::DoesNotExist,
    ///     values: vec![],
    /// });
    /// assert!(selector.matches(&labels));
    /// ```
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| r.matches(labels))
    }
}

impl Requirement {
    /// Whether `labels` satisfy this requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            Operator::In => value.is_some_and(|v| self.values.contains(v)),
            Operator::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
        }
    }
}

impl fmt::Display for LabelSelector {
    /// The selector in `kubectl get -l` syntax, e.g. `app=web,tier notin (db)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = self
            .match_labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        for r in &self.match_expressions {
            parts.push(match r.operator {
                Operator::In => format!("{} in ({})", r.key, r.values.join(",")),
                Operator::NotIn => format!("{} notin ({})", r.key, r.values.join(",")),
                Operator::Exists => r.key.clone(),
                Operator::DoesNotExist => format!("!{}", r.key),
            });
        }
        if parts.is_empty() {
            f.write_str("{} (everything)")
        } else {
            f.write_str(&parts.join(","))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn req(key: &str, operator: Operator, values: &[&str]) -> Requirement {
        Requirement {
            key: key.into(),
            operator,
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    #[test]
    fn expressions() {
        let l = labels(&[("app", "web"), ("tier", "front")]);
        let cases = [
            (req("tier", Operator::In, &["front", "back"]), true),
            (req("tier", Operator::In, &["back"]), false),
            (req("missing", Operator::In, &["x"]), false),
            (req("tier", Operator::NotIn, &["back"]), true),
            (req("tier", Operator::NotIn, &["front"]), false),
            (req("missing", Operator::NotIn, &["x"]), true),
            (req("app", Operator::Exists, &[]), true),
            (req("missing", Operator::Exists, &[]), false),
            (req("missing", Operator::DoesNotExist, &[]), true),
            (req("app", Operator::DoesNotExist, &[]), false),
        ];
        for (r, want) in cases {
            assert_eq!(r.matches(&l), want, "{r:?}");
        }
    }

    #[test]
    fn empty_selector_matches_everything() {
        let l = labels(&[("app", "web")]);
        assert!(LabelSelector::default().matches(&l));
    }
}
