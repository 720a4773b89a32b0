# tests/integration/test_dkim.py: DKIM signing end to end.  `postino dkim
# keygen` makes an RSA and an Ed25519 key; tests/tools/dkim_sign signs
# messages through smtp_dkim_sign (the queue runner's entry point), and an
# independent verifier, Debian's python3-dkim, checks every signature
# against the TXT record keygen printed: 8-bit content, long and folded
# headers, trailing blank lines, empty bodies, reads cut anywhere.  A
# tampered message, or one with a From field added, must fail.  The daemon
# loads the keys at start (a broken key stops it) and again on SIGHUP.
import os
import re
import signal
import stat
import subprocess
from pathlib import Path

import dkim
import pytest

from helpers import BIN, REPO, RUN_AS, run_cli

SIGNER = str(Path(BIN).parent / "tests" / "tools" / "dkim_sign")
DOMAIN = "example.org"


def postino(*args):
    return run_cli([BIN, *args, *RUN_AS])


def txt_parse(line):
    """'SEL._domainkey.DOMAIN. IN TXT "a" "b"' -> (name, joined text, strings)."""
    m = re.fullmatch(r'(\S+) IN TXT((?: "[^"]*")+)', line.strip())
    assert m, line
    strings = re.findall(r'"([^"]*)"', m.group(2))
    return m.group(1), "".join(strings), strings


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """A data directory with an RSA and an Ed25519 key for DOMAIN, and the
    DNS records keygen printed for them."""
    data = tmp_path_factory.mktemp("dkim") / "data"
    records = {}
    for args in (["s1"], ["e1", "--type", "ed25519"]):
        r = postino("dkim", "keygen", DOMAIN, *args, "-d", str(data))
        assert r.returncode == 0, r.stderr
        name, text, strings = txt_parse(r.stdout)
        assert name == f"{args[0]}._domainkey.{DOMAIN}."
        assert all(len(s) <= 255 for s in strings), strings
        records[name] = text
    assert "k=rsa;" in records[f"s1._domainkey.{DOMAIN}."]
    assert "k=ed25519;" in records[f"e1._domainkey.{DOMAIN}."]
    return data, records


def dns_of(records):
    def dnsfunc(name, timeout=5):
        n = name.decode() if isinstance(name, bytes) else name
        return records.get(n if n.endswith(".") else n + ".", "").encode()
    return dnsfunc


def sign(data, msg, tmp_path, chunk=16384, t=None, domain=DOMAIN):
    f = tmp_path / "msg.eml"
    f.write_bytes(msg)
    args = [SIGNER, str(data), domain, str(f), str(chunk)]
    if t is not None:
        args.append(str(t))
    return subprocess.run(args, capture_output=True, timeout=60)


def verify_all(signed, records):
    """The verdict of every DKIM-Signature of the message, in order."""
    d = dkim.DKIM(signed)
    n = len(re.findall(rb"(?im)^dkim-signature:", signed.split(b"\r\n\r\n", 1)[0]))
    out = []
    for i in range(n):
        try:
            out.append(d.verify(idx=i, dnsfunc=dns_of(records)))
        except dkim.ValidationError:
            out.append(False)
    return out


def signed_ok(keys, msg, tmp_path, **kw):
    data, records = keys
    r = sign(data, msg, tmp_path, **kw)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.endswith(msg)
    head = out[:len(out) - len(msg)]
    for line in head.split(b"\r\n")[:-1]:
        assert len(line) < 78, line
    assert verify_all(out, records) == [True, True], head.decode()
    return out


def message(headers, body):
    return b"".join((h if isinstance(h, bytes) else h.encode()) + b"\r\n"
                    for h in headers) + b"\r\n" + body


BASE = ["From: Alice <alice@example.org>", "To: Bob <bob@example.net>",
        "Subject: hello", "Date: Sun, 06 Dec 2026 06:00:00 +0000",
        "Message-ID: <1@example.org>"]


@pytest.mark.parametrize("msg", [
    message(BASE, b"Hello world\r\n"),
    # 8-bit: UTF-8 and raw Latin-1 in headers and body
    message(BASE[:2] + ["Subject: café ½".encode() + b" \xe9t\xe9"] + BASE[3:]
            + ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit",
               "MIME-Version: 1.0"],
            "Grüße, ½ €\r\n".encode() + b"\xe9\xe0\xff\r\n"),
    # long headers: one folded over many lines, one very long single line
    message(BASE[:2] + ["Subject: " + "\r\n ".join(["word" * 15] * 40),
                        "References: " + " ".join(f"<{i}@example.org>" for i in range(200)),
                        "Cc: " + ",".join(f"user{i}@example.net" for i in range(80))]
            + BASE[3:], b"body\r\n"),
    # trailing blank lines and whitespace-only lines at the end
    message(BASE, b"text  \t here \r\n\r\n   \r\n\r\n\r\n"),
    # folded whitespace in headers, tabs and runs of spaces
    message(["From:\tAlice\r\n   <alice@example.org>  ", "To:bob@example.net  \t",
             "Subject:  a\t\t b \r\n\t\r\n  c"] + BASE[3:], b"\tx  y\r\n"),
    # empty body, and a body of only CRLFs
    message(BASE, b""),
    message(BASE, b"\r\n\r\n\r\n"),
    # a body without a final CRLF, and a second To
    message(BASE + ["To: carol@example.net"], b"no final line end"),
], ids=["plain", "8bit", "long-headers", "trailing-blank-lines", "folded-ws", "empty-body",
        "only-crlf", "no-final-crlf"])
