# tests/integration/test_imap_store_search_copy.py: STORE (RFC 9051 6.4.6,
# keywords, PERMANENTFLAGS \*, CONDSTORE UNCHANGEDSINCE RFC 7162 3.1.3),
# SEARCH (RFC 3501 6.4.4: every key; RFC 2047 headers; BODY/TEXT over
# base64 and quoted-printable parts; CHARSET and [BADCHARSET]), ESEARCH
# (RFC 4731), SEARCHRES (RFC 5182), COPY/MOVE (RFC 4315 COPYUID, RFC 6851,
# [TRYCREATE]), APPEND (flags, date, APPENDUID) and MULTIAPPEND (RFC 3502).
import base64
import datetime
import re

import pytest

from helpers import esearch_items, imap_connect, lit, make_message, seqset, status_items


def uidset(s):
    """A UID set of a response code, in the order given (RFC 4315 3)."""
    out = []
    for part in s.split(","):
        a, _, b = part.partition(":")
        a, b = int(a), int(b or a)
        out += list(range(a, b + 1)) if a <= b else list(range(a, b - 1, -1))
    return out


def flags_of(c, seq):
    f = c.ok(f"FETCH {seq} FLAGS").fetches()[seq]["FLAGS"]
    return {bytes(x).decode() for x in f} - {"\\Recent"}


def search(c, crit, uid=False):
    r = c.cmd(("UID " if uid else "") + "SEARCH " + crit if isinstance(crit, str)
              else (b"UID " if uid else b"") + b"SEARCH " + crit)
    assert r.status == "OK", f"SEARCH {crit!r}: {r}"
    d = r.data("SEARCH")
    assert len(d) == 1, r
    return sorted(int(x) for x in d[0].split())


# -- STORE ------------------------------------------------------------------------

@pytest.fixture
def box3(imap):
    imap.ok("CREATE st3")
    for i in range(3):
        imap.append("st3", make_message(f"s{i}"))
    imap.select("st3")
    return imap


def test_store_variants(box3):
    c = box3
    r = c.ok("STORE 1 FLAGS (\\Seen \\Flagged)")
    f = r.fetches()
    assert list(f) == [1]
    assert {bytes(x).decode() for x in f[1]["FLAGS"]} - {"\\Recent"} == {"\\Seen", "\\Flagged"}
    r = c.ok("STORE 1:2 +FLAGS (\\Answered)")
    assert sorted(r.fetches()) == [1, 2]
    assert flags_of(c, 1) == {"\\Seen", "\\Flagged", "\\Answered"}
    assert flags_of(c, 2) == {"\\Answered"}
    r = c.ok("STORE 1 -FLAGS (\\Flagged)")
    assert flags_of(c, 1) == {"\\Seen", "\\Answered"}
    r = c.ok("STORE 1:3 +FLAGS.SILENT (\\Draft)")
    assert r.numbered("FETCH") == [], r     # .SILENT: no FETCH for our own change
    assert flags_of(c, 3) == {"\\Draft"}
    r = c.ok("STORE 3 FLAGS.SILENT ()")
    assert flags_of(c, 3) == set()
    r = c.ok("UID STORE 2 -FLAGS (\\Answered)")
    f = r.fetches()
    assert int(f[2]["UID"]) == 2, r         # UID STORE reports the UID
    assert c.cmd("STORE 1 FLAGS (\\Bogus)").status in ("BAD", "NO")
    assert c.cmd("STORE 1 +FLAGZ (\\Seen)").status == "BAD"
    assert flags_of(c, 1) == {"\\Seen", "\\Answered", "\\Draft"}


def test_keywords(box3):
    c = box3
    r = c.ok("STORE 2 +FLAGS ($Label1 Custom)")
    assert flags_of(c, 2) == {"$Label1", "Custom"}
    c.ok("STORE 2 -FLAGS (Custom)")
    assert flags_of(c, 2) == {"$Label1"}
    r = c.select("st3")
    flags = [d for d in r.data("FLAGS")][0]
    assert b"$Label1" in flags, r
    perm = [d for d in r.data("OK") if d.startswith(b"[PERMANENTFLAGS")][0]
    assert b"\\*" in perm and b"$Label1" in perm, perm
    r = c.select("st3")
    assert flags_of(c, 2) == {"$Label1"}        # kept across SELECT


