//! systemd's notification protocol (`sd_notify`), both ends.
//!
//! A process is told where to report its state by `NOTIFY_SOCKET`: a path
//! (`/run/systemd/notify`) or an abstract socket name written with a leading
//! `@`. Each report is one datagram of newline-separated `KEY=VALUE` lines:
//! `READY=1`, `RELOADING=1`, `STOPPING=1`, `STATUS=...`, `MAINPID=...`.
//!
//! [`Notifier`] sends them; [`NotifyReceiver`] is the side systemd plays, used
//! by a process waiting for its successor to become ready and by the
//! supervisor. The receiver asks the kernel for each sender's credentials
//! (`SO_PASSCRED`), so reports from processes other than the expected child
//! can be told apart and ignored.

use std::ffi::OsStr;
use std::fmt;
use std::io::{self, IoSliceMut};
use std::os::fd::AsRawFd;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram as StdUnixDatagram};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use nix::sys::socket::{
    ControlMessageOwned, MsgFlags, UnixAddr, recvmsg, setsockopt, sockopt::PassCred,
};
use tokio::io::Interest;
use tokio::net::UnixDatagram;

/// Where notifications go: a filesystem path or an abstract socket name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyAddr {
    /// A socket file, such as `/run/systemd/notify`.
    Path(PathBuf),
    /// A Linux abstract socket name, written `@name` in `NOTIFY_SOCKET`.
    Abstract(Vec<u8>),
}

/// A `NOTIFY_SOCKET` value (or the value of another variable holding a
/// notify address) that is not a socket address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyAddrError {
    var: &'static str,
    value: String,
}

impl fmt::Display for NotifyAddrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}={:?} is not a socket address: it must be an absolute path or an abstract name starting with @; unset it or fix the process that started this one",
            self.var, self.value
        )
    }
}

impl std::error::Error for NotifyAddrError {}

impl NotifyAddr {
    /// Reads a `NOTIFY_SOCKET` value.
    pub fn parse(value: &OsStr) -> Result<NotifyAddr, NotifyAddrError> {
        NotifyAddr::parse_var("NOTIFY_SOCKET", value)
    }

    /// Reads a notify address from the variable `var` (named in the error:
    /// `CHANGEOVER_NOTIFY_UPSTREAM` is not `NOTIFY_SOCKET`).
    pub fn parse_var(var: &'static str, value: &OsStr) -> Result<NotifyAddr, NotifyAddrError> {
        let bytes = value.as_bytes();
        match bytes.first() {
            Some(b'/') => Ok(NotifyAddr::Path(PathBuf::from(value))),
            Some(b'@') if bytes.len() > 1 => Ok(NotifyAddr::Abstract(bytes[1..].to_vec())),
            _ => Err(NotifyAddrError {
                var,
                value: value.to_string_lossy().into_owned(),
            }),
        }
    }

    /// The value to put in `NOTIFY_SOCKET` for a child.
    pub fn to_env_value(&self) -> std::ffi::OsString {
        match self {
            NotifyAddr::Path(p) => p.clone().into_os_string(),
            NotifyAddr::Abstract(name) => {
                let mut v = b"@".to_vec();
                v.extend_from_slice(name);
                OsStr::from_bytes(&v).to_owned()
            }
        }
    }

    fn socket_addr(&self) -> io::Result<SocketAddr> {
        match self {
            NotifyAddr::Path(p) => SocketAddr::from_pathname(p),
            NotifyAddr::Abstract(name) => SocketAddr::from_abstract_name(name),
        }
    }
}

impl fmt::Display for NotifyAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_env_value().to_string_lossy())
    }
}

/// `CLOCK_MONOTONIC` now, in microseconds: the `MONOTONIC_USEC=` that must
/// go with `RELOADING=1` (systemd's `Type=notify-reload` uses it to tell
/// this reload from an earlier one).
pub fn monotonic_usec() -> io::Result<u64> {
    let ts = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)?;
    // The monotonic clock counts from boot: never negative.
    Ok(ts.tv_sec() as u64 * 1_000_000 + ts.tv_nsec() as u64 / 1_000)
}

