//! `changeover run`: supervise a server as its zero-downtime parent (and as a container's PID 1).
//!
//! Parses the flags, has the supervisor check them into a `Config`, sets up logging, and hands
//! over to `changeover_supervisor::run`. The flags and their checks are defined once, in
//! `changeover_flags::run`, where `changeover lint` reads manifests' command lines with the same
//! definitions and checks. Exit status: the child's (128 + signal when a signal ended it),
//! 127 command not found, 126 not executable, 2 bad usage, 1 a socket or file could not be set up.

use std::process::ExitCode;

use changeover_flags::cli::RunArgs;
use changeover_supervisor::{Config, Defaults};

/// Runs `changeover run`.
pub(crate) fn main(args: RunArgs) -> ExitCode {
    let config = match Config::from_options(args, &Defaults::from_process()) {
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
