# tests/integration/test_chunking.py: CHUNKING / BDAT (RFC 3030; issue 12
# point 6.1).  smtplib has no BDAT, so the commands and their octets go
# raw through the suite's Conn.  A chunk's octets are taken as they are
# (no dot-unstuffing), are read even when the BDAT is refused, and the
# LAST one delivers as DATA does (same trace, same checks).
import signal

import pytest

import helpers
from helpers import make_message, split_trace, received_header


LIMITED_CONF = 'smtp = { max_message_size = 4096; };\n'


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    yield from helpers.configured_server(tmp_path_factory, "chunk", LIMITED_CONF)


def bdat(size, last=False):
    return b"BDAT %d%s\r\n" % (size, b" LAST" if last else b"")


def chunks(c, parts):
    """Send every part as a BDAT in one write (pipelined, RFC 3030 2 allows
    it) after MAIL and RCPT; return the replies to the BDATs."""
    out = b""
    for i, p in enumerate(parts):
        out += bdat(len(p), i == len(parts) - 1) + p
    c.send(out)
    return [c.smtp_reply() for _ in parts]


def transaction(c, sender, rcpt):
    assert c.smtp_cmd(f"MAIL FROM:<{sender}>").code == 250
    assert c.smtp_cmd(f"RCPT TO:<{rcpt}>").code == 250


def test_ehlo_offers_chunking_not_binarymime(server):
    with server.smtp(ehlo=False) as c:
        r = c.smtp_cmd("EHLO client.example.org")
        assert "CHUNKING" in r.lines
        assert "BINARYMIME" not in r.lines


def test_pipelined_chunks_stored_raw(server):
    user, pw = server.new_user("chunk")
    msg = make_message("chunks", body=b".leading dot kept\r\n..two\r\n.\r\nafter\r\n")
    # Cut inside a line and inside a CRLF: lines run across chunks.
    cut1 = msg.index(b"Subject") + 3
    cut2 = msg.index(b"\r\n.\r\n") + 1
    parts = [msg[:cut1], msg[cut1:cut2], msg[cut2:]]
    with server.smtp() as c:
        transaction(c, "s@example.org", user)
        rs = chunks(c, parts)
        assert [r.code for r in rs] == [250, 250, 250], rs
        assert "%d octets" % len(parts[0]) in rs[0].text
        assert "queued as" in rs[2].text
        c.smtp_quit()
    (got,) = server.retr_all(user, pw)
    assert split_trace(got, "s@example.org") == msg
    assert b"with ESMTP id" in received_header(got)


def test_bdat_zero_last_ends_the_message(server):
    user, pw = server.new_user("zero")
    msg = make_message("zero last")
    with server.smtp() as c:
        transaction(c, "s@example.org", user)
        c.send(bdat(len(msg)) + msg + bdat(0, True))
        assert c.smtp_reply().code == 250
        r = c.smtp_reply()
        assert r.code == 250 and "queued as" in r.text, r
        c.smtp_quit()
    (got,) = server.retr_all(user, pw)
    assert split_trace(got, "s@example.org") == msg


def test_last_line_without_crlf_gets_one(server):
    user, pw = server.new_user("nocrlf")
    with server.smtp() as c:
        transaction(c, "s@example.org", user)
        (r,) = chunks(c, [b"Subject: x\r\n\r\nno line end"])
        assert r.code == 250, r
        c.smtp_quit()
    (got,) = server.retr_all(user, pw)
    assert split_trace(got, "s@example.org") == b"Subject: x\r\n\r\nno line end\r\n"


def test_large_message_in_chunks(server):
    user, pw = server.new_user("big")
    body = b"".join(b"line %06d %s\r\n" % (i, b"x" * 60) for i in range(12000))
    msg = make_message("big", body=body)
    step = 100000
    parts = [msg[i:i + step] for i in range(0, len(msg), step)]
    with server.smtp() as c:
        transaction(c, "s@example.org", user)
        rs = chunks(c, parts)
        assert all(r.code == 250 for r in rs), rs
        c.smtp_quit()
    (got,) = server.retr_all(user, pw)
    assert split_trace(got, "s@example.org") == msg


def test_data_after_bdat_is_503(server):
    user, _ = server.new_user("mix")
    with server.smtp() as c:
        transaction(c, "s@example.org", user)
        c.send(bdat(5) + b"Subj:")
        assert c.smtp_reply().code == 250
        r = c.smtp_cmd("DATA")
        assert r.code == 503, r
        r = c.smtp_cmd("RCPT TO:<%s>" % user)
        assert r.code == 503, r
        # RSET ends the transaction; a new one works.
        assert c.smtp_cmd("RSET").code == 250
        transaction(c, "s@example.org", user)
        (r,) = chunks(c, [make_message("after rset")])
        assert r.code == 250, r
        c.smtp_quit()