/// The longest [`Notifier::send`] waits for room in a full receiver's queue.
pub const SEND_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

/// Sends state reports to one notification socket.
#[derive(Debug, Clone)]
pub struct Notifier {
    addr: NotifyAddr,
}

impl Notifier {
    /// A notifier for this address.
    pub fn new(addr: NotifyAddr) -> Notifier {
        Notifier { addr }
    }

    /// The address reports go to.
    pub fn addr(&self) -> &NotifyAddr {
        &self.addr
    }

    /// Sends one report, such as `"READY=1"` or `"STOPPING=1\nSTATUS=draining"`.
    ///
    /// When the receiver's queue is full it waits for room, but never longer
    /// than [`SEND_WAIT`]; then the datagram is not sent and `WouldBlock` (or
    /// `TimedOut`) is returned. A plain synchronous call, so it can be made
    /// from anywhere, including drop paths.
    pub fn send(&self, message: &str) -> io::Result<()> {
        let sock = StdUnixDatagram::unbound()?;
        let addr = self.addr.socket_addr()?;
        // The queue of a Unix datagram socket holds ten datagrams
        // (net.unix.max_dgram_qlen): anyone flooding it would make a
        // non-blocking READY=1 fail, and the reload with it. A blocking send
        // waits in the kernel's queue of senders, woken in turn as room
        // appears; the bound keeps a receiver that stopped reading from
        // stalling the sender for good.
        sock.set_write_timeout(Some(SEND_WAIT))?;
        sock.send_to_addr(message.as_bytes(), &addr)?;
        Ok(())
    }
}

/// One report received from a notifying process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The sender's pid, from the kernel (not from the message).
    pub pid: Option<u32>,
    /// The `KEY=VALUE` fields in the order they were sent.
    pub fields: Vec<(String, String)>,
}

impl Report {
    /// The value of the last field with this key.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the report carries `READY=1`.
    pub fn is_ready(&self) -> bool {
        self.get("READY") == Some("1")
    }
}

/// A datagram that is not a valid report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedReport {
    /// The sender's pid, from the kernel.
    pub pid: Option<u32>,
    /// What is wrong with it.
    pub problem: String,
}

impl fmt::Display for MalformedReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pid {
            Some(pid) => write!(f, "malformed notification from pid {pid}: {}", self.problem),
            None => write!(f, "malformed notification: {}", self.problem),
        }
    }
}

impl std::error::Error for MalformedReport {}

/// Parses a report datagram: newline-separated `KEY=VALUE` lines, keys of
/// upper-case letters, digits and `_`.
pub fn parse_report(pid: Option<u32>, data: &[u8]) -> Result<Report, MalformedReport> {
    let bad = |problem: String| MalformedReport { pid, problem };
    let text = std::str::from_utf8(data).map_err(|_| bad("it is not UTF-8".into()))?;
    let mut fields = Vec::new();
    for line in text.split('\n').filter(|l| !l.is_empty()) {
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| bad(format!("line {line:?} is not KEY=VALUE")))?;
        let key_ok = !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if !key_ok {
            return Err(bad(format!("key {key:?} is not an upper-case name")));
        }
        fields.push((key.to_owned(), value.to_owned()));
    }
    if fields.is_empty() {
        return Err(bad("it is empty".into()));
    }
    Ok(Report { pid, fields })
}

/// The receiving end of the protocol: a datagram socket that reports come to.
#[derive(Debug)]
pub struct NotifyReceiver {
    sock: UnixDatagram,
    addr: NotifyAddr,
}

static RECEIVER_SEQ: AtomicU64 = AtomicU64::new(0);

impl NotifyReceiver {
    /// Binds a receiver on a fresh abstract name (nothing to clean up on disk).
    ///
    /// Must be called inside a tokio runtime.
    pub fn bind_unique(tag: &str) -> io::Result<NotifyReceiver> {
        let seq = RECEIVER_SEQ.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!("changeover/{tag}/{}/{seq}/{nanos:08x}", std::process::id());
        NotifyReceiver::bind(NotifyAddr::Abstract(name.into_bytes()))
    }

