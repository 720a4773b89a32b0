# tests/integration/helpers.py: runs the real `postino` binary for the
# integration tests and talks to it byte by byte.  It owns the Server class
# (start on ephemeral ports, stop with SIGTERM and check the exit, kill -9,
# restart on the same data directory, admin CLI) and small raw SMTP/POP3/IMAP
# clients whose every socket has a timeout, so a hang fails a test instead of
# hanging CI, plus a parser of IMAP response data (RFC 9051 9) for the tests.
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
# Event loops of every server the tests start (tests/run runs the suite with
# 1 and with 4); unset: the daemon's default, one per core.
LOOPS = os.environ.get("POSTINO_TEST_LOOPS")
LISTEN_RE = re.compile(r"listening kind=(\w+) address=(\S+) port=(\d+)")

_counter = itertools.count(1)
# Run as root (CI), postino refuses to stay root: the daemon and the admin
# commands run as nobody, named here so that no warning about the default
# appears.  As a normal user nothing is passed.
RUN_AS = ["--user", "nobody"] if os.geteuid() == 0 else []


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
        args = [BIN, "serve", "--data", str(self.data_dir), *RUN_AS]
        if self.config:
            args += ["--config", str(self.config)]
        for k in self.kinds:
            args += ["--listen", f"{k}=127.0.0.1:0"]
        if self.sandbox:
            args.append("--sandbox")
        if LOOPS is not None and "--loops" not in self.extra:
            args += ["--loops", LOOPS]
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

    def drop_regions(self):
        """After the last stop: remove Berkeley DB's region files, which the
        store allocates whole (tens of MB each) and recreates at every
        start, so that finished tests do not fill the disk.  The databases
        and the log stay for a post-mortem."""
        if self.proc is not None:
            return
        for p in self.data_dir.glob("__db.0*"):
            try:
                p.unlink()
            except OSError:
                pass

    def assert_clean(self):
        if self.problems:
            msg = "\n\n".join(self.problems)
            self.problems = []
            raise AssertionError(msg)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    # -- admin CLI -----------------------------------------------------------
    def cli(self, *args, input=None, data=True, timeout=TIMEOUT * 2):
        cmd = [BIN, *args, *RUN_AS]
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


# -- IMAP ----------------------------------------------------------------------
# Listeners for the IMAP tests: the usual four plus imap and imaps (implicit
# TLS with the generated certificate, as pop3s).  The non-IMAP tests keep
# KINDS so that they do not depend on the IMAP front-end.
IMAP_KINDS = KINDS + ("imap", "imaps")

_LITERAL_END = re.compile(rb"~?\{(\d+)\+?\}\r\n$")

# A status response: "* OK|NO|BAD|BYE|PREAUTH resp-text" or "tag OK|NO|BAD resp-text".
_STATUS_RESP = re.compile(rb"(?:\* (?:OK|NO|BAD|BYE|PREAUTH)|[^ *+]+ (?:OK|NO|BAD))(?: |$)", re.I)


def check_resp_text(resp):
    """RFC 3501 9: resp-text = ["[" resp-text-code "]" SP] text, text being
    1*TEXT-CHAR (RFC 9051 9 makes text optional, but not the SP after "]"):
    a response code is never the whole text.  Every status response the
    suite reads goes through here, so any code we send bare fails a test."""
    m = _STATUS_RESP.match(resp)
    if not m:
        return
    text = resp[m.end():]
    if text.startswith(b"["):
        end = text.find(b"]")
        assert end > 0, f"unterminated response code: {resp[:300]!r}"
        assert text[end + 1:end + 2] == b" " and len(text) > end + 2, \
            f"response code without text after it: {resp[:300]!r}"
    else:
        assert text, f"status response without text: {resp[:300]!r}"
_tags = itertools.count(1)


