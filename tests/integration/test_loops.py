# tests/integration/test_loops.py: the daemon's event loops (issue 11 point
# 1, docs/architecture.md "Loops").  Connections are handed to the loops in
# turn, so N consecutive connections land on N different loops; each test
# checks from the log that its sessions really are spread over every loop
# before it checks what crosses them: the change feed (a delivery made on one
# loop wakes IDLE sessions on all of them), POP3's maildrop lock, and a
# shutdown that lets deliveries in flight on every loop finish.
import re
import select
import signal
import time

from helpers import IMAP_KINDS, dot_stuff, imap_connect, make_message

LOOPS = 4
CONNECTED_RE = re.compile(r"session=(\w+) (\w+) connected .* loop=(\d+)")


def loops_of(srv, kind):
    """The loop of each `kind` session connected so far, in order."""
    return [int(m.group(3)) for m in CONNECTED_RE.finditer(srv.stderr()) if m.group(2) == kind]


def spread(srv, kind):
    """The set of loops `kind` sessions are on, once every loop has one (the
    log is read by another thread: give its last lines a moment)."""
    deadline = time.monotonic() + 10
    while True:
        loops = set(loops_of(srv, kind))
        if len(loops) == LOOPS or time.monotonic() > deadline:
            return loops


def deliver_many(srv, user, n, tag, body=None):
    """n messages to user over one SMTP session."""
    s = srv.smtp()
    for i in range(n):
        s.smtp_deliver("a@example.org", [user[0]], make_message(f"{tag} {i}", body=body))
    s.smtp_quit()


def start(make_server, **kw):
    srv = make_server(extra=["--loops", str(LOOPS)], **kw).start()
    assert f"loops={LOOPS}" in srv.stderr(), srv.stderr()
    return srv


def test_delivery_wakes_idle_sessions_on_every_loop(make_server):
    srv = start(make_server, kinds=IMAP_KINDS)
    user = srv.new_user("loops")
    sessions = []
    for _ in range(2 * LOOPS):
        c = imap_connect(srv, *user)
        r = c.select("INBOX")
        assert r.numbered("EXISTS") == [(0, b"")]
        c.send(b"i1 IDLE\r\n")
        assert c.read_response().startswith(b"+")
        sessions.append(c)
    assert spread(srv, "imap") == set(range(LOOPS)), srv.stderr()
    # The delivery's session is on one loop; every IDLE hears of it at once.
    s = srv.smtp()
    s.smtp_deliver("a@example.org", [user[0]], make_message("to every loop"))
    s.smtp_quit()
    for c in sessions:
        r = c.read_response()
        while b"EXISTS" not in r:
            r = c.read_response()
        assert r == b"* 1 EXISTS", r
        c.send(b"DONE\r\n")
        assert c.read_tagged("i1").status == "OK"
    # A flag set on one loop reaches the IDLE sessions of the others.
    for c in sessions[1:]:
        c.send(b"i2 IDLE\r\n")
        assert c.read_response().startswith(b"+")
    sessions[0].ok("STORE 1 +FLAGS (\\Flagged)")
    for c in sessions[1:]:
        r = c.read_response()
        while b"FETCH" not in r:
            r = c.read_response()
        assert b"\\Flagged" in r, r
        c.send(b"DONE\r\n")
        assert c.read_tagged("i2").status == "OK"
    for c in sessions:
        c.logout()


def test_pop3_in_use_holds_across_loops(make_server):
    srv = start(make_server)
    user = srv.new_user("inuse")
    srv.deliver("a@example.org", [user[0]], make_message("locked"))
    holders = []
    first = srv.pop3(*user)
    holders.append(first)
    # Each further attempt is on the next loop: all are refused while the
    # first session holds the maildrop.
    for _ in range(LOOPS - 1):
        c = srv.pop3()
        c.pop3_ok(f"USER {user[0]}")
        r = c.pop3_cmd(f"PASS {user[1]}")
        assert r.startswith("-ERR [IN-USE]"), r
        c.close()
    assert spread(srv, "pop3") == set(range(LOOPS)), srv.stderr()
    assert first.pop3_stat()[0] == 1
    first.pop3_quit()
    again = srv.pop3(*user)
    assert again.pop3_stat()[0] == 1
    again.pop3_quit()


