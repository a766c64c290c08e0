//! Contract: `docs/lint-rules.md` is exactly what the rule registry generates, so the page and
//! `changeover lint --explain` cannot drift apart. After changing a rule's text, regenerate with
//! `CHANGEOVER_BLESS=1 cargo test -p changeover-k8s --test docs` and commit the page.

use std::fs;
use std::path::Path;

#[test]
fn rules_page_matches_the_registry() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/lint-rules.md");
    let generated = changeover_k8s::docs::rules_markdown();
    if std::env::var_os("CHANGEOVER_BLESS").is_some() {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is out of date with the rule registry; regenerate it with\n  CHANGEOVER_BLESS=1 cargo test -p changeover-k8s --test docs",
        path.display()
    );
}

#[test]
fn every_rule_is_on_the_page() {
    let page = changeover_k8s::docs::rules_markdown();
    for rule in changeover_k8s::rules::all() {
        assert!(page.contains(&format!("\n## {}\n", rule.id)), "{}", rule.id);
        assert!(
            page.contains(rule.rationale) && page.contains(rule.fix),
            "{}",
            rule.id
        );
    }
}
