# tests/integration/test_imap_ext_small.py: the small IMAP extensions of
# issue 13, each with its RFC's examples adapted to real data and its bad
# inputs: LITERAL- (RFC 7888 5), UNAUTHENTICATE (RFC 8437), WITHIN (RFC
# 5032), CREATE-SPECIAL-USE (RFC 6154 3), SAVEDATE (RFC 8514), OBJECTID
# (RFC 8474), REPLACE (RFC 8508), PREVIEW (RFC 8970).
import pytest

import helpers
from helpers import imap_connect, lit, quote


def caps_of(resp):
    (data,) = resp.data("CAPABILITY")
    return {w.upper() for w in data.decode().split()}


def msg(subject="hello", body="Hello there.\r\n", extra=""):
    return (f"From: a@example.org\r\nTo: b@example.org\r\nSubject: {subject}\r\n{extra}"
            f"\r\n{body}").encode()


# -- LITERAL- (RFC 7888) ------------------------------------------------------

@pytest.fixture(scope="module")
def minus_server(tmp_path_factory):
    yield from helpers.configured_server(tmp_path_factory, "literalminus",
                                         'imap = { literal = "minus"; };\n',
                                         kinds=helpers.IMAP_KINDS)


def test_literal_plus_by_default_never_both(imap_server, imap):
    # RFC 7888 5: "IMAP servers MUST NOT advertise both of these capabilities".
    for caps in (caps_of(imap.ok("CAPABILITY")),
                 caps_of(imap_connect(imap_server).ok("CAPABILITY"))):
        assert "LITERAL+" in caps and "LITERAL-" not in caps


def test_literal_minus_announced_alone(minus_server):
    c = imap_connect(minus_server)
    assert b"LITERAL-" in c.greeting and b"LITERAL+" not in c.greeting
    caps = caps_of(c.ok("CAPABILITY"))
    assert "LITERAL-" in caps and "LITERAL+" not in caps
    user, pw = minus_server.new_user("lm")
    # RFC 7888 3's example, with this user's name and password.
    r = c.cmd(b"LOGIN " + lit(user) + b" " + lit(pw))
    assert r.status == "OK", r
    caps = caps_of(c.ok("CAPABILITY"))
    assert "LITERAL-" in caps and "LITERAL+" not in caps


def test_literal_minus_limit(minus_server):
    user, pw = minus_server.new_user("lm")
    c = imap_connect(minus_server, user, pw)
    # Up to 4096 octets a {n+} literal is fine, in APPEND and elsewhere.
    body = b"x" * (4096 - len(msg(body="")) - 2) + b"\r\n"
    m = msg(body=body.decode())
    assert len(m) == 4096
    c.append("INBOX", m)
    r = c.cmd(b"SELECT " + lit("INBOX"))
    assert r.status == "OK", r
    # RFC 7888 5: beyond 4096 octets, APPEND's tagged BAD carries TOOBIG;
    # the literal is read and dropped and the session goes on.
    m = msg(body="y" * 5000 + "\r\n")
    r = c.cmd(b"APPEND INBOX " + lit(m))
    assert r.status == "BAD" and r.code == "TOOBIG", r
    r = c.cmd(b"STATUS " + lit("x" * 4097) + b" (MESSAGES)")
    assert r.status == "BAD" and r.code == "TOOBIG", r
    r = c.ok("STATUS INBOX (MESSAGES)")
    assert helpers.status_items(r)[1]["MESSAGES"] == 1
    # The same literal, synchronizing, is accepted.
    r = c.cmd_sync(["APPEND INBOX ", m])
    assert r.status == "OK", r
    # Too large to drop: BYE [TOOBIG] (RFC 7888 5 SHOULD).
    c.send(b"T1 APPEND INBOX {5000000+}\r\n")
    r = c.read_response()
    assert r.startswith(b"T1 BAD [TOOBIG]"), r
    r = c.read_response()
    assert r.startswith(b"* BYE [TOOBIG]"), r
    assert c.closed_by_peer()


# -- UNAUTHENTICATE (RFC 8437) --------------------------------------------------

