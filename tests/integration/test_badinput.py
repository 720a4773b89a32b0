# tests/integration/test_badinput.py: every class of bad input gets its exact
# reply (RFC 5321 4.2, RFC 3463 enhanced codes) and the server stays up.
import os
import random
import socket
import time

import pytest

from helpers import Conn, make_message, split_trace, unique


@pytest.fixture(autouse=True)
def still_serving(server):
    yield
    # After every test: a fresh session still gets a greeting and a NOOP.
    c = server.smtp()
    assert c.smtp_cmd("NOOP").code == 250
    c.smtp_quit()
    server.pop3().pop3_quit()


def expect(c, line, code, enhanced=None):
    r = c.smtp_cmd(line)
    assert r.code == code, f"{line!r}: expected {code}, got {r}"
    if enhanced:
        assert r.enhanced == enhanced, f"{line!r}: expected {code} {enhanced}, got {r}"
    return r


# Bad address syntax may be reported as a syntax error or as a bad mailbox.
ADDR_SYNTAX = ((501, "5.5.4"), (553, "5.1.3"), (501, "5.1.3"), (501, "5.1.7"), (553, "5.1.7"))


def expect_any(c, line, allowed):
    r = c.smtp_cmd(line)
    assert (r.code, r.enhanced) in allowed, f"{line!r}: expected one of {allowed}, got {r}"
    return r


# -- malformed commands ---------------------------------------------------------

@pytest.mark.parametrize("line", [
    "MAIL FROM:", "MAIL FROM:a@example.org b",
    "MAIL TO:<a@example.org>", "MAIL", "MAIL FROM:<a@example.org> SIZE=abc",
    "MAIL FROM:<a@example.org> BODY=9BIT",
])
def test_malformed_mail(server, line):
    c = server.smtp()
    expect(c, line, 501, "5.5.4")
    expect(c, "MAIL FROM:<ok@example.org>", 250)   # the session is still usable
    c.smtp_quit()


@pytest.mark.parametrize("line", ["MAIL FROM:<unterminated@example.org", "MAIL FROM:<@>", "MAIL FROM:<a@@example.org>",
                                  "MAIL FROM:<a b@example.org>", "MAIL FROM:<a@exa mple.org>"])
def test_bad_sender_address(server, line):
    c = server.smtp()
    expect_any(c, line, ADDR_SYNTAX)
    expect(c, "MAIL FROM:<ok@example.org>", 250)   # the session is still usable
    c.smtp_quit()


@pytest.mark.parametrize("line", [
    "RCPT TO:", "RCPT FROM:<a@localhost>", "RCPT",
])
def test_malformed_rcpt(server, line):
    c = server.smtp()
    expect(c, "MAIL FROM:<a@example.org>", 250)
    expect(c, line, 501, "5.5.4")
    c.smtp_quit()


@pytest.mark.parametrize("line", ["RCPT TO:<unterminated@localhost", "RCPT TO:<>", "RCPT TO:<a b@localhost>", "RCPT TO:<@localhost>"])
def test_bad_recipient_address(server, line):
    c = server.smtp()
    expect(c, "MAIL FROM:<a@example.org>", 250)
    expect_any(c, line, ADDR_SYNTAX)
    c.smtp_quit()


@pytest.mark.parametrize("line", ["XYZZY", "MAILFROM:<a@b>", "EHLOO x", "\x01\x02", "DAT"])
def test_unknown_command(server, line):
    c = server.smtp()
    expect(c, line, 500, "5.5.2")
    c.smtp_quit()


def test_ehlo_without_domain(server):
    c = server.smtp(ehlo=False)
    expect(c, "EHLO", 501, "5.5.4")
    expect(c, "EHLO client.example.org", 250)
    c.smtp_quit()


# -- lines and sizes ------------------------------------------------------------

def test_overlong_command_line(server):
    c = server.smtp()
    expect(c, "NOOP " + "x" * 10000, 500, "5.5.2")
    # RFC 5321 4.5.3.1.4: the rest of that line is discarded, the session goes on.
    expect(c, "NOOP", 250)
    expect(c, "MAIL FROM:<a@example.org>", 250)
    c.smtp_quit()


def test_overlong_line_split_across_writes(server):
    c = server.smtp()
    for _ in range(5):
        c.send(b"y" * 2000)
        time.sleep(0.02)
    c.send(b"\r\n")
    r = c.smtp_reply()
    assert (r.code, r.enhanced) == (500, "5.5.2"), r
    expect(c, "NOOP", 250)
    c.smtp_quit()


def test_huge_line_without_newline_is_bounded(server):
    # 8 MiB with no line end: the server must not buffer it all, and must
    # either answer 500 or drop the connection; it stays up either way.
    c = server.smtp()
    try:
        chunk = b"z" * (1 << 16)
        for _ in range(128):
            c.send(chunk)
        c.send(b"\r\n")
        r = c.smtp_reply()
        assert r.code in (500, 421), r
    except (ConnectionError, OSError):
        pass
    c.close()


