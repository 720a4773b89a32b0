# tests/integration/test_qresync.py: QRESYNC (RFC 7162 3.2): ENABLE, SELECT /
# EXAMINE (QRESYNC ...) with VANISHED (EARLIER) and FETCH answers, VANISHED
# instead of EXPUNGE everywhere once enabled, UID FETCH (CHANGEDSINCE m
# VANISHED), OK [HIGHESTMODSEQ] after expunges, [CLOSED], and bad input.
# The RFC's examples are replayed on real data: one session makes the
# changes, another one resyncs.
import re

import pytest

from helpers import imap_connect, make_message, status_items


def seqset(uids):
    """Ascending UIDs as a compact sequence set, the way a client sends it."""
    uids = sorted(uids)
    out, i = [], 0
    while i < len(uids):
        j = i
        while j + 1 < len(uids) and uids[j + 1] == uids[j] + 1:
            j += 1
        out.append(str(uids[i]) if i == j else f"{uids[i]}:{uids[j]}")
        i = j + 1
    return ",".join(out)


def expand(text):
    """A uid-set as a sorted list."""
    out = []
    for part in text.split(","):
        lo, _, hi = part.partition(":")
        lo, hi = int(lo), int(hi or lo)
        out += range(min(lo, hi), max(lo, hi) + 1)
    return sorted(out)


def vanished(r, earlier):
    """UIDs of the "* VANISHED [(EARLIER)] set" responses of r."""
    out = []
    for u in r.untagged:
        m = re.match(rb"\* VANISHED (\(EARLIER\) )?([0-9:,]+)$", u)
        if m and bool(m.group(1)) == earlier:
            out += expand(m.group(2).decode())
    return sorted(out)


def code_value(r, code):
    """The value of "* OK [CODE value]" (last one) or None."""
    val = None
    for u in r.untagged:
        m = re.match(rb"\* OK \[" + code.encode() + rb" ([^\]]*)\]", u)
        if m:
            val = m.group(1).decode()
    return val


def hms(c, mailbox="INBOX"):
    _, items = status_items(c.ok(f"STATUS {mailbox} (HIGHESTMODSEQ)"))
    return items["HIGHESTMODSEQ"]


def fill(c, mailbox, n):
    uids = []
    for i in range(n):
        r = c.append(mailbox, make_message(f"q{i}"))
        uids.append(int(r.code.split()[2]))
    return uids


def session(server, user, enable=True):
    c = imap_connect(server, *user)
    if enable:
        r = c.ok("ENABLE QRESYNC")
        assert r.data("ENABLED") == [b"QRESYNC"], r
    return c


def by_uid(r):
    """{uid: fetch items} of the untagged FETCH responses."""
    return {int(f["UID"]): f for f in r.fetches().values()}


def test_capability_and_enable(imap):
    caps = imap.ok("CAPABILITY").data("CAPABILITY")[0].split()
    assert b"QRESYNC" in caps and b"CONDSTORE" in caps and b"ENABLE" in caps
    # RFC 7162 3.2.3: ENABLE QRESYNC CONDSTORE has the same result.
    r = imap.ok("ENABLE QRESYNC CONDSTORE")
    assert r.data("ENABLED") == [b"QRESYNC"], r
    # RFC 5161 3.2: what is already on is not listed again.
    r = imap.ok("ENABLE qresync")
    assert r.data("ENABLED") == [b""] or r.untagged == [b"* ENABLED"], r


def test_enable_with_mailbox_selected_announces_highestmodseq(imap):
    # RFC 7162 3.1, 3.2.3: ENABLE QRESYNC is a CONDSTORE enabling command.
    fill(imap, "INBOX", 1)
    imap.select("INBOX")
    r = imap.ok("ENABLE QRESYNC")
    assert code_value(r, "HIGHESTMODSEQ") == str(hms(imap)), r


