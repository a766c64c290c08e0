//! `axum_serve`: the `hello` router served by `axum::serve` (no changeover),
//! the baseline the instruction-count benchmark (`bench/callgrind.rs`)
//! compares the library's serve path against: the same handlers, the
//! server most axum users run. No graceful anything: SIGTERM kills it.
//!
//! ```text
//! axum_serve [--listen HOST:PORT]
//! ```

use std::time::Duration;

use axum::Router;
use axum::extract::Query;
use axum::routing::get;

#[derive(serde::Deserialize)]
struct Slow {
    ms: Option<u64>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut listen = "127.0.0.1:8080".to_owned();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" => listen = args.next().ok_or("--listen needs a value")?,
            _ => {
                return Err(format!(
                    "unknown argument {a:?}; usage: axum_serve [--listen HOST:PORT]"
                )
                .into());
            }
        }
    }
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let pid = std::process::id();
    // The same routes as `hello`, so the router's own cost is the same.
    let app = Router::new()
        .route(
            "/",
            get(move || async move { format!("hello from {pid}\n") }),
        )
        .route(
            "/slow",
            get(|Query(q): Query<Slow>| async move {
                tokio::time::sleep(Duration::from_millis(q.ms.unwrap_or(1000))).await;
                "slow done\n"
            }),
        );
    eprintln!("axum_serve: ready pid={pid}");
    axum::serve(listener, app).await?;
    Ok(())
}
