//! `changeover load`: drive HTTP/1.1 load at a URL, optionally running a command on a schedule
//! (a restart, a reload), and count every failed request.
//!
//! Thin: this module turns flags into a [`changeover_load::Config`] (each bad flag is one line
//! naming the input, the problem and the fix), probes the URL once, runs the load with a
//! progress line on a terminal, turns SIGINT/SIGTERM into a clean stop, prints the report
//! (text, or one JSON object) and maps it to an exit status: 0 nothing failed, 1 a request or a
//! `--during` run failed, 2 bad usage or a URL unreachable at start.
//!
//! Just above 500 lines: flags, output and the progress line of one command, read top to bottom.

use std::io::{IsTerminal, Write};
use std::pin::pin;
use std::process::ExitCode;
use std::time::Duration;

use changeover::parse_duration;
use changeover_load::{Config, Control, During, Report, Target, probe, start};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::signal::unix::{SignalKind, signal};

const DEFAULT_CONNECTIONS: usize = 64;
const DEFAULT_DURATION: Duration = Duration::from_secs(10);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_EVERY: Duration = Duration::from_secs(1);
/// Most connections accepted (each is a task and a socket).
const MAX_CONNECTIONS: usize = 100_000;
/// File descriptors the process needs besides its connections.
const SPARE_FDS: u64 = 64;
/// How often the progress line is redrawn.
const PROGRESS_TICK: Duration = Duration::from_millis(200);

/// Options of `changeover load`.
#[derive(clap::Args, Debug)]
#[command(
    about = "Drive HTTP/1.1 load at a URL (optionally while running a restart command) and count every failed request",
    after_help = "Every request ends ok (a complete 2xx response) or failed: refused, connect, reset, closed (the connection closed before the response was complete), timeout, bad_status (non-2xx), protocol or io. Requests are never retried. A connection the server closes after a complete response with `Connection: close` is not a failure.

--during runs COMMAND through `sh -c` every --every, the first run one interval after the start, the last one before the end. Runs never overlap: when a run is due while the previous one still runs, that run is skipped (and counted). Each run is an event in the timeline, with its exit status and duration; failures are counted after the event that preceded them. When the load ends, a run still going gets 10s to finish, then its process group is killed.

Ctrl-C (SIGINT) or SIGTERM stops the load cleanly and still prints the report; a second one stops at once (requests in flight are not counted, a --during run is killed).

Output: a summary, then a per-second timeline; --json prints one JSON object (keys requests, ok, failed, errors, rps, latency_ms, events, timeline, ...). A progress line goes to stderr when it is a terminal.

Durations read like 500ms, 5s, 1m.

Exit status: 0 no request failed, 1 a request failed or a --during run did not exit 0, 2 bad usage or the URL unreachable at start.

Examples:
  changeover load http://127.0.0.1:8080/
  changeover load http://127.0.0.1:8080/ -c 32 -d 30s --during 'kill -HUP $(cat app.pid)' --every 2s
  changeover load unix:/run/app.sock:/healthz --no-keepalive --rate 500 --json"
)]
pub(crate) struct Args {
    /// Where to send GET requests: http://IP:PORT/PATH (an IP address or localhost; no DNS), or
    /// unix:SOCKET[:/PATH].
    #[arg(value_name = "URL")]
    url: Option<String>,

    /// Concurrent connections [default: 64].
    #[arg(
        short = 'c',
        long,
        value_name = "CONNECTIONS",
        allow_hyphen_values = true
    )]
    connections: Option<String>,

    /// How long to drive load [default: 10s].
    #[arg(short = 'd', long, value_name = "DURATION", allow_hyphen_values = true)]
    duration: Option<String>,

    /// One request per connection (each request says `Connection: close`) instead of
    /// keep-alive.
    #[arg(long)]
    no_keepalive: bool,

    /// Send this many requests per second in total (open loop) [default: each connection sends
    /// its next request as soon as the previous response is complete].
    #[arg(long, value_name = "RPS", allow_hyphen_values = true)]
    rate: Option<String>,

    /// A shell command to run every --every while the load runs (a restart, a reload).
    #[arg(long, value_name = "COMMAND")]
    during: Option<String>,

    /// Time between the starts of two --during runs [default: 1s].
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    every: Option<String>,

    /// Per-request timeout, connecting included [default: 5s].
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    timeout: Option<String>,

    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

