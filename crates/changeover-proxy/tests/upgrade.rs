//! HTTP/1.1 upgrades (the WebSocket handshake's shape): a tunnel stays with
//! the generation that accepted it, counted in flight, across route
//! switches, until it is closed or cut.

mod support;

use std::time::Duration;

use changeover_proxy::{Config, Proxy, Upstream};
use http::Response;
use hyper_util::rt::TokioIo;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An upstream that accepts `Upgrade: echo` and then echoes every byte,
/// prefixed by its name, until the client closes; other requests get `name`.
async fn echo_upgrade(name: &'static str) -> TestUpstream {
    upstream(move |mut req| async move {
        if req.headers().get("upgrade").is_some_and(|v| v == "echo") {
            let on = hyper::upgrade::on(&mut req);
            tokio::spawn(async move {
                let mut io = TokioIo::new(on.await.unwrap());
                let mut buf = [0u8; 1024];
                loop {
                    let n = io.read(&mut buf).await.unwrap();
                    if n == 0 {
                        io.shutdown().await.unwrap();
                        return;
                    }
                    let mut reply = format!("{name}:").into_bytes();
                    reply.extend_from_slice(&buf[..n]);
                    io.write_all(&reply).await.unwrap();
                }
            });
            return Response::builder()
                .status(101)
                .header("upgrade", "echo")
                .header("connection", "upgrade")
                .body(empty())
                .unwrap();
        }
        Response::new(full(name))
    })
    .await
}

/// Opens an upgraded connection through the proxy; returns it and the 101 head.
async fn open_tunnel(addr: std::net::SocketAddr) -> (TcpStream, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /ws HTTP/1.1\r\nHost: app\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
        .await
        .unwrap();
    let head = read_head(&mut s).await;
    (s, head)
}

async fn echo(s: &mut TcpStream, msg: &str) -> String {
    s.write_all(msg.as_bytes()).await.unwrap();
    let mut reply = vec![0u8; msg.len() + 2];
    within("the echo", s.read_exact(&mut reply)).await.unwrap();
    String::from_utf8(reply).unwrap()
}

/// The contract: an upgraded connection opened on generation 1 keeps
/// talking to generation 1 after generation 2 took the route; generation 1
/// counts it in flight, so it is not drained while the tunnel is open;
/// when the client closes, the close is passed on and generation 1 drains.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgraded_connection_stays_with_its_generation_until_closed() {
    let a = echo_upgrade("a").await;
    let b = echo_upgrade("b").await;
    let proxy = Proxy::new(Config::default());
    let routes = proxy.routes().clone();
    routes.ready(1, Upstream::Tcp(a.addr)).unwrap();
    let addr = serve_proxy(&proxy).await;

    let (mut tunnel, head) = open_tunnel(addr).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert_eq!(head_value(&head, "upgrade"), Some("echo"));
    assert_eq!(head_value(&head, "connection"), Some("upgrade"));
    assert_eq!(echo(&mut tunnel, "ping1").await, "a:ping1");
    assert_eq!(routes.in_flight(1), Some(1));

    routes.ready(2, Upstream::Tcp(b.addr)).unwrap();
    routes.retire(1);
    assert_eq!(get(addr, "/").await.2, "b");
    for i in 0..10 {
        let msg = format!("after-switch-{i}");
        assert_eq!(echo(&mut tunnel, &msg).await, format!("a:{msg}"));
    }
    assert_eq!(routes.in_flight(1), Some(1));
    assert!(
        tokio::time::timeout(Duration::from_millis(200), routes.drained(1))
            .await
            .is_err(),
        "drained(1) resolved with a tunnel open to it"
    );
    // A new tunnel goes to the new generation.
    let (mut second, _) = open_tunnel(addr).await;
    assert_eq!(echo(&mut second, "new").await, "b:new");

    tunnel.shutdown().await.unwrap();
    let mut rest = Vec::new();
    within(
        "the close to come back through the tunnel",
        tunnel.read_to_end(&mut rest),
    )
    .await
    .unwrap();
    assert!(rest.is_empty(), "{rest:?}");
    within("drained(1) after the tunnel closed", routes.drained(1)).await;
    assert_eq!(routes.in_flight(1), Some(0));
    assert_eq!(routes.in_flight(2), Some(1), "the second tunnel");
    assert_eq!(proxy.metrics().generation(1).unwrap().responses.class(1), 1);
}

/// The contract: at the supervisor's deadline, `cut` ends a generation's
/// tunnels (the client sees its connection close) and the generation
/// drains; other generations' tunnels are untouched.
#[tokio::test]
async fn cut_ends_the_tunnels_of_one_generation() {
    let a = echo_upgrade("a").await;
    let b = echo_upgrade("b").await;
    let proxy = Proxy::new(Config::default());
    let routes = proxy.routes().clone();
    routes.ready(1, Upstream::Tcp(a.addr)).unwrap();
    let addr = serve_proxy(&proxy).await;
    let (mut old, _) = open_tunnel(addr).await;
    assert_eq!(echo(&mut old, "x").await, "a:x");
    routes.ready(2, Upstream::Tcp(b.addr)).unwrap();
    routes.retire(1);
    let (mut new, _) = open_tunnel(addr).await;
    assert_eq!(echo(&mut new, "y").await, "b:y");

    routes.cut(1);
    let mut rest = Vec::new();
    // EOF or a reset: either way the tunnel is gone.
    let _eof_or_reset = within("the cut tunnel to close", old.read_to_end(&mut rest)).await;
    within("drained(1) after the cut", routes.drained(1)).await;
    assert_eq!(echo(&mut new, "still").await, "b:still");
}

/// The contract: an upstream that answers an upgrade request with a plain
/// response is passed on as such; the connection is a normal one.
#[tokio::test]
async fn refused_upgrade_is_an_ordinary_response() {
    let up = named("no upgrades here").await;
    let proxy = Proxy::new(Config::default());
    proxy.routes().ready(1, Upstream::Tcp(up.addr)).unwrap();
    let addr = serve_proxy(&proxy).await;
    let (mut s, head) = open_tunnel(addr).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let mut body = vec![0u8; "no upgrades here".len()];
    within("the body", s.read_exact(&mut body)).await.unwrap();
    assert_eq!(body, b"no upgrades here");
    // Nothing stays in flight once the response is complete.
    within("drained after retire", async {
        proxy.routes().retire(1);
        proxy.routes().drained(1).await
    })
    .await;
}
