"""Outbound SMTP client (smtp/smtp_client.c) through tests/tools/smtp_send
against scripted servers (smtp_script.py): pipelining, per-recipient
results, refusals of the whole message, what a message needs from the
server (SIZE, 8BITMIME, SMTPUTF8, DSN), content (dot-stuffing, bare LF,
streaming), TLS policies and certificates, AUTH, and servers that send
garbage, too much, nothing, or hang up."""
import os
import socket
import subprocess
from pathlib import Path

import pytest

import helpers
from smtp_script import DROP, ENDLESS, STALL, Drip, per_conn, per_rcpt

SEND = str(Path(helpers.BIN).parent / "tests" / "tools" / "smtp_send")


class Result:
    def __init__(self, out):
        self.lines = out.splitlines()
        self.events = []
        self.rcpts = {}
        for line in self.lines:
            kind, _, rest = line.partition(" ")
            if kind == "rcpt":
                addr, code, status, reply = (rest.split(" ", 3) + [""])[:4]
                self.rcpts[addr] = (int(code), status, reply)
            elif kind in ("done", "failed", "refused"):
                head, _, text = rest.partition(" text=")
                ev = dict(kv.split("=", 1) for kv in head.split())
                ev["kind"] = kind
                ev["text"] = text
                ev["code"] = int(ev["code"])
                self.events.append(ev)
            elif kind == "ready":
                self.events.append({"kind": "ready", **dict(kv.split("=", 1)
                                                           for kv in rest.split())})

    @property
    def last(self):
        return self.events[-1]

    def kinds(self):
        return [e["kind"] for e in self.events]


def send(srv, *extra, frm="a@x.test", to=("b@y.test",), tls="none", timeout_ms=10000,
         certs=None, host=None):
    cmd = [SEND, "--server", srv.address, "--from", frm, "--tls", tls,
           "--timeout", str(timeout_ms)]
    for t in to:
        cmd += ["--to", t]
    if certs is not None:
        cmd += ["--ca", certs.ca]
    if host:
        cmd += ["--host", host]
    cmd += list(extra)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    bad = helpers.sanitizer_lines(p.stderr)
    assert not bad, p.stderr
    assert p.returncode == 0, p.stderr
    return Result(p.stdout)


def verbs(sess):
    return [c.split(" ", 1)[0].split(":", 1)[0].upper() for c in sess.commands]


# --- transactions -----------------------------------------------------------

def test_pipelined_delivery_and_quit(smtp_script):
    srv = smtp_script()
    r = send(srv, to=("b@y.test", "c@y.test"))
    assert r.kinds() == ["ready", "done"]
    assert r.rcpts["b@y.test"][:2] == (250, "2.0.0")
    assert r.rcpts["c@y.test"][:2] == (250, "2.0.0")
    sess = srv.sessions[0]
    assert verbs(sess) == ["EHLO", "MAIL", "RCPT", "RCPT", "DATA", "QUIT"]
    # RFC 2920: MAIL and both RCPTs in one write, DATA only after their replies.
    assert any(b"MAIL FROM" in c and c.count(b"RCPT TO") == 2 and b"DATA" not in c
               for c in sess.chunks)
    t = sess.transactions[0]
    assert t["mail"].startswith("MAIL FROM:<a@x.test> SIZE=")
    assert t["data"].endswith(b"\r\n\r\nhello\r\n")


def test_without_pipelining_one_command_at_a_time(smtp_script):
    srv = smtp_script(ehlo=["SIZE 100000", "8BITMIME"])
    r = send(srv, to=("b@y.test", "c@y.test"))
    assert r.last["kind"] == "done"
    sess = srv.sessions[0]
    commands = [c for c in sess.chunks if not c.startswith(b"From:")]
    assert len(commands) == len(sess.commands)
    for c in commands:
        assert c.count(b"\r\n") == 1, c


