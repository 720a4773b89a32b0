# tests/integration/transcript.py: the runner of protocol transcripts
# (tests/transcripts/*/*.txt, format in tests/transcripts/README.md): it
# parses a script of C:/S: lines and directives, plays it against a running
# postino (helpers.Server) and raises TranscriptError naming the script
# line, what was expected and what the server sent.
import base64
import os
import pathlib
import re
import socket
import ssl

import helpers

KINDS = ("smtp", "submission", "smtps", "pop3", "pop3s", "imap", "imaps")
TLS_KINDS = ("smtps", "pop3s", "imaps")
# One step of a script: kind, connection number, op (":" or "~"), text.
_STEP = re.compile(r"^([CSUW])(\d*)([:~|\\])(?: ?)(.*)$")
_TOKEN = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?:\.[a-z]+)?)(?::((?:[^{}\\]|\\.|\{\d*,?\d*\})+))?\}"
                    r"|\{\*\}|\{\{|\}\}")
_COUNT = re.compile(r"\{#(\+?)\}")
# A capture without its own regex takes one token of a response.
_DEFAULT_CAPTURE = r'[^\s()\[\]"]+'


class TranscriptError(AssertionError):
    pass


class Step:
    def __init__(self, lineno, kind, conn, op, text):
        self.lineno = lineno
        self.kind = kind        # C (send), S (expect), U (unordered), W (skip until), @
        self.conn = conn
        self.op = op            # ":" pattern, "~" regex; C only: "|" literal line,
                                # "\\" literal line sent without CRLF
        self.text = text
        self.body = None        # @append/@deliver: the message lines

    def source(self):
        if self.kind == "@":
            return f"@{self.text}"
        n = "" if self.conn == 1 else str(self.conn)
        return f"{self.kind}{n}{self.op} {self.text}"


def parse(text, name="<script>"):
    """Script text -> [Step]; raises TranscriptError on a malformed line."""
    steps = []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    i = 0
    while i < len(lines):
        raw = lines[i].rstrip("\r")
        lineno = i + 1
        i += 1
        if raw.startswith("#") or not raw.strip():
            continue
        if raw.startswith("@"):
            st = Step(lineno, "@", 1, "", raw[1:].strip())
            word = st.text.split()[0] if st.text else ""
            if word in ("append", "deliver"):
                body = []
                while i < len(lines) and lines[i].rstrip("\r") != "@end":
                    body.append(lines[i].rstrip("\r"))
                    i += 1
                if i == len(lines):
                    raise TranscriptError(f"{name}:{lineno}: @{word} without @end")
                i += 1
                st.body = body
            steps.append(st)
            continue
        m = _STEP.match(raw)
        if not m:
            raise TranscriptError(f"{name}:{lineno}: not a step (C: S: S~ U: W: C| @...): {raw!r}")
        kind, n, op, rest = m.groups()
        if op in "|\\" and kind != "C":
            raise TranscriptError(f"{name}:{lineno}: only C| and C\\ carry literal lines: {raw!r}")
        if op == "~" and kind == "C":
            raise TranscriptError(f"{name}:{lineno}: C~ means nothing (C: is sent verbatim)")
        steps.append(Step(lineno, kind, int(n) if n else 1, op, rest))
    return steps


