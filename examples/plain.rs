//! `plain`: the `hello` handler served by plain hyper (hyper-util's auto
//! connection builder, no changeover), as the baseline the benchmark
//! compares the library's serve path against. No graceful anything:
//! SIGTERM kills it.
//!
//! ```text
//! plain [--listen HOST:PORT]
//! ```

use axum::Router;
use axum::routing::get;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut listen = "127.0.0.1:8080".to_owned();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" => listen = args.next().ok_or("--listen needs a value")?,
            _ => {
                return Err(
                    format!("unknown argument {a:?}; usage: plain [--listen HOST:PORT]").into(),
                );
            }
        }
    }
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let pid = std::process::id();
    // `with_state(())`, as `axum::serve` does: each handler becomes its
    // route once, not on every request.
    let app = Router::new()
        .route(
            "/",
            get(move || async move { format!("hello from {pid}\n") }),
        )
        .with_state(());
    eprintln!("plain: ready pid={pid}");
    let builder = std::sync::Arc::new(auto::Builder::new(TokioExecutor::new()));
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let svc = TowerToHyperService::new(app.clone());
        let builder = builder.clone();
        tokio::spawn(async move {
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
            // A client going away mid-request is not the benchmark's concern.
            conn.await.ok();
        });
    }
}
