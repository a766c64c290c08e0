//! The protocol on its own, in one process: Unix socket pairs stand in for
//! client connections, and this process plays both generations (so its own
//! pid is the parent and the successor the peer checks expect), or a
//! successor that misbehaves on a raw socket.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use nix::sys::socket::MsgFlags;
use socket2::Socket;

use super::intake::{Message, receive_now};
use super::*;

const DEADLINE_IN_TESTS: Duration = Duration::from_secs(10);

/// A taker that keeps what it adopts.
struct Recorder {
    accepting: bool,
    got: Mutex<Vec<(OwnedFd, Bytes)>>,
}

impl Recorder {
    fn new(accepting: bool) -> Arc<Recorder> {
        Arc::new(Recorder {
            accepting,
            got: Mutex::default(),
        })
    }

    fn take(&self) -> Vec<(OwnedFd, Bytes)> {
        std::mem::take(&mut *lock(&self.got))
    }
}

impl Taker for Recorder {
    fn accepting(&self) -> bool {
        self.accepting
    }
    fn adopt(&self, fd: OwnedFd, saved: Bytes) {
        lock(&self.got).push((fd, saved));
    }
}

/// An intake of this process for `listener`, running; its address.
fn intake_with(
    listener: &str,
    taker: Arc<Recorder>,
    parent: u32,
) -> (NotifyAddr, tokio::task::JoinHandle<()>) {
    let intake = Intake::bind().unwrap();
    let addr = intake.addr().clone();
    let takers = Arc::new(Takers::default());
    takers.register(listener, taker);
    (addr, tokio::spawn(intake.run(parent, takers)))
}

fn name(n: &str) -> Arc<str> {
    n.into()
}

/// Whether `ours` (or a copy of it) and `client` are still one connection.
fn still_connected(ours: &OwnedFd, client: &mut UnixStream) {
    let mut ours = UnixStream::from(ours.try_clone().unwrap());
    ours.write_all(b"ping").unwrap();
    let mut got = [0u8; 4];
    client.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"ping");
}

/// The whole way: the successor takes the connection with its saved bytes,
/// the socket it gets is the client's connection, and the old side's copy
/// is closed (the client sees the end once the successor closes).
#[tokio::test]
async fn an_offered_connection_is_taken_with_its_bytes() {
    let me = std::process::id();
    let recorder = Recorder::new(true);
    let (addr, intake) = intake_with("http", recorder.clone(), me);
    let outbox = Outbox::connect(&addr, me).unwrap();
    let (ours, mut client) = UnixStream::pair().unwrap();
    let refused = outbox
        .offer(&name("http"), ours.into(), Bytes::from_static(b"GET / HT"))
        .await;
    assert!(refused.is_none(), "taken");
    let mut got = recorder.take();
    assert_eq!(got.len(), 1);
    let (fd, saved) = got.pop().unwrap();
    assert_eq!(&saved[..], b"GET / HT");
    still_connected(&fd, &mut client);
    drop(fd);
    let mut rest = Vec::new();
    client.set_read_timeout(Some(DEADLINE_IN_TESTS)).unwrap();
    assert_eq!(
        client.read_to_end(&mut rest).unwrap(),
        0,
        "no copy left open"
    );
    // The old side is done: its end closes, and the intake's session with it.
    drop(outbox);
    tokio::time::timeout(DEADLINE_IN_TESTS, intake)
        .await
        .expect("the intake ends with its one session")
        .unwrap();
}

/// Many at once, as a drain offers them: every one taken, in any order.
#[tokio::test]
async fn many_connections_at_once_are_all_taken() {
    let me = std::process::id();
    let recorder = Recorder::new(true);
    let (addr, _intake) = intake_with("http", recorder.clone(), me);
    let outbox = Arc::new(Outbox::connect(&addr, me).unwrap());
    let mut clients = Vec::new();
    let mut offers = tokio::task::JoinSet::new();
    for i in 0..200u32 {
        let (ours, client) = UnixStream::pair().unwrap();
        clients.push(client);
        let outbox = outbox.clone();
        offers.spawn(async move {
            outbox
                .offer(&name("http"), ours.into(), Bytes::from(i.to_string()))
                .await
                .is_none()
        });
    }
    while let Some(taken) = offers.join_next().await {
        assert!(taken.unwrap());
    }
    let mut saved: Vec<u32> = recorder
        .take()
        .into_iter()
        .map(|(_, b)| std::str::from_utf8(&b).unwrap().parse().unwrap())
        .collect();
    saved.sort_unstable();
    assert_eq!(saved, (0..200).collect::<Vec<_>>());
}

/// Refusals: a listener the successor does not serve, and a successor that
/// is stopping itself. The connection comes back whole.
#[tokio::test]
async fn a_refused_connection_comes_back_whole() {
    let me = std::process::id();
    for (listener, accepting) in [("admin", true), ("http", false)] {
        let recorder = Recorder::new(accepting);
        let (addr, _intake) = intake_with("http", recorder.clone(), me);
        let outbox = Outbox::connect(&addr, me).unwrap();
        let (ours, mut client) = UnixStream::pair().unwrap();
        let back = outbox
            .offer(&name(listener), ours.into(), Bytes::from_static(b"GET"))
            .await
            .expect("refused");
        assert_eq!(&back.saved[..], b"GET");
        still_connected(&back.fd, &mut client);
        assert!(recorder.take().is_empty());
    }
}

