//! The lint rules: one module per rule, each declaring its id, severity, rationale and fix next to
//! its check, all registered in [`all`].
//!
//! A check reads the `Context` (objects and their relations) and emits findings through an
//! `Emitter`, which fills in the rule's id and severity and drops findings about objects whose
//! `changeover.lint/ignore` annotation names the rule.

use crate::context::Context;
use crate::finding::{Finding, Severity};
use crate::model::{Container, Meta};

mod changeover_command;
mod grace_budget;
mod liveness_equals_readiness;
mod missing_pdb;
mod missing_readiness_probe;
mod no_stop_delay;
mod pdb_blocks_eviction;
mod pdb_overlap;
mod pdb_selector;
mod pdb_unhealthy_policy;
mod prestop_exceeds_grace;
mod prestop_needs_shell;
mod prestop_sleep_unsupported;
mod replicas_with_autoscaler;
mod rollout_capacity_gap;
mod service_matches_nothing;
mod shared_pid_namespace;
mod shell_form_command;

/// A lint rule and the text that explains it.
pub struct Rule {
    /// The id used in output, `--disable`, `--explain` and the ignore annotation.
    pub id: &'static str,
    /// The severity of every finding of this rule.
    pub severity: Severity,
    /// When it fires, in one line.
    pub summary: &'static str,
    /// Why it matters: what fails, and when.
    pub rationale: &'static str,
    /// What to change, in general terms (findings carry a fix with their own numbers).
    pub fix: &'static str,
    pub(crate) check: fn(&Context<'_>, &mut Emitter<'_>),
}

impl std::fmt::Debug for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rule")
            .field("id", &self.id)
            .field("severity", &self.severity)
            .finish()
    }
}

/// Every rule, in the order the documentation lists them.
static RULES: &[Rule] = &[
    grace_budget::RULE,
    prestop_exceeds_grace::RULE,
    changeover_command::RULE,
    no_stop_delay::RULE,
    prestop_needs_shell::RULE,
    shell_form_command::RULE,
    shared_pid_namespace::RULE,
    missing_readiness_probe::RULE,
    liveness_equals_readiness::RULE,
    pdb_blocks_eviction::RULE,
    pdb_selector::RULE,
    pdb_overlap::RULE,
    missing_pdb::RULE,
    pdb_unhealthy_policy::RULE,
    rollout_capacity_gap::RULE,
    replicas_with_autoscaler::RULE,
    service_matches_nothing::RULE,
    prestop_sleep_unsupported::RULE,
];

/// Every rule.
pub fn all() -> &'static [Rule] {
    RULES
}

/// The rule with this id.
pub fn find(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

/// What a check reports; the [`Emitter`] adds the rest (the rule, the object, the file).
///
/// Built as `FindingDraft::at(line, message)`, then `.container(c)`, `.arithmetic(…)` and
/// `.fix(…)` where they apply; the builder is inlined into each rule, so it costs what the struct
/// literal it replaced cost.
#[derive(Debug)]
pub(crate) struct FindingDraft {
    line: usize,
    container: Option<String>,
    message: String,
    arithmetic: Vec<String>,
    /// A fix with this finding's numbers; the rule's general fix when `None`.
    fix: Option<String>,
}

impl FindingDraft {
    /// A finding at `line` of the object's input, about the object as a whole.
    #[inline]
    pub(crate) fn at(line: usize, message: impl Into<String>) -> FindingDraft {
        FindingDraft {
            line,
            container: None,
            message: message.into(),
            arithmetic: Vec::new(),
            fix: None,
        }
    }

    /// About one container of the object's pods.
    #[inline]
    pub(crate) fn container(mut self, container: &Container) -> FindingDraft {
        self.container = Some(container.name.clone());
        self
    }

    /// The numbers behind the finding, one line each.
    #[inline]
    pub(crate) fn arithmetic(mut self, lines: Vec<String>) -> FindingDraft {
        self.arithmetic = lines;
        self
    }

    /// A fix with this finding's own numbers, instead of the rule's general one.
    #[inline]
    pub(crate) fn fix(mut self, fix: impl Into<String>) -> FindingDraft {
        self.fix = Some(fix.into());
        self
    }
}

/// Collects the findings of one rule.
pub(crate) struct Emitter<'a> {
    rule: &'static Rule,
    out: &'a mut Vec<Finding>,
    /// The rules this run leaves out.
    disabled: &'a [&'static str],
}

