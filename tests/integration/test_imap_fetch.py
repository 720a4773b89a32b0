# tests/integration/test_imap_fetch.py: FETCH (RFC 3501 6.4.5, RFC 9051
# 6.4.5, 7.5.2): FLAGS, INTERNALDATE, RFC822.SIZE, ENVELOPE, BODY,
# BODYSTRUCTURE with extension data, BODY[section]<partial> on a multipart
# message holding a message/rfc822 part, RFC822*, UID, the macros, \Seen set by
# a non-PEEK fetch, BINARY (RFC 3516) and a 5 MB body.
import base64
import datetime
import os

import pytest

from helpers import make_message

HEADER = (b"From: Alice <alice@example.org>\r\n"
          b"To: Bob <bob@example.com>, \"Carol C\" <carol@example.com>\r\n"
          b"Cc: dave@example.net\r\n"
          b"Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= multipart\r\n"
          b"Date: Tue, 2 Jan 2024 10:00:00 +0100\r\n"
          b"Message-ID: <multi-1@example.org>\r\n"
          b"MIME-Version: 1.0\r\n"
          b"Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
          b"\r\n")
P1_HDR = (b"Content-Type: text/plain; charset=utf-8\r\n"
          b"Content-Transfer-Encoding: quoted-printable\r\n\r\n")
P1_BODY = b"Hello =C3=A9t=C3=A9\r\n"
INNER_HDR = (b"From: Inner <inner@example.org>\r\n"
             b"Subject: inner subject\r\n"
             b"Date: Mon, 1 Jan 2024 08:00:00 +0000\r\n"
             b"MIME-Version: 1.0\r\n"
             b"Content-Type: multipart/alternative; boundary=\"inner\"\r\n\r\n")
IP1 = b"inner plain\r\n"
IP2 = b"<p>inner html</p>\r\n"
INNER_BODY = (b"--inner\r\nContent-Type: text/plain\r\n\r\n" + IP1 +
              b"\r\n--inner\r\nContent-Type: text/html\r\n\r\n" + IP2 +
              b"\r\n--inner--\r\n")
P2_HDR = b"Content-Type: message/rfc822\r\n\r\n"
P3_HDR = (b"Content-Type: application/octet-stream; name=\"a.bin\"\r\n"
          b"Content-Disposition: attachment; filename=\"a.bin\"\r\n"
          b"Content-Transfer-Encoding: base64\r\n\r\n")
P3_BODY = b"AAECAwQFBgcICQ==\r\n"
TEXT = (b"preamble\r\n--outer\r\n" + P1_HDR + P1_BODY +
        b"\r\n--outer\r\n" + P2_HDR + INNER_HDR + INNER_BODY +
        b"\r\n--outer\r\n" + P3_HDR + P3_BODY +
        b"\r\n--outer--\r\nepilogue\r\n")
MSG = HEADER + TEXT
DATE = "02-Jan-2024 10:00:00 +0100"


def parse_date(s):
    return datetime.datetime.strptime(s.strip().decode() if isinstance(s, bytes) else s,
                                      "%d-%b-%Y %H:%M:%S %z")


@pytest.fixture
def multi(imap):
    imap.ok("CREATE mp")
    imap.append("mp", MSG, date=DATE)
    imap.select("mp")
    return imap


def one(r, seq=1):
    f = r.fetches()
    assert list(f) == [seq], r
    return f[seq]


def up(v):
    return None if v is None else bytes(v).upper()


def test_fast_items(multi):
    f = one(multi.ok("FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE UID)"))
    assert set(f) == {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "UID"}
    assert f["FLAGS"] == [b"\\Recent"] or f["FLAGS"] == [], f
    assert parse_date(f["INTERNALDATE"]) == parse_date(DATE)
    assert int(f["RFC822.SIZE"]) == len(MSG)
    assert int(f["UID"]) == 1


