//! A Service: the pods it selects and the ports it routes to.

use std::collections::BTreeMap;

use super::meta::Meta;
use super::pod::PortRef;

/// A Service.
#[derive(Debug, Clone)]
pub struct Service {
    /// Identity.
    pub meta: Meta,
    /// `spec.selector`; `None` or empty when the Service has no selector (manual endpoints).
    pub selector: BTreeMap<String, String>,
    /// The line of `selector` (or of the object).
    pub selector_line: usize,
    /// `type: ExternalName`, which routes to no pod.
    pub external_name: bool,
    /// `clusterIP: None`: clients get the pods' addresses from DNS and pick one themselves.
    pub headless: bool,
    /// `spec.ports`.
    pub ports: Vec<ServicePort>,
}

/// One entry of a Service's `ports`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    /// `name`.
    pub name: Option<String>,
    /// `port`.
    pub port: Option<i64>,
    /// `targetPort`, which defaults to `port`.
    pub target: Option<PortRef>,
}

impl ServicePort {
    /// Whether this port carries metrics scrapes rather than traffic: its name is `metrics`, or
    /// ends in `-metrics` or starts with `metrics-` (`http-metrics`, `metrics-tls`). A missed
    /// scrape is not a dropped request, so such ports are left out of the traffic rules.
    pub fn is_metrics(&self) -> bool {
        self.name.as_deref().is_some_and(|n| {
            let n = n.to_ascii_lowercase();
            n == "metrics" || n.ends_with("-metrics") || n.starts_with("metrics-")
        })
    }
}

impl Service {
    /// Whether every port of the Service carries metrics scrapes only (see
    /// [`ServicePort::is_metrics`]); a Service without ports is not one.
    pub fn metrics_only(&self) -> bool {
        !self.ports.is_empty() && self.ports.iter().all(ServicePort::is_metrics)
    }
}