def test_oversize_declared(server, user):
    c = server.smtp()
    expect(c, "MAIL FROM:<a@example.org> SIZE=26214401", 552, "5.3.4")
    expect(c, "MAIL FROM:<a@example.org> SIZE=9999999999999999999", 552, "5.3.4")
    # More than 2^64, still 20 digits (RFC 1870 size-value): too big or bad syntax.
    expect_any(c, "MAIL FROM:<a@example.org> SIZE=99999999999999999999",
               ((552, "5.3.4"), (501, "5.5.4")))
    expect(c, "MAIL FROM:<a@example.org> SIZE=26214400", 250)
    c.smtp_quit()


def test_oversize_actual(server, user):
    c = server.smtp()
    expect(c, "MAIL FROM:<big@example.org>", 250)
    expect(c, f"RCPT TO:<{user[0]}>", 250)
    expect(c, "DATA", 354)
    line = b"x" * 998 + b"\r\n"
    big = make_message("too big", body=line * (26 * 1024 + 10))
    assert len(big) > 26214400
    try:
        c.send(big + b".\r\n")
    except (ConnectionError, OSError):
        pass   # the server may stop reading after its 552; the reply is read below
    r = c.smtp_reply()
    assert (r.code, r.enhanced) == (552, "5.3.4"), r
    c.close()
    p = server.pop3(*user)
    assert p.pop3_stat() == (0, 0), "an oversize message was stored"
    p.pop3_quit()


# -- recipients -------------------------------------------------------------------

def test_unknown_local_user(server):
    c = server.smtp()
    expect(c, "MAIL FROM:<a@example.org>", 250)
    expect(c, f"RCPT TO:<{unique('nosuch')}>", 550, "5.1.1")
    # DATA with no accepted recipient: RFC 5321 3.3 says 503 or 554.
    r = c.smtp_cmd("DATA")
    assert r.code in (503, 554), r
    c.smtp_quit()


@pytest.mark.parametrize("rcpt", ["someone@example.com", "a@localhost.example.com",
                                  "a@sub.localhost", "a@xn--lcalhost-5wa.com"])
def test_foreign_domain(server, rcpt):
    c = server.smtp()
    expect(c, "MAIL FROM:<a@example.org>", 250)
    expect(c, f"RCPT TO:<{rcpt}>", 554, "5.7.1")
    c.smtp_quit()


def test_source_route_to_foreign_domain(server, user):
    # RFC 5321 4.1.1.3: source routes are ignored... but the real domain is foreign.
    c = server.smtp()
    expect(c, "MAIL FROM:<a@example.org>", 250)
    r = c.smtp_cmd("RCPT TO:<@localhost:evil@example.com>")
    assert r.code >= 500, f"source-routed relay accepted: {r}"
    c.smtp_quit()


def test_percent_hack_is_not_a_relay(server):
    c = server.smtp()
    expect(c, "MAIL FROM:<a@example.org>", 250)
    r = c.smtp_cmd("RCPT TO:<victim%example.com@localhost>")
    assert r.code in (550, 554), r
    c.smtp_quit()


def test_mixed_recipients_only_good_ones_get_mail(server, user):
    c = server.smtp()
    expect(c, "MAIL FROM:<mixed@example.org>", 250)
    expect(c, f"RCPT TO:<{user[0]}>", 250)
    expect(c, "RCPT TO:<x@example.com>", 554)
    expect(c, f"RCPT TO:<{unique('ghost')}>", 550)
    expect(c, "DATA", 354)
    msg = make_message("mixed")
    c.send(msg + b".\r\n")
    assert c.smtp_reply().code == 250
    c.smtp_quit()
    (got,) = server.retr_all(*user)
    assert split_trace(got, "mixed@example.org") == msg


# -- sequence ---------------------------------------------------------------------

def test_out_of_sequence(server, user):
    c = server.smtp()
    expect(c, f"RCPT TO:<{user[0]}>", 503, "5.5.1")
    expect(c, "DATA", 503, "5.5.1")
    expect(c, "MAIL FROM:<a@example.org>", 250)
    expect(c, "MAIL FROM:<b@example.org>", 503, "5.5.1")
    r = c.smtp_cmd("DATA")
    assert (r.code, r.enhanced) in ((503, "5.5.1"), (554, "5.5.1")), r
    expect(c, f"RCPT TO:<{user[0]}>", 250)
    expect(c, "DATA", 354)
    c.send(b"Subject: seq\r\n\r\nok\r\n.\r\n")
    assert c.smtp_reply().code == 250
    c.smtp_quit()


def test_mail_before_ehlo(server):
    c = server.smtp(ehlo=False)
    expect(c, "MAIL FROM:<a@example.org>", 503, "5.5.1")
    c.smtp_quit()


# -- NUL bytes, control bytes, binary garbage ---------------------------------------

@pytest.mark.parametrize("line", [b"NOOP\x00", b"MAIL FROM:<a\x00b@example.org>",
                                  b"\x00\x00\x00", b"EHLO a\x00b"])
