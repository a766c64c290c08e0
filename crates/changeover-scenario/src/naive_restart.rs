//! [`Scenario::NaiveRestart`](crate::Scenario::NaiveRestart): stop the server, start a new one,
//! N times. The contrast: nothing listens in between.

use nix::sys::signal::Signal;

use crate::load::{Driven, steady_p99};
use crate::process::{free_port, notify_receiver, send, spawn_ready};
use crate::{Outcome, Progress, Scenario, ScenarioError, Setup};

pub(crate) async fn run(
    setup: &Setup,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Outcome, ScenarioError> {
    let rx = notify_receiver()?;
    let port = free_port()?;
    let argv = setup.server.listening(port, &[]);
    let program = &setup.server.program;
    let (mut server, _) = spawn_ready(program, &argv, &rx, setup.deadline).await?;
    let steady = steady_p99(port, setup).await?;
    let driven = Driven::start(port, setup).await?;
    for n in 1..=setup.restarts {
        let old = server.pid()?;
        send(old, Signal::SIGTERM)?;
        server.exited("the server", setup.deadline).await?;
        let (next, new) = spawn_ready(program, &argv, &rx, setup.deadline).await?;
        server = next;
        progress(Progress::Restarted {
            n,
            of: setup.restarts,
            from: old,
            to: new,
        });
        driven.wait_for_answers().await?;
    }
    let report = driven.stop().await;
    send(server.pid()?, Signal::SIGTERM)?;
    server.exited("the server", setup.deadline).await?;
    Ok(Outcome {
        scenario: Scenario::NaiveRestart,
        restarts: setup.restarts,
        report,
        steady_p99: Some(steady),
    })
}
