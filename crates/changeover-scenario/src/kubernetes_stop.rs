//! [`Scenario::KubernetesStop`](crate::Scenario::KubernetesStop): SIGTERM with a stop delay,
//! while the "load balancer" goes on sending for a moment before it removes the endpoint.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::load::Driven;
use crate::process::{free_port, notify_receiver, send, spawn_ready};
use crate::{Outcome, Progress, Scenario, ScenarioError, Setup};

/// The stop delay the server is given in [`Scenario::KubernetesStop`].
pub const KUBERNETES_STOP_DELAY: Duration = Duration::from_secs(2);

/// How long the load goes on after SIGTERM in [`Scenario::KubernetesStop`]: the time an
/// endpoint takes to leave the load balancer (kube-proxy takes about a second).
pub const ENDPOINT_LAG: Duration = Duration::from_secs(1);

pub(crate) async fn run(
    setup: &Setup,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Outcome, ScenarioError> {
    let rx = notify_receiver()?;
    let port = free_port()?;
    let delay = format!("{}s", KUBERNETES_STOP_DELAY.as_secs());
    let argv = setup.server.listening(port, &["--stop-delay", &delay]);
    let (mut server, pid) = spawn_ready(&setup.server.program, &argv, &rx, setup.deadline).await?;
    let driven = Driven::start(port, setup).await?;
    let sigterm = Instant::now();
    send(pid, Signal::SIGTERM)?;
    // The endpoint is still in rotation for a while: that lag is the scenario, not a wait for
    // something to settle.
    tokio::time::sleep(ENDPOINT_LAG).await;
    let report = driven.stop().await;
    let status = server.exited("the server", setup.deadline).await?;
    progress(Progress::Stopped {
        after: sigterm.elapsed(),
        status,
    });
    if !status.success() {
        return Err(ScenarioError::ServerFailed { status });
    }
    Ok(Outcome {
        scenario: Scenario::KubernetesStop,
        restarts: 1,
        report,
        steady_p99: None,
    })
}
