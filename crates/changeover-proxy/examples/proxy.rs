//! `proxy`: the proxy on its own, in front of one upstream, served by a plain
//! hyper-util server (HTTP/1.1 and HTTP/2, upgrades on). For benchmarks and
//! for trying the data plane by hand; `changeover run --proxy` is the real
//! thing.
//!
//! ```text
//! proxy --listen 127.0.0.1:8080 --upstream 127.0.0.1:9000 [--no-forwarded-headers]
//! proxy --listen 127.0.0.1:8080 --upstream unix:/run/app.sock
//! ```
//!
//! Prints `listening ADDR` on stderr once it accepts. Bad input ends it with
//! status 2 and one line.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use changeover_proxy::{Config, Proxy, Upstream};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

const USAGE: &str =
    "usage: proxy --listen HOST:PORT --upstream HOST:PORT|unix:PATH [--no-forwarded-headers]";

struct Options {
    listen: SocketAddr,
    upstream: Upstream,
    forwarded: bool,
}

fn parse_args() -> Result<Options, String> {
    let (mut listen, mut upstream, mut forwarded) = (None, None, true);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{a} needs a value; {USAGE}"))
        };
        match a.as_str() {
            "--listen" => {
                let v = value()?;
                listen = Some(v.parse::<SocketAddr>().map_err(|e| {
                    format!("--listen: {v:?} is not HOST:PORT ({e}); write 127.0.0.1:8080")
                })?);
            }
            "--upstream" => {
                let v = value()?;
                upstream = Some(match v.strip_prefix("unix:") {
                    Some(p) => Upstream::Unix(p.into()),
                    None => Upstream::Tcp(v.parse().map_err(|e| {
                        format!(
                            "--upstream: {v:?} is not HOST:PORT or unix:PATH ({e}); write 127.0.0.1:9000"
                        )
                    })?),
                });
            }
            "--no-forwarded-headers" => forwarded = false,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}; {USAGE}")),
        }
    }
    Ok(Options {
        listen: listen.ok_or_else(|| format!("--listen is missing; {USAGE}"))?,
        upstream: upstream.ok_or_else(|| format!("--upstream is missing; {USAGE}"))?,
        forwarded,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("proxy: {e}");
            return ExitCode::from(2);
        }
    };
    let proxy = Proxy::new(Config {
        forwarded_headers: o.forwarded,
        ..Config::default()
    });
    if let Err(e) = proxy.routes().ready(1, o.upstream) {
        eprintln!("proxy: --upstream: {e}");
        return ExitCode::from(2);
    }
    let listener = match tokio::net::TcpListener::bind(o.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("proxy: --listen {}: {e}", o.listen);
            return ExitCode::from(2);
        }
    };
    eprintln!("listening {}", o.listen);
    let builder = Arc::new(auto::Builder::new(TokioExecutor::new()));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                eprintln!("proxy: accept: {e}");
                continue;
            }
        };
        if let Err(e) = stream.set_nodelay(true) {
            eprintln!("proxy: TCP_NODELAY: {e}");
        }
        let service = proxy.service(Some(peer));
        let builder = builder.clone();
        tokio::spawn(async move {
            // A client that goes away mid-request is no news here.
            let _ended = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .await;
        });
    }
}