@pytest.mark.parametrize("before,code", [
    ("", 503),                       # no MAIL
    ("MAIL FROM:<s@example.org>", 503),   # no RCPT
])
def test_bdat_without_recipient_reads_the_chunk(server, before, code):
    with server.smtp() as c:
        if before:
            assert c.smtp_cmd(before).code == 250
        # The octets look like commands: they must be read as data, not run.
        junk = b"QUIT\r\nQUIT\r\n"
        c.send(bdat(len(junk), True) + junk + b"NOOP\r\n")
        r = c.smtp_reply()
        assert r.code == code, r
        assert c.smtp_reply().code == 250   # the NOOP after the chunk
        c.smtp_quit()


def test_bdat_after_refused_recipients_is_503(server):
    with server.smtp() as c:
        assert c.smtp_cmd("MAIL FROM:<s@example.org>").code == 250
        assert c.smtp_cmd("RCPT TO:<nobody-here@localhost>").code >= 500
        c.send(bdat(4) + b"abcd" + b"NOOP\r\n")
        r = c.smtp_reply()
        assert r.code == 503 and "no valid recipients" in r.text, r
        assert c.smtp_reply().code == 250
        c.smtp_quit()


@pytest.mark.parametrize("arg", ["abc", "-1", "1x", "123456789012345678901", "10 FIRST",
                                 "10 LAST x", "+5"])
def test_bad_sizes_are_501(server, arg):
    with server.smtp() as c:
        r = c.smtp_cmd("BDAT " + arg)
        assert (r.code, r.enhanced) == (501, "5.5.4"), r
        assert c.smtp_cmd("NOOP").code == 250
        c.smtp_quit()


def test_bdat_without_size_is_501(server):
    with server.smtp() as c:
        assert c.smtp_cmd("BDAT").code == 501
        c.smtp_quit()


def test_over_size_limit_is_consumed_then_552(limited):
    user, pw = limited.new_user("over")
    with limited.smtp() as c:
        transaction(c, "s@example.org", user)
        big = b"X: " + b"y" * 6000 + b"\r\n\r\nbody\r\n"
        c.send(bdat(len(big), True) + big + b"NOOP\r\n")
        r = c.smtp_reply()
        assert (r.code, r.enhanced) == (552, "5.3.4"), r
        assert c.smtp_reply().code == 250   # the NOOP: the chunk was read whole
        # Over the limit in a middle chunk: refused at once, and the rest of
        # the pipelined chunks are read and refused as out of transaction.
        transaction(c, "s@example.org", user)
        part = b"a" * 100 + b"\r\n"
        parts = [part] * 45
        rs = chunks(c, parts)
        codes = [r.code for r in rs]
        assert 552 in codes and codes.index(552) < len(codes) - 1, codes
        assert all(x == 250 for x in codes[:codes.index(552)])
        assert all(x == 503 for x in codes[codes.index(552) + 1:])
        # A good message still goes through after all that.
        transaction(c, "s@example.org", user)
        msg = make_message("fits")
        (r,) = chunks(c, [msg])
        assert r.code == 250, r
        c.smtp_quit()
    (got,) = limited.retr_all(user, pw)
    assert split_trace(got, "s@example.org") == msg


def test_mail_loop_refused(server):
    user, _ = server.new_user("loop")
    hdrs = b"".join(b"Received: from h%d by h%d; Mon, 1 Jan 2024 00:00:00 +0000\r\n" % (i, i)
                    for i in range(101))
    with server.smtp() as c:
        transaction(c, "s@example.org", user)
        (r,) = chunks(c, [hdrs + b"\r\nbody\r\n"])
        assert (r.code, r.enhanced) == (554, "5.4.6"), r
        c.smtp_quit()


def test_bdat_over_tls(server):
    user, pw = server.new_user("tls")
    msg = make_message("over tls")
    with server.smtp() as c:
        assert c.smtp_cmd("STARTTLS").code == 220
        c.starttls()
        assert c.smtp_cmd("EHLO client.example.org").code == 250
        transaction(c, "s@example.org", user)
        rs = chunks(c, [msg[:10], msg[10:]])
        assert [r.code for r in rs] == [250, 250]
        c.smtp_quit()
    (got,) = server.retr_all(user, pw)
    assert split_trace(got, "s@example.org") == msg
    assert b"with ESMTPS" in received_header(got)


def test_shutdown_lets_a_chunk_in_flight_finish(own_server):
    # A message arriving by BDAT when SIGTERM comes is finished (as DATA's
    # is), then the session is told 421: nothing accepted is lost.
    srv = own_server
    user, pw = srv.new_user("flight")
    msg = make_message("in flight")
    with srv.smtp() as c:
        transaction(c, "s@example.org", user)
        c.send(bdat(len(msg), True) + msg[:20])
        srv.proc.send_signal(signal.SIGTERM)
        srv.wait_log("shutdown signal=TERM")
        c.send(msg[20:])
        r = c.smtp_reply()
        assert r.code == 250 and "queued as" in r.text, r
        assert c.smtp_reply().code == 421
    assert srv.proc.wait(20) == 0
    srv._finish(0, "SIGTERM")
    assert not srv.problems, srv.problems
    srv.start()
    (got,) = srv.retr_all(user, pw)
    assert split_trace(got, "s@example.org") == msg
