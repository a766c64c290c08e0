//! The control socket's file: created with mode 0600 (through the umask, so there is no moment at
//! which another user could connect), in a private directory of the user's own, mode 0700, that
//! is refused when someone else got there first.

use std::fmt;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use changeover::ListenAddr;
use changeover::listeners::{self, ListenError, Listener};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{FileStat, Mode, SFlag, fchmod, fstat, lstat, umask};
use nix::unistd::geteuid;

use super::peer::describe_uid;

/// Why the control socket could not be created.
#[derive(Debug)]
pub enum BindError {
    /// Binding the socket failed.
    Socket {
        /// The socket's path.
        path: PathBuf,
        /// What went wrong.
        source: ListenError,
    },
    /// The private directory the socket belongs in is not safe to use.
    UnsafeDir {
        /// The directory.
        dir: PathBuf,
        /// What is wrong with it, and what to do.
        problem: String,
    },
}

/// The way out when the private directory cannot be used.
const ELSEWHERE: &str = "or set XDG_RUNTIME_DIR, or pass --control PATH in a directory of your own";

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BindError::Socket { path, source } => {
                let in_use = matches!(source, ListenError::Bind { source, .. } if source.kind() == io::ErrorKind::AddrInUse);
                if in_use {
                    write!(
                        f,
                        "control socket {} is in use: another changeover run is listening there; stop it, or give this one its own with --control PATH",
                        path.display()
                    )
                } else {
                    write!(
                        f,
                        "cannot create control socket {}: {}; check that its directory exists and is writable, or pass --control PATH",
                        path.display(),
                        match source {
                            ListenError::Bind { source, .. } => source.to_string(),
                            other => other.to_string(),
                        }
                    )
                }
            }
            BindError::UnsafeDir { dir, problem } => {
                write!(f, "control socket directory {}: {problem}", dir.display())
            }
        }
    }
}

impl std::error::Error for BindError {}

/// Creates `dir` with mode 0700, or checks the one that is there: a real
/// directory (not a symbolic link), owned by this user, that nobody else
/// can enter. Nothing is created inside a directory that fails a check.
///
/// No check-then-use race: the checks are made on the directory opened with
/// `O_NOFOLLOW`, and the directory sits in a sticky one (`/tmp`), where only
/// its owner — the user just checked — can rename or remove it afterwards.
pub fn ensure_private_dir(dir: &Path) -> Result<(), BindError> {
    let unsafe_dir = |problem: String| BindError::UnsafeDir {
        dir: dir.to_owned(),
        problem,
    };
    let me = geteuid().as_raw();
    let created = match nix::unistd::mkdir(dir, Mode::S_IRWXU) {
        Ok(()) => true,
        Err(Errno::EEXIST) => false,
        Err(e) => {
            return Err(unsafe_dir(format!(
                "cannot create it: {e}; check that its parent exists and is writable, {ELSEWHERE}"
            )));
        }
    };
    let opened = nix::fcntl::open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    );
    let fd: OwnedFd = match opened {
        Ok(fd) => fd,
        Err(Errno::ELOOP | Errno::ENOTDIR) => {
            let what = match lstat(dir) {
                Ok(st)
                    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK =>
                {
                    "is a symbolic link, not a directory"
                }
                _ => "is not a directory",
            };
            let owner = lstat(dir)
                .map(|st| describe_uid(st.st_uid))
                .unwrap_or_else(|_| "?".into());
            return Err(unsafe_dir(format!(
                "{what} (owned by {owner}): someone may have planted it to catch the socket; remove it (rm {}), {ELSEWHERE}",
                dir.display()
            )));
        }
        Err(e) => {
            return Err(unsafe_dir(format!(
                "cannot open it: {e}; remove it, {ELSEWHERE}"
            )));
        }
    };
    let st: FileStat = fstat(&fd).map_err(|e| unsafe_dir(format!("cannot inspect it: {e}")))?;
    if st.st_uid != me {
        return Err(unsafe_dir(format!(
            "it belongs to {}, not to you ({}): another user may be squatting it to impersonate the supervisor; have its owner or root remove it (rm -r {}), {ELSEWHERE}",
            describe_uid(st.st_uid),
            describe_uid(me),
            dir.display()
        )));
    }
    if created {
        // The umask may have taken bits off; exactly 0700, on the directory just checked.
        fchmod(&fd, Mode::S_IRWXU).map_err(|e| unsafe_dir(format!("cannot set its mode: {e}")))?;
    } else if st.st_mode & 0o077 != 0 {
        return Err(unsafe_dir(format!(
            "it has mode {:04o}, so other users can reach what is in it; make it private (chmod 700 {}), {ELSEWHERE}",
            st.st_mode & 0o7777,
            dir.display()
        )));
    }
    Ok(())
}

