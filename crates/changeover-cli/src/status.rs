//! `changeover status`: every generation of a running `changeover run` (pid, state, age).
//!
//! Exit status: 0 answered, 1 no supervisor answered.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use changeover_supervisor::control;
use changeover_supervisor::protocol::{Request, Response};

use crate::control_path;

/// How long to wait for the answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Options of `changeover status`.
#[derive(clap::Args, Debug)]
#[command(
    about = "Show every generation of a running `changeover run`: pid, state, age",
    after_help = "Exit status: 0 answered, 1 no supervisor answered.\n\nExample:\n  changeover status --json"
)]
pub(crate) struct Args {
    /// The supervisor's control socket [default: $XDG_RUNTIME_DIR/changeover.sock, else
    /// /tmp/changeover-<uid>/control.sock].
    #[arg(long, value_name = "PATH")]
    control: Option<PathBuf>,

    /// Print one JSON document instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs `changeover status`.
pub(crate) fn main(args: Args) -> ExitCode {
    let path = control_path(args.control);
    match control::request(&path, &Request::Status, Some(TIMEOUT)) {
        Ok(Response::Status(status)) => {
            if args.json {
                match serde_json::to_string_pretty(&status) {
                    Ok(text) => println!("{text}"),
                    Err(e) => {
                        eprintln!("changeover status: cannot encode the status: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            } else {
                print!("{status}");
            }
            ExitCode::SUCCESS
        }
        Ok(other) => {
            eprintln!("changeover status: unexpected answer {other:?}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("changeover status: {e}");
            ExitCode::FAILURE
        }
    }
}
