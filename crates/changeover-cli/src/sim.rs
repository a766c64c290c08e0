//! `changeover sim`: rehearse a Kubernetes rollout, drain or delete of a manifest with a real
//! server under real load, and count every failed request.
//!
//! Thin: this module reads the manifests, checks the flags (each bad one is one line naming
//! the input, the problem and the fix), hands a [`Plan`] to `changeover_sim::run`, prints the
//! report (text, or one JSON object), writes the SVG timeline, and maps the outcome to an exit
//! status: 0 nothing failed, 1 requests failed (or the scenario did not complete), 2 bad usage
//! or a COMMAND that cannot serve.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use changeover::parse_duration;
use changeover_sim::model::Scenario;
use changeover_sim::run::{Plan, RunError, run};
use changeover_sim::spec::{Input, read};

/// Manifests larger than this are refused rather than read into memory.
const MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;
/// The most load connections.
const MAX_CONNECTIONS: usize = 10_000;

/// Options of `changeover sim`.
#[derive(clap::Args, Debug)]
#[command(
    about = "Rehearse a Kubernetes rollout, drain or delete with your server as the pods, under load, and count every failed request",
    after_help = "The manifest's Deployment (and its Service, PodDisruptionBudget and autoscaler) is read as `changeover lint` reads it. COMMAND stands in for the container: one process per pod, each on its own loopback address (127.0.K.1, .2, …, all on the port the Service targets), in a temporary directory of its own that is also its XDG_RUNTIME_DIR, with POD_NAME, POD_IP, POD_NAMESPACE, PORT and KUBERNETES_SERVICE_HOST set, and `{addr}` in its arguments replaced by POD_IP:PORT (`{ip}` and `{port}` by each alone). A relative program path is taken from the current directory, but paths in the arguments must be absolute (the pod runs in its own directory); the manifest's own command and image are not used, and an exec hook naming a program of the image that is not on this machine (/usr/local/bin/changeover) runs the one of that name in PATH, where this changeover comes first.

The simulated kubelet runs the container's preStop hook (sleep; exec, in the pod's environment; httpGet, status ignored) within the grace period, then sends the stop signal (lifecycle.stopSignal, else SIGTERM), and SIGKILL when the grace period is used up (at least 2 s after the hook); readiness, liveness and startup probes run with their delays, periods and thresholds. The EndpointSlice marks a deleted pod terminating at once and drops it when its process has exited; each consumer (--propagation) sees every change after its own lag. The load goes to a local Service address that routes each new connection like kube-proxy (uniformly among ready endpoints, else serving-and-terminating ones) through the slowest consumer's view; an open connection stays with its pod. The Deployment controller (maxSurge, maxUnavailable, Recreate), the ReplicaSets' scale-down order, and the Eviction API with the budget (refusals retried every 5 s, as kubectl drain does) follow Kubernetes' rules.

Scenarios: rollout (a new ReplicaSet, same COMMAND), drain (every pod evicted through the budget), delete (one pod), delete-all (every pod at once: neither a budget nor a rolling update prevents it).

Every failure is put down to a pod and a cause, with the fix: refused (it stopped accepting before the consumers stopped routing to it), reset or closed (it closed a connection a request was in), cut (SIGKILL), no_endpoint (nothing to route to), timeout, bad_status. The report also says the fewest pods available during the scenario; --json prints one object (scenario, replicas, requests, ok, failed, failures, causes, events, timeline, ...); --timeline writes an SVG picture.

Durations read like 500ms, 5s, 1m. --seed fixes every random choice (endpoint picks, lags, which pod delete picks); only the processes' own timing varies.

Exit status: 0 no request failed, 1 requests failed or the scenario did not complete, 2 bad usage, an unreadable manifest, or a COMMAND that exits at once or never listens.

Examples (from the repository, after `cargo build --release -p changeover-cli` and `cargo build --release -p changeover-tests --examples`):
  changeover sim deploy/kubernetes.yaml --scenario delete -- target/release/changeover run --listen '{addr}' --health '{ip}:9090' --stop-delay 5s -- $PWD/target/release/examples/hello
  changeover sim web.yaml --scenario drain --propagation ingress=3s --timeline drain.svg -- ./server --port {port}"
)]
pub(crate) struct Args {
    /// Manifests: files, directories (searched for *.yaml, *.yml, *.json), or - for standard input.
    #[arg(value_name = "MANIFEST")]
    manifests: Vec<PathBuf>,

    /// The workload to rehearse, when the manifests hold several: KIND/NAME or KIND/NAMESPACE/NAME.
    #[arg(long, value_name = "KIND/NAME")]
    workload: Option<String>,

    /// What to rehearse.
    #[arg(long, value_enum, default_value_t = ScenarioArg::Rollout)]
    scenario: ScenarioArg,

