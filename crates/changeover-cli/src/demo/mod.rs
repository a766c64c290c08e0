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

use std::process::ExitCode;
use std::time::Duration;

use changeover::parse_duration;
use changeover_scenario::{
    ENDPOINT_LAG, KUBERNETES_STOP_DELAY, Outcome, Progress, Scenario, ScenarioError, ServerCommand,
    Setup,
};

pub(crate) use server::{Args as ServerArgs, main as server_main};

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

/// Which server a row restarts: the demo server, or the same one closing idle keep-alive
/// connections at once on SIGTERM (`demo-server --naive-drain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Child {
    Demo,
    IdleClosing,
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

/// The name of the simulated delete with no stop delay.
const SIM_CONTRAST: &str = "kubernetes delete, no stop delay";

/// One line of the result table.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    /// What the first column says.
    name: &'static str,
    /// A contrast: its failures are expected and do not count.
    contrast: bool,
    /// Why a contrast fails requests, said after the table.
    why: String,
    /// The simulator's lines for a contrast's failures, each putting some down to a pod and a
    /// cause with the fix (empty for the other rows).
    attribution: Vec<String>,
    restarts: String,
    requests: u64,
    failed: u64,
    p99_steady: Option<Duration>,
    p99_restarts: Duration,
}

impl Row {
    fn of(o: &Outcome, child: Child) -> Row {
        let (name, contrast, why) = Row::labels(o.scenario, child);
        Row {
            name,
            contrast,
            why: why.to_owned(),
            attribution: Vec::new(),
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

    /// A simulated delete's row: changeover's own with its stop delay, or the contrast without.
    fn of_sim(r: &changeover_sim::report::Report, contrast: bool) -> Row {
        /// The most causes printed under the contrast (the simulator's report has them all).
        const SHOWN: usize = 3;
        let mut attribution: Vec<String> = r.causes.iter().take(SHOWN).map(|c| c.text()).collect();
        if r.causes.len() > SHOWN {
            attribution.push(format!(
                "... and {} more causes: run changeover sim for the whole report\n",
                r.causes.len() - SHOWN
            ));
        }
        Row {
            name: if contrast {
                SIM_CONTRAST
            } else {
                "kubernetes delete (sim, 3 pods)"
            },
            contrast,
            why: "changeover sim puts them down to".into(),
            attribution,
            restarts: "1 delete".into(),
            requests: r.requests,
            failed: r.failed,
            p99_steady: None,
            p99_restarts: Duration::from_secs_f64(r.latency_ms.p99.max(0.0) / 1000.0),
        }
    }

    /// The row's name, whether it is a contrast, and why a contrast fails.
    fn labels(scenario: Scenario, child: Child) -> (&'static str, bool, &'static str) {
        match (scenario, child) {
            (Scenario::ProxyReload, _) => ("proxy reload (idle-closing)", false, ""),
            (Scenario::SupervisorReload, Child::IdleClosing) => (
                "reload, idle-closing child",
                true,
                "the child closed idle keep-alive connections on SIGTERM while clients were sending on them; --proxy (above) hides that",
            ),
            (s, _) => (
                s.name(),
                s.is_contrast(),
                "nothing listened between stop and start",
            ),
        }
    }

    fn text(&self) -> String {
        let ms = |d: Duration| format!("{:.1}ms", d.as_secs_f64() * 1000.0);
        format!(
            "{:<32} {:>8} {:>10} {:>8} {:>12} {:>16}\n",
            self.name,
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
    /// changeover's own rows first; the contrasts (the idle-closing child without `--proxy`,
    /// the naive restart) apart, below them.
    fn of(rows: &[Row]) -> Results {
        let (contrast, own): (Vec<&Row>, Vec<&Row>) = rows.iter().partition(|r| r.contrast);
        let mut text = format!(
            "\n{:<32} {:>8} {:>10} {:>8} {:>12} {:>16}\n",
            "scenario", "restarts", "requests", "failed", "p99 steady", "p99 restarting"
        );
        for r in &own {
            text.push_str(&r.text());
        }
        if !contrast.is_empty() {
            text.push_str("\nfor comparison, not changeover (their failures are expected):\n");
            for r in &contrast {
                text.push_str(&r.text());
            }
        }
        let own_failed: u64 = own.iter().map(|r| r.failed).sum();
        let own_requests: u64 = own.iter().map(|r| r.requests).sum();
        text.push_str(&match own_failed {
            0 => "\nchangeover: no request failed.\n".to_owned(),
            n => format!("\nchangeover: {n} of {own_requests} requests failed.\n"),
        });
        for r in &contrast {
            text.push_str(&match r.failed {
                0 => format!("the {} failed no request this time.\n", r.name),
                n if r.attribution.is_empty() => format!(
                    "the {} failed {n} of {} requests: {}.\n",
                    r.name, r.requests, r.why
                ),
                n => format!(
                    "the {} failed {n} of {} requests; {}:\n{}",
                    r.name,
                    r.requests,
                    r.why,
                    r.attribution.concat()
                ),
            });
        }
        Results { text, own_failed }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(scenario: Scenario, requests: u64, failed: u64) -> Row {
        row_of(scenario, Child::Demo, requests, failed)
    }

    fn row_of(scenario: Scenario, child: Child, requests: u64, failed: u64) -> Row {
        let (name, contrast, why) = Row::labels(scenario, child);
        Row {
            name,
            contrast,
            why: why.to_owned(),
            attribution: Vec::new(),
            restarts: "10".into(),
            requests,
            failed,
            p99_steady: Some(Duration::from_micros(500)),
            p99_restarts: Duration::from_millis(2),
        }
    }

    /// Issue 11, item 5: `--naive` printed "no request failed." under a naive row with 1,750
    /// failures. The contrast is now shown apart and named; the verdict is changeover's alone.
    #[test]
    fn the_naive_row_is_apart_and_does_not_count() {
        let rows = [
            row(Scenario::SelfUpgrade, 9142, 0),
            row(Scenario::SupervisorReload, 15466, 0),
            row(Scenario::KubernetesStop, 35211, 0),
            row(Scenario::NaiveRestart, 20000, 1750),
        ];
        let r = Results::of(&rows);
        assert_eq!(r.own_failed, 0, "{}", r.text);
        let lines: Vec<&str> = r.text.lines().collect();
        let at = |prefix: &str| {
            lines
                .iter()
                .position(|l| l.starts_with(prefix))
                .unwrap_or_else(|| panic!("no line {prefix:?} in\n{}", r.text))
        };
        let apart = at("for comparison, not changeover");
        assert!(at("kubernetes stop") < apart, "{}", r.text);
        assert!(at("naive stop-and-start") > apart, "{}", r.text);
        assert!(
            r.text.contains("\nchangeover: no request failed.\n"),
            "{}",
            r.text
        );
        assert!(
            r.text
                .contains("the naive stop-and-start failed 1750 of 20000 requests"),
            "{}",
            r.text
        );
        assert!(!lines.contains(&"no request failed."), "{}", r.text);
    }

    /// The idle-closing child reloaded without `--proxy` is a contrast, shown apart with why it
    /// fails; the same child with `--proxy` is changeover's own row and counts.
    #[test]
    fn the_idle_closing_child_without_the_proxy_is_a_contrast_and_with_it_counts() {
        let rows = [
            row_of(Scenario::ProxyReload, Child::IdleClosing, 5000, 0),
            row_of(Scenario::SupervisorReload, Child::IdleClosing, 5000, 40),
        ];
        let r = Results::of(&rows);
        assert_eq!(r.own_failed, 0, "{}", r.text);
        let apart = r.text.find("for comparison").expect("a contrast section");
        assert!(r.text.find("proxy reload (idle-closing)").unwrap() < apart);
        assert!(r.text.find("reload, idle-closing child").unwrap() > apart);
        assert!(
            r.text.contains("failed 40 of 5000 requests: the child closed idle keep-alive connections on SIGTERM"),
            "{}",
            r.text
        );
        let r = Results::of(&[row_of(Scenario::ProxyReload, Child::IdleClosing, 5000, 3)]);
        assert_eq!(r.own_failed, 3, "{}", r.text);
        assert_eq!(plan(false).len(), 5);
        assert_eq!(
            plan(true).last(),
            Some(&(Scenario::NaiveRestart, Child::Demo))
        );
    }

    #[test]
    fn changeovers_own_failures_decide_the_status_and_are_counted_alone() {
        let rows = [
            row(Scenario::SelfUpgrade, 1000, 2),
            row(Scenario::SupervisorReload, 1000, 1),
            row(Scenario::KubernetesStop, 1000, 0),
            row(Scenario::NaiveRestart, 1000, 400),
        ];
        let r = Results::of(&rows);
        assert_eq!(r.own_failed, 3);
        assert!(
            r.text
                .contains("\nchangeover: 3 of 3000 requests failed.\n"),
            "{}",
            r.text
        );
        assert!(!r.text.contains("no request failed"), "{}", r.text);
    }

    #[test]
    fn without_the_contrast_there_is_no_comparison() {
        let rows = [row(Scenario::SelfUpgrade, 1000, 0)];
        let r = Results::of(&rows);
        assert_eq!(r.own_failed, 0);
        assert!(!r.text.contains("for comparison"), "{}", r.text);
        assert!(!r.text.contains("naive"), "{}", r.text);
    }

    #[test]
    fn steady_durations_are_bounded() {
        assert_eq!(steady_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(steady_duration("0s").is_err());
        assert!(steady_duration("2m").is_err());
        assert!(steady_duration("soon").is_err());
    }
}
