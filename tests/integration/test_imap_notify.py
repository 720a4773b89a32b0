# tests/integration/test_imap_notify.py: NOTIFY (RFC 5465) with two
# sessions.  One delivers over SMTP or APPENDs; the other, with NOTIFY set
# and another mailbox selected (or none), sees the untagged STATUS while it
# idles, and between commands without IDLE (before a NOOP's reply at the
# latest); mailbox renames reach it as LIST, annotation changes as
# METADATA; sessions on other loops hear it too; the cost of a change is that mailbox's (no STATUS for mailboxes
# that did not change, however many the user has).  The RFC's own examples
# are transcripts (tests/transcripts/imap/rfc5465-*.txt).
import re

from helpers import IMAP_KINDS, imap_connect, make_message

SENDER = "notify@example.org"
STATUS = re.compile(rb"^\* STATUS (\S+) \((.*)\)$")


def status_items(line):
    m = STATUS.match(line)
    assert m, line
    it = m.group(2).split()
    return m.group(1), {it[i].decode(): int(it[i + 1]) for i in range(0, len(it), 2)}


def deliver(srv, user, n=1, tag="n"):
    c = srv.smtp()
    for i in range(n):
        c.smtp_deliver(SENDER, [user[0]], make_message(f"{tag} {i}"))
    c.smtp_quit()


def read_until(c, pred):
    """Untagged responses up to the first for which pred holds."""
    seen = []
    while True:
        r = c.read_response()
        seen.append(r)
        if pred(r):
            return seen


def test_smtp_delivery_status_in_idle(imap_server, imap_user):
    c = imap_connect(imap_server, *imap_user)
    c.ok("CREATE Other")
    c.select("Other")
    c.ok("NOTIFY SET (SELECTED (MessageNew MessageExpunge)) (INBOXES (MessageNew MessageExpunge))")
    c.send(b"i1 IDLE\r\n")
    assert c.read_response().startswith(b"+")
    deliver(imap_server, imap_user)
    # Nothing from us: the STATUS of INBOX comes while idling.
    (line,) = read_until(c, lambda r: r.startswith(b"* STATUS"))
    name, it = status_items(line)
    assert name == b"INBOX"
    assert it["MESSAGES"] == 1 and it["UNSEEN"] == 1 and it["UIDNEXT"] == 2, it
    c.send(b"DONE\r\n")
    assert c.read_tagged("i1").status == "OK"
    c.logout()


def test_delivery_status_between_commands_and_with_noop(imap_server, imap_user):
    c = imap_connect(imap_server, *imap_user)
    c.ok("CREATE Work")
    c.ok("NOTIFY SET (PERSONAL (MessageNew MessageExpunge FlagChange))")
    d = imap_connect(imap_server, *imap_user)
    d.append("Work", make_message("appended"))
    # No command of ours runs: the STATUS is pushed at once (3.1: the
    # client listens all the time)...
    (line,) = read_until(c, lambda r: r.startswith(b"* STATUS"))
    assert status_items(line)[0] == b"Work"
    assert status_items(line)[1]["MESSAGES"] == 1
    # ...and a NOOP's reply comes after it, at the latest: once.
    d.append("Work", make_message("second"))
    d.ok("NOOP")
    r = c.ok("NOOP")
    st = r.data("STATUS")
    assert len(st) == 1 and b"MESSAGES 2" in st[0], r
    # A flag change is a FlagChange: UNSEEN moves.
    d.select("Work")
    d.ok("STORE 1 +FLAGS (\\Seen)")
    (line,) = read_until(c, lambda r: r.startswith(b"* STATUS"))
    assert status_items(line)[1]["UNSEEN"] == 1
    # NOTIFY NONE: nothing more, NOOP included.
    c.ok("NOTIFY NONE")
    d.append("Work", make_message("third"))
    d.ok("NOOP")
    r = c.ok("NOOP")
    assert r.data("STATUS") == [], r
    d.logout()
    c.logout()


