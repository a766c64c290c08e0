//! What `changeover run` is told: flags as written, checked into a [`Config`].
//!
//! Every check happens here, before a socket is bound or a child started, and
//! every error is one line naming the flag, the value, the problem and the fix.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use changeover::{
    AddrError, DEFAULT_DRAIN_TIMEOUT, DEFAULT_KUBERNETES_STOP_DELAY, DEFAULT_READY_TIMEOUT,
    DurationError, ListenAddr, format_duration, parse_duration,
};
use changeover_flags::FlagError;
/// Signals as users write them; the grammar is shared with `changeover lint` (`changeover-flags`).
pub use changeover_flags::{parse_signal, signal_name};
use nix::sys::signal::Signal;

/// How many old generations may drain at once by default.
pub const DEFAULT_MAX_DRAINING: usize = 4;

/// The flags of `changeover run` as the user wrote them (the CLI fills this in).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--listen [NAME=]ADDR`, in order.
    pub listen: Vec<String>,
    /// `--pid-file PATH`.
    pub pid_file: Option<PathBuf>,
    /// `--control PATH`.
    pub control: Option<PathBuf>,
    /// `--health ADDR`.
    pub health: Option<String>,
    /// `--ready notify|delay:DURATION|exec:COMMAND`.
    pub ready: Option<String>,
    /// `--ready-timeout DURATION`.
    pub ready_timeout: Option<String>,
    /// `--stop-delay DURATION`.
    pub stop_delay: Option<String>,
    /// `--drain-timeout DURATION`.
    pub drain_timeout: Option<String>,
    /// `--stop-signal SIGNAL`.
    pub stop_signal: Option<String>,
    /// `--reload-signal SIGNAL`.
    pub reload_signal: Option<String>,
    /// `--max-draining N`.
    pub max_draining: Option<String>,
    /// The command after `--`: the program, then its arguments.
    pub command: Vec<OsString>,
}

/// What the defaults depend on, read from the environment once.
#[derive(Debug, Clone, Default)]
pub struct Defaults {
    /// Whether `KUBERNETES_SERVICE_HOST` is set (the stop delay is then 5 s).
    pub kubernetes: bool,
    /// `XDG_RUNTIME_DIR`, where the control socket goes when set.
    pub runtime_dir: Option<PathBuf>,
    /// The user id, for the control socket's name outside a runtime directory.
    pub uid: u32,
}

impl Defaults {
    /// Reads this process's environment.
    pub fn from_process() -> Defaults {
        Defaults {
            kubernetes: std::env::var_os("KUBERNETES_SERVICE_HOST").is_some(),
            runtime_dir: std::env::var_os("XDG_RUNTIME_DIR")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute()),
            uid: nix::unistd::getuid().as_raw(),
        }
    }

    /// The control socket used when `--control` is not given: the same for
    /// `changeover run` and for `reload`/`status`/`prestop` run by the same
    /// user in the same environment. `$XDG_RUNTIME_DIR/changeover.sock`, or
    /// `/tmp/changeover-<uid>/control.sock` when that variable is unset (in
    /// a directory of the user's own: see [`private_control_dir`]).
    pub fn control_path(&self) -> PathBuf {
        match &self.runtime_dir {
            Some(dir) => dir.join("changeover.sock"),
            None => private_control_dir(self.uid).join("control.sock"),
        }
    }
}

/// The directory of the default control socket outside `XDG_RUNTIME_DIR`:
/// `/tmp/changeover-<uid>`. A socket straight in world-writable `/tmp` can
/// be bound first by any other user; this directory is created by
/// `changeover run` with mode 0700 and refused when it belongs to anyone
/// else (see `control::bind`).
pub fn private_control_dir(uid: u32) -> PathBuf {
    PathBuf::from(format!("/tmp/changeover-{uid}"))
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
}

impl fmt::Display for ReadyMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadyMode::Notify => write!(f, "notify"),
            ReadyMode::Delay(d) => write!(f, "delay:{}", format_duration(*d)),
            ReadyMode::Exec(c) => write!(f, "exec:{c}"),
        }
    }
}

/// One listening socket to bind (or adopt) and pass to every child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenSpec {
    /// The name in `LISTEN_FDNAMES`.
    pub name: String,
    /// Where to bind it.
    pub addr: ListenAddr,
}

