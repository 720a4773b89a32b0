# tests/integration/test_imap_select.py: SELECT and EXAMINE responses
# (RFC 3501 6.3.1-6.3.2, RFC 9051 6.3.2-6.3.3), UIDVALIDITY/UIDNEXT kept
# across restarts (RFC 9051 2.3.1.1), \Recent between sessions (RFC 3501
# 2.3.2), CLOSE, UNSELECT (RFC 3691), CHECK, EXPUNGE, UID EXPUNGE (RFC 4315).
import re

from helpers import imap_connect, make_message, parse_sexpr, status_items


def sel_info(r):
    """What a SELECT/EXAMINE answer says, as a dict."""
    info = {"exists": None, "recent": None, "flags": None, "codes": {}}
    for n, _ in r.numbered("EXISTS"):
        info["exists"] = n
    for n, _ in r.numbered("RECENT"):
        info["recent"] = n
    for d in r.data("FLAGS"):
        vals, _ = parse_sexpr(d)
        info["flags"] = {bytes(f).decode() for f in vals[0]}
    for d in r.data("OK"):
        m = re.match(rb"\[([A-Z-]+)(?: ([^\]]*))?\]", d)
        if m:
            info["codes"][m.group(1).decode()] = (m.group(2) or b"").decode()
    return info


def fill(c, mailbox, n, flags=None):
    """APPEND n messages; return their UIDs (from APPENDUID)."""
    uids = []
    for i in range(n):
        r = c.append(mailbox, make_message(f"m{i}"), flags=flags)
        uids.append(int(r.code.split()[2]))
    return uids


def seq_uids(c):
    r = c.ok("FETCH 1:* UID")
    f = r.fetches()
    return [int(f[i]["UID"]) for i in sorted(f)]


def test_select_responses(imap):
    imap.ok("CREATE sel")
    fill(imap, "sel", 2, flags=["\\Seen"])
    fill(imap, "sel", 1)
    r = imap.select("sel")
    info = sel_info(r)
    assert info["exists"] == 3 and info["recent"] == 3, r
    assert {"\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"} <= info["flags"], r
    perm = info["codes"]["PERMANENTFLAGS"]
    assert "\\*" in perm.split() or "\\*)" in perm, perm
    assert int(info["codes"]["UIDVALIDITY"]) > 0
    assert info["codes"]["UIDNEXT"] == "4"
    assert info["codes"].get("UNSEEN", "3") == "3"    # RFC 3501: first unseen
    assert r.code == "READ-WRITE", r
    assert r.tagged.split()[1] == b"OK"


def test_select_highestmodseq_after_condstore(imap):
    imap.ok("ENABLE CONDSTORE")
    r = imap.select("INBOX")
    assert int(sel_info(r)["codes"]["HIGHESTMODSEQ"]) >= 1, r


ENABLING = ["FETCH 1:* (FLAGS MODSEQ)", "UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1)",
            "SEARCH MODSEQ 1", "STORE 1 (UNCHANGEDSINCE 999999) +FLAGS (\\Flagged)",
            "STATUS INBOX (HIGHESTMODSEQ)"]


def test_first_condstore_command_announces_highestmodseq(imap_server, imap_user):
    # RFC 7162 3.1: the first CONDSTORE enabling command run with a mailbox
    # selected returns HIGHESTMODSEQ, before that command's own results.
    c = imap_connect(imap_server, *imap_user)
    c.ok("CREATE hms")
    fill(c, "hms", 2)
    c.logout()
    for first in ENABLING:
        c = imap_connect(imap_server, *imap_user)
        sel = c.select("hms")
        hms = sel_info(sel)["codes"]["HIGHESTMODSEQ"]
        r = c.ok(first)
        assert r.untagged[0] == b"* OK [HIGHESTMODSEQ %s] Highest" % hms.encode(), (first, r)
        assert sum(u.startswith(b"* OK [HIGHESTMODSEQ ") for u in r.untagged) == 1, r
        # Once on, CONDSTORE is not announced again (and STORE bumped it).
        for again in ENABLING:
            r = c.ok(again)
            assert not any(b"[HIGHESTMODSEQ " in u for u in r.untagged), (first, again, r)
        c.logout()
    # Enabled before SELECT: SELECT's own HIGHESTMODSEQ is the announcement.
    c = imap_connect(imap_server, *imap_user)
    c.ok("STATUS hms (HIGHESTMODSEQ)")
    c.select("hms")
    r = c.ok("FETCH 1 (MODSEQ)")
    assert not any(b"[HIGHESTMODSEQ " in u for u in r.untagged), r
    c.logout()


