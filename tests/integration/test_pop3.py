# tests/integration/test_pop3.py: POP3 (RFC 1939, RFC 2449 CAPA, RFC 2449 /
# RFC 3206 response codes) against mail delivered over SMTP.
import poplib
import re

import pytest

from helpers import TIMEOUT, Conn, make_message, split_trace


def fill(server, user, n, sender="pop@example.org"):
    """Deliver n distinct messages to user; return them as sent."""
    msgs = [make_message(f"msg {i}", body=f"body {i}\r\nline two of {i}\r\n".encode() * (i + 1))
            for i in range(n)]
    c = server.smtp()
    for m in msgs:
        c.smtp_deliver(sender, [user[0]], m)
    c.smtp_quit()
    return msgs


def test_greeting_capa(server):
    c = server.pop3()
    c.pop3_ok("CAPA")
    caps = [l.split()[0].upper() for l in c.pop3_multi().decode().split("\r\n") if l]
    for cap in ("TOP", "UIDL", "USER", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "STLS"):
        assert cap in caps, f"CAPA lacks {cap}: {caps}"
    c.pop3_quit()


def test_capa_with_poplib(server):
    p = poplib.POP3("127.0.0.1", server.ports["pop3"], timeout=TIMEOUT)
    caps = p.capa()
    assert "UIDL" in caps and "TOP" in caps, caps
    p.quit()


def test_login_stat_list_retr(server, user):
    msgs = fill(server, user, 3)
    c = server.pop3(*user)
    n, total = c.pop3_stat()
    assert n == 3
    sizes = c.pop3_list()
    assert sorted(sizes) == [1, 2, 3]
    got = [c.pop3_retr(i) for i in (1, 2, 3)]
    # RFC 1939 5: sizes are exact octet counts of the message as RETR sends it.
    assert [sizes[i] for i in (1, 2, 3)] == [len(g) for g in got]
    assert total == sum(len(g) for g in got)
    assert [split_trace(g, "pop@example.org") for g in got] == msgs
    r = c.pop3_ok("LIST 2")
    assert r.split()[1:3] == ["2", str(sizes[2])], r
    c.pop3_quit()


def test_poplib_retr(server, user):
    (msg,) = fill(server, user, 1)
    p = poplib.POP3("127.0.0.1", server.ports["pop3"], timeout=TIMEOUT)
    p.user(user[0])
    p.pass_(user[1])
    resp, lines, octets = p.retr(1)
    assert resp.startswith(b"+OK")
    got = b"\r\n".join(lines) + b"\r\n"
    assert split_trace(got, "pop@example.org") == msg
    p.quit()


def test_empty_maildrop(server, user):
    c = server.pop3(*user)
    assert c.pop3_stat() == (0, 0)
    assert c.pop3_list() == {}
    assert c.pop3_uidl() == {}
    r = c.pop3_cmd("RETR 1")
    assert r.startswith("-ERR"), r
    c.pop3_quit()


def test_top(server, user):
    (msg,) = fill(server, user, 1)
    c = server.pop3(*user)
    full = c.pop3_retr(1)
    head, _, body = full.partition(b"\r\n\r\n")
    c.pop3_ok("TOP 1 0")
    assert c.pop3_multi() == head + b"\r\n\r\n"
    c.pop3_ok("TOP 1 1")
    assert c.pop3_multi() == head + b"\r\n\r\n" + body.split(b"\r\n")[0] + b"\r\n"
    c.pop3_ok("TOP 1 1000")
    assert c.pop3_multi() == full
    r = c.pop3_cmd("TOP 2 0")
    assert r.startswith("-ERR"), r
    r = c.pop3_cmd("TOP 1")
    assert r.startswith("-ERR"), r
    c.pop3_quit()


def test_uidl_stable_and_unique(server, user):
    fill(server, user, 4)
    c = server.pop3(*user)
    u1 = c.pop3_uidl()
    assert sorted(u1) == [1, 2, 3, 4]
    assert len(set(u1.values())) == 4
    for uid in u1.values():
        # RFC 1939 7: 1 to 70 characters in 0x21..0x7E.
        assert re.fullmatch(r"[\x21-\x7e]{1,70}", uid), uid
    r = c.pop3_ok("UIDL 3")
    assert r.split()[1:3] == ["3", u1[3]], r
    c.pop3_quit()
    c = server.pop3(*user)
    assert c.pop3_uidl() == u1
    # Delete message 2: the others keep their UIDs (and renumber).
    c.pop3_ok("DELE 2")
    c.pop3_quit()
    fill(server, user, 1)
    c = server.pop3(*user)
    u2 = c.pop3_uidl()
    assert [u2[1], u2[2], u2[3]] == [u1[1], u1[3], u1[4]]
    assert u2[4] not in u1.values()
    c.pop3_quit()


def test_dele_quit_new_session_sees_it_gone(server, user):
    msgs = fill(server, user, 3)
    c = server.pop3(*user)
    c.pop3_ok("DELE 2")
    # Within the session: a deleted message is not listed and cannot be read.
    assert c.pop3_stat()[0] == 2
    assert sorted(c.pop3_list()) == [1, 3]
    for cmd in ("RETR 2", "LIST 2", "DELE 2", "TOP 2 0", "UIDL 2"):
        r = c.pop3_cmd(cmd)
        assert r.startswith("-ERR"), f"{cmd}: {r}"
    c.pop3_quit()
    c = server.pop3(*user)
    assert c.pop3_stat()[0] == 2
    got = [c.pop3_retr(i) for i in (1, 2)]
    assert [split_trace(g, "pop@example.org") for g in got] == [msgs[0], msgs[2]]
    c.pop3_quit()


