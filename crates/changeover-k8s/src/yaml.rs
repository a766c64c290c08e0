//! YAML (and therefore JSON) text to a tree of [`Node`]s that remember their line.
//!
//! The tree is built from the event stream of `saphyr-parser` with an explicit stack, never by
//! recursion, so hostile input cannot exhaust the call stack. Two budgets bound the work:
//!
//! - nesting deeper than [`MAX_DEPTH`] is refused (a Kubernetes object nests a few dozen levels;
//!   a file with 10,000 levels is an attack or a bug);
//! - aliases are shared, not copied, and the number of nodes they would expand to is counted: past
//!   [`MAX_ALIAS_NODES`] the stream is refused, which stops a "billion laughs" document after a few
//!   microseconds of work and in memory proportional to its text.
//!
//! Merge keys (`<<: *base`) are applied the way Kubernetes' YAML decoder applies them: keys written
//! in the mapping win over merged ones, and earlier merged mappings win over later ones. When a key
//! appears twice, the last one wins, as when the API server decodes JSON.

use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};

/// The deepest nesting of mappings and sequences accepted, counting the document root as 1.
pub const MAX_DEPTH: usize = 256;

/// How many nodes all aliases of one stream may expand to, together.
pub const MAX_ALIAS_NODES: usize = 1_000_000;

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

impl Node {
    fn new(line: usize, value: Value) -> Node {
        Node(Rc::new(Inner { line, value }))
    }

    /// The line (1-based) where this value starts.
    pub fn line(&self) -> usize {
        self.0.line
    }

    /// The value.
    pub fn value(&self) -> &Value {
        &self.0.value
    }

    /// The value of `key` when this is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|e| &e.value)
    }

    /// The entry of `key` (with the key's line) when this is a mapping that has it.
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
    pub fn as_map(&self) -> Option<&[Entry]> {
        match self.value() {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The items when this is a sequence.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match self.value() {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// The text of a scalar of any style (numbers included), `None` for null and collections.
    pub fn as_str(&self) -> Option<&str> {
        match self.value() {
            Value::Scalar(s) => Some(&s.text),
            _ => None,
        }
    }

    /// `true` for null.
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
    /// after decoding. Recursion is bounded by [`MAX_DEPTH`], which the loader enforces.
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

/// An integer as go-yaml (what kubectl uses) resolves a plain scalar, then a whole float.
fn yaml_int(text: &str) -> Option<i64> {
    // The common case, `30` or `-1`, without an allocation.
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    if !unsigned.is_empty()
        && unsigned.bytes().all(|b| b.is_ascii_digit())
        && (unsigned.len() == 1 || !unsigned.starts_with('0'))
    {
        return text.strip_prefix('+').unwrap_or(text).parse().ok();
    }
    if !text.bytes().any(|b| b.is_ascii_digit()) {
        return None; // `true`, `web`, `.inf`: no number at all
    }
    let cleaned: String = text.chars().filter(|&c| c != '_').collect();
    let (negative, digits) = match cleaned.as_bytes().first() {
        Some(b'-') => (true, &cleaned[1..]),
        Some(b'+') => (false, &cleaned[1..]),
        _ => (false, cleaned.as_str()),
    };
    if digits.is_empty() {
        return None;
    }
    let lower = digits.to_ascii_lowercase();
    let magnitude = if let Some(hex) = lower.strip_prefix("0x") {
        i128::from_str_radix(hex, 16).ok()
    } else if let Some(bin) = lower.strip_prefix("0b") {
        i128::from_str_radix(bin, 2).ok()
    } else if let Some(oct) = lower.strip_prefix("0o") {
        i128::from_str_radix(oct, 8).ok()
    } else if lower.len() > 1 && lower.starts_with('0') && lower.bytes().all(|b| b.is_ascii_digit())
    {
        i128::from_str_radix(&lower[1..], 8).ok()
    } else if lower.bytes().all(|b| b.is_ascii_digit()) {
        lower.parse::<i128>().ok()
    } else {
        None
    };
    if let Some(m) = magnitude {
        return i64::try_from(if negative { -m } else { m }).ok();
    }
    // A float, when it is a whole number: `30.0`, `3e1`, `30.` (not `.inf`, `.nan`, `1.5`).
    let float_like = lower
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'+' | b'-'))
        && lower.bytes().any(|b| b.is_ascii_digit());
    if !float_like {
        return None;
    }
    let value: f64 = digits.parse().ok()?;
    let value = if negative { -value } else { value };
    // 2^63 is exactly representable; anything at or beyond it does not fit.
    if value.fract() == 0.0 && value.abs() < 9.223_372_036_854_776e18 {
        #[allow(clippy::cast_possible_truncation)]
        Some(value as i64)
    } else {
        None
    }
}

/// Why a YAML stream was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// Line (1-based) of the problem.
    pub line: usize,
    /// Column (1-based) of the problem.
    pub column: usize,
    /// What is wrong.
    pub kind: YamlErrorKind,
}

