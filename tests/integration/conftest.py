# tests/integration/conftest.py: pytest fixtures that run the real postino
# binary (POSTINO_BIN, default build/postino) on a fresh data directory with
# smtp, smtps, pop3 and pop3s on ephemeral ports (imap_server and
# imap_own_server add imap and imaps; `imap` is a logged-in raw IMAP
# connection of a fresh user; dns_server is a DNS server on loopback driven
# by a dict).  At teardown the server gets SIGTERM and the
# test fails unless it exits 0 with no sanitizer report.
import os

import pytest

import helpers
from dnsd import DnsServer
from helpers import Server


def pytest_report_header(config):
    return f"postino binary: {helpers.BIN}"


def pytest_sessionstart(session):
    if not os.access(helpers.BIN, os.X_OK):
        raise pytest.UsageError(f"postino binary not found: {helpers.BIN} (set POSTINO_BIN)")


def _finish(srv):
    """Teardown: SIGTERM, wait, and turn any problem into a test failure."""
    try:
        if srv.proc is not None:
            srv.stop()
    finally:
        if srv.proc is not None:
            srv.kill9()
        srv.drop_regions()
    if srv.problems:
        pytest.fail("\n\n".join(srv.problems), pytrace=False)


def _make(tmp_path_factory, name, **kw):
    base = tmp_path_factory.mktemp(name)
    srv = Server(base / "data", **kw)
    srv.start()
    return srv


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One server per test module; tests keep apart by using their own users."""
    srv = _make(tmp_path_factory, "mod")
    yield srv
    _finish(srv)


@pytest.fixture(scope="module")
def sandbox_server(tmp_path_factory):
    srv = _make(tmp_path_factory, "sandbox", sandbox=True)
    yield srv
    _finish(srv)


@pytest.fixture
def own_server(tmp_path_factory):
    """A server of the test's own, for restarts, crashes and CLI checks."""
    srv = _make(tmp_path_factory, "own")
    yield srv
    _finish(srv)


@pytest.fixture
def make_server(tmp_path_factory):
    """Factory for servers with options (config file, sandbox, kinds); each is
    stopped and checked at teardown.  Not started: call .start()."""
    made = []

    def make(**kw):
        base = tmp_path_factory.mktemp("custom")
        srv = Server(base / "data", **kw)
        made.append(srv)
        return srv

    yield make
    errors = []
    for srv in made:
        try:
            if srv.proc is not None:
                srv.stop()
        finally:
            if srv.proc is not None:
                srv.kill9()
            srv.drop_regions()
        errors += srv.problems
    if errors:
        pytest.fail("\n\n".join(errors), pytrace=False)


@pytest.fixture(scope="module")
def imap_server(tmp_path_factory):
    """One server per IMAP test module, with imap and imaps listeners too."""
    srv = _make(tmp_path_factory, "imap", kinds=helpers.IMAP_KINDS)
    yield srv
    _finish(srv)


@pytest.fixture
def imap_own_server(tmp_path_factory):
    """An IMAP-enabled server of the test's own (restarts)."""
    srv = _make(tmp_path_factory, "imapown", kinds=helpers.IMAP_KINDS)
    yield srv
    _finish(srv)


@pytest.fixture
def imap_user(imap_server):
    """A fresh user on the IMAP module server: (address, password)."""
    return imap_server.new_user("im")


@pytest.fixture
def imap(imap_server, imap_user):
    """A raw IMAP connection, logged in as imap_user; logged out at the end
    if the test left it open."""
    c = helpers.imap_connect(imap_server, *imap_user)
    yield c
    c.close()


@pytest.fixture
def user(server):
    """A fresh user on the module server: (address, password)."""
    return server.new_user()


@pytest.fixture
def dns_server():
    """A DNS server of the test's own on 127.0.0.1 (tests/integration/dnsd.py):
    .port, .nameserver() for dns.nameservers, .zone to fill, the knobs
    .servfail/.timeout/.truncate/.chase_cnames, and the .queries log."""
    srv = DnsServer().start()
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def _server_stays_up(request):
    """Fail the test during which a shared server died (crash, sanitizer abort)."""
    shared = [request.getfixturevalue(n) for n in ("server", "sandbox_server", "own_server",
                                                      "imap_server", "imap_own_server")
              if n in request.fixturenames]
    yield
    for srv in shared:
        if srv.proc is not None and srv.proc.poll() is not None:
            rc = srv.proc.returncode
            srv.kill9()
            srv.problems.append(f"postino died with status {rc}")
            pytest.fail(f"postino died during this test (status {rc}); stderr:\n"
                        f"{srv.stderr()[-6000:]}", pytrace=False)


@pytest.fixture(scope="session")
def smtp_certs(tmp_path_factory):
    """A test CA and server certificates (good, expired, self-signed, wrong
    name) for scripted SMTP servers; .ca is the CA file."""
    from smtp_script import Certs
    return Certs(str(tmp_path_factory.mktemp("smtp-certs")))


@pytest.fixture
def smtp_script(smtp_certs):
    """Factory for scripted SMTP servers (tests/integration/smtp_script.py),
    started at once and stopped at teardown:
    srv = smtp_script(ehlo=[...], replies={...}, tls="good")."""
    from smtp_script import ScriptServer
    made = []

    def make(**kw):
        kw.setdefault("certs", smtp_certs)
        srv = ScriptServer(**kw).start()
        made.append(srv)
        return srv

    yield make
    for srv in made:
        srv.stop()