/// The timing rules of the state machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    /// How readiness is learnt.
    pub ready: ReadyMode,
    /// How long a new child may take to become ready before it is killed.
    pub ready_timeout: Duration,
    /// How long children keep serving after a stop began, before the stop signal.
    pub stop_delay: Duration,
    /// How long a child may drain after the stop signal before SIGKILL.
    pub drain_timeout: Duration,
    /// What a child is sent to make it drain and exit.
    pub stop_signal: Signal,
    /// How many old generations may drain at once.
    pub max_draining: usize,
}

/// A checked configuration of `changeover run`.
#[derive(Debug, Clone)]
pub struct Config {
    /// Sockets to bind, in order (fd 3, 4, … in the child).
    pub listen: Vec<ListenSpec>,
    /// Where to write the supervisor's pid.
    pub pid_file: Option<PathBuf>,
    /// The control socket.
    pub control: PathBuf,
    /// The private directory the control socket lives in, created (mode
    /// 0700) and checked to be the user's own before binding: set when the
    /// socket is in [`private_control_dir`], as the default is outside
    /// `XDG_RUNTIME_DIR`.
    pub control_dir: Option<PathBuf>,
    /// Where to serve `/livez`, `/readyz` and `/metrics`.
    pub health: Option<ListenAddr>,
    /// The timing rules.
    pub timing: Timing,
    /// The signal that starts a reload.
    pub reload_signal: Signal,
    /// The program to run.
    pub program: OsString,
    /// Its arguments.
    pub args: Vec<OsString>,
}

