//! Binding a listening socket here, when none was inherited.

use std::io;

use socket2::{Domain, SockAddr, Socket, Type};

use super::Listener;
use super::error::ListenError;
use crate::addr::ListenAddr;

/// The backlog of sockets bound here: deep enough that a burst arriving
/// during a handover waits in the kernel instead of being refused.
const BACKLOG: i32 = 1024;

/// Binds a new listening socket at `addr`, under this name.
pub fn bind(name: &str, addr: &ListenAddr) -> Result<Listener, ListenError> {
    let err = |source| ListenError::Bind {
        addr: addr.clone(),
        source,
    };
    let (socket, local) = match addr {
        ListenAddr::Tcp(sa) => {
            let socket = Socket::new(Domain::for_address(*sa), Type::STREAM, None).map_err(err)?;
            socket.set_reuse_address(true).map_err(err)?;
            socket.bind(&SockAddr::from(*sa)).map_err(err)?;
            socket.listen(BACKLOG).map_err(err)?;
            let local = socket.local_addr().map_err(err)?.as_socket().unwrap_or(*sa);
            (socket, ListenAddr::Tcp(local))
        }
        ListenAddr::Unix(path) => {
            remove_stale_socket(path).map_err(err)?;
            let socket = Socket::new(Domain::UNIX, Type::STREAM, None).map_err(err)?;
            socket
                .bind(&SockAddr::unix(path).map_err(err)?)
                .map_err(err)?;
            socket.listen(BACKLOG).map_err(err)?;
            (socket, addr.clone())
        }
    };
    Ok(Listener {
        name: name.to_owned(),
        socket,
        local,
        inherited: false,
    })
}

/// A socket file left behind by a process that is gone is removed; one that
/// still has a listener is reported as in use.
fn remove_stale_socket(path: &std::path::Path) -> io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
        Ok(m) if !m.file_type().is_socket() => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "a file that is not a socket is in the way",
        )),
        Ok(_) => match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => Err(io::Error::from(io::ErrorKind::AddrInUse)),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                tracing::debug!(path = %path.display(), "removing stale socket file");
                std::fs::remove_file(path)
            }
            Err(e) => Err(e),
        },
    }
}