def test_keywords_known_and_new_across_sessions(box3, imap_server, imap_user):
    # A STORE naming keywords the session's table has maps them without a
    # store transaction, case-insensitively, to the entry as first given;
    # one naming a keyword another session added since is interned, and
    # FLAGS names it before a FETCH uses it (RFC 3501 7.2.6).
    a = box3
    b = imap_connect(imap_server, *imap_user)
    b.select("st3")
    a.ok("STORE 1 +FLAGS (Work)")
    b.ok("NOOP")
    r = b.ok("STORE 2 +FLAGS (WORK)")              # known to b's table now
    assert {bytes(x).decode() for x in r.fetches()[2]["FLAGS"]} - {"\\Recent"} == {"Work"}, r
    a.ok("STORE 1 +FLAGS (Later)")                 # b's table lacks it
    r = b.ok("STORE 3 +FLAGS (later work)")
    flags_at = [i for i, u in enumerate(r.untagged) if re.match(rb"\* FLAGS ", u)]
    fetch_at = [i for i, u in enumerate(r.untagged) if re.match(rb"\* 3 FETCH ", u)]
    assert flags_at and fetch_at and flags_at[0] < fetch_at[0], r
    assert b"Later" in r.untagged[flags_at[0]], r
    assert flags_of(b, 3) == {"Later", "Work"}
    assert search(b, "KEYWORD work") == [1, 2, 3]
    assert search(a, "KEYWORD LATER") == [1, 3]
    assert search(a, "UNKEYWORD Work") == []
    b.logout()


def test_unchangedsince(box3):
    c = box3
    f = c.ok("FETCH 1:3 (MODSEQ)").fetches()
    assert sorted(f) == [1, 2, 3], f
    m1 = max(int(v["MODSEQ"][0]) for v in f.values())
    r = c.ok(f"STORE 1 (UNCHANGEDSINCE {m1}) +FLAGS (\\Answered)")
    f = r.fetches()[1]
    m2 = int(f["MODSEQ"][0])
    assert m2 > m1, r
    # The message changed after m1: the STORE is refused for it (RFC 7162 3.1.3).
    r = c.ok(f"STORE 1:2 (UNCHANGEDSINCE {m1}) +FLAGS (\\Flagged)")
    assert r.code == "MODIFIED 1", r
    assert flags_of(c, 1) == {"\\Answered"}
    assert flags_of(c, 2) == {"\\Flagged"}
    assert int(c.ok("FETCH 1 MODSEQ").fetches()[1]["MODSEQ"][0]) == m2
    r = c.ok("FETCH 1:3 (FLAGS) (CHANGEDSINCE %d)" % m2)
    assert sorted(r.fetches()) == [2], r


def test_esearch_modseq_of_returned(box3):
    # RFC 4731 3.2 / RFC 7162 3.1.10: with MIN or MAX alone the MODSEQ result
    # is that of the message returned, with MIN and MAX the higher of those
    # two, not the highest over all matches.
    c = box3
    c.ok("STORE 1 +FLAGS.SILENT (\\Flagged)")
    c.ok("STORE 2 +FLAGS.SILENT (\\Flagged)")
    f = c.ok("FETCH 1:3 (MODSEQ)").fetches()
    ms = {n: int(v["MODSEQ"][0]) for n, v in f.items()}
    assert ms[2] > ms[1] > ms[3], f     # the highest is neither MIN nor MAX
    lo = ms[3]
    r = c.ok(f"SEARCH RETURN (MIN) MODSEQ {lo}")
    assert esearch_items(r)[2] == {"MIN": "1", "MODSEQ": str(ms[1])}, r
    r = c.ok(f"SEARCH RETURN (MAX) MODSEQ {lo}")
    assert esearch_items(r)[2] == {"MAX": "3", "MODSEQ": str(ms[3])}, r
    r = c.ok(f"SEARCH RETURN (MIN MAX) MODSEQ {lo}")
    assert esearch_items(r)[2] == {"MIN": "1", "MAX": "3", "MODSEQ": str(ms[1])}, r
    r = c.ok(f"UID SEARCH RETURN (MAX) MODSEQ {ms[1]}")
    assert esearch_items(r)[2] == {"MAX": "2", "MODSEQ": str(ms[2])}, r
    # ALL or COUNT: the highest over every match.
    r = c.ok(f"SEARCH RETURN (MAX COUNT) MODSEQ {lo}")
    assert esearch_items(r)[2] == {"MAX": "3", "COUNT": "3", "MODSEQ": str(ms[2])}, r
    r = c.ok(f"SEARCH MODSEQ {lo}")
    assert r.data("SEARCH") == [b"1 2 3 (MODSEQ %d)" % ms[2]], r


