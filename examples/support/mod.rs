//! What the two changeover example servers (`hello`, `grpc`) share: their
//! flags, read the same way; the [`Builder`] those flags configure; logging
//! to stderr; and the run from flags to exit status. Each example keeps only
//! what it serves.

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use changeover::{Builder, Lifecycle, ListenAddr, parse_duration};

/// The flags every example server takes; see each example's `USAGE`.
#[derive(Debug)]
pub(crate) struct Options {
    /// `--listen`: where to listen when no socket is inherited.
    pub(crate) listen: ListenAddr,
    pid_file: Option<String>,
    stop_delay: Option<Duration>,
    drain_timeout: Option<Duration>,
    ready_timeout: Option<Duration>,
    lame_duck: Option<Duration>,
}

/// The flags' text shared by every example's `USAGE` (after `--listen`).
pub(crate) const COMMON_FLAGS: &str = "  --pid-file PATH           keep PATH naming the live generation's pid
  --stop-delay DURATION     keep serving this long after SIGTERM (default: 5s on Kubernetes, else 0)
  --drain-timeout DURATION  cut connections still open this long after accepting stopped (default 20s)
  --ready-timeout DURATION  kill a successor not ready within this (default 60s)
  --lame-duck DURATION      how long an idle keep-alive connection may stay open once
                            accepting stopped, each closed at a random moment of its second half (default 1s)

Durations read like 500ms, 5s, 1m. SIGHUP upgrades in place; SIGTERM stops gracefully.";

impl Options {
    /// Reads the process's arguments; `--help` prints `usage` and exits 0.
    fn parse(usage: &str, default_listen: &str) -> Result<Options, String> {
        let mut opts = Options {
            listen: default_listen.parse().map_err(|e| format!("{e}"))?,
            pid_file: None,
            stop_delay: None,
            drain_timeout: None,
            ready_timeout: None,
            lame_duck: None,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
                _ => (arg.clone(), None),
            };
            if flag == "-h" || flag == "--help" {
                println!("{usage}");
                std::process::exit(0);
            }
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or_else(|| format!("{flag} needs a value; see --help"))
            };
            let duration = |v: String| parse_duration(&v).map_err(|e| format!("{flag}: {e}"));
            match flag.as_str() {
                "--listen" => {
                    opts.listen = value()?.parse().map_err(|e| format!("--listen: {e}"))?
                }
                "--pid-file" => opts.pid_file = Some(value()?),
                "--stop-delay" => opts.stop_delay = Some(duration(value()?)?),
                "--drain-timeout" => opts.drain_timeout = Some(duration(value()?)?),
                "--ready-timeout" => opts.ready_timeout = Some(duration(value()?)?),
                "--lame-duck" => opts.lame_duck = Some(duration(value()?)?),
                _ => return Err(format!("unknown argument {arg:?}; see --help")),
            }
        }
        Ok(opts)
    }

    /// A lifecycle builder with the flags given; what was not given keeps
    /// the library's default.
    pub(crate) fn builder(&self) -> Builder {
        let mut builder = Lifecycle::builder();
        if let Some(d) = self.stop_delay {
            builder = builder.stop_delay(d);
        }
        if let Some(d) = self.drain_timeout {
            builder = builder.drain_timeout(d);
        }
        if let Some(d) = self.ready_timeout {
            builder = builder.ready_timeout(d);
        }
        if let Some(d) = self.lame_duck {
            builder = builder.lame_duck(d);
        }
        if let Some(p) = &self.pid_file {
            builder = builder.pid_file(p);
        }
        builder
    }
}

/// Reads the flags, starts logging and the runtime, and runs `setup` (which
/// builds the lifecycle, serves and says ready) and then the lifecycle to its
/// end. Bad flags or a failed setup end it with status 2 and one line
/// starting with `name`.
pub(crate) fn main<F, Fut>(name: &str, usage: &str, default_listen: &str, setup: F) -> ExitCode
where
    F: FnOnce(Options) -> Fut,
    Fut: Future<Output = Result<Lifecycle, String>>,
{
    let opts = match Options::parse(usage, default_listen) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        // A closed stderr must not turn logging into panics.
        .log_internal_errors(false)
        .init();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{name}: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    rt.block_on(async {
        match setup(opts).await {
            Ok(lc) => ExitCode::from(lc.run().await.exit_code()),
            Err(e) => {
                eprintln!("{name}: {e}");
                ExitCode::from(2)
            }
        }
    })
}
