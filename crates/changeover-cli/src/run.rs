//! `changeover run`: supervise a server as its zero-downtime parent (and as a container's PID 1).
//!
//! Parses the flags into `changeover_supervisor::Options`, sets up logging, and hands over to
//! `changeover_supervisor::run`. Exit status: the child's (128 + signal when a signal ended it),
//! 127 command not found, 126 not executable, 2 bad usage, 1 a socket or file could not be set up.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use changeover_supervisor::{Config, Defaults, Options};

/// Options of `changeover run`.
#[derive(clap::Args, Debug)]
#[command(
    about = "Run a server with zero-downtime reloads and the Kubernetes stop sequence (also as PID 1)",
    after_help = "Durations read like 500ms, 5s, 1m. Signals like TERM, SIGQUIT or 15.\n\nThe reload signal (SIGHUP) or `changeover reload` starts a new child on the same sockets; once it is ready the old one gets the stop signal. SIGTERM/SIGINT or `changeover prestop` stop: /readyz turns 503, the child serves on for the stop delay, then gets the stop signal, then SIGKILL at the drain deadline.\n\nExit status: the child's (128 + signal when a signal ended it), 127 command not found, 126 not executable, 2 bad usage, 1 a socket or file could not be set up.\n\nExamples:\n  changeover run --listen 0.0.0.0:8080 --health 0.0.0.0:9090 -- ./server\n  changeover run --listen http=0.0.0.0:8080 --ready delay:2s --stop-signal QUIT -- python3 app.py"
)]
pub(crate) struct Args {
    /// A socket to bind once and pass to every child at fd 3, 4, …: HOST:PORT, [V6]:PORT or
    /// unix:PATH, named NAME (default http, then listen1, …). Repeatable. Sockets passed by
    /// systemd (LISTEN_FDS) are adopted instead.
    #[arg(long, value_name = "[NAME=]ADDR")]
    listen: Vec<String>,

    /// Write the supervisor's pid here (it never changes across reloads).
    #[arg(long, value_name = "PATH")]
    pid_file: Option<PathBuf>,

    /// The control socket for reload, status and prestop (mode 0600) [default:
    /// $XDG_RUNTIME_DIR/changeover.sock, else /tmp/changeover-<uid>/control.sock].
    #[arg(long, value_name = "PATH")]
    control: Option<PathBuf>,

    /// Serve /livez, /readyz and /metrics here.
    #[arg(long, value_name = "ADDR")]
    health: Option<String>,

    /// How a new child shows it is ready: READY=1 on NOTIFY_SOCKET, a fixed delay, or a probe
    /// command run (by /bin/sh, with CHANGEOVER_CHILD_PID set) until it exits 0 [default: notify].
    #[arg(long, value_name = "notify|delay:DURATION|exec:COMMAND")]
    ready: Option<String>,

    /// Kill a new child that is not ready within this [default: 60s].
    #[arg(long, value_name = "DURATION")]
    ready_timeout: Option<String>,

    /// Keep serving this long after a stop began, so load balancers stop routing here first
    /// [default: 5s when KUBERNETES_SERVICE_HOST is set, else 0].
    #[arg(long, value_name = "DURATION")]
    stop_delay: Option<String>,

    /// SIGKILL a child's process group this long after its stop signal [default: 20s].
    #[arg(long, value_name = "DURATION")]
    drain_timeout: Option<String>,

    /// What a child is sent to make it drain and exit [default: TERM].
    #[arg(long, value_name = "SIGNAL")]
    stop_signal: Option<String>,

    /// The signal to the supervisor that starts a reload [default: HUP].
    #[arg(long, value_name = "SIGNAL")]
    reload_signal: Option<String>,

    /// At most this many old generations drain at once; the oldest is killed beyond that
    /// [default: 4].
    #[arg(long, value_name = "N")]
    max_draining: Option<String>,

    /// The server's command, after --.
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<OsString>,
}

/// Runs `changeover run`.
pub(crate) fn main(args: Args) -> ExitCode {
    let options = Options {
        listen: args.listen,
        pid_file: args.pid_file,
        control: args.control,
        health: args.health,
        ready: args.ready,
        ready_timeout: args.ready_timeout,
        stop_delay: args.stop_delay,
        drain_timeout: args.drain_timeout,
        stop_signal: args.stop_signal,
        reload_signal: args.reload_signal,
        max_draining: args.max_draining,
        command: args.command,
    };
    let config = match Config::from_options(options, &Defaults::from_process()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("changeover run: {e}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        // A closed stderr must not turn logging into panics in a PID 1.
        .log_internal_errors(false)
        .init();
    match changeover_supervisor::run(config) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("changeover run: {e}");
            ExitCode::from(e.exit_status())
        }
    }
}
