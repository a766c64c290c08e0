//! The tree built from `saphyr-parser`'s event stream with an explicit stack, never by recursion,
//! so that hostile input cannot exhaust the call stack; every collection opened, alias expanded
//! and node placed passes the parser's `defences` first.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};

use super::defences::{Defences, MeasuredNode};
use super::error::{YamlError, YamlErrorKind, err_at};
use super::flow::Source;
use super::mapping::{Entries, apply_merges};
use super::node::{Entry, Node, Scalar, Value};

/// Why one parse of the text failed.
pub(super) struct Failure {
    pub(super) error: YamlError,
    /// Whether a flow collection (`[…]`, `{…}`) was open where the parse failed.
    pub(super) in_flow: bool,
}

/// Parses the whole stream once, as it is written.
pub(super) fn parse_once(text: &str) -> Result<Vec<Node>, Failure> {
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

/// A collection being built: what it holds so far, and its measurements for the defences.
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

/// A mapping key that waits for its value.
struct PendingKey {
    text: String,
    line: usize,
    merge: bool,
}

/// The state of one parse: the documents finished, the collections open, the anchors defined.
#[derive(Default)]
struct Builder {
    documents: Vec<Node>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, MeasuredNode>,
    defences: Defences,
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
                self.defences.alias(&built, span)?;
                self.add(built, span)
            }
            Event::SequenceStart(anchor, _) => {
                self.defences.open(self.stack.len(), span)?;
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
                self.defences.open(self.stack.len(), span)?;
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

    /// Hands a finished node to its parent, or makes it a document.
    fn add(&mut self, built: MeasuredNode, span: Span) -> Result<(), YamlError> {
        self.defences.place(self.stack.len(), &built, span)?;
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

#[cfg(test)]
mod tests {
    use crate::yaml::{YamlErrorKind, parse_documents};

    #[test]
    fn complex_keys_are_refused() {
        let err = parse_documents("x: {{ .Values.x }}\n").unwrap_err();
        assert_eq!(err.kind, YamlErrorKind::ComplexKey);
    }
}
