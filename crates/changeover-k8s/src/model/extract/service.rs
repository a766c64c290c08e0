//! A Service: its selector, type, and ports with their target ports.

use std::collections::BTreeMap;

use super::fields::{Fields, Result};
use crate::model::meta::Meta;
use crate::model::pod::PortRef;
use crate::model::service::{Service, ServicePort};
use crate::yaml::Node;

/// The Service `node`, whose `spec` is `spec`.
pub(super) fn service(
    f: &Fields<'_>,
    meta: Meta,
    node: &Node,
    spec: Option<&Node>,
) -> Result<Service> {
    let (selector, selector_line) = match spec {
        Some(s) => match s.entry("selector") {
            Some(e) => (f.string_map(&e.value, "spec.selector")?, e.line),
            None => (BTreeMap::new(), node.line()),
        },
        None => (BTreeMap::new(), node.line()),
    };
    let external_name = spec
        .and_then(|s| s.get("type"))
        .and_then(Node::as_str)
        .is_some_and(|t| t == "ExternalName");
    let headless = spec
        .and_then(|s| s.get("clusterIP"))
        .and_then(Node::as_str)
        .is_some_and(|ip| ip == "None");
    let mut ports = Vec::new();
    if let Some(list) = spec
        .map(|s| f.seq(s, "spec", "ports"))
        .transpose()?
        .flatten()
    {
        for (i, p) in list.iter().enumerate() {
            let path = format!("spec.ports[{i}]");
            if p.as_map().is_none() {
                return Err(f.invalid(p, &path, "a mapping"));
            }
            let port = f.int(p, &path, "port")?.map(|a| a.value);
            let target = f.port_ref(p, &path, "targetPort")?;
            ports.push(ServicePort {
                name: f.string(p, &path, "name")?.map(|a| a.value),
                port,
                target: target.or(port.map(PortRef::Number)),
            });
        }
    }
    Ok(Service {
        meta,
        selector,
        selector_line,
        external_name,
        headless,
        ports,
    })
}
