//! The fields the lint crate's model does not keep, read from the same YAML: container ports,
//! probes in full, the `httpGet` hook's path and port, `lifecycle.stopSignal`, literal `env`,
//! `minReadySeconds`, and a Service's ports.

use changeover_k8s::model::{each_object, name_and_namespace};
use changeover_k8s::yaml::Node;

use super::{DEFAULT_FAILURE_THRESHOLD, DEFAULT_PROBE_PERIOD_S, DEFAULT_PROBE_TIMEOUT_S};
use super::{Probe, ProbeAction, ProbeTiming, StopSignal};

/// A field that cannot be simulated as written: which, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FieldError {
    pub(super) field: String,
    pub(super) problem: String,
}

type Result<T> = std::result::Result<T, FieldError>;

fn bad(field: &str, problem: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_string(),
        problem: problem.into(),
    }
}

/// Every object of the documents, `kind: List` items included: `(kind, namespace, name, node)`,
/// found and named as the lint's model finds and names them.
pub(super) fn objects(docs: &[Node]) -> Vec<(String, String, String, Node)> {
    let mut out = Vec::new();
    for doc in docs {
        each_object(doc, |kind, node| {
            let (name, namespace) = name_and_namespace(node, "default");
            out.push((
                kind.to_string(),
                namespace.to_string(),
                name.to_string(),
                node.clone(),
            ));
        });
    }
    out
}

/// An integer field that must be at least `min`, with its default.
pub(super) fn int(node: Option<&Node>, field: &str, default: i64, min: i64) -> Result<i64> {
    match node {
        None => Ok(default),
        Some(n) if n.is_null() => Ok(default),
        Some(n) => match n.as_i64() {
            Some(v) if v >= min => Ok(v),
            Some(v) => Err(bad(field, format!("it is {v}, and must be at least {min}"))),
            None => Err(bad(
                field,
                format!("it must be an integer, not {}", n.describe()),
            )),
        },
    }
}

/// A container's ports: `(name, containerPort)`.
pub(super) fn ports(container: &Node, path: &str) -> Result<Vec<(Option<String>, u16)>> {
    let Some(list) = container.get("ports").and_then(Node::as_seq) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (i, p) in list.iter().enumerate() {
        let field = format!("{path}.ports[{i}].containerPort");
        let port = int(p.get("containerPort"), &field, 0, 1)?;
        let port = u16::try_from(port).map_err(|_| bad(&field, "it is not a port number"))?;
        let name = p.get("name").and_then(Node::as_str).map(String::from);
        out.push((name, port));
    }
    Ok(out)
}

/// A port written as a number or as the name of one of `ports`.
pub(super) fn port(
    node: Option<&Node>,
    field: &str,
    ports: &[(Option<String>, u16)],
) -> Result<u16> {
    let Some(node) = node.filter(|n| !n.is_null()) else {
        return Err(bad(field, "it is missing"));
    };
    if let Some(n) = node.as_i64() {
        return u16::try_from(n)
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(|| bad(field, format!("{n} is not a port number")));
    }
    let name = node.as_str().unwrap_or_default();
    ports
        .iter()
        .find(|(n, _)| n.as_deref() == Some(name))
        .map(|(_, p)| *p)
        .ok_or_else(|| {
            bad(
                field,
                format!(
                    "no container port is named {name:?}; name one in `ports`, or write the number"
                ),
            )
        })
}

