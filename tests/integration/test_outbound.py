# tests/integration/test_outbound.py: the queue runner end to end
# (smtp/smtp_queue.c): a user submits mail for another domain; postino
# resolves it through a DNS server of the test's own (dnsd.py), carries it
# to scripted SMTP servers on 127.0.0.x (smtp_script.py) or to a second
# postino, retries, bounces and notifies the sender (RFC 3464 notices read
# back over POP3 and parsed with Python's email package).
import email
import email.parser
import email.policy
import threading
import pytest

from helpers import Conn, make_message, wait_for
from sasl_client import plain
from smtp_script import DROP, ScriptServer, per_rcpt

# Every message here goes through the queue on short timers.
def outbound_conf(dns, port, lifetime=3600, delay=0, backoff=1, extra=""):
    return (f'dns = {{ nameservers = [ "{dns.nameserver()}" ]; timeout = 500; attempts = 2; }};\n'
            f'outbound = {{ port = {port}; tls = "none"; timeout = 10; {extra} }};\n'
            f"queue = {{ scan_interval = 1; min_backoff = {backoff}; max_backoff = {2 * backoff};"
            f" lifetime = {lifetime}; delay_warning = {delay}; }};\n")


def start_postino(make_server, tmp_path, text, name="p"):
    conf = tmp_path / f"{name}.conf"
    conf.write_text(text)
    conf.chmod(0o644)
    return make_server(config=conf).start()


def submit(srv, user, pw, rcpts, msg, mail_params="", rcpt_params=""):
    c = Conn.connect(srv.ports["smtps"], tls=True)
    assert c.smtp_reply().code == 220
    assert c.smtp_cmd("EHLO client.example.org").code == 250
    assert c.smtp_cmd("AUTH PLAIN " + plain(user, pw)).code == 235
    assert c.smtp_cmd(f"MAIL FROM:<{user}>{mail_params}").code == 250
    for r in rcpts:
        rep = c.smtp_cmd(f"RCPT TO:<{r}>{rcpt_params}")
        assert rep.code == 250, rep
    assert c.smtp_cmd("DATA").code == 354
    from helpers import dot_stuff
    c.send(dot_stuff(msg) + b".\r\n")
    rep = c.smtp_reply()
    assert rep.code == 250, rep
    c.smtp_quit()


def done(rx):
    """The receiver's transactions whose content arrived whole."""
    return [t for t in rx.transactions() if t.get("data") is not None]


def queue_empty(srv):
    r = srv.cli("queue", "list")
    return r.returncode == 0 and r.stdout.strip().endswith("\n0 queued") or \
        r.stdout.strip() == "0 queued"


def notices(srv, user, pw, n, timeout=30):
    """The sender's INBOX once it holds n messages, parsed."""
    got = wait_for(lambda: (lambda m: m if len(m) >= n else None)(srv.retr_all(user, pw)),
                   timeout=timeout)
    assert got and len(got) >= n, f"expected {n} notices, got {got}"
    return [email.message_from_bytes(m, policy=email.policy.compat32) for m in got]


def dsn_fields(msg, kind="delivery-status"):
    """(per-message fields, [per-recipient fields]) of a multipart/report;
    kind "global-delivery-status" for an RFC 6533 notice."""
    assert msg.get_content_type() == "multipart/report", msg.get_content_type()
    assert msg.get_param("report-type") == kind, msg.get_param("report-type")
    parts = msg.get_payload()
    status = [p for p in parts if p.get_content_type() == "message/" + kind]
    assert len(status) == 1
    blocks = status[0].get_payload()
    if kind == "delivery-status":
        return dict(blocks[0].items()), [dict(b.items()) for b in blocks[1:]]
    # message/global-delivery-status is parsed as one message: the
    # per-message fields, then the per-recipient blocks as its body.
    (first,) = blocks
    body = first.get_payload(decode=True).decode("utf-8")
    parser = email.parser.HeaderParser()
    rcpts = [dict(parser.parsestr(b + "\n").items())
             for b in body.replace("\r\n", "\n").split("\n\n") if b.strip()]
    return dict(first.items()), rcpts


@pytest.fixture
def world(dns_server, smtp_script):
    """far.test's MX on 127.0.0.1 (a scripted server)."""
    rx = smtp_script()
    dns_server.zone.update({
        "far.test": {"MX": [(10, "mx.far.test")]},
        "mx.far.test": {"A": ["127.0.0.1"]},
    })
    return dns_server, rx


def test_delivers_through_the_mx(make_server, tmp_path, world):
    dns, rx = world
    srv = start_postino(make_server, tmp_path, outbound_conf(dns, rx.port))
    user, pw = srv.new_user("out")
    msg = make_message("onward", sender=user, to="someone@far.test")
    submit(srv, user, pw, ["someone@far.test", "other@far.test"], msg)
    assert wait_for(lambda: done(rx), timeout=20), srv.stderr()
    (t,) = done(rx)
    assert t["mail"].startswith(f"MAIL FROM:<{user}>"), t
    assert sorted(r.split(">")[0] for r in t["rcpts"]) == \
        ["RCPT TO:<other@far.test", "RCPT TO:<someone@far.test"], t
    # The content arrives whole (after our Received: line).
    assert t["data"].endswith(msg), t["data"][-200:]
    assert wait_for(lambda: queue_empty(srv), timeout=10), srv.cli("queue", "list").stdout
    assert ("mx.far.test", "MX", "udp") in [(q[0], q[1], q[2]) for q in dns.queries] or \
        any(q[0] == "far.test" for q in dns.queries)
    log = srv.stderr()
    assert "status=sent" in log and "rcpt=<someone@far.test>" in log, log


