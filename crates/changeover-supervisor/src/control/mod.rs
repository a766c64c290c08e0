//! The control socket: the server side inside `changeover run`, and the
//! client side used by `changeover reload`, `status` and `prestop`.
//!
//! A Unix stream socket created with mode 0600, so only its owner (and
//! root) can reach it; see [`crate::protocol`] for what travels over it.
//! Neither side trusts the other for being local: each checks the peer's
//! credentials (`SO_PEERCRED`) and talks only to its own user or root. The
//! default socket outside `XDG_RUNTIME_DIR` lives in a directory of the
//! user's own, mode 0700 ([`crate::config::private_control_dir`]), which
//! is refused when someone else got there first.
//!
//! `socket` creates the socket file and its private directory, `server` answers on it, `client`
//! asks; `peer` is the credentials check both sides make; `pid_file` is the other way to reload,
//! a signal to the process a pid file names.

mod client;
mod peer;
mod pid_file;
mod server;
mod socket;

use std::time::Duration;

pub use client::{ClientError, request};
pub use pid_file::signal_reload;
pub use server::serve;
pub use socket::{BindError, bind, ensure_private_dir};

/// The longest request line accepted.
const MAX_REQUEST: u64 = 64 * 1024;
/// How long a client may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    /// `bind` changes the process-wide umask for an instant: the tests that create files take
    /// turns.
    pub(super) static FILES: std::sync::Mutex<()> = std::sync::Mutex::new(());
}