def test_flag_changes_persist(imap_server, imap_user, box3):
    box3.ok("STORE 3 +FLAGS ($Done \\Flagged)")
    d = imap_connect(imap_server, *imap_user)
    d.select("st3", examine=True)
    assert flags_of(d, 3) == {"$Done", "\\Flagged"}
    d.logout()


# -- SEARCH -----------------------------------------------------------------------

def b64(s):
    return base64.encodebytes(s.encode()).replace(b"\n", b"\r\n")


M1 = (b"From: Alice <alice@example.org>\r\nTo: bob@example.com\r\n"
      b"Subject: Hello world\r\nDate: Mon, 1 Jan 2024 12:00:00 +0000\r\n\r\n"
      b"apple banana\r\n")
M2 = (b"From: =?UTF-8?B?SsO8cmdlbg==?= <jurgen@example.org>\r\nTo: team@example.com\r\n"
      b"Cc: carol@example.com\r\n"
      b"Subject: =?ISO-8859-1?Q?Caf=E9?= menu\r\nDate: Sat, 10 Feb 2024 12:00:00 +0000\r\n"
      b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
      b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
      b"Cr=C3=A8me br=C3=BBl=C3=A9e tonight\r\n")
M3 = (b"From: zed@example.net\r\nTo: team@example.com\r\nBcc: dave@example.com\r\n"
      b"X-Custom: zebra stripes\r\nSubject: attachment\r\n"
      b"Date: Fri, 1 Mar 2024 12:00:00 +0000\r\nMIME-Version: 1.0\r\n"
      b"Content-Type: multipart/mixed; boundary=b1\r\n\r\n"
      b"--b1\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
      b64("the secret pineapple recipe\r\n") +
      b"--b1\r\nContent-Type: application/octet-stream\r\n\r\n" + b"x" * 6000 +
      b"\r\n--b1--\r\n")
M4 = (b"From: Alice <alice@example.org>\r\nTo: team@example.com\r\n"
      b"Subject: Re: hello again\r\nDate: Sat, 9 Mar 2024 12:00:00 +0000\r\n\r\n"
      b"see you\r\n")


@pytest.fixture
def sbox(imap):
    imap.ok("CREATE sr")
    imap.append("sr", make_message("to be expunged"))
    imap.append("sr", M1, flags=["\\Seen"], date="01-Feb-2024 12:00:00 +0000")
    imap.append("sr", M2, flags=["\\Flagged", "$Important"], date="15-Feb-2024 12:00:00 +0000")
    imap.append("sr", M3, flags=["\\Deleted"], date="01-Mar-2024 12:00:00 +0000")
    imap.append("sr", M4, flags=["\\Answered", "\\Draft"], date="10-Mar-2024 12:00:00 +0000")
    imap.select("sr")
    imap.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    imap.ok("UID EXPUNGE 1")
    return imap


SEARCHES = [
    ("ALL", [1, 2, 3, 4]),
    ("SEEN", [1]), ("UNSEEN", [2, 3, 4]),
    ("FLAGGED", [2]), ("UNFLAGGED", [1, 3, 4]),
    ("DELETED", [3]), ("UNDELETED", [1, 2, 4]),
    ("ANSWERED", [4]), ("UNANSWERED", [1, 2, 3]),
    ("DRAFT", [4]), ("UNDRAFT", [1, 2, 3]),
    ("KEYWORD $Important", [2]), ("UNKEYWORD $Important", [1, 3, 4]),
    ("KEYWORD $Nothing", []),
    ("RECENT", [1, 2, 3, 4]), ("NEW", [2, 3, 4]), ("OLD", []),
    ("FROM alice", [1, 4]), ("FROM JURGEN", [2]), ("FROM example.net", [3]),
    ("TO bob", [1]), ("CC carol", [2]), ("BCC dave", [3]),
    ("SUBJECT hello", [1, 4]), ("SUBJECT \"menu\"", [2]),
    ("HEADER X-Custom zebra", [3]), ("HEADER X-Custom \"\"", [3]),
    ("HEADER Subject \"RE: HELLO\"", [4]),
    ("BODY banana", [1]), ("BODY pineapple", [3]), ("BODY tonight", [2]),
    ("BODY hello", []), ("TEXT hello", [1, 4]), ("TEXT pineapple", [3]),
    ("LARGER 5000", [3]), ("SMALLER 5000", [1, 2, 4]),
    ("BEFORE 15-Feb-2024", [1]), ("ON 15-Feb-2024", [2]), ("SINCE 01-Mar-2024", [3, 4]),
    ("SENTBEFORE 10-Feb-2024", [1]), ("SENTON 10-Feb-2024", [2]),
    ("SENTSINCE 01-Mar-2024", [3, 4]),
    ("2:3", [2, 3]), ("*", [4]), ("1,4", [1, 4]), ("UID 3:4", [2, 3]),
    ("NOT 2", [1, 3, 4]), ("OR SEEN FLAGGED", [1, 2]), ("NOT (OR SEEN FLAGGED)", [3, 4]),
    ("(FROM alice) UNSEEN", [4]), ("FLAGGED FROM jurgen SINCE 1-Jan-2024", [2]),
    ("OR (SEEN SUBJECT nope) DRAFT", [4]),
]


