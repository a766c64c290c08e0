//! The report of a finished rehearsal, from the model's event log, the Service address's
//! observations and the load's counts.

use std::time::Duration;

use super::Plan;
use crate::attribute::{self, Context, Failure};
use crate::model::{Cluster, ConsumerSpec, Ms};
use crate::report::{self, Interval, Latency, PodRow, Propagation};
use crate::world::pods::World;
use crate::world::proxy::{BUCKET_MS, Proxy};

pub(super) fn build_report(
    plan: &Plan,
    cluster: &Cluster,
    world: &World,
    proxy: &Proxy,
    load: &changeover_load::Report,
    pod_network: String,
    end_ms: Ms,
) -> report::Report {
    let spec = cluster.spec();
    let log = proxy.log();
    let consumers: Vec<ConsumerSpec> = cluster.consumers().cloned().collect();
    let load_consumer = cluster.load_consumer();
    let (scenario, scenario_ms) = cluster.scenario().unwrap_or((plan.scenario, end_ms));
    let names: Vec<String> = cluster.pods().iter().map(|p| p.name.clone()).collect();
    let failures: Vec<Failure> = attribute::attribute(
        &Context {
            events: cluster.events(),
            pod_names: &names,
            spec,
            scenario,
            consumer: &consumers[load_consumer],
            timeout: plan.timeout,
        },
        &log.failures,
    );
    let mut failed_by_kind = std::collections::BTreeMap::new();
    for f in &failures {
        *failed_by_kind.entry(f.kind.as_str()).or_insert(0) += 1;
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    report::Report {
        scenario,
        workload: spec.workload.clone(),
        replicas: spec.replicas,
        replicas_source: spec.replicas_source.clone(),
        seed: plan.seed,
        command: plan.command.clone(),
        service: spec.service.clone(),
        service_addr: proxy.addr().to_string(),
        pod_network,
        propagation: consumers
            .iter()
            .enumerate()
            .map(|(i, c)| Propagation {
                consumer: c.name.clone(),
                min_ms: c.min_ms,
                max_ms: c.max_ms,
                load: i == load_consumer,
            })
            .collect(),
        completed: cluster.done().is_some(),
        scenario_ms,
        done_ms: cluster.done(),
        end_ms,
        requests: load.requests,
        ok: load.ok,
        failed: load.failed(),
        failed_by_kind,
        unattributed: load.failed().saturating_sub(failures.len() as u64),
        min_available: cluster.min_available().unwrap_or(spec.replicas),
        latency_ms: Latency {
            p50: ms(load.latency.p50()),
            p99: ms(load.latency.p99()),
            max: ms(load.latency.max()),
        },
        causes: report::Report::group(&failures),
        failures_omitted: failures.len().saturating_sub(report::MAX_FAILURES_LISTED) as u64,
        failures: failures
            .into_iter()
            .take(report::MAX_FAILURES_LISTED)
            .collect(),
        events: cluster.events().to_vec(),
        pods: cluster
            .pods()
            .iter()
            .map(|p| PodRow {
                name: p.name.clone(),
                addr: world
                    .addr(p.ordinal)
                    .map(|a| a.to_string())
                    .unwrap_or_default(),
                revision: p.revision + 1,
                connections: log
                    .connections
                    .iter()
                    .find(|c| c.0 == p.id)
                    .map_or(0, |c| c.1),
            })
            .collect(),
        timeline: log
            .buckets
            .iter()
            .enumerate()
            .map(|(i, b)| Interval {
                at_ms: i as Ms * BUCKET_MS,
                ok: b.ok,
                failed: b.failed,
            })
            .collect(),
        notes: spec.notes.clone(),
    }
}