class ImapResp:
    """The answer to one IMAP command: untagged responses (each the whole
    response as bytes, literals inline, CRLF removed), continuation requests
    seen while waiting, and the tagged line."""

    def __init__(self, tag, untagged, tagged, conts=()):
        self.tag = tag
        self.untagged = untagged
        self.tagged = tagged
        self.conts = list(conts)
        rest = tagged[len(tag) + 1:]
        self.status = rest.split(b" ", 1)[0].decode("ascii", "replace")
        self.text = rest[len(self.status) + 1:].decode("utf-8", "replace")

    @property
    def code(self):
        """The response code of the tagged line, e.g. 'TRYCREATE' or
        'COPYUID 5 1 2', or '' when there is none."""
        m = re.match(r"\[([^\]]*)\]", self.text)
        return m.group(1) if m else ""

    def data(self, kind):
        """Untagged responses "* KIND ..." (KIND after an optional number),
        as the bytes after KIND and a space."""
        kind = kind.upper().encode()
        out = []
        for u in self.untagged:
            m = re.match(rb"\* (?:\d+ )?([A-Za-z.0-9-]+)(?: |$)", u)
            if m and m.group(1).upper() == kind:
                out.append(u[m.end():])
        return out

    def numbered(self, kind):
        """[(n, rest)] for "* n KIND rest" (EXISTS, RECENT, EXPUNGE, FETCH)."""
        kind = kind.upper().encode()
        out = []
        for u in self.untagged:
            m = re.match(rb"\* (\d+) ([A-Za-z]+)(?: (.*))?$", u, re.S)
            if m and m.group(2).upper() == kind:
                out.append((int(m.group(1)), m.group(3) or b""))
        return out

    def fetches(self):
        """{seq: {ITEM: value}} of the untagged FETCH responses (later ones
        for the same message update earlier ones)."""
        out = {}
        for n, rest in self.numbered("FETCH"):
            out.setdefault(n, {}).update(fetch_items(rest))
        return out

    def __repr__(self):
        return "\n".join([u.decode("utf-8", "replace")[:300] for u in self.untagged]
                         + [self.tagged.decode("utf-8", "replace")])

    __str__ = __repr__


class ImapConn(Conn):
    """A raw IMAP client: exact bytes out, whole responses (with literals) in."""

    def __init__(self, sock):
        super().__init__(sock)
        self.greeting = None

    def next_tag(self):
        return f"T{next(_tags)}"

    def read_response(self):
        """One whole response: a line, plus every literal it announces and
        the line parts after them; CRLF at the very end removed."""
        out = bytearray()
        while True:
            line = self.readline()
            assert line.endswith(b"\r\n"), f"IMAP line not CRLF-terminated: {line!r}"
            out += line
            m = _LITERAL_END.search(line)
            if not m:
                return bytes(out[:-2])
            n = int(m.group(1))
            while len(self.buf) < n:
                self._fill()
            out += self.buf[:n]
            del self.buf[:n]

    def read_greeting(self):
        self.greeting = self.read_response()
        check_resp_text(self.greeting)
        return self.greeting

    def read_tagged(self, tag):
        """Responses up to and including the tagged one for tag."""
        untagged, conts = [], []
        t = tag.encode() + b" "
        while True:
            r = self.read_response()
            if r.startswith(t):
                check_resp_text(r)
                return ImapResp(tag, untagged, r, conts)
            if r.startswith(b"+"):
                conts.append(r)
            else:
                assert r.startswith(b"* "), f"neither tagged, untagged nor '+': {r[:300]!r}"
                check_resp_text(r)
                untagged.append(r)

    def cmd(self, line, tag=None):
        """Send "tag line CRLF" (line: str or bytes, may contain {n+}
        literals inline) and return the ImapResp."""
        tag = tag or self.next_tag()
        if isinstance(line, str):
            line = line.encode()
        self.send(tag.encode() + b" " + line + b"\r\n")
        return self.read_tagged(tag)

    def ok(self, line):
        r = self.cmd(line)
        assert r.status == "OK", f"{line!r}: {r}"
        return r

    def cmd_sync(self, parts, tag=None):
        """A command with synchronizing literals: parts alternate line text
        and literal bytes, e.g. ["APPEND INBOX ", b"msg..."].  Each literal
        is announced as {n}, sent only after the '+' continuation.  If the
        server answers with a tagged reply instead of '+', that is returned."""
        tag = tag or self.next_tag()
        head = tag.encode() + b" "
        conts, untagged = [], []
        for i, p in enumerate(parts):
            if isinstance(p, str):
                p = p.encode()
            if i % 2 == 0:
                head += p
                continue
            self.send(head + b"{%d}\r\n" % len(p))
            head = b""
            r = self.read_response()
            while r.startswith(b"* "):
                untagged.append(r)
                r = self.read_response()
            if r.startswith(tag.encode() + b" "):
                return ImapResp(tag, untagged, r, conts)
            assert r.startswith(b"+"), f"expected continuation, got {r[:300]!r}"
            conts.append(r)
            self.send(p)
        self.send(head + b"\r\n")
        resp = self.read_tagged(tag)
        resp.conts = conts + resp.conts
        resp.untagged = untagged + resp.untagged
        return resp

    def login(self, user, password):
        r = self.cmd(f"LOGIN {quote(user)} {quote(password)}")
        assert r.status == "OK", f"LOGIN {user}: {r}"
        return r

    def select(self, mailbox="INBOX", examine=False):
        r = self.cmd(f"{'EXAMINE' if examine else 'SELECT'} {quote(mailbox)}")
        assert r.status == "OK", f"SELECT {mailbox}: {r}"
        return r

    def append(self, mailbox, msg, flags=None, date=None):
        """APPEND with a LITERAL+ literal; asserts OK; returns the ImapResp."""
        opt = b""
        if flags is not None:
            opt += b" (" + " ".join(flags).encode() + b")"
        if date is not None:
            opt += b' "' + date.encode() + b'"'
        r = self.cmd(b"APPEND " + quote(mailbox).encode() + opt + b" {%d+}\r\n" % len(msg) + msg)
        assert r.status == "OK", f"APPEND to {mailbox}: {r}"
        return r

    def logout(self):
        r = self.cmd("LOGOUT")
        assert r.status == "OK", f"LOGOUT: {r}"
        assert any(u.startswith(b"* BYE") for u in r.untagged), f"no BYE before LOGOUT OK: {r}"
        assert self.closed_by_peer(), "server did not close after LOGOUT"
        self.close()


