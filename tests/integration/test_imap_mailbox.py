# tests/integration/test_imap_mailbox.py: mailbox commands (RFC 9051 6.3):
# CREATE, DELETE, RENAME (also of INBOX), SUBSCRIBE, UNSUBSCRIBE, LIST with
# * and %, LIST-EXTENDED (RFC 5258), SPECIAL-USE (RFC 6154) on the default
# mailboxes, LIST-STATUS (RFC 5819), LSUB, STATUS with every item, INBOX
# case-insensitivity and modified UTF-7 names (RFC 3501 5.1.3).
from helpers import make_message, parse_sexpr, quote, status_items

DEFAULTS = {"INBOX": None, "Sent": "\\Sent", "Drafts": "\\Drafts", "Trash": "\\Trash",
            "Junk": "\\Junk", "Archive": "\\Archive"}


def listing(resp, kind="LIST"):
    """{name: (set of lower-case attributes, delimiter, extended data)}."""
    out = {}
    for d in resp.data(kind):
        vals, _ = parse_sexpr(d)
        assert len(vals) in (3, 4), f"bad {kind} response {d!r}"
        attrs, delim, name = vals[0], vals[1], vals[2]
        assert isinstance(attrs, list), d
        name = bytes(name).decode("utf-8")
        assert name not in out, f"{name} listed twice: {resp}"
        out[name] = ({bytes(a).decode().lower() for a in attrs},
                     None if delim is None else bytes(delim).decode(),
                     vals[3] if len(vals) == 4 else None)
    return out


def names(resp, kind="LIST"):
    return set(listing(resp, kind))


def test_default_mailboxes_and_special_use(imap):
    r = imap.ok('LIST "" "*"')
    got = listing(r)
    assert set(got) == set(DEFAULTS), r
    assert {d for _, d, _ in got.values()} == {"/"}, r
    # RFC 9051 6.3.9.5: with RETURN (CHILDREN) the attributes are a MUST.
    got = listing(imap.ok('LIST "" "*" RETURN (CHILDREN)'))
    for name, (attrs, delim, _) in got.items():
        assert "\\hasnochildren" in attrs and "\\haschildren" not in attrs, f"{name}: {attrs}"
    r = imap.ok('LIST "" "*" RETURN (SPECIAL-USE)')
    got = listing(r)
    for name, use in DEFAULTS.items():
        uses = {a for a in got[name][0] if a in {v.lower() for v in DEFAULTS.values() if v}}
        assert uses == ({use.lower()} if use else set()), f"{name}: {got[name][0]}"
    # RFC 6154 5.1: the SPECIAL-USE selection option lists only those.
    r = imap.ok('LIST (SPECIAL-USE) "" "*"')
    got = listing(r)
    assert set(got) == {n for n, u in DEFAULTS.items() if u}, r
    for name, (attrs, _, _) in got.items():
        assert DEFAULTS[name].lower() in attrs


def test_delimiter_query(imap):
    r = imap.ok('LIST "" ""')
    assert r.data("LIST") == [b'(\\Noselect) "/" ""'], r


def test_create_list_wildcards(imap):
    for n in ("work", "work/a", "work/a/deep", "work/b", "workshop"):
        imap.ok(f"CREATE {quote(n)}")
    assert names(imap.ok('LIST "" "work*"')) == {"work", "work/a", "work/a/deep", "work/b",
                                                 "workshop"}
    assert names(imap.ok('LIST "" "work%"')) == {"work", "workshop"}
    assert names(imap.ok('LIST "" "work/%"')) == {"work/a", "work/b"}
    assert names(imap.ok('LIST "work/" "%"')) == {"work/a", "work/b"}   # reference + pattern
    assert names(imap.ok('LIST "" "*/deep"')) == {"work/a/deep"}
    assert names(imap.ok('LIST "" "nothing-here*"')) == set()
    top = listing(imap.ok('LIST "" "%" RETURN (CHILDREN)'))
    assert set(top) == set(DEFAULTS) | {"work", "workshop"}
    assert "\\haschildren" in top["work"][0] and "\\hasnochildren" not in top["work"][0]
    assert "\\hasnochildren" in top["workshop"][0]


def test_create_errors(imap):
    imap.ok("CREATE dup")
    r = imap.cmd("CREATE dup")
    assert (r.status, r.code) == ("NO", "ALREADYEXISTS"), r
    r = imap.cmd("CREATE inbox")
    assert r.status == "NO", r
    imap.ok('CREATE "trailing/"')        # RFC 3501 6.3.3: trailing delimiter dropped
    assert names(imap.ok('LIST "" "trailing*"')) == {"trailing"}
    assert imap.cmd("CREATE").status == "BAD"


