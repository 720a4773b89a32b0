#!/usr/bin/python3
# tests/bench/bench_hostile_memory.py: the server's peak memory under many
# hostile unauthenticated connections (issue 10 point 3).  Each connection
# sends the largest input it may without logging in, over SMTP or IMAP, in
# four kinds taken in turn:
#   imap-literal  "a APPEND INBOX {N+}" (N = the IMAP message limit), then N bytes
#   imap-line     an endless command line (no LF)
#   smtp-data     EHLO/MAIL/RCPT/DATA, then a body up to the SMTP size limit,
#                 ended with "." (so the message is also delivered)
#   smtp-line     an endless command line (no LF)
# Connections come from 127.0.0.2 ... 127.0.0.21 (the per-IP limit).  The
# server's VmHWM (peak RSS) and its VmRSS once everything closed are printed.
# Not part of the test suite; see tests/bench/README.md.
import argparse
import asyncio
import os
import pathlib
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(REPO / "tests" / "bench"))
os.environ.setdefault("POSTINO_TEST_TIMEOUT", "120")

from helpers import Server  # noqa: E402
from bench_smtp_pop3 import release_binary  # noqa: E402
import helpers  # noqa: E402

KINDS = ("imap-literal", "imap-line", "smtp-data", "smtp-line")
CHUNK = 64 * 1024


def status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[k] = int(v.split()[0]) // 1024
    return out


async def pump(w, total, stop):
    """Write up to `total` bytes (no LF) until the peer closes."""
    block = b"x" * CHUNK
    sent = 0
    while sent < total and not stop.is_set():
        n = min(CHUNK, total - sent)
        w.write(block[:n])
        await w.drain()
        sent += n
    return sent


async def one(kind, port, src, args, stats, stop):
    try:
        r, w = await asyncio.open_connection("127.0.0.1", port, local_addr=(src, 0))
    except OSError as e:
        stats["refused"] = stats.get("refused", 0) + 1
        return
    sent = 0
    try:
        await r.readline()  # greeting
        if kind == "imap-literal":
            w.write(b"a APPEND INBOX {%d+}\r\n" % args.imap_size)
            sent = await pump(w, args.imap_size, stop)
        elif kind in ("imap-line", "smtp-line"):
            sent = await pump(w, args.line_bytes, stop)
        else:
            w.write(b"EHLO bench\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<x@localhost>\r\n"
                    b"DATA\r\n")
            for _ in range(4):
                line = await r.readline()
                while line[3:4] == b"-":
                    line = await r.readline()
            if not line.startswith(b"354"):
                stats["smtp-no-354"] = stats.get("smtp-no-354", 0) + 1
                return
            body = (b"y" * 998 + b"\r\n") * (CHUNK // 1000)
            while sent + len(body) <= args.smtp_size - 1024 and not stop.is_set():
                w.write(body)
                await w.drain()
                sent += len(body)
            w.write(b".\r\n")
            await w.drain()
            reply = await r.readline()
            key = "smtp-" + reply[:3].decode(errors="replace")
            stats[key] = stats.get(key, 0) + 1
    except (ConnectionError, OSError, asyncio.IncompleteReadError):
        stats["closed-by-server"] = stats.get("closed-by-server", 0) + 1
    finally:
        stats["bytes"] = stats.get("bytes", 0) + sent
        w.close()
        try:
            await w.wait_closed()
        except (ConnectionError, OSError):
            pass


async def sample(pid, peak, stop):
    while not stop.is_set():
        try:
            s = status(pid)
        except FileNotFoundError:
            return
        peak["rss"] = max(peak.get("rss", 0), s["VmRSS"])
        peak["anon"] = max(peak.get("anon", 0), s.get("RssAnon", 0))
        await asyncio.sleep(0.2)


async def run(srv, args):
    pid = srv.proc.pid
    stop = asyncio.Event()
    stats, peak = {}, {}
    sampler = asyncio.create_task(sample(pid, peak, stop))
    tasks = []
    for i in range(args.connections):
        kind = KINDS[i % len(KINDS)]
        port = srv.ports["imap" if kind.startswith("imap") else "smtp"]
        src = f"127.0.0.{2 + i % 20}"
        tasks.append(asyncio.create_task(one(kind, port, src, args, stats, stop)))
    done, pending = await asyncio.wait(tasks, timeout=args.timeout)
    stop.set()
    for t in pending:
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    await sampler
    return stats, peak, len(pending)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", "--connections", type=int, default=1000)
    ap.add_argument("--smtp-size", type=int, default=25 * 1024 * 1024,
                    help="smtp.max_message_size, and the DATA body each smtp-data connection sends")
    ap.add_argument("--imap-size", type=int, default=64 * 1024 * 1024,
                    help="imap.max_message_size, and the literal each imap-literal connection announces")
    ap.add_argument("--line-bytes", type=int, default=8 * 1024 * 1024,
                    help="bytes of an endless line")
    ap.add_argument("--timeout", type=float, default=600.0)
    args = ap.parse_args()
    helpers.BIN = release_binary()
    with tempfile.TemporaryDirectory(prefix="postino-hostile-") as tmp:
        conf = pathlib.Path(tmp) / "bench.conf"
        conf.write_text(
            "limits = { max_connections = %d; max_connections_per_ip = %d; login_timeout = 600; };\n"
            "smtp = { max_message_size = %d; data_timeout = 600; timeout = 600; };\n"
            "imap = { max_message_size = %d; };\n"
            "log = { level = \"warn\"; };\n"
            % (args.connections + 100, args.connections // 20 + 10, args.smtp_size, args.imap_size))
        srv = Server(pathlib.Path(tmp) / "data", sandbox=True, kinds=("smtp", "imap"), config=conf)
        srv.start()
        try:
            before = status(srv.proc.pid)
            t0 = time.monotonic()
            stats, peak, unfinished = asyncio.run(run(srv, args))
            secs = time.monotonic() - t0
            time.sleep(2)
            after = status(srv.proc.pid)
        finally:
            srv.stop()
    print(f"binary: {helpers.BIN}")
    print(f"connections: {args.connections} ({', '.join(KINDS)} in turn), "
          f"smtp body {args.smtp_size} B, imap literal {args.imap_size} B, "
          f"line {args.line_bytes} B")
    print(f"run: {secs:.1f} s, unfinished connections: {unfinished}")
    print(f"outcomes: {dict(sorted(stats.items()))}")
    print(f"RSS before: {before['VmRSS']} MiB")
    print(f"peak RSS (VmHWM): {after['VmHWM']} MiB (sampled peak anon {peak.get('anon', 0)} MiB)")
    print(f"RSS after all closed: {after['VmRSS']} MiB (anon {after.get('RssAnon', 0)} MiB, "
          f"file {after.get('RssFile', 0)} MiB)")


if __name__ == "__main__":
    main()
