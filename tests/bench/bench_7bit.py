#!/usr/bin/python3
# tests/bench/bench_7bit.py: what the 8-bit to 7-bit conversion
# (smtp/smtp_7bit.c) costs the daemon for one large 8-bit message: its RSS
# when the attempt starts and the highest RSS sampled (every 5 ms) while
# it is sent, and the time to deliver, to Postfix's smtp-sink announcing
# 8BITMIME (sent as it is) and not announcing it (-8: converted).  Each run
# starts a fresh daemon, submits the message while the relay is down,
# starts the sink, flushes the queue and waits for status=sent.
# Not part of the test suite; see tests/bench/README.md.
import argparse
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import threading
import time

import bench_outbound as bo

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))
from helpers import Server  # noqa: E402


def message(size):
    """Mostly-ASCII 8-bit text (QP) with a mostly non-ASCII part (base64)."""
    line = "Gr\u00fc\u00dfe aus K\u00f6ln, eine Zeile Text mit wenigen Umlauten.\r\n".encode()
    cyr = ("\u043f\u0440\u0438\u0432\u0435\u0442 " * 10 + "\r\n").encode()
    half = size // 2
    a = (line * (half // len(line) + 1))[:half]
    b = (cyr * (half // len(cyr) + 1))[:half]
    return (b"From: <bench@localhost>\r\nTo: <rcpt@dest.example>\r\nSubject: 8bit\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=bb\r\n\r\n"
            b"--bb\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + a +
            b"\r\n--bb\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + b +
            b"\r\n--bb--\r\n")


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def run(tmp, size, announce):
    sink_port = bo.free_port()
    conf = tmp / "postino.conf"
    conf.write_text(
        'dns = { nameservers = [ "127.0.0.1:9" ]; timeout = 500; attempts = 1; };\n'
        f'outbound = {{ relay = "[127.0.0.1]:{sink_port}"; tls = "none"; }};\n'
        "queue = { min_backoff = 3600; max_backoff = 7200; scan_interval = 3600;"
        " delay_warning = 0; };\n")
    conf.chmod(0o644)
    srv = Server(tmp / "data", kinds=("smtps",), config=conf)
    srv.start()
    sink = None
    try:
        login = srv.new_user("bench")
        from helpers import Conn, dot_stuff
        from sasl_client import plain
        c = Conn.connect(srv.ports["smtps"], tls=True)
        assert c.smtp_reply().code == 220
        assert c.smtp_cmd("EHLO bench.example.org").code == 250
        assert c.smtp_cmd("AUTH PLAIN " + plain(*login)).code == 235
        assert c.smtp_cmd(f"MAIL FROM:<{login[0]}> BODY=8BITMIME").code == 250
        assert c.smtp_cmd(f"RCPT TO:<{bo.RCPT}>").code == 250
        assert c.smtp_cmd("DATA").code == 354
        c.send(dot_stuff(message(size)) + b".\r\n")
        assert c.smtp_reply().code == 250
        c.smtp_quit()
        bo.wait_until(lambda: bo.count_lines(srv, "status=deferred") >= 1, 120, "first attempt")
        before = rss_kib(srv.proc.pid)
        sink = bo.Sink(sink_port, tmp) if announce else Sink8(sink_port, tmp)
        peak = [before]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], rss_kib(srv.proc.pid))
                time.sleep(0.005)
        th = threading.Thread(target=sample)
        th.start()
        t0 = time.perf_counter()
        srv.cli("queue", "flush")
        bo.wait_until(lambda: bo.count_lines(srv, "status=sent") >= 1, 600, "delivery")
        dt = time.perf_counter() - t0
        stop.set()
        th.join()
        after = peak[0]
        converted = bo.count_lines(srv, "converted 8bit to 7bit") > 0
        srv.stop()
    finally:
        if srv.alive():
            srv.kill9()
        if sink:
            sink.stop()
    return before, after, dt, converted


class Sink8(bo.Sink):
    """smtp-sink without 8BITMIME (-8)."""

    def __init__(self, port, tmp):
        self.port = port
        self.out = open(tmp / f"sink-{port}.out", "w+b")
        args = [bo.SINK, "-8", "-c", "-m", "1000"]
        if os.geteuid() == 0:
            args += ["-u", "nobody"]
        self.proc = subprocess.Popen(args + [f"127.0.0.1:{port}", "1024"],
                                     stdout=self.out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.02)
        self.probe = 1


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-s", "--size", type=int, default=20 * 1024 * 1024)
    ap.add_argument("-r", "--runs", type=int, default=3)
    args = ap.parse_args()
    print(f"{'8BITMIME':>9} {'converted':>9} {'RSS before':>11} {'RSS peak':>10} "
          f"{'growth':>8} {'seconds':>8}")
    for announce in (True, False):
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as d:
                b, a, dt, conv = run(pathlib.Path(d), args.size, announce)
            print(f"{'yes' if announce else 'no':>9} {'yes' if conv else 'no':>9} "
                  f"{b / 1024:>9.1f}Mi {a / 1024:>8.1f}Mi {(a - b) / 1024:>6.1f}Mi {dt:>8.2f}")


if __name__ == "__main__":
    main()
