# tests/integration/test_sort_thread.py: SORT and UID SORT with every key
# (RFC 5256 3: ARRIVAL CC DATE FROM REVERSE SIZE SUBJECT TO, base subjects
# of 2.1, sent dates of 2.2), SORT=DISPLAY (RFC 5957), THREAD
# ORDEREDSUBJECT and REFERENCES (RFC 5256 3, its examples on real data),
# ESORT (RFC 5267 3), CONDSTORE's MODSEQ in SORT (RFC 7162 3.1.5), and the
# bad inputs: wrong state, wrong arguments, over-long lists, charsets.
import re
import select

import pytest

from helpers import IMAP_KINDS, imap_connect


def msg(subject=None, date="Mon, 1 Jan 2024 00:00:00 +0000", frm="a@example.org",
        to="b@example.org", cc=None, msgid=None, refs=None, irt=None, body="body\r\n"):
    h = ""
    if frm is not None:
        h += f"From: {frm}\r\n"
    if to is not None:
        h += f"To: {to}\r\n"
    if cc is not None:
        h += f"Cc: {cc}\r\n"
    if subject is not None:
        h += f"Subject: {subject}\r\n"
    if date is not None:
        h += f"Date: {date}\r\n"
    if msgid is not None:
        h += f"Message-ID: {msgid}\r\n"
    if refs is not None:
        h += f"References: {refs}\r\n"
    if irt is not None:
        h += f"In-Reply-To: {irt}\r\n"
    return (h + "\r\n" + body).encode()


def fill(c, box, msgs):
    """A new mailbox holding msgs (bytes, or (bytes, internal date)), selected."""
    c.ok(f"CREATE {box}")
    for m in msgs:
        if isinstance(m, tuple):
            c.append(box, m[0], date=m[1])
        else:
            c.append(box, m)
    c.select(box)


def sort(c, args, uid=False):
    r = c.cmd(("UID " if uid else "") + "SORT " + args)
    assert r.status == "OK", f"SORT {args}: {r}"
    d = r.data("SORT")
    assert len(d) == 1, r
    return [int(x) for x in d[0].split()]


def thread(c, args, uid=False):
    r = c.cmd(("UID " if uid else "") + "THREAD " + args)
    assert r.status == "OK", f"THREAD {args}: {r}"
    d = r.data("THREAD")
    assert len(d) == 1, r
    return d[0].decode()


def test_capabilities(imap):
    (data,) = imap.ok("CAPABILITY").data("CAPABILITY")
    caps = set(data.decode().upper().split())
    assert {"SORT", "SORT=DISPLAY", "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES",
            "ESORT"} <= caps


# -- SORT --------------------------------------------------------------------------

def test_rfc5256_sort_examples(imap):
    # The examples of RFC 5256 3 on a mailbox of our own.
    fill(imap, "rfcsort", [
        (msg("Re: beta", "Tue, 2 Jan 2024 00:00:00 +0000"), "01-Jan-1994 00:00:00 +0000"),
        (msg("alpha", "Wed, 3 Jan 2024 00:00:00 +0000"), "02-Feb-1994 00:00:00 +0000"),
        (msg("beta", "Mon, 1 Jan 2024 00:00:00 +0000"), "03-Feb-1994 00:00:00 +0000"),
        (msg("[list] Alpha (fwd)", "Thu, 4 Jan 2024 00:00:00 +0000"), "04-Feb-1994 00:00:00 +0000"),
        (msg("Fwd: gamma", "Fri, 5 Jan 2024 00:00:00 +0000"), "05-Feb-1994 00:00:00 +0000"),
    ])
    # A282 SORT (SUBJECT) UTF-8 SINCE 1-Feb-1994
    assert sort(imap, "(SUBJECT) UTF-8 SINCE 1-Feb-1994") == [2, 4, 3, 5]
    # A283 SORT (SUBJECT REVERSE DATE) UTF-8 ALL
    assert sort(imap, "(SUBJECT REVERSE DATE) UTF-8 ALL") == [4, 2, 1, 3, 5]
    # A284 SORT (SUBJECT) US-ASCII TEXT "not in mailbox": an empty SORT.
    r = imap.ok('SORT (SUBJECT) US-ASCII TEXT "not in mailbox"')
    assert r.untagged == [b"* SORT"], r
    assert r.text.startswith("SORT completed"), r


