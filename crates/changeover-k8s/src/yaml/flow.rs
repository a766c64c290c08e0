//! go-yaml's leniency about flow collections, reproduced: kubectl does not check indentation
//! inside `[…]` and `{…}` (`args: [` … `]` with the `]` at the key's column), saphyr does. When
//! saphyr refuses a line for its indentation while a flow collection is open, that line is
//! indented one more space and the stream parsed again: lines keep their numbers, and block
//! structure is never touched, so nothing kubectl refuses is accepted.

use super::error::{YamlError, YamlErrorKind};

/// How many lines of flow collections may be re-indented in one stream.
pub(super) const MAX_FLOW_REINDENTS: usize = 256;

pub(super) fn is_indentation_error(e: &YamlError) -> bool {
    matches!(&e.kind, YamlErrorKind::Syntax(m) if m == "invalid indentation" || m == "invalid indentation in flow construct")
}

/// `text` with one more space at the start of `line` (1-based).
pub(super) fn indent_line(text: &str, line: usize) -> String {
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
pub(super) struct Source<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> Source<'a> {
    pub(super) fn new(text: &'a str) -> Source<'a> {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Source { text, line_starts }
    }

    /// Whether a collection starting at (line, column) is written in flow style (`[` or `{`).
    pub(super) fn starts_flow(&self, (line, col): (usize, usize)) -> bool {
        let Some(&start) = self.line_starts.get(line.wrapping_sub(1)) else {
            return false;
        };
        self.text[start..]
            .chars()
            .nth(col)
            .is_some_and(|c| c == '[' || c == '{')
    }
}

#[cfg(test)]
mod tests {
    use crate::yaml::parse_documents;

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
}
