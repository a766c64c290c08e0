//! YAML (and therefore JSON) text to a tree of [`Node`]s that remember their line.
//!
//! `saphyr-parser` scans the text into events; `build` turns them into the tree (`node`) with
//! an explicit stack, never by recursion, and every node it places passes the `defences`:
//! nesting deeper than [`MAX_DEPTH`] and aliases that expand past [`MAX_ALIAS_NODES`] nodes are
//! refused, so hostile input is refused quickly in bounded memory. Mappings keep their keys
//! unique and apply merge keys (`mapping`) as Kubernetes' decoder does; integers are read as
//! kubectl reads them (`int`); a flow collection may continue at its key's column, as go-yaml
//! allows (`flow`). What is refused says why (`error`).

mod build;
mod defences;
mod error;
mod flow;
mod int;
mod mapping;
mod node;

pub use error::{YamlError, YamlErrorKind};
pub use node::{Entry, Node, Scalar, Value};

use build::{Failure, parse_once};
use flow::{MAX_FLOW_REINDENTS, indent_line, is_indentation_error};

/// The deepest nesting of mappings and sequences accepted, counting the document root as 1.
pub const MAX_DEPTH: usize = 256;

/// How many nodes all aliases of one stream may expand to, together.
pub const MAX_ALIAS_NODES: usize = 1_000_000;

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
    // A flow collection may continue at its key's column, as go-yaml allows (see `flow`).
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
