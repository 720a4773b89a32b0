"""Slow connections cannot lock everyone out (issue 10, point 4).

A hard deadline runs from connect to login (IMAP, POP3, submission) or to
the first accepted MAIL (SMTP port 25), and commands do not restart it.
Near a connection limit (stress mode) the deadlines shorten, for sessions
already connected too, and at max_connections the oldest session not yet
logged in makes room for a new one.

Time bounds here are generous upper limits on something that, without the
mechanism, never happens at all (a restarting timer would never close a
client that talks every half second), so a slow machine cannot fail them."""
import base64
import socket
import threading
import time

from helpers import IMAP_KINDS, Conn, ImapConn, imap_connect, make_message, wait_for

KINDS = IMAP_KINDS + ("submission",)
BOUND = 30          # seconds: "closed eventually", far above every deadline used
SERVED_BOUND = 60   # seconds a normal client may wait beside the slow ones

# What a slow client says again and again, per listener kind.
CHATTER = {"smtp": b"NOOP\r\n", "submission": b"NOOP\r\n", "pop3": b"CAPA\r\n",
           "imap": b"t NOOP\r\n"}
# The last line a closed session must have got.
FAREWELL = {"smtp": b"421 4.4.2 ", "submission": b"421 4.4.2 ", "pop3": b"-ERR ",
            "imap": b"* BYE "}
GREETING = {"smtp": b"220 ", "submission": b"220 ", "pop3": b"+OK", "imap": b"* OK"}


def _server(make_server, tmp_path, conf):
    path = tmp_path / "deadlines.conf"
    path.write_text(conf)
    return make_server(config=path, kinds=KINDS).start()


def _connect(srv, kind, source="127.0.0.1"):
    s = socket.create_connection(("127.0.0.1", srv.ports[kind]), timeout=10,
                                 source_address=(source, 0))
    c = Conn(s)
    assert c.readline().startswith(GREETING[kind])
    return c


def _chatter_until_closed(c, line, seconds=BOUND):
    """Send `line` about every half second, reading what comes back, until
    the server closes.  (closed, everything received)."""
    c.sock.settimeout(0.5)
    got = bytes(c.buf)
    c.buf.clear()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            c.sock.sendall(line)
        except OSError:
            return True, got
        try:
            while True:
                chunk = c.sock.recv(65536)
                if not chunk:
                    return True, got
                got += chunk
        except (socket.timeout, TimeoutError):
            pass
        except OSError:
            return True, got
    return False, got


def _last_line(data):
    lines = data.rstrip(b"\r\n").split(b"\r\n")
    return lines[-1] + b"\r\n" if lines else b""


# -- the hard deadline ------------------------------------------------------------

def test_deadline_holds_while_the_client_keeps_talking(make_server, tmp_path):
    # 2 s to log in (or to send MAIL on port 25); each client sends a valid
    # command every half second, which restarts an idle timer but must not
    # move the deadline.
    srv = _server(make_server, tmp_path, "limits = { login_timeout = 2; mail_timeout = 2; };\n")
    conns = {k: _connect(srv, k) for k in ("smtp", "submission", "pop3", "imap")}
    for kind, c in conns.items():
        closed, got = _chatter_until_closed(c, CHATTER[kind])
        assert closed, f"{kind}: still open after {BOUND}s of commands without login"
        assert _last_line(got).startswith(FAREWELL[kind]), (kind, got[-200:])
        c.close()
    # the reader of the daemon's stderr may lag behind the close
    assert srv.wait_log("login deadline seconds=2"), srv.stderr()
    assert srv.wait_log("mail deadline seconds=2"), srv.stderr()