def test_unauthenticate_announced_after_login_only(imap_server, imap_user):
    c = imap_connect(imap_server)
    assert "UNAUTHENTICATE" not in caps_of(c.ok("CAPABILITY"))
    # RFC 8437 3: BAD "if UNAUTHENTICATE is issued in an invalid state".
    r = c.cmd("UNAUTHENTICATE")
    assert r.status == "BAD", r
    c.login(*imap_user)
    assert "UNAUTHENTICATE" in caps_of(c.ok("CAPABILITY"))
    r = c.cmd("UNAUTHENTICATE now")
    assert r.status == "BAD", r
    r = c.cmd("UID UNAUTHENTICATE")
    assert r.status == "BAD", r


def test_unauthenticate_drops_all_session_state(imap_server, imap_user):
    user, pw = imap_user
    c = imap_connect(imap_server, user, pw)
    c.append("INBOX", msg("one"))
    c.append("INBOX", msg("two"))
    r = c.ok("ENABLE CONDSTORE UTF8=ACCEPT")
    assert r.data("ENABLED") == [b"CONDSTORE UTF8=ACCEPT"], r
    c.ok("SELECT INBOX")
    c.ok("SEARCH RETURN (SAVE) ALL")
    # Another session expunges a message: no EXPUNGE may come with the
    # OK of UNAUTHENTICATE (RFC 8437 3: "no expunge event is generated").
    o = imap_connect(imap_server, user, pw)
    o.ok("SELECT INBOX")
    o.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    o.ok("EXPUNGE")
    r = c.cmd("UNAUTHENTICATE")
    assert r.status == "OK", r
    assert not r.numbered("EXPUNGE") and not r.numbered("FETCH"), r
    caps = set(r.code.split()[1:])
    assert "AUTH=PLAIN" in caps and "UNAUTHENTICATE" not in caps, r
    assert "STARTTLS" in caps     # TLS was never started here
    # Not authenticated: commands of the other states are refused.
    for line in ("SELECT INBOX", "FETCH 1 FLAGS", "FETCH $ UID", "LIST \"\" *",
                 "UNSELECT", "IDLE"):
        r = c.cmd(line)
        assert r.status == "BAD" and "log in first" in r.text, (line, r)
    # Log in again (here as another user): nothing of the first login is left.
    u2, p2 = imap_server.new_user("im")
    c.login(u2, p2)
    r = c.ok("ENABLE CONDSTORE UTF8=ACCEPT")
    assert r.data("ENABLED") == [b"CONDSTORE UTF8=ACCEPT"], r
    r = c.ok("SELECT INBOX")
    assert r.numbered("EXISTS") == [(0, b"")], r
    # The saved result is the empty set again (RFC 8437 4.1, SEARCHRES).
    r = c.ok("FETCH $ UID")
    assert not r.fetches(), r
    # Changes to the first user's INBOX no longer reach this session.
    o.append("INBOX", msg("three"))
    r = c.ok("NOOP")
    assert not r.numbered("EXISTS"), r
    o.logout()
    c.logout()


def test_unauthenticate_pipelined_with_authenticate(imap_server, imap_user):
    import base64
    user, pw = imap_user
    c = imap_connect(imap_server, user, pw)
    ir = base64.b64encode(f"\0{user}\0{pw}".encode())
    # RFC 8437 3: UNAUTHENTICATE and AUTHENTICATE with SASL-IR in one round trip.
    c.send(b"U1 UNAUTHENTICATE\r\nU2 AUTHENTICATE PLAIN " + ir + b"\r\nU3 SELECT INBOX\r\n")
    assert c.read_tagged("U1").status == "OK"
    assert c.read_tagged("U2").status == "OK"
    assert c.read_tagged("U3").status == "OK"
    c.logout()


