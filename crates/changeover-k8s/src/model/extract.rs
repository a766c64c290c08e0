//! From parsed YAML documents to [`Object`]s, with a precise complaint for each field of the wrong
//! type. Objects of kinds changeover does not read are counted and skipped.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{
    Autoscaler, Budget, Container, ContainerPort, DEFAULT_ROLLING_PERCENT, ForeignPods, Handler,
    IntOrPercent, Kind, LabelSelector, Located, Meta, Object, Operator, PodTemplate, PortRef,
    Requirement, Service, ServicePort, Strategy, Workload,
};
use crate::yaml::{Node, Value};

/// The annotation that exempts an object from rules: `changeover.lint/ignore: "rule-a,rule-b"`.
pub const IGNORE_ANNOTATION: &str = "changeover.lint/ignore";

/// What one document held.
#[derive(Debug, Default)]
pub struct Extracted {
    /// Objects of the kinds changeover reads.
    pub objects: Vec<Object>,
    /// Objects that could not be read because a field has the wrong type.
    pub invalid: Vec<InvalidField>,
    /// Objects of other kinds (ConfigMap, Ingress, custom resources, …).
    pub skipped: usize,
    /// Pods that Services and budgets may select but whose spec is not read: those of a custom
    /// resource an operator turns into pods, and those of a workload that failed to load.
    pub foreign: Vec<ForeignPods>,
}

/// A field of an object that Kubernetes would reject, so the object cannot be linted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidField {
    /// `Kind/namespace/name` of the object.
    pub object: String,
    /// The line of the field.
    pub line: usize,
    /// The field's path, e.g. `spec.replicas`.
    pub field: String,
    /// What it should be and what it is.
    pub problem: String,
    /// Whether the value still holds template syntax (`{{ … }}`).
    pub template: bool,
}

/// Reads the objects of one YAML document: a single object, or a `kind: List` (or `…List`) of
/// them, nested lists included. Objects without `metadata.namespace` get `namespace`.
pub fn objects_from_document(doc: &Node, file: &Arc<str>, namespace: &str) -> Extracted {
    let mut out = Extracted::default();
    let mut pending = vec![doc.clone()];
    while let Some(node) = pending.pop() {
        let Some(kind) = node.get("kind").and_then(Node::as_str) else {
            // Not a Kubernetes object (a CI workflow, a Helm values file, …): nothing to lint.
            continue;
        };
        if kind.ends_with("List") {
            if let Some(items) = node.get("items").and_then(Node::as_seq) {
                // Reversed so that popping keeps document order.
                pending.extend(items.iter().rev().cloned());
                continue;
            }
        }
        let Some(kind) = Kind::from_name(kind) else {
            out.skipped += 1;
            out.foreign.extend(operator_pods(&node, kind, namespace));
            continue;
        };
        let reader = ObjectReader {
            meta: meta(&node, kind, file, namespace),
        };
        match reader.object(&node) {
            Ok(object) => out.objects.push(object),
            Err(e) => {
                // Its Services and budgets still select its pods: say so once (the input
                // error), not again as "matches nothing".
                if let Some(labels) = pod_labels_of_unreadable(&node, kind) {
                    out.foreign.push(ForeignPods {
                        reference: reader.meta.reference(),
                        namespace: reader.meta.namespace.clone(),
                        labels,
                        replicas: None,
                        origin: format!("not linted: {}", e.problem),
                    });
                }
                out.invalid.push(e);
            }
        }
    }
    out
}

/// Whether pod annotations ask a mesh to inject its proxy container.
fn injects_proxy(annotations: Option<&Node>) -> bool {
    let get = |key: &str| annotations.and_then(|a| a.get(key)).and_then(Node::as_str);
    matches!(get("linkerd.io/inject"), Some("enabled" | "ingress"))
        || get("sidecar.istio.io/inject") == Some("true")
}

/// Labels of a string map, skipping values that are not strings.
fn lenient_labels(node: Option<&Node>) -> BTreeMap<String, String> {
    node.and_then(Node::as_map)
        .unwrap_or_default()
        .iter()
        .filter_map(|e| Some((e.key.clone(), e.value.as_str()?.to_string())))
        .collect()
}

