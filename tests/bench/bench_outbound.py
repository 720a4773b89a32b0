#!/usr/bin/python3
# tests/bench/bench_outbound.py: outbound throughput of the queue runner
# (smtp/smtp_queue.c) to one destination on loopback, against Postfix
# relaying to the same receiver in the same run (issue 12, "Measured, not
# timed").  The receiver is Postfix's smtp-sink, which counts messages and
# SMTP sessions (connections); it is fast enough not to be the bottleneck.
#
# Method, the same for both senders: fill the queue while nothing can be
# delivered, then release everything at once and time from the release
# until the queue is empty.
#  - postino: relay = "[127.0.0.1]:PORT" with the sink not yet started;
#    each submitted message gets one refused attempt and waits
#    queue.min_backoff (an hour); then the sink starts and the clock runs
#    from `postino queue flush` to the last `status=sent` log line.
#  - Postfix (a private instance under /tmp: its own config and queue
#    directory, smtpd on a free loopback port): relayhost is the sink,
#    defer_transports = smtp holds everything in the deferred queue; then
#    defer_transports is cleared, `postfix reload`, and the clock runs from
#    `postqueue -f` until the queue directories hold no file.
# Not part of the test suite; see tests/bench/README.md.
import argparse
import os
import pathlib
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import bench_smtp_pop3 as bsp  # release_binary(), message()

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))
os.environ.setdefault("POSTINO_TEST_TIMEOUT", "120")

import helpers  # noqa: E402
from helpers import Conn, Server, dot_stuff  # noqa: E402
from sasl_client import plain  # noqa: E402

SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"
RCPT = "rcpt@dest.example"
POLL = 0.05           # seconds between looks at the queue
DRAIN_TIMEOUT = 600   # seconds before a run is declared stuck
OUTBOUND_EXTRA = ""   # --outbound: more settings for postino's outbound block
PROFILE = None        # --profile DIR: perf data of postino's timed part
CALL_GRAPH = "fp"     # --call-graph: perf's unwinding (dwarf sees into libdb)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sink:
    """smtp-sink on 127.0.0.1:port; its -c counters give messages and
    sessions (one per TCP connection, counted when it ends)."""

    COUNTERS = re.compile(rb"sess=(\d+) quit=(\d+) mesg=(\d+)")

    def __init__(self, port, tmp):
        self.port = port
        self.out = open(tmp / f"sink-{port}.out", "w+b")
        args = [SINK, "-c", "-m", "1000"]
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
        else:
            raise RuntimeError("smtp-sink did not start")
        self.probe = 1          # the connection above is a session too

    def counters(self):
        # The counters are rewritten after each message: the last is enough.
        end = self.out.seek(0, os.SEEK_END)
        self.out.seek(max(0, end - 200))
        m = self.COUNTERS.findall(self.out.read())
        sess, _, mesg = (int(x) for x in m[-1]) if m else (0, 0, 0)
        return sess - self.probe, mesg

    def settle(self, mesg, timeout=30):
        """Counters once every connection has ended (the sender is stopped)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            c = self.counters()
            if c == last and c[1] >= mesg:
                return c
            last = c
            time.sleep(0.3)
        return last

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.out.close()


def submit_all(port, n, size, sessions, login=None, tls=False):
    """n messages to RCPT over `sessions` parallel SMTP connections, MAIL,
    RCPT and DATA pipelined (RFC 2920); login = (user, password) for AUTH."""
    per = [n // sessions + (1 if i < n % sessions else 0) for i in range(sessions)]
    sender = login[0] if login else "bench@example.org"
    errors = []

    def worker(k):
        try:
            c = Conn.connect(port, tls=tls)
            assert c.smtp_reply().code == 220
            assert c.smtp_cmd("EHLO bench.example.org").code == 250
            if login:
                r = c.smtp_cmd("AUTH PLAIN " + plain(*login))
                assert r.code == 235, r
            for j in range(per[k]):
                c.send(f"MAIL FROM:<{sender}>\r\nRCPT TO:<{RCPT}>\r\nDATA\r\n".encode())
                codes = [c.smtp_reply().code for _ in range(3)]
                if codes != [250, 250, 354]:
                    raise RuntimeError(f"envelope replies {codes}")
                c.send(dot_stuff(bsp.message(k * 1000000 + j, size)) + b".\r\n")
                r = c.smtp_reply()
                if r.code != 250:
                    raise RuntimeError(f"end of data: {r}")
            c.smtp_quit()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"submission failed: {errors[:3]}")


def count_lines(srv, needle):
    with srv._cond:
        return sum(needle in line for line in srv._lines)


def wait_until(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(POLL)


def drain(pred, sink, t0, what):
    """Wait for pred(); returns (seconds until the sink had its first
    message, seconds until pred()), both from t0."""
    first = None
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while True:
        done = pred()
        now = time.perf_counter()
        if first is None and sink.counters()[1] > 0:
            first = now
        if done:
            return (first or now) - t0, now - t0
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(POLL)


def stop_perf(perf):
    if perf and perf.poll() is None:
        perf.send_signal(signal.SIGINT)
        perf.wait(60)


def run_postino(tmp, n, size, sessions):
    """Returns (seconds, seconds to the first message, connections,
    messages received)."""
    sink_port = free_port()
    conf = tmp / "postino.conf"
    # The relay is an address literal: no DNS.  The nameserver is a dead
    # port so that an unexpected lookup fails instead of leaving loopback.
    conf.write_text(
        'dns = { nameservers = [ "127.0.0.1:9" ]; timeout = 500; attempts = 1; };\n'
        f'outbound = {{ relay = "[127.0.0.1]:{sink_port}"; tls = "none"; {OUTBOUND_EXTRA} }};\n'
        "queue = { min_backoff = 3600; max_backoff = 7200; scan_interval = 3600;"
        " delay_warning = 0; };\n")
    conf.chmod(0o644)
    srv = Server(tmp / "data", kinds=("smtps",), config=conf)
    srv.start()
    sink = perf = None
    try:
        login = srv.new_user("bench")
        submit_all(srv.ports["smtps"], n, size, sessions, login=login, tls=True)
        # Every entry has had its refused first attempt and now waits an
        # hour: nothing of the submission overlaps the timed part.
        wait_until(lambda: count_lines(srv, "status=deferred") >= n, DRAIN_TIMEOUT,
                   "the first (refused) attempts")
        sink = Sink(sink_port, tmp)
        if PROFILE:
            # perf record of the daemon for the timed part only (--profile).
            perf = subprocess.Popen(["perf", "record", "--call-graph", CALL_GRAPH,
                                     "-F", "999" if CALL_GRAPH == "fp" else "300",
                                     "-p", str(srv.proc.pid),
                                     "-o", str(PROFILE / f"perf-{n}x{size}-{time.time_ns()}.data")],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
        t0 = time.perf_counter()
        # For --keep: the release on the clock of postino.log's lines.
        (tmp / "flush-at").write_text(time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) +
                                      f".{int(time.time() * 1000) % 1000:03d}Z\n")
        r = srv.cli("queue", "flush")
        flush_s = time.perf_counter() - t0
        if r.returncode != 0:
            raise RuntimeError(f"queue flush: {r.stderr}")
        # status=sent is logged once the outcome is committed.
        first, dt = drain(lambda: count_lines(srv, "status=sent") >= n, sink, t0,
                          "postino's deliveries")
        print(f"    postino: `queue flush` itself took {flush_s:.2f} s", flush=True)
        stop_perf(perf)
        left = srv.cli("queue", "list").stdout.strip().splitlines()
        if not left or left[-1] != "0 queued":
            raise RuntimeError(f"queue not empty after {n} sent: {left[-3:]}")
        srv.stop()
        conns, mesg = sink.settle(n)
    finally:
        stop_perf(perf)
        if srv.alive():
            srv.kill9()
        (tmp / "postino.log").write_text(srv.all_stderr())
        if sink:
            sink.stop()
    if srv.problems:
        raise RuntimeError("\n".join(srv.problems))
    return dt, first, conns, mesg


class Postfix:
    """A private Postfix instance under tmp relaying everything to the sink."""

    QUEUES = ("maildrop", "incoming", "active", "deferred", "hold")

    def __init__(self, tmp, sink_port):
        self.etc = tmp / "pf-etc"
        self.spool = tmp / "pf-spool"
        self.etc.mkdir()
        shutil.copy("/etc/postfix/master.cf", self.etc / "master.cf")
        self.port = free_port()
        (self.etc / "main.cf").write_text(f"""\