    /// Binds a receiver at this address. A path that exists is not replaced.
    ///
    /// Must be called inside a tokio runtime.
    pub fn bind(addr: NotifyAddr) -> io::Result<NotifyReceiver> {
        let std_sock = StdUnixDatagram::bind_addr(&addr.socket_addr()?)?;
        setsockopt(&std_sock, PassCred, &true).map_err(io::Error::from)?;
        std_sock.set_nonblocking(true)?;
        let sock = UnixDatagram::from_std(std_sock)?;
        Ok(NotifyReceiver { sock, addr })
    }

    /// The address to hand to a child as `NOTIFY_SOCKET`.
    pub fn addr(&self) -> &NotifyAddr {
        &self.addr
    }

    /// Waits for the next datagram. `Ok(Err(_))` is a datagram that was not a
    /// valid report: the caller logs it and carries on.
    pub async fn recv(&self) -> io::Result<Result<Report, MalformedReport>> {
        let mut buf = [0u8; 4096];
        let (len, pid, truncated) = self
            .sock
            .async_io(Interest::READABLE, || {
                let mut cmsg = nix::cmsg_space!(nix::sys::socket::UnixCredentials);
                let mut iov = [IoSliceMut::new(&mut buf)];
                let msg = recvmsg::<UnixAddr>(
                    self.sock.as_raw_fd(),
                    &mut iov,
                    Some(&mut cmsg),
                    MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC,
                )
                .map_err(io::Error::from)?;
                let mut pid = None;
                for c in msg.cmsgs().map_err(io::Error::from)? {
                    if let ControlMessageOwned::ScmCredentials(cred) = c {
                        pid = u32::try_from(cred.pid()).ok();
                    }
                }
                let truncated = msg.flags.contains(MsgFlags::MSG_TRUNC);
                Ok((msg.bytes, pid, truncated))
            })
            .await?;
        if truncated {
            return Ok(Err(MalformedReport {
                pid,
                problem: format!("it is longer than {} bytes", buf.len()),
            }));
        }
        Ok(parse_report(pid, &buf[..len]))
    }
}