def test_mixed_recipient_results(smtp_script):
    srv = smtp_script(replies={"RCPT": per_rcpt({
        "gone@y.test": "550 5.1.1 no such user",
        "full@y.test": "452 4.2.2 mailbox full"})})
    r = send(srv, to=("b@y.test", "gone@y.test", "full@y.test"))
    assert r.last["kind"] == "done"
    assert r.rcpts["gone@y.test"] == (550, "5.1.1", "no such user")
    assert r.rcpts["full@y.test"] == (452, "4.2.2", "mailbox full")
    assert r.rcpts["b@y.test"][:2] == (250, "2.0.0")
    assert len(srv.transactions()) == 1 and srv.transactions()[0]["data"]


@pytest.mark.parametrize("ehlo", [None, ["8BITMIME"]], ids=["pipelining", "plain"])
def test_no_recipient_accepted_no_data_then_rset(smtp_script, ehlo):
    srv = smtp_script(ehlo=ehlo, replies={"RCPT": "550 5.1.1 no such user"})
    r = send(srv, "--reuse", "2", to=("b@y.test", "c@y.test"))
    assert r.kinds() == ["ready", "done", "done"]
    assert r.rcpts["b@y.test"] == (550, "5.1.1", "no such user")
    v = verbs(srv.sessions[0])
    assert "DATA" not in v
    assert v.count("RSET") == 2 and v[-1] == "QUIT"


@pytest.mark.parametrize("ehlo", [None, ["8BITMIME"]], ids=["pipelining", "plain"])
def test_mail_refused_applies_to_every_recipient(smtp_script, ehlo):
    srv = smtp_script(ehlo=ehlo, replies={"MAIL": "550 5.7.1 sender rejected",
                                          "RCPT": "503 5.5.1 need MAIL"})
    r = send(srv, "--reuse", "2", to=("b@y.test", "c@y.test"))
    assert r.kinds() == ["ready", "done", "done"]
    ev = r.last
    assert ev["msg_refused"] == "1" and ev["permanent"] == "1" and ev["code"] == 550
    for a in ("b@y.test", "c@y.test"):
        assert r.rcpts[a] == (550, "5.7.1", "sender rejected")
    assert "DATA" not in verbs(srv.sessions[0])


def test_temporary_failure_then_success_on_next_connection(smtp_script):
    srv = smtp_script(replies={"RCPT": per_conn(["451 4.3.0 try again later",
                                                 "250 2.1.5 ok"])})
    r1 = send(srv)
    assert r1.rcpts["b@y.test"] == (451, "4.3.0", "try again later")
    r2 = send(srv)
    assert r2.rcpts["b@y.test"][0] == 250
    assert len([t for t in srv.transactions() if t["data"]]) == 1


def test_data_refused(smtp_script):
    srv = smtp_script(replies={"DATA": "554 5.6.0 no thanks"})
    r = send(srv, to=("b@y.test",))
    assert r.last["msg_refused"] == "1" and r.last["code"] == 554
    assert r.rcpts["b@y.test"] == (554, "5.6.0", "no thanks")
    assert verbs(srv.sessions[0])[-2:] == ["RSET", "QUIT"]


def test_final_dot_refused(smtp_script):
    srv = smtp_script(replies={"DOT": "552-5.3.4 message\n552 5.3.4 too big"})
    r = send(srv)
    assert r.last["kind"] == "done" and r.last["msg_refused"] == "0"
    assert r.rcpts["b@y.test"] == (552, "5.3.4", "message too big")


def test_shutdown_frees_a_client_still_saying_quit(smtp_script):
    # The loop stops right after the close, while the client waits for the
    # 221 that never comes: smtp_client_shutdown must find and free it.
    srv = smtp_script(replies={"QUIT": STALL})
    r = send(srv, "--no-linger")
    assert r.kinds() == ["ready", "done"]
    assert "shutdown freed=1" in r.lines
    # Left to run, the client finishes QUIT by itself: nothing to free.
    r = send(srv, timeout_ms=1000)
    assert "shutdown freed=0" in r.lines