/// The pod template labels of a workload whose spec has a bad field, as far as they can be read.
fn pod_labels_of_unreadable(node: &Node, kind: Kind) -> Option<BTreeMap<String, String>> {
    let path: &[&str] = match kind {
        Kind::Pod => &["metadata", "labels"],
        Kind::CronJob => &[
            "spec",
            "jobTemplate",
            "spec",
            "template",
            "metadata",
            "labels",
        ],
        Kind::Service | Kind::PodDisruptionBudget | Kind::HorizontalPodAutoscaler => return None,
        _ => &["spec", "template", "metadata", "labels"],
    };
    let labels = lenient_labels(node.path(path));
    (!labels.is_empty()).then_some(labels)
}

/// Operators whose pods carry labels derived from the custom resource's name, beside those of
/// `spec.podMetadata`: (API group, kind, the label that carries the name, app.kubernetes.io/name).
const KNOWN_OPERATORS: &[(&str, &str, &str, &str)] = &[
    (
        "monitoring.coreos.com",
        "Prometheus",
        "prometheus",
        "prometheus",
    ),
    (
        "monitoring.coreos.com",
        "Alertmanager",
        "alertmanager",
        "alertmanager",
    ),
    (
        "monitoring.coreos.com",
        "ThanosRuler",
        "thanos-ruler",
        "thanos-ruler",
    ),
    (
        "monitoring.coreos.com",
        "PrometheusAgent",
        "prometheus",
        "prometheus-agent",
    ),
];

/// The pods a custom resource stands for, when it looks like one an operator turns into pods: it
/// has `spec.replicas`, a pod `spec.template` or `spec.podMetadata`, or is a known operator's.
fn operator_pods(node: &Node, kind: &str, namespace: &str) -> Option<ForeignPods> {
    let api_version = node.get("apiVersion").and_then(Node::as_str)?;
    let group = api_version.split_once('/').map(|(g, _)| g)?;
    if !group.contains('.') || group.ends_with(".k8s.io") {
        return None; // a built-in API (rbac, networking, …): no pods
    }
    let spec = node.get("spec").filter(|s| s.as_map().is_some())?;
    let known = KNOWN_OPERATORS
        .iter()
        .find(|(g, k, ..)| *g == group && *k == kind);
    let replicas = spec.get("replicas").and_then(Node::as_i64);
    let has_template = spec.path(&["template", "spec"]).is_some();
    let pod_metadata = spec.get("podMetadata");
    if known.is_none() && replicas.is_none() && !has_template && pod_metadata.is_none() {
        return None;
    }
    let metadata = node.get("metadata");
    let name = metadata
        .and_then(|m| m.get("name"))
        .and_then(Node::as_str)
        .unwrap_or("<unnamed>");
    let namespace = metadata
        .and_then(|m| m.get("namespace"))
        .and_then(Node::as_str)
        .filter(|n| !n.is_empty())
        .unwrap_or(namespace);
    let mut labels = lenient_labels(metadata.and_then(|m| m.get("labels")));
    labels.extend(lenient_labels(
        spec.path(&["template", "metadata", "labels"]),
    ));
    labels.extend(lenient_labels(pod_metadata.and_then(|p| p.get("labels"))));
    if let Some((_, _, name_label, app)) = known {
        labels.insert((*name_label).to_string(), name.to_string());
        labels.insert("app.kubernetes.io/name".into(), (*app).to_string());
        labels.insert("app.kubernetes.io/instance".into(), name.to_string());
        labels.insert(
            "app.kubernetes.io/managed-by".into(),
            "prometheus-operator".into(),
        );
    }
    let reference = format!("{kind}/{namespace}/{name}");
    Some(ForeignPods {
        origin: format!("created by an operator from {reference}"),
        reference,
        namespace: namespace.to_string(),
        labels,
        replicas,
    })
}

fn meta(node: &Node, kind: Kind, file: &Arc<str>, default_namespace: &str) -> Meta {
    let metadata = node.get("metadata");
    let text = |key: &str| metadata.and_then(|m| m.get(key)).and_then(Node::as_str);
    let name = text("name")
        .or_else(|| text("generateName"))
        .unwrap_or("<unnamed>")
        .to_string();
    let namespace = text("namespace")
        .filter(|n| !n.is_empty())
        .unwrap_or(default_namespace)
        .to_string();
    let ignored_rules = metadata
        .and_then(|m| m.path(&["annotations", IGNORE_ANNOTATION]))
        .and_then(Node::as_str)
        .map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    Meta {
        kind,
        api_version: node
            .get("apiVersion")
            .and_then(Node::as_str)
            .unwrap_or("")
            .to_string(),
        name,
        namespace,
        file: file.clone(),
        line: node.line(),
        ignored_rules,
    }
}

