//! `grpc`: the example gRPC server, tonic on the library's serve path.
//!
//! ```text
//! grpc [--listen ADDR] [--pid-file PATH] [--stop-delay DURATION]
//!      [--drain-timeout DURATION] [--ready-timeout DURATION] [--lame-duck DURATION]
//! grpc.health.v1.Health/Check  -> SERVING while ready, NOT_SERVING from the moment a stop began
//! grpc.health.v1.Health/Watch  -> the status now, each change, UNAVAILABLE once accepting stopped
//! SIGHUP -> self-upgrade;  SIGTERM/SIGINT -> graceful stop;  the second one -> forced stop
//! ```
//!
//! What a Kubernetes `grpc` readiness probe reads (`grpc: {port: 50051}`).
//! Started with `LISTEN_FDS` it serves the inherited listener named `grpc`
//! (or the only one). Bad input ends it with status 2 and a one-line error.

mod support;

use std::process::ExitCode;

const USAGE: &str = "usage: grpc [--listen ADDR] [--pid-file PATH] [--stop-delay DURATION] [--drain-timeout DURATION] [--ready-timeout DURATION] [--lame-duck DURATION]

Serves grpc.health.v1.Health: SERVING while ready, NOT_SERVING once a stop began.

  --listen ADDR             HOST:PORT, [V6]:PORT or unix:PATH (default 127.0.0.1:50051);
                            an inherited LISTEN_FDS socket named grpc (or the only one) wins
";

fn main() -> ExitCode {
    let usage = format!("{USAGE}{}", support::COMMON_FLAGS);
    support::main("grpc", &usage, "127.0.0.1:50051", |opts| async move {
        let lc = opts.builder().build().map_err(|e| e.to_string())?;
        let listener = lc.listen("grpc", &opts.listen).map_err(|e| e.to_string())?;
        // An application adds its own services here with `.add_service(…)`.
        let routes = tonic::service::Routes::new(changeover::grpc::health_service(&lc));
        lc.serve(listener, routes).map_err(|e| e.to_string())?;
        lc.ready().map_err(|e| e.to_string())?;
        Ok(lc)
    })
}
