#!/usr/bin/python3
"""tests/soak/soak_crash.py: the crash soak (issue 10).  Starts the real
`postino serve` again and again on one data directory and SIGKILLs it at a
random moment under load (32 SMTP sessions delivering, one IMAP client
APPENDing and EXPUNGEing, one POP3 client doing DELE then QUIT).  It owns the
ledger of what the server promised (a 250 after DATA, an APPEND OK, a POP3
QUIT +OK, an EXPUNGE OK) and the check, after every restart, that each
promise held: acknowledged mail is there, whole, and acknowledged deletions
stay gone.  A start that does not log `ready` within --start-timeout is a
HANG: its threads' backtraces (gdb) go into the report and the data
directory is copied aside for post-mortem.

Python 3 standard library only (it reuses the raw protocol clients of
tests/integration/helpers.py).  Exit status 0 only when there was no hang,
no loss, no reappearance and no damaged message.

    /usr/bin/python3 tests/soak/soak_crash.py --cycles 200
"""
import argparse
import hashlib
import os
import pathlib
import random
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))
import helpers  # noqa: E402  (stdlib-only raw clients)
from helpers import Conn, ImapConn, dot_stuff, fetch_items, quote  # noqa: E402

KINDS = ("smtp", "pop3", "imap")
SMTP_USERS = 4              # recipients; user 0 is also the POP3 maildrop
TOKEN_RE = re.compile(rb"Message-ID:\s*<(soak-[0-9a-z-]+)@soak\.test>", re.I)
# Reading a response from a killed server fails with one of these; that is
# how a load client learns the kill happened.
GONE = (OSError, ConnectionError, ssl.SSLError, AssertionError, ValueError)


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def make_message(token, rng):
    """A message whose Message-ID carries token; the body is random so a
    torn or mixed-up message cannot pass the digest check."""
    lines = [f"{token} line {i} {rng.getrandbits(64):016x}" for i in range(rng.randint(1, 40))]
    body = ("\r\n".join(lines) + "\r\n").encode()
    head = (f"From: <soak@example.org>\r\nTo: <soak@localhost>\r\nSubject: soak {token}\r\n"
            f"Message-ID: <{token}@soak.test>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\n")
    return head.encode() + body, hashlib.sha1(body).hexdigest()


# -- the ledger ------------------------------------------------------------------

class Rec:
    """What the client knows of one message in one mailbox."""
    __slots__ = ("digest", "acked", "seen", "deleting", "del_acked")

    def __init__(self, digest):
        self.digest = digest
        self.acked = False      # 250 / APPEND OK received
        self.seen = False       # found by a verification after a restart
        self.deleting = False   # a deletion was sent (DELE+QUIT, EXPUNGE)
        self.del_acked = False  # ... and its QUIT +OK / EXPUNGE OK received


class Ledger:
    """Every message sent, per user, and its fate.  A message leaves `live`
    for `dead` once a verification finds it gone; a dead token must never
    show up again."""

    def __init__(self):
        self.lock = threading.Lock()
        self.live = {}          # user -> {token: Rec}
        self.dead = {}          # user -> {token: "deleted" | "never committed"}
        self.counts = dict(smtp_acked=0, append_acked=0, pop3_deleted=0, imap_expunged=0, trimmed=0,
                           unacked_committed=0, unacked_absent=0, smtp_tempfail=0)

    def sent(self, user, token, digest):
        with self.lock:
            self.live.setdefault(user, {})[token] = Rec(digest)

    def ack(self, user, token, what):
        with self.lock:
            self.live[user][token].acked = True
            self.counts[what] += 1

    def count(self, what):
        with self.lock:
            self.counts[what] += 1

    # A token outside `live` here is one a verification already reported
    # (it reappeared): its deletion is not a promise to keep track of.
    def deleting(self, user, tokens):
        with self.lock:
            for t in tokens:
                if t in self.live.get(user, {}):
                    self.live[user][t].deleting = True

    def deleted(self, user, tokens, what):
        with self.lock:
            for t in tokens:
                if t in self.live.get(user, {}):
                    self.live[user][t].del_acked = True
            self.counts[what] += len(tokens)

    def verify(self, user, present, problems):
        """present: {token: [digest, ...]} read from the mailbox after a
        restart, with no client running.  Appends one line per broken
        promise to problems and resolves every pending fate."""
        with self.lock:
            live = self.live.setdefault(user, {})
            dead = self.dead.setdefault(user, {})
            for t, digests in present.items():
                if t in dead:
                    kind = "REAPPEARED" if dead[t] == "deleted" else "PHANTOM"
                    problems.append(f"{kind} {user} {t}: {dead[t]} earlier, present now")
                    continue
                rec = live.get(t)
                if rec is None:
                    problems.append(f"UNKNOWN {user} {t}: present, never sent")
                    continue
                if len(digests) > 1:
                    problems.append(f"DUPLICATE {user} {t}: {len(digests)} copies")
                if any(d != rec.digest for d in digests):
                    problems.append(f"DAMAGED {user} {t}: body differs from what was sent")
            for t in list(live):
                rec = live[t]
                here = t in present
                if rec.del_acked:
                    if here:
                        problems.append(f"REAPPEARED {user} {t}: deletion acknowledged, "
                                        f"present after restart")
                        rec.deleting = rec.del_acked = False
                        rec.seen = True
                    else:
                        dead[t] = "deleted"
                        del live[t]
                elif here:
                    if not rec.acked and not rec.seen:
                        self.counts["unacked_committed"] += 1
                    rec.seen = True
                    rec.deleting = False
                elif rec.deleting:
                    dead[t] = "deleted"     # the unacknowledged deletion committed
                    del live[t]
                elif rec.acked or rec.seen:
                    what = "acknowledged" if rec.acked else "seen after an earlier restart"
                    problems.append(f"LOST {user} {t}: {what}, missing after restart")
                    dead[t] = "lost"
                    del live[t]
                else:
                    self.counts["unacked_absent"] += 1
                    dead[t] = "never committed"
                    del live[t]


