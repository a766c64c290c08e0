//! `changeover sim` through the binary, with `examples/hello` as the pods. One file per contract:
//!
//! - `with_a_stop_delay`: a delete, a drain and a rollout fail no request, within the rollout's
//!   and the budget's limits; `changeover run` with `changeover prestop` as the hook works too;
//! - `failures`: without a stop delay, with a grace period shorter than the drain, or with
//!   Recreate, requests fail, and each failure is put down to its pod and its cause;
//! - `bad_input`: status 2 and one line naming the problem.
//!
//! `harness` builds the manifests and reads the reports for all of them. Manifests use few
//! replicas and 1 s probe periods so that each run takes seconds; the load is an open loop of a
//! few hundred requests per second, gentle on a shared machine. One test binary, so the files
//! link once.

#[path = "../support/mod.rs"]
mod support;

mod bad_input;
mod failures;
mod harness;
mod with_a_stop_delay;