def test_base_subjects(imap):
    subjects = [
        "Re: Re: RE: topic",            # 1 -> TOPIC
        "[list] Fwd: topic (fwd)",      # 2 -> TOPIC
        "[fwd: [x] re: topic]",         # 3 -> TOPIC
        "=?UTF-8?Q?Re:_=5Bb=5D_topic?=",  # 4 -> TOPIC (RFC 2047 first)
        "[PATCH]",                      # 5 -> [PATCH]
        "Reply",                        # 6 -> REPLY
        "",                             # 7 -> "" (sorts first)
        "  a  b ",                      # 8 -> "A B"
    ]
    fill(imap, "subj", [msg(s) for s in subjects] + [msg(None)])
    # The empty subject and no subject at all first, then by base subject,
    # ties by sequence number.
    # ("[" is after the letters in i;ascii-casemap.)
    assert sort(imap, "(SUBJECT) UTF-8 ALL") == [7, 9, 8, 6, 1, 2, 3, 4, 5]
    # REVERSE reverses the key, not the tie-break.
    assert sort(imap, "(REVERSE SUBJECT) UTF-8 ALL") == [5, 1, 2, 3, 4, 6, 8, 7, 9]


def test_every_key(imap):
    fill(imap, "keys", [
        (msg("s", "1 Jan 2024 10:00:00 -0800", frm="Zed <zed@example.org>",
             to="amy@example.org", cc="mid@example.org", body="x" * 300),
         "03-Jan-2024 00:00:00 +0000"),
        (msg("s", "1 Jan 2024 17:00:00 +0000", frm="bob@example.org",
             to="Carl <CARL@example.org>", cc=None, body="x" * 10),
         "01-Jan-2024 00:00:00 +0000"),
        (msg("s", "garbage", frm="undisclosed:;, alice@example.org",
             to=None, cc="aaa@example.org", body="x" * 100),
         "02-Jan-2024 00:00:00 +0000"),
    ])
    assert sort(imap, "(ARRIVAL) UTF-8 ALL") == [2, 3, 1]
    assert sort(imap, "(REVERSE ARRIVAL) UTF-8 ALL") == [1, 3, 2]
    assert sort(imap, "(SIZE) UTF-8 ALL") == [2, 3, 1]
    assert sort(imap, "(REVERSE SIZE) UTF-8 ALL") == [1, 3, 2]
    # Addresses: the mailbox part of the first one, case-insensitively;
    # a group's start is the first (its name, as ENVELOPE lists it: as
    # Dovecot and imaptest's sort-addresses); a missing header is the
    # empty string.
    assert sort(imap, "(FROM) UTF-8 ALL") == [2, 3, 1]
    assert sort(imap, "(TO) UTF-8 ALL") == [3, 1, 2]
    assert sort(imap, "(CC) UTF-8 ALL") == [2, 3, 1]
    # DATE: 18:00 UTC, 17:00 UTC, and the arrival date (2 Jan) for a bad
    # Date: (RFC 5256 2.2).
    assert sort(imap, "(DATE) UTF-8 ALL") == [2, 1, 3]
    assert sort(imap, "(REVERSE DATE) UTF-8 ALL") == [3, 1, 2]
    # Several criteria, in priority order.
    assert sort(imap, "(SUBJECT REVERSE SIZE) UTF-8 ALL") == [1, 3, 2]
    # Lower case keys and charset, and a search program.
    assert sort(imap, "(size) utf-8 LARGER 150") == [3, 1]
    assert sort(imap, '(FROM) "US-ASCII" OR FROM zed FROM bob') == [2, 1]


def test_display_keys(imap):
    fill(imap, "display", [
        msg("s", frm='"Zoe Ann" <aaa@example.org>', to="=?UTF-8?Q?=C3=89mile?= <z@example.org>"),
        msg("s", frm="mmm@example.org", to="Bob <y@example.org>"),
        msg("s", frm='"" <bbb@example.org>', to=None),
    ])
    # RFC 5957: the display name (decoded), else the address.
    assert sort(imap, "(DISPLAYFROM) UTF-8 ALL") == [3, 2, 1]
    assert sort(imap, "(FROM) UTF-8 ALL") == [1, 3, 2]
    assert sort(imap, "(DISPLAYTO) UTF-8 ALL") == [3, 2, 1]
    assert sort(imap, "(REVERSE DISPLAYTO) UTF-8 ALL") == [1, 2, 3]


