# tests/integration/test_sasl.py: SASL in all three protocols (issue 4,
# point 2): PLAIN and LOGIN and SCRAM-SHA-256 in SMTP AUTH (RFC 4954), POP3
# AUTH (RFC 5034) and IMAP AUTHENTICATE with SASL-IR (RFC 9051 6.2.2, RFC
# 4959); cancel, bad base64, wrong credentials, another authzid; and the
# plaintext policy: PLAIN, LOGIN, USER/PASS and IMAP LOGIN refused before
# TLS (538 5.7.11, -ERR [AUTH], LOGINDISABLED) where the config says so.
import imaplib
import poplib
import smtplib
import subprocess

import pytest

import helpers
from helpers import TIMEOUT, Conn, ImapConn, imap_connect, make_message, quote
from sasl_client import Scram, b64, plain, unb64

# Users here fail on purpose; the failure delay is the abuse tests' subject.
FAST_FAIL = """
auth = { failure_delay = 0; failure_delay_max = 0; };
"""
TLS_ONLY = """
auth = { plaintext = "tls"; failure_delay = 0; failure_delay_max = 0; };
"""


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    yield from helpers.configured_server(tmp_path_factory, "sasl", FAST_FAIL, helpers.IMAP_KINDS)


@pytest.fixture
def acct(srv):
    return srv.new_user("sasl")


def ehlo_auth_line(c):
    r = c.smtp_cmd("EHLO client.example.org")
    assert r.code == 250, r
    auth = [l for l in r.lines if l.startswith("AUTH ")]
    assert len(auth) == 1, r
    return auth[0].split()[1:]


# ---- SMTP AUTH (RFC 4954) -------------------------------------------------

def test_smtp_ehlo_lists_mechanisms_on_loopback(srv):
    with Conn.connect(srv.ports["smtp"]) as c:
        c.smtp_reply()
        assert ehlo_auth_line(c) == ["PLAIN", "LOGIN", "SCRAM-SHA-256"]


def test_smtp_plain_initial_response(srv, acct):
    with srv.smtp() as c:
        r = c.smtp_cmd("AUTH PLAIN " + plain(*acct))
        assert (r.code, r.enhanced) == (235, "2.7.0"), r
        # RFC 4954 4: no second AUTH once authenticated.
        r = c.smtp_cmd("AUTH PLAIN " + plain(*acct))
        assert r.code == 503, r


def test_smtp_plain_without_initial_response(srv, acct):
    with srv.smtp() as c:
        r = c.smtp_cmd("AUTH PLAIN")
        assert r.code == 334 and r.lines == [""], r
        r = c.smtp_cmd(plain(*acct))
        assert r.code == 235, r


def test_smtp_plain_empty_initial_response_is_equals(srv, acct):
    # RFC 4954 4: "=" is an empty initial response; PLAIN cannot be empty.
    with srv.smtp() as c:
        r = c.smtp_cmd("AUTH PLAIN =")
        assert r.code == 501, r
        r = c.smtp_cmd("NOOP")
        assert r.code == 250, r


def test_smtp_login_mechanism(srv, acct):
    with srv.smtp() as c:
        r = c.smtp_cmd("AUTH LOGIN")
        assert r.code == 334 and unb64(r.lines[0]) == b"Username:", r
        r = c.smtp_cmd(b64(acct[0]))
        assert r.code == 334 and unb64(r.lines[0]) == b"Password:", r
        r = c.smtp_cmd(b64(acct[1]))
        assert r.code == 235, r


def test_smtp_login_with_initial_username(srv, acct):
    with srv.smtp() as c:
        r = c.smtp_cmd("AUTH LOGIN " + b64(acct[0]))
        assert r.code == 334 and unb64(r.lines[0]) == b"Password:", r
        r = c.smtp_cmd(b64(acct[1]))
        assert r.code == 235, r


