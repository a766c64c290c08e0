//! [`Scenario::SupervisorReload`](crate::Scenario::SupervisorReload): `changeover run` with the
//! server as its child, then `changeover reload --wait`, N times; and
//! [`Scenario::ProxyReload`](crate::Scenario::ProxyReload), the same with `--proxy`.

use std::ffi::OsString;

use nix::sys::signal::Signal;
use tokio::process::Command;

use crate::load::{Driven, steady_p99};
use crate::process::{free_port, notify_receiver, send, spawn_ready};
use crate::{Outcome, Progress, Scenario, ScenarioError, Setup};

pub(crate) async fn run(
    setup: &Setup,
    progress: &mut dyn FnMut(Progress<'_>),
    proxy: bool,
) -> Result<Outcome, ScenarioError> {
    let rx = notify_receiver()?;
    let port = free_port()?;
    // The control socket, in a directory of our own (mode 0700, a name no one can guess).
    let scratch = tempfile::Builder::new()
        .prefix("changeover-demo-")
        .tempdir()
        .map_err(|source| ScenarioError::Setup {
            what: "cannot create a scratch directory".into(),
            source,
        })?;
    let control = scratch.path().join("control.sock");
    let mut argv: Vec<OsString> = vec!["run".into()];
    if proxy {
        argv.push("--proxy".into());
    }
    argv.extend::<[OsString; 6]>([
        "--listen".into(),
        format!("127.0.0.1:{port}").into(),
        "--control".into(),
        control.clone().into(),
        "--".into(),
        setup.server.program.clone().into(),
    ]);
    argv.extend(setup.server.args.iter().cloned());
    let (mut supervisor, pid) = spawn_ready(&setup.changeover, &argv, &rx, setup.deadline).await?;
    // Keep reading what the supervisor reports on every reload.
    let drain = tokio::spawn(async move { while rx.recv().await.is_ok() {} });
    let steady = steady_p99(port, setup).await?;
    let driven = Driven::start(port, setup).await?;
    for n in 1..=setup.restarts {
        let out = Command::new(&setup.changeover)
            .arg("reload")
            .arg("--wait")
            .arg("--control")
            .arg(&control)
            .output()
            .await
            .map_err(|source| ScenarioError::Spawn {
                program: setup.changeover.clone(),
                source,
            })?;
        if !out.status.success() {
            return Err(ScenarioError::Reload {
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
        progress(Progress::Reloaded {
            n,
            of: setup.restarts,
            said: String::from_utf8_lossy(&out.stdout).trim(),
        });
        driven.wait_for_answers().await?;
    }
    let report = driven.stop().await;
    send(pid, Signal::SIGTERM)?;
    supervisor.exited("changeover run", setup.deadline).await?;
    drain.abort();
    scratch.close().map_err(|source| ScenarioError::Setup {
        what: "cannot remove the scratch directory".into(),
        source,
    })?;
    Ok(Outcome {
        scenario: if proxy {
            Scenario::ProxyReload
        } else {
            Scenario::SupervisorReload
        },
        restarts: setup.restarts,
        report,
        steady_p99: Some(steady),
    })
}
