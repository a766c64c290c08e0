//! gRPC: the standard health service (`grpc.health.v1.Health`), its status
//! following the lifecycle.
//!
//! A Kubernetes `grpc` readiness probe, a load balancer's health check and
//! gRPC's client-side health checking all ask this service, the way HTTP
//! checkers ask `/readyz`. It answers:
//!
//! | phase | `Check` and `Watch` |
//! | --- | --- |
//! | [`Starting`](Phase::Starting) | `NOT_SERVING` |
//! | [`Ready`](Phase::Ready) | `SERVING` |
//! | [`Draining`](Phase::Draining) (a stop or a handover began), [`Stopped`](Phase::Stopped) | `NOT_SERVING` |
//!
//! `Watch` sends the current status at once and then every change. Once
//! accepting stops (after the stop delay, or at once after a handover), it
//! ends with `UNAVAILABLE`, which the protocol tells clients to answer by
//! watching again: their new connection reaches the successor, or nobody.
//! Without that end, a watcher's stream would hold its HTTP/2 connection
//! open until the drain deadline cut it.
//!
//! The service named `""` (the whole server, which is what probes ask by
//! default) is always known; other names are known once added with
//! [`LifecycleHealth::with_service`], and all of them share the one status.
//! `Check` for any other name fails with `NOT_FOUND`, as the protocol says.
//!
//! Served through [`Lifecycle::serve`], gRPC gets the same drain as HTTP:
//! once accepting stops and the lame-duck window has passed, each HTTP/2
//! connection gets a GOAWAY in two steps (h2's graceful shutdown: the
//! highest stream id first, the real last one after a ping round trip), so
//! no RPC the client has sent is lost, and the RPCs in flight finish.
//!
//! # Example
//!
//! ```no_run
//! use changeover::Lifecycle;
//!
//! #[tokio::main]
//! async fn main() -> Result<std::process::ExitCode, Box<dyn std::error::Error>> {
//!     let lc = Lifecycle::new()?;
//!     let listener = lc.listen("grpc", &"127.0.0.1:50051".parse()?)?;
//!     // Add the application's own services beside it with `add_service`.
//!     let routes = tonic::service::Routes::new(changeover::grpc::health_service(&lc));
//!     lc.serve(listener, routes)?;
//!     lc.ready()?; // from here on, Check answers SERVING
//!     Ok(lc.run().await.exit_code().into())
//! }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio_stream::Stream;
use tokio_stream::wrappers::WatchStream;
use tokio_util::sync::WaitForCancellationFutureOwned;
use tonic::{Request, Response, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_server::Health;
pub use tonic_health::pb::health_server::HealthServer;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

use crate::drain::Phase;
use crate::lifecycle::Lifecycle;

/// The `grpc.health.v1.Health` service for `lc`, ready to add to tonic's
/// `Routes` (or to serve alone): it knows the server-wide service `""`.
pub fn health_service(lc: &Lifecycle) -> HealthServer<LifecycleHealth> {
    LifecycleHealth::new(lc).into_server()
}

/// The health service's implementation: the lifecycle's phase, read on
/// every call. Build it with [`health_service`], or with
/// [`LifecycleHealth::new`] to name services beside `""`.
#[derive(Debug, Clone)]
pub struct LifecycleHealth {
    lc: Lifecycle,
    /// Names besides `""` that answer; few, so a slice beats a set.
    services: Arc<[String]>,
}

impl LifecycleHealth {
    /// Knows the server-wide service `""` only.
    pub fn new(lc: &Lifecycle) -> LifecycleHealth {
        LifecycleHealth {
            lc: lc.clone(),
            services: Arc::from([]),
        }
    }

    /// Also answers for `name` (a fully qualified service name such as
    /// `helloworld.Greeter`), with the same status as the whole server.
    pub fn with_service(self, name: impl Into<String>) -> LifecycleHealth {
        let mut services = self.services.to_vec();
        services.push(name.into());
        LifecycleHealth {
            services: services.into(),
            ..self
        }
    }

    /// The tonic service to serve.
    pub fn into_server(self) -> HealthServer<LifecycleHealth> {
        HealthServer::new(self)
    }

    fn knows(&self, service: &str) -> bool {
        service.is_empty() || self.services.iter().any(|s| s == service)
    }
}

fn status(phase: Phase) -> ServingStatus {
    match phase {
        Phase::Ready => ServingStatus::Serving,
        Phase::Starting | Phase::Draining | Phase::Stopped => ServingStatus::NotServing,
    }
}

fn response(status: ServingStatus) -> HealthCheckResponse {
    HealthCheckResponse {
        status: status as i32,
    }
}

#[tonic::async_trait]
impl Health for LifecycleHealth {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        let service = &request.get_ref().service;
        if !self.knows(service) {
            return Err(Status::not_found(format!(
                "unknown service {service:?}; this server reports on \"\" (the whole server){}",
                if self.services.is_empty() {
                    String::new()
                } else {
                    format!(" and {:?}", self.services)
                }
            )));
        }
        let phase = self.lc.drain_signals().phase();
        Ok(Response::new(response(status(phase))))
    }

    type WatchStream = WatchStatus;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<WatchStatus>, Status> {
        let known = self.knows(&request.get_ref().service);
        Ok(Response::new(WatchStatus {
            // An unknown service stays unknown (names are fixed at build
            // time): the protocol says to report it and keep the call open.
            phases: known.then(|| WatchStream::new(self.lc.phase())),
            unknown_sent: false,
            last: None,
            stop: Box::pin(self.lc.drain_signals().accepting_stopped_owned()),
            ended: false,
        }))
    }
}