def smtp_scram(c, user, password, proof_ok=True):
    sc = Scram(user, password)
    r = c.smtp_cmd("AUTH SCRAM-SHA-256 " + sc.first())
    assert r.code == 334, r
    r = c.smtp_cmd(sc.final(r.lines[0], proof_ok=proof_ok))
    if r.code != 334:
        return r
    assert sc.check_server_final(r.lines[0]), f"bad server signature: {r}"
    return c.smtp_cmd("")


def test_smtp_scram_sha_256(srv, acct):
    with srv.smtp() as c:
        r = smtp_scram(c, *acct)
        assert (r.code, r.enhanced) == (235, "2.7.0"), r


def test_smtp_scram_wrong_password(srv, acct):
    with srv.smtp() as c:
        r = smtp_scram(c, acct[0], "not-the-password")
        # The proof fails on the server; its v= never comes.
        assert (r.code, r.enhanced) == (535, "5.7.8"), r


def test_smtp_scram_bad_proof(srv, acct):
    with srv.smtp() as c:
        r = smtp_scram(c, *acct, proof_ok=False)
        assert (r.code, r.enhanced) == (535, "5.7.8"), r


def test_smtp_scram_unknown_user_looks_the_same(srv):
    with srv.smtp() as c:
        sc = Scram("nobody-here@localhost", "x")
        r = c.smtp_cmd("AUTH SCRAM-SHA-256 " + sc.first())
        assert r.code == 334, r   # a salt and iteration count as for anybody
        r = c.smtp_cmd(sc.final(r.lines[0]))
        assert (r.code, r.enhanced) == (535, "5.7.8"), r


def test_smtp_wrong_password(srv, acct):
    with srv.smtp() as c:
        r = c.smtp_cmd("AUTH PLAIN " + plain(acct[0], "wrong"))
        assert (r.code, r.enhanced) == (535, "5.7.8"), r
        r = c.smtp_cmd("AUTH PLAIN " + plain(*acct))
        assert r.code == 235, r


def test_smtp_cancel_bad_base64_unknown_mechanism(srv, acct):
    with srv.smtp() as c:
        r = c.smtp_cmd("AUTH LOGIN")
        assert r.code == 334
        r = c.smtp_cmd("*")
        assert (r.code, r.enhanced) == (501, "5.0.0"), r
        r = c.smtp_cmd("AUTH PLAIN")
        assert r.code == 334
        r = c.smtp_cmd("!!!not base64!!!")
        assert r.code == 501, r
        r = c.smtp_cmd("AUTH CRAM-MD5")
        assert (r.code, r.enhanced) == (504, "5.5.4"), r
        r = c.smtp_cmd("AUTH")
        assert r.code == 501, r
        r = c.smtp_cmd("AUTH PLAIN " + plain(*acct))
        assert r.code == 235, r


def test_smtp_auth_needs_ehlo_and_no_transaction(srv, acct):
    with Conn.connect(srv.ports["smtp"]) as c:
        c.smtp_reply()
        r = c.smtp_cmd("AUTH PLAIN " + plain(*acct))
        assert r.code == 503, r
        r = c.smtp_cmd("HELO client.example.org")
        assert r.code == 250
        r = c.smtp_cmd("AUTH PLAIN " + plain(*acct))
        assert r.code == 503, r     # AUTH is an EHLO extension
        c.smtp_cmd("EHLO client.example.org")
        r = c.smtp_cmd("MAIL FROM:<x@example.org>")
        assert r.code == 250
        r = c.smtp_cmd("AUTH PLAIN " + plain(*acct))
        assert r.code == 503, r     # RFC 4954 4: not inside a transaction


def test_smtp_authzid_of_another_user_refused(srv, acct):
    other, _ = srv.new_user("other")
    with srv.smtp() as c:
        r = c.smtp_cmd("AUTH PLAIN " + plain(*acct, authzid=other))
        assert r.code == 535, r
        r = c.smtp_cmd("AUTH PLAIN " + plain(*acct, authzid=acct[0]))
        assert r.code == 235, r