def test_deadline_ends_at_login_or_first_mail(make_server, tmp_path):
    srv = _server(make_server, tmp_path, "limits = { login_timeout = 2; mail_timeout = 2; };\n")
    user, pw = srv.new_user("dl")
    p = srv.pop3(user, pw)
    i = imap_connect(srv, user, pw)
    s = srv.smtp()
    assert s.smtp_cmd("MAIL FROM:<sender@example.org>").code == 250
    sub = _connect(srv, "submission")
    assert sub.smtp_cmd("EHLO client.example.org").code == 250
    plain = base64.b64encode(f"\0{user}\0{pw}".encode()).decode()
    assert sub.smtp_cmd(f"AUTH PLAIN {plain}").code == 235
    # Past the deadline (and again past it, in case of a slow start), the
    # sessions that reached their trusted state are still served.
    for _ in range(2):
        assert not p.closed_by_peer(2.5)
        p.pop3_ok("NOOP")
        i.ok("NOOP")
        assert s.smtp_cmd("NOOP").code == 250
        assert sub.smtp_cmd("NOOP").code == 250
    sub.smtp_quit()
    assert s.smtp_cmd(f"RCPT TO:<{user}>").code == 250
    assert s.smtp_cmd("DATA").code == 354
    s.send(make_message("after the deadline", to=user) + b".\r\n")
    assert s.smtp_reply().code == 250
    s.smtp_quit()
    p.pop3_quit()
    i.logout()


# -- stress mode --------------------------------------------------------------------

def _holder(srv, source="127.0.0.1"):
    """A port-25 session past its first MAIL: it counts towards the limits
    but has no deadline, so it keeps stress on while slow ones come and go."""
    c = _connect(srv, "smtp", source)
    assert c.smtp_cmd("EHLO holder.example.org").code == 250
    assert c.smtp_cmd("MAIL FROM:<holder@example.org>").code == 250
    return c


