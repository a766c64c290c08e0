//! The tree a YAML document becomes: [`Node`]s that remember their line, shared by reference so
//! that an alias costs no copy, and read as kubectl reads them.

use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;

use super::int::yaml_int;

/// One value of a YAML document and the line (1-based) where it starts.
///
/// Cloning is cheap: the value is shared, which is also how aliases are represented.
#[derive(Clone)]
pub struct Node(Rc<Inner>);

struct Inner {
    line: usize,
    value: Value,
}

/// What a [`Node`] holds.
#[derive(Debug)]
pub enum Value {
    /// `null`, `~`, or nothing at all.
    Null,
    /// Any other scalar; its type is decided by whoever reads it (see [`Node::as_i64`]).
    Scalar(Scalar),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in document order, keys already made unique (the last occurrence wins).
    Map(Vec<Entry>),
}

/// A scalar's text and whether it was written plain (unquoted), which decides whether `5` is a
/// number or `"5"` a string.
#[derive(Debug)]
pub struct Scalar {
    /// The scalar's text after unescaping.
    pub text: String,
    /// `true` for a plain scalar (or one tagged `!!int`, `!!bool`, …), `false` when quoted, block
    /// literal, or tagged `!!str`.
    pub plain: bool,
}

/// One key of a mapping.
#[derive(Debug)]
pub struct Entry {
    /// The key's text.
    pub key: String,
    /// The line of the key.
    pub line: usize,
    /// The value.
    pub value: Node,
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "@{} {:?}", self.0.line, self.0.value)
    }
}

// The constructor and the accessors are tiny and run for every node built and every field read,
// from the builder and from the model's extraction alike: `#[inline]` keeps them inlined there
// whichever codegen unit each module lands in.
impl Node {
    #[inline]
    pub(super) fn new(line: usize, value: Value) -> Node {
        Node(Rc::new(Inner { line, value }))
    }

    /// The line (1-based) where this value starts.
    #[inline]
    pub fn line(&self) -> usize {
        self.0.line
    }

    /// The value.
    #[inline]
    pub fn value(&self) -> &Value {
        &self.0.value
    }

