# tests/integration/test_imap_catenate.py: CATENATE (RFC 4469) against the
# real server: messages composed from TEXT literals and IMAP URLs (relative
# to the server and to the selected mailbox, absolute), byte for byte; the
# RFC's response codes for bad URLs, sizes and lists; MULTIAPPEND and
# REPLACE with CATENATE; a TEXT literal8.  URLAUTH: test_imap_urlauth.py.
import re

import pytest

import helpers
from helpers import imap_connect, lit, quote

MULTI = (b"From: a@example.org\r\nTo: b@example.org\r\nSubject: draft\r\n"
         b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"xx\"\r\n\r\n"
         b"--xx\r\nContent-Type: text/plain\r\n\r\nfirst part\r\n"
         b"--xx\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
         b"AAECAwQ=\r\n--xx--\r\n")


def caps_of(resp):
    (data,) = resp.data("CAPABILITY")
    return {w.upper() for w in data.decode().split()}


def store(c, mailbox, data):
    """APPEND data; returns (uidvalidity, uid) from APPENDUID."""
    r = c.append(mailbox, data)
    m = re.search(r"APPENDUID (\d+) (\d+)", r.text)
    return int(m.group(1)), int(m.group(2))


def body(c, mailbox, uid, section=""):
    c.select(mailbox)
    r = c.ok(f"UID FETCH {uid} BODY.PEEK[{section}]")
    (items,) = r.fetches().values()
    return next(v for k, v in items.items() if k.startswith("BODY["))


def count(c, mailbox):
    r = c.ok(f"STATUS {quote(mailbox)} (MESSAGES)")
    return int(re.search(rb"MESSAGES (\d+)", r.untagged[0]).group(1))


def test_announced(imap):
    caps = caps_of(imap.ok("CAPABILITY"))
    assert "CATENATE" in caps


def test_rfc4469_example(imap):
    # RFC 4469 appendix A: a forward put together from a draft's header, a
    # new text part and the draft's parts with their MIME headers.
    v, uid = store(imap, "Drafts", MULTI)
    base = f"/Drafts;UIDVALIDITY={v}/;UID={uid}"
    text1 = b"\r\n--yy\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n\r\n--yy\r\n"
    text2 = b"\r\n--yy--\r\n"
    r = imap.cmd(b"APPEND Drafts (\\Seen \\Draft $MDNSent) CATENATE (URL "
                 + quote(base + "/;section=HEADER").encode() + b" TEXT " + lit(text1)
                 + b" URL " + quote(base + "/;section=1.MIME").encode()
                 + b" URL " + quote(base + "/;section=1").encode()
                 + b" TEXT " + lit(text2) + b")")
    assert r.status == "OK", r
    new = int(re.search(r"APPENDUID \d+ (\d+)", r.text).group(1))
    want = (body(imap, "Drafts", uid, "HEADER") + text1 + body(imap, "Drafts", uid, "1.MIME")
            + body(imap, "Drafts", uid, "1") + text2)
    assert body(imap, "Drafts", new) == want
    r = imap.ok(f"UID FETCH {new} FLAGS")
    assert b"$MDNSent" in r.untagged[0] and b"\\Draft" in r.untagged[0]


def test_relative_absolute_partial(imap_server, imap, imap_user):
    _, uid = store(imap, "INBOX", MULTI)
    imap.select("INBOX")
    local, domain = imap_user[0].split("@")
    urls = [
        (f";UID={uid}/;SECTION=TEXT", "TEXT", None),                        # the selected mailbox
        (f"/INBOX/;UID={uid}/;PARTIAL=10.20", "", (10, 20)),                # server-relative
        (f"imap://{local}@{domain}/INBOX/;UID={uid}/;SECTION=HEADER.FIELDS%20(SUBJECT)",
         "HEADER.FIELDS (SUBJECT)", None),                                   # absolute
        (f"imap://{local}%40{domain}@localhost/INBOX/;UID={uid}/;SECTION=2/;PARTIAL=2",
         "2", (2, None)),
        (f"/INBOX/;UID={uid}/;PARTIAL=100000.1", "", (100000, 1)),          # past the end: empty
    ]
    for url, section, partial in urls:
        r = imap.cmd(b"APPEND INBOX CATENATE (TEXT " + lit("X: 1\r\n") + b" URL "
                     + quote(url).encode() + b")")
        assert r.status == "OK", (url, r)
        new = int(re.search(r"APPENDUID \d+ (\d+)", r.text).group(1))
        part = body(imap, "INBOX", uid, section)
        if partial:
            off, n = partial
            part = part[off:off + n] if n else part[off:]
        assert body(imap, "INBOX", new) == b"X: 1\r\n" + part, url