    /// A consumer of endpoint changes and its lag, fixed or a uniform range; repeatable
    /// [default: kube-proxy=0..1s]. The load goes through the slowest one's view.
    #[arg(long, value_name = "CONSUMER=DURATION[..DURATION]")]
    propagation: Vec<String>,

    /// Fixes every random choice [default: a fresh one, printed in the report].
    #[arg(long, value_name = "N")]
    seed: Option<u64>,

    /// Load connections [default: 8].
    #[arg(
        short = 'c',
        long,
        value_name = "CONNECTIONS",
        allow_hyphen_values = true
    )]
    connections: Option<String>,

    /// One request per connection instead of keep-alive.
    #[arg(long)]
    no_keepalive: bool,

    /// Requests per second in all (open loop) [default: as fast as answers come].
    #[arg(long, value_name = "RPS", allow_hyphen_values = true)]
    rate: Option<String>,

    /// The path the load requests.
    #[arg(long, value_name = "PATH", default_value = "/")]
    path: String,

    /// Per-request timeout [default: 5s].
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    timeout: Option<String>,

    /// Rehearse with this many replicas instead of the manifest's.
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    replicas: Option<String>,

    /// How long the first pods get to listen and be ready [default: 30s].
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    ready_timeout: Option<String>,

    /// How long the scenario may take before it counts as stuck [default: 5m].
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    deadline: Option<String>,

    /// Model a kubelet from 1.22 until kubernetes#115835, which gave the container the whole
    /// grace period again after the preStop hook.
    #[arg(long)]
    legacy_kubelet: bool,

    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,

    /// Also draw the timeline as an SVG picture into this file.
    #[arg(long, value_name = "FILE.svg")]
    timeline: Option<PathBuf>,

    /// The command each pod runs, after `--`.
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ScenarioArg {
    /// A rolling update (or Recreate) to a new ReplicaSet.
    Rollout,
    /// Every pod evicted through the PodDisruptionBudget, as `kubectl drain` does.
    Drain,
    /// One pod deleted.
    Delete,
    /// Every pod deleted at once.
    DeleteAll,
}

/// Runs `changeover sim`.
pub(crate) fn main(args: Args) -> ExitCode {
    let json = args.json;
    let timeline = args.timeline.clone();
    let plan = match plan(args) {
        Ok(p) => p,
        Err(e) => return crate::usage_error("sim", e),
    };
    let runtime = match crate::runtime("sim") {
        Ok(rt) => rt,
        Err(status) => return status,
    };
    let outcome = runtime.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            return Err("cannot handle SIGINT, SIGTERM and SIGHUP, and would leave pods behind when stopped");
        };
        Ok(tokio::select! {
            r = run(plan, |line| eprintln!("changeover sim: {line}")) => Some(r),
            _ = int.recv() => None,
            _ = term.recv() => None,
            _ = hup.recv() => None,
        })
    });
    let report = match outcome {
        Err(e) => {
            eprintln!("changeover sim: {e}");
            return ExitCode::from(1);
        }
        // Dropping the run killed every pod.
        Ok(None) => {
            eprintln!("changeover sim: interrupted; every pod was killed");
            return ExitCode::from(130);
        }
        Ok(Some(Err(e))) => {
            eprintln!("changeover sim: {e}");
            return ExitCode::from(match e {
                RunError::Setup(_) => 1,
                _ => 2,
            });
        }
        Ok(Some(Ok(r))) => r,
    };
    let out = if json {
        report.json() + "\n"
    } else {
        report.text()
    };
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
    {
        eprintln!("changeover sim: cannot write the report: {e}");
        return ExitCode::from(1);
    }
    if let Some(path) = timeline {
        if let Err(e) = std::fs::write(&path, changeover_sim::svg::render(&report)) {
            eprintln!(
                "changeover sim: --timeline {}: cannot write it: {e}",
                path.display()
            );
            return ExitCode::from(2);
        }
    }
    if report.failed > 0 || !report.completed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn plan(args: Args) -> Result<Plan, String> {
    if args.command.is_empty() {
        return Err("no COMMAND: after --, give the command each pod runs, e.g. `changeover sim web.yaml -- ./server --listen '{addr}'`".into());
    }
    if args.manifests.is_empty() {
        return Err("no manifest: give the manifest files or directories (or - for standard input) before --, e.g. `changeover sim deploy/ -- ./server --listen '{addr}'`".into());
    }
    if let Some(t) = &args.timeline {
        let dir = t
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !dir.is_dir() {
            return Err(format!(
                "--timeline {}: the directory {} does not exist; name a file in an existing directory",
                t.display(),
                dir.display()
            ));
        }
    }
    let inputs = read_manifests(&args.manifests)?;
    let replicas = match &args.replicas {
        None => None,
        Some(r) => Some(r.trim().parse::<i64>().ok().filter(|n| *n >= 1).ok_or_else(|| {
            format!("--replicas {r:?}: it must be a whole number of at least 1, e.g. --replicas 3")
        })?),
    };
    let spec = read(&inputs, args.workload.as_deref(), replicas).map_err(|e| e.to_string())?;
    let scenario = match args.scenario {
        ScenarioArg::Rollout => Scenario::Rollout,
        ScenarioArg::Drain => Scenario::Drain,
        ScenarioArg::Delete => Scenario::Delete,
        ScenarioArg::DeleteAll => Scenario::DeleteAll,
    };
    let mut plan = Plan::new(Arc::new(spec), scenario, args.command);
    plan.consumers = changeover_sim::flags::consumers(&args.propagation)?;
    plan.seed = args.seed.unwrap_or_else(fresh_seed);
    plan.legacy_grace = args.legacy_kubelet;
    plan.keep_alive = !args.no_keepalive;
    plan.path = args.path;
    if !plan.path.starts_with('/') || plan.path.bytes().any(|b| b <= b' ') {
        return Err(format!(
            "--path {:?}: it must start with / and hold no spaces, e.g. --path /healthz",
            plan.path
        ));
    }
    if let Some(c) = &args.connections {
        plan.connections = c
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_CONNECTIONS).contains(n))
            .ok_or_else(|| format!("-c {c:?}: the number of connections must be a whole number from 1 to {MAX_CONNECTIONS}; e.g. -c 8"))?;
    }
    if let Some(r) = &args.rate {
        plan.rate = Some(
            r.trim()
                .parse::<f64>()
                .ok()
                .filter(|r| r.is_finite() && *r > 0.0)
                .ok_or_else(|| format!("--rate {r:?}: it must be a positive number of requests per second, e.g. --rate 500"))?,
        );
    }
    if let Some(d) = duration("--timeout", args.timeout.as_deref())? {
        plan.timeout = d;
    }
    if let Some(d) = duration("--ready-timeout", args.ready_timeout.as_deref())? {
        plan.ready_timeout = d;
    }
    if let Some(d) = duration("--deadline", args.deadline.as_deref())? {
        plan.deadline = d;
    }
    Ok(plan)
}

