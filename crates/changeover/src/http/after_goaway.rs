//! Frames a client sends on a stream it opened after the server's final
//! GOAWAY, kept from h2.
//!
//! In h2's graceful shutdown the server sends GOAWAY naming the highest
//! stream id, then a PING; once the PING is answered, a second GOAWAY names
//! the last stream it took, and it ignores the HEADERS of any stream opened
//! after. A gRPC client (grpcio) may still open streams right after it
//! answered that PING, and sends a WINDOW_UPDATE on each. h2 0.4 ignores
//! the HEADERS but not the WINDOW_UPDATE: for a stream it ignored, the
//! WINDOW_UPDATE names an "idle" stream, a connection error, and it tears
//! the connection down with GOAWAY `PROTOCOL_ERROR`, failing every stream
//! still in flight on it (seen with 16 grpcio channels: about one upgrade in
//! 180 failed RPCs). Those ignored streams are refused, so the client
//! retries them elsewhere; the ones in flight have no second chance.
//!
//! [`AfterGoaway`] reads the connection's bytes as HTTP/2 frames on their
//! way to h2. Once the shutdown has begun ([`AfterGoaway::armed`]) and the
//! client's answer to h2's shutdown PING went by, every WINDOW_UPDATE on a
//! client stream above the highest one opened before that answer (exactly
//! the streams h2 ignores) is dropped. Before that every byte passes
//! untouched, in place; after it, bytes pass through one copy. h2 keeps
//! HPACK and flow-control state right, as it sees every other frame.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The client connection preface (RFC 9113 §3.4), before the first frame.
const PREFACE_LEN: usize = 24;
const FRAME_HEAD: usize = 9;
const HEADERS: u8 = 0x1;
const PING: u8 = 0x6;
const WINDOW_UPDATE: u8 = 0x8;
const ACK: u8 = 0x1;
/// The payload of the PING h2 (0.4) sends between its two GOAWAYs; it
/// sends every other PING with a different one.
const SHUTDOWN_PING: [u8; 8] = [0x0b, 0x7b, 0xa2, 0xf0, 0x8b, 0x9b, 0xfe, 0x54];

/// An HTTP/2 server connection's IO, with the late WINDOW_UPDATEs h2 would
/// fail the connection on taken out (see the module docs).
pub(super) struct AfterGoaway<T> {
    inner: T,
    armed: Arc<AtomicBool>,
    scan: Scan,
    /// Filtered bytes h2 has not read yet (only once filtering began).
    out: BytesMut,
}

impl<T> AfterGoaway<T> {
    pub(super) fn new(inner: T) -> AfterGoaway<T> {
        AfterGoaway {
            inner,
            armed: Arc::new(AtomicBool::new(false)),
            scan: Scan::default(),
            out: BytesMut::new(),
        }
    }