    /// The value of `key` when this is a mapping that has it.
    #[inline]
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|e| &e.value)
    }

    /// The entry of `key` (with the key's line) when this is a mapping that has it.
    #[inline]
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        match self.value() {
            Value::Map(entries) => entries.iter().find(|e| e.key == key),
            _ => None,
        }
    }

    /// Follows a path of mapping keys.
    pub fn path(&self, keys: &[&str]) -> Option<&Node> {
        let mut node = self;
        for key in keys {
            node = node.get(key)?;
        }
        Some(node)
    }

    /// The entries when this is a mapping.
    #[inline]
    pub fn as_map(&self) -> Option<&[Entry]> {
        match self.value() {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The items when this is a sequence.
    #[inline]
    pub fn as_seq(&self) -> Option<&[Node]> {
        match self.value() {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// The text of a scalar of any style (numbers included), `None` for null and collections.
    #[inline]
    pub fn as_str(&self) -> Option<&str> {
        match self.value() {
            Value::Scalar(s) => Some(&s.text),
            _ => None,
        }
    }

    /// `true` for null.
    #[inline]
    pub fn is_null(&self) -> bool {
        matches!(self.value(), Value::Null)
    }

    /// A plain scalar that kubectl reads as an integer: decimal (`30`, `+5`, `-1`, `1_000`),
    /// YAML 1.1 hexadecimal, octal and binary (`0x1E`, `036`, `0o36`, `0b11110`), and a float
    /// that is a whole number (`30.0`, `3e1`), which Kubernetes' YAML-to-JSON step writes as an
    /// integer.
    pub fn as_i64(&self) -> Option<i64> {
        match self.value() {
            Value::Scalar(Scalar { text, plain: true }) => yaml_int(text),
            _ => None,
        }
    }

    /// A plain boolean scalar: `true`/`false` in any case, and YAML 1.1's `yes`/`no`/`on`/`off`,
    /// which the YAML library Kubernetes tools use still accepts.
    pub fn as_bool(&self) -> Option<bool> {
        match self.value() {
            Value::Scalar(Scalar { text, plain: true }) => {
                match text.to_ascii_lowercase().as_str() {
                    "true" | "yes" | "on" | "y" => Some(true),
                    "false" | "no" | "off" | "n" => Some(false),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// Words for the type of this value, for error messages ("a mapping", "a list", …).
    pub fn describe(&self) -> &'static str {
        match self.value() {
            Value::Null => "null",
            Value::Scalar(Scalar { plain: false, .. }) => "a string",
            Value::Scalar(_) if self.as_i64().is_some() => "a number",
            Value::Scalar(_) if self.as_bool().is_some() => "a boolean",
            Value::Scalar(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// Structural equality that ignores lines and scalar styles of keys, as Kubernetes sees it
    /// after decoding. Recursion is bounded by [`MAX_DEPTH`](super::MAX_DEPTH), which the loader enforces.
    pub fn same_as(&self, other: &Node) -> bool {
        if Rc::ptr_eq(&self.0, &other.0) {
            return true;
        }
        match (self.value(), other.value()) {
            (Value::Null, Value::Null) => true,
            (Value::Scalar(a), Value::Scalar(b)) => a.text == b.text && a.plain == b.plain,
            (Value::Seq(a), Value::Seq(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_as(y))
            }
            (Value::Map(a), Value::Map(b)) => {
                if a.len() != b.len() {
                    return false;
                }
                let b: HashMap<&str, &Node> =
                    b.iter().map(|e| (e.key.as_str(), &e.value)).collect();
                a.iter().all(|ea| {
                    b.get(ea.key.as_str())
                        .is_some_and(|vb| ea.value.same_as(vb))
                })
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::yaml::parse_documents;

    #[test]
    fn lines_are_one_based_and_point_at_keys() {
        let docs = parse_documents("a: 1\nb:\n  c: [1, 2]\n").unwrap();
        let root = &docs[0];
        assert_eq!(root.entry("b").unwrap().line, 2);
        assert_eq!(root.path(&["b", "c"]).unwrap().line(), 3);
    }

    #[test]
    fn scalars_keep_their_style() {
        let docs = parse_documents("a: 5\nb: \"5\"\nc: !!str 5\nd: ~\ne:\nf: yes\n").unwrap();
        let d = &docs[0];
        assert_eq!(d.get("a").unwrap().as_i64(), Some(5));
        assert_eq!(d.get("b").unwrap().as_i64(), None);
        assert_eq!(d.get("b").unwrap().as_str(), Some("5"));
        assert_eq!(d.get("c").unwrap().as_i64(), None);
        assert!(d.get("d").unwrap().is_null());
        assert!(d.get("e").unwrap().is_null());
        assert_eq!(d.get("f").unwrap().as_bool(), Some(true));
    }

    #[test]
    fn json_is_read_with_lines() {
        let docs =
            parse_documents("{\n\t\"kind\": \"Pod\",\n\t\"spec\": {\"x\": [1]}\n}\n").unwrap();
        assert_eq!(docs[0].get("kind").unwrap().as_str(), Some("Pod"));
        assert_eq!(docs[0].entry("spec").unwrap().line, 3);
    }

    #[test]
    fn same_as_ignores_lines() {
        let docs =
            parse_documents("a: {x: [1, 2]}\nb:\n  x:\n  - 1\n  - 2\nc: {x: [1, '2']}\n").unwrap();
        let d = &docs[0];
        assert!(d.get("a").unwrap().same_as(d.get("b").unwrap()));
        assert!(!d.get("a").unwrap().same_as(d.get("c").unwrap()));
    }
}
