//! One grammar for durations, signals and flags, shared by the `changeover` CLI, the supervisor,
//! the library and `changeover lint`.
//!
//! The lint reads `changeover run` and `changeover prestop` command lines out of Kubernetes
//! manifests. If it had its own idea of what `--stop-delay 7` means, it would credit a container
//! with a delay the CLI refuses to start with. So every part of the grammar lives here, once:
//!
//! - [`duration`]: `500ms`, `5s`, `1m30s` (a number needs a unit; `0` alone is allowed), parsed
//!   and formatted;
//! - [`signal`]: `TERM`, `SIGQUIT`, `hup`, `15`;
//! - [`flag`]: a flag's value read with those grammars, and the one-line message the CLI prints
//!   when it refuses it;
//! - `cli` (cargo feature `clap`): the clap definitions of `changeover run` and `changeover
//!   prestop`, which the CLI parses its own arguments with and the lint parses manifests with.
//!
//! The library depends on this crate without the `clap` feature, so it stays lean.
//!
//! ```
//! use std::time::Duration;
//! use changeover_flags::{format_duration, parse_duration};
//!
//! assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
//! assert!(parse_duration("7").is_err()); // a number needs a unit
//! assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
//! ```

#[cfg(feature = "clap")]
pub mod cli;
pub mod duration;
pub mod flag;
pub mod signal;

pub use duration::{DurationError, format_duration, format_elapsed, parse_duration};
pub use flag::{FlagError, duration_flag, signal_flag};
pub use signal::{parse_signal, signal_name};
