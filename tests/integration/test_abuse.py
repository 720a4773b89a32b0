"""Abuse resistance (issue 4, point 6): failed logins are held for a delay
that grows with each failure per user (and per address, loopback excepted)
and are logged with their count; too many protocol errors or commands
without progress close a session; the login timeout is short; and 200
slow or silent connections do not hold up a normal client.

Timing assertions are lower bounds only (the server held a reply at least
this long), so a slow machine cannot make them fail.  The per-address
limit itself is tested in test_limits.py."""
import base64
import re
import socket
import threading
import time

from helpers import IMAP_KINDS, Conn, ImapConn, imap_connect, make_message, quote, unique

# libevent's timers run on a coarse monotonic clock (a few ms per tick),
# so a hold may end up to one tick before the exact time.
SLACK = 0.015

DELAY_CONF = """
auth = { failure_delay = 200; failure_delay_max = 1600; };
"""


def _timed(fn):
    start = time.monotonic()
    r = fn()
    return r, time.monotonic() - start


def _closed(c, seconds=10):
    """Whatever the server still sends, then True once it has closed."""
    c.sock.settimeout(seconds)
    got = bytes(c.buf)
    c.buf.clear()
    try:
        while True:
            chunk = c.sock.recv(65536)
            if not chunk:
                return True, got
            got += chunk
    except (socket.timeout, TimeoutError):
        return False, got
    except OSError:
        return True, got


def _auth_plain(user, password):
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode()


# -- the failure delay ----------------------------------------------------------

def test_failure_delay_doubles_per_user_across_protocols(make_server, tmp_path):
    conf = tmp_path / "d.conf"
    conf.write_text(DELAY_CONF)
    srv = make_server(config=conf, kinds=IMAP_KINDS).start()
    user, pw = srv.new_user("slow")

    def pop3_fail():
        c = srv.pop3()
        assert c.pop3_cmd(f"USER {user}").startswith("+OK")
        r, t = _timed(lambda: c.pop3_cmd("PASS wrong-password"))
        assert r == "-ERR [AUTH] Authentication failed", r
        c.close()
        return t

    def imap_fail():
        c = imap_connect(srv)
        r, t = _timed(lambda: c.cmd(f"LOGIN {quote(user)} wrong-password"))
        assert (r.status, r.code) == ("NO", "AUTHENTICATIONFAILED"), r
        c.close()
        return t

    def smtp_fail():
        c = srv.smtp()
        r, t = _timed(lambda: c.smtp_cmd("AUTH PLAIN " + _auth_plain(user, "wrong-password")))
        assert (r.code, r.enhanced) == (535, "5.7.8"), r
        c.close()
        return t

    # The count is the user's, whatever the protocol: 200, 400, 800 ms,
    # then the 1600 ms cap.  The peer is loopback, so only the user counts.
    assert pop3_fail() >= 0.2 - SLACK
    assert imap_fail() >= 0.4 - SLACK
    assert smtp_fail() >= 0.8 - SLACK
    assert pop3_fail() >= 1.6 - SLACK
    assert pop3_fail() >= 1.6 - SLACK
    log = srv.stderr()
    for n, ms in ((1, 200), (2, 400), (3, 800), (4, 1600), (5, 1600)):
        assert re.search(rf"auth failed user={re.escape(user)} reason=password "
                         rf"failures={n} delay_ms={ms}\b", log), (n, log[-3000:])

    # A success is not held, and forgets the user's failures: the next
    # failure counts from one again.
    c = srv.pop3(user, pw)
    c.pop3_quit()
    pop3_fail()
    assert srv.wait_log(f"auth failed user={user} reason=password failures=1 delay_ms=200")


def test_unknown_user_is_delayed_and_logged(make_server, tmp_path):
    conf = tmp_path / "d.conf"
    conf.write_text(DELAY_CONF)
    srv = make_server(config=conf).start()
    ghost = unique("ghost")
    for n, low in ((1, 0.2), (2, 0.4)):
        c = srv.pop3()
        c.pop3_ok(f"USER {ghost}")
        r, t = _timed(lambda: c.pop3_cmd("PASS whatever"))
        # The same answer as for a wrong password (RFC 1939 7 / RFC 3206).
        assert r == "-ERR [AUTH] Authentication failed", r
        assert t >= low - SLACK, (n, t)
        c.close()
        assert srv.wait_log(f'auth failed user="{ghost}" reason=unknown-user failures={n} '
                            f'delay_ms={int(low * 1000)}')


