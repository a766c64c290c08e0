//! `changeover sim`: rehearse a Kubernetes rollout, drain or delete of your own manifest with
//! your own server — real processes, real load — and count every failed request.
//!
//! # Theory of operation
//!
//! A rehearsal has two halves with a seam between them.
//!
//! **The model** ([`model`]) is the control plane and the kubelet as a state machine on an
//! explicit clock: every call carries the time, [`model::Cluster::next_wakeup`] says when it
//! next needs one, it reads [`model::Input`]s (a process started or exited, a probe answered,
//! a hook finished) and answers with [`model::Action`]s (start, probe, run the hook, signal,
//! kill, change a consumer's routing). Inside it:
//!
//! - the kubelet per container ([`model::kubelet`], [`model::probe`]): preStop first, bounded by
//!   the grace period; the stop signal; SIGKILL when the grace period is used up, with the 2 s
//!   floor after the hook; startup, readiness and liveness probes with their delays, periods
//!   and thresholds; restarts with back-off;
//! - the EndpointSlice and its consumers ([`model::endpoints`]): a deleted pod's endpoint turns
//!   terminating at once and goes when its process has exited; each consumer sees each change
//!   after its own lag, drawn per change;
//! - the Deployment controller ([`model::deployment`]: fenceposts, rolling update, Recreate,
//!   proportional scaling), the ReplicaSets' scale-down order ([`model::replicaset`]), and the
//!   Eviction API with its budget ([`model::disruption`]), retried every 5 s in a drain.
//!
//! Tests drive it with a fake world on a virtual clock; every random choice comes from one
//! seeded [`rng::Rng`].
//!
//! **The world** ([`world`]) carries the actions out: one process per pod, in a session of its
//! own (SIGKILL takes the whole session, as a container's cgroup goes), on its own loopback
//! address in a block claimed for the run, in its own directory that is also its
//! `XDG_RUNTIME_DIR`; probes and hooks run against it; and a Service address ([`world::proxy`])
//! routes each new connection like kube-proxy through the load's consumer view and follows
//! every request, so each failure is known with its pod.
//!
//! [`run::run`] wires the two to the wall clock and to `changeover-load`'s driver as ordered
//! steps; [`attribute`] puts each failure down to a cause with its fix; [`report`] and [`svg`]
//! print what happened. [`spec::read`] builds the input from manifests with the lint crate's
//! model.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use changeover_sim::model::Scenario;
//! use changeover_sim::run::{Plan, run};
//! use changeover_sim::spec::{Input, read};
//!
//! let manifest = std::fs::read("deploy/kubernetes.yaml")?;
//! let spec = read(&[Input { name: "deploy/kubernetes.yaml".into(), bytes: manifest }], None, None)?;
//! let command = ["./hello", "--listen", "{addr}"].map(String::from).to_vec();
//! let report = run(Plan::new(Arc::new(spec), Scenario::Delete, command), |line| eprintln!("{line}")).await?;
//! println!("{}", report.text());
//! assert_eq!(report.failed, 0);
//! # Ok(())
//! # }
//! ```

pub mod attribute;
pub mod flags;
pub mod model;
pub mod report;
pub mod rng;
pub mod run;
pub mod spec;
pub mod svg;
pub mod world;

/// A duration in milliseconds as people read it: `800ms`, `2s`, `1.5s`, `2.25s`.
///
/// ```
/// use changeover_sim::fmt_ms;
/// assert_eq!(fmt_ms(800), "800ms");
/// assert_eq!(fmt_ms(2_000), "2s");
/// assert_eq!(fmt_ms(1_500), "1.5s");
/// assert_eq!(fmt_ms(2_250), "2.25s");
/// ```
pub fn fmt_ms(ms: u64) -> String {
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let text = format!("{:.2}", ms as f64 / 1000.0);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}s")
}