/// The flags, checked.
#[derive(Debug)]
struct Options {
    url: String,
    config: Config,
    duration: Duration,
    json: bool,
}

/// Runs `changeover load`.
pub(crate) fn main(args: Args) -> ExitCode {
    let options = match Options::from_args(args) {
        Ok(o) => o,
        Err(e) => return crate::usage_error("load", e),
    };
    let runtime = match crate::runtime("load") {
        Ok(rt) => rt,
        Err(status) => return status,
    };
    runtime.block_on(run(options))
}

impl Options {
    fn from_args(args: Args) -> Result<Options, String> {
        let url = args.url.ok_or(
            "no URL given; name the server to load, e.g. `changeover load http://127.0.0.1:8080/`",
        )?;
        let target = Target::parse(&url).map_err(|e| {
            format!("URL {url:?}: {e}; write it like http://127.0.0.1:8080/ or unix:/run/app.sock")
        })?;
        let connections = match &args.connections {
            None => DEFAULT_CONNECTIONS,
            Some(c) => c
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_CONNECTIONS).contains(n))
                .ok_or_else(|| {
                    format!(
                        "-c {c:?}: the number of connections must be a whole number from 1 to {MAX_CONNECTIONS}; e.g. -c 64"
                    )
                })?,
        };
        check_open_files(connections)?;
        let duration =
            positive_duration("-d", args.duration.as_deref())?.unwrap_or(DEFAULT_DURATION);
        let timeout =
            positive_duration("--timeout", args.timeout.as_deref())?.unwrap_or(DEFAULT_TIMEOUT);
        if timeout > Config::MAX_TIMEOUT {
            return Err(format!(
                "--timeout {:?}: it must be at most 1h; a request that takes longer has failed anyway",
                args.timeout.unwrap_or_default()
            ));
        }
        let rate = match &args.rate {
            None => None,
            Some(r) => Some(
                r.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|r| r.is_finite() && *r > 0.0)
                    .ok_or_else(|| {
                        format!(
                            "--rate {r:?}: it must be a positive number of requests per second; e.g. --rate 1000, or leave it out to go as fast as responses come"
                        )
                    })?,
            ),
        };
        let every = positive_duration("--every", args.every.as_deref())?;
        let during = match (args.during, every) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(
                    "--every needs --during COMMAND, the command to run at that interval".into(),
                );
            }
            (Some(command), every) => {
                if command.trim().is_empty() {
                    return Err(
                        "--during \"\": the command is empty; give one, e.g. --during 'kill -HUP $(cat app.pid)'"
                            .into(),
                    );
                }
                let every = every.unwrap_or(DEFAULT_EVERY);
                if every < During::MIN_EVERY {
                    return Err(format!(
                        "--every {:?}: it must be at least {}ms, or the command would run back to back",
                        changeover::format_duration(every),
                        During::MIN_EVERY.as_millis()
                    ));
                }
                Some(During::new(command, every))
            }
        };
        let config = Config {
            connections,
            keep_alive: !args.no_keepalive,
            duration: Some(duration),
            rate,
            timeout,
            during,
            // Measured side by side on 2 cores (bench/load_vs_wrk.sh): with keep-alive, the
            // multi-thread runtime `main` builds does ~10% more requests/s than one event loop
            // per core; with a connection per request, one event loop per core (as wrk's -t)
            // does ~30% more, as connects and closes no longer share one I/O driver.
            threads: args
                .no_keepalive
                .then(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
            ..Config::new(target)
        };
        config.validate().map_err(|e| format!("{e}; see --help"))?;
        Ok(Options {
            url,
            config,
            duration,
            json: args.json,
        })
    }
}