/// A flag whose value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// A signal name that is not one.
    UnknownSignal {
        /// The flag.
        flag: &'static str,
        /// What was written.
        value: String,
    },
    /// A signal that cannot serve this purpose.
    UnusableSignal {
        /// The flag.
        flag: &'static str,
        /// The signal.
        signal: Signal,
        /// Why not.
        problem: &'static str,
    },
    /// A duration that cannot be read.
    Duration {
        /// The flag.
        flag: &'static str,
        /// The parse error.
        source: DurationError,
    },
    /// An address that cannot be read.
    Address {
        /// The flag.
        flag: &'static str,
        /// The parse error.
        source: AddrError,
    },
    /// A listener name that cannot go into `LISTEN_FDNAMES`.
    ListenName {
        /// The name.
        name: String,
    },
    /// Two listeners of one name.
    DuplicateName {
        /// The name.
        name: String,
    },
    /// `--ready` in none of its forms.
    Ready {
        /// What was written.
        value: String,
    },
    /// `--ready delay:` not shorter than `--ready-timeout`.
    DelayNotBeforeTimeout {
        /// The delay.
        delay: Duration,
        /// The timeout.
        timeout: Duration,
    },
    /// `--max-draining` not a whole number of at least 1.
    MaxDraining {
        /// What was written.
        value: String,
    },
    /// Nothing after `--`.
    NoCommand,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The messages `changeover lint` quotes for manifests: one text, in changeover-flags.
            ConfigError::UnknownSignal { flag, value } => FlagError::UnknownSignal {
                flag,
                value: value.clone(),
            }
            .fmt(f),
            ConfigError::UnusableSignal {
                flag,
                signal,
                problem,
            } => FlagError::UnusableSignal {
                flag,
                signal: *signal,
                problem,
            }
            .fmt(f),
            ConfigError::Duration { flag, source } => FlagError::Duration {
                flag,
                source: source.clone(),
            }
            .fmt(f),
            ConfigError::Address { flag, source } => write!(f, "{flag}: {source}"),
            ConfigError::ListenName { name } => write!(
                f,
                "--listen: invalid socket name {name:?}; a name is 1 to 255 of A-Z a-z 0-9 _ . - (write NAME=ADDR, e.g. http=0.0.0.0:8080)"
            ),
            ConfigError::DuplicateName { name } => write!(
                f,
                "--listen: the name {name:?} is given twice; give each socket its own name (NAME=ADDR)"
            ),
            ConfigError::Ready { value } => write!(
                f,
                "--ready {value:?}: not a readiness check; write notify, delay:DURATION (e.g. delay:2s) or exec:COMMAND"
            ),
            ConfigError::DelayNotBeforeTimeout { delay, timeout } => write!(
                f,
                "--ready delay:{} is not shorter than --ready-timeout {}: no child could ever become ready; shorten the delay or raise the timeout",
                format_duration(*delay),
                format_duration(*timeout)
            ),
            ConfigError::MaxDraining { value } => write!(
                f,
                "--max-draining {value:?}: write a whole number of at least 1"
            ),
            ConfigError::NoCommand => write!(
                f,
                "no command given: write the server's command after --, e.g. changeover run --listen 0.0.0.0:8080 -- ./server"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

impl From<FlagError> for ConfigError {
    fn from(e: FlagError) -> ConfigError {
        match e {
            FlagError::Duration { flag, source } => ConfigError::Duration { flag, source },
            FlagError::UnknownSignal { flag, value } => ConfigError::UnknownSignal { flag, value },
            FlagError::UnusableSignal {
                flag,
                signal,
                problem,
            } => ConfigError::UnusableSignal {
                flag,
                signal,
                problem,
            },
        }
    }
}

fn signal_flag(
    flag: &'static str,
    value: Option<&str>,
    default: Signal,
) -> Result<Signal, ConfigError> {
    Ok(changeover_flags::signal_flag(flag, value, default)?)
}

fn duration_flag(
    flag: &'static str,
    value: Option<&str>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    Ok(changeover_flags::duration_flag(flag, value, default)?)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Reads the `--listen` values: `[NAME=]ADDR`; unnamed ones are called
/// `http`, then `listen1`, `listen2`, ….
pub fn parse_listen(values: &[String]) -> Result<Vec<ListenSpec>, ConfigError> {
    let mut specs: Vec<ListenSpec> = Vec::new();
    let mut unnamed = 0;
    for value in values {
        let (name, addr) = match value.split_once('=') {
            // `unix:/run/a=b.sock` has an '=' but what precedes it is no name.
            Some((name, addr)) if !name.contains(':') && !name.contains('/') => {
                if !valid_name(name) {
                    return Err(ConfigError::ListenName {
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
        let addr = addr
            .parse::<ListenAddr>()
            .map_err(|source| ConfigError::Address {
                flag: "--listen",
                source,
            })?;
        if specs.iter().any(|s| s.name == name) {
            return Err(ConfigError::DuplicateName { name });
        }
        specs.push(ListenSpec { name, addr });
    }
    Ok(specs)
}

/// Reads `--ready`.
pub fn parse_ready(value: &str) -> Result<ReadyMode, ConfigError> {
    let bad = || ConfigError::Ready {
        value: value.to_owned(),
    };
    if value == "notify" {
        return Ok(ReadyMode::Notify);
    }
    if let Some(d) = value.strip_prefix("delay:") {
        return parse_duration(d)
            .map(ReadyMode::Delay)
            .map_err(|source| ConfigError::Duration {
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
    Err(bad())
}

impl Config {
    /// Checks the options; `defaults` supplies what depends on the environment.
    pub fn from_options(opts: Options, defaults: &Defaults) -> Result<Config, ConfigError> {
        let listen = parse_listen(&opts.listen)?;
        let health = opts
            .health
            .as_deref()
            .map(|h| {
                h.parse::<ListenAddr>()
                    .map_err(|source| ConfigError::Address {
                        flag: "--health",
                        source,
                    })
            })
            .transpose()?;
        let ready = opts
            .ready
            .as_deref()
            .map(parse_ready)
            .transpose()?
            .unwrap_or(ReadyMode::Notify);
        let ready_timeout = duration_flag(
            "--ready-timeout",
            opts.ready_timeout.as_deref(),
            DEFAULT_READY_TIMEOUT,
        )?;
        if let ReadyMode::Delay(delay) = ready {
            if delay >= ready_timeout {
                return Err(ConfigError::DelayNotBeforeTimeout {
                    delay,
                    timeout: ready_timeout,
                });
            }
        }
        let default_delay = if defaults.kubernetes {
            DEFAULT_KUBERNETES_STOP_DELAY
        } else {
            Duration::ZERO
        };
        let stop_delay = duration_flag("--stop-delay", opts.stop_delay.as_deref(), default_delay)?;
        let drain_timeout = duration_flag(
            "--drain-timeout",
            opts.drain_timeout.as_deref(),
            DEFAULT_DRAIN_TIMEOUT,
        )?;
        let stop_signal = signal_flag(
            "--stop-signal",
            opts.stop_signal.as_deref(),
            Signal::SIGTERM,
        )?;
        let reload_signal = signal_flag(
            "--reload-signal",
            opts.reload_signal.as_deref(),
            Signal::SIGHUP,
        )?;
        // Shared with `changeover lint`, which quotes the same message for a manifest.
        if let Some(problem) = changeover_flags::signal::reload_signal_problem(reload_signal) {
            return Err(ConfigError::UnusableSignal {
                flag: "--reload-signal",
                signal: reload_signal,
                problem,
            });
        }
        let max_draining = match opts.max_draining.as_deref() {
            None => DEFAULT_MAX_DRAINING,
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if n >= 1 => n,
                _ => {
                    return Err(ConfigError::MaxDraining {
                        value: v.to_owned(),
                    });
                }
            },
        };
        let mut command = opts.command.into_iter();
        let program = command
            .next()
            .filter(|p| !p.is_empty())
            .ok_or(ConfigError::NoCommand)?;
        let control = opts.control.unwrap_or_else(|| defaults.control_path());
        let private = private_control_dir(defaults.uid);
        let control_dir = (control.parent() == Some(private.as_path())).then_some(private);
        Ok(Config {
            listen,
            pid_file: opts.pid_file,
            control,
            control_dir,
            health,
            timing: Timing {
                ready,
                ready_timeout,
                stop_delay,
                drain_timeout,
                stop_signal,
                max_draining,
            },
            reload_signal,
            program,
            args: command.collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(f: impl FnOnce(&mut Options)) -> Options {
        let mut o = Options {
            command: vec!["server".into()],
            ..Options::default()
        };
        f(&mut o);
        o
    }

    fn config(f: impl FnOnce(&mut Options)) -> Result<Config, ConfigError> {
        Config::from_options(opts(f), &Defaults::default())
    }

    #[test]
    fn defaults_follow_the_design() {
        let c = config(|_| {}).unwrap();
        assert_eq!(c.timing.stop_delay, Duration::ZERO);
        assert_eq!(c.timing.drain_timeout, Duration::from_secs(20));
        assert_eq!(c.timing.ready_timeout, Duration::from_secs(60));
        assert_eq!(c.timing.stop_signal, Signal::SIGTERM);
        assert_eq!(c.reload_signal, Signal::SIGHUP);
        assert_eq!(c.timing.ready, ReadyMode::Notify);
        assert_eq!(c.control, PathBuf::from("/tmp/changeover-0/control.sock"));
        assert_eq!(c.control_dir, Some(PathBuf::from("/tmp/changeover-0")));
        let k8s = Defaults {
            kubernetes: true,
            runtime_dir: Some("/run/user/1000".into()),
            uid: 1000,
        };
        let c = Config::from_options(opts(|_| {}), &k8s).unwrap();
        assert_eq!(c.timing.stop_delay, Duration::from_secs(5));
        assert_eq!(c.control, PathBuf::from("/run/user/1000/changeover.sock"));
        assert_eq!(c.control_dir, None);
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
        assert_eq!(specs[3].addr, ListenAddr::Unix("/run/a=b.sock".into()));
        assert!(matches!(
            parse_listen(&["a=127.0.0.1:1".into(), "a=127.0.0.1:2".into()]),
            Err(ConfigError::DuplicateName { .. })
        ));
        assert!(matches!(
            parse_listen(&["b c=127.0.0.1:1".into()]),
            Err(ConfigError::ListenName { .. })
        ));
    }

    #[test]
    fn every_error_names_the_flag_and_the_value() {
        for (f, needle) in [
            (
                Box::new(|o: &mut Options| o.stop_signal = Some("TREM".into()))
                    as Box<dyn FnOnce(&mut Options)>,
                "--stop-signal \"TREM\": unknown signal name",
            ),
            (
                Box::new(|o: &mut Options| o.reload_signal = Some("KILL".into())),
                "--reload-signal KILL: it cannot be caught",
            ),
            (
                Box::new(|o: &mut Options| o.reload_signal = Some("term".into())),
                "--reload-signal TERM: it already means stop",
            ),
            (
                Box::new(|o: &mut Options| o.listen = vec!["127.0.0.1:http".into()]),
                "--listen: invalid listen address \"127.0.0.1:http\"",
            ),
            (
                Box::new(|o: &mut Options| o.health = Some("9090".into())),
                "--health: invalid listen address \"9090\"",
            ),
            (
                Box::new(|o: &mut Options| o.stop_delay = Some("5".into())),
                "--stop-delay: invalid duration \"5\"",
            ),
            (
                Box::new(|o: &mut Options| o.ready = Some("tcp:8080".into())),
                "--ready \"tcp:8080\": not a readiness check",
            ),
            (
                Box::new(|o: &mut Options| o.ready = Some("delay:2m".into())),
                "is not shorter than --ready-timeout 60s",
            ),
            (
                Box::new(|o: &mut Options| o.max_draining = Some("0".into())),
                "--max-draining \"0\"",
            ),
            (
                Box::new(|o: &mut Options| o.command.clear()),
                "no command given",
            ),
        ] {
            let e = config(f).unwrap_err().to_string();
            assert!(e.contains(needle), "{e:?} lacks {needle:?}");
            assert!(!e.contains('\n'), "{e:?} is more than one line");
        }
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
    }
}
