//! What the serve path accepts ([`HttpService`]), and how it wraps it:
//! health endpoints, and `Connection: close` once draining.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

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

pin_project_lite::pin_project! {
    /// What [`DrainAwareService::call`] returns: no box, no clone of the
    /// inner service (hyper-util's `TowerToHyperService` already gives every
    /// request a fresh clone of the whole wrapper), just the answer or the
    /// application's own future, and what `mark_close` needs.
    #[project = DrainAwareFutureProj]
    pub(crate) enum DrainAwareFuture<F> {
        /// `/livez` or `/readyz`, answered here; `None` once taken.
        Health { response: Option<Response<Full<Bytes>>>, signals: DrainSignals, http1: bool },
        /// The application's future.
        Inner { #[pin] future: F, signals: DrainSignals, http1: bool },
    }
}

impl<F, B, E> Future for DrainAwareFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Response<Body<B>>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            DrainAwareFutureProj::Health {
                response,
                signals,
                http1,
            } => {
                let response = response.take().expect("polled after it completed");
                Poll::Ready(Ok(mark_close(signals, *http1, response.map(Either::Right))))
            }
            DrainAwareFutureProj::Inner {
                future,
                signals,
                http1,
            } => {
                let response = ready!(future.poll(cx)).map_err(Into::into)?;
                Poll::Ready(Ok(mark_close(signals, *http1, response.map(Either::Left))))
            }
        }
    }
}

impl<S: HttpService> tower_service::Service<Request<Incoming>> for DrainAwareService<S> {
    type Response = Response<Body<S::ResBody>>;
    type Error = BoxError;
    type Future = DrainAwareFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // hyper-util's glue calls this on the clone it then calls, so the
        // inner service's readiness is honoured as tower means it.
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request<Incoming>) -> Self::Future {
        // The one reference count a request pays: the answer is marked when
        // it is ready, not when the request came in, so a response finished
        // after a stop began still carries `Connection: close`.
        let signals = self.signals.clone();
        let http1 = req.version() <= Version::HTTP_11;
        if self.health && req.method() == Method::GET {
            if let Some(response) = health(&signals, req.uri().path()) {
                return DrainAwareFuture::Health {
                    response: Some(response),
                    signals,
                    http1,
                };
            }
        }
        DrainAwareFuture::Inner {
            future: self.inner.call(req),
            signals,
            http1,
        }
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
