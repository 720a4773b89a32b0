# tests/integration/test_imap_basic.py: IMAP any-state and not-authenticated
# commands (RFC 9051 6.1, 6.2, RFC 3501 6.1, 6.2): greeting, CAPABILITY,
# NOOP, LOGOUT, LOGIN, AUTHENTICATE PLAIN (RFC 4616, SASL-IR RFC 4959),
# STARTTLS, ENABLE (RFC 5161), ID (RFC 2971), NAMESPACE (RFC 2342), and
# commands in the wrong state.
import base64
import imaplib
import re
import ssl

import pytest

from helpers import (ImapConn, client_ctx, imap_connect, imaplib_connect, quote)

# The capability list of docs/imap.md (team plan), after login.
AUTH_CAPS = {"IMAP4REV1", "IMAP4REV2", "LITERAL+", "ID", "ENABLE", "IDLE", "NAMESPACE",
             "UNSELECT", "UIDPLUS", "MOVE", "CHILDREN", "LIST-EXTENDED", "LIST-STATUS",
             "SPECIAL-USE", "ESEARCH", "SEARCHRES", "CONDSTORE", "QRESYNC", "BINARY", "MULTIAPPEND",
             "APPENDLIMIT=67108864", "STATUS=SIZE", "UTF8=ACCEPT"}
PREAUTH_CAPS = {"IMAP4REV1", "IMAP4REV2", "SASL-IR", "AUTH=PLAIN", "LITERAL+"}


def caps_of(resp):
    (data,) = resp.data("CAPABILITY")
    words = data.decode().split()
    assert len(words) == len(set(w.upper() for w in words)), f"duplicate capability: {words}"
    return {w.upper() for w in words}


def plain(user, pw, authz=""):
    return base64.b64encode(f"{authz}\0{user}\0{pw}".encode()).decode()


def test_greeting_and_capability_before_login(imap_server):
    c = imap_connect(imap_server)
    assert re.match(rb"\* OK( \[CAPABILITY [^\]]+\])? \S", c.greeting), c.greeting
    r = c.ok("CAPABILITY")
    caps = caps_of(r)
    assert PREAUTH_CAPS <= caps, f"missing {PREAUTH_CAPS - caps}"
    assert "STARTTLS" in caps
    m = re.match(rb"\* OK \[CAPABILITY ([^\]]+)\]", c.greeting)
    if m:   # RFC 9051 7.1: the greeting's capability code is the same list
        assert {w.upper() for w in m.group(1).decode().split()} == caps
    c.logout()


def test_capability_after_login(imap_server, imap_user):
    c = imap_connect(imap_server)
    r = c.login(*imap_user)
    caps = caps_of(c.ok("CAPABILITY"))
    assert AUTH_CAPS <= caps, f"missing {AUTH_CAPS - caps}"
    assert "LOGINDISABLED" not in caps
    if r.code.upper().startswith("CAPABILITY "):
        assert {w.upper() for w in r.code.split()[1:]} == caps
    c.logout()


def test_noop_and_unknown_command(imap):
    r = imap.cmd("NOOP")
    assert r.status == "OK" and r.untagged == [], r
    r = imap.cmd("FROBNICATE now")
    assert r.status == "BAD", r
    assert imap.cmd("NOOP").status == "OK"


def test_logout_sends_bye_then_ok(imap_server):
    c = imap_connect(imap_server)
    c.send(b"a1 LOGOUT\r\n")
    first = c.read_response()
    assert first.startswith(b"* BYE "), first
    tagged = c.read_response()
    assert tagged.startswith(b"a1 OK"), tagged
    assert c.closed_by_peer()
    c.close()


