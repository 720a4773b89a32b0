# tests/integration/test_imap_urlauth.py: URLAUTH (RFC 4467) against the
# real server: GENURLAUTH, URLFETCH and RESETKEY across users, the access
# identifiers, EXPIRE, tampered and foreign tokens, RFC 5524's URLFETCH
# parameters, CATENATE (RFC 4469 5) of another user's part through a
# URLAUTH-authorised URL, and the commands driven through imaplib.
import re

import pytest

import helpers
from helpers import imap_connect, lit, quote
from test_imap_catenate import MULTI, body, caps_of, store


def test_announced(imap):
    caps = caps_of(imap.ok("CAPABILITY"))
    assert "URLAUTH" in caps
    assert "URLAUTH=BINARY" in caps   # RFC 5524


def genurlauth(c, rump):
    r = c.cmd(f"GENURLAUTH {quote(rump)} INTERNAL")
    assert r.status == "OK", r
    (data,) = r.data("GENURLAUTH")
    url = data.decode().strip('"')
    assert url.startswith(rump + ":internal:")
    assert re.fullmatch(r"[0-9a-f]{40}", url[len(rump) + 10:])
    return url


def urlfetch(c, url):
    r = c.cmd(f"URLFETCH {quote(url)}")
    assert r.status == "OK", r
    (data,) = r.data("URLFETCH")
    q = quote(url).encode()
    assert data.startswith(q + b" "), data
    rest = data[len(q) + 1:]
    if rest == b"NIL":
        return None
    m = re.match(rb"\{(\d+)\}\r\n", rest)
    assert m and len(rest) == m.end() + int(m.group(1)), rest
    return rest[m.end():]


def test_urlauth_rfc4467_example(imap_server):
    # RFC 4467 7's exchange, with this server's names: joe makes URLs for
    # fred's submission server; fred (here: fred logged in) fetches them.
    joe, jpw = imap_server.new_user("joe")
    fred, fpw = imap_server.new_user("fred")
    j = imap_connect(imap_server, joe, jpw)
    _, uid = store(j, "INBOX", MULTI)
    jl, dom = joe.split("@")
    base = f"imap://{jl}@{dom}/INBOX/;uid={uid}/;section=1"
    r = j.cmd(f"GENURLAUTH {quote(base + ';urlauth=submit+' + fred)} INTERNAL "
              f"{quote(base + ';urlauth=authuser')} INTERNAL")
    assert r.status == "OK", r
    (data,) = r.data("GENURLAUTH")
    u1, u2 = [x.decode() for x in re.findall(rb'"([^"]+)"', data)]
    part = body(j, "INBOX", uid, "1")
    f = imap_connect(imap_server, fred, fpw)
    assert urlfetch(f, u1) == part
    assert urlfetch(f, u2) == part
    # submit+fred is fred's alone; authuser any logged-in user's.
    other, opw = imap_server.new_user("oth")
    o = imap_connect(imap_server, other, opw)
    assert urlfetch(o, u1) is None
    assert urlfetch(o, u2) == part
    # One URLFETCH, several URLs: one response, NIL for the bad one.
    # (the changed token must differ: one ending in "0" gets a "1")
    bad = u1[:-1] + ("0" if u1[-1] != "0" else "1")
    r = f.ok(f"URLFETCH {quote(u1)} {quote(bad)} {quote(u2)}")
    (data,) = r.data("URLFETCH")
    assert data.count(b"NIL") == 1 and data.count(b"{%d}" % len(part)) == 2
    # RFC 4467 4: RESETKEY of the mailbox invalidates both.
    r = j.ok("RESETKEY INBOX INTERNAL")
    assert r.code == "URLMECH INTERNAL"
    assert urlfetch(f, u1) is None and urlfetch(f, u2) is None
    # A new URL works again, and RESETKEY without a mailbox drops it too.
    u3 = genurlauth(j, base + ";urlauth=anonymous")
    assert urlfetch(o, u3) == part
    j.ok("RESETKEY")
    assert urlfetch(o, u3) is None