def test_flag_change_not_asked_for_is_not_told(imap_server, imap_user):
    c = imap_connect(imap_server, *imap_user)
    c.ok("CREATE Quiet")
    d = imap_connect(imap_server, *imap_user)
    d.append("Quiet", make_message("one"))
    r = c.ok("NOTIFY SET STATUS (MAILBOXES Quiet (MessageNew MessageExpunge))")
    assert len(r.data("STATUS")) == 1, r
    d.select("Quiet")
    d.ok("STORE 1 +FLAGS (\\Seen \\Flagged)")
    r = c.ok("NOOP")
    assert r.data("STATUS") == [], r
    d.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    d.ok("EXPUNGE")
    (line,) = read_until(c, lambda r: r.startswith(b"* STATUS"))
    assert status_items(line)[1]["MESSAGES"] == 0
    d.logout()
    c.logout()


def test_condstore_status_has_highestmodseq(imap_server, imap_user):
    c = imap_connect(imap_server, *imap_user)
    c.ok("ENABLE CONDSTORE")
    c.ok("CREATE Modseq")
    c.ok("NOTIFY SET (MAILBOXES Modseq (MessageNew MessageExpunge FlagChange))")
    d = imap_connect(imap_server, *imap_user)
    d.append("Modseq", make_message("m"))
    (line,) = read_until(c, lambda r: r.startswith(b"* STATUS"))
    it = status_items(line)[1]
    assert it["HIGHESTMODSEQ"] >= 1 and "UIDVALIDITY" in it, it
    d.select("Modseq")
    d.ok("STORE 1 +FLAGS (\\Flagged)")   # UNSEEN unchanged: MODSEQ tells
    (line,) = read_until(c, lambda r: r.startswith(b"* STATUS"))
    assert status_items(line)[1]["HIGHESTMODSEQ"] > it["HIGHESTMODSEQ"]
    d.logout()
    c.logout()


def test_only_the_changed_mailbox_is_reported(imap_server, imap_user):
    """Among many watched mailboxes, a change to one gives one STATUS
    (the feed names the mailbox; none of the others is looked at)."""
    c = imap_connect(imap_server, *imap_user)
    for i in range(40):
        c.ok(f"CREATE Many/{i}")
    r = c.ok("NOTIFY SET STATUS (SUBTREE Many (MessageNew MessageExpunge))")
    assert len(r.data("STATUS")) == 41, r    # Many itself and 40 below
    d = imap_connect(imap_server, *imap_user)
    d.append("Many/17", make_message("x"))
    d.ok("NOOP")
    r = c.ok("NOOP")
    st = r.data("STATUS")
    assert len(st) == 1 and st[0].startswith(b"Many/17 "), r
    # Not under the subtree: not reported.
    d.append("INBOX", make_message("y"))
    d.ok("NOOP")
    assert c.ok("NOOP").data("STATUS") == []
    d.logout()
    c.logout()


def test_rename_reaches_idle_as_list(imap_server, imap_user):
    c = imap_connect(imap_server, *imap_user)
    c.ok("NOTIFY SET (PERSONAL (MailboxName SubscriptionChange))")
    d = imap_connect(imap_server, *imap_user)
    d.ok("CREATE Before")
    (line,) = read_until(c, lambda r: r.startswith(b"* LIST"))
    assert line == b'* LIST () "/" Before', line
    c.send(b"i2 IDLE\r\n")
    assert c.read_response().startswith(b"+")
    d.ok("RENAME Before After")
    (line,) = read_until(c, lambda r: r.startswith(b"* LIST"))
    assert line == b'* LIST () "/" After ("OLDNAME" (Before))', line
    c.send(b"DONE\r\n")
    assert c.read_tagged("i2").status == "OK"
    # Another user's mailboxes are none of this session's business.
    other = imap_server.new_user("nt")
    e = imap_connect(imap_server, *other)
    e.ok("CREATE Before")
    e.logout()
    assert c.ok("NOOP").data("LIST") == []
    d.logout()
    c.logout()