def test_smtplib_login(srv, acct):
    with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=TIMEOUT) as s:
        s.ehlo("client.example.org")
        assert s.has_extn("auth")
        code, _ = s.login(*acct)
        assert code == 235


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_swaks_auth(srv, acct, mech):
    r = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(srv.ports["smtp"]),
                        "--ehlo", "client.example.org", "--from", acct[0], "--to", acct[0],
                        "--auth", mech, "--auth-user", acct[0], "--auth-password", acct[1],
                        "--timeout", str(int(TIMEOUT))],
                       capture_output=True, text=True, timeout=TIMEOUT * 3)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "235 2.7.0" in r.stdout


def test_swaks_auth_wrong_password(srv, acct):
    r = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(srv.ports["smtp"]),
                        "--from", acct[0], "--to", acct[0], "--auth", "PLAIN",
                        "--auth-user", acct[0], "--auth-password", "wrong",
                        "--timeout", str(int(TIMEOUT))],
                       capture_output=True, text=True, timeout=TIMEOUT * 3)
    assert r.returncode != 0
    assert "535 5.7.8" in r.stdout


def test_smtp_auth_line_too_long(srv, acct):
    with srv.smtp() as c:
        r = c.smtp_cmd("AUTH PLAIN")
        assert r.code == 334
        r = c.smtp_cmd("A" * 20000)
        assert (r.code, r.enhanced) == (500, "5.5.6"), r
        r = c.smtp_cmd("NOOP")
        assert r.code == 250


# ---- POP3 AUTH (RFC 5034) -------------------------------------------------

def pop3_capa(c):
    assert c.pop3_cmd("CAPA").startswith("+OK")
    return c.pop3_multi().decode().split("\r\n")


def test_pop3_capa_sasl(srv):
    with srv.pop3() as c:
        capa = pop3_capa(c)
        assert "SASL PLAIN LOGIN SCRAM-SHA-256" in capa
        assert "USER" in capa


def test_pop3_auth_plain_initial_response(srv, acct):
    with srv.pop3() as c:
        r = c.pop3_cmd("AUTH PLAIN " + plain(*acct))
        assert r.startswith("+OK"), r
        assert c.pop3_cmd("STAT").startswith("+OK 0 0")


def test_pop3_auth_plain_continuation_and_login(srv, acct):
    with srv.pop3() as c:
        assert c.pop3_cmd("AUTH PLAIN") == "+ "
        assert c.pop3_cmd(plain(*acct)).startswith("+OK")
        # QUIT gives the maildrop back before its +OK; a bare close would
        # leave it locked until the server sees the EOF, and the next
        # login (on another loop) could meet [IN-USE] first (RFC 1939 8).
        assert c.pop3_cmd("QUIT").startswith("+OK")
    with srv.pop3() as c:
        r = c.pop3_cmd("AUTH LOGIN")
        assert r.startswith("+ ") and unb64(r[2:]) == b"Username:"
        r = c.pop3_cmd(b64(acct[0]))
        assert unb64(r[2:]) == b"Password:"
        assert c.pop3_cmd(b64(acct[1])).startswith("+OK")


def test_pop3_auth_scram(srv, acct):
    with srv.pop3() as c:
        sc = Scram(*acct)
        r = c.pop3_cmd("AUTH SCRAM-SHA-256 " + sc.first())
        assert r.startswith("+ "), r
        r = c.pop3_cmd(sc.final(r[2:]))
        assert r.startswith("+ ") and sc.check_server_final(r[2:]), r
        assert c.pop3_cmd("").startswith("+OK")


def test_pop3_auth_failures(srv, acct):
    with srv.pop3() as c:
        assert c.pop3_cmd("AUTH PLAIN " + plain(acct[0], "bad")) == "-ERR [AUTH] Authentication failed"
        assert c.pop3_cmd("AUTH PLAIN") == "+ "
        assert c.pop3_cmd("*").startswith("-ERR")
        assert c.pop3_cmd("AUTH PLAIN ***").startswith("-ERR")
        assert c.pop3_cmd("AUTH KERBEROS_V4").startswith("-ERR")
        other, _ = srv.new_user("other")
        assert c.pop3_cmd("AUTH PLAIN " + plain(*acct, authzid=other)).startswith("-ERR [AUTH]")
        # still in AUTHORIZATION, and a good login works
        assert c.pop3_cmd("AUTH PLAIN " + plain(*acct)).startswith("+OK")