def test_unauthenticate_under_tls(imap_server, imap_user):
    user, pw = imap_user
    for tls in (True, False):
        c = imap_connect(imap_server, tls=tls)
        if not tls:
            c.ok("STARTTLS")
            c.starttls()
        c.login(user, pw)
        r = c.ok("UNAUTHENTICATE")
        caps = set(r.code.split()[1:])
        # RFC 8437 3: everything but the TLS layer is reset.
        assert "STARTTLS" not in caps and "AUTH=PLAIN" in caps, r
        assert "STARTTLS" not in caps_of(c.ok("CAPABILITY"))
        c.login(user, pw)
        c.ok("SELECT INBOX")
        c.logout()


# -- WITHIN (RFC 5032) ----------------------------------------------------------

def imap_date(t):
    import time as _t
    return _t.strftime("%d-%b-%Y %H:%M:%S +0000", _t.gmtime(t))


def test_within_younger_older(imap):
    import time as _t
    assert "WITHIN" in caps_of(imap.ok("CAPABILITY"))
    now = int(_t.time())
    day = 86400
    imap.append("INBOX", msg("four days"), date=imap_date(now - 4 * day))      # 1
    imap.append("INBOX", msg("one day"), date=imap_date(now - day))            # 2
    imap.append("INBOX", msg("seen"), flags=["\\Seen"], date=imap_date(now - day))  # 3
    imap.append("INBOX", msg("now"))                                           # 4
    imap.ok("SELECT INBOX")
    # RFC 5032 5's example: unseen messages of the last three days.
    r = imap.ok("SEARCH UNSEEN YOUNGER 259200")
    assert r.data("SEARCH") == [b"2 4"], r
    r = imap.ok("SEARCH OLDER 259200")
    assert r.data("SEARCH") == [b"1"], r
    r = imap.ok("UID SEARCH RETURN (COUNT) YOUNGER 259200")
    assert helpers.esearch_items(r)[2] == {"COUNT": "3"}, r
    # A message is older or younger, never both; timezone plays no part.
    r = imap.ok("SEARCH OR OLDER 7200 YOUNGER 7200")
    assert r.data("SEARCH") == [b"1 2 3 4"], r
    r = imap.ok("SEARCH OLDER 7200 YOUNGER 7200")
    assert r.data("SEARCH") == [b""], r
    for bad in ("YOUNGER 0", "OLDER", "OLDER x", "YOUNGER 4294967296", "YOUNGER -1"):
        r = imap.cmd("SEARCH " + bad)
        assert r.status == "BAD", (bad, r)


# -- CREATE-SPECIAL-USE (RFC 6154 3) ---------------------------------------------

def list_attrs(imap, name):
    r = imap.ok(f'LIST "" {quote(name)}')
    (d,) = r.data("LIST")
    vals, _ = helpers.parse_sexpr(d)
    return {bytes(a).decode() for a in vals[0]}


def test_create_special_use(imap):
    caps = caps_of(imap.ok("CAPABILITY"))
    # RFC 6154 3: both strings when both functions are there.
    assert "CREATE-SPECIAL-USE" in caps and "SPECIAL-USE" in caps
    # RFC 6154 5.3's example.
    imap.ok("CREATE MySpecial (USE (\\Drafts \\Sent))")
    assert {"\\Drafts", "\\Sent"} <= list_attrs(imap, "MySpecial")
    r = imap.ok('LIST (SPECIAL-USE) "" "My*"')
    assert [d.split()[-1] for d in r.data("LIST")] == [b"MySpecial"], r
    # Parents are created plain; an empty USE list is no special use.
    imap.ok("CREATE a/b/Old (USE (\\Archive))")
    assert "\\Archive" in list_attrs(imap, "a/b/Old")
    assert not {"\\Archive"} & list_attrs(imap, "a/b")
    imap.ok("CREATE Plain (USE ())")
    assert not {"\\Drafts", "\\Sent", "\\Trash", "\\Junk", "\\Archive"} & list_attrs(imap, "Plain")
    # RFC 6154 3: a use is allowed on more than one mailbox (the default
    # Trash keeps its \Trash).
    imap.ok("CREATE Bin (use (\\trash))")
    assert "\\Trash" in list_attrs(imap, "Bin") and "\\Trash" in list_attrs(imap, "Trash")
    # Unsupported uses: NO [USEATTR], and nothing is created.
    for attr in ("\\All", "\\Flagged", "\\Important", "\\Sent \\All"):
        r = imap.cmd(f"CREATE Virt (USE ({attr}))")
        assert r.status == "NO" and r.code == "USEATTR", (attr, r)
        assert imap.ok('LIST "" Virt').data("LIST") == [], attr
    r = imap.cmd("CREATE sub/Virt (USE (\\All))")
    assert r.status == "NO" and r.code == "USEATTR", r
    assert imap.ok('LIST "" sub').data("LIST") == []
    # Syntax errors are BAD; an existing name is still ALREADYEXISTS.
    for bad in ("x (USE)", "x (USE (Sent))", "x (USE (\\Sent) USE (\\Junk))", "x (FOO)",
                "x ()", "x (USE (\\Sent)) y", 'x (USE ("\\\\Sent"))'):
        r = imap.cmd("CREATE " + bad)
        assert r.status == "BAD", (bad, r)
    r = imap.cmd("CREATE MySpecial (USE (\\Junk))")
    assert r.status == "NO" and r.code == "ALREADYEXISTS", r
    # RENAME keeps the use with the mailbox.
    imap.ok("RENAME MySpecial Renamed")
    assert {"\\Drafts", "\\Sent"} <= list_attrs(imap, "Renamed")


