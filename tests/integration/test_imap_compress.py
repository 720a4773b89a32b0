# tests/integration/test_imap_compress.py: COMPRESS=DEFLATE (RFC 4978) with
# a client that compresses with Python's zlib (raw deflate, a sync flush
# after each command): the RFC's examples (offered after login only; OK
# sent uncompressed, then both directions compressed; a second COMPRESS is
# NO [COMPRESSIONACTIVE]; an unknown mechanism BAD), a 30 MB APPEND and
# FETCH streaming through the layer over plaintext, STARTTLS and implicit
# TLS, an IDLE update that arrives flushed without
# the client sending anything, COMPRESS under implicit TLS and STARTTLS, a
# compressed bomb of a line answered BAD [TOOBIG] with the server's memory
# bounded, a corrupt stream closing the connection with a log line, and
# four sessions of one loop fetching at once through the loop's shared
# deflater.
import zlib

import pytest

import helpers
from helpers import ImapConn, make_message

MiB = 1024 * 1024
CONF = """
imap = { max_message_size = 41943040; };
auth = { failure_delay = 0; failure_delay_max = 0; };
"""


class ZConn(ImapConn):
    """ImapConn that compresses once COMPRESS succeeded: every send is
    deflated and sync-flushed; every read inflated.  raw_in counts the
    compressed bytes received."""
    zin = zout = None
    raw_in = 0

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        if self.zout:
            data = self.zout.compress(data) + self.zout.flush(zlib.Z_SYNC_FLUSH)
        self.sock.sendall(data)

    def send_raw(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError(f"server closed the connection; unread: {bytes(self.buf)!r}")
        if self.zin:
            self.raw_in += len(chunk)
            chunk = self.zin.decompress(chunk)
        self.buf += chunk

    def compress(self, tag="c"):
        r = self.cmd("COMPRESS DEFLATE", tag=tag)
        assert r.status == "OK", r
        # RFC 4978 3: the OK was the last uncompressed byte.
        self.zout = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.zin = zlib.decompressobj(-15)
        rest = bytes(self.buf)
        self.buf.clear()
        self.buf += self.zin.decompress(rest)
        return r


def zconnect(srv, user=None, tls=False):
    c = ZConn.connect(srv.ports["imaps" if tls else "imap"], tls=tls)
    assert c.read_greeting().startswith(b"* OK")
    if user:
        c.login(*user)
    return c


def mem(srv):
    out = {}
    with open(f"/proc/{srv.proc.pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) * 1024
    return out


def rss_bound_applies(srv):
    """RSS means nothing under AddressSanitizer (see test_memory.py)."""
    with open(f"/proc/{srv.proc.pid}/maps") as f:
        return "libasan" not in f.read()


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    yield from helpers.configured_server(tmp_path_factory, "compress", CONF, helpers.IMAP_KINDS)


@pytest.fixture
def user(srv):
    return srv.new_user("z")


def test_rfc_example_login_then_compress(srv, user):
    c = zconnect(srv)
    # RFC 4978 5: COMPRESS is a command-auth: not offered, nor taken, before.
    caps = c.ok("CAPABILITY").data("CAPABILITY")[0].split()
    assert b"COMPRESS=DEFLATE" not in caps
    r = c.cmd("COMPRESS DEFLATE")
    assert r.status == "BAD", r
    r = c.login(*user)
    assert "COMPRESS=DEFLATE" in r.code.split(), r
    r = c.compress(tag="d")
    assert r.tagged == b"d OK DEFLATE active", r
    # From here on, everything is compressed.
    caps = c.ok("CAPABILITY").data("CAPABILITY")[0].split()
    assert b"COMPRESS=DEFLATE" in caps
    r = c.cmd("COMPRESS DEFLATE", tag="c")
    assert r.status == "NO" and r.code == "COMPRESSIONACTIVE", r
    c.select("INBOX")
    before = c.raw_in
    c.ok("NOOP")
    assert c.raw_in > before
    c.logout()


@pytest.mark.parametrize("line", ["COMPRESS LZW", "COMPRESS", "COMPRESS DEFLATE DEFLATE",
                                  'COMPRESS "DEFLATE"'])
def test_bad_mechanism_leaves_the_session_uncompressed(srv, user, line):
    c = zconnect(srv, user)
    r = c.cmd(line)
    assert r.status == "BAD", r
    # RFC 4978 3: after BAD the server must not compress.
    r = c.cmd("NOOP")
    assert r.status == "OK", r
    c.logout()


def big_text(size, seed=4978):
    """size bytes of CRLF lines of words, a third of them random hex, so
    the message compresses about 3:1 and its compressed reply is still
    many times the 256 KiB output high-water mark."""
    import random
    rnd = random.Random(seed)
    words = ("mail", "deflate", "imap", "fetch", "compress", "stream")
    lines, n, i = [], 0, 0
    while n < size:
        w = " ".join(rnd.choice(words) if rnd.random() < 0.66 else "%08x" % rnd.getrandbits(32)
                     for _ in range(12))
        line = f"{i:07d} {w}\r\n".encode()
        lines.append(line)
        n += len(line)
        i += 1
    return b"".join(lines)


@pytest.fixture(scope="module")
def big(srv):
    """A user whose INBOX holds one 30 MB message, APPENDed compressed (a
    30 MB literal inflated on the way in)."""
    user = srv.new_user("zbig")
    msg = make_message("big compressed", body=big_text(30 * MiB))
    c = zconnect(srv, user)
    c.compress()
    c.append("INBOX", msg)
    c.logout()
    return user, msg


@pytest.mark.parametrize("mode", ["plain", "starttls", "implicit"])
def test_large_fetch_streams_compressed(srv, big, mode):
    # The same streaming rule as uncompressed (test_large_transfer.py):
    # the layer's buffer counts in the output pending, so a reply stopped
    # at the high-water mark is resumed by on_drain on every stack.
    user, msg = big
    c = zconnect(srv, tls=mode == "implicit")
    if mode == "starttls":
        c.ok("STARTTLS")
        c.starttls()
    c.login(*user)
    c.compress()
    c.select("INBOX")
    before = c.raw_in
    f = c.ok("FETCH 1 (BODY.PEEK[] RFC822.SIZE)").fetches()[1]
    assert f["BODY[]"] == msg
    assert int(f["RFC822.SIZE"]) == len(msg)
    got = c.raw_in - before
    assert 4 * MiB < got < len(msg) / 2, got
    c.logout()


def test_idle_update_arrives_flushed(srv, user):
    c = zconnect(srv, user)
    c.compress()
    c.select("INBOX")
    c.send(b"i1 IDLE\r\n")
    assert c.read_response().startswith(b"+")
    s = srv.smtp()
    s.smtp_deliver("sender@example.org", [user[0]], make_message("during idle"))
    s.smtp_quit()
    # Nothing sent by us: the update must come out of the compressor now.
    r = c.read_response()
    while b"EXISTS" not in r:
        r = c.read_response()
    assert r == b"* 1 EXISTS", r
    c.send(b"DONE\r\n")
    assert c.read_tagged("i1").status == "OK"
    c.logout()


def test_compress_over_implicit_tls(srv, user):
    c = zconnect(srv, user, tls=True)
    c.compress()
    c.append("INBOX", make_message("over tls", body=b"tls and deflate\r\n" * 5000))
    c.select("INBOX")
    f = c.ok("FETCH 1 BODY.PEEK[TEXT]").fetches()[1]
    assert f["BODY[TEXT]"] == b"tls and deflate\r\n" * 5000
    c.logout()


def test_compress_after_starttls(srv, user):
    c = zconnect(srv)
    c.ok("STARTTLS")
    c.starttls()
    c.login(*user)
    c.compress()
    c.select("INBOX")
    c.ok("NOOP")
    # STARTTLS again is refused (wrong state), still compressed.
    r = c.cmd("STARTTLS")
    assert r.status == "BAD", r
    c.logout()


def test_bomb_line_is_toobig_with_bounded_memory(make_server):
    # A server of its own, so its peak RSS (VmHWM) is this test's.
    own = make_server(kinds=helpers.IMAP_KINDS)
    own.start()
    c = zconnect(own, own.new_user("bomb"))
    c.compress()
    c.ok("NOOP")
    base = mem(own)["VmRSS"]
    # One line of 512 MiB ('a's): about 500 KiB compressed.
    z = c.zout
    block = b"a" * MiB
    parts = [z.compress(b"b1 NOOP ")]
    for _ in range(512):
        parts.append(z.compress(block))
    parts.append(z.compress(b"\r\n") + z.flush(zlib.Z_SYNC_FLUSH))
    bomb = b"".join(parts)
    assert len(bomb) < 2 * MiB
    c.send_raw(bomb)
    r = c.read_response()
    assert r.startswith(b"b1 BAD [TOOBIG]"), r
    # The connection still works: the stream stayed in step.
    r = c.cmd("NOOP")
    assert r.status == "OK", r
    if rss_bound_applies(own):
        # The peak, not the end: inflated input is freed once discarded.
        assert mem(own)["VmHWM"] - base < 32 * MiB, (base, mem(own))
    # A literal announced past the limit is refused as uncompressed (the
    # session sees the inflated command), before any of it is read.
    r = c.cmd("APPEND INBOX {999999999}")
    assert r.status in ("NO", "BAD") and "TOOBIG" in r.code, r
    c.close()


def test_corrupt_stream_closes_with_log_line(srv, user):
    c = zconnect(srv, user)
    c.compress()
    c.ok("NOOP")
    # BTYPE 11 is reserved (RFC 1951 3.2.3): no inflater accepts it.
    c.send_raw(b"\xff\xff\xff\xff")
    assert c.closed_by_peer(), "server kept a corrupt stream open"
    srv.wait_log("compress error=")
    c.close()


def test_sessions_of_one_loop_share_the_deflater(make_server):
    # One loop: its compressed sessions take turns with the loop's one
    # deflater, 64 KiB batches interleaved; each stream must stay whole.
    import threading
    own = make_server(kinds=helpers.IMAP_KINDS, config=None, extra=["--loops", "1"])
    own.start()
    users = [own.new_user(f"share{i}") for i in range(4)]
    msgs = [make_message(f"shared {i}", body=big_text(3 * MiB, seed=i)) for i in range(4)]
    conns = []
    for u, m in zip(users, msgs):
        c = zconnect(own, u)
        c.compress()
        c.append("INBOX", m)
        c.select("INBOX")
        conns.append(c)
    got = [None] * len(conns)

    def fetch(i):
        got[i] = conns[i].ok("FETCH 1 BODY.PEEK[]").fetches()[1]["BODY[]"]

    threads = [threading.Thread(target=fetch, args=(i,)) for i in range(len(conns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, c in enumerate(conns):
        assert got[i] == msgs[i], i
        c.logout()