/// The kinds of [`YamlError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum YamlErrorKind {
    /// The text is not valid YAML; the parser's own words.
    Syntax(String),
    /// Mappings and sequences nest deeper than [`MAX_DEPTH`].
    TooDeep,
    /// Aliases expand to more than [`MAX_ALIAS_NODES`] nodes.
    TooManyAliases,
    /// A mapping key is itself a mapping or a list, which Kubernetes (JSON) cannot represent.
    ComplexKey,
    /// A merge key `<<` whose value is not a mapping or a list of mappings.
    BadMerge,
}

impl fmt::Display for YamlErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            YamlErrorKind::Syntax(msg) => write!(f, "invalid YAML: {msg}"),
            YamlErrorKind::TooDeep => {
                write!(
                    f,
                    "mappings and lists nest more than {MAX_DEPTH} levels deep"
                )
            }
            YamlErrorKind::TooManyAliases => write!(
                f,
                "aliases expand to more than {MAX_ALIAS_NODES} nodes (an \"alias bomb\")"
            ),
            YamlErrorKind::ComplexKey => {
                write!(
                    f,
                    "a mapping key is a mapping or a list, which JSON cannot represent"
                )
            }
            YamlErrorKind::BadMerge => {
                write!(f, "a merge key `<<` needs a mapping or a list of mappings")
            }
        }
    }
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.kind
        )
    }
}

impl std::error::Error for YamlError {}

/// Parses every document of a YAML stream. Empty documents come back as null nodes.
///
/// ```
/// use changeover_k8s::yaml::parse_documents;
///
/// let docs = parse_documents("a: 1\n---\nb: [x, y]\n").unwrap();
/// assert_eq!(docs.len(), 2);
/// assert_eq!(docs[1].get("b").unwrap().line(), 3);
/// assert_eq!(docs[0].get("a").unwrap().as_i64(), Some(1));
/// ```
pub fn parse_documents(text: &str) -> Result<Vec<Node>, YamlError> {
    // go-yaml, which kubectl uses, does not check indentation inside a flow collection
    // (`args: [` … `]` with the `]` at the key's column); saphyr does. When saphyr refuses a line
    // for its indentation while a flow collection is open, that line is indented one more space
    // and the stream parsed again: lines keep their numbers, and block structure is never
    // touched, so nothing kubectl refuses is accepted.
    let mut text = std::borrow::Cow::Borrowed(text);
    for _ in 0..MAX_FLOW_REINDENTS {
        match parse_once(&text) {
            Err(Failure {
                error,
                in_flow: true,
            }) if is_indentation_error(&error) => {
                text = std::borrow::Cow::Owned(indent_line(&text, error.line));
            }
            other => return other.map_err(|f| f.error),
        }
    }
    parse_once(&text).map_err(|f| f.error)
}