def test_signatures_verify(keys, tmp_path, msg):
    signed_ok(keys, msg, tmp_path)


def test_headers_only_message(keys, tmp_path):
    """No empty line at all: the body is empty."""
    msg = ("\r\n".join(BASE) + "\r\n").encode()
    signed_ok(keys, msg, tmp_path)


def test_large_body_any_read_size(keys, tmp_path):
    """3 MB of body in reads of 1, 7, 4096 and 65536 bytes (the signer asks
    for 16 KiB; the tool returns at most CHUNK): the same signatures."""
    line = b"0123456789 abcdef \t ghij  \r\n"
    msg = message(BASE, line * (3 * 1024 * 1024 // len(line)) + b"\r\n \r\n")
    first = signed_ok(keys, msg, tmp_path, chunk=65536, t=1796500000)
    for chunk in (4096, 7):
        assert sign(keys[0], msg, tmp_path, chunk=chunk, t=1796500000).stdout == first
    small = message(BASE, b"a  b\r\n \r\nc\t\r\n\r\n")
    ref = signed_ok(keys, small, tmp_path, chunk=16384, t=1796500000)
    assert sign(keys[0], small, tmp_path, chunk=1, t=1796500000).stdout == ref


def test_signature_fields(keys, tmp_path):
    out = signed_ok(keys, message(BASE + ["Reply-To: r@example.org"], b"x\r\n"), tmp_path,
                    t=1796500000)
    head = out.split(b"\r\n\r\n", 1)[0].replace(b"\r\n\t", b" ").decode()
    sigs = [line for line in head.split("\r\n") if line.startswith("DKIM-Signature:")]
    assert len(sigs) == 2
    assert any("a=rsa-sha256;" in s and "s=s1;" in s for s in sigs)
    assert any("a=ed25519-sha256;" in s and "s=e1;" in s for s in sigs)
    for s in sigs:
        assert "c=relaxed/relaxed;" in s and f"d={DOMAIN};" in s and "t=1796500000;" in s
        # every present field, and From once more (oversigned)
        assert "h=from:from:to:subject:date:message-id:reply-to;" in s.replace(" ", "")


def first_bh_broken(m):
    """Changes the body hash of the first signature only."""
    i = m.index(b"bh=") + 3
    return m[:i] + (b"A" if m[i:i + 1] != b"A" else b"B") + m[i + 1:]


@pytest.mark.parametrize("tamper,verdicts", [
    (lambda m: m.replace(b"Hello world", b"Hello World"), [False, False]),
    (lambda m: m.replace(b"Subject: hello", b"Subject: hellO"), [False, False]),
    # a From added at the top (a verifier takes the bottom one first): our
    # h= lists "from" twice for this; python3-dkim also adds an extra "from"
    # of its own when verifying (its bug 644046), so test_signature_fields
    # is what checks our h=
    (lambda m: b"From: mallory@example.org\r\n" + m, [False, False]),
    (lambda m: m + b"appended line\r\n", [False, False]),
    (first_bh_broken, [False, True]),
], ids=["body", "subject", "second-from", "appended", "one-bh"])
def test_tampered_fails(keys, tmp_path, tamper, verdicts):
    signed = signed_ok(keys, message(BASE, b"Hello world\r\n"), tmp_path)
    bad = tamper(signed)
    assert bad != signed
    assert verify_all(bad, keys[1]) == verdicts


def test_wrong_key_in_dns_fails(keys, tmp_path):
    signed = signed_ok(keys, message(BASE, b"x\r\n"), tmp_path)
    _, records = keys
    swapped = {k: v.replace("p=", "p=AAAA", 1) for k, v in records.items()}
    assert verify_all(signed, swapped) == [False, False]


def test_no_key_for_domain(keys, tmp_path):
    r = sign(keys[0], message(BASE, b"x\r\n"), tmp_path, domain="example.net")
    assert r.returncode == 3 and r.stdout == b""


def test_keygen_files_and_refusals(keys, tmp_path):
    data, _ = keys
    key = data / "dkim" / f"{DOMAIN}.s1.key"
    st = os.stat(key)
    assert stat.S_IMODE(st.st_mode) == 0o600
    before = key.read_bytes()
    r = postino("dkim", "keygen", DOMAIN, "s1", "-d", str(data))
    assert r.returncode == 1 and "never overwritten" in r.stderr
    assert key.read_bytes() == before
    for args in (["bad_domain!"], [DOMAIN, "bad.selector"], [DOMAIN, "x", "--type", "dsa"],
                 [DOMAIN, "x", "y"], []):
        r = postino("dkim", "keygen", *args, "-d", str(data))
        assert r.returncode == 2, (args, r.stderr)
        assert len(r.stderr.splitlines()) == 1, r.stderr
    r = postino("user", "list", "--type", "rsa", "-d", str(data))
    assert r.returncode == 2


def test_keygen_default_selector_and_list(tmp_path):
    data = tmp_path / "data"
    r = postino("dkim", "keygen", "Mixed.Example.COM", "-d", str(data))
    assert r.returncode == 0, r.stderr
    name, text, _ = txt_parse(r.stdout)
    assert re.fullmatch(r"s\d{6}\._domainkey\.mixed\.example\.com\.", name), name
    r = postino("dkim", "keygen", "mixed.example.com", "--type", "ed25519", "-d", str(data))
    assert r.returncode == 0, r.stderr
    ename, etext, _ = txt_parse(r.stdout)
    assert re.fullmatch(r"e\d{6}\._domainkey\.mixed\.example\.com\.", ename), ename
    r = postino("dkim", "list", "-d", str(data))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[-1] == "2 keys"
    assert any(re.fullmatch(r"mixed\.example\.com s\d{6} rsa-2048", ln) for ln in lines)
    assert any(re.fullmatch(r"mixed\.example\.com e\d{6} ed25519", ln) for ln in lines)
    listed = {txt_parse(ln)[0]: txt_parse(ln)[1] for ln in lines if " IN TXT " in ln}
    assert listed == {name: text, ename: etext}


def test_list_reports_signing_off_and_bad_keys(tmp_path):
    data = tmp_path / "data"
    assert postino("dkim", "keygen", DOMAIN, "-d", str(data)).returncode == 0
    conf = tmp_path / "postino.conf"
    text = (REPO / "etc" / "postino.conf").read_text()
    assert "dkim_sign = true;" in text
    conf.write_text(text.replace("dkim_sign = true;", "dkim_sign = false;"))
    r = postino("dkim", "list", "-c", str(conf), "-d", str(data))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "1 keys (signing is off: smtp.dkim_sign)"
    # A key others can read is refused, with the reason.
    key = next((data / "dkim").glob("*.key"))
    os.chmod(key, 0o644)
    r = postino("dkim", "list", "-d", str(data))
    assert r.returncode == 1 and "chmod 600" in r.stderr


def test_daemon_loads_keys_and_sighup_reloads(make_server):
    srv = make_server(kinds=("smtp",))
    srv.start()
    assert srv.wait_log("dkim keys loaded keys=0 signing=on"), srv.stderr()
    assert srv.cli("dkim", "keygen", DOMAIN, "s1").returncode == 0
    srv.proc.send_signal(signal.SIGHUP)
    assert srv.wait_log("dkim keys reloaded keys=1"), srv.stderr()
    # A key that became readable by others: the reload fails, loudly, and
    # the daemon goes on with the keys it had.
    key = srv.data_dir / "dkim" / f"{DOMAIN}.s1.key"
    os.chmod(key, 0o644)
    srv.proc.send_signal(signal.SIGHUP)
    assert srv.wait_log("reload failed"), srv.stderr()
    assert "chmod 600" in srv.stderr()
    assert srv.alive()
    with srv.smtp() as c:
        assert c.smtp_cmd("NOOP").code == 250
    srv.stop()
    # The same broken key at start: no start, the reason on stderr.
    p = subprocess.run(srv.command(), capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert "chmod 600" in p.stderr, p.stderr
    os.chmod(key, 0o600)
    srv.start()
    assert srv.wait_log("dkim keys loaded keys=1"), srv.stderr()


def test_daemon_signing_off(make_server, tmp_path):
    conf = tmp_path / "postino.conf"
    text = (REPO / "etc" / "postino.conf").read_text()
    conf.write_text(text.replace("dkim_sign = true;", "dkim_sign = false;"))
    srv = make_server(kinds=("smtp",), config=conf)
    srv.start()
    assert srv.wait_log("dkim keys loaded keys=0 signing=off"), srv.stderr()


def test_help():
    r = run_cli([BIN, "dkim", "--help"])
    assert r.returncode == 0 and r.stdout.startswith("usage: postino dkim keygen"), r
    assert "dkim keygen DOMAIN" in run_cli([BIN, "--help"]).stdout
    r = postino("dkim")
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, r.stderr