/// Parses an optional duration flag that must be above zero.
fn positive_duration(flag: &str, value: Option<&str>) -> Result<Option<Duration>, String> {
    let Some(value) = value else {
        return Ok(None);
    };
    let d = parse_duration(value).map_err(|e| format!("{flag}: {e}"))?;
    if d.is_zero() {
        return Err(format!(
            "{flag} {value:?}: it must be above zero; e.g. {flag} 5s"
        ));
    }
    Ok(Some(d))
}

/// Refuses more connections than the open-file limit allows, before they fail one by one.
fn check_open_files(connections: usize) -> Result<(), String> {
    let Some(limit) = open_file_limit() else {
        return Ok(());
    };
    let needed = connections as u64 + SPARE_FDS;
    if needed > limit {
        return Err(format!(
            "-c {connections}: that needs about {needed} open files but this process may open {limit}; raise the limit first (ulimit -n {needed}) or use fewer connections"
        ));
    }
    Ok(())
}

/// The soft limit on open files, from `/proc/self/limits` (`None` when unknown or unlimited).
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// What ended the run early, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Interrupted {
    No,
    Signal(&'static str),
}

async fn run(options: Options) -> ExitCode {
    let (mut sigint, mut sigterm) = match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(i), Ok(t)) => (i, t),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("changeover load: cannot handle SIGINT/SIGTERM: {e}");
            return ExitCode::from(1);
        }
    };
    let config = options.config.clone();

    // One request first: an address nobody listens on is a usage error, not a million failures.
    let probed = tokio::select! {
        p = probe(&config.target, config.timeout) => p,
        _ = sigint.recv() => return ExitCode::from(130),
        _ = sigterm.recv() => return ExitCode::from(143),
    };
    match probed {
        Ok(p) if !(200..300).contains(&p.status) => eprintln!(
            "changeover load: warning: {} answered a first request with status {}: every such response counts as failed (bad_status); check the path",
            options.url, p.status
        ),
        Ok(_) => {}
        Err(e) => {
            eprintln!(
                "changeover load: {} is unreachable: {}; {}",
                options.url,
                e.error,
                e.fix()
            );
            return ExitCode::from(2);
        }
    }

    let load = match start(config) {
        Ok(load) => load,
        Err(e) => {
            eprintln!("changeover load: {e}; see --help");
            return ExitCode::from(2);
        }
    };
    let control = load.control();
    let progress = Progress::new(options.duration, options.config.during.is_some());
    let mut ticks = tokio::time::interval(PROGRESS_TICK);
    let mut finished = pin!(load.finished());
    let mut interrupted = Interrupted::No;
    let mut signals = 0;
    let report = loop {
        let name = tokio::select! {
            report = &mut finished => break report,
            _ = sigint.recv() => "SIGINT",
            _ = sigterm.recv() => "SIGTERM",
            _ = ticks.tick(), if progress.is_some() => {
                if let Some(p) = &progress {
                    p.update(&control);
                }
                continue;
            }
        };
        signals += 1;
        match signals {
            1 => {
                interrupted = Interrupted::Signal(name);
                control.stop();
                if let Some(p) = &progress {
                    p.stopping(name);
                }
            }
            2 => control.stop_now(),
            // The run ignores even stop_now (it cannot): give up without a report.
            _ => return ExitCode::from(130),
        }
    };
    if let Some(p) = progress {
        p.clear();
    }

    let out = if options.json {
        json(&report, &options, interrupted)
    } else {
        text(&report, &options, interrupted)
    };
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
    {
        eprintln!("changeover load: cannot write the report: {e}");
        return ExitCode::from(1);
    }
    for (event, run) in report.failed_commands().take(3) {
        let mut line = format!(
            "changeover load: --during run {} at +{:.3}s: {}",
            run.run,
            event.at.as_secs_f64(),
            run.status
        );
        if let Some(last) = run.last_line() {
            line.push_str(": ");
            line.push_str(last);
        }
        eprintln!("{line}");
    }
    let failed_runs = report.failed_commands().count();
    if failed_runs > 0 {
        eprintln!(
            "changeover load: {failed_runs} --during run(s) did not exit 0, so the disturbance may not have happened; fix the command (try it by hand) and run again"
        );
    }
    if report.failed() > 0 || failed_runs > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// The human report: what was run, the summary, the timeline and the first failures.
