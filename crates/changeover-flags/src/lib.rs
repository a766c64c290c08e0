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
//! - [`addr`]: `HOST:PORT`, `[V6]:PORT`, `unix:PATH` (the library's `ListenAddr`);
//! - [`flag`]: a flag's value read with those grammars, and the one-line message the CLI prints
//!   when it refuses it;
//! - [`run`]: `changeover run`'s flags as written, every check of them that needs no I/O, and
//!   what they mean: the supervisor and the lint call the same [`run::RunArgs::check`] (the
//!   module says how to add a flag);
//! - `cli` (cargo feature `clap`): the clap definitions of `changeover run` and `changeover
//!   prestop`, which the CLI parses its own arguments with and the lint parses manifests with.
//!
//! Nothing here does I/O or needs tokio: the lint is pure and the library stays lean (it depends
//! on this crate without the `clap` feature). The one exception is opt-in: the `resolve` feature
//! resolves host names of listen addresses with the system resolver (the library enables it; the
//! lint does not).
//!
//! ```
//! use std::time::Duration;
//! use changeover_flags::{format_duration, parse_duration};
//!
//! assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
//! assert!(parse_duration("7").is_err()); // a number needs a unit
//! assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
//! ```

pub mod addr;
#[cfg(feature = "clap")]
pub mod cli;
pub mod duration;
pub mod flag;
pub mod run;
pub mod signal;

pub use addr::{Addr, AddrError, ListenAddr, parse_addr};

pub use duration::{DurationError, format_duration, format_elapsed, parse_duration};
pub use flag::{FlagError, duration_flag, signal_flag};
pub use signal::{parse_signal, signal_name};
