#!/usr/bin/python3
# tests/bench/bench_cmp.py: the rows of issue 11 that sit near their
# targets (delivery at 32 sessions, POP3 RETR, IMAP FETCH), postino and
# Dovecot interleaved: each round runs one server, then the other, and the
# table gives the median of the rounds.  On a shared machine whose disk
# and CPU change from minute to minute, bench_all.py (one server after the
# other, 16 minutes) can measure the two in different weather; here both
# see the same.  Uses bench_all.py's servers and load client.
import argparse
import pathlib
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bench_all as B  # noqa: E402


def one_round(cls, rows):
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-cmp-"))
    t = cls(tmp)
    t.start()
    try:
        time.sleep(1)
        t.add_users([f"box{i}@localhost" for i in range(32)] + ["reader@localhost"])
        for size, n in ((4096, 4000), (102400, 800)):
            r = B.deliver(t, n, size, 32, "box%d@localhost")
            rows.setdefault(f"deliver {size // 1024} KiB, 32 sessions", {}).setdefault(
                t.name, []).append(r["msgs_per_s"])
        B.deliver(t, 5000, 4096, 8, "reader@localhost")
        user = ["-u", "reader@localhost", "-w", B.PASSWORD]
        for k in (1, 64):
            r = B.load("pop3", t.ports["pop3"], "-n", 5000, "-k", k, *user)
            rows.setdefault(f"POP3 RETR, {k} in flight", {}).setdefault(t.name, []).append(
                r["msgs_per_s"])
        for mode, label in (("imap-body", "IMAP FETCH BODY.PEEK[]"),
                            ("imap-header", "IMAP FETCH HEADER.FIELDS")):
            r = B.load(mode, t.ports["imap"], "-n", 3, *user)
            rows.setdefault(label, {}).setdefault(t.name, []).append(r["msgs_per_s"])
    finally:
        t.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description="postino and Dovecot, interleaved")
    ap.add_argument("-r", "--rounds", type=int, default=3)
    a = ap.parse_args()
    B.CLIENT = B.build_client()
    B.helpers.BIN = B.release_binary()
    rows = {}
    for i in range(a.rounds):
        for cls in (B.Postino, B.Dovecot):
            one_round(cls, rows)
            print(f"round {i + 1}: {cls.name} done", flush=True)
    print(f"\n{'msg/s, median of ' + str(a.rounds):34} | {'postino':>9} | {'dovecot':>9} | ratio")
    for k, v in rows.items():
        p = statistics.median(v["postino"])
        d = statistics.median(v["dovecot"])
        print(f"{k:34} | {p:9.0f} | {d:9.0f} | {p / d:5.2f}")


if __name__ == "__main__":
    main()
