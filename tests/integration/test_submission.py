# tests/integration/test_submission.py: message submission (issue 4, point
# 3; RFC 6409, RFC 8314): AUTH before MAIL on 587 and 465, the envelope
# sender must be the user (or an address the config gives them), any
# recipient for an authenticated user, mail for other servers kept in the
# durable outbound queue (`postino queue list`), port 25 without AUTH only
# for local recipients.
import email.utils
import re
import subprocess

import pytest

import helpers
from helpers import dot_stuff, TIMEOUT, Conn, make_message, split_trace
from sasl_client import plain

KINDS = helpers.KINDS + ("submission",)


SUBMISSION_CONF = """
smtp = {
  local_domains = [ "localhost", "example.test" ];
  allowed_senders = (
    { user = "boss@example.test"; addresses = [ "sales@example.test", "@boss.example" ]; }
  );
};
auth = { failure_delay = 0; failure_delay_max = 0; };
# Queued mail stays queued here: the queue runner's DNS server is a port
# where nobody answers (test_outbound.py carries mail onward).
dns = { nameservers = [ "127.0.0.1:9" ]; timeout = 200; attempts = 1; };
"""


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    yield from helpers.configured_server(tmp_path_factory, "subm", SUBMISSION_CONF, KINDS)


def submit_conn(srv, kind="submission"):
    tls = kind == "smtps"
    c = Conn.connect(srv.ports[kind], tls=tls)
    assert c.smtp_reply().code == 220
    assert c.smtp_cmd("EHLO client.example.org").code == 250
    return c


def login(c, user, pw):
    r = c.smtp_cmd("AUTH PLAIN " + plain(user, pw))
    assert r.code == 235, r


def queued_rcpts(listing):
    """{queue id: {recipients}} from `postino queue list`."""
    out, qid = {}, None
    for line in listing.splitlines():
        if line.startswith("    to=<"):
            out[qid].add(line.split("<", 1)[1].split(">", 1)[0])
        elif " created=" in line:
            qid = line.split()[0]
            out[qid] = set()
    return out


def queue_list(srv):
    r = srv.cli("queue", "list")
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.mark.parametrize("kind", ["submission", "smtps"])
def test_mail_needs_auth_on_submission_ports(srv, kind):
    with submit_conn(srv, kind) as c:
        r = c.smtp_cmd("MAIL FROM:<someone@example.org>")
        assert (r.code, r.enhanced) == (530, "5.7.0"), r
        r = c.smtp_cmd("RCPT TO:<someone@localhost>")
        assert r.code == 503, r


def test_submission_starttls_then_auth(srv):
    user, pw = srv.new_user("sub")
    with submit_conn(srv) as c:
        assert c.smtp_cmd("STARTTLS").code == 220
        c.starttls()
        assert c.smtp_cmd("EHLO client.example.org").code == 250
        login(c, user, pw)
        msg = make_message("over 587", sender=user, to=user)
        c.smtp_deliver(user, [user], msg)
        c.smtp_quit()
    (got,) = srv.retr_all(user, pw)
    assert split_trace(got, user) == msg
    # RFC 3848: authenticated over TLS
    assert b"with ESMTPSA" in got.split(b"\r\n\r\n")[0]


def test_sender_must_be_the_user(srv):
    user, pw = srv.new_user("own")
    other, _ = srv.new_user("victim")
    with submit_conn(srv) as c:
        login(c, user, pw)
        r = c.smtp_cmd(f"MAIL FROM:<{other}>")
        assert (r.code, r.enhanced) == (553, "5.7.1"), r
        r = c.smtp_cmd("MAIL FROM:<ceo@example.test>")
        assert r.code == 553, r
        # the null reverse-path stays usable (RFC 5321 4.5.5: notifications)
        assert c.smtp_cmd("MAIL FROM:<>").code == 250
        c.smtp_cmd("RSET")
        # upper case is the same address
        assert c.smtp_cmd(f"MAIL FROM:<{user.upper()}>").code == 250
        c.smtp_quit()


def test_allowed_senders_from_config(srv):
    boss, pw = srv.add_user("boss@example.test", "pw-boss")
    with submit_conn(srv) as c:
        login(c, boss, pw)
        for sender, ok in [("sales@example.test", True), ("anyone@boss.example", True),
                           ("x@sub.boss.example", False), ("support@example.test", False)]:
            r = c.smtp_cmd(f"MAIL FROM:<{sender}>")
            assert (r.code == 250) == ok, (sender, r)
            c.smtp_cmd("RSET")
        c.smtp_quit()


