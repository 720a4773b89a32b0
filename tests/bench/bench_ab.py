#!/usr/bin/python3
# tests/bench/bench_ab.py: bench_all's rate rows (delivery at 32 sessions,
# POP3 RETR, IMAP FETCH) for two or more postino binaries, in interleaved
# rounds on fresh servers, medians at the end: what a change costs or
# gains, in one run of this machine.
#   tests/bench/bench_ab.py ROUNDS NAME=BIN [NAME=BIN ...]
# Environment: SESS (sessions, default 32), SIZES (default 4096,102400),
# N (4 KiB messages per delivery run, default 16000), READN (messages in
# the reading mailbox, default 20000), FR (UID FETCH 1:* rounds, default
# 12), PASSES (POP3 passes over the mailbox, default 4).
# Not part of the test suite; see tests/bench/README.md.
import os
import pathlib
import shutil
import statistics
import sys
import tempfile
import types

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bench_all as B  # noqa: E402
import helpers  # noqa: E402


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__ or "usage: bench_ab.py ROUNDS NAME=BIN [NAME=BIN ...]")
    B.CLIENT = B.build_client()
    rounds = int(sys.argv[1])
    bins = [x.split("=", 1) for x in sys.argv[2:]]
    a = types.SimpleNamespace(sessions=os.environ.get("SESS", "32"),
                              sizes=os.environ.get("SIZES", "4096,102400"),
                              messages=int(os.environ.get("N", "16000")),
                              read_n=int(os.environ.get("READN", "20000")),
                              rounds=int(os.environ.get("FR", "12")),
                              read_passes=int(os.environ.get("PASSES", "4")))
    res = {}
    for r in range(rounds):
        for name, b in bins:
            helpers.BIN = b
            tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-ab-"))
            os.chmod(tmp, 0o755)

            def put(k, v, name=name, r=r):
                res.setdefault(k, {}).setdefault(name, []).append(v)
                print(f"  r{r} {name:8} {k:45} {v:10.1f}", flush=True)
            try:
                B.rate_round(B.Postino(tmp), a, put)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    print("\nmedians")
    for k, d in res.items():
        print(f"{k:45} " + "  ".join(f"{n}={statistics.median(v):10.1f}" for n, v in d.items()))


if __name__ == "__main__":
    main()
