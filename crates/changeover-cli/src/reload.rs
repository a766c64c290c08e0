//! `changeover reload`: ask a running `changeover run` for a new generation.
//!
//! Exit status: 0 when the reload started (or, with `--wait`, when the new child took over),
//! 1 when it was refused or rolled back or no supervisor answered, 2 bad usage.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use changeover::parse_duration;
use changeover_supervisor::control;
use changeover_supervisor::protocol::{Request, Response};

use crate::control_path;

/// Options of `changeover reload`.
#[derive(clap::Args, Debug)]
#[command(
    about = "Start a new generation of the server under a running `changeover run`",
    after_help = "Exit status: 0 the reload started (with --wait: the new child took over), 1 refused, rolled back, or no supervisor, 2 bad usage.\n\nExamples:\n  changeover reload --wait\n  changeover reload --pid-file /run/app.pid"
)]
pub(crate) struct Args {
    /// The supervisor's control socket [default: $XDG_RUNTIME_DIR/changeover.sock, else
    /// /tmp/changeover-<uid>/control.sock].
    #[arg(long, value_name = "PATH", conflicts_with = "pid_file")]
    control: Option<PathBuf>,

    /// Instead of the control socket, send the reload signal to the supervisor named by this
    /// pid file (`changeover run --pid-file`); cannot be combined with --wait.
    #[arg(long, value_name = "PATH")]
    pid_file: Option<PathBuf>,

    /// Wait for the outcome: exit 0 once the new child took over, 1 with the reason when it was
    /// rolled back.
    #[arg(long)]
    wait: bool,

    /// How long to wait for an answer.
    #[arg(long, value_name = "DURATION", default_value = "90s")]
    timeout: String,
}

/// Runs `changeover reload`.
pub(crate) fn main(args: Args) -> ExitCode {
    let timeout: Duration = match parse_duration(&args.timeout) {
        Ok(d) if !d.is_zero() => d,
        Ok(_) => return usage("--timeout 0: give the supervisor some time, e.g. --timeout 90s"),
        Err(e) => return usage(&format!("--timeout: {e}")),
    };
    if let Some(pid_file) = &args.pid_file {
        if args.wait {
            return usage(
                "--wait needs the control socket, and --pid-file only sends a signal: drop --pid-file (or use --control PATH)",
            );
        }
        return match control::signal_reload(pid_file) {
            Ok(pid) => {
                println!("sent the reload signal to supervisor pid {pid}");
                ExitCode::SUCCESS
            }
            Err(e) => failure(&e.to_string()),
        };
    }
    let path = control_path(args.control);
    match control::request(&path, &Request::Reload { wait: args.wait }, Some(timeout)) {
        Ok(Response::Reload(reply)) if reply.is_success() => {
            println!("{reply}");
            ExitCode::SUCCESS
        }
        Ok(Response::Reload(reply)) => failure(&reply.to_string()),
        Ok(other) => failure(&format!("unexpected answer {other:?}")),
        Err(e) => failure(&e.to_string()),
    }
}

fn usage(message: &str) -> ExitCode {
    eprintln!("changeover reload: {message}");
    ExitCode::from(2)
}

fn failure(message: &str) -> ExitCode {
    eprintln!("changeover reload: {message}");
    ExitCode::FAILURE
}