def test_remote_recipients_are_queued_durably(srv):
    user, pw = srv.new_user("out")
    local, lpw = srv.new_user("in")
    before = queue_list(srv)
    msg = make_message("to the world", sender=user, to="far@remote.example")
    with submit_conn(srv, "smtps") as c:
        login(c, user, pw)
        r = c.smtp_deliver(user, ["far@remote.example", "second@other.example", local], msg)
        assert "queued as" in r.text
        c.smtp_quit()
    # the local recipient has it at once ...
    (got,) = srv.retr_all(local, lpw)
    assert split_trace(got, user) == msg
    # ... and the remote ones wait in the queue, which survives a crash
    # (the queue runner may have tried them meanwhile: its DNS server here
    # answers nothing, so they stay)
    out = queue_list(srv)
    assert out != before
    entries = queued_rcpts(out)
    mine = [rs for rs in entries.values() if "far@remote.example" in rs]
    assert len(mine) == 1 and mine[0] == {"far@remote.example", "second@other.example"}, out
    srv.restart(crash=True)
    assert queued_rcpts(queue_list(srv)) == entries


def test_dsn_parameters_reach_the_queue(srv):
    # RFC 3461: RET and ENVID on MAIL, NOTIFY and ORCPT on RCPT, kept with
    # the queued message for the notices the queue runner writes.
    user, pw = srv.new_user("dsn")
    with submit_conn(srv, "smtps") as c:
        login(c, user, pw)
        assert c.smtp_cmd(f"MAIL FROM:<{user}> RET=HDRS ENVID=QQ+2B314").code == 250
        r = c.smtp_cmd("RCPT TO:<far@remote.example> NOTIFY=SUCCESS,FAILURE "
                       "ORCPT=rfc822;alias+2Bx@remote.example")
        assert r.code == 250, r
        r = c.smtp_cmd("RCPT TO:<near@remote.example> NOTIFY=NEVER,DELAY")
        assert (r.code, r.enhanced) == (501, "5.5.4"), r
        assert c.smtp_cmd("DATA").code == 354
        c.send(dot_stuff(make_message("dsn", sender=user, to="far@remote.example")) + b".\r\n")
        r = c.smtp_reply()
        assert r.code == 250, r
        c.smtp_quit()
    out = queue_list(srv)
    assert "envid=QQ+314" in out, out


def test_port_25_without_auth_only_local(srv):
    local, lpw = srv.new_user("p25")
    with srv.smtp() as c:
        assert c.smtp_cmd("MAIL FROM:<stranger@example.net>").code == 250
        r = c.smtp_cmd("RCPT TO:<far@remote.example>")
        assert (r.code, r.enhanced) == (554, "5.7.1"), r
        r = c.smtp_cmd(f"RCPT TO:<{local}>")
        assert r.code == 250, r
        c.smtp_cmd("RSET")
        c.smtp_quit()


def test_port_25_with_auth_may_relay(srv):
    user, pw = srv.new_user("p25a")
    with srv.smtp() as c:
        login(c, user, pw)
        assert c.smtp_cmd(f"MAIL FROM:<{user}>").code == 250
        assert c.smtp_cmd("RCPT TO:<far25@remote.example>").code == 250
        c.smtp_cmd("RSET")
        c.smtp_quit()


def test_swaks_tls_auth_submission(srv):
    user, pw = srv.new_user("swaks")
    r = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(srv.ports["submission"]),
                        "--tls", "--auth", "PLAIN", "--auth-user", user, "--auth-password", pw,
                        "--from", user, "--to", user, "--header", "Subject: swaks submission",
                        "--timeout", str(int(TIMEOUT))],
                       capture_output=True, text=True, timeout=TIMEOUT * 3)
    assert r.returncode == 0, r.stdout + r.stderr
    (got,) = srv.retr_all(user, pw)
    assert b"Subject: swaks submission" in got


def test_curl_ssl_reqd_submission(srv, tmp_path):
    user, pw = srv.new_user("curl")
    msg = make_message("curl submission", sender=user, to=user)
    f = tmp_path / "m.eml"
    f.write_bytes(msg)
    r = subprocess.run(["curl", "-sS", "--ssl-reqd", "-k",
                        f"smtp://127.0.0.1:{srv.ports['submission']}",
                        "--user", f"{user}:{pw}", "--mail-from", user, "--mail-rcpt", user,
                        "--upload-file", str(f), "--max-time", str(int(TIMEOUT * 2))],
                       capture_output=True, text=True, timeout=TIMEOUT * 3)
    assert r.returncode == 0, r.stderr
    (got,) = srv.retr_all(user, pw)
    assert split_trace(got, user) == msg


def test_curl_without_auth_refused(srv, tmp_path):
    f = tmp_path / "m.eml"
    f.write_bytes(make_message("no auth"))
    r = subprocess.run(["curl", "-sS", "--ssl-reqd", "-k",
                        f"smtp://127.0.0.1:{srv.ports['submission']}",
                        "--mail-from", "x@example.org", "--mail-rcpt", "far@remote.example",
                        "--upload-file", str(f), "--max-time", str(int(TIMEOUT * 2))],
                       capture_output=True, text=True, timeout=TIMEOUT * 3)
    assert r.returncode != 0
    assert "530" in r.stderr or r.returncode == 55, r.stderr


