//! The serve path's own cost, in instructions (not a test; not run by CI).
//!
//! Wall-clock ratios between servers are too noisy on a shared machine;
//! instruction counts are not. Each server runs under
//! `valgrind --tool=callgrind` twice: once answering N sequential GETs of
//! `/` on one keep-alive connection, once answering one. The difference
//! divided by N − 1 is what one request costs, start-up and shut-down
//! cancelled out. Three servers with the same axum handlers:
//! - `hello`: the library's serve path (`Lifecycle::serve`);
//! - `axum_serve`: `axum::serve`;
//! - `plain`: hyper-util's auto connection builder, nothing else.
//!
//! With `--http2` the requests go one after the other on one HTTP/2
//! connection (prior knowledge, no TLS) instead.
//!
//! ```text
//! cargo bench -p changeover-tests --bench callgrind [-- --requests 3000 --keep DIR --only hello --http2]
//! ```
//!
//! With `--keep DIR` the callgrind files stay in DIR (`<server>-<n>.out`,
//! `<server>-h2-<n>.out` with `--http2`),
//! for `callgrind_annotate --inclusive=yes DIR/hello-3000.out`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use changeover_tests::http2::{
    ACK, GOAWAY, PREFACE, SETTINGS, WINDOW_UPDATE, frame, get, read_frame,
};
use changeover_tests::{Server, bench, example_bin, free_port, signal};
use nix::sys::signal::Signal;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

/// Valgrind runs the servers some 50 times slower.
const DEADLINE: Duration = Duration::from_secs(300);

struct Options {
    requests: u64,
    keep: Option<PathBuf>,
    /// Measure only these servers (all three when empty).
    only: Vec<String>,
    http2: bool,
}

fn options() -> Options {
    let mut o = Options {
        requests: 3000,
        keep: None,
        only: Vec::new(),
        http2: false,
    };
    let mut args = bench::Args::new("callgrind");
    while let Some(flag) = args.next_flag() {
        match flag.as_str() {
            "--requests" => {
                o.requests = args.number(&flag) as u64;
                if o.requests < 2 {
                    args.refuse("--requests needs a number above 1");
                }
            }
            "--keep" => o.keep = Some(args.value(&flag).into()),
            "--only" => o.only.push(args.value(&flag)),
            "--http2" => o.http2 = true,
            _ => args.unknown(&flag),
        }
    }
    o
}

/// Sends `n` GETs one after the other on one connection, reading each
/// whole response (Content-Length bodies) before the next request; returns
/// the connection, still open.
async fn get_sequentially(port: u16, n: u64) -> TcpStream {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    conn.set_nodelay(true).unwrap();
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    for i in 0..n {
        conn.write_all(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
            .await
            .unwrap();
        buf.clear();
        loop {
            let read = tokio::time::timeout(DEADLINE, conn.read(&mut chunk))
                .await
                .unwrap_or_else(|_| panic!("no response to request {i} within {DEADLINE:?}"))
                .unwrap();
            assert!(read > 0, "connection closed at request {i}");
            buf.extend_from_slice(&chunk[..read]);
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                assert!(head.starts_with("http/1.1 200"), "request {i}: {head}");
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .expect("a content-length");
                if buf.len() >= end + 4 + len {
                    assert_eq!(buf.len(), end + 4 + len, "one response per request");
                    break;
                }
            }
        }
    }
    conn
}

