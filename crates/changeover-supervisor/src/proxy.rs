//! `--proxy`: the supervisor's side of the data plane. It owns each
//! generation's private upstream (a Unix socket in a private directory
//! passed at fd 3, or a free loopback port in `$VAR`), the routing table
//! the state machine drives ([`changeover_proxy::Routes`]), the checks of a
//! starting generation's upstream, and the public side (the *front*: the
//! library's [`Server`] on the `--listen` sockets).
//!
//! Why a Unix socket for `--upstream fd`: it lives in a directory of mode
//! 0700, so no other local user can reach a generation around the proxy
//! (and forge `X-Forwarded-For`), and it costs less per request than
//! loopback TCP. Servers that take fd 3 take a Unix socket as well (Node,
//! uvicorn, gunicorn, the `changeover` library).
//!
//! Everything here is called from the state machine's loop, through
//! [`RealProcesses`](crate::process::RealProcesses); what takes time (a
//! check, waiting for a retired generation to drain, the front's drain) runs
//! as a task and reports back as an [`Event`].

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use changeover::http::Server;
use changeover::listeners::{self, Listener};
use changeover::{DEFAULT_LAME_DUCK, ListenAddr};
use changeover_proxy::{Config as ProxyConfig, Proxy, Upstream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use crate::config::{ProxyConfig as Options, UpstreamMode};
use crate::machine::Event;

/// How long one check of an upstream may take (connect and, for
/// `http:PATH`, the answer's status line).
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// What a new generation is started with, besides the common environment.
#[derive(Debug)]
pub enum Prepared {
    /// `--upstream fd`: this listening socket, passed at fd 3 as `http`.
    Socket(Listener),
    /// `--upstream env:VAR`: these variables (`VAR` and `HOST`).
    Env(Vec<(String, String)>),
}

/// The proxy's state, owned by the real process seam.
pub struct Plane {
    proxy: Proxy,
    mode: UpstreamMode,
    /// Where the `fd` upstreams' sockets are (mode 0700), removed at the end.
    dir: Option<tempfile::TempDir>,
    upstreams: HashMap<u64, Upstream>,
    events: UnboundedSender<Event>,
    front: Server,
    force: CancellationToken,
    drain_timeout: Duration,
}

impl std::fmt::Debug for Plane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plane")
            .field("mode", &self.mode)
            .field("upstreams", &self.upstreams)
            .finish_non_exhaustive()
    }
}

impl Plane {
    /// A plane with no generation yet. For `--upstream fd` its private
    /// directory is created now, under `$XDG_RUNTIME_DIR` or the temporary
    /// directory.
    pub fn new(
        options: &Options,
        drain_timeout: Duration,
        events: UnboundedSender<Event>,
    ) -> io::Result<Plane> {
        let dir = match options.upstream {
            UpstreamMode::Fd => {
                let base = std::env::var_os("XDG_RUNTIME_DIR")
                    .map(PathBuf::from)
                    .filter(|p| p.is_absolute() && p.is_dir())
                    .unwrap_or_else(std::env::temp_dir);
                // mkdtemp: a new directory of mode 0700 with a name nobody could guess.
                Some(
                    tempfile::Builder::new()
                        .prefix("changeover-upstream-")
                        .tempdir_in(base)?,
                )
            }
            UpstreamMode::Env(_) => None,
        };
        let proxy = Proxy::new(ProxyConfig {
            forwarded_headers: options.forwarded_headers,
            ..ProxyConfig::default()
        });
        Ok(Plane {
            proxy,
            mode: options.upstream.clone(),
            dir,
            upstreams: HashMap::new(),
            events,
            front: Server::new(DEFAULT_LAME_DUCK),
            force: CancellationToken::new(),
            drain_timeout,
        })
    }

    /// The proxy (its routes and metrics).
    pub fn proxy(&self) -> &Proxy {
        &self.proxy
    }