class Vars(dict):
    """Named values: users' addresses and passwords, and captures."""

    def expand(self, text, where):
        """Substitute {name} in a line to send; {{ and }} are braces."""
        def sub(m):
            tok = m.group(0)
            if tok == "{{":
                return "{"
            if tok == "}}":
                return "}"
            if tok == "{*}" or m.group(2) is not None:
                raise TranscriptError(f"{where}: {tok} is a pattern; lines sent hold only names")
            name = m.group(1)
            if name not in self:
                raise TranscriptError(f"{where}: {{{name}}} has no value yet")
            return self[name]
        return _TOKEN.sub(sub, text)

    def pattern(self, text, op):
        """An expectation as a compiled regex plus the names it captures."""
        if op == "~":
            rx = self.expand_regex(text)
            return re.compile(rx, re.S), []
        out, names, pos = [], [], 0
        for m in _TOKEN.finditer(text):
            out.append(re.escape(text[pos:m.start()]))
            pos = m.end()
            tok = m.group(0)
            if tok == "{{":
                out.append(re.escape("{"))
            elif tok == "}}":
                out.append(re.escape("}"))
            elif tok == "{*}":
                out.append(".*?")
            else:
                name, rx = m.group(1), m.group(2)
                if name in self and rx is None:
                    out.append(re.escape(self[name]))
                elif name in names:
                    out.append(f"(?P={_group(name)})")
                else:
                    names.append(name)
                    out.append(f"(?P<{_group(name)}>{rx or _DEFAULT_CAPTURE})")
        out.append(re.escape(text[pos:]))
        return re.compile("".join(out), re.S), names

    def expand_regex(self, text):
        """In an S~ regex, {name} of a known value is that value, escaped."""
        def sub(m):
            name = m.group(1)
            if name in self:
                return re.escape(self[name])
            return m.group(0)
        return re.sub(r"\{([A-Za-z_][A-Za-z0-9_]*(?:\.[a-z]+)?)\}", sub, text)

    def expand_counts(self, text, literal):
        """{#} / {#+} become the size of the literal that follows (as
        {{n}} / {{n+}}, which expand() turns into braces)."""
        return _COUNT.sub(lambda m: "{{%d%s}}" % (len(literal), m.group(1)), text)

    def bind(self, m, names):
        for k, v in m.groupdict().items():
            if v is not None:
                self[_ungroup(k)] = v


def _group(name):
    return name.replace(".", "__")


def _ungroup(name):
    return name.replace("__", ".")


class Link:
    """One client connection of a script: sends bytes, and reads the
    server's output as lines grouped into responses (an IMAP response with
    literals is several lines: the literal's bytes split at CRLF)."""

    def __init__(self, server, kind, timeout):
        self.kind = kind
        self.imap = kind.startswith("imap")
        port = server.ports[kind]
        self.conn = helpers.ImapConn.connect(port, tls=kind in TLS_KINDS, timeout=timeout)
        self.lines = []         # [(text, starts_response)] read, not yet matched
        self.seen = []          # every line received, for messages
        self.closed = False

    def send(self, data):
        self.conn.send(data)

    def _read_response(self):
        if self.imap:
            raw = self.conn.read_response()
            parts = raw.split(b"\r\n")
        else:
            line = self.conn.readline()
            parts = [line[:-2] if line.endswith(b"\r\n") else line.rstrip(b"\n")]
        texts = [p.decode("utf-8", "replace") for p in parts]
        for j, t in enumerate(texts):
            self.lines.append((t, j == 0))
            self.seen.append(t)

    def next_line(self):
        """(text, starts_response) of the next line, reading if needed."""
        if not self.lines:
            self._read_response()
        return self.lines.pop(0)

    def peek_line(self):
        if not self.lines:
            self._read_response()
        return self.lines[0]

    def next_response(self):
        """All lines of the next whole response."""
        first, start = self.next_line()
        out = [first]
        while self.lines and not self.lines[0][1]:
            out.append(self.lines.pop(0)[0])
        return out, start

    def pending(self):
        """Lines received and not matched: those parsed, then the whole
        lines already in the socket buffer (nothing is waited for)."""
        out = [t for t, _ in self.lines]
        rest = bytes(self.conn.buf)
        if b"\n" in rest:
            out += rest[:rest.rindex(b"\n")].decode("utf-8", "replace").split("\r\n")
        return out

    def starttls(self):
        self.conn.starttls()

    def close(self):
        self.conn.close()