/// A probe, in full.
pub(super) fn probe(
    node: Option<&Node>,
    path: &str,
    ports: &[(Option<String>, u16)],
) -> Result<Option<Probe>> {
    let Some(node) = node.filter(|n| !n.is_null()) else {
        return Ok(None);
    };
    let action = if let Some(h) = node.get("httpGet") {
        let path_field = format!("{path}.httpGet.path");
        let p = h
            .get("path")
            .and_then(Node::as_str)
            .unwrap_or("/")
            .to_string();
        if !p.starts_with('/') || p.bytes().any(|b| b <= b' ') {
            return Err(bad(&path_field, format!("{p:?} is not a request path")));
        }
        ProbeAction::HttpGet {
            path: p,
            port: port(h.get("port"), &format!("{path}.httpGet.port"), ports)?,
        }
    } else if let Some(t) = node.get("tcpSocket") {
        ProbeAction::TcpSocket {
            port: port(t.get("port"), &format!("{path}.tcpSocket.port"), ports)?,
        }
    } else if let Some(e) = node.get("exec") {
        let command = strings(e.get("command"), &format!("{path}.exec.command"))?;
        if command.is_empty() {
            return Err(bad(&format!("{path}.exec.command"), "it is empty"));
        }
        ProbeAction::Exec { command }
    } else if node.get("grpc").is_some() {
        return Err(bad(
            &format!("{path}.grpc"),
            "gRPC probes are not simulated; for the rehearsal, use an httpGet, tcpSocket or exec probe",
        ));
    } else {
        return Err(bad(path, "it has no httpGet, tcpSocket or exec handler"));
    };
    let f = |k: &str| format!("{path}.{k}");
    let timing = ProbeTiming {
        initial_delay_s: int(
            node.get("initialDelaySeconds"),
            &f("initialDelaySeconds"),
            0,
            0,
        )? as u64,
        period_ms: int(
            node.get("periodSeconds"),
            &f("periodSeconds"),
            DEFAULT_PROBE_PERIOD_S as i64,
            1,
        )? as u64
            * 1000,
        timeout_ms: int(
            node.get("timeoutSeconds"),
            &f("timeoutSeconds"),
            DEFAULT_PROBE_TIMEOUT_S as i64,
            1,
        )? as u64
            * 1000,
        success_threshold: int(node.get("successThreshold"), &f("successThreshold"), 1, 1)? as u32,
        failure_threshold: int(
            node.get("failureThreshold"),
            &f("failureThreshold"),
            i64::from(DEFAULT_FAILURE_THRESHOLD),
            1,
        )? as u32,
    };
    let grace = node
        .get("terminationGracePeriodSeconds")
        .map(|n| int(Some(n), &f("terminationGracePeriodSeconds"), 0, 1))
        .transpose()?;
    Ok(Some(Probe {
        action,
        timing,
        termination_grace_seconds: grace,
    }))
}

/// A list of strings.
pub(super) fn strings(node: Option<&Node>, field: &str) -> Result<Vec<String>> {
    let Some(node) = node.filter(|n| !n.is_null()) else {
        return Ok(Vec::new());
    };
    let items = node
        .as_seq()
        .ok_or_else(|| bad(field, "it must be a list of strings"))?;
    items
        .iter()
        .map(|i| {
            i.as_str()
                .map(String::from)
                .ok_or_else(|| bad(field, "it must be a list of strings"))
        })
        .collect()
}

/// `lifecycle.stopSignal`, else SIGTERM.
pub(super) fn stop_signal(container: &Node, path: &str) -> Result<StopSignal> {
    let Some(name) = container
        .path(&["lifecycle", "stopSignal"])
        .and_then(Node::as_str)
    else {
        return Ok(StopSignal::term());
    };
    let signal: nix::sys::signal::Signal = name.parse().map_err(|_| {
        bad(
            &format!("{path}.lifecycle.stopSignal"),
            format!("{name:?} is not a signal name; write it like SIGTERM or SIGQUIT"),
        )
    })?;
    Ok(StopSignal {
        number: signal as i32,
        name: signal.as_str().to_string(),
    })
}

/// `env` entries with a literal value (`valueFrom` needs a cluster and is skipped).
pub(super) fn env(container: &Node) -> Vec<(String, String)> {
    let Some(list) = container.get("env").and_then(Node::as_seq) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|e| {
            let name = e.get("name")?.as_str()?.to_string();
            let value = e
                .get("value")
                .and_then(Node::as_str)
                .unwrap_or("")
                .to_string();
            e.get("valueFrom").is_none().then_some((name, value))
        })
        .collect()
}

/// A Service's target ports: `(port, targetPort as written)`.
pub(super) fn service_ports(service: &Node) -> Vec<(i64, Option<Node>)> {
    let Some(list) = service.path(&["spec", "ports"]).and_then(Node::as_seq) else {
        return Vec::new();
    };
    list.iter()
        .map(|p| {
            let port = p.get("port").and_then(Node::as_i64).unwrap_or(0);
            (port, p.get("targetPort").cloned())
        })
        .collect()
}