def test_shutdown_lets_deliveries_on_every_loop_finish(make_server):
    srv = start(make_server)
    addr, pw = srv.new_user("flight")
    conns = []
    for i in range(LOOPS):
        c = srv.smtp()
        assert c.smtp_cmd("MAIL FROM:<a@example.org>").code == 250
        assert c.smtp_cmd(f"RCPT TO:<{addr}>").code == 250
        assert c.smtp_cmd("DATA").code == 354
        c.send(f"Subject: in flight {i}\r\n\r\nfirst half\r\n".encode())
        conns.append(c)
    assert spread(srv, "smtp") == set(range(LOOPS)), srv.stderr()
    srv.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert srv.proc.poll() is None, "the daemon did not wait for the deliveries"
    for i, c in enumerate(conns):
        c.send(f"second half {i}\r\n.\r\n".encode())
        r = c.smtp_reply()
        assert r.code == 250, r
        bye = c.smtp_reply()
        assert bye.code == 421, bye
    assert srv.proc.wait(20) == 0
    srv._finish(0, "SIGTERM")
    assert not srv.problems, srv.problems
    srv.start()
    msgs = srv.retr_all(addr, pw)
    assert sorted(m.split(b"second half ")[1][:1] for m in msgs) == [b"0", b"1", b"2", b"3"]


def test_long_search_lets_other_sessions_of_its_loop_run(make_server):
    # One loop: a body SEARCH over ~60 MB of mail stops for the loop's
    # other sessions after its slice (imap_cmd_yield_due), so a NOOP sent
    # after it on another connection is answered before the SEARCH is.
    srv = make_server(kinds=IMAP_KINDS, extra=["--loops", "1"]).start()
    user = srv.new_user("slice")
    body = (b"lorem ipsum dolor sit amet consectetur adipiscing elit " * 20 + b"\r\n") * 50
    deliver_many(srv, user, 1200, "bulk", body=body)
    a = imap_connect(srv, *user)
    a.select("INBOX")
    b = imap_connect(srv, *user)
    b.select("INBOX")
    a.send(b"s1 SEARCH BODY nowhere-to-be-found\r\n")
    b.send(b"n1 NOOP\r\n")
    assert b.read_tagged("n1").status == "OK"
    ready, _, _ = select.select([a.sock], [], [], 0)
    assert not ready, "the SEARCH finished before the other session's NOOP was answered"
    r = a.read_tagged("s1")
    assert r.status == "OK" and r.data("SEARCH") == [b""], r
    a.logout()
    b.logout()


def test_fetch_on_some_loops_while_expunging_on_another(make_server):
    # Sessions on three loops FETCH whole bodies over and over while a
    # session on the fourth expunges the same messages.  Every literal must
    # arrive whole with the length it announced (helpers' parser checks
    # that), every FETCH ends OK or NO [EXPUNGEISSUED], and nobody is cut
    # off: a content read after its size was promised must never find the
    # content gone (imap_cmd_fetch.c, fetch_msg_pin).
    import threading

    srv = start(make_server, kinds=IMAP_KINDS)
    user = srv.new_user("race")
    body = b"0123456789abcdefghijklmnopqrstuvwxyz" * 200 + b"\r\n"
    deliver_many(srv, user, 240, "race", body=body)
    readers = [imap_connect(srv, *user) for _ in range(LOOPS - 1)]
    killer = imap_connect(srv, *user)
    assert spread(srv, "imap") == set(range(LOOPS)), srv.stderr()
    for c in readers + [killer]:
        c.select("INBOX")
    done = threading.Event()
    errors = []

    def read_loop(c):
        # Whole bodies (sized from the record) and parts (sized from the
        # structure), in turn.
        forms = ["UID FETCH 1:* (RFC822.SIZE BODY.PEEK[])", "UID FETCH 1:* (BODY.PEEK[TEXT])"]
        try:
            k = 0
            while not done.is_set():
                k += 1
                r = c.cmd(forms[k % 2])
                ok = r.status == "OK" or (r.status == "NO" and r.code == "EXPUNGEISSUED")
                if not ok:
                    errors.append(r.tagged)
                    return
                for f in r.fetches().values():
                    if "BODY[]" in f and len(f["BODY[]"]) != int(f["RFC822.SIZE"]):
                        errors.append(b"size mismatch")
                        return
                c.cmd("NOOP")
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=read_loop, args=(c,)) for c in readers]
    for t in threads:
        t.start()
    left = 240
    while left > 0:
        killer.ok("STORE 1:10 +FLAGS.SILENT (\\Deleted)")
        killer.ok("EXPUNGE")
        left -= 10
    done.set()
    for t in threads:
        t.join(120)
    assert not errors, (errors[:3], srv.stderr()[-4000:])
    for c in readers + [killer]:
        c.logout()


