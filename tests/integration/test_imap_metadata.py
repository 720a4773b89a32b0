# tests/integration/test_imap_metadata.py: METADATA (RFC 5464) against the
# real server: values set in one session are seen in another (imaplib and
# raw), survive a restart, follow RENAME (INBOX's are copied), go with
# DELETE and `postino user del`; the limits and their response codes
# (MAXSIZE, TOOMANY, LONGENTRIES), all-or-nothing SETMETADATA, the
# computed entries (/shared/admin, /private/specialuse), and bad input
# (state, syntax, unknown mailbox, over-long names).  The RFC's examples
# are tests/transcripts/imap/rfc5464-metadata.txt.

import pytest

import helpers
from helpers import imap_connect, imaplib_connect


def meta(resp):
    """{entry: value} of the METADATA responses of an ImapResp (values as
    bytes, None for NIL), all for one and the same mailbox."""
    out, boxes = {}, set()
    for d in resp.data("METADATA"):
        vals, _ = helpers.parse_sexpr(d)
        assert len(vals) == 2 and isinstance(vals[1], list), d
        boxes.add(bytes(vals[0]))
        items = vals[1]
        assert len(items) % 2 == 0, d
        for i in range(0, len(items), 2):
            name = bytes(items[i]).decode()
            assert name not in out, f"{name} twice: {resp}"
            out[name] = items[i + 1]
    assert len(boxes) <= 1, boxes
    return out


def get(c, mailbox, entries, opts=""):
    r = c.cmd(f'GETMETADATA {helpers.quote(mailbox)} {opts}{entries}')
    assert r.status == "OK", r
    return meta(r)


def test_imaplib_across_sessions_and_restart(imap_own_server):
    srv = imap_own_server
    user = srv.new_user("md")
    a = imaplib_connect(srv, *user)
    assert "METADATA" in a.capabilities and "METADATA-SERVER" in a.capabilities
    typ, _ = a.xatom("SETMETADATA", '"" (/shared/comment "Server note")')
    assert typ == "OK"
    typ, _ = a.xatom("SETMETADATA", 'INBOX (/private/comment "Private note")')
    assert typ == "OK"
    a.logout()
    # a multi-line value needs a literal inside the list, which imaplib
    # cannot send
    c = imap_connect(srv, *user)
    c.ok(b"SETMETADATA Sent (/shared/comment {18+}\r\nline one\r\nline two)")
    c.logout()

    def check(srv):
        # another session (imaplib), then a raw one
        b = imaplib_connect(srv, *user)
        typ, _ = b.xatom("GETMETADATA", '"" /shared/comment')
        assert typ == "OK"
        typ, _ = b.xatom("GETMETADATA", "INBOX (/private/comment /shared/comment)")
        assert typ == "OK"
        typ, data = b.response("METADATA")
        assert data == [b'"" (/shared/comment "Server note")',
                        b'INBOX (/private/comment "Private note" /shared/comment NIL)'], data
        b.logout()
        c = imap_connect(srv, *user)
        assert get(c, "Sent", "/shared/comment") == {"/shared/comment": b"line one\r\nline two"}
        c.logout()

    check(srv)
    srv.restart()
    check(srv)
    srv.restart(crash=True)     # committed before OK: a kill -9 loses nothing
    check(srv)


def test_binary_value_nil_and_empty(imap):
    # literal8 (value = nstring / literal8): NUL octets stored and given back
    r = imap.cmd(b"SETMETADATA INBOX (/private/vendor/x-postino/blob ~{5+}\r\na\0b\0c)")
    assert r.status == "OK", r
    r = imap.ok("GETMETADATA INBOX /private/vendor/x-postino/blob")
    assert r.data("METADATA") == [b"INBOX (/private/vendor/x-postino/blob ~{5}\r\na\0b\0c)"], r
    # "" is a value; NIL removes; an absent entry reads NIL
    imap.ok('SETMETADATA INBOX (/private/comment "")')
    assert get(imap, "INBOX", "/private/comment") == {"/private/comment": b""}
    imap.ok("SETMETADATA INBOX (/private/comment NIL /private/vendor/x-postino/blob NIL)")
    assert get(imap, "INBOX", "(/private/comment /private/vendor/x-postino/blob)") == {
        "/private/comment": None, "/private/vendor/x-postino/blob": None}
    # removing what is not there is no error
    imap.ok("SETMETADATA INBOX (/private/never NIL)")


