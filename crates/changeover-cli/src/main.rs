//! The `changeover` command.
//!
//! Thin by design: each subcommand module parses its flags, calls library code
//! (`changeover`, `changeover-k8s`, `changeover-load`), prints, and maps the
//! outcome to an exit status. Nothing a test wants to drive lives only here.
//!
//! Exit statuses shared by every subcommand: 0 success, 1 the check or the
//! operation failed, 2 bad usage or unreadable input.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod lint;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Lint(args) => lint::main(args),
    }
}