def test_search_every_key(sbox):
    bad = []
    for crit, want in SEARCHES:
        got = search(sbox, crit)
        if got != want:
            bad.append(f"SEARCH {crit}: want {want} got {got}")
    assert not bad, "\n".join(bad)


def test_uid_search(sbox):
    assert search(sbox, "SEEN", uid=True) == [2]
    assert search(sbox, "UID 4:*", uid=True) == [4, 5]
    assert search(sbox, "ALL", uid=True) == [2, 3, 4, 5]


def test_search_charset_utf8(sbox):
    # RFC 2047-decoded headers and decoded MIME text, compared as UTF-8.
    assert search(sbox, b"CHARSET UTF-8 SUBJECT " + lit("café")) == [2]
    assert search(sbox, b"CHARSET UTF-8 FROM " + lit("Jürgen")) == [2]
    assert search(sbox, b"CHARSET UTF-8 BODY " + lit("crème")) == [2]
    assert search(sbox, b"CHARSET UTF-8 TEXT " + lit("brûlée")) == [2]
    assert search(sbox, b"CHARSET UTF-8 BODY " + lit("BRÛLÉE")) == [2]   # case-insensitive
    assert search(sbox, "CHARSET US-ASCII BODY banana") == [1]
    r = sbox.cmd("SEARCH CHARSET X-NO-SUCH-CHARSET BODY banana")
    assert r.status == "NO" and r.code.startswith("BADCHARSET"), r
    assert r.data("SEARCH") == []


def test_search_address_with_comments(imap):
    # RFC 3501 6.4.4 FROM/TO/CC/BCC match the addresses as ENVELOPE parses
    # them, not only the raw text (imaptest's search-addresses).
    c = imap
    c.ok("CREATE addr")
    c.append("addr", b"From: <user-from (comment)@ (comment) domain.org>\r\n"
                     b"To: \"Some One\" <some . one@example.net>\r\n"
                     b"Subject: a\r\n\r\nbody\r\n")
    c.append("addr", make_message("other"))
    c.select("addr")
    assert search(c, "FROM user-from@domain.org") == [1]
    assert search(c, "FROM \"(comment)\"") == [1]    # the raw text too
    assert search(c, "TO some.one@example.net") == [1]
    assert search(c, "TO \"Some One <some.one@\"") == [1]
    assert search(c, "FROM user-from@example.net") == []


def test_search_bad_syntax(sbox):
    for crit in ("FROB", "BEFORE 31-Foo-2024", "LARGER x", "OR SEEN", "(SEEN", "UID"):
        r = sbox.cmd(f"SEARCH {crit}")
        assert r.status == "BAD", f"{crit}: {r}"


def test_esearch(sbox):
    c = sbox
    r = c.ok("SEARCH RETURN (MIN MAX COUNT ALL) UNSEEN")
    tag, uid, items = esearch_items(r)
    assert (tag, uid) == (r.tag, False), r
    assert set(items) == {"MIN", "MAX", "COUNT", "ALL"}, r
    assert (items["MIN"], items["MAX"], items["COUNT"]) == ("2", "4", "3"), r
    assert seqset(items["ALL"]) == [2, 3, 4], r
    assert r.data("SEARCH") == []
    r = c.ok("UID SEARCH RETURN (COUNT) NOT SEEN")
    assert esearch_items(r) == (r.tag, True, {"COUNT": "3"}), r
    r = c.ok("UID SEARCH RETURN (MIN MAX) NOT SEEN")
    assert esearch_items(r) == (r.tag, True, {"MIN": "3", "MAX": "5"}), r
    r = c.ok("SEARCH RETURN () FLAGGED")
    assert esearch_items(r) == (r.tag, False, {"ALL": "2"}), r
    # RFC 4731 3.1: no MIN/MAX/ALL when nothing matches; COUNT 0 is sent.
    r = c.ok("SEARCH RETURN (MIN MAX COUNT) KEYWORD $Nothing")
    assert esearch_items(r) == (r.tag, False, {"COUNT": "0"}), r


