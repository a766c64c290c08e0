//! The workspace's shape, checked: no import cycle between the modules of one
//! crate, and no source file longer than 500 lines unless it says why.
//!
//! Contract: within every crate under `crates/`, the modules that share a
//! parent never depend on each other in a loop (a → b and b → a, directly or
//! around a longer loop). A module depends on a sibling when any of its files
//! names a path into it (`use crate::x::…`, `crate::x::f()`, `super::x`,
//! grouped `use crate::{x, y}` alike). A child naming its own ancestor is not
//! counted (that is how a module's parts reach what the module defines).
//! A file over 500 lines must say why in its module doc, in a line that
//! names the limit ("above 500 lines on purpose: …").
//!
//! The check reads the source text; it needs no compiler help, so it runs in
//! milliseconds. `docs/architecture.md` describes the direction it enforces.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 500;

/// A module path inside one crate: `[]` is the crate root, `["http", "drain"]` is `http::drain`.
type ModPath = Vec<String>;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace root")
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module a file under `src/` defines.
fn module_of(src: &Path, file: &Path) -> ModPath {
    let rel = file.strip_prefix(src).expect("file under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("a file name");
    match last.as_str() {
        "lib.rs" | "main.rs" | "mod.rs" => {}
        name => parts.push(name.trim_end_matches(".rs").to_string()),
    }
    parts
}

/// The text with comments, string and char literals blanked out, so that
/// `crate::` inside them is not read as a path.
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if b[i] == b'r' && (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#')) {
            // A raw string: r"…" or r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push(b[i] as char);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == b'"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&b'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push(' ');
            i = j;
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push(' ');
        } else if b[i] == b'\'' {
            // A char literal ('x', '\n') or a lifetime ('a): skip only the former.
            if b.get(i + 2) == Some(&b'\'') {
                i += 3;
            } else if b.get(i + 1) == Some(&b'\\') {
                i += 2;
                while i < b.len() && b[i] != b'\'' {
                    i += 1;
                }
                i += 1;
            } else {
                out.push('\'');
                i += 1;
            }
            out.push(' ');
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every path named after `crate::`, `super::` or `self::` in `code`, each as
/// its first segments (resolved against `here`), with grouped imports expanded.
fn named_paths(code: &str, here: &ModPath) -> Vec<ModPath> {
    let chars: Vec<char> = code.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts_word = i == 0 || !is_ident(chars[i - 1]) && chars[i - 1] != ':';
        if starts_word && is_ident(chars[i]) {
            let start = i;
            while i < chars.len() && is_ident(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let base: Option<ModPath> = match word.as_str() {
                "crate" => Some(Vec::new()),
                "self" => Some(here.clone()),
                "super" => {
                    let mut p = here.clone();
                    p.pop();
                    // `super::super::…`
                    let mut j = i;
                    while chars.get(j) == Some(&':')
                        && chars.get(j + 1) == Some(&':')
                        && chars[j + 2..].starts_with(&['s', 'u', 'p', 'e', 'r'])
                        && !chars.get(j + 7).is_some_and(|c| is_ident(*c))
                    {
                        p.pop();
                        j += 7;
                    }
                    i = j;
                    Some(p)
                }
                _ => None,
            };
            if let Some(base) = base {
                if chars.get(i) == Some(&':') && chars.get(i + 1) == Some(&':') {
                    i += 2;
                    i = read_tree(&chars, i, base, &mut found);
                }
            }
        } else {
            i += 1;
        }
    }
    found
}

/// Reads a path tree (`a::b::{c, d::e}`) from `i`, pushing each full path
/// prefixed with `prefix`; returns the index after it.
fn read_tree(chars: &[char], mut i: usize, prefix: ModPath, out: &mut Vec<ModPath>) -> usize {
    let skip_ws = |i: &mut usize| {
        while *i < chars.len() && chars[*i].is_whitespace() {
            *i += 1;
        }
    };
    let mut path = prefix;
    loop {
        skip_ws(&mut i);
        if chars.get(i) == Some(&'{') {
            i += 1;
            loop {
                skip_ws(&mut i);
                match chars.get(i) {
                    Some('}') => {
                        i += 1;
                        break;
                    }
                    Some(',') => i += 1,
                    None => return i,
                    _ => {
                        let before = i;
                        i = read_tree(chars, i, path.clone(), out);
                        if i == before {
                            i += 1;
                        }
                    }
                }
            }
            return i;
        }
        let start = i;
        while i < chars.len() && is_ident(chars[i]) {
            i += 1;
        }
        if i == start {
            out.push(path);
            return i;
        }
        let seg: String = chars[start..i].iter().collect();
        if seg != "self" {
            path.push(seg);
        }
        if chars.get(i) == Some(&':') && chars.get(i + 1) == Some(&':') {
            i += 2;
        } else {
            out.push(path);
            return i;
        }
    }
}

/// The dependency edges between sibling modules of one crate:
/// parent → (child → children it depends on).
fn sibling_edges(src: &Path) -> BTreeMap<ModPath, BTreeMap<String, BTreeSet<String>>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<ModPath> = files.iter().map(|f| module_of(src, f)).collect();
    let mut edges: BTreeMap<ModPath, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for file in &files {
        let here = module_of(src, file);
        let text = std::fs::read_to_string(file).expect("read source file");
        for path in named_paths(&code_only(&text), &here) {
            // The module the path leads into: its longest prefix that is a file's module.
            let target = (0..=path.len())
                .rev()
                .map(|n| path[..n].to_vec())
                .find(|p| modules.contains(p))
                .unwrap_or_default();
            let common = here.iter().zip(&target).take_while(|(a, b)| a == b).count();
            if common == here.len() || common == target.len() {
                continue; // an ancestor or a descendant, not a sibling
            }
            edges
                .entry(here[..common].to_vec())
                .or_default()
                .entry(here[common].clone())
                .or_default()
                .insert(target[common].clone());
        }
    }
    edges
}

/// A loop in `graph`, if there is one, as the modules around it.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(node.to_string(), 1);
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            match state.get(next.as_str()) {
                Some(1) => {
                    let at = stack.iter().position(|n| n == next).expect("on the stack");
                    let mut cycle = stack[at..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(next, graph, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(node.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if !state.contains_key(node.as_str()) {
            let mut stack = Vec::new();
            if let Some(c) = visit(node, graph, &mut state, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}

fn crate_srcs() -> Vec<(String, PathBuf)> {
    let root = workspace_root();
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root.join("crates"))
        .expect("read crates/")
        .flatten()
    {
        let src = entry.path().join("src");
        if src.is_dir() {
            out.push((entry.file_name().to_string_lossy().into_owned(), src));
        }
    }
    out.sort();
    out
}

#[test]
fn no_import_cycle_between_sibling_modules() {
    let mut cycles = Vec::new();
    for (name, src) in crate_srcs() {
        for (parent, graph) in sibling_edges(&src) {
            if let Some(cycle) = find_cycle(&graph) {
                let at = if parent.is_empty() {
                    "crate".to_string()
                } else {
                    parent.join("::")
                };
                cycles.push(format!("{name}: in {at}: {}", cycle.join(" → ")));
            }
        }
    }
    assert!(
        cycles.is_empty(),
        "modules that import each other (one concept split wrongly, or a third one to name):\n  {}",
        cycles.join("\n  ")
    );
}

#[test]
fn no_source_file_over_500_lines_without_a_reason() {
    let root = workspace_root();
    let mut files = Vec::new();
    for dir in ["crates", "examples", "bench", "tests"] {
        rust_files(&root.join(dir), &mut files);
    }
    let mut long = Vec::new();
    for file in files {
        if file.components().any(|c| c.as_os_str() == "target") {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("read source file");
        let lines = text.lines().count();
        let says_why = text
            .lines()
            .take_while(|l| l.starts_with("//!") || l.trim().is_empty())
            .any(|l| l.starts_with("//!") && l.contains("500 lines"));
        if lines > MAX_LINES && !says_why {
            long.push(format!(
                "{} ({lines} lines)",
                file.strip_prefix(&root).unwrap_or(&file).display()
            ));
        }
    }
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines: split them by concern, or say why in the module doc, \
         in a line naming the limit (\"above 500 lines on purpose: …\"):\n  {}",
        long.join("\n  ")
    );
}

/// The checker itself: it must see a cycle written in each form it claims to read.
#[test]
fn the_checker_reads_every_form_of_path() {
    let here = vec!["a".to_string(), "b".to_string()];
    let code = code_only(
        "use crate::{x::Y, z};\n\
         fn f() { crate::w::g(); super::c::h(); let s = \"crate::not_me\"; }\n\
         // crate::nor_me\n\
         use super::super::q::R;",
    );
    let paths = named_paths(&code, &here);
    let firsts: BTreeSet<String> = paths
        .iter()
        .map(|p| p.first().cloned().unwrap_or_default())
        .collect();
    for want in ["x", "z", "w", "a", "q"] {
        assert!(firsts.contains(want), "{want} not found in {paths:?}");
    }
    assert!(!firsts.contains("not_me") && !firsts.contains("nor_me"));
    assert!(paths.contains(&vec!["a".to_string(), "c".to_string(), "h".to_string()]));

    let mut graph = BTreeMap::new();
    graph.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    graph.insert("b".to_string(), BTreeSet::from(["c".to_string()]));
    graph.insert("c".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(
        find_cycle(&graph).map(|c| c.len()),
        Some(4),
        "a → b → c → a is a loop"
    );
    graph.get_mut("c").expect("c").clear();
    assert_eq!(find_cycle(&graph), None);
}
