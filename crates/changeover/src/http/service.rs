//! The service wrapper: health endpoints, and `Connection: close` once draining.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode, Version};
use http_body_util::{Either, Full};
use hyper::body::Incoming;

use super::{BoxError, HttpService};
use crate::lifecycle::{Lifecycle, Phase};

/// Whether the process is draining; cheap to ask on every request.
#[derive(Debug, Clone)]
pub struct Draining(Lifecycle);

impl Draining {
    /// Whether a stop or handover began.
    pub fn get(&self) -> bool {
        self.0.inner.draining.load(Ordering::Acquire)
    }
}

impl Lifecycle {
    /// A cheap view of whether draining began, for handlers that want to know.
    pub fn draining(&self) -> Draining {
        Draining(self.clone())
    }
}

/// Wraps the application's tower service.
#[derive(Clone)]
pub(crate) struct Wrapped<S> {
    lc: Lifecycle,
    inner: S,
}

impl<S> Wrapped<S> {
    pub(crate) fn new(lc: Lifecycle, inner: S) -> Wrapped<S> {
        Wrapped { lc, inner }
    }
}

type Body<B> = Either<B, Full<Bytes>>;

impl<S: HttpService> tower_service::Service<Request<Incoming>> for Wrapped<S> {
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
        let lc = self.lc.clone();
        let http1 = req.version() <= Version::HTTP_11;
        if lc.inner.health && req.method() == Method::GET {
            if let Some(resp) = health(&lc, req.uri().path()) {
                return Box::pin(
                    async move { Ok(mark_close(&lc, http1, resp.map(Either::Right))) },
                );
            }
        }
        let mut inner = self.inner.clone();
        Box::pin(async move {
            std::future::poll_fn(|cx| inner.poll_ready(cx))
                .await
                .map_err(Into::into)?;
            let resp = inner.call(req).await.map_err(Into::into)?;
            Ok(mark_close(&lc, http1, resp.map(Either::Left)))
        })
    }
}

fn mark_close<B>(lc: &Lifecycle, http1: bool, mut resp: Response<B>) -> Response<B> {
    if http1 && lc.inner.draining.load(Ordering::Acquire) {
        resp.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

fn health(lc: &Lifecycle, path: &str) -> Option<Response<Full<Bytes>>> {
    let (status, body) = match path {
        "/livez" => (StatusCode::OK, "ok\n"),
        "/readyz" => match *lc.inner.phase.borrow() {
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
