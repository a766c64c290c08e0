//! `changeover demo`: restart a server many ways under load and count what failed.
//!
//! The scenarios themselves (start a server, wait for `READY=1`, drive load, restart it, collect
//! the figures) are the `changeover-scenario` crate's; this module parses the flags, prints
//! progress and the table, and maps the outcome to an exit status. The demo server is this same
//! binary (`changeover demo-server`, in `server.rs`), so the demo runs from a fresh clone with
//! nothing else built.
//!
//! With `--naive` the stop-and-start is a row of the table too; it does not count in the exit
//! status.

mod server;

use std::process::ExitCode;
use std::time::Duration;

use changeover_scenario::{
    ENDPOINT_LAG, KUBERNETES_STOP_DELAY, Outcome, Progress, Scenario, ScenarioError, ServerCommand,
    Setup,
};

pub(crate) use server::{Args as ServerArgs, main as server_main};

/// Options of `changeover demo`.
#[derive(clap::Args, Debug)]
#[command(
    about = "Restart a demo server many ways under load and count failed requests",
    after_help = "Runs self-upgrades (SIGHUP), supervisor reloads (changeover run + changeover reload) and a Kubernetes-style stop with a stop delay, each under keep-alive load, and prints what failed. Exit status 0 when no request failed, 1 when some did (the --naive row does not count), 2 when the demo could not run."
)]
pub(crate) struct Args {
    /// Restarts per scenario.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    restarts: u32,
    /// Concurrent keep-alive connections of the load.
    #[arg(short = 'c', long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    connections: u32,
    /// Also run the restarts as a plain stop-and-start, to compare.
    #[arg(long)]
    naive: bool,
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
        Ok(outcomes) => {
            let rows: Vec<Row> = outcomes.iter().map(Row::of).collect();
            let results = Results::of(&rows);
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

async fn run(args: &Args) -> Result<Vec<Outcome>, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let setup = Setup {
        restarts: args.restarts,
        connections: args.connections as usize,
        ..Setup::new(ServerCommand::new(&exe).arg("demo-server"), &exe)
    };
    let mut scenarios = Scenario::CHANGEOVER.to_vec();
    if args.naive {
        scenarios.push(Scenario::NaiveRestart);
    }
    let mut outcomes = Vec::with_capacity(scenarios.len());
    for scenario in scenarios {
        eprintln!("{}", heading(scenario, args.restarts));
        let outcome = changeover_scenario::run(scenario, &setup, &mut |step| {
            eprintln!("  {}", step_text(step));
        })
        .await
        .map_err(|e: ScenarioError| e.to_string())?;
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// The line that announces a scenario.
fn heading(scenario: Scenario, restarts: u32) -> String {
    match scenario {
        Scenario::SelfUpgrade => format!("self-upgrade: SIGHUP to the server, {restarts} times"),
        Scenario::SupervisorReload => {
            format!("supervisor: changeover run, then changeover reload --wait, {restarts} times")
        }
        Scenario::KubernetesStop => format!(
            "kubernetes stop: SIGTERM with a {}s stop delay; traffic goes on for {}s",
            KUBERNETES_STOP_DELAY.as_secs(),
            ENDPOINT_LAG.as_secs()
        ),
        Scenario::NaiveRestart => {
            format!("naive: stop the server, start a new one, {restarts} times")
        }
        other => other.name().to_owned(),
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
            changeover::describe_exit(status)
        ),
        Progress::Restarted { n, of, from, to } => {
            format!("restart {n}/{of}: pid {from} -> {to}")
        }
        other => format!("{other:?}"),
    }
}

/// One line of the result table.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    scenario: Scenario,
    restarts: String,
    requests: u64,
    failed: u64,
    p99_steady: Option<Duration>,
    p99_restarts: Duration,
}

impl Row {
    fn of(o: &Outcome) -> Row {
        Row {
            scenario: o.scenario,
            restarts: match o.scenario {
                Scenario::KubernetesStop => format!("{} stop", o.restarts),
                _ => o.restarts.to_string(),
            },
            requests: o.report.requests,
            failed: o.failed(),
            p99_steady: o.steady_p99,
            p99_restarts: o.report.latency.p99(),
        }
    }

    fn text(&self) -> String {
        let ms = |d: Duration| format!("{:.1}ms", d.as_secs_f64() * 1000.0);
        format!(
            "{:<28} {:>8} {:>10} {:>8} {:>12} {:>16}\n",
            self.scenario.name(),
            self.restarts,
            self.requests,
            self.failed,
            self.p99_steady.map(ms).unwrap_or_else(|| "-".into()),
            ms(self.p99_restarts),
        )
    }
}

/// What the demo prints at the end, and what its exit status rests on.
#[derive(Debug)]
struct Results {
    /// The table, then the verdict on changeover's own scenarios, then what the contrast did.
    text: String,
    /// Requests changeover's own scenarios failed (the contrast does not count): the exit
    /// status is 0 when this is 0, else 1.
    own_failed: u64,
}

impl Results {
    /// Every row in one table, then the verdict: the contrast (the naive restart) does not
    /// count.
    fn of(rows: &[Row]) -> Results {
        let mut text = format!(
            "\n{:<28} {:>8} {:>10} {:>8} {:>12} {:>16}\n",
            "scenario", "restarts", "requests", "failed", "p99 steady", "p99 restarting"
        );
        for r in rows {
            text.push_str(&r.text());
        }
        let own_failed: u64 = rows
            .iter()
            .filter(|r| !r.scenario.is_contrast())
            .map(|r| r.failed)
            .sum();
        text.push_str(&match own_failed {
            0 => "\nno request failed.\n".to_owned(),
            n => format!("\n{n} requests failed.\n"),
        });
        Results { text, own_failed }
    }
}
