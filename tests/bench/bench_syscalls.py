#!/usr/bin/python3
# tests/bench/bench_syscalls.py: what one SMTP delivery costs the server in
# system calls and how many deliveries a second it takes (issue 11 point 4).
# For each binary given (default: the release build), on a fresh data
# directory each time:
#   - delivery rate with the C load client (tests/bench/loadclient.c) at each
#     session count, binaries interleaved so that they share the machine's
#     state; with --no-flush-too, also with `--bench-no-flush` (the log flush
#     skipped) to show what the group commit costs;
#   - with --strace, the system calls per message of every thread of the
#     server (strace -f -c attached to the running daemon) over one delivery
#     run at --strace-sessions sessions.
# Not part of the test suite; see tests/bench/README.md.
import argparse
import os
import pathlib
import signal
import statistics
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
BENCH = REPO / "tests" / "bench"
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(BENCH))
os.environ.setdefault("POSTINO_TEST_TIMEOUT", "600")

import helpers  # noqa: E402
from bench_all import build_client, parse_kv  # noqa: E402
from bench_smtp_pop3 import release_binary  # noqa: E402


def server(binary, tmp, sessions, no_flush):
    conf = tmp / "bench.conf"
    conf.write_text("limits = { max_connections = 1000; max_connections_per_ip = 1000; };\n")
    helpers.BIN = binary
    extra = ["--bench-no-flush"] if no_flush else []
    srv = helpers.Server(tmp / "data", kinds=("smtp",), config=conf, extra=extra)
    srv.start()
    for i in range(sessions):
        srv.add_user(f"box{i}@localhost", "bench-password")
    return srv


def cpu_s(pid, task=None):
    """User + system CPU seconds of the process (or of one of its threads)."""
    path = f"/proc/{pid}/task/{task}/stat" if task else f"/proc/{pid}/stat"
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def has_no_flush(binary):
    """Whether this binary knows --bench-no-flush (older ones do not)."""
    r = subprocess.run([binary, "serve", "--bench-no-flush", "--help"], capture_output=True)
    return r.returncode == 0


def deliver(client, port, n, size, sessions, pipelining):
    args = [client, "smtp", "-p", str(port), "-c", str(sessions), "-n", str(n), "-s", str(size),
            "-r", "box%d@localhost", "-t", "600"]
    if pipelining:
        args.append("-P")
    r = subprocess.run(args, capture_output=True, text=True, check=True)
    kv = parse_kv(r.stdout.strip().splitlines()[-1])
    if kv.get("errors", 0):
        raise RuntimeError(f"delivery errors: {r.stdout}")
    return kv


def strace_counts(client, binary, a, tmp):
    """System calls per message, by name, of every thread of the daemon."""
    srv = server(binary, tmp, a.strace_sessions, False)
    try:
        port = srv.ports["smtp"]
        deliver(client, port, 50, a.size, a.strace_sessions, a.pipelining)   # warm up
        out = tmp / "strace.txt"
        st = subprocess.Popen(["strace", "-f", "-c", "-q", "-o", str(out), "-p",
                               str(srv.proc.pid)])
        time.sleep(1)   # attached to every thread before the load starts
        deliver(client, port, a.strace_n, a.size, a.strace_sessions, a.pipelining)
        st.send_signal(signal.SIGINT)
        st.wait(60)
    finally:
        srv.stop()
    counts = {}
    for line in out.read_text().splitlines():
        f = line.split()
        # % time, seconds, usecs/call, calls, [errors,] syscall
        if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
            counts[f[-1]] = int(f[3])
    return {k: v / a.strace_n for k, v in counts.items()}


