//! Everything the rules need to know about how the objects of one run relate: which Services and
//! budgets select which pod templates, and which autoscaler drives which workload; and the cluster
//! version they are meant for.
//!
//! Relations are computed once, with an index on `(namespace, label, value)` so that a run over
//! thousands of objects does not compare every Service with every template.

use std::collections::{BTreeMap, HashMap};

use crate::model::{
    Autoscaler, Budget, Container, ForeignPods, Kind, Object, PodTemplate, PortRef, Service,
    Workload,
};
use crate::timing::{CommandLines, Timing, container_timing_with};
use crate::version::KubeVersion;

/// The objects of one run and their relations. Indices refer to the vectors in this struct.
pub(crate) struct Context<'a> {
    /// The cluster version to check version-dependent fields against (`--kube-version`); `None`
    /// skips those checks.
    pub(crate) kube_version: Option<KubeVersion>,
    pub(crate) workloads: Vec<&'a Workload>,
    pub(crate) services: Vec<&'a Service>,
    pub(crate) budgets: Vec<&'a Budget>,
    pub(crate) foreign: &'a [ForeignPods],
    services_of: Vec<Vec<usize>>,
    workloads_of_service: Vec<Vec<usize>>,
    budgets_of: Vec<Vec<usize>>,
    workloads_of_budget: Vec<Vec<usize>>,
    autoscaler_of: Vec<Option<&'a Autoscaler>>,
    foreign_of_service: Vec<Vec<usize>>,
    foreign_of_budget: Vec<Vec<usize>>,
    /// The stop sequence of every container, by workload and container index: worked out once
    /// (it parses `changeover` command lines with clap), read by several rules.
    timings: Vec<Vec<Timing>>,
}

/// Labels the controllers set on every pod they create, beside the template's: a Service or a
/// budget may select them. `Some(true)` when `key=value` holds for the pods of `w` (or may: a
/// hash nobody can know in advance), `None` when `key` is not such a label.
fn controller_label(w: &Workload, key: &str, value: &str) -> Option<bool> {
    let replicas = w.replicas.map(|r| r.value);
    let ordinal_ok = |i: &str| {
        i.parse::<i64>()
            .is_ok_and(|i| i >= 0 && replicas.is_none_or(|r| i < r))
    };
    match (w.meta.kind, key) {
        (Kind::StatefulSet, "statefulset.kubernetes.io/pod-name") => Some(
            value
                .strip_prefix(w.meta.name.as_str())
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(ordinal_ok),
        ),
        (Kind::StatefulSet, "apps.kubernetes.io/pod-index") => Some(ordinal_ok(value)),
        (Kind::StatefulSet | Kind::DaemonSet, "controller-revision-hash") => Some(true),
        (Kind::DaemonSet, "pod-template-generation") => Some(true),
        (Kind::Deployment | Kind::ReplicaSet, "pod-template-hash") => Some(true),
        (Kind::Job, "job-name" | "batch.kubernetes.io/job-name") => Some(value == w.meta.name),
        (Kind::CronJob, "job-name" | "batch.kubernetes.io/job-name") => Some(true),
        (Kind::Job | Kind::CronJob, "controller-uid" | "batch.kubernetes.io/controller-uid") => {
            Some(true)
        }
        _ => None,
    }
}

/// Whether a Service's equality selector picks the pods of `w`; an empty one picks nothing.
fn service_selects_workload(selector: &BTreeMap<String, String>, w: &Workload) -> bool {
    !selector.is_empty()
        && selector.iter().all(|(k, v)| {
            controller_label(w, k, v).unwrap_or_else(|| w.template.labels.get(k) == Some(v))
        })
}

/// Keys set by controllers whose values the template does not show; not usable as an index.
fn is_controller_key(key: &str) -> bool {
    matches!(
        key,
        "statefulset.kubernetes.io/pod-name"
            | "apps.kubernetes.io/pod-index"
            | "controller-revision-hash"
            | "pod-template-generation"
            | "pod-template-hash"
            | "job-name"
            | "batch.kubernetes.io/job-name"
            | "controller-uid"
            | "batch.kubernetes.io/controller-uid"
    )
}

