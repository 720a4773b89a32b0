#!/usr/bin/python3
# tests/bench/bench_imap.py: IMAP figures of the real binary (issue 3,
# "Measured, not timed"): FETCH of all bodies (messages/s, MB/s), FETCH FLAGS
# of a 100,000-message mailbox, SELECT time for 1,000 and 100,000 messages,
# SEARCH TEXT over 10,000 messages.  Mailboxes are filled with MULTIAPPEND
# (RFC 3502) in batches, whose rate is printed too.  The times include the
# Python client reading and parsing the responses, on one connection.
# Not part of the test suite; see tests/bench/README.md.
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
os.environ.setdefault("POSTINO_TEST_TIMEOUT", "600")

import helpers  # noqa: E402
from helpers import Server, imap_connect  # noqa: E402
from bench_smtp_pop3 import release_binary  # noqa: E402

LINE = b"The quick brown fox jumps over the lazy dog 0123456789 abcdefghijklmnopqrs\r\n"


def message(i, size, needle=False):
    head = (f"From: <bench{i % 13}@example.org>\r\nTo: <rcpt@example.com>\r\n"
            f"Subject: bench {i}\r\nMessage-ID: <{i}.{time.time_ns()}@bench>\r\n\r\n").encode()
    body = (LINE * (size // len(LINE) + 1))[:max(0, size - len(head) - 2)]
    if needle:
        body = b"needle " + body[7:]
    return head + body + b"\r\n"


def fill(c, box, n, size, batch, needle_every=0):
    """MULTIAPPEND n messages of size bytes to box; returns seconds."""
    c.ok(f"CREATE {box}")
    t0 = time.perf_counter()
    for start in range(0, n, batch):
        parts = [f"APPEND {box}".encode()]
        for i in range(start, min(n, start + batch)):
            m = message(i, size, needle_every and i % needle_every == 0)
            parts.append(b" {%d+}\r\n" % len(m) + m)
        r = c.cmd(b"".join(parts))
        if r.status != "OK":
            raise RuntimeError(f"APPEND to {box}: {r}")
    return time.perf_counter() - t0


def timed(c, line):
    t0 = time.perf_counter()
    r = c.cmd(line)
    dt = time.perf_counter() - t0
    if r.status != "OK":
        raise RuntimeError(f"{line}: {r}")
    return dt, r


def select_time(c, box, n, repeat):
    times = []
    for _ in range(repeat):
        dt, r = timed(c, f"EXAMINE {box}")
        if r.numbered("EXISTS") != [(n, b"")]:
            raise RuntimeError(f"EXAMINE {box}: {r}")
        times.append(dt)
        c.ok("UNSELECT")
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description="IMAP FETCH/SELECT/SEARCH figures of postino")
    ap.add_argument("--fetch-n", type=int, default=2000, help="messages for FETCH of bodies")
    ap.add_argument("-s", "--size", type=int, default=4096, help="bytes per message (bodies)")
    ap.add_argument("--large", type=int, default=100_000, help="messages in the large mailbox")
    ap.add_argument("--small", type=int, default=1000, help="messages in the small mailbox")
    ap.add_argument("--search-n", type=int, default=10_000, help="messages for SEARCH TEXT")
    ap.add_argument("--batch", type=int, default=1000, help="messages per MULTIAPPEND")
    ap.add_argument("--repeat", type=int, default=5, help="SELECT/SEARCH runs (median)")
    ap.add_argument("--keep", action="store_true", help="keep the data directory")
    args = ap.parse_args()
    helpers.BIN = release_binary()
    print(f"binary {helpers.BIN}")
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="postino-bench-imap-"))
    srv = Server(tmp / "data", kinds=("imap",))
    srv.start()
    rc = 0
    try:
        user = srv.new_user("bench")
        c = imap_connect(srv, *user)
        c.ok("ENABLE CONDSTORE")    # not needed; shows SELECT with HIGHESTMODSEQ

        # 1. FETCH of all bodies.
        dt = fill(c, "bodies", args.fetch_n, args.size, max(1, min(args.batch, 200)))
        print(f"APPEND  {args.fetch_n} x {args.size} B: {args.fetch_n / dt:10.0f} msg/s "
              f"{args.fetch_n * args.size / 1e6 / dt:8.2f} MB/s")
        c.select("bodies")
        dt, r = timed(c, "FETCH 1:* BODY.PEEK[]")
        f = r.fetches()
        nbytes = sum(len(v["BODY[]"]) for v in f.values())
        if len(f) != args.fetch_n:
            raise RuntimeError(f"FETCH returned {len(f)} of {args.fetch_n} messages")
        print(f"FETCH BODY.PEEK[] of {args.fetch_n}: {args.fetch_n / dt:10.0f} msg/s "
              f"{nbytes / 1e6 / dt:8.2f} MB/s ({dt:.3f} s)")
        c.ok("UNSELECT")

        # 2. SELECT of 1,000 and N messages, FETCH FLAGS of N.
        for box, n in (("small", args.small), ("large", args.large)):
            dt = fill(c, box, n, 300, args.batch)
            print(f"APPEND  {n} x 300 B to {box}: {n / dt:10.0f} msg/s")
        for box, n in (("small", args.small), ("large", args.large)):
            print(f"SELECT  {n:>7} messages: {select_time(c, box, n, args.repeat) * 1e3:10.2f} ms"
                  f" (median of {args.repeat})")
        c.select("large")
        dt, r = timed(c, "FETCH 1:* (FLAGS)")
        if len(r.numbered("FETCH")) != args.large:
            raise RuntimeError("FETCH FLAGS: wrong count")
        print(f"FETCH 1:* (FLAGS) of {args.large}: {dt:.3f} s ({args.large / dt:.0f} msg/s)")
        c.ok("UNSELECT")

        # 3. SEARCH TEXT over search-n messages (1 in 100 has the needle).
        dt = fill(c, "search", args.search_n, args.size, max(1, min(args.batch, 200)),
                  needle_every=100)
        c.select("search")
        times = []
        for _ in range(args.repeat):
            dt, r = timed(c, "SEARCH TEXT needle")
            hits = r.data("SEARCH")[0].split()
            if len(hits) != (args.search_n + 99) // 100:
                raise RuntimeError(f"SEARCH TEXT found {len(hits)}")
            times.append(dt)
        med = statistics.median(times)
        print(f"SEARCH TEXT over {args.search_n}: {med * 1e3:.1f} ms "
              f"({args.search_n / med:.0f} msg/s, median of {args.repeat})")
        c.logout()
    except Exception as e:  # noqa: BLE001 - printed, exit status 1
        print(f"error: {e}", file=sys.stderr)
        rc = 1
    finally:
        srv.stop()
    if srv.problems:
        print("\n".join(srv.problems), file=sys.stderr)
        rc = 1
    if args.keep:
        print(f"data in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
