//! `changeover run`: supervise a server as its zero-downtime parent (and as a container's PID 1).
//!
//! Parses the flags into `changeover_supervisor::Options`, sets up logging, and hands over to
//! `changeover_supervisor::run`. The flags themselves are defined in `changeover_flags::cli`,
//! where `changeover lint` reads manifests' command lines with the same definitions. Exit status: the child's (128 + signal when a signal ended it),
//! 127 command not found, 126 not executable, 2 bad usage, 1 a socket or file could not be set up.

use std::process::ExitCode;

use changeover_flags::cli::RunArgs;
use changeover_supervisor::{Config, Defaults, Options};

/// Runs `changeover run`.
pub(crate) fn main(args: RunArgs) -> ExitCode {
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
        proxy: args.proxy,
        upstream: args.upstream,
        no_forwarded_headers: args.no_forwarded_headers,
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