def test_pop3_auth_listing(srv):
    with srv.pop3() as c:
        assert c.pop3_cmd("AUTH").startswith("+OK")
        assert c.pop3_multi().decode().splitlines() == ["PLAIN", "LOGIN", "SCRAM-SHA-256"]


def test_poplib_auth_plain(srv, acct):
    p = poplib.POP3("127.0.0.1", srv.ports["pop3"], timeout=TIMEOUT)
    try:
        assert "SASL" in p.capa()
        resp = p._shortcmd("AUTH PLAIN " + plain(*acct))
        assert resp.startswith(b"+OK")
        assert p.stat() == (0, 0)
    finally:
        p.quit()


# ---- IMAP AUTHENTICATE (RFC 9051 6.2.2, RFC 4959) ------------------------

def test_imap_capability_mechanisms(srv):
    c = imap_connect(srv)
    try:
        caps = c.ok("CAPABILITY").data("CAPABILITY")[0].decode().split()
        for m in ("AUTH=PLAIN", "AUTH=LOGIN", "AUTH=SCRAM-SHA-256", "SASL-IR"):
            assert m in caps
        assert "LOGINDISABLED" not in caps
    finally:
        c.close()


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN", "SCRAM-SHA-256"])
def test_imaplib_authenticate(srv, acct, mech):
    m = imaplib.IMAP4("127.0.0.1", srv.ports["imap"], timeout=TIMEOUT)
    try:
        if mech == "PLAIN":
            cb = lambda _: f"\0{acct[0]}\0{acct[1]}".encode()
        elif mech == "LOGIN":
            answers = iter([acct[0].encode(), acct[1].encode()])
            cb = lambda _: next(answers)
        else:
            sc = Scram(*acct)
            state = {"n": 0}

            def cb(challenge):
                state["n"] += 1
                if state["n"] == 1:
                    return unb64(sc.first())
                if state["n"] == 2:
                    return unb64(sc.final(b64(challenge)))
                assert sc.check_server_final(b64(challenge))
                return b""
        typ, _ = m.authenticate(mech, cb)
        assert typ == "OK"
        typ, data = m.select("INBOX")
        assert typ == "OK"
    finally:
        m.logout()


def test_imap_authenticate_sasl_ir_and_failures(srv, acct):
    c = imap_connect(srv)
    try:
        r = c.cmd("AUTHENTICATE PLAIN " + plain(acct[0], "wrong"))
        assert (r.status, r.code) == ("NO", "AUTHENTICATIONFAILED"), r
        other, _ = srv.new_user("other")
        r = c.cmd("AUTHENTICATE PLAIN " + plain(*acct, authzid=other))
        assert (r.status, r.code) == ("NO", "AUTHORIZATIONFAILED"), r
        r = c.cmd("AUTHENTICATE X-UNKNOWN")
        assert r.status == "NO", r
        tag = c.next_tag()
        c.send(f"{tag} AUTHENTICATE PLAIN\r\n")
        assert c.read_response() == b"+ "
        c.send("*\r\n")
        r = c.read_tagged(tag)
        assert r.status == "BAD", r
        tag = c.next_tag()
        c.send(f"{tag} AUTHENTICATE SCRAM-SHA-256\r\n")
        assert c.read_response() == b"+ "
        c.send("%%%\r\n")
        r = c.read_tagged(tag)
        assert r.status == "BAD", r
        r = c.cmd("AUTHENTICATE PLAIN " + plain(*acct))
        assert r.status == "OK" and r.code.startswith("CAPABILITY"), r
    finally:
        c.close()