def test_uid_sort_and_search_keys(imap):
    fill(imap, "uids", [msg(f"m{i}", body=f"needle{i % 2}\r\n") for i in range(6)])
    imap.ok("STORE 1:2 +FLAGS (\\Deleted)")
    imap.ok("EXPUNGE")
    # Sequence numbers 1..4 are UIDs 3..6.
    assert sort(imap, "(REVERSE SUBJECT) UTF-8 ALL") == [4, 3, 2, 1]
    assert sort(imap, "(REVERSE SUBJECT) UTF-8 ALL", uid=True) == [6, 5, 4, 3]
    # UID SORT takes sequence numbers in its criteria, as UID SEARCH.
    assert sort(imap, "(SUBJECT) UTF-8 2:3", uid=True) == [4, 5]
    assert sort(imap, "(SUBJECT) UTF-8 UID 5:*", uid=True) == [5, 6]
    # A body key reads the whole message.
    assert sort(imap, "(REVERSE SUBJECT) UTF-8 BODY needle1", uid=True) == [6, 4]
    assert sort(imap, "(SUBJECT) UTF-8 NOT TEXT needle1") == [1, 3]
    imap.ok("STORE 2 +FLAGS (\\Seen)")
    assert sort(imap, "(SUBJECT) UTF-8 SEEN", uid=True) == [4]


def test_sort_modseq(imap):
    fill(imap, "modseq", [msg(f"m{i}") for i in range(3)])
    imap.ok("STORE 2 +FLAGS (\\Flagged)")
    r = imap.ok("SORT (REVERSE SUBJECT) UTF-8 MODSEQ 1")
    (d,) = r.data("SORT")
    m = re.fullmatch(rb"3 2 1 \(MODSEQ (\d+)\)", d)
    assert m, r
    hi = int(m.group(1))
    r = imap.ok(f"SORT (SUBJECT) UTF-8 MODSEQ {hi}")
    assert r.data("SORT") == [b"2 (MODSEQ %d)" % hi], r


def test_sort_bad_inputs(imap_server, imap_user):
    c = imap_connect(imap_server, *imap_user)
    # Wrong state: no mailbox selected.
    for cmd in ("SORT (SUBJECT) UTF-8 ALL", "THREAD REFERENCES UTF-8 ALL",
                "UID SORT (SUBJECT) UTF-8 ALL"):
        r = c.cmd(cmd)
        assert r.status == "BAD" and "no mailbox selected" in r.text, r
    c.select("INBOX")
    for args in ["", "SUBJECT UTF-8 ALL", "() UTF-8 ALL", "(SUBJECT)", "(SUBJECT) UTF-8",
                 "(BOGUS) UTF-8 ALL", "(REVERSE) UTF-8 ALL", "(REVERSE REVERSE DATE) UTF-8 ALL",
                 "(SUBJECT) UTF-8 BOGUS", "(SUBJECT) (UTF-8) ALL", "(SUBJECT) UTF-8 ALL)",
                 "RETURN (SAVE) (SUBJECT) UTF-8 ALL", "RETURN (BOGUS) (DATE) UTF-8 ALL",
                 "RETURN ALL (DATE) UTF-8 ALL",
                 "(" + " ".join(["DATE"] * 17) + ") UTF-8 ALL"]:
        r = c.cmd("SORT " + args)
        assert r.status == "BAD", (args, r)
        c.ok("NOOP")     # BAD replies in a row end a session (max_errors)
    # Over-long criteria and search lists are refused, not swallowed.
    r = c.cmd("SORT (SUBJECT) UTF-8 " + " ".join(["ALL"] * 100000))
    assert r.status == "BAD", r
    c.ok("NOOP")
    for args in ["", "REFERENCES", "REFERENCES UTF-8", "BOGUS UTF-8 ALL", "(REFERENCES) UTF-8 ALL"]:
        r = c.cmd("THREAD " + args)
        assert r.status == "BAD", (args, r)
        c.ok("NOOP")
    # RFC 5256 3: an unknown charset is NO [BADCHARSET].
    r = c.cmd("SORT (SUBJECT) KOI8-R ALL")
    assert r.status == "NO" and r.code.startswith("BADCHARSET"), r
    r = c.cmd("THREAD REFERENCES X-BOGUS ALL")
    assert r.status == "NO" and r.code.startswith("BADCHARSET"), r
    # The session still works.
    assert c.cmd("SORT (DATE) UTF-8 ALL").status == "OK"
    c.logout()


# -- ESORT -------------------------------------------------------------------------

def esearch(r):
    (d,) = r.data("ESEARCH")
    return d.decode()


