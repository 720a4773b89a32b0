# tests/integration/test_imap_badinput.py: bad input to IMAP (issue 3 "Bad
# input"): unbalanced parentheses, literals larger than announced or than the
# limits ([TOOBIG], RFC 7888 4, RFC 7889), sequence numbers past the end,
# reversed sets (RFC 9051 9: 4:2 is 2:4), unknown sections, NUL bytes, 8-bit
# bytes in atoms, a 100 KB command line.  Each gets a tagged BAD or NO, the
# session goes on (the next NOOP works) and the store is unchanged.
import pytest

from helpers import imap_connect, lit, make_message, status_items

MSGS = [make_message(f"bad input {i}") for i in range(3)]


def snapshot(srv, user):
    """Every mailbox with its counters, and INBOX's UIDs and flags, read over a
    second connection."""
    c = imap_connect(srv, *user)
    out = {}
    r = c.ok('LIST "" "*"')
    for d in r.data("LIST"):
        name = d.rsplit(b" ", 1)[1].strip(b'"').decode()
        st = c.ok(f'STATUS "{name}" (MESSAGES UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ)')
        out[name] = status_items(st)[1]
    c.select("INBOX", examine=True)
    f = c.ok("FETCH 1:* (UID FLAGS BODY.PEEK[])").fetches()
    out["INBOX msgs"] = {k: (v["UID"], sorted(bytes(x) for x in v["FLAGS"] if x != b"\\Recent"),
                             v["BODY[]"]) for k, v in f.items()}
    c.logout()
    return out


@pytest.fixture
def sess(imap_server, imap_user):
    c = imap_connect(imap_server, *imap_user)
    for m in MSGS:
        c.append("INBOX", m)
    c.select("INBOX")
    before = snapshot(imap_server, imap_user)
    assert len(before["INBOX msgs"]) == 3
    yield c
    # The session goes on and nothing changed.
    r = c.cmd("NOOP")
    assert r.status == "OK", r
    assert sorted(c.ok("FETCH 1:* UID").fetches()) == [1, 2, 3]
    c.logout()
    assert snapshot(imap_server, imap_user) == before


BAD_ONLY = [
    # unbalanced parentheses
    b"FETCH 1 (FLAGS UID",
    b"FETCH 1 FLAGS UID)",
    b"FETCH 1 ((FLAGS)",
    b"SEARCH (SEEN",
    b"SEARCH SEEN)",
    b"STORE 1 +FLAGS (\\Deleted",
    # unknown or malformed sections
    b"FETCH 1 BODY[FOO]",
    b"FETCH 1 BODY[0]",
    b"FETCH 1 BODY[1.0]",
    b"FETCH 1 BODY[HEADER.FIELDS]",
    b"FETCH 1 BODY[HEADER.FIELDS ()]",
    b"FETCH 1 BODY[TEXT",
    b"FETCH 1 BODY[]<5.0.1>",
    b"FETCH 1 BODY[]<x>",
    b"FETCH 1 FLAGGS",
    # sets
    b"FETCH 0 FLAGS",
    b"FETCH 1:x FLAGS",
    b"FETCH , FLAGS",
    b"STORE 1 +FLAGS",
    b"COPY 1",
    # NUL bytes
    b"NOOP\x00",
    b"FETCH 1\x00 FLAGS",
    b"STORE 1 +FLAGS (\\Dele\x00ted)",
    b'SEARCH SUBJECT "a\x00b"',
    # 8-bit bytes in atoms
    b"FETCH 1 FL\xffAGS",
    b"STORE 1 +FLAGS (\\Seen K\xc3\xa9y)",
    b"NO\xc3\x8fOP",
    # long line
    b"NOOP " + b"a" * 100_000,
    b"SEARCH TEXT " + b"x" * 100_000,
    b"FETCH " + b"1," * 50_000 + b"1 FLAGS",
]


@pytest.mark.parametrize("line", BAD_ONLY, ids=lambda l: repr(l[:40]))
def test_bad(sess, line):
    r = sess.cmd(line)
    assert r.status == "BAD", r


NO_OR_BAD = [
    b"FETCH 4 FLAGS",            # past the end of 3 messages
    b"FETCH 2:9 FLAGS",
    b"STORE 4 +FLAGS (\\Deleted)",
    b"STORE 1:5 +FLAGS (\\Deleted)",
    b"COPY 3:4 Trash",
    b"MOVE 9 Trash",
    b"SELECT IN\x00BOX",
    b"SELECT INB\xc3\xa9X",
    b"CREATE \"bad\x00name\"",
    b"APPEND INBOX " + lit(b"Subject: nul\r\n\r\na\x00b\r\n"),
]


