#!/usr/bin/env python3
"""SELECT latency and idle-session memory against the mailbox size (issue 11
point 3): SELECT at 1k / 100k / 1M messages, cold and warm, and the Pss
growth per idle IMAP session (LOGIN, SELECT, IDLE) on an empty, a
20,000-message and a 1,000,000-message INBOX.

Mailboxes are filled straight through the storage API (bench_fill, built in
build/ of this tree: `ninja -C build tests/bench/bench_fill`), 200-byte
messages, while the server is stopped.  Then, per size:

- cold: the first SELECT on a freshly started server (no session has had
  the mailbox selected, nothing cached), median over --cold restarts;
- warm: the median of --repeat SELECTs of one session (each closes the
  previous selection first, so with no other session holding it);
- shared: the median SELECT of a second session while the first keeps the
  mailbox selected.

Idle memory is bench_all.py's: restart, Pss before, --idle sessions opened
and idling, Pss after, divided by the sessions.  Then the same with
--loaded sessions that also FETCH * (UID), which loads the UID array: the
first session's growth (its array and the Berkeley DB cache pages its read
filled) and each further session's (sharing the array).  Not part of tests/run; run
by hand with nothing else busy:

    tests/bench/bench_select.py
    POSTINO_BIN=/path/to/other/postino tests/bench/bench_select.py --sizes 1000,100000
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
import time

BENCH = pathlib.Path(__file__).resolve().parent
REPO = BENCH.parent.parent
sys.path.insert(0, str(BENCH))
import bench_all  # noqa: E402
import helpers  # noqa: E402  (bench_all put tests/integration on the path)
from bench_smtp_pop3 import release_binary  # noqa: E402


def fill(tool, data, user, n):
    r = subprocess.run([tool, str(data), user, str(n)], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"bench_fill {user} {n}: {r.stderr.strip()}")
    print(f"  filled {user}: {r.stdout.strip()}", flush=True)


def select_times(t, user, repeat, cold_runs):
    """(cold ms, warm median ms, shared median ms): cold is the median over
    cold_runs restarts of the first SELECT after the restart."""
    colds = []
    for _ in range(cold_runs):
        t.stop()
        t.start()
        time.sleep(0.5)
        port = t.ports["imap"]
        r = bench_all.load("select", port, "-n", 1, "-u", user, "-w", bench_all.PASSWORD)
        colds.append(r["first_ms"])
    cold = statistics.median(colds)
    r = bench_all.load("select", port, "-n", repeat, "-u", user, "-w", bench_all.PASSWORD)
    warm = r["median_ms"]
    # A second session while one keeps the mailbox selected.
    hold = subprocess.Popen([bench_all.CLIENT, "idle", "-p", str(port), "-c", "1", "-k", "1",
                             "-u", user, "-w", bench_all.PASSWORD],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    hold.stdout.readline()
    r = bench_all.load("select", port, "-n", repeat, "-u", user, "-w", bench_all.PASSWORD)
    hold.stdin.close()
    hold.wait(60)
    return cold, warm, r["median_ms"]


def loaded_memory(t, user, n):
    """Pss growth with n sessions that SELECT, FETCH * (UID) (which loads
    the UID array; the first session reads it from the store, the others
    share it) and IDLE: (KiB for the first session, KiB per further one).
    The first also fills Berkeley DB's cache with the pages it read."""
    t.stop()
    t.start()
    time.sleep(1)

    def cmd(f, s, tag, line):
        s.sendall(f"{tag} {line}\r\n".encode())
        while True:
            r = f.readline()
            if not r:
                raise RuntimeError(f"{line}: connection closed")
            if r.startswith(tag.encode() + b" "):
                if not r.startswith(tag.encode() + b" OK"):
                    raise RuntimeError(f"{line}: {r!r}")
                return

    before = t.pss()
    socks = []
    mid = before
    try:
        for i in range(n):
            s = socket.create_connection(("127.0.0.1", t.ports["imap"]), timeout=60)
            f = s.makefile("rb")
            f.readline()
            cmd(f, s, "a", f"LOGIN {user} {bench_all.PASSWORD}")
            cmd(f, s, "b", "SELECT INBOX")
            cmd(f, s, "c", "FETCH * (UID)")
            s.sendall(b"d IDLE\r\n")
            f.readline()
            socks.append(s)
            if i == 0:
                time.sleep(1)
                mid = t.pss()
        time.sleep(1)
        after = t.pss()
    finally:
        for s in socks:
            s.close()
    return mid - before, (after - mid) / max(1, n - 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1000,100000,1000000", help="mailbox sizes for SELECT")
    ap.add_argument("--repeat", type=int, default=20, help="warm SELECTs per size")
    ap.add_argument("--cold", type=int, default=5, help="restarts for the cold SELECT")
    ap.add_argument("--idle", type=int, default=1000, help="idle sessions per INBOX")
    ap.add_argument("--idle-boxes", default="0,20000,1000000",
                    help="INBOX sizes for the idle figure")
    ap.add_argument("--idle-1m", type=int, default=None,
                    help="idle sessions on the 1M INBOX (default --idle; fewer for a server "
                         "that copies the list into each session)")
    ap.add_argument("--loaded", type=int, default=200,
                    help="sessions that also FETCH (loading the shared UID array); 0: skip")
    ap.add_argument("--fill", default=str(REPO / "build" / "tests" / "bench" / "bench_fill"))
    a = ap.parse_args()

    helpers.BIN = release_binary()
    bench_all.CLIENT = bench_all.build_client()
    if not os.path.exists(a.fill):
        subprocess.run(["ninja", "-C", str(REPO / "build"), "tests/bench/bench_fill"], check=True)
    sizes = [int(x) for x in a.sizes.split(",")]
    boxes = [int(x) for x in a.idle_boxes.split(",")]
    counts = sorted(set(sizes + boxes))
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-select-"))
    os.chmod(tmp, 0o755)
    t = bench_all.Postino(tmp)
    rows = []
    try:
        t.start()
        t.add_users([f"n{n}@localhost" for n in counts])
        t.stop()
        for n in counts:
            if n:
                fill(a.fill, tmp / "data", f"n{n}@localhost", n)
        t.start()
        for n in sizes:
            cold, warm, shared = select_times(t, f"n{n}@localhost", a.repeat, a.cold)
            rows.append((f"SELECT {n} messages, cold (ms)", cold))
            rows.append((f"SELECT {n} messages, warm (ms)", warm))
            rows.append((f"SELECT {n} messages, another session has it (ms)", shared))
            for k, v in rows[-3:]:
                print(f"  {k}: {v:.3f}", flush=True)
        for n in boxes:
            k = a.idle_1m if (n >= 1000000 and a.idle_1m) else a.idle
            est = bench_all.idle_memory(t, f"n{n}@localhost", k, 50)
            rows.append((f"idle KiB/session, {k} on {n}-message INBOX", est))
            print(f"  {rows[-1][0]}: {est:.1f}", flush=True)
        for n in boxes:
            if not n or not a.loaded:
                continue
            first, each = loaded_memory(t, f"n{n}@localhost", a.loaded)
            rows.append((f"after FETCH: first session KiB, {n}-message INBOX", first))
            rows.append((f"after FETCH: KiB per further session ({a.loaded})", each))
            for k, v in rows[-2:]:
                print(f"  {k}: {v:.1f}", flush=True)
    finally:
        t.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    w = max(len(k) for k, _ in rows)
    print()
    for k, v in rows:
        print(f"{k:{w}} | {v:10.3f}")


if __name__ == "__main__":
    main()
