//! Everything the rules need to know about how the objects of one run relate: which Services and
//! budgets select which pod templates, and which autoscaler drives which workload.
//!
//! Relations are computed once, with an index on `(namespace, label, value)` so that a run over
//! thousands of objects does not compare every Service with every template.

use std::collections::HashMap;

use crate::config::Config;
use crate::model::service_selects;
use crate::model::{Autoscaler, Budget, Kind, Object, Service, Workload};

/// The objects of one run and their relations. Indices refer to the vectors in this struct.
pub(crate) struct Context<'a> {
    pub(crate) config: &'a Config,
    pub(crate) workloads: Vec<&'a Workload>,
    pub(crate) services: Vec<&'a Service>,
    pub(crate) budgets: Vec<&'a Budget>,
    services_of: Vec<Vec<usize>>,
    workloads_of_service: Vec<Vec<usize>>,
    budgets_of: Vec<Vec<usize>>,
    workloads_of_budget: Vec<Vec<usize>>,
    autoscaler_of: Vec<Option<&'a Autoscaler>>,
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
    pub(crate) fn new(objects: &'a [Object], config: &'a Config) -> Context<'a> {
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
            let Some((k, v)) = s.selector.iter().next() else {
                continue;
            };
            for &wi in index.candidates(&s.meta.namespace, Some((k, v))) {
                if service_selects(&s.selector, &workloads[wi].template.labels) {
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
                    Kind::Deployment | Kind::StatefulSet | Kind::ReplicaSet
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

        Context {
            config,
            workloads,
            services,
            budgets,
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