def test_mail_auth_parameter(srv):
    user, pw = srv.new_user("authparam")
    with submit_conn(srv) as c:
        login(c, user, pw)
        # RFC 4954 5: AUTH=<> and AUTH=xtext are accepted ...
        assert c.smtp_cmd(f"MAIL FROM:<{user}> AUTH=<>").code == 250
        c.smtp_cmd("RSET")
        assert c.smtp_cmd(f"MAIL FROM:<{user}> AUTH=" + user.replace("@", "+40")).code == 250
        c.smtp_cmd("RSET")
        # ... a broken xtext is not
        r = c.smtp_cmd(f"MAIL FROM:<{user}> AUTH=a+4")
        assert r.code == 501, r
        c.smtp_quit()


# RFC 6409 8.2, 8.3: submission completes a message without Date or
# Message-ID; port 25 without AUTH (a relay) leaves it as it came.
BARE_MSG = b"From: <x@localhost>\r\nSubject: bare\r\n\r\nno date, no id\r\n"


def header_section(stored):
    return stored.split(b"\r\n\r\n")[0] + b"\r\n"


def check_completed(got, sender, msg):
    rest = split_trace(got, sender)
    hdrs = header_section(rest)
    assert hdrs.count(b"\r\nMessage-ID: ") == 1, hdrs
    assert hdrs.count(b"\r\nDate: ") == 1, hdrs
    mid = [l for l in hdrs.split(b"\r\n") if l.startswith(b"Message-ID: ")][0]
    assert re.fullmatch(rb"Message-ID: <[0-9]+\.[0-9a-f]+\.[0-9]+@localhost>", mid), mid
    date = [l for l in hdrs.split(b"\r\n") if l.startswith(b"Date: ")][0]
    email.utils.parsedate_to_datetime(date[6:].decode())   # RFC 5322 3.3 date-time
    # Added at the end of the header section, the rest untouched.
    head, _, body = msg.partition(b"\r\n\r\n")
    assert rest.startswith(head + b"\r\n")
    assert rest.endswith(b"\r\n\r\n" + body)
    return mid


@pytest.mark.parametrize("use_bdat", [False, True])
def test_submission_adds_message_id_and_date(srv, use_bdat):
    user, pw = srv.new_user("mid")
    with submit_conn(srv) as c:
        login(c, user, pw)
        for _ in range(2):
            if use_bdat:
                assert c.smtp_cmd(f"MAIL FROM:<{user}>").code == 250
                assert c.smtp_cmd(f"RCPT TO:<{user}>").code == 250
                c.send(b"BDAT %d LAST\r\n" % len(BARE_MSG) + BARE_MSG)
                r = c.smtp_reply()
                assert r.code == 250, r
            else:
                c.smtp_deliver(user, [user], BARE_MSG)
        c.smtp_quit()
    got = srv.retr_all(user, pw)
    assert len(got) == 2
    mids = {check_completed(g, user, BARE_MSG) for g in got}
    assert len(mids) == 2, "each message gets its own Message-ID"


def test_submission_keeps_existing_message_id_and_date(srv):
    user, pw = srv.new_user("keep")
    only_date = b"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nSubject: d\r\n\r\nbody\r\n"
    with submit_conn(srv) as c:
        login(c, user, pw)
        c.smtp_deliver(user, [user], only_date)
        c.smtp_quit()
    (got,) = srv.retr_all(user, pw)
    rest = split_trace(got, user)
    assert rest.startswith(b"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nSubject: d\r\nMessage-ID: <")
    assert header_section(rest).count(b"Date:") == 1


def test_submission_added_fields_count_in_size(tmp_path_factory):
    msg = BARE_MSG + b"x" * 1500 + b"\r\n"
    gen = helpers.configured_server(tmp_path_factory, "subsize",
                                    SUBMISSION_CONF.replace(
                                        'smtp = {', 'smtp = {\n  max_message_size = %d;' % (
                                            len(msg) + 20)), KINDS)
    s = next(gen)
    try:
        user, pw = s.new_user("sz")
        with submit_conn(s) as c:
            login(c, user, pw)
            assert c.smtp_cmd(f"MAIL FROM:<{user}>").code == 250
            assert c.smtp_cmd(f"RCPT TO:<{user}>").code == 250
            assert c.smtp_cmd("DATA").code == 354
            r = c.smtp_cmd(msg + b".")
            assert (r.code, r.enhanced) == (552, "5.3.4"), r
            c.smtp_quit()
        # the same message on port 25 fits: nothing is added there
        s.deliver("x@example.org", [user], msg)
        (got,) = s.retr_all(user, pw)
        assert split_trace(got, "x@example.org") == msg
    finally:
        for _ in gen:
            pass


def test_port_25_leaves_message_alone(srv):
    user, pw = srv.new_user("relay")
    srv.deliver("x@example.org", [user], BARE_MSG)
    (got,) = srv.retr_all(user, pw)
    assert split_trace(got, "x@example.org") == BARE_MSG
