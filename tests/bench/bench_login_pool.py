#!/usr/bin/python3
# tests/bench/bench_login_pool.py: logins under load and what they cost the
# other sessions (issue 11 point 2: password checks on the worker pool).
# Runs IMAP LOGIN+LOGOUT with --c clients at a time (tests/bench/loadclient.c,
# mode login) against a daemon with --loops loops: cold (each of --n users
# once, a full yescrypt check) and cached (the same users again, answered
# from the credential cache).  Meanwhile one more IMAP session, logged in
# beforehand, sends a NOOP every ~2 ms and times each round trip: with the hash
# on the loop, a NOOP waits for every hash ahead of it on its loop.
# POSTINO_BIN=... runs another build (e.g. one from before the change).
# Not part of the test suite; see tests/bench/README.md.
import argparse
import os
import pathlib
import statistics
import sys
import tempfile
import threading
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(REPO / "tests" / "bench"))
os.environ.setdefault("POSTINO_TEST_TIMEOUT", "120")

import helpers  # noqa: E402
from helpers import IMAP_KINDS, Server, imap_connect  # noqa: E402
import bench_all  # noqa: E402
from bench_smtp_pop3 import release_binary  # noqa: E402

PASSWORD = "bench-password"


class Prober(threading.Thread):
    """NOOP round trips on one logged-in IMAP session until stopped."""

    def __init__(self, srv, user):
        super().__init__(daemon=True)
        self.c = imap_connect(srv, user, PASSWORD)
        self.rtts = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            t0 = time.perf_counter()
            self.c.ok("NOOP")
            self.rtts.append(time.perf_counter() - t0)
            # Paced, so that the probe does not take the CPU the logins need.
            time.sleep(0.002)

    def window(self, fn):
        """Run fn() while probing; the round trips taken meanwhile, in ms."""
        n0 = len(self.rtts)
        r = fn()
        return r, [1000 * x for x in self.rtts[n0:]]


def describe(ms):
    if not ms:
        return "no NOOP completed"
    ms = sorted(ms)

    def pct(p):
        return ms[min(len(ms) - 1, int(p * len(ms)))]
    return (f"{len(ms)} NOOPs, median {statistics.median(ms):.2f} ms, p90 {pct(0.9):.2f} ms, "
            f"p99 {pct(0.99):.2f} ms, max {ms[-1]:.2f} ms")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=300, help="users (cold logins)")
    ap.add_argument("-c", type=int, default=32, help="concurrent logins")
    ap.add_argument("--loops", type=int, default=2)
    ap.add_argument("--cached-rounds", type=int, default=4)
    args = ap.parse_args()
    helpers.BIN = release_binary()
    bench_all.CLIENT = bench_all.build_client()
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        srv = Server(pathlib.Path(tmp) / "data", kinds=IMAP_KINDS,
                     extra=["--loops", str(args.loops)])
        srv.start()
        try:
            print(f"binary {helpers.BIN}, loops={args.loops}, {args.c} clients at a time",
                  flush=True)
            for i in range(args.n):
                srv.add_user(f"lp{i}@localhost", PASSWORD)
            srv.add_user("probe@localhost", PASSWORD)
            probe = Prober(srv, "probe@localhost")
            probe.start()
            time.sleep(1)
            _, idle = probe.window(lambda: time.sleep(2))
            print(f"NOOP, no logins running: {describe(idle)}", flush=True)

            def cold():
                return bench_all.load("login", srv.ports["imap"], "-c", args.c, "-n", args.n,
                                      "-u", "lp%d@localhost", "-w", PASSWORD)
            r, during = probe.window(cold)
            print(f"cold logins: {r['ops_per_s']:.1f} logins/s ({args.n} users once)", flush=True)
            print(f"NOOP during cold logins: {describe(during)}", flush=True)

            def cached():
                rates = []
                for _ in range(args.cached_rounds):
                    rates.append(bench_all.load("login", srv.ports["imap"], "-c", args.c, "-n",
                                                args.n, "-u", "lp%d@localhost", "-w",
                                                PASSWORD)["ops_per_s"])
                return rates
            rates, during = probe.window(cached)
            print(f"cached logins: {statistics.median(rates):.0f} logins/s (median of "
                  f"{len(rates)} rounds of {args.n})", flush=True)
            print(f"NOOP during cached logins: {describe(during)}", flush=True)
            probe.stop.set()
            probe.join()
        finally:
            srv.stop()


if __name__ == "__main__":
    main()