def test_held_reply_holds_pipelined_commands_and_quit(make_server, tmp_path):
    conf = tmp_path / "d.conf"
    conf.write_text(DELAY_CONF)
    srv = make_server(config=conf).start()
    user, _ = srv.new_user("pipe")
    # Third failure of this user: 800 ms.  The commands the client
    # pipelined behind PASS wait for the hold and come out in order.
    for _ in range(2):
        c = srv.pop3()
        c.pop3_ok(f"USER {user}")
        assert c.pop3_cmd("PASS nope").startswith("-ERR [AUTH]")
        c.close()
    c = srv.pop3()
    start = time.monotonic()
    c.send(f"USER {user}\r\nPASS nope\r\nCAPA\r\nQUIT\r\n")
    assert c.pop3_status() == "+OK"
    assert c.pop3_status() == "-ERR [AUTH] Authentication failed"
    assert time.monotonic() - start >= 0.8 - SLACK
    assert c.pop3_status().startswith("+OK")          # CAPA
    capa = c.pop3_multi()
    assert b"USER" in capa, capa
    assert time.monotonic() - start >= 0.8 - SLACK
    # QUIT during the hold would close only after it, with the reply out.
    assert c.pop3_status().startswith("+OK")
    closed, rest = _closed(c)
    assert closed and rest == b"", rest


def test_close_requested_during_hold_sends_held_reply_first(make_server, tmp_path):
    conf = tmp_path / "d.conf"
    conf.write_text(DELAY_CONF + "limits = { max_errors = 1; };\n")
    srv = make_server(config=conf, kinds=IMAP_KINDS).start()
    user, _ = srv.new_user("last")
    # With max_errors = 1 the failed login itself closes the session:
    # the held NO comes first, then the BYE, then the close.
    c = imap_connect(srv)
    start = time.monotonic()
    c.send(f"a1 LOGIN {quote(user)} bad\r\n")
    closed, got = _closed(c)
    assert time.monotonic() - start >= 0.2 - SLACK
    assert closed
    assert got == (b"a1 NO [AUTHENTICATIONFAILED] Authentication failed\r\n"
                   b"* BYE Too many invalid commands\r\n"), got


def test_failure_delay_over_tls(make_server, tmp_path):
    conf = tmp_path / "d.conf"
    conf.write_text(DELAY_CONF)
    srv = make_server(config=conf).start()
    user, _ = srv.new_user("tlsd")
    # A held reply on a TLS connection waits in the TLS layer's buffer.
    c = srv.pop3(tls=True)
    c.pop3_ok(f"USER {user}")
    r, t = _timed(lambda: c.pop3_cmd("PASS wrong"))
    assert r == "-ERR [AUTH] Authentication failed"
    assert t >= 0.2 - SLACK
    c.pop3_ok(f"USER {user}")
    r, t = _timed(lambda: c.pop3_cmd("PASS wrong"))
    assert r == "-ERR [AUTH] Authentication failed"
    assert t >= 0.4 - SLACK
    c.pop3_quit()


# -- too many errors ------------------------------------------------------------

ERR_CONF = """
auth = { failure_delay = 10; failure_delay_max = 10; };
limits = { max_errors = 3; };
"""


def test_smtp_too_many_errors(make_server, tmp_path):
    conf = tmp_path / "e.conf"
    conf.write_text(ERR_CONF)
    srv = make_server(config=conf).start()
    c = srv.smtp()
    assert c.smtp_cmd("XYZZY").code == 500             # unknown command
    assert c.smtp_cmd("RCPT TO:<a@localhost>").code == 503   # bad sequence
    assert c.smtp_cmd("NOOP").code == 250              # not an error
    assert c.smtp_cmd("MAIL FROM:<a@b.example> BOGUS=1").code == 555  # bad argument
    r = c.smtp_reply()
    assert (r.code, r.enhanced) == (421, "4.7.0"), r
    assert r.lines[-1] == "4.7.0 localhost Error: too many errors", r
    closed, rest = _closed(c)
    assert closed and rest == b"", rest
    assert srv.wait_log("closing: too many errors errors=3")