def test_sent_is_logged_once_recorded(make_server, tmp_path, world):
    # The outcome is committed by a pool job; each recipient's status line
    # is written after that commit, so whoever reads "status=sent" in the
    # log (an operator, the outbound bench) finds the queue agreeing at
    # once.  Logged before the commit, the lines ran ahead of the store by
    # the pool's backlog (80 entries in a 2,000-message drain).
    dns, rx = world
    srv = start_postino(make_server, tmp_path, outbound_conf(dns, rx.port))
    user, pw = srv.new_user("logged")
    for i in range(20):
        submit(srv, user, pw, ["l@far.test"], make_message(f"logged {i}", sender=user))
    assert wait_for(lambda: srv.stderr().count("status=sent") >= 20, timeout=30), srv.stderr()
    assert queue_empty(srv), srv.cli("queue", "list").stdout


def test_tight_connection_limits_still_drain_every_destination(make_server, tmp_path,
                                                               dns_server, smtp_script):
    # The dispatch skips the rest of a destination once one of its groups
    # found no slot and no idle connection (and everyone once nothing is
    # free at the global limit); with two destinations sharing a global
    # limit equal to one destination's, each must still get its turn and
    # every message out, over reused connections.
    rx = smtp_script()
    dns_server.zone.update({"a.test": {"A": ["127.0.0.1"]}, "b.test": {"A": ["127.0.0.1"]}})
    srv = start_postino(make_server, tmp_path, outbound_conf(
        dns_server, rx.port, extra="destination_limit = 2; max_connections = 2;"))
    user, pw = srv.new_user("tight")
    subjects = []
    for i in range(12):
        for dom in ("a.test", "b.test"):
            subjects.append(f"tight {dom} {i}")
            submit(srv, user, pw, [f"t@{dom}"], make_message(subjects[-1], sender=user))
    assert wait_for(lambda: len(done(rx)) >= len(subjects), timeout=60), srv.stderr()
    got = {subj for t in done(rx) for subj in subjects
           if f"Subject: {subj}\r\n".encode() in t["data"]}
    assert got == set(subjects)
    assert wait_for(lambda: queue_empty(srv), timeout=10)
    assert len(rx.sessions) < len(subjects), len(rx.sessions)


def test_mx_preference_then_fallback_to_the_next(make_server, tmp_path, dns_server, smtp_script):
    # The preferred MX (127.0.0.2) refuses connections; the second takes it.
    rx = smtp_script(host="127.0.0.3")
    dns_server.zone.update({
        "far.test": {"MX": [(20, "backup.far.test"), (10, "primary.far.test")]},
        "primary.far.test": {"A": ["127.0.0.2"]},
        "backup.far.test": {"A": ["127.0.0.3"]},
    })
    srv = start_postino(make_server, tmp_path, outbound_conf(dns_server, rx.port))
    user, pw = srv.new_user("mxo")
    submit(srv, user, pw, ["a@far.test"], make_message("mx order", sender=user, to="a@far.test"))
    assert wait_for(lambda: done(rx), timeout=20), srv.stderr()
    names = [q[0] for q in dns_server.queries]
    assert names.index("primary.far.test") < names.index("backup.far.test") or \
        "primary.far.test" in names, names


def test_no_mx_falls_back_to_the_address(make_server, tmp_path, dns_server, smtp_script):
    rx = smtp_script()
    dns_server.zone.update({"plain.test": {"A": ["127.0.0.1"]}})
    srv = start_postino(make_server, tmp_path, outbound_conf(dns_server, rx.port))
    user, pw = srv.new_user("noma")
    submit(srv, user, pw, ["x@plain.test"], make_message("implicit mx", sender=user))
    assert wait_for(lambda: done(rx), timeout=20), srv.stderr()


@pytest.mark.parametrize("zone,status", [
    ({"nomail.test": {"MX": [(0, ".")]}}, "5.1.10"),    # RFC 7505 null MX
    ({}, "5.1.2"),                                        # NXDOMAIN
])
def test_undeliverable_domains_bounce_at_once(make_server, tmp_path, dns_server, zone, status):
    dns_server.zone.update(zone)
    srv = start_postino(make_server, tmp_path, outbound_conf(dns_server, 9))
    user, pw = srv.new_user("nul")
    original = make_message("to nowhere", sender=user, to="x@nomail.test")
    submit(srv, user, pw, ["x@nomail.test"], original)
    (n,) = notices(srv, user, pw, 1)
    assert n["Subject"] == "Undelivered Mail Returned to Sender"
    assert n["To"] == f"<{user}>"
    common, (r,) = dsn_fields(n)
    assert common["Reporting-MTA"].startswith("dns;")
    assert r["Final-Recipient"] == "rfc822; x@nomail.test"
    assert r["Action"] == "failed" and r["Status"] == status, r
    # RET not given and the message is small: it comes back whole.
    returned = [p for p in n.get_payload() if p.get_content_type() == "message/rfc822"]
    assert returned, [p.get_content_type() for p in n.get_payload()]
    assert wait_for(lambda: queue_empty(srv), timeout=10)