def test_connection_reuse(smtp_script):
    srv = smtp_script()
    r = send(srv, "--reuse", "3")
    assert r.kinds() == ["ready", "done", "done", "done"]
    assert len(srv.sessions) == 1 and len(srv.sessions[0].transactions) == 3


# --- content ----------------------------------------------------------------

def test_dot_stuffing_and_line_ends(smtp_script, tmp_path):
    msg = tmp_path / "m"
    msg.write_bytes(b"Subject: dots\r\n\r\n.hidden\r\n..two\nbare lf\n.\nbare\rcr\r\r\n."
                    b"no final newline")
    srv = smtp_script()
    r = send(srv, "--file", str(msg))
    assert r.last["kind"] == "done"
    t = srv.transactions()[0]
    assert t["raw"] == (b"Subject: dots\r\n\r\n..hidden\r\n...two\r\nbare lf\r\n..\r\n"
                        b"bare\r\ncr\r\n\r\n..no final newline\r\n.\r\n")
    assert t["data"] == (b"Subject: dots\r\n\r\n.hidden\r\n..two\r\nbare lf\r\n.\r\n"
                         b"bare\r\ncr\r\n\r\n.no final newline\r\n")


def test_empty_message(smtp_script, tmp_path):
    msg = tmp_path / "m"
    msg.write_bytes(b"")
    srv = smtp_script()
    send(srv, "--file", str(msg))
    assert srv.transactions()[0]["raw"] == b".\r\n"


def test_large_message_streamed(smtp_script, tmp_path):
    msg = tmp_path / "m"
    body = b"Subject: big\r\n\r\n" + b"".join(b".line %07d of a big message\r\n" % i
                                               for i in range(100000))
    msg.write_bytes(body)
    srv = smtp_script()
    r = send(srv, "--file", str(msg))
    assert r.last["kind"] == "done"
    assert srv.transactions()[0]["data"] == body


def test_content_longer_than_its_size_is_not_sent(smtp_script, tmp_path):
    msg = tmp_path / "m"
    msg.write_bytes(b"Subject: x\r\n\r\n" + b"y" * 100000 + b"\r\n")
    srv = smtp_script()
    r = send(srv, "--file", str(msg), "--size", "1000")
    assert r.last["kind"] == "failed" and r.last["code"] == 451
    assert "longer than its recorded size" in r.last["text"]
    assert r.rcpts["b@y.test"][0] == 451
    # No final dot went out: the server never completed the transaction.
    assert srv.transactions()[0]["data"] is None


# --- what a message needs -----------------------------------------------------

def test_size_limit_refused_before_anything_is_sent(smtp_script, tmp_path):
    msg = tmp_path / "m"
    msg.write_bytes(b"x" * 5000)
    srv = smtp_script(ehlo=["PIPELINING", "SIZE 1000"])
    r = send(srv, "--file", str(msg))
    assert r.last["kind"] == "refused"
    assert (r.last["code"], r.last["status"], r.last["permanent"]) == (552, "5.3.4", "1")
    assert r.rcpts["b@y.test"][:2] == (552, "5.3.4")
    assert "MAIL" not in verbs(srv.sessions[0])


def test_8bit_needs_8bitmime(smtp_script):
    srv = smtp_script(ehlo=["PIPELINING"])
    r = send(srv, "--8bit")
    assert (r.last["kind"], r.last["code"], r.last["status"]) == ("refused", 554, "5.6.3")
    srv2 = smtp_script()
    r = send(srv2, "--8bit")
    assert r.last["kind"] == "done"
    assert "BODY=8BITMIME" in srv2.transactions()[0]["mail"]


def test_smtputf8(smtp_script):
    srv = smtp_script()
    r = send(srv, "--utf8")
    assert (r.last["kind"], r.last["code"], r.last["status"]) == ("refused", 553, "5.6.7")
    # A UTF-8 address needs it too, even when the caller did not say so.
    r = send(srv, to=("bjørn@y.test",))
    assert r.last["status"] == "5.6.7"
    srv2 = smtp_script(ehlo=["PIPELINING", "8BITMIME", "SMTPUTF8"])
    r = send(srv2, to=("bjørn@y.test",))
    assert r.last["kind"] == "done"
    assert srv2.transactions()[0]["mail"].endswith(" SMTPUTF8")
    assert srv2.transactions()[0]["rcpts"] == ["RCPT TO:<bjørn@y.test>"]