def test_rfc_example_a03_resync(imap_server, imap_user):
    # RFC 7162 3.2.5.1, example A03: expunges and flag changes since the
    # client's MODSEQ come back as VANISHED (EARLIER) and FETCH (UID FLAGS
    # MODSEQ), limited to the known UIDs; unchanged messages are not sent.
    a = session(imap_server, imap_user)
    a.ok("CREATE qr")
    uids = fill(a, "qr", 12)
    sel = a.select("qr")
    uv = code_value(sel, "UIDVALIDITY")
    m0 = int(code_value(sel, "HIGHESTMODSEQ"))
    a.logout()

    b = session(imap_server, imap_user, enable=False)
    b.select("qr")
    gone = [uids[0], uids[2], uids[3], uids[9]]
    b.ok(f"UID STORE {seqset(gone)} +FLAGS.SILENT (\\Deleted)")
    b.ok("EXPUNGE")
    b.ok(f"UID STORE {uids[4]} +FLAGS.SILENT (\\Seen \\Answered)")
    b.ok(f"UID STORE {uids[6]} +FLAGS.SILENT ($MDNSent)")
    b.ok(f"UID STORE {uids[11]} +FLAGS.SILENT (\\Flagged)")
    new = fill(b, "qr", 1)[0]
    m1 = hms(b, "qr")

    # known-uids leave out uids[11] and the new message: not reported.
    c = session(imap_server, imap_user)
    known = seqset(uids[:11])
    r = c.ok(f"SELECT qr (QRESYNC ({uv} {m0} {known}))")
    assert r.code == "READ-WRITE", r
    assert code_value(r, "HIGHESTMODSEQ") == str(m1), r
    assert vanished(r, earlier=True) == sorted(gone), r
    assert vanished(r, earlier=False) == [], r
    f = by_uid(r)
    assert set(f) == {uids[4], uids[6]}, r
    assert {bytes(x) for x in f[uids[4]]["FLAGS"]} == {b"\\Seen", b"\\Answered"}
    assert [bytes(x) for x in f[uids[6]]["FLAGS"]] == [b"$MDNSent"]
    assert all(int(x["MODSEQ"][0]) > m0 for x in f.values())
    # The sequence numbers are the current ones.
    seqs = {int(x["UID"]): n for n, x in r.fetches().items()}
    live = [u for u in uids + [new] if u not in gone]
    assert seqs == {u: live.index(u) + 1 for u in f}
    # VANISHED (EARLIER) comes before any FETCH (RFC 7162 3.2.6).
    last_van = max(i for i, u in enumerate(r.untagged) if u.startswith(b"* VANISHED"))
    first_fetch = min(i for i, u in enumerate(r.untagged) if re.match(rb"\* \d+ FETCH", u))
    assert last_van < first_fetch, r

    # Without known-uids: 1:<UIDNEXT-1>, so the new message and uids[11]
    # are there too.
    r = c.ok(f"EXAMINE qr (QRESYNC ({uv} {m0}))")
    assert r.untagged[0] == b"* OK [CLOSED] Previous mailbox closed", r
    assert r.code == "READ-ONLY", r
    assert vanished(r, earlier=True) == sorted(gone), r
    assert set(by_uid(r)) == {uids[4], uids[6], uids[11], new}, r

    # Up to date: nothing to say.
    r = c.ok(f"SELECT qr (QRESYNC ({uv} {m1}))")
    assert vanished(r, True) == [] and r.fetches() == {}, r
    c.logout()
    b.logout()


def test_uidvalidity_mismatch_ignores_the_rest(imap_server, imap_user):
    # RFC 7162 3.2.5: "behave as if no dynamic message data changed".
    c = session(imap_server, imap_user)
    c.ok("CREATE qv")
    uids = fill(c, "qv", 3)
    c.select("qv")
    c.ok(f"UID STORE {uids[0]} +FLAGS.SILENT (\\Deleted)")
    c.ok("EXPUNGE")
    uv = int(code_value(c.ok("SELECT qv"), "UIDVALIDITY"))
    r = c.ok(f"SELECT qv (QRESYNC ({uv + 1} 1 1:10))")
    assert code_value(r, "UIDVALIDITY") == str(uv), r
    assert vanished(r, True) == [] and r.fetches() == {}, r
    assert r.code == "READ-WRITE", r
    c.logout()