impl Drop for NotifyReceiver {
    fn drop(&mut self) {
        if let NotifyAddr::Path(p) = &self.addr {
            // The socket file is ours; a failure to remove it only leaves a stale file.
            if let Err(e) = std::fs::remove_file(p) {
                tracing::debug!(path = %p.display(), error = %e, "could not remove notify socket");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_reports_and_rejects_garbage() {
        let r = parse_report(Some(7), b"READY=1\nSTATUS=serving on :8080\n").unwrap();
        assert!(r.is_ready());
        assert_eq!(r.get("STATUS"), Some("serving on :8080"));
        for bad in [&b""[..], b"\n", b"hello", b"ready=1", b"\xff\xfe", b"=1"] {
            assert!(parse_report(None, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_monotonic_clock_moves_forward_in_microseconds() {
        let a = monotonic_usec().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = monotonic_usec().unwrap();
        assert!(b >= a + 2_000, "{a} then {b}");
        // Microseconds, not nanoseconds: a day of uptime is 8.64e10 µs, and
        // no machine has been up for 10^4 years.
        assert!(b < 1_000_000 * 86_400 * 365 * 10_000, "{b}");
    }

    #[test]
    fn reads_notify_socket_values() {
        assert_eq!(
            NotifyAddr::parse(OsStr::new("/run/systemd/notify")).unwrap(),
            NotifyAddr::Path("/run/systemd/notify".into())
        );
        let a = NotifyAddr::parse(OsStr::new("@abc")).unwrap();
        assert_eq!(a, NotifyAddr::Abstract(b"abc".to_vec()));
        assert_eq!(a.to_env_value(), "@abc");
        for bad in ["", "@", "relative/path"] {
            let e = NotifyAddr::parse(OsStr::new(bad)).unwrap_err().to_string();
            assert!(e.starts_with("NOTIFY_SOCKET="), "{e}");
            // Regression (issue 9, item 5): the upstream variable was reported as NOTIFY_SOCKET.
            let e = NotifyAddr::parse_var("CHANGEOVER_NOTIFY_UPSTREAM", OsStr::new(bad))
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("CHANGEOVER_NOTIFY_UPSTREAM="), "{e}");
        }
    }

    /// Regression: `changeover run` hung on its sixth reload under the demo,
    /// whose notify socket nobody read any more: a full datagram queue
    /// blocked the sender. Sending must give up (after at most `SEND_WAIT`)
    /// instead of blocking.
    #[tokio::test]
    async fn a_receiver_that_stopped_reading_never_blocks_the_sender() {
        let rx = NotifyReceiver::bind_unique("full").unwrap();
        let notifier = Notifier::new(rx.addr().clone());
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let results: Vec<_> = (0..20).map(|_| notifier.send("READY=1")).collect();
            done_tx.send(results).unwrap();
        });
        let results = done_rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("sending to a full queue must not block");
        let refused = results.iter().filter(|r| r.is_err()).count();
        assert!(refused > 0, "the queue never filled up: {results:?}");
        assert!(
            results
                .iter()
                .flatten()
                .count()
                .checked_add(refused)
                .is_some_and(|n| n == 20)
        );
        drop(rx);
    }

    /// Regression (issue 9, fault table): a flood of datagrams from anyone
    /// keeps the ten-datagram queue full, and a READY=1 that gave up at once
    /// was lost (a reload then timed out). Sent into a full queue that a
    /// flood keeps full, it gets through once the receiver reads.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_report_gets_through_a_flooded_queue() {
        use std::sync::mpsc::channel;
        let rx = NotifyReceiver::bind_unique("flood").unwrap();
        let addr = rx.addr().socket_addr().unwrap();
        let (full_tx, full_rx) = channel();
        let flooder = std::thread::spawn(move || {
            let sock = StdUnixDatagram::unbound().unwrap();
            // Fill the queue, then keep it full: a blocking send for each slot that frees.
            sock.set_nonblocking(true).unwrap();
            while sock.send_to_addr(b"garbage", &addr).is_ok() {}
            full_tx.send(()).unwrap();
            sock.set_nonblocking(false).unwrap();
            sock.set_write_timeout(Some(std::time::Duration::from_secs(2)))
                .unwrap();
            for _ in 0..5_000 {
                if sock.send_to_addr(b"garbage", &addr).is_err() {
                    break;
                }
            }
        });
        full_rx.recv().unwrap();
        let notifier = Notifier::new(rx.addr().clone());
        let (sent_tx, sent_rx) = channel();
        std::thread::spawn(move || sent_tx.send(notifier.send("READY=1")).unwrap());
        let mut seen = 0;
        let got_ready = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            loop {
                seen += 1;
                if let Ok(Ok(r)) = rx.recv().await {
                    if r.is_ready() {
                        return;
                    }
                }
            }
        })
        .await;
        let sent = sent_rx.recv().unwrap();
        assert!(
            sent.is_ok(),
            "READY=1 was not sent into the flood: {sent:?}"
        );
        assert!(
            got_ready.is_ok(),
            "READY=1 never arrived ({seen} datagrams read)"
        );
        // Let the flooder finish: read until it stops sending.
        while let Ok(Ok(_)) =
            tokio::time::timeout(std::time::Duration::from_millis(500), rx.recv()).await
        {}
        flooder.join().unwrap();
    }

    #[tokio::test]
    async fn round_trip_with_sender_pid_over_abstract_and_path() {
        let rx = NotifyReceiver::bind_unique("test").unwrap();
        Notifier::new(rx.addr().clone()).send("READY=1").unwrap();
        let r = rx.recv().await.unwrap().unwrap();
        assert!(r.is_ready());
        assert_eq!(r.pid, Some(std::process::id()));

        let dir = tempfile::tempdir().unwrap();
        let rx = NotifyReceiver::bind(NotifyAddr::Path(dir.path().join("n.sock"))).unwrap();
        Notifier::new(rx.addr().clone()).send("garbage").unwrap();
        let bad = rx.recv().await.unwrap().unwrap_err();
        assert_eq!(bad.pid, Some(std::process::id()));
    }
}