def test_smtp_failed_auth_counts_as_error(make_server, tmp_path):
    conf = tmp_path / "e.conf"
    conf.write_text(ERR_CONF)
    srv = make_server(config=conf).start()
    user, pw = srv.new_user("smtperr")
    c = srv.smtp()
    for _ in range(2):
        assert c.smtp_cmd("AUTH PLAIN " + _auth_plain(user, "bad")).code == 535
    # A login forgives the failures before it.
    assert c.smtp_cmd("AUTH PLAIN " + _auth_plain(user, pw)).code == 235
    assert c.smtp_cmd("XYZZY").code == 500
    assert c.smtp_cmd("XYZZY").code == 500
    assert c.smtp_cmd("NOOP").code == 250
    assert c.smtp_cmd("XYZZY").code == 500
    assert c.smtp_reply().code == 421
    assert _closed(c)[0]


def test_pop3_too_many_errors(make_server, tmp_path):
    conf = tmp_path / "e.conf"
    conf.write_text(ERR_CONF)
    srv = make_server(config=conf).start()
    user, pw = srv.new_user("poperr")
    c = srv.pop3()
    assert c.pop3_cmd("XYZZY") == "-ERR Unknown command"
    assert c.pop3_cmd("STAT") == "-ERR Command not valid in this state"
    c.pop3_ok(f"USER {user}")
    assert c.pop3_cmd("PASS wrong").startswith("-ERR [AUTH]")   # failed login
    assert c.pop3_status() == "-ERR too many errors"
    closed, rest = _closed(c)
    assert closed and rest == b"", rest

    # After login: a bad argument is an error too; the errors before the
    # login were forgiven by it.
    c = srv.pop3()
    assert c.pop3_cmd("XYZZY").startswith("-ERR")
    assert c.pop3_cmd("XYZZY").startswith("-ERR")
    c.pop3_login(user, pw)
    assert c.pop3_cmd("RETR 1").startswith("-ERR")
    assert c.pop3_cmd("DELE 7").startswith("-ERR")
    c.pop3_ok("NOOP")
    assert c.pop3_cmd("LIST x") == "-ERR Syntax error"
    assert c.pop3_status() == "-ERR too many errors"
    assert _closed(c)[0]


def test_imap_too_many_errors(make_server, tmp_path):
    conf = tmp_path / "e.conf"
    conf.write_text(ERR_CONF)
    srv = make_server(config=conf, kinds=IMAP_KINDS).start()
    user, pw = srv.new_user("imaperr")
    c = imap_connect(srv)
    assert c.cmd("XYZZY").status == "BAD"                    # unknown command
    assert c.cmd("SELECT INBOX").status == "BAD"             # wrong state
    assert c.cmd("LOGIN").status == "BAD"                    # bad arguments
    assert c.read_response() == b"* BYE Too many invalid commands"
    closed, rest = _closed(c)
    assert closed and rest == b"", rest

    # Failed logins count; logged in, a command that works forgives the
    # errors before it (sessions last days), so only errors in a row close.
    c = imap_connect(srv)
    assert c.cmd(f"LOGIN {quote(user)} bad").status == "NO"
    assert c.cmd("XYZZY").status == "BAD"
    c.login(user, pw)
    for _ in range(3):
        assert c.cmd("FETCH 1 FLAGS").status == "BAD"   # no mailbox selected
        assert c.cmd("XYZZY").status == "BAD"
        c.ok("NOOP")
    assert c.cmd("XYZZY").status == "BAD"
    assert c.cmd("XYZZY").status == "BAD"
    assert c.cmd("XYZZY").status == "BAD"
    assert c.read_response() == b"* BYE Too many invalid commands"
    assert _closed(c)[0]


def test_imap_parse_errors_count(make_server, tmp_path):
    conf = tmp_path / "e.conf"
    conf.write_text(ERR_CONF)
    srv = make_server(config=conf, kinds=IMAP_KINDS).start()
    c = imap_connect(srv)
    # Lines the parser refuses (an empty line is ignored, not an error).
    c.send(b"\r\n(((\r\na LOGIN \"unterminated\r\n)))\r\n")
    assert c.read_response() == b"* BAD Invalid tag"
    assert c.read_response() == b"a BAD Unterminated quoted string"
    assert c.read_response() == b"* BAD Invalid tag"
    assert c.read_response() == b"* BYE Too many invalid commands"
    assert _closed(c)[0]


# -- commands without progress --------------------------------------------------

JUNK_CONF = """
limits = { max_junk_commands = 5; };
"""