def test_login_ok_and_bad(imap_server, imap_user):
    c = imap_connect(imap_server)
    r = c.cmd(f"LOGIN {quote(imap_user[0])} {quote(imap_user[1] + 'x')}")
    assert r.status == "NO" and r.code == "AUTHENTICATIONFAILED", r
    r = c.cmd(f"LOGIN {quote('nobody-' + imap_user[0])} {quote(imap_user[1])}")
    assert r.status == "NO" and r.code == "AUTHENTICATIONFAILED", r
    # Still not authenticated: SELECT is refused.
    r = c.cmd("SELECT INBOX")
    assert r.status == "BAD" and r.code == "CLIENTBUG", r
    c.login(*imap_user)
    # Authenticated: LOGIN again is a wrong-state command.
    r = c.cmd(f"LOGIN {quote(imap_user[0])} {quote(imap_user[1])}")
    assert r.status == "BAD" and r.code == "CLIENTBUG", r
    c.select("INBOX")
    c.logout()


def test_login_literal_password(imap_server, imap_user):
    c = imap_connect(imap_server)
    r = c.cmd_sync([f"LOGIN {quote(imap_user[0])} ", imap_user[1].encode(), ""])
    assert r.status == "OK", r
    assert len(r.conts) == 1
    c.logout()


def test_login_missing_argument(imap_server):
    c = imap_connect(imap_server)
    assert c.cmd("LOGIN onlyuser").status == "BAD"
    assert c.cmd("LOGIN").status == "BAD"
    assert c.cmd("NOOP").status == "OK"
    c.logout()


def test_authenticate_plain_sasl_ir(imap_server, imap_user):
    c = imap_connect(imap_server)
    r = c.cmd(f"AUTHENTICATE PLAIN {plain(*imap_user)}")
    assert r.status == "OK" and r.conts == [], r
    c.select("INBOX")
    c.logout()


def test_authenticate_plain_continuation(imap_server, imap_user):
    c = imap_connect(imap_server)
    c.send(b"a1 AUTHENTICATE PLAIN\r\n")
    cont = c.read_response()
    # RFC 9051 6.2.2 / 7.5: an empty challenge is "+ " (or "+").
    assert cont in (b"+ ", b"+"), cont
    c.send(plain(*imap_user).encode() + b"\r\n")
    r = c.read_tagged("a1")
    assert r.status == "OK", r
    c.select("INBOX")
    c.logout()


def test_authenticate_cancel_and_failure(imap_server, imap_user):
    c = imap_connect(imap_server)
    c.send(b"a1 AUTHENTICATE PLAIN\r\n")
    assert c.read_response().startswith(b"+")
    c.send(b"*\r\n")
    r = c.read_tagged("a1")
    assert r.status == "BAD", r     # RFC 9051 6.2.2: cancelled -> BAD
    r = c.cmd(f"AUTHENTICATE PLAIN {plain(imap_user[0], 'wrong')}")
    assert r.status == "NO" and r.code == "AUTHENTICATIONFAILED", r
    r = c.cmd("AUTHENTICATE PLAIN !!!notbase64")
    assert r.status in ("BAD", "NO"), r
    r = c.cmd(f"AUTHENTICATE PLAIN {plain(*imap_user, authz='other@localhost')}")
    assert r.status == "NO", r      # authorization identity of someone else
    r = c.cmd("AUTHENTICATE X-UNKNOWN-MECH")
    assert r.status == "NO", r
    r = c.cmd("SELECT INBOX")
    assert r.status in ("BAD", "NO"), r
    c.login(*imap_user)
    c.logout()


def test_enable(imap):
    r = imap.ok("ENABLE CONDSTORE")
    assert r.data("ENABLED") == [b"CONDSTORE"], r
    # RFC 5161 3.1: only newly enabled extensions are listed; unknown ones never.
    r = imap.ok("ENABLE CONDSTORE X-NO-SUCH-THING")
    (d,) = r.data("ENABLED")
    assert d.split() in ([], [b"CONDSTORE"]), r     # "SHOULD only contain newly enabled"
    r = imap.ok("ENABLE UTF8=ACCEPT")
    assert r.data("ENABLED") == [b"UTF8=ACCEPT"], r
    assert imap.cmd("ENABLE").status == "BAD"


