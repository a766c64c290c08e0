//! `grpc`: the example gRPC server, tonic on the library's serve path.
//!
//! ```text
//! grpc [--listen ADDR] [--pid-file PATH] [--stop-delay DURATION]
//!      [--drain-timeout DURATION] [--ready-timeout DURATION]
//! grpc.health.v1.Health/Check  -> SERVING while ready, NOT_SERVING from the moment a stop began
//! grpc.health.v1.Health/Watch  -> the status now, each change, UNAVAILABLE once accepting stopped
//! SIGHUP -> self-upgrade;  SIGTERM/SIGINT -> graceful stop;  the second one -> forced stop
//! ```
//!
//! What a Kubernetes `grpc` readiness probe reads (`grpc: {port: 50051}`).
//! Started with `LISTEN_FDS` it serves the inherited listener named `grpc`
//! (or the only one). Bad input ends it with status 2 and a one-line error.

use std::process::ExitCode;
use std::time::Duration;

use changeover::{Lifecycle, ListenAddr, parse_duration};

const USAGE: &str = "usage: grpc [--listen ADDR] [--pid-file PATH] [--stop-delay DURATION] [--drain-timeout DURATION] [--ready-timeout DURATION]

  --listen ADDR             HOST:PORT, [V6]:PORT or unix:PATH (default 127.0.0.1:50051);
                            an inherited LISTEN_FDS socket named grpc (or the only one) wins
  --pid-file PATH           keep PATH naming the live generation's pid
  --stop-delay DURATION     keep serving this long after SIGTERM (default: 5s on Kubernetes, else 0)
  --drain-timeout DURATION  cut connections still open this long after accepting stopped (default 20s)
  --ready-timeout DURATION  kill a successor not ready within this (default 60s)

Serves grpc.health.v1.Health: SERVING while ready, NOT_SERVING once a stop began.
Durations read like 500ms, 5s, 1m. SIGHUP upgrades in place; SIGTERM stops gracefully.";

#[derive(Debug)]
struct Options {
    listen: ListenAddr,
    pid_file: Option<String>,
    stop_delay: Option<Duration>,
    drain_timeout: Option<Duration>,
    ready_timeout: Option<Duration>,
}

fn parse_args() -> Result<Options, String> {
    let mut opts = Options {
        listen: "127.0.0.1:50051".parse().map_err(|e| format!("{e}"))?,
        pid_file: None,
        stop_delay: None,
        drain_timeout: None,
        ready_timeout: None,
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
            _ => return Err(format!("unknown argument {arg:?}; see --help")),
        }
    }
    Ok(opts)
}

fn main() -> ExitCode {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("grpc: {e}");
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
            eprintln!("grpc: cannot start the runtime: {e}");
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
    if let Some(p) = &opts.pid_file {
        builder = builder.pid_file(p);
    }
    let setup = async {
        let lc = builder.build().map_err(|e| e.to_string())?;
        let listener = lc.listen("grpc", &opts.listen).map_err(|e| e.to_string())?;
        // An application adds its own services here with `.add_service(…)`.
        let routes = tonic::service::Routes::new(changeover::grpc::health_service(&lc));
        lc.serve(listener, routes).map_err(|e| e.to_string())?;
        lc.ready().map_err(|e| e.to_string())?;
        Ok::<_, String>(lc)
    };
    match setup.await {
        Ok(lc) => ExitCode::from(lc.run().await.exit_code()),
        Err(e) => {
            eprintln!("grpc: {e}");
            ExitCode::from(2)
        }
    }
}
