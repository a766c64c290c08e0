//! The workloads: the controllers (Deployment, StatefulSet, DaemonSet, ReplicaSet,
//! ReplicationController, Job, CronJob) with their replica counts and a Deployment's strategy,
//! and a bare Pod.

use super::fields::{Fields, Result};
use super::pod::{injects_proxy, pod_spec, template};
use crate::model::Located;
use crate::model::meta::{Kind, Meta};
use crate::model::workload::{DEFAULT_ROLLING_PERCENT, Strategy, Workload};
use crate::yaml::Node;

/// A controller whose pods come from `spec.template` (a CronJob's from
/// `spec.jobTemplate.spec.template`).
pub(super) fn controller(
    f: &Fields<'_>,
    meta: Meta,
    node: &Node,
    spec: Option<&Node>,
) -> Result<Workload> {
    let (found, path) = if meta.kind == Kind::CronJob {
        let job = spec
            .map(|s| f.map(s, "spec", "jobTemplate"))
            .transpose()?
            .flatten();
        let job_spec = job
            .map(|j| f.map(j, "spec.jobTemplate", "spec"))
            .transpose()?
            .flatten();
        let template = job_spec
            .map(|j| f.map(j, "spec.jobTemplate.spec", "template"))
            .transpose()?
            .flatten();
        (template, "spec.jobTemplate.spec.template")
    } else {
        let template = spec
            .map(|s| f.map(s, "spec", "template"))
            .transpose()?
            .flatten();
        (template, "spec.template")
    };
    let template = template(f, found, path, node.line())?;
    let (replicas, replicas_set) =
        if matches!(meta.kind, Kind::DaemonSet | Kind::Job | Kind::CronJob) {
            (None, false)
        } else {
            match spec
                .map(|s| f.int(s, "spec", "replicas"))
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
        Some(strategy(f, spec, node.line())?)
    } else {
        None
    };
    Ok(Workload {
        meta,
        replicas,
        replicas_set,
        strategy,
        template,
    })
}

/// A bare Pod: one replica, its own labels and spec.
pub(super) fn pod(
    f: &Fields<'_>,
    meta: Meta,
    node: &Node,
    spec: Option<&Node>,
) -> Result<Workload> {
    let labels = f.labels(node)?;
    let mut template = pod_spec(f, spec, "spec", node.line())?;
    template.labels = labels;
    template.injected_proxy = injects_proxy(node.path(&["metadata", "annotations"]));
    Ok(Workload {
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

/// A Deployment's `spec.strategy`, with Kubernetes' defaults (RollingUpdate, 25 %/25 %).
fn strategy(f: &Fields<'_>, spec: Option<&Node>, line: usize) -> Result<Strategy> {
    let strategy_entry = spec.and_then(|s| s.entry("strategy"));
    let strategy = spec
        .map(|s| f.map(s, "spec", "strategy"))
        .transpose()?
        .flatten();
    let line = strategy_entry.map_or(spec.map_or(line, Node::line), |e| e.line);
    let kind = strategy
        .map(|s| f.string(s, "spec.strategy", "type"))
        .transpose()?
        .flatten()
        .map(|a| a.value);
    if kind.as_deref() == Some("Recreate") {
        return Ok(Strategy::Recreate { line });
    }
    let rolling = strategy
        .map(|s| f.map(s, "spec.strategy", "rollingUpdate"))
        .transpose()?
        .flatten();
    let path = "spec.strategy.rollingUpdate";
    let max_unavailable = rolling
        .map(|r| f.int_or_percent(r, path, "maxUnavailable"))
        .transpose()?
        .flatten();
    let max_surge = rolling
        .map(|r| f.int_or_percent(r, path, "maxSurge"))
        .transpose()?
        .flatten();
    Ok(Strategy::RollingUpdate {
        max_unavailable: max_unavailable.map_or(DEFAULT_ROLLING_PERCENT, |a| a.value),
        max_surge: max_surge.map_or(DEFAULT_ROLLING_PERCENT, |a| a.value),
        line: max_unavailable.map_or(line, |a| a.line),
    })
}
