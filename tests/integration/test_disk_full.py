# tests/integration/test_disk_full.py: a full disk never kills the daemon
# (issue 10 point 2).  The store lives on a small tmpfs of its own; a filler
# file takes the space away and gives it back.  New mail is refused politely
# (SMTP 452 4.3.1, IMAP NO [OVERQUOTA], POP3 -ERR [SYS/TEMP]) below the
# reserve and on a truly full disk, reading keeps working, and writes resume
# without a restart once space is freed.
#
# Mounting needs root (CAP_SYS_ADMIN); elsewhere these tests are skipped.
import os
import subprocess
import time

import pytest

import helpers
from helpers import Server, imaplib_connect, make_message

MIB = 1024 * 1024


def _mount(path, size):
    path.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0777", "tmpfs",
                        str(path)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip() or r.returncode}): "
                    "the disk-full tests need root")


@pytest.fixture
def small_fs(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    mnt = tmp_path / "fs"
    _mount(mnt, "96m")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def _avail(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def _fill(mnt, leave):
    """Take all but `leave` bytes of the file system (less if it is full)."""
    filler = mnt / "filler"
    with open(filler, "ab") as f:
        want = _avail(mnt) - leave
        chunk = b"\0" * MIB
        while want > 0:
            n = min(want, MIB)
            try:
                f.write(chunk[:n])
                f.flush()
            except OSError:
                break
            want -= n
        try:
            os.fsync(f.fileno())
        except OSError:
            pass
    return filler


def _wait(cond, what, timeout=20.0):
    """Polls: the daemon measures the disk five times a second."""
    deadline = time.monotonic() + timeout
    while True:
        r = cond()
        if r:
            return r
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.1)


def _mail_reply(srv):
    c = srv.smtp()
    try:
        return c.smtp_cmd("MAIL FROM:<a@example.org> SIZE=1000")
    finally:
        c.close()


def _server(mnt, reserve):
    conf = mnt.parent / "disk.conf"
    conf.write_text("storage = { cache_size = 4194304; min_free_space = %d; };\n" % reserve)
    srv = Server(mnt / "data", sandbox=True, kinds=helpers.IMAP_KINDS, config=conf)
    if os.geteuid() == 0:
        # the daemon runs as nobody: let it create its data dir there
        os.chmod(mnt, 0o777)
    return srv.start()


def _read_all(srv, user):
    c = srv.pop3(user, "any")
    n, _ = c.pop3_stat()
    msgs = [c.pop3_retr(i) for i in range(1, n + 1)]
    c.pop3_quit()
    return msgs


def test_reserve_refuses_new_mail_reading_works_and_space_returns(small_fs):
    srv = _server(small_fs, 24 * MIB)
    user = "full@localhost"
    try:
        srv.deliver("a@example.org", [user], make_message("before"))
        m = imaplib_connect(srv, user, "any")
        m.select("INBOX")

        filler = _fill(small_fs, 16 * MIB)   # below the 24 MiB reserve
        r = _wait(lambda: (lambda x: x if x.code == 452 else None)(_mail_reply(srv)),
                  "MAIL refused below the reserve")
        assert r.enhanced == "4.3.1", r

        # IMAP APPEND and COPY: a tagged NO with a response code.
        typ, data = m.append("INBOX", None, None, make_message("appended"))
        assert typ == "NO" and b"[OVERQUOTA]" in data[0], (typ, data)
        typ, data = m.copy("1", "INBOX")
        assert typ == "NO" and b"[OVERQUOTA]" in data[0], (typ, data)

        # Reading keeps working, over both protocols.
        typ, data = m.fetch("1", "(BODY.PEEK[])")
        assert typ == "OK" and b"Subject: before" in data[0][1]
        assert any(b"Subject: before" in x for x in _read_all(srv, user))
        assert srv.alive()

        # Space comes back: mail is accepted again, no restart.
        filler.unlink()
        _wait(lambda: _mail_reply(srv).code == 250, "MAIL accepted after space returned")
        srv.deliver("a@example.org", [user], make_message("after"))
        typ, data = m.append("INBOX", None, None, make_message("appended-after"))
        assert typ == "OK", (typ, data)
        msgs = _read_all(srv, user)
        assert any(b"Subject: after" in x for x in msgs)
        assert any(b"Subject: appended-after" in x for x in msgs)
        m.logout()
    finally:
        srv.stop()
    srv.assert_clean()


def test_truly_full_disk_refuses_every_write_and_recovers(small_fs):
    srv = _server(small_fs, 0)
    user = "brim@localhost"
    try:
        for i in range(3):
            srv.deliver("a@example.org", [user], make_message(f"m{i}"))
        m = imaplib_connect(srv, user, "any")
        m.select("INBOX")
        p = srv.pop3(user, "any")
        assert p.pop3_stat()[0] == 3
        p.pop3_ok("DELE 1")

        # A delivery under way when the disk fills up: the body arrives
        # after the last byte is gone.
        c = srv.smtp()
        assert c.smtp_cmd("MAIL FROM:<a@example.org>").code == 250
        assert c.smtp_cmd(f"RCPT TO:<{user}>").code == 250
        assert c.smtp_cmd("DATA").code == 354
        filler = _fill(small_fs, 0)
        c.send(helpers.dot_stuff(make_message("late", body=(b"y" * 70 + b"\r\n") * 1000)) + b".\r\n")
        r = c.smtp_reply()
        assert r.code == 452 and r.enhanced == "4.3.1", r
        c.close()

        # Every kind of write gets its protocol's temporary error (the
        # daemon measures the disk five times a second) ...
        r = _wait(lambda: (lambda x: x if x.code != 250 else None)(_mail_reply(srv)),
                  "MAIL refused on a full disk")
        assert r.code == 452 and r.enhanced == "4.3.1", r
        typ, data = m.store("2", "+FLAGS", "(\\Flagged)")
        assert typ == "NO" and b"[OVERQUOTA]" in data[0], (typ, data)
        typ, data = m.append("INBOX", None, None, make_message("x"))
        assert typ == "NO" and b"[OVERQUOTA]" in data[0], (typ, data)
        p.send(b"QUIT\r\n")
        line = p.readline()
        assert line.startswith(b"-ERR [SYS/TEMP]"), line
        p.close()
        # ... reading still works, and the daemon is alive.
        typ, data = m.fetch("3", "(BODY.PEEK[])")
        bodies = [d[1] for d in data if isinstance(d, tuple)]
        assert typ == "OK" and any(b"Subject: m2" in b for b in bodies), data
        assert srv.alive()

        filler.unlink()
        _wait(lambda: _mail_reply(srv).code == 250, "MAIL accepted after space returned")
        srv.deliver("a@example.org", [user], make_message("after"))
        typ, data = m.store("2", "+FLAGS", "(\\Flagged)")
        assert typ == "OK", (typ, data)
        m.logout()
        msgs = _read_all(srv, user)
        assert any(b"Subject: after" in x for x in msgs)
        # The POP3 deletion was refused, so message 1 is still there.
        assert any(b"Subject: m0" in x for x in msgs)
    finally:
        srv.stop()
    srv.assert_clean()


def test_cold_store_read_on_full_disk(small_fs):
    """Reading needs cache pages too: after a restart the cache starts
    empty, and reading every message on a full disk must not crash (the
    region files were sparse and the first touch of a hole raised SIGBUS)."""
    srv = _server(small_fs, 0)
    user = "cold@localhost"
    body = (b"z" * 76 + b"\r\n") * 1300          # ~100 KB
    try:
        for i in range(40):
            srv.deliver("a@example.org", [user], make_message(f"c{i}", body=body))
        srv.restart(crash=True)                  # recovery: fresh, empty cache
        filler = _fill(small_fs, 0)
        msgs = _read_all(srv, user)
        assert len(msgs) == 40 and all(body in x for x in msgs)
        m = imaplib_connect(srv, user, "any")
        m.select("INBOX", readonly=True)
        typ, data = m.fetch("1:*", "(BODY.PEEK[])")
        assert typ == "OK" and sum(1 for d in data if isinstance(d, tuple)) == 40
        m.logout()
        assert srv.alive()
        filler.unlink()
    finally:
        srv.stop()
    srv.assert_clean()
