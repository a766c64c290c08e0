//! Inherited sockets: the `LISTEN_*` variables read and checked, the fds
//! at 3, 4, … taken over (close-on-exec set), each checked to be a
//! listening stream socket.

use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use socket2::{Socket, Type};

use super::Listener;
use super::error::ListenError;
use crate::addr::ListenAddr;
use crate::spawn::LISTEN_FDS_START;

/// The `LISTEN_*` variables as found in the environment.
#[derive(Debug, Clone, Default)]
pub struct ListenEnv {
    /// `LISTEN_PID`.
    pub pid: Option<String>,
    /// `LISTEN_FDS`.
    pub fds: Option<String>,
    /// `LISTEN_FDNAMES`.
    pub names: Option<String>,
}

impl ListenEnv {
    /// Reads the variables of this process.
    pub fn from_process() -> ListenEnv {
        let var = |k| std::env::var_os(k).map(|v| v.to_string_lossy().into_owned());
        ListenEnv {
            pid: var("LISTEN_PID"),
            fds: var("LISTEN_FDS"),
            names: var("LISTEN_FDNAMES"),
        }
    }

    /// The fds and names meant for process `my_pid`, checked for form only.
    ///
    /// No `LISTEN_FDS`, or a `LISTEN_PID` of another process, means none.
    pub fn parse(&self, my_pid: u32) -> Result<Vec<(RawFd, String)>, ListenError> {
        let env_err = |var, value: &str, problem: &str| ListenError::Env {
            var,
            value: value.to_owned(),
            problem: problem.to_owned(),
        };
        let Some(fds) = &self.fds else {
            return Ok(Vec::new());
        };
        match &self.pid {
            None => {
                return Err(env_err(
                    "LISTEN_PID",
                    "",
                    "it is unset while LISTEN_FDS is set, so nobody can tell whom the sockets are for",
                ));
            }
            Some(pid) => {
                let pid: u32 = pid
                    .trim()
                    .parse()
                    .map_err(|_| env_err("LISTEN_PID", pid, "it is not a process id"))?;
                if pid != my_pid {
                    tracing::debug!(
                        listen_pid = pid,
                        my_pid,
                        "LISTEN_PID names another process; ignoring LISTEN_FDS"
                    );
                    return Ok(Vec::new());
                }
            }
        }
        let count: RawFd = fds
            .trim()
            .parse()
            .map_err(|_| env_err("LISTEN_FDS", fds, "it is not a number"))?;
        if !(0..=4096).contains(&count) {
            return Err(env_err("LISTEN_FDS", fds, "it is not between 0 and 4096"));
        }
        let names: Vec<String> = match &self.names {
            None => vec!["unknown".to_owned(); count as usize],
            Some(names) => {
                let names: Vec<String> = names.split(':').map(str::to_owned).collect();
                if names.len() != count as usize {
                    return Err(env_err(
                        "LISTEN_FDNAMES",
                        self.names.as_deref().unwrap_or_default(),
                        &format!("it has {} names for {count} sockets", names.len()),
                    ));
                }
                names
            }
        };
        Ok(names
            .into_iter()
            .enumerate()
            .map(|(i, name)| (LISTEN_FDS_START + i as RawFd, name))
            .collect())
    }
}

/// The sockets this process inherited and has not yet handed out.
#[derive(Debug, Default)]
pub struct Inherited {
    sockets: Vec<(String, Socket, ListenAddr)>,
}

impl Inherited {
    /// Takes ownership of the fds announced in `env` for this process, after
    /// checking each is an open listening stream socket, and marks them
    /// close-on-exec (a successor gets them only when passed on on purpose).
    pub fn adopt(env: &ListenEnv) -> Result<Inherited, ListenError> {
        let mut sockets = Vec::new();
        for (fd, name) in env.parse(std::process::id())? {
            let bad = |problem: &str| ListenError::BadFd {
                fd,
                problem: problem.to_owned(),
            };
            // SAFETY: only looks at the flags of an fd number; fails with EBADF when it is not open.
            let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
            let flags = fcntl(borrowed, FcntlArg::F_GETFD).map_err(|_| bad("is not open"))?;
            let mut flags = FdFlag::from_bits_truncate(flags);
            flags.insert(FdFlag::FD_CLOEXEC);
            fcntl(borrowed, FcntlArg::F_SETFD(flags)).map_err(|e| bad(&e.to_string()))?;
            // SAFETY: the fd is open and, by the protocol, handed to this process to own.
            let socket = Socket::from(unsafe { OwnedFd::from_raw_fd(fd) });
            let local = classify(&socket).map_err(|p| bad(&p))?;
            tracing::debug!(fd, name = %name, addr = %local, "inherited listener");
            sockets.push((name, socket, local));
        }
        Ok(Inherited { sockets })
    }

    /// How many inherited sockets are still unclaimed.
    pub fn len(&self) -> usize {
        self.sockets.len()
    }

    /// Whether none is left.
    pub fn is_empty(&self) -> bool {
        self.sockets.is_empty()
    }

    /// Takes the socket of this name; or, when exactly one socket was
    /// inherited and none has this name, that one.
    pub fn take(&mut self, name: &str) -> Option<Listener> {
        let i = self
            .sockets
            .iter()
            .position(|(n, ..)| n == name)
            .or_else(|| (self.sockets.len() == 1).then_some(0))?;
        let (_, socket, local) = self.sockets.remove(i);
        Some(Listener {
            name: name.to_owned(),
            socket,
            local,
            inherited: true,
        })
    }

    /// Closes every socket nobody asked for, returning their names.
    pub fn close_unclaimed(&mut self) -> Vec<String> {
        self.sockets.drain(..).map(|(name, ..)| name).collect()
    }
}

fn classify(socket: &Socket) -> Result<ListenAddr, String> {
    let ty = socket
        .r#type()
        .map_err(|e| format!("is not a socket ({e})"))?;
    if ty != Type::STREAM {
        return Err("is not a stream socket".into());
    }
    if !socket.is_listener().map_err(|e| e.to_string())? {
        return Err("is not listening (listen() was never called on it)".into());
    }
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    if let Some(addr) = local.as_socket() {
        Ok(ListenAddr::Tcp(addr))
    } else if local.is_unix() {
        Ok(ListenAddr::Unix(
            local.as_pathname().map(PathBuf::from).unwrap_or_default(),
        ))
    } else {
        Err("is neither a TCP nor a Unix socket".into())
    }
}
