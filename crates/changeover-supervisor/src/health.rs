//! `--health ADDR`: `/livez`, `/readyz` and `/metrics` over plain HTTP/1.1.
//!
//! A deliberately small responder served by hyper's HTTP/1.1 connection (one
//! request per connection, answered with `Connection: close`), enough for
//! kubelet probes and a Prometheus scraper.
//!
//! - `/livez`: 200 while the supervisor runs.
//! - `/readyz`: 200 while a child is ready and no stop began; 503 otherwise.
//! - `/metrics`: the Prometheus text format (with `--proxy`, the proxy's
//!   series after the supervisor's).
//!
//! A request hyper cannot parse gets its 400, a request head longer than
//! 8 KiB its 431, a request whose target is not a path (`*`, an absolute
//! URL) 400 `bad request`; a client that has not sent its whole head within
//! 5 s is disconnected.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use changeover::listeners::TokioListener;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio_util::either::Either;

use crate::machine::Snapshot;

/// The longest request head read (hyper's smallest read buffer limit).
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

/// Answers health requests until the runtime ends; `proxy`'s series are
/// added to `/metrics`.
pub async fn serve(
    mut listener: TokioListener,
    snapshots: watch::Receiver<Snapshot>,
    proxy: Option<changeover_proxy::Proxy>,
) {
    loop {
        match listener.accept().await {
            Ok(accepted) => {
                let stream = match accepted {
                    Either::Left((tcp, _)) => Either::Left(tcp),
                    Either::Right((unix, _)) => Either::Right(unix),
                };
                tokio::spawn(answer(stream, snapshots.clone(), proxy.clone()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "health accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Serves one connection: one request, one answer, then the connection closes.
async fn answer<S>(
    stream: S,
    snapshots: watch::Receiver<Snapshot>,
    proxy: Option<changeover_proxy::Proxy>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request: Request<hyper::body::Incoming>| {
        let response = respond(&request, &snapshots.borrow(), proxy.as_ref());
        async move { Ok::<_, Infallible>(response) }
    });
    let served = http1::Builder::new()
        .keep_alive(false)
        .max_buf_size(MAX_HEAD)
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(e) = served {
        tracing::debug!(error = %e, "health connection ended with an error");
    }
}

/// The response to one parsed request.
fn respond<B>(
    request: &Request<B>,
    snapshot: &Snapshot,
    proxy: Option<&changeover_proxy::Proxy>,
) -> Response<Full<Bytes>> {
    let uri = request.uri();
    // Only the origin form (`GET /readyz`) names a route; `*` and absolute URLs do not.
    let answer = if uri.authority().is_none() && uri.path().starts_with('/') {
        let mut answer = route(request.method().as_str(), uri.path(), snapshot);
        if let (Some(p), "/metrics", 200) = (proxy, uri.path(), answer.status) {
            p.metrics().render_into(&mut answer.body);
        }
        answer
    } else {
        Answer {
            status: 400,
            content_type: "text/plain; charset=utf-8",
            body: "bad request\n".into(),
        }
    };
    let length = answer.body.len();
    let mut response = Response::new(Full::new(Bytes::from(answer.body)));
    // `route` answers only codes in 100..=999, which `from_u16` accepts.
    *response.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(answer.content_type),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    // To HEAD, hyper sends no body; the length still says what GET would get.
    response
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
        let task = tokio::spawn(answer(server, rx, None));
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

    /// Sends `request` on one connection and reads what comes back until it closes.
    async fn exchange(request: &[u8], snapshot: Snapshot) -> String {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let (_tx, rx) = watch::channel(snapshot);
        let task = tokio::spawn(answer(server, rx, None));
        client.write_all(request).await.unwrap();
        let mut out = Vec::new();
        client.read_to_end(&mut out).await.unwrap();
        task.await.unwrap();
        String::from_utf8(out).unwrap()
    }

    fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
        let (head, _) = response.split_once("\r\n\r\n")?;
        head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    #[tokio::test]
    async fn every_answer_says_how_long_it_is_and_closes() {
        let out = exchange(
            b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n",
            Snapshot::default(),
        )
        .await;
        assert!(out.starts_with("HTTP/1.1 404 Not Found\r\n"), "{out}");
        assert_eq!(header(&out, "connection"), Some("close"), "{out}");
        assert_eq!(
            header(&out, "content-type"),
            Some("text/plain; charset=utf-8")
        );
        let body = "not found: try /livez, /readyz or /metrics\n";
        assert_eq!(
            header(&out, "content-length"),
            Some(&*body.len().to_string())
        );
        assert!(out.ends_with(body), "{out}");
    }

    #[tokio::test]
    async fn head_gets_the_length_of_the_body_but_not_the_body() {
        let ready = Snapshot {
            ready: true,
            ..Snapshot::default()
        };
        let out = exchange(b"HEAD /readyz HTTP/1.1\r\nHost: x\r\n\r\n", ready).await;
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert_eq!(header(&out, "content-length"), Some("6"), "{out}");
        assert!(out.ends_with("\r\n\r\n"), "no body: {out}");
    }

    /// Bytes that are not HTTP get 400 and the connection closed.
    #[tokio::test]
    async fn a_malformed_request_gets_400() {
        for garbage in [
            &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"[..],
            b"GET /readyz HTTP/1.1\r\nno colon in this header\r\n\r\n",
            b"GET /readyz HTTP/9.9\r\n\r\n",
        ] {
            let out = exchange(garbage, Snapshot::default()).await;
            assert!(
                out.starts_with("HTTP/1.1 400 Bad Request\r\n"),
                "{garbage:?} -> {out:?}"
            );
        }
    }

    /// Only a path names a route: `*` and absolute URLs are refused as before.
    #[tokio::test]
    async fn a_target_that_is_not_a_path_gets_400() {
        for request in [
            &b"GET http://example.com/readyz HTTP/1.1\r\nHost: example.com\r\n\r\n"[..],
            b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
        ] {
            let out = exchange(request, Snapshot::default()).await;
            assert!(
                out.starts_with("HTTP/1.1 400 Bad Request\r\n"),
                "{request:?} -> {out:?}"
            );
            assert!(out.ends_with("\r\n\r\nbad request\n"), "{out}");
        }
    }

    /// A request line longer than the 8 KiB head limit is refused, not read on.
    #[tokio::test]
    async fn a_request_line_too_long_is_refused() {
        let request = format!(
            "GET /readyz?{} HTTP/1.1\r\nHost: x\r\n\r\n",
            "a".repeat(MAX_HEAD + 1)
        );
        let out = exchange(request.as_bytes(), Snapshot::default()).await;
        assert!(
            out.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            "{out:?}"
        );
    }

    /// A client that never finishes its request head is disconnected at 5 s.
    #[tokio::test(start_paused = true)]
    async fn a_client_that_stalls_is_cut_off() {
        let (mut client, server) = tokio::io::duplex(4096);
        let (_tx, rx) = watch::channel(Snapshot::default());
        let task = tokio::spawn(answer(server, rx, None));
        let began = tokio::time::Instant::now();
        client.write_all(b"GET /readyz HTTP/1.1\r\n").await.unwrap();
        let mut out = Vec::new();
        client.read_to_end(&mut out).await.unwrap();
        task.await.unwrap();
        assert_eq!(began.elapsed(), HEAD_TIMEOUT);
        let out = String::from_utf8(out).unwrap();
        assert!(out.is_empty(), "{out:?}");
    }
}
