//! The pods as processes: the model's [`Action`]s carried out, and what happens reported back
//! as [`Input`]s on a channel.
//!
//! Each pod gets its own temporary directory as working directory and `XDG_RUNTIME_DIR` (a
//! container has its own filesystem, so a `changeover run` in one pod has a control socket of
//! its own), its own loopback address, and an environment like a container's: `POD_NAME`,
//! `POD_IP`, `POD_NAMESPACE`, `PORT`, the manifest's literal `env`, and
//! `KUBERNETES_SERVICE_HOST`/`PORT` as every pod has them (so changeover's library and
//! supervisor take their Kubernetes defaults). `{addr}` in COMMAND becomes `POD_IP:PORT`, `{ip}`
//! `POD_IP` and `{port}` `PORT`. The
//! directory of the running `changeover` comes first in `PATH`, so a hook that says
//! `changeover prestop` finds it. Output goes to `output.log` in the pod's directory.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

use super::checks::http_get;
use super::network::Network;
use super::process::{self, Handle};
use crate::model::{Action, Exit, Input, PodId, ProbeKind};
use crate::spec::{Hook, Probe, ProbeAction, SimSpec};

/// What the world reports: an input for the model, or that a pod accepts connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// For the model.
    Input(Input),
    /// The pod's process accepts connections on its address (checked for the first pods).
    Listening(PodId),
}

/// Variables of the parent that must not leak into a pod: the protocols' (each pod gets its
/// own, or none), and changeover's own settings.
const DROPPED_VARS: &[&str] = &[
    "LISTEN_FDS",
    "LISTEN_PID",
    "LISTEN_FDNAMES",
    "NOTIFY_SOCKET",
    "XDG_RUNTIME_DIR",
    "CHANGEOVER_STOP_DELAY",
];

struct PodWorld {
    addr: SocketAddr,
    dir: tempfile::TempDir,
    log: File,
    env: Vec<(OsString, OsString)>,
    process: Option<(u32, Handle)>,
    hooks: Vec<Handle>,
}

/// Every pod's processes.
pub struct World {
    spec: Arc<SimSpec>,
    command: Vec<String>,
    network: Network,
    base_env: Vec<(OsString, OsString)>,
    pods: HashMap<PodId, PodWorld>,
    tx: UnboundedSender<Report>,
    tasks: Vec<JoinHandle<()>>,
    watch_listening: Option<Duration>,
}

