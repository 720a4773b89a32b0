# tests/integration/test_smtp.py: SMTP delivery (RFC 5321) end to end: what
# goes in over SMTP comes out of POP3 byte for byte, after the Return-Path:
# and Received: headers the server prepends.
import os
import smtplib
import subprocess

import pytest

from helpers import (Conn, TIMEOUT, make_message, received_header, split_trace, unique)


def test_greeting_and_ehlo_extensions(server):
    c = Conn.connect(server.ports["smtp"])
    g = c.smtp_reply()
    assert g.code == 220, g
    r = c.smtp_cmd("EHLO client.example.org")
    assert r.code == 250, r
    kw = {l.split()[0].upper(): l for l in r.lines[1:]}
    for ext in ("PIPELINING", "SIZE", "8BITMIME", "ENHANCEDSTATUSCODES", "STARTTLS", "DSN"):
        assert ext in kw, f"EHLO does not advertise {ext}: {r}"
    # RFC 1870 4: SIZE with the configured maximum (25 MiB by default).
    assert kw["SIZE"].split()[1:] == ["26214400"], r
    c.smtp_quit()


def test_helo_noop_rset_quit(server, user):
    c = server.smtp(ehlo=False)
    r = c.smtp_cmd("HELO client.example.org")
    assert r.code == 250, r
    r = c.smtp_cmd("NOOP")
    assert r.code == 250 and r.enhanced.startswith("2."), r
    r = c.smtp_cmd("MAIL FROM:<a@example.org>")
    assert r.code == 250, r
    r = c.smtp_cmd("RSET")
    assert r.code == 250, r
    # After RSET the transaction is gone: RCPT is out of sequence again.
    r = c.smtp_cmd(f"RCPT TO:<{user[0]}>")
    assert (r.code, r.enhanced) == (503, "5.5.1"), r
    c.smtp_quit()


def test_reply_codes_of_a_transaction(server, user):
    c = server.smtp()
    r = c.smtp_cmd("MAIL FROM:<sender@example.org>")
    assert (r.code, r.enhanced) == (250, "2.1.0"), r
    r = c.smtp_cmd(f"RCPT TO:<{user[0]}>")
    assert (r.code, r.enhanced) == (250, "2.1.5"), r
    r = c.smtp_cmd("DATA")
    assert r.code == 354, r
    c.send(make_message() + b".\r\n")
    r = c.smtp_reply()
    assert r.code == 250 and r.enhanced == "2.0.0", r
    c.smtp_quit()


def test_three_recipients_byte_for_byte(server):
    users = [server.new_user("three") for _ in range(3)]
    sender = unique("from", "example.org")
    msg = make_message("three recipients", body=(
        b"Line one\r\n"
        b"\tTab-indented line\r\n"
        b"Trailing spaces   \r\n"
        b"\r\n"
        b"After an empty line. Ends here.\r\n"), sender=sender)
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=TIMEOUT) as s:
        refused = s.sendmail(sender, [u[0] for u in users], msg)
        assert refused == {}
    for addr, pw in users:
        got = server.retr_all(addr, pw)
        assert len(got) == 1, f"{addr} has {len(got)} messages"
        assert split_trace(got[0], sender) == msg


def test_received_header_names_us(server, user):
    sender = unique("from", "example.org")
    server.deliver(sender, [user[0]], make_message())
    (got,) = server.retr_all(*user)
    rcv = received_header(got)
    assert rcv.startswith(b"Received: from "), rcv
    # RFC 5321 4.4: FROM and BY clauses, then "; date-time".
    assert b"by localhost" in rcv, rcv
    assert b";" in rcv, rcv


def test_dot_stuffed_message_round_trips(server, user):
    body = (b".\r\n"
            b"..\r\n"
            b".leading dot\r\n"
            b"..two leading dots\r\n"
            b"middle . dot\r\n"
            b" .space first\r\n"
            b".\r\n")
    msg = make_message("dots", body=body)
    # Raw client: our own dot-stuffing, so the test does not depend on smtplib's.
    server.deliver("dots@example.org", [user[0]], msg)
    # And through smtplib as a second, independent client.
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=TIMEOUT) as s:
        s.sendmail("dots@example.org", [user[0]], msg)
    got = server.retr_all(*user)
    assert len(got) == 2
    for g in got:
        assert split_trace(g, "dots@example.org") == msg


def test_message_starting_with_dot_line(server, user):
    # Message body whose very first line starts with a dot (no headers).
    msg = b".hidden first line\r\nsecond\r\n"
    server.deliver("d@example.org", [user[0]], msg)
    (got,) = server.retr_all(*user)
    assert split_trace(got, "d@example.org") == msg