def test_imap_scram_raw(srv, acct):
    c = imap_connect(srv)
    try:
        sc = Scram(*acct)
        tag = c.next_tag()
        c.send(f"{tag} AUTHENTICATE SCRAM-SHA-256 {sc.first()}\r\n")
        ch = c.read_response()
        assert ch.startswith(b"+ ")
        c.send(sc.final(ch[2:].decode()) + "\r\n")
        ch = c.read_response()
        assert ch.startswith(b"+ ") and sc.check_server_final(ch[2:].decode())
        c.send("\r\n")
        r = c.read_tagged(tag)
        assert r.status == "OK", r
    finally:
        c.close()


# ---- plaintext only over TLS (auth.plaintext = "tls") ---------------------

@pytest.fixture(scope="module")
def tls_only(tmp_path_factory):
    yield from helpers.configured_server(tmp_path_factory, "tlsonly", TLS_ONLY, helpers.IMAP_KINDS)


def test_smtp_plaintext_refused_before_tls(tls_only):
    acct = tls_only.new_user("plain")
    with Conn.connect(tls_only.ports["smtp"]) as c:
        c.smtp_reply()
        assert ehlo_auth_line(c) == ["SCRAM-SHA-256"]
        for mech in ("PLAIN " + plain(*acct), "LOGIN"):
            r = c.smtp_cmd("AUTH " + mech)
            assert (r.code, r.enhanced) == (538, "5.7.11"), r
        # SCRAM never shows the password: allowed in the clear
        r = smtp_scram(c, *acct)
        assert r.code == 235, r
    with Conn.connect(tls_only.ports["smtp"]) as c:
        c.smtp_reply()
        c.smtp_cmd("EHLO client.example.org")
        assert c.smtp_cmd("STARTTLS").code == 220
        c.starttls()
        assert ehlo_auth_line(c) == ["PLAIN", "LOGIN", "SCRAM-SHA-256"]
        r = c.smtp_cmd("AUTH PLAIN " + plain(*acct))
        assert r.code == 235, r


def test_pop3_plaintext_refused_before_tls(tls_only):
    acct = tls_only.new_user("plain")
    with tls_only.pop3() as c:
        capa = pop3_capa(c)
        assert "USER" not in capa and "SASL SCRAM-SHA-256" in capa and "STLS" in capa
        assert c.pop3_cmd(f"USER {acct[0]}").startswith("-ERR [AUTH]")
        assert c.pop3_cmd(f"PASS {acct[1]}").startswith("-ERR [AUTH]")
        assert c.pop3_cmd("AUTH PLAIN " + plain(*acct)).startswith("-ERR [AUTH]")
        assert c.pop3_cmd("STLS").startswith("+OK")
        c.starttls()
        capa = pop3_capa(c)
        assert "USER" in capa and "SASL PLAIN LOGIN SCRAM-SHA-256" in capa
        c.pop3_login(*acct)
    with tls_only.pop3(tls=True) as c:
        c.pop3_login(*acct)


def test_imap_logindisabled_before_tls(tls_only):
    acct = tls_only.new_user("plain")
    c = imap_connect(tls_only)
    try:
        caps = c.ok("CAPABILITY").data("CAPABILITY")[0].decode().split()
        assert "LOGINDISABLED" in caps and "STARTTLS" in caps
        assert "AUTH=SCRAM-SHA-256" in caps and "AUTH=PLAIN" not in caps
        r = c.cmd(f"LOGIN {quote(acct[0])} {quote(acct[1])}")
        assert (r.status, r.code) == ("NO", "PRIVACYREQUIRED"), r
        r = c.cmd("AUTHENTICATE PLAIN " + plain(*acct))
        assert (r.status, r.code) == ("NO", "PRIVACYREQUIRED"), r
        c.ok("STARTTLS")
        c.starttls()
        caps = c.ok("CAPABILITY").data("CAPABILITY")[0].decode().split()
        assert "LOGINDISABLED" not in caps and "STARTTLS" not in caps and "AUTH=PLAIN" in caps
        c.login(*acct)
    finally:
        c.close()
    c = imap_connect(tls_only, *acct, tls=True)
    c.close()