def test_seq_match_data(imap_server, imap_user):
    # RFC 7162 3.2.5.2: a matching (message number, UID) pair says the
    # client knows every expunge up to that UID; matching stops at the
    # first pair that does not.
    c = session(imap_server, imap_user)
    c.ok("CREATE qm")
    uids = fill(c, "qm", 30)
    sel = c.select("qm")
    uv = code_value(sel, "UIDVALIDITY")
    m0 = int(code_value(sel, "HIGHESTMODSEQ"))
    # Only every third message stays, as in the RFC's examples.
    gone = [u for i, u in enumerate(uids) if i % 3 != 2]
    c.ok(f"UID STORE {seqset(gone)} +FLAGS.SILENT (\\Deleted)")
    c.ok("EXPUNGE")
    live = [u for u in uids if u not in gone]          # seq n -> live[n-1]
    c.ok("UNSELECT")

    r = c.ok(f"SELECT qm (QRESYNC ({uv} {m0} {seqset(uids)}))")
    assert vanished(r, True) == gone, r

    # Pairs 1..4 match (live[3]); the 5th pair names a wrong UID.
    pairs = f"(1:4,6 {seqset(live[:4])},{live[5] + 1})"
    r = c.ok(f"SELECT qm (QRESYNC ({uv} {m0} {seqset(uids)} {pairs}))")
    assert vanished(r, True) == [u for u in gone if u > live[3]], r
    # A first pair that does not match: everything.
    r = c.ok(f"SELECT qm (QRESYNC ({uv} {m0} {seqset(uids)} (1 {live[0] + 1})))")
    assert vanished(r, True) == gone, r
    # A message number past the end matches nothing.
    r = c.ok(f"SELECT qm (QRESYNC ({uv} {m0} {seqset(uids)} (1,99 {live[0]},{uids[-1]})))")
    assert vanished(r, True) == [u for u in gone if u > live[0]], r
    c.logout()


def test_vanished_instead_of_expunge(imap_server, imap_user):
    # RFC 7162 3.2.7, 3.2.9, 3.2.10.2, RFC 6851 4.4: EXPUNGE, UID EXPUNGE,
    # MOVE and other sessions' expunges (NOOP, IDLE) come as VANISHED, and
    # the OK of an expunging command carries the new HIGHESTMODSEQ.
    a = session(imap_server, imap_user)
    a.ok("CREATE qx")
    a.ok("CREATE qx2")
    uids = fill(a, "qx", 12)
    a.select("qx")

    a.ok(f"UID STORE {uids[1]},{uids[2]},{uids[5]} +FLAGS.SILENT (\\Deleted)")
    r = a.ok("EXPUNGE")
    assert vanished(r, False) == [uids[1], uids[2], uids[5]], r
    assert not r.numbered("EXPUNGE"), r
    assert r.code == f"HIGHESTMODSEQ {hms(a, 'qx')}", r

    a.ok(f"UID STORE {uids[6]}:{uids[8]} +FLAGS.SILENT (\\Deleted)")
    r = a.ok(f"UID EXPUNGE {uids[7]}:{uids[8]}")
    assert vanished(r, False) == [uids[7], uids[8]], r
    assert r.code == f"HIGHESTMODSEQ {hms(a, 'qx')}", r

    r = a.ok(f"UID MOVE {uids[9]} qx2")
    assert vanished(r, False) == [uids[9]], r
    assert r.code == f"HIGHESTMODSEQ {hms(a, 'qx')}", r

    # Nothing expunged: no HIGHESTMODSEQ needed.
    a.ok(f"UID STORE {uids[6]} -FLAGS.SILENT (\\Deleted)")
    r = a.ok("EXPUNGE")
    assert vanished(r, False) == [] and r.code == "", r

    b = session(imap_server, imap_user, enable=False)
    b.select("qx")
    b.ok(f"UID STORE {uids[0]} +FLAGS.SILENT (\\Deleted)")
    b.ok(f"UID EXPUNGE {uids[0]}")
    r = a.ok("NOOP")
    assert vanished(r, False) == [uids[0]] and not r.numbered("EXPUNGE"), r
    assert r.numbered("EXISTS") == [], r   # VANISHED decrements by itself

    # While idling.
    tag = a.next_tag()
    a.send(f"{tag} IDLE\r\n".encode())
    assert a.read_response().startswith(b"+")
    b.ok(f"UID STORE {uids[3]} +FLAGS.SILENT (\\Deleted)")
    b.ok(f"UID EXPUNGE {uids[3]}")
    line = a.read_response()
    while line.startswith(b"* FETCH") or re.match(rb"\* \d+ FETCH", line):
        line = a.read_response()
    assert line == f"* VANISHED {uids[3]}".encode(), line
    a.send(b"DONE\r\n")
    assert a.read_tagged(tag).status == "OK"

    # The count is right afterwards: 12 - 3 - 2 - 1 - 1 - 1.
    r = a.ok("SEARCH ALL")
    assert len(r.data("SEARCH")[0].split()) == 4, r
    a.logout()
    b.logout()


