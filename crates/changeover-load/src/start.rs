//! Starting a run: [`start`] checks the [`Config`], builds the shared [`RunState`], and spawns
//! the connection tasks (on the caller's runtime or on threads of their own), the run-limit
//! timer and the [`During`](crate::During) schedule.

use std::sync::Arc;

use tokio::runtime::Runtime;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};

use crate::counters::Counters;
use crate::during::run_schedule;
use crate::events::EventLog;
use crate::http::build_request;
use crate::latency::SharedHistogram;
use crate::state::RunState;
use crate::stop::StopSignals;
use crate::timeline::TimelineCells;
use crate::worker::{ConnTally, Worker};
use crate::{Config, ConfigError, LoadHandle};

/// Starts a load run: spawns one task per connection (on the current tokio runtime, or on
/// [`Config::threads`] threads of their own), a timer, and the [`Config::during`] schedule, and
/// returns at once.
///
/// # Errors
///
/// [`ConfigError`] when `config` is invalid (see [`Config::validate`]), or
/// [`ConfigError::Threads`] when a load thread cannot be started.
///
/// # Panics
///
/// When called outside a tokio runtime (the runtime needs its I/O and time drivers enabled).
pub fn start(config: Config) -> Result<LoadHandle, ConfigError> {
    config.validate()?;
    // The load threads' runtimes, built first so that a failure starts nothing.
    let runtimes = match config.threads {
        None => Vec::new(),
        Some(n) => (0..n.min(config.connections))
            .map(|_| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| ConfigError::Threads(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    let start = Instant::now();
    let connections = config.connections;
    let state = Arc::new(RunState {
        start,
        stop: StopSignals::default(),
        counters: Arc::new(Counters::new(connections, config.max_requests)),
        events: Arc::new(EventLog::new(start)),
        timeline: TimelineCells::default(),
        latency: SharedHistogram::new(config.timeout),
    });

    let end = config.duration.and_then(|d| start.checked_add(d));
    let limited = end.is_none();
    let end = end.unwrap_or(start + Config::RUN_LIMIT);
    let (stop, events) = (state.stop.clone(), state.events.clone());
    tokio::spawn(async move {
        tokio::select! {
            () = sleep_until(end) => {
                if limited {
                    events.mark("run limit reached".to_string());
                }
                stop.stop();
            }
            () = stop.stopping() => {}
        }
    });

    let request: Arc<[u8]> = build_request(&config.target, config.keep_alive).into();
    let period = config.rate.and_then(|r| config.pace_interval(r));
    let workers: Vec<Worker> = (0..connections)
        .map(|index| {
            let pace = period.map(|p| (start + p.mul_f64(index as f64 / connections as f64), p));
            Worker::new(
                index,
                state.clone(),
                config.target.endpoint().clone(),
                request.clone(),
                config.keep_alive,
                config.timeout,
                pace,
            )
        })
        .collect();
    let workers = if runtimes.is_empty() {
        workers.into_iter().map(|w| tokio::spawn(w.run())).collect()
    } else {
        spawn_on_threads(runtimes, workers).inspect_err(|_| state.stop.stop())?
    };
    let schedule = config.during.map(|during| {
        let task = tokio::spawn(run_schedule(
            state.events.clone(),
            state.stop.clone(),
            during.clone(),
            start,
            end,
        ));
        (during, task)
    });
    Ok(LoadHandle::new(state, workers, config.timeout, schedule))
}

/// Spawns the workers round-robin on `runtimes`, each driven by a thread of its own until its
/// last worker ended (one event loop per thread, as wrk does: tokio's multi-thread scheduler
/// shares one I/O driver, which caps connection-heavy loads).
fn spawn_on_threads(
    runtimes: Vec<Runtime>,
    workers: Vec<Worker>,
) -> Result<Vec<JoinHandle<ConnTally>>, ConfigError> {
    let n = runtimes.len();
    let mut alive = Vec::with_capacity(n);
    let mut done = Vec::with_capacity(n);
    for _ in 0..n {
        let (tx, rx) = tokio::sync::mpsc::channel::<()>(1);
        alive.push(tx);
        done.push(rx);
    }
    let handles = workers
        .into_iter()
        .enumerate()
        .map(|(i, worker)| {
            // Each task holds a sender; the thread's receiver ends when the last one is gone.
            let alive = alive[i % n].clone();
            runtimes[i % n].spawn(async move {
                let _alive = alive;
                worker.run().await
            })
        })
        .collect();
    drop(alive);
    for (i, (runtime, mut done)) in runtimes.into_iter().zip(done).enumerate() {
        std::thread::Builder::new()
            .name(format!("load-{i}"))
            .spawn(move || {
                runtime.block_on(async move {
                    // Nothing is ever sent: `recv` returns `None` once every worker of this
                    // thread ended (or was aborted) and dropped its sender.
                    while done.recv().await.is_some() {}
                });
            })
            // The runtime went with the closure, cancelling its workers: their handles
            // resolve at once.
            .map_err(|e| ConfigError::Threads(e.to_string()))?;
    }
    Ok(handles)
}