# -- the server ------------------------------------------------------------------

class Daemon:
    """One `postino serve` process on the soak's data directory."""

    def __init__(self, binary, data_dir):
        self.binary = binary
        self.data_dir = data_dir
        self.proc = None
        self.lines = []
        self.cond = threading.Condition()
        self.eof = False
        self.ports = {}
        self.reader = None

    def _read(self, stream):
        for raw in iter(stream.readline, b""):
            with self.cond:
                self.lines.append(raw.decode("utf-8", "replace"))
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def start(self, sandbox, timeout):
        """Start and wait for `ready`: returns "ready", "exited" or "hang"."""
        cmd = [self.binary, "serve", "--data", str(self.data_dir), *helpers.RUN_AS]
        for k in KINDS:
            cmd += ["--listen", f"{k}=127.0.0.1:0"]
        if sandbox:
            cmd.append("--sandbox")
        self.lines, self.eof, self.ports = [], False, {}
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        self.reader = threading.Thread(target=self._read, args=(self.proc.stderr,), daemon=True)
        self.reader.start()
        deadline = time.monotonic() + timeout
        with self.cond:
            while not any(" ready " in l for l in self.lines):
                left = deadline - time.monotonic()
                if self.eof or left <= 0:
                    return "exited" if self.eof else "hang"
                self.cond.wait(left)
            text = "".join(self.lines)
        for m in helpers.LISTEN_RE.finditer(text):
            self.ports[m.group(1)] = int(m.group(3))
        return "ready"

    def log(self):
        with self.cond:
            return "".join(self.lines)

    def backtrace(self):
        """Every thread's stack, from gdb attached to the live process."""
        try:
            r = subprocess.run(["gdb", "-p", str(self.proc.pid), "-batch", "-nx",
                                "-ex", "thread apply all bt"],
                               capture_output=True, text=True, timeout=120)
            return r.stdout + r.stderr
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"(no backtrace: {e!r})"

    def probe(self):
        """What a client meets on each port logged as listening: the point
        of the report is whether connections are taken before `ready`."""
        out = []
        for m in helpers.LISTEN_RE.finditer(self.log()):
            kind, port = m.group(1), int(m.group(3))
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                    s.settimeout(2)
                    try:
                        got = s.recv(200)
                        out.append(f"{kind} port {port}: connected, got {got[:60]!r}")
                    except (socket.timeout, TimeoutError):
                        out.append(f"{kind} port {port}: connected, no greeting in 2 s")
            except OSError as e:
                out.append(f"{kind} port {port}: {e}")
        return "\n".join(out) or "(no listening line logged)"

    def kill9(self):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.kill()
        rc = self.proc.wait()
        self.reader.join(10)
        self.proc.stderr.close()
        self.proc = None
        return rc


# -- load clients ----------------------------------------------------------------

