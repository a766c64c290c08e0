//! The timeline places every failure after the event that preceded it, and `probe` checks a
//! target before a run.
//!
//! Contract: a second holding an event is split at the event; requests that ended before the
//! first event have `after_event == None`; the failures a disturbance causes are counted under
//! the event recorded before it, in the report, its text and its JSON.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use changeover_load::{Config, FailureKind, Target, probe, start};
use support::{read_request, reply, response, serve, within};
use tokio::io::AsyncWriteExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_land_after_the_event_that_preceded_them() {
    let broken = Arc::new(AtomicBool::new(false));
    let flag = broken.clone();
    let server = serve(move |mut s, stats| {
        let broken = flag.clone();
        async move {
            let mut buf = Vec::new();
            while read_request(&mut s, &mut buf).await.is_some() {
                stats.count_request();
                let status = if broken.load(Ordering::SeqCst) {
                    "503 Service Unavailable"
                } else {
                    "200 OK"
                };
                if s.write_all(&response(status, "")).await.is_err() {
                    return;
                }
            }
        }
    })
    .await;
    let load = start(Config {
        connections: 4,
        duration: Some(Duration::from_secs(60)),
        ..Config::new(Target::tcp(server.addr))
    })
    .unwrap();
    load.wait_for_ok(200, support::DEADLINE).await.unwrap();
    // The event is recorded before the server breaks, so every 503 ends after it.
    load.mark("break");
    broken.store(true, Ordering::SeqCst);
    load.wait_until(|c| c.failed >= 100, support::DEADLINE)
        .await
        .unwrap();
    load.mark("mend");
    broken.store(false, Ordering::SeqCst);
    let ok = load.snapshot().ok;
    load.wait_for_ok(ok + 200, support::DEADLINE).await.unwrap();
    let report = within("stop", load.stop()).await;

    let before: u64 = report
        .timeline
        .iter()
        .filter(|e| e.after_event.is_none())
        .map(|e| e.failed)
        .sum();
    assert_eq!(
        before,
        0,
        "no failure before the first event\n{}",
        report.timeline_text()
    );
    assert!(report.failed_after(0) >= 100, "{}", report.summary());
    // Responses the server wrote just before it mended may end just after "mend".
    assert_eq!(
        report.failed_after(0) + report.failed_after(1),
        report.failed()
    );
    assert_eq!(report.failures.bad_status, report.failed());
    for entry in &report.timeline {
        assert_eq!(entry.failed, entry.failures.total());
        assert_eq!(entry.failed, entry.failures.get(FailureKind::BadStatus));
        let (from, to) = entry.span(&report.events);
        assert!(from <= to, "{entry:?}");
        if let Some(i) = entry.after_event {
            assert!(
                from >= report.events[i].at,
                "{entry:?} starts after its event"
            );
        }
    }
    let (ok, failed) = report
        .timeline
        .iter()
        .fold((0, 0), |(o, f), e| (o + e.ok, f + e.failed));
    assert_eq!((ok, failed), (report.ok, report.failed()));
    // Seconds are in order, each present.
    let mut second = 0;
    for entry in &report.timeline {
        assert!(
            entry.second == second || entry.second == second + 1,
            "{entry:?}"
        );
        second = entry.second;
    }

    // In the text, no row with failures comes before the line of the "break" event.
    let text = report.timeline_text();
    let break_line = text
        .lines()
        .position(|l| l.contains(">> break"))
        .unwrap_or_else(|| panic!("no break event in\n{text}"));
    for (i, line) in text.lines().enumerate().skip(1) {
        if line.contains(">>") {
            continue;
        }
        let failed: u64 = line.split_whitespace().nth(3).unwrap().parse().unwrap();
        if failed > 0 {
            assert!(i > break_line, "failures shown before their event:\n{text}");
            assert!(line.contains("bad_status"), "{line}");
        }
    }
    assert!(text.contains("failed after it"), "{text}");

    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["events"][0]["label"], "break");
    assert_eq!(json["events"][0]["failed_after"], report.failed_after(0));
    assert!(json["events"][0]["command"].is_null());
    let failing = json["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["failed"].as_u64().unwrap() > 0)
        .unwrap();
    assert_eq!(failing["after_event"], 0);
    assert_eq!(failing["errors"]["bad_status"], failing["failed"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_sees_any_status_and_classifies_failures() {
    let timeout = Duration::from_secs(5);
    let ok = serve(|mut s, _| async move {
        let mut buf = Vec::new();
        if read_request(&mut s, &mut buf).await.is_some() {
            reply(&mut s, &response("404 Not Found", "")).await;
        }
    })
    .await;
    let p = within("probe", probe(&Target::tcp(ok.addr), timeout))
        .await
        .unwrap();
    assert_eq!(
        p.status, 404,
        "a server that answers is there, whatever it says"
    );

    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let e = within("probe", probe(&Target::tcp(refused), timeout))
        .await
        .unwrap_err();
    assert_eq!(e.kind, FailureKind::Refused, "{e}");
    assert!(e.fix().contains("is the server running"), "{}", e.fix());
    assert!(e.fix().contains(&refused.to_string()), "{}", e.fix());

    let closes = serve(|mut s, _| async move {
        let mut buf = Vec::new();
        // The request, or EOF: either way, close without answering.
        read_request(&mut s, &mut buf).await;
    })
    .await;
    let e = within("probe", probe(&Target::tcp(closes.addr), timeout))
        .await
        .unwrap_err();
    assert_eq!(e.kind, FailureKind::Closed, "{e}");
    assert!(e.fix().contains("HTTP/1.1"), "{}", e.fix());

    let silent = serve(|mut s, _| async move {
        let mut buf = Vec::new();
        while read_request(&mut s, &mut buf).await.is_some() {}
    })
    .await;
    let e = within(
        "probe",
        probe(&Target::tcp(silent.addr), Duration::from_millis(100)),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind, FailureKind::Timeout, "{e}");
    assert!(e.fix().contains("100ms"), "{}", e.fix());

    let dir = tempfile::tempdir().unwrap();
    let e = within(
        "probe",
        probe(&Target::unix(dir.path().join("no.sock")), timeout),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind, FailureKind::Connect, "{e}");
    assert!(e.fix().contains("socket path"), "{}", e.fix());
}
