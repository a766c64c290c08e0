//! The `changeover` command.
//!
//! Thin by design: each subcommand module parses its flags, calls library code
//! (`changeover`, `changeover-k8s`, `changeover-load`, `changeover-scenario`, `changeover-sim`),
//! prints, and maps the outcome to an exit status. Nothing a test wants to drive lives only here.
//!
//! Exit statuses shared by every subcommand: 0 success, 1 the check or the
//! operation failed, 2 bad usage or unreadable input. `run` is the exception:
//! it exits with its child's status (see `run.rs`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod demo;
mod lint;
mod load;
mod prestop;
mod reload;
mod run;
mod sim;
mod status;

/// Stop or replace a server without failing a single request.
#[derive(Parser, Debug)]
#[command(name = "changeover", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check Kubernetes manifests for graceful-termination mistakes.
    Lint(lint::Args),
    /// Rehearse a Kubernetes rollout, drain or delete with your server as the pods, under load.
    Sim(sim::Args),
    /// Drive HTTP/1.1 load at a URL, optionally while running a restart command, and count every failed request.
    Load(load::Args),
    /// Run a server with zero-downtime reloads and the Kubernetes stop sequence (also as PID 1).
    Run(changeover_flags::cli::RunArgs),
    /// Start a new generation of the server under a running `changeover run`.
    Reload(reload::Args),
    /// Show every generation of a running `changeover run`.
    Status(status::Args),
    /// Begin the stop of a running `changeover run`; return once its stop delay has passed.
    Prestop(changeover_flags::cli::PrestopArgs),
    /// Restart a demo server many ways under load and count failed requests.
    Demo(demo::Args),
    /// The server `demo` restarts (internal).
    #[command(hide = true)]
    DemoServer(demo::ServerArgs),
}

/// The control socket: the one given, or the default `changeover run` uses in this environment.
fn control_path(given: Option<PathBuf>) -> PathBuf {
    given.unwrap_or_else(|| changeover_supervisor::Defaults::from_process().control_path())
}

/// The multi-threaded runtime of subcommand `name` (`load`, `sim`); when it cannot start, its
/// one line is printed and `Err` is the exit status (1).
fn runtime(name: &str) -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("changeover {name}: cannot start the async runtime: {e}");
            ExitCode::from(1)
        })
}

/// Bad usage of subcommand `name`: its one line is printed; the exit status is 2.
fn usage_error(name: &str, problem: impl std::fmt::Display) -> ExitCode {
    eprintln!("changeover {name}: {problem}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Lint(args) => lint::main(args),
        Command::Sim(args) => sim::main(args),
        Command::Load(args) => load::main(args),
        Command::Run(args) => run::main(args),
        Command::Reload(args) => reload::main(args),
        Command::Status(args) => status::main(args),
        Command::Prestop(args) => prestop::main(args),
        Command::Demo(args) => demo::main(args),
        Command::DemoServer(args) => demo::server_main(args),
    }
}
