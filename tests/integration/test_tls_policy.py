# tests/integration/test_tls_policy.py: the TLS policy of issue 4 point 1:
# TLS 1.2 and 1.3 only (RFC 8996, RFC 8314 4.1) on STARTTLS/STLS and the
# implicit-TLS listeners, cipher lists from the config with server
# preference and no renegotiation, a certificate chain and key from files
# that must match and be valid now, a client that trusts our CA accepts the
# server and one that trusts another CA refuses it, capabilities announced
# again after STARTTLS, and SIGHUP reloading the certificate without dropping
# sessions (a broken replacement is refused and the old one stays).
#
# Certificates are made with the openssl CLI (`openssl ca` gives the
# expired and not-yet-valid ones their dates) in a world-readable directory,
# because the daemon may run as an unprivileged user when the suite runs as
# root.
import hashlib
import os
import pathlib
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import warnings

import pytest

import helpers
from helpers import TIMEOUT, Conn, ImapConn, Server, sanitizer_lines

OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(OPENSSL is None, reason="openssl CLI not installed")

CA_CNF = """\
[ ca ]
default_ca = CA_default
[ CA_default ]
dir = {dir}
database = {dir}/index.txt
new_certs_dir = {dir}/newcerts
serial = {dir}/serial
default_md = sha256
policy = policy_any
unique_subject = no
email_in_dn = no
[ policy_any ]
organizationName = optional
commonName = supplied
[ leaf_ext ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
[ ca_ext ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
"""


def run(cmd, input=None, timeout=TIMEOUT * 3, check=True):
    r = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout,
                       stdin=None if input is not None else subprocess.DEVNULL)
    if check:
        assert r.returncode == 0, f"{' '.join(map(str, cmd))}: rc={r.returncode}\n{r.stderr}"
    return r


def world_readable(path):
    """0755 directories and 0644 files: the daemon may not run as us."""
    path = pathlib.Path(path)
    for p in [path, *path.rglob("*")]:
        os.chmod(p, 0o755 if p.is_dir() else 0o644)


