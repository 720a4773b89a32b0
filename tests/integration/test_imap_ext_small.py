# tests/integration/test_imap_ext_small.py: the small IMAP extensions of
# issue 13, each with its RFC's examples adapted to real data and its bad
# inputs: LITERAL- (RFC 7888 5), UNAUTHENTICATE (RFC 8437), WITHIN (RFC
# 5032), CREATE-SPECIAL-USE (RFC 6154 3), SAVEDATE (RFC 8514), OBJECTID
# (RFC 8474), REPLACE (RFC 8508), PREVIEW (RFC 8970).
import pytest

import helpers
from helpers import imap_connect, lit, quote


def caps_of(resp):
    (data,) = resp.data("CAPABILITY")
    return {w.upper() for w in data.decode().split()}


def msg(subject="hello", body="Hello there.\r\n", extra=""):
    return (f"From: a@example.org\r\nTo: b@example.org\r\nSubject: {subject}\r\n{extra}"
            f"\r\n{body}").encode()


# -- LITERAL- (RFC 7888) ------------------------------------------------------

@pytest.fixture(scope="module")
def minus_server(tmp_path_factory):
    yield from helpers.configured_server(tmp_path_factory, "literalminus",
                                         'imap = { literal = "minus"; };\n',
                                         kinds=helpers.IMAP_KINDS)


def test_literal_plus_by_default_never_both(imap_server, imap):
    # RFC 7888 5: "IMAP servers MUST NOT advertise both of these capabilities".
    for caps in (caps_of(imap.ok("CAPABILITY")),
                 caps_of(imap_connect(imap_server).ok("CAPABILITY"))):
        assert "LITERAL+" in caps and "LITERAL-" not in caps


def test_literal_minus_announced_alone(minus_server):
    c = imap_connect(minus_server)
    assert b"LITERAL-" in c.greeting and b"LITERAL+" not in c.greeting
    caps = caps_of(c.ok("CAPABILITY"))
    assert "LITERAL-" in caps and "LITERAL+" not in caps
    user, pw = minus_server.new_user("lm")
    # RFC 7888 3's example, with this user's name and password.
    r = c.cmd(b"LOGIN " + lit(user) + b" " + lit(pw))
    assert r.status == "OK", r
    caps = caps_of(c.ok("CAPABILITY"))
    assert "LITERAL-" in caps and "LITERAL+" not in caps


def test_literal_minus_limit(minus_server):
    user, pw = minus_server.new_user("lm")
    c = imap_connect(minus_server, user, pw)
    # Up to 4096 octets a {n+} literal is fine, in APPEND and elsewhere.
    body = b"x" * (4096 - len(msg(body="")) - 2) + b"\r\n"
    m = msg(body=body.decode())
    assert len(m) == 4096
    c.append("INBOX", m)
    r = c.cmd(b"SELECT " + lit("INBOX"))
    assert r.status == "OK", r
    # RFC 7888 5: beyond 4096 octets, APPEND's tagged BAD carries TOOBIG;
    # the literal is read and dropped and the session goes on.
    m = msg(body="y" * 5000 + "\r\n")
    r = c.cmd(b"APPEND INBOX " + lit(m))
    assert r.status == "BAD" and r.code == "TOOBIG", r
    r = c.cmd(b"STATUS " + lit("x" * 4097) + b" (MESSAGES)")
    assert r.status == "BAD" and r.code == "TOOBIG", r
    r = c.ok("STATUS INBOX (MESSAGES)")
    assert helpers.status_items(r)[1]["MESSAGES"] == 1
    # The same literal, synchronizing, is accepted.
    r = c.cmd_sync(["APPEND INBOX ", m])
    assert r.status == "OK", r
    # Too large to drop: BYE [TOOBIG] (RFC 7888 5 SHOULD).
    c.send(b"T1 APPEND INBOX {5000000+}\r\n")
    r = c.read_response()
    assert r.startswith(b"T1 BAD [TOOBIG]"), r
    r = c.read_response()
    assert r.startswith(b"* BYE [TOOBIG]"), r
    assert c.closed_by_peer()