class Load:
    """One cycle's clients.  Each records a promise the moment its reply is
    parsed, so whatever the server answered before it died is counted."""

    def __init__(self, soak, cycle, sandbox):
        self.soak = soak
        self.ledger = soak.ledger
        self.ports = soak.daemon.ports
        self.cycle = cycle
        self.sandbox = sandbox
        self.stop = threading.Event()
        self.killed = threading.Event()
        self.errors = []
        self.threads = []

    def token(self, who, n):
        return f"soak-c{self.cycle}-{who}-n{n}"

    def run(self, seconds, sessions):
        targets = [(self.smtp, (i,)) for i in range(sessions)]
        targets += [(self.imap, ()), (self.pop3, ())]
        for fn, args in targets:
            t = threading.Thread(target=self._guard, args=(fn, args), daemon=True)
            t.start()
            self.threads.append(t)
        time.sleep(seconds)

    def _guard(self, fn, args):
        try:
            fn(*args)
        except GONE as e:
            if not self.killed.is_set():
                self.errors.append(f"{fn.__name__}{args}: {e!r}"[:400])

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(helpers.TIMEOUT * 3)
        return [t for t in self.threads if t.is_alive()]

    def smtp(self, i):
        rng = random.Random(self.soak.rng.random())
        users = self.soak.smtp_users(self.sandbox)
        c = Conn.connect(self.ports["smtp"])
        assert c.smtp_reply().code == 220
        assert c.smtp_cmd("EHLO soak.example.org").code == 250
        n = 0
        while not self.stop.is_set():
            rcpts = rng.sample(users, 2 if rng.random() < 0.25 else 1)
            token = self.token(f"s{i}", n)
            n += 1
            msg, digest = make_message(token, rng)
            assert c.smtp_cmd("MAIL FROM:<soak@example.org>").code == 250
            accepted = []
            for r in rcpts:
                if c.smtp_cmd(f"RCPT TO:<{r}>").code == 250:
                    accepted.append(r)
            if not accepted:
                raise AssertionError(f"every recipient refused: {rcpts}")
            assert c.smtp_cmd("DATA").code == 354
            for r in accepted:
                self.ledger.sent(r, token, digest)
            c.send(dot_stuff(msg) + b".\r\n")
            reply = c.smtp_reply()
            if reply.code == 250:
                for r in accepted:
                    self.ledger.ack(r, token, "smtp_acked")
            elif reply.code // 100 == 4:
                self.ledger.count("smtp_tempfail")
            else:
                raise AssertionError(f"end of DATA for {token}: {reply}")

    def imap(self):
        rng = random.Random(self.soak.rng.random())
        user, pw = self.soak.imap_user
        c = imap_login(self.ports, user, pw)
        c.ok("SELECT INBOX")
        # Messages flagged \Deleted by a session the kill cut short: a plain
        # EXPUNGE removes them too, so they are part of what it deletes.
        flagged = {t for t, (_, flags, _) in imap_scan(c).items() if b"\\Deleted" in flags}
        uids = {}
        n = 0
        while not self.stop.is_set():
            for _ in range(rng.randint(1, 4)):
                token = self.token("a", n)
                n += 1
                msg, digest = make_message(token, rng)
                self.ledger.sent(user, token, digest)
                r = c.cmd(b"APPEND INBOX {%d+}\r\n" % len(msg) + msg)
                assert r.status == "OK", f"APPEND: {r}"
                self.ledger.ack(user, token, "append_acked")
                m = re.match(r"APPENDUID \d+ (\d+)$", r.code)
                assert m, f"APPEND without APPENDUID: {r}"
                uids[token] = int(m.group(1))
            pick = rng.sample(sorted(uids), min(len(uids), rng.randint(1, 3)))
            r = c.cmd("UID STORE " + ",".join(str(uids[t]) for t in pick)
                      + " +FLAGS.SILENT (\\Deleted)")
            assert r.status == "OK", f"STORE: {r}"
            flagged.update(pick)
            if rng.random() < 0.5:
                gone, line = set(pick), "UID EXPUNGE " + ",".join(str(uids[t]) for t in pick)
            else:
                gone, line = set(flagged), "EXPUNGE"
            self.ledger.deleting(user, gone)
            r = c.cmd(line)
            assert r.status == "OK", f"{line}: {r}"
            self.ledger.deleted(user, gone, "imap_expunged")
            flagged -= gone
            for t in gone:
                uids.pop(t, None)

    def pop3(self):
        rng = random.Random(self.soak.rng.random())
        user, pw = self.soak.users[0]
        while not self.stop.is_set():
            c = Conn.connect(self.ports["pop3"])
            assert c.pop3_status().startswith("+OK")
            c.pop3_login(user, pw)
            listing = c.pop3_uidl()
            chosen = []
            for num in rng.sample(sorted(listing), min(len(listing), rng.randint(1, 3))):
                c.pop3_ok(f"TOP {num} 0")
                m = TOKEN_RE.search(c.pop3_multi())
                assert m, f"message {num} has no soak Message-ID"
                chosen.append((num, m.group(1).decode()))
            for num, _ in chosen:
                c.pop3_ok(f"DELE {num}")
            tokens = [t for _, t in chosen]
            self.ledger.deleting(user, tokens)
            r = c.pop3_cmd("QUIT")
            assert r.startswith("+OK"), f"QUIT: {r}"
            self.ledger.deleted(user, tokens, "pop3_deleted")
            c.close()
            if not chosen:
                time.sleep(0.05)   # nothing delivered yet


