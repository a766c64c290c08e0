//! The pods' addresses: a block 127.0.K.1–254 of the loopback network for one run, so that
//! many pods share a port as in a cluster and two runs at once never collide.
//!
//! A run claims its block by binding (not listening on) 127.0.K.0 at the pods' port; another
//! run that wants the same block and port gets `EADDRINUSE` and moves on to the next K. The
//! claim lasts as long as the [`Network`] value.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use socket2::{Domain, Socket, Type};

/// The most pods one block holds.
pub const MAX_PODS: u32 = 254;

/// A claimed block of addresses.
#[derive(Debug)]
pub struct Network {
    block: u8,
    port: u16,
    _claim: Socket,
}

impl Network {
    /// Claims the first free block for pods listening on `port`.
    pub fn claim(port: u16) -> io::Result<Network> {
        let mut last = None;
        for block in 1..=254u8 {
            let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
            let addr = SocketAddrV4::new(Ipv4Addr::new(127, 0, block, 0), port);
            match socket.bind(&addr.into()) {
                Ok(()) => {
                    return Ok(Network {
                        block,
                        port,
                        _claim: socket,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("no free address block")))
    }

    /// The address of pod number `ordinal` (from 1), if the block has room for it.
    pub fn pod_addr(&self, ordinal: u32) -> Option<SocketAddr> {
        let last = u8::try_from(ordinal)
            .ok()
            .filter(|&n| n >= 1 && u32::from(n) <= MAX_PODS)?;
        Some(SocketAddr::V4(SocketAddrV4::new(
            Ipv4Addr::new(127, 0, self.block, last),
            self.port,
        )))
    }

    /// `127.0.K.0/24`.
    pub fn describe(&self) -> String {
        format!("127.0.{}.0/24", self.block)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_claims_of_one_port_get_different_blocks() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let a = Network::claim(port).unwrap();
        let b = Network::claim(port).unwrap();
        assert_ne!(a.pod_addr(1), b.pod_addr(1));
        assert_eq!(a.pod_addr(255), None);
        // A pod can listen on its own address inside a claimed block.
        let addr = a.pod_addr(3).unwrap();
        std::net::TcpListener::bind(addr).unwrap();
    }
}