def test_vanished_held_during_fetch_by_number(imap_server, imap_user):
    # RFC 7162 3.2.10.2: no VANISHED during FETCH, STORE or SEARCH; RFC
    # 7162 3.2: the client is then told a HIGHESTMODSEQ below the held
    # expunge, so that MODSEQs in FETCH data are not taken as its resync
    # point.
    a = session(imap_server, imap_user)
    a.ok("CREATE qh")
    uids = fill(a, "qh", 3)
    a.select("qh")
    before = hms(a, "qh")
    b = session(imap_server, imap_user, enable=False)
    b.select("qh")
    b.ok(f"UID STORE {uids[1]} +FLAGS.SILENT (\\Deleted)")
    b.ok(f"UID EXPUNGE {uids[1]}")
    r = a.ok("FETCH 1 (UID MODSEQ)")
    assert vanished(r, False) == [], r
    held = code_value(r, "HIGHESTMODSEQ")
    assert held is not None and int(held) <= before, r
    r = a.ok("NOOP")
    assert vanished(r, False) == [uids[1]], r
    a.logout()
    b.logout()


def test_vanished_only_for_messages_announced(imap_server, imap_user):
    # RFC 7162 3.2.10.2: never a UID the client was not told of.
    a = session(imap_server, imap_user)
    a.ok("CREATE qn")
    fill(a, "qn", 2)
    a.select("qn")
    b = session(imap_server, imap_user, enable=False)
    b.select("qn")
    u = fill(b, "qn", 1)[0]
    b.ok("NOOP")
    b.ok(f"UID STORE {u} +FLAGS.SILENT (\\Deleted)")
    b.ok(f"UID EXPUNGE {u}")
    r = a.ok("NOOP")
    assert vanished(r, False) == [] and r.numbered("EXISTS") == [], r
    a.logout()
    b.logout()


def test_uid_fetch_vanished(imap_server, imap_user):
    # RFC 7162 3.2.6, example 1: one command gives the expunges of the set
    # since the MODSEQ, then the changed messages.
    a = session(imap_server, imap_user)
    a.ok("CREATE qf")
    uids = fill(a, "qf", 10)
    a.select("qf")
    m0 = hms(a, "qf")
    b = session(imap_server, imap_user, enable=False)
    b.select("qf")
    b.ok(f"UID STORE {uids[1]},{uids[8]},{uids[9]} +FLAGS.SILENT (\\Deleted)")
    b.ok("EXPUNGE")
    b.ok(f"UID STORE {uids[4]} +FLAGS.SILENT (\\Seen)")

    c = session(imap_server, imap_user)
    c.select("qf")
    r = c.ok(f"UID FETCH {uids[0]}:{uids[8]} (FLAGS) (CHANGEDSINCE {m0} VANISHED)")
    assert vanished(r, True) == [uids[1], uids[8]], r
    assert set(by_uid(r)) == {uids[4]}, r
    first_fetch = next(i for i, u in enumerate(r.untagged) if b" FETCH " in u)
    assert r.untagged[0].startswith(b"* VANISHED (EARLIER) ") and first_fetch > 0, r
    # "*" is the highest UID the session could know (UIDNEXT - 1 when it
    # selected), not the highest left: the expunged last ones count too.
    r = c.ok(f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {m0} VANISHED)")
    assert vanished(r, True) == [uids[1], uids[8], uids[9]], r
    # Since the last change: nothing.
    r = c.ok(f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {hms(c, 'qf')} VANISHED)")
    assert vanished(r, True) == [] and r.fetches() == {}, r
    # Without VANISHED: only FETCH.
    r = c.ok(f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {m0})")
    assert vanished(r, True) == [] and set(by_uid(r)) == {uids[4]}, r
    for s in (a, b, c):
        s.logout()


def test_close_and_closed(imap_server, imap_user):
    # RFC 7162 3.2.8: CLOSE expunges silently, without HIGHESTMODSEQ;
    # 3.2.11: selecting another mailbox first says [CLOSED].
    c = session(imap_server, imap_user)
    c.ok("CREATE qc")
    uids = fill(c, "qc", 2)
    c.select("qc")
    r = c.select("INBOX")
    assert r.untagged[0] == b"* OK [CLOSED] Previous mailbox closed", r
    c.select("qc")
    c.ok(f"UID STORE {uids[0]} +FLAGS.SILENT (\\Deleted)")
    r = c.ok("CLOSE")
    assert r.untagged == [] and r.code == "", r
    r = c.ok("STATUS qc (MESSAGES)")
    assert status_items(r)[1]["MESSAGES"] == 1
    c.logout()


