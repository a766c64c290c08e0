//! The forwarding service: one request from a client to the newest ready
//! generation and its response back, with the one retry the crate
//! documentation describes.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http::header::{CONTENT_TYPE, HOST, HeaderMap, HeaderValue, RETRY_AFTER};
use http::{Method, Request, Response, StatusCode};
use http_body::Body;
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;

use crate::Shared;
use crate::body::{ResponseBody, Streaming, complete};
use crate::headers::{self, ForwardedValues, RequestInfo};
use crate::metrics::UpstreamError;
use crate::routes::{Gen, InFlight};
use crate::tunnel;
use crate::upstream::Conn;
use crate::upstream::decode::Decoder;
use crate::upstream::exchange::{self, Cause, Failure};
use crate::upstream::head::{self, BodyFraming, Framing, ResponseHead};
use crate::upstream::send::Outgoing;

/// The future of one proxied request. It never fails: every failure is
/// answered with a status (502, 503, 400, 405) and a short text.
pub type ResponseFuture =
    Pin<Box<dyn Future<Output = Result<Response<ResponseBody>, Infallible>> + Send>>;

/// The proxy as a hyper/tower service for one client connection (it knows
/// the client's address for the forwarded headers). Made by
/// [`Proxy::service`](crate::Proxy::service); cheap to clone.
#[derive(Clone)]
pub struct ProxyService {
    client: Arc<Client>,
}

struct Client {
    shared: Arc<Shared>,
    forwarded: Option<ForwardedValues>,
}

impl std::fmt::Debug for ProxyService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyService").finish_non_exhaustive()
    }
}

impl ProxyService {
    pub(crate) fn new(shared: Arc<Shared>, client: Option<std::net::SocketAddr>) -> ProxyService {
        let forwarded = shared
            .config
            .forwarded_headers
            .then(|| ForwardedValues::new(client));
        ProxyService {
            client: Arc::new(Client { shared, forwarded }),
        }
    }

    /// Everything that need not wait happens here, before hyper's server
    /// goes on: the checks, the pick, a pooled connection, the request head
    /// written out and the request's fields dropped. They are slices of
    /// the server's read buffer, which reads again at once (for the next
    /// request, or the client's close) and would have to allocate a new
    /// buffer if they still lived.
    fn forward(&self, mut req: Request<Incoming>) -> ResponseFuture {
        let start = Instant::now();
        let client = &self.client;
        match prepare(client, &mut req) {
            Prepared::Answer(resp) => {
                client.shared.global.observe(start.elapsed());
                Box::pin(std::future::ready(Ok(resp)))
            }
            Prepared::Forward(info, flight) if info.upgrade => {
                Box::pin(upgrade(client.clone(), req, info, flight, start))
            }
            Prepared::Forward(info, flight) => {
                let mut conn = flight.generation().pool.checkout(start);
                let mut head = conn
                    .as_mut()
                    .map_or_else(Vec::new, |c| std::mem::take(&mut c.wbuf));
                let sent = write_head(&mut head, client, req, &info);
                Box::pin(exchange(client.clone(), conn, head, sent, flight, start))
            }
        }
    }
}

impl tower_service::Service<Request<Incoming>> for ProxyService {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Incoming>) -> ResponseFuture {
        self.forward(req)
    }
}

impl hyper::service::Service<Request<Incoming>> for ProxyService {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn call(&self, req: Request<Incoming>) -> ResponseFuture {
        self.forward(req)
    }
}

/// Methods whose requests may be sent twice (RFC 9110 §9.2.2), when their
/// body can be sent twice too.
fn idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

/// What [`prepare`] made of a request.
enum Prepared {
    /// The proxy answers it itself.
    Answer(Response<ResponseBody>),
    /// It goes to this generation.
    Forward(RequestInfo, InFlight),
}

/// Checks and rewrites the request head and picks its generation; or the
/// answer the proxy gives itself (400, 405, 503).
fn prepare(client: &Client, req: &mut Request<Incoming>) -> Prepared {
    let shared = &client.shared;
    if req.method() == Method::CONNECT {
        return Prepared::Answer(unrouted(
            shared,
            StatusCode::METHOD_NOT_ALLOWED,
            "405 method not allowed: CONNECT is not forwarded\n",
        ));
    }
    let info = match headers::request(req) {
        Ok(info) => info,
        Err(bad) => return Prepared::Answer(unrouted(shared, StatusCode::BAD_REQUEST, bad.text())),
    };
    let Some(flight) = shared.routes.pick() else {
        let mut resp = unrouted(
            shared,
            StatusCode::SERVICE_UNAVAILABLE,
            "503 service unavailable: no generation of the server is ready yet\n",
        );
        resp.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
        return Prepared::Answer(resp);
    };
    if info.needs_host {
        req.headers_mut()
            .insert(HOST, flight.generation().pool.host().clone());
    }
    Prepared::Forward(info, flight)
}

