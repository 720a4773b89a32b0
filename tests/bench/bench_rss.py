#!/usr/bin/python3
# tests/bench/bench_rss.py: the memory figures of issue 11 point 7 in one
# command.  It starts `postino serve` on the embedded default configuration
# (no --config; the six default listeners moved to free loopback ports, a
# fresh data directory), delivers one message and prints what is resident
# and why (/proc/PID/smaps grouped by mapping); then it runs a load of
# IMAP clients (LOGIN, SELECT, FETCH, APPEND, STORE, EXPUNGE; Dovecot's
# imaptest when it is built, else a Python client) and prints RSS before,
# at the peak and after the load.  Not part of the test suite; see
# tests/bench/README.md.
import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(REPO / "tests" / "bench"))

import helpers  # noqa: E402
from helpers import Server, make_message  # noqa: E402
from bench_smtp_pop3 import release_binary  # noqa: E402

DEFAULT_KINDS = ("smtp", "smtps", "pop3", "pop3s", "imap", "imaps")
PASSWORD = "bench-password"
IMAPTEST = os.environ.get("IMAPTEST", "/tmp/imaptest-build/src/imaptest")
MBOX_GEN = pathlib.Path("/work/shared/tools/imaptest/gen-mbox.py")


def status(pid):
    """VmRSS, RssAnon, RssFile, RssShmem (KiB) and the thread count."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "Threads"):
                out[k] = int(v.split()[0])
    return out


def pss(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def smaps(pid, data_dir):
    """Rss and Pss (KiB) per group of mappings: each shared library, each
    Berkeley DB region file, the heap, thread stacks, other anonymous."""
    groups = {}
    name = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            first = line.split(None, 1)[0]
            if "-" in first and not first.endswith(":"):
                parts = line.split(None, 5)
                path = parts[5].strip() if len(parts) > 5 else ""
                if path.startswith(str(data_dir)):
                    name = "region " + os.path.basename(path)
                elif path.startswith("/"):
                    name = os.path.basename(path).split(".so")[0] + ".so" \
                        if ".so" in path else os.path.basename(path)
                elif path == "[heap]":
                    name = "[heap] (malloc, main arena)"
                elif path.startswith("[stack"):
                    name = "[stack] (main thread)"
                elif path:
                    name = path
                else:
                    name = "anonymous (thread stacks, malloc arenas, mmap'd blocks)"
                continue
            if first in ("Rss:", "Pss:"):
                g = groups.setdefault(name, {"Rss:": 0, "Pss:": 0})
                g[first] += int(line.split()[1])
    return groups


def print_breakdown(pid, data_dir, title):
    st = status(pid)
    print(f"\n{title}: RSS {st['VmRSS'] / 1024:.1f} MiB (anon {st['RssAnon'] / 1024:.1f}, "
          f"file {st['RssFile'] / 1024:.1f}, shmem {st['RssShmem'] / 1024:.1f}), "
          f"Pss {pss(pid) / 1024:.1f} MiB, {st['Threads']} threads")
    rows = sorted(smaps(pid, data_dir).items(), key=lambda kv: -kv[1]["Rss:"])
    print(f"  {'mapping':58} {'Rss KiB':>8} {'Pss KiB':>8}")
    for name, g in rows:
        if g["Rss:"] == 0:
            continue
        print(f"  {name[:58]:58} {g['Rss:']:8} {g['Pss:']:8}")
    return st


def default_server(tmp, binary):
    """The embedded default config (no --config), the default listener kinds
    moved to free ports (the default ones may be taken on a shared host)."""
    helpers.BIN = binary
    return Server(tmp / "data", kinds=DEFAULT_KINDS)


def deliver_one(srv, rcpt):
    msg = make_message(subject="rss", to=rcpt)
    with helpers.Conn.connect(srv.ports["smtp"]) as c:
        c.smtp_reply()
        c.smtp_cmd("EHLO bench.example")
        r = c.smtp_deliver("bench@example.org", [rcpt], msg)
        assert r.code == 250, r
        c.smtp_quit()


# -- the load ------------------------------------------------------------------

def imap_client(port, user, stop, errors, counts, msg):
    """One client's loop until stop is set: the command mix of an IMAP
    session that reads and files mail."""
    def ok(c, line):
        r = c.cmd(line)
        # Another client sharing the mailbox may expunge what a FETCH
        # names: RFC 9051 7.1 lets the server answer NO [EXPUNGEISSUED].
        if r.status != "OK" and b"[EXPUNGEISSUED]" not in r.tagged:
            raise RuntimeError(f"{line[:60]!r}: {r.tagged!r}")

    append = b"APPEND INBOX (\\Seen) {%d+}\r\n" % len(msg) + msg
    while not stop.is_set():
        try:
            with helpers.ImapConn.connect(port) as c:
                c.read_greeting()
                ok(c, f'LOGIN "{user}" "{PASSWORD}"')
                for _ in range(20):
                    if stop.is_set():
                        break
                    ok(c, append)
                    ok(c, "SELECT INBOX")
                    ok(c, "FETCH 1:* (FLAGS UID ENVELOPE BODYSTRUCTURE)")
                    ok(c, "FETCH 1:* (BODY.PEEK[])")
                    ok(c, "SEARCH TEXT needle")
                    ok(c, "STORE 1 +FLAGS.SILENT (\\Deleted)")
                    ok(c, "EXPUNGE")
                    counts[0] += 1
                ok(c, "LOGOUT")
        except Exception as e:   # noqa: BLE001 - reported by the caller; go on
            if not stop.is_set():
                errors.append(f"{user}: {e}")


def python_load(srv, users, clients, seconds):
    stop = threading.Event()
    errors, counts = [], [0]
    msg = make_message(subject="load", body=b"needle " + b"x" * 3000 + b"\r\n")
    ths = [threading.Thread(target=imap_client,
                            args=(srv.ports["imap"], users[i % len(users)], stop, errors,
                                  counts, msg), daemon=True)
           for i in range(clients)]
    for t in ths:
        t.start()
    return stop, ths, errors, counts


def imaptest_load(srv, tmp, users, clients, seconds):
    mbox = tmp / "load.mbox"
    subprocess.run([sys.executable, str(MBOX_GEN), str(mbox), "200"], check=True,
                   stdout=subprocess.DEVNULL)
    # Its report goes to a file: a pipe read only at the end would fill
    # and stop it.
    out = open(tmp / "imaptest.out", "w+")
    return out, subprocess.Popen(
        [IMAPTEST, "host=127.0.0.1", f"port={srv.ports['imap']}",
         "user=load%d@localhost", f"pass={PASSWORD}", f"users={len(users)}",
         f"clients={clients}", f"secs={seconds}", f"mbox={mbox}", "no_pipelining"],
        stdout=out, stderr=subprocess.STDOUT)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--seconds", type=int, default=300, help="length of the load")
    ap.add_argument("--after", type=int, default=30, help="seconds to wait after the load")
    ap.add_argument("--python", action="store_true", help="the Python load even with imaptest")
    ap.add_argument("--no-load", action="store_true", help="only the figures at rest")
    a = ap.parse_args()

    binary = release_binary()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-rss-"))
    srv = default_server(tmp, binary)
    try:
        rcpt = "rest@localhost"
        # Users first, so the daemon opens the store alone (as at a real start).
        for u in [rcpt] + [f"load{i}@localhost" for i in range(1, a.users + 1)]:
            helpers.run_cli([binary, "user", "add", u, "--data", str(tmp / "data")],
                            input=PASSWORD + "\n")
        srv.start()
        pid = srv.proc.pid
        time.sleep(1)
        print_breakdown(pid, srv.data_dir, "after start")
        deliver_one(srv, rcpt)
        time.sleep(1)
        rest = print_breakdown(pid, srv.data_dir, "after start and one delivery")
        if a.no_load:
            return
        users = [f"load{i}@localhost" for i in range(1, a.users + 1)]
        use_imaptest = os.access(IMAPTEST, os.X_OK) and not a.python
        print(f"\nload: {a.clients} IMAP clients, {a.users} users, {a.seconds} s "
              f"({'imaptest' if use_imaptest else 'Python client'})", flush=True)
        peak = 0
        t_end = time.monotonic() + a.seconds
        if use_imaptest:
            out, proc = imaptest_load(srv, tmp, users, a.clients, a.seconds)
            while proc.poll() is None:
                peak = max(peak, status(pid)["VmRSS"])
                time.sleep(1)
            out.seek(0)
            lines = out.read().strip().splitlines()
            out.close()
            print("  imaptest totals:\n    " + "\n    ".join(lines[-4:]))
        else:
            stop, ths, errors, counts = python_load(srv, users, a.clients, a.seconds)
            while time.monotonic() < t_end:
                peak = max(peak, status(pid)["VmRSS"])
                time.sleep(1)
            stop.set()
            for t in ths:
                t.join(timeout=60)
            print(f"  rounds: {counts[0]}, errors: {len(errors)}")
            for e in errors[:5]:
                print("   ", e)
        print(f"  RSS at rest {rest['VmRSS'] / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB, "
              f"just after {status(pid)['VmRSS'] / 1024:.1f} MiB", flush=True)
        time.sleep(a.after)
        print_breakdown(pid, srv.data_dir, f"{a.after} s after the load")
    finally:
        if srv.proc:
            srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
