//! The Kubernetes version a run targets (`--kube-version`), which version-dependent rules compare
//! fields against.

use std::fmt;
use std::str::FromStr;

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