compatibility_level = 3.6
queue_directory = {self.spool}
data_directory = {tmp / "pf-data"}
mail_owner = postfix
setgid_group = postdrop
myhostname = pfbench.example.org
mydestination =
alias_maps =
alias_database =
local_recipient_maps =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
relayhost = [127.0.0.1]:{sink_port}
smtp_tls_security_level = none
smtpd_tls_security_level = none
message_size_limit = 0
maillog_file = {tmp / "pf-maillog"}
maillog_file_prefixes = {tmp}
defer_transports = smtp
""")
        self.spool.mkdir()
        (tmp / "pf-data").mkdir()
        shutil.chown(tmp / "pf-data", "postfix")
        self.postconf("-M#", "smtp/inet")
        self.postconf("-Me", f"127.0.0.1:{self.port}/inet = 127.0.0.1:{self.port} inet n - n - - smtpd")
        self.postconf("-F", "*/*/chroot = n")
        self.run(POSTFIX, "start")

    def run(self, *args):
        r = subprocess.run([*args[:1], "-c", str(self.etc), *args[1:]],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"{args}: {r.stdout}{r.stderr}")
        return r

    def postconf(self, *args):
        return self.run("postconf", *args)

    def queued(self):
        return sum(len(files) for q in self.QUEUES for _, _, files in os.walk(self.spool / q))

    def stop(self):
        subprocess.run([POSTFIX, "-c", str(self.etc), "stop"], capture_output=True, timeout=60)


def run_postfix(tmp, n, size, sessions):
    sink_port = free_port()
    pf = Postfix(tmp, sink_port)
    sink = None
    try:
        submit_all(pf.port, n, size, sessions)
        # Everything goes to the deferred queue without an attempt.
        wait_until(lambda: sum(len(f) for _, _, f in os.walk(pf.spool / "deferred")) >= n,
                   DRAIN_TIMEOUT, "Postfix to defer everything")
        sink = Sink(sink_port, tmp)
        pf.postconf("-e", "defer_transports =")
        pf.run(POSTFIX, "reload")
        t0 = time.perf_counter()
        pf.run("postqueue", "-f")
        print(f"    postfix: `postqueue -f` itself took {time.perf_counter() - t0:.2f} s", flush=True)
        first, dt = drain(lambda: pf.queued() == 0, sink, t0, "Postfix's deliveries")
        pf.stop()
        conns, mesg = sink.settle(n)
    finally:
        pf.stop()
        if sink:
            sink.stop()
    return dt, first, conns, mesg


def main():
    ap = argparse.ArgumentParser(
        description="outbound throughput of postino's queue runner against Postfix")
    ap.add_argument("--sizes", default="4096:2000,102400:500",
                    help="comma-separated SIZE:COUNT (bytes per message, messages)")
    ap.add_argument("-r", "--runs", type=int, default=3, help="runs per size; the median is shown")
    ap.add_argument("-c", "--sessions", type=int, default=8,
                    help="parallel connections that fill the queue (untimed)")
    ap.add_argument("--no-postfix", action="store_true", help="skip the Postfix reference")
    ap.add_argument("--profile", metavar="DIR",
                    help="perf record -g the daemon while it drains (perf data into DIR)")
    ap.add_argument("--call-graph", default="fp", metavar="MODE",
                    help='perf\'s --call-graph for --profile: fp (default), or "dwarf,16384" '
                         "to see callers inside libdb (sampled at 300 Hz)")
    ap.add_argument("--outbound", default="", metavar="SETTINGS",
                    help='more settings for postino\'s outbound block, e.g. "max_connections = 20;"')
    ap.add_argument("--keep", action="store_true", help="keep the temporary directories")
    args = ap.parse_args()
    global PROFILE, OUTBOUND_EXTRA, CALL_GRAPH
    OUTBOUND_EXTRA = args.outbound
    CALL_GRAPH = args.call_graph
    if args.profile:
        PROFILE = pathlib.Path(args.profile).resolve()
        PROFILE.mkdir(parents=True, exist_ok=True)
    if not os.access(SINK, os.X_OK):
        print("smtp-sink not found: apt-get install postfix (not part of scripts/install-deps)")
        return 2
    use_pf = not args.no_postfix and os.access(POSTFIX, os.X_OK)
    if not use_pf:
        print("Postfix reference skipped: " +
              ("--no-postfix" if args.no_postfix else f"{POSTFIX} not found"))
    elif os.geteuid() != 0:
        print("Postfix reference skipped: a private Postfix instance needs root")
        use_pf = False
    helpers.BIN = bsp.release_binary()
    print(f"binary {helpers.BIN}; receiver smtp-sink; median of {args.runs} runs", flush=True)
    rows = []
    for spec in args.sizes.split(","):
        size, n = (int(x) for x in spec.split(":"))
        runs = {"postino": [], "postfix": []}
        for i in range(args.runs):
            for who, fn in (("postino", run_postino), ("postfix", run_postfix)):
                if who == "postfix" and not use_pf:
                    continue
                tmp = pathlib.Path(tempfile.mkdtemp(prefix=f"bench-out-{who}-"))
                os.chmod(tmp, 0o755)
                dt, first, conns, mesg = fn(tmp, n, size, args.sessions)
                if mesg != n:
                    raise RuntimeError(f"{who}: the sink received {mesg} of {n} messages")
                # (msg/s from the release, connections, seconds to the first
                # message, msg/s from the first message on).  The last two
                # are approximate: the queue and the sink's counters are
                # looked at every POLL seconds, and smtp-sink writes its
                # counters through a buffer; a drain shorter than a few
                # polls gives no steady rate (nan).
                steady = n / (dt - first) if dt - first >= 4 * POLL else float("nan")
                runs[who].append((n / dt, conns, first, steady))
                print(f"  run {i + 1} {size:>6} B x {n}: {who:7} {n / dt:8.0f} msg/s "
                      f"({dt:.2f} s), {conns} connections, first message after "
                      f"{first:.2f} s, {steady:.0f} msg/s from then on", flush=True)
                if args.keep:
                    print(f"    kept {tmp}")
                else:
                    shutil.rmtree(tmp, ignore_errors=True)
        med = {w: [median([r[k] for r in v]) for k in range(4)] for w, v in runs.items() if v}
        rows.append((size, n, med))
    print_table(rows, "from the release (flush) until the queue is empty", (0, 1), "conns")
    print_table(rows, "from the first message received, and the seconds before it",
                (3, 2), "1st s")
    return 0


def median(xs):
    xs = [x for x in xs if x == x]      # without the nan of too short drains
    return statistics.median(xs) if xs else float("nan")


def print_table(rows, title, cols, label):
    a, b = cols
    hdr = (f"{'size':>7} {'messages':>8} | {'postino':>9} {'':>5} | "
           f"{'Postfix':>9} {'':>5} | {'ratio':>5}")
    print(f"\n{title} (median of each)")
    print(hdr)
    print(f"{'':>7} {'':>8} | {'msg/s':>9} {label:>5} | {'msg/s':>9} {label:>5} | {'':>5}")
    print("-" * len(hdr))
    for size, n, med in rows:
        po = med["postino"]
        pf = med.get("postfix")
        size_s = f"{size // 1024} KiB"
        fb = ".2f" if b == 2 else ".0f"
        if pf:
            print(f"{size_s:>7} {n:>8} | {po[a]:>9.0f} {po[b]:>5{fb}} | {pf[a]:>9.0f} "
                  f"{pf[b]:>5{fb}} | {po[a] / pf[a]:>5.2f}")
        else:
            print(f"{size_s:>7} {n:>8} | {po[a]:>9.0f} {po[b]:>5{fb}} | {'-':>9} {'-':>5} | "
                  f"{'-':>5}")


if __name__ == "__main__":
    sys.exit(main())