def test_nul_in_command(server, line):
    c = server.smtp()
    c.send(line + b"\r\n")
    r = c.smtp_reply()
    assert r.code in (500, 501) and r.enhanced in ("5.5.2", "5.5.4"), f"{line!r}: {r}"
    expect(c, "NOOP", 250)
    c.smtp_quit()


def test_nul_in_rcpt_is_refused(server, user):
    c = server.smtp()
    expect(c, "MAIL FROM:<a@example.org>", 250)
    c.send(f"RCPT TO:<{user[0]}\x00@example.com>\r\n".encode())
    r = c.smtp_reply()
    assert r.code >= 500, f"NUL inside an address accepted: {r}"
    c.smtp_quit()


def test_binary_garbage_smtp_and_pop3(server):
    rnd = random.Random(1234)
    for kind in ("smtp", "pop3", "smtps", "pop3s"):
        for _ in range(3):
            s = socket.create_connection(("127.0.0.1", server.ports[kind]), timeout=10)
            try:
                s.sendall(bytes(rnd.getrandbits(8) for _ in range(20000)))
                s.settimeout(1)
                try:
                    while s.recv(65536):
                        pass
                except (socket.timeout, OSError):
                    pass
            except OSError:
                pass
            finally:
                s.close()


# -- DATA end smuggling (bare LF) -------------------------------------------------------

@pytest.mark.parametrize("end", [b"\n.\n", b"\r\n.\n", b"\n.\r\n", b"\r.\r\n", b"\r\n.\r"])
def test_bare_lf_dot_does_not_end_data(server, end):
    addr, pw = server.new_user("smuggle")
    c = server.smtp()
    expect(c, "MAIL FROM:<real@example.org>", 250)
    expect(c, f"RCPT TO:<{addr}>", 250)
    expect(c, "DATA", 354)
    smuggled = (b"Subject: smuggling\r\n\r\nbody" + end +
                b"MAIL FROM:<evil@example.org>\r\n"
                b"RCPT TO:<" + addr.encode() + b">\r\n"
                b"DATA\r\n"
                b"Subject: smuggled\r\n\r\nEVIL\r\n")
    c.send(smuggled + b".\r\n")
    r = c.smtp_reply()
    # Either the message is refused for its bare line ends (RFC 5321 2.3.8),
    # or it is accepted whole; in no case did "<LF>.<LF>" end it.
    assert r.code in (250, 550, 554, 500, 501), r
    extra = c.silence(1.0)
    assert extra == b"", f"smuggled commands were executed: {extra!r}"
    try:
        c.send(b"QUIT\r\n")
        assert c.smtp_reply().code == 221
    except ConnectionError:
        assert r.code >= 500, "connection closed after accepting the message"
    c.close()
    got = server.retr_all(addr, pw)
    assert len(got) <= 1, f"{len(got)} messages: the smuggled one was delivered"
    if r.code == 250:
        assert len(got) == 1
        body = split_trace(got[0], "real@example.org")
        assert b"MAIL FROM:<evil@example.org>" in body and b"EVIL" in body, body
        assert b"Return-Path: <evil@example.org>" not in got[0]


def test_disconnect_in_middle_of_data_delivers_nothing(server, user):
    c = server.smtp()
    expect(c, "MAIL FROM:<cut@example.org>", 250)
    expect(c, f"RCPT TO:<{user[0]}>", 250)
    expect(c, "DATA", 354)
    c.send(make_message("cut short") + b"no terminating dot\r\n")
    time.sleep(0.2)
    c.sock.shutdown(socket.SHUT_RDWR)
    c.close()
    time.sleep(0.5)
    p = server.pop3(*user)
    assert p.pop3_stat() == (0, 0), "a message cut in the middle of DATA was delivered"
    p.pop3_quit()


# -- POP3 bad input -----------------------------------------------------------------------

def test_pop3_bad_input(server, user):
    c = server.pop3()
    for line in (b"XYZZY", b"USER", b"STAT\x00", b"\x00", b"USER a\x00b@localhost",
                 b"A" * 10000, b"LIST " + b"9" * 50):
        c.send(line + b"\r\n")
        r = c.pop3_status()
        assert r.startswith("-ERR"), f"{line[:40]!r}: {r}"
    c.pop3_login(*user)
    assert c.pop3_stat() == (0, 0)
    for line in (b"RETR 1 2", b"TOP 1 2 3", b"DELE", b"UIDL x", b"LIST 1x",
                 b"RETR 99999999999999999999"):
        c.send(line + b"\r\n")
        r = c.pop3_status()
        assert r.startswith("-ERR"), f"{line!r}: {r}"
    c.pop3_quit()


def test_pop3_user_pass_too_long(server):
    c = server.pop3()
    r = c.pop3_cmd("USER " + "a" * 300 + "@localhost")
    if r.startswith("+OK"):
        r = c.pop3_cmd("PASS " + "p" * 3000)
    assert r.startswith("-ERR"), r
    c.pop3_quit()
