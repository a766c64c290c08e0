//! One thread that lives as long as the process, to fork children that
//! must die with it.
//!
//! `PR_SET_PDEATHSIG` fires when the *thread* that forked the child ends,
//! not the process: a child forked from a tokio worker or blocking thread
//! (blocking threads end after ten idle seconds; workers end with their
//! runtime) would be killed while its parent lives on. So children with a
//! death signal are forked here, on a thread that never returns: it ends
//! only when the whole process does, which is exactly when the signal
//! should fire.

use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::mpsc;
use std::thread::ThreadId;

type Job = Box<dyn FnOnce() + Send>;

struct Forker {
    jobs: mpsc::Sender<Job>,
    thread: ThreadId,
}

/// Started on first use; never stopped (the sender is never dropped, so the
/// thread's loop never ends).
static FORKER: Mutex<Option<Forker>> = Mutex::new(None);

/// Runs `f` on the forking thread and returns what it returned.
///
/// Fails only when the thread cannot be started, or when `f` panicked
/// (the thread itself survives a panic: its children depend on it).
pub(super) fn run<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> io::Result<T> {
    let jobs = {
        // The guarded data is replaced whole or not at all: a panic
        // elsewhere leaves nothing inconsistent.
        let mut forker = FORKER.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f2) = forker.as_ref() {
            if f2.thread == std::thread::current().id() {
                drop(forker);
                return Ok(f());
            }
        }
        match forker.as_ref() {
            Some(f) => f.jobs.clone(),
            None => {
                let (tx, rx) = mpsc::channel::<Job>();
                let handle = std::thread::Builder::new()
                    .name("changeover-fork".into())
                    .stack_size(256 * 1024)
                    .spawn(move || {
                        for job in rx {
                            // A panic in one start must not end the thread,
                            // which would kill every child it forked.
                            if catch_unwind(AssertUnwindSafe(job)).is_err() {
                                tracing::error!("starting a child panicked");
                            }
                        }
                    })?;
                *forker = Some(Forker {
                    jobs: tx.clone(),
                    thread: handle.thread().id(),
                });
                tx
            }
        }
    };
    let (reply, answer) = mpsc::sync_channel(1);
    jobs.send(Box::new(move || {
        // The caller waits for this answer; it only goes unheard if the
        // caller itself panicked meanwhile.
        if reply.send(f()).is_err() {
            tracing::debug!("a child was started for a caller that went away");
        }
    }))
    .map_err(|_| io::Error::other("the forking thread is gone"))?;
    answer
        .recv()
        .map_err(|_| io::Error::other("starting the child panicked on the forking thread"))
}
