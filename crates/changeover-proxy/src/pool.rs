//! Upstream connections of one generation: connect, and keep idle ones for
//! reuse (newest first).

use std::collections::VecDeque;
use std::io;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use http::HeaderValue;

use crate::Config;
use crate::upstream::{Conn, Stream, Upstream};

struct Idle {
    conn: Box<Conn>,
    since: Instant,
}

/// Why a connection to the upstream could not be made.
#[derive(Debug)]
pub(crate) enum ConnectError {
    Io(io::Error),
    Timeout(Duration),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Io(e) => write!(f, "{e}"),
            ConnectError::Timeout(d) => write!(f, "no connection within {d:?}"),
        }
    }
}

/// The idle connections of one generation.
pub(crate) struct Pool {
    upstream: Upstream,
    /// `Host` for a request that has none (HTTP/1.0): the upstream's address.
    host: HeaderValue,
    /// Newest last: reusing the most recently used connection keeps the set
    /// of warm connections small and lets the others expire from the front.
    idle: Mutex<VecDeque<Idle>>,
    /// Set once the generation is gone: nothing is kept any more.
    closed: AtomicBool,
    max_idle: usize,
    idle_timeout: Duration,
    connect_timeout: Duration,
}

impl Pool {
    pub(crate) fn new(upstream: Upstream, config: &Config) -> Pool {
        let host = match &upstream {
            Upstream::Tcp(a) => HeaderValue::try_from(a.to_string()),
            Upstream::Unix(_) => Ok(HeaderValue::from_static("localhost")),
        }
        .unwrap_or_else(|_| HeaderValue::from_static("localhost"));
        Pool {
            upstream,
            host,
            idle: Mutex::new(VecDeque::new()),
            closed: AtomicBool::new(false),
            max_idle: config.pool_max_idle,
            idle_timeout: config.pool_idle_timeout,
            connect_timeout: config.connect_timeout,
        }
    }

    pub(crate) fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    pub(crate) fn host(&self) -> &HeaderValue {
        &self.host
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Idle>> {
        // Pushes and pops only: a panic elsewhere cannot leave it inconsistent.
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An idle connection ready for a request, or `None` (then connect).
    pub(crate) fn checkout(&self, now: Instant) -> Option<Box<Conn>> {
        loop {
            let mut conn = {
                let mut idle = self.lock();
                let top = idle.pop_back()?;
                if now.saturating_duration_since(top.since) > self.idle_timeout {
                    // Newest last: if the newest expired, all of them did.
                    idle.clear();
                    return None;
                }
                top.conn
            };
            // Outside the lock: a system call. One the upstream closed while
            // idle is dropped here, and the next one tried.
            if conn.still_idle() {
                return Some(conn);
            }
        }
    }

    /// Keeps `conn` for the next request, unless the pool is full or closed
    /// or the connection is not reusable.
    pub(crate) fn checkin(&self, mut conn: Box<Conn>, now: Instant) {
        if self.closed.load(Ordering::Relaxed) {
            return;
        }
        conn.reused = true;
        let mut idle = self.lock();
        // Again under the lock: `clear` may have emptied the pool since.
        if self.closed.load(Ordering::Relaxed) {
            return;
        }
        // The oldest go once expired, so a burst's extra connections do not
        // linger (closed by the child, or open) under a steady lighter load.
        while idle
            .front()
            .is_some_and(|i| now.saturating_duration_since(i.since) > self.idle_timeout)
        {
            idle.pop_front();
        }
        if idle.len() < self.max_idle {
            idle.push_back(Idle { conn, since: now });
        }
    }

    /// Drops every idle connection and keeps none from now on.
    pub(crate) fn clear(&self) {
        // Set before taking the lock, read by `checkin` under it: a
        // connection checked in concurrently is either drained here or
        // refused there.
        self.closed.store(true, Ordering::Relaxed);
        let drained = std::mem::take(&mut *self.lock());
        drop(drained);
    }

    /// How many connections are idle now.
    pub(crate) fn idle_count(&self) -> usize {
        self.lock().len()
    }

    /// A new connection.
    pub(crate) async fn connect(&self) -> Result<Box<Conn>, ConnectError> {
        let stream = tokio::time::timeout(self.connect_timeout, Stream::connect(&self.upstream))
            .await
            .map_err(|_| ConnectError::Timeout(self.connect_timeout))?
            .map_err(ConnectError::Io)?;
        // Boxed: requests move it about (pool, future, body), in one word.
        Ok(Box::new(Conn::new(stream)))
    }
}
