//! From manifests to a [`SimSpec`]: the workload chosen, its Service and budget found, the one
//! container the rehearsal runs picked, every field it needs read — or one error that names
//! the input, the problem and the fix.

use changeover_k8s::input::load;
use changeover_k8s::model::{Handler, Kind, Object, Strategy as K8sStrategy, Workload};
use changeover_k8s::yaml::{Node, parse_documents};

use super::error::{SpecError, field_error};
use super::raw::{self, FieldError};
use super::select::{budgets_of, find, first_port, replica_count, services_of, target_port};
use super::{BudgetSpec, Hook, MAX_REPLICAS, PodSpec, SimSpec, Strategy};

/// One manifest: its name (a path, or `<stdin>`) and its bytes.
#[derive(Debug, Clone)]
pub struct Input {
    /// How errors name it.
    pub name: String,
    /// Its content.
    pub bytes: Vec<u8>,
}

/// Reads the manifests and builds the spec of `workload` (or of the only workload), with
/// `replicas` instead of the manifest's count when given.
pub fn read(
    inputs: &[Input],
    workload: Option<&str>,
    replicas: Option<i64>,
) -> Result<SimSpec, SpecError> {
    let mut objects = Vec::new();
    let mut raw_objects = Vec::new();
    for input in inputs {
        let loaded = load(&input.name, &input.bytes);
        if let Some(e) = loaded.errors.into_iter().next() {
            return Err(SpecError::Input(e));
        }
        objects.extend(loaded.objects);
        // The loader accepted the text, so it is UTF-8 YAML.
        let text = String::from_utf8_lossy(&input.bytes);
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        if let Ok(docs) = parse_documents(text) {
            raw_objects.extend(raw::objects(&docs));
        }
    }
    let workloads: Vec<&Workload> = objects
        .iter()
        .filter_map(|o| match o {
            Object::Workload(w) => Some(w),
            _ => None,
        })
        .collect();
    let names: Vec<String> = workloads.iter().map(|w| w.meta.reference()).collect();
    let chosen = match workload {
        Some(wanted) => find(&workloads, wanted).ok_or_else(|| SpecError::NotFound {
            wanted: wanted.to_string(),
            workloads: names.clone(),
        })??,
        None => match workloads[..] {
            [] => {
                return Err(SpecError::NoWorkload {
                    inputs: inputs.iter().map(|i| i.name.clone()).collect(),
                });
            }
            [one] => one,
            _ => return Err(SpecError::Several { workloads: names }),
        },
    };
    let reference = chosen.meta.reference();
    if chosen.meta.kind != Kind::Deployment {
        return Err(SpecError::Unsupported {
            workload: reference,
            kind: chosen.meta.kind,
        });
    }
    let raw_of = |kind: &str, ns: &str, name: &str| {
        raw_objects
            .iter()
            .find(|(k, n, m, _)| k == kind && n == ns && m == name)
            .map(|o| o.3.clone())
    };
    let node = raw_of("Deployment", &chosen.meta.namespace, &chosen.meta.name)
        .ok_or_else(|| field_error(&reference, FieldError::missing("spec")))?;
    let field = |e: FieldError| field_error(&reference, e);

    let mut notes = Vec::new();
    let (replicas, replicas_source) = replica_count(&objects, chosen, replicas);
    if !(1..=MAX_REPLICAS).contains(&replicas) {
        return Err(SpecError::Replicas {
            replicas,
            source: replicas_source,
        });
    }
    let strategy = match &chosen.strategy {
        Some(K8sStrategy::Recreate { .. }) => Strategy::Recreate,
        Some(K8sStrategy::RollingUpdate {
            max_unavailable,
            max_surge,
            ..
        }) => Strategy::RollingUpdate {
            max_surge: *max_surge,
            max_unavailable: *max_unavailable,
        },
        None => unreachable!("a Deployment always has a strategy in the model"),
    };
    let min_ready = raw::int(
        node.path(&["spec", "minReadySeconds"]),
        "spec.minReadySeconds",
        0,
        0,
    )
    .map_err(field)? as u64;

    if replicas_source.starts_with("minReplicas") {
        notes.push(format!(
            "{replicas} replicas: the autoscaler's minimum, the fewest pods a disruption can meet (--replicas to rehearse another count)"
        ));
    }
    // The Service decides the port, and the port the container.
    let services = services_of(&objects, chosen);
    if services.len() > 1 {
        let names: Vec<String> = services.iter().map(|s| s.meta.reference()).collect();
        notes.push(format!(
            "{} Services select the pods ({}); the load goes through the first",
            names.len(),
            names.join(", ")
        ));
    }
    let service = services.into_iter().next();
    let containers: Vec<Node> = node
        .path(&["spec", "template", "spec", "containers"])
        .and_then(Node::as_seq)
        .map(<[Node]>::to_vec)
        .unwrap_or_default();
    if containers.is_empty() || chosen.template.containers.is_empty() {
        return Err(field(FieldError::missing("spec.template.spec.containers")));
    }
    let mut all_ports = Vec::new();
    for (i, c) in containers.iter().enumerate() {
        let path = format!("spec.template.spec.containers[{i}]");
        all_ports.push(raw::ports(c, &path).map_err(field)?);
    }
    let (index, port) = match &service {
        Some(s) => {
            let snode = raw_of("Service", &s.meta.namespace, &s.meta.name);
            let first = snode
                .as_ref()
                .and_then(|n| raw::service_ports(n).into_iter().next());
            match first {
                Some((port, target)) => {
                    target_port(&all_ports, port, target.as_ref(), &s.meta.reference())?
                }
                None => first_port(&all_ports, &reference)?,
            }
        }
        None => {
            notes.push("no Service selects the pods: the load goes through one shaped like a Service in front of the first container port".into());
            first_port(&all_ports, &reference)?
        }
    };
    if containers.len() > 1 {
        notes.push(format!(
            "only container {:?} is run (COMMAND stands in for it); the pod's other containers are left out",
            chosen.template.containers[index].name
        ));
    }
    let c = &chosen.template.containers[index];
    let cnode = &containers[index];
    let path = format!("spec.template.spec.containers[{index}]");
    let ports = &all_ports[index];
    let pre_stop = match &c.pre_stop {
        None => None,
        Some(Handler::Sleep { seconds, .. }) => Some(Hook::Sleep {
            ms: u64::try_from(*seconds).unwrap_or(0) * 1000,
        }),
        Some(Handler::Exec { command, .. }) if command.is_empty() => {
            return Err(field(FieldError::missing(&format!(
                "{path}.lifecycle.preStop.exec.command"
            ))));
        }
        Some(Handler::Exec { command, .. }) => Some(Hook::Exec {
            command: command.clone(),
        }),
        Some(Handler::HttpGet { .. }) => {
            let h = cnode.path(&["lifecycle", "preStop", "httpGet"]);
            let hook_path = h
                .and_then(|h| h.get("path"))
                .and_then(Node::as_str)
                .unwrap_or("/")
                .to_string();
            let hook_port = raw::port(
                h.and_then(|h| h.get("port")),
                &format!("{path}.lifecycle.preStop.httpGet.port"),
                ports,
            )
            .map_err(field)?;
            Some(Hook::HttpGet {
                path: hook_path,
                port: hook_port,
            })
        }
        Some(Handler::Other { .. }) => {
            notes.push("the preStop handler is neither exec, httpGet nor sleep; the kubelet runs nothing for it, and neither does the rehearsal".into());
            None
        }
    };
    let probe =
        |key: &str| raw::probe(cnode.get(key), &format!("{path}.{key}"), ports).map_err(field);
    let pod = PodSpec {
        container: c.name.clone(),
        port,
        grace_seconds: chosen.template.grace_seconds(),
        pre_stop,
        stop_signal: raw::stop_signal(cnode, &path).map_err(field)?,
        startup: probe("startupProbe")?,
        readiness: probe("readinessProbe")?,
        liveness: probe("livenessProbe")?,
        env: raw::env(cnode),
    };
    let budgets = budgets_of(&objects, chosen);
    if budgets.len() > 1 {
        return Err(SpecError::SeveralBudgets {
            workload: reference,
            budgets: budgets.iter().map(|b| b.meta.reference()).collect(),
        });
    }
    let budget = budgets.first().map(|b| BudgetSpec {
        name: b.meta.reference(),
        min_available: b.min_available.map(|a| a.value),
        max_unavailable: b.max_unavailable.map(|a| a.value),
        always_allow_unhealthy: b
            .unhealthy_pod_eviction_policy
            .as_ref()
            .is_some_and(|p| p.value == "AlwaysAllow"),
    });
    Ok(SimSpec {
        workload: reference,
        name: chosen.meta.name.clone(),
        replicas,
        replicas_source,
        strategy,
        min_ready_seconds: min_ready,
        pod,
        service: service.map(|s| s.meta.reference()),
        budget,
        notes,
    })
}
