#!/usr/bin/python3
# tests/bench/bench_notify.py: what a NOTIFY (RFC 5465) change costs against
# the number of mailboxes the user has.  For each size M, one user gets M
# mailboxes; --watchers sessions set NOTIFY SET (PERSONAL (MessageNew
# MessageExpunge)) and IDLE; one session APPENDs --n messages, one at a
# time, to one mailbox.  Reported: the median and 90th percentile time from
# sending the APPEND to each watcher's "* STATUS" (the client's
# clock), and the server's CPU per APPEND (utime + stime of the process over
# the run, divided by --n), beside the same APPENDs with no watcher.  If a
# change cost work per mailbox of the user, the figures would grow with M.
# Not part of the test suite; run by hand with nothing else busy:
#     tests/bench/bench_notify.py [--sizes 10,1000,5000] [--n 200]
import argparse
import os
import pathlib
import selectors
import shutil
import statistics
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(REPO / "tests" / "bench"))
os.environ.setdefault("POSTINO_TEST_TIMEOUT", "120")

from helpers import IMAP_KINDS, Server, imap_connect, make_message  # noqa: E402
from bench_smtp_pop3 import release_binary  # noqa: E402


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def appends(srv, w, watchers, n, sel):
    msg = make_message("bench notify")
    lat = []
    c0 = cpu_s(srv.proc.pid)
    for i in range(n):
        # One write: a second small one would wait for the first's ACK
        # (Nagle on the client's socket, ~40 ms of delayed ACK).
        t0 = time.perf_counter()
        w.send(f"a{i} APPEND Box/0 {{{len(msg)}+}}\r\n".encode() + msg + b"\r\n")
        waiting = set(range(len(watchers)))
        bufs = {k: b"" for k in waiting}
        while waiting:
            for key, _ in sel.select(10):
                k = key.data
                bufs[k] += watchers[k].sock.recv(65536)
                if k in waiting and b"* STATUS" in bufs[k]:
                    lat.append((time.perf_counter() - t0) * 1000)
                    waiting.discard(k)
        w.read_tagged(f"a{i}")
    return lat, (cpu_s(srv.proc.pid) - c0) / n * 1e6


def run(size, nwatch, n):
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-notify-"))
    srv = Server(tmp / "data", kinds=IMAP_KINDS)
    srv.start()
    try:
        user = srv.new_user("nb")
        w = imap_connect(srv, *user)
        for i in range(size):
            w.ok(f"CREATE Box/{i}")
        # Without watchers first: the APPEND's own cost.
        _, base = appends(srv, w, [], n, selectors.DefaultSelector())
        watchers = []
        sel = selectors.DefaultSelector()
        for k in range(nwatch):
            c = imap_connect(srv, *user)
            c.ok("NOTIFY SET (PERSONAL (MessageNew MessageExpunge))")
            c.send(b"i IDLE\r\n")
            assert c.read_response().startswith(b"+")
            c.sock.setblocking(False)
            sel.register(c.sock, selectors.EVENT_READ, k)
            watchers.append(c)
        lat, cpu = appends(srv, w, watchers, n, sel)
        print(f"{size:>6} mailboxes: STATUS after {statistics.median(lat):.3f} ms median, "
              f"{pct(lat, 90):.3f} ms p90; server CPU per APPEND {cpu:.0f} us with "
              f"{nwatch} watchers, {base:.0f} us without", flush=True)
    finally:
        srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10,1000,5000")
    ap.add_argument("--watchers", type=int, default=4)
    ap.add_argument("--n", type=int, default=200)
    a = ap.parse_args()
    os.environ["POSTINO_BIN"] = release_binary()
    for size in (int(x) for x in a.sizes.split(",")):
        run(size, a.watchers, a.n)


if __name__ == "__main__":
    main()
