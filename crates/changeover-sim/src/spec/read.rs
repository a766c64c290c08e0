//! From manifests to a [`SimSpec`]: the workload chosen, its Service and budget found, the one
//! container the rehearsal runs picked, every field it needs read — or one error that names
//! the input, the problem and the fix.

use std::fmt;

use changeover_k8s::input::{InputError, load};
use changeover_k8s::model::{
    Budget, Handler, Kind, Object, Service, Strategy as K8sStrategy, Workload,
};
use changeover_k8s::yaml::{Node, parse_documents};

use super::raw::{self, FieldError};
use super::{BudgetSpec, Hook, MAX_REPLICAS, PodSpec, SimSpec, Strategy};

/// One manifest: its name (a path, or `<stdin>`) and its bytes.
#[derive(Debug, Clone)]
pub struct Input {
    /// How errors name it.
    pub name: String,
    /// Its content.
    pub bytes: Vec<u8>,
}

/// Why the manifests cannot be rehearsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecError {
    /// A manifest could not be read or holds an invalid object.
    Input(InputError),
    /// No workload in the manifests.
    NoWorkload {
        /// The inputs' names.
        inputs: Vec<String>,
    },
    /// Several workloads and no `--workload`.
    Several {
        /// Their `Kind/namespace/name`.
        workloads: Vec<String>,
    },
    /// `--workload` names none of them.
    NotFound {
        /// What was asked for.
        wanted: String,
        /// What there is.
        workloads: Vec<String>,
    },
    /// `--workload` is not `KIND/NAME` or `KIND/NAMESPACE/NAME`.
    BadWorkloadFlag(String),
    /// The workload is not a Deployment.
    Unsupported {
        /// Its `Kind/namespace/name`.
        workload: String,
        /// Its kind.
        kind: Kind,
    },
    /// A field the rehearsal needs cannot be used as written.
    Field {
        /// `Kind/namespace/name`.
        object: String,
        /// The field's path.
        field: String,
        /// What is wrong, and how to write it.
        problem: String,
    },
    /// The replica count cannot be rehearsed.
    Replicas {
        /// The count.
        replicas: i64,
        /// Where it came from.
        source: String,
    },
    /// Several budgets select the pods: the Eviction API answers 500 to every eviction.
    SeveralBudgets {
        /// The workload.
        workload: String,
        /// The budgets.
        budgets: Vec<String>,
    },
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpecError::Input(e) => write!(f, "{e}; {}", e.fix()),
            SpecError::NoWorkload { inputs } => write!(
                f,
                "no workload in {}: changeover sim needs a Deployment to rehearse; pass the manifest that defines it",
                inputs.join(", ")
            ),
            SpecError::Several { workloads } => write!(
                f,
                "{} workloads in the manifests ({}); choose one with --workload {}",
                workloads.len(),
                workloads.join(", "),
                short(&workloads[0])
            ),
            SpecError::NotFound { wanted, workloads } if workloads.is_empty() => write!(
                f,
                "--workload {wanted}: the manifests hold no workload; pass the manifest that defines it"
            ),
            SpecError::NotFound { wanted, workloads } => write!(
                f,
                "--workload {wanted}: no such workload; the manifests hold {}",
                workloads.join(", ")
            ),
            SpecError::BadWorkloadFlag(v) => write!(
                f,
                "--workload {v:?}: write KIND/NAME or KIND/NAMESPACE/NAME, e.g. --workload Deployment/web"
            ),
            SpecError::Unsupported { workload, kind } => write!(
                f,
                "{workload}: changeover sim rehearses Deployments (rolling update, Recreate, drain, delete), not a {kind}; {}",
                match kind {
                    Kind::Pod | Kind::ReplicaSet =>
                        "wrap the pod template in a Deployment to rehearse it",
                    _ => "rehearse the pod's stop sequence with a Deployment of the same template",
                }
            ),
            SpecError::Field {
                object,
                field,
                problem,
            } => write!(f, "{object}: `{field}`: {problem}"),
            SpecError::Replicas { replicas, source } if *replicas < 1 => write!(
                f,
                "{replicas} replicas ({source}): there is nothing to rehearse; give at least 1 (--replicas N)"
            ),
            SpecError::Replicas { replicas, source } => write!(
                f,
                "{replicas} replicas ({source}): the rehearsal starts a real process per pod and runs at most {MAX_REPLICAS}; rehearse with fewer (--replicas N)"
            ),
            SpecError::SeveralBudgets { workload, budgets } => write!(
                f,
                "{workload}: {} PodDisruptionBudgets select its pods ({}); the Eviction API answers 500 to every eviction of such a pod, so a drain never gets through; keep one budget per pod",
                budgets.len(),
                budgets.join(", ")
            ),
        }
    }
}

impl std::error::Error for SpecError {}

