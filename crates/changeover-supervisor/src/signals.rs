//! Every signal the supervisor receives, received here and turned into an
//! [`Event`] for the state machine.
//!
//! | signal | event |
//! | --- | --- |
//! | SIGTERM, SIGINT | [`Event::Stop`] |
//! | the reload signal (SIGHUP by default) | [`Event::Reload`] |
//! | SIGCHLD | one [`Event::Exited`] per process reaped |
//! | [`FORWARDED`] (less the reload signal) | [`Event::Forward`] to the current child |
//!
//! Left alone, with their default actions: the synchronous fault signals
//! (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS), which are
//! about the supervisor itself; the job-control stops (SIGTSTP, SIGTTIN,
//! SIGTTOU), so that Ctrl-Z suspends the supervisor in a terminal as it
//! would any command; and SIGPIPE, which the Rust runtime ignores. SIGKILL
//! and SIGSTOP cannot be caught. A child's signal dispositions and mask are
//! reset to the defaults before it executes.

use std::io;

use nix::sys::signal::Signal;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc::UnboundedSender;

use crate::machine::Event;
use crate::process::reap_all;

/// Signals passed on to the current child (the reload signal is not among
/// them when it is one of these).
pub const FORWARDED: &[Signal] = &[
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGALRM,
    Signal::SIGWINCH,
    Signal::SIGCONT,
    Signal::SIGURG,
    Signal::SIGIO,
    Signal::SIGPWR,
    Signal::SIGVTALRM,
    Signal::SIGPROF,
    Signal::SIGXCPU,
    Signal::SIGXFSZ,
    Signal::SIGSTKFLT,
];

/// What one delivery of `signal` means.
pub fn events_for(signal: Signal, reload: Signal) -> Vec<Event> {
    match signal {
        Signal::SIGCHLD => reap_all()
            .into_iter()
            .map(|(pid, status)| Event::Exited { pid, status })
            .collect(),
        Signal::SIGTERM | Signal::SIGINT => vec![Event::Stop(signal)],
        s if s == reload => vec![Event::Reload {
            wait: false,
            reply: None,
        }],
        s => vec![Event::Forward(s)],
    }
}

/// Installs a handler for every signal in the table above and sends what
/// each means to `events`. Must be called inside a tokio runtime, before
/// the first child is started.
pub fn listen(reload: Signal, events: UnboundedSender<Event>) -> io::Result<()> {
    let mut wanted = vec![Signal::SIGCHLD, Signal::SIGTERM, Signal::SIGINT, reload];
    for s in FORWARDED {
        if !wanted.contains(s) {
            wanted.push(*s);
        }
    }
    for sig in wanted {
        let mut stream = signal(SignalKind::from_raw(sig as i32)).map_err(|e| {
            io::Error::new(e.kind(), format!("cannot handle {}: {e}", sig.as_str()))
        })?;
        let events = events.clone();
        tokio::spawn(async move {
            while stream.recv().await.is_some() {
                for event in events_for(sig, reload) {
                    if events.send(event).is_err() {
                        // The state machine is gone: the supervisor is exiting.
                        return;
                    }
                }
            }
        });
    }
    Ok(())
}