def test_smtp_junk_commands(make_server, tmp_path):
    conf = tmp_path / "j.conf"
    conf.write_text(JUNK_CONF)
    srv = make_server(config=conf).start()
    rcpt, _ = srv.new_user("junk")
    c = srv.smtp()                                       # EHLO: 1
    for _ in range(3):
        assert c.smtp_cmd("NOOP").code == 250            # 2, 3, 4
    # A message is progress: MAIL, RCPT and DATA are not junk, and once
    # the message is accepted the count starts again.
    c.smtp_deliver("someone@example.org", [rcpt], make_message("progress", to=rcpt))
    for cmd in ("NOOP", "RSET", "HELP", "VRFY someone", "EHLO again.example"):
        assert c.smtp_cmd(cmd).code in (250, 214, 252, 502), cmd
    r = c.smtp_cmd("NOOP")                               # the sixth
    assert r.code == 250, r
    r = c.smtp_reply()
    assert (r.code, r.lines[-1]) == (421, "4.7.0 localhost Error: too many commands without progress"), r
    assert _closed(c)[0]


def test_smtp_junk_before_mail(make_server, tmp_path):
    conf = tmp_path / "j.conf"
    conf.write_text(JUNK_CONF)
    srv = make_server(config=conf).start()
    c = srv.smtp(ehlo=False)
    for i in range(5):
        assert c.smtp_cmd(f"EHLO host{i}.example").code == 250
    assert c.smtp_cmd("EHLO host5.example").code == 250
    assert c.smtp_reply().code == 421
    assert _closed(c)[0]


def test_pop3_junk_before_login(make_server, tmp_path):
    conf = tmp_path / "j.conf"
    conf.write_text(JUNK_CONF)
    srv = make_server(config=conf).start()
    user, pw = srv.new_user("popjunk")
    c = srv.pop3()
    for _ in range(5):
        c.pop3_ok("CAPA")
        c.pop3_multi()
    c.pop3_ok("CAPA")
    c.pop3_multi()
    assert c.pop3_status() == "-ERR too many commands without login"
    assert _closed(c)[0]
    # Logged in, commands are not counted.
    c = srv.pop3()
    c.pop3_ok("CAPA")
    c.pop3_multi()
    c.pop3_login(user, pw)                               # USER, PASS: 3
    for _ in range(20):
        c.pop3_ok("NOOP")
    c.pop3_quit()


def test_imap_junk_before_login(make_server, tmp_path):
    conf = tmp_path / "j.conf"
    conf.write_text(JUNK_CONF)
    srv = make_server(config=conf, kinds=IMAP_KINDS).start()
    user, pw = srv.new_user("imapjunk")
    c = imap_connect(srv)
    for _ in range(5):
        c.ok("CAPABILITY")
    r = c.cmd("NOOP")
    assert r.status == "OK"
    assert c.read_response() == b"* BYE Too many commands without logging in"
    assert _closed(c)[0]
    c = imap_connect(srv)
    c.ok("CAPABILITY")
    c.login(user, pw)
    for _ in range(20):
        c.ok("NOOP")
    c.logout()


# -- timeouts -------------------------------------------------------------------

def test_login_timeout_is_short_before_login_only(make_server, tmp_path):
    conf = tmp_path / "t.conf"
    conf.write_text("limits = { login_timeout = 1; };\n")
    srv = make_server(config=conf, kinds=IMAP_KINDS).start()
    user, pw = srv.new_user("tmo")
    # Not logged in: IMAP and POP3 (test_limits.py has POP3's basic case;
    # here a command first, which restarts the timer but does not lift it).
    ipre = imap_connect(srv)
    ppre = srv.pop3()
    ppre.pop3_ok("CAPA")
    ppre.pop3_multi()
    # Logged in, the protocol's own timeout applies (30 and 10 minutes).
    i = imap_connect(srv, user, pw)
    p = srv.pop3(user, pw)
    # SMTP has no login phase: RFC 5321 4.5.3.2.7 wants at least five
    # minutes between commands, whatever login_timeout says.
    s = srv.smtp()
    time.sleep(2.5)
    closed, got = _closed(ipre, 15)
    assert closed and got.startswith(b"* BYE"), got
    closed, got = _closed(ppre, 15)
    assert closed and got.startswith(b"-ERR"), got
    i.ok("NOOP")
    p.pop3_ok("NOOP")
    assert s.smtp_cmd("NOOP").code == 250
    i.logout()
    p.pop3_quit()
    s.smtp_quit()


# -- slow loris -----------------------------------------------------------------

LORIS_CONF = """
limits = { max_connections_per_ip = 300; max_connections = 1000; };
"""