/// Creates the control socket with mode 0600 (a stale file left by a
/// supervisor that is gone is replaced), first creating or checking its
/// private directory when it has one (see [`ensure_private_dir`]). Call it
/// before any thread is started: the file mode is set through the
/// process-wide umask.
pub fn bind(path: &Path, private_dir: Option<&Path>) -> Result<Listener, BindError> {
    if let Some(dir) = private_dir {
        ensure_private_dir(dir)?;
    }
    let err = |source| BindError::Socket {
        path: path.to_owned(),
        source,
    };
    // The mode of a socket file comes from the umask at bind(): no window in
    // which another user could connect.
    let old = umask(Mode::from_bits_truncate(0o177));
    let bound = listeners::bind("control", &ListenAddr::Unix(path.to_owned()));
    umask(old);
    let listener = bound.map_err(err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|source| {
        err(ListenError::Bind {
            addr: ListenAddr::Unix(path.to_owned()),
            source,
        })
    })?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::tests::FILES;

    #[test]
    fn the_socket_is_private_and_a_second_one_is_refused() {
        let _turn = FILES.lock().unwrap_or_else(|p| p.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.sock");
        let listener = bind(&path, None).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let e = bind(&path, None).unwrap_err().to_string();
        assert!(e.contains("in use") && e.contains("--control"), "{e}");
        drop(listener);
    }

    /// Regression (issue 9, item 2): the default socket lived straight in
    /// `/tmp`, where another user could bind it first. Its directory is now
    /// created 0700 and checked; one that someone else planted is refused
    /// with its owner named. Needs root (to play the other user).
    #[test]
    fn the_private_directory_is_ours_with_mode_0700_or_refused() {
        assert!(
            geteuid().is_root(),
            "this test needs root, to create files of another user"
        );
        let _turn = FILES.lock().unwrap_or_else(|p| p.into_inner());
        let tmp = tempfile::tempdir().unwrap();
        let mode_of =
            |p: &Path| std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777;

        let dir = tmp.path().join("changeover-0");
        let listener = bind(&dir.join("control.sock"), Some(&dir)).unwrap();
        assert_eq!(mode_of(&dir), 0o700);
        assert_eq!(mode_of(&dir.join("control.sock")), 0o600);
        drop(listener);
        // Ours already: used as it is.
        ensure_private_dir(&dir).unwrap();

        let refused = |p: &Path| ensure_private_dir(p).unwrap_err().to_string();
        let theirs = tmp.path().join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
        let e = refused(&theirs);
        assert!(
            e.contains("belongs to uid 65534")
                && e.contains("rm -r")
                && e.contains("--control PATH"),
            "{e}"
        );
        // Binding is refused before anything is created in it.
        let e = bind(&theirs.join("control.sock"), Some(&theirs))
            .unwrap_err()
            .to_string();
        assert!(e.contains("belongs to uid 65534"), "{e}");
        assert!(!theirs.join("control.sock").exists());

        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        let e = refused(&link);
        assert!(e.contains("symbolic link") && e.contains("rm "), "{e}");

        let open = tmp.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        let e = refused(&open);
        assert!(e.contains("mode 0755") && e.contains("chmod 700"), "{e}");

        let file = tmp.path().join("file");
        std::fs::write(&file, "").unwrap();
        let e = refused(&file);
        assert!(e.contains("is not a directory"), "{e}");
    }
}
