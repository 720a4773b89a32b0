#!/usr/bin/env python3
"""IMAP COMPRESS=DEFLATE (RFC 4978): ratio and server CPU on a realistic
fetch, and what compression costs an idle session (issue 13).  Not part of
tests/run; run by hand with nothing else busy:

    tests/bench/bench_compress.py                 # builds build-release/ if needed
    tests/bench/bench_compress.py -n 400 --idle 500
    POSTINO_BIN=build/postino tests/bench/bench_compress.py

A mailbox of -n messages is APPENDed (a mix: three quarters plain text
mails of 2 to 8 KiB with realistic header blocks and quoted replies, a
sixth text+HTML alternatives of 10 to 30 KiB, a tenth with a base64
attachment of 100 to 400 KiB of random bytes, standing for the JPEGs and
PDFs that no longer compress).  Then two workloads, each without and with
COMPRESS, on one session, --repeat times (medians):

- sync: one UID FETCH 1:* of what a client shows in a message list
  (FLAGS, INTERNALDATE, RFC822.SIZE, ENVELOPE, BODYSTRUCTURE and a few
  header fields);
- read: FETCH n BODY.PEEK[] for every message, one command per round trip.

Reported: bytes on the wire, the ratio (compressed / uncompressed), the
server's CPU (utime + stime of the process, from /proc) and the wall time.
For comparison, the same response bytes compressed by Python's zlib as a
per-session deflater would (history kept from one response to the next)
and at level 1: what the shared per-loop deflater (each batch with an
empty dictionary) gives up, and what another level would change.

Idle memory: the server's Pss growth per session with --idle sessions
(LOGIN, SELECT, IDLE), uncompressed and with COMPRESS before SELECT; then
both again with 40 KiB of commands (IDs with long random strings) first,
which fills the inflater's 32 KiB window (zlib writes it as input
arrives, so a quiet client has touched only a page of it); the server is
restarted before each run (memory freed earlier would be reused and hide
the growth)."""
import argparse
import os
import pathlib
import random
import socket
import statistics
import sys
import tempfile
import time
import zlib

BENCH = pathlib.Path(__file__).resolve().parent
REPO = BENCH.parent.parent
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(BENCH))
os.environ.setdefault("POSTINO_TEST_TIMEOUT", "600")

from bench_smtp_pop3 import release_binary  # noqa: E402

PASSWORD = "bench-password"
MiB = 1024 * 1024

WORDS = ("the of and to a in is it you that he was for on are with as I his they be at one have "
         "this from or had by hot word but what some we can out other were all there when up use "
         "your how said an each she which do their time if will way about many then them write "
         "would like so these her long make thing see him two has look more day could go come did "
         "number sound no most people my over know water than call first who may down side been "
         "now find any new work part take get place made live where after back little only round "
         "man year came show every good me give our under name very through just form sentence "
         "great think say help low line differ turn cause much mean before move right boy old too "
         "same tell does set three want air well also play small end put home read hand port large "
         "spell add even land here must big high such follow act why ask men change went light "
         "meeting project deadline review budget invoice attached please thanks regards server "
         "release schedule customer account update report").split()


def words(rnd, n):
    # Zipf-like: common words far more often, as in real text.
    out = []
    for _ in range(n):
        i = int(len(WORDS) * (rnd.random() ** 2.5))
        out.append(WORDS[i])
    return out


def paragraph(rnd, nwords):
    ws = words(rnd, nwords)
    lines, line = [], ""
    for w in ws:
        if len(line) + len(w) + 1 > 72:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}" if line else w
    lines.append(line)
    return "\r\n".join(lines) + "\r\n"


