//! An HTTP/1.1 load driver that counts every failed request.
//!
//! changeover's promise is that a server restarts or stops without failing a single request.
//! This crate proves it: it drives load at a server while the server restarts and classifies
//! the outcome of every request, so a test can assert that the failure count is exactly zero.
//!
//! It speaks plain HTTP/1.1 over raw tokio TCP or Unix stream sockets (hand-written `GET`
//! requests, responses parsed with `httparse`, bodies by `Content-Length`, chunked, or until
//! EOF) and never retries: a request that fails is counted as failed.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use changeover_load::{Config, Target};
//!
//! # async fn restart_the_server() {}
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let target = Target::parse("http://127.0.0.1:8080/")?;
//! let config = Config {
//!     connections: 16,
//!     // A safety bound: stop() below normally ends the run long before.
//!     duration: Some(Duration::from_secs(60)),
//!     ..Config::new(target)
//! };
//! let load = changeover_load::start(config)?;
//!
//! // Wait for the load to be flowing (woken by every response; no sleeping).
//! load.wait_for_ok(200, Duration::from_secs(10)).await?;
//! load.mark("restart");
//! restart_the_server().await;
//! load.mark("restarted");
//! load.wait_for_ok(load.snapshot().ok + 200, Duration::from_secs(10)).await?;
//!
//! let report = load.stop().await;
//! println!("{}", report.summary());
//! assert_eq!(report.failed(), 0, "{}", report.summary());
//! println!("{}", serde_json::to_string(&report)?);
//! # Ok(())
//! # }
//! ```
//!
//! # How a run works
//!
//! [`start`] spawns one task per connection, on the caller's tokio runtime or, with
//! [`Config::threads`], spread over threads of their own with a single-threaded runtime each
//! (one event loop per thread, as wrk does). In the closed loop (no [`Config::rate`]) a
//! connection sends its next request as soon as the previous response is complete. In the
//! open loop a rate of `r` requests/s over `n` connections gives each connection one send slot
//! every `n / r` seconds (connections staggered evenly); a connection still has at most one
//! request in flight, so when a response takes longer than the interval the next request goes
//! out at once and the schedule shifts (no catch-up burst). Latency is measured from writing
//! the request, not corrected for coordinated omission.
//!
//! A run ends at its [`Config::duration`], after [`Config::max_requests`] requests, on
//! [`LoadHandle::stop`], or when the handle is dropped; with no duration it still ends after
//! [`Config::RUN_LIMIT`]. Ending never fails a request: no new request starts, and requests
//! already written finish, bounded by [`Config::timeout`].
//!
//! # Events, the timeline, and disturbing the server on a schedule
//!
//! [`LoadHandle::mark`] records an [`Event`]; so does every run of a [`During`] command
//! ([`Config::during`]: `sh -c COMMAND` every so often, runs never overlapping, each event
//! carrying its [`CommandRun`]: exit status, duration, and the end of its output when it
//! failed). [`Report::timeline`] counts the requests ended in each second, and splits a second
//! at every event in it, so each failure is counted after the event that preceded it:
//! [`Report::failed_after`] gives the failures that followed one event, and
//! [`Report::timeline_text`] prints the table with the events in place.
//!
//! [`LoadHandle::control`] gives a cloneable [`Control`] to watch the counts and stop the run
//! from another task (a progress line, a signal handler) while the handle waits in
//! [`LoadHandle::finished`]; [`Control::stop_now`] is the impatient second Ctrl-C. [`probe`]
//! sends one request first, to tell "nobody is listening" apart from a run's failures.
//!
//! # Classification
//!
//! Every request ends `Ok` (complete response, status 2xx) or as exactly one [`FailureKind`]:
//! `BadStatus` (complete, non-2xx; also counted per status), `Refused` (connect got
//! `ECONNREFUSED`), `Connect` (other connect errors), `Reset` (`ECONNRESET`/`EPIPE` while writing
//! or reading), `Closed` (EOF after the request was written and before the response was
//! complete), `Timeout` (no complete response within the timeout, connect included),
//! `Protocol` (not valid HTTP/1.x) or `Io` (any other I/O error).
//!
//! Connections:
//! - A response with `Connection: close` (or an HTTP/1.0 response without keep-alive, or a body
//!   delimited by EOF) ends its connection; the next request opens a new one. Not a failure.
//! - With [`Config::keep_alive`] off, every request carries `Connection: close` and gets a
//!   connection of its own.
//! - A keep-alive connection the server closed while it was idle, discovered when the next
//!   request is written or its response read, **is** a failure (`Closed` or `Reset`). The request
//!   is not retried on a new connection: retrying would hide exactly the race that a server
//!   closing keep-alive connections without `Connection: close` causes. In the closed loop there
//!   is no idle time, so this is how a server's close is always discovered (as with wrk).
//! - In the open loop a connection waits idle between slots; if the server closes it during
//!   that wait, the close is seen before any request is written, the connection is replaced at
//!   the next slot, and [`Report::idle_closes`] counts it. No request is involved, so it is not a
//!   failure (the race remains: a close arriving after the request was written still fails it).
//!
//! # Cost
//!
//! Buffers are per connection and reused; a request costs no allocation on the success path
//! (failures format their error text only for the first [`Report::MAX_SAMPLES`]); counters are
//! atomics; each connection buffers its latencies and adds them to one shared histogram a few
//! hundred at a time, so no request takes a lock and a connection costs a few KiB. A
//! connection whose connects are refused at once retries immediately, so a closed port produces
//! failures as fast as the machine can (as wrk does); use [`Config::rate`] to bound that.
//!
//! # Module map
//!
//! From the bottom up; a module uses only modules above it (no import cycle):
//!
//! | module | owns |
//! | --- | --- |
//! | `outcome`, `target`, `sync` | [`FailureKind`]/[`FailureCounts`]; [`Target`]/[`Endpoint`]; a poison-tolerant lock |
//! | `stop` | the two stop signals (stop issuing, stop now) every part of a run watches |
//! | `events` | [`Event`], [`CommandRun`], [`CommandStatus`], and the event log a run records them in |
//! | `during` | [`During`]: running a command on a schedule, into the event log, until the stop signals |
//! | `config` | [`Config`] and its validation |
//! | `http`, `stream` | one request/response exchange on the wire; a TCP or Unix connection |
//! | `probe` | [`probe`]: one request before a run |
//! | `report`, `render/` | the [`Report`] as data; `render/text.rs` and `render/json.rs` turn it into text and JSON |
//! | `counters`, `timeline`, `latency` | the shared live counts ([`Counts`], waiting on them), the per-second timeline cells, the latency histogram fed in batches |
//! | `state` | what the handle and every connection task of a run share |
//! | `worker` | one connection task: the request loop and its classification |
//! | `handle` | [`LoadHandle`] and [`Control`], and collecting the report |
//! | `start` | [`start`]: spawning the connection tasks, the timer and the schedule |

mod config;
mod counters;
mod during;
mod events;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod handle;
mod http;
mod latency;
mod outcome;
mod probe;
mod render;
mod report;
mod start;
mod state;
mod stop;
mod stream;
mod sync;
mod target;
mod timeline;
mod worker;

pub use config::{Config, ConfigError};
pub use counters::{Counts, WaitError};
pub use during::{During, DuringSummary};
pub use events::{CommandRun, CommandStatus, Event};
pub use handle::{Control, LoadHandle};
pub use outcome::{FailureCounts, FailureKind};
pub use probe::{Probe, ProbeError, probe};
pub use report::{FailureSample, Latency, Report, TimelineEntry};
pub use start::start;
pub use target::{Endpoint, Target, TargetError};
