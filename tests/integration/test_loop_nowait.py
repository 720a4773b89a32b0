# tests/integration/test_loop_nowait.py: what an event loop must not wait
# for (issue 11 point 1), with a real lock held in the daemon's store by
# another process (tests/tools/store_hold: a transaction that write-locks
# records' pages until the test lets go, as another session's delivery or
# expunge would).  The daemon runs one loop, so a wait on it would hold up
# every session: another session's NOOP must be answered while the lock
# is held, the held-up command must say nothing meanwhile, and it must
# finish, right, once the lock is let go.
import contextlib
import os
import pathlib
import socket
import subprocess
import threading
import time

from helpers import BIN, Server, imap_connect, make_message, split_trace, wait_for

HOLD = os.environ.get("POSTINO_STORE_HOLD") or str(
    pathlib.Path(BIN).parent / "tests" / "tools" / "store_hold")
# Longer than the store's lock timeout (5 s), so that a loop that waited
# for the lock would miss it, and far longer than a free loop takes.
ANSWER_S = 8.0
# Past every key: a read of it write-locks the last leaf page of the
# database, where the newest content's last chunk (its record) is and the
# next delivery's go.
LAST_CHUNK = "be64:18446744073709551615/be32:4294967295"
LAST_META = "be64:18446744073709551615"
NEWEST = ("content_data", LAST_CHUNK, "content_meta", LAST_META)


@contextlib.contextmanager
def one_loop(tmp_path, kinds, sandbox=False):
    srv = Server(tmp_path / "data", sandbox=sandbox, kinds=kinds, extra=["--loops", "1"])
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def assert_no_reply_yet(c):
    """Nothing has come on c: the command still waits for the lock (it
    cannot be answered before the hold lets go)."""
    c.sock.settimeout(0.2)
    try:
        got = c.sock.recv(1, socket.MSG_PEEK)
    except (TimeoutError, socket.timeout):
        got = b""
    finally:
        c.sock.settimeout(ANSWER_S)
    assert got == b"", "answered while the lock was held"