def test_bad_urls(imap_server, imap, imap_user):
    v, uid = store(imap, "INBOX", MULTI)
    other, opw = imap_server.new_user("oth")
    o = imap_connect(imap_server, other, opw)
    _, ouid = store(o, "INBOX", MULTI)
    before = count(imap, "INBOX")
    local, domain = other.split("@")
    bad = [
        f"/INBOX;UIDVALIDITY={v + 1}/;UID={uid}",       # another UIDVALIDITY
        f"/INBOX/;UID={uid + 1000}",                     # no such message
        f"/INBOX/;UID={uid}/;SECTION=9",                 # no such part
        f"/INBOX/;UID={uid}/;SECTION=1.HEADER",          # HEADER of a non-message part
        f"/Nonexistent/;UID={uid}",
        f";UID={uid}",                                   # relative, nothing selected
        f"imap://{local}@{domain}/INBOX/;UID={ouid}",    # another user's mail
        f"imap://x@elsewhere.example/INBOX/;UID={uid}",  # another server
        "/INBOX/;UID=0", "/INBOX", "INBOX", "http://x/", "/IN%zz/;UID=1",
        f"/INBOX/;UID={uid};URLAUTH=anonymous",          # a rump authorises nothing
        f"/INBOX/;UID={uid}]x",                          # "]" shown encoded
    ]
    for url in bad:
        r = imap.cmd(b"APPEND INBOX CATENATE (TEXT " + lit("a: b\r\n\r\n") + b" URL "
                     + quote(url).encode() + b" TEXT " + lit("c\r\n") + b")")
        assert r.status == "NO", (url, r)
        shown = url.replace("]", "%5D")
        assert r.code == "BADURL " + shown, (url, r)
    assert count(imap, "INBOX") == before
    # The same URL used through a selected mailbox is fine.
    imap.select("INBOX")
    r = imap.cmd(b"APPEND INBOX CATENATE (URL " + quote(f";UID={uid}").encode() + b")")
    assert r.status == "OK", r
    # [TRYCREATE] before any URL is looked at (imaptest catenate).
    r = imap.cmd(b"APPEND NoSuchBox CATENATE (URL \"/INBOX;UIDVALIDITY=1/;UID=1\")")
    assert r.status == "NO" and r.code == "TRYCREATE", r


def test_syntax_errors(imap):
    for args in (b"CATENATE ()", b"CATENATE", b"CATENATE (TEXT)", b"CATENATE (TEXT \"x\")",
                 b"CATENATE (FOO {1+}\r\nx)", b"CATENATE (URL)", b"CATENATE (URL (x))",
                 b"CATENATE TEXT {1+}\r\nx"):
        r = imap.cmd(b"APPEND INBOX " + args)
        assert r.status == "BAD", (args, r)
        imap.ok("NOOP")   # BADs in a row end the session (max_errors)


def test_limits(imap):
    _, uid = store(imap, "INBOX", b"Subject: s\r\n\r\nshort\r\n")
    url = b"URL " + quote(f"/INBOX/;UID={uid}").encode()
    r = imap.cmd(b"APPEND INBOX CATENATE (" + b" ".join([url] * 1001) + b")")
    assert r.status == "NO" and r.code == "LIMIT", r
    r = imap.cmd(b"APPEND INBOX CATENATE (" + b" ".join([url] * 1000) + b")")
    assert r.status == "OK", r


@pytest.fixture(scope="module")
def small_server(tmp_path_factory):
    yield from helpers.configured_server(tmp_path_factory, "catsmall",
                                         "imap = { max_message_size = 4096; };\n",
                                         kinds=helpers.IMAP_KINDS)


