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

mod support;

use std::process::ExitCode;
use std::time::Duration;

use axum::Router;
use axum::extract::Query;
use axum::routing::get;

const USAGE: &str = "usage: hello [--listen ADDR] [--pid-file PATH] [--stop-delay DURATION] [--drain-timeout DURATION] [--ready-timeout DURATION] [--lame-duck DURATION]

  --listen ADDR             HOST:PORT, [V6]:PORT or unix:PATH (default 127.0.0.1:8080);
                            an inherited LISTEN_FDS socket named http (or the only one) wins
";

#[derive(serde::Deserialize)]
struct Slow {
    ms: Option<u64>,
}

fn main() -> ExitCode {
    let usage = format!("{USAGE}{}", support::COMMON_FLAGS);
    support::main("hello", &usage, "127.0.0.1:8080", |opts| async move {
        let lc = opts.builder().build().map_err(|e| e.to_string())?;
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
        Ok(lc)
    })
}