# -- SAVEDATE (RFC 8514) -----------------------------------------------------------

def parse_date_time(b):
    import calendar
    import time as _t
    t = _t.strptime(b.decode()[:20], "%d-%b-%Y %H:%M:%S")
    assert b.decode()[21:] == "+0000", b
    return calendar.timegm(t)


def test_savedate(imap):
    import time as _t
    assert "SAVEDATE" in caps_of(imap.ok("CAPABILITY"))
    # The server's time() reads a coarse clock that may lag ours by a few
    # milliseconds, so across a second boundary its second can be the one
    # before ours: the lower bound allows that much.
    t0 = int(_t.time() - 0.2)
    imap.append("INBOX", msg("old"), date="28-Dec-2014 18:50:53 +0100")
    imap.append("INBOX", msg("new"))
    imap.ok("CREATE Saved")
    imap.ok("SELECT INBOX")
    # RFC 8514 4.2's example, on message 1.
    r = imap.ok("FETCH 1 (SAVEDATE)")
    saved = parse_date_time(r.fetches()[1]["SAVEDATE"])
    t1 = int(_t.time())
    assert t0 <= saved <= t1, r
    r = imap.ok("FETCH 1:2 (INTERNALDATE SAVEDATE UID)")
    f = r.fetches()
    assert f[1]["INTERNALDATE"] == b"28-Dec-2014 17:50:53 +0000", r
    assert parse_date_time(f[2]["SAVEDATE"]) >= saved
    # RFC 8514 4.3's examples: the save date, not the internal date.
    days = {_t.strftime("%d-%b-%Y", _t.gmtime(t)).lstrip("0") for t in (t0, t1)}
    assert imap.ok("SEARCH ON 28-Dec-2014").data("SEARCH") == [b"1"]
    assert imap.ok("SEARCH SAVEDON 28-Dec-2014").data("SEARCH") == [b""]
    assert imap.ok("SEARCH SAVEDSINCE 28-Dec-2014").data("SEARCH") == [b"1 2"]
    assert imap.ok("SEARCH SAVEDBEFORE 28-Dec-2014").data("SEARCH") == [b""]
    assert any(imap.ok(f"SEARCH SAVEDON {d}").data("SEARCH") == [b"1 2"] for d in days)
    assert imap.ok("SEARCH SAVEDATESUPPORTED").data("SEARCH") == [b"1 2"]
    assert imap.ok("SEARCH NOT SAVEDATESUPPORTED").data("SEARCH") == [b""]
    # RFC 8514 3: a copy gets its own save date, the source keeps its own;
    # the INTERNALDATE is copied.
    # (A second past it by the server's clock too: time() reads a coarse
    # clock that may lag the client's by a few milliseconds.)
    while int(_t.time() - 0.2) <= saved:
        _t.sleep(0.05)
    imap.ok("COPY 1 Saved")
    imap.ok("FETCH 1 FLAGS")
    r = imap.ok("FETCH 1 SAVEDATE")
    assert parse_date_time(r.fetches()[1]["SAVEDATE"]) == saved, r
    imap.ok("SELECT Saved")
    r = imap.ok("FETCH 1 (SAVEDATE INTERNALDATE)")
    assert parse_date_time(r.fetches()[1]["SAVEDATE"]) > saved, r
    assert r.fetches()[1]["INTERNALDATE"] == b"28-Dec-2014 17:50:53 +0000"
    for bad in ("FETCH 1 SAVEDATE[]", "FETCH 1 (SAVEDATE", "SEARCH SAVEDON",
                "SEARCH SAVEDSINCE 32-Dec-2014", "SEARCH SAVEDBEFORE yesterday"):
        r = imap.cmd(bad)
        assert r.status == "BAD", (bad, r)