def test_dsn_parameters_only_when_offered(smtp_script):
    args = ("--notify", "SUCCESS,FAILURE", "--orcpt", "--ret", "HDRS", "--envid", "id+1=x y")
    srv = smtp_script(ehlo=["PIPELINING", "DSN"])
    send(srv, *args, to=("b+tag@y.test",))
    t = srv.transactions()[0]
    assert t["mail"] == "MAIL FROM:<a@x.test> RET=HDRS ENVID=id+2B1+3Dx+20y"
    assert t["rcpts"] == ["RCPT TO:<b+tag@y.test> NOTIFY=SUCCESS,FAILURE "
                          "ORCPT=rfc822;b+2Btag@y.test"]
    srv2 = smtp_script(ehlo=["PIPELINING"])
    send(srv2, *args)
    t = srv2.transactions()[0]
    assert t["mail"] == "MAIL FROM:<a@x.test>" and t["rcpts"] == ["RCPT TO:<b@y.test>"]


def test_null_sender_and_command_injection(smtp_script):
    srv = smtp_script()
    r = send(srv, frm="")
    assert srv.transactions()[0]["mail"].startswith("MAIL FROM:<> ")
    r = send(srv, to=("b@y.test>\r\nRSET",))
    assert (r.last["kind"], r.last["code"], r.last["status"]) == ("refused", 553, "5.1.3")
    assert r.rcpts["b@y.test>??RSET"][0] == 553
    assert "RSET" not in verbs(srv.sessions[1])


# --- session ----------------------------------------------------------------

def test_helo_when_ehlo_refused(smtp_script):
    srv = smtp_script(replies={"EHLO": "502 5.5.1 what is EHLO"})
    r = send(srv, "--helo", "out.example.org")
    assert r.last["kind"] == "done"
    assert srv.sessions[0].commands[:2] == ["EHLO out.example.org", "HELO out.example.org"]
    # No extensions after HELO: no SIZE parameter.
    assert srv.transactions()[0]["mail"] == "MAIL FROM:<a@x.test>"


@pytest.mark.parametrize("greeting,permanent", [("554 5.3.2 no service here", "1"),
                                                ("421 4.3.2 busy", "0")])
def test_greeting_refused(smtp_script, greeting, permanent):
    srv = smtp_script(replies={"greeting": greeting})
    r = send(srv)
    assert r.kinds() == ["failed"]
    assert r.last["permanent"] == permanent
    assert r.last["code"] == int(greeting[:3])


def test_421_in_the_middle(smtp_script):
    srv = smtp_script(replies={"RCPT": per_rcpt({"c@y.test": ("421 4.3.2 shutting down",
                                                              DROP)})})
    r = send(srv, to=("b@y.test", "c@y.test"))
    assert r.last["kind"] == "failed" and r.last["code"] == 421
    assert r.rcpts["b@y.test"][0] == 0   # accepted, but never delivered: unknown


def test_connect_refused(smtp_script):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()

    class Closed:
        address = f"127.0.0.1:{port}"
    r = send(Closed)
    assert r.kinds() == ["failed"]
    assert "refused" in r.last["text"].lower()


def test_source_address(smtp_script):
    srv = smtp_script(host="127.0.0.1")
    send(srv, "--bind", "127.0.0.2")
    assert srv.sessions[0].peer == "127.0.0.2"


def test_ipv6(smtp_script):
    try:
        srv = smtp_script(host="::1")
    except OSError:
        pytest.skip("no IPv6 loopback")
    r = send(srv)
    assert r.last["kind"] == "done"
    assert srv.sessions[0].peer == "::1"


# --- TLS ----------------------------------------------------------------------

