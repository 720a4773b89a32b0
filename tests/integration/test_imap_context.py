# tests/integration/test_imap_context.py: CONTEXT=SEARCH and CONTEXT=SORT
# (RFC 5267 4): the CONTEXT hint, PARTIAL, and RETURN (UPDATE) contexts
# kept up to date with ESEARCH ADDTO / REMOVEFROM as messages arrive, are
# expunged or change flags (made by this session or another), in the
# orders the RFC fixes (ADDTO after EXISTS, REMOVEFROM before EXPUNGE);
# CANCELUPDATE, tag reuse, NOUPDATE, and contexts ending with the
# selection.
import re

import pytest

from helpers import imap_connect


def msg(subject, body="body\r\n"):
    return (f"From: a@example.org\r\nTo: b@example.org\r\nSubject: {subject}\r\n"
            f"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\n{body}").encode()


@pytest.fixture
def two(imap_server, imap_user, request):
    """Two sessions of one user on a new mailbox of five messages (subjects
    e d c b a, UIDs 1..5), both with it selected."""
    box = "ctx" + re.sub(r"\W", "", request.node.name)[-20:]
    a = imap_connect(imap_server, *imap_user)
    b = imap_connect(imap_server, *imap_user)
    a.ok(f"CREATE {box}")
    for s in "edcba":
        a.append(box, msg(s))
    a.select(box)
    b.select(box)
    yield a, b, box
    a.close()
    b.close()


def esearch(r, tag):
    """The ESEARCH data for tag, in order, as strings after the correlator."""
    out = []
    for u in r.untagged:
        m = re.match(rb'\* ESEARCH \(TAG "([^"]*)"\)(.*)$', u)
        if m and m.group(1).decode() == tag:
            out.append(m.group(2).decode().strip())
    return out


def order(r):
    """The kinds of the untagged responses, in order (EXISTS, EXPUNGE,
    FETCH, ESEARCH...)."""
    kinds = []
    for u in r.untagged:
        m = re.match(rb"\* (?:\d+ )?([A-Z]+)", u)
        kinds.append(m.group(1).decode())
    return kinds


def test_capability(imap):
    (data,) = imap.ok("CAPABILITY").data("CAPABILITY")
    caps = set(data.decode().upper().split())
    assert {"CONTEXT=SEARCH", "CONTEXT=SORT", "ESORT", "SORT", "ESEARCH"} <= caps


def test_context_hint_and_partial(two):
    a, _, _ = two
    # RFC 5267 4.2: CONTEXT is a hint.
    r = a.cmd("SEARCH RETURN (CONTEXT COUNT) ALL", tag="A01")
    assert esearch(r, "A01") == ["COUNT 5"], r
    # 4.4: PARTIAL, in mailbox order for SEARCH, sort order for SORT.
    r = a.cmd("UID SEARCH RETURN (PARTIAL 2:3) ALL", tag="P1")
    assert esearch(r, "P1") == ["UID PARTIAL (2:3 2:3)"], r
    r = a.cmd("UID SORT RETURN (PARTIAL 1:2) (SUBJECT) UTF-8 ALL", tag="P2")
    assert esearch(r, "P2") == ["UID PARTIAL (1:2 5,4)"], r
    r = a.cmd("SORT RETURN (PARTIAL 4:100 COUNT) (SUBJECT) UTF-8 ALL", tag="P3")
    assert esearch(r, "P3") == ["COUNT 5 PARTIAL (4:100 2:1)"] or \
        esearch(r, "P3") == ["COUNT 5 PARTIAL (4:100 2,1)"], r
    r = a.cmd("SEARCH RETURN (PARTIAL 9:10) ALL", tag="P4")
    assert esearch(r, "P4") == ["PARTIAL (9:10 NIL)"], r
    for bad in ["SEARCH RETURN (PARTIAL 1:2 ALL) ALL", "SEARCH RETURN (PARTIAL) ALL",
                "SEARCH RETURN (PARTIAL 0:3) ALL", "SEARCH RETURN (PARTIAL 1:2 PARTIAL 3:4) ALL",
                "SORT RETURN (ALL PARTIAL 1:2) (DATE) UTF-8 ALL", "SEARCH RETURN (PARTIAL x) ALL",
                # A number alone is no partial-range (RFC 5267 4.4).
                "SEARCH RETURN (PARTIAL 1) ALL", "SORT RETURN (PARTIAL 1) (ARRIVAL) UTF-8 ALL"]:
        assert a.cmd(bad).status == "BAD", bad
        a.ok("NOOP")


