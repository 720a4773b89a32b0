# tests/integration/test_tls.py: STARTTLS (RFC 3207), STLS (RFC 2595),
# implicit TLS on smtps/pop3s (RFC 8314), and the CVE-2011-0411 rule that
# plaintext pipelined after STARTTLS/STLS is discarded, not executed.
import poplib
import smtplib
import ssl
import subprocess
import warnings

import pytest

from helpers import TIMEOUT, Conn, client_ctx, make_message, split_trace, unique
from sasl_client import plain


def test_certificate_generated(server):
    cert = server.data_dir / "tls" / "cert.pem"
    assert cert.is_file(), f"no generated certificate at {cert}"
    assert b"BEGIN CERTIFICATE" in cert.read_bytes()


def test_verify_against_generated_certificate(server):
    # The self-signed certificate verifies for "localhost" and 127.0.0.1 when
    # trusted explicitly: a client can pin it.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=str(server.data_dir / "tls" / "cert.pem"))
    c = Conn.connect(server.ports["pop3s"], tls=True, ctx=ctx, server_hostname="localhost")
    assert c.pop3_status().startswith("+OK")
    assert c.sock.version() in ("TLSv1.2", "TLSv1.3")
    c.pop3_quit()


def test_smtp_starttls_smtplib(server, user):
    msg = make_message("over starttls")
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=TIMEOUT) as s:
        s.ehlo("client.example.org")
        assert s.has_extn("starttls")
        code, _ = s.starttls(context=client_ctx())
        assert code == 220
        s.ehlo("client.example.org")
        # RFC 3207 4.2: STARTTLS is not offered again once TLS is on.
        assert not s.has_extn("starttls")
        assert s.sendmail("tls@example.org", [user[0]], msg) == {}
    (got,) = server.retr_all(*user)
    assert split_trace(got, "tls@example.org") == msg


def test_smtp_starttls_raw_and_state_reset(server, user):
    c = server.smtp()
    r = c.smtp_cmd("MAIL FROM:<before@example.org>")
    assert r.code == 250, r
    r = c.smtp_cmd("STARTTLS")
    # Refusing STARTTLS inside a transaction is allowed (Postfix does).
    if r.code == 503:
        assert c.smtp_cmd("RSET").code == 250
        r = c.smtp_cmd("STARTTLS")
    assert r.code == 220, r
    c.starttls()
    # RFC 3207 4.2: the server forgets the EHLO (and any envelope): the client
    # must EHLO again before MAIL.
    r = c.smtp_cmd("MAIL FROM:<after@example.org>")
    assert (r.code, r.enhanced) == (503, "5.5.1"), r
    r = c.smtp_cmd("EHLO client.example.org")
    assert r.code == 250, r
    assert not any(l.upper().startswith("STARTTLS") for l in r.lines), r
    r = c.smtp_cmd(f"RCPT TO:<{user[0]}>")
    assert r.code == 503, r
    r = c.smtp_cmd("STARTTLS")
    assert r.code >= 500, f"second STARTTLS accepted: {r}"
    c.smtp_quit()


def test_smtp_starttls_pipelined_plaintext_discarded(server, user):
    c = server.smtp()
    # CVE-2011-0411: the RSET and MAIL sent in the same write as STARTTLS must
    # be dropped, not executed after the handshake.
    c.send(b"STARTTLS\r\nRSET\r\nMAIL FROM:<injected@example.org>\r\n")
    r = c.smtp_reply()
    assert r.code == 220, r
    # Nothing may follow the 220 in plaintext either.
    c.starttls()
    extra = c.silence(1.5)
    assert extra == b"", f"server answered injected plaintext commands over TLS: {extra!r}"
    r = c.smtp_cmd("EHLO client.example.org")
    assert r.code == 250, r
    # Had the injected MAIL run, this would be a nested MAIL (503).
    r = c.smtp_cmd("MAIL FROM:<real@example.org>")
    assert r.code == 250, r
    c.smtp_quit()


def test_pop3_stls_poplib(server, user):
    msg = make_message("over stls")
    server.deliver("stls@example.org", [user[0]], msg)
    p = poplib.POP3("127.0.0.1", server.ports["pop3"], timeout=TIMEOUT)
    assert "STLS" in p.capa()
    p.stls(context=client_ctx())
    p.user(user[0])
    p.pass_(user[1])
    _, lines, _ = p.retr(1)
    assert split_trace(b"\r\n".join(lines) + b"\r\n", "stls@example.org") == msg
    p.quit()


def test_pop3_stls_pipelined_plaintext_discarded(server, user):
    server.deliver("x@example.org", [user[0]], make_message())
    c = server.pop3()
    c.send(f"STLS\r\nNOOP\r\nUSER {user[0]}\r\nPASS {user[1]}\r\n")
    r = c.pop3_status()
    assert r.startswith("+OK"), r
    c.starttls()
    extra = c.silence(1.5)
    assert extra == b"", f"server answered injected plaintext commands over TLS: {extra!r}"
    # Not logged in by the injected USER/PASS.
    r = c.pop3_cmd("STAT")
    assert r.startswith("-ERR"), f"injected login took effect: {r}"
    c.pop3_login(*user)
    assert c.pop3_stat()[0] == 1
    r = c.pop3_cmd("STLS")
    assert r.startswith("-ERR"), f"STLS accepted twice: {r}"
    c.pop3_quit()


def test_pop3_stls_after_login_refused(server, user):
    # RFC 2595 4: STLS only in AUTHORIZATION state.
    c = server.pop3(*user)
    r = c.pop3_cmd("STLS")
    assert r.startswith("-ERR"), r
    c.pop3_quit()