def test_notify_on_other_loops(make_server):
    """Sessions on different loops (connections are dealt to the loops in
    turn) hear of a change made on another loop."""
    srv = make_server(kinds=IMAP_KINDS, extra=["--loops", "3"]).start()
    user = srv.new_user("nl")
    sessions = [imap_connect(srv, *user) for _ in range(3)]
    for s in sessions:
        s.ok("NOTIFY SET (MAILBOXES Shared (MessageNew MessageExpunge))")
    w = imap_connect(srv, *user)
    w.ok("CREATE Shared")
    w.append("Shared", make_message("z"))
    for s in sessions:
        r = s.ok("NOOP")
        # Pushed before the NOOP or with its reply: either way, once.
        st = r.data("STATUS")
        assert len(st) == 1 and b"MESSAGES 1" in st[0], r
    w.logout()
    for s in sessions:
        s.logout()


def _stall_in_fetch(srv, user, c):
    """c runs a FETCH of a large body and reads none of it: its command
    stays under way (output full) until the test reads the reply."""
    body = b"Subject: big\r\n\r\n" + (b"y" * 998 + b"\r\n") * 24000   # 24 MB
    d = imap_connect(srv, *user)
    d.append("Stall", body)
    d.logout()
    c.select("Stall")
    c.send(b"f1 FETCH 1 BODY.PEEK[]\r\n")


def test_lists_piling_up_overflow(imap_server, imap_user):
    """5.8: more mailbox news than the server keeps for a session that
    cannot be written to: * OK [NOTIFICATIONOVERFLOW], then as NOTIFY NONE."""
    c = imap_connect(imap_server, *imap_user)
    c.ok("CREATE Stall")
    c.ok("NOTIFY SET (PERSONAL (MailboxName))")
    _stall_in_fetch(imap_server, imap_user, c)
    d = imap_connect(imap_server, *imap_user)
    for i in range(80):   # 80 LIST lines of about 920 octets > 64 KiB
        d.ok(f"CREATE {'n' * 900}{i}")
    r = c.read_tagged("f1")
    assert r.status == "OK", r
    codes = [u for u in r.untagged if u.startswith(b"* OK [NOTIFICATIONOVERFLOW]")]
    assert len(codes) == 1, [u[:80] for u in r.untagged]
    # As after NOTIFY NONE: nothing more.
    d.ok("CREATE after-overflow")
    assert c.ok("NOOP").data("LIST") == []
    d.logout()
    c.logout()


def test_many_changed_mailboxes_rescan(imap_server, imap_user):
    """More changed mailboxes than a session keeps (256) while it cannot be
    written to: it rescans its mailboxes once and tells each that changed."""
    c = imap_connect(imap_server, *imap_user)
    c.ok("CREATE Stall")
    d = imap_connect(imap_server, *imap_user)
    for i in range(300):
        d.ok(f"CREATE R/{i}")
    c.ok("NOTIFY SET (SUBTREE R (MessageNew MessageExpunge))")
    _stall_in_fetch(imap_server, imap_user, c)
    for i in range(300):
        d.append(f"R/{i}", make_message(f"r {i}"))
    r = c.read_tagged("f1")
    assert r.status == "OK", r
    st = [u for u in r.untagged if u.startswith(b"* STATUS")]
    names = sorted(status_items(u)[0] for u in st)
    # R itself (made by CREATE R/0) was never told of, so the rescan
    # cannot know it did not change, and tells it too.
    assert [n for n in names if n != b"R"] == sorted(f"R/{i}".encode() for i in range(300)), \
        len(names)
    d.logout()
    c.logout()


def test_subscribed_filter_follows_subscriptions(imap_server, imap_user):
    """6.4: SUBSCRIBED is the list as it is when the change happens
    ("the server MUST reevaluate the list")."""
    c = imap_connect(imap_server, *imap_user)
    c.ok("CREATE Sub1")
    c.ok("CREATE Unsub1")
    c.ok("SUBSCRIBE Sub1")
    c.ok("NOTIFY SET (SUBSCRIBED (MessageNew MessageExpunge))")
    d = imap_connect(imap_server, *imap_user)
    d.append("Unsub1", make_message("u"))
    d.append("Sub1", make_message("s"))
    d.ok("NOOP")
    st = c.ok("NOOP").data("STATUS")
    assert [status_items(b"* STATUS " + x)[0] for x in st] == [b"Sub1"], st
    d.ok("SUBSCRIBE Unsub1")
    d.ok("UNSUBSCRIBE Sub1")
    d.append("Unsub1", make_message("u2"))
    d.append("Sub1", make_message("s2"))
    d.ok("NOOP")
    st = c.ok("NOOP").data("STATUS")
    assert [status_items(b"* STATUS " + x)[0] for x in st] == [b"Unsub1"], st
    d.logout()
    c.logout()


