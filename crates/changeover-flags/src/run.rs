//! `changeover run`'s flags in one place: what is written ([`RunArgs`]), every check that needs
//! no I/O ([`RunArgs::check`]), and what the flags then mean ([`RunFlags`]).
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
//! 1. A field in [`RunArgs`], with `#[cfg_attr(feature = "clap", arg(long, value_name = …))]`;
//!    its doc comment is its `--help` text. Keep the value a `String` (or `Option<String>`), as
//!    written, so that the check below is what refuses it, with our message, not clap's.
//! 2. What it means, in [`RunFlags`].
//! 3. Its check in [`RunArgs::check`], and for each new way to refuse it a [`FlagError`] variant
//!    whose message names the flag, the value, the problem and the fix.
//!
//! The CLI, the supervisor and the lint then know it. What is left to do elsewhere is to use its
//! meaning (the supervisor's `Config`), and to give it cases in the test that runs every flag
//! through both the CLI and the lint (`crates/changeover-cli/tests/lint.rs`), which fails while
//! a flag of [`RunArgs`] has none.
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

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::addr::{Addr, parse_addr};
use crate::duration::{format_duration, parse_duration};
use crate::flag::{FlagError, duration_flag, signal_flag};
use crate::signal::reload_signal_problem;

/// The stop delay when `KUBERNETES_SERVICE_HOST` is set and `--stop-delay` is not given (the
/// library's `DEFAULT_KUBERNETES_STOP_DELAY`; a test in the CLI checks they agree).
pub const DEFAULT_KUBERNETES_STOP_DELAY: Duration = Duration::from_secs(5);
/// `--drain-timeout` when not given (the library's `DEFAULT_DRAIN_TIMEOUT`).
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(20);
/// `--ready-timeout` when not given (the library's `DEFAULT_READY_TIMEOUT`).
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// `--max-draining` when not given.
pub const DEFAULT_MAX_DRAINING: usize = 4;

/// The flags of `changeover run`, as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[cfg_attr(
    feature = "clap",
    command(
        about = "Run a server with zero-downtime reloads and the Kubernetes stop sequence (also as PID 1)",
        after_help = "Durations read like 500ms, 5s, 1m. Signals like TERM, SIGQUIT or 15.\n\nThe reload signal (SIGHUP) or `changeover reload` starts a new child on the same sockets; once it is ready the old one gets the stop signal. SIGTERM/SIGINT or `changeover prestop` stop: /readyz turns 503, the child serves on for the stop delay, then gets the stop signal, then SIGKILL at the drain deadline.\n\nWith --proxy the supervisor holds the client connections: a reload routes new requests to the new child and stops the old one once nothing is in flight to it; a stop answers with Connection: close through the stop delay, then closes the client connections and only then stops the child. It costs a hop per request (see the README).\n\nExit status: the child's (128 + signal when a signal ended it), 127 command not found, 126 not executable, 2 bad usage, 1 a socket or file could not be set up.\n\nExamples:\n  changeover run --listen 0.0.0.0:8080 --health 0.0.0.0:9090 -- ./server\n  changeover run --listen http=0.0.0.0:8080 --ready delay:2s --stop-signal QUIT -- python3 app.py\n  changeover run --proxy --listen 0.0.0.0:8080 --ready http:/ -- node server.js\n  changeover run --proxy --upstream env:PORT --listen 0.0.0.0:8080 -- python3 app.py"
    )
)]
pub struct RunArgs {
    /// A socket to bind once and pass to every child at fd 3, 4, …: HOST:PORT, [V6]:PORT or
    /// unix:PATH, named NAME (default http, then listen1, …). Repeatable. Sockets passed by
    /// systemd (LISTEN_FDS) are adopted instead.
    #[cfg_attr(feature = "clap", arg(long, value_name = "[NAME=]ADDR"))]
    pub listen: Vec<String>,

    /// Write the supervisor's pid here (it never changes across reloads).
    #[cfg_attr(feature = "clap", arg(long, value_name = "PATH"))]
    pub pid_file: Option<PathBuf>,

