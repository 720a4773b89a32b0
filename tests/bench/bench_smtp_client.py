#!/usr/bin/python3
# tests/bench/bench_smtp_client.py: outbound SMTP client throughput and
# memory.  Starts `postino serve --sandbox` as the receiving server on a
# fresh data directory and sends N messages of 4 KiB and of 100 KiB over one
# connection with tests/tools/smtp_send (smtp/smtp_client.c; PIPELINING,
# connection reuse), then one large message to show the client's peak RSS
# does not grow with the message.  Prints messages/s, MB/s, connections
# used and the client's max RSS.  The receiver's group commit is part of
# every figure (one message at a time: each waits for its log flush).
# Not part of the test suite; see tests/bench/README.md.
#   tests/bench/bench_smtp_client.py [-n 2000] [--big-mib 20]
import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(REPO / "tests" / "bench"))
os.environ.setdefault("POSTINO_TEST_TIMEOUT", "120")

import helpers  # noqa: E402
from helpers import Server  # noqa: E402
from bench_smtp_pop3 import message, release_binary  # noqa: E402


def smtp_send_binary():
    if os.environ.get("SMTP_SEND"):
        return os.environ["SMTP_SEND"]
    subprocess.run(["ninja", "-C", str(REPO / "build"), "tests/tools/smtp_send"], check=True,
                   stdout=subprocess.DEVNULL)
    return str(REPO / "build" / "tests" / "tools" / "smtp_send")


def run_send(send, port, path, n):
    """smtp_send --reuse n; returns (seconds, max RSS KiB of that client, output)."""
    t0 = time.perf_counter()
    p = subprocess.Popen([send, "--server", f"127.0.0.1:{port}", "--from", "bench@example.org",
                          "--to", "box@example.com", "--tls", "none", "--file", str(path),
                          "--reuse", str(n)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    out = p.stdout.read()    # smtp_send writes little to stderr
    err = p.stderr.read()
    # wait4 gives this child's own rusage (RUSAGE_CHILDREN would mix in
    # every earlier child, ninja included).
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    dt = time.perf_counter() - t0
    done = out.count("\ndone code=250")
    if p.returncode != 0 or done != n:
        raise RuntimeError(f"smtp_send: {done}/{n} delivered\n{out[-2000:]}{err}")
    return dt, ru.ru_maxrss, out


def main():
    ap = argparse.ArgumentParser(description="outbound SMTP client throughput and memory")
    ap.add_argument("-n", "--messages", type=int, default=2000)
    ap.add_argument("--big-mib", type=int, default=20, help="size of the large message (under the receiver's 25 MiB limit)")
    args = ap.parse_args()
    helpers.BIN = release_binary()
    send = smtp_send_binary()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="postino-bench-client-"))
    srv = Server(tmp / "data", sandbox=True, kinds=("smtp",))
    srv.start()
    rc = 0
    try:
        print(f"receiver {helpers.BIN}, client {send}")
        hdr = f"{'size':>8} {'messages':>8} | {'msg/s':>8} {'MB/s':>7} {'conns':>5} {'client RSS':>10}"
        print(hdr)
        print("-" * len(hdr))
        for size in (4096, 102400):
            path = tmp / f"m{size}"
            path.write_bytes(message(0, size))
            dt, rss, _ = run_send(send, srv.ports["smtp"], path, args.messages)
            print(f"{size:>8} {args.messages:>8} | {args.messages / dt:>8.0f} "
                  f"{args.messages * size / 1e6 / dt:>7.2f} {1:>5} {rss:>7} KiB", flush=True)
        big = tmp / "big"
        line = b"x" * 998 + b"\r\n"
        with open(big, "wb") as f:
            for _ in range(args.big_mib * 1024 * 1024 // len(line)):
                f.write(line)
        try:
            dt, rss, out = run_send(send, srv.ports["smtp"], big, 1)
            print(f"{big.stat().st_size:>8} {1:>8} | {1 / dt:>8.2f} "
                  f"{big.stat().st_size / 1e6 / dt:>7.2f} {1:>5} {rss:>7} KiB "
                  f"(client max RSS)", flush=True)
        except RuntimeError as e:
            print(f"large message: {str(e).splitlines()[0]} (receiver's size limit?)")
    finally:
        srv.stop()
        if srv.problems:
            print("\n".join(srv.problems), file=sys.stderr)
            rc = 1
        shutil.rmtree(tmp, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
