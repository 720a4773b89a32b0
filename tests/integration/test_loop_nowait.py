# tests/integration/test_loop_nowait.py: what an event loop must not wait
# for (issue 11 point 1), with a real lock held in the daemon's store by
# another process (tests/tools/store_hold: a transaction that write-locks
# one record's page until the test lets go, as another session's delivery
# or expunge would).  The daemon runs one loop, so a wait on it would hold
# up every session: another session's NOOP must be answered while the lock
# is held, and the held-up command must finish once it is let go.
import pathlib
import subprocess

import pytest

from helpers import BIN, Server, imap_connect, make_message, split_trace

HOLD = str(pathlib.Path(BIN).parent / "tests" / "tools" / "store_hold")
# Longer than the store's lock timeout (5 s), so that a loop that waited
# for the lock would miss it, and far longer than a free loop takes.
ANSWER_S = 8.0


class Hold:
    """store_hold on srv's data directory: the lock is held on return."""

    def __init__(self, srv, db, key):
        self.p = subprocess.Popen([HOLD, str(srv.data_dir), db, key], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.p.stdout.readline()
        assert line == b"held\n", (line, self.p.stderr.read())

    def release(self):
        if self.p.poll() is None:
            self.p.stdin.close()
            assert self.p.wait(timeout=30) == 0, self.p.stderr.read()


@pytest.fixture
def sandbox_one_loop(tmp_path):
    srv = Server(tmp_path / "data", sandbox=True, kinds=("imap",), extra=["--loops", "1"])
    srv.start()
    yield srv
    srv.stop()


def test_sandbox_first_login_does_not_hold_the_loop(sandbox_one_loop):
    srv = sandbox_one_loop
    other = imap_connect(srv, "other", "any")   # made before the lock
    other.select("INBOX")
    # A first login makes the user; its id comes from this counter.
    hold = Hold(srv, "meta", "str:next_user_id")
    try:
        newcomer = imap_connect(srv)
        newcomer.send(b"a1 LOGIN newcomer secret\r\n")
        other.sock.settimeout(ANSWER_S)
        other.ok("NOOP")   # the loop is free while the user waits
    finally:
        hold.release()
    r = newcomer.read_tagged("a1")
    assert r.status == "OK", r
    newcomer.select("INBOX")
    assert "auth ok user=newcomer@" in srv.stderr()


def test_postmaster_first_mail_does_not_hold_the_loop(tmp_path):
    # smtp.postmaster's mailbox is made on its first mail: by RCPT when no
    # lock is in the way, else by the delivery (on a worker if it waits).
    srv = Server(tmp_path / "data", kinds=("smtp", "pop3"), extra=["--loops", "1"])
    srv.start()
    try:
        hold = Hold(srv, "meta", "str:next_user_id")
        try:
            c = srv.smtp()
            c.sock.settimeout(ANSWER_S)
            assert c.smtp_cmd("MAIL FROM:<reporter@example.org>").code == 250
            r = c.smtp_cmd("RCPT TO:<Postmaster>")
            assert (r.code, r.enhanced) == (250, "2.1.5"), r
            assert c.smtp_cmd("DATA").code == 354
            msg = make_message("first postmaster mail")
            c.send(msg + b".\r\n")
            other = srv.smtp()
            other.sock.settimeout(ANSWER_S)
            assert other.smtp_cmd("NOOP").code == 250   # the loop is free
        finally:
            hold.release()
        assert c.smtp_reply().code == 250
        c.smtp_quit()
        assert srv.wait_log("postmaster mailbox left to the delivery user=postmaster@localhost")
        r = srv.cli("user", "passwd", "postmaster@localhost", input="pm-pass\n")
        assert r.returncode == 0, r.stderr
        (got,) = srv.retr_all("postmaster@localhost", "pm-pass")
        assert split_trace(got, "reporter@example.org") == msg
    finally:
        srv.stop()