def test_macros(multi):
    assert set(one(multi.ok("FETCH 1 FAST"))) == {"FLAGS", "INTERNALDATE", "RFC822.SIZE"}
    assert set(one(multi.ok("FETCH 1 ALL"))) == {"FLAGS", "INTERNALDATE", "RFC822.SIZE",
                                                 "ENVELOPE"}
    assert set(one(multi.ok("FETCH 1 FULL"))) == {"FLAGS", "INTERNALDATE", "RFC822.SIZE",
                                                  "ENVELOPE", "BODY"}


def test_envelope(multi):
    env = one(multi.ok("FETCH 1 ENVELOPE"))["ENVELOPE"]
    assert len(env) == 10, env
    date, subject, frm, sender, reply_to, to, cc, bcc, irt, mid = env
    assert date == b"Tue, 2 Jan 2024 10:00:00 +0100"
    assert subject == b"=?UTF-8?Q?Gr=C3=BC=C3=9Fe?= multipart"
    alice = [[b"Alice", None, b"alice", b"example.org"]]
    assert frm == alice
    assert sender == alice and reply_to == alice    # RFC 3501 7.4.2 defaults
    assert to == [[b"Bob", None, b"bob", b"example.com"],
                  [b"Carol C", None, b"carol", b"example.com"]]
    assert cc == [[None, None, b"dave", b"example.net"]]
    assert bcc is None and irt is None
    assert mid == b"<multi-1@example.org>"


def check_structure(bs, extended):
    assert isinstance(bs, list)
    parts, rest = bs[:3], bs[3:]
    assert up(rest[0]) == b"MIXED"
    if extended:
        params = [up(x) for x in rest[1]]
        assert params == [b"BOUNDARY", b"OUTER"], rest
    else:
        assert len(rest) == 1, rest
    p1, p2, p3 = parts
    assert [up(p1[0]), up(p1[1])] == [b"TEXT", b"PLAIN"]
    assert [up(x) for x in p1[2]] == [b"CHARSET", b"UTF-8"]
    assert p1[3] is None and p1[4] is None
    assert up(p1[5]) == b"QUOTED-PRINTABLE"
    assert int(p1[6]) == len(P1_BODY) and int(p1[7]) == 1
    assert [up(p2[0]), up(p2[1])] == [b"MESSAGE", b"RFC822"]
    assert int(p2[6]) == len(INNER_HDR + INNER_BODY)
    env, body, lines = p2[7], p2[8], p2[9]
    assert env[1] == b"inner subject"
    assert env[2] == [[b"Inner", None, b"inner", b"example.org"]]
    assert up(body[2]) == b"ALTERNATIVE", body
    assert [up(body[0][0]), up(body[0][1])] == [b"TEXT", b"PLAIN"]
    assert [up(body[1][0]), up(body[1][1])] == [b"TEXT", b"HTML"]
    assert int(body[0][6]) == len(IP1) and int(body[0][7]) == 1
    assert int(lines) == (INNER_HDR + INNER_BODY).count(b"\n")
    assert [up(p3[0]), up(p3[1])] == [b"APPLICATION", b"OCTET-STREAM"]
    assert [up(x) for x in p3[2]] == [b"NAME", b"A.BIN"]
    assert up(p3[5]) == b"BASE64" and int(p3[6]) == len(P3_BODY)
    if extended:
        # md5, then disposition ("attachment" ("filename" "a.bin")) (RFC 3501 7.4.2)
        assert p3[7] is None
        assert up(p3[8][0]) == b"ATTACHMENT" and [up(x) for x in p3[8][1]] == \
            [b"FILENAME", b"A.BIN"], p3
    else:
        assert len(p3) == 7, p3


def test_bodystructure_and_body(multi):
    check_structure(one(multi.ok("FETCH 1 BODYSTRUCTURE"))["BODYSTRUCTURE"], True)
    check_structure(one(multi.ok("FETCH 1 BODY"))["BODY"], False)


