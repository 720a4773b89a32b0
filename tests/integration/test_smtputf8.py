# tests/integration/test_smtputf8.py: SMTPUTF8 (RFC 6531, 6532; issue 12
# point 6.2).  UTF-8 addresses only with MAIL's SMTPUTF8 parameter (553/550
# 5.6.7 without it), strict UTF-8, local delivery to UTF-8 mailboxes (the
# ASCII range of an address is case-insensitive, the rest compared as
# octets), the UTF8SMTP* trace protocols of RFC 6531 4.3, and remote
# recipients queued with the SMTPUTF8 flag.  Sent with Python's smtplib
# where it can, raw where it cannot (invalid UTF-8).
import smtplib

import pytest

import helpers
from helpers import Conn, split_trace, received_header
from sasl_client import plain

KINDS = helpers.KINDS + ("submission",)
CONF = """
smtp = { local_domains = [ "localhost", "b\u00fccher.example" ]; };
auth = { failure_delay = 0; failure_delay_max = 0; };
# Queued mail stays queued: the queue runner's DNS server never answers.
dns = { nameservers = [ "127.0.0.1:9" ]; timeout = 200; attempts = 1; };
"""


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    yield from helpers.configured_server(tmp_path_factory, "utf8", CONF, KINDS)


def utf8_user(srv, local, domain="localhost"):
    return srv.add_user(f"{local}{helpers.unique('')[:-len('@localhost')]}@{domain}")


def message(sender, to, subject="Gr\u00fc\u00dfe"):
    # RFC 6532 3: UTF-8 in header fields, unencoded
    return (f"From: <{sender}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n"
            f"Message-ID: <{helpers.unique('m')}>\r\n"
            f"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\n"
            f"K\u00e4se \u00e9t\u00e9 \u4f60\u597d\r\n").encode()


def smtp_client(srv, port_kind="smtp"):
    s = smtplib.SMTP("127.0.0.1", srv.ports[port_kind], timeout=helpers.TIMEOUT)
    s.ehlo("client.example.org")
    return s


def test_ehlo_offers_smtputf8(srv):
    s = smtp_client(srv)
    try:
        assert s.has_extn("smtputf8")
        assert s.has_extn("8bitmime")
    finally:
        s.quit()


def test_utf8_local_part_delivered(srv):
    user, pw = utf8_user(srv, "j\u00f6rg")
    msg = message("\u00e9l\u00e8ve@example.org", user)
    s = smtp_client(srv)
    try:
        refused = s.sendmail("\u00e9l\u00e8ve@example.org", [user], msg,
                             mail_options=["SMTPUTF8", "BODY=8BITMIME"])
        assert refused == {}
    finally:
        s.quit()
    (got,) = srv.retr_all(user, pw)
    assert split_trace(got, "\u00e9l\u00e8ve@example.org") == msg
    assert b"with UTF8SMTP id" in received_header(got)
    assert f"for <{user}>".encode() in received_header(got)


def test_utf8_domain_delivered(srv):
    user, pw = utf8_user(srv, "\u7528\u6237", "b\u00fccher.example")
    msg = message("a@example.org", user)
    s = smtp_client(srv)
    try:
        assert s.sendmail("a@example.org", [user], msg, mail_options=["SMTPUTF8"]) == {}
    finally:
        s.quit()
    (got,) = srv.retr_all(user, pw)
    assert split_trace(got, "a@example.org") == msg


def test_ascii_case_folds_the_rest_does_not(srv):
    user, pw = utf8_user(srv, "j\u00f6rg")
    local, domain = user.split("@")
    with srv.smtp() as c:
        assert c.smtp_cmd("MAIL FROM:<a@example.org> SMTPUTF8".encode()).code == 250
        # upper-case ASCII letters: the same mailbox
        r = c.smtp_cmd(f"RCPT TO:<{local.replace('j', 'J')}@{domain.upper()}>".encode())
        assert r.code == 250, r
        # an upper-case non-ASCII letter is another address (RFC 6531 3.3
        # leaves local parts to the receiver; we fold only ASCII)
        upper = local.replace("\u00f6", "\u00d6")
        r = c.smtp_cmd(f"RCPT TO:<{upper}@{domain}>".encode())
        assert r.code == 550, r
        c.smtp_quit()


@pytest.mark.parametrize("cmd,code", [
    ("MAIL FROM:<j\u00f6rg@example.org>", 550),
    ("MAIL FROM:<j\u00f6rg@example.org> BODY=8BITMIME", 550),
])
def test_utf8_sender_needs_smtputf8(srv, cmd, code):
    with srv.smtp() as c:
        r = c.smtp_cmd(cmd.encode())
        assert (r.code, r.enhanced) == (code, "5.6.7"), r
        c.smtp_quit()


def test_utf8_recipient_needs_smtputf8(srv):
    user, _ = utf8_user(srv, "j\u00f6rg")
    with srv.smtp() as c:
        assert c.smtp_cmd("MAIL FROM:<a@example.org>").code == 250
        r = c.smtp_cmd(f"RCPT TO:<{user}>".encode())
        assert (r.code, r.enhanced) == (553, "5.6.7"), r
        c.smtp_quit()