@pytest.mark.parametrize("policy", ["may", "encrypt", "verify"])
def test_starttls_good_certificate(smtp_script, smtp_certs, policy):
    srv = smtp_script(tls="good")
    r = send(srv, tls=policy, certs=smtp_certs, host="mx.test")
    assert r.events[0]["tls"] in ("TLSv1.2", "TLSv1.3")
    assert r.last["kind"] == "done"
    sess = srv.sessions[0]
    assert sess.tls and verbs(sess)[:3] == ["EHLO", "STARTTLS", "EHLO"]


def test_tls_none_does_not_starttls(smtp_script, smtp_certs):
    srv = smtp_script(tls="good")
    r = send(srv, tls="none")
    assert r.events[0]["tls"] == "none" and "STARTTLS" not in verbs(srv.sessions[0])


@pytest.mark.parametrize("cert,host,why", [
    ("selfsigned", "mx.test", "certificate verification failed"),
    ("expired", "mx.test", "expired"),
    ("wrongname", "mx.test", "hostname mismatch"),
    ("good", "other.test", "hostname mismatch"),
])
def test_verify_refuses_bad_certificates(smtp_script, smtp_certs, cert, host, why):
    srv = smtp_script(tls=cert)
    r = send(srv, tls="verify", certs=smtp_certs, host=host)
    assert r.kinds() == ["failed"]
    assert r.last["permanent"] == "0" and r.last["tls_failed"] == "0"
    assert why in r.last["text"], r.last["text"]
    assert srv.transactions() == []


@pytest.mark.parametrize("cert", ["selfsigned", "expired"])
def test_encrypt_accepts_any_certificate(smtp_script, smtp_certs, cert):
    srv = smtp_script(tls=cert)
    r = send(srv, tls="encrypt", certs=smtp_certs)
    assert r.last["kind"] == "done" and srv.sessions[0].tls


def test_tls_required_but_not_offered(smtp_script):
    srv = smtp_script(tls=None)
    for policy in ("encrypt", "verify"):
        r = send(srv, tls=policy)
        assert r.kinds() == ["failed"]
        assert r.last["status"] == "4.7.4" and r.last["permanent"] == "0"
    r = send(srv, tls="may")
    assert r.last["kind"] == "done"


def test_handshake_failure(smtp_script):
    srv = smtp_script(tls="fail")
    r = send(srv, tls="may")
    assert r.kinds() == ["failed"] and r.last["tls_failed"] == "1"
    r = send(srv, tls="encrypt")
    assert r.kinds() == ["failed"] and r.last["tls_failed"] == "0"
    assert "TLS" in r.last["text"]
    assert srv.transactions() == []


def test_plaintext_after_starttls_go_ahead_is_dropped(smtp_script, smtp_certs):
    # Bytes sent in clear after the 220 could be injected by anyone on the
    # path: they must not be read as TLS nor as a reply after the handshake.
    srv = smtp_script(tls="good", replies={"STARTTLS": b"220 go ahead\r\n250 injected\r\n"})
    r = send(srv, tls="encrypt", certs=smtp_certs)
    assert r.last["kind"] == "done" and srv.sessions[0].tls


def test_starttls_refused(smtp_script):
    srv = smtp_script(tls="good", replies={"STARTTLS": "454 4.7.0 TLS not available"})
    r = send(srv, tls="may")
    assert r.last["kind"] == "done" and r.events[0]["tls"] == "none"
    r = send(srv, tls="encrypt")
    assert r.kinds() == ["failed"] and r.last["code"] == 454


# --- AUTH -----------------------------------------------------------------------

@pytest.mark.parametrize("mechs,used", [("AUTH LOGIN PLAIN", "PLAIN"), ("AUTH LOGIN", "LOGIN")])
def test_auth_over_tls(smtp_script, smtp_certs, mechs, used):
    srv = smtp_script(tls="good", ehlo=["PIPELINING", mechs])
    r = send(srv, "--auth", "relay@x.test:s3cret pass", tls="encrypt")
    assert r.last["kind"] == "done"
    assert srv.sessions[0].auth == (used, "relay@x.test", "s3cret pass")


