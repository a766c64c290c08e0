//! The flags of `changeover run` and `changeover prestop`, as clap definitions.
//!
//! The CLI parses its own arguments with these, and `changeover lint` parses the command lines it
//! finds in manifests with the very same definitions ([`parse_run`], [`parse_prestop`]), so the
//! two cannot disagree about which flags exist or how they are spelled. Values are kept as
//! written; what they mean, and every refusal of them, is [`crate::run::RunArgs::check`].

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, FromArgMatches};

pub use crate::run::RunArgs;

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
