//! A process that leads a session of its own, as a container's processes share a cgroup: the
//! whole session is SIGKILLed when its leader exits or the grace period ends, so nothing a
//! pod started (a `changeover run`'s children sit in process groups of their own, but in its
//! session) outlives the pod.
//!
//! Every signal goes through a pidfd opened right after the spawn, before anyone could reap the
//! child, so it can only reach that process. The other members of the session are found in
//! `/proc`, opened by pidfd, checked to still be in the session (the pid could have been reused
//! between reading `/proc` and opening it), and only then signalled. The leader is reaped only
//! after that sweep: while it is an unreaped zombie, no new process can take its pid, and so no
//! stranger can hold the session id being swept.

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;

use rustix::process::{Pid, PidfdFlags, Signal, getsid, pidfd_open, pidfd_send_signal};
use tokio::io::unix::AsyncFd;

use crate::model::Exit;

/// A running session leader: signal it, or kill its whole session. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Handle {
    pid: u32,
    pidfd: Arc<OwnedFd>,
}

/// What to start.
#[derive(Debug)]
pub struct Command<'a> {
    /// The program, a path or a name looked up in the `PATH` of `env`.
    pub program: &'a str,
    /// Its arguments.
    pub args: &'a [String],
    /// Its whole environment.
    pub env: &'a [(OsString, OsString)],
    /// Its working directory.
    pub dir: &'a Path,
    /// Where its standard output and error go (`None`: nowhere).
    pub log: Option<&'a File>,
}

/// Why a process could not be started: the error, in words that name the command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Starts `command` as the leader of a new session. Returns its handle and a future that
/// resolves once it has exited, the rest of its session has been killed, and it was reaped.
pub fn spawn(
    command: &Command<'_>,
) -> Result<(Handle, impl Future<Output = Exit> + Send + 'static), StartError> {
    let path_var = command
        .env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_os_str());
    // A relative path names a file from where changeover sim runs, not from the pod's own
    // directory, which is the process's working directory.
    let program = match Path::new(command.program) {
        p if p.is_relative() && command.program.contains('/') => std::env::current_dir()
            .map(|d| d.join(p).into_os_string())
            .unwrap_or_else(|_| command.program.into()),
        _ => command.program.into(),
    };
    let resolved = changeover::spawn::resolve_program(&program, path_var)
        .map_err(|e| StartError(e.to_string()))?;
    let mut cmd = tokio::process::Command::new(&resolved);
    cmd.arg0(command.program)
        .args(command.args)
        .env_clear()
        .envs(command.env.iter().map(|(k, v)| (k, v)))
        .current_dir(command.dir)
        .stdin(Stdio::null())
        .kill_on_drop(false);
    let output = |f: Option<&File>| -> io::Result<Stdio> {
        Ok(match f {
            Some(f) => Stdio::from(f.try_clone()?),
            None => Stdio::null(),
        })
    };
    let io_error = |e: io::Error| StartError(format!("could not start {:?}: {e}", command.program));
    cmd.stdout(output(command.log).map_err(io_error)?);
    cmd.stderr(output(command.log).map_err(io_error)?);
    // SAFETY: between fork and exec only setsid(2) runs, which is async-signal-safe and
    // touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| nix::unistd::setsid().map(drop).map_err(io::Error::from));
    }
    let mut child = cmd.spawn().map_err(io_error)?;
    let pid = child
        .id()
        .ok_or_else(|| StartError("the child exited before it had a pid".into()))?;
    // Nobody has waited for the child yet, so the pid is still this child's.
    let pidfd = Pid::from_raw(pid as i32)
        .ok_or_else(|| StartError(format!("pid {pid} is not a pid")))
        .and_then(|p| {
            pidfd_open(p, PidfdFlags::NONBLOCK).map_err(|e| {
                StartError(format!(
                    "pidfd_open failed ({e}); changeover sim needs Linux 5.3 or later"
                ))
            })
        });
    let pidfd = match pidfd {
        Ok(fd) => Arc::new(fd),
        Err(e) => {
            // It cannot be signalled safely; do not leave it running.
            let _kill_result = child.start_kill();
            return Err(e);
        }
    };
    let handle = Handle { pid, pidfd };
    let watcher = handle.clone();
    let exited = async move {
        watcher.exited().await;
        watcher.kill_session();
        match child.wait().await {
            Ok(status) => match (status.code(), status.signal()) {
                (Some(c), _) => Exit::Code(c),
                (None, Some(s)) => Exit::Signal(s),
                (None, None) => Exit::Code(-1),
            },
            Err(e) => {
                tracing_free_warning(&format!("waiting for pid {pid} failed: {e}"));
                Exit::Code(-1)
            }
        }
    };
    Ok((handle, exited))
}

/// No logging framework in this crate: a failure nobody can act on goes to stderr once.
fn tracing_free_warning(message: &str) {
    eprintln!("changeover sim: warning: {message}");
}

