//! `changeover prestop`: a Kubernetes `preStop` exec hook for a pod whose PID 1 is
//! `changeover run`. It begins the stop sequence (`/readyz` turns 503 while the server serves on)
//! and returns once the stop delay has passed; the SIGTERM the kubelet sends next continues the
//! same stop rather than starting a second one.
//!
//! Exit status: 0 the delay has passed, 1 no supervisor answered.

use std::process::ExitCode;
use std::time::Duration;

use changeover_flags::cli::PrestopArgs;
use changeover_flags::format_duration;
use changeover_supervisor::control;
use changeover_supervisor::protocol::{Request, Response};

use crate::control_path;

/// A bound on the wait; the supervisor's stop delay ends it long before, and the kubelet's
/// grace period bounds the hook anyway.
const TIMEOUT: Duration = Duration::from_secs(3600);

/// Runs `changeover prestop`.
pub(crate) fn main(args: PrestopArgs) -> ExitCode {
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