def test_8bit_body(server, user):
    msg = make_message("8bit", body="Grüße, naïve café — ✓\r\n".encode("utf-8"),
                       extra_headers=("MIME-Version: 1.0",
                                      "Content-Type: text/plain; charset=utf-8",
                                      "Content-Transfer-Encoding: 8bit"))
    c = server.smtp()
    c.smtp_deliver("e@example.org", [user[0]], msg, mail_params=" BODY=8BITMIME")
    c.smtp_quit()
    (got,) = server.retr_all(*user)
    assert split_trace(got, "e@example.org") == msg


def test_null_sender(server, user):
    # RFC 5321 4.5.5: bounces use the null reverse-path.
    msg = make_message("bounce")
    server.deliver("", [user[0]], msg)
    (got,) = server.retr_all(*user)
    assert split_trace(got, "") == msg


def test_ten_mib_message_round_trips(server, user):
    line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!#$%&()*+,-/:;<=>?@[]^_{|}~\r\n"
    body = line * ((10 * 1024 * 1024) // len(line) + 1)
    msg = make_message("big", body=body)
    assert len(msg) > 10 * 1024 * 1024
    c = server.smtp()
    r = c.smtp_cmd(f"MAIL FROM:<big@example.org> SIZE={len(msg)}")
    assert r.code == 250, r
    r = c.smtp_cmd(f"RCPT TO:<{user[0]}>")
    assert r.code == 250, r
    r = c.smtp_cmd("DATA")
    assert r.code == 354, r
    c.send(msg + b".\r\n")
    r = c.smtp_reply()
    assert r.code == 250, r
    c.smtp_quit()
    p = server.pop3(*user)
    n, total = p.pop3_stat()
    assert n == 1
    got = p.pop3_retr(1)
    assert total == len(got)
    assert split_trace(got, "big@example.org") == msg
    p.pop3_quit()


def test_pipelined_transaction(server, user):
    # RFC 2920: the whole envelope in one write; replies come back in order.
    msg = make_message("pipelined")
    c = server.smtp()
    c.send(f"MAIL FROM:<p@example.org>\r\nRCPT TO:<{user[0]}>\r\n"
           f"RCPT TO:<nobody-{os.getpid()}@localhost>\r\nDATA\r\n")
    r1, r2, r3, r4 = (c.smtp_reply() for _ in range(4))
    assert r1.code == 250 and r2.code == 250, (r1, r2)
    assert (r3.code, r3.enhanced) == (550, "5.1.1"), r3
    assert r4.code == 354, r4
    # Data, end, and the next transaction all in one write as well.
    c.send(msg + b".\r\n" + f"MAIL FROM:<p2@example.org>\r\nRCPT TO:<{user[0]}>\r\nDATA\r\n".encode()
           + msg + b".\r\nQUIT\r\n")
    replies = [c.smtp_reply() for _ in range(5)]
    assert [r.code for r in replies] == [250, 250, 250, 354, 250], replies
    assert c.smtp_reply().code == 221
    got = server.retr_all(*user)
    assert [split_trace(g, s) for g, s in zip(got, ("p@example.org", "p2@example.org"))] == [msg, msg]


def test_several_messages_in_one_session(server, user):
    c = server.smtp()
    msgs = [make_message(f"n{i}") for i in range(5)]
    for m in msgs:
        c.smtp_deliver("many@example.org", [user[0]], m)
    c.smtp_quit()
    got = server.retr_all(*user)
    assert [split_trace(g, "many@example.org") for g in got] == msgs


def test_recipient_case_and_domain_case(server):
    addr, pw = server.new_user("case")
    local, domain = addr.split("@")
    msg = make_message("case")
    # RFC 5321 2.4: domains are case-insensitive.
    server.deliver("c@example.org", [f"{local}@{domain.upper()}"], msg)
    (got,) = server.retr_all(addr, pw)
    assert split_trace(got, "c@example.org") == msg


def test_swaks_then_curl(server, user, tmp_path):
    msg = make_message("via swaks", sender="swaks@example.org", to=user[0])
    f = tmp_path / "msg.eml"
    f.write_bytes(msg[:-2])   # swaks ends the data with CRLF "." CRLF itself
    r = subprocess.run(["swaks", "--server", f"127.0.0.1:{server.ports['smtp']}",
                        "--from", "swaks@example.org", "--to", user[0],
                        "--data", f"@{f}", "--timeout", "20"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "<-  250" in r.stdout, r.stdout
    url = f"pop3://127.0.0.1:{server.ports['pop3']}/"
    auth = f"{user[0]}:{user[1]}"
    lst = subprocess.run(["curl", "-sS", "--max-time", "20", url, "-u", auth],
                         capture_output=True, timeout=60)
    assert lst.returncode == 0, lst.stderr
    assert lst.stdout.startswith(b"1 "), lst.stdout
    got = subprocess.run(["curl", "-sS", "--max-time", "20", url + "1", "-u", auth],
                         capture_output=True, timeout=60)
    assert got.returncode == 0, got.stderr
    assert split_trace(got.stdout, "swaks@example.org") == msg
    assert int(lst.stdout.split()[1]) == len(got.stdout)