def test_large_store_runs_on_the_pool(make_server):
    # A STORE of STORE_POOL_MIN (256) or more messages changes the store on
    # the worker pool; the replies and the view must be the same as in
    # place, and a client that leaves while it runs must cost nothing.
    srv = make_server(kinds=IMAP_KINDS, extra=["--loops", "2"]).start()
    user = srv.new_user("bulk")
    deliver_many(srv, user, 600, "bulk")
    a = imap_connect(srv, *user)
    a.select("INBOX")
    b = imap_connect(srv, *user)
    b.select("INBOX")
    r = a.ok("STORE 1:600 +FLAGS (\\Flagged)")
    got = r.fetches()
    assert sorted(got) == list(range(1, 601)), sorted(got)[:5]
    assert all(b"\\Flagged" in f["FLAGS"] for f in got.values())
    # The other session (other loop) is told of all 600.
    r = b.ok("NOOP")
    assert len(r.fetches()) == 600
    # .SILENT: nothing but the OK; then a small STORE runs in place.
    r = a.ok("STORE 1:300 -FLAGS.SILENT (\\Flagged)")
    assert r.fetches() == {}, r
    r = a.ok("SEARCH FLAGGED")
    assert r.data("SEARCH") == [b" ".join(str(n).encode() for n in range(301, 601))]
    # Leaving in the middle of one: the job finishes and is freed.
    a.send(b"x STORE 1:600 +FLAGS (\\Seen)\r\n")
    a.close()
    r = b.ok("NOOP")
    assert "FLAGS" in b.ok("FETCH 600 (FLAGS)").fetches()[600]
    b.logout()


def test_large_copy_and_move_run_on_the_pool(make_server):
    # COPY and MOVE of COPY_POOL_MIN (256) or more messages run their one
    # store transaction on the worker pool: COPYUID, the EXPUNGEs of MOVE
    # and the destination must be as in place, all or nothing.
    srv = make_server(kinds=IMAP_KINDS, extra=["--loops", "2"]).start()
    user = srv.new_user("bulkcopy")
    deliver_many(srv, user, 300, "copy")
    a = imap_connect(srv, *user)
    a.ok("CREATE Big")
    a.ok("CREATE Moved")
    a.select("INBOX")
    r = a.ok("COPY 1:300 Big")
    assert r.code.startswith("COPYUID") and b"1:300 1:300" in r.tagged, r
    st = a.ok("STATUS Big (MESSAGES)")
    assert st.data("STATUS")[0].upper().endswith(b"(MESSAGES 300)"), st
    r = a.ok("MOVE 1:300 Moved")
    assert len(r.numbered("EXPUNGE")) == 300, r
    assert any(u.startswith(b"* OK [COPYUID ") for u in r.untagged), r
    st = a.ok("STATUS Moved (MESSAGES)")
    assert st.data("STATUS")[0].upper().endswith(b"(MESSAGES 300)"), st
    # Leaving in the middle of one: the copy completes or not, never half.
    a.ok("SELECT Big")
    a.send(b"x COPY 1:300 INBOX\r\n")
    a.close()
    b = imap_connect(srv, *user)
    st = b.ok("STATUS INBOX (MESSAGES)")
    assert st.data("STATUS")[0].upper().endswith((b"(MESSAGES 0)", b"(MESSAGES 300)")), st
    b.logout()