def test_search_update_from_another_session(two):
    a, b, box = two
    r = a.cmd("UID SEARCH RETURN (UPDATE COUNT) DELETED", tag="B01")
    assert r.status == "OK" and "will notify" in r.text, r
    assert esearch(r, "B01") == ["UID COUNT 0"], r
    # RFC 5267 4.3.3's example: flags set elsewhere become ADDTO after the
    # FETCH that tells of them.
    b.ok("STORE 2:3 +FLAGS (\\Deleted)")
    r = a.ok("NOOP")
    assert esearch(r, "B01") == ["UID ADDTO (0 2:3)"], r
    assert order(r).index("ESEARCH") > order(r).index("FETCH"), r
    # A message arriving already deleted: ADDTO after EXISTS.
    b.append(box, msg("f"), flags=["\\Deleted"])
    b.append(box, msg("g"))
    r = a.ok("NOOP")
    assert esearch(r, "B01") == ["UID ADDTO (0 6)"], r
    assert order(r).index("ESEARCH") > order(r).index("EXISTS"), r
    # A flag cleared: REMOVEFROM.
    b.ok("UID STORE 3 -FLAGS (\\Deleted)")
    r = a.ok("NOOP")
    assert esearch(r, "B01") == ["UID REMOVEFROM (0 3)"], r
    # Expunged: REMOVEFROM before the EXPUNGE responses (4.3.4).
    b.ok("EXPUNGE")
    r = a.ok("NOOP")
    assert esearch(r, "B01") == ["UID REMOVEFROM (0 2,6)"], r
    assert order(r).index("ESEARCH") < order(r).index("EXPUNGE"), r
    # Changes that do not touch the result say nothing.
    b.ok("STORE 1 +FLAGS (\\Seen)")
    r = a.ok("NOOP")
    assert esearch(r, "B01") == [], r


def test_search_update_sequence_numbers_and_own_changes(two):
    a, b, box = two
    r = a.cmd("SEARCH RETURN (UPDATE) UNSEEN", tag="C01")
    assert esearch(r, "C01") == [""], r
    # The session's own STORE moves its context too.
    r = a.ok("STORE 2 +FLAGS (\\Seen)")
    assert esearch(r, "C01") == ["REMOVEFROM (0 2)"], r
    # Sequence numbers of removed messages are those before the EXPUNGE.
    a.ok("STORE 4 +FLAGS (\\Deleted)")
    b.ok("EXPUNGE")
    r = a.ok("NOOP")
    assert esearch(r, "C01") == ["REMOVEFROM (0 4)"], r
    assert r.numbered("EXPUNGE") == [(4, b"")], r
    b.append(box, msg("new"))
    r = a.ok("NOOP")
    assert r.numbered("EXISTS") == [(5, b"")], r
    assert esearch(r, "C01") == ["ADDTO (0 5)"], r


def test_sort_update_positions(two):
    a, b, box = two
    # Subjects e d c b a at UIDs 1..5: sorted a b c d e = UIDs 5 4 3 2 1.
    r = a.cmd("UID SORT RETURN (UPDATE ALL) (SUBJECT) UTF-8 UNDELETED", tag="D01")
    assert esearch(r, "D01") == ["UID ALL 5,4,3,2,1"], r
    b.append(box, msg("bb"))            # UID 6, between b and c: position 3
    r = a.ok("NOOP")
    assert esearch(r, "D01") == ["UID ADDTO (3 6)"], r
    b.ok("UID STORE 4 +FLAGS (\\Deleted)")   # b at position 2 goes
    r = a.ok("NOOP")
    assert esearch(r, "D01") == ["UID REMOVEFROM (2 4)"], r
    b.ok("UID STORE 4 -FLAGS (\\Deleted)")   # and comes back
    r = a.ok("NOOP")
    assert esearch(r, "D01") == ["UID ADDTO (2 4)"], r
    b.ok("UID STORE 1,5 +FLAGS (\\Deleted)")
    b.ok("EXPUNGE")
    r = a.ok("NOOP")
    # e (UID 1) was at 6, a (UID 5) at 1: each pair applies in turn.
    got = esearch(r, "D01")
    assert got in (["UID REMOVEFROM (6 1) REMOVEFROM (1 5)"],
                   ["UID REMOVEFROM (6 1 1 5)"], ["UID REMOVEFROM (1 5 5 1)"]), r
    r = a.cmd("UID SORT RETURN (ALL) (SUBJECT) UTF-8 UNDELETED", tag="D02")
    assert esearch(r, "D02") == ["UID ALL 4,6,3,2"], r


