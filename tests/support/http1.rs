//! Plain HTTP/1.1 over a raw socket, for tests that must control every
//! byte (half a request head, a request into an idle connection), and a
//! look at a server socket's unread bytes.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One response: status, whether it asked to close, and the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Whether it carried `Connection: close`.
    pub close: bool,
    /// The body (Content-Length bodies, which is all `hello` sends).
    pub body: String,
}

/// Sends one GET of `path` on `conn` and reads its whole response.
pub async fn get_on(conn: &mut TcpStream, path: &str) -> io::Result<Response> {
    conn.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
        .await?;
    read_response(conn).await
}

/// Reads one whole response from `conn`; `UnexpectedEof` when the server
/// closed before a whole one came.
pub async fn read_response(conn: &mut TcpStream) -> io::Result<Response> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let head = text[..end].to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().expect("a numeric Content-Length"))
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return Ok(Response {
                    status: head[9..12].parse().expect("a status code"),
                    close: head.contains("connection: close"),
                    body: text[end + 4..].to_owned(),
                });
            }
        }
    }
}

/// Sends one GET of `path` on a new connection to 127.0.0.1:`port`.
pub async fn get(port: u16, path: &str) -> io::Result<Response> {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).await?;
    get_on(&mut conn, path).await
}

/// How many bytes the server's end of the connection from `client` to
/// 127.0.0.1:`server_port` holds unread in the kernel (`/proc/net/tcp`);
/// `None` when there is no such socket.
pub fn unread_by_server(server_port: u16, client: &TcpStream) -> Option<u64> {
    let client_port = client.local_addr().ok()?.port();
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    // local 0100007F:<server port>, remote 0100007F:<client port>, in hex.
    let local = format!("0100007F:{server_port:04X}");
    let remote = format!("0100007F:{client_port:04X}");
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) == Some(&local.as_str()) && fields.get(2) == Some(&remote.as_str()) {
            let queues = fields.get(4)?;
            u64::from_str_radix(queues.split(':').nth(1)?, 16).ok()
        } else {
            None
        }
    })
}
