# tests/integration/test_large_transfer.py: 5 MB and 30 MB messages travel
# byte for byte in both directions over plaintext, STARTTLS/STLS and implicit
# TLS (issue 10, point 5): IMAP FETCH and POP3 RETR with Python's
# imaplib/poplib and with curl; IMAP APPEND and SMTP DATA uploads read back
# exactly.  A reply larger than the 256 KiB output high-water mark used to
# stop after 256 KiB on a connection upgraded in place; every client here
# has a timeout, so a stall fails the test instead of hanging it.
import imaplib
import poplib
import shutil
import smtplib
import subprocess

import pytest

import helpers
from helpers import TIMEOUT, client_ctx, imap_connect, split_trace

MB = 1024 * 1024
SIZES = {"5M": 5 * MB, "30M": 30 * MB}
MODES = ("plain", "starttls", "implicit")
# Room for the 30 MB messages plus trace headers; POP3 has no size limit.
CONF = """
smtp = { max_message_size = 41943040; };
imap = { max_message_size = 41943040; };
auth = { failure_delay = 0; failure_delay_max = 0; };
"""
# A whole 30 MB transfer may take a while under the sanitizers; each read
# still fails after TIMEOUT seconds of silence.
CURL_MAX_TIME = int(TIMEOUT * 12)

needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")


def big_message(size, tag):
    """A size-byte message of numbered CRLF lines (so a lost, repeated or
    reordered piece shows), some starting with '.' to exercise POP3/SMTP
    dot-stuffing."""
    head = (f"From: <big@example.org>\r\nTo: <rcpt@localhost>\r\n"
            f"Subject: large {tag}\r\nMessage-ID: <{tag}@large.example>\r\n"
            # complete (RFC 5322 3.6), so submission adds nothing (RFC 6409 8)
            f"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\n").encode()
    # Lines of 11 to 987 bytes (under RFC 5322's 998): long enough that the
    # line-by-line clients (poplib) stay quick at 30 MB.
    pad = b"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ" * 16
    lines = []
    n, i = len(head), 0
    while n < size:
        line = (b"." if i % 13 == 0 else b"") + b"%09d " % i + pad[:i * 37 % 977] + b"\r\n"
        lines.append(line)
        n += len(line)
        i += 1
    body = b"".join(lines)
    return (head + body)[:size - 2] + b"\r\n"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    yield from helpers.configured_server(tmp_path_factory, "large", CONF, helpers.IMAP_KINDS)


@pytest.fixture(scope="module")
def msgs():
    return {k: big_message(v, k) for k, v in SIZES.items()}


@pytest.fixture(scope="module")
def box(srv, msgs):
    """A user whose INBOX holds the 5 MB message (UID 1, message 1) and the
    30 MB one (UID 2, message 2), appended over plaintext."""
    user = srv.new_user("large")
    c = imap_connect(srv, *user)
    for k in SIZES:
        c.append("INBOX", msgs[k])
    c.logout()
    return user


def number(size_key):
    return list(SIZES).index(size_key) + 1


# -- download: IMAP FETCH, POP3 RETR ---------------------------------------------

def imaplib_session(srv, user, mode):
    if mode == "implicit":
        m = imaplib.IMAP4_SSL("127.0.0.1", srv.ports["imaps"], ssl_context=client_ctx(),
                              timeout=TIMEOUT)
    else:
        m = imaplib.IMAP4("127.0.0.1", srv.ports["imap"], timeout=TIMEOUT)
        if mode == "starttls":
            typ, _ = m.starttls(ssl_context=client_ctx())
            assert typ == "OK"
    typ, _ = m.login(*user)
    assert typ == "OK"
    return m


def poplib_session(srv, user, mode):
    if mode == "implicit":
        p = poplib.POP3_SSL("127.0.0.1", srv.ports["pop3s"], context=client_ctx(),
                            timeout=TIMEOUT)
    else:
        p = poplib.POP3("127.0.0.1", srv.ports["pop3"], timeout=TIMEOUT)
        if mode == "starttls":
            assert p.stls(context=client_ctx()).startswith(b"+OK")
    p.user(user[0])
    p.pass_(user[1])
    return p


