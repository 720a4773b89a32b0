# tests/integration/test_sandbox.py: `postino serve --sandbox` for test
# harnesses: any recipient at any domain gets a mailbox on first delivery,
# any password logs in, and a never-mailed user sees an empty maildrop.
import smtplib

from helpers import TIMEOUT, make_message, split_trace, unique


def test_sandbox_warning_logged(sandbox_server):
    assert "SANDBOX" in sandbox_server.stderr().upper()


def test_any_recipient_any_domain(sandbox_server):
    srv = sandbox_server
    rcpts = [unique("sb", "example.com"), unique("sb", "localhost"), unique("sb", "mail.test")]
    msg = make_message("sandbox")
    with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=TIMEOUT) as s:
        assert s.sendmail("from@example.net", rcpts, msg) == {}
    for i, r in enumerate(rcpts):
        got = srv.retr_all(r, f"any password {i}")
        assert len(got) == 1, r
        assert split_trace(got[0], "from@example.net") == msg


def test_any_password_never_mailed_user(sandbox_server):
    srv = sandbox_server
    c = srv.pop3(unique("empty", "nowhere.example"), "whatever")
    assert c.pop3_stat() == (0, 0)
    assert c.pop3_list() == {}
    c.pop3_quit()


def test_sandbox_still_checks_syntax_and_sequence(sandbox_server):
    c = sandbox_server.smtp()
    r = c.smtp_cmd("RCPT TO:<a@example.com>")
    assert (r.code, r.enhanced) == (503, "5.5.1"), r
    assert c.smtp_cmd("MAIL FROM:<a@example.org>").code == 250
    r = c.smtp_cmd("RCPT TO:<no-at-sign>")
    assert r.code == 501 or r.code == 553, r
    c.smtp_quit()


def test_sandbox_in_use_still_applies(sandbox_server):
    srv = sandbox_server
    addr = unique("lock", "example.com")
    a = srv.pop3(addr, "x")
    b = srv.pop3()
    b.pop3_cmd(f"USER {addr}")
    r = b.pop3_cmd("PASS y")
    assert r.startswith("-ERR [IN-USE]"), r
    b.close()
    a.pop3_quit()


def test_rcpt_limit(sandbox_server):
    # RFC 5321 4.5.3.1.8: 100 recipients accepted (the configured maximum),
    # the 101st gets 452 4.5.3 and the transaction goes on with the 100.
    srv = sandbox_server
    rcpts = [unique("lim", "example.com") for _ in range(101)]
    c = srv.smtp()
    assert c.smtp_cmd("MAIL FROM:<many@example.org>").code == 250
    c.send("".join(f"RCPT TO:<{r}>\r\n" for r in rcpts).encode())
    replies = [c.smtp_reply() for _ in rcpts]
    bad = [(i, r) for i, r in enumerate(replies[:100]) if r.code != 250]
    assert not bad, bad[:3]
    assert (replies[100].code, replies[100].enhanced) == (452, "4.5.3"), replies[100]
    assert c.smtp_cmd("DATA").code == 354
    msg = make_message("to a hundred")
    c.send(msg + b".\r\n")
    assert c.smtp_reply().code == 250
    c.smtp_quit()
    for r in (rcpts[0], rcpts[99]):
        (got,) = srv.retr_all(r, "pw")
        assert split_trace(got, "many@example.org") == msg
    assert srv.retr_all(rcpts[100], "pw") == []


def test_sandbox_stats_and_users(sandbox_server):
    srv = sandbox_server
    addr = unique("seen", "example.com")
    srv.deliver("a@example.org", [addr], make_message())
    r = srv.cli("mailbox", "list", addr)
    assert r.returncode == 0, r.stderr
    assert "messages=1" in r.stdout, r.stdout


def test_bare_name_is_name_at_hostname(make_server):
    # Issue 10.8b: in sandbox mode a login without "@" is name@hostname, the
    # same mailbox SMTP delivers to, in SMTP AUTH, POP3 and IMAP alike.
    from helpers import IMAP_KINDS, imap_connect
    from sasl_client import plain
    srv = make_server(sandbox=True, kinds=IMAP_KINDS).start()
    name = unique("bare").split("@")[0]
    msg = make_message("to the bare name")
    srv.deliver("from@example.net", [f"{name}@localhost"], msg)
    # POP3 USER/PASS
    (got,) = srv.retr_all(name, "whatever")
    assert split_trace(got, "from@example.net") == msg
    # IMAP LOGIN, and AUTHENTICATE PLAIN with SASL-IR
    for auth in (None, "plain"):
        c = imap_connect(srv)
        if auth:
            r = c.cmd(f"AUTHENTICATE PLAIN {plain(name, 'any')}")
            assert r.status == "OK", r
        else:
            c.login(name, "any other")
        r = c.select("INBOX")
        assert r.numbered("EXISTS") == [(1, b"")], r
        c.cmd("LOGOUT")
        c.close()
    # SMTP AUTH: the session's user is name@localhost, so that is the
    # sender it may use, and mail to it lands in the same mailbox.
    s = srv.smtp()
    r = s.smtp_cmd(f"AUTH PLAIN {plain(name, 'x')}")
    assert r.code == 235, r
    assert s.smtp_cmd(f"MAIL FROM:<{name}@localhost>").code == 250
    assert s.smtp_cmd(f"RCPT TO:<{name}@localhost>").code == 250
    assert s.smtp_cmd("DATA").code == 354
    s.send(make_message("second") + b".\r\n")
    assert s.smtp_reply().code == 250
    s.smtp_quit()
    assert len(srv.retr_all(f"{name}@LOCALHOST", "x")) == 2
    assert f"auth ok user={name}@localhost sandbox=yes" in srv.stderr()
    # a name that is no RFC 5321 local part is still refused
    p = srv.pop3()
    assert p.pop3_cmd("USER a..b").startswith("+OK")
    assert p.pop3_cmd("PASS x").startswith("-ERR")
    p.close()