def test_enable_before_login_refused(imap_server):
    c = imap_connect(imap_server)
    r = c.cmd("ENABLE CONDSTORE")
    assert r.status in ("BAD", "NO"), r
    assert r.data("ENABLED") == []
    c.logout()


def test_id(imap_server):
    c = imap_connect(imap_server)
    r = c.ok('ID ("name" "pytest" "version" "1.0")')
    (data,) = r.data("ID")
    assert data == b"NIL" or data.startswith(b"("), r
    r = c.ok("ID NIL")
    assert len(r.data("ID")) == 1
    assert c.cmd("ID (\"name\")").status == "BAD"   # odd number of strings
    c.logout()


def test_namespace(imap):
    r = imap.ok("NAMESPACE")
    assert r.data("NAMESPACE") == [b'(("" "/")) NIL NIL'], r


def test_starttls_then_capabilities(imap_server, imap_user):
    c = imap_connect(imap_server)
    r = c.ok("STARTTLS")
    c.starttls()
    caps = caps_of(c.ok("CAPABILITY"))
    assert "STARTTLS" not in caps
    assert PREAUTH_CAPS <= caps
    r = c.cmd("STARTTLS")
    assert r.status in ("BAD", "NO"), r
    c.login(*imap_user)
    c.select("INBOX")
    c.logout()


def test_starttls_pipelined_command_discarded(imap_server):
    c = imap_connect(imap_server)
    # As CVE-2011-0411 for SMTP: a command after STARTTLS in the same write
    # must not run after the handshake.
    c.send(b"a1 STARTTLS\r\na2 NOOP\r\n")
    r = c.read_tagged("a1")
    assert r.status == "OK", r
    # Nothing may follow the OK in plaintext: a2 is dropped, or the server
    # hangs up on the injection; it must never be answered.
    try:
        c.starttls()
        r = c.cmd("NOOP", tag="a3")
    except (ConnectionError, ssl.SSLError, OSError):
        return
    assert r.status == "OK", r
    assert not any(b"a2" in u for u in r.untagged)
    assert c.silence(0.3) == b""
    c.logout()


def test_imaps_implicit_tls(imap_server, imap_user):
    c = imap_connect(imap_server, tls=True)
    assert c.sock.version() in ("TLSv1.2", "TLSv1.3")
    caps = caps_of(c.ok("CAPABILITY"))
    assert "STARTTLS" not in caps
    c.login(*imap_user)
    c.select("INBOX")
    c.logout()


def test_imaplib_plain_and_ssl(imap_server, imap_user):
    m = imaplib_connect(imap_server)
    assert "IMAP4REV1" in m.capabilities
    typ, data = m.login(*imap_user)
    assert typ == "OK"
    typ, data = m.select("INBOX")
    assert typ == "OK" and data == [b"0"], data
    typ, data = m.noop()
    assert typ == "OK"
    typ, _ = m.logout()
    assert typ == "BYE"
    m = imaplib_connect(imap_server, tls=True)
    typ, _ = m.login(*imap_user)
    assert typ == "OK"
    m.logout()
    m = imaplib_connect(imap_server)
    typ, _ = m.starttls(ssl_context=client_ctx())
    assert typ == "OK"
    typ, _ = m.authenticate("PLAIN", lambda _: f"\0{imap_user[0]}\0{imap_user[1]}".encode())
    assert typ == "OK"
    m.logout()
    m = imaplib_connect(imap_server)
    with pytest.raises(imaplib.IMAP4.error):
        m.login(imap_user[0], "not-the-password")
    m.logout()


