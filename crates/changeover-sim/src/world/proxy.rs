//! The Service address: a local TCP proxy that routes like kube-proxy and watches every
//! request go by, so that each failure can be put down to a pod.
//!
//! Each new connection picks uniformly among the endpoints its view lists as ready, else among
//! the serving-and-terminating ones (when the view is kube-proxy's), else none; it then stays
//! with that pod until either side closes it, as a conntrack entry does. Bytes are relayed as
//! they are, so the client sees what the pod did: a close after a response is a close, a reset
//! is a reset.
//!
//! A userspace proxy has accepted the client's connection before it knows whether the pod
//! will: when the pod refuses (or no endpoint exists), the proxy waits for the client's
//! request, records a failure, and resets the connection — where iptables would have refused
//! the connect. So the load driver counts such a failure as a reset; the proxy's record says
//! what happened at the pod, and that is what the report shows.
//!
//! The proxy follows the responses (see [`framing`](super::framing)) to know when a request is
//! waiting for its answer: a pod's close or reset then fails that request. A request the
//! client writes into a connection the pod has already closed fails too (a keep-alive race),
//! and is recorded when its bytes arrive.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::framing::Responses;
use crate::model::{Ms, PodId};
use crate::rng::Rng;

/// The width of one bucket of [`Log::buckets`].
pub const BUCKET_MS: Ms = 100;

/// A pod the proxy can route to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backend {
    /// The pod.
    pub pod: PodId,
    /// Its address.
    pub addr: SocketAddr,
}

/// The routes of the view the load goes through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct View {
    /// Ready endpoints.
    pub ready: Vec<Backend>,
    /// Serving-and-terminating endpoints, used when none is ready.
    pub fallback: Vec<Backend>,
}

/// How a request failed, as seen at the pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// The view had no endpoint to route to.
    NoEndpoint,
    /// The pod refused the connection.
    Refused,
    /// Connecting to the pod failed otherwise (or timed out).
    Connect,
    /// The pod reset the connection with a request in it.
    Reset,
    /// The pod closed the connection with a request in it.
    Closed,
    /// The request was written into a connection the pod had already closed or reset.
    ClosedIdle,
    /// The client gave up waiting for the answer.
    Timeout,
    /// The pod answered with a status outside 200–299.
    BadStatus(u16),
    /// The pod sent something that is not HTTP/1.x.
    Protocol,
}

/// One failed request, as the proxy saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawFailure {
    /// When it failed.
    pub at_ms: Ms,
    /// The pod its connection went to (none for [`How::NoEndpoint`]).
    pub pod: Option<PodId>,
    /// How.
    pub how: How,
    /// When the connection was opened.
    pub connected_ms: Ms,
    /// When the request's first byte arrived.
    pub request_ms: Ms,
    /// Responses the pod had completed on this connection before.
    pub answered: u32,
}

/// Requests that ended in one [`BUCKET_MS`] of the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bucket {
    /// Answered with 2xx.
    pub ok: u64,
    /// Failed.
    pub failed: u64,
}

/// What the proxy saw.
#[derive(Debug, Clone, Default)]
pub struct Log {
    /// Requests per [`BUCKET_MS`], from the start of the simulation.
    pub buckets: Vec<Bucket>,
    /// Every failure.
    pub failures: Vec<RawFailure>,
    /// Connections routed, per pod.
    pub connections: Vec<(PodId, u64)>,
}

impl Log {
    fn bucket(&mut self, at: Ms) -> &mut Bucket {
        let i = (at / BUCKET_MS) as usize;
        if self.buckets.len() <= i {
            self.buckets.resize(i + 1, Bucket::default());
        }
        &mut self.buckets[i]
    }
}

struct Shared {
    start: Instant,
    view: RwLock<View>,
    rng: Mutex<Rng>,
    log: Mutex<Log>,
    wait: Duration,
}

