//! The timeline as a picture (`--timeline FILE.svg`): one lane per pod — starting, ready,
//! terminating, stop signal, SIGKILL, exit — with, under each, the spans in which each consumer
//! routed new connections to it; failures marked on the pod they went to; and the requests
//! per 100 ms below. Plain SVG written by hand: no dependency, readable in any browser.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::fmt_ms;
use crate::model::{EventKind, Ms};
use crate::report::Report;

const WIDTH: f64 = 1200.0;
const LEFT: f64 = 130.0;
const RIGHT: f64 = 20.0;
const LANE: f64 = 32.0;
const BAR: f64 = 12.0;
const CHART: f64 = 110.0;

const STARTING: &str = "#c9ced6";
const READY: &str = "#3aa655";
const UNREADY: &str = "#e3e6ea";
const TERMINATING: &str = "#f0a830";
const SIGNALLED: &str = "#d9534f";
const FAILED: &str = "#c4161c";
const OK: &str = "#7d93b2";
const CONSUMERS: [&str; 4] = ["#2c6fbb", "#8e44ad", "#16a085", "#7f8c8d"];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Renders the report's timeline.
pub fn render(r: &Report) -> String {
    let end = r.end_ms.max(1) as f64;
    let x = |t: Ms| LEFT + (t as f64 / end) * (WIDTH - LEFT - RIGHT);
    let consumers: Vec<&str> = r.propagation.iter().map(|p| p.consumer.as_str()).collect();
    let no_endpoint = r.failures.iter().any(|f| f.pod.is_none());
    let lanes = r.pods.len() + usize::from(no_endpoint);
    let top = 76.0;
    let chart_top = top + lanes as f64 * LANE + 34.0;
    let height = chart_top + CHART + 70.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let title = format!(
        "changeover sim: {} of {} — {} requests, {} failed, fewest available {} of {}",
        r.scenario.as_str(),
        r.workload,
        r.requests,
        r.failed,
        r.min_available,
        r.replicas
    );
    let _ = writeln!(
        s,
        r#"<text x="10" y="22" font-size="15" font-weight="bold">{}</text>"#,
        esc(&title)
    );
    let lags: Vec<String> = r
        .propagation
        .iter()
        .map(|p| {
            format!(
                "{} lag {}..{}{}",
                p.consumer,
                fmt_ms(p.min_ms),
                fmt_ms(p.max_ms),
                if p.load { " (load)" } else { "" }
            )
        })
        .collect();
    let _ = writeln!(
        s,
        r##"<text x="10" y="40" fill="#555">{}</text>"##,
        esc(&format!(
            "`{}` · {} · seed {}",
            r.command.join(" "),
            lags.join(", "),
            r.seed
        ))
    );

    // Time grid.
    let step = [100, 200, 500, 1000, 2000, 5000, 10_000, 30_000, 60_000]
        .into_iter()
        .find(|&st| end / st as f64 <= 15.0)
        .unwrap_or(120_000);
    let mut t = 0;
    while t as f64 <= end {
        let gx = x(t);
        let _ = writeln!(
            s,
            r##"<line x1="{gx:.1}" y1="{top}" x2="{gx:.1}" y2="{:.1}" stroke="#eee"/>"##,
            chart_top + CHART
        );
        let _ = writeln!(
            s,
            r##"<text x="{gx:.1}" y="{:.1}" text-anchor="middle" fill="#555">{}</text>"##,
            chart_top + CHART + 16.0,
            fmt_ms(t)
        );
        t += step;
    }
    let mark = |s: &mut String, t: Ms, label: &str| {
        let mx = x(t);
        let _ = writeln!(
            s,
            r##"<line x1="{mx:.1}" y1="{:.1}" x2="{mx:.1}" y2="{:.1}" stroke="#333" stroke-dasharray="4 3"/>"##,
            top - 6.0,
            chart_top + CHART
        );
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" fill="#333">{}</text>"##,
            mx + 3.0,
            top - 8.0,
            esc(label)
        );
    };
    mark(&mut s, r.scenario_ms, r.scenario.as_str());
    if let Some(done) = r.done_ms {
        mark(&mut s, done, "done");
    }

    // Failures per pod, per 100 ms.
    let mut fails: HashMap<Option<&str>, HashMap<Ms, u64>> = HashMap::new();
    for f in &r.failures {
        *fails
            .entry(f.pod.as_deref())
            .or_default()
            .entry(f.at_ms / 100 * 100)
            .or_default() += 1;
    }

    for (i, pod) in r.pods.iter().enumerate() {
        let y = top + i as f64 * LANE;
        let _ = writeln!(
            s,
            r##"<text x="10" y="{:.1}">{} <tspan fill="#777">r{}</tspan></text>"##,
            y + BAR - 1.0,
            esc(&pod.name),
            pod.revision
        );
        let events: Vec<_> = r
            .events
            .iter()
            .filter(|e| e.pod.as_deref() == Some(pod.name.as_str()))
            .collect();
        // The pod's own states, as colored segments.
        let mut color = STARTING;
        let mut since: Option<Ms> = None;
        let mut terminating = false;
        let seg = |s: &mut String, from: Ms, to: Ms, c: &str| {
            if to > from {
                let _ = writeln!(
                    s,
                    r#"<rect x="{:.1}" y="{y:.1}" width="{:.1}" height="{BAR}" fill="{c}"/>"#,
                    x(from),
                    (x(to) - x(from)).max(0.5)
                );
            }
        };
        for e in events.iter().filter(|e| e.consumer.is_none()) {
            let next = match e.event {
                EventKind::Created => Some(STARTING),
                EventKind::Ready if !terminating => Some(READY),
                EventKind::Unready if !terminating => Some(UNREADY),
                EventKind::Terminating => {
                    terminating = true;
                    Some(TERMINATING)
                }
                EventKind::Signalled => Some(SIGNALLED),
                EventKind::Deleted => None,
                EventKind::Exited if !terminating => Some(UNREADY),
                _ => continue,
            };
            if let Some(from) = since {
                seg(&mut s, from, e.at_ms, color);
            }
            match next {
                Some(c) => {
                    color = c;
                    since = Some(e.at_ms);
                }
                None => since = None,
            }
            if matches!(e.event, EventKind::Deleted) {
                break;
            }
        }
        if let Some(from) = since {
            seg(&mut s, from, r.end_ms, color);
        }
        for e in events.iter().filter(|e| e.consumer.is_none()) {
            let ex = x(e.at_ms);
            match e.event {
                EventKind::Killed => {
                    let _ = writeln!(
                        s,
                        r#"<text x="{ex:.1}" y="{:.1}" text-anchor="middle" font-weight="bold">✕</text>"#,
                        y + BAR - 1.0
                    );
                }
                EventKind::Exited => {
                    let _ = writeln!(
                        s,
                        r#"<rect x="{:.1}" y="{:.1}" width="2" height="{:.1}" fill="black"/>"#,
                        ex - 1.0,
                        y - 2.0,
                        BAR + 4.0
                    );
                }
                _ => {}
            }
        }
        // Each consumer's routing to it.
        for (ci, c) in consumers.iter().enumerate() {
            let cy = y + BAR + 3.0 + ci as f64 * 3.0;
            let mut from: Option<Ms> = None;
            for e in events.iter().filter(|e| e.consumer.as_deref() == Some(*c)) {
                match (e.event, from) {
                    (EventKind::EndpointReady, None) => from = Some(e.at_ms),
                    (EventKind::EndpointUnready | EventKind::EndpointRemoved, Some(f)) => {
                        let _ = writeln!(
                            s,
                            r#"<rect x="{:.1}" y="{cy:.1}" width="{:.1}" height="2" fill="{}"/>"#,
                            x(f),
                            (x(e.at_ms) - x(f)).max(0.5),
                            CONSUMERS[ci % 4]
                        );
                        from = None;
                    }
                    _ => {}
                }
            }
            if let Some(f) = from {
                let _ = writeln!(
                    s,
                    r#"<rect x="{:.1}" y="{cy:.1}" width="{:.1}" height="2" fill="{}"/>"#,
                    x(f),
                    (x(r.end_ms) - x(f)).max(0.5),
                    CONSUMERS[ci % 4]
                );
            }
        }
        if let Some(bins) = fails.get(&Some(pod.name.as_str())) {
            failure_ticks(&mut s, bins, y, &x);
        }
    }
    if no_endpoint {
        let y = top + r.pods.len() as f64 * LANE;
        let _ = writeln!(
            s,
            r#"<text x="10" y="{:.1}" fill="{FAILED}">no endpoint</text>"#,
            y + BAR - 1.0
        );
        if let Some(bins) = fails.get(&None) {
            failure_ticks(&mut s, bins, y, &x);
        }
    }

    // Requests per 100 ms.
    let peak = r
        .timeline
        .iter()
        .map(|i| i.ok + i.failed)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let _ = writeln!(
        s,
        r##"<text x="10" y="{:.1}">requests</text><text x="10" y="{:.1}" fill="#777">per 100 ms</text>"##,
        chart_top + 12.0,
        chart_top + 26.0
    );
    let _ = writeln!(
        s,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#777">{}</text>"##,
        LEFT - 4.0,
        chart_top + 10.0,
        peak as u64
    );
    let bw = (x(100) - x(0)).max(0.6);
    for i in &r.timeline {
        let bx = x(i.at_ms);
        let hok = i.ok as f64 / peak * CHART;
        let hfail = i.failed as f64 / peak * CHART;
        let base = chart_top + CHART;
        if hok > 0.0 {
            let _ = writeln!(
                s,
                r#"<rect x="{bx:.1}" y="{:.1}" width="{bw:.1}" height="{hok:.1}" fill="{OK}"/>"#,
                base - hok
            );
        }
        if i.failed > 0 {
            let _ = writeln!(
                s,
                r#"<rect x="{bx:.1}" y="{:.1}" width="{bw:.1}" height="{:.1}" fill="{FAILED}"/>"#,
                base - hok - hfail.max(2.0),
                hfail.max(2.0)
            );
        }
    }
    let _ = writeln!(
        s,
        r##"<line x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#999"/>"##,
        chart_top + CHART,
        WIDTH - RIGHT,
        chart_top + CHART
    );

    // Legend.
    let ly = chart_top + CHART + 40.0;
    let mut lx = 10.0;
    let mut item = |s: &mut String, c: &str, label: &str, thin: bool| {
        let (h, dy) = if thin { (3.0, 4.0) } else { (10.0, 0.0) };
        let _ = writeln!(
            s,
            r#"<rect x="{lx:.1}" y="{:.1}" width="18" height="{h}" fill="{c}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            ly + dy,
            lx + 22.0,
            ly + 9.0,
            esc(label)
        );
        lx += 30.0 + label.len() as f64 * 6.6;
    };
    item(&mut s, STARTING, "starting", false);
    item(&mut s, READY, "ready", false);
    item(&mut s, UNREADY, "not ready", false);
    item(&mut s, TERMINATING, "terminating (preStop)", false);
    item(&mut s, SIGNALLED, "stop signal sent", false);
    for (ci, c) in consumers.iter().enumerate() {
        item(
            &mut s,
            CONSUMERS[ci % 4],
            &format!("{c} routes to it"),
            true,
        );
    }
    item(&mut s, FAILED, "failed requests", false);
    let _ = writeln!(
        s,
        r##"<text x="10" y="{:.1}" fill="#555">✕ SIGKILL   ▮ process exited   dashed: scenario start and completion</text>"##,
        ly + 28.0
    );
    s.push_str("</svg>\n");
    s
}

fn failure_ticks(s: &mut String, bins: &HashMap<Ms, u64>, y: f64, x: &dyn Fn(Ms) -> f64) {
    let mut bins: Vec<_> = bins.iter().collect();
    bins.sort();
    for (&t, &n) in bins {
        let h = (3.0 + (n as f64).log2() * 1.2).min(9.0);
        // Above the bar, taller for more failures.
        let _ = writeln!(
            s,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{FAILED}"><title>{n} failed at {}</title></rect>"#,
            x(t),
            y - h - 1.0,
            (x(t + 100) - x(t)).max(1.5),
            fmt_ms(t)
        );
    }
}
