# tests/integration/test_imap_busy.py: IMAP sessions on a mailbox that
# deliveries keep writing (issue 11 point 1).  A delivery holds the mailbox
# record until its commit; a session's \Recent claim and a new keyword's
# entry write that record too, and are handed to a worker instead of
# waiting on the loop when it is held (imap/imap_claim.h, imap_cmd_store.c,
# imap_cmd_append.c).  Whichever way each one went, the replies must be
# what RFC 3501 says: every message \Recent in exactly one session
# (2.3.2), and a keyword set by STORE or APPEND is the message's.
import threading

from helpers import fetch_items, imap_connect, make_message

SENDER = "busy@example.org"


def deliver_in_background(srv, rcpt, n, threads=4):
    """n messages to rcpt from `threads` SMTP sessions at once; returns the
    threads (join them) and the list their errors go to."""
    errors = []

    def run(k):
        try:
            c = srv.smtp()
            for i in range(k, n, threads):
                c.smtp_deliver(SENDER, [rcpt], make_message(f"busy {i}"))
            c.smtp_quit()
        except Exception as e:  # noqa: BLE001 - reported by the test
            errors.append(e)

    ts = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    return ts, errors


def flags_by_uid(c):
    r = c.ok("UID FETCH 1:* (FLAGS)")
    out = {}
    for _, rest in r.numbered("FETCH"):
        items = fetch_items(rest)
        out[int(items["UID"])] = {f.decode().upper() for f in items["FLAGS"]}
    return out


def test_recent_in_one_session_while_delivering(imap_server, imap_user):
    n = 120
    sessions = [imap_connect(imap_server, *imap_user) for _ in range(3)]
    for c in sessions:
        c.select("INBOX")
    ts, errors = deliver_in_background(imap_server, imap_user[0], n)
    told = [0] * len(sessions)
    recent = [0] * len(sessions)
    # Each session catches up while the deliveries go on: their claims meet
    # the deliveries' locks.
    while any(t.is_alive() for t in ts):
        for k, c in enumerate(sessions):
            r = c.ok("NOOP")
            for cnt, _ in r.numbered("EXISTS"):
                told[k] = cnt
            for cnt, _ in r.numbered("RECENT"):
                recent[k] = cnt
    for t in ts:
        t.join()
    assert not errors, errors
    for k, c in enumerate(sessions):
        for _ in range(200):
            if told[k] == n:
                break
            r = c.ok("NOOP")
            for cnt, _ in r.numbered("EXISTS"):
                told[k] = cnt
            for cnt, _ in r.numbered("RECENT"):
                recent[k] = cnt
        assert told[k] == n, f"session {k} told of {told[k]} of {n}"
    owners = {}
    for k, c in enumerate(sessions):
        fl = flags_by_uid(c)
        assert len(fl) == n
        mine = [uid for uid, f in fl.items() if "\\RECENT" in f]
        # The count told is the session's own \Recent messages.
        assert recent[k] == len(mine), (k, recent[k], len(mine))
        for uid in mine:
            assert uid not in owners, f"UID {uid} \\Recent in sessions {owners[uid]} and {k}"
            owners[uid] = k
    assert len(owners) == n, f"{n - len(owners)} messages \\Recent in no session"
    for c in sessions:
        c.logout()


def test_new_keywords_while_delivering(imap_server, imap_user):
    c = imap_connect(imap_server, *imap_user)
    c.append("INBOX", make_message("keyword target"))
    c.select("INBOX")
    rounds = 30
    ts, errors = deliver_in_background(imap_server, imap_user[0], 150)
    for i in range(rounds):
        r = c.ok(f"UID STORE 1 +FLAGS (store{i})")
        assert f"STORE{i}" in {f.decode().upper() for f in r.fetches()[1]["FLAGS"]}, r
        # FLAGS names every keyword before a FETCH shows it (RFC 3501 7.2.6).
        assert any(f"store{i}".encode() in f for f in r.data("FLAGS")), r
        c.append("INBOX", make_message(f"appended {i}"), flags=[f"append{i}", "\\Seen"])
    for t in ts:
        t.join()
    assert not errors, errors
    fl = flags_by_uid(c)
    assert {f"STORE{i}" for i in range(rounds)} <= fl[1]
    appended = [f for uid, f in fl.items() if any(x.startswith("APPEND") for x in f)]
    assert len(appended) == rounds, sorted(fl.items())
    for f in appended:
        assert "\\SEEN" in f and len([x for x in f if x.startswith("APPEND")]) == 1
    # Another session reads the same table.
    d = imap_connect(imap_server, *imap_user)
    r = d.select("INBOX")
    names = b" ".join(r.data("FLAGS")).upper()
    for i in range(rounds):
        assert f"STORE{i}".encode() in names and f"APPEND{i}".encode() in names
    d.logout()
    c.logout()


def test_notify_set_while_delivering(imap_server, imap_user):
    # NOTIFY hands its parsed command on once its OK is made: an OK held
    # for a \Recent claim must not need it (it did: a NULL tag).
    c = imap_connect(imap_server, *imap_user)
    c.select("INBOX")
    ts, errors = deliver_in_background(imap_server, imap_user[0], 120)
    n = total = 0
    while any(t.is_alive() for t in ts) or n < 20:
        r = c.cmd("NOTIFY SET (SELECTED (MessageNew (UID) MessageExpunge))")
        assert r.status == "OK", r
        for cnt, _ in r.numbered("EXISTS"):
            total = cnt
        n += 1
    for t in ts:
        t.join()
    assert not errors, errors
    # Still there, and told of every message.
    for _ in range(100):
        if total == 120:
            break
        r = c.ok("NOOP")
        for cnt, _ in r.numbered("EXISTS"):
            total = cnt
    assert total == 120
    c.logout()