def headers(rnd, i, ctype):
    d = f"{rnd.randint(1, 28)} Nov 2026 {rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}:00 +0000"
    frm = f"{rnd.choice(WORDS)}.{rnd.choice(WORDS)}@{rnd.choice(('example.org', 'mail.example.net', 'corp.example.com'))}"
    h = []
    for hop in range(3):
        h.append(f"Received: from mx{hop}.example.net (mx{hop}.example.net [192.0.2.{hop + 10}])\r\n"
                 f"\tby mail.example.com (postfix) with ESMTPS id {rnd.getrandbits(40):010X}\r\n"
                 f"\tfor <me@example.com>; {d}")
    h.append("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=sel;\r\n"
             "\th=from:to:subject:date:message-id; bh=" +
             "".join(rnd.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
                     for _ in range(44)) + ";\r\n\tb=" +
             "".join(rnd.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
                     for _ in range(340)))
    h += [f"From: {frm.split('@')[0].replace('.', ' ').title()} <{frm}>",
          "To: Me <me@example.com>",
          f"Subject: Re: {' '.join(words(rnd, 5))}",
          f"Date: {d}",
          f"Message-ID: <{rnd.getrandbits(64):016x}.{i}@example.org>",
          f"In-Reply-To: <{rnd.getrandbits(64):016x}@example.com>",
          "MIME-Version: 1.0",
          f"Content-Type: {ctype}"]
    return "\r\n".join(h) + "\r\n\r\n"


def message(rnd, i):
    kind = rnd.random()
    if kind < 0.75:
        body = "".join(paragraph(rnd, rnd.randint(30, 120)) + "\r\n" for _ in range(rnd.randint(2, 6)))
        quoted = "".join("> " + l + "\r\n" for l in paragraph(rnd, rnd.randint(40, 200)).split("\r\n") if l)
        return (headers(rnd, i, "text/plain; charset=utf-8") + body + "\r\n" + quoted).encode()
    if kind < 0.9:
        text = "".join(paragraph(rnd, rnd.randint(80, 300)) + "\r\n" for _ in range(rnd.randint(3, 8)))
        html = "<html><body>" + "".join(
            f'<p style="font-family: Arial, sans-serif; font-size: 14px">{p}</p>\r\n'
            for p in text.split("\r\n\r\n") if p) + "</body></html>\r\n"
        b = f"b{i}"
        return (headers(rnd, i, f'multipart/alternative; boundary="{b}"') +
                f"--{b}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
                f"--{b}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n--{b}--\r\n").encode()
    import base64
    blob = rnd.randbytes(rnd.randint(100 * 1024, 400 * 1024))
    b64 = base64.encodebytes(blob).replace(b"\n", b"\r\n")
    b = f"m{i}"
    text = paragraph(rnd, 60)
    return (headers(rnd, i, f'multipart/mixed; boundary="{b}"') +
            f"--{b}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
            f"--{b}\r\nContent-Type: image/jpeg; name=\"photo{i}.jpg\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n").encode() + b64 + f"--{b}--\r\n".encode()


