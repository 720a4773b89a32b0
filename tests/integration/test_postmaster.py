# tests/integration/test_postmaster.py: RFC 5321 4.5.1, "postmaster" without
# a domain (any case) and postmaster@ every local domain are accepted.  Mail
# for them goes to a user of that exact name when there is one, otherwise to
# smtp.postmaster (default postmaster@hostname), whose mailbox is created
# on first use; postmaster at a foreign domain is still a relay attempt.
import smtplib

import pytest

from helpers import TIMEOUT, configured_server, make_message, split_trace, unique


@pytest.fixture(scope="module")
def pm_server(tmp_path_factory):
    yield from configured_server(tmp_path_factory, "pm")


@pytest.fixture(scope="module")
def pm_named_server(tmp_path_factory):
    # The hostname is not a local domain, and the postmaster is a named user.
    yield from configured_server(tmp_path_factory, "pmnamed",
                                 'hostname = "mx.postino.test";\n'
                                 'smtp = { local_domains = [ "localhost" ];\n'
                                 '         postmaster = "boss@localhost"; };\n')


def read_as(srv, address):
    """Give the (password-less) mailbox a password and read it over POP3."""
    r = srv.cli("user", "passwd", address, input="pm-pass\n")
    assert r.returncode == 0, r.stderr
    return srv.retr_all(address, "pm-pass")


def send(srv, rcpts, subject):
    msg = make_message(subject)
    with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=TIMEOUT) as s:
        assert s.sendmail("reporter@example.org", rcpts, msg) == {}
    return msg


def test_postmaster_forms_accepted_and_delivered_once(pm_server):
    srv = pm_server
    srv.add_user(unique("dom", "example.net"))   # makes example.net a local domain
    c = srv.smtp()
    assert c.smtp_cmd("MAIL FROM:<reporter@example.org>").code == 250
    for rcpt in ("postmaster", "POSTMASTER", "PostMaster@localhost", "postmaster@LOCALHOST",
                 "postmaster@example.net"):
        r = c.smtp_cmd(f"RCPT TO:<{rcpt}>")
        assert (r.code, r.enhanced) == (250, "2.1.5"), (rcpt, r)
    assert c.smtp_cmd("DATA").code == 354
    msg = make_message("to the postmaster")
    c.send(msg + b".\r\n")
    assert c.smtp_reply().code == 250
    c.smtp_quit()
    # the line comes through the stderr reader thread: wait for it (it
    # failed once under load when read at once)
    assert srv.wait_log("postmaster mailbox created user=postmaster@localhost")
    users = srv.cli("user", "list").stdout
    assert "postmaster@localhost" in users
    got = read_as(srv, "postmaster@localhost")
    assert len(got) == 1, "every postmaster form is one mailbox: one copy"
    assert split_trace(got[0], "reporter@example.org") == msg


def test_postmaster_user_of_its_own_wins(pm_server):
    srv = pm_server
    own, pw = srv.add_user("postmaster@example.com", "own-pw")
    msg = send(srv, ["Postmaster@example.com"], "own postmaster")
    (got,) = srv.retr_all(own, pw)
    assert split_trace(got, "reporter@example.org") == msg


def test_postmaster_at_foreign_domain_is_relaying(pm_server):
    c = pm_server.smtp()
    assert c.smtp_cmd("MAIL FROM:<reporter@example.org>").code == 250
    r = c.smtp_cmd("RCPT TO:<postmaster@foreign.example>")
    assert (r.code, r.enhanced) == (554, "5.7.1"), r
    r = c.smtp_cmd("RCPT TO:<nobody@localhost>")
    assert (r.code, r.enhanced) == (550, "5.1.1"), r
    c.smtp_quit()


def test_configured_postmaster_and_hostname_not_local(pm_named_server):
    srv = pm_named_server
    boss, pw = srv.add_user("boss@localhost", "boss-pw")
    msg = send(srv, ["postmaster", "postmaster@localhost"], "configured")
    (got,) = srv.retr_all(boss, pw)
    assert split_trace(got, "reporter@example.org") == msg
    # postmaster@hostname is not ours here: mx.postino.test is no local domain
    c = srv.smtp()
    assert c.smtp_cmd("MAIL FROM:<reporter@example.org>").code == 250
    assert c.smtp_cmd("RCPT TO:<postmaster@mx.postino.test>").code == 554
    c.smtp_quit()


def test_sandbox_postmaster(sandbox_server):
    # The bare Postmaster goes to smtp.postmaster; postmaster@ any other
    # domain is, like every sandbox address, a mailbox of its own.
    srv = sandbox_server
    msg = send(srv, ["Postmaster"], "sandbox postmaster")
    got = srv.retr_all("postmaster@localhost", "any")
    assert [split_trace(g, "reporter@example.org") for g in got] == [msg]
    other = "postmaster@" + unique("d", "sandbox.example").replace("@", ".")
    msg2 = send(srv, [other], "sandbox domain")
    (got2,) = srv.retr_all(other, "any")
    assert split_trace(got2, "reporter@example.org") == msg2