def test_rename_delete_and_user_del(imap_server):
    user = imap_server.new_user("md")
    c = imap_connect(imap_server, *user)
    c.ok("CREATE a")
    c.ok("CREATE a/b")
    c.ok('SETMETADATA a (/shared/comment "of a")')
    c.ok('SETMETADATA a/b (/private/comment "of b")')
    # RFC 5464 4.1: annotations follow RENAME, inferiors included
    c.ok("RENAME a c")
    assert get(c, "c", "/shared/comment") == {"/shared/comment": b"of a"}
    assert get(c, "c/b", "/private/comment") == {"/private/comment": b"of b"}
    r = c.cmd("GETMETADATA a /shared/comment")
    assert r.status == "NO" and r.code == "NONEXISTENT", r
    # ...and go with DELETE: a mailbox made again under the name starts bare
    c.ok("DELETE c")
    c.ok("CREATE c")
    assert get(c, "c", "/shared/comment") == {"/shared/comment": None}
    assert get(c, "c/b", "/private/comment") == {"/private/comment": b"of b"}
    # RENAME INBOX: INBOX keeps them, the new mailbox gets a copy
    c.ok('SETMETADATA INBOX (/private/comment "inbox")')
    c.ok("RENAME INBOX old")
    assert get(c, "INBOX", "/private/comment") == {"/private/comment": b"inbox"}
    assert get(c, "old", "/private/comment") == {"/private/comment": b"inbox"}
    # another session sees the same
    d = imap_connect(imap_server, *user)
    assert get(d, "old", "/private/comment") == {"/private/comment": b"inbox"}
    d.logout()
    c.ok('SETMETADATA "" (/shared/comment "server")')
    c.logout()
    # `postino user del` removes them; the address made anew starts bare
    r = imap_server.cli("user", "del", user[0])
    assert r.returncode == 0, r.stderr
    imap_server.add_user(*user)
    c = imap_connect(imap_server, *user)
    assert get(c, "", "/shared/comment") == {"/shared/comment": None}
    assert get(c, "INBOX", "/private/comment") == {"/private/comment": None}
    c.logout()


def test_users_do_not_see_each_other(imap_server):
    u, v = imap_server.new_user("md"), imap_server.new_user("md")
    a, b = imap_connect(imap_server, *u), imap_connect(imap_server, *v)
    a.ok('SETMETADATA "" (/shared/comment "u only" /private/comment "u private")')
    a.ok('SETMETADATA INBOX (/shared/comment "u inbox")')
    assert get(b, "", "(/shared/comment /private/comment)") == {
        "/shared/comment": None, "/private/comment": None}
    assert get(b, "INBOX", "/shared/comment") == {"/shared/comment": None}
    a.logout()
    b.logout()


def test_depth_maxsize_and_split_responses(imap):
    big = b"v" * 16000
    for i in range(10):
        r = imap.cmd(b"SETMETADATA INBOX (/private/vendor/x-postino/big%d {%d+}\r\n%s)"
                     % (i, len(big), big))
        assert r.status == "OK", r
    imap.ok('SETMETADATA INBOX (/private/vendor/x-postino/big0/child "c")')
    # DEPTH infinity: all 11, in responses of bounded size (4.4 allows any
    # grouping), each value whole
    r = imap.ok("GETMETADATA INBOX (DEPTH infinity) /private/vendor/x-postino")
    assert len(r.data("METADATA")) > 1, "160 KB of values in one response"
    got = meta(r)
    assert len(got) == 11
    assert all(got[f"/private/vendor/x-postino/big{i}"] == big for i in range(10))
    # DEPTH 1: children, not grandchildren
    got = get(imap, "INBOX", "/private/vendor/x-postino", "(DEPTH 1) ")
    assert sorted(got) == [f"/private/vendor/x-postino/big{i}" for i in range(10)]
    # MAXSIZE: the long values left out, LONGENTRIES names the longest
    r = imap.ok("GETMETADATA (MAXSIZE 100 DEPTH 1) INBOX /private/vendor/x-postino/big0")
    assert meta(r) == {"/private/vendor/x-postino/big0/child": b"c"}
    assert r.code == "METADATA LONGENTRIES 16000", r


