#!/usr/bin/python3
# tests/bench/bench_slowloris.py: how long a normal client waits to be served
# while slow clients hold the server (issue 10, point 4).  `--slow`
# connections (default 1,000) from `--addrs` loopback addresses (default 20:
# 127.0.0.2 ...) on the smtp, pop3 and imap listeners each trickle one byte
# of a command every `--interval` seconds and never log in; a connection the
# server closes is reopened at once, so the server stays full.  Meanwhile a
# normal client on 127.0.0.1 delivers a message over SMTP and reads it back
# over POP3 and IMAP, `--rounds` times, `--gap` seconds apart; each step is
# retried on a busy reply, and its wait is part of the figure.  Not part of
# the test suite; see tests/bench/README.md.
import argparse
import multiprocessing
import os
import pathlib
import selectors
import socket
import statistics
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(REPO / "tests" / "bench"))
os.environ.setdefault("POSTINO_TEST_TIMEOUT", "120")

from helpers import Server, imap_connect, make_message  # noqa: E402
from bench_smtp_pop3 import release_binary  # noqa: E402

COMMAND = {"smtp": b"NOOP\r\n", "pop3": b"CAPA\r\n", "imap": b"t NOOP\r\n"}
KINDS = ("smtp", "pop3", "imap")


def crowd(ports, n, addrs, interval, ready, stop, out):
    """The slow clients (a process of their own, so that their loop does
    not slow the measuring client's)."""
    slots = [(f"127.0.0.{2 + i % addrs}", KINDS[i % 3]) for i in range(n)]
    socks = [None] * n
    sent = [0] * n
    opened = 0
    sel = selectors.DefaultSelector()

    def open_slot(i):
        nonlocal opened
        addr, kind = slots[i]
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((addr, 0))
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", ports[kind]))
        except OSError:
            s.close()
            return
        socks[i] = s
        sent[i] = 0
        opened += 1
        sel.register(s, selectors.EVENT_READ, i)

    def drop(i):
        sel.unregister(socks[i])
        socks[i].close()
        socks[i] = None

    for i in range(n):
        open_slot(i)
    ready.set()
    next_tick = time.monotonic()
    while not stop.is_set():
        for key, _ in sel.select(timeout=max(0.0, next_tick - time.monotonic())):
            i = key.data
            try:
                if not socks[i].recv(65536):
                    drop(i)
            except BlockingIOError:
                pass
            except OSError:
                drop(i)
        if time.monotonic() < next_tick:
            continue
        next_tick += interval
        for i in range(n):
            if socks[i] is None:
                open_slot(i)
                continue
            cmd = COMMAND[slots[i][1]]
            try:
                socks[i].send(cmd[sent[i] % len(cmd):][:1])
                sent[i] += 1
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                drop(i)
    out.put({"opened": opened, "open_at_end": sum(s is not None for s in socks)})


def served(fn, bound):
    """fn() until it is not refused as busy; (result, seconds waited)."""
    t0 = time.perf_counter()
    while True:
        try:
            return fn(), time.perf_counter() - t0
        except (AssertionError, ConnectionError, OSError):
            if time.perf_counter() - t0 > bound:
                raise
            time.sleep(0.1)


def normal_round(srv, user, pw, i, bound):
    """One delivery and its reading over POP3 and IMAP; seconds per step."""
    msg = make_message(f"normal {i}", to=user)
    t = {}
    t0 = time.perf_counter()
    c, t["smtp_wait"] = served(srv.smtp, bound)
    c.smtp_deliver("sender@example.org", [user], msg)
    c.smtp_quit()
    t["smtp"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    p, t["pop3_wait"] = served(lambda: srv.pop3(user, pw), bound)
    n, _ = p.pop3_stat()
    assert p.pop3_retr(n).endswith(msg)
    p.pop3_quit()
    t["pop3"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    im, t["imap_wait"] = served(lambda: imap_connect(srv, user, pw), bound)
    r = im.select()
    last = r.numbered("EXISTS")[-1][0]
    r = im.ok(f"FETCH {last} BODY.PEEK[]")
    assert r.fetches()[last]["BODY[]"].endswith(msg)
    im.logout()
    t["imap"] = time.perf_counter() - t0
    t["total"] = t["smtp"] + t["pop3"] + t["imap"]
    return t


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--slow", type=int, default=1000, help="slow connections")
    ap.add_argument("--addrs", type=int, default=20, help="loopback addresses they come from")
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between their bytes")
    ap.add_argument("--rounds", type=int, default=10, help="normal client rounds")
    ap.add_argument("--gap", type=float, default=5.0, help="seconds between rounds")
    ap.add_argument("--bound", type=float, default=120.0, help="give up a step after this")
    ap.add_argument("--config", default="", help="extra config text (libconfig)")
    args = ap.parse_args()

    binary = release_binary()
    import helpers
    helpers.BIN = binary
    with tempfile.TemporaryDirectory() as tmp:
        conf = pathlib.Path(tmp) / "bench.conf"
        conf.write_text(args.config + "\n")
        srv = Server(pathlib.Path(tmp) / "data", kinds=KINDS, config=conf).start()
        user, pw = srv.new_user("normal")
        try:
            base = [normal_round(srv, user, pw, -1 - k, args.bound) for k in range(3)]
            print(f"postino {binary}")
            print(f"alone: {statistics.median([b['total'] for b in base]) * 1000:.1f} ms per round "
                  f"(SMTP delivery + POP3 RETR + IMAP FETCH, median of 3)")
            ready, stop = multiprocessing.Event(), multiprocessing.Event()
            out = multiprocessing.Queue()
            proc = multiprocessing.Process(target=crowd, args=(
                srv.ports, args.slow, args.addrs, args.interval, ready, stop, out), daemon=True)
            proc.start()
            ready.wait(60)
            stressed = srv.wait_log("stress on connections=", timeout=30)
            print(f"{args.slow} slow connections from {args.addrs} addresses opened; "
                  f"{'stress mode on' if stressed else 'no stress mode logged'}")
            time.sleep(args.gap)
            rounds = []
            for i in range(args.rounds):
                t = normal_round(srv, user, pw, i, args.bound)
                rounds.append(t)
                print(f"round {i + 1:2d}: total {t['total'] * 1000:7.1f} ms  "
                      f"(until greeted or logged in: smtp {t['smtp_wait'] * 1000:.1f} ms, "
                      f"pop3 {t['pop3_wait'] * 1000:.1f} ms, imap {t['imap_wait'] * 1000:.1f} ms)",
                      flush=True)
                time.sleep(args.gap)
            stop.set()
            stats = out.get(timeout=60)
            proc.join(30)
        finally:
            log = srv.stderr()
            srv.stop()
        totals = sorted(r["total"] for r in rounds)
        print(f"beside the slow ones: median {statistics.median(totals) * 1000:.1f} ms, "
              f"max {totals[-1] * 1000:.1f} ms per round over {len(totals)} rounds")
        print(f"slow connections opened {stats['opened']} (reopened "
              f"{stats['opened'] - args.slow}), open at the end {stats['open_at_end']}")
        print(f"server: evicted {log.count(' evicted age_ms=')}, "
              f"login/mail deadlines {log.count(' deadline seconds=')}, "
              f"idle timeouts {log.count(' timeout seconds=')}, "
              f"refused busy {log.count(' refused peer=')}")


if __name__ == "__main__":
    main()