def test_esort(imap):
    fill(imap, "esort", [msg(s) for s in ["c", "a", "b", "d", "e", "f"]])
    r = imap.cmd("SORT RETURN (MIN MAX COUNT) (SUBJECT) UTF-8 ALL", tag="E1")
    assert r.status == "OK", r
    assert esearch(r) == '(TAG "E1") MIN 2 MAX 6 COUNT 6', r
    # ALL in sort order: ranges only where numbers ascend by one
    # (RFC 5267 3.2), as in the RFC's own example.
    r = imap.cmd("UID SORT RETURN () (REVERSE SUBJECT) UTF-8 ALL", tag="E2")
    assert esearch(r) == '(TAG "E2") UID ALL 6,5,4,1,3,2', r
    r = imap.cmd("SORT RETURN (ALL) (SUBJECT) UTF-8 NOT SUBJECT c", tag="E3")
    assert esearch(r) == '(TAG "E3") ALL 2:3,4:6' or esearch(r) == '(TAG "E3") ALL 2:6', r
    # Nothing found: COUNT 0 only.
    r = imap.cmd('SORT RETURN (MIN MAX COUNT ALL) (DATE) UTF-8 SUBJECT "zzz"', tag="E4")
    assert esearch(r) == '(TAG "E4") COUNT 0', r
    assert r.data("SORT") == [], r


# -- THREAD ------------------------------------------------------------------------

def test_ordered_subject(imap):
    fill(imap, "osubj", [
        msg("b", "1 Jan 2024 00:00:10 +0000"),
        msg("a", "1 Jan 2024 00:00:20 +0000"),
        msg("Re: b", "1 Jan 2024 00:00:30 +0000"),
        msg("b", "1 Jan 2024 00:00:40 +0000"),
        msg("Fwd: a", "1 Jan 2024 00:00:05 +0000"),
        msg("c", "1 Jan 2024 00:00:50 +0000"),
        msg("[fwd: b]", "1 Jan 2024 00:00:35 +0000"),
    ])
    # No grandchildren; threads by the date of their first message.
    assert thread(imap, "ORDEREDSUBJECT UTF-8 ALL") == "(5 2)(1 (3)(7)(4))(6)"
    assert thread(imap, "ORDEREDSUBJECT UTF-8 SUBJECT a") == "(5 2)"
    # RFC 5256 3 example A284: nothing found is a bare "* THREAD".
    r = imap.ok('THREAD ORDEREDSUBJECT US-ASCII TEXT "gewp"')
    assert r.untagged == [b"* THREAD"], r
    assert r.text.startswith("THREAD completed"), r


def test_references(imap):
    d = "1 Jan 2024 00:00:%02d +0000"
    fill(imap, "refs", [
        msg("other", d % 2, msgid="<m2@x>"),                                    # 1
        msg("t", d % 3, msgid="<m3@x>"),                                        # 2
        msg("Re: t", d % 6, msgid="<m6@x>", refs="<m3@x>"),                     # 3
        msg("Re: t", d % 4, msgid="<m4@x>", refs="<m3@x> <m6@x>"),              # 4
        msg("Re: t", d % 23, msgid="<m23@x>", irt="<m4@x> (sent by someone)"),  # 5
        msg("Re: t", d % 44, msgid='<"m44"@x>', refs="<m3@x>\r\n <m6@x>"),      # 6
        msg("Re: t", d % 7, msgid="<m7@x>", refs="<m3@x> <m6@x> <m44@x>"),      # 7
        msg("Re: t", d % 50, msgid="<m96@x>", refs="<m6@x> <m44@x> <m7@x>"),    # 8
        # A missing parent: two siblings under a dummy.
        msg("lost", d % 30, msgid="<l1@x>", refs="<gone@x>"),                   # 9
        msg("found", d % 31, msgid="<l2@x>", refs="<gone@x>"),                  # 10
        # A loop: each names the other as its parent.
        msg("loop1", d % 40, msgid="<p@x>", refs="<q@x>"),                      # 11
        msg("loop2", d % 41, msgid="<q@x>", refs="<p@x>"),                      # 12
        # A duplicate Message-ID counts only for the first message.
        msg("dup", d % 45, msgid="<m2@x>"),                                     # 13
        msg("Re: other", d % 46, msgid="<r@x>", refs="<m2@x>"),                 # 14
        # No references, but a reply by subject.
        msg("Re: lost", d % 47, msgid="<s@x>"),                                 # 15
    ])
    # RFC 5256 4's "(3 6 (4 23)(44 7 96))" shape, a dummy with two
    # children, the loop broken, the duplicate on its own, the subject reply.
    assert thread(imap, "REFERENCES UTF-8 ALL") == \
        "(1 14)(2 3 (4 5)(6 7 8))((9)(10)(15))(12 11)(13)"
    # Threading only what the search finds: without 4, its child 5 has a
    # dummy parent of one child, so it is promoted and then gathered
    # under 2 by its reply subject; 13 now owns <m2@x>.
    assert thread(imap, 'REFERENCES UTF-8 NOT SUBJECT other NOT HEADER Message-ID "<m4@"') == \
        "(2 (3 6 7 8)(5))((9)(10)(15))(12 11)(13)"


