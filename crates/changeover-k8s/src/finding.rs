//! What a rule reports: [`Finding`] and its [`Severity`].

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// How bad a finding is. Ordered: `Warning < Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Likely to fail requests in some situations.
    Warning,
    /// Fails requests, or blocks drains, whenever the situation arises.
    Error,
}

impl Severity {
    /// `warning` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A severity name that is neither `warning` nor `error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownSeverity(pub String);

impl fmt::Display for UnknownSeverity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown severity {:?}: use `warning` or `error`", self.0)
    }
}

impl std::error::Error for UnknownSeverity {}

impl FromStr for Severity {
    type Err = UnknownSeverity;

    fn from_str(s: &str) -> Result<Severity, UnknownSeverity> {
        match s {
            "warning" => Ok(Severity::Warning),
            "error" => Ok(Severity::Error),
            other => Err(UnknownSeverity(other.to_string())),
        }
    }
}

/// One problem found in one object (and possibly one of its containers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The rule's id, e.g. `grace-budget`.
    pub rule: &'static str,
    /// The rule's severity.
    pub severity: Severity,
    /// The input the object came from.
    pub file: Arc<str>,
    /// The line the finding points at.
    pub line: usize,
    /// `Kind/namespace/name`.
    pub object: String,
    /// The container, for findings about one container.
    pub container: Option<String>,
    /// What is wrong, with the decisive numbers.
    pub message: String,
    /// The arithmetic behind the message, one step per line.
    pub arithmetic: Vec<String>,
    /// What to change.
    pub fix: String,
}
