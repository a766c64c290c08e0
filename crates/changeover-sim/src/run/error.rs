//! Why a rehearsal could not begin, found in what the first pods did during the setup.

use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use crate::model::{Cluster, EventKind, Input, PodId};
use crate::world::pods::World;

/// Why a rehearsal could not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunError {
    /// COMMAND could not be started for a pod.
    Start {
        /// The pod.
        pod: String,
        /// Why.
        error: String,
    },
    /// A first pod's process exited before the rehearsal could begin.
    Exited {
        /// The pod.
        pod: String,
        /// How.
        exit: String,
        /// Its address.
        addr: String,
        /// The end of its output.
        output: String,
    },
    /// A first pod never listened on its address.
    NeverListened {
        /// The pod.
        pod: String,
        /// Its address.
        addr: String,
        /// How long it had.
        waited: Duration,
    },
    /// A first pod listened but never became ready.
    NeverReady {
        /// The pod.
        pod: String,
        /// The last probe failure.
        why: String,
        /// How long it had.
        waited: Duration,
    },
    /// The machinery failed (addresses, the Service address, the load).
    Setup(String),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Start { pod, error } => {
                write!(f, "pod {pod}: COMMAND could not be started: {error}")
            }
            RunError::Exited {
                pod,
                exit,
                addr,
                output,
            } => {
                write!(
                    f,
                    "pod {pod}: COMMAND exited ({exit}) before the rehearsal began; it must keep running and listen on {addr} (write `{{addr}}` where it takes its listen address, or use $POD_IP and $PORT; it runs in a directory of its own, so paths in its arguments must be absolute)"
                )?;
                if !output.is_empty() {
                    write!(f, "; its output ended with:\n{output}")?;
                }
                Ok(())
            }
            RunError::NeverListened { pod, addr, waited } => write!(
                f,
                "pod {pod}: nothing listened on {addr} within {}; make COMMAND listen on its pod's address (write `{{addr}}` where it takes its listen address, or use $POD_IP and $PORT), or allow longer with --ready-timeout",
                crate::fmt_ms(waited.as_millis() as u64)
            ),
            RunError::NeverReady { pod, why, waited } => write!(
                f,
                "pod {pod}: it listens but was not ready within {}: {why}; fix the readiness probe or the server, or allow longer with --ready-timeout",
                crate::fmt_ms(waited.as_millis() as u64)
            ),
            RunError::Setup(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for RunError {}

/// A first pod that could not start or exited during the setup ends the rehearsal.
pub(super) fn check_setup(cluster: &Cluster, world: &World, input: &Input) -> Result<(), RunError> {
    match input {
        Input::StartFailed { pod, error, .. } => Err(RunError::Start {
            pod: cluster.pods()[*pod].name.clone(),
            error: error.clone(),
        }),
        Input::Exited { pod, exit, .. } => {
            let p = &cluster.pods()[*pod];
            Err(RunError::Exited {
                pod: p.name.clone(),
                exit: exit.to_string(),
                addr: world
                    .addr(p.ordinal)
                    .map(|a| a.to_string())
                    .unwrap_or_default(),
                output: world.output_tail(*pod, 5),
            })
        }
        _ => Ok(()),
    }
}

/// The setup deadline passed: which first pod never listened, or never got ready, and why.
pub(super) fn setup_failed(
    cluster: &Cluster,
    world: &World,
    first: &[PodId],
    listening: &HashSet<PodId>,
    waited: Duration,
) -> RunError {
    let name = |p: PodId| cluster.pods()[p].name.clone();
    if let Some(&p) = first.iter().find(|p| !listening.contains(p)) {
        return RunError::NeverListened {
            pod: name(p),
            addr: world
                .addr(cluster.pods()[p].ordinal)
                .map(|a| a.to_string())
                .unwrap_or_default(),
            waited,
        };
    }
    let p = first
        .iter()
        .copied()
        .find(|&p| !cluster.pods()[p].ready)
        .unwrap_or(first[0]);
    let why = cluster
        .events()
        .iter()
        .rev()
        .find(|e| e.event == EventKind::Unhealthy && e.pod.as_deref() == Some(name(p).as_str()))
        .map(|e| e.detail.clone())
        .unwrap_or_else(|| "its readiness probe never succeeded".into());
    RunError::NeverReady {
        pod: name(p),
        why,
        waited,
    }
}