def test_urlauth_checks(imap_server, imap, imap_user):
    _, uid = store(imap, "INBOX", MULTI)
    local, dom = imap_user[0].split("@")
    base = f"imap://{local}@{dom}/INBOX/;uid={uid}"
    whole = body(imap, "INBOX", uid)
    good = genurlauth(imap, base + ";urlauth=user+" + imap_user[0])
    assert urlfetch(imap, good) == whole
    # A token made for another rump, a changed token, another access.
    for url in (good.replace(";uid=", ";UID="), good[:-1] + ("0" if good[-1] != "0" else "1"),
                good.replace("user+", "submit+"), base, base + ";urlauth=anonymous",
                good + "0", "garbage", f"/INBOX/;uid={uid}"):
        assert urlfetch(imap, url) is None, url
    # EXPIRE (RFC 4467 2.3): signed with the rump; past means NIL.
    past = genurlauth(imap, base + ";expire=2001-01-01T00:00:00Z;urlauth=authuser")
    assert urlfetch(imap, past) is None
    future = genurlauth(imap, base + ";expire=2999-01-01T00:00:00+01:00;urlauth=authuser")
    assert urlfetch(imap, future) == whole
    assert urlfetch(imap, future.replace("2999", "2998")) is None
    # GENURLAUTH's bad input (RFC 4467 7 examples: BAD).
    for args in (f"{quote(base)} INTERNAL", f"{quote(base + ';urlauth=authuser')} XSAMPLE",
                 f"{quote(base + ';urlauth=authuser')}", f"{quote(good)} INTERNAL",
                 f"{quote('/INBOX/;uid=1;urlauth=authuser')} INTERNAL", "x y",
                 f"{quote('imap://h/INBOX;urlauth=authuser')} INTERNAL",
                 f"{quote(f'imap://{dom}/INBOX/;uid={uid};urlauth=authuser')} INTERNAL"):
        r = imap.cmd("GENURLAUTH " + args)
        assert r.status == "BAD", (args, r)
        imap.ok("NOOP")   # BADs in a row end the session (max_errors)
    # Another user's mailbox, or a missing one: NO.
    other, _ = imap_server.new_user("oth")
    ol, od = other.split("@")
    for rump in (f"imap://{ol}@{od}/INBOX/;uid=1;urlauth=authuser",
                 f"imap://{local}@{dom}/Nope/;uid=1;urlauth=authuser",
                 f"imap://{local}@elsewhere.example/INBOX/;uid=1;urlauth=authuser"):
        r = imap.cmd(f"GENURLAUTH {quote(rump)} INTERNAL")
        assert r.status == "NO", (rump, r)
    # RESETKEY of a missing mailbox, or with an unknown mechanism.
    assert imap.cmd("RESETKEY Nope").status == "NO"
    assert imap.cmd("RESETKEY INBOX XSAMPLE").status == "BAD"
    imap.ok("NOOP")
    # URLFETCH syntax.
    for args in ("", "(x FOO)", "(x BINARY BODY)", "(x BODY BODY)", "()"):
        assert imap.cmd("URLFETCH " + args).status == "BAD", args
        imap.ok("NOOP")


def test_urlauth_binary_params(imap, imap_user):
    _, uid = store(imap, "INBOX", MULTI)
    local, dom = imap_user[0].split("@")
    url = genurlauth(imap, f"imap://{local}@{dom}/INBOX/;uid={uid}/;section=2;urlauth=authuser")
    # RFC 5524 3: BINARY decodes the part (here with NUL: a literal8),
    # BODYPARTSTRUCTURE describes it, BODY is the part as stored.
    r = imap.ok(f"URLFETCH ({quote(url)} BODYPARTSTRUCTURE BINARY)")
    (data,) = r.data("URLFETCH")
    assert data.startswith(quote(url).encode() + b" (BODYPARTSTRUCTURE (")
    assert b'"APPLICATION" "OCTET-STREAM"' in data.upper()
    # RFC 5524 4: beside BINARY the structure describes the data sent.
    assert b'NIL NIL "BINARY" 5 NIL' in data, data
    assert data.endswith(b")) (BINARY ~{5}\r\n\x00\x01\x02\x03\x04)")
    r = imap.ok(f"URLFETCH ({quote(url)} BODYPARTSTRUCTURE)")
    (data,) = r.data("URLFETCH")
    assert b'NIL NIL "BASE64" 8 NIL' in data, data
    r = imap.ok(f"URLFETCH ({quote(url)} BODY)")
    (data,) = r.data("URLFETCH")
    assert data == quote(url).encode() + b" (BODY {8}\r\nAAECAwQ=)"
    r = imap.ok(f"URLFETCH ({quote(url + 'x')} BODY)")
    (data,) = r.data("URLFETCH")
    assert data == quote(url + "x").encode() + b" NIL"