def test_examine_read_only(imap):
    imap.ok("CREATE ex")
    fill(imap, "ex", 1)
    r = imap.select("ex", examine=True)
    assert r.code == "READ-ONLY", r
    assert sel_info(r)["exists"] == 1
    # RFC 9051 leaves NO or an ignored OK to the server; the flag must not change.
    r = imap.cmd("STORE 1 +FLAGS (\\Deleted)")
    assert r.status in ("NO", "OK"), r
    r = imap.cmd("EXPUNGE")
    assert r.status in ("NO", "OK") and r.numbered("EXPUNGE") == [], r
    r = imap.ok("FETCH 1 FLAGS")
    assert b"\\Deleted" not in r.untagged[0], r
    # A non-PEEK body fetch in a read-only mailbox does not set \Seen.
    r = imap.ok("FETCH 1 (BODY[TEXT] FLAGS)")
    r = imap.ok("FETCH 1 FLAGS")
    assert b"\\Seen" not in r.untagged[0], r


def test_select_missing_deselects(imap):
    imap.select("INBOX")
    r = imap.cmd("SELECT no-such-box")
    assert (r.status, r.code) == ("NO", "NONEXISTENT"), r
    r = imap.cmd("FETCH 1 FLAGS")
    assert r.status in ("BAD", "NO"), r    # no mailbox selected any more


def test_closed_code_rev2(imap):
    r = imap.ok("ENABLE IMAP4rev2")
    assert r.data("ENABLED") == [b"IMAP4rev2"], r
    imap.select("INBOX")
    r = imap.select("Sent")
    assert r.untagged[0].startswith(b"* OK [CLOSED]"), r


def test_uidvalidity_uidnext_survive_restart(imap_own_server):
    srv = imap_own_server
    user = srv.new_user("persist")
    c = imap_connect(srv, *user)
    uids = fill(c, "INBOX", 3)
    assert uids == [1, 2, 3]
    r = c.select("INBOX")
    v1 = sel_info(r)["codes"]["UIDVALIDITY"]
    c.ok("STORE 3 +FLAGS.SILENT (\\Deleted)")
    c.ok("EXPUNGE")
    c.logout()
    srv.restart()
    c = imap_connect(srv, *user)
    info = sel_info(c.select("INBOX"))
    assert info["codes"]["UIDVALIDITY"] == v1
    assert info["codes"]["UIDNEXT"] == "4"      # UID 3 is never reused
    assert info["exists"] == 2
    assert fill(c, "INBOX", 1) == [4]
    c.close()
    srv.restart(crash=True)                     # APPEND was durable before its OK
    c = imap_connect(srv, *user)
    info = sel_info(c.select("INBOX"))
    assert info["codes"]["UIDVALIDITY"] == v1
    assert info["codes"]["UIDNEXT"] == "5"
    assert seq_uids(c) == [1, 2, 4]
    c.logout()


def test_recent_between_sessions(imap_server, imap_user):
    a = imap_connect(imap_server, *imap_user)
    a.ok("CREATE rec")
    fill(a, "rec", 2)
    # EXAMINE does not take \Recent away (RFC 3501 6.3.2).
    e = imap_connect(imap_server, *imap_user)
    assert sel_info(e.select("rec", examine=True))["recent"] == 2
    e.logout()
    info = sel_info(a.select("rec"))
    assert info["recent"] == 2
    f = a.ok("FETCH 1:* FLAGS").fetches()
    assert all(b"\\Recent" in f[i]["FLAGS"] for i in (1, 2)), f
    b = imap_connect(imap_server, *imap_user)
    info = sel_info(b.select("rec"))
    assert (info["exists"], info["recent"]) == (2, 0)
    f = b.ok("FETCH 1:* FLAGS").fetches()
    assert not any(b"\\Recent" in f[i]["FLAGS"] for i in (1, 2)), f
    # A new message is \Recent in exactly one of the sessions.
    c = imap_connect(imap_server, *imap_user)
    fill(c, "rec", 1)
    c.logout()
    ra, rb = a.ok("NOOP"), b.ok("NOOP")
    assert ra.numbered("EXISTS") == [(3, b"")] and rb.numbered("EXISTS") == [(3, b"")]
    # A RECENT response is owed only when the count changed.
    rec_a = (ra.numbered("RECENT") or [(2, b"")])[-1][0]
    rec_b = (rb.numbered("RECENT") or [(0, b"")])[-1][0]
    assert (rec_a - 2) + rec_b == 1, (ra, rb)
    # \Recent of a closed session is gone: a new SELECT sees none.
    a.ok("CLOSE")
    b.ok("CLOSE")
    d = imap_connect(imap_server, *imap_user)
    assert sel_info(d.select("rec"))["recent"] == 0
    for x in (a, b, d):
        x.logout()


