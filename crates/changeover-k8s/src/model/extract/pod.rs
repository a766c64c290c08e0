//! A pod template (or a Pod's spec): its labels, grace period, containers and native sidecars,
//! their ports and lifecycle hooks.

use std::collections::BTreeMap;

use super::fields::{Fields, Result, join};
use crate::model::pod::{Container, ContainerPort, Handler, PodTemplate};
use crate::yaml::Node;

/// Whether pod annotations ask a mesh to inject its proxy container.
pub(super) fn injects_proxy(annotations: Option<&Node>) -> bool {
    let get = |key: &str| annotations.and_then(|a| a.get(key)).and_then(Node::as_str);
    matches!(get("linkerd.io/inject"), Some("enabled" | "ingress"))
        || get("sidecar.istio.io/inject") == Some("true")
}

/// The pod template `template` at `path` (`spec.template`); an empty pod when there is none
/// (`line` is then the object's).
pub(super) fn template(
    f: &Fields<'_>,
    template: Option<&Node>,
    path: &str,
    line: usize,
) -> Result<PodTemplate> {
    let Some(template) = template else {
        return pod_spec(f, None, &join(path, "spec"), line);
    };
    let labels = match template.path(&["metadata", "labels"]) {
        Some(l) => f.string_map(l, &join(path, "metadata.labels"))?,
        None => BTreeMap::new(),
    };
    let spec = f.map(template, path, "spec")?;
    let mut pod = pod_spec(f, spec, &join(path, "spec"), template.line())?;
    pod.labels = labels;
    pod.line = template.line();
    pod.injected_proxy = injects_proxy(template.path(&["metadata", "annotations"]));
    Ok(pod)
}

/// A pod's `spec` at `path`, without its labels.
pub(super) fn pod_spec(
    f: &Fields<'_>,
    spec: Option<&Node>,
    path: &str,
    line: usize,
) -> Result<PodTemplate> {
    let mut pod = PodTemplate {
        labels: BTreeMap::new(),
        line: spec.map_or(line, Node::line),
        grace_period: None,
        share_process_namespace: None,
        injected_proxy: false,
        containers: Vec::new(),
    };
    let Some(spec) = spec else { return Ok(pod) };
    pod.grace_period = f.int(spec, path, "terminationGracePeriodSeconds")?;
    pod.share_process_namespace = f.bool(spec, path, "shareProcessNamespace")?;
    if let Some(containers) = f.seq(spec, path, "containers")? {
        let path = join(path, "containers");
        for (i, c) in containers.iter().enumerate() {
            pod.containers
                .push(container(f, c, &format!("{path}[{i}]"))?);
        }
    }
    if let Some(inits) = f.seq(spec, path, "initContainers")? {
        let path = join(path, "initContainers");
        for (i, c) in inits.iter().enumerate() {
            let at = format!("{path}[{i}]");
            let mut container = container(f, c, &at)?;
            let restart = f.string(c, &at, "restartPolicy")?;
            if restart.is_some_and(|r| r.value == "Always") {
                container.sidecar = true;
                pod.containers.push(container);
            }
        }
    }
    Ok(pod)
}

fn container(f: &Fields<'_>, node: &Node, path: &str) -> Result<Container> {
    if node.as_map().is_none() {
        return Err(f.invalid(node, path, "a mapping"));
    }
    let name = f
        .string(node, path, "name")?
        .map(|a| a.value)
        .unwrap_or_default();
    let probe = |key: &str| -> Result<Option<Node>> { Ok(f.map(node, path, key)?.cloned()) };
    let lifecycle = f.map(node, path, "lifecycle")?;
    let lifecycle_path = join(path, "lifecycle");
    let hook = |key: &str| -> Result<Option<Handler>> {
        match lifecycle
            .map(|l| f.map(l, &lifecycle_path, key))
            .transpose()?
            .flatten()
        {
            Some(h) => Ok(Some(handler(f, h, &join(&lifecycle_path, key))?)),
            None => Ok(None),
        }
    };
    Ok(Container {
        name,
        line: node.line(),
        image: f.string(node, path, "image")?.map(|a| a.value),
        command: f.string_list(node, path, "command")?,
        args: f.string_list(node, path, "args")?,
        ports: container_ports(f, node, path)?,
        sidecar: false,
        readiness_probe: probe("readinessProbe")?,
        liveness_probe: probe("livenessProbe")?,
        pre_stop: hook("preStop")?,
        post_start: hook("postStart")?,
    })
}

fn container_ports(f: &Fields<'_>, node: &Node, path: &str) -> Result<Vec<ContainerPort>> {
    let Some(list) = f.seq(node, path, "ports")? else {
        return Ok(Vec::new());
    };
    let path = join(path, "ports");
    list.iter()
        .enumerate()
        .map(|(i, p)| {
            let at = format!("{path}[{i}]");
            if p.as_map().is_none() {
                return Err(f.invalid(p, &at, "a mapping"));
            }
            Ok(ContainerPort {
                number: f.int(p, &at, "containerPort")?.map(|a| a.value),
                name: f.string(p, &at, "name")?.map(|a| a.value),
            })
        })
        .collect()
}

/// A lifecycle hook (`preStop`, `postStart`).
fn handler(f: &Fields<'_>, node: &Node, path: &str) -> Result<Handler> {
    if let Some(exec) = f.map(node, path, "exec")? {
        let command = f.string_list(exec, &join(path, "exec"), "command")?;
        return Ok(Handler::Exec {
            command,
            line: node.entry("exec").map_or(node.line(), |e| e.line),
        });
    }
    if let Some(sleep) = f.map(node, path, "sleep")? {
        let seconds = f
            .int(sleep, &join(path, "sleep"), "seconds")?
            .map_or(0, |a| a.value);
        return Ok(Handler::Sleep {
            seconds,
            line: node.entry("sleep").map_or(node.line(), |e| e.line),
        });
    }
    if let Some(e) = node.entry("httpGet") {
        return Ok(Handler::HttpGet { line: e.line });
    }
    Ok(Handler::Other { line: node.line() })
}