/// What is left of a request once its head is written: the method (which
/// says how the response is framed), its field map (emptied, to take the
/// response's fields), and its body on its way.
struct Sent {
    method: Method,
    fields: HeaderMap,
    out: Option<Box<Outgoing>>,
    /// No body: it can be sent again as it was.
    bodiless: bool,
}

/// Writes the request head into `buf`, then lets go of the request (a
/// retry sends `buf` again).
fn write_head(
    buf: &mut Vec<u8>,
    client: &Client,
    mut req: Request<Incoming>,
    info: &RequestInfo,
) -> Sent {
    let body = req.body();
    let bodiless = body.is_end_stream();
    let (framing, add_length) = head::framing(
        req.method(),
        req.headers(),
        bodiless,
        body.size_hint().exact(),
    );
    head::write_request(buf, req.method(), req.uri(), framing, add_length, |buf| {
        headers::write_fields(buf, req.headers(), info, client.forwarded.as_ref())
    });
    let method = req.method().clone();
    let mut fields = std::mem::take(req.headers_mut());
    let out = (framing != Framing::None)
        .then(|| Box::new(Outgoing::new(req.into_body(), framing, &fields)));
    fields.clear();
    Sent {
        method,
        fields,
        out,
        bodiless,
    }
}

/// A plain request, its head written in `head`: on `conn` (a pooled
/// connection) or a new one, with one retry on a new connection when the
/// pooled one failed before any response byte and the request can be sent
/// again.
async fn exchange(
    client: Arc<Client>,
    conn: Option<Box<Conn>>,
    mut head: Vec<u8>,
    mut sent: Sent,
    mut flight: InFlight,
    start: Instant,
) -> Result<Response<ResponseBody>, Infallible> {
    // When the response head came: the end of the request's time, and when
    // its connection went back to the pool (one clock read for both).
    let mut end = None;
    // One future, not one within another, so nothing is moved between them.
    let resp = 'answer: {
        let mut conn = match conn {
            Some(c) => c,
            None => match connect(flight.generation()).await {
                Ok(c) => c,
                Err(resp) => break 'answer resp,
            },
        };
        conn.wbuf = head;
        // Sent again only as it was: without a body (the proxy keeps no copy).
        let replayable = idempotent(&sent.method) && sent.bodiless;
        let mut retried = false;
        loop {
            let attempt = exchange::send(
                &mut conn,
                &mut sent.out,
                &sent.method,
                false,
                &mut sent.fields,
            );
            let f = match attempt.await {
                Ok(h) => {
                    let now = Instant::now();
                    end = Some(now);
                    break 'answer respond(h, sent.fields, conn, sent.out, flight, now);
                }
                Err(f) => f,
            };
            let reused = conn.reused;
            head = std::mem::take(&mut conn.wbuf);
            drop(conn);
            let g = flight.generation().clone();
            // Not a byte written: the upstream never saw it, and the body
            // (sent only after the head) is untouched; whatever the method.
            let again = reused && !retried && !f.answered && (f.unsent || replayable);
            if !again {
                break 'answer failed(&g, &f);
            }
            g.counters.retry();
            tracing::debug!(generation = g.number, error = %f.cause, "proxy: reused upstream connection failed before any response byte; retrying on a new connection");
            retried = true;
            // The newest ready generation: the same one unless the route
            // just switched, in which case the new one is the better bet.
            if let Some(f) = client.shared.routes.pick() {
                flight = f;
            }
            conn = match connect(flight.generation()).await {
                Ok(c) => c,
                Err(resp) => break 'answer resp,
            };
            // The same bytes: `Host` (for a request that had none) stays
            // the first pick's, as before.
            conn.wbuf = head;
        }
    };
    let end = end.unwrap_or_else(Instant::now);
    client
        .shared
        .global
        .observe(end.saturating_duration_since(start));
    Ok(resp)
}

/// The answer to an attempt that failed before a response head.
fn failed(g: &Gen, f: &Failure) -> Response<ResponseBody> {
    let text = match &f.cause {
        Cause::ClientBody(_) => {
            tracing::debug!(generation = g.number, error = %f.cause, "proxy: the client's request body broke off");
            g.counters.responses.count(StatusCode::BAD_REQUEST);
            return text(
                StatusCode::BAD_REQUEST,
                "400 bad request: the request body broke off before its end\n",
            );
        }
        Cause::Head(_) => format!(
            "502 bad gateway: the server (generation {}) sent a response head that is not valid HTTP/1.1\n",
            g.number
        ),
        Cause::Io(_) | Cause::Eof => format!(
            "502 bad gateway: the server (generation {}) closed the connection before answering\n",
            g.number
        ),
    };
    g.counters.error(UpstreamError::Closed);
    tracing::warn!(generation = g.number, error = %f.cause, "proxy: upstream connection failed before a response; answered 502");
    bad_gateway(g, text)
}

