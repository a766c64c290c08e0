//! The load a scenario drives: a steady run to measure the undisturbed p99, and a run through
//! the restarts ([`Driven`]) that waits for answers between two of them.

use std::time::Duration;

use changeover_load::{Config, LoadHandle, Report, Target};

use crate::{ScenarioError, Setup};

/// A bound on the load through the restarts, which the scenario stops long before.
const DRIVEN_LIMIT: Duration = Duration::from_secs(600);

/// Starts load at 127.0.0.1:`port` for `duration`.
fn load(port: u16, setup: &Setup, duration: Duration) -> Result<LoadHandle, ScenarioError> {
    let target =
        Target::parse(&format!("http://127.0.0.1:{port}/")).map_err(ScenarioError::Target)?;
    changeover_load::start(Config {
        connections: setup.connections,
        keep_alive: setup.keep_alive,
        duration: Some(duration),
        ..Config::new(target)
    })
    .map_err(ScenarioError::Load)
}

/// The p99 latency of an undisturbed run of [`Setup::steady`].
pub(crate) async fn steady_p99(port: u16, setup: &Setup) -> Result<Duration, ScenarioError> {
    let report = load(port, setup, setup.steady)?.finished().await;
    Ok(report.latency.p99())
}

/// Load running through a series of restarts.
pub(crate) struct Driven {
    load: LoadHandle,
    answered_between: u64,
    deadline: Duration,
}

impl Driven {
    /// Starts the load and waits for its first answers.
    pub(crate) async fn start(port: u16, setup: &Setup) -> Result<Driven, ScenarioError> {
        let driven = Driven {
            load: load(port, setup, DRIVEN_LIMIT)?,
            answered_between: setup.answered_between,
            deadline: setup.deadline,
        };
        driven.wait_for_answers().await?;
        Ok(driven)
    }

    /// Waits until [`Setup::answered_between`] more requests were answered: the server serves.
    pub(crate) async fn wait_for_answers(&self) -> Result<(), ScenarioError> {
        let target = self.load.snapshot().ok + self.answered_between;
        self.load
            .wait_for_ok(target, self.deadline)
            .await
            .map(drop)
            .map_err(ScenarioError::Stalled)
    }

    /// Stops the load; its report.
    pub(crate) async fn stop(self) -> Report {
        self.load.stop().await
    }
}
