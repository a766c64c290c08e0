//! HTTP/2 frames on a raw socket (RFC 9113), as few as the tests and
//! benches need: to drive a server's drain frame by frame, or to send
//! requests with nothing but the protocol in between.

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// The client connection preface.
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Frame types.
pub const DATA: u8 = 0x0;
/// Frame types.
pub const HEADERS: u8 = 0x1;
/// Frame types.
pub const RST_STREAM: u8 = 0x3;
/// Frame types.
pub const SETTINGS: u8 = 0x4;
/// Frame types.
pub const PING: u8 = 0x6;
/// Frame types.
pub const GOAWAY: u8 = 0x7;
/// Frame types.
pub const WINDOW_UPDATE: u8 = 0x8;
/// Flags: END_STREAM (DATA, HEADERS).
pub const END_STREAM: u8 = 0x1;
/// Flags: END_HEADERS (HEADERS).
pub const END_HEADERS: u8 = 0x4;
/// Flags: ACK (SETTINGS, PING).
pub const ACK: u8 = 0x1;

/// A frame's bytes.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// `GET path` on `stream` to `:authority` 127.0.0.1, the whole request:
/// HPACK with static-table names, `/` indexed, any other path a literal.
pub fn get(stream: u32, path: &str) -> Vec<u8> {
    let authority = b"127.0.0.1";
    let mut block = vec![0x82, 0x86];
    if path == "/" {
        block.push(0x84);
    } else {
        block.extend_from_slice(&[0x04, path.len() as u8]);
        block.extend_from_slice(path.as_bytes());
    }
    block.extend_from_slice(&[0x01, authority.len() as u8]);
    block.extend_from_slice(authority);
    frame(HEADERS, END_STREAM | END_HEADERS, stream, &block)
}

/// A frame as read.
pub struct Frame {
    /// Its type.
    pub kind: u8,
    /// Its flags.
    pub flags: u8,
    /// Its stream id.
    pub stream: u32,
    /// Its payload.
    pub payload: Vec<u8>,
}

impl Frame {
    /// Whether it ends the response on `stream` (DATA or HEADERS with END_STREAM).
    pub fn ends(&self, stream: u32) -> bool {
        self.stream == stream
            && (self.kind == DATA || self.kind == HEADERS)
            && self.flags & END_STREAM != 0
    }
}

/// The next frame, or `None` at a clean end of stream (FIN; a reset is an error).
pub async fn read_frame(s: &mut TcpStream) -> std::io::Result<Option<Frame>> {
    let mut head = [0u8; 9];
    match s.read_exact(&mut head).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).await?;
    Ok(Some(Frame {
        kind: head[3],
        flags: head[4],
        stream: u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff,
        payload,
    }))
}
