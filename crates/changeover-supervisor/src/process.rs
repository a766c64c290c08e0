//! Real processes: starting children and probes, signalling them, and
//! reaping every process that ends — children, probes and orphans alike.
//!
//! The supervisor reaps with `waitpid(-1)`, as a PID 1 or a subreaper must,
//! so nobody else may wait for its children: they are started with
//! [`changeover::spawn::spawn_unreaped`], and starting and reaping take one
//! lock, because when `exec` fails `spawn_unreaped` reaps the failed child
//! itself and must find it still there.
//!
//! Every child and probe is tied to the supervisor
//! ([`changeover::spawn::DEATH_SIGNAL`]): a supervisor killed by SIGKILL
//! takes them along instead of leaving them on the port. Only direct
//! children: what a child forks itself it must tie itself.

use std::ffi::OsString;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::sync::Mutex;

use changeover::spawn::{ChildSpec, DEATH_SIGNAL, SpawnError, spawn_unreaped};
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::machine::Processes;
use crate::proxy::{Plane, Prepared};

/// Held while a child is started and while reaping, never across an await.
static SPAWN_OR_REAP: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    // The guarded data is `()`: a panic elsewhere leaves nothing inconsistent.
    SPAWN_OR_REAP.lock().unwrap_or_else(|p| p.into_inner())
}

/// The environment variable that tells an `exec:` probe the child's pid.
pub const PROBE_PID_VAR: &str = "CHANGEOVER_CHILD_PID";

/// The command, the sockets and the notify socket every child is started with.
#[derive(Debug)]
pub struct RealProcesses {
    /// The program.
    pub program: OsString,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// The environment of every child (the protocol variables are set by spawn).
    pub env: Vec<(OsString, OsString)>,
    /// The listening sockets, by name, passed at fd 3, 4, ….
    pub listeners: Vec<(String, OwnedFd)>,
    /// `NOTIFY_SOCKET` for the children.
    pub notify_socket: OsString,
    /// The `exec:` readiness probe, if any.
    pub probe: Option<String>,
    /// With `--proxy`: each child's private upstream, the routing table and
    /// the public side (then `listeners` is empty: the public sockets are
    /// the supervisor's alone).
    pub proxy: Option<Plane>,
}

impl Processes for RealProcesses {
    fn start_child(&mut self, generation: u64) -> Result<u32, SpawnError> {
        let prepared = match &mut self.proxy {
            Some(plane) => Some(
                plane
                    .prepare(generation)
                    .map_err(|e| SpawnError::Other("the child's upstream socket".into(), e))?,
            ),
            None => None,
        };
        let mut env = self.env.clone();
        let listeners = match &prepared {
            None => self
                .listeners
                .iter()
                .map(|(n, fd)| (n.clone(), fd.as_fd()))
                .collect(),
            Some(Prepared::Socket(l)) => vec![("http".to_owned(), l.as_fd())],
            Some(Prepared::Env(vars)) => {
                env.retain(|(k, _)| !vars.iter().any(|(v, _)| k == v.as_str()));
                env.extend(vars.iter().map(|(k, v)| (k.into(), v.into())));
                Vec::new()
            }
        };
        let spec = ChildSpec {
            program: self.program.clone(),
            argv0: self.program.clone(),
            args: self.args.clone(),
            env,
            listeners,
            notify_socket: Some(self.notify_socket.clone()),
            own_process_group: true,
            stdout: None,
            stderr: None,
            // A SIGKILLed supervisor must not leave its children serving old
            // code on the port (see DEATH_SIGNAL for why SIGKILL).
            death_signal: Some(DEATH_SIGNAL),
        };
        let spawned = {
            let _guard = lock();
            spawn_unreaped(spec)
        };
        // The supervisor's copy of an upstream socket closes here: once the
        // child is gone, a connection to it is refused at once (a 502) rather
        // than left waiting in a queue nobody reads.
        drop(prepared);
        match spawned {
            // Dropping a std Child neither waits nor kills: the reaper collects it.
            Ok(child) => Ok(child.id()),
            Err(e) => {
                if let Some(plane) = &mut self.proxy {
                    plane.unprepare(generation);
                }
                Err(e)
            }
        }
    }

    fn start_probe(&mut self, child: u32) -> Result<u32, SpawnError> {
        let Some(command) = &self.probe else {
            return Err(SpawnError::Other(
                "probe".into(),
                std::io::Error::other("no exec: readiness probe is configured"),
            ));
        };
        let mut env: Vec<(OsString, OsString)> = self
            .env
            .iter()
            .filter(|(k, _)| k != PROBE_PID_VAR)
            .cloned()
            .collect();
        env.push((PROBE_PID_VAR.into(), child.to_string().into()));
        let spec = ChildSpec {
            program: "/bin/sh".into(),
            argv0: "sh".into(),
            args: vec!["-c".into(), command.into()],
            env,
            listeners: Vec::new(),
            notify_socket: None,
            own_process_group: true,
            stdout: Some(Stdio::null()),
            stderr: Some(Stdio::null()),
            death_signal: Some(DEATH_SIGNAL),
        };
        let _guard = lock();
        Ok(spawn_unreaped(spec)?.id())
    }

