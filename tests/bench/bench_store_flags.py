#!/usr/bin/python3
# tests/bench/bench_store_flags.py: what a flag change costs the server
# (storage_msg_bulk.c store_msgs_flags, the path of IMAP STORE, FETCH's
# \Seen marks and POP3's RETR marks), as server CPU and wall time per
# message of `UID STORE 1:* +FLAGS.SILENT (\Seen)` and `-FLAGS.SILENT`
# over a mailbox of -n messages, alternately.  Each binary given gets a
# fresh data directory per round; binaries are interleaved round by round
# so that they share the machine's weather.  Medians of all the STOREs.
#
#   tests/bench/bench_store_flags.py [BINARY ...] [-n 20000] [--rounds 2]
#
# Default binary: the release build.  Not part of tests/run.
import argparse
import imaplib
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bench_all as B  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def server_cpu(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / TICK


def one_round(binary, n, stores):
    B.helpers.BIN = binary
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-flags-"))
    srv = B.helpers.Server(tmp / "data", kinds=("smtp", "imap"))
    srv.start()
    out = []
    try:
        srv.add_user("flags@localhost", B.PASSWORD)
        B.load("smtp", srv.ports["smtp"], "-c", 8, "-n", n, "-s", 2000, "-P",
               "-r", "flags@localhost", "-t", 600)
        m = imaplib.IMAP4("127.0.0.1", srv.ports["imap"])
        m.login("flags@localhost", B.PASSWORD)
        m.select("INBOX")
        for i in range(stores):
            op = "+FLAGS.SILENT" if i % 2 == 0 else "-FLAGS.SILENT"
            c0, t0 = server_cpu(srv.proc.pid), time.perf_counter()
            typ, _ = m.uid("STORE", "1:*", op, "(\\Seen)")
            if typ != "OK":
                raise RuntimeError(f"STORE: {typ}")
            out.append(((server_cpu(srv.proc.pid) - c0) / n * 1e6,
                        (time.perf_counter() - t0) / n * 1e6))
        m.logout()
    finally:
        srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def main():
    ap = argparse.ArgumentParser(description="server cost of a flag change")
    ap.add_argument("binaries", nargs="*", help="postino binaries (default: build-release)")
    ap.add_argument("-n", type=int, default=20000, help="messages in the mailbox")
    ap.add_argument("-r", "--rounds", type=int, default=2)
    ap.add_argument("--stores", type=int, default=6, help="STOREs per round")
    a = ap.parse_args()
    B.CLIENT = B.build_client()
    binaries = [os.path.abspath(b) for b in a.binaries] or [B.release_binary()]
    res = {b: [] for b in binaries}
    for _ in range(a.rounds):
        for b in binaries:
            res[b] += one_round(b, a.n, a.stores)
    print(f"UID STORE 1:* +/-FLAGS.SILENT (\\Seen), {a.n} messages, "
          f"median of {a.rounds * a.stores}")
    print(f"{'binary':48} | server CPU us/msg | wall us/msg")
    for b, v in res.items():
        print(f"{b[-48:]:48} | {statistics.median(x[0] for x in v):17.2f} | "
              f"{statistics.median(x[1] for x in v):11.2f}")


if __name__ == "__main__":
    main()
