#!/usr/bin/env python3
"""Successors that are not the library, for the hand-over tests: a test
deploys this (through a shell script) in place of the server's binary and
then upgrades, so the old generation starts it as its successor.

  successor.py dies    says it takes idle connections over, receives the
                       first one and exits without answering
  successor.py older   an older version: READY=1 without the hand-over
                       field, then answers every request on the inherited
                       listener (fd 3) with "older <pid>"

Each prints `successor.py: ready pid=N` to stderr just before it reports
ready.
"""

import array
import os
import socket
import sys


def notify(message):
    addr = os.environ["NOTIFY_SOCKET"]
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(message.encode(), addr)


def say(line):
    sys.stderr.write(f"successor.py: {line}\n")
    sys.stderr.flush()


def dies():
    intake = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    name = f"changeover-test/dies/{os.getpid()}"
    intake.bind("\0" + name)
    intake.listen(1)
    # Said first, so that a test reads it before what the parent logs next.
    say(f"ready pid={os.getpid()}")
    notify(f"READY=1\nX_CHANGEOVER_CONNECTIONS=@{name}")
    conn, _ = intake.accept()
    fd_space = socket.CMSG_SPACE(4 * array.array("i").itemsize)
    message, _ancillary, _flags, _ = conn.recvmsg(65536, fd_space)
    say(f"received a connection ({len(message)} bytes); dying without answering")
    os._exit(3)


def older():
    listener = socket.socket(fileno=3)
    # The parent's runtime made the shared socket non-blocking.
    listener.setblocking(True)
    say(f"ready pid={os.getpid()}")
    notify("READY=1")
    body = f"older {os.getpid()}\n".encode()
    while True:
        conn, _ = listener.accept()
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                head += chunk
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
                + body
            )


if __name__ == "__main__":
    {"dies": dies, "older": older}[sys.argv[1]]()
