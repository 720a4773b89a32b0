# tests/integration/test_relay.py: no open relay (issue 4, point 4).  On
# port 25 without AUTH every relay trick is refused with 554 5.7.1 (or 550),
# nothing is queued and nothing is delivered; the same addresses from an
# authenticated user go to the outbound queue, never to a local mailbox by
# way of a routing trick.
import pytest

import helpers
from helpers import Conn, make_message
from sasl_client import plain

KINDS = helpers.KINDS + ("submission",)


# Queued mail must stay queued for these checks: the queue runner's DNS
# server is a port where nobody answers (left to the machine's resolver, a
# domain like remote.example may come back NXDOMAIN and bounce at once).
RELAY_CONF = """
dns = { nameservers = [ "127.0.0.1:9" ]; timeout = 200; attempts = 1; };
"""


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    yield from helpers.configured_server(tmp_path_factory, "relay", RELAY_CONF, KINDS)


@pytest.fixture(scope="module")
def local(srv):
    """A local user the tricks try to route through."""
    return srv.add_user("relaytarget@localhost", "pw-relay")


TRICKS = [
    # (id, RCPT path)
    ("percent-hack", "<relaytarget%remote.example@localhost>"),
    ("percent-hack-upper", "<relaytarget%remote.example@LOCALHOST>"),
    ("source-route", "<@localhost:victim@remote.example>"),
    ("source-route-multi", "<@localhost,@other.example:victim@remote.example>"),
    ("quoted-at", '<"victim@remote.example"@localhost>'),
    ("bang-path", "<remote.example!victim@localhost>"),
    ("bang-path-upper", "<REMOTE.EXAMPLE!victim@LOCALHOST>"),
    ("trailing-dot-before-at", "<victim@remote.example.@localhost>"),
    ("double-at", "<victim@remote.example@localhost>"),
    ("ipv4-literal", "<victim@[192.0.2.1]>"),
    ("ipv4-literal-loopback", "<victim@[127.0.0.1]>"),
    ("ipv6-literal", "<victim@[IPv6:2001:db8::1]>"),
    ("plain-remote", "<victim@remote.example>"),
    ("uppercase-remote", "<victim@REMOTE.EXAMPLE>"),
    ("trailing-dot-remote", "<victim@remote.example.>"),
    ("trailing-dot-local", "<victim@localhost.>"),
    ("percent-in-quotes", '<"victim%remote.example"@localhost>'),
    ("local-lookalike-suffix", "<victim@localhost.remote.example>"),
    ("local-lookalike-prefix", "<victim@remote-localhost>"),
]


def queued(srv):
    r = srv.cli("queue", "list")
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.mark.parametrize("path", [t[1] for t in TRICKS], ids=[t[0] for t in TRICKS])
def test_relay_trick_refused_on_port_25(srv, local, path):
    with srv.smtp() as c:
        r = c.smtp_cmd("MAIL FROM:<spammer@example.net>")
        assert r.code == 250, r
        r = c.smtp_cmd(f"RCPT TO:{path}")
        assert (r.code, r.enhanced) in ((554, "5.7.1"), (550, "5.7.1"), (550, "5.1.1")), r
        # Nothing accepted, so DATA has no recipient to go to.
        r = c.smtp_cmd("DATA")
        assert r.code in (503, 554), r
        c.smtp_quit()
    assert queued(srv).strip().endswith("0 queued")


def test_nothing_delivered_to_the_routing_target(srv, local):
    # After every trick (the module's other tests), the local user the
    # percent and bang hacks named has no mail.
    assert srv.retr_all(*local) == []


def test_case_insensitive_local_domain_still_local(srv, local):
    msg = make_message("upper-case domain")
    with srv.smtp() as c:
        c.smtp_deliver("friend@example.org", ["RelayTarget@LOCALHOST"], msg)
        c.smtp_quit()
    got = srv.retr_all(*local)
    assert len(got) == 1
    # and take it out again so the other tests see an empty box
    with srv.pop3(*local) as p:
        p.pop3_ok("DELE 1")
        p.pop3_quit()


def test_authenticated_relay_goes_to_the_queue(srv, local):
    user, pw = srv.new_user("sender")
    msg = make_message("relayed for a user", sender=user, to="friend@remote.example")
    with Conn.connect(srv.ports["submission"]) as c:
        c.smtp_reply()
        c.smtp_cmd("EHLO client.example.org")
        assert c.smtp_cmd("AUTH PLAIN " + plain(user, pw)).code == 235
        c.smtp_deliver(user, ["friend@remote.example"], msg)
        # a routing trick stays refused even when authenticated: we never
        # route on a local part
        assert c.smtp_cmd(f"MAIL FROM:<{user}>").code == 250
        r = c.smtp_cmd("RCPT TO:<relaytarget%remote.example@localhost>")
        assert (r.code, r.enhanced) == (554, "5.7.1"), r
        c.smtp_cmd("RSET")
        c.smtp_quit()
    out = queued(srv)
    assert "friend@remote.example" in out and user in out, out
    assert out.strip().endswith("1 queued"), out
    assert srv.retr_all(*local) == []