/// How many lines of flow collections may be re-indented in one stream.
const MAX_FLOW_REINDENTS: usize = 256;

struct Failure {
    error: YamlError,
    /// Whether a flow collection (`[…]`, `{…}`) was open where the parse failed.
    in_flow: bool,
}

fn is_indentation_error(e: &YamlError) -> bool {
    matches!(&e.kind, YamlErrorKind::Syntax(m) if m == "invalid indentation" || m == "invalid indentation in flow construct")
}

/// `text` with one more space at the start of `line` (1-based).
fn indent_line(text: &str, line: usize) -> String {
    let mut out = String::with_capacity(text.len() + 1);
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            out.push(' ');
        }
        out.push_str(l);
    }
    out
}

/// The text being parsed, with where each line starts, to look at the character an event starts
/// with (saphyr's markers count characters, not bytes).
struct Source<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> Source<'a> {
    fn new(text: &'a str) -> Source<'a> {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Source { text, line_starts }
    }

    /// Whether a collection starting at (line, column) is written in flow style (`[` or `{`).
    fn starts_flow(&self, (line, col): (usize, usize)) -> bool {
        let Some(&start) = self.line_starts.get(line.wrapping_sub(1)) else {
            return false;
        };
        self.text[start..]
            .chars()
            .nth(col)
            .is_some_and(|c| c == '[' || c == '{')
    }
}

fn parse_once(text: &str) -> Result<Vec<Node>, Failure> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    while let Some(event) = parser.next_event() {
        // Only on the error path: is any open collection written in flow style?
        let in_flow = |b: &Builder| {
            let src = Source::new(text);
            b.stack.iter().any(|f| match f {
                Frame::Seq { start, .. } | Frame::Map { start, .. } => src.starts_flow(*start),
            })
        };
        match event {
            Ok((event, span)) => {
                if let Err(error) = builder.on_event(event, span) {
                    return Err(Failure {
                        error,
                        in_flow: false,
                    });
                }
            }
            Err(e) => {
                // saphyr's own nesting limit: say it in our words.
                let kind = if e.info() == "recursion limit exceeded" {
                    YamlErrorKind::TooDeep
                } else {
                    YamlErrorKind::Syntax(e.info().to_string())
                };
                return Err(Failure {
                    in_flow: in_flow(&builder),
                    error: YamlError {
                        line: e.marker().line(),
                        column: e.marker().col() + 1,
                        kind,
                    },
                });
            }
        }
    }
    Ok(builder.documents)
}

/// A finished node with what the budgets need to know about it.
#[derive(Clone)]
struct MeasuredNode {
    node: Node,
    /// Nodes in the subtree, aliases expanded.
    size: usize,
    /// Levels below the node (0 for a scalar).
    height: usize,
}

enum Frame {
    Seq {
        /// Where the collection starts (line, column), to tell flow from block style when a
        /// parse fails.
        start: (usize, usize),
        line: usize,
        anchor: usize,
        items: Vec<Node>,
        size: usize,
        height: usize,
    },
    Map {
        start: (usize, usize),
        line: usize,
        anchor: usize,
        entries: Entries,
        merges: Vec<(Node, Span)>,
        key: Option<PendingKey>,
        size: usize,
        height: usize,
    },
}

struct PendingKey {
    text: String,
    line: usize,
    merge: bool,
}

#[derive(Default)]
struct Builder {
    documents: Vec<Node>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, MeasuredNode>,
    alias_nodes: usize,
}

fn err_at(span: Span, kind: YamlErrorKind) -> YamlError {
    YamlError {
        line: span.start.line(),
        column: span.start.col() + 1,
        kind,
    }
}

fn scalar_is_plain(style: ScalarStyle, tag: Option<&Tag>) -> bool {
    match tag {
        Some(tag) if tag.is_yaml_core_schema() => tag.suffix != "str",
        _ => style == ScalarStyle::Plain,
    }
}