def test_computed_entries(imap):
    # /shared/admin (3.2.1.1): a URI, read-only
    got = get(imap, "", "/shared/admin")
    assert got["/shared/admin"].startswith(b"mailto:"), got
    r = imap.cmd('SETMETADATA "" (/shared/admin "mailto:me@example.org")')
    assert r.status == "NO", r
    r = imap.cmd('SETMETADATA "" (/shared/admin NIL)')
    assert r.status == "NO", r
    # /private/specialuse (RFC 6154 4): the LIST attributes, NIL for none
    assert get(imap, "Sent", "/private/specialuse") == {"/private/specialuse": b"\\Sent"}
    assert get(imap, "INBOX", "/private/specialuse") == {"/private/specialuse": None}
    r = imap.cmd('SETMETADATA Sent (/private/specialuse "\\\\Trash")')
    assert r.status == "NO", r
    assert get(imap, "Sent", "/private/specialuse") == {"/private/specialuse": b"\\Sent"}
    # DEPTH from the scope finds them too
    got = get(imap, "Drafts", "/private", "(DEPTH infinity) ")
    assert got.get("/private/specialuse") == b"\\Drafts", got


def test_bad_input(imap_server, imap):
    # wrong state: not before login (4.2, 4.3)
    c = imap_connect(imap_server)
    for line in ('GETMETADATA "" /shared/comment', 'SETMETADATA "" (/shared/comment "x")'):
        r = c.cmd(line)
        assert r.status == "BAD", r
    c.close()
    # entry names (3.2): BAD
    for line in ("GETMETADATA INBOX /shared/a%",
                 "GETMETADATA INBOX /comment",
                 "GETMETADATA INBOX (/shared/comment /shared//x)",
                 "GETMETADATA INBOX /shared/" + "x" * 300,
                 "SETMETADATA INBOX (/shared/" + "x" * 300 + ' "v")',
                 'SETMETADATA INBOX (/private "v")',
                 'SETMETADATA INBOX (/shared/comment "a" /SHARED/COMMENT "b")',
                 'SETMETADATA INBOX (/shared/comment)',
                 "GETMETADATA INBOX (DEPTH 2) /shared/comment",
                 "GETMETADATA INBOX (MAXSIZE x) /shared/comment",
                 "GETMETADATA INBOX (BOGUS 1) /shared/comment",
                 "GETMETADATA INBOX",
                 "SETMETADATA INBOX /shared/comment \"x\""):
        r = imap.cmd(line)
        assert r.status == "BAD", (line, r)
        imap.ok("NOOP")     # errors in a row would end the session
    # an unknown mailbox: NO [NONEXISTENT] (3.3 says NO; TRYCREATE is for
    # APPEND and COPY/MOVE targets)
    r = imap.cmd("GETMETADATA nosuch /shared/comment")
    assert (r.status, r.code) == ("NO", "NONEXISTENT"), r
    r = imap.cmd('SETMETADATA nosuch (/shared/comment "x")')
    assert (r.status, r.code) == ("NO", "NONEXISTENT"), r
    # and nothing of the refused commands was written
    assert get(imap, "INBOX", "/shared/comment") == {"/shared/comment": None}


def test_value_too_large_refused_unread(imap):
    """RFC 5464 4.3: "If the server is unable to set an annotation because
    the size of its value is too large, the server MUST return a tagged NO
    response with a "[METADATA MAXSIZE NNN]" response code when NNN is the
    maximum octet count that it is willing to accept."  A value literal
    too large is refused at its announcement, whatever its size (also past
    the 64 KiB literal limit of other commands): a synchronizing one is
    never invited (RFC 9051 7.5: the tagged NO instead of "+"), a {n+} one
    (RFC 7888 4) is read and dropped, never held, and the NO follows the
    command's end.  Nothing is written, and the session goes on."""
    maxsize = "METADATA MAXSIZE 16384"      # the default metadata_max_size
    for size in (16385, 70000, 8 * 1024 * 1024):
        # synchronizing: NO instead of the continuation
        r = imap.cmd_sync(["SETMETADATA INBOX (/private/comment ", b"x" * size, ")"])
        assert (r.status, r.code, r.conts) == ("NO", maxsize, []), (size, r)
        imap.ok("NOOP")
        # literal8 too
        r = imap.cmd(b"SETMETADATA INBOX (/private/comment ~{%d}" % size)
        assert (r.status, r.code, r.conts) == ("NO", maxsize, []), (size, r)
        # non-synchronizing, the second value of two, the rest of the
        # command (another {n+} value) and a command pipelined behind it:
        # the NO, then the next command's answer
        tag = imap.next_tag()
        imap.send(b'%s SETMETADATA INBOX (/private/a "a" /private/comment {%d+}\r\n%s'
                  b' /private/b {1+}\r\nb)\r\nN1 NOOP\r\n'
                  % (tag.encode(), size, b"y" * size))
        r = imap.read_tagged(tag)
        assert (r.status, r.code) == ("NO", maxsize), (size, r)
        assert imap.read_tagged("N1").status == "OK"
    # a value of the limit's size is taken
    r = imap.cmd(b"SETMETADATA INBOX (/private/ok {16384+}\r\n" + b"z" * 16384 + b")")
    assert r.status == "OK", r
    assert get(imap, "INBOX", "(/private/a /private/b /private/comment)") == {
        "/private/a": None, "/private/b": None, "/private/comment": None}
    # other literals over the limit stay BAD [TOOBIG]: the mailbox, an
    # entry name, another command's; a {n+} one read and dropped
    for line in (b"SETMETADATA {70000+}", b"SETMETADATA INBOX ({70000+}",
                 b"GETMETADATA INBOX {70000+}", b"CREATE {70000+}"):
        r = imap.cmd(line + b"\r\n" + b"q" * 70000 + b' "v")')
        assert (r.status, r.code) == ("BAD", "TOOBIG"), (line, r)
        imap.ok("NOOP")
    r = imap.cmd_sync(["SETMETADATA INBOX (", b"/private/x" * 7000, ' "v")'])
    assert (r.status, r.code, r.conts) == ("BAD", "TOOBIG", []), r
    imap.ok("NOOP")


