#!/usr/bin/env python3
"""QRESYNC resync after 1,000 changes in a 100,000-message mailbox (issue 13),
against the resync a client without QRESYNC does.

Mailboxes are filled straight through the storage API (bench_fill, as
bench_select.py does), 200-byte messages.  A client selects the mailbox with
QRESYNC enabled and keeps (UIDVALIDITY, HIGHESTMODSEQ).  Another session
then makes --changes changes spread evenly over the mailbox: half flag
changes (UID STORE), half expunges (UID STORE \\Deleted, UID EXPUNGE).
Then, per mailbox size, the median over --repeat runs of:

- `SELECT INBOX (QRESYNC (uidvalidity modseq))`, cold: the first command
  after a restart (no UID array cached: the FETCH answers need message
  numbers, so the array is read from the store once);
- the same, warm: another session has the mailbox selected (the shared
  UID array is cached);
- `UID FETCH 1:* (FLAGS) (CHANGEDSINCE m VANISHED)` in a selected mailbox;
- without QRESYNC (a CONDSTORE client): SELECT, `UID FETCH 1:* (FLAGS)
  (CHANGEDSINCE m)` and `UID SEARCH ALL` to find the expunged ones;
- octets each answer took.

The resync should cost the changes, not the mailbox: compare the sizes.
Not part of tests/run; run by hand with nothing else busy:

    tests/bench/bench_qresync.py
    tests/bench/bench_qresync.py --sizes 10000,100000,1000000 --changes 1000
"""
import argparse
import os
import pathlib
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

BENCH = pathlib.Path(__file__).resolve().parent
REPO = BENCH.parent.parent
sys.path.insert(0, str(BENCH))
import bench_all  # noqa: E402
import helpers  # noqa: E402  (bench_all put tests/integration on the path)
from bench_smtp_pop3 import release_binary  # noqa: E402


class Client:
    """A minimal IMAP client: a command, its answer's octets and lines."""

    def __init__(self, port, user):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=300)
        self.f = self.s.makefile("rb")
        self.f.readline()
        self.n = 0
        self.cmd(f"LOGIN {user} {bench_all.PASSWORD}")

    def cmd(self, line):
        """(seconds, octets, untagged lines) of one command; OK required.
        No literals in the answers used here."""
        self.n += 1
        tag = f"b{self.n}".encode()
        t0 = time.perf_counter()
        self.s.sendall(tag + b" " + line.encode() + b"\r\n")
        lines, octets = [], 0
        while True:
            r = self.f.readline()
            if not r:
                raise RuntimeError(f"{line[:60]}: connection closed")
            octets += len(r)
            if r.startswith(tag + b" "):
                dt = time.perf_counter() - t0
                if not r.startswith(tag + b" OK"):
                    raise RuntimeError(f"{line[:60]}: {r!r}")
                return dt, octets, lines
            lines.append(r)

    def close(self):
        try:
            self.cmd("LOGOUT")
        except (RuntimeError, OSError):
            pass
        self.s.close()


def code(lines, name):
    for ln in lines:
        m = re.match(rb"\* OK \[" + name.encode() + rb" (\d+)\]", ln)
        if m:
            return int(m.group(1))
    raise RuntimeError(f"no {name}")


