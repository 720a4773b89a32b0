# tests/integration/test_imap_cross.py: one mailbox, three protocols (issue
# 3 item 7): SMTP delivery shows as EXISTS at the next IMAP command and at
# once in IDLE (RFC 2177); an IMAP \Deleted + EXPUNGE is gone from POP3's
# next session; a POP3 DELE committed at QUIT is an EXPUNGE to an IMAP
# session with the mailbox selected; two IMAP sessions see each other's flag
# changes as untagged FETCH (RFC 9051 7.4.1, 7.5.1).
import os
import re

from helpers import ImapConn, fetch_items, imap_connect, make_message, split_trace

SENDER = "cross@example.org"


def deliver(srv, user, n, tag="x"):
    msgs = [make_message(f"{tag} {i}", body=f"cross body {i}\r\n".encode()) for i in range(n)]
    c = srv.smtp()
    for m in msgs:
        c.smtp_deliver(SENDER, [user[0]], m)
    c.smtp_quit()
    return msgs


def idle_start(c, tag="idle1"):
    c.send(f"{tag} IDLE\r\n".encode())
    r = c.read_response()
    assert r.startswith(b"+"), f"IDLE continuation: {r!r}"
    return tag


def idle_done(c, tag):
    c.send(b"DONE\r\n")
    r = c.read_tagged(tag)
    assert r.status == "OK", r
    return r


def test_smtp_delivery_exists_at_next_command(imap_server, imap_user):
    c = imap_connect(imap_server, *imap_user)
    r = c.select("INBOX")
    assert r.numbered("EXISTS") == [(0, b"")]
    (msg,) = deliver(imap_server, imap_user, 1)
    r = c.ok("NOOP")
    assert r.numbered("EXISTS") == [(1, b"")], r
    assert r.numbered("RECENT") == [(1, b"")], r
    f = c.ok("FETCH 1 (BODY.PEEK[] RFC822.SIZE)").fetches()[1]
    assert split_trace(f["BODY[]"], SENDER) == msg
    assert int(f["RFC822.SIZE"]) == len(f["BODY[]"])
    # STATUS of another session, same numbers.
    d = imap_connect(imap_server, *imap_user)
    st = d.ok("STATUS INBOX (MESSAGES)")
    assert st.data("STATUS")[0].upper().endswith(b"(MESSAGES 1)"), st
    d.logout()
    c.logout()


def test_smtp_delivery_during_idle(imap_server, imap_user):
    c = imap_connect(imap_server, *imap_user)
    c.select("INBOX")
    tag = idle_start(c)
    deliver(imap_server, imap_user, 1)
    # Without any command from us: the EXISTS arrives during IDLE.
    r = c.read_response()
    while r.startswith(b"* ") and b"EXISTS" not in r:
        r = c.read_response()
    assert r == b"* 1 EXISTS", r
    idle_done(c, tag)
    c.logout()


def test_imap_expunge_gone_from_pop3(imap_server, imap_user):
    msgs = deliver(imap_server, imap_user, 3)
    c = imap_connect(imap_server, *imap_user)
    c.select("INBOX")
    c.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
    # Only \Deleted: POP3 still has all three (not expunged yet).
    p = imap_server.pop3(*imap_user)
    assert p.pop3_stat()[0] == 3
    p.pop3_quit()
    r = c.ok("EXPUNGE")
    assert r.numbered("EXPUNGE") == [(2, b"")], r
    got = imap_server.retr_all(*imap_user)
    assert [split_trace(g, SENDER) for g in got] == [msgs[0], msgs[2]]
    c.logout()


def test_pop3_dele_quit_is_imap_expunge(imap_server, imap_user):
    msgs = deliver(imap_server, imap_user, 3)
    c = imap_connect(imap_server, *imap_user)
    c.select("INBOX")
    uids = c.ok("FETCH 1:* UID").fetches()
    p = imap_server.pop3(*imap_user)
    p.pop3_ok("DELE 1")
    # Not committed before QUIT: IMAP sees nothing yet.
    r = c.ok("NOOP")
    assert r.numbered("EXPUNGE") == [], r
    p.pop3_quit()
    r = c.ok("NOOP")
    assert r.numbered("EXPUNGE") == [(1, b"")], r
    f = c.ok("FETCH 1:* (UID BODY.PEEK[])").fetches()
    assert [int(f[i]["UID"]) for i in (1, 2)] == [int(uids[2]["UID"]), int(uids[3]["UID"])]
    assert [split_trace(f[i]["BODY[]"], SENDER) for i in (1, 2)] == msgs[1:]
    c.logout()