    /// The control socket for reload, status and prestop (mode 0600) [default:
    /// $XDG_RUNTIME_DIR/changeover.sock, else /tmp/changeover-<uid>/control.sock].
    #[cfg_attr(feature = "clap", arg(long, value_name = "PATH"))]
    pub control: Option<PathBuf>,

    /// Serve /livez, /readyz and /metrics here.
    #[cfg_attr(feature = "clap", arg(long, value_name = "ADDR"))]
    pub health: Option<String>,

    /// How a new child shows it is ready: READY=1 on NOTIFY_SOCKET, a fixed delay, a probe
    /// command run (by /bin/sh, with CHANGEOVER_CHILD_PID set) until it exits 0, or (with
    /// --proxy) GET PATH on the child's own upstream until it answers 2xx [default: notify; with
    /// --proxy --upstream env:VAR, a connection to its port].
    #[cfg_attr(
        feature = "clap",
        arg(long, value_name = "notify|delay:DURATION|exec:COMMAND|http:PATH")
    )]
    pub ready: Option<String>,

    /// Kill a new child that is not ready within this [default: 60s].
    #[cfg_attr(feature = "clap", arg(long, value_name = "DURATION"))]
    pub ready_timeout: Option<String>,

    /// Keep serving this long after a stop began, so load balancers stop routing here first
    /// [default: 5s when KUBERNETES_SERVICE_HOST is set, else 0].
    #[cfg_attr(feature = "clap", arg(long, value_name = "DURATION"))]
    pub stop_delay: Option<String>,

    /// SIGKILL a child's process group this long after its stop signal [default: 20s].
    #[cfg_attr(feature = "clap", arg(long, value_name = "DURATION"))]
    pub drain_timeout: Option<String>,

    /// What a child is sent to make it drain and exit [default: TERM].
    #[cfg_attr(feature = "clap", arg(long, value_name = "SIGNAL"))]
    pub stop_signal: Option<String>,

    /// The signal to the supervisor that starts a reload [default: HUP].
    #[cfg_attr(feature = "clap", arg(long, value_name = "SIGNAL"))]
    pub reload_signal: Option<String>,

    /// At most this many old generations drain at once; the oldest is killed beyond that
    /// [default: 4].
    #[cfg_attr(feature = "clap", arg(long, value_name = "N"))]
    pub max_draining: Option<String>,

    /// Serve the --listen sockets here (HTTP/1.1 and HTTP/2) and forward each request to the
    /// newest ready child over a private upstream of its own: an old child gets its stop signal
    /// only once no request is in flight to it, so whatever it does on SIGTERM (closing idle
    /// keep-alive connections, exiting at once) no client sees. /livez and /readyz stay on
    /// --health.
    #[cfg_attr(feature = "clap", arg(long))]
    pub proxy: bool,

    /// With --proxy, how each child gets its upstream: fd, a private Unix socket at fd 3
    /// (LISTEN_FDS, name http); or env:VAR, a free loopback port in $VAR (and HOST=127.0.0.1)
    /// that the child binds itself [default: fd].
    #[cfg_attr(feature = "clap", arg(long, value_name = "fd|env:VAR"))]
    pub upstream: Option<String>,

    /// With --proxy, do not add X-Forwarded-For, X-Forwarded-Proto and Forwarded.
    #[cfg_attr(feature = "clap", arg(long))]
    pub no_forwarded_headers: bool,

    /// The server's command, after --.
    #[cfg_attr(feature = "clap", arg(last = true, value_name = "COMMAND"))]
    pub command: Vec<OsString>,
}

/// How the supervisor learns that a new child is ready to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadyMode {
    /// The child sends `READY=1` to `NOTIFY_SOCKET` (systemd's protocol).
    Notify,
    /// The child is taken to be ready this long after it started, if it is still running.
    Delay(Duration),
    /// This command (run by `/bin/sh -c`, with `CHANGEOVER_CHILD_PID` set) is
    /// run until it exits 0.
    Exec(String),
    /// `http:PATH` (with `--proxy`): `GET PATH` on the generation's own
    /// upstream, repeated until it is answered 2xx.
    Http(String),
    /// With `--proxy --upstream env:VAR` when no `--ready` is given: a
    /// connection to the generation's port succeeds (the child binds it
    /// itself, so that proves it listens). Not written as a flag value.
    Connect,
}