# -- OBJECTID (RFC 8474) -----------------------------------------------------------

OBJECTID = r"[A-Za-z0-9_-]{1,255}"


def mailboxid(resp):
    import re
    m = re.search(r"\[MAILBOXID \((" + OBJECTID + r")\)\]", resp.text)
    assert m, resp
    return m.group(1)


def status_mailboxid(imap, name):
    r = imap.ok(f"STATUS {quote(name)} (MAILBOXID)")
    (d,) = r.data("STATUS")
    vals, _ = helpers.parse_sexpr(d)
    assert vals[1][0] == b"MAILBOXID" and len(vals[1][1]) == 1, d
    return bytes(vals[1][1][0]).decode()


def test_objectid_mailboxid(imap):
    import re
    assert "OBJECTID" in caps_of(imap.ok("CAPABILITY"))
    # RFC 8474 4.1 and 4.3's examples.
    foo = mailboxid(imap.ok("create foo"))
    bar = mailboxid(imap.ok("create bar"))
    assert foo != bar
    r = imap.cmd("create foo")
    assert r.status == "NO", r
    assert status_mailboxid(imap, "foo") == foo
    assert status_mailboxid(imap, "bar") == bar
    imap.ok("rename foo renamed")
    assert status_mailboxid(imap, "renamed") == foo
    assert status_mailboxid(imap, "bar") == bar
    r = imap.ok('list "" "*" return (status (mailboxid))')
    ids = {}
    for d in r.data("STATUS"):
        vals, _ = helpers.parse_sexpr(d)
        ids[bytes(vals[0]).decode()] = bytes(vals[1][1][0]).decode()
    assert ids["renamed"] == foo and ids["bar"] == bar and "INBOX" in ids
    assert len(set(ids.values())) == len(ids)
    # 4.2: SELECT and EXAMINE say it.
    for verb in ("SELECT", "EXAMINE"):
        r = imap.ok(f"{verb} renamed")
        got = [u for u in r.untagged if u.startswith(b"* OK [MAILBOXID (")]
        assert got == [f"* OK [MAILBOXID ({foo})] Ok".encode()], r
    # A mailbox made anew under an old name is another mailbox (4).
    imap.ok("UNSELECT")
    imap.ok("DELETE bar")
    assert mailboxid(imap.ok("CREATE bar")) != bar
    # RENAME of INBOX makes a new mailbox and moves the messages (4).
    inbox = status_mailboxid(imap, "INBOX")
    imap.ok("RENAME INBOX OldInbox")
    assert status_mailboxid(imap, "OldInbox") != inbox
    assert re.fullmatch(OBJECTID, status_mailboxid(imap, "INBOX"))
    r = imap.cmd("STATUS nosuch (MAILBOXID)")
    assert r.status == "NO", r


