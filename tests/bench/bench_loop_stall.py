#!/usr/bin/python3
# tests/bench/bench_loop_stall.py: how long a loop's sessions wait while
# deliveries and IMAP sessions share a mailbox (issue 11 point 1: "nothing
# blocks a loop").  The release binary (or each BIN given) runs --loops 1,
# so that every session is on the loop that a lock wait would stop:
#   - 16 SMTP sessions deliver 4 KiB messages to box@localhost as fast as
#     the load client can (tests/bench/loadclient.c, pipelined);
#   - 8 IMAP sessions have box's INBOX selected and IDLE: each delivery
#     makes them catch up (change records, the \Recent claim of the first);
#   - 2 more sessions of box STORE a new keyword now and then and FETCH
#     the newest message's flags (a new keyword's entry, record reads);
#   - 2 more sessions of box FETCH the newest message whole again and
#     again, as a client downloading new mail does (content reads: the
#     newest content's pages are where the next delivery writes); their
#     round trips are timed too;
#   - a probe session of another user sends NOOP after NOOP and times each
#     round trip.
# A loop that waits for a delivery's lock stalls the probe too: the probe's
# p99 and maximum are the figures.  With several binaries the rounds take
# turns, and the table gives the median of the rounds.
# Not part of the test suite; see tests/bench/README.md.
import argparse
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(REPO / "tests" / "bench"))
import helpers  # noqa: E402
from helpers import imap_connect  # noqa: E402
import bench_all  # noqa: E402
from bench_smtp_pop3 import release_binary  # noqa: E402


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def run_round(binary, seconds):
    helpers.BIN = binary
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-stall-"))
    srv = helpers.Server(tmp / "data", kinds=("smtp", "imap"), extra=["--loops", "1"])
    srv.start()
    stop = threading.Event()
    measuring = threading.Event()
    threads = []
    try:
        box = srv.new_user("box")
        probe_user = srv.new_user("probe")
        idlers = []
        for _ in range(8):
            c = imap_connect(srv, *box)
            c.select("INBOX")
            c.send(b"I IDLE\r\n")
            assert c.read_response().startswith(b"+")
            idlers.append(c)

        def drain(c):
            try:
                while not stop.is_set():
                    c.read_response()
            except Exception:  # noqa: BLE001 - the connection closes at the end
                pass

        def flagger(k):
            c = imap_connect(srv, *box)
            c.select("INBOX")
            i = 0
            while not stop.is_set():
                c.cmd(f"UID STORE 1:* +FLAGS.SILENT (kw{k}x{i % 50})" if i % 10 == 0
                      else "FETCH * (FLAGS)")
                i += 1
                time.sleep(0.002)

        fetch_lat = []

        def reader():
            c = imap_connect(srv, *box)
            c.select("INBOX")
            try:
                while not stop.is_set():
                    c.cmd("NOOP")
                    t0 = time.perf_counter()
                    c.cmd("FETCH * (BODY.PEEK[])")
                    if measuring.is_set():
                        fetch_lat.append((time.perf_counter() - t0) * 1000)
                    time.sleep(0.001)
            except Exception:  # noqa: BLE001 - the server stops at the end
                pass

        for c in idlers:
            threads.append(threading.Thread(target=drain, args=(c,), daemon=True))
        for k in range(2):
            threads.append(threading.Thread(target=flagger, args=(k,), daemon=True))
        for _ in range(2):
            threads.append(threading.Thread(target=reader, daemon=True))
        for t in threads:
            t.start()
        load = subprocess.Popen([bench_all.CLIENT, "smtp", "-p", str(srv.ports["smtp"]),
                                 "-c", "16", "-n", "1000000", "-s", "4096", "-P",
                                 "-r", box[0], "-t", str(seconds + 5)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        probe = imap_connect(srv, *probe_user)
        probe.select("INBOX")
        time.sleep(1)
        lat = []
        measuring.set()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            t0 = time.perf_counter()
            probe.ok("NOOP")
            lat.append((time.perf_counter() - t0) * 1000)
        measuring.clear()
        load.kill()
        load.wait()
        fl = list(fetch_lat) or [0.0]
        return {"p50": percentile(lat, 0.5), "p99": percentile(lat, 0.99),
                "p999": percentile(lat, 0.999), "max": max(lat), "n": len(lat),
                "f50": percentile(fl, 0.5), "f99": percentile(fl, 0.99), "fmax": max(fl),
                "fn": len(fetch_lat)}
    finally:
        stop.set()
        srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("bins", nargs="*", help="NAME=BINARY (default: the release build)")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    bins = [b.split("=", 1) for b in a.bins] or [["postino", release_binary()]]
    bench_all.CLIENT = bench_all.build_client()
    res = {}
    for r in range(a.rounds):
        for name, b in bins:
            out = run_round(b, a.seconds)
            res.setdefault(name, []).append(out)
            print(f"round {r} {name:10} NOOP ms p50 {out['p50']:.3f} p99 {out['p99']:.3f} "
                  f"p99.9 {out['p999']:.3f} max {out['max']:.1f} ({out['n']} probes); "
                  f"FETCH newest ms p50 {out['f50']:.2f} p99 {out['f99']:.2f} "
                  f"max {out['fmax']:.1f} ({out['fn']})", flush=True)
    print(f"\n{'':10} {'p50':>8} {'p99':>8} {'p99.9':>8} {'max':>8}  (NOOP round trip, ms, "
          f"median of {a.rounds} rounds) | FETCH of the newest: p50 p99 max, ms")
    for name, rs in res.items():
        med = {k: statistics.median(x[k] for x in rs)
               for k in ("p50", "p99", "p999", "max", "f50", "f99", "fmax")}
        print(f"{name:10} {med['p50']:8.3f} {med['p99']:8.3f} {med['p999']:8.3f} {med['max']:8.1f}"
              f" | {med['f50']:8.2f} {med['f99']:8.2f} {med['fmax']:8.1f}")


if __name__ == "__main__":
    main()