/// The response stream of `Watch`: the current status, each change, and an
/// `UNAVAILABLE` end once accepting stopped.
pub struct WatchStatus {
    /// `None` for an unknown service.
    phases: Option<WatchStream<Phase>>,
    unknown_sent: bool,
    last: Option<ServingStatus>,
    stop: Pin<Box<WaitForCancellationFutureOwned>>,
    ended: bool,
}

impl std::fmt::Debug for WatchStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchStatus")
            .field("last", &self.last)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl Stream for WatchStatus {
    type Item = Result<HealthCheckResponse, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        // Changes first: the NOT_SERVING of a handover must reach the
        // watcher before the end that follows it at once.
        match &mut this.phases {
            Some(phases) => {
                while let Poll::Ready(Some(phase)) = Pin::new(&mut *phases).poll_next(cx) {
                    let now = status(phase);
                    if this.last != Some(now) {
                        this.last = Some(now);
                        return Poll::Ready(Some(Ok(response(now))));
                    }
                }
            }
            None if !this.unknown_sent => {
                this.unknown_sent = true;
                return Poll::Ready(Some(Ok(response(ServingStatus::ServiceUnknown))));
            }
            None => {}
        }
        if this.stop.as_mut().poll(cx).is_ready() {
            this.ended = true;
            return Poll::Ready(Some(Err(Status::unavailable(
                "this server stopped accepting: watch again to reach its successor",
            ))));
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_stream::StreamExt;

    fn check(health: &LifecycleHealth, service: &str) -> Result<i32, Status> {
        let req = Request::new(HealthCheckRequest {
            service: service.to_owned(),
        });
        let fut = health.check(req);
        // Check never waits: it reads the phase.
        let resp = futures_now(fut)?;
        Ok(resp.into_inner().status)
    }

    fn futures_now<F: Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        match f
            .as_mut()
            .poll(&mut Context::from_waker(std::task::Waker::noop()))
        {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("check waited"),
        }
    }

    /// The contract a probe relies on: NOT_SERVING before `ready()`,
    /// SERVING after, NOT_SERVING from the moment a stop begins; a watcher
    /// sees each change and then the end that sends it elsewhere.
    #[tokio::test]
    async fn check_and_watch_follow_the_lifecycle() {
        let lc = Lifecycle::builder()
            .signals(false)
            .stop_delay(std::time::Duration::ZERO)
            .build()
            .unwrap();
        let health = LifecycleHealth::new(&lc).with_service("demo.Greeter");
        let not_serving = ServingStatus::NotServing as i32;
        let serving = ServingStatus::Serving as i32;
        assert_eq!(check(&health, "").unwrap(), not_serving);
        let req = |s: &str| {
            Request::new(HealthCheckRequest {
                service: s.to_owned(),
            })
        };
        let mut watch = health.watch(req("")).await.unwrap().into_inner();
        let mut unknown = health.watch(req("nope")).await.unwrap().into_inner();
        assert_eq!(watch.next().await.unwrap().unwrap().status, not_serving);
        assert_eq!(
            unknown.next().await.unwrap().unwrap().status,
            ServingStatus::ServiceUnknown as i32
        );

        lc.ready().unwrap();
        assert_eq!(check(&health, "").unwrap(), serving);
        assert_eq!(check(&health, "demo.Greeter").unwrap(), serving);
        let err = check(&health, "nope").unwrap_err();
        assert_eq!(err.code(), tonic::Code::NotFound);
        assert!(err.message().contains("\"nope\""), "{}", err.message());
        assert_eq!(watch.next().await.unwrap().unwrap().status, serving);

        let run = tokio::spawn({
            let lc = lc.clone();
            async move { lc.run().await }
        });
        lc.stop();
        assert_eq!(watch.next().await.unwrap().unwrap().status, not_serving);
        let end = watch.next().await.unwrap().unwrap_err();
        assert_eq!(end.code(), tonic::Code::Unavailable);
        assert!(watch.next().await.is_none());
        assert_eq!(
            unknown.next().await.unwrap().unwrap_err().code(),
            tonic::Code::Unavailable
        );
        assert_eq!(check(&health, "").unwrap(), not_serving);
        assert_eq!(
            run.await.unwrap(),
            crate::Outcome::Stopped { forced: false }
        );
    }
}
