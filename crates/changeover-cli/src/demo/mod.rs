//! `changeover demo`: restart a server many ways under load and count what failed.
//!
//! The scenarios themselves (start a server, wait for `READY=1`, drive load, restart it, collect
//! the figures) are the `changeover-scenario` crate's; this module parses the flags, prints
//! progress and the table, and maps the outcome to an exit status. The demo server is this same
//! binary (`changeover demo-server`, in `server.rs`), so the demo runs from a fresh clone with
//! nothing else built.
//!
//! The table shows changeover's own scenarios (self-upgrade, supervisor reload, the reload
//! with `--proxy` of a child that closes idle keep-alive connections on SIGTERM, Kubernetes
//! stop, and a Kubernetes delete rehearsed by `changeover sim`, in `sim.rs`) first, and apart,
//! below them, the contrasts: the same idle-closing child reloaded without `--proxy`, the same
//! simulated delete with no stop delay (with the simulator's attribution of its failures), and
//! with `--naive` the stop-and-start. Their failures are expected and do not count in the exit
//! status.

mod server;
mod sim;
mod table;

use std::process::ExitCode;
use std::time::Duration;

use changeover::parse_duration;
use changeover_scenario::{
    ENDPOINT_LAG, KUBERNETES_STOP_DELAY, Outcome, Progress, Scenario, ScenarioError, ServerCommand,
    Setup,
};

pub(crate) use server::{Args as ServerArgs, main as server_main};
use table::{Child, Results, Row};

/// Options of `changeover demo`.
#[derive(clap::Args, Debug)]
#[command(
    about = "Restart a demo server many ways under load and count failed requests",
    after_help = "Runs self-upgrades (SIGHUP), supervisor reloads (changeover run + changeover reload), reloads of a child that closes idle keep-alive connections on SIGTERM (as most servers do) with and without --proxy, and a Kubernetes-style stop with a stop delay, each under keep-alive load, and prints what failed. Then `changeover sim` rehearses a Kubernetes delete of one pod of a built-in 3-replica Deployment whose pods are the demo server, with kube-proxy 1s behind and one request per connection, 1000 a second: with a 2s stop delay, and at the same time with none, whose failures the simulator puts down to the pod and the cause, with the fix (see `changeover sim --help`). The idle-closing child without --proxy and the delete with no stop delay are shown apart below, for comparison; with --naive, so is a plain stop-and-start. Exit status 0 when changeover's own scenarios failed no request, 1 when they failed some (the comparisons do not count), 2 when the demo could not run."
)]
pub(crate) struct Args {
    /// Restarts per scenario.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    restarts: u32,
    /// Concurrent keep-alive connections of the load (in the simulated delete, concurrent
    /// requests, each on a new connection).
    #[arg(short = 'c', long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    connections: u32,
    /// How long the undisturbed load runs before each scenario's restarts, to measure the
    /// steady p99 (durations like 500ms, 2s); a quarter of it, at most 500ms, before and after
    /// the simulated delete.
    #[arg(long, default_value = "2s", value_parser = steady_duration)]
    steady: Duration,
    /// Also run the restarts as a plain stop-and-start, to compare.
    #[arg(long)]
    naive: bool,
}

/// A `--steady` duration: above zero and at most a minute.
fn steady_duration(value: &str) -> Result<Duration, String> {
    let d = parse_duration(value).map_err(|e| e.to_string())?;
    if d.is_zero() || d > Duration::from_secs(60) {
        return Err(format!(
            "{value:?}: it must be above zero and at most 1m; e.g. --steady 500ms"
        ));
    }
    Ok(d)
}

pub(crate) fn main(args: Args) -> ExitCode {
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("changeover demo: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(run(&args)) {
        Ok((outcomes, sims)) => {
            let results = Results::of(&rows(&outcomes, &sims));
            print!("{}", results.text);
            if results.own_failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("changeover demo: {e}");
            ExitCode::from(2)
        }
    }
}

/// The rows, in order: changeover's own, then the contrasts.
fn plan(naive: bool) -> Vec<(Scenario, Child)> {
    let mut rows = vec![
        (Scenario::SelfUpgrade, Child::Demo),
        (Scenario::SupervisorReload, Child::Demo),
        (Scenario::ProxyReload, Child::IdleClosing),
        (Scenario::KubernetesStop, Child::Demo),
        (Scenario::SupervisorReload, Child::IdleClosing),
    ];
    if naive {
        rows.push((Scenario::NaiveRestart, Child::Demo));
    }
    rows
}

/// The table's rows: changeover's own scenarios, the simulated delete with its stop delay, the
/// contrasts, the simulated delete without (and the naive restart last).
fn rows(outcomes: &[(Outcome, Child)], sims: &sim::Outcomes) -> Vec<Row> {
    let (naive, others): (Vec<_>, Vec<_>) = outcomes
        .iter()
        .partition(|(o, _)| o.scenario == Scenario::NaiveRestart);
    let mut rows: Vec<Row> = others.iter().map(|(o, c)| Row::of(o, *c)).collect();
    rows.push(Row::of_sim(&sims.with_delay, false));
    rows.push(Row::of_sim(&sims.without, true));
    rows.extend(naive.iter().map(|(o, c)| Row::of(o, *c)));
    rows
}