BAD = [
    # RFC 7162 3.2.6: not in FETCH, and only with CHANGEDSINCE.
    "FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)",
    "UID FETCH 1:* (FLAGS) (VANISHED)",
    # 3.2.5: syntax of the parameter.
    "SELECT INBOX (QRESYNC)",
    "SELECT INBOX (QRESYNC (1))",
    "SELECT INBOX (QRESYNC (1 0))",
    "SELECT INBOX (QRESYNC (x 5))",
    "SELECT INBOX (QRESYNC (1 5 1:*))",
    "SELECT INBOX (QRESYNC (1 5 0:3))",
    "SELECT INBOX (QRESYNC (1 5 1:3 (1:2)))",
    "SELECT INBOX (QRESYNC (1 5 1:3 (1:2 3)))",
    "SELECT INBOX (QRESYNC (1 5 1:3 (2,1 3,4)))",
    "SELECT INBOX (QRESYNC (1 5 1:3 (1:2 3:4) x))",
    "EXAMINE INBOX (QRESYNC (1 5) QRESYNC (1 5))",
    "SELECT INBOX (QRESYNC (1 99999999999999999999))",
]


@pytest.mark.parametrize("line", BAD)
def test_bad_arguments(imap_server, imap_user, line):
    c = session(imap_server, imap_user)
    c.select("INBOX")
    r = c.cmd(line)
    assert r.status == "BAD", r
    # The session goes on.
    c.ok("NOOP")
    c.logout()


def test_bad_without_enable(imap):
    # RFC 7162 3.2.5, 3.2.6: BAD unless QRESYNC was enabled first.
    fill(imap, "INBOX", 1)
    r = imap.cmd("SELECT INBOX (QRESYNC (1 1))")
    assert r.status == "BAD", r
    imap.ok("ENABLE CONDSTORE")
    imap.select("INBOX")
    r = imap.cmd("UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")
    assert r.status == "BAD", r
    r = imap.ok("UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1)")
    # A CONDSTORE-only client still gets EXPUNGE.
    imap.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    r = imap.ok("EXPUNGE")
    assert r.numbered("EXPUNGE") == [(1, b"")] and vanished(r, False) == [], r


def test_wrong_state(imap_server, imap_user):
    c = imap_connect(imap_server)
    r = c.cmd("ENABLE QRESYNC")
    assert r.status == "BAD", r
    c.login(*imap_user)
    c.ok("ENABLE QRESYNC")
    r = c.cmd("UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")
    assert r.status == "BAD", r
    c.logout()


def test_long_known_uids(imap_server, imap_user):
    # RFC 7162 4: lines of about 8192 octets must work; longer than the
    # server takes (64 KiB) is a BAD, and the session goes on.
    c = session(imap_server, imap_user)
    c.ok("CREATE ql")
    uids = fill(c, "ql", 2)
    uv = code_value(c.select("ql"), "UIDVALIDITY")
    c.ok(f"UID STORE {uids[0]} +FLAGS.SILENT (\\Deleted)")
    m = hms(c, "ql")
    c.ok("EXPUNGE")
    known = ",".join(str(u) for u in range(uids[0], uids[0] + 4000, 2))
    assert len(known) > 8192
    r = c.ok(f"SELECT ql (QRESYNC ({uv} {m} {known}))")
    assert vanished(r, True) == [uids[0]], r
    huge = ",".join(str(u) for u in range(1, 40000, 2))
    r = c.cmd(f"SELECT ql (QRESYNC ({uv} 1 {huge}))")
    assert r.status == "BAD", r
    c.ok("NOOP")
    c.logout()


