#!/usr/bin/python3
# tests/bench/bench_smtp_pop3.py: delivery and retrieval throughput of the
# real binary.  For each concurrency (default 1, 8, 32 SMTP sessions) it
# starts `postino serve --sandbox` on a fresh data directory, delivers N
# messages of SIZE bytes (each session reuses its connection), reads them all
# back over POP3, and prints messages/s, MB/s and messages per Berkeley DB
# log flush (from `postino stats`), which shows how well group commit works.
# Not part of the test suite; see tests/bench/README.md.
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
os.environ.setdefault("POSTINO_TEST_TIMEOUT", "120")

import helpers  # noqa: E402
from helpers import Server  # noqa: E402


def release_binary():
    """POSTINO_BIN, or build-release/postino (configured and built if needed)."""
    if os.environ.get("POSTINO_BIN"):
        return os.environ["POSTINO_BIN"]
    build = REPO / "build-release"
    if not (build / "build.ninja").exists():
        # werror off: a warning that only -O3 finds must not block a measurement
        # (the test builds keep -Werror).
        subprocess.run(["meson", "setup", str(build), "--buildtype=release", "-Dtests=disabled",
                        "-Dwerror=false"], cwd=REPO, check=True)
    subprocess.run(["ninja", "-C", str(build), "postino"], cwd=REPO, check=True)
    return str(build / "postino")


def message(i, size):
    head = (f"From: <bench@example.org>\r\nTo: <rcpt@example.com>\r\n"
            f"Subject: bench {i}\r\nMessage-ID: <{i}.{time.time_ns()}@bench>\r\n\r\n").encode()
    line = b"The quick brown fox jumps over the lazy dog 0123456789 abcdefghijklmnopqrs\r\n"
    body = (line * (size // len(line) + 1))[:max(0, size - len(head) - 2)] + b"\r\n"
    return head + body


def deliver(srv, n, size, sessions):
    """n messages over `sessions` concurrent SMTP connections; returns seconds."""
    per = [n // sessions + (1 if i < n % sessions else 0) for i in range(sessions)]
    errors = []
    start_gate = threading.Barrier(sessions + 1)

    def worker(k):
        try:
            c = srv.smtp()
            msgs = [message(k * 1000000 + j, size) for j in range(per[k])]
            rcpt = f"box{k}@example.com"
            start_gate.wait()
            for m in msgs:
                # MAIL, RCPT and DATA in one write (RFC 2920), then the data.
                c.send(f"MAIL FROM:<bench@example.org>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n".encode())
                codes = [c.smtp_reply().code for _ in range(3)]
                if codes != [250, 250, 354]:
                    raise RuntimeError(f"envelope replies {codes}")
                c.send(m + b".\r\n")
                r = c.smtp_reply()
                if r.code != 250:
                    raise RuntimeError(f"end of data: {r}")
            c.smtp_quit()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))
            try:
                start_gate.abort()
            except threading.BrokenBarrierError:
                pass

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(sessions)]
    for t in threads:
        t.start()
    start_gate.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    dt = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"delivery failed: {errors[:3]}")
    return dt, per


def retrieve(srv, per, sessions):
    """RETR everything from every mailbox, one POP3 session per mailbox."""
    got = [0] * sessions
    nbytes = [0] * sessions
    errors = []

    def worker(k):
        try:
            c = srv.pop3(f"box{k}@example.com", "any")
            count, _ = c.pop3_stat()
            for i in range(1, count + 1):
                nbytes[k] += len(c.pop3_retr(i))
            got[k] = count
            c.pop3_quit()
        except BaseException as e:  # noqa: BLE001
            errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(sessions)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dt = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"retrieval failed: {errors[:3]}")
    if got != per:
        raise RuntimeError(f"retrieved {sum(got)} messages, delivered {sum(per)}")
    return dt, sum(nbytes)


def main():
    ap = argparse.ArgumentParser(
        description="SMTP delivery and POP3 retrieval throughput of postino (sandbox mode)")
    ap.add_argument("-n", "--messages", type=int, default=2000)
    ap.add_argument("-s", "--size", type=int, default=4096, help="bytes per message")
    ap.add_argument("-c", "--sessions", default="1,8,32",
                    help="comma-separated concurrent SMTP sessions per run")
    ap.add_argument("--keep", action="store_true", help="keep the data directories")
    args = ap.parse_args()
    helpers.BIN = release_binary()
    print(f"binary {helpers.BIN}, {args.messages} messages of {args.size} bytes per run")
    hdr = (f"{'sessions':>8} | {'SMTP msg/s':>10} {'MB/s':>7} {'msg/flush':>9} "
           f"{'flushes':>7} | {'POP3 msg/s':>10} {'MB/s':>7}")
    print(hdr)
    print("-" * len(hdr))
    for sessions in [int(x) for x in args.sessions.split(",")]:
        tmp = pathlib.Path(tempfile.mkdtemp(prefix=f"postino-bench-{sessions}-"))
        # Default log level: the "listening" and "ready" lines are info.
        srv = Server(tmp / "data", sandbox=True, kinds=("smtp", "pop3"))
        srv.start()
        try:
            f0 = srv.stats()["log_flushes"]
            dt, per = deliver(srv, args.messages, args.size, sessions)
            f1 = srv.stats()["log_flushes"]
            rdt, rbytes = retrieve(srv, per, sessions)
        finally:
            srv.stop()
        flushes = f1 - f0
        mb = args.messages * args.size / 1e6
        print(f"{sessions:>8} | {args.messages / dt:>10.0f} {mb / dt:>7.2f} "
              f"{args.messages / max(flushes, 1):>9.1f} {flushes:>7} | "
              f"{args.messages / rdt:>10.0f} {rbytes / 1e6 / rdt:>7.2f}", flush=True)
        if srv.problems:
            print("\n".join(srv.problems), file=sys.stderr)
            return 1
        if args.keep:
            print(f"  data in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
