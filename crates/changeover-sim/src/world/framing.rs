//! Where one HTTP/1.1 response ends, read from the bytes a server sends: the Service address
//! needs it to know whether a request is still waiting for its answer when a connection breaks.
//!
//! Bodies end by `Content-Length`, by the last chunk of `Transfer-Encoding: chunked`, or at the
//! close of the connection; 1xx answers are interim, and 204 and 304 have no body. Requests
//! are `GET`s (the load driver sends nothing else), so no response is to a `HEAD`.

/// The largest response head accepted.
const MAX_HEAD: usize = 64 * 1024;

/// Follows the responses on one connection.
#[derive(Debug, Default)]
pub struct Responses {
    state: State,
    buf: Vec<u8>,
    status: u16,
}

#[derive(Debug, Default)]
enum State {
    #[default]
    Head,
    Body(u64),
    ChunkSize,
    ChunkData(u64),
    ChunkEnd,
    Trailer,
    UntilClose,
}

/// The server sent something that is not HTTP/1.x.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotHttp;

impl Responses {
    /// Reads more of the stream; returns the status of each response it completes.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<Vec<u16>, NotHttp> {
        let mut done = Vec::new();
        while !bytes.is_empty() {
            match self.state {
                State::Head | State::ChunkSize | State::Trailer => {
                    let end = match self.state {
                        State::Head => b"\r\n\r\n".as_slice(),
                        _ => b"\r\n".as_slice(),
                    };
                    let before = self.buf.len();
                    self.buf.extend_from_slice(bytes);
                    let Some(at) = find(&self.buf, end) else {
                        if self.buf.len() > MAX_HEAD {
                            return Err(NotHttp);
                        }
                        return Ok(done);
                    };
                    let used = at + end.len() - before;
                    bytes = &bytes[used..];
                    let line: Vec<u8> = self.buf.drain(..at + end.len()).collect();
                    self.buf.clear();
                    self.after_line(&line, &mut done)?;
                }
                State::Body(left) | State::ChunkData(left) => {
                    let n = (bytes.len() as u64).min(left);
                    bytes = &bytes[n as usize..];
                    let left = left - n;
                    match (&self.state, left) {
                        (State::Body(_), 0) => {
                            done.push(self.status);
                            self.state = State::Head;
                        }
                        (State::Body(_), _) => self.state = State::Body(left),
                        (_, 0) => self.state = State::ChunkEnd,
                        _ => self.state = State::ChunkData(left),
                    }
                }
                State::ChunkEnd => {
                    // The CRLF after a chunk's data.
                    self.buf.push(bytes[0]);
                    bytes = &bytes[1..];
                    if self.buf.len() == 2 {
                        if self.buf != b"\r\n" {
                            return Err(NotHttp);
                        }
                        self.buf.clear();
                        self.state = State::ChunkSize;
                    }
                }
                State::UntilClose => return Ok(done),
            }
        }
        Ok(done)
    }

    fn after_line(&mut self, line: &[u8], done: &mut Vec<u16>) -> Result<(), NotHttp> {
        match self.state {
            State::Head => {
                let mut headers = [httparse::EMPTY_HEADER; 64];
                let mut resp = httparse::Response::new(&mut headers);
                match resp.parse(line) {
                    Ok(httparse::Status::Complete(_)) => {}
                    _ => return Err(NotHttp),
                }
                let status = resp.code.ok_or(NotHttp)?;
                self.status = status;
                if (100..200).contains(&status) {
                    return Ok(()); // interim; the real response follows
                }
                let header = |name: &str| {
                    resp.headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case(name))
                        .map(|h| String::from_utf8_lossy(h.value).trim().to_ascii_lowercase())
                };
                self.state = if status == 204 || status == 304 {
                    done.push(status);
                    State::Head
                } else if header("transfer-encoding").is_some_and(|v| v.ends_with("chunked")) {
                    State::ChunkSize
                } else if let Some(len) = header("content-length") {
                    match len.parse::<u64>().map_err(|_| NotHttp)? {
                        0 => {
                            done.push(status);
                            State::Head
                        }
                        n => State::Body(n),
                    }
                } else {
                    State::UntilClose
                };
            }
            State::ChunkSize => {
                let text = String::from_utf8_lossy(line);
                let size = text.trim().split(';').next().unwrap_or("").trim();
                let size = u64::from_str_radix(size, 16).map_err(|_| NotHttp)?;
                self.state = if size == 0 {
                    State::Trailer
                } else {
                    State::ChunkData(size)
                };
            }
            State::Trailer if line == b"\r\n" => {
                done.push(self.status);
                self.state = State::Head;
            }
            _ => {}
        }
        Ok(())
    }

    /// Whether part of a response has arrived and the rest has not.
    pub fn partial(&self) -> bool {
        !matches!(self.state, State::Head) || !self.buf.is_empty()
    }

    /// The connection closed: the status of a response that ends at the close, if one was
    /// under way.
    pub fn close(&mut self) -> Option<u16> {
        matches!(self.state, State::UntilClose).then(|| {
            self.state = State::Head;
            self.status
        })
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_chunks_and_interim_answers_in_any_split() {
        let stream = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhelloHTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nx-t: 1\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
        for split in 0..stream.len() {
            let mut r = Responses::default();
            let mut got = r.feed(&stream[..split]).unwrap();
            got.extend(r.feed(&stream[split..]).unwrap());
            assert_eq!(got, [200, 503, 204], "split at {split}");
            assert!(!r.partial());
        }
    }

    #[test]
    fn a_body_until_close_and_a_truncated_one() {
        let mut r = Responses::default();
        assert!(
            r.feed(b"HTTP/1.0 200 OK\r\n\r\npartial")
                .unwrap()
                .is_empty()
        );
        assert!(r.partial());
        assert_eq!(r.close(), Some(200));
        let mut r = Responses::default();
        r.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
            .unwrap();
        assert!(r.partial());
        assert_eq!(r.close(), None);
        assert_eq!(
            Responses::default().feed(b"SSH-2.0-OpenSSH\r\n\r\n"),
            Err(NotHttp)
        );
    }
}
