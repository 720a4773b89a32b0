"""Connection limits and timeouts enforced by core (issue 2, item 3; eviction:
issue 10, point 4)."""
import resource
import socket
import time

from helpers import Conn, Server


def _closed(c, seconds=5):
    """True once the server has closed the connection (reads EOF)."""
    c.sock.settimeout(seconds)
    try:
        while c.sock.recv(4096):
            pass
        return True
    except OSError:
        return False


def test_per_ip_limit(make_server, tmp_path):
    conf = tmp_path / "l.conf"
    conf.write_text("limits = { max_connections_per_ip = 3; };\n")
    srv = make_server(config=conf).start()
    held = [srv.smtp(ehlo=False) for _ in range(2)] + [srv.pop3()]
    # The fourth connection from 127.0.0.1, on either protocol, is refused
    # with the protocol's own busy reply, then closed.
    c = Conn.connect(srv.ports["smtp"])
    assert c.readline().startswith(b"421 4.7.0"), "no busy reply"
    assert _closed(c)
    c = Conn.connect(srv.ports["pop3"])
    assert c.readline().startswith(b"-ERR [SYS/TEMP]")
    assert _closed(c)
    # Releasing one makes room again.
    held.pop().sock.close()
    for _ in range(50):
        c = Conn.connect(srv.ports["smtp"])
        line = c.readline()
        if line.startswith(b"220"):
            break
        c.sock.close()
        time.sleep(0.1)
    assert line.startswith(b"220"), line
    c.smtp_quit()
    for h in held:
        h.sock.close()


def test_global_limit(make_server, tmp_path):
    # Every slot is held by a session that got somewhere (a logged-in
    # user, an SMTP transaction): a newcomer is refused.
    conf = tmp_path / "g.conf"
    conf.write_text("limits = { max_connections = 2; };\n")
    srv = make_server(config=conf).start()
    user, pw = srv.new_user("glob")
    a, b = srv.smtp(), srv.pop3(user, pw)
    assert a.smtp_cmd("MAIL FROM:<sender@example.org>").code == 250
    c = Conn.connect(srv.ports["smtp"])
    assert c.readline().startswith(b"421 4.7.0")
    assert _closed(c)
    a.smtp_quit()
    b.pop3_quit()


def test_global_limit_evicts_the_oldest_not_logged_in(make_server, tmp_path):
    # At max_connections the oldest session that has not logged in (on
    # SMTP port 25: not sent MAIL) is closed, with a farewell, to make room.
    conf = tmp_path / "e.conf"
    conf.write_text("limits = { max_connections = 3; };\n")
    srv = make_server(config=conf).start()
    user, pw = srv.new_user("evict")
    old = srv.smtp(ehlo=False)                 # oldest, anonymous: the victim
    logged = srv.pop3(user, pw)                # older than `young`, but logged in
    young = srv.pop3()
    new = srv.smtp()                           # served
    reply = old.smtp_reply()
    assert (reply.code, reply.enhanced) == (421, "4.7.0"), reply
    assert _closed(old)
    assert srv.wait_log("evicted")
    logged.pop3_ok("NOOP")
    young.pop3_ok("CAPA")
    young.pop3_multi()
    assert new.smtp_cmd("NOOP").code == 250
    new.smtp_quit()
    logged.pop3_quit()
    young.pop3_quit()


def test_smtp_idle_timeout(make_server, tmp_path):
    conf = tmp_path / "t.conf"
    conf.write_text("smtp = { timeout = 1; };\n")
    srv = make_server(config=conf).start()
    c = srv.smtp()
    reply = c.smtp_reply()  # nothing sent: the server speaks first
    assert (reply.code, reply.enhanced) == (421, "4.4.2"), reply
    assert _closed(c)


def test_slow_client_cannot_hold_a_command_open(make_server, tmp_path):
    # A byte now and then is not progress: the timer restarts only when a
    # whole command line has arrived.
    conf = tmp_path / "s.conf"
    conf.write_text("smtp = { timeout = 2; };\n")
    srv = make_server(config=conf).start()
    c = srv.smtp()
    start = time.monotonic()
    closed = False
    for ch in b"NOOP NOOP NOOP NOOP NOOP NOOP NOOP":
        try:
            c.send(bytes([ch]))
        except OSError:
            closed = True
            break
        time.sleep(0.25)
        if time.monotonic() - start > 6:
            break
    data = c.silence(3) if not closed else b""
    assert closed or data.startswith(b"421"), data


def test_pop3_login_timeout(make_server, tmp_path):
    conf = tmp_path / "p.conf"
    conf.write_text("limits = { login_timeout = 1; };\n")
    srv = make_server(config=conf).start()
    c = srv.pop3()
    assert c.readline().startswith(b"-ERR"), "no autologout reply"
    assert _closed(c)


class _LimitedServer(Server):
    """A server started with a given open files limit (soft:hard)."""

    def __init__(self, data_dir, nofile, **kw):
        super().__init__(data_dir, **kw)
        self.nofile = nofile

    def command(self):
        return ["prlimit", f"--nofile={self.nofile}", "--"] + super().command()


def test_open_files_soft_limit_is_raised(tmp_path):
    # A soft limit of 200 (the hard one is higher) must not cap the server
    # below max_connections: each connection is a descriptor.
    conf = tmp_path / "n.conf"
    conf.write_text("limits = { max_connections = 400; max_connections_per_ip = 400; };\n")
    srv = _LimitedServer(tmp_path / "data", f"200:{resource.getrlimit(resource.RLIMIT_NOFILE)[1]}",
                         config=conf)
    srv.start()
    try:
        held = []
        for _ in range(300):
            s = socket.create_connection(("127.0.0.1", srv.ports["pop3"]), timeout=10)
            held.append(s)
        for s in held:
            c = Conn(s)
            assert c.readline().startswith(b"+OK"), "no greeting"
        for s in held:
            s.close()
    finally:
        srv.stop()
    assert not srv.problems, srv.problems
    assert "accept failed" not in srv.stderr()


def test_open_files_limit_too_small_is_reported(tmp_path):
    srv = _LimitedServer(tmp_path / "data", "200:200")
    srv.start()
    try:
        assert "open files limit=200 is below what max_connections=1000 needs" in srv.stderr()
    finally:
        srv.stop()
    assert not srv.problems, srv.problems