# What each protocol's slow client trickles, and how it says goodbye.
TRICKLE = {"smtp": b"NOOP\r\n", "pop3": b"CAPA\r\n", "imap": b"t NOOP\r\n"}
FAREWELL = {"smtp": (b"\r\nQUIT\r\n", b"221 "), "pop3": (b"\r\nQUIT\r\n", b"+OK"),
            "imap": (b"\r\nz LOGOUT\r\n", b"z OK")}
# A server-side close is proper when its last line is the protocol's
# farewell (a timeout's 421 / -ERR / BYE).
CLOSE_LINE = {"smtp": re.compile(rb"(^|\n)421 [^\n]*\r\n$"),
              "pop3": re.compile(rb"(^|\n)-ERR [^\n]*\r\n$"),
              "imap": re.compile(rb"(^|\n)\* BYE [^\n]*\r\n$")}


def test_slow_loris_does_not_delay_others(make_server, tmp_path):
    conf = tmp_path / "l.conf"
    conf.write_text(LORIS_CONF)
    srv = make_server(config=conf, kinds=IMAP_KINDS).start()
    user, pw = srv.new_user("busy")
    kinds = ("smtp", "pop3", "imap")

    # 100 that connect and send nothing, 100 that trickle a byte at a time.
    silent, trickle = [], []
    for i in range(100):
        k = kinds[i % 3]
        silent.append((k, socket.create_connection(("127.0.0.1", srv.ports[k]), timeout=10)))
    for i in range(100):
        k = kinds[i % 3]
        trickle.append((k, socket.create_connection(("127.0.0.1", srv.ports[k]), timeout=10)))
    stop = threading.Event()
    trickle_errors = []
    sent = [0] * len(trickle)

    def trickler():
        while not stop.is_set():
            for n, (k, s) in enumerate(trickle):
                data = TRICKLE[k]
                try:
                    s.send(data[sent[n] % len(data):][:1])
                    sent[n] += 1
                except OSError as e:
                    trickle_errors.append((n, k, repr(e)))
            stop.wait(0.05)

    t = threading.Thread(target=trickler, daemon=True)
    t.start()
    try:
        # Let every slow client get a couple of whole commands through
        # before, and keep trickling during, the normal client's work.
        need = 2 * max(len(v) for v in TRICKLE.values())
        deadline = time.monotonic() + 30
        while min(sent) < need and time.monotonic() < deadline:
            time.sleep(0.05)
        assert min(sent) >= need, "the trickler did not get going"
        start = time.monotonic()
        msgs = [make_message(f"loris {i}", to=user) for i in range(20)]
        c = srv.smtp()
        for m in msgs:
            c.smtp_deliver("sender@example.org", [user], m)
        c.smtp_quit()
        got = srv.retr_all(user, pw)
        assert len(got) == 20
        for m, g in zip(msgs, got):
            assert g.endswith(m), (m[:80], g[-200:])
        im = imap_connect(srv, user, pw)
        r = im.select()
        assert r.numbered("EXISTS")[-1][0] == 20, r
        r = im.ok("FETCH 1:* BODY.PEEK[]")
        bodies = [v["BODY[]"] for _, v in sorted(r.fetches().items())]
        assert len(bodies) == 20
        for m, b in zip(msgs, bodies):
            assert b.endswith(m)
        im.logout()
        elapsed = time.monotonic() - start
        assert elapsed < 60, f"the normal client took {elapsed:.1f}s beside the slow ones"
    finally:
        stop.set()
        t.join(10)
    assert not trickle_errors, trickle_errors[:5]
    assert all(n > 0 for n in sent)

    # Every slow connection is still served (it got its greeting, and its
    # goodbye is answered before the server closes), or was closed
    # properly, with the protocol's farewell as the last line.
    bad = []
    for n, (k, s) in enumerate(silent + trickle):
        bye, expect = FAREWELL[k]
        data = b""
        s.settimeout(10)
        try:
            s.sendall(bye)
        except OSError:
            pass
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except OSError as e:
            data += f"<{e!r}>".encode()
        s.close()
        greeted = data.startswith({"smtp": b"220 ", "pop3": b"+OK", "imap": b"* OK"}[k])
        answered = (b"\n" + expect) in (b"\n" + data)
        if not greeted or not (answered or CLOSE_LINE[k].search(data)):
            bad.append((n, k, data[-300:]))
    assert not bad, bad[:5]