/// The HTTP/2 twin of [`get_sequentially`]: `n` GETs of `/`, each on its
/// own stream, the next sent once the last one's response ended.
async fn get_sequentially_http2(port: u16, n: u64) -> TcpStream {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    conn.set_nodelay(true).unwrap();
    let mut hello = PREFACE.to_vec();
    hello.extend(frame(SETTINGS, 0, 0, &[]));
    // The connection's receive window, opened all the way once.
    hello.extend(frame(
        WINDOW_UPDATE,
        0,
        0,
        &(0x7fff_ffff - 65_535u32).to_be_bytes(),
    ));
    conn.write_all(&hello).await.unwrap();
    for i in 0..n {
        let stream = 2 * i as u32 + 1;
        conn.write_all(&get(stream, "/")).await.unwrap();
        loop {
            let f = tokio::time::timeout(DEADLINE, read_frame(&mut conn))
                .await
                .unwrap_or_else(|_| panic!("no response to request {i} within {DEADLINE:?}"))
                .unwrap_or_else(|e| panic!("connection reset at request {i}: {e}"))
                .unwrap_or_else(|| panic!("connection closed at request {i}"));
            assert_ne!(f.kind, GOAWAY, "GOAWAY at request {i}");
            if f.kind == SETTINGS && f.flags & ACK == 0 {
                conn.write_all(&frame(SETTINGS, ACK, 0, &[])).await.unwrap();
            }
            if f.ends(stream) {
                break;
            }
        }
    }
    conn
}

/// Runs `example` under callgrind answering `n` requests; returns the
/// instructions it executed in all.
async fn instructions(example: &str, n: u64, http2: bool, dir: &Path) -> u64 {
    let h2 = if http2 { "-h2" } else { "" };
    let out = dir.join(format!("{example}{h2}-{n}.out"));
    let port = free_port();
    let mut cmd = Command::new("valgrind");
    cmd.arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(example_bin(example))
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "info");
    let mut server = Server::start(cmd);
    server.wait_ready(DEADLINE).await;
    // The connection stays open through the stop, so each server's stop
    // does the same in both runs (the library's serves out its lame duck).
    let conn = if http2 {
        get_sequentially_http2(port, n).await
    } else {
        get_sequentially(port, n).await
    };
    // Valgrind runs the program in its own process, so this is the server's pid.
    signal(server.pid(), Signal::SIGTERM);
    server.wait_exit(DEADLINE).await;
    drop(conn);
    assert!(out.exists(), "no {}; log:\n{}", out.display(), server.log());
    bench::callgrind_total(&out)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let o = options();
    bench::require_valgrind("callgrind");
    changeover_tests::build_release(&["-p", "changeover-tests", "--examples"]);
    let (_tmp, dir) = bench::callgrind_dir(o.keep.as_deref());
    let n = o.requests;
    let on = if o.http2 {
        "one HTTP/2 connection, a stream each"
    } else {
        "one keep-alive connection"
    };
    println!(
        "## instructions per request: {n} sequential GETs on {on} minus one (valgrind --tool=callgrind)\n"
    );
    println!("| server | instructions, 1 request | instructions, {n} requests | per request |");
    println!("|---|---|---|---|");
    let servers = [
        ("hello", "changeover serve path (hello)"),
        ("axum_serve", "axum::serve (axum_serve)"),
        ("plain", "plain hyper (plain)"),
    ];
    for only in &o.only {
        assert!(
            servers.iter().any(|(e, _)| e == only),
            "--only {only:?}: not one of hello, axum_serve, plain"
        );
    }
    let mut per = Vec::new();
    for (example, name) in servers {
        if !o.only.is_empty() && !o.only.iter().any(|s| s == example) {
            continue;
        }
        let one = instructions(example, 1, o.http2, &dir).await;
        let many = instructions(example, n, o.http2, &dir).await;
        let each = (many as f64 - one as f64) / (n - 1) as f64;
        println!("| {name} | {one} | {many} | {each:.0} |");
        per.push((example, each));
    }
    let of = |e: &str| per.iter().find(|(x, _)| *x == e).map(|(_, v)| *v);
    if let (Some(hello), Some(axum), Some(plain)) = (of("hello"), of("axum_serve"), of("plain")) {
        println!(
            "\nhello / axum::serve = {:.3} ({:+.1} %), hello / plain = {:.3}, axum::serve / plain = {:.3}",
            hello / axum,
            (hello / axum - 1.0) * 100.0,
            hello / plain,
            axum / plain
        );
    }
    if let Some(d) = &o.keep {
        println!(
            "\ncallgrind files in {}: callgrind_annotate --inclusive=yes {}/hello{}-{n}.out",
            d.display(),
            d.display(),
            if o.http2 { "-h2" } else { "" }
        );
    }
}
