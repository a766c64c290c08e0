//! Why manifests cannot be rehearsed: one error that names the input or object, the problem
//! and the fix.

use std::fmt;

use changeover_k8s::input::InputError;
use changeover_k8s::model::Kind;

use super::MAX_REPLICAS;
use super::raw::FieldError;

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

impl FieldError {
    pub(super) fn missing(field: &str) -> FieldError {
        FieldError {
            field: field.to_string(),
            problem: "it is missing or empty".into(),
        }
    }
}

/// A field error of `object`.
pub(super) fn field_error(object: &str, e: FieldError) -> SpecError {
    SpecError::Field {
        object: object.to_string(),
        field: e.field,
        problem: e.problem,
    }
}