class Countdown:
    """Answers `first` to the first n MAIL commands (on any connection),
    then `then`: a greylisting server."""

    def __init__(self, n, first, then="250 2.1.0 ok"):
        self.n, self.first, self.then = n, first, then
        self.lock = threading.Lock()

    def __call__(self, sess, arg):
        with self.lock:
            if self.n > 0:
                self.n -= 1
                return self.first
        return self.then


def test_temporary_failure_is_retried_then_delivered(make_server, tmp_path, dns_server,
                                                     smtp_script):
    rx = smtp_script(replies={"MAIL": Countdown(1, "451 4.7.1 greylisted, come back later")})
    dns_server.zone.update({"far.test": {"A": ["127.0.0.1"]}})
    srv = start_postino(make_server, tmp_path, outbound_conf(dns_server, rx.port))
    user, pw = srv.new_user("grey")
    msg = make_message("greylisted", sender=user, to="g@far.test")
    submit(srv, user, pw, ["g@far.test"], msg)
    out = wait_for(lambda: (lambda r: r.stdout if "greylisted" in r.stdout else None)(
        srv.cli("queue", "list")), timeout=20)
    assert out and "attempts=1" in out and "451 4.7.1" in out, out
    assert wait_for(lambda: done(rx), timeout=20), srv.stderr()
    assert wait_for(lambda: queue_empty(srv), timeout=10)
    assert "status=deferred" in srv.stderr() and "status=sent" in srv.stderr()


def test_mixed_recipient_results(make_server, tmp_path, dns_server, smtp_script):
    rx = smtp_script(replies={"RCPT": per_rcpt({"bad@far.test": "550 5.1.1 no such user here",
                                               "later@far.test": "452 4.2.2 mailbox full"})})
    dns_server.zone.update({"far.test": {"A": ["127.0.0.1"]}})
    srv = start_postino(make_server, tmp_path, outbound_conf(dns_server, rx.port))
    user, pw = srv.new_user("mix")
    submit(srv, user, pw, ["good@far.test", "bad@far.test", "later@far.test"],
           make_message("mixed", sender=user))
    (n,) = notices(srv, user, pw, 1)
    _, rcpts = dsn_fields(n)
    assert [r["Final-Recipient"] for r in rcpts] == ["rfc822; bad@far.test"], rcpts
    assert rcpts[0]["Status"] == "5.1.1"
    assert "no such user here" in rcpts[0]["Diagnostic-Code"]
    assert rcpts[0]["Remote-MTA"] == "dns; far.test"
    out = srv.cli("queue", "list").stdout
    # Only the deferred one waits; the others left the queue.
    assert "to=<later@far.test>" in out and "good@far.test" not in out and \
        "bad@far.test" not in out, out
    assert any("RCPT TO:<good@far.test>" in " ".join(t["rcpts"]) for t in done(rx))


def test_delay_notice_then_expiry(make_server, tmp_path, dns_server, smtp_script):
    rx = smtp_script(replies={"RCPT": "451 4.3.0 try again"})
    dns_server.zone.update({"far.test": {"A": ["127.0.0.1"]}})
    srv = start_postino(make_server, tmp_path,
                        outbound_conf(dns_server, rx.port, lifetime=6, delay=2))
    user, pw = srv.new_user("slow")
    submit(srv, user, pw, ["s@far.test"], make_message("slowly", sender=user))
    first, second = notices(srv, user, pw, 2, timeout=40)[:2]
    assert first["Subject"].startswith("Delayed Mail"), first["Subject"]
    _, (r,) = dsn_fields(first)
    assert r["Action"] == "delayed" and r["Status"].startswith("4."), r
    assert "Will-Retry-Until" in r
    assert second["Subject"] == "Undelivered Mail Returned to Sender"
    _, (r,) = dsn_fields(second)
    assert r["Action"] == "failed" and r["Status"] == "4.4.7", r
    assert "try again" in r["Diagnostic-Code"], r
    assert wait_for(lambda: queue_empty(srv), timeout=10)


@pytest.mark.parametrize("offers_dsn", [True, False])
def test_dsn_parameters_go_onward_and_success_is_reported(make_server, tmp_path, dns_server,
                                                          smtp_script, offers_dsn):
    ehlo = ["PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES"] + (["DSN"] if offers_dsn else [])
    rx = smtp_script(ehlo=ehlo)
    dns_server.zone.update({"far.test": {"A": ["127.0.0.1"]}})
    srv = start_postino(make_server, tmp_path, outbound_conf(dns_server, rx.port))
    user, pw = srv.new_user("dsn")
    submit(srv, user, pw, ["d@far.test"], make_message("dsn onward", sender=user),
           mail_params=" RET=HDRS ENVID=Q+2B1", rcpt_params=" NOTIFY=SUCCESS,FAILURE "
           "ORCPT=rfc822;alias@far.test")
    assert wait_for(lambda: done(rx), timeout=20), srv.stderr()
    assert wait_for(lambda: queue_empty(srv), timeout=10)
    (t,) = done(rx)
    if offers_dsn:
        # RFC 3461 5.2.2: NOTIFY goes on, and the next server reports
        # success; a notice of ours would be a second, false one.
        assert "RET=HDRS" in t["mail"] and "ENVID=Q+2B1" in t["mail"], t["mail"]
        assert "NOTIFY=SUCCESS,FAILURE" in t["rcpts"][0] and \
            "ORCPT=rfc822;alias@far.test" in t["rcpts"][0], t["rcpts"]
        srv.wait_log("status=sent")
        assert srv.retr_all(user, pw) == []
        return
    assert "RET=" not in t["mail"] and "NOTIFY=" not in t["rcpts"][0], t
    (n,) = notices(srv, user, pw, 1)
    assert n["Subject"] == "Successful Mail Delivery Report"
    common, (r,) = dsn_fields(n)
    assert common["Original-Envelope-Id"] == "Q+1"
    # The server could not carry NOTIFY on: our duty ends here, "relayed".
    assert r["Action"] == "relayed" and r["Status"].startswith("2."), r
    assert r["Original-Recipient"] == "rfc822;alias@far.test"