def test_pop3_dele_quit_during_idle(imap_server, imap_user):
    deliver(imap_server, imap_user, 2)
    c = imap_connect(imap_server, *imap_user)
    c.select("INBOX")
    tag = idle_start(c)
    p = imap_server.pop3(*imap_user)
    p.pop3_ok("DELE 2")
    p.pop3_quit()
    r = c.read_response()
    assert r == b"* 2 EXPUNGE", r
    idle_done(c, tag)
    assert sorted(c.ok("FETCH 1:* UID").fetches()) == [1]
    c.logout()


def test_pop3_dele_without_quit_keeps(imap_server, imap_user):
    deliver(imap_server, imap_user, 1)
    p = imap_server.pop3(*imap_user)
    p.pop3_ok("DELE 1")
    p.close()       # dropped: RFC 1939 6, no UPDATE state
    c = imap_connect(imap_server, *imap_user)
    r = c.select("INBOX")
    assert r.numbered("EXISTS") == [(1, b"")], r
    c.logout()


def test_two_imap_sessions_see_flag_changes(imap_server, imap_user):
    deliver(imap_server, imap_user, 2)
    a = imap_connect(imap_server, *imap_user)
    b = imap_connect(imap_server, *imap_user)
    a.select("INBOX")
    b.select("INBOX")
    a.ok("STORE 1 +FLAGS.SILENT (\\Flagged)")
    r = b.ok("NOOP")
    f = r.fetches()
    assert list(f) == [1], r
    assert {bytes(x) for x in f[1]["FLAGS"]} - {b"\\Recent"} == {b"\\Flagged"}, r
    # And at once while b idles.
    tag = idle_start(b)
    a.ok("STORE 2 +FLAGS.SILENT (\\Seen $Work)")
    r = b.read_response()
    # A new keyword may first be announced (RFC 9051 7.3.5 FLAGS, PERMANENTFLAGS).
    while r.startswith(b"* FLAGS ") or r.startswith(b"* OK [PERMANENTFLAGS"):
        r = b.read_response()
    assert r.startswith(b"* 2 FETCH ("), r
    items = fetch_items(r[len(b"* 2 FETCH "):])
    assert {bytes(x) for x in items["FLAGS"]} - {b"\\Recent"} == {b"\\Seen", b"$Work"}, r
    idle_done(b, tag)
    # b's own non-silent STORE answers b, and a hears of it at its next command.
    b.ok("STORE 1 -FLAGS (\\Flagged)")
    r = a.ok("NOOP")
    f = r.fetches()
    assert list(f) == [1] and {bytes(x) for x in f[1]["FLAGS"]} - {b"\\Recent"} == set(), r
    a.logout()
    b.logout()


def test_imap_append_seen_by_pop3(imap_server, imap_user):
    msg = make_message("appended over imap")
    c = imap_connect(imap_server, *imap_user)
    c.append("INBOX", msg)
    c.logout()
    (got,) = imap_server.retr_all(*imap_user)
    assert got == msg


def test_expunge_not_sent_during_fetch_store_search(imap_server, imap_user):
    deliver(imap_server, imap_user, 3)
    a = imap_connect(imap_server, *imap_user)
    b = imap_connect(imap_server, *imap_user)
    a.select("INBOX")
    b.select("INBOX")
    b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    b.ok("EXPUNGE")
    # RFC 9051 7.5.1: no EXPUNGE while answering FETCH, STORE or SEARCH
    # (without UID): a's sequence numbers must stay as they were.
    for cmd in ("FETCH 1:* UID", "STORE 3 +FLAGS.SILENT (\\Flagged)", "SEARCH ALL"):
        r = a.cmd(cmd)
        assert r.status in ("OK", "NO"), f"{cmd}: {r}"
        assert r.numbered("EXPUNGE") == [], f"{cmd}: {r}"
    r = a.ok("SEARCH FLAGGED")
    assert r.data("SEARCH") == [b"3"], r
    # A UID command or NOOP may, and must eventually, send it.
    r = a.ok("NOOP")
    assert r.numbered("EXPUNGE") == [(1, b"")], r
    f = a.ok("FETCH 1:* (UID FLAGS)").fetches()
    assert sorted(f) == [1, 2] and [int(f[i]["UID"]) for i in (1, 2)] == [2, 3]
    assert b"\\Flagged" in f[2]["FLAGS"]
    a.logout()
    b.logout()