/// Waits (bounded) for the next message on a blocking socket of a fake
/// successor, then receives it.
fn receive_blocking(conn: &Socket) -> Message {
    conn.set_read_timeout(Some(DEADLINE_IN_TESTS)).unwrap();
    let mut first = [std::mem::MaybeUninit::new(0u8)];
    conn.peek(&mut first)
        .expect("a message within the deadline");
    let mut buf = vec![0u8; 2 + MAX_NAME + MAX_SAVED];
    receive_now(conn.as_raw_fd(), &mut buf).unwrap().unwrap()
}

/// A raw seqpacket listener of this process: a successor that speaks the
/// protocol badly.
fn fake_successor() -> (NotifyAddr, Socket) {
    let intake = Intake::bind().unwrap();
    let addr = intake.addr().clone();
    let listener = Socket::from(intake.listener.into_inner());
    listener.set_nonblocking(false).unwrap();
    (addr, listener)
}

/// A successor that dies after it received the connection but before it
/// answered: the connection comes back, still open (the kernel closed the
/// successor's copy, not ours).
#[tokio::test]
async fn a_successor_that_dies_before_answering_gives_everything_back() {
    let me = std::process::id();
    let (addr, listener) = fake_successor();
    let outbox = Outbox::connect(&addr, me).unwrap();
    let dies = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let message = receive_blocking(&conn);
        assert_eq!(message.listener, "http");
        // Dies: its copy of the socket and its end of the intake close.
    });
    let (ours, mut client) = UnixStream::pair().unwrap();
    let back = tokio::time::timeout(
        DEADLINE_IN_TESTS,
        outbox.offer(&name("http"), ours.into(), Bytes::new()),
    )
    .await
    .expect("given back at the successor's end, not at a deadline")
    .expect("refused");
    dies.join().unwrap();
    still_connected(&back.fd, &mut client);
    // And anything offered later comes back at once.
    let (ours, _client) = UnixStream::pair().unwrap();
    assert!(
        outbox
            .offer(&name("http"), ours.into(), Bytes::new())
            .await
            .is_some()
    );
}

/// A successor that never answers: at the deadline the connection comes
/// back, and the successor's late answer fails, so it cannot serve the
/// connection too.
#[tokio::test]
async fn a_successor_that_does_not_answer_in_time_cannot_take_it_later() {
    let me = std::process::id();
    let (addr, listener) = fake_successor();
    let outbox = Outbox::connect_with_deadline(&addr, me, Duration::from_millis(200)).unwrap();
    let (received_tx, received_rx) = std::sync::mpsc::channel();
    let (answer_tx, answer_rx) = std::sync::mpsc::channel::<()>();
    let late = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let _message = receive_blocking(&conn);
        received_tx.send(()).unwrap();
        answer_rx.recv().unwrap();
        nix::sys::socket::send(conn.as_raw_fd(), &[TAKEN], MsgFlags::MSG_NOSIGNAL)
    });
    let (ours, mut client) = UnixStream::pair().unwrap();
    let back = tokio::time::timeout(
        DEADLINE_IN_TESTS,
        outbox.offer(&name("http"), ours.into(), Bytes::new()),
    )
    .await
    .expect("given back at the deadline")
    .expect("refused");
    received_rx.recv().unwrap();
    answer_tx.send(()).unwrap();
    let answered = late.join().unwrap();
    assert_eq!(
        answered,
        Err(nix::errno::Errno::EPIPE),
        "the late answer must fail"
    );
    still_connected(&back.fd, &mut client);
}

/// Peers are checked both ways: the old side connects only to the
/// successor it started, the intake takes only from its parent.
#[tokio::test]
async fn peers_are_checked_both_ways() {
    let me = std::process::id();
    let recorder = Recorder::new(true);
    let (addr, _intake) = intake_with("http", recorder.clone(), me);
    let e = Outbox::connect(&addr, me + 1).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
    assert!(
        e.to_string().contains(&format!("belongs to pid {me}")),
        "{e}"
    );

    // An intake whose parent is another process ignores this one.
    let (addr, _intake) = intake_with("http", recorder.clone(), 1);
    let outbox = Outbox::connect(&addr, me).unwrap();
    let (ours, _client) = UnixStream::pair().unwrap();
    let back = tokio::time::timeout(
        DEADLINE_IN_TESTS,
        outbox.offer(&name("http"), ours.into(), Bytes::new()),
    )
    .await
    .expect("given back once the intake hung up")
    .expect("refused");
    drop(back);
    assert!(recorder.take().is_empty());
}

/// More saved bytes than a message may carry: given back without asking.
#[tokio::test]
async fn too_many_saved_bytes_are_not_offered() {
    let me = std::process::id();
    let recorder = Recorder::new(true);
    let (addr, _intake) = intake_with("http", recorder.clone(), me);
    let outbox = Outbox::connect(&addr, me).unwrap();
    let (ours, _client) = UnixStream::pair().unwrap();
    let big = Bytes::from(vec![b'x'; MAX_SAVED + 1]);
    let back = outbox
        .offer(&name("http"), ours.into(), big)
        .await
        .expect("refused");
    assert_eq!(back.saved.len(), MAX_SAVED + 1);
    // The largest allowed goes through.
    let (ours, _client) = UnixStream::pair().unwrap();
    let most = Bytes::from(vec![b'x'; MAX_SAVED]);
    assert!(
        outbox
            .offer(&name("http"), ours.into(), most)
            .await
            .is_none()
    );
    assert_eq!(recorder.take()[0].1.len(), MAX_SAVED);
}