/// Whether `port` of a Service reaches `container`, among the containers of its pod.
fn reaches(target: &PortRef, container: &Container, pod: &PodTemplate) -> bool {
    let all = &pod.containers;
    match target {
        PortRef::Name(name) => container
            .ports
            .iter()
            .any(|p| p.name.as_deref() == Some(name)),
        PortRef::Number(n) => {
            let declares = |c: &Container| c.ports.iter().any(|p| p.number == Some(*n));
            if all.iter().any(declares) {
                declares(container)
            } else if pod.injected_proxy {
                false // the injected proxy, which the manifest does not show, may be listening
            } else {
                // Nobody declares the port (declaring is optional): one of the containers that
                // declare no port at all listens on it, or the only container there is.
                !container.has_ports() || all.len() == 1
            }
        }
    }
}

/// Where to look for templates carrying one label.
#[derive(Default)]
struct LabelIndex<'a> {
    by_namespace: HashMap<&'a str, Vec<usize>>,
    by_label: HashMap<(&'a str, &'a str, &'a str), Vec<usize>>,
}

impl<'a> LabelIndex<'a> {
    fn new(workloads: &[&'a Workload]) -> LabelIndex<'a> {
        let mut index = LabelIndex::default();
        for (i, w) in workloads.iter().enumerate() {
            let ns = w.meta.namespace.as_str();
            index.by_namespace.entry(ns).or_default().push(i);
            for (k, v) in &w.template.labels {
                index
                    .by_label
                    .entry((ns, k.as_str(), v.as_str()))
                    .or_default()
                    .push(i);
            }
        }
        index
    }

    /// Templates that may match: those carrying `first` when given, else all in the namespace.
    fn candidates(&self, ns: &'a str, first: Option<(&'a str, &'a str)>) -> &[usize] {
        let found = match first {
            Some((k, v)) => self.by_label.get(&(ns, k, v)),
            None => self.by_namespace.get(ns),
        };
        found.map_or(&[], Vec::as_slice)
    }
}

impl<'a> Context<'a> {
    pub(crate) fn new(
        objects: &'a [Object],
        foreign: &'a [ForeignPods],
        kube_version: Option<KubeVersion>,
    ) -> Context<'a> {
        let mut workloads = Vec::new();
        let mut services = Vec::new();
        let mut budgets = Vec::new();
        let mut autoscalers = Vec::new();
        for object in objects {
            match object {
                Object::Workload(w) => workloads.push(w),
                Object::Service(s) => services.push(s),
                Object::Budget(b) => budgets.push(b),
                Object::Autoscaler(a) => autoscalers.push(a),
            }
        }
        let index = LabelIndex::new(&workloads);

        let mut services_of = vec![Vec::new(); workloads.len()];
        let mut workloads_of_service = vec![Vec::new(); services.len()];
        for (si, s) in services.iter().enumerate() {
            if s.external_name {
                continue;
            }
            if s.selector.is_empty() {
                continue;
            }
            let first = s
                .selector
                .iter()
                .find(|(k, _)| !is_controller_key(k))
                .map(|(k, v)| (k.as_str(), v.as_str()));
            for &wi in index.candidates(&s.meta.namespace, first) {
                if service_selects_workload(&s.selector, workloads[wi]) {
                    services_of[wi].push(si);
                    workloads_of_service[si].push(wi);
                }
            }
        }

        let mut budgets_of = vec![Vec::new(); workloads.len()];
        let mut workloads_of_budget = vec![Vec::new(); budgets.len()];
        for (bi, b) in budgets.iter().enumerate() {
            // policy/v1: a missing selector selects nothing, an empty one every pod of the
            // namespace. policy/v1beta1: an empty one selected nothing.
            let Some(selector) = &b.selector else {
                continue;
            };
            if selector.value.is_empty() && b.is_v1beta1() {
                continue;
            }
            let first = selector
                .value
                .match_labels
                .iter()
                .next()
                .map(|(k, v)| (k.as_str(), v.as_str()));
            for &wi in index.candidates(&b.meta.namespace, first) {
                if selector.value.matches(&workloads[wi].template.labels) {
                    budgets_of[wi].push(bi);
                    workloads_of_budget[bi].push(wi);
                }
            }
        }

        let targets: HashMap<(&str, &str, &str), &Autoscaler> = autoscalers
            .iter()
            .map(|a| {
                (
                    (
                        a.meta.namespace.as_str(),
                        a.target_kind.as_str(),
                        a.target_name.as_str(),
                    ),
                    *a,
                )
            })
            .collect();
        let autoscaler_of = workloads
            .iter()
            .map(|w| {
                let scalable = matches!(
                    w.meta.kind,
                    Kind::Deployment
                        | Kind::StatefulSet
                        | Kind::ReplicaSet
                        | Kind::ReplicationController
                );
                let key = (
                    w.meta.namespace.as_str(),
                    w.meta.kind.as_str(),
                    w.meta.name.as_str(),
                );
                if scalable {
                    targets.get(&key).copied()
                } else {
                    None
                }
            })
            .collect();

        let foreign_of_service = services
            .iter()
            .map(|s| {
                foreign
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| {
                        !s.external_name
                            && !s.selector.is_empty()
                            && f.namespace == s.meta.namespace
                            && s.selector.iter().all(|(k, v)| f.labels.get(k) == Some(v))
                    })
                    .map(|(i, _)| i)
                    .collect()
            })
            .collect();
        let foreign_of_budget = budgets
            .iter()
            .map(|b| {
                let Some(selector) = &b.selector else {
                    return Vec::new();
                };
                if selector.value.is_empty() && b.is_v1beta1() {
                    return Vec::new();
                }
                foreign
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| {
                        f.namespace == b.meta.namespace && selector.value.matches(&f.labels)
                    })
                    .map(|(i, _)| i)
                    .collect()
            })
            .collect();

