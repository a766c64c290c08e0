//! `changeover prestop`: a Kubernetes `preStop` exec hook for a pod whose PID 1 is
//! `changeover run`. It begins the stop sequence (`/readyz` turns 503 while the server serves on)
//! and returns once the stop delay has passed; the SIGTERM the kubelet sends next continues the
//! same stop rather than starting a second one.
//!
//! Exit status: 0 the delay has passed, 1 no supervisor answered.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use changeover::format_duration;
use changeover_supervisor::control;
use changeover_supervisor::protocol::{Request, Response};

use crate::control_path;

/// A bound on the wait; the supervisor's stop delay ends it long before, and the kubelet's
/// grace period bounds the hook anyway.
const TIMEOUT: Duration = Duration::from_secs(3600);

/// Options of `changeover prestop`.
#[derive(clap::Args, Debug)]
#[command(
    about = "Begin the stop of a running `changeover run` and return once its stop delay has passed (a preStop hook)",
    after_help = "Exit status: 0 the stop delay has passed, 1 no supervisor answered.\n\nIn a pod spec:\n  lifecycle:\n    preStop:\n      exec:\n        command: [\"changeover\", \"prestop\"]"
)]
pub(crate) struct Args {
    /// The supervisor's control socket [default: $XDG_RUNTIME_DIR/changeover.sock, else
    /// /tmp/changeover-<uid>/control.sock].
    #[arg(long, value_name = "PATH")]
    control: Option<PathBuf>,
}

/// Runs `changeover prestop`.
pub(crate) fn main(args: Args) -> ExitCode {
    let path = control_path(args.control);
    match control::request(&path, &Request::Prestop, Some(TIMEOUT)) {
        Ok(Response::Prestop(reply)) => {
            println!(
                "stop delay over after {}: the server now drains",
                format_duration(Duration::from_millis(reply.waited_ms))
            );
            ExitCode::SUCCESS
        }
        Ok(other) => {
            eprintln!("changeover prestop: unexpected answer {other:?}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("changeover prestop: {e}");
            ExitCode::FAILURE
        }
    }
}
