#!/usr/bin/env python3
"""SORT, THREAD and SEARCH over a large mailbox (issue 13): how long each
takes at 100,000 messages, and how long a NOOP of another session on the
same event loop waits meanwhile (the commands must not stall the loop).

The INBOX is filled straight through the storage API (bench_fill in
"threads" mode: mailing-list headers, threads of ten with References,
dates over a year in several zones), while the server is stopped.  The
server then runs with one loop (--loops 1), so the second session shares
the loop of the first.  Per command: the first run and the median of
--repeat runs (wall time from the command to its tagged OK), and the
NOOP round trips of the other session during all the runs (median and
max).  Not part of tests/run; run by hand with nothing else busy:

    tests/bench/bench_sort_thread.py
    tests/bench/bench_sort_thread.py --messages 20000 --repeat 5
"""
import argparse
import os
import pathlib
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BENCH = pathlib.Path(__file__).resolve().parent
REPO = BENCH.parent.parent
sys.path.insert(0, str(BENCH))
import bench_all  # noqa: E402
import helpers  # noqa: E402  (bench_all put tests/integration on the path)
from bench_smtp_pop3 import release_binary  # noqa: E402

COMMANDS = [
    "UID SEARCH ALL",
    "UID SEARCH SUBJECT \"topic 17 \"",
    "UID SORT (ARRIVAL) UTF-8 ALL",
    "UID SORT (SIZE) UTF-8 ALL",
    "UID SORT (SUBJECT) UTF-8 ALL",
    "UID SORT (REVERSE DATE) UTF-8 ALL",
    "UID SORT (FROM DATE) UTF-8 ALL",
    "UID SORT (DISPLAYFROM) UTF-8 ALL",
    "UID SORT RETURN (MIN MAX COUNT) (SUBJECT) UTF-8 ALL",
    "UID THREAD ORDEREDSUBJECT UTF-8 ALL",
    "UID THREAD REFERENCES UTF-8 ALL",
]


class Client:
    def __init__(self, port, user):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=600)
        self.f = self.s.makefile("rb")
        self.f.readline()
        self.n = 0
        self.cmd(f"LOGIN {user} {bench_all.PASSWORD}")

    def cmd(self, line):
        """Runs a command; (seconds, bytes of untagged data)."""
        self.n += 1
        tag = f"b{self.n}".encode()
        t0 = time.perf_counter()
        self.s.sendall(tag + b" " + line.encode() + b"\r\n")
        size = 0
        while True:
            r = self.f.readline()
            if not r:
                raise RuntimeError(f"{line}: connection closed")
            if r.startswith(tag + b" "):
                if not r.startswith(tag + b" OK"):
                    raise RuntimeError(f"{line}: {r!r}")
                return time.perf_counter() - t0, size
            size += len(r)

    def close(self):
        self.s.close()


def noop_loop(port, user, stop, out):
    """Another session on the same loop: NOOP round trips until stopped."""
    c = Client(port, user)
    c.cmd("SELECT INBOX")
    while not stop.is_set():
        out.append(c.cmd("NOOP")[0])
    c.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=100000)
    ap.add_argument("--size", type=int, default=500, help="least message size")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--fill", default=str(REPO / "build" / "tests" / "bench" / "bench_fill"))
    a = ap.parse_args()

    helpers.BIN = release_binary()
    if not os.path.exists(a.fill):
        subprocess.run(["ninja", "-C", str(REPO / "build"), "tests/bench/bench_fill"], check=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-sort-"))
    os.chmod(tmp, 0o755)
    t = bench_all.Postino(tmp)
    t.srv.extra = ["--loops", "1"]
    user = "big@localhost"
    rows = []
    try:
        t.start()
        t.add_users([user])
        t.stop()
        r = subprocess.run([a.fill, str(tmp / "data"), user, str(a.messages), str(a.size),
                            "threads"], capture_output=True, text=True, check=True)
        print(f"  filled: {r.stdout.strip()}", flush=True)
        t.start()
        port = t.ports["imap"]
        c = Client(port, user)
        c.cmd("SELECT INBOX")
        for line in COMMANDS:
            noops, stop = [], threading.Event()
            th = threading.Thread(target=noop_loop, args=(port, user, stop, noops))
            th.start()
            time.sleep(0.2)
            runs, size = [], 0
            for _ in range(a.repeat):
                dt, size = c.cmd(line)
                runs.append(dt)
            stop.set()
            th.join()
            row = (line, runs[0] * 1000, statistics.median(runs) * 1000, size,
                   statistics.median(noops) * 1000 if noops else 0,
                   max(noops) * 1000 if noops else 0)
            rows.append(row)
            print("  %-52s first %8.1f ms  median %8.1f ms  %9d B  noop med %.2f max %.1f ms"
                  % row, flush=True)
        c.close()
    finally:
        t.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    print(f"{a.messages} messages; ms; NOOP of another session on the same loop meanwhile")
    print("| command | first | median | response bytes | NOOP median | NOOP max |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print("| `%s` | %.1f | %.1f | %d | %.2f | %.1f |" % r)


if __name__ == "__main__":
    main()
