//! Which objects the rehearsal uses: the workload `--workload` names (or the only one), its
//! replica count, its Service and the port that Service reaches, and its budgets.

use changeover_k8s::model::{Budget, Object, Service, Workload};
use changeover_k8s::yaml::Node;

use super::error::SpecError;

/// `--workload KIND/NAME` or `KIND/NAMESPACE/NAME`; the kind in any case.
pub(super) fn find<'a>(
    workloads: &[&'a Workload],
    wanted: &str,
) -> Option<Result<&'a Workload, SpecError>> {
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
pub(super) fn replica_count(objects: &[Object], w: &Workload, given: Option<i64>) -> (i64, String) {
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

pub(super) fn services_of<'a>(objects: &'a [Object], w: &Workload) -> Vec<&'a Service> {
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

pub(super) fn budgets_of<'a>(objects: &'a [Object], w: &Workload) -> Vec<&'a Budget> {
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
pub(super) fn target_port(
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

pub(super) fn first_port(
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