@pytest.mark.parametrize("bad", [
    b"\xc0\xafx",          # overlong
    b"\xed\xa0\x80x",      # surrogate
    b"\xf4\x90\x80\x80",   # past U+10FFFF
    b"a\xc3",              # truncated
    b"\xff",
    b"\xc2\x85x",          # C1 control
])
def test_invalid_utf8_refused(srv, bad):
    with srv.smtp() as c:
        r = c.smtp_cmd(b"MAIL FROM:<" + bad + b"@example.org> SMTPUTF8")
        assert (r.code, r.enhanced) == (501, "5.1.7"), r
        assert c.smtp_cmd(b"MAIL FROM:<a@example.org> SMTPUTF8").code == 250
        r = c.smtp_cmd(b"RCPT TO:<" + bad + b"@localhost>")
        assert (r.code, r.enhanced) == (501, "5.1.3"), r
        c.smtp_quit()


def test_smtputf8_param_syntax(srv):
    with srv.smtp() as c:
        r = c.smtp_cmd("MAIL FROM:<a@example.org> SMTPUTF8=yes")
        assert r.code == 501, r
        r = c.smtp_cmd("MAIL FROM:<a@example.org> SMTPUTF8 SMTPUTF8")
        assert r.code == 501, r
        c.smtp_quit()


def test_smtputf8_is_per_transaction(srv):
    user, _ = utf8_user(srv, "j\u00f6rg")
    with srv.smtp() as c:
        assert c.smtp_cmd("MAIL FROM:<a@example.org> SMTPUTF8").code == 250
        assert c.smtp_cmd(f"RCPT TO:<{user}>".encode()).code == 250
        assert c.smtp_cmd("RSET").code == 250
        assert c.smtp_cmd("MAIL FROM:<a@example.org>").code == 250
        assert c.smtp_cmd(f"RCPT TO:<{user}>".encode()).code == 553
        c.smtp_quit()


def test_submission_remote_utf8_queued_with_flag(srv):
    user, pw = srv.new_user("sub8")
    c = Conn.connect(srv.ports["submission"])
    try:
        assert c.smtp_reply().code == 220
        assert c.smtp_cmd("EHLO client.example.org").code == 250
        assert c.smtp_cmd("AUTH PLAIN " + plain(user, pw)).code == 235
        to = "\u0434\u0440\u0443\u0433@\u043f\u0440\u0438\u043c\u0435\u0440.example"
        assert c.smtp_cmd(f"MAIL FROM:<{user}> SMTPUTF8".encode()).code == 250
        assert c.smtp_cmd(f"RCPT TO:<{to}>".encode()).code == 250
        assert c.smtp_cmd(f"RCPT TO:<{user}>".encode()).code == 250
        assert c.smtp_cmd("DATA").code == 354
        c.send(message(user, to) + b".\r\n")
        assert c.smtp_reply().code == 250
        # and a plain one, not flagged
        assert c.smtp_cmd(f"MAIL FROM:<{user}>").code == 250
        assert c.smtp_cmd("RCPT TO:<plain@remote.example>").code == 250
        assert c.smtp_cmd("DATA").code == 354
        c.send(message(user, "plain@remote.example") + b".\r\n")
        assert c.smtp_reply().code == 250
        c.smtp_quit()
    finally:
        c.close()
    r = srv.cli("queue", "list")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    utf8_entry = [i for i, l in enumerate(lines) if f"to=<{to}>" in l]
    plain_entry = [i for i, l in enumerate(lines) if "to=<plain@remote.example>" in l]
    assert utf8_entry and plain_entry, r.stdout
    assert " smtputf8" in lines[utf8_entry[0] - 1]
    assert " smtputf8" not in lines[plain_entry[0] - 1]
    # Nothing came back: the UTF-8 domain was looked up by its A-labels
    # (no answer here, so it waits), not refused as a bad name.
    got_all = srv.retr_all(user, pw)
    assert len(got_all) == 1, [l for l in srv.stderr().splitlines() if "queue id" in l]
    (got,) = got_all
    assert b"with UTF8SMTPA id" in received_header(got)


def test_bdat_with_smtputf8(srv):
    user, pw = utf8_user(srv, "\u00fc")
    msg = message("a@example.org", user)
    with srv.smtp() as c:
        assert c.smtp_cmd("STARTTLS").code == 220
        c.starttls()
        assert c.smtp_cmd("EHLO client.example.org").code == 250
        assert c.smtp_cmd("MAIL FROM:<a@example.org> SMTPUTF8").code == 250
        assert c.smtp_cmd(f"RCPT TO:<{user}>".encode()).code == 250
        c.send(b"BDAT %d LAST\r\n" % len(msg) + msg)
        assert c.smtp_reply().code == 250
        c.smtp_quit()
    (got,) = srv.retr_all(user, pw)
    assert split_trace(got, "a@example.org") == msg
    assert b"with UTF8SMTPS id" in received_header(got)