def test_expunge_responses(imap):
    imap.ok("CREATE exp")
    uids = fill(imap, "exp", 5)
    imap.select("exp")
    imap.ok("STORE 2,4,5 +FLAGS.SILENT (\\Deleted)")
    r = imap.ok("EXPUNGE")
    # Apply the EXPUNGE responses in order to the sequence: what is left must
    # be exactly the messages without \Deleted.
    seq = list(uids)
    for n, _ in r.numbered("EXPUNGE"):
        assert 1 <= n <= len(seq), r
        del seq[n - 1]
    assert len(r.numbered("EXPUNGE")) == 3, r
    assert seq == [uids[0], uids[2]]
    assert seq_uids(imap) == seq
    r = imap.ok("EXPUNGE")
    assert r.numbered("EXPUNGE") == []


def test_uid_expunge(imap):
    imap.ok("CREATE uexp")
    uids = fill(imap, "uexp", 4)
    imap.select("uexp")
    imap.ok("STORE 1:4 +FLAGS.SILENT (\\Deleted)")
    r = imap.ok(f"UID EXPUNGE {uids[1]}:{uids[2]}")
    assert len(r.numbered("EXPUNGE")) == 2, r
    assert seq_uids(imap) == [uids[0], uids[3]]
    r = imap.ok(f"UID EXPUNGE {uids[3] + 100}")
    assert r.numbered("EXPUNGE") == [], r
    assert imap.cmd("UID EXPUNGE").status == "BAD"


def test_close_expunges_silently(imap):
    imap.ok("CREATE cls")
    fill(imap, "cls", 3)
    imap.select("cls")
    imap.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
    r = imap.ok("CLOSE")
    assert r.numbered("EXPUNGE") == [], r    # RFC 3501 6.4.2: no EXPUNGE responses
    r = imap.cmd("FETCH 1 FLAGS")
    assert r.status in ("BAD", "NO"), r
    r = imap.ok("STATUS cls (MESSAGES)")
    assert status_items(r) == ("cls", {"MESSAGES": 2}), r


def test_close_after_examine_and_unselect_keep(imap):
    imap.ok("CREATE keep")
    fill(imap, "keep", 2, flags=["\\Deleted"])
    imap.select("keep", examine=True)
    imap.ok("CLOSE")
    imap.select("keep")
    r = imap.ok("UNSELECT")
    assert r.numbered("EXPUNGE") == [], r
    r = imap.ok("STATUS keep (MESSAGES)")
    assert status_items(r) == ("keep", {"MESSAGES": 2}), r
    assert imap.cmd("UNSELECT").status in ("BAD", "NO")


def test_check(imap):
    imap.select("INBOX")
    r = imap.ok("CHECK")
    assert r.untagged == [], r


def test_logout_does_not_expunge(imap_server, imap_user):
    c = imap_connect(imap_server, *imap_user)
    c.ok("CREATE lo")
    fill(c, "lo", 2, flags=["\\Deleted"])
    c.select("lo")
    c.logout()      # RFC 9051 6.1.3: LOGOUT is not CLOSE
    c = imap_connect(imap_server, *imap_user)
    assert status_items(c.ok("STATUS lo (MESSAGES)")) == ("lo", {"MESSAGES": 2})
    c.logout()


def test_idle_done_and_bad_continuation(imap):
    imap.select("INBOX")
    imap.send(b"i1 IDLE\r\n")
    assert imap.read_response().startswith(b"+")
    imap.send(b"DONE\r\n")
    r = imap.read_tagged("i1")
    assert r.status == "OK", r
    # RFC 2177 3: anything but DONE ends the IDLE with BAD.
    imap.send(b"i2 IDLE\r\n")
    assert imap.read_response().startswith(b"+")
    imap.send(b"NOOP\r\n")
    r = imap.read_tagged("i2")
    assert r.status == "BAD", r
    assert imap.cmd("NOOP").status == "OK"
