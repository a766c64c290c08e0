//! `--health ADDR`: `/livez`, `/readyz` and `/metrics` over plain HTTP/1.1.
//!
//! A deliberately small responder (one request per connection, answered
//! with `Connection: close`), enough for kubelet probes and a Prometheus
//! scraper, so the supervisor stays small.
//!
//! - `/livez`: 200 while the supervisor runs.
//! - `/readyz`: 200 while a child is ready and no stop began; 503 otherwise.
//! - `/metrics`: the Prometheus text format.

use std::time::Duration;

use changeover::listeners::TokioListener;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use crate::machine::Snapshot;

/// The longest request head read.
const MAX_HEAD: usize = 8 * 1024;
/// How long a client may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// One answer: status, content type, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status code.
    pub status: u16,
    /// The `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
}

/// What to answer to `method path` given the state.
pub fn route(method: &str, path: &str, snapshot: &Snapshot) -> Answer {
    let text = |status, body: &str| Answer {
        status,
        content_type: "text/plain; charset=utf-8",
        body: body.to_owned(),
    };
    if method != "GET" && method != "HEAD" {
        return text(405, "only GET and HEAD\n");
    }
    let path = path.split('?').next().unwrap_or(path);
    match path {
        "/livez" => text(200, "ok\n"),
        "/readyz" if snapshot.ready => text(200, "ready\n"),
        "/readyz" if snapshot.stopping => text(503, "stopping\n"),
        "/readyz" => text(503, "not ready\n"),
        "/metrics" => Answer {
            status: 200,
            content_type: "text/plain; version=0.0.4; charset=utf-8",
            body: snapshot.metrics.render(),
        },
        _ => text(404, "not found: try /livez, /readyz or /metrics\n"),
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// Answers health requests until the runtime ends.
pub async fn serve(listener: TokioListener, snapshots: watch::Receiver<Snapshot>) {
    loop {
        let accepted = match &listener {
            TokioListener::Left(l) => l.accept().await.map(|(s, _)| {
                tokio::spawn(answer(s, snapshots.clone()));
            }),
            TokioListener::Right(l) => l.accept().await.map(|(s, _)| {
                tokio::spawn(answer(s, snapshots.clone()));
            }),
        };
        if let Err(e) = accepted {
            tracing::warn!(error = %e, "health accept failed");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> Option<String> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n") {
            return Some(String::from_utf8_lossy(&buf).into_owned());
        }
        if buf.len() > MAX_HEAD {
            return None;
        }
    }
}

async fn answer<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    snapshots: watch::Receiver<Snapshot>,
) {
    let head = match tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut stream)).await {
        Ok(Some(head)) => head,
        _ => return,
    };
    let mut words = head.lines().next().unwrap_or("").split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let a = if path.starts_with('/') {
        let snapshot = snapshots.borrow().clone();
        route(method, path, &snapshot)
    } else {
        Answer {
            status: 400,
            content_type: "text/plain; charset=utf-8",
            body: "bad request\n".into(),
        }
    };
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        a.status,
        reason(a.status),
        a.content_type,
        a.body.len()
    );
    if method != "HEAD" {
        out.push_str(&a.body);
    }
    if let Err(e) = stream.write_all(out.as_bytes()).await {
        tracing::debug!(error = %e, "health client went away");
        return;
    }
    if let Err(e) = stream.shutdown().await {
        tracing::debug!(error = %e, "health connection shutdown failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_follows_the_snapshot() {
        let mut s = Snapshot::default();
        assert_eq!(route("GET", "/readyz", &s).status, 503);
        s.ready = true;
        assert_eq!(route("GET", "/readyz", &s).status, 200);
        s.ready = false;
        s.stopping = true;
        let a = route("GET", "/readyz?verbose", &s);
        assert_eq!((a.status, a.body.as_str()), (503, "stopping\n"));
        assert_eq!(route("GET", "/livez", &s).status, 200);
        assert_eq!(route("POST", "/livez", &s).status, 405);
        assert_eq!(route("GET", "/nope", &s).status, 404);
        assert!(
            route("GET", "/metrics", &s)
                .body
                .contains("changeover_ready 0")
        );
    }

    #[tokio::test]
    async fn answers_over_a_socket() {
        let (mut client, server) = tokio::io::duplex(4096);
        let (_tx, rx) = watch::channel(Snapshot {
            ready: true,
            ..Snapshot::default()
        });
        let task = tokio::spawn(answer(server, rx));
        client
            .write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        client.read_to_string(&mut out).await.unwrap();
        task.await.unwrap();
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(out.ends_with("\r\n\r\nready\n"), "{out}");
    }
}