def _all_closed_with_farewell(slow):
    results = {}

    def chatter(n, kind, c):
        results[n] = (kind, *_chatter_until_closed(c, CHATTER[kind]))

    threads = [threading.Thread(target=chatter, args=(n, k, c)) for n, (k, c) in enumerate(slow)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for n in range(len(threads)):
        kind, closed, got = results[n]
        assert closed, f"{kind} #{n} not closed under stress"
        assert _last_line(got).startswith(FAREWELL[kind]), (kind, got[-200:])


def test_stress_shortens_the_deadline_of_connected_sessions(make_server, tmp_path):
    # Normal deadlines of ten minutes; stress from 40 of 80 connections
    # (until fewer than 32) cuts them to 2 s.  32 sessions past MAIL keep
    # the count up; the first four slow ones connect before stress begins,
    # and their running deadline must be cut short too.
    srv = _server(make_server, tmp_path,
                  "limits = { max_connections = 80; max_connections_per_ip = 1000;\n"
                  "  login_timeout = 600; mail_timeout = 600;\n"
                  "  stress_threshold = 50; stress_login_timeout = 2;\n"
                  "  stress_idle_timeout = 600; };\n")
    holders = [_holder(srv) for _ in range(32)]
    kinds = ("pop3", "imap", "smtp", "submission")
    early = [(k, _connect(srv, k)) for k in kinds]
    assert "stress on" not in srv.stderr()
    late = [(k, _connect(srv, k)) for k in kinds]
    assert srv.wait_log("stress on connections=40 max_connections=80")
    _all_closed_with_farewell(early + late)
    # The holders were spared (they sent MAIL); when they leave, stress ends, once.
    for h in holders:
        assert h.smtp_cmd("RSET").code == 250
        h.smtp_quit()
    assert srv.wait_log("stress off connections=")
    log = srv.stderr()
    assert log.count("stress on connections") == 1, log
    assert log.count("stress off connections") == 1, log


def test_stress_of_one_address_spares_the_others(make_server, tmp_path):
    # 127.0.0.2 holds 8 of its 10 allowed connections (stress until fewer
    # than 7): its slow sessions get the short deadline, while one from
    # 127.0.0.3 keeps the normal one.
    srv = _server(make_server, tmp_path,
                  "limits = { max_connections = 100; max_connections_per_ip = 10;\n"
                  "  login_timeout = 600; stress_login_timeout = 2;\n"
                  "  stress_idle_timeout = 600; };\n")
    other = _connect(srv, "pop3", "127.0.0.3")
    holders = [_holder(srv, "127.0.0.2") for _ in range(6)]
    crowd = [("pop3", _connect(srv, "pop3", "127.0.0.2")) for _ in range(2)]
    assert srv.wait_log("stress on peer=127.0.0.2 connections=8")
    _all_closed_with_farewell(crowd)
    for h in holders:
        h.smtp_quit()
    assert srv.wait_log("stress off peer=127.0.0.2")
    other.pop3_ok("CAPA")
    other.pop3_multi()
    other.pop3_quit()
    assert "stress on connections" not in srv.stderr()


# -- a normal client beside a full house of slow ones -----------------------------------

class SlowCrowd:
    """`n` slow clients spread over 127.0.0.2.. (`addrs` addresses) and the
    smtp, pop3 and imap listeners; each sends a command every second and
    never logs in, and is reopened as soon as the server closes it, so the
    server stays full."""

    def __init__(self, srv, n, addrs):
        self.srv = srv
        self.slots = [(f"127.0.0.{2 + i % addrs}", ("smtp", "pop3", "imap")[i % 3])
                      for i in range(n)]
        self.socks = [None] * n
        self.reopened = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _open(self, i):
        addr, kind = self.slots[i]
        try:
            s = socket.create_connection(("127.0.0.1", self.srv.ports[kind]), timeout=5,
                                         source_address=(addr, 0))
            s.setblocking(False)
            self.socks[i] = s
        except OSError:
            self.socks[i] = None

    def _tick(self):
        for i, s in enumerate(self.socks):
            if s is None:
                self._open(i)
                self.reopened += 1
                continue
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        raise ConnectionError("closed")
            except BlockingIOError:
                pass
            except OSError:
                s.close()
                self.socks[i] = None
                continue
            try:
                s.send(CHATTER[self.slots[i][1]])
            except BlockingIOError:
                pass
            except OSError:
                s.close()
                self.socks[i] = None

    def _run(self):
        while not self.stop.is_set():
            self._tick()
            self.stop.wait(1.0)

    def __enter__(self):
        for i in range(len(self.slots)):
            self._open(i)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(10)
        for s in self.socks:
            if s is not None:
                s.close()


def _served(open_fn, until):
    """open_fn() until it is served (not refused as busy) or time is up."""
    last = None
    while time.monotonic() < until:
        try:
            return open_fn()
        except (AssertionError, ConnectionError, OSError) as e:
            last = e
            time.sleep(0.2)
    raise AssertionError(f"not served within {SERVED_BOUND}s beside the slow clients: {last}")


def test_normal_client_served_while_slow_clients_fill_the_server(make_server, tmp_path):
    srv = _server(make_server, tmp_path,
                  "limits = { max_connections = 50; max_connections_per_ip = 5; };\n")
    user, pw = srv.new_user("busy")
    msg = make_message("beside the slow ones", to=user)
    with SlowCrowd(srv, 50, 20):
        # The house is full and stays full: the slow clients talk every
        # second (and come back when closed).
        assert wait_for(lambda: srv.stderr().count(" connected peer=") >= 50, timeout=20)
        until = time.monotonic() + SERVED_BOUND
        s = _served(srv.smtp, until)
        s.smtp_deliver("sender@example.org", [user], msg)
        s.smtp_quit()
        p = _served(lambda: srv.pop3(user, pw), until)
        n, _ = p.pop3_stat()
        assert n == 1
        assert p.pop3_retr(1).endswith(msg)
        p.pop3_quit()
        i = _served(lambda: imap_connect(srv, user, pw), until)
        r = i.select()
        assert r.numbered("EXISTS")[-1][0] == 1, r
        r = i.ok("FETCH 1 BODY.PEEK[]")
        assert r.fetches()[1]["BODY[]"].endswith(msg)
        i.logout()
    log = srv.stderr()
    assert "evicted" in log