def test_create_makes_parents(imap):
    # RFC 9051 6.3.4: CREATE of a/b/c creates the missing superiors.
    imap.ok('CREATE "p1/p2/p3"')
    assert names(imap.ok('LIST "" "p1*"')) == {"p1", "p1/p2", "p1/p2/p3"}


def test_delete(imap):
    imap.ok("CREATE gone")
    imap.append("gone", make_message("x"))
    _, old = status_items(imap.ok("STATUS gone (UIDVALIDITY UIDNEXT)"))
    imap.ok("DELETE gone")
    assert names(imap.ok('LIST "" "gone"')) == set()
    r = imap.cmd("DELETE gone")
    assert (r.status, r.code) == ("NO", "NONEXISTENT"), r
    r = imap.cmd("STATUS gone (MESSAGES)")
    assert (r.status, r.code) == ("NO", "NONEXISTENT"), r
    # A new mailbox of the same name starts empty and never reuses a UID of
    # the old one under the same UIDVALIDITY (RFC 9051 6.3.5).
    imap.ok("CREATE gone")
    r = imap.ok("STATUS gone (MESSAGES UIDNEXT UIDVALIDITY)")
    name, new = status_items(r)
    assert name == "gone" and new["MESSAGES"] == 0, r
    assert new["UIDVALIDITY"] != old["UIDVALIDITY"] or new["UIDNEXT"] >= old["UIDNEXT"], r


def test_delete_with_children(imap):
    imap.ok("CREATE par")
    imap.ok('CREATE "par/kid"')
    imap.append("par", make_message("in parent"))
    r = imap.cmd("DELETE par")
    # RFC 9051 6.3.5: NO [HASCHILDREN], or OK and "par" becomes \Noselect;
    # the child is never removed.
    assert (r.status, r.code) in (("NO", "HASCHILDREN"), ("OK", "")), r
    got = listing(imap.ok('LIST "" "par*"'))
    assert "par/kid" in got
    if r.status == "OK":
        assert "\\noselect" in got["par"][0], got
        r = imap.cmd("SELECT par")
        assert r.status == "NO", r
    else:
        assert status_items(imap.ok("STATUS par (MESSAGES)"))[1] == {"MESSAGES": 1}


def test_rename_into_itself_refused(imap):
    imap.ok("CREATE loop")
    r = imap.cmd('RENAME loop "loop/inner"')
    assert r.status == "NO", r
    assert names(imap.ok('LIST "" "loop*"')) == {"loop"}


def test_cannot_delete_inbox(imap):
    imap.append("INBOX", make_message("keep me"))
    for name in ("INBOX", "inbox", "InBox"):
        r = imap.cmd(f"DELETE {name}")
        assert r.status == "NO", r
    r = imap.ok("STATUS INBOX (MESSAGES)")
    assert status_items(r) == ("INBOX", {"MESSAGES": 1}), r


def test_rename_with_children(imap):
    imap.ok('CREATE "old/kid"')
    imap.append("old/kid", make_message("kid msg"))
    imap.ok("RENAME old new")
    assert names(imap.ok('LIST "" "old*"')) == set()
    assert names(imap.ok('LIST "" "new*"')) == {"new", "new/kid"}
    r = imap.ok('STATUS "new/kid" (MESSAGES)')
    assert status_items(r) == ("new/kid", {"MESSAGES": 1}), r


def test_rename_errors(imap):
    imap.ok("CREATE ra")
    imap.ok("CREATE rb")
    r = imap.cmd("RENAME ra rb")
    assert (r.status, r.code) == ("NO", "ALREADYEXISTS"), r
    r = imap.cmd("RENAME no-such rc")
    assert (r.status, r.code) == ("NO", "NONEXISTENT"), r
    assert names(imap.ok('LIST "" "r?"')) == set()      # "?" is not a wildcard
    assert names(imap.ok('LIST "" "r%"')) == {"ra", "rb"}


