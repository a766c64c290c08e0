//! `changeover run`, as ordered steps: everything that can fail on bad input
//! fails before a child exists; signals are handled before the first child
//! is started; then one loop runs until the last child is gone.

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use changeover::listeners::{self, Inherited, ListenEnv, ListenError, Listener};
use changeover::notify::{Notifier, NotifyAddr, NotifyReceiver};
use changeover::spawn::{PROTOCOL_VARS, SpawnError, resolve_program};
use changeover::{PidFile, STOP_DELAY_VAR, UPSTREAM_NOTIFY_VAR};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::config::{Config, ListenSpec, ReadyMode};
use crate::control::{self, BindError};
use crate::health;
use crate::machine::{Event, Machine, drive};
use crate::process::{RealProcesses, become_subreaper, reap_all};
use crate::proxy::Plane;
use crate::signals;

/// Why `changeover run` could not start its first child. Once it has, the
/// exit status is the child's.
#[derive(Debug)]
pub enum RunError {
    /// The command cannot be started (not found: 127, not executable: 126).
    Spawn(SpawnError),
    /// A `--listen` socket could not be bound or adopted.
    Listen(ListenError),
    /// The control socket could not be created.
    Control(BindError),
    /// The `--health` socket could not be bound.
    Health(ListenError),
    /// The pid file could not be written.
    PidFile(PathBuf, io::Error),
    /// The runtime, the signal handlers, the notify socket or (with
    /// `--proxy`) the upstreams' directory or the public side could not be set up.
    Setup(&'static str, io::Error),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Spawn(e) => e.fmt(f),
            RunError::Listen(e) => write!(f, "--listen: {e}"),
            RunError::Control(e) => write!(f, "--control: {e}"),
            RunError::Health(e) => write!(f, "--health: {e}"),
            RunError::PidFile(p, e) => write!(
                f,
                "--pid-file: cannot write {}: {e}; check that its directory exists and is writable",
                p.display()
            ),
            RunError::Setup(what, e) => write!(f, "cannot set up {what}: {e}"),
        }
    }
}

impl std::error::Error for RunError {}

impl RunError {
    /// The exit status for it: 127 command not found, 126 not executable, else 1.
    pub fn exit_status(&self) -> u8 {
        match self {
            RunError::Spawn(e) => e.exit_status(),
            _ => 1,
        }
    }
}

/// Runs the supervisor until its last child is gone; returns the exit status.
pub fn run(config: Config) -> Result<u8, RunError> {
    // 1. The command must exist before anything is bound: 127 or 126 at once.
    let path_var = std::env::var_os("PATH");
    resolve_program(&config.program, path_var.as_deref()).map_err(RunError::Spawn)?;
    // 2. The listening sockets, bound once for the supervisor's whole life
    //    (or adopted from systemd).
    let sockets = open_listeners(&config.listen)?;
    // 3. The control socket, mode 0600 through the umask: no thread exists yet.
    let control =
        control::bind(&config.control, config.control_dir.as_deref()).map_err(RunError::Control)?;
    let result = after_control(&config, sockets, control);
    // 13. Clean up after ourselves, whether the child ran or a later step failed.
    if let Err(e) = std::fs::remove_file(&config.control) {
        tracing::debug!(path = %config.control.display(), error = %e, "could not remove the control socket");
    }
    if let Ok(code) = &result {
        tracing::info!(status = code, "exiting");
    }
    result
}

/// Steps 4 to 12, and the pid file's removal: everything after the control socket exists.
fn after_control(
    config: &Config,
    sockets: Vec<Listener>,
    control: Listener,
) -> Result<u8, RunError> {
    // 4. The health socket.
    let health = config
        .health
        .as_ref()
        .map(|addr| listeners::bind("health", addr))
        .transpose()
        .map_err(RunError::Health)?;
    // 5. The pid file names the supervisor, whose pid never changes.
    let pid_file = config.pid_file.as_ref().map(PidFile::new);
    if let Some(pf) = &pid_file {
        pf.write(std::process::id())
            .map_err(|e| RunError::PidFile(pf.path().to_owned(), e))?;
    }
    // 6. One thread is plenty, and keeps the supervisor small; with
    //    `--proxy` every request goes through it, so it gets a thread per core.
    let runtime = match config.proxy {
        None => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        Some(_) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
    }
    .map_err(|e| RunError::Setup("the runtime", e))?;
    let result = runtime.block_on(supervise(config, sockets, control, health));
    drop(runtime);
    if let Some(pf) = &pid_file {
        if let Err(e) = pf.remove_if_ours(std::process::id()) {
            tracing::warn!(path = %pf.path().display(), error = %e, "could not remove the pid file");
        }
    }
    result
}