    /// Serves the public sockets: every request forwarded to the newest
    /// ready generation. Upgraded connections (WebSocket tunnels) are the
    /// proxy's: they are cut when the front cuts what is left.
    pub fn serve_front(&self, public: Vec<Listener>) -> io::Result<()> {
        for listener in public {
            let proxy = self.proxy.clone();
            self.front
                .serve_with(listener, move |peer| proxy.service(peer))?;
        }
        let (front, routes) = (self.front.clone(), self.proxy.routes().clone());
        tokio::spawn(async move {
            front.cut_begun().await;
            routes.cut_all();
        });
        Ok(())
    }

    /// The private upstream of generation `generation`, made before it starts.
    pub fn prepare(&mut self, generation: u64) -> io::Result<Prepared> {
        match &self.mode {
            UpstreamMode::Fd => {
                let dir = self.dir.as_ref().expect("made for fd upstreams");
                let path = dir.path().join(format!("generation-{generation}.sock"));
                let listener = listeners::bind("http", &ListenAddr::Unix(path.clone()))
                    .map_err(|e| io::Error::other(e.to_string()))?;
                self.upstreams.insert(generation, Upstream::Unix(path));
                Ok(Prepared::Socket(listener))
            }
            UpstreamMode::Env(var) => {
                // A port free now; the child binds it in a moment. Another
                // process could take it in between: that child then fails to
                // bind, which is a failed reload, rolled back.
                let port = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
                    .local_addr()?
                    .port();
                let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
                self.upstreams.insert(generation, Upstream::Tcp(addr));
                Ok(Prepared::Env(vec![
                    (var.clone(), port.to_string()),
                    ("HOST".into(), "127.0.0.1".into()),
                ]))
            }
        }
    }

    /// The generation could not be started: its upstream goes.
    pub fn unprepare(&mut self, generation: u64) {
        self.gone(generation);
    }

    /// One check of generation `generation`'s upstream, reported as [`Event::Probed`].
    pub fn probe(&self, generation: u64, path: Option<&str>) {
        let Some(upstream) = self.upstreams.get(&generation).cloned() else {
            return;
        };
        let (events, path) = (self.events.clone(), path.map(str::to_owned));
        tokio::spawn(async move {
            let result = match tokio::time::timeout(CHECK_TIMEOUT, check(&upstream, path)).await {
                Ok(r) => r,
                Err(_) => Err(format!(
                    "no answer within {}",
                    changeover::format_duration(CHECK_TIMEOUT)
                )),
            };
            // The machine is gone only when the supervisor is exiting.
            let _exiting = events.send(Event::Probed { generation, result });
        });
    }

    /// Generation `generation` is ready: new requests go to it.
    pub fn route(&self, generation: u64) {
        let Some(upstream) = self.upstreams.get(&generation).cloned() else {
            return;
        };
        if let Err(e) = self.proxy.routes().ready(generation, upstream) {
            tracing::error!(generation, "cannot route to the child: {e}");
        }
    }

    /// No new request to generation `generation`; [`Event::Drained`] once
    /// nothing is in flight to it.
    pub fn retire(&self, generation: u64) {
        let routes = self.proxy.routes().clone();
        routes.retire(generation);
        let events = self.events.clone();
        tokio::spawn(async move {
            routes.drained(generation).await;
            let _exiting = events.send(Event::Drained(generation));
        });
    }

    /// Ends generation `generation`'s tunnels.
    pub fn cut(&self, generation: u64) {
        self.proxy.routes().cut(generation);
    }

    /// Generation `generation` exited: out of the table, its socket removed.
    pub fn gone(&mut self, generation: u64) {
        self.proxy.routes().gone(generation);
        if let Some(Upstream::Unix(path)) = self.upstreams.remove(&generation) {
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::debug!(path = %path.display(), error = %e, "could not remove an upstream socket");
            }
        }
    }

    /// A stop began: `Connection: close` on every HTTP/1.1 response.
    pub fn front_draining(&self) {
        self.front.begin_drain();
    }

    /// Stops accepting and drains the client connections; [`Event::FrontClosed`] after.
    pub fn front_stop(&self) {
        let (front, force, events) = (self.front.clone(), self.force.clone(), self.events.clone());
        let drain = self.drain_timeout;
        tokio::spawn(async move {
            let cut = front.stop(drain, force.cancelled_owned()).await;
            if cut {
                tracing::warn!("client connections were cut");
            }
            let _exiting = events.send(Event::FrontClosed);
        });
    }

    /// Cuts the client connections and every tunnel now.
    pub fn front_force(&self) {
        self.force.cancel();
        self.proxy.routes().cut_all();
    }
}

