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
use http::request::Parts;
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

    fn forward(&self, req: Request<Incoming>) -> ResponseFuture {
        Box::pin(route(self.client.clone(), req))
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

async fn route(
    client: Arc<Client>,
    req: Request<Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
    let start = Instant::now();
    let resp = forward(&client, req, start).await;
    client.shared.global.observe(start.elapsed());
    Ok(resp)
}

async fn forward(
    client: &Client,
    req: Request<Incoming>,
    start: Instant,
) -> Response<ResponseBody> {
    let shared = &client.shared;
    if req.method() == Method::CONNECT {
        return unrouted(
            shared,
            StatusCode::METHOD_NOT_ALLOWED,
            "405 method not allowed: CONNECT is not forwarded\n",
        );
    }
    let (mut parts, body) = req.into_parts();
    let info = match headers::request(&mut parts) {
        Ok(info) => info,
        Err(bad) => return unrouted(shared, StatusCode::BAD_REQUEST, bad.text()),
    };
    let Some(flight) = shared.routes.pick() else {
        let mut resp = unrouted(
            shared,
            StatusCode::SERVICE_UNAVAILABLE,
            "503 service unavailable: no generation of the server is ready yet\n",
        );
        resp.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
        return resp;
    };
    if info.needs_host {
        parts
            .headers
            .insert(HOST, flight.generation().pool.host().clone());
    }
    if info.upgrade {
        // The client's side of the upgrade, which hyper's server hands over
        // once the 101 is written.
        let on_client = parts.extensions.remove::<OnUpgrade>();
        // Boxed: rare, and it would make every request's future bigger.
        return Box::pin(upgrade(client, parts, &info, body, on_client, flight)).await;
    }
    exchange(client, &mut parts, &info, body, flight, start).await
}

/// Writes the request head for the upstream into `conn`.
fn write_head(
    conn: &mut Conn,
    client: &Client,
    parts: &Parts,
    info: &RequestInfo,
    framing: Framing,
    add_length: bool,
) {
    head::write_request(
        &mut conn.wbuf,
        &parts.method,
        &parts.uri,
        framing,
        add_length,
        |buf| headers::write_fields(buf, &parts.headers, info, client.forwarded.as_ref()),
    );
}

/// The request body, framed for the upstream; `None` when it sends none.
fn outgoing(parts: &Parts, body: Incoming) -> (Framing, bool, Option<Outgoing>) {
    let (framing, add_length) = head::framing(
        &parts.method,
        &parts.headers,
        body.is_end_stream(),
        body.size_hint().exact(),
    );
    let out = (framing != Framing::None).then(|| Outgoing::new(body, framing, &parts.headers));
    (framing, add_length, out)
}

/// A plain request: a pooled connection (or a new one), one retry on a new
/// connection when the pooled one failed before any response byte and the
/// request can be sent again.
async fn exchange(
    client: &Client,
    parts: &mut Parts,
    info: &RequestInfo,
    body: Incoming,
    mut flight: InFlight,
    start: Instant,
) -> Response<ResponseBody> {
    // Sent again only as it was: without a body (the proxy keeps no copy).
    let replayable = idempotent(&parts.method) && body.is_end_stream();
    let (framing, add_length, mut out) = outgoing(parts, body);
    let mut retried = false;
    let mut conn = match flight.generation().pool.checkout(start) {
        Some(c) => c,
        None => match connect(flight.generation()).await {
            Ok(c) => c,
            Err(resp) => return resp,
        },
    };
    loop {
        write_head(&mut conn, client, parts, info, framing, add_length);
        let sent = exchange::send(
            &mut conn,
            &mut out,
            &parts.method,
            false,
            &mut parts.headers,
        );
        let f = match sent.await {
            Ok(head) => {
                let fields = std::mem::take(&mut parts.headers);
                return respond(head, fields, conn, out, flight);
            }
            Err(f) => f,
        };
        let reused = conn.reused;
        drop(conn);
        let g = flight.generation().clone();
        // Not a byte written: the upstream never saw it, and the body (sent
        // only after the head) is untouched; whatever the method.
        let again = reused && !retried && !f.answered && (f.unsent || replayable);
        if !again {
            return failed(&g, &f);
        }
        g.counters.retry();
        tracing::debug!(generation = g.number, error = %f.cause, "proxy: reused upstream connection failed before any response byte; retrying on a new connection");
        retried = true;
        // The newest ready generation: the same one unless the route just
        // switched, in which case the new one is the better bet.
        if let Some(f) = client.shared.routes.pick() {
            flight = f;
        }
        conn = match connect(flight.generation()).await {
            Ok(c) => c,
            Err(resp) => return resp,
        };
    }
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
    client: &Client,
    mut parts: Parts,
    info: &RequestInfo,
    body: Incoming,
    on_client: Option<OnUpgrade>,
    flight: InFlight,
) -> Response<ResponseBody> {
    let g = flight.generation().clone();
    let mut conn = match connect(&g).await {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let (framing, add_length, mut out) = outgoing(&parts, body);
    write_head(&mut conn, client, &parts, info, framing, add_length);
    let head =
        match exchange::send(&mut conn, &mut out, &parts.method, true, &mut parts.headers).await {
            Ok(h) => h,
            Err(f) => return failed(&g, &f),
        };
    let fields = std::mem::take(&mut parts.headers);
    if head.framing != BodyFraming::Switching {
        conn.broken = true;
        return respond(head, fields, conn, out, flight);
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
    response(&head, fields, ResponseBody::empty())
}

fn response(head: &ResponseHead, fields: HeaderMap, body: ResponseBody) -> Response<ResponseBody> {
    let mut resp = Response::new(body);
    *resp.status_mut() = head.status;
    *resp.version_mut() = head.version;
    *resp.headers_mut() = fields;
    resp
}

async fn connect(g: &Arc<Gen>) -> Result<Conn, Response<ResponseBody>> {
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

/// The client's response to `head`: with its body whole when it came with
/// the head (then the exchange is over now), streaming otherwise.
fn respond(
    mut head: ResponseHead,
    fields: HeaderMap,
    conn: Conn,
    out: Option<Outgoing>,
    flight: InFlight,
) -> Response<ResponseBody> {
    flight.generation().counters.responses.count(head.status);
    let keep_alive = head.keep_alive;
    let decoder = Decoder::new(head.framing);
    let body = match (head.body.take(), decoder) {
        (Some(b), _) => {
            complete(conn, out, keep_alive, flight);
            ResponseBody::full(b)
        }
        (None, Decoder::Done) => {
            complete(conn, out, keep_alive, flight);
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
