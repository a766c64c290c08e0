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
        let written = write_new(&tmp, pid).and_then(|()| std::fs::rename(&tmp, &self.path));
        if written.is_err() {
            // Whatever failed, leave no temporary behind; NotFound means it was
            // never created (or already renamed), which is fine.
            if let Err(e) = std::fs::remove_file(&tmp) {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::debug!(path = %tmp.display(), error = %e, "could not remove a temporary pid file");
                }
            }
        }
        written
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

/// Creates `path` anew and writes `pid` into it. `create_new` (`O_EXCL`)
/// never follows a symlink and never opens a file someone else planted: in a
/// shared directory such as `/tmp`, a link at the temporary's name must not
/// make us truncate the file it points to. A leftover of our own (a crash
/// between create and rename) is removed once and the create retried.
fn write_new(path: &Path, pid: u32) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let open = || {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(path)
    };
    let mut f = match open() {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            std::fs::remove_file(path)?;
            open()?
        }
        other => other?,
    };
    f.write_all(format!("{pid}\n").as_bytes())?;
    f.sync_all()
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

    /// Regression (found reading the code): a write that failed after the
    /// temporary was created left `.NAME.PID.tmp` behind.
    #[test]
    fn a_failed_write_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        // A non-empty directory where the pid file should be: rename fails.
        let target = dir.path().join("app.pid");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("keep"), "x").unwrap();
        assert!(PidFile::new(&target).write(7).is_err());
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["app.pid"], "only the directory, no temporary");
    }

    /// A symlink planted at the temporary's name (another user, in `/tmp`)
    /// must not make the write truncate the file it points to.
    #[test]
    fn a_planted_symlink_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious\n").unwrap();
        std::os::unix::fs::symlink(&victim, dir.path().join(".app.pid.9.tmp")).unwrap();
        let pf = PidFile::new(dir.path().join("app.pid"));
        pf.write(9).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        assert_eq!(pf.read().unwrap(), Some(9));
    }
}