fn is_null_text(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

impl Builder {
    fn on_event(&mut self, event: Event<'_>, span: Span) -> Result<(), YamlError> {
        let line = span.start.line();
        match event {
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart(_)
            | Event::DocumentEnd => Ok(()),
            Event::Scalar(text, style, anchor, tag) => {
                let plain = scalar_is_plain(style, tag.as_deref());
                let value = if plain && is_null_text(&text) {
                    Value::Null
                } else {
                    Value::Scalar(Scalar {
                        text: text.into_owned(),
                        plain,
                    })
                };
                let built = MeasuredNode {
                    node: Node::new(line, value),
                    size: 1,
                    height: 0,
                };
                if anchor != 0 {
                    self.anchors.insert(anchor, built.clone());
                }
                self.add(built, span)
            }
            Event::Alias(anchor) => {
                // An alias to an anchor that is not (yet) complete is rejected by the parser,
                // except for a recursive one, which we refuse here.
                let Some(built) = self.anchors.get(&anchor).cloned() else {
                    return Err(err_at(
                        span,
                        YamlErrorKind::Syntax("alias to an unknown or enclosing anchor".into()),
                    ));
                };
                self.alias_nodes = self.alias_nodes.saturating_add(built.size);
                if self.alias_nodes > MAX_ALIAS_NODES {
                    return Err(err_at(span, YamlErrorKind::TooManyAliases));
                }
                self.add(built, span)
            }
            Event::SequenceStart(anchor, _) => {
                self.check_depth(span)?;
                self.stack.push(Frame::Seq {
                    start: (span.start.line(), span.start.col()),
                    line,
                    anchor,
                    items: Vec::new(),
                    size: 1,
                    height: 0,
                });
                Ok(())
            }
            Event::MappingStart(anchor, _) => {
                self.check_depth(span)?;
                self.stack.push(Frame::Map {
                    start: (span.start.line(), span.start.col()),
                    line,
                    anchor,
                    entries: Entries::default(),
                    merges: Vec::new(),
                    key: None,
                    size: 1,
                    height: 0,
                });
                Ok(())
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.stack.pop() else {
                    return Err(err_at(span, YamlErrorKind::Syntax("unbalanced end".into())));
                };
                let (anchor, built) = match frame {
                    Frame::Seq {
                        start: _,
                        line,
                        anchor,
                        items,
                        size,
                        height,
                    } => (
                        anchor,
                        MeasuredNode {
                            node: Node::new(line, Value::Seq(items)),
                            size,
                            height,
                        },
                    ),
                    Frame::Map {
                        line,
                        anchor,
                        entries,
                        merges,
                        size,
                        height,
                        ..
                    } => {
                        let entries = apply_merges(entries, merges)?;
                        (
                            anchor,
                            MeasuredNode {
                                node: Node::new(line, Value::Map(entries)),
                                size,
                                height,
                            },
                        )
                    }
                };
                if anchor != 0 {
                    self.anchors.insert(anchor, built.clone());
                }
                self.add(built, span)
            }
        }
    }

    fn check_depth(&self, span: Span) -> Result<(), YamlError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(err_at(span, YamlErrorKind::TooDeep));
        }
        Ok(())
    }

    /// Hands a finished node to its parent, or makes it a document.
    fn add(&mut self, built: MeasuredNode, span: Span) -> Result<(), YamlError> {
        // Through aliases a shallow reference can stand for a deep tree: count the depth it adds.
        if self.stack.len() + built.height >= MAX_DEPTH {
            return Err(err_at(span, YamlErrorKind::TooDeep));
        }
        match self.stack.last_mut() {
            None => {
                self.documents.push(built.node);
                Ok(())
            }
            Some(Frame::Seq {
                items,
                size,
                height,
                ..
            }) => {
                *size = size.saturating_add(built.size);
                *height = (*height).max(built.height + 1);
                items.push(built.node);
                Ok(())
            }
            Some(Frame::Map {
                entries,
                merges,
                key,
                size,
                height,
                ..
            }) => {
                *size = size.saturating_add(built.size);
                *height = (*height).max(built.height + 1);
                match key.take() {
                    None => {
                        let (text, merge) = match built.node.value() {
                            Value::Null => (String::new(), false),
                            Value::Scalar(s) => (s.text.clone(), s.plain && s.text == "<<"),
                            Value::Seq(_) | Value::Map(_) => {
                                return Err(err_at(span, YamlErrorKind::ComplexKey));
                            }
                        };
                        *key = Some(PendingKey {
                            text,
                            line: span.start.line(),
                            merge,
                        });
                    }
                    Some(PendingKey { merge: true, .. }) => merges.push((built.node, span)),
                    Some(PendingKey {
                        text,
                        line,
                        merge: false,
                    }) => {
                        // Last occurrence wins, as when the API server decodes JSON.
                        entries.set(Entry {
                            key: text,
                            line,
                            value: built.node,
                        });
                    }
                }
                Ok(())
            }
        }
    }
}

