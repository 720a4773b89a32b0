# tests/integration/helpers.py: runs the real `postino` binary for the
# integration tests and talks to it byte by byte.  It owns the Server class
# (start on ephemeral ports, stop with SIGTERM and check the exit, kill -9,
# restart on the same data directory, admin CLI) and small raw SMTP/POP3
# clients whose every socket has a timeout, so a hang fails a test instead of
# hanging CI.
import itertools
import os
import pathlib
import re
import signal
import socket
import ssl
import subprocess
import threading
import time
import uuid

REPO = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("POSTINO_BIN") or str(REPO / "build" / "postino")
# Seconds for one network read or one CLI command; sanitizer builds are slow.
TIMEOUT = float(os.environ.get("POSTINO_TEST_TIMEOUT", "10"))
START_TIMEOUT = 60.0
STOP_TIMEOUT = 40.0  # above the default shutdown_grace (30 s)
SANITIZER_MARKS = ("Sanitizer", "runtime error", "LeakSanitizer")
KINDS = ("smtp", "smtps", "pop3", "pop3s")
LISTEN_RE = re.compile(r"listening kind=(\w+) address=(\S+) port=(\d+)")

_counter = itertools.count(1)


def unique(prefix="u", domain="localhost"):
    """A fresh address, so tests sharing one server never see each other's mail."""
    return f"{prefix}{next(_counter)}x{uuid.uuid4().hex[:6]}@{domain}"


def sanitizer_lines(text):
    return [l for l in text.splitlines() if any(m in l for m in SANITIZER_MARKS)]


