# tests/integration/test_login_pool.py: password checks run on the worker
# pool (core/workpool.c, issue 11 point 2), so a login never holds up
# another session of the same loop.  Everything is ordered, never timed:
# the daemon logs `auth ok ... cached=no` when a hash comes back and
# `cached=yes` when a login is answered at once from the credential cache,
# both on the session's loop, so their order in the log is the order in
# which that loop did the work.  With the hash on the loop, a cached login
# sent after eight cold ones waits for at least the first hash; on the pool
# it is answered before any of them.  Also: a client that disconnects in
# the middle of its check (its job is cancelled, nothing is logged for it,
# the daemon keeps serving; the sanitizer run checks for leaks), and the
# queue of checks after a disconnect still answers the others.
import re
import time

import pytest

from helpers import IMAP_KINDS, Conn, ImapConn, Server
from sasl_client import plain

COLD = 8
ROUNDS = 3
CONNECTED_RE = re.compile(r"session=(\w+) (\w+) connected ")


def wait_count(srv, needle, n):
    """Until the log holds needle n times (another thread reads it)."""
    deadline = time.monotonic() + 10
    while srv.stderr().count(needle) < n:
        assert time.monotonic() < deadline, f"{needle!r} not {n} times:\n{srv.stderr()}"
        time.sleep(0.01)


def auth_ok_order(srv):
    """(user, cached) of every successful login, in the order logged."""
    return re.findall(r"auth ok user=(\S+) cached=(yes|no)", srv.stderr())


# Each protocol: open a session ready for its login command, send the
# login without reading, read the answer (True for success).
def pop3_open(srv, user):
    c = Conn.connect(srv.ports["pop3"])
    assert c.pop3_status().startswith("+OK")
    c.pop3_ok(f"USER {user}")
    return c


def pop3_send(c, user, pw):
    c.send(f"PASS {pw}\r\n")


def pop3_read(c):
    return c.pop3_status().startswith("+OK")


def imap_open(srv, user):
    c = ImapConn.connect(srv.ports["imap"])
    assert c.read_greeting().startswith(b"* OK")
    return c


def imap_send(c, user, pw):
    c.send(f'L1 LOGIN "{user}" "{pw}"\r\n'.encode())


def imap_read(c):
    return c.read_tagged("L1").status == "OK"


def smtp_open(srv, user):
    c = Conn.connect(srv.ports["smtp"])
    assert c.smtp_reply().code == 220
    assert c.smtp_cmd("EHLO client.example.org").code == 250
    return c


def smtp_send(c, user, pw):
    # SASL PLAIN with an initial response (RFC 4954 4): one line.
    c.send(f"AUTH PLAIN {plain(user, pw)}\r\n")


def smtp_read(c):
    return c.smtp_reply().code == 235


PROTOCOLS = {
    "pop3": (pop3_open, pop3_send, pop3_read),
    "imap": (imap_open, imap_send, imap_read),
    "smtp": (smtp_open, smtp_send, smtp_read),
}


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    """One loop, so that every session shares it."""
    base = tmp_path_factory.mktemp("loginpool")
    s = Server(base / "data", kinds=IMAP_KINDS, extra=["--loops", "1"])
    s.start()
    yield s
    try:
        s.stop()
    finally:
        if s.proc is not None:
            s.kill9()
        s.drop_regions()
    if s.problems:
        pytest.fail("\n\n".join(s.problems), pytrace=False)


@pytest.mark.parametrize("proto", sorted(PROTOCOLS))
def test_cached_login_not_held_up_by_hashes(srv, proto):
    open_, send, read = PROTOCOLS[proto]
    assert "loops=1" in srv.stderr()
    warm, warm_pw = srv.new_user("warm")
    c = open_(srv, warm)
    send(c, warm, warm_pw)
    assert read(c)
    c.close()
    srv.wait_log(f"auth ok user={warm} cached=no")

    # Eight logins that each need a hash, then one the cache answers, all
    # on the one loop: the cached one must not wait for any hash.  With the
    # hash on the loop the cached one is nearly always answered after at
    # least the first hash; a few rounds make "nearly" certain.
    for rnd in range(ROUNDS):
        cold = [srv.new_user("cold") for _ in range(COLD)]
        sessions = [open_(srv, u) for u, _ in cold]
        w = open_(srv, warm)
        for c, (u, pw) in zip(sessions, cold):
            send(c, u, pw)
        send(w, warm, warm_pw)
        assert read(w)
        for c in sessions:
            assert read(c)
            c.close()
        w.close()
        wait_count(srv, f"auth ok user={warm} cached=yes", rnd + 1)
        for u, _ in cold:
            srv.wait_log(f"auth ok user={u} cached=no")
        names = {u for u, _ in cold} | {warm}
        order = [(u, k) for u, k in auth_ok_order(srv) if u in names]
        # this round's cached login: the last one logged
        cached_at = len(order) - 1 - order[::-1].index((warm, "yes"))
        cold_at = [order.index((u, "no")) for u, _ in cold]
        assert cached_at < min(cold_at), order


def session_ids(srv, kind):
    return [m.group(1) for m in CONNECTED_RE.finditer(srv.stderr()) if m.group(2) == kind]


def new_session_id(srv, kind, before):
    """The id of the one `kind` session connected since `before` (the log
    is read by another thread: wait for its line)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        new = set(session_ids(srv, kind)) - before
        if new:
            (sid,) = new
            return sid
        time.sleep(0.01)
    raise AssertionError(f"no new {kind} session in the log:\n{srv.stderr()}")


@pytest.mark.parametrize("proto", sorted(PROTOCOLS))
def test_disconnect_during_check(srv, proto):
    open_, send, read = PROTOCOLS[proto]
    kind = proto
    gone, gone_pw = srv.new_user("gone")
    before = set(session_ids(srv, kind))
    c = open_(srv, gone)
    sid = new_session_id(srv, kind, before)
    send(c, gone, gone_pw)
    c.close()
    srv.wait_log(f"session={sid} {kind} disconnected")
    # The daemon goes on: a login after it is checked and answered.
    other, other_pw = srv.new_user("after")
    c = open_(srv, other)
    send(c, other, other_pw)
    assert read(c)
    c.close()
    srv.wait_log(f"auth ok user={other} cached=no")
    # The check of the session that went away was cancelled: its outcome
    # was never logged (it would be, before the disconnect, had the
    # session still been there when the hash came back).
    assert gone not in {u for u, _ in auth_ok_order(srv)}, srv.stderr()