def test_bodystructure_simple_text(imap):
    msg = make_message("plain one", body=b"line 1\r\nline 2\r\n")
    imap.append("INBOX", msg)
    imap.select("INBOX")
    bs = one(imap.ok("FETCH 1 BODYSTRUCTURE"))["BODYSTRUCTURE"]
    # No Content-Type: text/plain; charset=us-ascii, 7bit (RFC 2045 5.2).
    assert [up(bs[0]), up(bs[1])] == [b"TEXT", b"PLAIN"]
    assert [up(x) for x in bs[2]] == [b"CHARSET", b"US-ASCII"]
    assert up(bs[5]) == b"7BIT" and int(bs[6]) == 16 and int(bs[7]) == 2


SECTIONS = {
    "BODY[]": MSG,
    "BODY[HEADER]": HEADER,
    "BODY[TEXT]": TEXT,
    "BODY[1]": P1_BODY,
    "BODY[1.MIME]": P1_HDR,
    "BODY[2]": INNER_HDR + INNER_BODY,
    "BODY[2.MIME]": P2_HDR,
    "BODY[2.HEADER]": INNER_HDR,
    "BODY[2.TEXT]": INNER_BODY,
    "BODY[2.1]": IP1,
    "BODY[2.2]": IP2,
    "BODY[3]": P3_BODY,
    "BODY[3.MIME]": P3_HDR,
    "BODY[HEADER.FIELDS (Subject Cc)]":
        b"Cc: dave@example.net\r\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= multipart\r\n\r\n",
    "BODY[HEADER.FIELDS (X-Not-There)]": b"\r\n",
    "BODY[2.HEADER.FIELDS (SUBJECT)]": b"Subject: inner subject\r\n\r\n",
}


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_body_sections(multi, section):
    peek = section.replace("BODY[", "BODY.PEEK[", 1)
    f = one(multi.ok(f"FETCH 1 {peek}"))
    # The response names the section without .PEEK; the field list may be
    # echoed in another case, so match the key ignoring case.
    keys = {k.upper(): k for k in f}
    assert section.upper() in keys, f"{section}: got {list(f)}"
    assert f[keys[section.upper()]] == SECTIONS[section]


def test_header_fields_not(multi):
    f = one(multi.ok("FETCH 1 BODY.PEEK[HEADER.FIELDS.NOT (To Cc Subject Date Message-ID "
                     "MIME-Version Content-Type)]"))
    (v,) = f.values()
    assert v == b"From: Alice <alice@example.org>\r\n\r\n"


def test_partials(multi):
    f = one(multi.ok("FETCH 1 (BODY.PEEK[]<0.10> BODY.PEEK[TEXT]<10.7> BODY.PEEK[1]<2.5>)"))
    assert f["BODY[]<0>"] == MSG[:10]
    assert f["BODY[TEXT]<10>"] == TEXT[10:17]
    assert f["BODY[1]<2>"] == P1_BODY[2:7]
    f = one(multi.ok(f"FETCH 1 (BODY.PEEK[]<{len(MSG) - 3}.100> BODY.PEEK[]<{len(MSG) + 50}.5>)"))
    assert f[f"BODY[]<{len(MSG) - 3}>"] == MSG[-3:]
    assert f[f"BODY[]<{len(MSG) + 50}>"] == b""


def test_rfc822_items_and_seen(multi):
    f = one(multi.ok("FETCH 1 RFC822.HEADER"))
    assert f["RFC822.HEADER"] == HEADER
    assert b"\\Seen" not in one(multi.ok("FETCH 1 FLAGS"))["FLAGS"]
    f = one(multi.ok("FETCH 1 (RFC822 RFC822.TEXT)"))
    assert f["RFC822"] == MSG and f["RFC822.TEXT"] == TEXT
    assert b"\\Seen" in f["FLAGS"], f      # the change is reported (RFC 3501 6.4.5)
    assert b"\\Seen" in one(multi.ok("FETCH 1 FLAGS"))["FLAGS"]


def test_peek_does_not_set_seen_body_does(multi):
    multi.ok("FETCH 1 (BODY.PEEK[] BODY.PEEK[1] BINARY.PEEK[1] BODY.PEEK[HEADER])")
    assert b"\\Seen" not in one(multi.ok("FETCH 1 FLAGS"))["FLAGS"]
    multi.ok("FETCH 1 BODY[2.1]")
    assert b"\\Seen" in one(multi.ok("FETCH 1 FLAGS"))["FLAGS"]