@pytest.mark.parametrize("line", NO_OR_BAD, ids=lambda l: repr(l[:40]))
def test_bad_or_no(sess, line):
    r = sess.cmd(line)
    assert r.status in ("BAD", "NO"), r
    if line.startswith(b"SELECT"):
        # A failed SELECT may leave no mailbox selected (RFC 9051 6.3.2).
        sess.select("INBOX")


def test_uid_past_end_is_empty_ok(sess):
    # UIDs that do not exist are not an error (RFC 9051 6.4.9).
    r = sess.ok("UID FETCH 50:60 FLAGS")
    assert r.fetches() == {}, r
    r = sess.ok("UID STORE 50 +FLAGS (\\Deleted)")
    assert r.fetches() == {}, r


def test_reversed_sets_equal_forward(sess):
    fwd = sess.ok("UID FETCH 1:3 UID").fetches()
    assert sess.ok("UID FETCH 3:1 UID").fetches() == fwd
    assert sess.ok("FETCH 3:1 UID").fetches() == fwd
    assert sess.ok("FETCH *:1 UID").fetches() == fwd
    r = sess.ok("UID SEARCH UID 3:2")
    assert sorted(int(x) for x in r.data("SEARCH")[0].split()) == [2, 3]


def test_literal_longer_than_announced(sess):
    # {5+} takes "abcde"; the rest is more command text: bad syntax.
    r = sess.cmd(b"APPEND INBOX {5+}\r\nabcdefgh")
    assert r.status == "BAD", r


def test_sync_literal_over_limit_refused_without_continuation(sess):
    sess.send(b"a1 SEARCH TEXT {10000000}\r\n")
    r = sess.read_response()
    assert r.startswith(b"a1 BAD [TOOBIG]") or r.startswith(b"a1 NO [TOOBIG]"), r


def test_append_over_appendlimit(sess):
    sess.send(b"a2 APPEND INBOX {70000000}\r\n")
    r = sess.read_response()
    # RFC 7889 4: a message over APPENDLIMIT is refused with [TOOBIG] and no "+".
    assert r.startswith(b"a2 NO [TOOBIG]") or r.startswith(b"a2 BAD [TOOBIG]"), r


def test_nonsync_literal_over_limit_discarded(sess):
    data = b"q" * 300_000
    r = sess.cmd(b"SEARCH TEXT {%d+}\r\n" % len(data) + data)
    assert r.status == "BAD" and r.code == "TOOBIG", r


def test_empty_and_tagless_lines(sess):
    # An empty line carries no command and is skipped without a reply
    # (some clients send one after an APPEND literal): the next reply is
    # the NOOP's.
    sess.send(b"\r\nx1 NOOP\r\n")
    r = sess.read_response()
    assert r.startswith(b"x1 OK"), r
    # No usable tag: the answer is an untagged BAD (RFC 9051 7.1.3).
    sess.send(b"(bad NOOP\r\n")
    r = sess.read_response()
    assert r.startswith(b"* BAD"), r
    sess.send(b"tagonly\r\n")
    r = sess.read_response()
    assert r.startswith(b"tagonly BAD"), r


def test_binary_garbage_line(sess):
    junk = bytes(b for b in range(256) if b not in (10, 13)) * 4
    sess.send(junk + b"\r\n")
    r = sess.read_response()
    assert r.startswith(b"* BAD"), r


@pytest.mark.parametrize("line, reply", [
    # a line too long even for core's reader (beyond it core drops the
    # rest unread): the tag is still at its start (RFC 9051 7.1.3)
    (b"t1 LOGIN " + b"x" * 300_000, b"t1 BAD [TOOBIG]"),
    # ... and the line after a literal belongs to the command it continues
    (b"t2 LOGIN {4+}\r\nuser " + b"x" * 300_000, b"t2 BAD [TOOBIG]"),
    # no tag to be found: untagged
    (b"(((" + b"x" * 300_000, b"* BAD [TOOBIG]"),
    (b"t3" + b"x" * 300_000, b"* BAD [TOOBIG]"),
], ids=["tag", "after-literal", "no-tag", "no-space"])
def test_line_too_long_for_core_gets_its_tag(imap_server, line, reply):
    c = imap_connect(imap_server)
    c.send(line + b"\r\n")
    r = c.read_response()
    assert r.startswith(reply), r[:100]
    r = c.cmd("NOOP")
    assert r.status == "OK", r
    c.close()