/// `Kind/name` for a `Kind/namespace/name` in the default namespace.
fn short(reference: &str) -> String {
    match reference.split('/').collect::<Vec<_>>()[..] {
        [kind, "default", name] => format!("{kind}/{name}"),
        _ => reference.to_string(),
    }
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

impl FieldError {
    fn missing(field: &str) -> FieldError {
        FieldError {
            field: field.to_string(),
            problem: "it is missing or empty".into(),
        }
    }
}

fn field_error(object: &str, e: FieldError) -> SpecError {
    SpecError::Field {
        object: object.to_string(),
        field: e.field,
        problem: e.problem,
    }
}

/// `--workload KIND/NAME` or `KIND/NAMESPACE/NAME`; the kind in any case.
fn find<'a>(workloads: &[&'a Workload], wanted: &str) -> Option<Result<&'a Workload, SpecError>> {
    let parts: Vec<&str> = wanted.split('/').collect();
    let (kind, ns, name) = match parts[..] {
        [kind, name] if !kind.is_empty() && !name.is_empty() => (kind, None, name),
        [kind, ns, name] if !kind.is_empty() && !ns.is_empty() && !name.is_empty() => {
            (kind, Some(ns), name)
        }
        _ => return Some(Err(SpecError::BadWorkloadFlag(wanted.to_string()))),
    };
    workloads
        .iter()
        .find(|w| {
            w.meta.kind.as_str().eq_ignore_ascii_case(kind)
                && w.meta.name == name
                && ns.is_none_or(|ns| w.meta.namespace == ns)
        })
        .map(|w| Ok(*w))
}

/// The replica count: `--replicas`, else an autoscaler's minimum (the fewest pods a
/// disruption can meet), else `spec.replicas`.
fn replica_count(objects: &[Object], w: &Workload, given: Option<i64>) -> (i64, String) {
    if let Some(n) = given {
        return (n, "--replicas".into());
    }
    let hpa = objects.iter().find_map(|o| match o {
        Object::Autoscaler(a)
            if a.meta.namespace == w.meta.namespace
                && a.target_kind == w.meta.kind.as_str()
                && a.target_name == w.meta.name =>
        {
            Some(a)
        }
        _ => None,
    });
    if let Some(a) = hpa {
        return (
            a.min_replicas,
            format!("minReplicas of {}", a.meta.reference()),
        );
    }
    let n = w.replicas.map_or(1, |r| r.value);
    let source = if w.replicas_set {
        "spec.replicas"
    } else {
        "spec.replicas unset, so 1"
    };
    (n, source.into())
}

fn services_of<'a>(objects: &'a [Object], w: &Workload) -> Vec<&'a Service> {
    objects
        .iter()
        .filter_map(|o| match o {
            Object::Service(s)
                if s.meta.namespace == w.meta.namespace
                    && !s.external_name
                    && !s.selector.is_empty()
                    && s.selector
                        .iter()
                        .all(|(k, v)| w.template.labels.get(k) == Some(v)) =>
            {
                Some(s)
            }
            _ => None,
        })
        .collect()
}

fn budgets_of<'a>(objects: &'a [Object], w: &Workload) -> Vec<&'a Budget> {
    objects
        .iter()
        .filter_map(|o| match o {
            Object::Budget(b) if b.meta.namespace == w.meta.namespace => {
                let s = b.selector.as_ref()?;
                // policy/v1beta1: an empty selector selected nothing.
                if s.value.is_empty() && b.is_v1beta1() {
                    return None;
                }
                s.value.matches(&w.template.labels).then_some(b)
            }
            _ => None,
        })
        .collect()
}

/// The container and port a Service's `targetPort` (by number or by name) reaches.
fn target_port(
    ports: &[Vec<(Option<String>, u16)>],
    service_port: i64,
    target: Option<&Node>,
    service: &str,
) -> Result<(usize, u16), SpecError> {
    let target = target.filter(|t| !t.is_null());
    let (by_name, number) = match target {
        Some(t) => match t.as_i64() {
            Some(n) => (None, n),
            None => (t.as_str().map(String::from), 0),
        },
        None => (None, service_port),
    };
    if let Some(name) = by_name {
        for (i, list) in ports.iter().enumerate() {
            if let Some((_, p)) = list
                .iter()
                .find(|(n, _)| n.as_deref() == Some(name.as_str()))
            {
                return Ok((i, *p));
            }
        }
        return Err(SpecError::Field {
            object: service.to_string(),
            field: "spec.ports[0].targetPort".into(),
            problem: format!(
                "no container port of the pods is named {name:?}; name one, or target the number"
            ),
        });
    }
    let port = u16::try_from(number)
        .ok()
        .filter(|&p| p > 0)
        .ok_or_else(|| SpecError::Field {
            object: service.to_string(),
            field: "spec.ports[0]".into(),
            problem: format!("{number} is not a port number"),
        })?;
    let index = ports
        .iter()
        .position(|list| list.iter().any(|(_, p)| *p == port))
        .unwrap_or(0);
    Ok((index, port))
}

fn first_port(
    ports: &[Vec<(Option<String>, u16)>],
    workload: &str,
) -> Result<(usize, u16), SpecError> {
    ports
        .iter()
        .enumerate()
        .find_map(|(i, list)| list.first().map(|(_, p)| (i, *p)))
        .ok_or_else(|| SpecError::Field {
            object: workload.to_string(),
            field: "spec.template.spec.containers[0].ports".into(),
            problem: "no container lists a port and no Service targets one, so the rehearsal does not know where the server listens; add `ports: [{containerPort: 8080}]`".into(),
        })
}