class Server:
    """One `postino serve` process on a data directory, restartable."""

    def __init__(self, data_dir, sandbox=False, kinds=KINDS, config=None, extra=()):
        self.data_dir = pathlib.Path(data_dir)
        self.sandbox = sandbox
        self.kinds = tuple(kinds)
        self.config = config
        self.extra = list(extra)
        self.proc = None
        self.ports = {}
        self.problems = []      # exit status / sanitizer findings, checked at teardown
        self.logs = []          # stderr of every run, oldest first
        self._lines = []
        self._cond = threading.Condition()
        self._reader = None
        self._eof = False

    # -- process control ---------------------------------------------------
    def command(self):
        args = [BIN, "serve", "--data", str(self.data_dir)]
        if self.config:
            args += ["--config", str(self.config)]
        for k in self.kinds:
            args += ["--listen", f"{k}=127.0.0.1:0"]
        if self.sandbox:
            args.append("--sandbox")
        return args + self.extra

    def _read_stderr(self, stream, lines):
        for raw in iter(stream.readline, b""):
            with self._cond:
                lines.append(raw.decode("utf-8", "replace"))
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def start(self):
        assert self.proc is None, "server already running"
        self._lines = []
        self.logs.append(self._lines)
        self._eof = False
        self.ports = {}
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._reader = threading.Thread(target=self._read_stderr,
                                        args=(self.proc.stderr, self._lines), daemon=True)
        self._reader.start()
        deadline = time.monotonic() + START_TIMEOUT
        with self._cond:
            while True:
                if any(" ready" in l for l in self._lines):
                    break
                if self._eof:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            ready = any(" ready" in l for l in self._lines)
            text = "".join(self._lines)
        if not ready:
            self.kill9()
            raise AssertionError(f"postino did not become ready; stderr:\n{text}")
        for m in LISTEN_RE.finditer(text):
            self.ports[m.group(1)] = int(m.group(3))
        missing = [k for k in self.kinds if k not in self.ports]
        if missing:
            self.kill9()
            raise AssertionError(f"no 'listening' line for {missing}; stderr:\n{text}")
        return self

    def stderr(self):
        with self._cond:
            return "".join(self._lines)

    def all_stderr(self):
        with self._cond:
            return "".join("".join(l) for l in self.logs)

    def wait_log(self, needle, timeout=10.0):
        """Wait until a stderr line of the current run contains needle."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not any(needle in l for l in self._lines):
                left = deadline - time.monotonic()
                if left <= 0 or self._eof:
                    return False
                self._cond.wait(left)
        return True

    def _finish(self, rc, how):
        if self._reader:
            self._reader.join(10)
        self.proc.stderr.close()
        self.proc = None
        text = self.stderr()
        bad = sanitizer_lines(text)
        if bad:
            self.problems.append(f"sanitizer report after {how}:\n{text}")
        return rc

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Signal the server and wait; records a non-zero exit as a problem."""
        if self.proc is None:
            return None
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self.problems.append(f"postino did not exit within {timeout}s of {sig.name}")
            return self._finish(None, sig.name)
        if rc != 0:
            self.problems.append(f"postino exited with status {rc} after {sig.name}; "
                                 f"stderr:\n{self.stderr()}")
        return self._finish(rc, sig.name)

    def kill9(self):
        if self.proc is None:
            return
        self.proc.kill()
        self.proc.wait()
        self._finish(-9, "SIGKILL")

    def restart(self, crash=False):
        if crash:
            self.kill9()
        else:
            self.stop()
            self.assert_clean()
        return self.start()

    def assert_clean(self):
        if self.problems:
            msg = "\n\n".join(self.problems)
            self.problems = []
            raise AssertionError(msg)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    # -- admin CLI -----------------------------------------------------------
    def cli(self, *args, input=None, data=True, timeout=TIMEOUT * 2):
        cmd = [BIN, *args]
        if data:
            cmd += ["--data", str(self.data_dir)]
        if self.config:
            cmd += ["--config", str(self.config)]
        return run_cli(cmd, input=input, timeout=timeout, problems=self.problems)

    def add_user(self, address, password="pw-" + "s3cret"):
        r = self.cli("user", "add", address, input=password + "\n")
        assert r.returncode == 0, f"user add {address}: rc={r.returncode} stderr={r.stderr!r}"
        return address, password

    def new_user(self, prefix="u", password=None):
        return self.add_user(unique(prefix), password or "pw-" + uuid.uuid4().hex[:8])

    def stats(self):
        r = self.cli("stats")
        assert r.returncode == 0, r.stderr
        out = {}
        for line in r.stdout.splitlines():
            k, _, v = line.partition("=")
            out[k.strip()] = int(v) if v.strip().isdigit() else v
        return out

    # -- protocol shortcuts --------------------------------------------------
    def smtp(self, tls=False, ehlo=True):
        c = Conn.connect(self.ports["smtps" if tls else "smtp"], tls=tls)
        r = c.smtp_reply()
        assert r.code == 220, f"greeting: {r}"
        if ehlo:
            r = c.smtp_cmd("EHLO client.example.org")
            assert r.code == 250, f"EHLO: {r}"
        return c

    def pop3(self, user=None, password=None, tls=False):
        c = Conn.connect(self.ports["pop3s" if tls else "pop3"], tls=tls)
        g = c.pop3_status()
        assert g.startswith("+OK"), f"greeting: {g}"
        if user is not None:
            c.pop3_login(user, password)
        return c

    def deliver(self, mail_from, rcpts, msg, tls=False):
        c = self.smtp(tls=tls)
        try:
            return c.smtp_deliver(mail_from, rcpts, msg)
        finally:
            c.smtp_quit()

    def retr_all(self, user, password, tls=False):
        c = self.pop3(user, password, tls=tls)
        try:
            n, _ = c.pop3_stat()
            msgs = [c.pop3_retr(i) for i in range(1, n + 1)]
            c.pop3_quit()
            return msgs
        finally:
            c.close()


def run_cli(cmd, input=None, timeout=TIMEOUT * 2, problems=None):
    r = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout,
                       stdin=None if input is not None else subprocess.DEVNULL)
    bad = sanitizer_lines(r.stderr)
    if bad:
        msg = f"sanitizer report from {' '.join(cmd)}:\n{r.stderr}"
        if problems is not None:
            problems.append(msg)
        raise AssertionError(msg)
    return r


# -- raw protocol client -------------------------------------------------------