def test_binary(multi):
    f = one(multi.ok("FETCH 1 (BINARY.PEEK[3] BINARY.SIZE[3] BINARY.PEEK[1] BINARY.SIZE[1] "
                     "BINARY.PEEK[3]<2.3>)"))
    assert f["BINARY[3]"] == bytes(range(10))
    assert int(f["BINARY.SIZE[3]"]) == 10
    assert f["BINARY[1]"] == "Hello été\r\n".encode()
    assert int(f["BINARY.SIZE[1]"]) == len("Hello été\r\n".encode())
    assert f["BINARY[3]<2>"] == bytes([2, 3, 4])


BIN_PART = b"a\x00b\x00\x00c\r\n\xff\x00end"
BIN_MSG = (b"From: a@example.org\r\nSubject: nul\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
           b"--b\r\nContent-Type: text/plain\r\n\r\nplain text\r\n"
           b"--b\r\nContent-Type: application/octet-stream\r\n"
           b"Content-Transfer-Encoding: binary\r\n\r\n" + BIN_PART +
           b"\r\n--b--\r\n")


def test_binary_append_nul_never_in_a_literal(imap):
    # RFC 9051 4.3.1 / 6.4.5: a NUL goes only in BINARY[]'s literal8; BODY[]
    # gets the part base64-encoded (RFC 3516 4.3 lets APPEND change the
    # transfer encoding without loss), as Dovecot does.
    c = imap
    c.ok("CREATE bin")
    r = c.ok(b"APPEND bin ~{%d+}\r\n" % len(BIN_MSG) + BIN_MSG)
    c.select("bin")
    r = c.ok("FETCH 1 (BODY.PEEK[] BODY.PEEK[TEXT] BODY.PEEK[2] BODY.PEEK[2.MIME] "
             "RFC822.SIZE BODYSTRUCTURE)")
    (raw,) = r.untagged
    assert b"\x00" not in raw and b"~{" not in raw, r
    f = one(r)
    whole = f["BODY[]"]
    assert int(f["RFC822.SIZE"]) == len(whole)
    assert base64.b64decode(f["BODY[2]"]) == BIN_PART
    assert f["BODY[2.MIME]"] == (b"Content-Type: application/octet-stream\r\n"
                                 b"Content-Transfer-Encoding: base64\r\n\r\n")
    assert whole.endswith(f["BODY[TEXT]"]) and f["BODY[2]"] in whole
    bs = f["BODYSTRUCTURE"]
    assert up(bs[1][5]) == b"BASE64" and int(bs[1][6]) == len(f["BODY[2]"]), bs
    # BINARY[] gives back the octets sent, in a literal8.
    r = c.ok("FETCH 1 (BINARY.PEEK[2] BINARY.SIZE[2] BINARY.PEEK[1])")
    assert b"BINARY[2] ~{%d}\r\n" % len(BIN_PART) in r.untagged[0], r
    f = one(r)
    assert f["BINARY[2]"] == BIN_PART and int(f["BINARY.SIZE[2]"]) == len(BIN_PART)
    assert f["BINARY[1]"] == b"plain text"
    # A single-part message whose body is the binary data.
    single = (b"Subject: one\r\nContent-Transfer-Encoding: binary\r\n\r\n" + BIN_PART)
    c.ok(b"APPEND bin ~{%d+}\r\n" % len(single) + single)
    r = c.ok("FETCH 2 (BODY.PEEK[] BODY.PEEK[1] BINARY.PEEK[1])")
    assert b"\x00" not in r.untagged[0].split(b"BINARY[1]")[0], r
    f = one(r, 2)
    assert base64.b64decode(f["BODY[1]"]) == BIN_PART and f["BINARY[1]"] == BIN_PART
    assert f["BODY[]"].startswith(b"Subject: one\r\nContent-Transfer-Encoding: base64\r\n\r\n")


