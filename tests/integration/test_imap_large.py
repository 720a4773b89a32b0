# tests/integration/test_imap_large.py: a mailbox of 10,000 messages (issue 3
# "Tests that must exist"), filled with MULTIAPPEND (RFC 3502) in batches,
# then SELECT, FETCH 1:* (FLAGS), SEARCH, STORE over all and EXPUNGE.
# Correctness only: no timing here (see tests/bench/bench_imap.py).
import pytest

from helpers import esearch_items, imap_connect, status_items

N = 10_000
BATCH = 500


def message(i):
    return (f"From: <big{i % 7}@example.org>\r\nTo: <r@example.com>\r\n"
            f"Subject: large box message {i}\r\n"
            f"Message-ID: <{i}@large.example>\r\n\r\n"
            f"body of number {i} {'needle' if i % 1000 == 0 else 'hay'}\r\n").encode()


def flags_for(i):
    return "(\\Flagged)" if i % 10 == 0 else "()"


@pytest.fixture(scope="module")
def big(imap_server):
    user = imap_server.new_user("large")
    c = imap_connect(imap_server, *user)
    c.ok("CREATE big")
    for start in range(0, N, BATCH):
        parts = [b"APPEND big"]
        for i in range(start, min(N, start + BATCH)):
            m = message(i + 1)
            parts.append(f" {flags_for(i + 1)} {{{len(m)}+}}\r\n".encode() + m)
        r = c.cmd(b"".join(parts))
        assert r.status == "OK", r
        assert r.code == f"APPENDUID {r.code.split()[1]} {start + 1}:{min(N, start + BATCH)}", r
    c.logout()
    return user


def test_select_counts(imap_server, big):
    c = imap_connect(imap_server, *big)
    r = c.select("big")
    assert r.numbered("EXISTS") == [(N, b"")], r
    assert any(d.startswith(b"[UIDNEXT %d]" % (N + 1)) for d in r.data("OK")), r
    st = c.ok("STATUS big (MESSAGES UIDNEXT UNSEEN)")
    assert status_items(st) == ("big", {"MESSAGES": N, "UIDNEXT": N + 1, "UNSEEN": N})
    c.logout()


def test_fetch_all_flags(imap_server, big):
    c = imap_connect(imap_server, *big)
    c.select("big", examine=True)
    r = c.ok("FETCH 1:* (UID FLAGS)")
    f = r.fetches()
    assert sorted(f) == list(range(1, N + 1))
    for i in range(1, N + 1):
        assert int(f[i]["UID"]) == i
        fl = {bytes(x) for x in f[i]["FLAGS"]} - {b"\\Recent"}
        assert fl == ({b"\\Flagged"} if i % 10 == 0 else set()), (i, f[i])
    c.logout()


def test_search(imap_server, big):
    c = imap_connect(imap_server, *big)
    c.select("big", examine=True)
    r = c.ok("SEARCH FLAGGED")
    assert sorted(int(x) for x in r.data("SEARCH")[0].split()) == list(range(10, N + 1, 10))
    r = c.ok('SEARCH SUBJECT "message 4321"')
    assert r.data("SEARCH") == [b"4321"], r
    r = c.ok("SEARCH BODY needle")
    assert sorted(int(x) for x in r.data("SEARCH")[0].split()) == list(range(1000, N + 1, 1000))
    r = c.ok("UID SEARCH UID 9990:* NOT FLAGGED")
    assert sorted(int(x) for x in r.data("SEARCH")[0].split()) == \
        [i for i in range(9990, N + 1) if i % 10], r
    r = c.ok("SEARCH RETURN (COUNT MIN MAX) FROM big3")
    want = [i for i in range(1, N + 1) if i % 7 == 3]
    assert esearch_items(r) == (r.tag, False, {"COUNT": str(len(want)), "MIN": str(want[0]),
                                                "MAX": str(want[-1])}), r
    c.logout()


def test_store_all_then_expunge_half(imap_server, big):
    c = imap_connect(imap_server, *big)
    c.ok("CREATE big2")
    r = c.select("big")
    r = c.ok("COPY 1:* big2")
    assert r.code.startswith("COPYUID "), r
    c.select("big2")
    r = c.ok("STORE 1:* +FLAGS.SILENT (\\Seen)")
    assert r.numbered("FETCH") == [], r
    r = c.ok("SEARCH UNSEEN")
    assert r.data("SEARCH") == [b""], r
    c.ok("STORE 1:* +FLAGS.SILENT (\\Deleted)")
    c.ok("STORE 2:* -FLAGS.SILENT (\\Deleted)")
    r = c.ok("EXPUNGE")
    assert r.numbered("EXPUNGE") == [(1, b"")], r
    r = c.ok("FETCH 1 UID")
    assert int(r.fetches()[1]["UID"]) == 2
    st = c.ok("STATUS big (MESSAGES)")
    assert status_items(st) == ("big", {"MESSAGES": N})
    c.logout()


def test_uid_expunge_and_close_of_a_large_mailbox(imap_server, big):
    # At 4,096 messages and more the \Deleted scan and the expunge run on a
    # worker (imap_cmd_select.c): the same answers as in place.
    c = imap_connect(imap_server, *big)
    c.ok("CREATE big3")
    c.select("big")
    c.ok("COPY 1:* big3")
    c.select("big3")
    c.ok("STORE 1:100 +FLAGS.SILENT (\\Deleted)")
    c.ok("STORE 9001:9100 +FLAGS.SILENT (\\Deleted)")
    # UID EXPUNGE expunges only the set's \Deleted messages (RFC 4315 2.1),
    # "*" being the highest UID; the untagged EXPUNGEs come highest first,
    # so each names its UID's number.
    r = c.ok("UID EXPUNGE 51:60,9095:*")
    assert r.numbered("EXPUNGE") == [(n, b"") for n in list(range(9100, 9094, -1)) +
                                     list(range(60, 50, -1))], r
    # "$" (RFC 5182): the saved result of a SEARCH.
    c.ok("SEARCH RETURN (SAVE) UID 1:20")
    r = c.ok("UID EXPUNGE $")
    assert r.numbered("EXPUNGE") == [(n, b"") for n in range(20, 0, -1)], r
    r = c.ok("UID SEARCH DELETED")
    left = [u for u in list(range(21, 51)) + list(range(61, 101)) + list(range(9001, 9095))]
    assert sorted(int(x) for x in r.data("SEARCH")[0].split()) == left
    # CLOSE expunges the rest silently.
    r = c.ok("CLOSE")
    assert r.numbered("EXPUNGE") == [], r
    st = c.ok("STATUS big3 (MESSAGES)")
    assert status_items(st) == ("big3", {"MESSAGES": N - 200})
    # DELETE of a mailbox this size runs on a worker (RENAME only touches
    # mailbox records unless it is INBOX's, and runs in place).
    c.ok("RENAME big3 old/big3")
    st = c.ok('STATUS "old/big3" (MESSAGES)')
    assert status_items(st) == ("old/big3", {"MESSAGES": N - 200})
    c.ok('DELETE "old/big3"')
    r = c.cmd('STATUS "old/big3" (MESSAGES)')
    assert r.status == "NO" and r.code == "NONEXISTENT", r
    r = c.ok('LIST "" "old*"')
    assert [d for d in r.data("LIST") if d.endswith(b'"old/big3"')] == [], r
    c.logout()