# A message/rfc822 part whose message holds a base64, a quoted-printable,
# an unknown and a 7bit part (imaptest's urlauth-binary message, shortened).
NESTED = (b"From: a@example.org\r\nSubject: outer\r\nMIME-Version: 1.0\r\n"
          b"Content-Type: multipart/mixed; boundary=\"o\"\r\n\r\nprologue\r\n"
          b"--o\r\nContent-Type: message/rfc822\r\n\r\n"
          b"From: b@example.org\r\nSubject: inner\r\n"
          b"Content-Type: multipart/alternative; boundary=\"i\"\r\n\r\n"
          b"--i\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
          b"  aGVs\r\n bG8gd29y  \r\nbGQ=\r\n\r\n"
          b"--i\r\nContent-Transfer-Encoding: quoted-printable\r\nContent-Type: text/plain\r\n"
          b"\r\ncaf=C3=A9 =\r\n--=\r\ni\r\n"
          b"--i\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-unknown\r\n\r\n"
          b"as is\r\n"
          b"--i\r\nContent-Type: text/plain\r\n\r\nplain\r\n--i--\r\nepilogue\r\n"
          b"--o--\r\n")
# BINARY[1]: the embedded message with the encoded leaves decoded and said
# to be "binary"; the unknown encoding and the 7bit part as stored.
NESTED_BINARY = (b"From: b@example.org\r\nSubject: inner\r\n"
                 b"Content-Type: multipart/alternative; boundary=\"i\"\r\n\r\n"
                 b"--i\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: binary\r\n\r\n"
                 b"hello world\r\n"
                 b"--i\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: binary\r\n"
                 b"\r\ncaf\xc3\xa9 --i\r\n"
                 b"--i\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-unknown\r\n\r\n"
                 b"as is\r\n"
                 b"--i\r\nContent-Type: text/plain\r\n\r\nplain\r\n--i--\r\nepilogue")


def test_urlauth_binary_message_part(imap, imap_user):
    _, uid = store(imap, "INBOX", NESTED)
    local, dom = imap_user[0].split("@")
    base = f"imap://{local}@{dom}/INBOX/;uid={uid}/;section="
    url = genurlauth(imap, base + "1;urlauth=authuser")
    r = imap.ok(f"URLFETCH ({quote(url)} BINARY)")
    (data,) = r.data("URLFETCH")
    assert data == quote(url).encode() + b" (BINARY {%d}\r\n%s)" % (
        len(NESTED_BINARY), NESTED_BINARY), data
    # The structure beside it is the message sent: its parts "binary",
    # their decoded sizes, its own size that of the data.
    r = imap.ok(f"URLFETCH ({quote(url)} BODYPARTSTRUCTURE BINARY)")
    (data,) = r.data("URLFETCH")
    assert b'("MESSAGE" "RFC822" NIL NIL NIL "7BIT" %d (' % len(NESTED_BINARY) in data, data
    assert b'"BINARY" 11 1 ' in data and b'"BINARY" 9 1 ' in data, data
    assert b'"X-UNKNOWN" 5 1 ' in data, data
    # FETCH BINARY is the same value (RFC 3516 4.2), BINARY.SIZE its size.
    imap.select("INBOX")
    r = imap.ok(f"UID FETCH {uid} (BINARY.PEEK[1] BINARY.SIZE[1])")
    (items,) = r.fetches().values()
    assert items["BINARY[1]"] == NESTED_BINARY
    assert int(items["BINARY.SIZE[1]"]) == len(NESTED_BINARY)
    # A leaf of unknown encoding: the URL is good, its BINARY is NIL
    # (RFC 5524 5, url-meta-binary: "On decoding error, NIL should be
    # used"); BODY and BODYPARTSTRUCTURE still answer.
    bad = genurlauth(imap, base + "1.3;urlauth=authuser")
    r = imap.ok(f"URLFETCH ({quote(bad)} BODYPARTSTRUCTURE BINARY)")
    (data,) = r.data("URLFETCH")
    assert data == quote(bad).encode() + (
        b' (BODYPARTSTRUCTURE ("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "X-UNKNOWN" 5 1 NIL NIL NIL NIL))'
        b" (BINARY NIL)"), data
    r = imap.ok(f"URLFETCH ({quote(bad)} BINARY) ({quote(bad)} BODY)")
    (data,) = r.data("URLFETCH")
    assert data == quote(bad).encode() + b" (BINARY NIL) " + quote(bad).encode() + \
        b" (BODY {5}\r\nas is)", data
    # FETCH BINARY of it stays NO [UNKNOWN-CTE] (RFC 3516 4.3).
    r = imap.cmd(f"UID FETCH {uid} BINARY.PEEK[1.3]")
    assert r.status == "NO" and "UNKNOWN-CTE" in r.text, r
    # "(url)" without parameters is the plain form (RFC 5524 3).
    leaf = genurlauth(imap, base + "1.1;urlauth=authuser")
    r = imap.ok(f"URLFETCH ({quote(leaf)})")
    (data,) = r.data("URLFETCH")
    raw = b"  aGVs\r\n bG8gd29y  \r\nbGQ=\r\n"
    assert data == quote(leaf).encode() + b" {%d}\r\n%s" % (len(raw), raw), data
    # An unknown parameter is a BAD that names the known ones.
    r = imap.cmd(f"URLFETCH ({quote(leaf)} BINARY.PEEK)")
    assert r.status == "BAD" and "unknown parameter" in r.text, r