def test_searchres(sbox):
    c = sbox
    r = c.ok("SEARCH RETURN (SAVE) OR FLAGGED DRAFT")
    assert r.data("ESEARCH") == [] and r.data("SEARCH") == [], r
    f = c.ok("FETCH $ UID").fetches()
    assert {k: int(v["UID"]) for k, v in f.items()} == {2: 3, 4: 5}
    assert search(c, "$") == [2, 4]
    assert search(c, "$ DRAFT") == [4]
    r = c.ok("UID SEARCH RETURN (SAVE MIN) SEEN")
    assert esearch_items(r) == (r.tag, True, {"MIN": "2"}), r
    f = c.ok("UID FETCH $ FLAGS").fetches()
    assert list(f) == [1]


# -- COPY / MOVE / APPEND ------------------------------------------------------------

def test_copy_copyuid(box3):
    c = box3
    c.ok("STORE 1 +FLAGS.SILENT (\\Seen $Tag)")
    c.ok("CREATE dest")
    r = c.ok("COPY 1:2 dest")
    parts = r.code.split()
    assert parts[0] == "COPYUID" and len(parts) == 4, r
    assert uidset(parts[2]) == [1, 2]
    dst = uidset(parts[3])
    assert len(dst) == 2
    st = c.ok("STATUS dest (MESSAGES UIDVALIDITY)")
    assert status_items(st) == ("dest", {"MESSAGES": 2, "UIDVALIDITY": int(parts[1])}), st
    c.ok("EXAMINE dest")
    f = c.ok("UID FETCH %d FLAGS" % dst[0]).fetches()
    assert {bytes(x).decode() for x in list(f.values())[0]["FLAGS"]} - {"\\Recent"} == \
        {"\\Seen", "$Tag"}
    c.select("st3")
    assert sorted(c.ok("FETCH 1:* UID").fetches()) == [1, 2, 3]     # source unchanged


def test_copy_trycreate(box3):
    r = box3.cmd("COPY 1 no-such-dest")
    assert (r.status, r.code) == ("NO", "TRYCREATE"), r
    r = box3.cmd("MOVE 1 no-such-dest")
    assert (r.status, r.code) == ("NO", "TRYCREATE"), r
    assert sorted(box3.ok("FETCH 1:* UID").fetches()) == [1, 2, 3]


def test_move(box3):
    c = box3
    c.ok("CREATE mdest")
    r = c.ok("MOVE 2 mdest")
    # RFC 6851 4.3: "* OK [COPYUID ...]" first, then the EXPUNGE, then OK.
    assert r.untagged[0].startswith(b"* OK [COPYUID "), r
    # resp-text (RFC 3501 9): the code is followed by SP and text.
    assert re.fullmatch(rb"\* OK \[COPYUID [0-9]+ 2 [0-9]+\] \S.*", r.untagged[0]), r
    assert r.numbered("EXPUNGE") == [(2, b"")], r
    assert [int(v["UID"]) for _, v in sorted(c.ok("FETCH 1:* UID").fetches().items())] == [1, 3]
    r = c.ok("UID MOVE 3 mdest")
    assert r.numbered("EXPUNGE") == [(2, b"")], r
    st = c.ok("STATUS mdest (MESSAGES)")
    assert status_items(st) == ("mdest", {"MESSAGES": 2}), st