def test_refused_data_keeps_each_rcpt_answer(make_server, tmp_path, dns_server, smtp_script):
    # RCPT 550 for one, 250 for the other, then DATA 451: the refused one
    # bounces with its own 550; the accepted one waits for a retry.
    rx = smtp_script(replies={"RCPT": per_rcpt({"no@far.test": "550 5.1.1 unknown user"}),
                              "DATA": "451 4.3.0 try later"})
    dns_server.zone.update({"far.test": {"A": ["127.0.0.1"]}})
    srv = start_postino(make_server, tmp_path, outbound_conf(dns_server, rx.port, backoff=3600))
    user, pw = srv.new_user("ref")
    submit(srv, user, pw, ["no@far.test", "yes@far.test"], make_message("refused", sender=user))
    (n,) = notices(srv, user, pw, 1)
    _, rs = dsn_fields(n)
    assert [b["Final-Recipient"] for b in rs] == ["rfc822; no@far.test"], rs
    assert rs[0]["Status"] == "5.1.1" and rs[0]["Diagnostic-Code"].startswith("smtp; 550 5.1.1")
    out = srv.cli("queue", "list").stdout
    assert "to=<yes@far.test> state=deferred" in out and "no@far.test" not in out, out
    assert "451 4.3.0" in out, out


def test_route_to_own_mx_gets_no_relay_credentials(make_server, tmp_path, dns_server,
                                                   smtp_script):
    # outbound.relay has credentials; a route sends far.test to its own MX.
    # That MX offers AUTH but must never see the relay's login.
    relay = smtp_script(ehlo=["PIPELINING", "AUTH PLAIN"])
    mx = smtp_script(ehlo=["PIPELINING", "AUTH PLAIN"])
    dns_server.zone.update({"far.test": {"A": ["127.0.0.1"]}})
    extra = (f'relay = "[127.0.0.1]:{relay.port}"; relay_user = "secret-user"; '
             f'relay_password = "secret-pass"; routes = ( {{ domain = "far.test"; }} );')
    srv = start_postino(make_server, tmp_path, outbound_conf(dns_server, mx.port, extra=extra))
    user, pw = srv.new_user("rt")
    submit(srv, user, pw, ["x@far.test"], make_message("own mx", sender=user))
    assert wait_for(lambda: done(mx), timeout=20), srv.stderr()
    assert all(s.auth is None for s in mx.sessions), [s.auth for s in mx.sessions]
    assert not relay.sessions


def test_connection_dropped_in_data_is_retried(make_server, tmp_path, dns_server, smtp_script):
    calls = {"n": 0}

    def dot(sess, arg):
        calls["n"] += 1
        return DROP if calls["n"] == 1 else "250 2.0.0 queued"

    rx = smtp_script(replies={"DOT": dot})
    dns_server.zone.update({"far.test": {"A": ["127.0.0.1"]}})
    srv = start_postino(make_server, tmp_path, outbound_conf(dns_server, rx.port))
    user, pw = srv.new_user("drop")
    submit(srv, user, pw, ["d@far.test"], make_message("dropped once", sender=user))
    assert wait_for(lambda: calls["n"] >= 2, timeout=30), srv.stderr()
    assert wait_for(lambda: queue_empty(srv), timeout=10)


def test_queue_bounce_and_flush_commands(make_server, tmp_path, dns_server, smtp_script):
    rx = smtp_script(replies={"RCPT": "451 4.3.0 not now"})
    dns_server.zone.update({"far.test": {"A": ["127.0.0.1"]}})
    srv = start_postino(make_server, tmp_path, outbound_conf(dns_server, rx.port, backoff=3600))
    user, pw = srv.new_user("ops")
    submit(srv, user, pw, ["o@far.test"], make_message("operator", sender=user))
    out = wait_for(lambda: (lambda r: r.stdout if "attempts=1" in r.stdout else None)(
        srv.cli("queue", "list")), timeout=20)
    assert out, srv.cli("queue", "list").stdout
    qid = out.split()[0]
    r = srv.cli("queue", "bounce", qid)
    assert r.returncode == 0 and f"bouncing {qid}" in r.stdout, r
    (n,) = notices(srv, user, pw, 1)
    _, (rr,) = dsn_fields(n)
    assert rr["Action"] == "failed" and "postmaster" in rr["Diagnostic-Code"], rr
    assert wait_for(lambda: queue_empty(srv), timeout=10)
    assert srv.cli("queue", "bounce", qid).returncode == 1
    assert srv.cli("queue", "flush", "x1").returncode == 2