def client_ctx():
    """TLS client context for a self-signed server: no verification."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Reply:
    def __init__(self, code, lines):
        self.code = code
        self.lines = lines          # text after "NNN-" / "NNN ", one per line

    @property
    def text(self):
        return "\n".join(self.lines)

    @property
    def enhanced(self):
        """The enhanced status code (RFC 2034) of the last line, or ''."""
        m = re.match(r"([245]\.\d{1,3}\.\d{1,3})(\s|$)", self.lines[-1] if self.lines else "")
        return m.group(1) if m else ""

    def __repr__(self):
        return " | ".join(f"{self.code} {l}" for l in self.lines)

    __str__ = __repr__


class Conn:
    """A line-oriented client socket with a timeout on every read."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    @classmethod
    def connect(cls, port, tls=False, host="127.0.0.1", timeout=TIMEOUT, ctx=None,
                server_hostname=None):
        s = socket.create_connection((host, port), timeout=timeout)
        s.settimeout(timeout)
        if tls:
            s = (ctx or client_ctx()).wrap_socket(s, server_hostname=server_hostname)
        return cls(s)

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError(f"server closed the connection; unread: {bytes(self.buf)!r}")
        self.buf += chunk

    def readline(self):
        start = 0
        while True:
            i = self.buf.find(b"\n", start)
            if i >= 0:
                line = bytes(self.buf[:i + 1])
                del self.buf[:i + 1]
                return line
            start = len(self.buf)
            self._fill()

    def read_until(self, marker, start=0):
        """Bytes up to and including marker (searched from offset start)."""
        pos = start
        while True:
            i = self.buf.find(marker, pos)
            if i >= 0:
                out = bytes(self.buf[:i + len(marker)])
                del self.buf[:i + len(marker)]
                return out
            pos = max(start, len(self.buf) - len(marker) + 1)
            self._fill()

    def silence(self, seconds):
        """Whatever arrives within `seconds` (b"" when the server stays quiet)."""
        old = self.sock.gettimeout()
        self.sock.settimeout(seconds)
        got = bytes(self.buf)
        self.buf.clear()
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                got += chunk
        except (socket.timeout, TimeoutError):
            pass
        except (ConnectionError, ssl.SSLError, OSError):
            pass    # reset by the server: what came before is the answer
        finally:
            self.sock.settimeout(old)
        return got

    def closed_by_peer(self, seconds=5.0):
        """True when the server closes the connection within `seconds`."""
        old = self.sock.gettimeout()
        self.sock.settimeout(seconds)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
        except (socket.timeout, TimeoutError):
            return False
        except (ConnectionError, ssl.SSLError, OSError):
            return True
        finally:
            self.sock.settimeout(old)

    def starttls(self, ctx=None, server_hostname=None):
        assert not self.buf, f"bytes after the TLS go-ahead, before the handshake: {bytes(self.buf)!r}"
        self.sock = (ctx or client_ctx()).wrap_socket(self.sock, server_hostname=server_hostname)
        return self.sock

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- SMTP ----------------------------------------------------------------
    def smtp_reply(self):
        lines = []
        code = None
        while True:
            raw = self.readline()
            assert raw.endswith(b"\r\n"), f"SMTP reply line not CRLF-terminated: {raw!r}"
            line = raw[:-2].decode("utf-8", "replace")
            m = re.match(r"(\d{3})([ -]?)(.*)$", line)
            assert m, f"malformed SMTP reply line: {raw!r}"
            if code is None:
                code = int(m.group(1))
            assert int(m.group(1)) == code, f"reply code changed within a reply: {lines} {line}"
            lines.append(m.group(3))
            if m.group(2) != "-":
                return Reply(code, lines)

    def smtp_cmd(self, line):
        self.send(line + "\r\n" if isinstance(line, str) else line + b"\r\n")
        return self.smtp_reply()

    def smtp_deliver(self, mail_from, rcpts, msg, mail_params=""):
        """MAIL, RCPTs, DATA with msg dot-stuffed; asserts every reply; returns the
        reply to the end of data."""
        r = self.smtp_cmd(f"MAIL FROM:<{mail_from}>{mail_params}")
        assert r.code == 250, f"MAIL: {r}"
        for rc in rcpts:
            r = self.smtp_cmd(f"RCPT TO:<{rc}>")
            assert r.code == 250, f"RCPT {rc}: {r}"
        r = self.smtp_cmd("DATA")
        assert r.code == 354, f"DATA: {r}"
        self.send(dot_stuff(msg) + b".\r\n")
        r = self.smtp_reply()
        assert r.code == 250, f"end of DATA: {r}"
        return r

    def smtp_quit(self):
        try:
            r = self.smtp_cmd("QUIT")
            assert r.code == 221, f"QUIT: {r}"
        finally:
            self.close()

    # -- POP3 ----------------------------------------------------------------
    def pop3_status(self):
        raw = self.readline()
        assert raw.endswith(b"\r\n"), f"POP3 line not CRLF-terminated: {raw!r}"
        return raw[:-2].decode("utf-8", "replace")

    def pop3_cmd(self, line):
        self.send(line + "\r\n")
        return self.pop3_status()

    def pop3_ok(self, line):
        r = self.pop3_cmd(line)
        assert r.startswith("+OK"), f"{line}: {r}"
        return r

    def pop3_multi(self):
        """The body of a multi-line response, dot-unstuffed (RFC 1939 3)."""
        if self.buf[:3] == b".\r\n":
            del self.buf[:3]
            return b""
        while len(self.buf) < 3:
            self._fill()
            if self.buf[:3] == b".\r\n":
                del self.buf[:3]
                return b""
        data = self.read_until(b"\r\n.\r\n")[:-3]
        return pop3_unstuff(data)

    def pop3_login(self, user, password):
        r = self.pop3_cmd(f"USER {user}")
        assert r.startswith("+OK"), f"USER {user}: {r}"
        r = self.pop3_cmd(f"PASS {password}")
        assert r.startswith("+OK"), f"PASS for {user}: {r}"

    def pop3_stat(self):
        r = self.pop3_ok("STAT")
        m = re.match(r"\+OK (\d+) (\d+)", r)
        assert m, f"STAT: {r}"
        return int(m.group(1)), int(m.group(2))

    def pop3_list(self):
        self.pop3_ok("LIST")
        out = {}
        for line in self.pop3_multi().decode().split("\r\n"):
            if line:
                n, size = line.split()
                out[int(n)] = int(size)
        return out

    def pop3_uidl(self):
        self.pop3_ok("UIDL")
        out = {}
        for line in self.pop3_multi().decode().split("\r\n"):
            if line:
                n, uid = line.split()
                out[int(n)] = uid
        return out

    def pop3_retr(self, n):
        self.pop3_ok(f"RETR {n}")
        return self.pop3_multi()

    def pop3_quit(self):
        r = self.pop3_cmd("QUIT")
        assert r.startswith("+OK"), f"QUIT: {r}"
        assert self.closed_by_peer(), "server did not close after QUIT"
        self.close()