def test_append_flags_date_appenduid(imap):
    msg = make_message("drafted")
    r = imap.append("Drafts", msg, flags=["\\Draft", "$Custom"], date="05-Jun-2023 08:09:10 -0700")
    parts = r.code.split()
    assert parts[0] == "APPENDUID" and len(parts) == 3, r
    st = imap.ok("STATUS Drafts (UIDVALIDITY UIDNEXT)")
    assert status_items(st) == ("Drafts", {"UIDVALIDITY": int(parts[1]),
                                           "UIDNEXT": int(parts[2]) + 1}), st
    imap.select("Drafts")
    f = imap.ok(f"UID FETCH {parts[2]} (FLAGS INTERNALDATE BODY.PEEK[])").fetches()
    (v,) = f.values()
    assert {bytes(x).decode() for x in v["FLAGS"]} - {"\\Recent"} == {"\\Draft", "$Custom"}
    got = datetime.datetime.strptime(v["INTERNALDATE"].decode(), "%d-%b-%Y %H:%M:%S %z")
    assert got == datetime.datetime(2023, 6, 5, 8, 9, 10,
                                    tzinfo=datetime.timezone(datetime.timedelta(hours=-7)))
    assert v["BODY[]"] == msg


def test_append_sync_literal(imap):
    msg = make_message("sync literal")
    r = imap.cmd_sync(["APPEND INBOX (\\Seen) ", msg, ""])
    assert r.status == "OK" and r.code.startswith("APPENDUID "), r
    assert len(r.conts) == 1
    imap.select("INBOX")
    f = imap.ok("FETCH 1 (FLAGS BODY.PEEK[])").fetches()[1]
    assert f["BODY[]"] == msg


def test_append_bad(imap):
    # Synchronizing literals: the server answers BAD instead of "+".
    r = imap.cmd_sync(['APPEND INBOX (Ke"y) ', b"abc", ""])
    assert r.status == "BAD" and r.conts == [], r
    # A bad date is found once the command is complete (after the literal).
    r = imap.cmd_sync(['APPEND INBOX "31-Foo-2024 00:00:00 +0000" ', b"abc", ""])
    assert r.status == "BAD", r
    r = imap.ok("STATUS INBOX (MESSAGES)")
    assert status_items(r) == ("INBOX", {"MESSAGES": 0}), r


def test_multiappend(imap):
    imap.ok("CREATE multi")
    msgs = [make_message(f"multi {i}") for i in range(3)]
    line = b"APPEND multi (\\Seen) {%d+}\r\n%s {%d+}\r\n%s (\\Flagged) {%d+}\r\n%s" % (
        len(msgs[0]), msgs[0], len(msgs[1]), msgs[1], len(msgs[2]), msgs[2])
    r = imap.cmd(line)
    assert r.status == "OK", r
    parts = r.code.split()
    assert parts[0] == "APPENDUID" and uidset(parts[2]) == [1, 2, 3], r
    imap.select("multi")
    f = imap.ok("FETCH 1:* (FLAGS BODY.PEEK[])").fetches()
    assert [f[i]["BODY[]"] for i in (1, 2, 3)] == msgs
    assert flags_of(imap, 1) == {"\\Seen"} and flags_of(imap, 2) == set() and \
        flags_of(imap, 3) == {"\\Flagged"}
    # One bad message in a MULTIAPPEND: nothing is appended (RFC 3502 6).
    m = b"Subject: x\r\n\r\nhi\r\n"
    r = imap.cmd_sync(["APPEND multi ", m, ' (Ke"y) ', m, ""])
    assert r.status == "BAD" and len(r.conts) == 1, r
    st = imap.ok("STATUS multi (MESSAGES)")
    assert status_items(st) == ("multi", {"MESSAGES": 3}), st


def test_sparse_uids_fetch_search_sort(imap):
    # Messages whose UIDs are far apart (most expunged): FETCH, SEARCH and
    # SORT read their records one by one instead of walking the whole UID
    # range (imap_window.c), with the same answers.
    imap.ok("CREATE sparse")
    for i in range(300):
        imap.append("sparse", make_message(f"sparse {i:03d}"))
    imap.select("sparse")
    imap.ok("STORE 2:149,151:299 +FLAGS.SILENT (\\Deleted)")
    imap.ok("EXPUNGE")
    r = imap.ok("UID FETCH 1:* (FLAGS)")
    assert sorted(int(f["UID"]) for f in r.fetches().values()) == [1, 150, 300], r
    assert search(imap, "ALL") == [1, 2, 3]
    assert search(imap, "ALL", uid=True) == [1, 150, 300]
    r = imap.ok("SORT (REVERSE SUBJECT) UTF-8 ALL")
    assert r.data("SORT") == [b"3 2 1"], r
    r = imap.ok("FETCH 2 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert b"sparse 149" in r.fetches()[2]["BODY[HEADER.FIELDS (SUBJECT)]"], r
