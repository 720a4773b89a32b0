# tests/integration/test_rss_at_rest.py: the Berkeley DB regions are not
# made resident up front (issue 11 point 7).  With Berkeley DB's defaults
# and the default 64 MiB cache, creating the environment wrote 6 MB of
# region pages (every possible mutex, a lock object table sized for 20,000
# objects with its statistics, an mpool hash table for 4 KiB pages); now
# only what is in use is, and the mutexes grow with the cache
# (storage/storage_sizing.c).  Residency is read from /proc/PID/smaps: it
# depends on what Berkeley DB wrote, not on timing.  The exact figures are
# for tests/bench/bench_rss.py.
import helpers
from helpers import make_message, unique

MiB = 1024 * 1024


def region_rss(srv):
    """Bytes resident in the mappings of the region files (__db.NNN)."""
    total, in_region = 0, False
    with open(f"/proc/{srv.proc.pid}/smaps") as f:
        for line in f:
            first = line.split(None, 1)[0]
            if "-" in first and not first.endswith(":"):
                parts = line.split()
                in_region = len(parts) >= 6 and parts[5].startswith(str(srv.data_dir)) \
                    and "/__db." in parts[5]
            elif first == "Rss:" and in_region:
                total += int(line.split()[1]) * 1024
    return total


def fill(srv, user, n):
    """n messages of 66 KB delivered to user over one SMTP session."""
    body = (b"0123456789abcdef" * 4 + b"\r\n") * 1000
    msgs = [make_message(subject=f"fill {i}", body=body) for i in range(n)]
    with helpers.Conn.connect(srv.ports["smtp"]) as c:
        c.smtp_reply()
        c.smtp_cmd("EHLO test.example")
        for m in msgs:
            c.smtp_deliver("s@example.org", [user], m)
        c.smtp_quit()
    return msgs


def test_regions_small_after_start_and_a_delivery(make_server):
    # The embedded default configuration: no --config.
    srv = make_server().start()
    user = unique("rest")
    srv.add_user(user)
    srv.deliver("s@example.org", [user], make_message())
    rss = region_rss(srv)
    assert 0 < rss < 2 * MiB, f"Berkeley DB regions resident: {rss / MiB:.1f} MiB"


def test_mutexes_grow_with_the_cache(make_server):
    """The mutex region starts small and grows in place, a mutex per cached
    page: fill far more of the cache than the initial mutexes cover (about
    800) and read everything back."""
    srv = make_server().start()
    user = unique("fill")
    pw = "pw-fill"
    srv.add_user(user, pw)
    msgs = fill(srv, user, 200)
    got = srv.retr_all(user, pw)
    assert len(got) == len(msgs)
    for m, g in zip(msgs, got):
        assert g.endswith(m)
    assert "mutex" not in srv.stderr()


def test_heap_trimmed_once_a_load_ends(make_server):
    """When the store has had no transaction for a few seconds after some
    (a load ended), the daemon gives free heap pages back to the kernel
    (malloc_trim, core/main.c); it logs that at debug level.  The server
    serves normally afterwards."""
    srv = make_server(kinds=helpers.IMAP_KINDS, extra=["--log-level", "debug"]).start()
    user = unique("trim")
    pw = "pw-trim"
    srv.add_user(user, pw)
    msg = make_message(subject="trim", body=(b"x" * 76 + b"\r\n") * 2600)
    for _ in range(5):
        srv.deliver("s@example.org", [user], msg)
    with helpers.imap_connect(srv, user, pw) as c:
        assert c.cmd("SELECT INBOX").status == "OK"
        assert c.cmd("FETCH 1:* (BODY.PEEK[])").status == "OK"
        assert c.cmd("LOGOUT").status == "OK"
    # An event, not a duration: the line appears once the store is idle.
    assert srv.wait_log("idle heap trimmed", timeout=60), srv.stderr()[-2000:]
    srv.deliver("s@example.org", [user], make_message(subject="after"))
    assert len(srv.retr_all(user, pw)) == 6


def test_regions_released_once_a_load_ends(make_server):
    """Once a load has ended, the region pages leave the daemon's RSS
    (storage_region.c: MADV_DONTNEED on the shared file mappings) and stay
    in the page cache: every message reads back whole afterwards, and the
    store takes new mail."""
    srv = make_server(extra=["--log-level", "debug"]).start()
    user = unique("release")
    pw = "pw-release"
    srv.add_user(user, pw)
    msgs = fill(srv, user, 120)
    loaded = region_rss(srv)
    assert loaded > 6 * MiB, f"the load left only {loaded / MiB:.1f} MiB of regions"
    # An event, not a duration: the watchdog releases the regions, then
    # runs the idle hook that logs this line.
    assert srv.wait_log("idle heap trimmed", timeout=60), srv.stderr()[-2000:]
    after = region_rss(srv)
    assert after < 2 * MiB, f"regions resident after the load: {after / MiB:.1f} MiB"
    got = srv.retr_all(user, pw)
    assert len(got) == len(msgs)
    for m, g in zip(msgs, got):
        assert g.endswith(m)
    srv.deliver("s@example.org", [user], make_message(subject="after"))
    assert len(srv.retr_all(user, pw)) == len(msgs) + 1