class Client:
    """A raw IMAP client counting wire bytes; inflates once compressed.
    `log` collects every response byte (uncompressed) per command."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=600)
        self.buf = bytearray()
        self.zin = self.zout = None
        self.wire = 0
        self.plain = 0
        self.n = 0
        self.readline()

    def fill(self):
        chunk = self.s.recv(1 << 20)
        if not chunk:
            raise ConnectionError("closed")
        self.wire += len(chunk)
        if self.zin:
            chunk = self.zin.decompress(chunk)
        self.plain += len(chunk)
        self.buf += chunk

    def readline(self):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line = bytes(self.buf[:i + 1])
                del self.buf[:i + 1]
                return line
            self.fill()

    def send(self, data):
        if self.zout:
            data = self.zout.compress(data) + self.zout.flush(zlib.Z_SYNC_FLUSH)
        self.s.sendall(data)

    def cmd(self, line):
        """Run a command; returns (status line, all response bytes)."""
        self.n += 1
        tag = b"b%d" % self.n
        self.send(tag + b" " + line + b"\r\n")
        out = bytearray()
        while True:
            line = self.readline()
            out += line
            if line.endswith(b"}\r\n"):
                n = int(line[line.rindex(b"{") + 1:-3])
                while len(self.buf) < n:
                    self.fill()
                out += self.buf[:n]
                del self.buf[:n]
                continue
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise RuntimeError(line)
                return bytes(out)

    def compress(self):
        self.cmd(b"COMPRESS DEFLATE")
        self.zout = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.zin = zlib.decompressobj(-15)
        rest = bytes(self.buf)
        self.buf.clear()
        self.buf += self.zin.decompress(rest)


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


TICK = os.sysconf("SC_CLK_TCK")
SYNC = (b"UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE "
        b"BODY.PEEK[HEADER.FIELDS (FROM TO CC SUBJECT DATE MESSAGE-ID REFERENCES IN-REPLY-TO)])")


def workload(srv, user, n, name, compressed):
    """(wire bytes, uncompressed bytes, server CPU s, wall s, responses)."""
    c = Client(srv.ports["imap"])
    c.cmd(b'LOGIN "%s" "%s"' % (user.encode(), PASSWORD.encode()))
    if compressed:
        c.compress()
    c.cmd(b"SELECT INBOX")
    w0, p0, t0, c0 = c.wire, c.plain, time.perf_counter(), cpu_ticks(srv.proc.pid)
    responses = []
    if name == "sync":
        responses.append(c.cmd(SYNC))
    else:
        for i in range(1, n + 1):
            responses.append(c.cmd(b"FETCH %d BODY.PEEK[]" % i))
    wall = time.perf_counter() - t0
    cpu = (cpu_ticks(srv.proc.pid) - c0) / TICK
    res = (c.wire - w0, c.plain - p0, cpu, wall, responses)
    c.cmd(b"LOGOUT")
    c.s.close()
    return res


def simulate(responses, level, keep):
    """Bytes a deflater at `level` makes of the responses, sync-flushed
    after each; keep=False starts each response with an empty dictionary
    (what the server's shared deflater does), True keeps the history (a
    per-session deflater).  Returns (bytes, CPU seconds of zlib)."""
    total, t0 = 0, time.process_time()
    z = zlib.compressobj(level, zlib.DEFLATED, -15)
    for r in responses:
        if not keep:
            z = zlib.compressobj(level, zlib.DEFLATED, -15)
        total += len(z.compress(r)) + len(z.flush(zlib.Z_SYNC_FLUSH))
    return total, time.process_time() - t0


def pss(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def idle_growth(srv, user, n, compressed, worn=False):
    """Pss growth per idle session, KiB.  worn: each session first sends
    40 KiB of commands (NOOPs with long random tags), so the server's
    inflater window (32 KiB, written as input arrives) is all in use."""
    srv.stop()
    srv.start()
    time.sleep(1)
    before = pss(srv.proc.pid)
    conns = []
    for _ in range(n):
        c = Client(srv.ports["imap"])
        c.cmd(b'LOGIN "%s" "%s"' % (user.encode(), PASSWORD.encode()))
        if compressed:
            c.compress()
        if worn:
            rnd = random.Random(len(conns))
            for _ in range(100):
                c.cmd(b'ID ("x" "' + bytes(rnd.choice(b"abcdefghijklmnopqrstuvwxyz")
                                             for _ in range(400)) + b'")')
        c.cmd(b"SELECT INBOX")
        c.n += 1
        c.send(b"i IDLE\r\n")
        while not c.readline().startswith(b"+"):
            pass
        conns.append(c)
    time.sleep(1)
    after = pss(srv.proc.pid)
    for c in conns:
        c.s.close()
    return (after - before) / n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=300, help="messages in the mailbox")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--idle", type=int, default=300, help="idle sessions for the memory figure")
    ap.add_argument("--seed", type=int, default=13)
    a = ap.parse_args()
    os.environ["POSTINO_BIN"] = release_binary()
    import helpers
    from helpers import Server

    tmp = tempfile.TemporaryDirectory(prefix="bench-compress-")
    conf = pathlib.Path(tmp.name) / "bench.conf"
    conf.write_text("auth = { failure_delay = 0; failure_delay_max = 0; };\n"
                    "limits = { max_connections = 4000; max_connections_per_ip = 4000; };\n")
    conf.chmod(0o644)
    srv = Server(pathlib.Path(tmp.name) / "data", kinds=("imap",), config=conf,
                 extra=["--loops", "1"])
    srv.start()
    try:
        user = "bench@localhost"
        srv.add_user(user, PASSWORD)
        rnd = random.Random(a.seed)
        c = Client(srv.ports["imap"])
        c.cmd(b'LOGIN "%s" "%s"' % (user.encode(), PASSWORD.encode()))
        size = 0
        for i in range(a.n):
            m = message(rnd, i)
            size += len(m)
            c.cmd(b"APPEND INBOX {%d+}\r\n" % len(m) + m)
        c.cmd(b"LOGOUT")
        print(f"mailbox: {a.n} messages, {size / MiB:.1f} MiB "
              f"(binary: {os.environ['POSTINO_BIN']})", flush=True)

        for name in ("sync", "read"):
            runs = {False: [], True: []}
            for _ in range(a.repeat):
                for comp in (False, True):
                    runs[comp].append(workload(srv, user, a.n, name, comp))
            plain_wire = statistics.median(r[0] for r in runs[False])
            comp_wire = statistics.median(r[0] for r in runs[True])
            cpu_p = statistics.median(r[2] for r in runs[False])
            cpu_c = statistics.median(r[2] for r in runs[True])
            wall_p = statistics.median(r[3] for r in runs[False])
            wall_c = statistics.median(r[3] for r in runs[True])
            responses = runs[True][0][4]
            keep6, _ = simulate(responses, 6, True)
            fresh6, t6 = simulate(responses, 6, False)
            fresh1, t1 = simulate(responses, 1, False)
            print(f"\n{name}: {plain_wire / MiB:.2f} MiB uncompressed, "
                  f"{comp_wire / MiB:.2f} MiB compressed: ratio {comp_wire / plain_wire:.3f}")
            print(f"  server CPU {cpu_p:.2f} s -> {cpu_c:.2f} s "
                  f"(+{(cpu_c - cpu_p) * 1e3 / (plain_wire / MiB):.1f} ms per uncompressed MiB); "
                  f"wall {wall_p:.2f} s -> {wall_c:.2f} s (loopback)")
            print(f"  python zlib on the same responses: level 6 fresh per response "
                  f"{fresh6 / plain_wire:.3f} ({t6 * 1e3 / (plain_wire / MiB):.1f} ms/MiB), "
                  f"level 6 history kept {keep6 / plain_wire:.3f}, "
                  f"level 1 fresh {fresh1 / plain_wire:.3f} ({t1 * 1e3 / (plain_wire / MiB):.1f} ms/MiB)")
            if name == "read":
                # The messages without an attachment, on their own.
                text = [r for r in responses if len(r) < 64 * 1024]
                tb = sum(len(r) for r in text)
                t6b, _ = simulate(text, 6, False)
                print(f"  of which the {len(text)} messages without attachment "
                      f"({tb / MiB:.2f} MiB): ratio {t6b / tb:.3f} (python zlib, level 6, fresh)")

        if a.idle:
            plain = idle_growth(srv, user, a.idle, False)
            comp = idle_growth(srv, user, a.idle, True)
            plain_worn = idle_growth(srv, user, a.idle, False, worn=True)
            worn = idle_growth(srv, user, a.idle, True, worn=True)
            print(f"\nidle session ({a.idle} sessions, LOGIN SELECT IDLE): "
                  f"{plain:.1f} KiB uncompressed, {comp:.1f} KiB with COMPRESS "
                  f"(+{comp - plain:.1f} KiB)")
            print(f"after 40 KiB of commands: {plain_worn:.1f} KiB uncompressed, "
                  f"{worn:.1f} KiB with COMPRESS (+{worn - plain_worn:.1f} KiB)")
    finally:
        srv.stop()
        tmp.cleanup()


if __name__ == "__main__":
    main()
