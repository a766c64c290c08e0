//! The forwarding service: one request from a client to the newest ready
//! generation and its response back, with the one retry the crate
//! documentation describes.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http::header::{CONTENT_TYPE, HOST, HeaderValue, RETRY_AFTER};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;

use crate::Shared;
use crate::body::{Exchange, ReqBody, ResponseBody};
use crate::headers::{self, ForwardedValues};
use crate::metrics::UpstreamError;
use crate::pool::Conn;
use crate::routes::{Gen, InFlight};
use crate::tunnel;

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
        let client = self.client.clone();
        Box::pin(async move {
            let start = Instant::now();
            let resp = route(&client, req, start).await;
            client.shared.global.observe(start.elapsed());
            Ok(resp)
        })
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

async fn route(client: &Client, req: Request<Incoming>, start: Instant) -> Response<ResponseBody> {
    let shared = &client.shared;
    if req.method() == Method::CONNECT {
        return unrouted(
            shared,
            StatusCode::METHOD_NOT_ALLOWED,
            "405 method not allowed: CONNECT is not forwarded\n",
        );
    }
    let (mut parts, body) = req.into_parts();
    let info = match headers::request(&mut parts, client.forwarded.as_ref()) {
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
    // The client's upgrade handle stays here; nothing else of the server's
    // bookkeeping is meant for the upstream.
    let on_client = parts.extensions.remove::<OnUpgrade>();
    parts.extensions.clear();
    if info.upgrade {
        // Boxed: rare, and it would make every request's future bigger.
        return Box::pin(upgrade(parts, body, on_client, flight)).await;
    }
    exchange(shared, parts, ReqBody::new(body), flight, start).await
}

/// A plain request: a pooled connection (or a new one), one retry on a new
/// connection when the pooled one failed before any response byte and the
/// request can be sent again.
async fn exchange(
    shared: &Shared,
    mut parts: Parts,
    mut body: ReqBody,
    mut flight: InFlight,
    start: Instant,
) -> Response<ResponseBody> {
    let replayable = idempotent(&parts.method) && matches!(body, ReqBody::Empty);
    let mut retried = false;
    let mut conn = match flight.generation().pool.checkout(start).await {
        Some(c) => c,
        None => match connect(flight.generation()).await {
            Ok(c) => c,
            Err(resp) => return resp,
        },
    };
    loop {
        // Only a request that may be retried pays for a copy of its head.
        let copy = (replayable && conn.reused && !retried).then(|| parts.clone());
        body.bind(&conn);
        let before = conn.state.bytes_read();
        let sent = conn
            .sender
            .try_send_request(Request::from_parts(parts, body))
            .await;
        let mut err = match sent {
            Ok(resp) => return respond(resp, Some(conn), flight),
            Err(e) => e,
        };
        let no_response_byte = conn.state.bytes_read() == before;
        let reused = conn.reused;
        drop(conn);
        let again = match err.take_message() {
            // hyper gives the request back when not a byte of it was
            // written: safe to send again whatever the method.
            Some(req) => Some(req.into_parts()),
            None if no_response_byte => copy.map(|p| (p, ReqBody::Empty)),
            None => None,
        };
        let g = flight.generation().clone();
        let Some((p, b)) = again.filter(|_| reused && !retried) else {
            g.counters.error(UpstreamError::Closed);
            tracing::warn!(generation = g.number, error = %err.error(), "proxy: upstream connection failed before a response; answered 502");
            return bad_gateway(
                &g,
                format!(
                    "502 bad gateway: the server (generation {}) closed the connection before answering\n",
                    g.number
                ),
            );
        };
        g.counters.retry();
        tracing::debug!(generation = g.number, error = %err.error(), "proxy: reused upstream connection failed before any response byte; retrying on a new connection");
        retried = true;
        parts = p;
        body = b;
        // The newest ready generation: the same one unless the route just
        // switched, in which case the new one is the better bet.
        if let Some(f) = shared.routes.pick() {
            flight = f;
        }
        conn = match connect(flight.generation()).await {
            Ok(c) => c,
            Err(resp) => return resp,
        };
    }
}

/// An upgrade (WebSocket) on a connection of its own: a 101 starts a
/// tunnel; any other answer is passed on and the connection dropped after.
async fn upgrade(
    parts: Parts,
    body: Incoming,
    on_client: Option<OnUpgrade>,
    flight: InFlight,
) -> Response<ResponseBody> {
    let g = flight.generation().clone();
    let mut conn = match connect(&g).await {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let mut body = ReqBody::new(body);
    body.bind(&conn);
    let mut resp = match conn
        .sender
        .send_request(Request::from_parts(parts, body))
        .await
    {
        Ok(r) => r,
        Err(e) => {
            g.counters.error(UpstreamError::Closed);
            tracing::warn!(generation = g.number, error = %e, "proxy: upgrade request failed before a response; answered 502");
            return bad_gateway(
                &g,
                format!(
                    "502 bad gateway: the server (generation {}) closed the connection before answering\n",
                    g.number
                ),
            );
        }
    };
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        return respond(resp, None, flight);
    }
    let Some(on_client) = on_client else {
        // Only HTTP/1.1 requests are taken for upgrades, and hyper's server
        // always gives those a handle; answered rather than assumed.
        return bad_gateway(
            &g,
            "502 bad gateway: this connection cannot be upgraded\n".into(),
        );
    };
    g.counters.responses.count(resp.status());
    let on_upstream = hyper::upgrade::on(&mut resp);
    let (mut head, _empty) = resp.into_parts();
    headers::response(&mut head.headers, true);
    tunnel::spawn(on_client, on_upstream, conn, flight);
    Response::from_parts(head, ResponseBody::empty())
}

async fn connect(g: &Arc<Gen>) -> Result<Conn, Response<ResponseBody>> {
    g.pool.connect().await.map_err(|e| {
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

fn respond(
    resp: Response<Incoming>,
    conn: Option<Conn>,
    flight: InFlight,
) -> Response<ResponseBody> {
    flight.generation().counters.responses.count(resp.status());
    let (mut head, body) = resp.into_parts();
    headers::response(&mut head.headers, false);
    Response::from_parts(
        head,
        ResponseBody::upstream(body, Exchange { flight, conn }),
    )
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