def test_toobig(small_server):
    user, pw = small_server.new_user("big")
    c = imap_connect(small_server, user, pw)
    _, uid = store(c, "INBOX", b"Subject: s\r\n\r\n" + b"y" * 3000 + b"\r\n")
    url = b"URL " + quote(f"/INBOX/;UID={uid}").encode()
    r = c.cmd(b"APPEND INBOX CATENATE (" + url + b")")
    assert r.status == "OK", r
    # RFC 4469 5: the result over APPENDLIMIT, from URLs or from text.
    r = c.cmd(b"APPEND INBOX CATENATE (" + url + b" " + url + b")")
    assert r.status == "NO" and r.code == "TOOBIG", r
    r = c.cmd(b"APPEND INBOX CATENATE (" + url + b" TEXT " + lit(b"z" * 2000) + b")")
    assert r.status == "NO" and r.code == "TOOBIG", r
    assert count(c, "INBOX") == 2


def test_multiappend_and_replace(imap):
    v, uid = store(imap, "INBOX", MULTI)
    hdr = quote(f"/INBOX/;UID={uid}/;SECTION=HEADER").encode()
    # RFC 4469 6: CATENATE in each message of a MULTIAPPEND, mixed with a
    # plain literal; all or nothing.
    r = imap.cmd(b"APPEND INBOX CATENATE (URL " + hdr + b" TEXT " + lit("one\r\n") + b") (\\Flagged) "
                 + lit("Subject: plain\r\n\r\ntwo\r\n") + b" CATENATE (URL " + hdr + b" TEXT "
                 + lit("three\r\n") + b")")
    assert r.status == "OK", r
    uids = re.search(r"APPENDUID \d+ (\d+):(\d+)", r.text)
    first, last = int(uids.group(1)), int(uids.group(2))
    assert last - first == 2
    h = body(imap, "INBOX", uid, "HEADER")
    assert body(imap, "INBOX", first) == h + b"one\r\n"
    assert body(imap, "INBOX", first + 1) == b"Subject: plain\r\n\r\ntwo\r\n"
    assert body(imap, "INBOX", last) == h + b"three\r\n"
    before = count(imap, "INBOX")
    r = imap.cmd(b"APPEND INBOX CATENATE (TEXT " + lit("a\r\n") + b") CATENATE (URL "
                 + quote(f"/INBOX;UIDVALIDITY={v + 1}/;UID={uid}").encode() + b")")
    assert r.status == "NO" and r.code.startswith("BADURL"), r
    assert count(imap, "INBOX") == before
    # RFC 8508 5: REPLACE's message may be a CATENATE.
    imap.select("INBOX")
    r = imap.cmd(f"UID REPLACE {last} INBOX CATENATE (URL ".encode() + hdr + b" TEXT "
                 + lit("replaced\r\n") + b")")
    assert r.status == "OK", r
    new = int(re.search(rb"APPENDUID \d+ (\d+)", b"\n".join(r.untagged) + r.tagged).group(1))
    assert body(imap, "INBOX", new) == h + b"replaced\r\n"
    r = imap.ok(f"UID FETCH {last} FLAGS")
    assert not r.fetches()


def test_literal8_text(imap):
    # RFC 4469 4 with BINARY: a TEXT literal8 may carry NUL octets; APPEND
    # stores that part encoded (RFC 3516 4.3) and BINARY[] gives it back.
    head = (b"Subject: bin\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Transfer-Encoding: binary\r\n\r\n")
    data = b"\x00\x01\x02binary\x00\r\n"
    r = imap.cmd(b"APPEND INBOX CATENATE (TEXT " + lit(head) + b" TEXT ~{%d+}\r\n" % len(data)
                 + data + b")")
    assert r.status == "OK", r
    new = int(re.search(r"APPENDUID \d+ (\d+)", r.text).group(1))
    imap.select("INBOX")
    r = imap.ok(f"UID FETCH {new} BINARY.PEEK[1]")
    assert data in r.untagged[0]
