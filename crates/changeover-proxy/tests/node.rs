//! Against a server we did not write: Node's `http` module, which on
//! SIGTERM does what most servers do — `server.close()` and
//! `closeIdleConnections()`, closing idle keep-alive connections under the
//! feet of whoever was about to reuse them. Behind the proxy, driven the way
//! the supervisor will drive it (the next generation ready, the old one
//! retired, its stop signal only once nothing is in flight to it), no
//! request fails while load runs and the route switches again and again.
//!
//! Needs `node` (Node.js 18.2 or later); `.ci/run` installs it.

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use changeover_load::{Config as LoadConfig, Target};
use changeover_proxy::{Config, Proxy, Routes, Upstream};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use support::*;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const SERVER_JS: &str = r#"
const http = require('http');
const server = http.createServer((req, res) => {
  res.end('hello from ' + process.pid + '\n');
});
server.listen(0, '127.0.0.1', () => {
  console.log('listening ' + server.address().port);
});
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
});
"#;

const SWITCHES: usize = 5;

struct Node {
    child: Child,
    port: u16,
}

async fn start_node(script: PathBuf) -> Node {
    let mut child = Command::new("node")
        .arg(&script)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start node: install Node.js 18.2 or later (apt-get install nodejs; .ci/run does)");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let line = within("node to listen", lines.next_line())
        .await
        .unwrap()
        .expect("node exited before listening");
    let port = line
        .strip_prefix("listening ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line from node: {line:?}"));
    Node { child, port }
}

/// What the supervisor will do on a reload in proxy mode: route to the new
/// generation, retire the old, wait until nothing is in flight to it, stop
/// it, and forget it once it exited.
async fn switch(routes: &Routes, old: (u64, &mut Node), new: (u64, &Node)) {
    routes
        .ready(new.0, Upstream::Tcp(([127, 0, 0, 1], new.1.port).into()))
        .unwrap();
    routes.retire(old.0);
    within("the old generation to drain", routes.drained(old.0)).await;
    let pid = old.1.child.id().expect("node runs") as i32;
    // Our own child, not yet waited for: the pid cannot have been reused.
    kill(Pid::from_raw(pid), Signal::SIGTERM).unwrap();
    let status = within("node to exit after SIGTERM", old.1.child.wait())
        .await
        .unwrap();
    // Node exits 0 from server.close()'s callback, which runs only once
    // every connection is closed: none was left busy.
    assert!(status.success(), "node exited {status}");
    routes.gone(old.0);
}

async fn run(keep_alive: bool, script: &Path) {
    // Every generation is started up front, together: Node takes a good part
    // of a second to start on a loaded machine, and the switches are the
    // point, not the starts.
    let starting: Vec<_> = (0..=SWITCHES)
        .map(|_| tokio::spawn(start_node(script.to_owned())))
        .collect();
    let mut nodes = Vec::new();
    for s in starting {
        nodes.push(s.await.unwrap());
    }
    let mut nodes = nodes.into_iter();
    let proxy = Proxy::new(Config::default());
    let routes = proxy.routes().clone();
    let mut current = nodes.next().unwrap();
    routes
        .ready(1, Upstream::Tcp(([127, 0, 0, 1], current.port).into()))
        .unwrap();
    let addr = serve_proxy(&proxy).await;
    let load = changeover_load::start(LoadConfig {
        connections: 16,
        keep_alive,
        // A safety bound; the run is stopped below.
        duration: Some(Duration::from_secs(120)),
        ..LoadConfig::new(Target::tcp(addr))
    })
    .unwrap();
    load.wait_for_ok(200, DEADLINE).await.unwrap();
    for n in 2..=(SWITCHES as u64 + 1) {
        let next = nodes.next().unwrap();
        load.mark(format!("switch to generation {n}"));
        switch(&routes, (n - 1, &mut current), (n, &next)).await;
        current = next;
        let ok = load.snapshot().ok;
        load.wait_for_ok(ok + 200, DEADLINE).await.unwrap();
    }
    let report = load.stop().await;
    assert_eq!(
        report.failed(),
        0,
        "keep_alive={keep_alive}:\n{}",
        report.summary()
    );
    let m = proxy.metrics();
    let last = m.generation(SWITCHES as u64 + 1).unwrap();
    assert!(last.responses.class(2) > 0);
    for g in &m.generations {
        assert_eq!(g.responses.class(5), 0, "generation {}", g.generation);
        assert_eq!(
            g.upstream_errors,
            Default::default(),
            "generation {}",
            g.generation
        );
    }
    let pid = current.child.id().unwrap() as i32;
    kill(Pid::from_raw(pid), Signal::SIGTERM).unwrap();
    within("the last node to exit", current.child.wait())
        .await
        .unwrap();
}

/// The contract: five route switches between Node servers that close their
/// idle connections on SIGTERM, under 16 connections of load through the
/// proxy, keep-alive and then one request per connection: 0 failed requests,
/// no 5xx, no upstream error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_servers_switched_under_load_fail_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("server.js");
    std::fs::write(&script, SERVER_JS).unwrap();
    run(true, &script).await;
    run(false, &script).await;
}
