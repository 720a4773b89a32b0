# tests/integration/test_isolation.py: no user reaches another user's
# mailboxes by any name (issue 4, point 5).  Alice tries bob's mailboxes
# through path, namespace, address, wildcard, NUL, over-long and lookalike
# names with SELECT, EXAMINE, STATUS, APPEND, COPY, RENAME, DELETE and
# LIST; over POP3 with tricky user names and authorization identities.
# After each attempt bob's mail is exactly what it was.
import pytest

import helpers
from helpers import imap_connect, make_message, quote
from sasl_client import plain

SECRET = make_message("bob's secret", body=b"the launch code is 0000\r\n")
PRIVATE = make_message("bob's private folder", body=b"private\r\n")


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    yield from helpers.configured_server(
        tmp_path_factory, "iso", "auth = { failure_delay = 0; failure_delay_max = 0; };\n",
        helpers.IMAP_KINDS)


@pytest.fixture(scope="module")
def bob(srv):
    addr, pw = srv.add_user("bob@localhost", "pw-bob")
    srv.deliver("someone@example.org", [addr], SECRET)
    c = imap_connect(srv, addr, pw)
    c.ok("CREATE Private")
    c.append("Private", PRIVATE)
    c.logout()
    return addr, pw


@pytest.fixture(scope="module")
def alice(srv, bob):
    addr, pw = srv.add_user("alice@localhost", "pw-alice")
    srv.deliver("someone@example.org", [addr], make_message("alice's own"))
    return addr, pw


def bob_state(srv, bob):
    """Every mailbox of bob's with its messages' bodies."""
    c = imap_connect(srv, *bob)
    try:
        names = sorted(list_names(c.ok('LIST "" "*"')))
        out = {}
        for n in names:
            c.ok(f"EXAMINE {quote(n)}")
            r = c.ok("FETCH 1:* (BODY.PEEK[])") if n in ("INBOX", "Private") else None
            out[n] = sorted(bytes(v["BODY[]"]) for v in r.fetches().values()) if r else None
        return out
    finally:
        c.close()


def list_names(resp):
    """Mailbox names of the LIST responses in resp."""
    out = set()
    for l in resp.data("LIST"):
        vals, _ = helpers.parse_sexpr(l)
        out.add(bytes(vals[2]).decode("utf-8", "replace"))
    return out


def alice_mailboxes(c):
    return list_names(c.ok('LIST "" "*"'))


NAMES = {
    "dotdot": "../bob",
    "dotdot-inbox": "../bob/INBOX",
    "dotdot-address": "../bob@localhost/INBOX",
    "tilde": "~bob",
    "tilde-inbox": "~bob/INBOX",
    "shared": "#shared/bob",
    "shared-inbox": "#shared/bob@localhost/INBOX",
    "other-users": "Other Users/bob",
    "other-users-inbox": "Other Users/bob@localhost/INBOX",
    "address-inbox": "bob@localhost/INBOX",
    "address": "bob@localhost",
    "address-private": "bob@localhost/Private",
    "bob-private-name": "Private",
    "percent": "%",
    "star": "*",
    "inbox-percent": "INBOX%",
    "star-in-name": "bo*",
    "leading-slash": "/INBOX",
    "inbox-dotdot": "INBOX/..",
    "inbox-dotdot-private": "INBOX/../Private",
    "mutf7-lookalike": "&BD4-bob/INBOX",
    "utf8-lookalike": "b\u043eb@localhost/INBOX",
    "fullwidth": "\uff22\uff2f\uff22/INBOX",
    "long-2000": "bob/" + "x" * 2000,
}


def refused(r):
    return r.status in ("NO", "BAD")


@pytest.mark.parametrize("name", list(NAMES.values()), ids=list(NAMES.keys()))
def test_imap_names_never_reach_bob(srv, alice, bob, name):
    before = bob_state(srv, bob)
    c = imap_connect(srv, *alice)
    try:
        mine = alice_mailboxes(c)
        q = quote(name)
        assert refused(c.cmd(f"SELECT {q}")), name
        assert refused(c.cmd(f"EXAMINE {q}")), name
        assert refused(c.cmd(f"STATUS {q} (MESSAGES UIDNEXT)")), name
        msg = make_message("from alice")
        r = c.cmd(b"APPEND " + q.encode() + b" {%d+}\r\n" % len(msg) + msg)
        assert refused(r), name
        c.select("INBOX")
        assert refused(c.cmd(f"COPY 1 {q}")), name
        assert refused(c.cmd(f"MOVE 1 {q}")), name
        c.ok("UNSELECT")
        assert refused(c.cmd(f"DELETE {q}")), name
        assert refused(c.cmd(f"RENAME {q} Stolen")), name
        # LIST with the name as a pattern shows only alice's own mailboxes
        listed = list_names(c.cmd(f'LIST "" {q}'))
        assert listed <= mine, (name, listed - mine)
        # CREATE/RENAME either refuse the name or make a mailbox of alice's
        r = c.cmd(f"CREATE {q}")
        if r.status == "OK":
            now = alice_mailboxes(c)
            assert name in now
            # the new mailbox and the parents CREATE made (RFC 9051 6.3.4)
            for n in sorted(now - mine, key=len, reverse=True):
                c.ok(f"DELETE {quote(n)}")
        assert alice_mailboxes(c) == mine
    finally:
        c.close()
    assert bob_state(srv, bob) == before