def test_objectid_emailid_threadid(imap_server, imap):
    a = msg("Message A", extra="Message-ID: <fake.1521475657.54797@example.com>\r\n")
    b = msg("Re: Message A", extra="Message-ID: <fake.1521475657.21213@example.org>\r\n"
            "References: <fake.1521475657.54797@example.com>\r\n")
    c = msg("Message C", extra="Message-ID: <fake.1521475657.60280@example.com>\r\n")
    for m in (a, b, c):
        imap.append("INBOX", m, date="20-Mar-2018 03:07:37 +1100")
    imap.ok("CREATE foo")
    imap.ok("SELECT INBOX")
    # RFC 8474 5.3's example (without THREADID: NIL, as 5.2 requires).
    r = imap.ok("fetch 1:* (emailid threadid)")
    f = r.fetches()
    ids = [bytes(f[n]["EMAILID"][0]).decode() for n in (1, 2, 3)]
    assert len(set(ids)) == 3, r
    assert all(f[n]["THREADID"] is None for n in (1, 2, 3)), r
    # 6's example: SEARCH EMAILID finds exactly that message, THREADID none.
    assert imap.ok(f"search emailid {ids[0]}").data("SEARCH") == [b"1"]
    assert imap.ok(f"search emailid {ids[0].lower()}x").data("SEARCH") == [b""]
    assert imap.ok("search threadid T1").data("SEARCH") == [b""]
    # 5.1: COPY and MOVE keep the EMAILID.
    imap.ok("copy 3 foo")
    imap.ok("move 2 foo")
    r = imap.ok("fetch 1:* (emailid)")
    assert [bytes(v["EMAILID"][0]).decode() for _, v in sorted(r.fetches().items())] == \
        [ids[0], ids[2]], r
    imap.ok("select foo")
    r = imap.ok("fetch 1:* (emailid threadid)")
    got = {bytes(v["EMAILID"][0]).decode() for v in r.fetches().values()}
    assert got == {ids[1], ids[2]}, r
    r = imap.ok(f"uid search emailid {ids[1]}")
    assert r.data("SEARCH") != [b""], r
    # 5.1: the same triple always gives the same EMAILID; a new APPEND of
    # the same bytes is another message here (the server MAY share it).
    imap.append("foo", a)
    r = imap.ok("fetch 3 (emailid)")
    assert bytes(r.fetches()[3]["EMAILID"][0]).decode() not in ids
    for bad in ("search emailid", "search emailid M1.2", 'search emailid "M1"',
                "fetch 1 (emailid[])", "status foo (mailboxid x)"):
        r = imap.cmd(bad)
        assert r.status == "BAD", (bad, r)


# -- REPLACE (RFC 8508) -------------------------------------------------------------

def draft(n, size=0):
    body = f"Draft number {n}.\r\n" + "x" * size
    return msg(f"draft {n}", body=body, extra="Date: Thu, 1 Jan 2015 00:06:00 +0100\r\n")


def test_replace_same_mailbox(imap):
    assert "REPLACE" in caps_of(imap.ok("CAPABILITY"))
    for n in range(1, 5):
        imap.append("Drafts", draft(n))
    imap.ok("SELECT Drafts")
    r = imap.ok("FETCH 4 UID")
    old_uid = int(r.fetches()[4]["UID"])
    # RFC 8508 3.2's example: message 4 of Drafts, synchronizing literal.
    r = imap.cmd_sync(["REPLACE 4 Drafts (\\Seen \\Draft) ", draft(5)])
    assert r.status == "OK", r
    assert len(r.conts) == 1
    oks = [u for u in r.untagged if u.startswith(b"* OK [APPENDUID ")]
    assert len(oks) == 1, r
    uidvalidity, new_uid = map(int, oks[0].split(b"]")[0].split()[-2:])
    assert new_uid > old_uid
    assert r.numbered("EXPUNGE") == [(4, b"")], r
    assert (4, b"") in r.numbered("EXISTS") or (5, b"") in r.numbered("EXISTS"), r
    assert helpers.status_items(imap.ok("STATUS Drafts (UIDVALIDITY MESSAGES)"))[1] == \
        {"UIDVALIDITY": uidvalidity, "MESSAGES": 4}
    r = imap.ok("FETCH 4 (UID FLAGS BODY.PEEK[TEXT])")
    f = r.fetches()[4]
    assert int(f["UID"]) == new_uid and f["BODY[TEXT]"].startswith(b"Draft number 5.")
    assert {bytes(x) for x in f["FLAGS"]} >= {b"\\Seen", b"\\Draft"}
    # UID REPLACE with a non-synchronizing literal larger than an ordinary
    # literal may be (message data has APPENDLIMIT's limit).
    big = draft(6, size=200 * 1024)
    r = imap.cmd(f"UID REPLACE {new_uid} Drafts ".encode() + lit(big))
    assert r.status == "OK", r
    assert r.numbered("EXPUNGE") == [(4, b"")], r
    r = imap.ok("FETCH 4 RFC822.SIZE")
    assert int(r.fetches()[4]["RFC822.SIZE"]) == len(big)
    assert helpers.status_items(imap.ok("STATUS Drafts (MESSAGES)"))[1]["MESSAGES"] == 4