@pytest.fixture(scope="module")
def small_server(tmp_path_factory):
    yield from helpers.configured_server(tmp_path_factory, "urlsmall",
                                         "imap = { max_message_size = 4096; };\n",
                                         kinds=helpers.IMAP_KINDS)


def test_urlfetch_budget(small_server):
    # One URLFETCH's values together stay within APPENDLIMIT: the response
    # is built whole, so many URLs to large messages must not add up.
    user, pw = small_server.new_user("bud")
    c = imap_connect(small_server, user, pw)
    _, uid = store(c, "INBOX", b"Subject: s\r\n\r\n" + b"y" * 3000 + b"\r\n")
    local, dom = user.split("@")
    url = genurlauth(c, f"imap://{local}@{dom}/INBOX/;uid={uid};urlauth=authuser")
    r = c.ok(f"URLFETCH {quote(url)} {quote(url)} {quote(url)}")
    (data,) = r.data("URLFETCH")
    assert data.count(b"{3016}") == 1 and data.count(b" NIL") == 2, data[:200]
    assert urlfetch(c, url) is not None


def test_catenate_with_urlauth(imap_server):
    # RFC 4469 5: a URLAUTH-authorised URL gives CATENATE another user's part.
    a, apw = imap_server.new_user("own")
    b, bpw = imap_server.new_user("use")
    ca = imap_connect(imap_server, a, apw)
    _, uid = store(ca, "INBOX", MULTI)
    al, ad = a.split("@")
    url = genurlauth(ca, f"imap://{al}@{ad}/INBOX/;uid={uid}/;section=1;urlauth=user+{b}")
    cb = imap_connect(imap_server, b, bpw)
    r = cb.cmd(b"APPEND INBOX CATENATE (TEXT " + lit("Subject: fwd\r\n\r\n") + b" URL "
               + quote(url).encode() + b")")
    assert r.status == "OK", r
    new = int(re.search(r"APPENDUID \d+ (\d+)", r.text).group(1))
    assert body(cb, "INBOX", new) == b"Subject: fwd\r\n\r\n" + body(ca, "INBOX", uid, "1")
    ca.ok("RESETKEY INBOX")
    r = cb.cmd(b"APPEND INBOX CATENATE (URL " + quote(url).encode() + b")")
    assert r.status == "NO" and r.code.startswith("BADURL "), r


def test_imaplib_urlauth(imap_server):
    user, pw = imap_server.new_user("lib")
    m = helpers.imaplib_connect(imap_server, user, pw)
    typ, data = m.append("INBOX", None, None, b"Subject: lib\r\n\r\nvia imaplib\r\n")
    assert typ == "OK"
    uid = int(re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1))
    local, dom = user.split("@")
    typ, _ = m.xatom("GENURLAUTH", quote(f"imap://{local}@{dom}/INBOX/;uid={uid}/;section=TEXT"
                                         ";urlauth=authuser"), "INTERNAL")
    assert typ == "OK"
    typ, data = m.response("GENURLAUTH")
    url = data[0].decode().strip('"')
    typ, _ = m.xatom("URLFETCH", quote(url))
    assert typ == "OK"
    typ, data = m.response("URLFETCH")
    assert data[0][1] == b"via imaplib\r\n"
    m.logout()