def test_binary_append_nul_in_header_refused(imap):
    # RFC 3516 4.4: binary content that cannot be stored is NO [UNKNOWN-CTE].
    msg = b"Subject: a\x00b\r\n\r\nbody\r\n"
    r = imap.cmd(b"APPEND INBOX ~{%d+}\r\n" % len(msg) + msg)
    assert r.status == "NO" and r.code == "UNKNOWN-CTE", r
    assert b"(MESSAGES 0)" in imap.ok("STATUS INBOX (MESSAGES)").data("STATUS")[0]


def test_uid_fetch_includes_uid(multi):
    r = multi.ok("UID FETCH 1 FLAGS")
    f = one(r)
    assert int(f["UID"]) == 1
    assert multi.ok("UID FETCH 99 FLAGS").fetches() == {}


def test_fetch_several_messages(imap):
    msgs = [make_message(f"n{i}") for i in range(4)]
    for m in msgs:
        imap.append("INBOX", m)
    imap.select("INBOX")
    f = imap.ok("FETCH 2:* (UID BODY.PEEK[])").fetches()
    assert sorted(f) == [2, 3, 4]
    assert [f[i]["BODY[]"] for i in (2, 3, 4)] == msgs[1:]
    assert [int(f[i]["UID"]) for i in (2, 3, 4)] == [2, 3, 4]
    f = imap.ok("FETCH 4,1 RFC822.SIZE").fetches()
    assert {k: int(v["RFC822.SIZE"]) for k, v in f.items()} == {1: len(msgs[0]),
                                                                4: len(msgs[3])}


