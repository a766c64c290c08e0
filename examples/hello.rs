//! `hello`: the example server every check of changeover uses.
//!
//! ```text
//! hello [--listen ADDR] [--pid-file PATH] [--stop-delay DURATION]
//!       [--drain-timeout DURATION] [--ready-timeout DURATION] [--lame-duck DURATION]
//! GET /           -> 200 "hello from <pid>\n"
//! GET /slow?ms=N  -> 200 after N milliseconds
//! GET /livez      -> 200
//! GET /readyz     -> 200 while serving normally, 503 from the moment a stop began
//! SIGHUP -> self-upgrade;  SIGTERM/SIGINT -> graceful stop;  the second one -> forced stop
//! ```
//!
//! Started with `LISTEN_FDS` it serves the inherited listener named `http`
//! (or the only one). Bad input ends it with status 2 and a one-line error.

use std::process::ExitCode;
use std::time::Duration;

use axum::Router;
use axum::extract::Query;
use axum::routing::get;
use changeover::{Lifecycle, ListenAddr, parse_duration};

const USAGE: &str = "usage: hello [--listen ADDR] [--pid-file PATH] [--stop-delay DURATION] [--drain-timeout DURATION] [--ready-timeout DURATION] [--lame-duck DURATION]

  --listen ADDR             HOST:PORT, [V6]:PORT or unix:PATH (default 127.0.0.1:8080);
                            an inherited LISTEN_FDS socket named http (or the only one) wins
  --pid-file PATH           keep PATH naming the live generation's pid
  --stop-delay DURATION     keep serving this long after SIGTERM (default: 5s on Kubernetes, else 0)
  --drain-timeout DURATION  cut connections still open this long after accepting stopped (default 20s)
  --ready-timeout DURATION  kill a successor not ready within this (default 60s)
  --lame-duck DURATION      how long an idle keep-alive connection may stay open once
                            accepting stopped, each closed at a random moment of its second half (default 1s)

Durations read like 500ms, 5s, 1m. SIGHUP upgrades in place; SIGTERM stops gracefully.";

#[derive(Debug)]
struct Options {
    listen: ListenAddr,
    pid_file: Option<String>,
    stop_delay: Option<Duration>,
    drain_timeout: Option<Duration>,
    ready_timeout: Option<Duration>,
    lame_duck: Option<Duration>,
}

fn parse_args() -> Result<Options, String> {
    let mut opts = Options {
        listen: "127.0.0.1:8080".parse().map_err(|e| format!("{e}"))?,
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
            println!("{USAGE}");
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
            "--listen" => opts.listen = value()?.parse().map_err(|e| format!("--listen: {e}"))?,
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

#[derive(serde::Deserialize)]
struct Slow {
    ms: Option<u64>,
}

fn main() -> ExitCode {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("hello: {e}");
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
            eprintln!("hello: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    rt.block_on(serve(opts))
}

async fn serve(opts: Options) -> ExitCode {
    let mut builder = Lifecycle::builder();
    if let Some(d) = opts.stop_delay {
        builder = builder.stop_delay(d);
    }
    if let Some(d) = opts.drain_timeout {
        builder = builder.drain_timeout(d);
    }
    if let Some(d) = opts.ready_timeout {
        builder = builder.ready_timeout(d);
    }
    if let Some(d) = opts.lame_duck {
        builder = builder.lame_duck(d);
    }
    if let Some(p) = &opts.pid_file {
        builder = builder.pid_file(p);
    }
    let setup = async {
        let lc = builder.build().map_err(|e| e.to_string())?;
        let listener = lc.listen("http", &opts.listen).map_err(|e| e.to_string())?;
        let pid = std::process::id();
        let app = Router::new()
            .route(
                "/",
                get(move || async move { format!("hello from {pid}\n") }),
            )
            .route(
                "/slow",
                get(|Query(q): Query<Slow>| async move {
                    let ms = q.ms.unwrap_or(1000);
                    tracing::info!(ms, "slow request started");
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    "slow done\n"
                }),
            );
        // `with_state(())`, as `axum::serve` does: it turns each handler
        // into its route once, which a `Router` served as it is redoes on
        // every request (a clone and a box).
        lc.serve(listener, app.with_state(()))
            .map_err(|e| e.to_string())?;
        lc.ready().map_err(|e| e.to_string())?;
        Ok::<_, String>(lc)
    };
    match setup.await {
        Ok(lc) => ExitCode::from(lc.run().await.exit_code()),
        Err(e) => {
            eprintln!("hello: {e}");
            ExitCode::from(2)
        }
    }
}
