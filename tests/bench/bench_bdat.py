#!/usr/bin/python3
# tests/bench/bench_bdat.py: what a message costs the server by DATA and by
# BDAT (RFC 3030; issue 12 point 6.1).  On a fresh sandbox server (smtp
# listener only), one session delivers N messages of S bytes each way:
# DATA (dot-stuffed), BDAT in one LAST chunk, and BDAT in 64 KiB chunks.
# Prints, per way, messages/s and the server's CPU per message (user +
# system, from /proc), so the raw chunk path can be compared with DATA's
# line path.  Not part of the test suite; see tests/bench/README.md.
import argparse
import os
import pathlib
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))
os.environ.setdefault("POSTINO_TEST_TIMEOUT", "600")

import helpers  # noqa: E402


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def message(size, i):
    head = (f"From: <b@example.org>\r\nTo: <box@localhost>\r\nSubject: bench {i}\r\n"
            f"Message-ID: <{i}.bench@example.org>\r\n"
            f"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\n").encode()
    line = b"Some text of a message body, with a .dot now and then.\r\n"
    body = bytearray()
    k = 0
    while len(head) + len(body) < size:
        body += (b"." if k % 9 == 0 else b"") + line
        k += 1
    return head + bytes(body)


def send(c, way, msg):
    c.send(b"MAIL FROM:<b@example.org>\r\nRCPT TO:<box@localhost>\r\n")
    assert c.smtp_reply().code == 250
    assert c.smtp_reply().code == 250
    if way == "data":
        assert c.smtp_cmd("DATA").code == 354
        c.send(helpers.dot_stuff(msg) + b".\r\n")
        r = c.smtp_reply()
    elif way == "bdat":
        c.send(b"BDAT %d LAST\r\n" % len(msg) + msg)
        r = c.smtp_reply()
    else:
        step = 65536
        parts = [msg[i:i + step] for i in range(0, len(msg), step)]
        out = b"".join(b"BDAT %d%s\r\n" % (len(p), b" LAST" if j == len(parts) - 1 else b"") + p
                       for j, p in enumerate(parts))
        c.send(out)
        for _ in parts[:-1]:
            assert c.smtp_reply().code == 250
        r = c.smtp_reply()
    assert r.code == 250, r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=200, help="messages per way")
    ap.add_argument("-s", type=int, default=1 << 20, help="message size in bytes")
    args = ap.parse_args()
    if os.environ.get("POSTINO_BIN"):
        helpers.BIN = os.environ["POSTINO_BIN"]
    with tempfile.TemporaryDirectory() as tmp:
        srv = helpers.Server(pathlib.Path(tmp) / "data", sandbox=True, kinds=("smtp",))
        srv.start()
        try:
            msgs = [message(args.s, i) for i in range(8)]
            for way in ("data", "bdat", "bdat64k"):
                c = srv.smtp()
                send(c, way, msgs[0])          # warm up
                cpu0, t0 = cpu_s(srv.proc.pid), time.monotonic()
                for i in range(args.n):
                    send(c, way, msgs[i % len(msgs)])
                dt, cpu = time.monotonic() - t0, cpu_s(srv.proc.pid) - cpu0
                c.smtp_quit()
                print(f"{way:8s} {args.n} x {args.s} B: {args.n / dt:8.1f} msg/s "
                      f"{args.n * args.s / dt / 1e6:7.1f} MB/s  "
                      f"server CPU {cpu / args.n * 1e3:6.2f} ms/msg")
        finally:
            srv.stop()


if __name__ == "__main__":
    main()