/// The running proxy. Dropping it stops it and every connection it relays.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panicking connection task leaves counters, nothing that can be inconsistent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Proxy {
    /// Listens on 127.0.0.1 (a free port); times are counted from `start`; `rng` makes the
    /// endpoint picks; `wait` bounds how long a connection that cannot be routed waits for
    /// the client's request (the load's request timeout).
    pub async fn start(start: Instant, rng: Rng, wait: Duration) -> io::Result<Proxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            start,
            view: RwLock::new(View::default()),
            rng: Mutex::new(rng),
            log: Mutex::new(Log::default()),
            wait,
        });
        let s = shared.clone();
        let task = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => {
                            conns.spawn(connection(s.clone(), stream));
                        }
                        // EMFILE and the like: the client sees its connect fail or time out.
                        Err(e) => {
                            eprintln!("changeover sim: warning: the Service address could not accept: {e}");
                            tokio::task::yield_now().await;
                        }
                    },
                    Some(_) = conns.join_next() => {}
                }
            }
        });
        Ok(Proxy { addr, shared, task })
    }

    /// Where the load connects.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Routes new connections by `view` from now on.
    pub fn set_view(&self, view: View) {
        *self.shared.view.write().unwrap_or_else(|p| p.into_inner()) = view;
    }

    /// What it saw so far.
    pub fn log(&self) -> Log {
        lock(&self.shared.log).clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Shared {
    fn now(&self) -> Ms {
        self.start.elapsed().as_millis() as Ms
    }

    fn pick(&self) -> Option<Backend> {
        let view = self.view.read().unwrap_or_else(|p| p.into_inner());
        let pool = if view.ready.is_empty() {
            &view.fallback
        } else {
            &view.ready
        };
        if pool.is_empty() {
            return None;
        }
        let i = lock(&self.rng).below(pool.len() as u64) as usize;
        Some(pool[i])
    }

    fn ok(&self, at: Ms) {
        lock(&self.log).bucket(at).ok += 1;
    }

    fn fail(&self, f: RawFailure) {
        let mut log = lock(&self.log);
        log.bucket(f.at_ms).failed += 1;
        log.failures.push(f);
    }

    fn routed(&self, pod: PodId) {
        let mut log = lock(&self.log);
        match log.connections.iter_mut().find(|c| c.0 == pod) {
            Some(c) => c.1 += 1,
            None => log.connections.push((pod, 1)),
        }
    }
}

async fn connection(s: Arc<Shared>, client: TcpStream) {
    let connected = s.now();
    let Some(backend) = s.pick() else {
        return reject(&s, client, None, How::NoEndpoint, connected).await;
    };
    s.routed(backend.pod);
    match tokio::time::timeout(s.wait, TcpStream::connect(backend.addr)).await {
        Ok(Ok(pod)) => relay(&s, client, pod, backend.pod, connected).await,
        Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => {
            reject(&s, client, Some(backend.pod), How::Refused, connected).await;
        }
        // The handshake was done, and the pod's reset came before the connect was seen
        // through: it closed its listening socket with this connection in the accept queue.
        Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionReset => {
            reject(&s, client, Some(backend.pod), How::Reset, connected).await;
        }
        Ok(Err(_)) | Err(_) => reject(&s, client, Some(backend.pod), How::Connect, connected).await,
    }
}

/// A connection that cannot reach a pod: the client's request fails (recorded once it
/// arrives), and the connection is reset.
async fn reject(s: &Shared, mut client: TcpStream, pod: Option<PodId>, how: How, connected: Ms) {
    let mut buf = [0u8; 4096];
    if let Ok(Ok(n)) = tokio::time::timeout(s.wait, client.read(&mut buf)).await {
        if n > 0 {
            s.fail(RawFailure {
                at_ms: s.now(),
                pod,
                how,
                connected_ms: connected,
                request_ms: s.now(),
                answered: 0,
            });
        }
    }
    reset(client);
}

/// Closes with RST, as a refused or reset connection looks to its client.
fn reset(stream: TcpStream) {
    // Linger 0 makes close send RST; if it cannot be set, a FIN is the next best thing.
    if let Ok(std) = stream.into_std() {
        let socket = socket2::Socket::from(std);
        let _linger_result = socket.set_linger(Some(Duration::ZERO));
    }
}

async fn relay(
    s: &Shared,
    mut client: TcpStream,
    mut pod_conn: TcpStream,
    pod: PodId,
    connected: Ms,
) {
    let (mut cr, mut cw) = client.split();
    let (mut pr, mut pw) = pod_conn.split();
    let mut cbuf = vec![0u8; 16 * 1024];
    let mut pbuf = vec![0u8; 16 * 1024];
    let mut responses = Responses::default();
    let mut request: Option<Ms> = None;
    let mut pod_closed = false;
    // Read by `fail` while the loop counts: an atomic keeps the future Send.
    let answered = std::sync::atomic::AtomicU32::new(0);
    let fail = |how, request_ms: Ms| {
        s.fail(RawFailure {
            at_ms: s.now(),
            pod: Some(pod),
            how,
            connected_ms: connected,
            request_ms,
            answered: answered.load(std::sync::atomic::Ordering::Relaxed),
        })
    };
    let outcome: Option<bool> = loop {
        tokio::select! {
            r = cr.read(&mut cbuf) => match r {
                Ok(0) | Err(_) => {
                    // The client left; if it was still waiting, it gave up.
                    if let Some(t) = request {
                        fail(How::Timeout, t);
                    }
                    break None;
                }
                Ok(n) => {
                    if pod_closed {
                        fail(How::ClosedIdle, s.now());
                        break Some(true);
                    }
                    let t = *request.get_or_insert_with(|| s.now());
                    if pw.write_all(&cbuf[..n]).await.is_err() {
                        fail(How::Reset, t);
                        break Some(true);
                    }
                }
            },
            r = pr.read(&mut pbuf), if !pod_closed => match r {
                Ok(0) => {
                    if responses.close().is_some() {
                        s.ok(s.now());
                        answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        request = None;
                    }
                    if let Some(t) = request {
                        fail(How::Closed, t);
                        break Some(false);
                    }
                    // Closed while idle: pass the close on and watch for a request written
                    // into it before the client noticed.
                    pod_closed = true;
                    if cw.shutdown().await.is_err() {
                        break None;
                    }
                }
                Ok(n) => {
                    if cw.write_all(&pbuf[..n]).await.is_err() {
                        break None;
                    }
                    match responses.feed(&pbuf[..n]) {
                        Ok(done) => {
                            for status in done {
                                let at = s.now();
                                if (200..300).contains(&status) {
                                    s.ok(at);
                                } else {
                                    fail(How::BadStatus(status), request.unwrap_or(at));
                                }
                                answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                request = None;
                            }
                        }
                        Err(_) => {
                            fail(How::Protocol, request.unwrap_or_else(|| s.now()));
                            break Some(true);
                        }
                    }
                }
                Err(_) => {
                    if let Some(t) = request {
                        fail(How::Reset, t);
                        break Some(true);
                    }
                    pod_closed = true;
                    if cw.shutdown().await.is_err() {
                        break None;
                    }
                }
            },
        }
    };
    // Some(true): reset the client, as the pod's reset reaches it through conntrack.
    if outcome == Some(true) {
        reset(client);
    }
}

#[cfg(test)]
mod tests;
