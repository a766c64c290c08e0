//! What the user chose: disabled rules, the target Kubernetes version, the default namespace.
//!
//! The options are checked here, against the rule registry; the rules never read them. A run hands
//! the rules what they need of it (the target version, which rules run) as plain values, so the
//! registry depends on nothing that depends on it.

use std::fmt;

use crate::rules;
pub use crate::version::{BadKubeVersion, KubeVersion};

/// A rule name that no rule has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownRule(pub String);

impl fmt::Display for UnknownRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let known: Vec<&str> = rules::all().iter().map(|r| r.id).collect();
        write!(
            f,
            "unknown rule {:?}; the rules are: {}",
            self.0,
            known.join(", ")
        )
    }
}

impl std::error::Error for UnknownRule {}

/// Options of one lint run.
#[derive(Debug, Clone, Default)]
pub struct Config {
    disabled: Vec<&'static str>,
    /// The cluster version to check version-dependent fields against; `None` skips those checks.
    pub kube_version: Option<KubeVersion>,
    /// The namespace of objects that set none (`kubectl apply -n NS`); `default` when `None`.
    pub namespace: Option<String>,
    /// Whether a run with no Kubernetes object at all is fine; otherwise it is an input error
    /// ("nothing to lint"), since it usually means a failed `helm template` upstream.
    pub allow_empty: bool,
}

impl Config {
    /// Turns a rule off. Errors when no rule has that id.
    ///
    /// ```
    /// let mut config = changeover_k8s::Config::default();
    /// config.disable("missing-pdb").unwrap();
    /// assert!(config.disable("no-such-rule").is_err());
    /// ```
    pub fn disable(&mut self, id: &str) -> Result<(), UnknownRule> {
        let rule = rules::find(id).ok_or_else(|| UnknownRule(id.to_string()))?;
        if !self.disabled.contains(&rule.id) {
            self.disabled.push(rule.id);
        }
        Ok(())
    }

    /// Whether a rule runs.
    pub fn enabled(&self, id: &str) -> bool {
        !self.disabled.contains(&id)
    }

    /// The ids of the rules turned off.
    pub(crate) fn disabled(&self) -> &[&'static str] {
        &self.disabled
    }
}