def test_dele_rset_keeps(server, user):
    fill(server, user, 2)
    c = server.pop3(*user)
    before = c.pop3_stat()
    c.pop3_ok("DELE 1")
    c.pop3_ok("DELE 2")
    assert c.pop3_stat() == (0, 0)
    r = c.pop3_ok("RSET")
    assert c.pop3_stat() == before
    c.pop3_quit()
    c = server.pop3(*user)
    assert c.pop3_stat() == before
    c.pop3_quit()


def test_dele_then_abrupt_disconnect_keeps(server, user):
    fill(server, user, 2)
    c = server.pop3(*user)
    c.pop3_ok("DELE 1")
    c.close()   # RFC 1939 6: no QUIT, no UPDATE state
    # The maildrop lock must be released too: log in again (retry while the
    # server notices the disconnect).
    def login():
        p = server.pop3()
        p.pop3_cmd(f"USER {user[0]}")
        r = p.pop3_cmd(f"PASS {user[1]}")
        if r.startswith("+OK"):
            return p
        p.close()
        assert "[IN-USE]" in r, r
        return None
    from helpers import wait_for
    p = wait_for(login, timeout=10)
    assert p, "maildrop still locked 10 s after the client disconnected"
    assert p.pop3_stat()[0] == 2
    p.pop3_quit()


def test_in_use(server, user):
    fill(server, user, 1)
    a = server.pop3(*user)
    b = server.pop3()
    assert b.pop3_cmd(f"USER {user[0]}").startswith("+OK")
    r = b.pop3_cmd(f"PASS {user[1]}")
    assert r.startswith("-ERR [IN-USE]"), r
    b.close()
    a.pop3_quit()
    c = server.pop3(*user)      # released at QUIT
    assert c.pop3_stat()[0] == 1
    c.pop3_quit()


def test_wrong_password(server, user):
    c = server.pop3()
    assert c.pop3_cmd(f"USER {user[0]}").startswith("+OK")
    r = c.pop3_cmd("PASS not-the-password")
    assert r.startswith("-ERR [AUTH]"), r
    # Still in AUTHORIZATION: the right password now works (RFC 1939 7).
    assert c.pop3_cmd(f"USER {user[0]}").startswith("+OK")
    r = c.pop3_cmd(f"PASS {user[1]}")
    assert r.startswith("+OK"), r
    c.pop3_quit()


def test_unknown_user_same_answer(server):
    c = server.pop3()
    r1 = c.pop3_cmd("USER nobody-here@localhost")
    assert r1.startswith("+OK") or r1.startswith("-ERR"), r1
    if r1.startswith("+OK"):
        r = c.pop3_cmd("PASS whatever")
        assert r.startswith("-ERR [AUTH]"), r
    c.pop3_quit()


def test_poplib_wrong_password(server, user):
    p = poplib.POP3("127.0.0.1", server.ports["pop3"], timeout=TIMEOUT)
    p.user(user[0])
    with pytest.raises(poplib.error_proto) as e:
        p.pass_("bad")
    assert b"[AUTH]" in e.value.args[0]
    p.quit()


def test_transaction_commands_need_login(server):
    c = server.pop3()
    for cmd in ("STAT", "LIST", "RETR 1", "DELE 1", "UIDL", "TOP 1 0", "RSET"):
        r = c.pop3_cmd(cmd)
        assert r.startswith("-ERR"), f"{cmd} before login: {r}"
    r = c.pop3_cmd("PASS x")   # PASS without USER
    assert r.startswith("-ERR"), r
    c.pop3_quit()


def test_noop_and_bad_arguments(server, user):
    fill(server, user, 1)
    c = server.pop3(*user)
    c.pop3_ok("NOOP")
    for cmd in ("RETR 0", "RETR 2", "RETR -1", "RETR x", "DELE 99", "LIST 4294967297",
                "TOP 1 -1", "RETR"):
        r = c.pop3_cmd(cmd)
        assert r.startswith("-ERR"), f"{cmd}: {r}"
    c.pop3_ok("STAT")
    c.pop3_quit()


def test_lowercase_commands(server, user):
    # RFC 1939 3: keywords are case-insensitive.
    fill(server, user, 1)
    c = server.pop3()
    assert c.pop3_cmd(f"user {user[0]}").startswith("+OK")
    assert c.pop3_cmd(f"pass {user[1]}").startswith("+OK")
    assert c.pop3_cmd("stat").startswith("+OK 1 ")
    c.pop3_cmd("quit")


def test_pipelined_commands(server, user):
    msgs = fill(server, user, 2)
    c = server.pop3()
    c.send(f"USER {user[0]}\r\nPASS {user[1]}\r\nSTAT\r\nRETR 1\r\nRETR 2\r\nNOOP\r\nQUIT\r\n")
    assert c.pop3_status().startswith("+OK")
    assert c.pop3_status().startswith("+OK")
    assert c.pop3_status().startswith("+OK 2 ")
    got = []
    for _ in range(2):
        assert c.pop3_status().startswith("+OK")
        got.append(c.pop3_multi())
    assert [split_trace(g, "pop@example.org") for g in got] == msgs
    assert c.pop3_status().startswith("+OK")
    assert c.pop3_status().startswith("+OK")
    assert c.closed_by_peer()