async fn run(args: &Args) -> Result<(Vec<(Outcome, Child)>, sim::Outcomes), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let setup = Setup {
        restarts: args.restarts,
        connections: args.connections as usize,
        steady: args.steady,
        ..Setup::new(ServerCommand::new(&exe).arg("demo-server"), &exe)
    };
    // The two idle-closing rows are about their failures, not their steady latency: a shorter
    // steady run keeps the demo (the README's first command) about as short as it was.
    let idle_closing = Setup {
        server: ServerCommand::new(&exe)
            .arg("demo-server")
            .arg("--naive-drain"),
        steady: setup.steady / 4,
        ..setup.clone()
    };
    let rows = plan(args.naive);
    let mut outcomes = Vec::with_capacity(rows.len());
    for (scenario, child) in rows {
        eprintln!("{}", heading(scenario, child, args.restarts));
        let setup = match child {
            Child::Demo => &setup,
            Child::IdleClosing => &idle_closing,
        };
        let outcome = changeover_scenario::run(scenario, setup, &mut |step| {
            eprintln!("  {}", step_text(step));
        })
        .await
        .map_err(|e: ScenarioError| e.to_string())?;
        outcomes.push((outcome, child));
    }
    // Last: the simulator's pods run in sessions of their own, so a Ctrl-C at the terminal does
    // not reach them; dropping the rehearsal kills them, and the handlers that make sure of it
    // (installed here) stay installed for the rest of the process.
    eprintln!("{}", sim::heading());
    let exe = exe.to_str().ok_or_else(|| {
        format!(
            "this program's path {} is not UTF-8; run changeover from a UTF-8 path",
            exe.display()
        )
    })?;
    let say = |line: &str| eprintln!("  {line}");
    let sims = interruptible(sim::run(exe, args.connections as usize, args.steady, &say)).await??;
    Ok((outcomes, sims))
}

/// Runs `f` until it ends or SIGINT, SIGTERM or SIGHUP arrives, and then drops it.
async fn interruptible<T>(f: impl std::future::Future<Output = T>) -> Result<T, String> {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        return Err(
            "cannot handle SIGINT, SIGTERM and SIGHUP, and would leave the simulated pods behind when stopped"
                .into(),
        );
    };
    tokio::select! {
        r = f => Ok(r),
        _ = int.recv() => Err("interrupted; every simulated pod was killed".into()),
        _ = term.recv() => Err("terminated; every simulated pod was killed".into()),
        _ = hup.recv() => Err("hung up; every simulated pod was killed".into()),
    }
}

/// The line that announces a scenario.
fn heading(scenario: Scenario, child: Child, restarts: u32) -> String {
    match (scenario, child) {
        (Scenario::SelfUpgrade, _) => {
            format!("self-upgrade: SIGHUP to the server, {restarts} times")
        }
        (Scenario::SupervisorReload, Child::IdleClosing) => format!(
            "a child that closes idle keep-alive connections on SIGTERM, under changeover run without --proxy, reloaded {restarts} times"
        ),
        (Scenario::SupervisorReload, Child::Demo) => {
            format!("supervisor: changeover run, then changeover reload --wait, {restarts} times")
        }
        (Scenario::ProxyReload, _) => format!(
            "proxy: the same idle-closing child under changeover run --proxy, reloaded {restarts} times"
        ),
        (Scenario::KubernetesStop, _) => format!(
            "kubernetes stop: SIGTERM with a {}s stop delay; traffic goes on for {}s",
            KUBERNETES_STOP_DELAY.as_secs(),
            ENDPOINT_LAG.as_secs()
        ),
        (Scenario::NaiveRestart, _) => {
            format!("naive: stop the server, start a new one, {restarts} times")
        }
        (other, _) => other.name().to_owned(),
    }
}

/// One progress line.
fn step_text(step: Progress<'_>) -> String {
    match step {
        Progress::Upgraded { n, of, from, to } => format!("upgrade {n}/{of}: pid {from} -> {to}"),
        Progress::Reloaded { n, of, said } => format!("reload {n}/{of}: {said}"),
        Progress::Stopped { after, status } => format!(
            "stopped {:.1}s after SIGTERM, {}",
            after.as_secs_f64(),
            changeover::process::describe_exit(status)
        ),
        Progress::Restarted { n, of, from, to } => {
            format!("restart {n}/{of}: pid {from} -> {to}")
        }
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_naive_row_is_planned_last_and_only_when_asked() {
        assert_eq!(plan(false).len(), 5);
        assert_eq!(
            plan(true).last(),
            Some(&(Scenario::NaiveRestart, Child::Demo))
        );
    }

    #[test]
    fn steady_durations_are_bounded() {
        assert_eq!(steady_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(steady_duration("0s").is_err());
        assert!(steady_duration("2m").is_err());
        assert!(steady_duration("soon").is_err());
    }
}