/// The owner of the socket listening on 127.0.0.1:`port`, from `/proc/net/tcp`
/// (`None` when it cannot be told).
fn listener_uid(port: u16) -> Option<u32> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let local = format!("0100007F:{port:04X}");
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // sl, local_address, rem_address, st (0A: LISTEN), …, uid is the 8th field.
        (fields.get(1) == Some(&local.as_str()) && fields.get(3) == Some(&"0A"))
            .then(|| fields.get(7)?.parse().ok())
            .flatten()
    })
}

/// A connection accepted (`path` `None`), or `GET path` answered 2xx.
async fn check(upstream: &Upstream, path: Option<String>) -> Result<(), String> {
    let refused = |e: io::Error| format!("cannot connect to {upstream}: {e}");
    let mut stream: tokio_util::either::Either<tokio::net::TcpStream, tokio::net::UnixStream> =
        match upstream {
            Upstream::Tcp(a) => tokio_util::either::Either::Left(
                tokio::net::TcpStream::connect(a).await.map_err(refused)?,
            ),
            Upstream::Unix(p) => tokio_util::either::Either::Right(
                tokio::net::UnixStream::connect(p).await.map_err(refused)?,
            ),
        };
    // A free port can be taken by another process between our choice and the
    // child's bind; then it is not ours to route to. (Under root the child may
    // drop to another user before it binds, so only a non-root supervisor can
    // tell by the owner.)
    if let Upstream::Tcp(a) = upstream {
        let ours = nix::unistd::getuid().as_raw();
        if let Some(uid) = listener_uid(a.port()).filter(|&uid| uid != ours && ours != 0) {
            return Err(format!(
                "port {} is listened on by uid {uid}, not by this user: another process took it",
                a.port()
            ));
        }
    }
    let Some(path) = path else {
        return Ok(());
    };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: changeover-ready\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("GET {path}: {e}"))?;
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 256];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 4096 {
        let n = stream
            .read(&mut buf)
            .await
            .map_err(|e| format!("GET {path}: {e}"))?;
        if n == 0 {
            return Err(format!("GET {path}: closed before an answer"));
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let line = line.lines().next().unwrap_or_default();
    let status = line
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| format!("GET {path}: not an HTTP answer: {line:?}"))?;
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(format!("GET {path} answered {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owner_of_a_loopback_listener_is_read_from_proc() {
        let l = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = l.local_addr().unwrap().port();
        assert_eq!(listener_uid(port), Some(nix::unistd::getuid().as_raw()));
        drop(l);
        assert_eq!(listener_uid(port), None);
    }

    #[tokio::test]
    async fn a_check_reads_the_status_line() {
        let l = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .unwrap();
        let upstream = Upstream::Tcp(l.local_addr().unwrap());
        let serve = async {
            for answer in [
                "HTTP/1.1 503 Busy\r\n\r\n",
                "HTTP/1.1 204 No Content\r\n\r\n",
            ] {
                let (mut s, _) = l.accept().await.unwrap();
                let mut buf = [0u8; 1024];
                let _request = s.read(&mut buf).await.unwrap();
                s.write_all(answer.as_bytes()).await.unwrap();
            }
        };
        let checks = async {
            let first = check(&upstream, Some("/healthz".into())).await;
            let second = check(&upstream, Some("/healthz".into())).await;
            (first, second)
        };
        let ((), (first, second)) = tokio::join!(serve, checks);
        assert_eq!(first, Err("GET /healthz answered 503".into()));
        assert_eq!(second, Ok(()));
        assert_eq!(check(&upstream, None).await, Ok(()));
    }
}