def test_auth_never_in_clear(smtp_script):
    srv = smtp_script(tls=None, ehlo=["PIPELINING", "AUTH PLAIN LOGIN"])
    for policy in ("none", "may"):
        r = send(srv, "--auth", "u:p", tls=policy)
        assert r.kinds() == ["failed"] and r.last["permanent"] == "1"
        assert "without TLS" in r.last["text"]
    assert all("AUTH" not in verbs(s) for s in srv.sessions)


def test_auth_refused(smtp_script):
    srv = smtp_script(tls="good", ehlo=["AUTH PLAIN"],
                      replies={"AUTH": "535 5.7.8 bad credentials"})
    r = send(srv, "--auth", "u:p", tls="encrypt")
    assert r.kinds() == ["failed"]
    assert (r.last["code"], r.last["permanent"]) == (535, "1")


# --- broken servers -----------------------------------------------------------

@pytest.mark.parametrize("key,reply,why", [
    ("greeting", b"garbage\r\n", "malformed reply"),
    ("greeting", b"220-ok\r\n221 changed\r\n", "changes inside"),
    ("EHLO", ENDLESS, "too many lines"),
    ("EHLO", b"250 " + b"x" * 5000 + b"\r\n", "too long"),
    ("MAIL", b"250 " + b"x" * 100000, "too long"),
])
def test_garbage_replies(smtp_script, key, reply, why):
    srv = smtp_script(replies={key: reply})
    r = send(srv)
    assert r.last["kind"] == "failed" and r.last["permanent"] == "0"
    assert why in r.last["text"], r.last["text"]


@pytest.mark.parametrize("key,reply", [("MAIL", "354 go ahead"), ("RCPT", "334 what"),
                                       ("DATA", "250 ok"), ("DOT", "354 more")])
def test_reply_out_of_step(smtp_script, key, reply):
    srv = smtp_script(replies={key: reply})
    r = send(srv)
    assert r.last["kind"] == "failed" and "unexpected reply" in r.last["text"]
    assert r.rcpts["b@y.test"][0] in (0,)


def test_close_mid_reply(smtp_script):
    srv = smtp_script(replies={"EHLO": (b"250-mx.test\r\n250-PIPEL", DROP)})
    r = send(srv)
    assert r.kinds() == ["failed"]
    assert "closed" in r.last["text"] and "middle of a reply" in r.last["text"]


@pytest.mark.parametrize("key,reply,what", [
    ("greeting", STALL, "greeting"),
    ("EHLO", b"250-mx.test\r\n250-PIPEL", "middle of a reply"),
    ("DOT", STALL, "end of the message"),
])
def test_stalled_server_times_out(smtp_script, key, reply, what):
    srv = smtp_script(replies={key: reply})
    r = send(srv, timeout_ms=1000)
    assert r.last["kind"] == "failed" and "timeout" in r.last["text"]
    assert what in r.last["text"], r.last["text"]
    if key == "DOT":
        assert r.rcpts["b@y.test"][0] == 0     # sent, outcome unknown


def test_dripping_reply_hits_the_deadline(smtp_script):
    # A byte every 0.3 s keeps an idle timer of 1 s alive for ever; the
    # reply must be whole within the state's time, however it trickles.
    srv = smtp_script(replies={"greeting": Drip(b"220-" + b"x" * 200 + b"\r\n220 ok\r\n", 0.3)})
    r = send(srv, timeout_ms=1000)
    assert r.kinds() == ["failed"]
    assert "timeout waiting for the greeting (in the middle of a reply)" in r.last["text"]


def test_drop_in_data(smtp_script, tmp_path):
    msg = tmp_path / "m"
    msg.write_bytes(b"Subject: x\r\n\r\n" + b"z" * 300000 + b"\r\n")
    srv = smtp_script(drop_in_data=True)
    r = send(srv, "--file", str(msg))
    assert r.last["kind"] == "failed" and r.last["permanent"] == "0"
    assert r.rcpts["b@y.test"][0] == 0
