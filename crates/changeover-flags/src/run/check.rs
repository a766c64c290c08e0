//! Every check of `changeover run`'s flags that needs no I/O ([`RunArgs::check`]), and the
//! parsers of `--listen` and `--ready`.

use std::time::Duration;

use nix::sys::signal::Signal;

use super::args::RunArgs;
use super::flags::{ListenSpec, ReadyMode, RunFlags};
use super::proxy::{ProxyFlags, UpstreamMode, parse_upstream};
use super::{DEFAULT_DRAIN_TIMEOUT, DEFAULT_MAX_DRAINING, DEFAULT_READY_TIMEOUT};
use crate::addr::parse_addr;
use crate::duration::parse_duration;
use crate::flag::{FlagError, duration_flag, signal_flag};
use crate::signal::reload_signal_problem;

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