def make_changes(port, user, n_msgs, changes):
    """Half flag changes, half expunges, spread over the mailbox."""
    c = Client(port, user)
    c.cmd("SELECT INBOX")
    step = max(1, n_msgs // changes)
    picked = list(range(1, n_msgs + 1, step))[:changes]
    flags, gone = picked[0::2], picked[1::2]
    for i in range(0, len(flags), 200):
        c.cmd("UID STORE " + ",".join(map(str, flags[i:i + 200])) + " +FLAGS.SILENT (\\Flagged)")
    for i in range(0, len(gone), 200):
        part = ",".join(map(str, gone[i:i + 200]))
        c.cmd(f"UID STORE {part} +FLAGS.SILENT (\\Deleted)")
        c.cmd(f"UID EXPUNGE {part}")
    c.close()
    return len(flags), len(gone)


def measure(t, user, uv, m0, nflags, ngone, repeat):
    port = t.ports["imap"]
    rows = {}

    def runs(fn):
        vals = [fn() for _ in range(repeat)]
        return statistics.median(v[0] for v in vals) * 1000, vals[0][1]

    def qresync_cold():
        t.stop()
        t.start()
        c = Client(t.ports["imap"], user)
        c.cmd("ENABLE QRESYNC")
        dt, octets, lines = c.cmd(f"SELECT INBOX (QRESYNC ({uv} {m0}))")
        fetches = sum(1 for ln in lines if re.match(rb"\* \d+ FETCH", ln))
        if fetches != nflags:
            raise RuntimeError(f"resync sent {fetches} FETCH, expected {nflags}")
        c.close()
        return dt, octets

    rows["SELECT (QRESYNC), cold (ms)"] = runs(qresync_cold)
    port = t.ports["imap"]
    hold = Client(port, user)
    hold.cmd("SELECT INBOX")
    hold.cmd("FETCH * (UID)")   # loads the shared array

    def qresync_warm():
        c = Client(port, user)
        c.cmd("ENABLE QRESYNC")
        dt, octets, _ = c.cmd(f"SELECT INBOX (QRESYNC ({uv} {m0}))")
        c.close()
        return dt, octets

    rows["SELECT (QRESYNC), warm (ms)"] = runs(qresync_warm)

    def fetch_vanished():
        c = Client(port, user)
        c.cmd("ENABLE QRESYNC")
        c.cmd("SELECT INBOX")
        dt, octets, _ = c.cmd(f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {m0} VANISHED)")
        c.close()
        return dt, octets

    rows["UID FETCH (CHANGEDSINCE VANISHED), warm (ms)"] = runs(fetch_vanished)

    def condstore_only():
        c = Client(port, user)
        dt1, o1, _ = c.cmd("SELECT INBOX (CONDSTORE)")
        dt2, o2, _ = c.cmd(f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {m0})")
        dt3, o3, _ = c.cmd("UID SEARCH ALL")
        c.close()
        return dt1 + dt2 + dt3, o1 + o2 + o3

    rows["without QRESYNC: SELECT + FETCH CHANGEDSINCE + UID SEARCH ALL, warm (ms)"] = \
        runs(condstore_only)
    hold.close()
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10000,100000", help="mailbox sizes")
    ap.add_argument("--changes", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--fill", default=str(REPO / "build" / "tests" / "bench" / "bench_fill"))
    a = ap.parse_args()

    helpers.BIN = release_binary()
    if not os.path.exists(a.fill):
        subprocess.run(["ninja", "-C", str(REPO / "build"), "tests/bench/bench_fill"], check=True)
    sizes = [int(x) for x in a.sizes.split(",")]
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-qresync-"))
    os.chmod(tmp, 0o755)
    t = bench_all.Postino(tmp)
    out = []
    try:
        t.start()
        t.add_users([f"q{n}@localhost" for n in sizes])
        t.stop()
        for n in sizes:
            r = subprocess.run([a.fill, str(tmp / "data"), f"q{n}@localhost", str(n)],
                               capture_output=True, text=True, check=True)
            print(f"  filled q{n}: {r.stdout.strip()}", flush=True)
        t.start()
        for n in sizes:
            user = f"q{n}@localhost"
            c = Client(t.ports["imap"], user)
            c.cmd("ENABLE QRESYNC")
            _, _, lines = c.cmd("SELECT INBOX")
            uv, m0 = code(lines, "UIDVALIDITY"), code(lines, "HIGHESTMODSEQ")
            c.close()
            nflags, ngone = make_changes(t.ports["imap"], user, n, a.changes)
            print(f"  {n} messages: {nflags} flag changes, {ngone} expunges", flush=True)
            for k, (ms, octets) in measure(t, user, uv, m0, nflags, ngone, a.repeat).items():
                out.append((f"{n} msgs, {a.changes} changes: {k}", ms, octets))
                print(f"  {out[-1][0]}: {ms:.2f} ms, {octets} octets", flush=True)
    finally:
        t.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    w = max(len(k) for k, _, _ in out)
    print()
    for k, ms, octets in out:
        print(f"{k:{w}} | {ms:9.2f} ms | {octets:9d} octets")


if __name__ == "__main__":
    main()