def test_queue_flush_pokes_the_runner_through_a_fifo(make_server, tmp_path, dns_server,
                                                     smtp_script):
    # `queue flush` writes a byte to DATA/queue.fifo after its commit
    # (core/queue_poke.c), which the runner watches: it scans at once
    # instead of at its next poll of the queue's generation.  The FIFO is
    # the daemon's own (0600); with no daemon reading it, flush neither
    # blocks nor fails.
    import os
    import stat
    rx = smtp_script(replies={"RCPT": "451 4.3.0 not now"})
    dns_server.zone.update({"far.test": {"A": ["127.0.0.1"]}})
    srv = start_postino(make_server, tmp_path, outbound_conf(dns_server, rx.port, backoff=3600))
    fifo = srv.data_dir / "queue.fifo"
    st = os.stat(fifo)
    assert stat.S_ISFIFO(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    user, pw = srv.new_user("poke")
    submit(srv, user, pw, ["p@far.test"], make_message("poked", sender=user))
    assert wait_for(lambda: "attempts=1" in srv.cli("queue", "list").stdout, timeout=20)
    r = srv.cli("queue", "flush")
    assert r.returncode == 0 and "flushing 1" in r.stdout, r
    assert wait_for(lambda: "attempts=2" in srv.cli("queue", "list").stdout, timeout=20)
    srv.stop()
    srv.assert_clean()
    r = srv.cli("queue", "flush", timeout=30)
    assert r.returncode == 0 and "flushing 1" in r.stdout, r


def test_to_a_second_postino(make_server, tmp_path, dns_server):
    # The receiving side is postino too, for far.test: its user gets it.
    rconf = tmp_path / "rx.conf"
    rconf.write_text('smtp = { local_domains = [ "far.test" ]; };\n')
    rconf.chmod(0o644)
    rx = make_server(config=rconf).start()
    ruser, rpw = rx.add_user("rcv@far.test", "pw-receiver")
    dns_server.zone.update({"far.test": {"MX": [(5, "mx.far.test")]},
                            "mx.far.test": {"A": ["127.0.0.1"]}})
    srv = start_postino(make_server, tmp_path, outbound_conf(dns_server, rx.ports["smtp"]))
    user, pw = srv.new_user("snd")
    msg = make_message("between servers", sender=user, to=ruser)
    submit(srv, user, pw, [ruser], msg)
    got = wait_for(lambda: rx.retr_all(ruser, rpw), timeout=20)
    assert got and len(got) == 1, srv.stderr()
    assert got[0].endswith(msg)
    # Both hops wrote their Received: line.
    head = got[0].split(b"\r\n\r\n")[0]
    assert head.count(b"Received: ") >= 2, head
    assert wait_for(lambda: queue_empty(srv), timeout=10)


def test_kill9_during_outbound_loses_nothing(make_server, tmp_path, dns_server, smtp_script):
    # A slow receiver, 20 messages, kill -9 while they are on their way,
    # restart: every message arrives (a duplicate is allowed only for one
    # whose 250 came just before the kill).
    from smtp_script import Drip
    rx = smtp_script(replies={"DOT": Drip(b"250 2.0.0 queued\r\n", 0.02)})
    dns_server.zone.update({"far.test": {"A": ["127.0.0.1"]}})
    srv = start_postino(make_server, tmp_path, outbound_conf(dns_server, rx.port))
    user, pw = srv.new_user("k9")
    subjects = [f"k9 message {i}" for i in range(20)]
    for subj in subjects:
        submit(srv, user, pw, ["k@far.test"], make_message(subj, sender=user))
    wait_for(lambda: len(done(rx)) >= 3, timeout=20)
    srv.kill9()
    srv.start()
    assert wait_for(lambda: queue_empty(srv), timeout=60), srv.cli("queue", "list").stdout
    seen = set()
    for t in done(rx):
        for subj in subjects:
            if f"Subject: {subj}\r\n".encode() in t["data"]:
                seen.add(subj)
    assert seen == set(subjects), sorted(set(subjects) - seen)


def test_sigterm_during_outbound_keeps_every_recorded_outcome(make_server, tmp_path,
                                                              dns_server, smtp_script):
    # Outcomes are committed by worker-pool jobs (smtp_queue_outcome.c);
    # a shutdown in the middle of a drain must still commit every one
    # whose 250 was read (logged status=sent), queued jobs included, and
    # exit cleanly (the sanitizer run checks the jobs that outlive the
    # runner).  After the restart nothing is lost, and only a message
    # whose 250 the runner never read may come twice.
    rx = smtp_script()
    dns_server.zone.update({"far.test": {"A": ["127.0.0.1"]}})
    srv = start_postino(make_server, tmp_path, outbound_conf(dns_server, rx.port))
    user, pw = srv.new_user("term")
    subjects = [f"term message {i}" for i in range(40)]
    for subj in subjects:
        submit(srv, user, pw, ["t@far.test"], make_message(subj, sender=user))
    wait_for(lambda: len(done(rx)) >= 5, timeout=20)
    srv.stop()
    srv.assert_clean()
    sent_before = srv.stderr().count("status=sent")
    received_before = len(done(rx))
    srv.start()
    assert wait_for(lambda: queue_empty(srv), timeout=60), srv.cli("queue", "list").stdout
    got = [subj for t in done(rx) for subj in subjects
           if f"Subject: {subj}\r\n".encode() in t["data"]]
    assert set(got) == set(subjects), sorted(set(subjects) - set(got))
    assert len(got) - len(subjects) <= received_before - sent_before, \
        (len(got), received_before, sent_before)


def test_submitted_mail_is_dkim_signed(make_server, tmp_path, world):
    # A key for the sender's domain (localhost, the users' domain here):
    # what the receiver gets verifies with python3-dkim against the TXT
    # record keygen printed (RFC 6376).
    import dkim
    import re
    dns, rx = world
    srv = start_postino(make_server, tmp_path, outbound_conf(dns, rx.port))
    r = srv.cli("dkim", "keygen", "localhost", "sel1")
    assert r.returncode == 0, r.stderr
    m = re.fullmatch(r'(\S+) IN TXT((?: "[^"]*")+)', r.stdout.strip())
    assert m, r.stdout
    record = "".join(re.findall(r'"([^"]*)"', m.group(2)))
    srv.restart()   # keys are read at start (or SIGHUP)
    user, pw = srv.new_user("signed")
    msg = make_message("signed onward", sender=user, to="x@far.test")
    submit(srv, user, pw, ["x@far.test"], msg)
    assert wait_for(lambda: done(rx), timeout=20), srv.stderr()
    (t,) = done(rx)
    data = t["data"]
    assert data.startswith(b"DKIM-Signature: ") or b"\r\nDKIM-Signature: " in data, data[:300]

    def dnsfunc(name, timeout=5):
        n = name.decode() if isinstance(name, bytes) else name
        return record.encode() if n.rstrip(".") == "sel1._domainkey.localhost" else b""
    assert dkim.verify(data, dnsfunc=dnsfunc)
    # Tampered on the way: it no longer verifies.
    assert not dkim.verify(data.replace(b"signed onward", b"signed 0nward"), dnsfunc=dnsfunc)


def test_signing_on_the_pool_signs_every_message(make_server, tmp_path, world):
    # Signing runs as worker-pool jobs (smtp_queue_content.c), several at
    # once: each message gets its own valid signature.  One has 20 KiB of
    # header fields before its From: (the header is read a piece at a
    # time until its blank line), one is a large message.
    import dkim
    import re
    dns, rx = world
    srv = start_postino(make_server, tmp_path, outbound_conf(dns, rx.port))
    r = srv.cli("dkim", "keygen", "localhost", "pool")
    assert r.returncode == 0, r.stderr
    m = re.fullmatch(r'(\S+) IN TXT((?: "[^"]*")+)', r.stdout.strip())
    record = "".join(re.findall(r'"([^"]*)"', m.group(2)))
    srv.restart()
    user, pw = srv.new_user("pooled")
    filler = [f"X-Filler-{i}: " + "f" * 70 for i in range(280)]
    msgs = [make_message(f"pooled {i}", sender=user, to="p@far.test") for i in range(8)]
    long_head = make_message("pooled long header", sender=user, to="p@far.test")
    head, body = long_head.split(b"\r\n\r\n", 1)
    msgs.append(("\r\n".join(filler) + "\r\n").encode() + head + b"\r\n\r\n" + body)
    msgs.append(make_message("pooled large", sender=user, to="p@far.test",
                             body=b"0123456789 abcdefghij\r\n" * 20000))
    for msg in msgs:
        submit(srv, user, pw, ["p@far.test"], msg)
    assert wait_for(lambda: len(done(rx)) >= len(msgs), timeout=30), srv.stderr()

    def dnsfunc(name, timeout=5):
        n = name.decode() if isinstance(name, bytes) else name
        return record.encode() if n.rstrip(".") == "pool._domainkey.localhost" else b""
    subjects = set()
    for t in done(rx):
        assert t["data"].startswith(b"DKIM-Signature: "), t["data"][:200]
        assert dkim.verify(t["data"], dnsfunc=dnsfunc), t["data"][:600]
        subjects.add(re.search(rb"\r\nSubject: ([^\r]*)", t["data"]).group(1))
    assert len(subjects) == len(msgs)


def test_smarthost_with_auth_over_tls(make_server, tmp_path, dns_server, smtp_script, smtp_certs):
    # A VPS whose port 25 is blocked: everything goes to the provider's
    # submission server, STARTTLS (its certificate checked against our CA,
    # read before the daemon drops its privileges, like its own
    # certificate), then AUTH; no MX lookup for the recipient's domain.
    rx = smtp_script(tls="good", ehlo=["PIPELINING", "8BITMIME", "AUTH PLAIN LOGIN"])
    extra = (f'relay = "[127.0.0.1]:{rx.port}"; relay_user = "me@provider.test"; '
             f'relay_password = "s3cret"; '
             f'tls_ca_file = "{smtp_certs.ca}";')
    conf = outbound_conf(dns_server, 25, extra=extra).replace('tls = "none";', 'tls = "verify";')
    srv = start_postino(make_server, tmp_path, conf)
    user, pw = srv.new_user("vps")
    submit(srv, user, pw, ["friend@anywhere.test"], make_message("via smarthost", sender=user))
    assert wait_for(lambda: done(rx), timeout=20), srv.stderr()
    (s,) = [s for s in rx.sessions if s.transactions]
    assert s.tls and s.auth == ("PLAIN", "me@provider.test", "s3cret"), (s.tls, s.auth)
    assert not [q for q in dns_server.queries if "anywhere.test" in q[0]], dns_server.queries
    assert wait_for(lambda: queue_empty(srv), timeout=10)
    assert "tls=TLSv1." in srv.stderr()


def test_smarthost_refusing_credentials_defers(make_server, tmp_path, dns_server, smtp_script,
                                              smtp_certs):
    # 535 from the relay is our configuration's fault, not the recipient's:
    # the mail waits (and says why) instead of bouncing.
    rx = smtp_script(tls="good", ehlo=["AUTH PLAIN"],
                     replies={"AUTH": "535 5.7.8 bad credentials"})
    extra = (f'relay = "[127.0.0.1]:{rx.port}"; relay_user = "me"; relay_password = "bad"; '
             f'tls_ca_file = "{smtp_certs.ca}";')
    srv = start_postino(make_server, tmp_path,
                        outbound_conf(dns_server, 25, extra=extra).replace('tls = "none";',
                                                                           'tls = "encrypt";'))
    user, pw = srv.new_user("vps2")
    submit(srv, user, pw, ["friend@anywhere.test"], make_message("refused", sender=user))
    out = wait_for(lambda: (lambda r: r.stdout if "bad credentials" in r.stdout else None)(
        srv.cli("queue", "list")), timeout=20)
    assert out and "to=<friend@anywhere.test> state=deferred" in out, out


@pytest.mark.parametrize("offers", [True, False])
def test_smtputf8_onward(make_server, tmp_path, dns_server, smtp_script, offers):
    # RFC 6531: an SMTPUTF8 submission to a UTF-8 address goes on with
    # SMTPUTF8 (its domain looked up by its A-label), or, to a server
    # without it, bounces with 5.6.7 (RFC 6531 3.2) instead of being
    # mangled.
    ehlo = ["PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES"] + (["SMTPUTF8"] if offers else [])
    rx = smtp_script(ehlo=ehlo)
    dns_server.zone.update({"xn--e1afmkfd.test": {"A": ["127.0.0.1"]}})   # пример.test
    srv = start_postino(make_server, tmp_path, outbound_conf(dns_server, rx.port))
    user, pw = srv.new_user("u8")
    to = "\u0434\u0440\u0443\u0433@\u043f\u0440\u0438\u043c\u0435\u0440.test"
    c = Conn.connect(srv.ports["smtps"], tls=True)
    assert c.smtp_reply().code == 220
    assert c.smtp_cmd("EHLO client.example.org").code == 250
    assert c.smtp_cmd("AUTH PLAIN " + plain(user, pw)).code == 235
    assert c.smtp_cmd(f"MAIL FROM:<{user}> SMTPUTF8".encode()).code == 250
    assert c.smtp_cmd(f"RCPT TO:<{to}>".encode()).code == 250
    assert c.smtp_cmd("DATA").code == 354
    from helpers import dot_stuff
    c.send(dot_stuff(make_message("utf8 onward", sender=user)) + b".\r\n")
    assert c.smtp_reply().code == 250
    c.smtp_quit()
    if offers:
        assert wait_for(lambda: done(rx), timeout=20), srv.stderr()
        (t,) = done(rx)
        assert "SMTPUTF8" in t["mail"], t["mail"]
        assert to in t["rcpts"][0], t["rcpts"]
        return
    # The notice about an SMTPUTF8 message is a global one (RFC 6533):
    # the UTF-8 recipient with its utf-8 address type, the message back
    # as message/global.
    (n,) = notices(srv, user, pw, 1)
    per_msg, (r,) = dsn_fields(n, "global-delivery-status")
    assert per_msg["Reporting-MTA"].startswith("dns; ")
    assert r["Action"] == "failed" and r["Status"] == "5.6.7", r
    assert r["Final-Recipient"] == "utf-8; " + to, r
    (returned,) = [p for p in n.get_payload() if p.get_content_type() == "message/global"]
    (orig,) = returned.get_payload()
    assert orig["Subject"] == "utf8 onward"
    assert not [p for p in n.walk() if p.get_content_type() in
                ("message/rfc822", "message/delivery-status", "text/rfc822-headers")]
    assert not done(rx)


# --- RFC 6152 3: 8-bit content to a server without 8BITMIME -------------------

NO_8BITMIME = ["PIPELINING", "SIZE 10485760", "ENHANCEDSTATUSCODES"]
TEXT_8BIT = ("Gr\u00fc\u00dfe aus K\u00f6ln. This line is long enough to be folded by the "
             "quoted-printable encoder, and ends in white space \r\n"
             ".\r\n= and -- and a dot\r\n").encode()
UTF8_MOSTLY = ("\u043f\u0440\u0438\u0432\u0435\u0442 " * 40 + "\r\n").encode()
BINARY = bytes(range(1, 256)) * 4


def mixed_8bit(sender, to):
    """A multipart/mixed of an 8-bit text part, mostly non-ASCII text, an
    8-bit binary part and a message/rfc822 with an 8-bit body, with the
    original bodies to compare."""
    inner = (b"From: x@y.test\r\nSubject: inner\r\n\r\n" + TEXT_8BIT)
    body = (b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n\r\n" + TEXT_8BIT +
            b"\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + UTF8_MOSTLY +
            b"\r\n--b1\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Transfer-Encoding: binary\r\n\r\n" +
            BINARY.replace(b"\r", b"").replace(b"\n", b"") +
            b"\r\n--b1\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
            inner + b"\r\n--b1--\r\n")
    msg = make_message("8bit onward", body=body, sender=sender, to=to,
                       extra_headers=("MIME-Version: 1.0",
                                      'Content-Type: multipart/mixed; boundary="b1"'))
    return msg


def test_8bit_is_converted_for_a_server_without_8bitmime(make_server, tmp_path, dns_server,
                                                       smtp_script):
    rx = smtp_script(ehlo=NO_8BITMIME)
    dns_server.zone.update({"far.test": {"A": ["127.0.0.1"]}})
    srv = start_postino(make_server, tmp_path, outbound_conf(dns_server, rx.port))
    user, pw = srv.new_user("eight")
    msg = mixed_8bit(user, "x@far.test")
    submit(srv, user, pw, ["x@far.test"], msg, mail_params=" BODY=8BITMIME")
    assert wait_for(lambda: done(rx), timeout=20), srv.stderr()
    (t,) = done(rx)
    assert "BODY=8BITMIME" not in t["mail"], t["mail"]
    data = t["data"]
    assert all(b < 0x80 for b in data), data
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))
    got = email.message_from_bytes(data, policy=email.policy.default)
    assert got.get_content_type() == "multipart/mixed"
    text, utf8, binary, rfc822 = got.get_payload()
    assert text["Content-Transfer-Encoding"] == "quoted-printable"
    assert text.get_payload(decode=True) == TEXT_8BIT
    assert utf8["Content-Transfer-Encoding"] == "base64"
    assert utf8.get_payload(decode=True) == UTF8_MOSTLY
    assert binary["Content-Transfer-Encoding"] == "base64"
    assert binary.get_payload(decode=True) == BINARY.replace(b"\r", b"").replace(b"\n", b"")
    # message/rfc822 is not encoded: converted inside (RFC 2046 5.2.1).
    assert rfc822["Content-Transfer-Encoding"] == "7bit"
    (inner,) = rfc822.get_payload()
    assert inner["Subject"] == "inner"
    assert inner.get_payload(decode=True) == TEXT_8BIT
    # The headers and the boundaries are as they were.
    assert b"Subject: 8bit onward\r\n" in data and data.count(b"--b1\r\n") == 4
    log = srv.stderr()
    assert "converted 8bit to 7bit for=" in log and "parts=4" in log, log
    assert wait_for(lambda: queue_empty(srv), timeout=10)


