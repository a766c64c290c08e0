//! What every scenario is given: the server to restart ([`ServerCommand`]) and the [`Setup`]
//! (how many restarts, how much load, how long to wait).

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

/// How to start the server a scenario restarts: `program ARGS`, to which a scenario appends
/// `--listen 127.0.0.1:PORT` (and for the Kubernetes stop `--stop-delay 2s`); under
/// `changeover run` it appends nothing, the socket is inherited.
///
/// The server must report `READY=1` to `NOTIFY_SOCKET` once it serves, and for the
/// self-upgrade replace itself on SIGHUP the way the `changeover` library does (its successor
/// reports `READY=1`, then the old one sends `MAINPID=` and exits). `changeover demo-server`
/// and `examples/hello` both do.
///
/// ```
/// use changeover_scenario::ServerCommand;
///
/// let hello = ServerCommand::new("target/release/examples/hello");
/// let demo = ServerCommand::new("target/release/changeover").arg("demo-server");
/// assert_eq!(demo.args, ["demo-server"]);
/// assert!(hello.args.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCommand {
    /// The program.
    pub program: PathBuf,
    /// Its first arguments, before those a scenario adds.
    pub args: Vec<OsString>,
}

impl ServerCommand {
    /// `program` with no arguments.
    pub fn new(program: impl Into<PathBuf>) -> ServerCommand {
        ServerCommand {
            program: program.into(),
            args: Vec::new(),
        }
    }

    /// Adds an argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> ServerCommand {
        self.args.push(arg.into());
        self
    }

    /// The arguments to serve on 127.0.0.1:`port`, with `extra` flags after.
    pub(crate) fn listening(&self, port: u16, extra: &[&str]) -> Vec<OsString> {
        let mut argv = self.args.clone();
        argv.push("--listen".into());
        argv.push(format!("127.0.0.1:{port}").into());
        argv.extend(extra.iter().map(OsString::from));
        argv
    }
}

/// What every scenario is given. Build it with [`Setup::new`] and set the public fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setup {
    /// The server to restart.
    pub server: ServerCommand,
    /// The `changeover` binary, for the supervisor reload (`changeover run` and
    /// `changeover reload --wait`).
    pub changeover: PathBuf,
    /// Restarts per scenario (the Kubernetes stop stops once, whatever this says).
    pub restarts: u32,
    /// Concurrent connections of the load (closed loop).
    pub connections: usize,
    /// Keep-alive connections (`true`), or one request per connection.
    pub keep_alive: bool,
    /// How long the undisturbed load runs first, to measure the steady p99.
    pub steady: Duration,
    /// Requests answered `Ok` before the first restart and between two restarts: proof that
    /// the server serves again before it is disturbed again.
    pub answered_between: u64,
    /// Bound on every wait: for a notification, an exit, or the answers in between.
    pub deadline: Duration,
}

impl Setup {
    /// Default [`Setup::restarts`]: 10.
    pub const DEFAULT_RESTARTS: u32 = 10;
    /// Default [`Setup::connections`]: 32.
    pub const DEFAULT_CONNECTIONS: usize = 32;
    /// Default [`Setup::steady`]: 2 s.
    pub const DEFAULT_STEADY: Duration = Duration::from_secs(2);
    /// Default [`Setup::answered_between`]: 200.
    pub const DEFAULT_ANSWERED_BETWEEN: u64 = 200;
    /// Default [`Setup::deadline`]: 30 s.
    pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);

    /// The defaults of `changeover demo`, keep-alive, for `server` and the `changeover` binary
    /// at `changeover`.
    pub fn new(server: ServerCommand, changeover: impl Into<PathBuf>) -> Setup {
        Setup {
            server,
            changeover: changeover.into(),
            restarts: Self::DEFAULT_RESTARTS,
            connections: Self::DEFAULT_CONNECTIONS,
            keep_alive: true,
            steady: Self::DEFAULT_STEADY,
            answered_between: Self::DEFAULT_ANSWERED_BETWEEN,
            deadline: Self::DEFAULT_DEADLINE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_listens_where_it_is_told_after_its_own_arguments() {
        let server = ServerCommand::new("/bin/srv").arg("serve");
        assert_eq!(
            server.listening(8080, &["--stop-delay", "2s"]),
            ["serve", "--listen", "127.0.0.1:8080", "--stop-delay", "2s"]
        );
    }
}