impl fmt::Display for ReadyMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadyMode::Notify => write!(f, "notify"),
            ReadyMode::Delay(d) => write!(f, "delay:{}", format_duration(*d)),
            ReadyMode::Exec(c) => write!(f, "exec:{c}"),
            ReadyMode::Http(p) => write!(f, "http:{p}"),
            ReadyMode::Connect => write!(f, "connect"),
        }
    }
}

/// How a generation's private upstream is given to it (`--upstream`, with `--proxy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamMode {
    /// `fd` (the default): a listening Unix socket of its own, in a directory
    /// only the supervisor's user can enter, passed at fd 3 by the systemd
    /// protocol under the name `http`.
    Fd,
    /// `env:VAR`: a free loopback TCP port, in `VAR` (and `HOST=127.0.0.1`);
    /// the child binds it itself.
    Env(String),
}

impl fmt::Display for UpstreamMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpstreamMode::Fd => write!(f, "fd"),
            UpstreamMode::Env(var) => write!(f, "env:{var}"),
        }
    }
}

/// `--proxy`: the supervisor serves the public sockets and forwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyFlags {
    /// How each generation gets its private upstream.
    pub upstream: UpstreamMode,
    /// Add `X-Forwarded-For`, `X-Forwarded-Proto` and `Forwarded`.
    pub forwarded_headers: bool,
}

/// One `--listen`: the name it gets in `LISTEN_FDNAMES` and its address, not yet resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenSpec {
    /// The name in `LISTEN_FDNAMES`.
    pub name: String,
    /// Where to bind it.
    pub addr: Addr,
}

/// What `changeover run`'s flags mean, once [`RunArgs::check`] accepted them. Only what depends
/// on the machine is left open: host names to resolve, and the defaults that depend on the
/// environment (`None` below).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFlags {
    /// Sockets to bind, in order (fd 3, 4, … in the child).
    pub listen: Vec<ListenSpec>,
    /// Where to write the supervisor's pid.
    pub pid_file: Option<PathBuf>,
    /// The control socket; `None`: the environment's default.
    pub control: Option<PathBuf>,
    /// Where to serve `/livez`, `/readyz` and `/metrics`.
    pub health: Option<Addr>,
    /// How readiness is learnt.
    pub ready: ReadyMode,
    /// How long a new child may take to become ready before it is killed.
    pub ready_timeout: Duration,
    /// `--stop-delay`; `None`: the environment's default (see [`RunFlags::stop_delay_or_default`]).
    pub stop_delay: Option<Duration>,
    /// How long a child may drain after the stop signal before SIGKILL.
    pub drain_timeout: Duration,
    /// What a child is sent to make it drain and exit.
    pub stop_signal: Signal,
    /// The signal that starts a reload.
    pub reload_signal: Signal,
    /// How many old generations may drain at once.
    pub max_draining: usize,
    /// `--proxy`, if given.
    pub proxy: Option<ProxyFlags>,
    /// The program to run.
    pub program: OsString,
    /// Its arguments.
    pub args: Vec<OsString>,
}

impl RunFlags {
    /// The stop delay: `--stop-delay`, else [`DEFAULT_KUBERNETES_STOP_DELAY`] when
    /// `KUBERNETES_SERVICE_HOST` is set (`kubernetes`), else none.
    pub fn stop_delay_or_default(&self, kubernetes: bool) -> Duration {
        match self.stop_delay {
            Some(d) => d,
            None if kubernetes => DEFAULT_KUBERNETES_STOP_DELAY,
            None => Duration::ZERO,
        }
    }
}

