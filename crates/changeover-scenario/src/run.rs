//! [`run`]: carrying out one [`Scenario`], each in a module of its own.

use crate::{
    Outcome, Progress, Scenario, ScenarioError, Setup, kubernetes_stop, naive_restart,
    self_upgrade, supervisor_reload,
};

/// Carries out `scenario` with `setup`, telling `progress` each step: starts the server (and
/// its supervisor), waits for `READY=1`, measures the steady p99, drives load through the
/// restarts, stops everything it started, and returns the figures.
///
/// # Errors
///
/// [`ScenarioError`] when the scenario could not be carried out (a server that does not start,
/// get ready or stop in time; load that stalls); requests that failed are not an error, they
/// are in the [`Outcome`].
pub async fn run(
    scenario: Scenario,
    setup: &Setup,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Outcome, ScenarioError> {
    match scenario {
        Scenario::SelfUpgrade => self_upgrade::run(setup, progress).await,
        Scenario::SupervisorReload => supervisor_reload::run(setup, progress, false).await,
        Scenario::ProxyReload => supervisor_reload::run(setup, progress, true).await,
        Scenario::KubernetesStop => kubernetes_stop::run(setup, progress).await,
        Scenario::NaiveRestart => naive_restart::run(setup, progress).await,
    }
}
