//! The flags of `changeover run` and `changeover prestop`, as clap definitions.
//!
//! The CLI parses its own arguments with these, and `changeover lint` parses the command lines it
//! finds in manifests with the very same definitions ([`parse_run`], [`parse_prestop`]), so the
//! two cannot disagree about which flags exist or how they are spelled. Values are kept as
//! written; their grammar (durations, signals) is checked by [`crate::flag`].

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, FromArgMatches};

/// Options of `changeover run`.
#[derive(clap::Args, Debug)]
#[command(
    about = "Run a server with zero-downtime reloads and the Kubernetes stop sequence (also as PID 1)",
    after_help = "Durations read like 500ms, 5s, 1m. Signals like TERM, SIGQUIT or 15.\n\nThe reload signal (SIGHUP) or `changeover reload` starts a new child on the same sockets; once it is ready the old one gets the stop signal. SIGTERM/SIGINT or `changeover prestop` stop: /readyz turns 503, the child serves on for the stop delay, then gets the stop signal, then SIGKILL at the drain deadline.\n\nExit status: the child's (128 + signal when a signal ended it), 127 command not found, 126 not executable, 2 bad usage, 1 a socket or file could not be set up.\n\nExamples:\n  changeover run --listen 0.0.0.0:8080 --health 0.0.0.0:9090 -- ./server\n  changeover run --listen http=0.0.0.0:8080 --ready delay:2s --stop-signal QUIT -- python3 app.py"
)]
pub struct RunArgs {
    /// A socket to bind once and pass to every child at fd 3, 4, …: HOST:PORT, [V6]:PORT or
    /// unix:PATH, named NAME (default http, then listen1, …). Repeatable. Sockets passed by
    /// systemd (LISTEN_FDS) are adopted instead.
    #[arg(long, value_name = "[NAME=]ADDR")]
    pub listen: Vec<String>,

    /// Write the supervisor's pid here (it never changes across reloads).
    #[arg(long, value_name = "PATH")]
    pub pid_file: Option<PathBuf>,

    /// The control socket for reload, status and prestop (mode 0600) [default:
    /// $XDG_RUNTIME_DIR/changeover.sock, else /tmp/changeover-<uid>/control.sock].
    #[arg(long, value_name = "PATH")]
    pub control: Option<PathBuf>,

    /// Serve /livez, /readyz and /metrics here.
    #[arg(long, value_name = "ADDR")]
    pub health: Option<String>,

    /// How a new child shows it is ready: READY=1 on NOTIFY_SOCKET, a fixed delay, or a probe
    /// command run (by /bin/sh, with CHANGEOVER_CHILD_PID set) until it exits 0 [default: notify].
    #[arg(long, value_name = "notify|delay:DURATION|exec:COMMAND")]
    pub ready: Option<String>,

    /// Kill a new child that is not ready within this [default: 60s].
    #[arg(long, value_name = "DURATION")]
    pub ready_timeout: Option<String>,

    /// Keep serving this long after a stop began, so load balancers stop routing here first
    /// [default: 5s when KUBERNETES_SERVICE_HOST is set, else 0].
    #[arg(long, value_name = "DURATION")]
    pub stop_delay: Option<String>,

    /// SIGKILL a child's process group this long after its stop signal [default: 20s].
    #[arg(long, value_name = "DURATION")]
    pub drain_timeout: Option<String>,

    /// What a child is sent to make it drain and exit [default: TERM].
    #[arg(long, value_name = "SIGNAL")]
    pub stop_signal: Option<String>,

    /// The signal to the supervisor that starts a reload [default: HUP].
    #[arg(long, value_name = "SIGNAL")]
    pub reload_signal: Option<String>,

    /// At most this many old generations drain at once; the oldest is killed beyond that
    /// [default: 4].
    #[arg(long, value_name = "N")]
    pub max_draining: Option<String>,

    /// The server's command, after --.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

/// Options of `changeover prestop`.
#[derive(clap::Args, Debug)]
#[command(
    about = "Begin the stop of a running `changeover run` and return once its stop delay has passed (a preStop hook)",
    after_help = "Exit status: 0 the stop delay has passed, 1 no supervisor answered.\n\nIn a pod spec:\n  lifecycle:\n    preStop:\n      exec:\n        command: [\"changeover\", \"prestop\"]"
)]
pub struct PrestopArgs {
    /// The supervisor's control socket [default: $XDG_RUNTIME_DIR/changeover.sock, else
    /// /tmp/changeover-<uid>/control.sock].
    #[arg(long, value_name = "PATH")]
    pub control: Option<PathBuf>,
}

/// Parses a `changeover run` command line (the words after `changeover run`) exactly as the CLI
/// does; the error is the one the CLI prints before exiting 2.
///
/// ```
/// let args = changeover_flags::cli::parse_run(["--stop-delay=5s", "--", "server"]).unwrap();
/// assert_eq!(args.stop_delay.as_deref(), Some("5s"));
/// let e = changeover_flags::cli::parse_run(["./server"]).unwrap_err();
/// assert!(e.to_string().starts_with("error: unexpected argument './server' found"));
/// ```
pub fn parse_run<I, T>(words: I) -> Result<RunArgs, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    parse::<RunArgs, _, _>("run", words)
}

/// Parses a `changeover prestop` command line (the words after `changeover prestop`) exactly as
/// the CLI does.
///
/// ```
/// let e = changeover_flags::cli::parse_prestop(["--stop-delay", "3s"]).unwrap_err();
/// assert!(e.to_string().starts_with("error: unexpected argument '--stop-delay' found"));
/// ```
pub fn parse_prestop<I, T>(words: I) -> Result<PrestopArgs, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    parse::<PrestopArgs, _, _>("prestop", words)
}

/// The part of a clap error a person needs, on one line: the `error:` line and any `tip:`, without
/// the usage that follows.
///
/// ```
/// let e = changeover_flags::cli::parse_prestop(["--stop-delay", "3s"]).unwrap_err();
/// assert_eq!(changeover_flags::cli::one_line(&e), "error: unexpected argument '--stop-delay' found");
/// ```
pub fn one_line(error: &clap::Error) -> String {
    let text = error.render().to_string();
    text.lines()
        .take_while(|l| !l.starts_with("Usage:"))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn parse<A, I, T>(subcommand: &'static str, words: I) -> Result<A, clap::Error>
where
    A: Args + FromArgMatches,
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    // The same command the `changeover` binary builds for this subcommand: its usage line and
    // messages name `changeover SUBCOMMAND`.
    let command = A::augment_args(clap::Command::new(subcommand))
        .bin_name(format!("changeover {subcommand}"))
        .color(clap::ColorChoice::Never);
    let argv = std::iter::once(OsString::from(subcommand)).chain(words.into_iter().map(Into::into));
    let matches = command.try_get_matches_from(argv)?;
    A::from_arg_matches(&matches)
}
