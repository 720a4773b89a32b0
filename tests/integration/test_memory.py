# tests/integration/test_memory.py: memory before authentication is bounded
# and input streams (issue 10 point 3).  A pre-auth IMAP {n+} literal over
# the small pre-auth limit is refused at its announcement (tagged BAD
# [TOOBIG], then BYE: RFC 7888 4) without being read into memory; the global
# input budget gives a temporary error (IMAP NO [UNAVAILABLE]) instead of
# growth.  Memory is read from /proc/PID/status
# (VmHWM, the peak RSS), with generous bounds: no timing is involved.
import threading

from helpers import imap_connect, make_message

MiB = 1024 * 1024


def mem(srv):
    out = {}
    with open(f"/proc/{srv.proc.pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[k] = int(v.split()[0]) * 1024
    return out


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


def test_preauth_long_lines_refused(make_server):
    srv = make_server(kinds=("imap", "smtp")).start()
    c = imap_connect(srv)
    c.send(b"a NOOP " + b"x" * 20000 + b"\r\n")
    r = c.read_response()
    assert b"BAD" in r and b"TOOBIG" in r, r
    r = c.cmd("NOOP")
    assert r.status == "OK", r
    c.close()


def test_input_budget_gives_temporary_errors(make_server, tmp_path):
    conf = tmp_path / "budget.conf"
    conf.write_text("limits = { input_budget = 1048576; };\n")
    srv = make_server(config=conf, kinds=("imap",)).start()
    user, pw = srv.new_user("bud")
    big = imap_connect(srv, user, pw)
    # One authenticated APPEND takes most of the budget while it arrives...
    big.send(b"b1 APPEND INBOX {1000000}\r\n")
    assert big.read_response().startswith(b"+")
    msg = make_message("budget", body=b"b" * (1000000 - 300))
    msg = msg + b"b" * (1000000 - len(msg) - 2) + b"\r\n"
    assert len(msg) == 1000000
    big.send(msg[:1000])
    # ... so another session's literal is refused for now.
    other = imap_connect(srv, user, pw)
    r = other.cmd(b"APPEND INBOX {200000}")
    assert r.status == "NO" and r.code == "UNAVAILABLE" and not r.conts, r
    small = make_message("nonsync", body=b"n" * 200000 + b"\r\n")
    r = other.cmd(b"APPEND INBOX {%d+}\r\n" % len(small) + small)
    assert r.status == "NO" and r.code == "UNAVAILABLE", r
    assert other.cmd("NOOP").status == "OK"   # the literal was read and dropped
    # The first APPEND completes and gives its share back: both work now.
    big.send(msg[1000:] + b"\r\n")
    assert big.read_tagged("b1").status == "OK"
    other.append("INBOX", small)
    big.logout()
    other.logout()