def test_rename_inbox(imap):
    m1, m2 = make_message("first"), make_message("second")
    imap.append("INBOX", m1)
    imap.append("INBOX", m2)
    # RFC 9051 6.3.6: renaming INBOX moves its messages to the new name and
    # leaves INBOX empty (it still exists).
    imap.ok("RENAME INBOX old-inbox")
    r = imap.ok("STATUS INBOX (MESSAGES)")
    assert status_items(r) == ("INBOX", {"MESSAGES": 0}), r
    r = imap.ok("STATUS old-inbox (MESSAGES)")
    assert status_items(r) == ("old-inbox", {"MESSAGES": 2}), r
    imap.select("old-inbox")
    r = imap.ok("FETCH 1:2 BODY.PEEK[]")
    f = r.fetches()
    assert [f[1]["BODY[]"], f[2]["BODY[]"]] == [m1, m2]
    assert "INBOX" in names(imap.ok('LIST "" "*"'))


def test_subscribe_lsub(imap):
    imap.ok("CREATE subme")
    assert "subme" not in names(imap.ok('LSUB "" "*"'), "LSUB")
    imap.ok("SUBSCRIBE subme")
    assert "subme" in names(imap.ok('LSUB "" "*"'), "LSUB")
    got = listing(imap.ok('LIST (SUBSCRIBED) "" "sub*"'))
    assert set(got) == {"subme"} and "\\subscribed" in got["subme"][0], got
    got = listing(imap.ok('LIST "" "sub*" RETURN (SUBSCRIBED)'))
    assert "\\subscribed" in got["subme"][0], got
    imap.ok("UNSUBSCRIBE subme")
    assert "subme" not in names(imap.ok('LSUB "" "*"'), "LSUB")
    assert names(imap.ok('LIST (SUBSCRIBED) "" "sub*"')) == set()
    # RFC 9051 6.3.7: a subscription outlives its mailbox; LIST (SUBSCRIBED)
    # then shows it \NonExistent (RFC 5258 3.1).
    imap.ok("CREATE ghost")
    imap.ok("SUBSCRIBE ghost")
    imap.ok("DELETE ghost")
    got = listing(imap.ok('LIST (SUBSCRIBED) "" "ghost"'))
    assert set(got) == {"ghost"} and {"\\subscribed", "\\nonexistent"} <= got["ghost"][0], got


