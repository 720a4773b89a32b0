# tests/integration/test_imap_snapshot.py: sessions on one mailbox share
# one UID list (imap/imap_snap.c) and must still each keep their own
# sequence numbers (RFC 9051 2.3.1.2, 7.5.1): one expunges while another
# has not been told; a delivery reaches sessions that lag and sessions that
# idle; sessions leave while others keep going; MOVE out from under one.
from helpers import imap_connect, make_message


def deliver(srv, user, n, tag="s"):
    c = srv.smtp()
    for i in range(n):
        c.smtp_deliver("snap@example.org", [user[0]],
                       make_message(f"{tag} {i}", body=f"snap {tag} {i}\r\n".encode()))
    c.smtp_quit()


def uids(resp):
    """{seq: uid} of the untagged FETCH (UID ...) responses."""
    return {n: int(f["UID"]) for n, f in resp.fetches().items() if "UID" in f}


def test_expunge_told_to_one_session_only(imap_server, imap_user):
    deliver(imap_server, imap_user, 5)
    a, b, c = (imap_connect(imap_server, *imap_user) for _ in range(3))
    for s in (a, b, c):
        assert s.select("INBOX").numbered("EXISTS") == [(5, b"")]
    a.ok("STORE 2,4 +FLAGS.SILENT (\\Deleted)")
    r = a.ok("EXPUNGE")
    assert r.numbered("EXPUNGE") == [(4, b""), (2, b"")], r
    # b is inside FETCH and STORE: no EXPUNGE yet, its numbers stand.
    r = b.ok("FETCH 1,3,5 (UID)")
    assert r.numbered("EXPUNGE") == [], r
    assert uids(r) == {1: 1, 3: 3, 5: 5}, r
    deliver(imap_server, imap_user, 1, "late")
    r = b.ok("FETCH 5:* (UID)")
    # "*" was 5 when the set was resolved; EXISTS comes with the OK.
    assert uids(r) == {5: 5}, r
    assert r.numbered("EXISTS") == [(6, b"")], r
    assert r.numbered("EXPUNGE") == [], r
    # The new one is sequence 6 for b (expunged ones still counted) ...
    assert uids(b.ok("FETCH 6 (UID)")) == {6: 6}
    # ... and 4 for a, told at its next command.
    assert a.ok("NOOP").numbered("EXISTS") == [(4, b"")]
    assert uids(a.ok("FETCH * (UID)")) == {4: 6}
    # c leaves without ever being told; b hears of the expunges at a UID
    # command (RFC 9051 7.5.1 allows EXPUNGE there), numbered in its view.
    c.logout()
    r = b.ok("UID FETCH 6 (UID)")
    assert r.numbered("EXPUNGE") == [(4, b""), (2, b"")], r
    assert uids(r) == {6: 6}, r
    assert b.ok("NOOP").numbered("EXPUNGE") == []
    for s in (a, b):
        r = s.ok("FETCH 1:* (UID)")
        assert uids(r) == {1: 1, 2: 3, 3: 5, 4: 6}, r
        r = s.ok("SEARCH UID 5:6")
        assert r.data("SEARCH") == [b"3 4"], r
    a.logout()
    b.logout()


def test_delivery_reaches_idle_and_lagging_sessions(imap_server, imap_user):
    deliver(imap_server, imap_user, 3)
    sessions = [imap_connect(imap_server, *imap_user) for _ in range(6)]
    for s in sessions:
        s.select("INBOX")
    idlers = sessions[:3]
    for s in idlers:
        s.send(b"I1 IDLE\r\n")
        assert s.read_response().startswith(b"+")
    deliver(imap_server, imap_user, 2, "more")
    for s in idlers:
        got = []
        while b"* 5 EXISTS" not in got:
            got.append(s.read_response())
        s.send(b"DONE\r\n")
        assert s.read_tagged("I1").status == "OK"
    # Half of them leave; the others still see the same five.
    for s in sessions[::2]:
        s.logout()
    for s in sessions[1::2]:
        if s not in idlers:
            assert s.ok("NOOP").numbered("EXISTS") == [(5, b"")]
        r = s.ok("FETCH 1:* (UID)")
        assert uids(r) == {1: 1, 2: 2, 3: 3, 4: 4, 5: 5}, r
        s.logout()
    # A new session after everyone left starts from the same list.
    s = imap_connect(imap_server, *imap_user)
    assert s.select("INBOX").numbered("EXISTS") == [(5, b"")]
    assert uids(s.ok("FETCH 1:* (UID)")) == {1: 1, 2: 2, 3: 3, 4: 4, 5: 5}
    s.logout()


def test_move_out_from_under_a_session(imap_server, imap_user):
    deliver(imap_server, imap_user, 4)
    a, b = imap_connect(imap_server, *imap_user), imap_connect(imap_server, *imap_user)
    a.ok("CREATE Dest")
    a.select("INBOX")
    b.select("INBOX")
    r = a.ok("MOVE 1:2 Dest")
    assert r.numbered("EXPUNGE") == [(2, b""), (1, b"")], r
    # b: STORE by sequence number still addresses its own numbering.
    r = b.ok("STORE 3 +FLAGS (\\Flagged)")
    assert r.numbered("EXPUNGE") == [], r
    assert uids(b.ok("FETCH 3 (UID)")) == {3: 3}
    r = b.ok("NOOP")
    assert r.numbered("EXPUNGE") == [(2, b""), (1, b"")], r
    r = b.ok("FETCH 1:* (UID FLAGS)")
    assert uids(r) == {1: 3, 2: 4}, r
    assert b"\\Flagged" in r.fetches()[1]["FLAGS"], r
    r = a.ok("FETCH 1 (FLAGS)")
    assert b"\\Flagged" in r.fetches()[1]["FLAGS"], r
    for s in (a, b):
        s.logout()