def test_smtps_implicit_tls(server, user):
    msg = make_message("over smtps")
    c = Conn.connect(server.ports["smtps"], tls=True)
    assert c.sock.version() in ("TLSv1.2", "TLSv1.3")
    r = c.smtp_reply()
    assert r.code == 220, r
    r = c.smtp_cmd("EHLO client.example.org")
    assert r.code == 250, r
    assert not any(l.upper().startswith("STARTTLS") for l in r.lines), r
    # 465 is submission over TLS (RFC 8314 3.3): authenticate first.
    assert c.smtp_cmd("MAIL FROM:<smtps@example.org>").code == 530
    assert c.smtp_cmd("AUTH PLAIN " + plain(*user)).code == 235
    c.smtp_deliver(user[0], [user[0]], msg)
    c.smtp_quit()
    (got,) = server.retr_all(*user, tls=True)
    assert split_trace(got, user[0]) == msg


def test_smtps_smtplib(server, user):
    msg = make_message("smtplib smtps")
    with smtplib.SMTP_SSL("127.0.0.1", server.ports["smtps"], timeout=TIMEOUT,
                          context=client_ctx()) as s:
        s.login(*user)
        assert s.sendmail(user[0], [user[0]], msg) == {}
    (got,) = server.retr_all(*user)
    assert split_trace(got, user[0]) == msg


def test_pop3s_implicit_tls(server, user):
    msg = make_message("pop3s")
    server.deliver("p@example.org", [user[0]], msg)
    p = poplib.POP3_SSL("127.0.0.1", server.ports["pop3s"], timeout=TIMEOUT,
                        context=client_ctx())
    p.user(user[0])
    p.pass_(user[1])
    assert p.stat()[0] == 1
    _, lines, _ = p.retr(1)
    assert split_trace(b"\r\n".join(lines) + b"\r\n", "p@example.org") == msg
    p.quit()


def test_pop3s_no_stls_inside_tls(server):
    c = server.pop3(tls=True)
    r = c.pop3_cmd("STLS")
    assert r.startswith("-ERR"), r
    c.pop3_quit()


def test_plaintext_to_implicit_tls_port(server):
    # A plaintext client on an implicit-TLS port gets no SMTP greeting and is
    # dropped once it sends garbage; the server stays up.
    c = Conn.connect(server.ports["smtps"])
    c.send(b"EHLO plaintext.example.org\r\n")
    got = c.silence(2.0)
    assert not got.startswith(b"220"), got
    c.close()
    server.smtp().smtp_quit()


def test_tls_1_1_refused(server):
    ctx = client_ctx()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        Conn.connect(server.ports["pop3s"], tls=True, ctx=ctx).pop3_status()


def test_curl_pop3_stls_and_pop3s(server, user):
    msg = make_message("curl tls")
    server.deliver("curl@example.org", [user[0]], msg)
    auth = f"{user[0]}:{user[1]}"
    for url, extra in ((f"pop3://127.0.0.1:{server.ports['pop3']}/1", ["--ssl-reqd"]),
                       (f"pop3s://127.0.0.1:{server.ports['pop3s']}/1", [])):
        r = subprocess.run(["curl", "-sS", "-k", "--max-time", "20", *extra, url, "-u", auth],
                           capture_output=True, timeout=60)
        assert r.returncode == 0, (url, r.stderr)
        assert split_trace(r.stdout, "curl@example.org") == msg, url


def test_swaks_starttls(server, user, tmp_path):
    msg = make_message("swaks tls")
    f = tmp_path / "m.eml"
    f.write_bytes(msg[:-2])   # swaks ends the data with CRLF "." CRLF itself
    r = subprocess.run(["swaks", "--server", f"127.0.0.1:{server.ports['smtp']}", "-tls",
                        "--from", "sw@example.org", "--to", user[0], "--data", f"@{f}",
                        "--timeout", "20"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    (got,) = server.retr_all(*user)
    assert split_trace(got, "sw@example.org") == msg


def test_two_instances_share_one_trust_file(make_server, tmp_path):
    # Issue 10.8d: two generated certificates in one CA file both verify, with
    # openssl and with Python's ssl; each has its own serial and subject and
    # the key identifier extensions.
    servers = [make_server().start() for _ in range(2)]
    certs = [s.data_dir / "tls" / "cert.pem" for s in servers]
    both = tmp_path / "both.pem"
    both.write_bytes(certs[0].read_bytes() + certs[1].read_bytes())
    texts = []
    for cert in certs:
        r = subprocess.run(["openssl", "verify", "-CAfile", str(both), str(cert)],
                           capture_output=True, text=True, timeout=TIMEOUT)
        assert r.returncode == 0 and ": OK" in r.stdout, (r.stdout, r.stderr)
        t = subprocess.run(["openssl", "x509", "-noout", "-text", "-in", str(cert)],
                           capture_output=True, text=True, timeout=TIMEOUT).stdout
        assert "X509v3 Subject Key Identifier" in t, t
        assert "X509v3 Authority Key Identifier" in t, t
        assert "CA:FALSE" in t, t
        texts.append(t)
    def field(t, name):
        return next(l for l in t.splitlines() if l.strip().startswith(name))
    assert field(texts[0], "Subject:") != field(texts[1], "Subject:")
    for t in texts:
        serial = t.split("Serial Number:")[1].split("Signature Algorithm")[0]
        assert len(serial.replace(":", "").split()[0]) >= 30, serial   # 159 random bits
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=str(both))
    for s in servers:
        c = Conn.connect(s.ports["pop3s"], tls=True, ctx=ctx, server_hostname="localhost")
        assert c.pop3_status().startswith("+OK")
        c.pop3_quit()