/// The entries of a mapping under construction: keys unique, with a hash index once the mapping
/// is large, so that a mapping of 100,000 keys costs 100,000 steps and not 10^10.
#[derive(Default)]
struct Entries {
    list: Vec<Entry>,
    index: Option<HashMap<String, usize>>,
}

/// Mappings smaller than this are searched linearly, which is faster for them.
const INDEX_FROM: usize = 16;

impl Entries {
    fn position(&mut self, key: &str) -> Option<usize> {
        if self.index.is_none() && self.list.len() >= INDEX_FROM {
            let index = self
                .list
                .iter()
                .enumerate()
                .map(|(i, e)| (e.key.clone(), i))
                .collect();
            self.index = Some(index);
        }
        match &self.index {
            Some(index) => index.get(key).copied(),
            None => self.list.iter().position(|e| e.key == key),
        }
    }

    fn push_new(&mut self, entry: Entry) {
        if let Some(index) = &mut self.index {
            index.insert(entry.key.clone(), self.list.len());
        }
        self.list.push(entry);
    }

    /// Adds or replaces.
    fn set(&mut self, entry: Entry) {
        match self.position(&entry.key) {
            Some(i) => self.list[i] = entry,
            None => self.push_new(entry),
        }
    }

    /// Adds unless the key is already there.
    fn set_if_absent(&mut self, entry: Entry) {
        if self.position(&entry.key).is_none() {
            self.push_new(entry);
        }
    }
}