struct ObjectReader {
    meta: Meta,
}

type Result<T> = std::result::Result<T, InvalidField>;

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

impl ObjectReader {
    fn invalid(&self, node: &Node, field: &str, expected: &str) -> InvalidField {
        let template = node.as_str().is_some_and(|t| t.contains("{{"));
        InvalidField {
            object: self.meta.reference(),
            line: node.line(),
            field: field.to_string(),
            problem: format!("`{field}` must be {expected}, not {}", node.describe()),
            template,
        }
    }

    fn object(&self, node: &Node) -> Result<Object> {
        let meta = self.meta.clone();
        let spec = self.map(node, "", "spec")?;
        Ok(match meta.kind {
            Kind::Deployment
            | Kind::StatefulSet
            | Kind::ReplicaSet
            | Kind::DaemonSet
            | Kind::ReplicationController
            | Kind::Job
            | Kind::CronJob => {
                let (template, path) = if meta.kind == Kind::CronJob {
                    let job = spec
                        .map(|s| self.map(s, "spec", "jobTemplate"))
                        .transpose()?
                        .flatten();
                    let job_spec = job
                        .map(|j| self.map(j, "spec.jobTemplate", "spec"))
                        .transpose()?
                        .flatten();
                    let template = job_spec
                        .map(|j| self.map(j, "spec.jobTemplate.spec", "template"))
                        .transpose()?
                        .flatten();
                    (template, "spec.jobTemplate.spec.template")
                } else {
                    let template = spec
                        .map(|s| self.map(s, "spec", "template"))
                        .transpose()?
                        .flatten();
                    (template, "spec.template")
                };
                let template = self.template(template, path, node.line())?;
                let (replicas, replicas_set) =
                    if matches!(meta.kind, Kind::DaemonSet | Kind::Job | Kind::CronJob) {
                        (None, false)
                    } else {
                        match spec
                            .map(|s| self.int(s, "spec", "replicas"))
                            .transpose()?
                            .flatten()
                        {
                            Some(r) => (Some(r), true),
                            None => (
                                Some(Located {
                                    value: 1,
                                    line: spec.map_or(node.line(), Node::line),
                                }),
                                false,
                            ),
                        }
                    };
                let strategy = if meta.kind == Kind::Deployment {
                    Some(self.strategy(spec, node.line())?)
                } else {
                    None
                };
                Object::Workload(Workload {
                    meta,
                    replicas,
                    replicas_set,
                    strategy,
                    template,
                })
            }
            Kind::Pod => {
                let labels = self.labels(node)?;
                let mut template = self.pod_spec(spec, "spec", node.line())?;
                template.labels = labels;
                template.injected_proxy = injects_proxy(node.path(&["metadata", "annotations"]));
                Object::Workload(Workload {
                    meta,
                    replicas: Some(Located {
                        value: 1,
                        line: node.line(),
                    }),
                    replicas_set: false,
                    strategy: None,
                    template,
                })
            }
            Kind::Service => {
                let (selector, selector_line) = match spec {
                    Some(s) => match s.entry("selector") {
                        Some(e) => (self.string_map(&e.value, "spec.selector")?, e.line),
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
                    .map(|s| self.seq(s, "spec", "ports"))
                    .transpose()?
                    .flatten()
                {
                    for (i, p) in list.iter().enumerate() {
                        let path = format!("spec.ports[{i}]");
                        if p.as_map().is_none() {
                            return Err(self.invalid(p, &path, "a mapping"));
                        }
                        let port = self.int(p, &path, "port")?.map(|a| a.value);
                        let target = self.port_ref(p, &path, "targetPort")?;
                        ports.push(ServicePort {
                            name: self.string(p, &path, "name")?.map(|a| a.value),
                            port,
                            target: target.or(port.map(PortRef::Number)),
                        });
                    }
                }
                Object::Service(Service {
                    meta,
                    selector,
                    selector_line,
                    external_name,
                    headless,
                    ports,
                })
            }
            Kind::PodDisruptionBudget => {
                let selector = match spec.and_then(|s| s.entry("selector")) {
                    Some(e) if !e.value.is_null() => Some(Located {
                        value: self.label_selector(&e.value, "spec.selector")?,
                        line: e.line,
                    }),
                    _ => None,
                };
                let min_available = spec
                    .map(|s| self.int_or_percent(s, "spec", "minAvailable"))
                    .transpose()?
                    .flatten();
                let max_unavailable = spec
                    .map(|s| self.int_or_percent(s, "spec", "maxUnavailable"))
                    .transpose()?
                    .flatten();
                let unhealthy_pod_eviction_policy = spec
                    .map(|s| self.string(s, "spec", "unhealthyPodEvictionPolicy"))
                    .transpose()?
                    .flatten();
                Object::Budget(Budget {
                    meta,
                    selector,
                    min_available,
                    max_unavailable,
                    unhealthy_pod_eviction_policy,
                })
            }
            Kind::HorizontalPodAutoscaler => {
                let target = spec
                    .map(|s| self.map(s, "spec", "scaleTargetRef"))
                    .transpose()?
                    .flatten();
                let field = |key: &str| -> Result<String> {
                    Ok(target
                        .map(|t| self.string(t, "spec.scaleTargetRef", key))
                        .transpose()?
                        .flatten()
                        .map(|a| a.value)
                        .unwrap_or_default())
                };
                let min_replicas = spec
                    .map(|s| self.int(s, "spec", "minReplicas"))
                    .transpose()?
                    .flatten()
                    .map_or(1, |a| a.value);
                let max_replicas = spec
                    .map(|s| self.int(s, "spec", "maxReplicas"))
                    .transpose()?
                    .flatten()
                    .map(|a| a.value);
                Object::Autoscaler(Autoscaler {
                    meta,
                    target_kind: field("kind")?,
                    target_name: field("name")?,
                    min_replicas,
                    max_replicas,
                })
            }
        })
    }

    fn labels(&self, node: &Node) -> Result<BTreeMap<String, String>> {
        match node.path(&["metadata", "labels"]) {
            Some(l) => self.string_map(l, "metadata.labels"),
            None => Ok(BTreeMap::new()),
        }
    }

    fn template(&self, template: Option<&Node>, path: &str, line: usize) -> Result<PodTemplate> {
        let Some(template) = template else {
            return self.pod_spec(None, &join(path, "spec"), line);
        };
        let labels = match template.path(&["metadata", "labels"]) {
            Some(l) => self.string_map(l, &join(path, "metadata.labels"))?,
            None => BTreeMap::new(),
        };
        let spec = self.map(template, path, "spec")?;
        let mut pod = self.pod_spec(spec, &join(path, "spec"), template.line())?;
        pod.labels = labels;
        pod.line = template.line();
        pod.injected_proxy = injects_proxy(template.path(&["metadata", "annotations"]));
        Ok(pod)
    }

    fn pod_spec(&self, spec: Option<&Node>, path: &str, line: usize) -> Result<PodTemplate> {
        let mut pod = PodTemplate {
            labels: BTreeMap::new(),
            line: spec.map_or(line, Node::line),
            grace_period: None,
            share_process_namespace: None,
            injected_proxy: false,
            containers: Vec::new(),
        };
        let Some(spec) = spec else { return Ok(pod) };
        pod.grace_period = self.int(spec, path, "terminationGracePeriodSeconds")?;
        pod.share_process_namespace = self.bool(spec, path, "shareProcessNamespace")?;
        if let Some(containers) = self.seq(spec, path, "containers")? {
            let path = join(path, "containers");
            for (i, c) in containers.iter().enumerate() {
                pod.containers
                    .push(self.container(c, &format!("{path}[{i}]"))?);
            }
        }
        if let Some(inits) = self.seq(spec, path, "initContainers")? {
            let path = join(path, "initContainers");
            for (i, c) in inits.iter().enumerate() {
                let at = format!("{path}[{i}]");
                let mut container = self.container(c, &at)?;
                let restart = self.string(c, &at, "restartPolicy")?;
                if restart.is_some_and(|r| r.value == "Always") {
                    container.sidecar = true;
                    pod.containers.push(container);
                }
            }
        }
        Ok(pod)
    }

    fn container(&self, node: &Node, path: &str) -> Result<Container> {
        if node.as_map().is_none() {
            return Err(self.invalid(node, path, "a mapping"));
        }
        let name = self
            .string(node, path, "name")?
            .map(|a| a.value)
            .unwrap_or_default();
        let probe = |key: &str| -> Result<Option<Node>> { Ok(self.map(node, path, key)?.cloned()) };
        let lifecycle = self.map(node, path, "lifecycle")?;
        let lifecycle_path = join(path, "lifecycle");
        let hook = |key: &str| -> Result<Option<Handler>> {
            match lifecycle
                .map(|l| self.map(l, &lifecycle_path, key))
                .transpose()?
                .flatten()
            {
                Some(h) => Ok(Some(self.handler(h, &join(&lifecycle_path, key))?)),
                None => Ok(None),
            }
        };
        Ok(Container {
            name,
            line: node.line(),
            image: self.string(node, path, "image")?.map(|a| a.value),
            command: self.string_list(node, path, "command")?,
            args: self.string_list(node, path, "args")?,
            ports: self.container_ports(node, path)?,
            sidecar: false,
            readiness_probe: probe("readinessProbe")?,
            liveness_probe: probe("livenessProbe")?,
            pre_stop: hook("preStop")?,
            post_start: hook("postStart")?,
        })
    }

    fn container_ports(&self, node: &Node, path: &str) -> Result<Vec<ContainerPort>> {
        let Some(list) = self.seq(node, path, "ports")? else {
            return Ok(Vec::new());
        };
        let path = join(path, "ports");
        list.iter()
            .enumerate()
            .map(|(i, p)| {
                let at = format!("{path}[{i}]");
                if p.as_map().is_none() {
                    return Err(self.invalid(p, &at, "a mapping"));
                }
                Ok(ContainerPort {
                    number: self.int(p, &at, "containerPort")?.map(|a| a.value),
                    name: self.string(p, &at, "name")?.map(|a| a.value),
                })
            })
            .collect()
    }

    /// A port given by number or by name (`targetPort: 8080`, `targetPort: http`).
    fn port_ref(&self, node: &Node, path: &str, key: &str) -> Result<Option<PortRef>> {
        match node.get(key) {
            None => Ok(None),
            Some(v) if v.is_null() => Ok(None),
            Some(v) => match (v.as_i64(), v.as_str()) {
                (Some(n), _) => Ok(Some(PortRef::Number(n))),
                (None, Some(text)) => Ok(Some(match text.parse::<i64>() {
                    Ok(n) => PortRef::Number(n),
                    Err(_) => PortRef::Name(text.to_string()),
                })),
                (None, None) => Err(self.invalid(v, &join(path, key), "a port number or name")),
            },
        }
    }

    fn handler(&self, node: &Node, path: &str) -> Result<Handler> {
        if let Some(exec) = self.map(node, path, "exec")? {
            let command = self.string_list(exec, &join(path, "exec"), "command")?;
            return Ok(Handler::Exec {
                command,
                line: node.entry("exec").map_or(node.line(), |e| e.line),
            });
        }
        if let Some(sleep) = self.map(node, path, "sleep")? {
            let seconds = self
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

    fn strategy(&self, spec: Option<&Node>, line: usize) -> Result<Strategy> {
        let strategy_entry = spec.and_then(|s| s.entry("strategy"));
        let strategy = spec
            .map(|s| self.map(s, "spec", "strategy"))
            .transpose()?
            .flatten();
        let line = strategy_entry.map_or(spec.map_or(line, Node::line), |e| e.line);
        let kind = strategy
            .map(|s| self.string(s, "spec.strategy", "type"))
            .transpose()?
            .flatten()
            .map(|a| a.value);
        if kind.as_deref() == Some("Recreate") {
            return Ok(Strategy::Recreate { line });
        }
        let rolling = strategy
            .map(|s| self.map(s, "spec.strategy", "rollingUpdate"))
            .transpose()?
            .flatten();
        let path = "spec.strategy.rollingUpdate";
        let max_unavailable = rolling
            .map(|r| self.int_or_percent(r, path, "maxUnavailable"))
            .transpose()?
            .flatten();
        let max_surge = rolling
            .map(|r| self.int_or_percent(r, path, "maxSurge"))
            .transpose()?
            .flatten();
        Ok(Strategy::RollingUpdate {
            max_unavailable: max_unavailable.map_or(DEFAULT_ROLLING_PERCENT, |a| a.value),
            max_surge: max_surge.map_or(DEFAULT_ROLLING_PERCENT, |a| a.value),
            line: max_unavailable.map_or(line, |a| a.line),
        })
    }

    fn label_selector(&self, node: &Node, path: &str) -> Result<LabelSelector> {
        if node.as_map().is_none() {
            return Err(self.invalid(node, path, "a mapping"));
        }
        let mut selector = LabelSelector::default();
        if let Some(labels) = node.get("matchLabels") {
            selector.match_labels = self.string_map(labels, &join(path, "matchLabels"))?;
        }
        let exprs_path = join(path, "matchExpressions");
        for (i, e) in self
            .seq(node, path, "matchExpressions")?
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let at = format!("{exprs_path}[{i}]");
            let key = self
                .string(e, &at, "key")?
                .map(|a| a.value)
                .unwrap_or_default();
            let op_node = e.get("operator");
            let operator = op_node
                .and_then(Node::as_str)
                .and_then(Operator::from_name)
                .ok_or_else(|| {
                    self.invalid(
                        op_node.unwrap_or(e),
                        &join(&at, "operator"),
                        "In, NotIn, Exists or DoesNotExist",
                    )
                })?;
            let values = self.string_list(e, &at, "values")?;
            selector.match_expressions.push(Requirement {
                key,
                operator,
                values,
            });
        }
        Ok(selector)
    }

    // Typed getters. Each returns None when the key is absent or null, and an error naming the
    // field when the value has the wrong type.

    fn map<'n>(&self, node: &'n Node, path: &str, key: &str) -> Result<Option<&'n Node>> {
        match node.get(key) {
            None => Ok(None),
            Some(v) if v.is_null() => Ok(None),
            Some(v) if v.as_map().is_some() => Ok(Some(v)),
            Some(v) => Err(self.invalid(v, &join(path, key), "a mapping")),
        }
    }

    fn seq<'n>(&self, node: &'n Node, path: &str, key: &str) -> Result<Option<&'n [Node]>> {
        match node.get(key) {
            None => Ok(None),
            Some(v) if v.is_null() => Ok(None),
            Some(v) => v
                .as_seq()
                .map(Some)
                .ok_or_else(|| self.invalid(v, &join(path, key), "a list")),
        }
    }

    fn int(&self, node: &Node, path: &str, key: &str) -> Result<Option<Located<i64>>> {
        match node.entry(key) {
            None => Ok(None),
            Some(e) if e.value.is_null() => Ok(None),
            Some(e) => match e.value.as_i64() {
                Some(value) => Ok(Some(Located {
                    value,
                    line: e.line,
                })),
                None => Err(self.invalid(&e.value, &join(path, key), "an integer")),
            },
        }
    }

    fn bool(&self, node: &Node, path: &str, key: &str) -> Result<Option<Located<bool>>> {
        match node.entry(key) {
            None => Ok(None),
            Some(e) if e.value.is_null() => Ok(None),
            Some(e) => match e.value.as_bool() {
                Some(value) => Ok(Some(Located {
                    value,
                    line: e.line,
                })),
                None => Err(self.invalid(&e.value, &join(path, key), "true or false")),
            },
        }
    }

    /// Any scalar, read as text (Kubernetes would reject a number where a string belongs, but
    /// nothing here depends on that difference).
    fn string(&self, node: &Node, path: &str, key: &str) -> Result<Option<Located<String>>> {
        match node.entry(key) {
            None => Ok(None),
            Some(e) if e.value.is_null() => Ok(None),
            Some(e) => match e.value.as_str() {
                Some(text) => Ok(Some(Located {
                    value: text.to_string(),
                    line: e.line,
                })),
                None => Err(self.invalid(&e.value, &join(path, key), "a string")),
            },
        }
    }

    fn string_list(&self, node: &Node, path: &str, key: &str) -> Result<Vec<String>> {
        let Some(items) = self.seq(node, path, key)? else {
            return Ok(Vec::new());
        };
        let path = join(path, key);
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                item.as_str()
                    .map(String::from)
                    .ok_or_else(|| self.invalid(item, &format!("{path}[{i}]"), "a string"))
            })
            .collect()
    }

    fn string_map(&self, node: &Node, path: &str) -> Result<BTreeMap<String, String>> {
        match node.value() {
            Value::Null => Ok(BTreeMap::new()),
            Value::Map(entries) => entries
                .iter()
                .map(|e| {
                    let value = match e.value.value() {
                        Value::Null => String::new(),
                        _ => e
                            .value
                            .as_str()
                            .ok_or_else(|| self.invalid(&e.value, &join(path, &e.key), "a string"))?
                            .to_string(),
                    };
                    Ok((e.key.clone(), value))
                })
                .collect(),
            _ => Err(self.invalid(node, path, "a mapping of strings")),
        }
    }

    fn int_or_percent(
        &self,
        node: &Node,
        path: &str,
        key: &str,
    ) -> Result<Option<Located<IntOrPercent>>> {
        let Some(e) = node.entry(key) else {
            return Ok(None);
        };
        if e.value.is_null() {
            return Ok(None);
        }
        let field = join(path, key);
        let expected = "a non-negative integer or a percentage such as \"25%\"";
        let value = if let Some(n) = e.value.as_i64() {
            IntOrPercent::Int(n)
        } else {
            let text = e
                .value
                .as_str()
                .ok_or_else(|| self.invalid(&e.value, &field, expected))?;
            let percent = text
                .trim()
                .strip_suffix('%')
                .and_then(|p| p.trim().parse::<i64>().ok())
                .ok_or_else(|| self.invalid(&e.value, &field, expected))?;
            IntOrPercent::Percent(percent)
        };
        if matches!(value, IntOrPercent::Int(n) | IntOrPercent::Percent(n) if n < 0) {
            return Err(self.invalid(&e.value, &field, expected));
        }
        Ok(Some(Located {
            value,
            line: e.line,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse_documents;

    fn extract(text: &str) -> Extracted {
        let docs = parse_documents(text).unwrap();
        let file: Arc<str> = Arc::from("t.yaml");
        let mut all = Extracted::default();
        for d in &docs {
            let e = objects_from_document(d, &file, "default");
            all.objects.extend(e.objects);
            all.invalid.extend(e.invalid);
            all.skipped += e.skipped;
        }
        all
    }

    #[test]
    fn deployment_defaults() {
        let e = extract(
            "kind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: app\n        image: x\n",
        );
        let Object::Workload(w) = &e.objects[0] else {
            panic!()
        };
        assert_eq!(w.meta.reference(), "Deployment/default/web");
        assert_eq!(w.replicas.unwrap().value, 1);
        assert!(!w.replicas_set);
        assert_eq!(w.template.grace_seconds(), 30);
        assert_eq!(w.template.containers[0].line, 9);
        assert_eq!(
            w.strategy,
            Some(Strategy::RollingUpdate {
                max_unavailable: IntOrPercent::Percent(25),
                max_surge: IntOrPercent::Percent(25),
                line: 4
            })
        );
    }

    #[test]
    fn lists_unknown_kinds_and_non_objects() {
        let e = extract(
            "kind: List\nitems:\n- kind: Service\n  metadata: {name: a}\n- kind: ConfigMap\n  metadata: {name: b}\n---\n- just a list\n---\nname: not-k8s\n",
        );
        assert_eq!(e.objects.len(), 1);
        assert_eq!(e.skipped, 1);
        assert_eq!(e.objects[0].meta().line, 3);
    }

    #[test]
    fn wrong_types_name_the_field() {
        let e = extract("kind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: three\n");
        assert_eq!(e.invalid.len(), 1);
        assert_eq!(e.invalid[0].field, "spec.replicas");
        assert_eq!(e.invalid[0].line, 4);
        let e = extract(
            "kind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: \"{{ .Values.n }}\"\n",
        );
        assert!(e.invalid[0].template);
    }

    #[test]
    fn int_or_percent_values() {
        let e = extract(
            "kind: PodDisruptionBudget\nmetadata: {name: b}\nspec:\n  minAvailable: 50%\n  maxUnavailable: 1\n",
        );
        let Object::Budget(b) = &e.objects[0] else {
            panic!()
        };
        assert_eq!(b.min_available.unwrap().value, IntOrPercent::Percent(50));
        assert_eq!(b.max_unavailable.unwrap().value, IntOrPercent::Int(1));
        let e = extract(
            "kind: PodDisruptionBudget\nmetadata: {name: b}\nspec:\n  minAvailable: \"1\"\n",
        );
        assert_eq!(e.invalid.len(), 1);
    }

    #[test]
    fn ignore_annotation_is_split() {
        let e = extract(
            "kind: Service\nmetadata:\n  name: s\n  annotations:\n    changeover.lint/ignore: \"a, b\"\n",
        );
        assert_eq!(e.objects[0].meta().ignored_rules, vec!["a", "b"]);
    }
}
