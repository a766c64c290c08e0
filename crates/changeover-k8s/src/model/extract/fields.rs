//! Typed reading of one object's fields. Each getter returns `None` when the key is absent or null,
//! and an [`InvalidField`] that names the field (its path and line, what it must be and what it
//! is) when the value has the wrong type.

use std::collections::BTreeMap;

use super::InvalidField;
use crate::model::Located;
use crate::model::int_or_percent::IntOrPercent;
use crate::model::meta::Meta;
use crate::model::pod::PortRef;
use crate::yaml::{Node, Value};

/// What reading an object gives: the value, or the first field of the wrong type.
pub(super) type Result<T> = std::result::Result<T, InvalidField>;

/// `path.key`, or `key` at the top.
pub(super) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Reads the fields of one object, which every complaint names.
pub(super) struct Fields<'a> {
    meta: &'a Meta,
}

impl<'a> Fields<'a> {
    /// A reader for the object of `meta`.
    pub(super) fn new(meta: &'a Meta) -> Fields<'a> {
        Fields { meta }
    }

    /// The complaint that `node`, at `field`, is not `expected`.
    pub(super) fn invalid(&self, node: &Node, field: &str, expected: &str) -> InvalidField {
        let template = node.as_str().is_some_and(|t| t.contains("{{"));
        InvalidField {
            object: self.meta.reference(),
            line: node.line(),
            field: field.to_string(),
            problem: format!("`{field}` must be {expected}, not {}", node.describe()),
            template,
        }
    }

    /// `metadata.labels` of `node`.
    pub(super) fn labels(&self, node: &Node) -> Result<BTreeMap<String, String>> {
        match node.path(&["metadata", "labels"]) {
            Some(l) => self.string_map(l, "metadata.labels"),
            None => Ok(BTreeMap::new()),
        }
    }

    /// A mapping.
    pub(super) fn map<'n>(
        &self,
        node: &'n Node,
        path: &str,
        key: &str,
    ) -> Result<Option<&'n Node>> {
        match node.get(key) {
            None => Ok(None),
            Some(v) if v.is_null() => Ok(None),
            Some(v) if v.as_map().is_some() => Ok(Some(v)),
            Some(v) => Err(self.invalid(v, &join(path, key), "a mapping")),
        }
    }

    /// A list.
    pub(super) fn seq<'n>(
        &self,
        node: &'n Node,
        path: &str,
        key: &str,
    ) -> Result<Option<&'n [Node]>> {
        match node.get(key) {
            None => Ok(None),
            Some(v) if v.is_null() => Ok(None),
            Some(v) => v
                .as_seq()
                .map(Some)
                .ok_or_else(|| self.invalid(v, &join(path, key), "a list")),
        }
    }

    /// An integer, as kubectl reads one.
    pub(super) fn int(&self, node: &Node, path: &str, key: &str) -> Result<Option<Located<i64>>> {
        self.scalar(node, path, key, "an integer", Node::as_i64)
    }

    /// `true` or `false`.
    pub(super) fn bool(&self, node: &Node, path: &str, key: &str) -> Result<Option<Located<bool>>> {
        self.scalar(node, path, key, "true or false", Node::as_bool)
    }

    /// Any scalar, read as text (Kubernetes would reject a number where a string belongs, but
    /// nothing here depends on that difference).
    pub(super) fn string(
        &self,
        node: &Node,
        path: &str,
        key: &str,
    ) -> Result<Option<Located<String>>> {
        self.scalar(node, path, key, "a string", |v| {
            v.as_str().map(String::from)
        })
    }

    /// The value of `key` as `read` reads it, with the line of the key; `expected` says what it
    /// must be when `read` cannot read it.
    fn scalar<T>(
        &self,
        node: &Node,
        path: &str,
        key: &str,
        expected: &str,
        read: impl FnOnce(&Node) -> Option<T>,
    ) -> Result<Option<Located<T>>> {
        match node.entry(key) {
            None => Ok(None),
            Some(e) if e.value.is_null() => Ok(None),
            Some(e) => match read(&e.value) {
                Some(value) => Ok(Some(Located {
                    value,
                    line: e.line,
                })),
                None => Err(self.invalid(&e.value, &join(path, key), expected)),
            },
        }
    }

    /// A list of strings; empty when absent.
    pub(super) fn string_list(&self, node: &Node, path: &str, key: &str) -> Result<Vec<String>> {
        let Some(items) = self.seq(node, path, key)? else {
            return Ok(Vec::new());
        };
        let path = join(path, key);
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                item.as_str()
                    .map(String::from)
                    .ok_or_else(|| self.invalid(item, &format!("{path}[{i}]"), "a string"))
            })
            .collect()
    }

    /// A mapping of strings (labels, a Service's selector); a null value reads as empty.
    pub(super) fn string_map(&self, node: &Node, path: &str) -> Result<BTreeMap<String, String>> {
        match node.value() {
            Value::Null => Ok(BTreeMap::new()),
            Value::Map(entries) => entries
                .iter()
                .map(|e| {
                    let value = match e.value.value() {
                        Value::Null => String::new(),
                        _ => e
                            .value
                            .as_str()
                            .ok_or_else(|| self.invalid(&e.value, &join(path, &e.key), "a string"))?
                            .to_string(),
                    };
                    Ok((e.key.clone(), value))
                })
                .collect(),
            _ => Err(self.invalid(node, path, "a mapping of strings")),
        }
    }

    /// A non-negative integer or a percentage (`1`, `"25%"`).
    pub(super) fn int_or_percent(
        &self,
        node: &Node,
        path: &str,
        key: &str,
    ) -> Result<Option<Located<IntOrPercent>>> {
        let Some(e) = node.entry(key) else {
            return Ok(None);
        };
        if e.value.is_null() {
            return Ok(None);
        }
        let field = join(path, key);
        let expected = "a non-negative integer or a percentage such as \"25%\"";
        let value = if let Some(n) = e.value.as_i64() {
            IntOrPercent::Int(n)
        } else {
            let text = e
                .value
                .as_str()
                .ok_or_else(|| self.invalid(&e.value, &field, expected))?;
            let percent = text
                .trim()
                .strip_suffix('%')
                .and_then(|p| p.trim().parse::<i64>().ok())
                .ok_or_else(|| self.invalid(&e.value, &field, expected))?;
            IntOrPercent::Percent(percent)
        };
        if matches!(value, IntOrPercent::Int(n) | IntOrPercent::Percent(n) if n < 0) {
            return Err(self.invalid(&e.value, &field, expected));
        }
        Ok(Some(Located {
            value,
            line: e.line,
        }))
    }

    /// A port given by number or by name (`targetPort: 8080`, `targetPort: http`).
    pub(super) fn port_ref(&self, node: &Node, path: &str, key: &str) -> Result<Option<PortRef>> {
        match node.get(key) {
            None => Ok(None),
            Some(v) if v.is_null() => Ok(None),
            Some(v) => match (v.as_i64(), v.as_str()) {
                (Some(n), _) => Ok(Some(PortRef::Number(n))),
                (None, Some(text)) => Ok(Some(match text.parse::<i64>() {
                    Ok(n) => PortRef::Number(n),
                    Err(_) => PortRef::Name(text.to_string()),
                })),
                (None, None) => Err(self.invalid(v, &join(path, key), "a port number or name")),
            },
        }
    }
}