def test_five_megabyte_body(imap):
    line = os.urandom(38).hex().encode() + b"\r\n"           # 78 bytes
    body = line * (5 * 1024 * 1024 // len(line) + 1)
    msg = make_message("big", body=body)
    assert len(msg) > 5 * 1024 * 1024
    imap.append("INBOX", msg)
    imap.select("INBOX")
    f = one(imap.ok("FETCH 1 (RFC822.SIZE BODY.PEEK[])"))
    assert int(f["RFC822.SIZE"]) == len(msg)
    assert f["BODY[]"] == msg
    f = one(imap.ok("FETCH 1 BODY.PEEK[TEXT]<4000000.100>"))
    assert f["BODY[TEXT]<4000000>"] == body[4000000:4000100]


def pad_header(total, lf=False):
    """A header of exactly `total` octets up to and including its empty line."""
    eol = b"\n" if lf else b"\r\n"
    head = b"Subject: padded" + eol
    fill = total - len(head) - len(eol)
    lines = []
    while fill > 0:
        n = min(fill, 70)
        if n < len(b"X-P: ") + len(eol):        # too short for a line: widen the last
            lines[-1] = lines[-1][:-len(eol)] + b"p" * n + eol
            break
        lines.append(b"X-P: " + b"p" * (n - 5 - len(eol)) + eol)
        fill -= n
    return head + b"".join(lines) + eol


# Headers the fast path (the content read up to its empty line, no
# structure) must cut exactly where the MIME parser does: LF-only lines,
# no empty line at all, an empty first line, an empty line across the
# store's 997-octet chunks, and a header too long to be read that way.
HEAD_CASES = {
    "lf": b"Subject: lf only\nX-A: 1\n\nbody\nmore\n",
    "no-empty-line": b"Subject: all header\r\nX-A: 1\r\n",
    "no-empty-line-no-eol": b"Subject: all header\r\nX-A: 1",
    "empty-first-line": b"\r\nSubject: this is body\r\n",
    "cr-only-line": b"Subject: cr\r\n\r \r\nX-B: 2\r\n\r\nbody\r\n",
    "chunk-995": pad_header(995) + b"body\r\n" * 400,
    "chunk-996": pad_header(996) + b"body\r\n" * 400,
    "chunk-997": pad_header(997) + b"body\r\n" * 400,
    "chunk-998": pad_header(998) + b"body\r\n" * 400,
    "chunk-999-lf": pad_header(999, lf=True) + b"body\n" * 400,
    "three-chunks": pad_header(2500) + b"body\r\n",
    "over-64k": pad_header(70000) + b"body\r\n",
    "big-message": pad_header(1200) + b"x" * 200000 + b"\r\n",
}


def expected_header(msg):
    # The MIME parser's rule: up to and including the first line that is
    # empty (nothing, or only CR, before its LF); all of it if none.
    pos = 0
    while True:
        nl = msg.find(b"\n", pos)
        if nl < 0:
            return msg
        if msg[pos:nl] in (b"", b"\r"):
            return msg[:nl + 1]
        pos = nl + 1


@pytest.mark.parametrize("case", sorted(HEAD_CASES))
def test_header_items_cut_where_the_parser_cuts(imap, case):
    msg = HEAD_CASES[case]
    hdr = expected_header(msg)
    imap.append("INBOX", msg)
    imap.select("INBOX")
    # Header items alone (read up to the empty line) ...
    f = one(imap.ok("FETCH 1 (BODY.PEEK[HEADER] BODY.PEEK[HEADER.FIELDS (SUBJECT)] "
                    "BODY.PEEK[HEADER.FIELDS.NOT (X-P X-A)]<0.7> RFC822.HEADER)"))
    # ... and the same beside an item that needs the structure.
    g = one(imap.ok("FETCH 1 (BODY.PEEK[HEADER] BODY.PEEK[HEADER.FIELDS (SUBJECT)] "
                    "BODY.PEEK[HEADER.FIELDS.NOT (X-P X-A)]<0.7> RFC822.HEADER "
                    "BODY.PEEK[TEXT]<0.1>)"))
    keys = {k.upper(): k for k in f}
    assert f[keys["BODY[HEADER]"]] == hdr
    assert f[keys["RFC822.HEADER"]] == hdr
    subject = [ln for ln in hdr.splitlines(keepends=True) if ln.lower().startswith(b"subject:")]
    assert f[keys["BODY[HEADER.FIELDS (SUBJECT)]"]] == b"".join(subject) + b"\r\n"
    for k in f:
        assert g[k] == f[k], k
    assert len(g) == len(f) + 1


def test_header_items_of_many_messages(imap):
    # Header-only FETCH reads a window's headers in batches of 256 KiB
    # (imap_fetch_heads.c): 300 messages with headers of 1 to 3 KiB
    # (several batches, two windows), the odd cases above among them, and
    # one expunged between two FETCHes.
    msgs = []
    for i in range(300):
        msgs.append(pad_header(1000 + (i * 37) % 2000) + b"body %d\r\n" % i)
        if i % 50 == 7:
            msgs.append(HEAD_CASES[sorted(HEAD_CASES)[(i // 50) % len(HEAD_CASES)]])
    parts = [b"APPEND INBOX"]
    for m in msgs:
        parts.append(b" {%d+}\r\n" % len(m) + m)
    assert imap.cmd(b"".join(parts)).status == "OK"
    imap.select("INBOX")
    f = imap.ok("FETCH 1:* (BODY.PEEK[HEADER] BODY.PEEK[HEADER.FIELDS (SUBJECT)])").fetches()
    assert sorted(f) == list(range(1, len(msgs) + 1))
    for n, m in enumerate(msgs, 1):
        keys = {k.upper(): k for k in f[n]}
        assert f[n][keys["BODY[HEADER]"]] == expected_header(m), n
        subject = [ln for ln in expected_header(m).splitlines(keepends=True)
                   if ln.lower().startswith(b"subject:")]
        assert f[n][keys["BODY[HEADER.FIELDS (SUBJECT)]"]] == b"".join(subject) + b"\r\n", n
    imap.ok("STORE 5 +FLAGS.SILENT (\\Deleted)")
    imap.ok("EXPUNGE")
    f = imap.ok("UID FETCH 1:* (BODY.PEEK[HEADER])").fetches()
    assert len(f) == len(msgs) - 1
    assert all(v["BODY[HEADER]"] == expected_header(msgs[int(v["UID"]) - 1]) for v in f.values())
