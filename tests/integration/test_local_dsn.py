# tests/integration/test_local_dsn.py: notices of the final delivery
# (RFC 3461 5.2.2, 6; RFC 3464): success when NOTIFY=SUCCESS asked, and a
# failure notice for a local recipient that the 250 covered but whose
# mailbox could not take the message.
import email
import email.policy

from helpers import dot_stuff, make_message, wait_for


def parse(raw):
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def dsn_blocks(msg):
    assert msg.get_content_type() == "multipart/report", msg.get_content_type()
    (status,) = [p for p in msg.get_payload() if p.get_content_type() == "message/delivery-status"]
    blocks = status.get_payload()
    return dict(blocks[0].items()), [dict(b.items()) for b in blocks[1:]]


def send(srv, sender, rcpts, msg, mail_params="", after_rcpt=None):
    with srv.smtp() as c:
        assert c.smtp_cmd(f"MAIL FROM:<{sender}>{mail_params}").code == 250
        for rc, params in rcpts:
            r = c.smtp_cmd(f"RCPT TO:<{rc}>{params}")
            assert r.code == 250, r
        if after_rcpt:
            after_rcpt()
        assert c.smtp_cmd("DATA").code == 354
        c.send(dot_stuff(msg) + b".\r\n")
        r = c.smtp_reply()
        c.smtp_quit()
        return r


def test_success_notice_when_asked(server):
    srv = server
    sender, spw = srv.new_user("asks")
    rcpt, rpw = srv.new_user("gets")
    quiet, qpw = srv.new_user("quiet")
    msg = make_message("tell me", sender=sender, to=rcpt)
    r = send(srv, sender, [(rcpt, " NOTIFY=SUCCESS ORCPT=rfc822;alias+40x@localhost"),
                           (quiet, "")], msg, mail_params=" ENVID=E1+2B")
    assert r.code == 250, r
    (got,) = srv.retr_all(rcpt, rpw)
    assert got.endswith(msg)
    (n,) = wait_for(lambda: srv.retr_all(sender, spw), timeout=10)
    n = parse(n)
    assert n["Subject"] == "Successful Mail Delivery Report"
    common, rs = dsn_blocks(n)
    assert common["Original-Envelope-Id"] == "E1+"
    assert [b["Final-Recipient"] for b in rs] == [f"rfc822; {rcpt}"], rs
    assert rs[0]["Action"] == "delivered" and rs[0]["Status"] == "2.0.0"
    assert rs[0]["Original-Recipient"] == "rfc822;alias@x@localhost"
    # A success notice carries the headers, not the message (RFC 3461 4.3).
    assert not [p for p in n.get_payload() if p.get_content_type() == "message/rfc822"]


def test_recipient_gone_after_rcpt_gets_a_failure_notice(server):
    srv = server
    sender, spw = srv.new_user("snd")
    stays, stpw = srv.new_user("stays")
    goes, _ = srv.new_user("goes")

    def delete():
        r = srv.cli("user", "del", goes)
        assert r.returncode == 0, r.stderr

    msg = make_message("one of two", sender=sender, to=stays)
    r = send(srv, sender, [(stays, ""), (goes, "")], msg, after_rcpt=delete)
    assert r.code == 250, r   # promised for the transaction: the other got it
    assert len(srv.retr_all(stays, stpw)) == 1
    (n,) = wait_for(lambda: srv.retr_all(sender, spw), timeout=10)
    n = parse(n)
    assert n["Subject"] == "Undelivered Mail Returned to Sender"
    _, rs = dsn_blocks(n)
    assert [b["Final-Recipient"] for b in rs] == [f"rfc822; {goes}"], rs
    assert rs[0]["Action"] == "failed" and rs[0]["Status"] == "5.1.1", rs
    assert [p for p in n.get_payload() if p.get_content_type() == "message/rfc822"]


def test_never_means_never(server):
    srv = server
    sender, spw = srv.new_user("never")
    stays, _ = srv.new_user("stays")
    goes, _ = srv.new_user("goes")
    r = send(srv, sender, [(stays, " NOTIFY=NEVER"), (goes, " NOTIFY=NEVER")],
             make_message("silent", sender=sender),
             after_rcpt=lambda: srv.cli("user", "del", goes))
    assert r.code == 250
    assert srv.retr_all(sender, spw) == []


def test_smtputf8_success_notice_is_global(server):
    # RFC 6533: the notice about an SMTPUTF8 message to a UTF-8 mailbox is
    # a global one, its headers returned as message/global-headers.
    srv = server
    sender, spw = srv.new_user("asks8")
    local, _ = srv.new_user("j\u00f6rg")
    msg = make_message("gr\u00fc\u00dfe", sender=sender).replace(
        b"Subject: gr\xc3\x83\xc2\xbc\xc3\x83\xc2\x9f", b"Subject: gr\xc3\xbc\xc3\x9f")
    with srv.smtp() as c:
        assert c.smtp_cmd(f"MAIL FROM:<{sender}> SMTPUTF8".encode()).code == 250
        assert c.smtp_cmd(f"RCPT TO:<{local}> NOTIFY=SUCCESS".encode()).code == 250
        assert c.smtp_cmd("DATA").code == 354
        c.send(dot_stuff(msg) + b".\r\n")
        assert c.smtp_reply().code == 250
        c.smtp_quit()
    (n,) = wait_for(lambda: srv.retr_all(sender, spw), timeout=10)
    n = email.message_from_bytes(n, policy=email.policy.default)
    assert n.get_param("report-type") == "global-delivery-status"
    (status,) = [p for p in n.get_payload()
                 if p.get_content_type() == "message/global-delivery-status"]
    body = status.get_payload()[0].get_payload(decode=True).decode()
    assert f"Final-Recipient: utf-8; {local}\r\nAction: delivered" in body, body
    (hdrs,) = [p for p in n.get_payload() if p.get_content_type() == "message/global-headers"]
    (h,) = hdrs.get_payload()
    assert h["Subject"] == "gr\u00fc\u00dfe"