def test_uid_thread(imap):
    fill(imap, "uthread", [msg("x", msgid="<junk@x>")] +
         [msg("Re: t" if i else "t", f"1 Jan 2024 00:00:{i:02d} +0000", msgid=f"<t{i}@x>",
              refs=f"<t{i - 1}@x>" if i else None) for i in range(4)])
    imap.ok("STORE 1 +FLAGS (\\Deleted)")
    imap.ok("EXPUNGE")
    assert thread(imap, "REFERENCES UTF-8 ALL") == "(1 2 3 4)"
    assert thread(imap, "REFERENCES UTF-8 ALL", uid=True) == "(2 3 4 5)"
    assert thread(imap, "ORDEREDSUBJECT UTF-8 ALL", uid=True) == "(2 (3)(4)(5))"


def test_large_sort_and_thread(imap):
    # Enough messages to go through the worker pool (SORT_JOB_MIN).
    n = 2500
    c = imap
    c.ok("CREATE big")
    msgs = [msg(f"s{(i * 7919) % n:05d}", "1 Jan 2024 00:00:00 +0000",
                msgid=f"<b{i}@x>", refs=f"<b{i - 1}@x>" if i % 10 else None) for i in range(n)]
    for k in range(0, n, 250):
        # MULTIAPPEND (RFC 3502): one flush for each batch.
        line = b"APPEND big"
        for m in msgs[k:k + 250]:
            line += b" {%d+}\r\n" % len(m) + m
        c.ok(line)
    c.select("big")
    got = sort(c, "(SUBJECT) UTF-8 ALL")
    want = sorted(range(1, n + 1), key=lambda s: f"s{((s - 1) * 7919) % n:05d}")
    assert got == want
    t = thread(c, "REFERENCES UTF-8 ALL")
    chains = re.findall(r"\(([\d ]+)\)", t)
    assert len(chains) == n // 10
    assert chains[0] == " ".join(str(i) for i in range(1, 11))


@pytest.mark.parametrize("command", ["SORT (SUBJECT) UTF-8 SUBJECT s1",
                                     "THREAD REFERENCES UTF-8 SUBJECT s2"])
def test_long_sort_lets_other_sessions_of_its_loop_run(make_server, command):
    # One loop: SORT and THREAD read a header per message and stop for the
    # loop's other sessions after their slice, so a NOOP sent after them on
    # another connection is answered first (as SEARCH, test_loops.py).
    # The search reads all 3,000 headers but keeps few enough messages for
    # the sort to run in place, so only the gathering's yields can let the
    # NOOP in.
    srv = make_server(kinds=IMAP_KINDS, extra=["--loops", "1"]).start()
    user = srv.new_user("slice")
    a = imap_connect(srv, *user)
    for k in range(0, 3000, 500):
        line = b"APPEND INBOX"
        for i in range(k, k + 500):
            m = msg(f"s{(i * 7919) % 3000}", msgid=f"<x{i}@h>", refs=f"<x{i - 1}@h>")
            line += b" {%d+}\r\n" % len(m) + m
        a.ok(line)
    a.select("INBOX")
    b = imap_connect(srv, *user)
    b.select("INBOX")
    a.send(b"s1 " + command.encode() + b"\r\n")
    b.send(b"n1 NOOP\r\n")
    assert b.read_tagged("n1").status == "OK"
    ready, _, _ = select.select([a.sock], [], [], 0)
    assert not ready, f"{command} finished before the other session's NOOP was answered"
    assert a.read_tagged("s1").status == "OK"
    a.logout()
    b.logout()


def test_sort_within(imap):
    # RFC 5032 keys in a SORT program count back from when the command
    # started, as in SEARCH (the program's clock used to be 0 in SORT).
    fill(imap, "within", [(msg("old"), "03-Jan-2024 00:00:00 +0000"), msg("new")])
    assert sort(imap, "(ARRIVAL) UTF-8 YOUNGER 3600") == [2]
    assert sort(imap, "(ARRIVAL) UTF-8 OLDER 3600") == [1]