class CA:
    """A certificate authority kept by `openssl ca` in its own directory."""

    def __init__(self, pki, name, parent=None):
        self.pki = pki
        self.name = name
        self.dir = pki.root / name
        (self.dir / "newcerts").mkdir(parents=True)
        (self.dir / "index.txt").write_text("")
        (self.dir / "serial").write_text("1000\n")
        self.cnf = self.dir / "ca.cnf"
        self.cnf.write_text(CA_CNF.format(dir=self.dir))
        self.key = self.dir / "ca.key"
        self.cert = self.dir / "ca.pem"
        subj = f"/O=postino tests/CN={name}"
        if parent is None:
            run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-nodes", "-keyout", self.key, "-out", self.cert, "-subj", subj, "-days", "30",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        else:
            csr = self.dir / "ca.csr"
            run([OPENSSL, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-nodes", "-keyout", self.key, "-out", csr, "-subj", subj])
            parent.sign(csr, self.cert, "ca_ext", days=30)
        world_readable(self.dir)

    def sign(self, csr, out, ext, days=30, start=None, end=None):
        cmd = [OPENSSL, "ca", "-batch", "-config", self.cnf, "-cert", self.cert,
               "-keyfile", self.key, "-in", csr, "-out", out, "-notext", "-extensions", ext]
        if start:
            cmd += ["-startdate", start, "-enddate", end]
        else:
            cmd += ["-days", str(days)]
        run(cmd)

    def leaf(self, name, org=None, start=None, end=None, chain=True):
        """A server certificate for localhost/127.0.0.1: (cert file, key file).
        The cert file holds the leaf and, for an intermediate CA, the
        intermediate after it (what a server must send, RFC 8446 4.4.2)."""
        d = self.pki.root / "leaves" / name
        d.mkdir(parents=True)
        key, csr, only = d / "key.pem", d / "leaf.csr", d / "leaf.pem"
        run([OPENSSL, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", key, "-out", csr,
             "-subj", f"/O={org or name}/CN=localhost"])
        self.sign(csr, only, "leaf_ext", start=start, end=end)
        cert = d / "cert.pem"
        text = only.read_text()
        if chain and self.is_intermediate:
            text += self.cert.read_text()
        cert.write_text(text)
        world_readable(d)
        return cert, key

    @property
    def is_intermediate(self):
        return self.name.endswith("-int")


class Pki:
    def __init__(self, root):
        self.root = pathlib.Path(root)
        self.rootca = CA(self, "root")
        self.inter = CA(self, "root-int", parent=self.rootca)
        self.other = CA(self, "other")
        self.good = self.inter.leaf("good", org="postino good")
        self.second = self.inter.leaf("second", org="postino second")
        self.third = self.inter.leaf("third", org="postino third")
        self.expired = self.inter.leaf("expired", start="20200101000000Z", end="20200201000000Z")
        self.future = self.inter.leaf("future", start="20990101000000Z", end="20990201000000Z")
        world_readable(self.root)

    def conf(self, name, cert=None, key=None, **tls):
        """A config file (in the world-readable tree) with this tls group."""
        items = []
        if cert is not None:
            items += [f'certificate = "{cert}";', f'key = "{key}";']
        items += [f'{k} = "{v}";' for k, v in tls.items()]
        p = self.root / f"{name}.conf"
        p.write_text("tls = {\n  " + "\n  ".join(items) + "\n};\n")
        os.chmod(p, 0o644)
        return p


@pytest.fixture(scope="module")
def pki():
    root = tempfile.mkdtemp(prefix="postino-tls-")
    os.chmod(root, 0o755)
    try:
        yield Pki(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _stop(srv):
    try:
        if srv.proc is not None:
            srv.stop()
    finally:
        if srv.proc is not None:
            srv.kill9()
    if srv.problems:
        pytest.fail("\n\n".join(srv.problems), pytrace=False)


@pytest.fixture(scope="module")
def ca_server(pki, tmp_path_factory):
    """A server with the CA-signed chain, on every listener kind."""
    srv = Server(tmp_path_factory.mktemp("tlspol") / "data", kinds=helpers.IMAP_KINDS,
                 config=pki.conf("ca-server", *pki.good))
    srv.start()
    yield srv
    _stop(srv)


# -- clients -------------------------------------------------------------------

def ctx_for(version=None, cafile=None, ciphers=None):
    """A client context: pinned to one TLS version when asked, verifying
    against cafile (with the host name "localhost") when given."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if version is not None:
            if version < ssl.TLSVersion.TLSv1_2:
                # OpenSSL 3 refuses TLS < 1.2 at security level 1; level 0
                # lets this client really offer it, so the refusal we see
                # is the server's.
                ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            ctx.minimum_version = version
            ctx.maximum_version = version
    if ciphers:
        ctx.set_ciphers(ciphers)
    if cafile:
        ctx.load_verify_locations(cafile=str(cafile))
        ctx.check_hostname = True
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def greet(kind, c):
    """Read the greeting of a fresh connection of this kind."""
    if kind.startswith("smtp"):
        r = c.smtp_reply()
        assert r.code == 220, r
    elif kind.startswith("pop3"):
        assert c.pop3_status().startswith("+OK")
    else:
        g = c.readline()
        assert g.startswith(b"* OK"), g


def starttls(srv, kind, ctx, hostname=None):
    """A TLS connection on `kind`: implicit for smtps/pop3s/imaps, STARTTLS
    or STLS for smtp/pop3/imap.  Returns the Conn, after the handshake (and,
    for implicit TLS, after the greeting)."""
    if kind in ("smtps", "pop3s", "imaps"):
        c = ImapConn.connect(srv.ports[kind], tls=True, ctx=ctx, server_hostname=hostname)
        greet(kind, c)
        return c
    c = ImapConn.connect(srv.ports[kind])
    greet(kind, c)
    if kind == "smtp":
        assert c.smtp_cmd("EHLO client.example.org").code == 250
        r = c.smtp_cmd("STARTTLS")
        assert r.code == 220, r
    elif kind == "pop3":
        c.send(b"STLS\r\n")
        st = c.pop3_status()
        assert st.startswith("+OK"), st
    else:
        r = c.cmd("STARTTLS")
        assert r.status == "OK", r
    c.starttls(ctx, server_hostname=hostname)
    return c


def fingerprint_der(der):
    return hashlib.sha256(der).hexdigest()


def fingerprint_file(path):
    """SHA-256 of the first certificate (the leaf) in a PEM file."""
    text = pathlib.Path(path).read_text()
    end = "-----END CERTIFICATE-----"
    leaf = text[:text.index(end) + len(end)]
    return fingerprint_der(ssl.PEM_cert_to_DER_cert(leaf))


def peer_fp(c):
    return fingerprint_der(c.sock.getpeercert(binary_form=True))


def handshake_error(srv, kind, ctx, hostname=None):
    """The SSL error a handshake on kind ends with (fails if it succeeds)."""
    with pytest.raises((ssl.SSLError, ConnectionError)) as ei:
        c = starttls(srv, kind, ctx, hostname)
        c.close()
    return ei.value


def s_client(port, args, lines, timeout=TIMEOUT * 2):
    """openssl s_client -brief against 127.0.0.1:port; lines are sent one by
    one (CRLF added); returns (returncode, stdout + stderr).  After the
    server closes, s_client exits 1 when no close_notify came first, so the
    successful cases look for "CONNECTION ESTABLISHED" instead of rc 0."""
    cmd = [OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", "-brief", "-ign_eof",
           "-crlf", *args]
    r = subprocess.run(cmd, input="".join(l + "\n" for l in lines), capture_output=True,
                       text=True, timeout=timeout)
    return r.returncode, r.stdout + r.stderr


def start_refused(pki, tmp_path_factory, conf):
    """Run `postino serve` with conf; it must exit non-zero without becoming
    ready.  Returns its stderr."""
    srv = Server(tmp_path_factory.mktemp("refused") / "data", config=conf)
    try:
        r = subprocess.run(srv.command(), stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=30)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"postino started with {conf.read_text()!r}: {e.stderr}")
    assert not sanitizer_lines(r.stderr), r.stderr
    assert r.returncode != 0, f"postino exited 0 with {conf.read_text()!r}:\n{r.stderr}"
    assert " ready" not in r.stderr, r.stderr
    return r.stderr


# -- protocol versions -------------------------------------------------------------

IMPLICIT_AND_STARTTLS = ["smtps", "pop3s", "imaps", "smtp", "pop3", "imap"]


@pytest.mark.parametrize("kind", IMPLICIT_AND_STARTTLS)
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1],
                         ids=["tls1.0", "tls1.1"])
def test_old_tls_refused(ca_server, kind, version):
    e = handshake_error(ca_server, kind, ctx_for(version))
    # The protocol_version alert (RFC 8446 6.2, alert 70) comes from the
    # server: a client unable to offer the version would fail locally
    # with NO_PROTOCOLS_AVAILABLE instead.
    assert "PROTOCOL_VERSION" in str(e).upper(), e


@pytest.mark.parametrize("flag", ["-tls1", "-tls1_1"])
@pytest.mark.parametrize("kind,starttls_arg", [("smtps", None), ("smtp", "smtp"),
                                                ("pop3", "pop3"), ("imap", "imap")])
def test_old_tls_refused_s_client(ca_server, flag, kind, starttls_arg):
    args = [flag, "-cipher", "DEFAULT@SECLEVEL=0"]
    if starttls_arg:
        args += ["-starttls", starttls_arg]
    rc, out = s_client(ca_server.ports[kind], args, [])
    assert rc != 0, out
    assert "alert protocol version" in out, out


@pytest.mark.parametrize("kind", IMPLICIT_AND_STARTTLS)
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3],
                         ids=["tls1.2", "tls1.3"])
def test_tls12_and_tls13_work(ca_server, pki, kind, version):
    c = starttls(ca_server, kind, ctx_for(version, cafile=pki.rootca.cert), hostname="localhost")
    want = {ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version]
    assert c.sock.version() == want
    # Default lists: forward secrecy and AEAD only.
    name, proto, bits = c.sock.cipher()
    assert bits >= 128, c.sock.cipher()
    if version == ssl.TLSVersion.TLSv1_2:
        assert name.startswith("ECDHE-") and ("GCM" in name or "CHACHA20" in name), name
    if kind.startswith("smtp"):
        assert c.smtp_cmd("NOOP").code == 250
        c.smtp_quit()
    elif kind.startswith("pop3"):
        c.send(b"QUIT\r\n")
        assert c.pop3_status().startswith("+OK")
        c.close()
    else:
        assert c.cmd("NOOP").status == "OK"
        c.close()


@pytest.mark.parametrize("flag,proto", [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")])
def test_s_client_starttls_and_capabilities_again(ca_server, pki, flag, proto):
    verify = ["-CAfile", str(pki.rootca.cert), "-verify_return_error",
              "-verify_hostname", "localhost"]
    # SMTP, RFC 3207 4.2: EHLO again after STARTTLS gets the full list,
    # without STARTTLS.
    rc, out = s_client(ca_server.ports["smtp"], [flag, "-starttls", "smtp", *verify],
                       ["EHLO client.example.org", "QUIT"])
    assert "CONNECTION ESTABLISHED" in out and "Verification: OK" in out, out
    assert f"Protocol version: {proto}" in out, out
    ehlo = re.findall(r"^250[- ](.*)$", out, re.M)
    assert "PIPELINING" in ehlo and "ENHANCEDSTATUSCODES" in ehlo, out
    assert "STARTTLS" not in ehlo, out
    assert "221" in out
    # IMAP, RFC 9051 6.2.1: CAPABILITY after STARTTLS, without STARTTLS.
    rc, out = s_client(ca_server.ports["imap"], [flag, "-starttls", "imap", *verify],
                       ["a CAPABILITY", "b LOGOUT"])
    assert "CONNECTION ESTABLISHED" in out and "Verification: OK" in out, out
    assert f"Protocol version: {proto}" in out, out
    caps = re.findall(r"^\* CAPABILITY (.*)$", out, re.M)
    assert caps and "IMAP4rev" in caps[-1], out
    assert "STARTTLS" not in caps[-1].split(), out
    assert "LOGINDISABLED" not in caps[-1].split(), out
    assert re.search(r"^a OK", out, re.M) and re.search(r"^b OK", out, re.M), out
    # POP3, RFC 2595 4: CAPA after STLS, without STLS.
    rc, out = s_client(ca_server.ports["pop3"], [flag, "-starttls", "pop3", *verify],
                       ["CAPA", "QUIT"])
    assert "CONNECTION ESTABLISHED" in out and "Verification: OK" in out, out
    assert f"Protocol version: {proto}" in out, out
    m = re.search(r"^\+OK[^\n]*\n(.*?)^\.\r?$", out, re.M | re.S)
    assert m, out
    capa = [l.strip() for l in m.group(1).splitlines()]
    assert "TOP" in capa and "UIDL" in capa, out
    assert "STLS" not in capa, out


def test_raw_capabilities_reannounced(ca_server):
    c = ca_server.smtp()
    before = c.smtp_cmd("EHLO client.example.org")
    assert "STARTTLS" in before.lines, before
    assert c.smtp_cmd("STARTTLS").code == 220
    c.starttls()
    after = c.smtp_cmd("EHLO client.example.org")
    assert after.code == 250, after
    assert "STARTTLS" not in after.lines, after
    assert set(before.lines[1:]) - {"STARTTLS"} <= set(after.lines[1:]), (before, after)
    c.smtp_quit()
    c = helpers.imap_connect(ca_server)
    r = c.cmd("CAPABILITY")
    (caps,) = r.data("CAPABILITY")
    assert b"STARTTLS" in caps.split(), r
    assert c.cmd("STARTTLS").status == "OK"
    c.starttls()
    r = c.cmd("CAPABILITY")
    (caps,) = r.data("CAPABILITY")
    assert b"STARTTLS" not in caps.split() and b"LOGINDISABLED" not in caps.split(), r
    c.close()


def test_swaks_tls(ca_server, pki):
    rcpt, rpw = ca_server.new_user("swaks")
    for proto in ("tlsv1_2", "tlsv1_3"):
        r = run(["swaks", "--server", "127.0.0.1", "--port", str(ca_server.ports["smtp"]),
                 "--tls", "--tls-protocol", proto, "--tls-verify", "--tls-ca-path",
                 str(pki.rootca.cert), "--ehlo", "client.example.org",
                 "--from", "swaks@example.org", "--to", rcpt, "--timeout", "20"], check=False)
        assert r.returncode == 0, r.stdout + r.stderr
        want = proto.replace("tlsv1_", "TLSv1.")
        assert f"TLS started with cipher {want}:" in r.stdout, r.stdout
        assert 'TLS peer DN="/O=postino good/CN=localhost"' in r.stdout, r.stdout
        # "<~": the reply came over TLS; EHLO again shows no STARTTLS.
        assert "<~  250 2.0.0 Ok: queued" in r.stdout, r.stdout
        assert "<~  250-STARTTLS" not in r.stdout, r.stdout
    # Implicit TLS (RFC 8314 3.3) on smtps.
    r = run(["swaks", "--server", "127.0.0.1", "--port", str(ca_server.ports["smtps"]),
             "--tls-on-connect", "--ehlo", "client.example.org",
             # 465 is submission (RFC 8314 3.3): the user authenticates and
             # sends as themselves.
             "--auth", "PLAIN", "--auth-user", rcpt, "--auth-password", rpw,
             "--from", rcpt, "--to", rcpt, "--timeout", "20"], check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "TLS started with cipher TLSv1.3:" in r.stdout, r.stdout
    assert "<~  250 2.0.0 Ok: queued" in r.stdout, r.stdout
    # An old protocol is refused.
    r = run(["swaks", "--server", "127.0.0.1", "--port", str(ca_server.ports["smtp"]),
             "--tls", "--tls-protocol", "tlsv1", "--tls-cipher", "DEFAULT@SECLEVEL=0",
             "--ehlo", "client.example.org", "--from", "swaks@example.org", "--to", rcpt,
             "--quit-after", "TLS", "--timeout", "20"], check=False)
    assert r.returncode != 0, r.stdout
    assert "TLS started" not in r.stdout, r.stdout


def test_curl_ssl_reqd(ca_server, pki):
    user, password = ca_server.new_user("curl")
    ca = str(pki.rootca.cert)
    base = ["curl", "-sS", "-v", "--max-time", "20", "--cacert", ca, "-u", f"{user}:{password}"]
    for url, extra in ((f"pop3://127.0.0.1:{ca_server.ports['pop3']}/", ["--ssl-reqd"]),
                       (f"imap://127.0.0.1:{ca_server.ports['imap']}/", ["--ssl-reqd"]),
                       (f"pop3s://127.0.0.1:{ca_server.ports['pop3s']}/", []),
                       (f"imaps://127.0.0.1:{ca_server.ports['imaps']}/", [])):
        for opts, proto in ((["--tlsv1.2", "--tls-max", "1.2"], "TLSv1.2"),
                            (["--tlsv1.3"], "TLSv1.3")):
            r = run(base + extra + opts + [url], check=False)
            assert r.returncode == 0, f"{url} {opts}: {r.stderr}"
            assert f"SSL connection using {proto}" in r.stderr, r.stderr
            if url.startswith("imap"):
                assert "INBOX" in r.stdout, r.stdout
    # Trusting another CA: the certificate cannot be verified (exit 60).
    r = run(["curl", "-sS", "--max-time", "20", "--cacert", str(pki.other.cert), "--ssl-reqd",
             "-u", f"{user}:{password}", f"pop3://127.0.0.1:{ca_server.ports['pop3']}/"],
            check=False)
    assert r.returncode == 60, (r.returncode, r.stderr)


# -- certificates ----------------------------------------------------------------------

@pytest.mark.parametrize("kind", IMPLICIT_AND_STARTTLS)
def test_client_trusting_our_ca_accepts_chain(ca_server, pki, kind):
    # The client knows only the root: the server must send the
    # intermediate from the chain file too.
    c = starttls(ca_server, kind, ctx_for(cafile=pki.rootca.cert), hostname="localhost")
    assert peer_fp(c) == fingerprint_file(pki.good[0])
    c.close()


@pytest.mark.parametrize("kind", IMPLICIT_AND_STARTTLS)
def test_client_trusting_other_ca_refuses(ca_server, pki, kind):
    e = handshake_error(ca_server, kind, ctx_for(cafile=pki.other.cert), hostname="localhost")
    assert isinstance(e, ssl.SSLCertVerificationError), e
    assert "unable to get local issuer certificate" in str(e), e


def test_wrong_certificate_s_client(ca_server, pki):
    rc, out = s_client(ca_server.ports["imaps"],
                       ["-CAfile", str(pki.other.cert), "-verify_return_error"], [])
    assert rc != 0, out
    assert "verify error" in out, out


def test_mismatched_key_refused_at_start(pki, tmp_path_factory):
    cert, _ = pki.good
    _, other_key = pki.second
    err = start_refused(pki, tmp_path_factory, pki.conf("mismatch", cert, other_key))
    assert f"tls key {other_key} does not match the certificate {cert}" in err, err


def test_expired_certificate_refused_at_start(pki, tmp_path_factory):
    cert, key = pki.expired
    err = start_refused(pki, tmp_path_factory, pki.conf("expired", cert, key))
    assert f"tls certificate {cert} expired on 2020-02-01T00:00:00Z" in err, err


def test_not_yet_valid_certificate_refused_at_start(pki, tmp_path_factory):
    cert, key = pki.future
    err = start_refused(pki, tmp_path_factory, pki.conf("future", cert, key))
    assert f"tls certificate {cert} is not valid before 2099-01-01T00:00:00Z" in err, err


def test_missing_and_garbage_files_refused_at_start(pki, tmp_path_factory):
    cert, key = pki.good
    missing = pki.root / "nope.pem"
    err = start_refused(pki, tmp_path_factory, pki.conf("missing", missing, key))
    assert f"cannot read tls certificate {missing}: No such file or directory" in err, err
    garbage = pki.root / "garbage.pem"
    garbage.write_text("not a certificate\n")
    os.chmod(garbage, 0o644)
    err = start_refused(pki, tmp_path_factory, pki.conf("garbage", garbage, key))
    assert f"tls certificate {garbage} is not a PEM certificate chain" in err, err
    err = start_refused(pki, tmp_path_factory, pki.conf("garbage-key", cert, garbage))
    assert f"tls key {garbage} is not a PEM private key" in err, err


# -- cipher and version policy -------------------------------------------------------------

@pytest.mark.parametrize("tls,needle", [
    ({"ciphers": "NOSUCHCIPHER"}, 'tls ciphers "NOSUCHCIPHER" select no TLS 1.2 cipher'),
    ({"ciphers": "aNULL"}, 'tls ciphers "aNULL" select no TLS 1.2 cipher'),
    # RSA-authenticated suites exist, but our key is ECDSA.
    ({"ciphers": "ECDHE-RSA-AES128-GCM-SHA256"},
     'tls ciphers "ECDHE-RSA-AES128-GCM-SHA256" select no TLS 1.2 cipher usable with the EC key'),
    ({"ciphersuites": "TLS_NO_SUCH_SUITE"},
     'tls ciphersuites "TLS_NO_SUCH_SUITE" select no TLS 1.3 suite'),
], ids=["unknown", "anonymous-only", "wrong-key-type", "no-tls13-suite"])
def test_cipher_config_matching_nothing_refused(pki, tmp_path_factory, tls, needle):
    err = start_refused(pki, tmp_path_factory, pki.conf("ciphers", *pki.good, **tls))
    assert needle in err, err


def test_configured_ciphers_and_server_preference(pki, make_server):
    conf = pki.conf("pref", *pki.good,
                    ciphers="ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305",
                    ciphersuites="TLS_CHACHA20_POLY1305_SHA256")
    srv = make_server(config=conf).start()
    # The client prefers ChaCha20; the server's order wins.
    ctx = ctx_for(ssl.TLSVersion.TLSv1_2,
                  ciphers="ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES256-GCM-SHA384")
    c = starttls(srv, "smtps", ctx)
    assert c.sock.cipher()[0] == "ECDHE-ECDSA-AES256-GCM-SHA384", c.sock.cipher()
    c.smtp_quit()
    # A cipher outside the configured list is refused.
    e = handshake_error(srv, "pop3s", ctx_for(ssl.TLSVersion.TLSv1_2,
                                              ciphers="ECDHE-ECDSA-AES128-GCM-SHA256"))
    assert "HANDSHAKE_FAILURE" in str(e).upper() or "NO_SHARED_CIPHER" in str(e).upper(), e
    # TLS 1.3 gets only the configured suite.
    c = starttls(srv, "smtp", ctx_for(ssl.TLSVersion.TLSv1_3))
    assert c.sock.cipher()[0] == "TLS_CHACHA20_POLY1305_SHA256", c.sock.cipher()
    c.smtp_quit()
    rc, out = s_client(srv.ports["smtps"], ["-tls1_3", "-ciphersuites", "TLS_AES_128_GCM_SHA256"],
                       ["QUIT"])
    assert rc != 0 and "alert handshake failure" in out, out


def test_default_cipher_list_refuses_cbc(ca_server):
    e = handshake_error(ca_server, "smtps", ctx_for(ssl.TLSVersion.TLSv1_2,
                                                    ciphers="ECDHE-ECDSA-AES128-SHA"))
    assert "HANDSHAKE_FAILURE" in str(e).upper() or "NO_SHARED_CIPHER" in str(e).upper(), e


def test_min_version_tls13(pki, make_server):
    conf = pki.conf("min13", *pki.good, min_version="TLSv1.3")
    srv = make_server(config=conf, kinds=helpers.IMAP_KINDS).start()
    for kind in IMPLICIT_AND_STARTTLS:
        e = handshake_error(srv, kind, ctx_for(ssl.TLSVersion.TLSv1_2))
        assert "PROTOCOL_VERSION" in str(e).upper(), e
        c = starttls(srv, kind, ctx_for(ssl.TLSVersion.TLSv1_3))
        assert c.sock.version() == "TLSv1.3"
        c.close()
    rc, out = s_client(srv.ports["smtp"], ["-tls1_2", "-starttls", "smtp"], ["QUIT"])
    assert rc != 0 and "alert protocol version" in out, out


def test_no_renegotiation(ca_server):
    # s_client renegotiates on a line "R" (TLS 1.2 only); the server must
    # refuse (SSL_OP_NO_RENEGOTIATION), not renegotiate.
    cmd = [OPENSSL, "s_client", "-connect", f"127.0.0.1:{ca_server.ports['smtps']}", "-tls1_2"]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    try:
        p.stdin.write("NOOP\r\n")
        p.stdin.flush()
        time.sleep(1.0)
        p.stdin.write("R\n")
        p.stdin.flush()
        time.sleep(1.0)
        out, _ = p.communicate("NOOP\r\n", timeout=TIMEOUT)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert "RENEGOTIATING" in out, out
    assert "no renegotiation" in out, out


def test_session_resumption(ca_server):
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = ctx_for(version)
        c = starttls(ca_server, "pop3s", ctx)
        c.send(b"NOOP\r\n")     # TLS 1.3 tickets arrive after the handshake
        c.pop3_status()
        session = c.sock.session
        c.close()
        assert session is not None
        raw = socket.create_connection(("127.0.0.1", ca_server.ports["pop3s"]), timeout=TIMEOUT)
        s = Conn(ctx.wrap_socket(raw, session=session))
        assert s.sock.session_reused, f"{version}: session not resumed"
        assert s.pop3_status().startswith("+OK")
        s.close()


# -- self-signed ---------------------------------------------------------------------------

def test_self_signed_reused_and_regenerated_when_expired(pki, make_server):
    srv = make_server().start()
    cert_file = srv.data_dir / "tls" / "cert.pem"
    key_file = srv.data_dir / "tls" / "key.pem"
    c = starttls(srv, "smtps", ctx_for())
    first = peer_fp(c)
    c.smtp_quit()
    assert first == fingerprint_file(cert_file)
    srv.restart()
    c = starttls(srv, "smtps", ctx_for())
    assert peer_fp(c) == first, "generated certificate not reused"
    c.smtp_quit()
    srv.stop()
    srv.assert_clean()
    # Replace the generated pair with an expired one, in place (ownership
    # and mode stay the daemon's).
    cert, key = pki.expired
    with open(cert_file, "w") as f:
        f.write(pathlib.Path(cert).read_text())
    with open(key_file, "w") as f:
        f.write(pathlib.Path(key).read_text())
    srv.start()
    assert srv.wait_log("expired or expires soon, generating a new one"), srv.stderr()
    c = starttls(srv, "smtps", ctx_for())
    fresh = peer_fp(c)
    der = c.sock.getpeercert(binary_form=True)
    c.smtp_quit()
    assert fresh not in (first, fingerprint_file(cert)), "expired certificate not replaced"
    assert fresh == fingerprint_file(cert_file)
    # Valid for more than a day from now.
    r = subprocess.run([OPENSSL, "x509", "-inform", "DER", "-noout", "-checkend", "86400"],
                       input=der, capture_output=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stdout


def test_sighup_reloads_self_signed(make_server):
    srv = make_server().start()
    c = starttls(srv, "smtp", ctx_for())
    fp = peer_fp(c)
    srv.proc.send_signal(signal.SIGHUP)
    assert srv.wait_log("tls reloaded"), srv.stderr()
    assert "postino self-signed" in srv.stderr()
    assert c.smtp_cmd("NOOP").code == 250
    c.smtp_quit()
    c = starttls(srv, "pop3s", ctx_for())
    assert peer_fp(c) == fp
    c.close()


# -- reload --------------------------------------------------------------------------------

def count_lines(srv, needle):
    return sum(needle in l for l in srv.stderr().splitlines())


def wait_count(srv, needle, n, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if count_lines(srv, needle) >= n:
            return True
        time.sleep(0.05)
    return False


def install(live, cert, key):
    """Deploy a pair the way an ACME client does: new files renamed over
    the old ones, readable by everyone (the daemon may run unprivileged)."""
    for src, name in ((key, "key.pem"), (cert, "cert.pem")):
        tmp = live / (name + ".new")
        shutil.copyfile(src, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, live / name)


def test_sighup_reload(pki, make_server):
    live = pki.root / "live"
    live.mkdir()
    os.chmod(live, 0o755)
    install(live, *pki.good)
    conf = pki.conf("reload", live / "cert.pem", live / "key.pem")
    srv = make_server(config=conf, kinds=helpers.IMAP_KINDS).start()
    fp_good, fp_second = fingerprint_file(pki.good[0]), fingerprint_file(pki.second[0])
    ctx = ctx_for(cafile=pki.rootca.cert)

    # Sessions on the first certificate: IMAP after STARTTLS, SMTP on smtps,
    # POP3 after STLS.
    imap = starttls(srv, "imap", ctx, "localhost")
    smtps = starttls(srv, "smtps", ctx, "localhost")
    assert smtps.smtp_cmd("EHLO client.example.org").code == 250
    pop3 = starttls(srv, "pop3", ctx, "localhost")
    old = (imap, smtps, pop3)
    for c in old:
        assert peer_fp(c) == fp_good

    def old_sessions_work():
        assert imap.cmd("NOOP").status == "OK"
        assert smtps.smtp_cmd("NOOP").code == 250
        pop3.send(b"NOOP\r\n")
        assert pop3.pop3_status().startswith(("+OK", "-ERR")), "pop3 session dropped"

    def new_sessions_present(fp):
        for kind in IMPLICIT_AND_STARTTLS:
            c = starttls(srv, kind, ctx, "localhost")
            assert peer_fp(c) == fp, f"{kind} presents the wrong certificate"
            c.close()

    # 1. A good replacement: new sessions get it, old ones carry on.
    install(live, *pki.second)
    srv.proc.send_signal(signal.SIGHUP)
    assert wait_count(srv, "tls reloaded", 1), srv.stderr()
    line = [l for l in srv.stderr().splitlines() if "tls reloaded" in l][-1]
    assert 'subject="CN=localhost,O=postino second"' in line, line
    assert re.search(r"not_after=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", line), line
    old_sessions_work()
    new_sessions_present(fp_second)

    # 2. A key that does not match: refused, the current pair stays.
    install(live, pki.second[0], pki.third[1])
    srv.proc.send_signal(signal.SIGHUP)
    assert wait_count(srv, "tls reload failed", 1), srv.stderr()
    assert "does not match the certificate" in srv.stderr()
    old_sessions_work()
    new_sessions_present(fp_second)

    # 3. An expired certificate: refused too.
    install(live, *pki.expired)
    srv.proc.send_signal(signal.SIGHUP)
    assert wait_count(srv, "tls reload failed", 2), srv.stderr()
    assert "expired on 2020-02-01T00:00:00Z" in srv.stderr()
    new_sessions_present(fp_second)

    # 4. Garbage, then a missing file.
    (live / "cert.pem").write_text("garbage\n")
    srv.proc.send_signal(signal.SIGHUP)
    assert wait_count(srv, "tls reload failed", 3), srv.stderr()
    os.unlink(live / "cert.pem")
    srv.proc.send_signal(signal.SIGHUP)
    assert wait_count(srv, "tls reload failed", 4), srv.stderr()
    assert "No such file or directory" in srv.stderr()
    new_sessions_present(fp_second)
    old_sessions_work()
    assert count_lines(srv, "tls reloaded") == 1

    # 5. Fixed: the third pair goes live; the first sessions still work.
    install(live, *pki.third)
    srv.proc.send_signal(signal.SIGHUP)
    assert wait_count(srv, "tls reloaded", 2), srv.stderr()
    new_sessions_present(fingerprint_file(pki.third[0]))
    old_sessions_work()
    for c in old:
        assert peer_fp(c) == fp_good
    smtps.smtp_quit()
    r = imap.cmd("LOGOUT")
    assert r.status == "OK"
    imap.close()
    pop3.send(b"QUIT\r\n")
    assert pop3.pop3_status().startswith("+OK")
    pop3.close()