def curl(srv, user, scheme, path, mode, *args):
    port = srv.ports[scheme + "s" if mode == "implicit" else scheme]
    url = f"{scheme}{'s' if mode == 'implicit' else ''}://127.0.0.1:{port}/{path}"
    cmd = ["curl", "-sS", "--max-time", str(CURL_MAX_TIME), "-k",
           "--user", f"{user[0]}:{user[1]}", url, *args]
    if mode == "starttls":
        cmd.append("--ssl-reqd")    # imap:// and pop3:// with STARTTLS / STLS
    r = subprocess.run(cmd, capture_output=True, timeout=CURL_MAX_TIME + 30)
    assert r.returncode == 0, f"{' '.join(cmd)}: rc={r.returncode} stderr={r.stderr!r}"
    return r.stdout


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("mode", MODES)
def test_imap_fetch_imaplib(srv, box, msgs, mode, size):
    m = imaplib_session(srv, box, mode)
    typ, _ = m.select("INBOX", readonly=True)
    assert typ == "OK"
    typ, data = m.uid("FETCH", str(number(size)), "(BODY.PEEK[])")
    assert typ == "OK", data
    got = data[0][1]
    assert len(got) == len(msgs[size]) and got == msgs[size]
    # The session goes on normally after the big reply.
    typ, data = m.noop()
    assert typ == "OK", data
    m.logout()


@needs_curl
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("mode", MODES)
def test_imap_fetch_curl(srv, box, msgs, mode, size):
    got = curl(srv, box, "imap", f"INBOX;UID={number(size)}", mode)
    assert len(got) == len(msgs[size]) and got == msgs[size]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("mode", MODES)
def test_pop3_retr_poplib(srv, box, msgs, mode, size):
    p = poplib_session(srv, box, mode)
    resp, lines, octets = p.retr(number(size))
    assert resp.startswith(b"+OK")
    got = b"\r\n".join(lines) + b"\r\n"     # poplib strips CRLFs and undoes dot-stuffing
    assert len(got) == len(msgs[size]) and got == msgs[size]
    assert p.quit().startswith(b"+OK")


@needs_curl
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("mode", MODES)
def test_pop3_retr_curl(srv, box, msgs, mode, size):
    got = curl(srv, box, "pop3", str(number(size)), mode)
    assert len(got) == len(msgs[size]) and got == msgs[size]


# -- upload: IMAP APPEND, SMTP DATA ----------------------------------------------

def fetch_plain(srv, user, mailbox, uid):
    c = imap_connect(srv, *user)
    c.select(mailbox, examine=True)
    got = c.ok(f"UID FETCH {uid} BODY.PEEK[]").fetches()[1]["BODY[]"]
    c.logout()
    return got


# Uploads after STARTTLS carry both sizes; the other stacks the smaller one.
UPLOADS = [("plain", "5M"), ("implicit", "5M"), ("starttls", "5M"), ("starttls", "30M")]


@pytest.mark.parametrize("mode,size", UPLOADS)
def test_imap_append_imaplib(srv, msgs, mode, size):
    user = srv.new_user("append")
    m = imaplib_session(srv, user, mode)
    typ, data = m.append("INBOX", None, None, msgs[size])
    assert typ == "OK", data
    m.logout()
    assert fetch_plain(srv, user, "INBOX", 1) == msgs[size]


@needs_curl
@pytest.mark.parametrize("mode", MODES)
def test_imap_append_curl(srv, msgs, mode, tmp_path):
    user = srv.new_user("upload")
    path = tmp_path / "upload.eml"      # curl needs the size for APPEND's literal
    path.write_bytes(msgs["5M"])
    curl(srv, user, "imap", "INBOX", mode, "-T", str(path))
    assert fetch_plain(srv, user, "INBOX", 1) == msgs["5M"]


@pytest.mark.parametrize("mode,size", UPLOADS)
def test_smtp_data_smtplib(srv, msgs, mode, size):
    user = srv.new_user("data")
    if mode == "implicit":
        # smtps is submission: authenticated, and the sender is the user.
        s = smtplib.SMTP_SSL("127.0.0.1", srv.ports["smtps"], context=client_ctx(),
                             timeout=TIMEOUT)
        s.login(*user)
    else:
        s = smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=TIMEOUT)
        if mode == "starttls":
            s.ehlo()
            code, _ = s.starttls(context=client_ctx())
            assert code == 220
    # smtplib dot-stuffs; the message is already CRLF-terminated.
    refused = s.sendmail(user[0], [user[0]], msgs[size])
    assert refused == {}
    s.quit()
    stored = fetch_plain(srv, user, "INBOX", 1)
    assert split_trace(stored, user[0]) == msgs[size]
