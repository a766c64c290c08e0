//! Black-box tests of `changeover run` with real processes, real sockets on 127.0.0.1 and real
//! signals. One file per contract:
//!
//! - `reloads`: reloads under load fail no request, with the supervisor's pid unchanged; a bad
//!   deploy is rolled back while the old child serves on; `reload --pid-file`;
//! - `stop`: the stop sequence keeps serving through the stop delay; `prestop`; `--stop-signal`;
//! - `child`: a child gets exactly its sockets and protocol variables; the supervisor exits with
//!   its child's status;
//! - `readiness`: the notify socket ignores garbage and strangers; the `exec:` probe;
//! - `systemd`: socket activation and the notify-reload protocol towards systemd.
//!
//! The shared harness is `tests/support` (a supervisor in a fresh directory, the CLI run with a
//! deadline). One test binary, so the files link once.

#[path = "../support/mod.rs"]
mod support;

mod child;
mod readiness;
mod reloads;
mod stop;
mod systemd;
