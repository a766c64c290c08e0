//! Bodies stream through the proxy both ways: the first bytes reach the
//! other side before the last ones are even produced, so no body is held
//! whole (if one were, these tests would wait for bytes that never come
//! and fail at their deadline).

mod support;

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use changeover_proxy::{Config, Proxy, Upstream};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use support::*;
use tokio::sync::{mpsc, oneshot};

const CHUNK: usize = 64 * 1024;
/// Chunks after the first: 8 MiB in all, far more than socket buffers hold.
const MORE: usize = 128;

/// Bytes of a test pattern, so corruption or reordering is seen.
fn pattern(offset: usize, len: usize) -> Bytes {
    (offset..offset + len).map(|i| (i % 251) as u8).collect()
}

/// The contract: the upstream receives the first chunk of a request body
/// while the client has not sent the rest, and the whole body arrives
/// intact and in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_body_streams_to_the_upstream() {
    let (first_tx, mut first_rx) = mpsc::unbounded_channel::<()>();
    let up = upstream(move |req| {
        let first_tx = first_tx.clone();
        async move {
            let mut body = req.into_body();
            let mut seen = 0usize;
            while let Some(frame) = body.frame().await {
                let data = frame.unwrap().into_data().unwrap_or_default();
                if data != pattern(seen, data.len()) {
                    return Response::new(full(format!("corrupt at {seen}")));
                }
                if seen == 0 && !data.is_empty() {
                    first_tx.send(()).unwrap();
                }
                seen += data.len();
            }
            Response::new(full(format!("ok {seen}")))
        }
    })
    .await;
    let proxy = Proxy::new(Config::default());
    proxy.routes().ready(1, Upstream::Tcp(up.addr)).unwrap();
    let addr = serve_proxy(&proxy).await;

    let (tx, body) = channel_body();
    let req = Request::post("/sink").body(body).unwrap();
    let response = tokio::spawn(send(addr, req));
    tx.send(pattern(0, CHUNK)).await.unwrap();
    within(
        "the upstream to get the first chunk before the rest is sent",
        first_rx.recv(),
    )
    .await
    .unwrap();
    for i in 1..=MORE {
        tx.send(pattern(i * CHUNK, CHUNK)).await.unwrap();
    }
    drop(tx);
    let resp = within("the response", response).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        text(resp.into_body()).await,
        format!("ok {}", (MORE + 1) * CHUNK)
    );
}

/// The contract: the client receives the first chunk of a response body
/// while the upstream has not produced the rest, and the whole body arrives
/// intact and in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_body_streams_to_the_client() {
    let (go_tx, go_rx) = oneshot::channel::<()>();
    let go = Arc::new(Mutex::new(Some(go_rx)));
    let up = upstream(move |_req| {
        let go = go.clone();
        async move {
            let go = go.lock().unwrap().take().expect("one request");
            let (tx, body) = channel_body();
            tokio::spawn(async move {
                tx.send(pattern(0, CHUNK)).await.unwrap();
                // The rest only once the client has the first chunk.
                go.await.unwrap();
                for i in 1..=MORE {
                    tx.send(pattern(i * CHUNK, CHUNK)).await.unwrap();
                }
            });
            Response::new(body)
        }
    })
    .await;
    let proxy = Proxy::new(Config::default());
    proxy.routes().ready(1, Upstream::Tcp(up.addr)).unwrap();
    let addr = serve_proxy(&proxy).await;

    let req = Request::get("/source")
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let resp = send(addr, req).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    let mut seen = 0usize;
    let mut go = Some(go_tx);
    while let Some(frame) = within("the next chunk", body.frame()).await {
        let data = frame.unwrap().into_data().unwrap_or_default();
        assert_eq!(data, pattern(seen, data.len()), "corrupt at {seen}");
        seen += data.len();
        if seen >= CHUNK {
            if let Some(go) = go.take() {
                go.send(()).unwrap();
            }
        }
    }
    assert!(go.is_none(), "the first chunk never arrived on its own");
    assert_eq!(seen, (MORE + 1) * CHUNK);
}