impl World {
    /// A world for `spec` whose pods run `command`, on `network`, reporting on `tx`.
    pub fn new(
        spec: Arc<SimSpec>,
        command: Vec<String>,
        network: Network,
        tx: UnboundedSender<Report>,
        listen_deadline: Duration,
    ) -> World {
        let mut base_env: Vec<(OsString, OsString)> = std::env::vars_os()
            .filter(|(k, _)| !DROPPED_VARS.iter().any(|d| k == d))
            .collect();
        if let Some(dir) = std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(Path::to_path_buf))
        {
            let path = base_env
                .iter()
                .find(|(k, _)| k == "PATH")
                .map(|(_, v)| v.clone());
            let mut dirs = vec![dir];
            if let Some(p) = path {
                dirs.extend(std::env::split_paths(&p));
            }
            if let Ok(joined) = std::env::join_paths(dirs) {
                base_env.retain(|(k, _)| k != "PATH");
                base_env.push(("PATH".into(), joined));
            }
        }
        World {
            spec,
            command,
            network,
            base_env,
            pods: HashMap::new(),
            tx,
            tasks: Vec::new(),
            watch_listening: Some(listen_deadline),
        }
    }

    /// The address of a pod.
    pub fn addr(&self, ordinal: u32) -> Option<SocketAddr> {
        self.network.pod_addr(ordinal)
    }

    /// Stops reporting when pods start listening (the first pods are up).
    pub fn stop_watching_listening(&mut self) {
        self.watch_listening = None;
    }

    /// The last lines of a pod's output, for an error message.
    pub fn output_tail(&self, pod: PodId, lines: usize) -> String {
        let Some(p) = self.pods.get(&pod) else {
            return String::new();
        };
        let text = std::fs::read_to_string(p.dir.path().join("output.log")).unwrap_or_default();
        let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Carries out one action of the model (not [`Action::View`], which is the proxy's).
    pub fn act(&mut self, action: &Action, name: &str, ordinal: u32) {
        match *action {
            Action::Start { pod, incarnation } => self.start(pod, incarnation, name, ordinal),
            Action::Probe {
                pod,
                incarnation,
                kind,
            } => self.probe(pod, incarnation, kind),
            Action::Hook { pod, incarnation } => self.hook(pod, incarnation),
            Action::Signal {
                pod,
                incarnation,
                signal,
            } => {
                if let Some((_, h)) = self.current(pod, incarnation) {
                    h.signal(signal);
                }
            }
            Action::Kill { pod, incarnation } => {
                if let Some((_, h)) = self.current(pod, incarnation) {
                    h.kill_session();
                }
                if let Some(p) = self.pods.get(&pod) {
                    p.hooks.iter().for_each(Handle::kill_session);
                }
            }
            Action::View { .. } => {}
        }
    }

    fn current(&self, pod: PodId, incarnation: u32) -> Option<&(u32, Handle)> {
        self.pods
            .get(&pod)?
            .process
            .as_ref()
            .filter(|(i, _)| *i == incarnation)
    }

    fn send(&self, input: Input) {
        // The receiver is gone only when the run is over; nothing is left to tell.
        let _ignored = self.tx.send(Report::Input(input));
    }

    fn start(&mut self, pod: PodId, incarnation: u32, name: &str, ordinal: u32) {
        let failed = |w: &World, error: String| {
            w.send(Input::StartFailed {
                pod,
                incarnation,
                error,
            })
        };
        if !self.pods.contains_key(&pod) {
            match self.prepare(name, ordinal) {
                Ok(p) => {
                    self.pods.insert(pod, p);
                }
                Err(e) => return failed(self, e),
            }
        }
        let p = &self.pods[&pod];
        let words = substitute(&self.command, p.addr);
        let spawned = process::spawn(&process::Command {
            program: &words[0],
            args: &words[1..],
            env: &p.env,
            dir: p.dir.path(),
            log: Some(&p.log),
        });
        let (handle, exited) = match spawned {
            Ok(s) => s,
            Err(e) => return failed(self, e.0),
        };
        // Started goes out before the exit can: a COMMAND that exits at once still starts.
        self.send(Input::Started { pod, incarnation });
        let tx = self.tx.clone();
        self.tasks.push(tokio::spawn(async move {
            let exit = exited.await;
            let _ignored = tx.send(Report::Input(Input::Exited {
                pod,
                incarnation,
                exit,
            }));
        }));
        if let Some(deadline) = self.watch_listening {
            let tx = self.tx.clone();
            let target = p.addr;
            self.tasks.push(tokio::spawn(async move {
                // Nothing announces that a server listens: try to connect, again every 10 ms
                // while it is refused, until the setup deadline.
                let tries = async {
                    while tokio::net::TcpStream::connect(target).await.is_err() {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                };
                if tokio::time::timeout(deadline, tries).await.is_ok() {
                    let _ignored = tx.send(Report::Listening(pod));
                }
            }));
        }
        self.pods.get_mut(&pod).expect("prepared above").process = Some((incarnation, handle));
    }

    /// The pod's process has exited: its hooks die with the container.
    pub fn exited(&mut self, pod: PodId) {
        if let Some(p) = self.pods.get_mut(&pod) {
            p.hooks.drain(..).for_each(|h| h.kill_session());
        }
    }

    fn prepare(&self, name: &str, ordinal: u32) -> Result<PodWorld, String> {
        let addr = self.network.pod_addr(ordinal).ok_or_else(|| {
            format!(
                "pod {name} would be pod number {ordinal}, beyond the {} addresses of {}",
                super::network::MAX_PODS,
                self.network.describe()
            )
        })?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("changeover-sim-{name}-"))
            .tempdir()
            .map_err(|e| format!("cannot create the directory of pod {name}: {e}"))?;
        let log = File::options()
            .create(true)
            .append(true)
            .open(dir.path().join("output.log"))
            .map_err(|e| format!("cannot create the log of pod {name}: {e}"))?;
        let mut env = self.base_env.clone();
        let ip = addr.ip().to_string();
        let own: Vec<(String, String)> = vec![
            ("POD_NAME".into(), name.into()),
            ("POD_IP".into(), ip),
            ("POD_NAMESPACE".into(), namespace(&self.spec.workload)),
            ("PORT".into(), self.spec.pod.port.to_string()),
            ("XDG_RUNTIME_DIR".into(), dir.path().display().to_string()),
            ("KUBERNETES_SERVICE_HOST".into(), "10.96.0.1".into()),
            ("KUBERNETES_SERVICE_PORT".into(), "443".into()),
        ];
        for (k, v) in self.spec.pod.env.iter().cloned().chain(own) {
            env.retain(|(ek, _)| ek.as_os_str() != k.as_str());
            env.push((k.into(), v.into()));
        }
        Ok(PodWorld {
            addr,
            dir,
            log,
            env,
            process: None,
            hooks: Vec::new(),
        })
    }

    fn probe(&mut self, pod: PodId, incarnation: u32, kind: ProbeKind) {
        let probe: Option<&Probe> = match kind {
            ProbeKind::Startup => self.spec.pod.startup.as_ref(),
            ProbeKind::Readiness => self.spec.pod.readiness.as_ref(),
            ProbeKind::Liveness => self.spec.pod.liveness.as_ref(),
        };
        let (Some(probe), Some(p)) = (probe.cloned(), self.pods.get(&pod)) else {
            return;
        };
        let timeout = Duration::from_millis(probe.timing.timeout_ms);
        let ip = p.addr.ip();
        let tx = self.tx.clone();
        let exec = match &probe.action {
            ProbeAction::Exec { command } => Some(self.exec(pod, command)),
            _ => None,
        };
        self.tasks.push(tokio::spawn(async move {
            let (ok, detail) = match (&probe.action, exec) {
                (ProbeAction::HttpGet { path, port }, _) => {
                    http_get(SocketAddr::new(ip, *port), path, timeout, true).await
                }
                (ProbeAction::TcpSocket { port }, _) => {
                    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect((ip, *port)))
                        .await
                    {
                        Ok(Ok(_)) => (true, "connected".into()),
                        Ok(Err(e)) => (false, format!("connect: {e}")),
                        Err(_) => (false, format!("no connection within {timeout:?}")),
                    }
                }
                (ProbeAction::Exec { .. }, Some(Ok((handle, exited)))) => {
                    match tokio::time::timeout(timeout, exited).await {
                        Ok(Exit::Code(0)) => (true, "exit status 0".into()),
                        Ok(exit) => (false, exit.to_string()),
                        Err(_) => {
                            handle.kill_session();
                            (false, format!("timed out after {timeout:?}"))
                        }
                    }
                }
                (ProbeAction::Exec { .. }, Some(Err(e))) => (false, e),
                (ProbeAction::Exec { .. }, None) => (false, "not started".into()),
            };
            let _ignored = tx.send(Report::Input(Input::Probed {
                pod,
                incarnation,
                kind,
                ok,
                detail,
            }));
        }));
    }

    /// Starts `command` in the pod's environment and directory (exec probes and hooks).
    #[allow(clippy::type_complexity)]
    fn exec(
        &self,
        pod: PodId,
        command: &[String],
    ) -> Result<(Handle, std::pin::Pin<Box<dyn Future<Output = Exit> + Send>>), String> {
        let p = &self.pods[&pod];
        // An absolute path into the image (/usr/local/bin/changeover) is not on this machine:
        // the program of that name in PATH stands in for it, as COMMAND stands in for the image.
        let program = match Path::new(&command[0]) {
            path if path.is_absolute() && !path.exists() => path
                .file_name()
                .and_then(|name| {
                    let path_var = p
                        .env
                        .iter()
                        .find(|(k, _)| k == "PATH")
                        .map(|(_, v)| v.as_os_str());
                    changeover::spawn::resolve_program(name, path_var).ok()
                })
                .map_or_else(|| command[0].clone(), |found| found.display().to_string()),
            _ => command[0].clone(),
        };
        process::spawn(&process::Command {
            program: &program,
            args: &command[1..],
            env: &p.env,
            dir: p.dir.path(),
            log: Some(&p.log),
        })
        .map(|(h, f)| (h, Box::pin(f) as _))
        .map_err(|e| e.0)
    }

    fn hook(&mut self, pod: PodId, incarnation: u32) {
        let Some(hook) = self.spec.pod.pre_stop.clone() else {
            return;
        };
        let Some(p) = self.pods.get(&pod) else {
            return;
        };
        let ip = p.addr.ip();
        let budget =
            Duration::from_secs(u64::try_from(self.spec.pod.grace_seconds.max(1)).unwrap_or(1));
        let tx = self.tx.clone();
        let done = move |ok, detail| {
            let _ignored = tx.send(Report::Input(Input::HookDone {
                pod,
                incarnation,
                ok,
                detail,
            }));
        };
        match hook {
            Hook::Sleep { .. } => {}
            Hook::Exec { command } => match self.exec(pod, &command) {
                Ok((handle, exited)) => {
                    if let Some(p) = self.pods.get_mut(&pod) {
                        p.hooks.push(handle);
                    }
                    self.tasks.push(tokio::spawn(async move {
                        // Not killed when the grace budget runs out (the kubelet does not);
                        // the container's end kills it.
                        match exited.await {
                            Exit::Code(0) => done(true, "exit status 0".into()),
                            exit => done(false, format!("`{}`: {exit}", command.join(" "))),
                        }
                    }));
                }
                Err(e) => done(false, e),
            },
            Hook::HttpGet { path, port } => {
                self.tasks.push(tokio::spawn(async move {
                    let (ok, detail) =
                        http_get(SocketAddr::new(ip, port), &path, budget, false).await;
                    done(ok, detail);
                }));
            }
        }
    }

    /// SIGKILLs every process of every pod, then waits (at most `within`) for them to be
    /// reaped.
    pub async fn shutdown(&mut self, within: Duration) {
        self.kill_all();
        let tasks = std::mem::take(&mut self.tasks);
        let all = async {
            for t in tasks {
                let _joined = t.await;
            }
        };
        if tokio::time::timeout(within, all).await.is_err() {
            eprintln!(
                "changeover sim: warning: some pod processes were not reaped within {within:?}"
            );
        }
    }

    fn kill_all(&self) {
        for p in self.pods.values() {
            if let Some((_, h)) = &p.process {
                h.kill_session();
            }
            p.hooks.iter().for_each(Handle::kill_session);
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // An interrupted run still leaves no pod behind.
        self.kill_all();
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// COMMAND with `{addr}` (`POD_IP:PORT`), `{ip}` and `{port}` replaced.
pub fn substitute(command: &[String], addr: SocketAddr) -> Vec<String> {
    let (a, ip, port) = (
        addr.to_string(),
        addr.ip().to_string(),
        addr.port().to_string(),
    );
    command
        .iter()
        .map(|w| {
            w.replace("{addr}", &a)
                .replace("{ip}", &ip)
                .replace("{port}", &port)
        })
        .collect()
}

fn namespace(workload: &str) -> String {
    workload.split('/').nth(1).unwrap_or("default").to_string()
}