    fn signal(&mut self, pid: u32, signal: Signal) {
        match kill(Pid::from_raw(pid as i32), signal) {
            Ok(()) => {}
            // It exited and awaits reaping, or was reaped a moment ago.
            Err(Errno::ESRCH) => tracing::debug!(pid, ?signal, "process already gone"),
            Err(e) => tracing::warn!(pid, ?signal, error = %e, "could not signal the child"),
        }
    }

    fn kill_group(&mut self, pid: u32) {
        match killpg(Pid::from_raw(pid as i32), Signal::SIGKILL) {
            Ok(()) => {}
            Err(Errno::ESRCH) => tracing::debug!(pid, "process group already gone"),
            Err(e) => tracing::warn!(pid, error = %e, "could not kill the process group"),
        }
    }

    fn probe_upstream(&mut self, generation: u64, path: Option<&str>) {
        if let Some(p) = &self.proxy {
            p.probe(generation, path);
        }
    }

    fn route(&mut self, generation: u64) {
        if let Some(p) = &self.proxy {
            p.route(generation);
        }
    }

    fn retire(&mut self, generation: u64) {
        if let Some(p) = &self.proxy {
            p.retire(generation);
        }
    }

    fn cut(&mut self, generation: u64) {
        if let Some(p) = &self.proxy {
            p.cut(generation);
        }
    }

    fn gone(&mut self, generation: u64) {
        if let Some(p) = &mut self.proxy {
            p.gone(generation);
        }
    }

    fn front_draining(&mut self) {
        if let Some(p) = &self.proxy {
            p.front_draining();
        }
    }

    fn front_stop(&mut self) {
        if let Some(p) = &self.proxy {
            p.front_stop();
        }
    }

    fn front_force(&mut self) {
        if let Some(p) = &self.proxy {
            p.front_force();
        }
    }
}

/// Collects every process that has ended: `(pid, status)`, without blocking.
///
/// `ECHILD` (no child left) is the normal end; `EINTR` retries.
pub fn reap_all() -> Vec<(u32, ExitStatus)> {
    let _guard = lock();
    let mut reaped = Vec::new();
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => {
                reaped.push((
                    pid.as_raw() as u32,
                    ExitStatus::from_raw((code & 0xff) << 8),
                ));
            }
            Ok(WaitStatus::Signaled(pid, signal, core)) => {
                let raw = signal as i32 | if core { 0x80 } else { 0 };
                reaped.push((pid.as_raw() as u32, ExitStatus::from_raw(raw)));
            }
            Ok(WaitStatus::StillAlive) => break,
            // Stopped or continued: reported only with flags not given here.
            Ok(other) => tracing::debug!(status = ?other, "waitpid reported a state change"),
            Err(Errno::EINTR) => continue,
            Err(Errno::ECHILD) => break,
            Err(e) => {
                tracing::warn!(error = %e, "waitpid failed");
                break;
            }
        }
    }
    reaped
}

/// Makes this process the reaper of its descendants' orphans, unless it is
/// PID 1 (which is already). Returns whether it is PID 1.
pub fn become_subreaper() -> bool {
    if std::process::id() == 1 {
        return true;
    }
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes an integer and touches no memory.
    let r = unsafe { nix::libc::prctl(nix::libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    if r != 0 {
        tracing::warn!(
            error = %std::io::Error::last_os_error(),
            "cannot become a subreaper (needs Linux 3.4): orphans of the child will be reaped by PID 1 instead"
        );
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_statuses_keep_code_and_signal() {
        let s = ExitStatus::from_raw(7 << 8);
        assert_eq!(s.code(), Some(7));
        let s = ExitStatus::from_raw(Signal::SIGTERM as i32);
        assert_eq!(s.signal(), Some(15));
    }

    #[test]
    fn starts_signals_and_reaps_a_child_in_its_own_group() {
        let mut procs = RealProcesses {
            program: "sh".into(),
            args: vec!["-c".into(), "exec sleep 30".into()],
            env: std::env::vars_os().collect(),
            listeners: Vec::new(),
            notify_socket: "@changeover-test-none".into(),
            probe: Some("exit 3".into()),
            proxy: None,
        };
        let pid = procs.start_child(1).unwrap();
        let pgid = nix::unistd::getpgid(Some(Pid::from_raw(pid as i32))).unwrap();
        assert_eq!(pgid.as_raw() as u32, pid, "the child leads its own group");
        procs.signal(pid, Signal::SIGTERM);
        let probe = procs.start_probe(pid).unwrap();
        // Waited for by pid, so that no other test's child is reaped here;
        // `reap_all` is exercised by the black-box tests of `changeover run`.
        let wait = |pid: u32| waitpid(Pid::from_raw(pid as i32), None).unwrap();
        assert_eq!(
            wait(pid),
            WaitStatus::Signaled(Pid::from_raw(pid as i32), Signal::SIGTERM, false)
        );
        assert_eq!(
            wait(probe),
            WaitStatus::Exited(Pid::from_raw(probe as i32), 3)
        );
        // Signalling a reaped child is not an error worth more than a debug line.
        procs.signal(pid, Signal::SIGTERM);
    }
}
