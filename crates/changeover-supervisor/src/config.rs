//! What `changeover run` is told: flags as written, checked into a [`Config`].
//!
//! Every check of the flags that needs no I/O is `changeover-flags`' [`Options::check`]
//! ([`changeover_flags::run`]), the very function `changeover lint` calls on a manifest's
//! command line, so the two refuse the same things with the same words. What is left here needs
//! the machine: resolving host names, and the defaults that depend on the environment. It all
//! happens before a socket is bound or a child started, and every error is one line naming the
//! flag, the value, the problem and the fix.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use changeover::ListenAddr;
pub use changeover_flags::run::{
    DEFAULT_MAX_DRAINING, ProxyFlags as ProxyConfig, ReadyMode, UpstreamMode,
};
use changeover_flags::{Addr, run::RunFlags};
/// Signals as users write them; the grammar is shared with `changeover lint` (`changeover-flags`).
pub use changeover_flags::{parse_signal, signal_name};
use nix::sys::signal::Signal;

/// The flags of `changeover run` as the user wrote them (the CLI fills this in with clap).
pub use changeover_flags::run::RunArgs as Options;

/// A flag whose value cannot be used: the message `changeover run` prints before exiting 2.
/// One type with the lint's ([`changeover_flags::FlagError`]), so the texts cannot drift.
pub use changeover_flags::FlagError as ConfigError;

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
    /// Proxy mode (`--proxy`): a generation gets requests once ready, an old
    /// one gets its stop signal only once nothing is in flight to it, and a
    /// stop drains the client connections before any child is signalled.
    pub proxy: bool,
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
    /// `--proxy`, if given.
    pub proxy: Option<ProxyConfig>,
    /// The program to run.
    pub program: OsString,
    /// Its arguments.
    pub args: Vec<OsString>,
}

/// Resolves a host name now, so that a typo fails at start-up (exit 2, like every other bad
/// flag), not at the first bind.
fn resolve(flag: &'static str, addr: Addr) -> Result<ListenAddr, ConfigError> {
    addr.resolve()
        .map_err(|source| ConfigError::Address { flag, source })
}

impl Config {
    /// Checks the options (with [`Options::check`], as `changeover lint` does), then resolves
    /// host names; `defaults` supplies what depends on the environment.
    pub fn from_options(opts: Options, defaults: &Defaults) -> Result<Config, ConfigError> {
        let flags: RunFlags = opts.check()?;
        let stop_delay = flags.stop_delay_or_default(defaults.kubernetes);
        let listen = flags
            .listen
            .into_iter()
            .map(|spec| {
                Ok(ListenSpec {
                    name: spec.name,
                    addr: resolve("--listen", spec.addr)?,
                })
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        let health = flags.health.map(|h| resolve("--health", h)).transpose()?;
        let control = flags.control.unwrap_or_else(|| defaults.control_path());
        let private = private_control_dir(defaults.uid);
        let control_dir = (control.parent() == Some(private.as_path())).then_some(private);
        Ok(Config {
            listen,
            pid_file: flags.pid_file,
            control,
            control_dir,
            health,
            timing: Timing {
                ready: flags.ready,
                ready_timeout: flags.ready_timeout,
                stop_delay,
                drain_timeout: flags.drain_timeout,
                stop_signal: flags.stop_signal,
                max_draining: flags.max_draining,
                proxy: flags.proxy.is_some(),
            },
            reload_signal: flags.reload_signal,
            proxy: flags.proxy,
            program: flags.program,
            args: flags.args,
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
    fn listeners_keep_their_names_and_host_names_are_resolved() {
        let c = config(|o| {
            o.listen = vec![
                "127.0.0.1:8080".into(),
                "admin=localhost:9000".into(),
                "unix:/run/a=b.sock".into(),
            ];
            o.health = Some("localhost:9090".into());
        })
        .unwrap();
        let names: Vec<&str> = c.listen.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["http", "admin", "listen1"]);
        assert!(
            matches!(&c.listen[1].addr, ListenAddr::Tcp(a) if a.ip().is_loopback() && a.port() == 9000)
        );
        assert_eq!(c.listen[2].addr, ListenAddr::Unix("/run/a=b.sock".into()));
        assert!(matches!(&c.health, Some(ListenAddr::Tcp(a)) if a.port() == 9090));
    }

    #[test]
    fn proxy_mode_reaches_the_machine_and_the_plane() {
        let c = config(|o| {
            o.proxy = true;
            o.upstream = Some("env:PORT".into());
        })
        .unwrap();
        assert!(c.timing.proxy);
        assert_eq!(c.timing.ready, ReadyMode::Connect);
        assert_eq!(c.proxy.unwrap().upstream, UpstreamMode::Env("PORT".into()));
        let c = config(|_| {}).unwrap();
        assert!(!c.timing.proxy && c.proxy.is_none());
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
}