def test_expunge_while_another_session_streams_the_body(imap_server, imap_user):
    # A FETCH has announced a 12 MB literal and the client is slow to read
    # it; meanwhile another session expunges the message.  The literal must
    # still arrive whole (the content is pinned until it is sent), and the
    # reader then hears of the expunge at its next command.
    line = os.urandom(38).hex().encode() + b"\r\n"
    msg = make_message("streamed", body=line * (12 * 1024 * 1024 // len(line)))
    a = imap_connect(imap_server, *imap_user)
    b = imap_connect(imap_server, *imap_user)
    a.ok("CREATE stream")
    a.append("stream", msg)
    a.select("stream")
    b.select("stream")
    a.send(b"f1 FETCH 1 BODY.PEEK[]\r\n")
    head = a.readline().rstrip(b"\r\n")     # "* 1 FETCH (BODY[] {n}": the length is out
    assert head.endswith(b"{%d}" % len(msg)), head
    b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    r = b.ok("EXPUNGE")
    assert r.numbered("EXPUNGE") == [(1, b"")], r
    while len(a.buf) < len(msg):
        a._fill()
    assert bytes(a.buf[:len(msg)]) == msg
    del a.buf[:len(msg)]
    assert a.readline() == b")\r\n"
    r = a.read_tagged("f1")
    assert r.status == "OK", r
    r = a.ok("NOOP")
    assert r.numbered("EXPUNGE") == [(1, b"")], r
    # And the bytes are gone once nobody reads them: a new session finds an
    # empty mailbox.
    st = a.ok("STATUS stream (MESSAGES SIZE)")
    assert b"MESSAGES 0" in st.untagged[0] and b"SIZE 0" in st.untagged[0], st


def test_pop3_retr_marks_seen_top_does_not(imap_server, imap_user):
    # As Dovecot's POP3: a RETR reads the message, so IMAP sees it \Seen (with
    # a new MODSEQ, at once in IDLE); TOP only peeks.
    msgs = deliver(imap_server, imap_user, 3)
    c = imap_connect(imap_server, *imap_user)
    r = c.ok("SELECT INBOX (CONDSTORE)")
    h0 = int(re.search(rb"\[HIGHESTMODSEQ (\d+)\]", b"\n".join(r.untagged)).group(1))
    p = imap_server.pop3(*imap_user)
    uidl = p.pop3_uidl()
    p.pop3_ok("TOP 1 0")
    p.pop3_multi()
    p.pop3_ok("NOOP")
    r = c.ok("NOOP")
    assert r.fetches() == {}, r
    tag = idle_start(c)
    assert split_trace(p.pop3_retr(2), SENDER) == msgs[1]
    r = c.read_response()
    assert r.startswith(b"* 2 FETCH ("), r
    items = fetch_items(r[len(b"* 2 FETCH "):])
    assert b"\\Seen" in {bytes(x) for x in items["FLAGS"]}, r
    assert int(items["MODSEQ"][0]) > h0, r
    modseq2 = int(items["MODSEQ"][0])
    idle_done(c, tag)
    # Pipelined after a RETR: answered in turn, the POP3 state untouched.
    p.send("RETR 3\r\nRETR 2\r\nUIDL\r\nSTAT\r\n")
    for i in (3, 2):
        assert p.pop3_status().startswith("+OK"), i
        assert split_trace(p.pop3_multi(), SENDER) == msgs[i - 1]
    assert p.pop3_status().startswith("+OK")
    assert {int(n): u for n, u in (ln.split() for ln in p.pop3_multi().decode().split("\r\n")
                                   if ln)} == uidl
    assert p.pop3_status().startswith("+OK 3 ")
    p.pop3_quit()
    d = imap_connect(imap_server, *imap_user)
    d.ok("EXAMINE INBOX")
    f = d.ok("FETCH 1:* FLAGS").fetches()
    seen = {n for n, v in f.items() if b"\\Seen" in {bytes(x) for x in v["FLAGS"]}}
    assert seen == {2, 3}, f
    # The second RETR of 2 found it \Seen: no change, no new MODSEQ.
    f = d.ok("FETCH 2 (MODSEQ)").fetches()
    assert int(f[2]["MODSEQ"][0]) == modseq2, f
    st = d.ok("STATUS INBOX (UNSEEN)")
    assert st.data("STATUS")[0].upper().endswith(b"(UNSEEN 1)"), st
    d.logout()
    c.logout()


def test_pop3_retr_after_imap_expunge(imap_server, imap_user):
    # The POP3 session's maildrop is the one it locked at login (RFC 1939
    # 4): a message IMAP expunges meanwhile is still listed, and RETR
    # serves it while its content lives (a copy in another mailbox keeps
    # it).  Once the content is gone RETR says so, -ERR with no +OK before
    # it, and the session goes on.
    msgs = deliver(imap_server, imap_user, 3, tag="gone")
    c = imap_connect(imap_server, *imap_user)
    c.ok("CREATE Keep")
    c.select("INBOX")
    c.ok("COPY 2 Keep")
    p = imap_server.pop3(*imap_user)
    assert p.pop3_stat()[0] == 3
    c.ok("STORE 1:2 +FLAGS.SILENT (\\Deleted)")
    c.ok("EXPUNGE")
    r = p.pop3_cmd("RETR 1")
    assert r.startswith("-ERR [SYS/PERM]"), r
    assert split_trace(p.pop3_retr(2), SENDER) == msgs[1]
    r = p.pop3_cmd("TOP 1 0")
    assert r.startswith("-ERR [SYS/PERM]"), r
    assert split_trace(p.pop3_retr(3), SENDER) == msgs[2]
    assert p.pop3_stat()[0] == 3
    p.pop3_quit()
    # The copy is as it was; INBOX has the one left, read.
    c.ok("EXAMINE Keep")
    f = c.ok("FETCH 1 (FLAGS BODY.PEEK[])").fetches()
    assert b"\\Seen" not in {bytes(x) for x in f[1]["FLAGS"]}, f
    c.ok("EXAMINE INBOX")
    f = c.ok("FETCH 1:* FLAGS").fetches()
    assert list(f) == [1] and b"\\Seen" in {bytes(x) for x in f[1]["FLAGS"]}, f
    c.logout()


def seen_set(srv, user):
    d = imap_connect(srv, *user)
    d.ok("EXAMINE INBOX")
    f = d.ok("FETCH 1:* FLAGS").fetches()
    d.logout()
    return {n for n, v in f.items() if b"\\Seen" in {bytes(x) for x in v["FLAGS"]}}


def test_pop3_quit_reply_waits_for_seen_batches(make_server, tmp_path):
    # Full batches of RETR's \Seen marks are written by a worker while the
    # session goes on (pop3_store_job.c).  QUIT's +OK waits for them: a
    # client that reads its mail by POP3 and then looks by IMAP finds every
    # message read, without polling.  The one worker is kept busy with
    # failed logins (each a full password hash) while the batches queue
    # behind them, so a +OK that did not wait would come first.
    import threading
    conf = tmp_path / "one-worker.conf"
    conf.write_text("workers = 1;\n")
    srv = make_server(kinds=("smtp", "pop3", "imap"), config=conf).start()
    user = srv.new_user("seenq")
    warm = imap_connect(srv, *user)   # its login is cached from now on
    warm.logout()
    warm.close()
    n = 2 * 256
    deliver(srv, user, n)
    def fail_login(k):
        # Only the hash matters here, not the (throttled) answer.
        c = ImapConn.connect(srv.ports["imap"])
        try:
            c.read_greeting()
            c.send(f'F1 LOGIN "nobody{k}@localhost" "wrong-password"\r\n'.encode())
            c.read_tagged("F1")
        except OSError:
            pass
        finally:
            c.close()

    hashers = [threading.Thread(target=fail_login, args=(k,)) for k in range(40)]
    for t in hashers:
        t.start()
    p = srv.pop3(*user)
    p.send("".join(f"RETR {i}\r\n" for i in range(1, n + 1)) + "QUIT\r\n")
    for i in range(1, n + 1):
        assert p.pop3_status().startswith("+OK"), i
        p.pop3_multi()
    assert p.pop3_status().startswith("+OK"), "QUIT"
    p.close()
    assert seen_set(srv, user) == set(range(1, n + 1))
    for t in hashers:
        t.join()


def test_pop3_seen_kept_without_quit_and_in_batches(imap_server, imap_user):
    # RETR's \Seen marks are committed in batches (pop3_cmd_retr.c): a
    # pipelined run of more RETRs than one batch holds marks them all, and a
    # session that ends without QUIT keeps its read state (as Dovecot), while
    # its DELE is forgotten (RFC 1939 6).
    import time
    msgs = deliver(imap_server, imap_user, 300)
    p = imap_server.pop3(*imap_user)
    p.send("".join(f"RETR {i}\r\n" for i in range(1, 301)) + "DELE 1\r\n")
    for i in range(1, 301):
        assert p.pop3_status().startswith("+OK"), i
        assert split_trace(p.pop3_multi(), SENDER) == msgs[i - 1]
    assert p.pop3_status().startswith("+OK")
    p.close()
    want = set(range(1, 301))
    deadline = time.monotonic() + 10
    while seen_set(imap_server, imap_user) != want and time.monotonic() < deadline:
        time.sleep(0.05)
    assert seen_set(imap_server, imap_user) == want
    st = imap_connect(imap_server, *imap_user)
    r = st.ok("STATUS INBOX (MESSAGES)")
    assert r.data("STATUS")[0].upper().endswith(b"(MESSAGES 300)"), r
    st.logout()