class Runner:
    def __init__(self, server, script_path=None, text=None, timeout=None):
        self.server = server
        self.path = pathlib.Path(script_path) if script_path else None
        self.name = self.path.name if self.path else "<script>"
        self.text = text if text is not None else self.path.read_text()
        self.timeout = timeout or helpers.TIMEOUT
        self.vars = Vars()
        self.links = {}
        self.kinds = {}          # connection number -> listener kind
        self.default_kind = None
        self.steps = parse(self.text, self.name)

    # -- reporting -----------------------------------------------------------
    def fail(self, step, msg, link=None):
        out = [f"{self.name}:{step.lineno}: {step.source()}", msg]
        if link is not None and link.seen:
            tail = link.seen[-int(os.environ.get("TRANSCRIPT_TAIL", "8")):]
            out.append("last lines from the server (connection %d):" % step.conn)
            out += ["    " + t[:300] for t in tail]
        raise TranscriptError("\n".join(out))

    # -- connections -----------------------------------------------------------
    def link(self, step):
        if step.conn not in self.links:
            kind = self.kinds.get(step.conn, self.default_kind)
            if kind is None:
                self.fail(step, "no protocol: start the script with '@proto KIND'")
            if kind not in self.server.ports:
                self.fail(step, f"the test server has no {kind} listener")
            self.links[step.conn] = Link(self.server, kind, self.timeout)
        return self.links[step.conn]

    def read(self, step, link, fn):
        try:
            return fn()
        except (socket.timeout, TimeoutError):
            self.fail(step, f"timeout: nothing more from the server within {self.timeout:g}s", link)
        except AssertionError as e:     # helpers' own checks (a line without CRLF)
            self.fail(step, f"malformed output: {e}", link)
        except (ConnectionError, ssl.SSLError, OSError) as e:
            link.closed = True
            self.fail(step, f"the server closed the connection ({e.__class__.__name__}: "
                            f"{str(e)[:200]})", link)

    # -- directives ------------------------------------------------------------
    def directive(self, step, idx):
        words = step.text.split()
        if not words:
            self.fail(step, "empty directive")
        cmd, args = words[0], words[1:]
        if cmd == "proto":
            if len(args) != 1 or args[0] not in KINDS:
                self.fail(step, f"@proto KIND, KIND one of {', '.join(KINDS)}")
            self.default_kind = args[0]
        elif cmd == "connect":
            if len(args) != 2 or not args[0].isdigit() or args[1] not in KINDS:
                self.fail(step, "@connect N KIND")
            n = int(args[0])
            if n in self.links:
                self.fail(step, f"connection {n} is already open")
            self.kinds[n] = args[1]
        elif cmd == "user":
            if len(args) != 1:
                self.fail(step, "@user NAME")
            addr, pw = self.server.new_user("tr")
            name = args[0]
            self.vars[name] = addr
            self.vars[name + ".pass"] = pw
            self.vars[name + ".local"] = addr.split("@")[0]
            self.vars[name + ".plain"] = base64.b64encode(
                b"\0" + addr.encode() + b"\0" + pw.encode()).decode()
        elif cmd in ("append", "deliver"):
            self.setup_message(step, cmd, args)
        elif cmd == "starttls":
            self.link(self._on(step, args)).starttls()
        elif cmd == "closed":
            st = self._on(step, args)
            link = self.link(st)
            extra = list(link.pending())
            try:
                while True:
                    lines, _ = link.next_response()
                    extra += lines
            except (socket.timeout, TimeoutError):
                self.fail(st, f"the server did not close the connection within "
                              f"{self.timeout:g}s", link)
            except (ConnectionError, ssl.SSLError, OSError):
                pass
            link.closed = True
            if extra:
                self.fail(st, f"expected the server to close; it sent first: {extra}", link)
        elif cmd == "close":
            st = self._on(step, args)
            self.link(st).close()
            self.links[st.conn].closed = True
        else:
            self.fail(step, f"unknown directive @{cmd}")

    def _on(self, step, args):
        n = int(args[0]) if args and args[0].isdigit() else 1
        return Step(step.lineno, "@", n, "", step.text)

    def setup_message(self, step, cmd, args):
        if not args or args[0] not in self.vars:
            self.fail(step, f"@{cmd} USER: USER must come from an earlier @user")
        addr, pw = self.vars[args[0]], self.vars[args[0] + ".pass"]
        body = "\r\n".join(self.vars.expand(l, f"{self.name}:{step.lineno}")
                           for l in step.body) + "\r\n"
        if cmd == "deliver":
            try:
                self.server.deliver("sender@example.org", [addr], body.encode())
            except AssertionError as e:
                self.fail(step, f"delivery refused: {e}")
            return
        # @append USER [MAILBOX] [(FLAGS)] [INTERNALDATE]: through IMAP,
        # so the stored bytes are exactly the script's (no trace header).
        rest = " ".join(args[1:])
        m = re.match(r'^([^\s("]\S*)?\s*(\([^)]*\))?\s*("[^"]*")?$', rest)
        if not m:
            self.fail(step, "@append USER [MAILBOX] [(FLAGS)] [\"INTERNALDATE\"]")
        box = m.group(1) or "INBOX"
        c = helpers.imap_connect(self.server, addr, pw)
        try:
            if box.upper() != "INBOX":
                c.cmd(f"CREATE {helpers.quote(box)}")
            opt = b""
            if m.group(2):
                opt += b" " + m.group(2).encode()
            if m.group(3):
                opt += b" " + m.group(3).encode()
            data = body.encode()
            r = c.cmd(b"APPEND " + helpers.quote(box).encode() + opt
                      + b" {%d+}\r\n" % len(data) + data)
            if r.status != "OK":
                self.fail(step, f"setup APPEND failed: {r}")
            c.logout()
        finally:
            c.close()

    # -- client lines ------------------------------------------------------------
    def send(self, idx, step):
        link = self.link(step)
        where = f"{self.name}:{step.lineno}"
        if step.op == "|":
            data = self.vars.expand(step.text, where).encode() + b"\r\n"
        elif step.op == "\\":
            data = self.vars.expand(step.text, where).encode()
        else:
            line = step.text
            if _COUNT.search(line):
                line = self.vars.expand_counts(line, self._literal(idx))
            data = self.vars.expand(line, where).encode() + b"\r\n"
        try:
            link.send(data)
        except (ConnectionError, ssl.SSLError, OSError) as e:
            self.fail(step, f"could not send: {e}", link)

    def _literal(self, idx):
        """The bytes of the C| and C\\ lines that follow step idx on its connection
        (other steps between them are skipped): what {#} counts."""
        conn = self.steps[idx].conn
        out, started = [], False
        for st in self.steps[idx + 1:]:
            if st.kind == "C" and st.conn == conn:
                if st.op not in "|\\":
                    break
                started = True
                out.append(self.vars.expand(st.text, f"{self.name}:{st.lineno}")
                           + ("\r\n" if st.op == "|" else ""))
            elif started and st.kind != "C":
                break
        return "".join(out).encode()

    # -- expectations -------------------------------------------------------------
    def compile(self, step):
        try:
            return self.vars.pattern(step.text, step.op)
        except re.error as e:
            self.fail(step, f"bad pattern: {e}")

    def expect(self, step):
        link = self.link(step)
        rx, names = self.compile(step)
        got, _ = self.read(step, link, link.next_line)
        m = rx.fullmatch(got)
        if not m:
            self.fail(step, f"expected: {step.text}\n     got: {got[:500]}", link)
        self.vars.bind(m, names)

    def skip_until(self, step):
        """W: drop whole responses until one whose first line matches;
        over IMAP only untagged ones may be dropped."""
        link = self.link(step)
        rx, names = self.compile(step)
        while True:
            got, start = self.read(step, link, link.peek_line)
            m = rx.fullmatch(got)
            if m:
                link.next_line()
                self.vars.bind(m, names)
                return
            if link.imap and not got.startswith("* "):
                self.fail(step, f"waiting for: {step.text}\n     got: {got[:500]}\n"
                                "(only untagged responses are skipped)", link)
            self.read(step, link, link.next_response)

    def unordered(self, first, idx):
        """A run of U: lines on one connection: as many responses, each
        matching a different line, in any order."""
        group = [first]
        j = idx + 1
        while j < len(self.steps) and self.steps[j].kind == "U" and \
                self.steps[j].conn == first.conn:
            group.append(self.steps[j])
            j += 1
        link = self.link(first)
        left = list(group)
        while left:
            lines, _ = self.read(left[0], link, link.next_response)
            if len(lines) > 1:
                self.fail(left[0], "a response with a literal cannot be in an unordered "
                                   f"block: {lines[0][:300]}", link)
            for st in left:
                rx, names = self.compile(st)
                m = rx.fullmatch(lines[0])
                if m:
                    self.vars.bind(m, names)
                    left.remove(st)
                    break
            else:
                want = "\n".join(f"    line {st.lineno}: {st.text}" for st in left)
                self.fail(left[0], f"unordered block: this response matches none of\n{want}\n"
                                   f"     got: {lines[0][:500]}", link)
        return j

    def run(self):
        try:
            idx = 0
            while idx < len(self.steps):
                st = self.steps[idx]
                if st.kind == "@":
                    self.directive(st, idx)
                elif st.kind == "C":
                    self.send(idx, st)
                elif st.kind == "S":
                    self.expect(st)
                elif st.kind == "W":
                    self.skip_until(st)
                elif st.kind == "U":
                    idx = self.unordered(st, idx)
                    continue
                idx += 1
            for n, link in sorted(self.links.items()):
                if not link.closed and link.pending():
                    last = Step(self.steps[-1].lineno, "@", n, "", "end")
                    self.fail(last, f"the script ended with unmatched lines on connection {n}: "
                                    f"{link.pending()}", link)
        finally:
            for link in self.links.values():
                link.close()
