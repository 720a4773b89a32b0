# tests/integration/test_memory.py: memory before authentication is bounded
# and input streams (issue 10 point 3).  A pre-auth IMAP {n+} literal over
# the small pre-auth limit is refused at its announcement (tagged BAD
# [TOOBIG], then BYE: RFC 7888 4) without being read into memory; SMTP DATA
# bodies (DATA or BDAT) go to a spool file in chunks, so 40 concurrent large messages do not
# grow the server, and arrive byte for byte; the global input budget gives a
# temporary error (IMAP NO [UNAVAILABLE], SMTP 451 4.3.2) instead of growth;
# a full spool disk gives 452 4.3.1.  Memory is read from /proc/PID/status
# (VmHWM, the peak RSS), with generous bounds: no timing is involved.
import os
import subprocess
import threading

import pytest

from helpers import dot_stuff, imap_connect, make_message, split_trace, unique

MiB = 1024 * 1024


def mem(srv):
    out = {}
    with open(f"/proc/{srv.proc.pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[k] = int(v.split()[0]) * 1024
    return out


def rss_bound_applies(srv):
    """RSS means nothing under AddressSanitizer (its quarantine keeps freed
    memory, its shadow grows with the heap): bounds are checked only for
    plain builds; the protocol behaviour is checked everywhere."""
    with open(f"/proc/{srv.proc.pid}/maps") as f:
        return "libasan" not in f.read()


def stream(conn, total):
    """Send `total` bytes as a client that does not wait for replies would
    (a LITERAL+ literal); stop quietly when the server closes."""
    block = b"x" * 65536
    try:
        for _ in range(total // len(block)):
            conn.sock.sendall(block)
    except OSError:
        pass


def test_preauth_literal_plus_refused_before_buffering(make_server):
    srv = make_server(kinds=("imap",)).start()
    before = mem(srv)["VmHWM"]
    size = 62914560
    conns, threads = [], []
    for _ in range(4):
        c = imap_connect(srv)
        c.send(b"a APPEND INBOX {%d+}\r\n" % size)
        t = threading.Thread(target=stream, args=(c, size), daemon=True)
        t.start()
        conns.append(c)
        threads.append(t)
    for c in conns:
        # Answered at the announcement, not after 60 MB: too big for a
        # client that has not logged in, and too big to read and drop.
        r = c.read_response()
        assert r.startswith(b"a BAD [TOOBIG]"), r
        assert c.read_response().startswith(b"* BYE"), "no BYE after refusing a {n+} literal"
    for t in threads:
        t.join(60)
    for c in conns:
        c.close()
    grew = mem(srv)["VmHWM"] - before
    if rss_bound_applies(srv):
        assert grew < 64 * MiB, f"server peak RSS grew by {grew / MiB:.0f} MiB"


def test_preauth_limits_small_then_configured_after_login(make_server):
    srv = make_server(kinds=("imap",)).start()
    user, pw = srv.new_user("lim")
    c = imap_connect(srv)
    # A synchronizing literal over the pre-auth limit is never invited.
    c.send(b"a LOGIN {9000}\r\n")
    r = c.read_response()
    assert r.startswith(b"a BAD [TOOBIG]"), r
    # Small literals still log in (RFC 9051 6.2.3 allows LOGIN's astrings as literals).
    r = c.cmd_sync(["LOGIN ", user.encode(), " ", pw.encode()])
    assert r.status == "OK", r
    # Once logged in, the configured sizes apply: a 100 KB message appends.
    msg = make_message("after login", body=b"z" * 100000 + b"\r\n")
    c.append("INBOX", msg)
    c.logout()


def test_preauth_largest_id_fits(make_server):
    # RFC 2971 3.3: 30 field-value pairs, fields of 30 octets, values of
    # 1024: the largest ID (about 31 KiB, imaptest's "id" group), legal
    # before login, is answered, not refused as too long.
    srv = make_server(kinds=("imap",)).start()
    c = imap_connect(srv)
    pairs = " ".join(f'"{i:02d}{"f" * 28}" "{"v" * 1024}"' for i in range(30))
    r = c.cmd(f"ID ({pairs})")
    assert r.status == "OK" and r.data("ID"), r
    assert c.cmd("NOOP").status == "OK"
    c.close()


def test_preauth_long_lines_refused(make_server):
    srv = make_server(kinds=("imap", "smtp")).start()
    c = imap_connect(srv)
    c.send(b"a NOOP " + b"x" * 40000 + b"\r\n")
    r = c.read_response()
    assert b"BAD" in r and b"TOOBIG" in r, r
    r = c.cmd("NOOP")
    assert r.status == "OK", r
    c.close()


@pytest.mark.parametrize("verb", ["DATA", "BDAT"])
def test_smtp_data_bodies_stream_to_spool(make_server, verb):
    # BDAT (RFC 3030): each message is one 6 MiB chunk, read raw into the
    # same spool, so the same bound holds.
    srv = make_server(sandbox=True, kinds=("smtp", "pop3")).start()
    before = mem(srv)["VmHWM"]
    n, size = 40, 6 * MiB
    line = b"The body of a large message, with a leading dot on some lines.\r\n"
    jobs = []
    for i in range(n):
        body = bytearray()
        k = 0
        while len(body) < size:
            body += (b"." if k % 7 == 0 else b"") + b"%d " % i + line
            k += 1
        msg = make_message(f"large {i}", body=bytes(body))
        jobs.append((unique("big"), msg))
    sender = "big-sender@example.org"
    replies = [None] * n
    conns = [srv.smtp() for _ in range(n)]

    def send(i):
        c = conns[i]
        rcpt, msg = jobs[i]
        assert c.smtp_cmd(f"MAIL FROM:<{sender}>").code == 250
        assert c.smtp_cmd(f"RCPT TO:<{rcpt}>").code == 250
        if verb == "BDAT":
            c.send(b"BDAT %d LAST\r\n" % len(msg) + msg)
        else:
            assert c.smtp_cmd("DATA").code == 354
            c.send(dot_stuff(msg) + b".\r\n")
        replies[i] = c.smtp_reply()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    for c in conns:
        c.close()
    assert all(r is not None and r.code == 250 for r in replies), replies
    grew = mem(srv)["VmHWM"] - before
    # 40 x 6 MiB held whole would be 240 MiB or more; spooled, a session
    # holds one chunk.  The bound leaves room for the store's cache (its
    # Berkeley DB regions, about 100 MiB when warm, count in RSS).
    if rss_bound_applies(srv):
        assert grew < 160 * MiB, f"server peak RSS grew by {grew / MiB:.0f} MiB"
    for rcpt, msg in jobs:
        stored = srv.retr_all(rcpt, "any")
        assert len(stored) == 1
        assert split_trace(stored[0], sender) == msg
    # Spool files are anonymous: nothing is left behind.
    spool = srv.data_dir / "spool"
    assert spool.is_dir() and (spool.stat().st_mode & 0o777) == 0o700
    assert list(spool.iterdir()) == []


def test_refused_literal_is_freed_at_once(make_server):
    srv = make_server(kinds=("imap",)).start()
    user, pw = srv.new_user("nul")
    size = 30 * MiB
    conns = [imap_connect(srv, user, pw) for _ in range(3)]
    before = mem(srv)["RssAnon"]
    for c in conns:
        # A NUL near the end of a plain literal (RFC 3501 9: CHAR8 excludes
        # it): BAD, the last bytes are dropped, the session goes on...
        data = b"x" * (size - 100) + b"\0" + b"x" * 99
        r = c.cmd(b"APPEND INBOX {%d+}\r\n" % size + data)
        assert r.status == "BAD" and b"NUL" in r.tagged, r
    # ... and holds nothing of the 30 MiB it refused while it sits idle.
    grew = mem(srv)["RssAnon"] - before
    if rss_bound_applies(srv):
        assert grew < 32 * MiB, f"server anonymous RSS grew by {grew / MiB:.0f} MiB"
    for c in conns:
        assert c.cmd("NOOP").status == "OK"
        c.logout()


def test_input_budget_gives_temporary_errors(make_server, tmp_path):
    conf = tmp_path / "budget.conf"
    conf.write_text("limits = { input_budget = 1048576; };\n")
    srv = make_server(config=conf, kinds=("imap", "smtp")).start()
    user, pw = srv.new_user("bud")
    big = imap_connect(srv, user, pw)
    # One authenticated APPEND takes most of the budget while it arrives...
    big.send(b"b1 APPEND INBOX {1000000}\r\n")
    assert big.read_response().startswith(b"+")
    msg = make_message("budget", body=b"b" * (1000000 - 300))
    msg = msg + b"b" * (1000000 - len(msg) - 2) + b"\r\n"
    assert len(msg) == 1000000
    big.send(msg[:1000])
    # ... so another session's literal is refused for now, whichever kind.
    other = imap_connect(srv, user, pw)
    r = other.cmd(b"APPEND INBOX {200000}")
    assert r.status == "NO" and r.code == "UNAVAILABLE" and not r.conts, r
    small = make_message("nonsync", body=b"n" * 200000 + b"\r\n")
    r = other.cmd(b"APPEND INBOX {%d+}\r\n" % len(small) + small)
    assert r.status == "NO" and r.code == "UNAVAILABLE", r
    assert other.cmd("NOOP").status == "OK"   # the literal was read and dropped
    s = srv.smtp()
    assert s.smtp_cmd("MAIL FROM:<a@example.org>").code == 250
    assert s.smtp_cmd(f"RCPT TO:<{user}>").code == 250
    r = s.smtp_cmd("DATA")
    assert r.code == 451 and r.enhanced == "4.3.2", r
    # BDAT (RFC 3030 2): its chunk is read and dropped first, then the 451,
    # and the transaction is over (the next BDAT is out of sequence).
    bd = srv.smtp()
    assert bd.smtp_cmd("MAIL FROM:<a@example.org>").code == 250
    assert bd.smtp_cmd(f"RCPT TO:<{user}>").code == 250
    chunk = b"QUIT\r\n" * 10
    bd.send(b"BDAT %d\r\n" % len(chunk) + chunk + b"NOOP\r\n")
    r = bd.smtp_reply()
    assert (r.code, r.enhanced) == (451, "4.3.2"), r
    assert bd.smtp_reply().code == 250
    assert bd.smtp_cmd("BDAT 0 LAST").code == 503
    # The first APPEND completes and gives its share back: both work now.
    big.send(msg[1000:] + b"\r\n")
    assert big.read_tagged("b1").status == "OK"
    other.append("INBOX", small)
    assert s.smtp_cmd("DATA").code == 354
    s.send(dot_stuff(make_message("after")) + b".\r\n")
    assert s.smtp_reply().code == 250
    s.smtp_quit()
    assert bd.smtp_cmd("MAIL FROM:<a@example.org>").code == 250
    assert bd.smtp_cmd(f"RCPT TO:<{user}>").code == 250
    after = make_message("after, by BDAT")
    bd.send(b"BDAT %d LAST\r\n" % len(after) + after)
    assert bd.smtp_reply().code == 250
    bd.smtp_quit()
    big.logout()
    other.logout()


def test_spool_full_disk_is_452(make_server):
    srv = make_server(sandbox=True, kinds=("smtp", "pop3")).start()
    # The spool lives on a file system of its own that holds 1 MiB (a
    # tmpfs: needs root), so it fills up for real (ENOSPC).
    spool = srv.data_dir / "spool"
    spool.mkdir(mode=0o700, exist_ok=True)
    st = srv.data_dir.stat()
    os.chown(spool, st.st_uid, st.st_gid)
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o",
                            f"size=1m,mode=0700,uid={st.st_uid},gid={st.st_gid}",
                            "tmpfs", str(spool)], capture_output=True)
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs: {mount.stderr.decode().strip()}")
    try:
        rcpt = unique("full")
        c = srv.smtp()
        assert c.smtp_cmd("MAIL FROM:<a@example.org>").code == 250
        assert c.smtp_cmd(f"RCPT TO:<{rcpt}>").code == 250
        assert c.smtp_cmd("DATA").code == 354
        c.send(dot_stuff(make_message("too big for the disk", body=(b"d" * 998 + b"\r\n") * 3000))
               + b".\r\n")
        r = c.smtp_reply()
        assert r.code == 452 and r.enhanced == "4.3.1", r
        # Nothing was delivered, the space is free again, the session goes on.
        msg = make_message("fits")
        r = c.smtp_deliver("a@example.org", [rcpt], msg)
        assert r.code == 250, r
        c.smtp_quit()
        stored = srv.retr_all(rcpt, "any")
        assert len(stored) == 1 and split_trace(stored[0], "a@example.org") == msg
    finally:
        subprocess.run(["umount", "-l", str(spool)], check=False)