def test_value_too_large_before_login(imap_server):
    # not an authenticated client: its small literal limit, BAD [TOOBIG]
    c = imap_connect(imap_server)
    r = c.cmd_sync(["SETMETADATA INBOX (/private/comment ", b"x" * 20000, ")"])
    assert (r.status, r.code, r.conts) == ("BAD", "TOOBIG", []), r
    c.ok("NOOP")
    c.close()


@pytest.fixture(scope="module")
def small_server(tmp_path_factory):
    yield from helpers.configured_server(
        tmp_path_factory, "metadatasmall",
        "imap = { metadata_max_size = 1024; metadata_max_entries = 10;\n"
        "  metadata_max_user_entries = 15; metadata_admin = \"tel:+1-555-0100\"; };\n",
        kinds=helpers.IMAP_KINDS)


def test_limits_and_all_or_nothing(small_server):
    c = imap_connect(small_server, *small_server.new_user("md"))
    assert get(c, "", "/shared/admin") == {"/shared/admin": b"tel:+1-555-0100"}
    # 4.1: at least 1024 octets; one more is NO [METADATA MAXSIZE 1024]
    r = c.cmd(b"SETMETADATA INBOX (/private/ok {1024+}\r\n" + b"x" * 1024 + b")")
    assert r.status == "OK", r
    r = c.cmd(b'SETMETADATA INBOX (/private/a "a" /private/big {1025+}\r\n' + b"x" * 1025 + b")")
    assert (r.status, r.code) == ("NO", "METADATA MAXSIZE 1024"), r
    assert get(c, "INBOX", "/private/a") == {"/private/a": None}     # all or nothing
    r = c.cmd_sync(['SETMETADATA INBOX (/private/a "a" /private/big ', b"x" * 1025, ")"])
    assert (r.status, r.code, r.conts) == ("NO", "METADATA MAXSIZE 1024", []), r
    # 4.1: 10 entries per mailbox; the 11th is NO [METADATA TOOMANY]
    pairs = " ".join(f"/private/e{i} \"{i}\"" for i in range(1, 10))
    c.ok(f"SETMETADATA INBOX ({pairs})")
    r = c.cmd('SETMETADATA INBOX (/private/e10 "10")')
    assert (r.status, r.code) == ("NO", "METADATA TOOMANY"), r
    # replacing is no new entry; a removal makes room in the same command
    c.ok('SETMETADATA INBOX (/private/e1 "one")')
    c.ok('SETMETADATA INBOX (/private/e1 NIL /private/e10 "10")')
    # a refused batch writes nothing
    r = c.cmd('SETMETADATA INBOX (/private/e2 NIL /private/e11 "11" /private/e12 "12")')
    assert (r.status, r.code) == ("NO", "METADATA TOOMANY"), r
    assert get(c, "INBOX", "/private/e2") == {"/private/e2": b"2"}
    # the user's 15 count every mailbox and the server: 10 + 5 more
    pairs = " ".join(f"/shared/s{i} \"{i}\"" for i in range(5))
    c.ok(f'SETMETADATA "" ({pairs})')
    r = c.cmd('SETMETADATA Sent (/private/comment "one too many")')
    assert (r.status, r.code) == ("NO", "METADATA TOOMANY"), r
    c.logout()