def test_changedsince_answers_from_the_change_records(imap_server, imap_user):
    # FETCH CHANGEDSINCE reads the change records when they are fewer than
    # the set, the set otherwise: the answer is the same either way.
    c = session(imap_server, imap_user)
    c.ok("CREATE qd")
    uids = fill(c, "qd", 8)
    c.select("qd")
    m0 = hms(c, "qd")
    c.ok(f"UID STORE {uids[2]} +FLAGS.SILENT (\\Flagged)")
    c.ok(f"UID STORE {uids[2]} +FLAGS.SILENT (\\Seen)")        # its record moves
    c.ok(f"UID STORE {uids[5]},{uids[6]} +FLAGS.SILENT (\\Answered)")
    new = fill(c, "qd", 1)[0]
    c.ok("NOOP")
    want = {uids[2], uids[5], uids[6], new}
    r = c.ok(f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {m0})")
    assert set(by_uid(r)) == want and len(r.fetches()) == 4, r
    r = c.ok(f"FETCH 1:* (UID FLAGS) (CHANGEDSINCE {m0})")
    assert set(by_uid(r)) == want, r
    # Fewer messages asked for than changes: the set is read.
    for u in uids:
        r = c.ok(f"UID FETCH {u} (FLAGS) (CHANGEDSINCE {m0})")
        assert set(by_uid(r)) == ({u} & want), r
    r = c.ok(f"UID FETCH {uids[0]}:{uids[3]} (FLAGS) (CHANGEDSINCE {m0})")
    assert set(by_uid(r)) == {uids[2]}, r
    c.logout()


def test_large_resync_streams(imap_server, imap_user):
    # Thousands of changes: the change records are read in batches and
    # the answer leaves in pieces (more than the output queue's 256 KiB),
    # each UID once, every VANISHED (EARLIER) before the first FETCH.
    n = 8000
    c = session(imap_server, imap_user)
    c.ok("CREATE qbig")
    for start in range(0, n, 500):
        parts = [b"APPEND qbig"]
        for i in range(start, start + 500):
            m = f"Subject: {i}\r\n\r\nx\r\n".encode()
            parts.append(f" {{{len(m)}+}}\r\n".encode() + m)
        assert c.cmd(b"".join(parts)).status == "OK"
    sel = c.select("qbig")
    uv, m0 = code_value(sel, "UIDVALIDITY"), code_value(sel, "HIGHESTMODSEQ")
    flagged = list(range(2, n + 1, 2))
    gone = list(range(1, n + 1, 4))
    for i in range(0, len(flagged), 2000):
        c.ok(f"UID STORE {','.join(map(str, flagged[i:i + 2000]))} +FLAGS.SILENT "
             "(\\Flagged \\Answered $SomeLongerKeyword $AndAnotherOne)")
    c.ok(f"UID STORE {','.join(map(str, gone))} +FLAGS.SILENT (\\Deleted)")
    c.ok("EXPUNGE")
    c.logout()

    c = session(imap_server, imap_user)
    r = c.ok(f"SELECT qbig (QRESYNC ({uv} {m0}))")
    assert vanished(r, True) == gone, len(r.untagged)
    fetched = [int(f["UID"]) for _, f in sorted(r.fetches().items())]
    assert len(r.numbered("FETCH")) == len(flagged) and sorted(fetched) == flagged
    assert sum(len(u) for u in r.untagged) > 256 * 1024
    last_van = max(i for i, u in enumerate(r.untagged) if u.startswith(b"* VANISHED"))
    first_fetch = min(i for i, u in enumerate(r.untagged) if re.match(rb"\* \d+ FETCH", u))
    assert last_van < first_fetch
    r = c.ok(f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {m0} VANISHED)")
    assert vanished(r, True) == gone
    assert sorted(int(f["UID"]) for f in r.fetches().values()) == flagged
    c.logout()


def test_no_vanished_in_uid_search_by_number(imap_server, imap_user):
    # RFC 7162 3.2.10.2: VANISHED may come with UID SEARCH, but not when
    # its criteria hold message numbers.
    a = session(imap_server, imap_user)
    a.ok("CREATE qs")
    uids = fill(a, "qs", 4)
    a.select("qs")
    b = session(imap_server, imap_user, enable=False)
    b.select("qs")
    b.ok(f"UID STORE {uids[0]} +FLAGS.SILENT (\\Deleted)")
    b.ok(f"UID EXPUNGE {uids[0]}")
    r = a.ok("UID SEARCH 2:3")
    assert vanished(r, False) == [] and r.data("SEARCH") == [f"{uids[1]} {uids[2]}".encode()], r
    r = a.ok("UID SEARCH NOT (1 OR 2 3)")
    assert vanished(r, False) == [], r
    r = a.ok("UID SEARCH UID 1:*")
    assert vanished(r, False) == [uids[0]], r
    b.ok(f"UID STORE {uids[1]} +FLAGS.SILENT (\\Deleted)")
    b.ok(f"UID EXPUNGE {uids[1]}")
    r = a.ok("UID SEARCH ALL")
    assert vanished(r, False) == [uids[1]], r
    a.logout()
    b.logout()