def quote(s):
    """An IMAP quoted string."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def imap_connect(server, user=None, password=None, tls=False):
    c = ImapConn.connect(server.ports["imaps" if tls else "imap"], tls=tls)
    g = c.read_greeting()
    assert g.startswith(b"* OK"), f"IMAP greeting: {g!r}"
    if user is not None:
        c.login(user, password)
    return c


def imaplib_connect(server, user=None, password=None, tls=False):
    import imaplib
    if tls:
        m = imaplib.IMAP4_SSL("127.0.0.1", server.ports["imaps"], ssl_context=client_ctx(),
                              timeout=TIMEOUT)
    else:
        m = imaplib.IMAP4("127.0.0.1", server.ports["imap"], timeout=TIMEOUT)
    if user is not None:
        typ, _ = m.login(user, password)
        assert typ == "OK"
    return m


# -- IMAP response syntax (RFC 9051 9) --------------------------------------------

class Atom(bytes):
    """An atom (including NIL-less flags, numbers, BODY[...]<n> names)."""


def parse_sexpr(data, pos=0):
    """Parse a sequence of IMAP values from data[pos:] up to a ')' or the end.
    Returns (values, pos).  Lists become Python lists, quoted strings and
    literals bytes, NIL None, numbers and other atoms Atom (bytes)."""
    out = []
    n = len(data)
    while pos < n:
        ch = data[pos:pos + 1]
        if ch == b" ":
            pos += 1
        elif ch == b"(":
            sub, pos = parse_sexpr(data, pos + 1)
            assert data[pos:pos + 1] == b")", f"unbalanced list in {data[:400]!r}"
            pos += 1
            out.append(sub)
        elif ch == b")":
            return out, pos
        elif ch == b'"':
            pos += 1
            s = bytearray()
            while True:
                assert pos < n, f"unterminated quoted string in {data[:400]!r}"
                c = data[pos:pos + 1]
                if c == b"\\":
                    s += data[pos + 1:pos + 2]
                    pos += 2
                elif c == b'"':
                    pos += 1
                    break
                else:
                    s += c
                    pos += 1
            out.append(bytes(s))
        elif ch in (b"{", b"~"):
            m = re.compile(rb"~?\{(\d+)\+?\}\r\n").match(data, pos)
            assert m, f"bad literal at {pos} in {data[:400]!r}"
            k = int(m.group(1))
            out.append(data[m.end():m.end() + k])
            pos = m.end() + k
        else:
            start = pos
            depth = 0
            while pos < n:
                c = data[pos:pos + 1]
                if c == b"[":
                    depth += 1
                elif c == b"]":
                    depth -= 1
                elif depth == 0 and c in (b" ", b"(", b")"):
                    break
                pos += 1
            tok = data[start:pos]
            out.append(None if tok.upper() == b"NIL" else Atom(tok))
    return out, pos


def fetch_items(rest):
    """The parenthesized FETCH data "(NAME value NAME value ...)" as a dict
    with upper-case str names (section text kept as sent: BODY[1.MIME])."""
    vals, _ = parse_sexpr(rest)
    assert len(vals) == 1 and isinstance(vals[0], list), f"FETCH data not one list: {rest[:300]!r}"
    items = vals[0]
    assert len(items) % 2 == 0, f"odd FETCH item list: {rest[:300]!r}"
    out = {}
    for i in range(0, len(items), 2):
        name = bytes(items[i]).decode()
        up = name.upper()
        if "[" in up:   # keep the section's case, normalise the keyword
            j = up.index("[")
            name = up[:j] + name[j:]
        else:
            name = up
        out[name] = items[i + 1]
    return out


def status_items(resp):
    """The one STATUS response of resp as (mailbox name, {ITEM: int})."""
    (d,) = resp.data("STATUS")
    vals, _ = parse_sexpr(d)
    assert len(vals) == 2 and isinstance(vals[1], list), f"bad STATUS response {d!r}"
    kv = vals[1]
    assert len(kv) % 2 == 0, d
    items = {}
    for i in range(0, len(kv), 2):
        k = bytes(kv[i]).decode().upper()
        assert k not in items, f"{k} twice: {d!r}"
        items[k] = int(kv[i + 1])
    return bytes(vals[0]).decode("utf-8"), items


def esearch_items(resp):
    """The one ESEARCH response as (tag, uid, {NAME: str})."""
    (d,) = resp.data("ESEARCH")
    m = re.match(rb'\(TAG "([^"]*)"\)( UID)?(.*)$', d)
    assert m, f"ESEARCH without (TAG ...): {d!r}"
    words = m.group(3).split()
    assert len(words) % 2 == 0, d
    items = {words[i].decode().upper(): words[i + 1].decode() for i in range(0, len(words), 2)}
    return m.group(1).decode(), bool(m.group(2)), items


def seqset(s):
    """Expand a sequence set without '*' ("1:3,7") to a sorted list."""
    out = set()
    for part in s.split(","):
        a, _, b = part.partition(":")
        a, b = int(a), int(b or a)
        out.update(range(min(a, b), max(a, b) + 1))
    return sorted(out)


def lit(data):
    """A non-synchronizing literal (LITERAL+, RFC 7888) of data."""
    if isinstance(data, str):
        data = data.encode()
    return b"{%d+}\r\n" % len(data) + data


def configured_server(tmp_path_factory, name, conf_text=None, kinds=KINDS):
    """Generator for a module-scoped fixture: a started server whose config
    file holds conf_text (the embedded default's settings otherwise), kept
    readable by an unprivileged daemon; stopped and checked at the end.
    Use as `yield from configured_server(...)`."""
    base = tmp_path_factory.mktemp(name)
    conf = None
    if conf_text is not None:
        conf = base / f"{name}.conf"
        conf.write_text(conf_text)
        conf.chmod(0o644)
    srv = Server(base / "data", kinds=kinds, config=conf)
    srv.start()
    try:
        yield srv
    finally:
        try:
            if srv.proc is not None:
                srv.stop()
        finally:
            if srv.proc is not None:
                srv.kill9()
    assert not srv.problems, "\n\n".join(srv.problems)

