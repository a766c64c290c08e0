//! `changeover run`'s flags in one place: what is written ([`RunArgs`]), every check that needs
//! no I/O ([`RunArgs::check`]), and what the flags then mean ([`RunFlags`]).
//!
//! The parts, each a file: `args` (the flags as written, the clap definitions), `check` (every
//! check and the parsers of `--listen` and `--ready`), `flags` (what they mean), `proxy` (the
//! `--proxy` flags: `--upstream`, the forwarded headers) and the tests. `check` reads the other
//! three; `flags` reads `proxy`; none reads `check`.
//!
//! Three parts of the workspace read these flags, and all three go through this module:
//!
//! - the `changeover` binary parses its arguments into [`RunArgs`] (clap, feature `clap`);
//! - the supervisor's `Config::from_options` calls [`RunArgs::check`], then does only what needs
//!   the machine: resolving host names, the environment's defaults, binding;
//! - `changeover lint` parses a manifest's `changeover run …` with the same clap definitions
//!   ([`crate::cli::parse_run`]) and calls the same [`RunArgs::check`]: what it refuses, the lint
//!   reports with the very message the CLI prints.
//!
//! # Adding a flag
//!
//! 1. A field in [`RunArgs`] (`args.rs`), with
//!    `#[cfg_attr(feature = "clap", arg(long, value_name = …))]`; its doc comment is its `--help`
//!    text. Keep the value a `String` (or `Option<String>`), as
//!    written, so that the check below is what refuses it, with our message, not clap's.
//! 2. What it means, in [`RunFlags`] (`flags.rs`).
//! 3. Its check in [`RunArgs::check`] (`check.rs`), and for each new way to refuse it a
//!    [`FlagError`](crate::FlagError) variant whose message names the flag, the value, the problem and the fix.
//!
//! The CLI, the supervisor and the lint then know it. What is left to do elsewhere is to use its
//! meaning (the supervisor's `Config`), and to give it cases in the test that runs every flag
//! through both the CLI and the lint (`crates/changeover-cli/tests/lint/agrees_with_the_cli.rs`),
//! which fails while a flag of [`RunArgs`] has none.
//!
//! ```
//! use changeover_flags::run::{ReadyMode, RunArgs};
//!
//! let args = RunArgs {
//!     listen: vec!["0.0.0.0:8080".into()],
//!     ready: Some("delay:2s".into()),
//!     command: vec!["./server".into()],
//!     ..RunArgs::default()
//! };
//! let flags = args.check().unwrap();
//! assert_eq!(flags.ready, ReadyMode::Delay(std::time::Duration::from_secs(2)));
//! assert_eq!(flags.listen[0].name, "http");
//!
//! let args = RunArgs { listen: vec!["0.0.0.0:99999".into()], ..args };
//! assert!(args.check().unwrap_err().to_string().starts_with(
//!     "--listen: invalid listen address \"0.0.0.0:99999\": the port is not a number from 0 to 65535"
//! ));
//! ```

mod args;
mod check;
mod flags;
mod proxy;
#[cfg(test)]
mod tests;

use std::time::Duration;

pub use args::RunArgs;
pub use check::{parse_listen, parse_ready};
pub use flags::{ListenSpec, ReadyMode, RunFlags};
pub use proxy::{ProxyFlags, UpstreamMode, parse_upstream};

/// The stop delay when `KUBERNETES_SERVICE_HOST` is set and `--stop-delay` is not given (the
/// library's `DEFAULT_KUBERNETES_STOP_DELAY`; a test in the CLI checks they agree).
pub const DEFAULT_KUBERNETES_STOP_DELAY: Duration = Duration::from_secs(5);
/// `--drain-timeout` when not given (the library's `DEFAULT_DRAIN_TIMEOUT`).
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(20);
/// `--ready-timeout` when not given (the library's `DEFAULT_READY_TIMEOUT`).
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// `--max-draining` when not given.
pub const DEFAULT_MAX_DRAINING: usize = 4;