def test_large_delivery_is_stored_on_the_pool(make_server):
    # A message of DELIVER_POOL_MIN (256 KiB) or more is stored (MIME
    # structure, content, transaction) by a worker while its session waits;
    # what is stored and answered must be as in place, and a client that
    # leaves right after the final dot must cost nothing: the job finishes
    # alone (its message is committed, as one whose flush it no longer
    # waits for), and nothing is leaked or touched after the session is gone.
    srv = make_server(kinds=IMAP_KINDS, extra=["--loops", "2"]).start()
    user = srv.new_user("large")
    lines = b"".join(b"line %06d of a large message\r\n" % i for i in range(12000))
    big = [make_message(f"large {k}", body=lines) for k in range(3)]
    assert len(big[0]) > 256 * 1024
    s = srv.smtp()
    for m in big[:2]:
        s.smtp_deliver("a@example.org", [user[0]], m)
    # Pipelined behind a large one: answered in turn.
    r = s.smtp_cmd("NOOP")
    assert r.code == 250, r
    s.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<" + user[0].encode() + b">\r\nDATA\r\n")
    for _ in range(3):
        assert s.smtp_reply().code in (250, 354)
    s.send(dot_stuff(big[2]) + b".\r\n")
    s.close()
    c = imap_connect(srv, *user)
    deadline = time.monotonic() + 30
    while True:
        r = c.select("INBOX")
        if r.numbered("EXISTS") == [(3, b"")] or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert r.numbered("EXISTS") == [(3, b"")], r
    for i, m in enumerate(big, 1):
        r = c.ok(f"FETCH {i} (BODY.PEEK[TEXT] BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        f = r.fetches()[i]
        assert f["BODY[TEXT]"] == lines
        assert f"large {i - 1}".encode() in f["BODY[HEADER.FIELDS (SUBJECT)]"]
    c.logout()


def debug_server(make_server, tmp_path, kinds=IMAP_KINDS):
    """A started server on LOOPS loops logging at debug level, where the
    hand-offs to the worker pool ("store busy: ...") are logged."""
    conf = tmp_path / "debug.conf"
    conf.write_text('log = { level = "debug"; };\n')
    return make_server(kinds=kinds, config=conf, extra=["--loops", str(LOOPS)]).start()


def test_contended_store_hands_off_to_the_pool(make_server, tmp_path):
    # Many sessions on every loop deliver to one mailbox while another
    # flags its messages and copies them: transactions in place do not wait for each
    # other's locks on a loop (store_thread_nowait) but hand the work to the
    # pool.  Whichever way each went, every message is stored once, every
    # 250 and OK is true, and the flags are all there.
    import threading
    srv = debug_server(make_server, tmp_path)
    user = srv.new_user("contended")
    errors = []

    def sender(k):
        try:
            deliver_many(srv, user, 15, f"c{k}")
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=sender, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    c = imap_connect(srv, *user)
    c.ok("CREATE archive")
    c.select("INBOX")
    flagged = 0
    while any(t.is_alive() for t in threads):
        r = c.ok("NOOP")
        n = max([n for n, _ in r.numbered("EXISTS")] or [0])
        if n > flagged:
            c.ok(f"STORE {flagged + 1}:{n} +FLAGS.SILENT (\\Flagged)")
            c.ok(f"COPY {flagged + 1}:{n} archive")
            flagged = n
    for t in threads:
        t.join()
    assert errors == [], errors
    r = c.select("INBOX")
    assert r.numbered("EXISTS") == [(240, b"")], r
    c.ok("STORE 1:* +FLAGS.SILENT (\\Flagged)")
    if flagged < 240:
        c.ok(f"COPY {flagged + 1}:240 archive")
    st = c.ok("STATUS archive (MESSAGES)")
    assert st.data("STATUS")[0].upper().endswith(b"(MESSAGES 240)"), st
    r = c.ok("SEARCH UNFLAGGED")
    assert r.data("SEARCH") == [b""], r
    subjects = set()
    for f in c.ok("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])").fetches().values():
        subjects.add(f["BODY[HEADER.FIELDS (SUBJECT)]"].strip())
    assert len(subjects) == 240
    c.logout()


def test_contended_append_and_expunge(make_server, tmp_path):
    # Sessions on every loop APPEND to one mailbox, half of it already
    # \Deleted, while another session EXPUNGEs over and over and a third
    # FETCHes them, setting \Seen: an APPEND, EXPUNGE or FETCH's \Seen
    # that meets another's lock hands its transaction to the pool
    # instead of waiting on the loop.  Whichever way each went, every OK
    # carries a true APPENDUID and the kept messages are all there, once.
    import threading
    srv = debug_server(make_server, tmp_path)
    user = srv.new_user("appenders")
    errors, uids = [], []
    read_uids = set()

    def appender(k):
        try:
            a = imap_connect(srv, *user)
            for i in range(20):
                flags = ["\\Deleted"] if i % 2 else []
                r = a.append("INBOX", make_message(f"a{k} {i} {'drop' if i % 2 else 'keep'}"),
                             flags=flags)
                uids.append(int(r.code.split()[2]))
            a.logout()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    def reader():
        # FETCH BODY[...] sets \\Seen (RFC 3501 6.4.5), a change of its own
        try:
            r = imap_connect(srv, *user)
            r.select("INBOX")
            # At least one round, however soon the appenders are done.
            while True:
                busy = any(t.is_alive() for t in threads)
                # NO [EXPUNGEISSUED] when some went meanwhile (RFC 5530 3)
                x = r.cmd("UID FETCH 1:* (BODY[HEADER.FIELDS (SUBJECT)])")
                assert x.status == "OK" or x.code == "EXPUNGEISSUED", x
                read_uids.update(int(v["UID"]) for v in x.fetches().values())
                if not busy:
                    break
            r.logout()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=appender, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    readers = [threading.Thread(target=reader) for _ in range(3)]
    for t in readers:
        t.start()
    c = imap_connect(srv, *user)
    c.select("INBOX")
    while any(t.is_alive() for t in threads):
        c.ok("EXPUNGE")
    for t in threads + readers:
        t.join()
    assert errors == [], errors
    assert len(uids) == 160 and len(set(uids)) == 160, uids
    c.ok("EXPUNGE")
    r = c.ok("UID SEARCH ALL")
    kept = sorted(int(x) for x in r.data("SEARCH")[0].split())
    assert len(kept) == 80 and set(kept) <= set(uids), kept
    # Every message a reader's FETCH returned is \\Seen now, however its
    # mark was made (in place or by a worker).
    f = c.ok("UID FETCH 1:* FLAGS").fetches().values()
    unseen = [int(v["UID"]) for v in f if int(v["UID"]) in read_uids and b"\\Seen" not in v["FLAGS"]]
    assert read_uids and unseen == [], unseen
    subjects = [f["BODY[HEADER.FIELDS (SUBJECT)]"].strip() for f in
                c.ok("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])").fetches().values()]
    assert sorted(subjects) == sorted(f"Subject: a{k} {i} keep".encode()
                                      for k in range(8) for i in range(0, 20, 2)), subjects
    c.logout()


def append_and_flag(srv, user, k, done, errors):
    """A thread's work: APPEND to INBOX and flag all of it until done is
    set; an exception goes to errors."""
    try:
        a = imap_connect(srv, *user)
        a.select("INBOX")
        i = 0
        while not done.is_set():
            a.append("INBOX", make_message(f"w{k} {i}"))
            a.ok("STORE 1:* +FLAGS.SILENT (\\Flagged)")
            i += 1
        a.logout()
    except Exception as e:  # noqa: BLE001 - reported by the caller
        errors.append(repr(e))


def test_contended_mailbox_commands(make_server, tmp_path):
    # Sessions on every loop CREATE nested mailboxes (with their parents),
    # SUBSCRIBE, RENAME and DELETE them while others APPEND and flag in the
    # same account: each command's lookups and changes run in place without
    # waiting for a lock, and from the step that found the store locked on
    # a worker.  Whichever way each went, every answer is true and the
    # mailboxes, parents and subscriptions end as the commands said.
    import threading
    srv = debug_server(make_server, tmp_path)
    user = srv.new_user("mailboxes")
    errors = []
    done = threading.Event()

    def shaper(k):
        try:
            a = imap_connect(srv, *user)
            for i in range(12):
                a.ok(f'CREATE "k{k}/p{i}/leaf"')
                a.ok(f'SUBSCRIBE "k{k}/p{i}/leaf"')
                a.ok(f'RENAME "k{k}/p{i}/leaf" "k{k}/q{i}/moved"')
                if i % 2:
                    a.ok(f'DELETE "k{k}/q{i}/moved"')
                    a.ok(f'UNSUBSCRIBE "k{k}/p{i}/leaf"')
                r = a.cmd(f'CREATE "k{k}/p{i}"')
                assert r.status == "NO" and r.code == "ALREADYEXISTS", r
            a.logout()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    shapers = [threading.Thread(target=shaper, args=(k,)) for k in range(6)]
    writers = [threading.Thread(target=append_and_flag, args=(srv, user, k, done, errors))
               for k in range(4)]
    for t in shapers + writers:
        t.start()
    for t in shapers:
        t.join()
    done.set()
    for t in writers:
        t.join()
    assert errors == [], errors
    c = imap_connect(srv, *user)
    names = {re.search(rb'"/" "?([^"]*)"?$', ln).group(1).decode()
             for ln in c.ok('LIST "" "k*"').data("LIST")}
    want = set()
    for k in range(6):
        want |= {f"k{k}"}
        for i in range(12):
            want |= {f"k{k}/p{i}", f"k{k}/q{i}"}      # parents stay (RFC 9051 6.3.4)
            if i % 2 == 0:
                want.add(f"k{k}/q{i}/moved")
    assert names == want, sorted(names ^ want)
    subs = {re.search(rb'"/" "?([^"]*)"?$', ln).group(1).decode()
            for ln in c.ok('LSUB "" "k*"').data("LSUB")}
    # A subscription is a name: RENAME does not move it (RFC 9051 6.3.7).
    assert subs == {f"k{k}/p{i}/leaf" for k in range(6) for i in range(0, 12, 2)}, sorted(subs)
    c.logout()
    handed = re.findall(r"store busy: (CREATE|SUBSCRIBE|UNSUBSCRIBE|RENAME|DELETE) done by a worker",
                        srv.all_stderr())
    print(f"mailbox commands handed to a worker: {len(handed)} {sorted(set(handed))}")


def test_contended_select_claims_recent_once(make_server, tmp_path):
    # Sessions on every loop SELECT one mailbox over and over while others
    # APPEND to it: SELECT's store part (the record, the \\Recent claim,
    # the keywords) runs in place without waiting for a lock and on a
    # worker from the step that found the store locked.  However each went,
    # every message is \\Recent in at most one session (RFC 3501 2.3.2):
    # the RECENT counts the views told, plus what a last session finds
    # unclaimed, add up to the messages appended.
    import threading
    srv = debug_server(make_server, tmp_path)
    user = srv.new_user("selectors")
    errors, claimed = [], []
    done = threading.Event()

    def appender(k):
        try:
            a = imap_connect(srv, *user)
            for i in range(25):
                # A new keyword for most: its entry is written beside
                # SELECT's read of the keyword table (64 at most).
                a.append("INBOX", make_message(f"s{k} {i}"), flags=[f"$k{k}_{min(i, 14)}"])
            a.logout()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    def selector():
        # A view's RECENT only grows (nothing is expunged): the last one
        # told for it is all it claimed.  A SELECT's untagged responses
        # before its [CLOSED] belong to the view it leaves.
        try:
            c = imap_connect(srv, *user)
            last = 0
            exists = 0
            while not done.is_set():
                r = c.cmd("SELECT INBOX")
                assert r.status == "OK", r
                old = True
                for u in r.untagged:
                    if u.startswith(b"* OK [CLOSED]"):
                        claimed.append(last)
                        old, last = False, 0
                    m = re.match(rb"\* (\d+) (RECENT|EXISTS)$", u)
                    if m and m.group(2) == b"RECENT":
                        last = int(m.group(1))
                    elif m and not old:
                        assert int(m.group(1)) >= exists, r
                        exists = int(m.group(1))
            r = c.cmd("LOGOUT")
            for u in r.untagged:
                m = re.match(rb"\* (\d+) RECENT$", u)
                if m:
                    last = int(m.group(1))
            claimed.append(last)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    appenders = [threading.Thread(target=appender, args=(k,)) for k in range(4)]
    selectors = [threading.Thread(target=selector) for _ in range(4)]
    for t in appenders + selectors:
        t.start()
    for t in appenders:
        t.join()
    done.set()
    for t in selectors:
        t.join()
    assert errors == [], errors
    c = imap_connect(srv, *user)
    r = c.select("INBOX")
    assert r.numbered("EXISTS") == [(100, b"")], r
    rest = r.numbered("RECENT")[0][0]
    assert sum(claimed) + rest == 100, (sum(claimed), rest)
    c.logout()
    handed = re.findall(r"store busy: (SELECT) done by a worker", srv.all_stderr())
    print(f"SELECTs finished by a worker: {len(handed)}")


def test_contended_pop3_reads_and_quits(make_server, tmp_path):
    # POP3 sessions, one after another, RETR every message, DELE half and
    # QUIT while IMAP sessions on other loops APPEND to the same INBOX and
    # flag its messages: RETR's \\Seen batch and QUIT's expunge that meet
    # another transaction's lock go to the pool, and the +OK of QUIT still
    # comes only after the expunge.  Whatever went where, each QUIT removed
    # exactly what it marked, and what RETR read is \\Seen.
    import threading
    srv = debug_server(make_server, tmp_path, kinds=("smtp", "pop3", "imap"))
    user = srv.new_user("pop3busy")
    for i in range(40):
        srv.deliver("a@example.org", [user[0]], make_message(f"first {i}"))
    errors = []
    done = threading.Event()

    threads = [threading.Thread(target=append_and_flag, args=(srv, user, k, done, errors))
               for k in range(6)]
    for t in threads:
        t.start()
    read = set()      # Subjects of messages RETR sent whole and QUIT kept
    try:
        for _ in range(12):
            p = srv.pop3(*user)
            n = p.pop3_stat()[0]
            subjects = {}
            for m in range(1, n + 1):
                body = p.pop3_retr(m)
                subjects[m] = next(ln for ln in body.split(b"\r\n") if ln.startswith(b"Subject:"))
            for m in range(1, n + 1, 2):
                p.pop3_ok(f"DELE {m}")
            r = p.pop3_cmd("QUIT")
            assert r.startswith(f"+OK postino signing off ({(n + 1) // 2} messages deleted)"), r
            p.close()
            read |= {subjects[m] for m in range(2, n + 1, 2)}
            read -= {subjects[m] for m in range(1, n + 1, 2)}
    finally:
        done.set()
        for t in threads:
            t.join()
    assert errors == [], errors
    c = imap_connect(srv, *user)
    c.select("INBOX")
    f = c.ok("FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])").fetches()
    seen = {v["BODY[HEADER.FIELDS (SUBJECT)]"].strip(): b"\\Seen" in v["FLAGS"]
            for v in f.values()}
    assert read and all(seen[subj] for subj in read), [s for s in read if not seen.get(s)]
    c.logout()


def test_large_append_is_stored_on_the_pool(make_server):
    # An APPEND of 256 KiB or more is encoded, parsed and stored by a
    # worker: the OK (after the flush), APPENDUID and the EXISTS of the
    # selected mailbox are as in place; a MULTIAPPEND with a NUL that no
    # encoding can carry is refused whole; a client that leaves while its
    # APPEND is stored leaves the job its literals (ASan: no leak, no use
    # after free) and the message is stored all the same.
    srv = make_server(kinds=IMAP_KINDS, extra=["--loops", "2"]).start()
    user = srv.new_user("bigappend")
    body = b"".join(b"append line %06d\r\n" % i for i in range(20000))
    big = make_message("big append", body=body)
    assert len(big) > 256 * 1024
    c = imap_connect(srv, *user)
    c.select("INBOX")
    r = c.append("INBOX", big)
    assert re.search(r"\[APPENDUID \d+ 1\]", str(r.text)), r
    assert r.numbered("EXISTS") == [(1, b"")], r
    r = c.ok("FETCH 1 (BODY.PEEK[TEXT] BODYSTRUCTURE)")
    assert r.fetches()[1]["BODY[TEXT]"] == body
    # MULTIAPPEND: a good one and one with a NUL in a header: nothing.
    bad = b"Subject: nul\x00here\r\n\r\n" + body
    r = c.cmd(b"APPEND INBOX ~{%d+}\r\n" % len(big) + big + b" ~{%d+}\r\n" % len(bad) + bad)
    assert r.status == "NO" and "UNKNOWN-CTE" in str(r), r
    st = c.ok("STATUS INBOX (MESSAGES)")
    assert st.data("STATUS")[0].upper().endswith(b"(MESSAGES 1)"), st
    # Leaving mid-APPEND.
    d = imap_connect(srv, *user)
    d.send(b"x APPEND INBOX {%d+}\r\n" % len(big) + big + b"\r\n")
    d.close()
    deadline = time.monotonic() + 30
    while True:
        st = c.ok("STATUS INBOX (MESSAGES)")
        if st.data("STATUS")[0].upper().endswith(b"(MESSAGES 2)") or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert st.data("STATUS")[0].upper().endswith(b"(MESSAGES 2)"), st
    c.logout()
