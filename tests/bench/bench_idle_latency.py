#!/usr/bin/python3
# tests/bench/bench_idle_latency.py: how soon an IDLE session hears of a
# delivery made on another loop (issue 11 point 1: "an IDLE session on loop
# 2 sees a delivery made on loop 1 within a millisecond").  The release
# binary runs --loops N; 2N IMAP sessions of one user IDLE on INBOX (the
# daemon deals connections to the loops in turn, so every loop has two),
# then one SMTP session delivers messages one at a time.  For each delivery
# it takes the time from sending the end of DATA to each session's "* n
# EXISTS" (the change feed runs at commit, before the log flush that the
# 250 waits for), and prints the median, 90th percentile and maximum per
# loop, and the median time to the 250 beside it.  The clock is the
# client's; the Python client adds its own few tens of microseconds.
# Not part of the test suite; see tests/bench/README.md.
import argparse
import os
import pathlib
import re
import selectors
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
from helpers import IMAP_KINDS, Server, imap_connect, make_message  # noqa: E402
from bench_smtp_pop3 import release_binary  # noqa: E402

CONNECTED_RE = re.compile(r"session=\w+ imap connected .* loop=(\d+)")


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def run(loops, n):
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-idle-"))
    srv = Server(tmp / "data", kinds=IMAP_KINDS, extra=["--loops", str(loops)])
    srv.start()
    try:
        user = srv.new_user("idle")
        sessions = []
        for _ in range(2 * loops):
            c = imap_connect(srv, *user)
            c.select("INBOX")
            c.send(b"i IDLE\r\n")
            assert c.read_response().startswith(b"+")
            c.sock.setblocking(False)
            sessions.append(c)
        where = [int(m.group(1)) for m in CONNECTED_RE.finditer(srv.stderr())]
        sel = selectors.DefaultSelector()
        for k, c in enumerate(sessions):
            sel.register(c.sock, selectors.EVENT_READ, k)
        smtp = srv.smtp()
        lat = {k: [] for k in range(len(sessions))}
        t250 = []
        for i in range(n):
            smtp.smtp_cmd("MAIL FROM:<a@example.org>")
            smtp.smtp_cmd(f"RCPT TO:<{user[0]}>")
            smtp.smtp_cmd("DATA")
            t0 = time.perf_counter()
            smtp.send(helpers.dot_stuff(make_message(f"lat {i}")) + b".\r\n")
            want = f"* {i + 1} EXISTS".encode()
            waiting = set(range(len(sessions)))
            bufs = {k: b"" for k in waiting}
            while waiting:
                for key, _ in sel.select(5):
                    k = key.data
                    bufs[k] += sessions[k].sock.recv(65536)
                    if k in waiting and want in bufs[k]:
                        lat[k].append((time.perf_counter() - t0) * 1000)
                        waiting.discard(k)
            r = smtp.smtp_reply()
            t250.append((time.perf_counter() - t0) * 1000)
            assert r.code == 250, r
        smtp.smtp_quit()
        print(f"loops={loops}: {n} deliveries, ms from the end of DATA to EXISTS "
              f"(to the 250, after the log flush: median {statistics.median(t250):.3f})")
        for k in lat:
            xs = lat[k]
            print(f"  session {k} on loop {where[k] if k < len(where) else '?'}: "
                  f"median {statistics.median(xs):.3f}  p90 {pct(xs, 90):.3f}  "
                  f"max {max(xs):.3f}")
        allx = [x for xs in lat.values() for x in xs]
        print(f"  all: median {statistics.median(allx):.3f}  p90 {pct(allx, 90):.3f}  "
              f"p99 {pct(allx, 99):.3f}")
    finally:
        srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description="IDLE wake-up latency across loops")
    ap.add_argument("--loops", default="1,4")
    ap.add_argument("-n", type=int, default=200, help="deliveries")
    a = ap.parse_args()
    helpers.BIN = release_binary()
    for loops in (int(x) for x in a.loops.split(",")):
        run(loops, a.n)


if __name__ == "__main__":
    main()