fn apply_merges(mut entries: Entries, merges: Vec<(Node, Span)>) -> Result<Vec<Entry>, YamlError> {
    for (merge, span) in merges {
        let sources: Vec<&Node> = match merge.value() {
            Value::Map(_) => vec![&merge],
            Value::Seq(items) if items.iter().all(|i| i.as_map().is_some()) => {
                items.iter().collect()
            }
            _ => return Err(err_at(span, YamlErrorKind::BadMerge)),
        };
        for source in sources {
            for e in source.as_map().unwrap_or_default() {
                entries.set_if_absent(Entry {
                    key: e.key.clone(),
                    line: e.line,
                    value: e.value.clone(),
                });
            }
        }
    }
    Ok(entries.list)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn merge_keys_fill_in_missing_keys_only() {
        let text = "base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n";
        let docs = parse_documents(text).unwrap();
        let m = docs[0].get("m").unwrap();
        assert_eq!(m.get("x").unwrap().as_i64(), Some(1));
        assert_eq!(m.get("y").unwrap().as_i64(), Some(3));
        assert!(m.get("<<").is_none());
    }

    #[test]
    fn huge_mappings_and_merges_stay_linear() {
        // 50,000 distinct keys, repeated, then merged into another mapping 3 times: quadratic
        // handling would take minutes.
        let mut text = String::from("big: &big\n");
        for i in 0..50_000 {
            text.push_str(&format!("  k{i}: {i}\n"));
        }
        for i in 0..50_000 {
            text.push_str(&format!("  k{i}: again\n"));
        }
        text.push_str("m:\n  <<: [*big, *big, *big]\n");
        let docs = parse_documents(&text).unwrap();
        assert_eq!(docs[0].get("m").unwrap().as_map().unwrap().len(), 50_000);
        assert_eq!(
            docs[0].path(&["big", "k7"]).unwrap().as_str(),
            Some("again")
        );
    }

    #[test]
    fn integers_as_kubectl_reads_them() {
        // Regression (issue 10): `30.0` and `0x1E` were refused where kubectl accepts them.
        let docs = parse_documents(
            "a: 30.0\nb: 0x1E\nc: 036\nd: 0o36\ne: 1_000\nf: 3e1\ng: -0x10\nh: 1.5\ni: .inf\nj: '30'\nk: 0b11110\n",
        )
        .unwrap();
        let int = |k: &str| docs[0].get(k).unwrap().as_i64();
        assert_eq!(
            [
                int("a"),
                int("b"),
                int("c"),
                int("d"),
                int("e"),
                int("f"),
                int("g"),
                int("k")
            ],
            [
                Some(30),
                Some(30),
                Some(30),
                Some(30),
                Some(1000),
                Some(30),
                Some(-16),
                Some(30)
            ]
        );
        assert_eq!((int("h"), int("i"), int("j")), (None, None, None));
    }

    #[test]
    fn flow_collections_at_their_keys_column_are_accepted_as_go_yaml_does() {
        // Regression (issue 10): istio's spire-quickstart.yaml could not be read.
        let text = "spec:\n  args: [\n    \"-a\", \"b\",\n  ]\n  env: [x,\n  y]\n  more: {k: v,\n  l: w\n  }\nafter: 1\n";
        let docs = parse_documents(text).unwrap();
        let args = docs[0].path(&["spec", "args"]).unwrap().as_seq().unwrap();
        assert_eq!(args.len(), 2);
        assert_eq!(
            docs[0]
                .path(&["spec", "env"])
                .unwrap()
                .as_seq()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(docs[0].get("after").unwrap().line(), 10);
        // Block structure is never re-indented: a mis-indented key stays an error.
        assert!(parse_documents("a:\n  b: 1\n c: 2\n").is_err());
    }

    #[test]
    fn duplicate_keys_last_wins() {
        let docs = parse_documents("a: 1\na: 2\n").unwrap();
        assert_eq!(docs[0].as_map().unwrap().len(), 1);
        assert_eq!(docs[0].get("a").unwrap().as_i64(), Some(2));
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let err = parse_documents(&text).unwrap_err();
        assert_eq!(err.kind, YamlErrorKind::TooManyAliases);
    }

    #[test]
    fn deep_nesting_is_refused_without_recursion() {
        let text = "[".repeat(10_000) + &"]".repeat(10_000);
        assert!(parse_documents(&text).is_err());
        let block: String = (0..10_000).map(|_| "- ").collect::<String>() + "x\n";
        let err = parse_documents(&block).unwrap_err();
        assert_eq!(err.kind, YamlErrorKind::TooDeep);
    }

    #[test]
    fn aliases_cannot_smuggle_depth() {
        // Each level aliases the previous one inside 200 new levels: the tree it stands for is
        // far deeper than any single level of text.
        let open = "[".repeat(200);
        let close = "]".repeat(200);
        let text = format!("a: &a {open}1{close}\nb: &b {open}*a{close}\n");
        let err = parse_documents(&text).unwrap_err();
        assert!(matches!(
            err.kind,
            YamlErrorKind::TooDeep | YamlErrorKind::Syntax(_)
        ));
    }

    #[test]
    fn complex_keys_are_refused() {
        let err = parse_documents("x: {{ .Values.x }}\n").unwrap_err();
        assert_eq!(err.kind, YamlErrorKind::ComplexKey);
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