fn text(report: &Report, options: &Options, interrupted: Interrupted) -> String {
    let c = &options.config;
    let mut s = format!(
        "changeover load {}: {} connections, {}, {}",
        options.url,
        c.connections,
        if c.keep_alive {
            "keep-alive"
        } else {
            "one request per connection"
        },
        changeover::format_duration(options.duration),
    );
    if let Some(rate) = c.rate {
        s.push_str(&format!(", {rate} req/s open loop"));
    }
    if let Interrupted::Signal(name) = interrupted {
        s.push_str(&format!(
            " (stopped by {name} after {:.1}s)",
            report.elapsed.as_secs_f64()
        ));
    }
    s.push_str("\n\n");
    s.push_str(&report.overview());
    s.push_str(
        "\ntimeline (requests by the time they ended; each failure after the event before it):\n",
    );
    s.push_str(&report.timeline_text());
    let samples = report.samples_text();
    if !samples.is_empty() {
        s.push('\n');
        s.push_str(&samples);
    }
    s
}

/// The JSON report: the library's keys, then what was run and whether a signal stopped it.
fn json(report: &Report, options: &Options, interrupted: Interrupted) -> String {
    #[derive(serde::Serialize)]
    struct Run<'a> {
        url: &'a str,
        connections: usize,
        keep_alive: bool,
        duration_ms: f64,
        rate: Option<f64>,
        timeout_ms: f64,
        during: Option<&'a str>,
        every_ms: Option<f64>,
    }
    #[derive(serde::Serialize)]
    struct Output<'a> {
        #[serde(flatten)]
        report: &'a Report,
        config: Run<'a>,
        /// The signal that stopped the run early, if one did.
        interrupted: Option<&'a str>,
    }
    let c = &options.config;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let output = Output {
        report,
        config: Run {
            url: &options.url,
            connections: c.connections,
            keep_alive: c.keep_alive,
            duration_ms: ms(options.duration),
            rate: c.rate,
            timeout_ms: ms(c.timeout),
            during: c.during.as_ref().map(|d| d.command.as_str()),
            every_ms: c.during.as_ref().map(|d| ms(d.every)),
        },
        interrupted: match interrupted {
            Interrupted::No => None,
            Interrupted::Signal(name) => Some(name),
        },
    };
    // Serializing plain numbers, strings and maps with string keys cannot fail.
    let mut s = serde_json::to_string(&output).unwrap_or_default();
    s.push('\n');
    s
}

/// The progress line on stderr, only when stderr is a terminal.
struct Progress {
    bar: ProgressBar,
    duration: Duration,
    during: bool,
}

impl Progress {
    fn new(duration: Duration, during: bool) -> Option<Progress> {
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let total = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("[{bar:20}] {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        Some(Progress {
            bar,
            duration,
            during,
        })
    }

    fn update(&self, control: &Control) {
        let counts = control.snapshot();
        let elapsed = control.elapsed();
        self.bar
            .set_position(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX));
        let secs = elapsed.as_secs_f64();
        let rps = if secs > 0.0 {
            counts.requests as f64 / secs
        } else {
            0.0
        };
        let mut msg = format!(
            "{secs:.1}s/{}  {} requests  {} failed  {rps:.0} req/s",
            changeover::format_duration(self.duration),
            counts.requests,
            counts.failed
        );
        if self.during {
            msg.push_str(&format!("  {} runs", control.event_count()));
        }
        self.bar.set_message(msg);
    }

    fn stopping(&self, signal: &str) {
        self.bar.set_message(format!(
            "{signal}: stopping, requests in flight finish (again to stop at once)"
        ));
    }

    fn clear(self) {
        self.bar.finish_and_clear();
    }
}