def hold(srv, *db_keys):
    """store_hold on srv's data directory (DB, KEY, ...): held on return."""
    p = subprocess.Popen([HOLD, str(srv.data_dir), *db_keys], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = p.stdout.readline()
    if line != b"held\n":
        p.kill()
        raise AssertionError((line, p.stderr.read()))
    return p


def release(p):
    p.stdin.close()
    assert p.wait(timeout=30) == 0, p.stderr.read()


def while_held(srv, holds, waiting, start, other_noop):
    """Sends start on waiting while store_hold holds `holds` (DB, KEY,
    ...): other_noop() (another session's NOOP) is answered meanwhile, and
    waiting hears nothing until the hold goes."""
    p = hold(srv, *holds)
    try:
        waiting.sock.settimeout(ANSWER_S)
        waiting.send(start)
        other_noop()   # the loop is free while the command waits
        assert_no_reply_yet(waiting)
    finally:
        release(p)


def imap_noop(c):
    c.sock.settimeout(ANSWER_S)
    return lambda: c.ok("NOOP")


def test_sandbox_first_login_does_not_hold_the_loop(tmp_path):
    with one_loop(tmp_path, ("imap",), sandbox=True) as srv:
        other = imap_connect(srv, "other", "any")   # made before the lock
        other.select("INBOX")
        newcomer = imap_connect(srv)
        # A first login makes the user; its id comes from this counter.
        while_held(srv, ("meta", "str:next_user_id"), newcomer, b"a1 LOGIN newcomer secret\r\n",
                   imap_noop(other))
        r = newcomer.read_tagged("a1")
        assert r.status == "OK", r
        newcomer.select("INBOX")
        assert "auth ok user=newcomer@" in srv.stderr()


def test_postmaster_first_mail_does_not_hold_the_loop(tmp_path):
    # smtp.postmaster's mailbox is made on its first mail: by RCPT when no
    # lock is in the way, else by the delivery (on a worker if it waits).
    with one_loop(tmp_path, ("smtp", "pop3")) as srv:
        c = srv.smtp()
        other = srv.smtp()
        other.sock.settimeout(ANSWER_S)
        msg = make_message("first postmaster mail")

        def noop_after_data():
            # RCPT answered at once; the delivery is what waits
            r = c.smtp_reply()
            assert (r.code, r.enhanced) == (250, "2.1.5"), r
            assert c.smtp_cmd("DATA").code == 354
            c.send(msg + b".\r\n")
            assert other.smtp_cmd("NOOP").code == 250

        assert c.smtp_cmd("MAIL FROM:<reporter@example.org>").code == 250
        while_held(srv, ("meta", "str:next_user_id"), c, b"RCPT TO:<Postmaster>\r\n",
                   noop_after_data)
        assert c.smtp_reply().code == 250
        c.smtp_quit()
        assert srv.wait_log("postmaster mailbox left to the delivery user=postmaster@localhost")
        r = srv.cli("user", "passwd", "postmaster@localhost", input="pm-pass\n")
        assert r.returncode == 0, r.stderr
        (got,) = srv.retr_all("postmaster@localhost", "pm-pass")
        assert split_trace(got, "reporter@example.org") == msg


def test_replace_does_not_hold_the_loop(tmp_path):
    # REPLACE stores the new message (a content id from this counter) and
    # expunges the old one in one transaction: on a worker while the
    # counter is held, the loop free meanwhile, the reply as RFC 8508 says.
    with one_loop(tmp_path, ("imap",)) as srv:
        c = imap_connect(srv, *srv.new_user("repl"))
        r = c.cmd_sync(["APPEND INBOX (\\Draft) ", make_message("the draft")])
        assert r.status == "OK", r
        c.select("INBOX")
        other = imap_connect(srv, *srv.new_user("other"))
        new = make_message("the message sent")
        while_held(srv, ("meta", "str:next_content_id"), c,
                   b"r1 UID REPLACE 1 INBOX (\\Seen $Forwarded) {%d+}\r\n" % len(new) + new
                   + b"\r\n", imap_noop(other))
        r = c.read_tagged("r1")
        assert r.status == "OK", r
        assert any(b"APPENDUID" in u for u in r.untagged), r.untagged
        assert r.data("EXPUNGE"), r.untagged
        (got,) = c.ok("UID FETCH 1:* (FLAGS BODY.PEEK[])").untagged
        assert b"the message sent" in got and b"the draft" not in got, got
        assert b"$Forwarded" in got and b"\\Seen" in got, got


def test_genurlauth_and_resetkey_do_not_hold_the_loop(tmp_path):
    # A mailbox's first GENURLAUTH makes its access key: with the keys'
    # page held (a fresh store has one), a worker makes it and the
    # command starts over, its answer as usual.
    with one_loop(tmp_path, ("imap",)) as srv:
        user = srv.new_user("key")
        c = imap_connect(srv, *user)
        other = imap_connect(srv, *srv.new_user("other"))
        local, dom = user[0].split("@")
        assert c.cmd_sync(["APPEND INBOX ", make_message("to share")]).status == "OK"
        rump = f"imap://{local}@{dom}/INBOX/;uid=1;urlauth=anonymous"
        while_held(srv, ("urlauth", "str:any"), c,
                   f'g1 GENURLAUTH "{rump}" INTERNAL\r\n'.encode(), imap_noop(other))
        r = c.read_tagged("g1")
        assert r.status == "OK", r
        (url,) = r.data("GENURLAUTH")
        assert url.decode().strip('"').startswith(rump + ":internal:"), url
        # The key it made is the one a second GENURLAUTH uses.
        assert c.ok(f'GENURLAUTH "{rump}" INTERNAL').data("GENURLAUTH") == [url]
        # RESETKEY replaces it, the same way.
        while_held(srv, ("urlauth", "str:any"), c, b"k1 RESETKEY INBOX INTERNAL\r\n",
                   imap_noop(other))
        r = c.read_tagged("k1")
        assert r.status == "OK", r
        assert c.ok(f'GENURLAUTH "{rump}" INTERNAL').data("GENURLAUTH") != [url]


def test_setmetadata_does_not_hold_the_loop(tmp_path):
    # SETMETADATA locks its user's record (the owner of the entries) first.
    with one_loop(tmp_path, ("imap",)) as srv:
        user = srv.new_user("meta")
        c = imap_connect(srv, *user)
        other = imap_connect(srv, *srv.new_user("other"))
        while_held(srv, ("users_by_id", "uid:" + user[0]), c,
                   b'm1 SETMETADATA "" (/private/comment "set while locked")\r\n',
                   imap_noop(other))
        r = c.read_tagged("m1")
        assert r.status == "OK", r
        r = c.ok('GETMETADATA "" /private/comment')
        assert b"set while locked" in r.untagged[0], r.untagged


def deliver_twenty(srv, user):
    """Twenty messages to user; the newest one chunk long, so that all of
    it is on the last page."""
    sent = []
    c = srv.smtp()
    for i in range(20):
        msg = make_message(f"newest {i}", body=(b"line %d\r\n" % i) * (300 if i < 19 else 40))
        c.smtp_deliver("s@example.org", [user], msg)
        sent.append(msg)
    c.smtp_quit()
    return sent


def newest_imap(srv, prefix):
    """A user with deliver_twenty's messages, a session of it with INBOX
    selected, and another user's session: (user, sent, session, other)."""
    user = srv.new_user(prefix)
    sent = deliver_twenty(srv, user[0])
    m = imap_connect(srv, *user)
    m.select("INBOX")
    return user, sent, m, imap_connect(srv, *srv.new_user("other"))


def test_retr_of_the_newest_message_does_not_hold_the_loop(tmp_path):
    with one_loop(tmp_path, ("smtp", "pop3")) as srv:
        user, pw = srv.new_user("pop")
        sent = deliver_twenty(srv, user)
        p = srv.pop3(user, pw)
        other = srv.pop3(*srv.new_user("other"))
        other.sock.settimeout(ANSWER_S)
        # pipelined: the NOOP waits its turn
        while_held(srv, NEWEST, p, b"RETR 20\r\nNOOP\r\n",
                   lambda: other.pop3_ok("NOOP"))
        assert p.pop3_status().startswith("+OK")
        got = p.pop3_multi()
        assert p.pop3_status().startswith("+OK")   # the NOOP, after it
        assert split_trace(got, "s@example.org") == sent[19]
        # Every other message reads too (their pages were not held).
        for i in (1, 10):
            assert split_trace(p.pop3_retr(i), "s@example.org") == sent[i - 1]
        p.pop3_quit()


def test_fetch_of_the_newest_message_does_not_hold_the_loop(tmp_path):
    # A client told of a new message fetches it at once: its pages are
    # where the next delivery writes.  Its header, its structure and its
    # body are read without waiting on the loop.
    with one_loop(tmp_path, ("smtp", "imap")) as srv:
        user, sent, m, other = newest_imap(srv, "imapnew")
        for items in ("BODY.PEEK[HEADER.FIELDS (SUBJECT)]", "BODYSTRUCTURE",
                      "BODY.PEEK[]", "BODY.PEEK[TEXT]<10.20>", "UID PREVIEW"):
            # PREVIEW: the record free, so that the open passes and
            # PREVIEW's own read (after UID) finds the chunks held.
            held = NEWEST[:2] if items == "UID PREVIEW" else NEWEST
            while_held(srv, held, m, b"f1 FETCH 20 (" + items.encode() + b")\r\n",
                       imap_noop(other))
            r = m.read_tagged("f1")
            assert r.status == "OK", (items, r)
            (got,) = r.untagged
            if items == "BODY.PEEK[]":
                body = got[got.index(b"}\r\n") + 3:-1]
                assert split_trace(body, "s@example.org") == sent[19], got[-200:]
            elif items.startswith("BODY.PEEK[HEADER"):
                assert b"Subject: newest 19" in got, got
            elif items.startswith("BODY.PEEK[TEXT]"):
                assert b"{20}\r\n" + sent[19].split(b"\r\n\r\n", 1)[1][10:30] in got, got
            elif items == "UID PREVIEW":
                assert b'PREVIEW "line 19' in got, got
            else:
                assert b"BODYSTRUCTURE (" in got, got
        # SEARCH and SORT read what their keys need the same way.
        for cmd, want in ((b'SEARCH 18:20 BODY "line 19"', b"* SEARCH 20"),
                          (b"SORT (REVERSE SUBJECT) UTF-8 19:20", b"* SORT 20 19")):
            while_held(srv, NEWEST, m, b"s1 " + cmd + b"\r\n", imap_noop(other))
            r = m.read_tagged("s1")
            assert r.status == "OK", (cmd, r)
            assert r.untagged == [want], (cmd, r.untagged)
        # The older messages were never held.
        assert len(m.ok("FETCH 1:19 (BODY.PEEK[])").untagged) == 19


def test_urlfetch_of_the_newest_message_does_not_hold_the_loop(tmp_path):
    with one_loop(tmp_path, ("smtp", "imap")) as srv:
        user, sent, m, other = newest_imap(srv, "url")
        local, dom = user[0].split("@")
        rump = f"imap://{local}@{dom}/INBOX/;uid=20;urlauth=authuser"
        r = m.ok(f'GENURLAUTH "{rump}" INTERNAL')
        url = r.data("GENURLAUTH")[0].decode().strip('"')
        while_held(srv, NEWEST, m, f'u1 URLFETCH "{url}"\r\n'.encode(), imap_noop(other))
        r = m.read_tagged("u1")
        assert r.status == "OK", r
        (data,) = r.data("URLFETCH")
        body = data[data.index(b"}\r\n") + 3:]
        assert split_trace(body, "s@example.org") == sent[19]


def test_notify_fetch_of_a_new_message_does_not_hold_the_loop(tmp_path):
    # NOTIFY's MessageNew (fetch-att) reads the message just delivered,
    # whose pages the next delivery writes.  Made deterministic: the
    # session's SETMETADATA waits on a worker (its user's record held)
    # while a message arrives; the newest content's pages are held before
    # SETMETADATA may end, so that its completion's sync (EXISTS, then the
    # FETCH) finds them held.  The FETCH follows once they are let go.
    with one_loop(tmp_path, ("smtp", "imap")) as srv:
        user = srv.new_user("notify")
        m = imap_connect(srv, *user)
        m.select("INBOX")
        m.ok("NOTIFY SET (SELECTED (MessageNew (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)]) "
             "MessageExpunge))")
        other = imap_connect(srv, *srv.new_user("other"))
        other.sock.settimeout(ANSWER_S)
        first = hold(srv, "users_by_id", "uid:" + user[0])
        m.send(b'm1 SETMETADATA "" (/private/comment "x")\r\n')
        c = srv.smtp()
        msg = make_message("told by notify")
        c.smtp_deliver("s@example.org", [user[0]], msg)
        c.smtp_quit()

        def let_setmetadata_end():
            release(first)
            r = m.read_tagged("m1")
            assert r.status == "OK", r
            assert r.data("EXISTS"), r.untagged
            assert not r.data("FETCH"), r.untagged   # its pages are held
            other.ok("NOOP")

        while_held(srv, NEWEST, m, b"", let_setmetadata_end)
        line = m.read_response()
        assert line.startswith(b"* 1 FETCH (UID 1 BODY[HEADER.FIELDS (SUBJECT)] {"), line
        assert b"Subject: told by notify" in line, line

        # Again, but the worker comes back while another command runs:
        # the FETCH is owed to that command's completion, before its OK.
        first = hold(srv, "users_by_id", "uid:" + user[0])
        m.send(b'm2 SETMETADATA "" (/private/comment "y")\r\n')
        c = srv.smtp()
        c.smtp_deliver("s@example.org", [user[0]], make_message("told later"))
        c.smtp_quit()
        newest = hold(srv, *NEWEST)
        release(first)
        r = m.read_tagged("m2")
        assert r.status == "OK" and r.data("EXISTS") and not r.data("FETCH"), r.untagged
        third = hold(srv, "users_by_id", "uid:" + user[0])
        m.send(b'm3 SETMETADATA "" (/private/comment "z")\r\n')
        release(newest)   # the worker is back while m3 waits
        other.ok("NOOP")
        assert_no_reply_yet(m)
        release(third)
        r = m.read_tagged("m3")
        assert r.status == "OK", r
        # (before m3's OK when the worker was back first, as a rule; else
        # right after it)
        fetches = [b"2 FETCH " + f for f in r.data("FETCH")] or [m.read_response()[2:]]
        assert len(fetches) == 1, fetches
        assert fetches[0].startswith(b"2 FETCH (UID 2 BODY[HEADER.FIELDS (SUBJECT)] {"), fetches
        assert b"told later" in fetches[0], fetches



def test_catenate_of_the_newest_message_does_not_hold_the_loop(tmp_path):
    # APPEND and REPLACE put a CATENATE URL's octets together before
    # anything is stored: when its message's pages are held, a worker
    # waits for them and the command starts over.
    with one_loop(tmp_path, ("smtp", "imap")) as srv:
        user, sent, m, other = newest_imap(srv, "cat")
        head = b"X-Forwarded: yes\r\n"
        start = (b"c1 APPEND INBOX CATENATE (TEXT {%d+}\r\n" % len(head) + head
                 + b' URL "/INBOX/;UID=20/;SECTION=TEXT")\r\n')
        while_held(srv, NEWEST, m, start, imap_noop(other))
        r = m.read_tagged("c1")
        assert r.status == "OK", r
        (got,) = m.ok("FETCH 21 (BODY.PEEK[])").untagged
        text = sent[19].split(b"\r\n\r\n", 1)[1]
        assert got.endswith(head + text + b")"), got[-120:]
        # REPLACE with CATENATE: the same, then the store's own part.
        start = (b"r1 UID REPLACE 21 INBOX CATENATE (TEXT {%d+}\r\n" % len(head) + head
                 + b' URL "/INBOX/;UID=20/;SECTION=TEXT")\r\n')
        while_held(srv, NEWEST, m, start, imap_noop(other))
        r = m.read_tagged("r1")
        assert r.status == "OK", r
        assert r.data("EXPUNGE"), r.untagged


def test_context_updates_do_not_hold_the_loop(tmp_path):
    # An updating context (RFC 5267 4.3) reads each changed message its
    # program needs the contents of: BODY here, SORT's keys for a message
    # that joins.  With the newest message's pages held, a flag change on
    # it is told (its FETCH) at once in IDLE; the ADDTOs follow when the
    # hold goes, the loop free meanwhile.
    with one_loop(tmp_path, ("smtp", "imap")) as srv:
        user, sent, m, other = newest_imap(srv, "ctx")
        r = m.cmd('UID SEARCH RETURN (UPDATE) FLAGGED BODY "line 19"', tag="t1")
        assert r.status == "OK" and r.data("ESEARCH") == [b'(TAG "t1") UID'], r
        r = m.cmd("UID SORT RETURN (UPDATE) (SUBJECT) UTF-8 FLAGGED", tag="t2")
        assert r.status == "OK" and r.data("ESEARCH") == [b'(TAG "t2") UID'], r
        m.send(b"i1 IDLE\r\n")
        assert m.read_response().startswith(b"+")
        flagger = imap_connect(srv, *user)
        flagger.select("INBOX")
        p = hold(srv, *NEWEST)
        try:
            flagger.sock.settimeout(ANSWER_S)
            flagger.ok("UID STORE 19:20 +FLAGS.SILENT (\\Flagged)")
            got = sorted(m.read_response() for _ in range(2))
            assert got == [b"* 19 FETCH (FLAGS (\\Flagged \\Recent) UID 19)",
                           b"* 20 FETCH (FLAGS (\\Flagged \\Recent) UID 20)"], got
            other.sock.settimeout(ANSWER_S)
            other.ok("NOOP")   # the loop is free
            assert_no_reply_yet(m)
        finally:
            release(p)
        # Both messages are on the held pages: read again together (the
        # newest context first; only message 20 has "line 19").
        got = [m.read_response() for _ in range(2)]
        assert got == [b'* ESEARCH (TAG "t2") UID ADDTO (1 19 2 20)',
                       b'* ESEARCH (TAG "t1") UID ADDTO (0 20)'], got
        m.send(b"DONE\r\n")
        assert m.read_tagged("i1").status == "OK"
        # Nothing is told twice.
        assert not m.ok("NOOP").untagged


def test_context_update_of_a_new_message_waits_for_the_next_command(tmp_path):
    # A new message whose pages are held when a command's completion tells
    # of it: EXISTS then, its ADDTO with a later command's completion once
    # a worker has waited for them (no IDLE, no NOTIFY).  Made
    # deterministic as the NOTIFY test above is.
    with one_loop(tmp_path, ("smtp", "imap")) as srv:
        user = srv.new_user("ctxnew")
        m = imap_connect(srv, *user)
        m.select("INBOX")
        r = m.cmd('SEARCH RETURN (UPDATE) BODY "told"', tag="t1")
        assert r.status == "OK", r
        other = imap_connect(srv, *srv.new_user("other"))
        other.sock.settimeout(ANSWER_S)
        first = hold(srv, "users_by_id", "uid:" + user[0])
        m.send(b'm1 SETMETADATA "" (/private/comment "x")\r\n')
        c = srv.smtp()
        c.smtp_deliver("s@example.org", [user[0]], make_message("a", body=b"told here\r\n"))
        c.smtp_quit()
        newest = hold(srv, *NEWEST)
        try:
            release(first)
            r = m.read_tagged("m1")
            assert r.status == "OK" and r.data("EXISTS") == [b""], r
            assert not r.data("ESEARCH"), r   # its pages are held
            r = m.ok("NOOP")
            assert not r.data("ESEARCH"), r   # still held
            other.ok("NOOP")
        finally:
            release(newest)
        # The worker is back: the next command's completion tells it.
        other.ok("NOOP")
        r = m.ok("NOOP")
        assert r.data("ESEARCH") == [b'(TAG "t1") ADDTO (0 1)'], r
        assert not m.ok("NOOP").untagged


class Gate:
    """A scripted server's reply that waits for the test: .reached once
    the client's command came, the reply sent once .open() is called."""

    def __init__(self, reply):
        self.reply = reply
        self.reached = threading.Event()
        self.opened = threading.Event()
        self.sess = None

    def __call__(self, sess, arg):
        self.sess = sess
        self.reached.set()
        self.opened.wait(60)
        return self.reply

    def open(self):
        self.opened.set()


def outbound_one_loop(make_server, tmp_path, dns_server, rx):
    from test_outbound import outbound_conf
    dns_server.zone.update({"far.test": {"A": ["127.0.0.1"]}})
    conf = tmp_path / "p.conf"
    conf.write_text('log = { level = "debug"; };\n' + outbound_conf(dns_server, rx.port))
    conf.chmod(0o644)
    return make_server(config=conf, extra=["--loops", "1"]).start()


def held_while_sending(srv, gate, marker):
    """Opens gate with the newest content's pages held: the queue's
    client waits for them without holding the loop (another session's
    NOOP is answered) and sends none of the message (marker) until the
    hold goes."""
    assert gate.reached.wait(20), srv.stderr()
    other = srv.smtp()
    other.sock.settimeout(ANSWER_S)
    p = hold(srv, *NEWEST)
    try:
        gate.open()
        time.sleep(0.2)   # the client had the reply
        assert other.smtp_cmd("NOOP").code == 250   # the loop is free
        time.sleep(0.2)
        assert marker not in b"".join(gate.sess.chunks), "sent while the lock was held"
    finally:
        release(p)


def test_outbound_send_of_the_newest_message_does_not_hold_the_loop(make_server, tmp_path,
                                                                   dns_server, smtp_script):
    # The queue sends what was just submitted: the newest content, whose
    # pages the next delivery writes.  Its reads on the loop do not wait.
    from test_outbound import done, submit
    data = Gate("354 go ahead")
    rx = smtp_script(replies={"DATA": data})
    srv = outbound_one_loop(make_server, tmp_path, dns_server, rx)
    user, pw = srv.new_user("out")
    msg = make_message("sent while held", sender=user, to="x@far.test",
                       body=b"a line of the message\r\n" * 40)
    submit(srv, user, pw, ["x@far.test"], msg)
    held_while_sending(srv, data, b"sent while held")
    assert wait_for(lambda: done(rx), timeout=20), srv.stderr()
    (t,) = done(rx)
    assert t["data"].endswith(msg), t["data"][-200:]
    assert "store busy: its content read waits on a worker" in srv.stderr()


def test_outbound_7bit_form_of_the_newest_message_does_not_hold_the_loop(
        make_server, tmp_path, dns_server, smtp_script):
    # For a server without 8BITMIME the message goes converted (RFC 6152
    # 3): a worker plans the conversion (a pass over the whole message),
    # and the converted form is read as the stored one is.  Both with the
    # newest content's pages held.
    from test_outbound import NO_8BITMIME, done, mixed_8bit, submit
    greeting, data = Gate("220 mx.test ESMTP script"), Gate("354 go ahead")
    rx = smtp_script(ehlo=NO_8BITMIME, replies={"greeting": greeting, "DATA": data})
    srv = outbound_one_loop(make_server, tmp_path, dns_server, rx)
    user, pw = srv.new_user("out8")
    msg = mixed_8bit(user, "x@far.test")
    submit(srv, user, pw, ["x@far.test"], msg, mail_params=" BODY=8BITMIME")
    # the plan (after EHLO): nothing is sent until it is made
    held_while_sending(srv, greeting, b"MAIL FROM")
    held_while_sending(srv, data, b"Subject: 8bit onward")
    assert wait_for(lambda: done(rx), timeout=20), srv.stderr()
    (t,) = done(rx)
    assert all(b < 0x80 for b in t["data"]), t["data"][:300]
    assert b"Subject: 8bit onward\r\n" in t["data"]
    assert t["data"].endswith(b"\r\n--b1--\r\n"), t["data"][-100:]
    log = srv.stderr()
    assert "converted 8bit to 7bit for=" in log and "parts=4" in log, log
    assert "store busy: its content read waits on a worker" in log