def test_selected_state_commands_need_selection(imap):
    for cmd in ("FETCH 1 FLAGS", "STORE 1 +FLAGS (\\Seen)", "SEARCH ALL", "EXPUNGE",
                "CLOSE", "UNSELECT", "UID FETCH 1 FLAGS", "COPY 1 Trash", "MOVE 1 Trash"):
        r = imap.cmd(cmd)
        assert r.status == "BAD" and r.code == "CLIENTBUG", f"{cmd}: {r}"
    assert imap.cmd("NOOP").status == "OK"


def test_idle_needs_authentication(imap_server):
    c = imap_connect(imap_server)
    r = c.cmd("IDLE")
    assert r.status == "BAD" and r.code == "CLIENTBUG" and r.conts == [], r
    c.logout()


def test_imaps_verifies_against_generated_certificate(imap_server):
    # Same certificate as pop3s (test_tls.py): pinning it verifies "localhost".
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=str(imap_server.data_dir / "tls" / "cert.pem"))
    c = ImapConn.connect(imap_server.ports["imaps"], tls=True, ctx=ctx,
                         server_hostname="localhost")
    assert c.read_greeting().startswith(b"* OK"), c.greeting
    c.logout()


def test_pipelined_commands_answered_in_order(imap):
    imap.send(b"p1 NOOP\r\np2 CAPABILITY\r\np3 SELECT INBOX\r\np4 NOOP\r\n")
    order = []
    while len(order) < 4:
        r = imap.read_response()
        if not r.startswith(b"* "):
            order.append(r.split(b" ", 2)[:2])
    assert order == [[b"p1", b"OK"], [b"p2", b"OK"], [b"p3", b"OK"], [b"p4", b"OK"]], order


def test_imaplib_full_flow(imap_server, imap_user):
    """The commands as Python's imaplib sends and parses them."""
    from helpers import make_message
    m = imaplib_connect(imap_server, *imap_user)
    assert m.create("flow")[0] == "OK"
    assert m.create("flow/sub")[0] == "OK"
    typ, data = m.list('""', "flow*")
    assert typ == "OK" and len(data) == 2, data
    assert m.subscribe("flow")[0] == "OK"
    typ, data = m.lsub('""', "flow")
    assert typ == "OK" and len(data) == 1 and data[0].endswith(b"flow"), data
    msgs = [make_message(f"flow {i}") for i in range(3)]
    for i, msg in enumerate(msgs):
        typ, data = m.append("flow", "(\\Seen)" if i == 0 else None,
                             imaplib.Time2Internaldate(1700000000 + i), msg)
        assert typ == "OK", data
    typ, data = m.status("flow", "(MESSAGES UNSEEN)")
    assert typ == "OK" and data[0].endswith(b"(MESSAGES 3 UNSEEN 2)"), data
    typ, data = m.select("flow")
    assert typ == "OK" and data == [b"3"], data
    typ, data = m.fetch("2", "(RFC822)")
    assert typ == "OK" and data[0][1] == msgs[1], data
    typ, data = m.uid("FETCH", "3", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert typ == "OK" and data[0][1] == b"Subject: flow 2\r\n\r\n", data
    typ, data = m.search(None, "UNSEEN")
    assert typ == "OK" and data == [b"3"], data     # 2 was seen by the RFC822 fetch
    typ, data = m.store("1", "+FLAGS", "(\\Deleted)")
    assert typ == "OK", data
    typ, data = m.copy("2:3", "flow/sub")
    assert typ == "OK", data
    typ, data = m.expunge()
    assert typ == "OK" and data == [b"1"], data
    assert m.check()[0] == "OK"
    assert m.close()[0] == "OK"
    assert m.rename("flow/sub", "flow2")[0] == "OK"
    typ, data = m.status("flow2", "(MESSAGES)")
    assert data[0].endswith(b"(MESSAGES 2)"), data
    assert m.unsubscribe("flow")[0] == "OK"
    assert m.delete("flow2")[0] == "OK"
    typ, data = m.namespace()
    assert typ == "OK", data
    assert m.logout()[0] == "BYE"
