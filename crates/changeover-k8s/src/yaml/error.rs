//! Why a YAML stream is refused: a syntax error in the parser's words, or one of the defences.

use std::fmt;

use saphyr_parser::Span;

use super::{MAX_ALIAS_NODES, MAX_DEPTH};

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

/// A [`YamlError`] of `kind` where `span` starts.
pub(super) fn err_at(span: Span, kind: YamlErrorKind) -> YamlError {
    YamlError {
        line: span.start.line(),
        column: span.start.col() + 1,
        kind,
    }
}