def test_tag_reuse_cancel_and_limits(two):
    a, b, box = two
    r = a.cmd("UID SEARCH RETURN (UPDATE COUNT) DELETED KEYWORD $Junk", tag="B01")
    assert r.status == "OK", r
    # RFC 5267 4.3: "B01 SORT RETURN (UPDATE) FLAGGED" is BAD Tag reuse.
    r = a.cmd("SORT RETURN (UPDATE) (DATE) UTF-8 FLAGGED", tag="B01")
    assert r.status == "BAD", r
    a.ok("NOOP")     # BAD replies in a row end a session (max_errors)
    r = a.cmd("SEARCH RETURN (UPDATE) FLAGGED", tag="B01")
    assert r.status == "BAD", r
    a.ok("NOOP")
    # 4.3.5 CANCELUPDATE; an unknown tag is BAD.
    assert a.cmd('CANCELUPDATE "nope"').status == "BAD"
    a.ok("NOOP")
    assert a.cmd("CANCELUPDATE").status == "BAD"
    a.ok("NOOP")
    r = a.ok('CANCELUPDATE "B01"')
    b.ok("STORE 1 +FLAGS (\\Deleted $Junk)")
    r = a.ok("NOOP")
    assert esearch(r, "B01") == [], r
    # 4.3.1: updates refused for sequence numbers (fixed at the command)
    # and past the limit, with the other options still answered.
    r = a.cmd("SEARCH RETURN (UPDATE COUNT) 1:3", tag="N1")
    assert r.status == "OK" and esearch(r, "N1") == ["COUNT 3"], r
    assert any(u.startswith(b'* NO [NOUPDATE "N1"]') for u in r.untagged), r
    for i in range(8):
        assert a.cmd("SEARCH RETURN (UPDATE) SEEN", tag=f"L{i}").status == "OK"
    r = a.cmd("UID SORT RETURN (UPDATE COUNT) (DATE) UTF-8 ALL", tag="L8")
    assert esearch(r, "L8") == ["UID COUNT 5"], r
    assert any(u.startswith(b'* NO [NOUPDATE "L8"]') for u in r.untagged), r
    # Contexts end with the selection (4.3).
    a.select(box)
    r = a.cmd("SEARCH RETURN (UPDATE) SEEN", tag="L0")
    assert r.status == "OK" and not any(b"NOUPDATE" in u for u in r.untagged), r
    assert a.cmd('CANCELUPDATE "L1"').status == "BAD"


def test_search_update_with_qresync_vanished(two):
    # With QRESYNC enabled, expunges are VANISHED (RFC 7162 3.2.10): the
    # context's REMOVEFROM still comes first (RFC 5267 4.3.4).
    a, b, box = two
    a.ok("ENABLE QRESYNC")
    r = a.cmd("UID SEARCH RETURN (UPDATE ALL) ALL", tag="Q01")
    assert esearch(r, "Q01") == ["UID ALL 1:5"], r
    b.ok("STORE 2,4 +FLAGS.SILENT (\\Deleted)")
    b.ok("EXPUNGE")
    r = a.ok("NOOP")
    assert esearch(r, "Q01") == ["UID REMOVEFROM (0 2,4)"], r
    kinds = order(r)
    assert "EXPUNGE" not in kinds, r
    assert kinds.index("ESEARCH") < kinds.index("VANISHED"), r
    assert any(u.startswith(b"* VANISHED 2,4") for u in r.untagged), r
