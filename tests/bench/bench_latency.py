#!/usr/bin/python3
# tests/bench/bench_latency.py: reply latency of IMAP FETCH and POP3 RETR
# (issue 10, point 6).  Starts `postino serve --sandbox` on a fresh data
# directory, delivers one message each of 1 KB, 42 KB and 256 KB, and times
# request -> last byte of the reply on one connection per protocol and
# transport (plaintext, STARTTLS/STLS, implicit TLS): median and p99 in ms.
# Then the time to read a 5 MB message in 64 KiB partial FETCHes, as a mail
# client downloading an attachment does.  Without TCP_NODELAY the last short
# segment of every reply longer than a few segments waits for the client's
# delayed ACK (~40 ms on Linux).  Not part of the test suite; see README.md.
import argparse
import os
import pathlib
import shutil
import statistics
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(REPO / "tests" / "bench"))
os.environ.setdefault("POSTINO_TEST_TIMEOUT", "60")

import helpers  # noqa: E402
from bench_smtp_pop3 import message, release_binary  # noqa: E402
from helpers import Conn, ImapConn, Server  # noqa: E402

SIZES = (("1 KB", 1000), ("42 KB", 42000), ("256 KB", 256 * 1024))
TRANSPORTS = ("plain", "starttls", "tls")
USER = "lat@example.com"
PARTIAL = 65536


def recv_until_tail(c, done):
    """Read until done(buf, last_chunk_start) is true; returns the bytes."""
    buf = bytearray(c.buf)
    c.buf.clear()
    start = 0
    while not done(buf, start):
        start = max(0, len(buf) - 64)
        chunk = c.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("server closed the connection")
        buf += chunk
    return buf


def imap_session(srv, transport):
    tls = transport == "tls"
    c = ImapConn.connect(srv.ports["imaps" if tls else "imap"], tls=tls)
    c.read_greeting()
    if transport == "starttls":
        assert c.cmd("STARTTLS").status == "OK"
        c.starttls()
    c.login(USER, "any")
    c.select("INBOX", examine=True)
    return c


def pop3_session(srv, transport):
    tls = transport == "tls"
    c = Conn.connect(srv.ports["pop3s" if tls else "pop3"], tls=tls)
    c.pop3_status()
    if transport == "starttls":
        c.pop3_ok("STLS")
        c.starttls()
    c.pop3_login(USER, "any")
    return c


def time_fetch(c, uid, section="BODY.PEEK[]"):
    """One UID FETCH: seconds from sending to the tagged OK, and the bytes."""
    tag = c.next_tag().encode()
    end = b"\r\n" + tag + b" OK"
    t0 = time.perf_counter()
    c.send(tag + b" UID FETCH %d %s\r\n" % (uid, section.encode()))
    buf = recv_until_tail(c, lambda b, s: b.endswith(b"\r\n") and b.find(end, s) >= 0)
    return time.perf_counter() - t0, buf


def time_retr(c, n):
    t0 = time.perf_counter()
    c.send(b"RETR %d\r\n" % n)
    buf = recv_until_tail(c, lambda b, s: b.endswith(b"\r\n.\r\n"))
    return time.perf_counter() - t0, buf


def stats_ms(samples):
    s = sorted(samples)
    p99 = s[min(len(s) - 1, int(len(s) * 0.99))]
    return statistics.median(s) * 1e3, p99 * 1e3


def main():
    ap = argparse.ArgumentParser(description="FETCH and RETR reply latency of postino")
    ap.add_argument("-n", "--repeat", type=int, default=200, help="requests per cell")
    ap.add_argument("--partial-mb", type=int, default=5,
                    help="size of the message read in 64 KiB partial FETCHes")
    args = ap.parse_args()
    helpers.BIN = release_binary()
    print(f"binary {helpers.BIN}, {args.repeat} requests per cell")
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="postino-bench-lat-"))
    srv = Server(tmp / "data", sandbox=True,
                 kinds=("smtp", "pop3", "pop3s", "imap", "imaps"))
    srv.start()
    try:
        msgs = [message(i, size) for i, (_, size) in enumerate(SIZES)]
        big = message(99, args.partial_mb * 1024 * 1024)
        for m in msgs + [big]:
            srv.deliver("bench@example.org", [USER], m)
        hdr = f"{'command':<6} {'size':>7} {'transport':>9} | {'median ms':>9} {'p99 ms':>8}"
        print(hdr)
        print("-" * len(hdr))
        for proto in ("FETCH", "RETR"):
            for transport in TRANSPORTS:
                c = (imap_session if proto == "FETCH" else pop3_session)(srv, transport)
                for i, (label, size) in enumerate(SIZES):
                    samples = []
                    for _ in range(args.repeat):
                        dt, buf = (time_fetch(c, i + 1) if proto == "FETCH"
                                   else time_retr(c, i + 1))
                        if len(buf) < size:
                            raise RuntimeError(f"{proto} {label}: short reply {len(buf)}")
                        samples.append(dt)
                    med, p99 = stats_ms(samples)
                    print(f"{proto:<6} {label:>7} {transport:>9} | {med:>9.2f} {p99:>8.2f}",
                          flush=True)
                c.close()
        # A client reading an attachment piece by piece.
        print()
        for transport in TRANSPORTS:
            c = imap_session(srv, transport)
            size = len(big) + 200   # with the trace headers; the last piece is short
            t0 = time.perf_counter()
            got = 0
            for off in range(0, size, PARTIAL):
                _, buf = time_fetch(c, len(SIZES) + 1, f"BODY.PEEK[]<{off}.{PARTIAL}>")
                got += len(buf)
            dt = time.perf_counter() - t0
            c.close()
            print(f"{args.partial_mb} MB in {PARTIAL // 1024} KiB partial FETCHes, "
                  f"{transport:>8}: {dt:.3f} s ({got / 1e6 / dt:.1f} MB/s)", flush=True)
    finally:
        srv.stop()
    if srv.problems:
        print("\n".join(srv.problems), file=sys.stderr)
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
