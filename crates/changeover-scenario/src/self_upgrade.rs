//! [`Scenario::SelfUpgrade`](crate::Scenario::SelfUpgrade): SIGHUP to the server, N times.

use nix::sys::signal::Signal;

use crate::load::{Driven, steady_p99};
use crate::process::{free_port, gone, notification, notify_receiver, send, spawn_ready};
use crate::{Outcome, Progress, Scenario, ScenarioError, Setup};

pub(crate) async fn run(
    setup: &Setup,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Outcome, ScenarioError> {
    let rx = notify_receiver()?;
    let port = free_port()?;
    let server = &setup.server;
    let (group, mut live) = spawn_ready(
        &server.program,
        &server.listening(port, &[]),
        &rx,
        setup.deadline,
    )
    .await?;
    let steady = steady_p99(port, setup).await?;
    let driven = Driven::start(port, setup).await?;
    for n in 1..=setup.restarts {
        send(live, Signal::SIGHUP)?;
        // The old generation names its successor once the successor is ready.
        let handover =
            notification(&rx, live, |r| r.get("MAINPID").is_some(), setup.deadline).await?;
        let value = handover.get("MAINPID").unwrap_or_default();
        let next: u32 = value.parse().map_err(|_| ScenarioError::BadHandover {
            value: value.to_owned(),
        })?;
        gone(live, setup.deadline).await?;
        progress(Progress::Upgraded {
            n,
            of: setup.restarts,
            from: live,
            to: next,
        });
        live = next;
        driven.wait_for_answers().await?;
    }
    let report = driven.stop().await;
    send(live, Signal::SIGTERM)?;
    gone(live, setup.deadline).await?;
    drop(group);
    Ok(Outcome {
        scenario: Scenario::SelfUpgrade,
        restarts: setup.restarts,
        report,
        steady_p99: Some(steady),
    })
}
