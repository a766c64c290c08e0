//! `changeover demo-server`: the small server the demo restarts. It is this
//! same binary, so a fresh clone needs nothing else built, and a self-upgrade
//! starts it again from the same path.

use std::convert::Infallible;
use std::future::Ready;
use std::process::ExitCode;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use changeover::{Lifecycle, ListenAddr, parse_duration};
use http_body_util::Full;
use hyper::body::Incoming;

/// Options of the hidden `demo-server` subcommand.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Where to listen when no socket is inherited.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: ListenAddr,
    /// Keep serving this long after SIGTERM.
    #[arg(long, value_parser = parse_duration)]
    stop_delay: Option<Duration>,
    /// On SIGTERM close idle keep-alive connections at once, with no lame-duck window, as most
    /// servers do (Node's `server.close()`, uvicorn): the child `demo` reloads with and without
    /// `--proxy`.
    #[arg(long)]
    naive_drain: bool,
}

/// Answers every request with `hello from <pid>`.
#[derive(Clone)]
struct Hello(Bytes);

impl tower_service::Service<http::Request<Incoming>> for Hello {
    type Response = http::Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<Incoming>) -> Self::Future {
        std::future::ready(Ok(http::Response::new(Full::new(self.0.clone()))))
    }
}

pub(crate) fn main(args: Args) -> ExitCode {
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("changeover demo-server: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    rt.block_on(async {
        let mut builder = Lifecycle::builder();
        if let Some(d) = args.stop_delay {
            builder = builder.stop_delay(d);
        }
        if args.naive_drain {
            builder = builder.lame_duck(Duration::ZERO);
        }
        let setup = async {
            let lc = builder.build().map_err(|e| e.to_string())?;
            let listener = lc.listen("http", &args.listen).map_err(|e| e.to_string())?;
            let body = Bytes::from(format!("hello from {}\n", std::process::id()));
            lc.serve(listener, Hello(body)).map_err(|e| e.to_string())?;
            lc.ready().map_err(|e| e.to_string())?;
            Ok::<_, String>(lc)
        };
        match setup.await {
            Ok(lc) => ExitCode::from(lc.run().await.exit_code()),
            Err(e) => {
                eprintln!("changeover demo-server: {e}");
                ExitCode::from(2)
            }
        }
    })
}