def dot_stuff(msg):
    """RFC 5321 4.5.2: double a leading '.' on every CRLF-terminated line."""
    assert msg.endswith(b"\r\n")
    if msg.startswith(b"."):
        msg = b"." + msg
    return msg.replace(b"\r\n.", b"\r\n..")


def pop3_unstuff(data):
    """Undo RFC 1939 3 byte-stuffing of a multi-line body (ends with CRLF)."""
    if data.startswith(b"."):
        data = data[1:]
    return data.replace(b"\r\n.", b"\r\n")


def make_message(subject="test", body=None, sender="sender@example.org", to="rcpt@localhost",
                 extra_headers=()):
    body = body if body is not None else f"Hello {uuid.uuid4().hex}\r\n".encode()
    hdr = (f"From: <{sender}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n"
           f"Message-ID: <{uuid.uuid4().hex}@example.org>\r\n"
           f"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n")
    for h in extra_headers:
        hdr += h + "\r\n"
    return hdr.encode() + b"\r\n" + body


def split_trace(stored, mail_from):
    """Check that a stored message starts with `Return-Path: <mail_from>` and
    one `Received:` header (RFC 5321 4.4), and return what follows them."""
    assert stored.startswith(b"Return-Path: <" + mail_from.encode() + b">\r\n"), \
        f"stored message does not start with Return-Path: <{mail_from}>: {stored[:300]!r}"
    rest = stored[stored.index(b"\r\n") + 2:]
    assert rest.startswith(b"Received: "), f"no Received: header after Return-Path: {rest[:300]!r}"
    pos = rest.index(b"\r\n") + 2
    while rest[pos:pos + 1] in (b" ", b"\t"):   # folded continuation lines
        pos = rest.index(b"\r\n", pos) + 2
    return rest[pos:]


def received_header(stored):
    rest = stored[stored.index(b"\r\n") + 2:]
    pos = rest.index(b"\r\n") + 2
    while rest[pos:pos + 1] in (b" ", b"\t"):
        pos = rest.index(b"\r\n", pos) + 2
    return rest[:pos]


def wait_for(pred, timeout=10.0, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()
