//! The server side, inside `changeover run`: each client of this user or root gets its request
//! turned into an event for the state machine and the machine's answer sent back; any other
//! client is told why it is refused.

use std::time::Duration;

use changeover::listeners::TokioListener;
use nix::unistd::geteuid;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::oneshot;

use super::peer::{describe_uid, trusted};
use super::{MAX_REQUEST, REQUEST_TIMEOUT};
use crate::machine::Event;
use crate::protocol::{Request, Response};

/// Answers requests on the control socket until the runtime ends.
pub async fn serve(listener: TokioListener, events: UnboundedSender<Event>) {
    let TokioListener::Right(listener) = listener else {
        tracing::error!("the control socket is not a Unix socket");
        return;
    };
    let mut failures = changeover::log_limit::LogLimit::new(Duration::from_secs(1));
    loop {
        match listener.accept().await {
            Ok((stream, _)) => match stream.peer_cred() {
                Ok(cred) if trusted(cred.uid()) => {
                    tokio::spawn(answer(stream, events.clone()));
                }
                Ok(cred) => {
                    tracing::warn!(
                        uid = cred.uid(),
                        pid = ?cred.pid(),
                        "refused a control client of another user (only this user and root may control the supervisor)"
                    );
                    tokio::spawn(refuse(stream, cred.uid()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "refused a control client whose credentials cannot be read")
                }
            },
            Err(e) => {
                // EMFILE and friends: back off instead of spinning, and
                // say so once a second, not at every try.
                if let Some(n) = failures.hit(std::time::Instant::now()) {
                    tracing::warn!(error = %e, failures = n.total, unlogged = n.unlogged, "control socket accept failed; retrying every 100ms (logged at most once a second)");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Tells a client of another user why it is refused. Its request line is
/// read first (bounded, and never looked at), so that the client is not
/// cut off mid-write and can read the answer.
async fn refuse(stream: tokio::net::UnixStream, uid: u32) {
    let (read, mut write) = stream.into_split();
    let mut reader = tokio::io::BufReader::new(read.take(MAX_REQUEST));
    let mut ignored = String::new();
    if tokio::time::timeout(REQUEST_TIMEOUT, reader.read_line(&mut ignored))
        .await
        .is_err()
    {
        tracing::debug!(uid, "a refused control client sent no request");
    }
    let response = Response::Error {
        message: format!(
            "permission denied: this supervisor runs as {}, and only that user and root may control it",
            describe_uid(geteuid().as_raw())
        ),
    };
    if let Ok(mut text) = serde_json::to_string(&response) {
        text.push('\n');
        if let Err(e) = write.write_all(text.as_bytes()).await {
            tracing::debug!(uid, error = %e, "a refused control client went away");
        }
    }
}

async fn answer(stream: tokio::net::UnixStream, events: UnboundedSender<Event>) {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = tokio::io::BufReader::new(read.take(MAX_REQUEST));
    let response = match tokio::time::timeout(REQUEST_TIMEOUT, reader.read_line(&mut line)).await {
        Err(_) => Response::Error {
            message: "no request within 10s".into(),
        },
        Ok(Err(e)) => Response::Error {
            message: format!("cannot read the request: {e}"),
        },
        Ok(Ok(_)) => match serde_json::from_str::<Request>(line.trim()) {
            Err(e) => Response::Error {
                message: format!(
                    "not a control request ({e}); use changeover reload, status or prestop"
                ),
            },
            Ok(request) => ask(request, &events).await,
        },
    };
    let mut text = match serde_json::to_string(&response) {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "cannot encode a control response");
            return;
        }
    };
    text.push('\n');
    if let Err(e) = write.write_all(text.as_bytes()).await {
        tracing::debug!(error = %e, "control client went away before the answer");
    }
}

async fn ask(request: Request, events: &UnboundedSender<Event>) -> Response {
    let gone = || Response::Error {
        message: "the supervisor is exiting".into(),
    };
    match request {
        Request::Reload { wait } => {
            let (tx, rx) = oneshot::channel();
            if events
                .send(Event::Reload {
                    wait,
                    reply: Some(tx),
                })
                .is_err()
            {
                return gone();
            }
            rx.await.map(Response::Reload).unwrap_or_else(|_| gone())
        }
        Request::Status => {
            let (tx, rx) = oneshot::channel();
            if events.send(Event::Status(tx)).is_err() {
                return gone();
            }
            rx.await.map(Response::Status).unwrap_or_else(|_| gone())
        }
        Request::Prestop => {
            let (tx, rx) = oneshot::channel();
            if events.send(Event::Prestop(tx)).is_err() {
                return gone();
            }
            rx.await.map(Response::Prestop).unwrap_or_else(|_| gone())
        }
    }
}