    /// Set it before asking h2 for its graceful shutdown: from then on the
    /// client's answer to the shutdown PING starts the filtering.
    pub(super) fn armed(&self) -> Arc<AtomicBool> {
        self.armed.clone()
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for AfterGoaway<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.out.is_empty() {
                let n = this.out.len().min(buf.remaining());
                buf.put_slice(&this.out[..n]);
                this.out.advance(n);
                return Poll::Ready(Ok(()));
            }
            let start = buf.filled().len();
            std::task::ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
            let read = &buf.filled()[start..];
            if read.is_empty() {
                // End of stream (or no room to read into): as it is.
                return Poll::Ready(Ok(()));
            }
            let out = &mut this.out;
            if this.scan.filtering() {
                this.scan
                    .scan(read, false, |kept| out.extend_from_slice(kept));
                buf.set_filled(start);
                // Everything read may have been dropped: read again rather
                // than hand h2 nothing, which it would take for the end.
                continue;
            }
            let armed = this.armed.load(Ordering::Relaxed);
            if let Some(at) = this.scan.scan(read, armed, |_| {}) {
                // The rest goes through the filter, into our own buffer.
                this.scan
                    .scan(&read[at..], false, |kept| out.extend_from_slice(kept));
                buf.set_filled(start + at);
            }
            return Poll::Ready(Ok(()));
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for AfterGoaway<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Where in the byte stream the scan is.
#[derive(Debug)]
enum At {
    /// In the connection preface; this many bytes of it to go.
    Preface(usize),
    /// In a frame header; this much of it read.
    Head([u8; FRAME_HEAD], usize),
    /// In a frame's payload; this many bytes of it to go.
    Payload { left: usize, what: Payload },
}

#[derive(Debug)]
enum Payload {
    Pass,
    Drop,
    /// A PING ACK while armed: its payload, to tell h2's shutdown PING.
    PingAck([u8; 8], usize),
}

/// The frame scan, fed the bytes in order in pieces of any size.
#[derive(Debug)]
struct Scan {
    at: At,
    /// The highest client stream id seen in a HEADERS frame.
    highest_opened: u32,
    /// Once the shutdown PING's answer went by: the highest client stream
    /// opened before it; WINDOW_UPDATEs on client streams above are dropped.
    last: Option<u32>,
}

impl Default for Scan {
    fn default() -> Scan {
        Scan {
            at: At::Preface(PREFACE_LEN),
            highest_opened: 0,
            last: None,
        }
    }
}

impl Scan {
    fn filtering(&self) -> bool {
        self.last.is_some()
    }

    /// Scans `input`, handing each kept piece to `keep`. While not yet
    /// filtering every byte is kept; a frame header is handed over whole,
    /// once complete, so a frame can be dropped from its first byte. With
    /// `armed` (the shutdown began), a PING ACK is looked at: returns the
    /// offset just past the shutdown PING's answer when it is in `input`
    /// (the scan stops there: the rest is to be filtered).
    fn scan(&mut self, input: &[u8], armed: bool, mut keep: impl FnMut(&[u8])) -> Option<usize> {
        let mut i = 0;
        while i < input.len() {
            let rest = &input[i..];
            match &mut self.at {
                At::Preface(left) => {
                    let n = (*left).min(rest.len());
                    keep(&rest[..n]);
                    *left -= n;
                    i += n;
                    if *left == 0 {
                        self.at = At::Head([0; FRAME_HEAD], 0);
                    }
                }
                At::Head(head, have) => {
                    let n = (FRAME_HEAD - *have).min(rest.len());
                    head[*have..*have + n].copy_from_slice(&rest[..n]);
                    *have += n;
                    i += n;
                    if *have == FRAME_HEAD {
                        let head = *head;
                        self.at = self.begin(&head, armed);
                        if !matches!(
                            self.at,
                            At::Payload {
                                what: Payload::Drop,
                                ..
                            }
                        ) {
                            keep(&head);
                        }
                    }
                }
                At::Payload { left, what } => {
                    let n = (*left).min(rest.len());
                    match what {
                        Payload::Drop => {}
                        Payload::Pass => keep(&rest[..n]),
                        Payload::PingAck(payload, have) => {
                            payload[*have..*have + n].copy_from_slice(&rest[..n]);
                            *have += n;
                            keep(&rest[..n]);
                        }
                    }
                    *left -= n;
                    i += n;
                    if *left == 0 {
                        let shutdown_answered =
                            matches!(what, Payload::PingAck(p, _) if *p == SHUTDOWN_PING);
                        self.at = At::Head([0; FRAME_HEAD], 0);
                        if shutdown_answered {
                            self.last = Some(self.highest_opened);
                            return Some(i);
                        }
                    }
                }
            }
        }
        None
    }

    /// What follows a complete frame header.
    fn begin(&mut self, head: &[u8; FRAME_HEAD], armed: bool) -> At {
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let (kind, flags) = (head[3], head[4]);
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let client_stream = stream % 2 == 1;
        let what = match self.last {
            None if kind == HEADERS && client_stream => {
                self.highest_opened = self.highest_opened.max(stream);
                Payload::Pass
            }
            None if armed && kind == PING && flags & ACK != 0 && len == 8 => {
                Payload::PingAck([0; 8], 0)
            }
            Some(last) if kind == WINDOW_UPDATE && client_stream && stream > last => Payload::Drop,
            _ => Payload::Pass,
        };
        if len == 0 {
            At::Head([0; FRAME_HEAD], 0)
        } else {
            At::Payload { left: len, what }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFACE: &[u8; PREFACE_LEN] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn window_update(stream: u32) -> Vec<u8> {
        frame(WINDOW_UPDATE, 0, stream, &5u32.to_be_bytes())
    }

    fn headers(stream: u32) -> Vec<u8> {
        frame(HEADERS, 0x4, stream, &[0x82, 0x86, 0x84])
    }

    /// The bytes up to the shutdown PING's answer, and those after it, as
    /// grpcio sent them when h2 failed the connection.
    fn shutdown_sequence() -> (Vec<u8>, Vec<u8>) {
        let mut before = PREFACE.to_vec();
        before.extend(frame(0x4, 0, 0, &[]));
        before.extend(headers(1));
        before.extend(window_update(1));
        before.extend(headers(3));
        before.extend(frame(PING, ACK, 0, &SHUTDOWN_PING));
        let mut after = window_update(3);
        after.extend(headers(5));
        after.extend(window_update(5));
        after.extend(window_update(0));
        after.extend(frame(0x0, 0x1, 3, b"data"));
        (before, after)
    }

    /// What `AfterGoaway` hands h2 for `input` read in pieces of `chunk`.
    fn through(input: &[u8], armed: bool, chunk: usize) -> Vec<u8> {
        let mut scan = Scan::default();
        let mut seen = Vec::new();
        for piece in input.chunks(chunk) {
            if scan.filtering() {
                scan.scan(piece, false, |kept| seen.extend_from_slice(kept));
            } else if let Some(at) = scan.scan(piece, armed, |_| {}) {
                seen.extend_from_slice(&piece[..at]);
                scan.scan(&piece[at..], false, |kept| seen.extend_from_slice(kept));
            } else {
                seen.extend_from_slice(piece);
            }
        }
        seen
    }

    #[test]
    fn after_the_shutdown_ping_only_window_updates_on_streams_not_opened_are_dropped() {
        let (before, after) = shutdown_sequence();
        let mut expected = before.clone();
        expected.extend(window_update(3));
        expected.extend(headers(5));
        expected.extend(window_update(0));
        expected.extend(frame(0x0, 0x1, 3, b"data"));
        let mut input = before;
        input.extend(&after);
        for chunk in [1, 2, 7, 9, 13, 64, input.len()] {
            assert_eq!(
                through(&input, true, chunk),
                expected,
                "fed {chunk} at a time"
            );
        }
    }

    #[test]
    fn nothing_is_dropped_before_the_shutdown_began() {
        let (before, after) = shutdown_sequence();
        let mut input = before;
        input.extend(&after);
        for chunk in [1, 5, input.len()] {
            assert_eq!(
                through(&input, false, chunk),
                input,
                "fed {chunk} at a time"
            );
        }
    }

    #[test]
    fn a_ping_answer_with_another_payload_starts_nothing() {
        let mut input = PREFACE.to_vec();
        input.extend(headers(1));
        input.extend(frame(PING, ACK, 0, &[1, 2, 3, 4, 5, 6, 7, 8]));
        input.extend(frame(PING, 0, 0, &SHUTDOWN_PING));
        input.extend(headers(3));
        input.extend(window_update(3));
        input.extend(window_update(7));
        assert_eq!(through(&input, true, 3), input);
    }

    #[test]
    fn a_large_frame_payload_is_skipped_by_its_length_not_parsed() {
        // A DATA payload that looks like frames is not taken for them.
        let fake = [frame(PING, ACK, 0, &SHUTDOWN_PING), window_update(9)].concat();
        let mut input = PREFACE.to_vec();
        input.extend(frame(0x0, 0, 1, &fake));
        input.extend(window_update(9));
        assert_eq!(through(&input, true, 4), input);
    }

    #[tokio::test]
    async fn the_reader_hands_h2_the_filtered_stream_and_never_an_empty_read() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (before, after) = shutdown_sequence();
        let (mut client, server) = tokio::io::duplex(64);
        let mut io = AfterGoaway::new(server);
        io.armed().store(true, Ordering::Relaxed);
        let writer = tokio::spawn(async move {
            client.write_all(&before).await.unwrap();
            client.write_all(&after).await.unwrap();
            // Only dropped frames, then the end: h2 must see the end, once.
            client.write_all(&window_update(11)).await.unwrap();
            client.shutdown().await.unwrap();
            client
        });
        let mut got = Vec::new();
        io.read_to_end(&mut got).await.unwrap();
        let _client = writer.await.unwrap();
        let (before, _) = shutdown_sequence();
        let mut expected = before;
        expected.extend(window_update(3));
        expected.extend(headers(5));
        expected.extend(window_update(0));
        expected.extend(frame(0x0, 0x1, 3, b"data"));
        assert_eq!(got, expected);
    }
}
