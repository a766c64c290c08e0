//! Contract: `changeover lint` reads every file of a corpus of real public manifests
//! (`tests/real/`, sources and licenses in `tests/real/SOURCES.md`) without an input error, and
//! finds exactly what `tests/real/expected.txt` lists: a snapshot reviewed by hand, finding by
//! finding. A finding that appears or disappears fails the test, so a change in any rule shows up
//! here as a diff to review. After reviewing one, regenerate with
//! `CHANGEOVER_BLESS=1 cargo test -p changeover-k8s --test real_world`.
//!
//! Found by trying the lint as a new user would (issue 10): before this corpus, argo-cd's HA
//! install had about 7 false findings out of 24 and istio's spire quickstart could not be read.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use changeover_k8s::{Config, Linter, render};
use serde_json::Value;

/// Projects whose manifests are applied as a whole directory (`kubectl apply -f DIR`).
const LINTED_BY_DIRECTORY: &[&str] = &["kube-prometheus", "kubernetes-examples"];

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/real")
}

/// Every manifest file under `dir`, sorted.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files(&path, out);
        } else if path
            .extension()
            .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
        {
            out.push(path);
        }
    }
}

/// The runs of the corpus: a directory's files together, or a file alone.
fn units() -> Vec<Vec<PathBuf>> {
    let mut all = Vec::new();
    files(&corpus(), &mut all);
    let mut units: Vec<Vec<PathBuf>> = Vec::new();
    for path in all {
        let rel = path.strip_prefix(corpus()).unwrap();
        let project = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_str()
            .unwrap();
        let together = LINTED_BY_DIRECTORY.contains(&project);
        match units.last_mut() {
            Some(last) if together && last[0].parent() == path.parent() => last.push(path),
            _ => units.push(vec![path]),
        }
    }
    units
}

fn relative(path: &str) -> String {
    Path::new(path)
        .strip_prefix(corpus())
        .map_or(path.to_string(), |p| p.display().to_string())
}

#[test]
fn the_real_world_corpus_loads_cleanly_and_finds_exactly_the_reviewed_findings() {
    let mut snapshot = String::new();
    let mut input_errors = Vec::new();
    let mut files_seen = 0;
    for unit in units() {
        // Helm values, Chart.yaml and other YAML that is not a manifest sit beside the manifests
        // in these repositories; they hold no object, which is fine here.
        let mut config = Config::default();
        config.allow_empty = true;
        let mut linter = Linter::new(config);
        for path in &unit {
            linter.add_input(&path.display().to_string(), &fs::read(path).unwrap());
            files_seen += 1;
        }
        let json: Value = serde_json::from_str(&render::json(&linter.finish())).unwrap();
        for e in json["input_errors"].as_array().unwrap() {
            input_errors.push(format!(
                "{}:{}: {}",
                relative(e["file"].as_str().unwrap()),
                e["line"],
                e["problem"].as_str().unwrap()
            ));
        }
        for f in json["findings"].as_array().unwrap() {
            let container = match f["container"].as_str() {
                Some(c) => format!(" (container {c})"),
                None => String::new(),
            };
            let _ = writeln!(
                snapshot,
                "{}:{}: {} {}{}: {}",
                relative(f["file"].as_str().unwrap()),
                f["line"],
                f["rule"].as_str().unwrap(),
                f["object"].as_str().unwrap(),
                container,
                f["message"].as_str().unwrap()
            );
        }
    }
    assert!(files_seen > 1000, "the corpus shrank: {files_seen} files");
    assert!(input_errors.is_empty(), "input errors: {input_errors:#?}");
    let expected_path = corpus().join("expected.txt");
    if std::env::var_os("CHANGEOVER_BLESS").is_some() {
        fs::write(&expected_path, &snapshot).unwrap();
        return;
    }
    let expected = fs::read_to_string(&expected_path).unwrap_or_default();
    if expected != snapshot {
        let old: Vec<&str> = expected.lines().collect();
        let new: Vec<&str> = snapshot.lines().collect();
        let gone: Vec<&&str> = old.iter().filter(|l| !new.contains(l)).collect();
        let added: Vec<&&str> = new.iter().filter(|l| !old.contains(l)).collect();
        panic!(
            "the findings on the corpus changed; review each, then regenerate with\n  CHANGEOVER_BLESS=1 cargo test -p changeover-k8s --test real_world\nno longer found:\n{gone:#?}\nnewly found:\n{added:#?}"
        );
    }
}