def test_replace_into_another_mailbox(imap):
    imap.append("Drafts", draft(1))
    imap.append("Drafts", draft(2))
    sent0 = helpers.status_items(imap.ok("STATUS Sent (MESSAGES UIDNEXT UIDVALIDITY)"))[1]
    imap.ok("SELECT Drafts")
    # The draft leaves Drafts and its final form lands in Sent.
    r = imap.cmd(b"REPLACE 1 Sent (\\Seen) " + lit(draft(3)))
    assert r.status == "OK", r
    (ok,) = [u for u in r.untagged if u.startswith(b"* OK [APPENDUID ")]
    assert ok.startswith(b"* OK [APPENDUID %d %d] " % (sent0["UIDVALIDITY"], sent0["UIDNEXT"])), r
    assert r.numbered("EXPUNGE") == [(1, b"")], r
    assert not r.numbered("EXISTS"), r
    assert helpers.status_items(imap.ok("STATUS Sent (MESSAGES)"))[1]["MESSAGES"] == \
        sent0["MESSAGES"] + 1
    r = imap.ok("FETCH 1:* BODY.PEEK[TEXT]")
    assert [v["BODY[TEXT]"][:15] for v in r.fetches().values()] == [b"Draft number 2."]


def test_replace_errors_change_nothing(imap_server, imap, imap_user):
    for n in (1, 2):
        imap.append("Drafts", draft(n))
    imap.ok("SELECT Drafts")
    before = helpers.status_items(imap.ok("STATUS Drafts (MESSAGES UIDNEXT)"))[1]

    def unchanged():
        assert helpers.status_items(imap.ok("STATUS Drafts (MESSAGES UIDNEXT)"))[1] == before

    # No such mailbox: NO [TRYCREATE], the old message stays.
    r = imap.cmd(b"REPLACE 1 Nowhere " + lit(draft(9)))
    assert r.status == "NO" and r.code == "TRYCREATE", r
    unchanged()
    # RFC 3501 9: a message number beyond EXISTS is BAD; an unknown UID NO.
    r = imap.cmd(b"REPLACE 3 Drafts " + lit(draft(9)))
    assert r.status == "BAD", r
    r = imap.cmd(b"UID REPLACE 999 Drafts " + lit(draft(9)))
    assert r.status == "NO", r
    unchanged()
    # Syntax.
    for bad in (b"REPLACE Drafts " + lit(draft(9)), b"REPLACE 0 Drafts " + lit(draft(9)),
                b"REPLACE 1:2 Drafts " + lit(draft(9)), b"REPLACE 1 Drafts",
                b"REPLACE 1 Drafts " + lit(draft(8)) + b" " + lit(draft(9)),
                b"REPLACE 1 Drafts (\\Recent) " + lit(draft(9))):
        r = imap.cmd(bad)
        assert r.status == "BAD", (bad, r)
    unchanged()
    # Wrong state.
    c = imap_connect(imap_server, *imap_user)
    r = c.cmd(b"REPLACE 1 Drafts " + lit(draft(9)))
    assert r.status == "BAD" and "no mailbox selected" in r.text, r
    # EXAMINE: the old message cannot be expunged.
    c.ok("EXAMINE Drafts")
    r = c.cmd(b"REPLACE 1 Drafts " + lit(draft(9)))
    assert r.status == "NO", r
    unchanged()
    # The message was expunged by another session meanwhile: NO, and the
    # new message is not added.
    c.ok("SELECT Drafts")
    c.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    c.ok("EXPUNGE")
    r = imap.cmd(b"UID REPLACE 1 Drafts " + lit(draft(9)))
    assert r.status == "NO" and r.code == "EXPUNGEISSUED", r
    r = imap.ok("STATUS Drafts (MESSAGES UIDNEXT)")
    assert helpers.status_items(r)[1] == {"MESSAGES": 1, "UIDNEXT": before["UIDNEXT"]}, r
    # The other session's expunge is told with the next OK.
    assert r.numbered("EXPUNGE") == [(1, b"")], r
    c.logout()


