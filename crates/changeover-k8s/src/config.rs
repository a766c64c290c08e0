//! What the user chose: disabled rules and the target Kubernetes version.

use std::fmt;
use std::str::FromStr;

use crate::rules;

/// A Kubernetes minor version such as `1.30`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KubeVersion {
    /// Always 1 so far.
    pub major: u32,
    /// The minor version.
    pub minor: u32,
}

impl KubeVersion {
    /// `major.minor`.
    pub const fn new(major: u32, minor: u32) -> KubeVersion {
        KubeVersion { major, minor }
    }
}

impl fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// A `--kube-version` that is not `X.Y`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadKubeVersion(pub String);

impl fmt::Display for BadKubeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a Kubernetes version: write it as X.Y, for example 1.30",
            self.0
        )
    }
}

impl std::error::Error for BadKubeVersion {}

impl FromStr for KubeVersion {
    type Err = BadKubeVersion;

    /// Accepts `1.30`, `v1.30` and `1.30.2` (the patch is ignored).
    fn from_str(s: &str) -> Result<KubeVersion, BadKubeVersion> {
        let bad = || BadKubeVersion(s.to_string());
        let trimmed = s.trim();
        let trimmed = trimmed.strip_prefix('v').unwrap_or(trimmed);
        let mut parts = trimmed.split('.');
        let major: u32 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let minor: u32 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        if let Some(patch) = parts.next() {
            patch.parse::<u32>().map_err(|_| bad())?;
        }
        if parts.next().is_some() || major != 1 {
            return Err(bad());
        }
        Ok(KubeVersion { major, minor })
    }
}

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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!("1.30".parse(), Ok(KubeVersion::new(1, 30)));
        assert_eq!("v1.29".parse(), Ok(KubeVersion::new(1, 29)));
        assert_eq!("1.33.1".parse(), Ok(KubeVersion::new(1, 33)));
        for bad in ["", "1", "2.0", "1.x", "1.30.1.1", "latest"] {
            assert!(bad.parse::<KubeVersion>().is_err(), "{bad}");
        }
        assert!(KubeVersion::new(1, 9) < KubeVersion::new(1, 30));
    }
}