def imap_login(ports, user, pw):
    c = ImapConn.connect(ports["imap"])
    assert c.read_greeting().startswith(b"* OK")
    c.login(user, pw)
    return c


def imap_scan(c):
    """{token: (uid, flags, [body digests])} of the selected mailbox, in one
    FETCH of every message's Message-ID, flags and body."""
    r = c.ok("UID FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)] BODY.PEEK[TEXT])")
    out = {}
    for _, items in r.fetches().items():
        hdr = items.get("BODY[HEADER.FIELDS (MESSAGE-ID)]") or b""
        m = TOKEN_RE.search(hdr)
        token = m.group(1).decode() if m else f"(no token, uid {int(items['UID'])})"
        flags = b" ".join(bytes(f) for f in items.get("FLAGS") or [])
        digest = hashlib.sha1(items.get("BODY[TEXT]") or b"").hexdigest()
        prev = out.get(token)
        out[token] = (int(items["UID"]), flags, (prev[2] if prev else []) + [digest])
    return out


# -- the soak --------------------------------------------------------------------

class Soak:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.work = pathlib.Path(args.work or tempfile.mkdtemp(prefix="postino-soak-"))
        self.work.mkdir(parents=True, exist_ok=True)
        self.data = self.work / "data"
        self.daemon = Daemon(args.bin, self.data)
        self.ledger = Ledger()
        self.users = []
        self.imap_user = None
        self.sandbox_only = "soak-sandbox@sandbox.test"
        self.problems = []
        self.hangs = []
        self.restart_s = []
        self.load_errors = 0

    def say(self, text):
        if not self.args.quiet:
            print(text, flush=True)

    def smtp_users(self, sandbox):
        names = [u for u, _ in self.users]
        return names + [self.sandbox_only] if sandbox else names

    def mode(self, cycle):
        if self.args.mode == "both":
            return cycle % 2 == 1
        return self.args.mode == "sandbox"

    def cli(self, *args, input=None):
        cmd = [self.args.bin, *args, *helpers.RUN_AS, "--data", str(self.data)]
        return subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=120)

    def setup(self):
        for i in range(SMTP_USERS + 1):
            addr, pw = f"soak{i}@localhost", f"pw-soak-{i}"
            r = self.cli("user", "add", addr, input=pw + "\n")
            if r.returncode != 0:
                raise SystemExit(f"user add {addr} failed: {r.stderr}")
            self.users.append((addr, pw))
        self.imap_user = self.users.pop()

    def post_mortem(self, cycle, what):
        """A HANG: backtraces of the live process, a copy of the data
        directory, the log; then kill it and go on."""
        bt = self.daemon.probe() + "\n\n" + self.daemon.backtrace()
        keep = self.work / f"{what}-cycle{cycle}"
        shutil.copytree(self.data, keep / "data", symlinks=True)
        (keep / "backtrace.txt").write_text(bt)
        (keep / "server.log").write_text(self.daemon.log())
        self.daemon.kill9()
        self.hangs.append((cycle, what, keep, bt))
        self.say(f"cycle {cycle}: {what.upper()}; backtrace and data copied to {keep}")
        if self.args.unwedge:
            # What an operator would do: with no process left, the region
            # files (__db.001...) only hold the dead process's locks; the next
            # start recreates them and recovers from the log.
            for f in self.data.glob("__db.[0-9][0-9][0-9]"):
                f.unlink()

    def verify(self, sandbox):
        """Check every user's mailbox against the ledger, then trim big
        mailboxes (oldest first, with acknowledged UID EXPUNGEs) so that
        each verification reads a bounded number of messages."""
        users = [self.imap_user] + self.users
        if sandbox:
            users.append((self.sandbox_only, "any password"))
        for user, pw in users:
            c = imap_login(self.daemon.ports, user, pw)
            c.ok("SELECT INBOX")
            found = imap_scan(c)
            self.ledger.verify(user, {t: d for t, (_, _, d) in found.items()}, self.problems)
            if len(found) > self.args.keep * 2:
                old = sorted(found.items(), key=lambda kv: kv[1][0])[:len(found) - self.args.keep]
                tokens = [t for t, _ in old if t in self.ledger.live.get(user, {})]
                uidset = ",".join(str(v[0]) for _, v in old)
                c.ok(f"UID STORE {uidset} +FLAGS.SILENT (\\Deleted)")
                self.ledger.deleting(user, tokens)
                c.ok(f"UID EXPUNGE {uidset}")
                self.ledger.deleted(user, tokens, "trimmed")
            c.ok("LOGOUT")
            c.close()

    def cycle(self, n):
        sandbox = self.mode(n)
        t0 = time.monotonic()
        state = self.daemon.start(sandbox, self.args.start_timeout)
        if state == "hang":
            self.post_mortem(n, "hang")
            return
        if state == "exited":
            rc = self.daemon.kill9()
            self.problems.append(f"cycle {n}: postino exited with status {rc} before ready:\n"
                                 f"{self.daemon.log()[-3000:]}")
            return
        self.restart_s.append(time.monotonic() - t0)
        try:
            self.verify(sandbox)
        except (socket.timeout, TimeoutError):
            self.post_mortem(n, "verify-hang")
            return
        except GONE as e:
            rc = self.daemon.kill9()
            self.problems.append(f"cycle {n}: verification failed (postino status {rc}): "
                                 f"{e!r}\n{self.daemon.log()[-3000:]}")
            return
        load = Load(self, n, sandbox)
        lo, hi = self.args.kill_after_ms
        load.run(self.rng.uniform(lo, hi) / 1000.0, self.args.sessions)
        died = self.daemon.proc.poll()
        load.killed.set()
        self.daemon.kill9()
        log = self.daemon.log()
        stuck = load.finish()
        if died is not None:
            self.problems.append(f"cycle {n}: postino died by itself (status {died}) under load:"
                                 f"\n{log[-3000:]}")
        bad = helpers.sanitizer_lines(log)
        if bad:
            self.problems.append(f"cycle {n}: sanitizer report:\n{log[-6000:]}")
        if stuck:
            self.problems.append(f"cycle {n}: {len(stuck)} client threads still blocked after the kill")
        self.load_errors += len(load.errors)
        for e in load.errors[:3]:
            self.say(f"cycle {n}: client error before the kill: {e}")

    def run(self):
        started = time.monotonic()
        self.setup()
        self.say(f"postino crash soak: {self.args.cycles} cycles, {self.args.sessions} SMTP "
                 f"sessions, seed {self.args.seed}, work dir {self.work}")
        self.stopped_early = None
        self.cycles_run = 0
        in_a_row = 0
        for n in range(self.args.cycles):
            hangs = len(self.hangs)
            self.cycle(n)
            self.cycles_run = n + 1
            in_a_row = in_a_row + 1 if len(self.hangs) > hangs else 0
            if in_a_row >= self.args.max_hangs_in_a_row:
                # Each further start would wait out the timeout again.
                self.stopped_early = (f"stopped after cycle {n}: {in_a_row} starts in a row "
                                      f"hung (the environment stays wedged; --unwedge goes on)")
                self.say(self.stopped_early)
                break
            if not self.args.quiet and (n + 1) % 10 == 0:
                self.say(f"  {n + 1} cycles, {len(self.hangs)} hangs, {len(self.problems)} problems")
        # A last start with no kill: what the final crash left must verify too.
        if self.stopped_early:
            self.elapsed = time.monotonic() - started
            return self.report()
        final_sandbox = self.args.mode != "real"
        state = self.daemon.start(final_sandbox, self.args.start_timeout)
        if state == "ready":
            try:
                self.verify(final_sandbox)
                self.daemon.proc.send_signal(signal.SIGTERM)
                rc = self.daemon.proc.wait(60)
                if rc != 0:
                    self.problems.append(f"postino exited with status {rc} after SIGTERM")
            except (GONE, subprocess.TimeoutExpired) as e:
                self.problems.append(f"final verification failed: {e!r}")
            self.daemon.kill9()
            # A clean exit is where LeakSanitizer speaks.
            if helpers.sanitizer_lines(self.daemon.log()):
                self.problems.append(f"sanitizer report at shutdown:\n{self.daemon.log()[-6000:]}")
        elif state == "hang":
            self.post_mortem(self.args.cycles, "hang")
        else:
            self.problems.append(f"final start: postino exited before ready:\n"
                                 f"{self.daemon.log()[-3000:]}")
            self.daemon.kill9()
        self.elapsed = time.monotonic() - started
        return self.report()

    def report(self):
        lost = [p for p in self.problems if p.startswith("LOST")]
        back = [p for p in self.problems if p.startswith(("REAPPEARED", "PHANTOM"))]
        r = self.restart_s or [0.0]
        c = self.ledger.counts
        out = [
            f"cycles: {self.cycles_run} of {self.args.cycles} (seed {self.args.seed}, "
            f"{self.elapsed:.0f} s)",
            f"hangs: {len(self.hangs)}" + (" (region files removed after each: --unwedge)"
                                           if self.args.unwedge and self.hangs else ""),
            f"restart to ready (s): median {statistics.median(r):.3f}, "
            f"p99 {percentile(r, 99):.3f}, max {max(r):.3f} over {len(self.restart_s)} starts",
            f"acknowledged: {c['smtp_acked']} SMTP deliveries, {c['append_acked']} APPENDs, "
            f"{c['pop3_deleted']} POP3 deletions, {c['imap_expunged']} IMAP expunges "
            f"(+{c['trimmed']} trimmed between cycles)",
            f"unacknowledged at the kill: {c['unacked_committed']} committed, "
            f"{c['unacked_absent']} not; {c['smtp_tempfail']} SMTP 4xx; "
            f"{self.load_errors} client errors before a kill",
            f"acknowledged lost: {len(lost)}",
            f"acknowledged-deleted reappeared: {len(back)}",
            f"other problems: {len(self.problems) - len(lost) - len(back)}",
        ]
        if self.stopped_early:
            out.append(self.stopped_early)
        for p in self.problems[:50]:
            out.append("  " + p)
        for i, (cycle, what, keep, bt) in enumerate(self.hangs):
            out.append(f"{what.upper()} in cycle {cycle}: data copied to {keep}")
            if i < 3:   # the rest are in keep/backtrace.txt
                out.append(bt[-12000:])
        ok = not self.hangs and not self.problems and not self.stopped_early
        out.append("RESULT: " + ("ok" if ok else "FAILED"))
        return ok, "\n".join(out)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="postino crash soak (kill -9 under load)")
    p.add_argument("--cycles", type=int, default=200)
    p.add_argument("--sessions", type=int, default=32, help="concurrent SMTP sessions")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--bin", default=os.environ.get("POSTINO_BIN") or str(REPO / "build" / "postino"))
    p.add_argument("--work", help="directory for the data dir and post-mortem copies "
                                  "(default: a new one under $TMPDIR)")
    p.add_argument("--mode", choices=("real", "sandbox", "both"), default="both",
                   help="real users, --sandbox, or alternate per cycle")
    p.add_argument("--start-timeout", type=float, default=60.0,
                   help="seconds to `ready` before a start counts as a HANG")
    p.add_argument("--max-hangs-in-a-row", type=int, default=3,
                   help="stop the run after this many consecutive hanging starts")
    p.add_argument("--unwedge", action="store_true",
                   help="after a hang, remove the region files (__db.0NN) so that the next "
                        "start recovers: lets a run go on measuring losses past a hang")
    p.add_argument("--kill-after-ms", type=float, nargs=2, default=(50.0, 1500.0),
                   metavar=("MIN", "MAX"), help="random kill moment into the load")
    p.add_argument("--keep", type=int, default=200,
                   help="trim a mailbox to this many messages once it holds twice as many")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    if a.seed is None:
        a.seed = random.SystemRandom().randrange(1 << 32)
    return a


def main(argv=None):
    args = parse_args(argv)
    if not os.access(args.bin, os.X_OK):
        print(f"no postino binary at {args.bin} (build first, or --bin)", file=sys.stderr)
        return 2
    ok, text = Soak(args).run()
    print(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