impl Emitter<'_> {
    /// Whether `rule` runs and reports on the object of `meta` (its ignore annotation does not
    /// name it): a check that leaves a problem to a more precise rule asks this first, so that one
    /// problem gives one finding, and still one when that rule is turned off.
    pub(crate) fn reports(&self, rule: &Rule, meta: &Meta) -> bool {
        !self.disabled.contains(&rule.id) && !meta.ignores(rule.id)
    }

    /// Records `draft` as a finding of this rule about the object of `meta`, unless its ignore
    /// annotation names the rule.
    pub(crate) fn emit(&mut self, meta: &Meta, draft: FindingDraft) {
        if meta.ignores(self.rule.id) {
            return;
        }
        self.out.push(Finding {
            rule: self.rule.id,
            severity: self.rule.severity,
            file: meta.file.clone(),
            line: draft.line,
            object: meta.reference(),
            container: draft.container,
            message: draft.message,
            arithmetic: draft.arithmetic,
            fix: draft.fix.unwrap_or_else(|| self.rule.fix.to_string()),
        });
    }
}

/// Runs every rule but the `disabled` ones.
pub(crate) fn run(cx: &Context<'_>, disabled: &[&'static str]) -> Vec<Finding> {
    let mut findings = Vec::new();
    for rule in RULES.iter().filter(|r| !disabled.contains(&r.id)) {
        let mut emitter = Emitter {
            rule,
            out: &mut findings,
            disabled,
        };
        (rule.check)(cx, &mut emitter);
    }
    findings
}

/// `1 replica`, `3 replicas`.
pub(crate) fn replicas(n: i64) -> String {
    if n == 1 {
        "1 replica".to_string()
    } else {
        format!("{n} replicas")
    }
}

/// The Services that carry traffic to container `ci` of workload `wi`, a few of them named
/// (`Service/default/web`), or `None` when no Service does.
pub(crate) fn traffic_services(cx: &Context<'_>, wi: usize, ci: usize) -> Option<String> {
    let services = cx.traffic_services_of_container(wi, ci);
    (!services.is_empty()).then(|| name_a_few(services.iter().map(|s| s.meta.reference())))
}

/// Names a few objects, then how many more.
pub(crate) fn name_a_few<I: IntoIterator<Item = String>>(names: I) -> String {
    let names: Vec<String> = names.into_iter().collect();
    match names.len() {
        0 => "none".to_string(),
        n if n <= 3 => names.join(", "),
        n => format!("{} and {} more", names[..3].join(", "), n - 3),
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Lints inline YAML for the rules' unit tests.
    use crate::{Config, Finding, Linter};

    pub(crate) fn lint_with(text: &str, config: Config) -> Vec<Finding> {
        let mut linter = Linter::new(config);
        linter.add_input("test.yaml", text.as_bytes());
        let report = linter.finish();
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        report.findings
    }

    /// The findings of one rule.
    pub(crate) fn findings(rule: &str, text: &str) -> Vec<Finding> {
        lint_with(text, Config::default())
            .into_iter()
            .filter(|f| f.rule == rule)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_kebab_case_and_documented() {
        let mut ids: Vec<&str> = all().iter().map(|r| r.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), all().len());
        for rule in all() {
            assert!(
                rule.id.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{}",
                rule.id
            );
            for text in [rule.summary, rule.rationale, rule.fix] {
                assert!(!text.trim().is_empty(), "{} lacks text", rule.id);
            }
        }
        assert_eq!(all().len(), 18);
    }
}
