//! A mapping under construction: keys kept unique (the last occurrence wins, as when the API
//! server decodes JSON) with a hash index once it is large, and merge keys (`<<: *base`) applied
//! the way Kubernetes' YAML decoder applies them: keys written in the mapping win over merged
//! ones, and earlier merged mappings win over later ones.

use std::collections::HashMap;

use saphyr_parser::Span;

use super::error::{YamlError, YamlErrorKind, err_at};
use super::node::{Entry, Node, Value};

/// The entries of a mapping under construction: keys unique, with a hash index once the mapping
/// is large, so that a mapping of 100,000 keys costs 100,000 steps and not 10^10.
#[derive(Default)]
pub(super) struct Entries {
    list: Vec<Entry>,
    index: Option<HashMap<String, usize>>,
}

/// Mappings smaller than this are searched linearly, which is faster for them.
const INDEX_FROM: usize = 16;

impl Entries {
    // `position` and `set` run for every key of every mapping, from the builder: inlined there,
    // as they were when the builder and the mapping shared a module.
    #[inline]
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
    #[inline]
    pub(super) fn set(&mut self, entry: Entry) {
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

pub(super) fn apply_merges(
    mut entries: Entries,
    merges: Vec<(Node, Span)>,
) -> Result<Vec<Entry>, YamlError> {
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
    use crate::yaml::parse_documents;

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
    fn duplicate_keys_last_wins() {
        let docs = parse_documents("a: 1\na: 2\n").unwrap();
        assert_eq!(docs[0].as_map().unwrap().len(), 1);
        assert_eq!(docs[0].get("a").unwrap().as_i64(), Some(2));
    }
}
