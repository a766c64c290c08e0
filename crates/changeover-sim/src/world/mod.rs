//! The real world the model acts on: one process per pod on its own loopback address, its
//! probes and hooks, and a Service address that routes like kube-proxy.

mod checks;
pub mod framing;
pub mod network;
pub mod pods;
pub mod process;
pub mod proxy;