def main():
    ap = argparse.ArgumentParser(description="syscalls and rate of SMTP delivery")
    ap.add_argument("binaries", nargs="*", help="postino binaries (default: build-release)")
    ap.add_argument("-n", type=int, default=4000, help="messages per rate run")
    ap.add_argument("-s", "--size", type=int, default=4096)
    ap.add_argument("-c", "--sessions", default="1,8,32")
    ap.add_argument("-r", "--repeat", type=int, default=3, help="runs per figure (median)")
    ap.add_argument("-P", "--pipelining", action="store_true",
                    help="MAIL, RCPT and DATA in one write (default: one command per round trip, "
                         "as smtp-source)")
    ap.add_argument("--no-flush-too", action="store_true",
                    help="also measure each binary with --bench-no-flush")
    ap.add_argument("--strace", action="store_true", help="count system calls per message")
    ap.add_argument("--strace-n", type=int, default=2000)
    ap.add_argument("--strace-sessions", type=int, default=1)
    ap.add_argument("--no-rate", action="store_true")
    a = ap.parse_args()
    binaries = [os.path.abspath(b) for b in a.binaries] or [release_binary()]
    client = build_client()
    sessions = [int(x) for x in a.sessions.split(",")]
    modes = [False, True] if a.no_flush_too else [False]

    if a.strace:
        per = {}
        for b in binaries:
            with tempfile.TemporaryDirectory(prefix="postino-sys-") as d:
                per[b] = strace_counts(client, b, a, pathlib.Path(d))
        names = sorted(set().union(*per.values()), key=lambda k: -max(p.get(k, 0)
                                                                       for p in per.values()))
        print(f"system calls per message ({a.size} B, {a.strace_sessions} sessions, "
              f"{'pipelined' if a.pipelining else 'one command per round trip'})")
        print(f"{'syscall':16}" + "".join(f"{pathlib.Path(b).parent.name[:14]:>16}"
                                           for b in binaries))
        for k in names:
            vals = [per[b].get(k, 0) for b in binaries]
            if max(vals) >= 0.01:
                print(f"{k:16}" + "".join(f"{v:16.2f}" for v in vals))
        print(f"{'total':16}" + "".join(f"{sum(per[b].values()):16.2f}" for b in binaries))

    if a.no_rate:
        return
    results, cpus = {}, {}
    for rep in range(a.repeat):
        for c in sessions:
            for nf in modes:
                for b in binaries:
                    if nf and not has_no_flush(b):
                        continue
                    with tempfile.TemporaryDirectory(prefix="postino-rate-") as d:
                        srv = server(b, pathlib.Path(d), c, nf)
                        try:
                            pid = srv.proc.pid
                            cpu0, loop0 = cpu_s(pid), cpu_s(pid, pid)
                            r = deliver(client, srv.ports["smtp"], a.n, a.size, c, a.pipelining)
                            # server CPU per message, in microseconds: all
                            # threads, and the event-loop (main) thread
                            cpu = (cpu_s(pid) - cpu0) / a.n * 1e6
                            loop = (cpu_s(pid, pid) - loop0) / a.n * 1e6
                        finally:
                            srv.stop()
                    results.setdefault((b, c, nf), []).append(r["msgs_per_s"])
                    cpus.setdefault((b, c, nf), []).append((cpu, loop))
                    print(f"  run {rep + 1}: {b} c={c} no_flush={nf}: "
                          f"{r['msgs_per_s']:.0f} msg/s, server CPU {cpu:.0f} us/msg "
                          f"(loop thread {loop:.0f})", file=sys.stderr, flush=True)
    print(f"delivery msgs/s, {a.n} x {a.size} B, median of {a.repeat}"
          f"{', pipelined' if a.pipelining else ''}")
    for b in binaries:
        for nf in modes:
            if (b, sessions[0], nf) not in results:
                continue
            row = "  ".join(f"c={c}: {statistics.median(results[(b, c, nf)]):7.0f}"
                            for c in sessions)
            print(f"{b}{' (no flush)' if nf else ''}\n    {row}")
            row = "  ".join(f"c={c}: {statistics.median(x[0] for x in cpus[(b, c, nf)]):4.0f}"
                            f" ({statistics.median(x[1] for x in cpus[(b, c, nf)]):3.0f})"
                            for c in sessions)
            print(f"    server CPU us/msg (loop thread): {row}")
        if a.no_flush_too and (b, sessions[0], True) in results:
            for c in sessions:
                on = statistics.median(results[(b, c, False)])
                off = statistics.median(results[(b, c, True)])
                print(f"    durable / no-flush at c={c}: {on / off:.2f}")


if __name__ == "__main__":
    main()