async fn supervise(
    config: &Config,
    sockets: Vec<Listener>,
    control: Listener,
    health: Option<Listener>,
) -> Result<u8, RunError> {
    let (events, queue) = mpsc::unbounded_channel::<Event>();
    // 7. Every signal becomes an event, from before the first child exists.
    signals::listen(config.reload_signal, events.clone())
        .map_err(|e| RunError::Setup("signal handlers", e))?;
    // 8. Orphans of the children are ours to reap.
    let is_pid_1 = become_subreaper();
    // 9. The children report readiness here.
    let notify =
        NotifyReceiver::bind_unique("run").map_err(|e| RunError::Setup("the notify socket", e))?;
    let notify_socket = notify.addr().to_env_value();
    tokio::spawn(receive_notifications(notify, events.clone()));
    // 10. The first child.
    let probe = match &config.timing.ready {
        ReadyMode::Exec(cmd) => Some(cmd.clone()),
        _ => None,
    };
    let names: Vec<String> = sockets.iter().map(|l| l.name().to_owned()).collect();
    // With `--proxy` the public sockets are served here and no child gets
    // them; each child gets a private upstream of its own instead.
    let (listeners, proxy) = match &config.proxy {
        None => (owned_fds(sockets)?, None),
        Some(options) => {
            let plane = Plane::new(options, config.timing.drain_timeout, events.clone())
                .map_err(|e| RunError::Setup("the directory of the upstream sockets", e))?;
            plane
                .serve_front(sockets)
                .map_err(|e| RunError::Setup("the public sockets", e))?;
            tracing::info!(upstream = %options.upstream, "proxy: serving the public sockets; each child gets a private upstream");
            (Vec::new(), Some(plane))
        }
    };
    let metrics_proxy = proxy.as_ref().map(|p| p.proxy().clone());
    let processes = RealProcesses {
        program: config.program.clone(),
        args: config.args.clone(),
        env: child_env(),
        listeners,
        notify_socket,
        probe,
        proxy,
    };
    let (mut machine, snapshots) = Machine::new(
        config.timing.clone(),
        processes,
        service_manager(),
        Instant::now(),
    );
    tracing::info!(
        pid = std::process::id(),
        pid1 = is_pid_1,
        sockets = ?names,
        control = %config.control.display(),
        "supervising {}",
        config.program.to_string_lossy()
    );
    machine.start(Instant::now()).map_err(RunError::Spawn)?;
    // 11. The control and health servers.
    let control = control
        .into_tokio()
        .map_err(|e| RunError::Setup("the control socket", e))?;
    tokio::spawn(control::serve(control, events.clone()));
    if let Some(listener) = health {
        let addr = listener.local_addr().clone();
        let listener = listener
            .into_tokio()
            .map_err(|e| RunError::Setup("the health socket", e))?;
        tracing::info!(%addr, "serving /livez, /readyz and /metrics");
        tokio::spawn(health::serve(listener, snapshots, metrics_proxy));
    }
    // Anything that ended before the first SIGCHLD was watched for.
    for (pid, status) in reap_all() {
        if events.send(Event::Exited { pid, status }).is_err() {
            break;
        }
    }
    // 12. The loop: take one event, act, until the last child is gone.
    Ok(drive(machine, queue).await)
}

/// The sockets as the children get them: by name, each an fd.
fn owned_fds(sockets: Vec<Listener>) -> Result<Vec<(String, OwnedFd)>, RunError> {
    sockets
        .into_iter()
        .map(|l| Ok((l.name().to_owned(), l.copy_fd().map_err(RunError::Listen)?)))
        .collect()
}

/// Binds (or adopts from `LISTEN_FDS`) every socket, in order; sockets
/// systemd passed that no `--listen` names are passed on under their own names.
fn open_listeners(specs: &[ListenSpec]) -> Result<Vec<Listener>, RunError> {
    let env = ListenEnv::from_process();
    let announced = env.parse(std::process::id()).map_err(RunError::Listen)?;
    let mut inherited = Inherited::adopt(&env).map_err(RunError::Listen)?;
    let mut out: Vec<Listener> = Vec::new();
    let mut keep = |_name: &str, l: Listener| -> Result<(), RunError> {
        out.push(l);
        Ok(())
    };
    for spec in specs {
        let l = match inherited.take(&spec.name) {
            Some(l) => {
                tracing::info!(name = %spec.name, addr = %l.local_addr(), "adopted a socket passed by the service manager");
                l
            }
            None => {
                let l = listeners::bind(&spec.name, &spec.addr).map_err(RunError::Listen)?;
                tracing::info!(name = %spec.name, addr = %l.local_addr(), "listening");
                l
            }
        };
        keep(&spec.name, l)?;
    }
    for (_, name) in announced {
        if specs.iter().any(|s| s.name == name) {
            continue;
        }
        if let Some(l) = inherited.take(&name) {
            tracing::info!(name = %name, addr = %l.local_addr(), "adopted a socket passed by the service manager");
            keep(&name, l)?;
        }
    }
    Ok(out)
}

/// The children's environment: the supervisor's, less what belongs to the
/// supervisor's own parent, with the stop delay left to the supervisor.
fn child_env() -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(k, _)| {
            !PROTOCOL_VARS.iter().any(|p| k == p) && k != UPSTREAM_NOTIFY_VAR && k != STOP_DELAY_VAR
        })
        .collect();
    // The supervisor runs the stop delay; a changeover child must not add its own.
    env.push((STOP_DELAY_VAR.into(), "0s".into()));
    env
}

/// The supervisor's own `NOTIFY_SOCKET`: its service manager's (systemd's), if it has one.
fn service_manager() -> Option<Notifier> {
    let value = std::env::var_os("NOTIFY_SOCKET").filter(|v| !v.is_empty())?;
    match NotifyAddr::parse(&value) {
        Ok(addr) => Some(Notifier::new(addr)),
        Err(e) => {
            tracing::warn!("{e}");
            None
        }
    }
}

async fn receive_notifications(receiver: NotifyReceiver, events: mpsc::UnboundedSender<Event>) {
    loop {
        match receiver.recv().await {
            Ok(report) => {
                // A READY=1 can come from a child that died right after sending it (or while
                // the supervisor was stopped): its exit, if it has happened, is known first,
                // so that the reload rolls back instead of handing over to nobody.
                if report.as_ref().is_ok_and(|r| r.is_ready()) {
                    for (pid, status) in reap_all() {
                        if events.send(Event::Exited { pid, status }).is_err() {
                            return;
                        }
                    }
                }
                if events.send(Event::Notify(report)).is_err() {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "notify socket receive failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}
