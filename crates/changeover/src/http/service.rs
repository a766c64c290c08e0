//! What the serve path accepts ([`HttpService`]), and how it wraps it:
//! health endpoints, and `Connection: close` once draining.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode, Version};
use http_body_util::{Either, Full};
use hyper::body::Incoming;

use crate::drain::{DrainSignals, Phase};

/// The error type services may return.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What [`Lifecycle::serve`](crate::Lifecycle::serve) accepts: a cloneable tower service over
/// `http::Request<hyper::body::Incoming>` whose responses have a body of
/// `Bytes` (an axum `Router`, for one). Implemented for every such service.
pub trait HttpService:
    tower_service::Service<
        Request<Incoming>,
        Response = Response<Self::ResBody>,
        Error: Into<BoxError>,
        Future: Send + 'static,
    > + Clone
    + Send
    + Sync
    + 'static
{
    /// The response body.
    type ResBody: http_body::Body<Data = Bytes, Error: Into<BoxError>> + Send + 'static;
}

impl<S, B> HttpService for S
where
    S: tower_service::Service<Request<Incoming>, Response = Response<B>>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type ResBody = B;
}

/// The application's service as the serve path runs it: `/livez` and
/// `/readyz` answered first (when on), and `Connection: close` on every
/// HTTP/1.1 response once draining began.
#[derive(Clone)]
pub(crate) struct DrainAwareService<S> {
    signals: DrainSignals,
    health: bool,
    inner: S,
}

impl<S> DrainAwareService<S> {
    pub(crate) fn new(signals: DrainSignals, health: bool, inner: S) -> DrainAwareService<S> {
        DrainAwareService {
            signals,
            health,
            inner,
        }
    }
}

type Body<B> = Either<B, Full<Bytes>>;

impl<S: HttpService> tower_service::Service<Request<Incoming>> for DrainAwareService<S> {
    type Response = Response<Body<S::ResBody>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), BoxError>> {
        // Readiness of the inner service is awaited per request in `call`,
        // on its own clone (hyper calls through a shared reference).
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Incoming>) -> Self::Future {
        let signals = self.signals.clone();
        let http1 = req.version() <= Version::HTTP_11;
        if self.health && req.method() == Method::GET {
            if let Some(resp) = health(&signals, req.uri().path()) {
                return Box::pin(async move {
                    Ok(mark_close(&signals, http1, resp.map(Either::Right)))
                });
            }
        }
        let mut inner = self.inner.clone();
        Box::pin(async move {
            std::future::poll_fn(|cx| inner.poll_ready(cx))
                .await
                .map_err(Into::into)?;
            let resp = inner.call(req).await.map_err(Into::into)?;
            Ok(mark_close(&signals, http1, resp.map(Either::Left)))
        })
    }
}

fn mark_close<B>(signals: &DrainSignals, http1: bool, mut resp: Response<B>) -> Response<B> {
    if http1 && signals.is_draining() {
        resp.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

fn health(signals: &DrainSignals, path: &str) -> Option<Response<Full<Bytes>>> {
    let (status, body) = match path {
        "/livez" => (StatusCode::OK, "ok\n"),
        "/readyz" => match signals.phase() {
            Phase::Ready => (StatusCode::OK, "ready\n"),
            Phase::Starting => (StatusCode::SERVICE_UNAVAILABLE, "starting\n"),
            Phase::Draining | Phase::Stopped => (StatusCode::SERVICE_UNAVAILABLE, "draining\n"),
        },
        _ => return None,
    };
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Some(resp)
}
