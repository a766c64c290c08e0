//! `liveness-equals-readiness`: liveness and readiness answer different questions.

use super::{Emitter, FindingDraft, Rule};
use crate::context::Context;
use crate::finding::Severity;
use crate::model::Container;
use crate::yaml::Node;

pub(crate) const RULE: Rule = Rule {
    id: "liveness-equals-readiness",
    severity: Severity::Warning,
    summary: "The livenessProbe and the readinessProbe of a container run the same check.",
    rationale: "Readiness asks \"should this pod get traffic now?\" and may fail for good \
        reasons: a dependency is down, the server is saturated, or it is draining during its \
        stop delay. Liveness asks \"is this process stuck beyond repair?\" and a failure \
        restarts the container. When both run the same check, every readiness failure also \
        counts against liveness: a server that is merely busy or draining gets restarted, \
        dropping its in-flight requests, often across all replicas at once.",
    fix: "Give liveness its own cheap check that fails only when the process is wedged \
        (changeover serves `/livez` for this), and keep dependency and draining state in the \
        readiness check (`/readyz`).",
    check,
};

/// What a probe checks, with Kubernetes' defaults filled in and named ports resolved through the
/// container's ports, so that `port: http` and `port: 8080`, or an explicit `scheme: HTTP`, compare
/// equal. `None` when the probe has no handler the lint knows.
fn check_of(probe: &Node, container: &Container) -> Option<String> {
    let text = |path: &[&str]| probe.path(path).and_then(Node::as_str).map(str::to_string);
    let port = |handler: &str| -> String {
        let Some(p) = text(&[handler, "port"]) else {
            return "?".to_string();
        };
        match p.parse::<i64>() {
            Ok(n) => n.to_string(),
            Err(_) => container.port_number(&p).map_or(p, |n| n.to_string()),
        }
    };
    if probe.get("httpGet").is_some() {
        let scheme = text(&["httpGet", "scheme"]).unwrap_or_else(|| "HTTP".into());
        let host = text(&["httpGet", "host"]).unwrap_or_default();
        let path = text(&["httpGet", "path"]).unwrap_or_else(|| "/".into());
        let headers = probe
            .path(&["httpGet", "httpHeaders"])
            .and_then(Node::as_seq)
            .map(|h| {
                h.iter()
                    .map(|e| {
                        let f = |k| e.get(k).and_then(Node::as_str).unwrap_or("");
                        format!("{}={}", f("name").to_ascii_lowercase(), f("value"))
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        return Some(format!(
            "http {} {host} {} {path} [{headers}]",
            scheme.to_ascii_uppercase(),
            port("httpGet")
        ));
    }
    if probe.get("tcpSocket").is_some() {
        let host = text(&["tcpSocket", "host"]).unwrap_or_default();
        return Some(format!("tcp {host} {}", port("tcpSocket")));
    }
    if probe.get("grpc").is_some() {
        let service = text(&["grpc", "service"]).unwrap_or_default();
        return Some(format!("grpc {} {service}", port("grpc")));
    }
    let command = probe.path(&["exec", "command"]).and_then(Node::as_seq)?;
    let words: Vec<&str> = command.iter().filter_map(Node::as_str).collect();
    Some(format!("exec {words:?}"))
}

/// `httpGet /healthz on port 8080`, `exec cat /tmp/ready`, …
fn describe(probe: &Node) -> String {
    let text = |path: &[&str]| probe.path(path).and_then(Node::as_str).map(String::from);
    if probe.get("httpGet").is_some() {
        let path = text(&["httpGet", "path"]).unwrap_or_else(|| "/".into());
        let port = text(&["httpGet", "port"]).unwrap_or_else(|| "?".into());
        return format!("httpGet {path} on port {port}");
    }
    if probe.get("tcpSocket").is_some() {
        return format!(
            "tcpSocket on port {}",
            text(&["tcpSocket", "port"]).unwrap_or_else(|| "?".into())
        );
    }
    if probe.get("grpc").is_some() {
        return format!(
            "grpc on port {}",
            text(&["grpc", "port"]).unwrap_or_else(|| "?".into())
        );
    }
    if let Some(command) = probe.path(&["exec", "command"]).and_then(Node::as_seq) {
        let words: Vec<&str> = command.iter().filter_map(Node::as_str).collect();
        return format!("exec `{}`", words.join(" "));
    }
    "the same handler".to_string()
}

fn check(cx: &Context<'_>, em: &mut Emitter<'_>) {
    for w in &cx.workloads {
        for c in &w.template.containers {
            let (Some(live), Some(ready)) = (&c.liveness_probe, &c.readiness_probe) else {
                continue;
            };
            let (Some(a), Some(b)) = (check_of(live, c), check_of(ready, c)) else {
                continue;
            };
            if a != b {
                continue;
            }
            let message = "livenessProbe and readinessProbe run the same check: a busy or draining server gets restarted instead of taken out of rotation";
            let both = format!(
                "both probes: {} (lines {} and {})",
                describe(live),
                live.line(),
                ready.line()
            );
            em.emit(
                &w.meta,
                FindingDraft::at(live.line(), message)
                    .container(c)
                    .arithmetic(vec![both]),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::test_support::findings;

    fn pod(live: &str, ready: &str) -> String {
        format!(
            "kind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - name: app\n    livenessProbe: {live}\n    readinessProbe: {ready}\n"
        )
    }

    #[test]
    fn same_check_different_timing_fires() {
        let f = findings(
            "liveness-equals-readiness",
            &pod(
                "{httpGet: {path: /healthz, port: 8080}, periodSeconds: 20}",
                "{httpGet: {port: 8080, path: /healthz}}",
            ),
        );
        assert_eq!(f.len(), 1);
        assert_eq!(
            f[0].arithmetic[0],
            "both probes: httpGet /healthz on port 8080 (lines 6 and 7)"
        );
    }

    #[test]
    fn different_checks_pass() {
        let text = pod(
            "{httpGet: {path: /livez, port: 8080}}",
            "{httpGet: {path: /readyz, port: 8080}}",
        );
        assert!(findings("liveness-equals-readiness", &text).is_empty());
        let text = pod("{tcpSocket: {port: 80}}", "{httpGet: {path: /, port: 80}}");
        assert!(findings("liveness-equals-readiness", &text).is_empty());
    }

    #[test]
    fn the_same_check_written_differently_fires() {
        // Regression (issue 10): `port: http` vs `port: 8080`, and an explicit `scheme: HTTP`.
        let text = "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: app\n    ports: [{name: http, containerPort: 8080}]\n    livenessProbe: {httpGet: {path: /healthz, port: http}}\n    readinessProbe: {httpGet: {path: /healthz, port: 8080, scheme: HTTP}}\n";
        assert_eq!(findings("liveness-equals-readiness", text).len(), 1);
    }
}