impl RunArgs {
    /// Every check of `changeover run`'s flags that needs no I/O, in the order the CLI makes
    /// them; the first refusal is the one line `changeover run` prints (after
    /// `changeover run: `) before exiting 2.
    pub fn check(&self) -> Result<RunFlags, FlagError> {
        let listen = parse_listen(&self.listen)?;
        let health = self
            .health
            .as_deref()
            .map(|h| {
                parse_addr(h).map_err(|source| FlagError::Address {
                    flag: "--health",
                    source,
                })
            })
            .transpose()?;
        let proxy = if self.proxy {
            let upstream = self
                .upstream
                .as_deref()
                .map(parse_upstream)
                .transpose()?
                .unwrap_or(UpstreamMode::Fd);
            Some(ProxyFlags {
                upstream,
                forwarded_headers: !self.no_forwarded_headers,
            })
        } else {
            if let Some(v) = &self.upstream {
                parse_upstream(v)?;
                return Err(FlagError::NeedsProxy {
                    flag: "--upstream".into(),
                });
            }
            if self.no_forwarded_headers {
                return Err(FlagError::NeedsProxy {
                    flag: "--no-forwarded-headers".into(),
                });
            }
            None
        };
        let ready = self.ready.as_deref().map(parse_ready).transpose()?;
        if let (Some(ReadyMode::Http(path)), None) = (&ready, &proxy) {
            return Err(FlagError::NeedsProxy {
                flag: format!("--ready http:{path}"),
            });
        }
        // With the fd upstream the socket listens before the child runs, so
        // only the child can say when it serves (READY=1); a child that binds
        // $VAR itself shows it by accepting a connection there.
        let ready = ready.unwrap_or(match &proxy {
            Some(ProxyFlags {
                upstream: UpstreamMode::Env(_),
                ..
            }) => ReadyMode::Connect,
            _ => ReadyMode::Notify,
        });
        let ready_timeout = duration_flag(
            "--ready-timeout",
            self.ready_timeout.as_deref(),
            DEFAULT_READY_TIMEOUT,
        )?;
        if let ReadyMode::Delay(delay) = ready {
            if delay >= ready_timeout {
                return Err(FlagError::DelayNotBeforeTimeout {
                    delay,
                    timeout: ready_timeout,
                });
            }
        }
        let stop_delay = self
            .stop_delay
            .as_deref()
            .map(|v| duration_flag("--stop-delay", Some(v), Duration::ZERO))
            .transpose()?;
        let drain_timeout = duration_flag(
            "--drain-timeout",
            self.drain_timeout.as_deref(),
            DEFAULT_DRAIN_TIMEOUT,
        )?;
        let stop_signal = signal_flag(
            "--stop-signal",
            self.stop_signal.as_deref(),
            Signal::SIGTERM,
        )?;
        let reload_signal = signal_flag(
            "--reload-signal",
            self.reload_signal.as_deref(),
            Signal::SIGHUP,
        )?;
        if let Some(problem) = reload_signal_problem(reload_signal) {
            return Err(FlagError::UnusableSignal {
                flag: "--reload-signal",
                signal: reload_signal,
                problem,
            });
        }
        let max_draining = match self.max_draining.as_deref() {
            None => DEFAULT_MAX_DRAINING,
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if n >= 1 => n,
                _ => {
                    return Err(FlagError::MaxDraining {
                        value: v.to_owned(),
                    });
                }
            },
        };
        let mut command = self.command.iter().cloned();
        let program = command
            .next()
            .filter(|p| !p.is_empty())
            .ok_or(FlagError::NoCommand)?;
        Ok(RunFlags {
            listen,
            pid_file: self.pid_file.clone(),
            control: self.control.clone(),
            health,
            ready,
            ready_timeout,
            stop_delay,
            drain_timeout,
            stop_signal,
            reload_signal,
            max_draining,
            proxy,
            program,
            args: command.collect(),
        })
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Reads the `--listen` values: `[NAME=]ADDR`; unnamed ones are called `http`, then `listen1`,
/// `listen2`, ….
///
/// ```
/// use changeover_flags::run::parse_listen;
/// let specs = parse_listen(&["127.0.0.1:8080".into(), "admin=127.0.0.1:9000".into()]).unwrap();
/// assert_eq!((specs[0].name.as_str(), specs[1].name.as_str()), ("http", "admin"));
/// ```
pub fn parse_listen(values: &[String]) -> Result<Vec<ListenSpec>, FlagError> {
    let mut specs: Vec<ListenSpec> = Vec::new();
    let mut unnamed = 0;
    for value in values {
        let (name, addr) = match value.split_once('=') {
            // `unix:/run/a=b.sock` has an '=' but what precedes it is no name.
            Some((name, addr)) if !name.contains(':') && !name.contains('/') => {
                if !valid_name(name) {
                    return Err(FlagError::ListenName {
                        name: name.to_owned(),
                    });
                }
                (name.to_owned(), addr)
            }
            _ => {
                let name = if unnamed == 0 {
                    "http".to_owned()
                } else {
                    format!("listen{unnamed}")
                };
                unnamed += 1;
                (name, value.as_str())
            }
        };
        let addr = parse_addr(addr).map_err(|source| FlagError::Address {
            flag: "--listen",
            source,
        })?;
        if specs.iter().any(|s| s.name == name) {
            return Err(FlagError::DuplicateName { name });
        }
        specs.push(ListenSpec { name, addr });
    }
    Ok(specs)
}

/// Reads `--ready`.
///
/// ```
/// use changeover_flags::run::{ReadyMode, parse_ready};
/// assert_eq!(parse_ready("notify").unwrap(), ReadyMode::Notify);
/// assert!(parse_ready("tcp:8080").is_err());
/// ```
pub fn parse_ready(value: &str) -> Result<ReadyMode, FlagError> {
    let bad = || FlagError::Ready {
        value: value.to_owned(),
    };
    if value == "notify" {
        return Ok(ReadyMode::Notify);
    }
    if let Some(d) = value.strip_prefix("delay:") {
        return parse_duration(d)
            .map(ReadyMode::Delay)
            .map_err(|source| FlagError::Duration {
                flag: "--ready delay:",
                source,
            });
    }
    if let Some(cmd) = value.strip_prefix("exec:") {
        if cmd.trim().is_empty() {
            return Err(bad());
        }
        return Ok(ReadyMode::Exec(cmd.to_owned()));
    }
    if let Some(path) = value.strip_prefix("http:") {
        if path.trim().is_empty() {
            return Err(FlagError::ReadyPath {
                value: value.to_owned(),
            });
        }
        if !path.starts_with('/') || path.contains(|c: char| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        return Ok(ReadyMode::Http(path.to_owned()));
    }
    Err(bad())
}

/// Reads `--upstream`: `fd`, or `env:VAR` with VAR a shell variable name.
///
/// ```
/// use changeover_flags::run::{UpstreamMode, parse_upstream};
/// assert_eq!(parse_upstream("env:PORT").unwrap(), UpstreamMode::Env("PORT".into()));
/// assert!(parse_upstream("env:8080").is_err());
/// ```
pub fn parse_upstream(value: &str) -> Result<UpstreamMode, FlagError> {
    if value == "fd" {
        return Ok(UpstreamMode::Fd);
    }
    let var = value.strip_prefix("env:").unwrap_or_default();
    let mut chars = var.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(UpstreamMode::Env(var.to_owned()))
    } else {
        Err(FlagError::Upstream {
            value: value.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::ListenAddr;

    fn args(f: impl FnOnce(&mut RunArgs)) -> RunArgs {
        let mut a = RunArgs {
            command: vec!["server".into()],
            ..RunArgs::default()
        };
        f(&mut a);
        a
    }

    #[test]
    fn defaults_follow_the_design() {
        let flags = args(|_| {}).check().unwrap();
        assert_eq!(flags.stop_delay, None);
        assert_eq!(flags.stop_delay_or_default(false), Duration::ZERO);
        assert_eq!(flags.stop_delay_or_default(true), Duration::from_secs(5));
        assert_eq!(flags.drain_timeout, Duration::from_secs(20));
        assert_eq!(flags.ready_timeout, Duration::from_secs(60));
        assert_eq!(flags.stop_signal, Signal::SIGTERM);
        assert_eq!(flags.reload_signal, Signal::SIGHUP);
        assert_eq!(flags.ready, ReadyMode::Notify);
        assert_eq!(flags.max_draining, 4);
        assert_eq!(flags.program, "server");
        let flags = args(|a| a.stop_delay = Some("0".into())).check().unwrap();
        assert_eq!(flags.stop_delay_or_default(true), Duration::ZERO);
    }

    #[test]
    fn listeners_are_named_http_then_listen1() {
        let specs = parse_listen(&[
            "127.0.0.1:8080".into(),
            "admin=127.0.0.1:9000".into(),
            "[::1]:8081".into(),
            "unix:/run/a=b.sock".into(),
        ])
        .unwrap();
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["http", "admin", "listen1", "listen2"]);
        assert_eq!(
            specs[3].addr,
            Addr::Known(ListenAddr::Unix("/run/a=b.sock".into()))
        );
        assert!(matches!(
            parse_listen(&["a=127.0.0.1:1".into(), "a=127.0.0.1:2".into()]),
            Err(FlagError::DuplicateName { .. })
        ));
        assert!(matches!(
            parse_listen(&["b c=127.0.0.1:1".into()]),
            Err(FlagError::ListenName { .. })
        ));
    }

    /// Contract: every refusal is the one line the CLI prints, word for word (the CLI's tests
    /// pin the same texts through the binary).
    #[test]
    fn every_refusal_names_the_flag_the_value_the_problem_and_the_fix() {
        let address = |flag: &str, value: &str, problem: &str| {
            format!(
                "{flag}: invalid listen address {value:?}: {problem}; write HOST:PORT (127.0.0.1:8080), [V6]:PORT ([::1]:8080) or unix:PATH"
            )
        };
        let cases: Vec<(RunArgs, String)> = vec![
            (
                args(|a| a.stop_signal = Some("TREM".into())),
                "--stop-signal \"TREM\": unknown signal name; use a name such as TERM, QUIT, INT, HUP, USR1, USR2 or WINCH (with or without SIG), or a number".into(),
            ),
            (
                args(|a| a.reload_signal = Some("KILL".into())),
                "--reload-signal KILL: it cannot be caught; choose another, such as HUP or USR2".into(),
            ),
            (
                args(|a| a.reload_signal = Some("term".into())),
                "--reload-signal TERM: it already means stop; choose another, such as HUP or USR2".into(),
            ),
            (
                args(|a| a.listen = vec!["0.0.0.0:99999".into()]),
                address("--listen", "0.0.0.0:99999", "the port is not a number from 0 to 65535"),
            ),
            (
                args(|a| a.listen = vec!["http=::1:8080".into()]),
                address("--listen", "::1:8080", "an IPv6 host must be written in brackets"),
            ),
            (
                args(|a| a.health = Some("9090".into())),
                address("--health", "9090", "it has no port"),
            ),
            (
                args(|a| a.listen = vec!["my app=0.0.0.0:8080".into()]),
                "--listen: invalid socket name \"my app\"; a name is 1 to 255 of A-Z a-z 0-9 _ . - (write NAME=ADDR, e.g. http=0.0.0.0:8080)".into(),
            ),
            (
                args(|a| a.listen = vec!["0.0.0.0:8080".into(), "http=0.0.0.0:8081".into()]),
                "--listen: the name \"http\" is given twice; give each socket its own name (NAME=ADDR)".into(),
            ),
            (
                args(|a| a.stop_delay = Some("5".into())),
                "--stop-delay: invalid duration \"5\": a number has no unit; write a number with a unit, like 500ms, 5s, 1m or 1m30s".into(),
            ),
            (
                args(|a| a.ready = Some("tcp:8080".into())),
                "--ready \"tcp:8080\": not a readiness check; write notify, delay:DURATION (e.g. delay:2s), exec:COMMAND or (with --proxy) http:PATH".into(),
            ),
            (
                args(|a| a.ready = Some("exec: ".into())),
                "--ready \"exec: \": not a readiness check; write notify, delay:DURATION (e.g. delay:2s), exec:COMMAND or (with --proxy) http:PATH".into(),
            ),
            (
                args(|a| {
                    a.proxy = true;
                    a.upstream = Some("tcp:8080".into());
                }),
                "--upstream \"tcp:8080\": not an upstream; write fd (a private socket at fd 3, the default) or env:VAR (a free loopback port in $VAR, e.g. env:PORT)".into(),
            ),
            (
                args(|a| {
                    a.proxy = true;
                    a.ready = Some("http:".into());
                }),
                "--ready \"http:\": the path is missing; write http: and the path to GET on the new child, e.g. http:/healthz".into(),
            ),
            (
                args(|a| a.upstream = Some("env:PORT".into())),
                "--upstream needs --proxy: without it the child serves the public sockets itself; add --proxy, or drop --upstream".into(),
            ),
            (
                args(|a| a.ready = Some("http:/healthz".into())),
                "--ready http:/healthz needs --proxy: without it the child serves the public sockets itself; add --proxy, or drop --ready http:/healthz".into(),
            ),
            (
                args(|a| a.no_forwarded_headers = true),
                "--no-forwarded-headers needs --proxy: without it the child serves the public sockets itself; add --proxy, or drop --no-forwarded-headers".into(),
            ),
            (
                args(|a| a.ready = Some("delay:2m".into())),
                "--ready delay:120s is not shorter than --ready-timeout 60s: no child could ever become ready; shorten the delay or raise the timeout".into(),
            ),
            (
                args(|a| a.max_draining = Some("0".into())),
                "--max-draining \"0\": write a whole number of at least 1".into(),
            ),
            (
                args(|a| a.command.clear()),
                "no command given: write the server's command after --, e.g. changeover run --listen 0.0.0.0:8080 -- ./server".into(),
            ),
            (
                args(|a| a.command = vec!["".into()]),
                "no command given: write the server's command after --, e.g. changeover run --listen 0.0.0.0:8080 -- ./server".into(),
            ),
        ];
        for (a, want) in cases {
            assert_eq!(a.check().unwrap_err().to_string(), want, "{a:?}");
        }
    }

    /// In proxy mode the default readiness follows the upstream: with `fd` the socket listens
    /// before the child runs (only READY=1 can tell), with `env:VAR` the child binds it itself
    /// (a connection accepted tells).
    #[test]
    fn proxy_defaults_follow_the_upstream() {
        let flags = args(|a| a.proxy = true).check().unwrap();
        let p = flags.proxy.unwrap();
        assert_eq!(p.upstream, UpstreamMode::Fd);
        assert!(p.forwarded_headers);
        assert_eq!(flags.ready, ReadyMode::Notify);
        let flags = args(|a| {
            a.proxy = true;
            a.upstream = Some("env:PORT".into());
            a.no_forwarded_headers = true;
        })
        .check()
        .unwrap();
        assert_eq!(flags.ready, ReadyMode::Connect);
        let p = flags.proxy.unwrap();
        assert_eq!(p.upstream, UpstreamMode::Env("PORT".into()));
        assert!(!p.forwarded_headers);
        assert!(args(|_| {}).check().unwrap().proxy.is_none());
        assert_eq!(
            parse_ready("http:/healthz?full=1").unwrap(),
            ReadyMode::Http("/healthz?full=1".into())
        );
        assert!(parse_ready("http:healthz").is_err());
    }

    #[test]
    fn ready_modes() {
        assert_eq!(parse_ready("notify").unwrap(), ReadyMode::Notify);
        assert_eq!(
            parse_ready("delay:1500ms").unwrap(),
            ReadyMode::Delay(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_ready("exec:curl -fs localhost").unwrap(),
            ReadyMode::Exec("curl -fs localhost".into())
        );
        assert!(parse_ready("exec: ").is_err());
        assert!(parse_ready("delay:").is_err());
        // Raising the timeout makes room for a long delay.
        let a = args(|a| {
            a.ready = Some("delay:2m".into());
            a.ready_timeout = Some("3m".into());
        });
        assert_eq!(
            a.check().unwrap().ready,
            ReadyMode::Delay(Duration::from_secs(120))
        );
    }
}