impl Handle {
    /// The leader's pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Sends `signal` to the leader only (as a runtime signals a container's PID 1).
    pub fn signal(&self, signal: i32) {
        let Some(sig) = Signal::from_named_raw(signal) else {
            tracing_free_warning(&format!("signal {signal} cannot be sent"));
            return;
        };
        match pidfd_send_signal(&*self.pidfd, sig) {
            // ESRCH: it has exited already; the exit is on its way.
            Ok(()) | Err(rustix::io::Errno::SRCH) => {}
            Err(e) => tracing_free_warning(&format!("signalling pid {}: {e}", self.pid)),
        }
    }

    /// SIGKILLs every process of the leader's session, the leader included.
    pub fn kill_session(&self) {
        self.signal(Signal::KILL.as_raw());
        let sid = self.pid as i32;
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return;
        };
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok())
            else {
                continue;
            };
            if pid == sid || session_of(pid) != Some(sid) {
                continue;
            }
            let Some(p) = Pid::from_raw(pid) else {
                continue;
            };
            // Opened first, checked second: the pidfd cannot drift to another process.
            let Ok(fd) = pidfd_open(p, PidfdFlags::empty()) else {
                continue; // gone meanwhile
            };
            if getsid(Some(p)).map(|s| s.as_raw_nonzero().get()) == Ok(sid) {
                match pidfd_send_signal(&fd, Signal::KILL) {
                    Ok(()) | Err(rustix::io::Errno::SRCH) => {}
                    Err(e) => tracing_free_warning(&format!("killing pid {pid}: {e}")),
                }
            }
        }
    }

    /// Resolves once the leader has exited (the pidfd turns readable; it is not reaped).
    async fn exited(&self) {
        let fd = match self.pidfd.try_clone() {
            Ok(fd) => fd,
            Err(e) => {
                tracing_free_warning(&format!("cannot watch pid {}: {e}", self.pid));
                return;
            }
        };
        // SAFETY: the AsyncFd owns `fd`, an open pidfd, and it stays open and the same until
        // the AsyncFd is dropped at the end of this function.
        match unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) } {
            Ok(afd) => {
                if let Err(e) = afd.readable().await {
                    tracing_free_warning(&format!("watching pid {}: {e}", self.pid));
                }
            }
            Err(e) => tracing_free_warning(&format!("cannot watch pid {}: {e}", self.pid)),
        }
    }
}

/// The session id of `pid`, from `/proc/PID/stat` (field 6, after the parenthesised name).
fn session_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Vec<(OsString, OsString)> {
        std::env::vars_os().filter(|(k, _)| k == "PATH").collect()
    }

    #[tokio::test]
    async fn the_session_dies_with_its_leader() {
        use tokio::io::AsyncBufReadExt;
        const DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);
        let dir = tempfile::tempdir().unwrap();
        // The leader starts a grandchild in a process group of its own (job control, as
        // `changeover run` puts each child in a group of its own), prints its pid, and waits.
        let args = vec![
            "-c".to_string(),
            "set -m; sleep 60 & echo $!; wait".to_string(),
        ];
        let env = env();
        let (read, write) = nix::unistd::pipe().unwrap();
        let log = File::from(write);
        let (handle, exited) = spawn(&Command {
            program: "sh",
            args: &args,
            env: &env,
            dir: dir.path(),
            log: Some(&log),
        })
        .unwrap();
        drop(log);
        let exited = tokio::spawn(exited);
        let pipe = tokio::net::unix::pipe::Receiver::from_owned_fd(read).unwrap();
        let mut lines = tokio::io::BufReader::new(pipe).lines();
        // sh may first say that job control has no terminal.
        let grandchild: i32 = tokio::time::timeout(DEADLINE, async {
            loop {
                let line = lines
                    .next_line()
                    .await
                    .unwrap()
                    .expect("a line with the pid");
                if let Ok(pid) = line.trim().parse() {
                    return pid;
                }
            }
        })
        .await
        .expect("the grandchild's pid within the deadline");
        assert_eq!(session_of(grandchild), Some(handle.pid() as i32));
        let pidfd = pidfd_open(Pid::from_raw(grandchild).unwrap(), PidfdFlags::NONBLOCK).unwrap();
        // SAFETY: the AsyncFd owns the open pidfd for its whole life.
        let watch =
            unsafe { AsyncFd::register_with_interest(pidfd, tokio::io::Interest::READABLE) }
                .unwrap();
        handle.signal(Signal::TERM.as_raw());
        let exit = tokio::time::timeout(DEADLINE, exited)
            .await
            .expect("exit within the deadline")
            .unwrap();
        assert_eq!(exit, Exit::Signal(15));
        // SIGTERM reached the leader only; the sweep's SIGKILL reached the grandchild.
        let ready = tokio::time::timeout(DEADLINE, watch.readable())
            .await
            .expect("the grandchild outlived its session")
            .unwrap();
        drop(ready);
    }

    #[test]
    fn a_missing_program_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let env = env();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let e = rt
            .block_on(async {
                spawn(&Command {
                    program: "no-such-server-here",
                    args: &[],
                    env: &env,
                    dir: dir.path(),
                    log: None,
                })
                .map(drop)
            })
            .unwrap_err();
        assert!(
            e.0.contains("no-such-server-here") && e.0.contains("not found"),
            "{e}"
        );
    }
}
