//! The pid file: always names the live generation.
//!
//! Written atomically (a temporary file in the same directory, then
//! `rename`), so a reader sees the old pid or the new one, never a torn or
//! empty file. A generation writes its own pid when it becomes ready; during
//! an upgrade that is the successor, so the file changes hands exactly when
//! the successor has taken over.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A pid file at a path.
#[derive(Debug, Clone)]
pub struct PidFile {
    path: PathBuf,
}

impl PidFile {
    /// A pid file at this path (nothing is written yet).
    pub fn new(path: impl Into<PathBuf>) -> PidFile {
        PidFile { path: path.into() }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `pid` atomically.
    pub fn write(&self, pid: u32) -> io::Result<()> {
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let file_name = self.path.file_name().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "pid file path has no file name",
            )
        })?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(file_name);
        tmp_name.push(format!(".{pid}.tmp"));
        let tmp = dir.join(tmp_name);
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(format!("{pid}\n").as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &self.path)
    }

    /// The pid it names, if it exists and holds one.
    pub fn read(&self) -> io::Result<Option<u32>> {
        match std::fs::read_to_string(&self.path) {
            Ok(s) => Ok(s.trim().parse().ok()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes the file if it still names `pid` (a successor's file is left alone).
    pub fn remove_if_ours(&self, pid: u32) -> io::Result<()> {
        if self.read()? == Some(pid) {
            std::fs::remove_file(&self.path)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_reads_and_removes_only_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let pf = PidFile::new(dir.path().join("app.pid"));
        assert_eq!(pf.read().unwrap(), None);
        pf.write(41).unwrap();
        pf.write(42).unwrap();
        assert_eq!(pf.read().unwrap(), Some(42));
        pf.remove_if_ours(41).unwrap();
        assert_eq!(pf.read().unwrap(), Some(42));
        pf.remove_if_ours(42).unwrap();
        assert_eq!(pf.read().unwrap(), None);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "no temporary left"
        );
    }
}
