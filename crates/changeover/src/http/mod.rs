//! Serving hyper/tower (and so axum) services with keep-alive-safe draining.
//!
//! [`Lifecycle::serve`](crate::Lifecycle::serve) hands a listener and a
//! service to this module together with the [drain signals](crate::drain):
//! an accept loop runs until accepting stops, every accepted connection is
//! tracked and served through the whole [drain protocol](crate::drain#one-connection)
//! (lame duck, graceful shutdown, write side first), and the application's
//! service is wrapped so that `/livez` and `/readyz` are answered here and
//! every HTTP/1.1 response carries `Connection: close` once draining began.
//! [`Server`] is the same serve path for a process that runs its own stop
//! sequence (the supervisor's `--proxy`), with a service made per connection
//! from the client's address.
//!
//! The module knows nothing of the lifecycle beyond those signals.
//!
//! An HTTP/2 connection gets no lame-duck window: the moment accepting stops
//! it gets h2's two-step GOAWAY (the highest stream id first, the real last
//! one after a ping round trip), which serves a stream the client is already
//! sending and moves the client on at once; its streams in flight finish.
//! Which protocol a connection speaks is read from its first bytes; an
//! HTTP/1 connection is handed to hyper's HTTP/1 server once its first
//! request head is whole. After a handover, idle HTTP/1.1 connections go to
//! the successor (socket and bytes already read, taken back from hyper),
//! and connections a parent hands over arrive here as if accepted
//! ([drain protocol](crate::drain#handing-idle-connections-over)).

mod accept;
mod after_goaway;
mod connection;
mod server;
mod service;
mod sniff;
mod stream;

pub(crate) use accept::serve;
pub use server::Server;
pub use service::{BoxError, HttpService};