def test_list_extended_recursivematch(imap):
    imap.ok('CREATE "rm/child"')
    imap.ok('SUBSCRIBE "rm/child"')
    # RFC 5258 6 example: the unsubscribed parent appears with CHILDINFO.
    got = listing(imap.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" "rm%"'))
    assert set(got) == {"rm"}, got
    assert "\\subscribed" not in got["rm"][0]
    ext = got["rm"][2]
    assert ext is not None and bytes(ext[0]).upper() == b"CHILDINFO" and \
        [bytes(x).upper() for x in ext[1]] == [b"SUBSCRIBED"], ext
    r = imap.cmd('LIST (RECURSIVEMATCH) "" "*"')
    assert r.status == "BAD", r        # RFC 5258 3: RECURSIVEMATCH alone is invalid


def test_list_multiple_patterns_and_children(imap):
    imap.ok('CREATE "mp1/x"')
    imap.ok("CREATE mp2")
    got = listing(imap.ok('LIST "" ("mp1" "mp2") RETURN (CHILDREN)'))
    assert set(got) == {"mp1", "mp2"}
    assert "\\haschildren" in got["mp1"][0]
    assert "\\hasnochildren" in got["mp2"][0]


def test_status_all_items(imap):
    imap.ok("CREATE st")
    m1, m2, m3 = make_message("a"), make_message("b"), make_message("c")
    r1 = imap.append("st", m1, flags=["\\Seen"])
    imap.append("st", m2, flags=["\\Deleted"])
    imap.append("st", m3)
    r = imap.ok("STATUS st (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE "
                "HIGHESTMODSEQ)")
    name, items = status_items(r)
    assert name == "st"
    uidvalidity = int(r1.code.split()[1])      # APPENDUID uidvalidity uid
    assert items["MESSAGES"] == 3
    assert items["RECENT"] == 3
    assert items["UIDNEXT"] == 4
    assert items["UIDVALIDITY"] == uidvalidity
    assert items["UNSEEN"] == 2
    assert items["DELETED"] == 1
    assert items["SIZE"] == len(m1) + len(m2) + len(m3)
    assert items["HIGHESTMODSEQ"] >= 1
    assert set(items) == {"MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED",
                          "SIZE", "HIGHESTMODSEQ"}
    r = imap.cmd("STATUS st (BOGUS)")
    assert r.status == "BAD", r
    r = imap.cmd("STATUS nope (MESSAGES)")
    assert (r.status, r.code) == ("NO", "NONEXISTENT"), r


def test_list_status(imap):
    imap.ok("CREATE ls1")
    imap.append("ls1", make_message("x"))
    r = imap.ok('LIST "" "ls1" RETURN (STATUS (MESSAGES UNSEEN))')
    assert names(r) == {"ls1"}
    assert status_items(r) == ("ls1", {"MESSAGES": 1, "UNSEEN": 1}), r


def test_inbox_case_insensitive(imap):
    imap.append("inbox", make_message("lower"))
    imap.append("InBoX", make_message("mixed"))
    r = imap.ok("STATUS iNbOx (MESSAGES)")
    name, items = status_items(r)
    assert name.upper() == "INBOX" and items == {"MESSAGES": 2}, r
    r = imap.ok("SELECT inbox")
    assert r.numbered("EXISTS") == [(2, b"")], r
    assert names(imap.ok('LIST "" "inbox"')) == {"INBOX"}
    # Only INBOX is case-insensitive.
    imap.ok("CREATE Folder")
    r = imap.cmd("STATUS folder (MESSAGES)")
    assert (r.status, r.code) == ("NO", "NONEXISTENT"), r


def test_modified_utf7_names(imap):
    # "Été/日本" in modified UTF-7 (RFC 3501 5.1.3).
    wire = "&AMk-t&AOk-/&ZeVnLA-"
    imap.ok(f'CREATE "{wire}"')
    got = names(imap.ok('LIST "" "&AMk-t&AOk-*"'))
    assert got == {"&AMk-t&AOk-", wire}, got
    imap.ok(f'SELECT "{wire}"')
    r = imap.cmd('CREATE "bad&Jjo"')      # unterminated base64 shift
    assert r.status in ("BAD", "NO"), r
    r = imap.cmd('CREATE "&AGE-"')        # "a" encoded: not the shortest form
    assert r.status in ("BAD", "NO"), r
    imap.ok("UNSELECT")                  # ENABLE is for the authenticated state
    imap.ok("ENABLE UTF8=ACCEPT")
    r = imap.ok('LIST "" "*"')
    assert {"Été", "Été/日本"} <= names(r), r


def test_append_to_missing_mailbox_trycreate(imap):
    r = imap.cmd(b"APPEND nowhere {6+}\r\nab\r\n\r\n")
    assert (r.status, r.code) == ("NO", "TRYCREATE"), r


# Strings that are well-formed IMAP but name no possible mailbox: imaptest's
# "!#$&'+,-.0123..." (an "&" opening no valid modified BASE64 run), other
# bad modified UTF-7, an empty name and a literal holding CR and LF.
INVALID_NAMES = [
    b'"!#$&\'+,-.0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~"',
    b'"bad&Jjo"',
    b'"&AGE-"',
    b'"&U/BTFw-"',
    b'""',
    b"{3+}\r\na\r\n",
]


def test_invalid_names_get_no(imap):
    # RFC 5530 3 / RFC 9051 7.1: a name that can never exist is a NO with a
    # code; BAD is kept for what the grammar refuses.
    imap.ok("CREATE valid")
    msg = make_message("x")
    for name in INVALID_NAMES:
        for line in [b"CREATE %s", b"DELETE %s", b"RENAME valid %s", b"RENAME %s other",
                     b"SUBSCRIBE %s", b"UNSUBSCRIBE %s", b"STATUS %s (MESSAGES)",
                     b"APPEND %s {%d+}\r\n%s" % (b"%s", len(msg), msg),
                     b"EXAMINE %s", b"SELECT %s"]:
            r = imap.cmd(line.replace(b"%s", name, 1))
            assert (r.status, r.code) == ("NO", "CANNOT"), (line, name, r)
        imap.ok("SELECT valid")
        imap.append("valid", msg)
        for line in [b"COPY 1 %s", b"MOVE 1 %s", b"UID COPY 1:* %s"]:
            r = imap.cmd(line.replace(b"%s", name, 1))
            assert (r.status, r.code) == ("NO", "CANNOT"), (line, name, r)
        imap.ok("UNSELECT")
    assert names(imap.ok('LIST "" "*"')) == set(DEFAULTS) | {"valid"}
    # Real syntax errors stay BAD.
    assert imap.cmd(b'SELECT "a\x00b"').status == "BAD"
    assert imap.cmd(b"SELECT (a)").status == "BAD"