        let mut lines = CommandLines::default();
        let timings = workloads
            .iter()
            .map(|w| {
                w.template
                    .containers
                    .iter()
                    .map(|c| container_timing_with(c, &w.template, &mut lines))
                    .collect()
            })
            .collect();

        Context {
            kube_version,
            timings,
            workloads,
            services,
            budgets,
            foreign,
            foreign_of_service,
            foreign_of_budget,
            services_of,
            workloads_of_service,
            budgets_of,
            workloads_of_budget,
            autoscaler_of,
        }
    }

    /// Services whose selector picks the pods of workload `wi`.
    pub(crate) fn services_of(&self, wi: usize) -> impl Iterator<Item = &'a Service> + '_ {
        self.services_of[wi].iter().map(|&si| self.services[si])
    }

    /// Pods the lint cannot see the spec of (operators', unreadable workloads') that Service `si`
    /// picks.
    pub(crate) fn foreign_of_service(
        &self,
        si: usize,
    ) -> impl Iterator<Item = &'a ForeignPods> + '_ {
        self.foreign_of_service[si]
            .iter()
            .map(|&i| &self.foreign[i])
    }

    /// Such pods that budget `bi` selects.
    pub(crate) fn foreign_of_budget(
        &self,
        bi: usize,
    ) -> impl Iterator<Item = &'a ForeignPods> + '_ {
        self.foreign_of_budget[bi].iter().map(|&i| &self.foreign[i])
    }

    /// Whether the input holds any pods (a workload's, or ones it cannot see the spec of) in
    /// namespace `ns`. When it holds none, a selector that matches nothing says only that the
    /// workloads are applied from elsewhere, which is no finding.
    pub(crate) fn has_pods_in(&self, ns: &str) -> bool {
        self.workloads.iter().any(|w| w.meta.namespace == ns)
            || self.foreign.iter().any(|f| f.namespace == ns)
    }

    /// The stop delay and drain deadline of container `ci` of workload `wi`.
    pub(crate) fn timing(&self, wi: usize, ci: usize) -> &Timing {
        &self.timings[wi][ci]
    }

    /// Indices of the Services whose selector picks the pods of workload `wi`.
    pub(crate) fn service_indices_of(&self, wi: usize) -> &[usize] {
        &self.services_of[wi]
    }

    /// The Services that carry traffic (not only metrics scrapes) to `container` of workload
    /// `wi`: a Service port whose `targetPort` is one of the container's ports, by number or by
    /// name. A Service without ports reaches the containers that declare ports (all of them when
    /// none does).
    pub(crate) fn traffic_services_of_container(&self, wi: usize, ci: usize) -> Vec<&'a Service> {
        let pod = &self.workloads[wi].template;
        let container = &pod.containers[ci];
        self.services_of(wi)
            .filter(|s| !s.metrics_only())
            .filter(|s| {
                if s.ports.is_empty() {
                    return container.has_ports()
                        || !pod.containers.iter().any(Container::has_ports);
                }
                s.ports
                    .iter()
                    .filter(|p| !p.is_metrics())
                    .filter_map(|p| p.target.as_ref())
                    .any(|t| reaches(t, container, pod))
            })
            .collect()
    }

    /// How many pods Service `si` routes to apart from those of workload `wi`, or `None` when
    /// some of them cannot be counted (a DaemonSet's, an operator's). Canary and version splits
    /// (one Service over `reviews-v1`, `-v2`, `-v3`) keep serving while one of them rolls out.
    pub(crate) fn other_endpoints(&self, si: usize, wi: usize) -> Option<i64> {
        let mut total = 0i64;
        for &other in &self.workloads_of_service[si] {
            if other == wi {
                continue;
            }
            total = total.saturating_add(self.pods_selected(si, other)?);
        }
        if self.foreign_of_service[si].is_empty() {
            Some(total)
        } else {
            None
        }
    }

    /// How many pods of workload `wi` Service `si` selects: one when it names a pod
    /// (`statefulset.kubernetes.io/pod-name`), else the workload's replica count.
    pub(crate) fn pods_selected(&self, si: usize, wi: usize) -> Option<i64> {
        let s = self.services[si];
        if s.selector.keys().any(|k| {
            k == "statefulset.kubernetes.io/pod-name" || k == "apps.kubernetes.io/pod-index"
        }) {
            return Some(1);
        }
        self.base_replicas(wi).map(|(n, _)| n)
    }

    /// Workloads whose pods Service `si` picks.
    pub(crate) fn workloads_of_service(
        &self,
        si: usize,
    ) -> impl Iterator<Item = &'a Workload> + '_ {
        self.workloads_of_service[si]
            .iter()
            .map(|&wi| self.workloads[wi])
    }

    /// Indices of the workloads whose pods budget `bi` selects.
    pub(crate) fn workloads_of_budget(&self, bi: usize) -> &[usize] {
        &self.workloads_of_budget[bi]
    }

    /// Indices of the budgets that select the pods of workload `wi`.
    pub(crate) fn budget_indices_of(&self, wi: usize) -> &[usize] {
        &self.budgets_of[wi]
    }

    /// The autoscaler that drives workload `wi`, if any.
    pub(crate) fn autoscaler_of(&self, wi: usize) -> Option<&'a Autoscaler> {
        self.autoscaler_of[wi]
    }

    /// The replica count a workload runs at least, with where it comes from: the autoscaler's
    /// minimum when one drives it, else `spec.replicas` (1 when unset). `None` for a DaemonSet.
    pub(crate) fn base_replicas(&self, wi: usize) -> Option<(i64, String)> {
        let w = self.workloads[wi];
        if let Some(a) = self.autoscaler_of(wi) {
            return Some((
                a.min_replicas,
                format!("minReplicas of {}", a.meta.reference()),
            ));
        }
        let r = w.replicas?;
        let source = match (w.meta.kind, w.replicas_set) {
            (Kind::Pod, _) => "a bare Pod".to_string(),
            (_, true) => "spec.replicas".to_string(),
            (_, false) => "spec.replicas unset, so 1".to_string(),
        };
        Some((r.value, source))
    }
}