/// An upgrade (WebSocket) on a connection of its own: a 101 starts a
/// tunnel; any other answer is passed on and the connection dropped after.
async fn upgrade(
    client: Arc<Client>,
    req: Request<Incoming>,
    info: RequestInfo,
    flight: InFlight,
    start: Instant,
) -> Result<Response<ResponseBody>, Infallible> {
    let resp = switch(&client, req, info, flight).await;
    client.shared.global.observe(start.elapsed());
    Ok(resp)
}

async fn switch(
    client: &Client,
    mut req: Request<Incoming>,
    info: RequestInfo,
    flight: InFlight,
) -> Response<ResponseBody> {
    // The client's side of the upgrade, which hyper's server hands over
    // once the 101 is written.
    let on_client = req.extensions_mut().remove::<OnUpgrade>();
    let g = flight.generation().clone();
    let mut conn = match connect(&g).await {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let mut head = std::mem::take(&mut conn.wbuf);
    let mut sent = write_head(&mut head, client, req, &info);
    conn.wbuf = head;
    let attempt = exchange::send(
        &mut conn,
        &mut sent.out,
        &sent.method,
        true,
        &mut sent.fields,
    );
    let head = match attempt.await {
        Ok(h) => h,
        Err(f) => return failed(&g, &f),
    };
    if head.framing != BodyFraming::Switching {
        conn.broken = true;
        return respond(head, sent.fields, conn, sent.out, flight, Instant::now());
    }
    let Some(on_client) = on_client else {
        // Only HTTP/1.1 requests are taken for upgrades, and hyper's server
        // always gives those a handle; answered rather than assumed.
        return bad_gateway(
            &g,
            "502 bad gateway: this connection cannot be upgraded\n".into(),
        );
    };
    g.counters.responses.count(head.status);
    // Bytes the upstream sent right after its 101 belong to the tunnel.
    let early = conn.rbuf.split().freeze();
    tunnel::spawn(on_client, conn.stream, early, flight);
    response(&head, sent.fields, ResponseBody::empty())
}

fn response(head: &ResponseHead, fields: HeaderMap, body: ResponseBody) -> Response<ResponseBody> {
    let mut resp = Response::new(body);
    *resp.status_mut() = head.status;
    *resp.version_mut() = head.version;
    *resp.headers_mut() = fields;
    resp
}

async fn connect(g: &Arc<Gen>) -> Result<Box<Conn>, Response<ResponseBody>> {
    // Boxed: connecting (with its timer) is a large future, and most
    // requests take a pooled connection instead.
    Box::pin(g.pool.connect()).await.map_err(|e| {
        g.counters.error(UpstreamError::Connect);
        tracing::warn!(generation = g.number, upstream = %g.pool.upstream(), error = %e, "proxy: cannot connect to the upstream; answered 502");
        bad_gateway(
            g,
            format!(
                "502 bad gateway: the server (generation {}) is unreachable\n",
                g.number
            ),
        )
    })
}

/// The client's response to `head` (which came at `now`): with its body
/// whole when it came with the head (then the exchange is over now),
/// streaming otherwise.
fn respond(
    mut head: ResponseHead,
    fields: HeaderMap,
    conn: Box<Conn>,
    out: Option<Box<Outgoing>>,
    flight: InFlight,
    now: Instant,
) -> Response<ResponseBody> {
    flight.generation().counters.responses.count(head.status);
    let keep_alive = head.keep_alive;
    let decoder = Decoder::new(head.framing);
    let body = match (head.body.take(), decoder) {
        (Some(b), _) => {
            complete(conn, out, keep_alive, flight, now);
            ResponseBody::full(b)
        }
        (None, Decoder::Done) => {
            complete(conn, out, keep_alive, flight, now);
            ResponseBody::empty()
        }
        (None, _) => ResponseBody::streaming(Streaming {
            conn,
            decoder,
            outgoing: out,
            keep_alive,
            flight,
        }),
    };
    response(&head, fields, body)
}

fn text(status: StatusCode, body: impl Into<bytes::Bytes>) -> Response<ResponseBody> {
    let mut resp = Response::new(ResponseBody::full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

fn bad_gateway(g: &Gen, body: String) -> Response<ResponseBody> {
    g.counters.responses.count(StatusCode::BAD_GATEWAY);
    text(StatusCode::BAD_GATEWAY, body)
}

fn unrouted(shared: &Shared, status: StatusCode, body: &'static str) -> Response<ResponseBody> {
    shared.global.unrouted.count(status);
    text(status, body)
}