@pytest.mark.parametrize("name", ["INBOX%", "*", "a/../b", "#x", "~x", "/x", "a//b", ".",
                                  "a/./b", "..", "tab\there"])
def test_imap_create_refuses_unsafe_names(srv, alice, name):
    c = imap_connect(srv, *alice)
    try:
        r = c.cmd(f"CREATE {quote(name)}")
        assert refused(r), r
        c.ok("CREATE Fine")
        r = c.cmd(f"RENAME Fine {quote(name)}")
        assert refused(r), r
        c.ok("DELETE Fine")
    finally:
        c.close()


def test_imap_name_with_nul_in_literal(srv, alice, bob):
    c = imap_connect(srv, *alice)
    try:
        for cmd in ("SELECT", "STATUS", "DELETE", "CREATE"):
            tail = " (MESSAGES)" if cmd == "STATUS" else ""
            r = c.cmd(f"{cmd} {{13+}}\r\nbob\0localhost{tail}".encode())
            assert refused(r), (cmd, r)
    finally:
        c.close()


def test_imap_inbox_case_is_own_inbox(srv, alice, bob):
    c = imap_connect(srv, *alice)
    try:
        for n in ("inbox", "InBoX"):
            r = c.select(n)
            assert r.numbered("EXISTS")[0][0] == 1
            got = c.ok("FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])").fetches()[1]
            assert b"alice's own" in bytes(list(got.values())[0])
    finally:
        c.close()


def test_imap_100k_name(srv, alice):
    c = imap_connect(srv, *alice)
    try:
        name = b"bob/" + b"y" * 100_000
        r = c.cmd(b"SELECT {%d+}\r\n" % len(name) + name)
        assert refused(r), r
        c.ok("NOOP")
    finally:
        c.close()


# ---- POP3 ----

POP3_USERS = [
    "bob@localhost/../alice@localhost",
    "alice@localhost/../bob@localhost",
    "alice@localhost%bob",
    "bob@localhost\tx",
    "~bob",
    "#shared/bob@localhost",
]


@pytest.mark.parametrize("user", POP3_USERS)
def test_pop3_odd_user_names_do_not_log_in(srv, alice, bob, user):
    with srv.pop3() as c:
        c.pop3_cmd(f"USER {user}")
        r = c.pop3_cmd(f"PASS {alice[1]}")
        assert r.startswith("-ERR"), r
        r = c.pop3_cmd("AUTH PLAIN " + plain(user, alice[1]))
        assert r.startswith("-ERR"), r


def test_pop3_alice_password_for_bob(srv, alice, bob):
    with srv.pop3() as c:
        c.pop3_cmd(f"USER {bob[0]}")
        assert c.pop3_cmd(f"PASS {alice[1]}").startswith("-ERR [AUTH]")
        # authzid naming bob, credentials alice's: refused
        assert c.pop3_cmd("AUTH PLAIN " + plain(*alice, authzid=bob[0])).startswith("-ERR [AUTH]")
        # upper case is alice herself, and she sees only her own message
        assert c.pop3_cmd("AUTH PLAIN " + plain(alice[0].upper(), alice[1])).startswith("+OK")
        n, _ = c.pop3_stat()
        assert n == 1
        assert b"launch code" not in c.pop3_retr(1)


def test_imap_authzid_for_bob_refused(srv, alice, bob):
    c = imap_connect(srv)
    try:
        r = c.cmd("AUTHENTICATE PLAIN " + plain(*alice, authzid=bob[0]))
        assert (r.status, r.code) == ("NO", "AUTHORIZATIONFAILED"), r
        r = c.cmd(f"LOGIN {quote(bob[0])} {quote(alice[1])}")
        assert r.status == "NO", r
    finally:
        c.close()
