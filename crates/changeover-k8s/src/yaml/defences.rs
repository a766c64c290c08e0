//! The defences of the parser, which bound its work whatever the input:
//!
//! - nesting deeper than [`MAX_DEPTH`] is refused (a Kubernetes object nests a few dozen levels;
//!   a file with 10,000 levels is an attack or a bug), counting the depth an alias stands for, so
//!   that a shallow reference cannot smuggle in a deep tree;
//! - aliases are shared, not copied, and the number of nodes they would expand to is counted: past
//!   [`MAX_ALIAS_NODES`] the stream is refused, which stops a "billion laughs" document after a few
//!   microseconds of work and in memory proportional to its text.

use saphyr_parser::Span;

use super::error::{YamlError, YamlErrorKind, err_at};
use super::node::Node;
use super::{MAX_ALIAS_NODES, MAX_DEPTH};

/// A finished node with what the budgets need to know about it.
#[derive(Clone)]
pub(super) struct MeasuredNode {
    pub(super) node: Node,
    /// Nodes in the subtree, aliases expanded.
    pub(super) size: usize,
    /// Levels below the node (0 for a scalar).
    pub(super) height: usize,
}

/// What has been spent of the budgets in one stream.
#[derive(Default)]
pub(super) struct Defences {
    /// Nodes that aliases expanded to so far.
    alias_nodes: usize,
}

impl Defences {
    /// A collection opens at `depth` open collections.
    pub(super) fn open(&self, depth: usize, span: Span) -> Result<(), YamlError> {
        if depth >= MAX_DEPTH {
            return Err(err_at(span, YamlErrorKind::TooDeep));
        }
        Ok(())
    }

    /// A finished node is placed under `depth` open collections: through aliases a shallow
    /// reference can stand for a deep tree, so the depth it adds counts.
    pub(super) fn place(
        &self,
        depth: usize,
        node: &MeasuredNode,
        span: Span,
    ) -> Result<(), YamlError> {
        if depth + node.height >= MAX_DEPTH {
            return Err(err_at(span, YamlErrorKind::TooDeep));
        }
        Ok(())
    }

    /// An alias to `node` expands to its size, out of the stream's budget.
    pub(super) fn alias(&mut self, node: &MeasuredNode, span: Span) -> Result<(), YamlError> {
        self.alias_nodes = self.alias_nodes.saturating_add(node.size);
        if self.alias_nodes > MAX_ALIAS_NODES {
            return Err(err_at(span, YamlErrorKind::TooManyAliases));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::yaml::{YamlErrorKind, parse_documents};

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
}