def test_metadata_on_other_loops(make_server):
    """RFC 5465 5.6, 5.7: a SETMETADATA on one loop reaches NOTIFY sessions
    on every loop as * METADATA (entry names, no values)."""
    srv = make_server(kinds=IMAP_KINDS, extra=["--loops", "3"]).start()
    user = srv.new_user("nm")
    sessions = [imap_connect(srv, *user) for _ in range(3)]
    for s in sessions:
        s.ok("NOTIFY SET (PERSONAL (MailboxMetadataChange ServerMetadataChange))")
    w = imap_connect(srv, *user)
    w.ok('SETMETADATA INBOX (/private/comment "c" /shared/comment "d")')
    w.ok('SETMETADATA "" (/private/comment "s")')
    for s in sessions:
        # Pushed between commands, in the order of the changes.
        seen = read_until(s, lambda r: r.startswith(b'* METADATA ""'))
        assert seen == [b"* METADATA INBOX /private/comment /shared/comment",
                        b'* METADATA "" /private/comment'], seen
    w.logout()
    for s in sessions:
        s.logout()


def test_metadata_piling_up_overflow(imap_server, imap_user):
    """5.8: METADATA news share the bound of LIST news: past it, a session
    that cannot be written to gets NOTIFICATIONOVERFLOW, then nothing."""
    c = imap_connect(imap_server, *imap_user)
    c.ok("CREATE Stall")
    c.ok("NOTIFY SET (PERSONAL (MailboxMetadataChange))")
    _stall_in_fetch(imap_server, imap_user, c)
    d = imap_connect(imap_server, *imap_user)
    entry = "/private/vendor/acme/" + "e" * 230
    for i in range(300):   # 300 METADATA lines of about 270 octets > 64 KiB
        d.ok(f'SETMETADATA Stall ({entry} "{i}")')
    r = c.read_tagged("f1")
    assert r.status == "OK", r
    codes = [u for u in r.untagged if u.startswith(b"* OK [NOTIFICATIONOVERFLOW]")]
    assert len(codes) == 1, [u[:80] for u in r.untagged]
    # What was waiting goes with the set (5.8: the client resyncs).
    assert [u for u in r.untagged if u.startswith(b"* METADATA")] == []
    # As after NOTIFY NONE: nothing more.
    d.ok('SETMETADATA Stall (/private/comment "after")')
    assert c.ok("NOOP").data("METADATA") == []
    d.logout()
    c.logout()


def test_message_new_fetch_equals_fetch(imap_server, imap_user):
    # RFC 5465 5.2: MessageNew's fetch-atts are FETCH data; the unsolicited
    # response must carry, item for item, what FETCH of the same items
    # says (both are written by imap_fetch_item.c and imap_fetch_body.c).
    items = ("FLAGS UID RFC822.SIZE INTERNALDATE ENVELOPE BODY BODYSTRUCTURE MODSEQ "
             "EMAILID THREADID SAVEDATE BODY.PEEK[HEADER.FIELDS (Subject)] "
             "BINARY.SIZE[1] BODY.PEEK[1]<0.5>")
    c = imap_connect(imap_server, *imap_user)
    c.select("INBOX")
    c.ok(f"NOTIFY SET (SELECTED (MessageNew ({items}) MessageExpunge))")
    other = imap_connect(imap_server, *imap_user)
    msg = make_message("notify fetch", body=(
        b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\naGVsbG8gd29ybGQ=\r\n"
        b"--b\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n--b--\r\n"),
        extra_headers=("MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="b"'))
    other.append("INBOX", msg, flags=[r"\Flagged", "$Label"])
    other.logout()
    told = c.ok("NOOP").numbered("FETCH")
    assert len(told) == 1, told
    asked = c.ok(f"FETCH {told[0][0]} ({items})").numbered("FETCH")
    assert asked == told
    assert b"BODYSTRUCTURE ((" in told[0][1] and b"EMAILID (" in told[0][1], told
    c.logout()
