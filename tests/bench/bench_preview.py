#!/usr/bin/env python3
"""FETCH PREVIEW (RFC 8970) against the message size: the preview is made on
demand from at most MIME_PREVIEW_READ (16 KiB) of the first text part, so a
FETCH 1:* (PREVIEW) should cost about the same per message for 4 KiB and
4 MiB messages, and far less than reading the bodies.

For each size, --count messages are APPENDed to a fresh user's INBOX, then
the median over --repeat runs of FETCH 1:* (PREVIEW), of FETCH 1:* (UID)
(the floor: records only) and of FETCH 1:* (BODY.PEEK[TEXT]<0.64>) (one
small body read per message) is printed, in ms for the whole FETCH and per
message.  Not part of tests/run; run by hand with nothing else busy:

    tests/bench/bench_preview.py
    tests/bench/bench_preview.py --sizes 4096,1048576 --count 200
"""
import argparse
import pathlib
import statistics
import sys
import tempfile
import time

BENCH = pathlib.Path(__file__).resolve().parent
REPO = BENCH.parent.parent
sys.path.insert(0, str(REPO / "tests" / "integration"))
import helpers  # noqa: E402


def message(i, size):
    head = (f"From: a@example.org\r\nTo: b@example.org\r\nSubject: bench {i}\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n")
    line = "The quick brown fox jumps over the lazy dog, again and again.\r\n"
    body = line * max(1, (size - len(head)) // len(line))
    return (head + body).encode()


def timed(c, line, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        c.ok(line)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="4096,65536,1048576,4194304")
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        srv = helpers.Server(pathlib.Path(tmp) / "data", kinds=helpers.IMAP_KINDS).start()
        try:
            print(f"{'size':>9} {'PREVIEW ms':>11} {'/msg':>7} {'UID ms':>8} "
                  f"{'TEXT<0.64> ms':>14}", flush=True)
            for size in (int(s) for s in a.sizes.split(",")):
                user, pw = srv.new_user("pv")
                c = helpers.imap_connect(srv, user, pw)
                for i in range(a.count):
                    c.append("INBOX", message(i, size))
                c.ok("SELECT INBOX")
                p = timed(c, "FETCH 1:* (PREVIEW)", a.repeat)
                u = timed(c, "FETCH 1:* (UID)", a.repeat)
                t = timed(c, "FETCH 1:* (BODY.PEEK[TEXT]<0.64>)", a.repeat)
                print(f"{size:>9} {p:>11.1f} {p / a.count:>7.3f} {u:>8.1f} {t:>14.1f}",
                      flush=True)
                c.logout()
        finally:
            srv.stop()


if __name__ == "__main__":
    main()