def test_8bit_header_cannot_be_converted(make_server, tmp_path, dns_server, smtp_script):
    rx = smtp_script(ehlo=NO_8BITMIME)
    dns_server.zone.update({"far.test": {"A": ["127.0.0.1"]}})
    srv = start_postino(make_server, tmp_path, outbound_conf(dns_server, rx.port))
    user, pw = srv.new_user("eighthdr")
    msg = make_message("Gr\u00fc\u00dfe".encode().decode("latin-1"), body=TEXT_8BIT, sender=user)
    submit(srv, user, pw, ["x@far.test"], msg.replace(b"Subject: Gr\xc3\x83\xc2\xbc",
                                                      b"Subject: Gr\xc3\xbc"),
           mail_params=" BODY=8BITMIME")
    (n,) = notices(srv, user, pw, 1)
    _, (r,) = dsn_fields(n)
    assert r["Action"] == "failed" and r["Status"] == "5.6.3", r
    assert "header" in r["Diagnostic-Code"] and "8BITMIME" in r["Diagnostic-Code"], r
    assert not done(rx)
    assert "8bit not convertible" in srv.stderr()


def test_8bit_signed_message_is_signed_in_its_7bit_form(make_server, tmp_path, dns_server,
                                                       smtp_script):
    # RFC 6376 5.3: converted before signing, so the signature holds at a
    # server without 8BITMIME (and at one with it: it gets the same form).
    import dkim
    import re
    rx = smtp_script(ehlo=NO_8BITMIME)
    dns_server.zone.update({"far.test": {"A": ["127.0.0.1"]}})
    srv = start_postino(make_server, tmp_path, outbound_conf(dns_server, rx.port))
    r = srv.cli("dkim", "keygen", "localhost", "sel1")
    assert r.returncode == 0, r.stderr
    m = re.fullmatch(r'(\S+) IN TXT((?: "[^"]*")+)', r.stdout.strip())
    record = "".join(re.findall(r'"([^"]*)"', m.group(2)))
    srv.restart()
    user, pw = srv.new_user("signed8")
    msg = mixed_8bit(user, "x@far.test")
    submit(srv, user, pw, ["x@far.test"], msg, mail_params=" BODY=8BITMIME")
    assert wait_for(lambda: done(rx), timeout=20), srv.stderr()
    (t,) = done(rx)
    data = t["data"]
    assert data.startswith(b"DKIM-Signature: ") and all(b < 0x80 for b in data), data[:300]

    def dnsfunc(name, timeout=5):
        n = name.decode() if isinstance(name, bytes) else name
        return record.encode() if n.rstrip(".") == "sel1._domainkey.localhost" else b""
    assert dkim.verify(data, dnsfunc=dnsfunc)
    got = email.message_from_bytes(data, policy=email.policy.default)
    assert got.get_payload()[0].get_payload(decode=True) == TEXT_8BIT
    assert "converted 8bit to 7bit for=dkim" in srv.stderr()