# -- PREVIEW (RFC 8970) -------------------------------------------------------------

def test_preview(imap):
    assert "PREVIEW" in caps_of(imap.ok("CAPABILITY"))
    plain = msg("plain", body="Hello Bob,\r\n\r\n  the meeting   is at 10.\r\n-- \r\nAlice\r\n")
    alt = (b"From: a@example.org\r\nSubject: alt\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/alternative; boundary=zz\r\n\r\n"
           b"--zz\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
           b"<html><style>p{}</style><p>Caf&eacute; HTML</p></html>\r\n"
           b"--zz\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
           b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
           b"Caf=E9 cr=E8me\r\n--zz--\r\n")
    html = (b"From: a@example.org\r\nSubject: html\r\nContent-Type: text/html\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n"
            + __import__("base64").encodebytes(
                b"<p>Fish &amp; chips</p><!-- x --><script>no()</script>tonight") + b"\r\n")
    long = msg("long", body="w\u00f6rd " * 2000,
               extra="Content-Type: text/plain; charset=utf-8\r\n")
    image = (b"From: a@example.org\r\nSubject: image\r\nContent-Type: image/png\r\n"
             b"Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n")
    big = msg("big", body="Start of a big one. " + "z" * (3 * 1024 * 1024) + "\r\n")
    for m in (plain, alt, html, long, image, big):
        imap.append("INBOX", m)
    imap.ok("SELECT INBOX")
    # RFC 8970 4's example forms: PREVIEW, and PREVIEW (LAZY) in a list.
    r = imap.ok("FETCH 1:* (PREVIEW)")
    p = {n: v["PREVIEW"] for n, v in r.fetches().items()}
    assert p[1] == b"Hello Bob, the meeting is at 10. -- Alice"
    assert p[2].decode() == "Caf\u00e9 cr\u00e8me"           # text/plain preferred
    assert p[3] == b"Fish & chips tonight"
    assert len(p[4].decode()) == 256 and p[4].decode().startswith("w\u00f6rd w\u00f6rd")
    assert p[5] == b""                                        # no text
    assert p[6].startswith(b"Start of a big one. zzz") and len(p[6]) == 256
    r = imap.ok("UID FETCH 1:* (UID PREVIEW (LAZY))")
    assert {n: v["PREVIEW"] for n, v in r.fetches().items()} == p
    r = imap.ok("FETCH 1 PREVIEW (LAZY)")
    assert r.fetches()[1]["PREVIEW"] == p[1]
    # PREVIEW reads no \Seen into the message (it is no body FETCH).
    r = imap.ok("FETCH 1 FLAGS")
    assert b"\\Seen" not in [bytes(f) for f in r.fetches()[1]["FLAGS"]]
    for bad in ("FETCH 1 (PREVIEW (FUZZY))", "FETCH 1 (PREVIEW ())", "FETCH 1 PREVIEW[]",
                "FETCH 1 (PREVIEW (LAZY LAZY))"):
        r = imap.cmd(bad)
        assert r.status == "BAD", (bad, r)
