# tests/integration/test_bare_newline.py: bare LF and bare CR at SMTP input
# (issue 10.7), under smtp.forbid_bare_newline = "normalize" (the default:
# a bare LF ends a line like CRLF, a bare CR is stored as a space, a command
# holding one is refused) and "reject" (commands: 521 and close; messages:
# 550 5.5.2 after their real end), as Postfix 3.9 does.  In neither does
# anything but CRLF "." CRLF end a message.
import pytest

from helpers import configured_server, split_trace

SMUGGLE_ENDS = [b"\n.\n", b"\r\n.\n", b"\n.\r\n", b"\r.\r\n", b"\r\n.\r"]


def has_bare(data):
    for i, ch in enumerate(data):
        if ch == 10 and (i == 0 or data[i - 1] != 13):
            return True
        if ch == 13 and (i + 1 == len(data) or data[i + 1] != 10):
            return True
    return False


def open_data(srv, rcpt, sender="bare@example.org"):
    c = srv.smtp()
    assert c.smtp_cmd(f"MAIL FROM:<{sender}>").code == 250
    assert c.smtp_cmd(f"RCPT TO:<{rcpt}>").code == 250
    assert c.smtp_cmd("DATA").code == 354
    return c


@pytest.fixture(scope="module")
def reject_server(tmp_path_factory):
    yield from configured_server(tmp_path_factory, "reject",
                                 'smtp = { forbid_bare_newline = "reject"; };\n')


# -- normalize (the default) ------------------------------------------------------

def test_bare_cr_header_is_not_injected(server):
    # The example: the CR must not survive to split the header in
    # two for whoever reads or relays the message next.
    addr, pw = server.new_user("cr")
    c = open_data(server, addr)
    c.send(b"Subject: x\r\nX-B: b\rX-Injected-CR: yes\r\n\r\nbody\rmore\r\n.\r\n")
    assert c.smtp_reply().code == 250
    c.smtp_quit()
    (got,) = server.retr_all(addr, pw)
    body = split_trace(got, "bare@example.org")
    assert body == b"Subject: x\r\nX-B: b X-Injected-CR: yes\r\n\r\nbody more\r\n"
    assert not has_bare(got)


def test_bare_lf_lines_stored_as_crlf(server):
    addr, pw = server.new_user("lf")
    c = open_data(server, addr)
    c.send(b"Subject: y\n\nline1\nline2\r\n.\r\n")
    assert c.smtp_reply().code == 250
    c.smtp_quit()
    (got,) = server.retr_all(addr, pw)
    assert split_trace(got, "bare@example.org") == b"Subject: y\r\n\r\nline1\r\nline2\r\n"


def test_commands_with_bare_lf_normalized(server):
    c = server.smtp(ehlo=False)
    c.send(b"EHLO client.example.org\n")
    assert c.smtp_reply().code == 250
    c.send(b"NOOP\n")
    assert c.smtp_reply().code == 250
    c.smtp_quit()


def test_command_with_bare_cr_refused(server):
    c = server.smtp()
    r = c.smtp_cmd(b"NOOP\rRSET")
    assert (r.code, r.enhanced) == (500, "5.5.2"), r
    assert "bare <CR>" in r.text, r
    r = c.smtp_cmd(b"NOOP\r")
    assert (r.code, r.enhanced) == (500, "5.5.2"), r
    assert c.smtp_cmd("NOOP").code == 250   # the session goes on
    c.smtp_quit()


@pytest.mark.parametrize("end", SMUGGLE_ENDS)
def test_normalized_smuggling_stays_content(server, end):
    addr, pw = server.new_user("sm")
    c = open_data(server, addr)
    c.send(b"Subject: s\r\n\r\nbody" + end + b"RSET\r\nQUIT\r\n.\r\n")
    assert c.smtp_reply().code == 250
    assert c.smtp_cmd("NOOP").code == 250   # RSET and QUIT were message text
    c.smtp_quit()
    (got,) = server.retr_all(addr, pw)
    body = split_trace(got, "bare@example.org")
    assert b"RSET\r\nQUIT\r\n" in body, body
    assert not has_bare(got), got


# -- reject -------------------------------------------------------------------------

@pytest.mark.parametrize("line, what", [
    (b"EHLO client.example.org\n", "LF"),
    (b"EHLO c\r.example.org\r\n", "CR"),
])
def test_reject_command_closes(reject_server, line, what):
    c = reject_server.smtp(ehlo=False)
    c.send(line)
    r = c.smtp_reply()
    assert (r.code, r.enhanced) == (521, "5.5.2"), r
    assert f"Error: bare <{what}> received" in r.text, r
    assert c.closed_by_peer()
    c.close()


def test_reject_bare_lf_after_ehlo_and_in_auth(reject_server):
    c = reject_server.smtp()
    c.send(b"MAIL FROM:<a@example.org>\n")
    assert c.smtp_reply().code == 521
    assert c.closed_by_peer()
    c.close()
    c = reject_server.smtp()
    assert c.smtp_cmd("AUTH PLAIN").code == 334
    c.send(b"AGEAYg==\n")
    assert c.smtp_reply().code == 521
    assert c.closed_by_peer()
    c.close()


@pytest.mark.parametrize("end", SMUGGLE_ENDS + [b"\r\nX-B: b\rX-I: y\r\n"])
def test_reject_message_refused_at_real_end(reject_server, end):
    srv = reject_server
    addr, pw = srv.new_user("rj")
    c = open_data(srv, addr)
    c.send(b"Subject: s\r\n\r\nbody" + end +
           b"MAIL FROM:<evil@example.org>\r\nRCPT TO:<" + addr.encode() + b">\r\n"
           b"DATA\r\nSubject: smuggled\r\n\r\nEVIL\r\n.\r\n")
    r = c.smtp_reply()
    assert (r.code, r.enhanced) == (550, "5.5.2"), r
    assert "bare <" in r.text, r
    assert c.silence(0.5) == b"", "smuggled commands were executed"
    # The end was a real CRLF "." CRLF: the session is in step and goes on.
    assert c.smtp_cmd("NOOP").code == 250
    c.smtp_quit()
    assert srv.retr_all(addr, pw) == []


def test_reject_clean_message_delivered(reject_server):
    srv = reject_server
    addr, pw = srv.new_user("ok")
    c = open_data(srv, addr)
    c.send(b"Subject: fine\r\n\r\n..dot\r\n.\r\n")
    assert c.smtp_reply().code == 250
    c.smtp_quit()
    (got,) = srv.retr_all(addr, pw)
    assert split_trace(got, "bare@example.org") == b"Subject: fine\r\n\r\n.dot\r\n"