fn duration(flag: &str, value: Option<&str>) -> Result<Option<Duration>, String> {
    let Some(v) = value else { return Ok(None) };
    let d = parse_duration(v).map_err(|e| format!("{flag}: {e}"))?;
    if d.is_zero() || d > Duration::from_secs(3600) {
        return Err(format!(
            "{flag} {v:?}: it must be above zero and at most 1h, e.g. {flag} 30s"
        ));
    }
    Ok(Some(d))
}

/// A seed from the clock and the pid, so that runs differ unless --seed says otherwise.
fn fresh_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    (nanos ^ (u64::from(std::process::id()) << 32)) % 1_000_000
}

/// Reads files, directories (recursively, *.yaml, *.yml, *.json, sorted) and `-`.
fn read_manifests(paths: &[PathBuf]) -> Result<Vec<Input>, String> {
    let mut inputs = Vec::new();
    let mut stdin_read = false;
    for path in paths {
        if path.as_os_str() == "-" {
            if !stdin_read {
                stdin_read = true;
                let mut bytes = Vec::new();
                std::io::stdin()
                    .take(MAX_INPUT_BYTES + 1)
                    .read_to_end(&mut bytes)
                    .map_err(|e| format!("standard input: cannot read it: {e}"))?;
                too_big(&bytes, "<stdin>")?;
                inputs.push(Input {
                    name: "<stdin>".into(),
                    bytes,
                });
            }
            continue;
        }
        let mut files = Vec::new();
        collect(path, &mut files)?;
        if files.is_empty() && path.is_dir() {
            return Err(format!(
                "{}: the directory holds no *.yaml, *.yml or *.json file; name the manifest",
                path.display()
            ));
        }
        for f in files {
            let name = f.display().to_string();
            let file = std::fs::File::open(&f).map_err(|e| {
                format!("{name}: cannot read it: {e}; check the path and its permissions")
            })?;
            let mut bytes = Vec::new();
            file.take(MAX_INPUT_BYTES + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| format!("{name}: cannot read it: {e}"))?;
            too_big(&bytes, &name)?;
            inputs.push(Input { name, bytes });
        }
    }
    Ok(inputs)
}

fn too_big(bytes: &[u8], name: &str) -> Result<(), String> {
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(format!(
            "{name}: larger than {} MiB; pass the manifest itself",
            MAX_INPUT_BYTES >> 20
        ));
    }
    Ok(())
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| {
        format!(
            "{}: cannot read it: {e}; check the path and its permissions",
            path.display()
        )
    })?;
    if !meta.is_dir() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| format!("{}: cannot list it: {e}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for e in entries {
        if e.is_dir() {
            collect(&e, out)?;
        } else if e
            .extension()
            .and_then(|x| x.to_str())
            .is_some_and(|x| ["yaml", "yml", "json"].contains(&x))
        {
            out.push(e);
        }
    }
    Ok(())
}
