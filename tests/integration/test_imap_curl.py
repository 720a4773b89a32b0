# tests/integration/test_imap_curl.py: curl as an IMAP client (imap:// and
# imaps:// URLs, RFC 5092 as curl implements it): list mailboxes, fetch by UID
# and section, SEARCH with a URL query and with -X, APPEND by upload (-T),
# AUTHENTICATE PLAIN with SASL-IR.
import shutil
import subprocess

import pytest

from helpers import TIMEOUT, imap_connect, make_message, status_items

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")


def curl(srv, user, path, *args, tls=False, input=None):
    scheme, port = ("imaps", srv.ports["imaps"]) if tls else ("imap", srv.ports["imap"])
    cmd = ["curl", "-sS", "--max-time", str(int(TIMEOUT * 2)), "-k",
           "--user", f"{user[0]}:{user[1]}", f"{scheme}://127.0.0.1:{port}/{path}", *args]
    r = subprocess.run(cmd, input=input, capture_output=True, timeout=TIMEOUT * 3)
    assert r.returncode == 0, f"{' '.join(cmd)}: rc={r.returncode} stderr={r.stderr!r}"
    return r.stdout


@pytest.fixture
def filled(imap_server, imap_user):
    msgs = [make_message("curl alpha", body=b"first body\r\n"),
            make_message("curl beta", body=b"second body\r\n")]
    c = imap_connect(imap_server, *imap_user)
    for m in msgs:
        c.append("INBOX", m)
    c.logout()
    return msgs


def test_list_mailboxes(imap_server, imap_user):
    out = curl(imap_server, imap_user, "")
    lines = [l for l in out.decode().split("\r\n") if l]
    names = set()
    for l in lines:
        assert l.startswith("* LIST ("), l
        names.add(l.rsplit(" ", 1)[1].strip('"'))
    assert names == {"INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"}, lines


def test_fetch_by_uid(imap_server, imap_user, filled):
    assert curl(imap_server, imap_user, "INBOX;UID=1") == filled[0]
    assert curl(imap_server, imap_user, "INBOX;UID=2") == filled[1]
    assert curl(imap_server, imap_user, "INBOX;UID=2;SECTION=TEXT") == b"second body\r\n"
    assert curl(imap_server, imap_user, "INBOX;UID=1", tls=True) == filled[0]


def test_fetch_missing_uid_fails(imap_server, imap_user, filled):
    port = imap_server.ports["imap"]
    r = subprocess.run(["curl", "-sS", "--max-time", str(int(TIMEOUT * 2)), "--user",
                        f"{imap_user[0]}:{imap_user[1]}",
                        f"imap://127.0.0.1:{port}/INBOX;UID=99"],
                       capture_output=True, timeout=TIMEOUT * 3)
    # curl reports a FETCH that returned no message as an error (exit 78,
    # "remote file not found") and prints nothing.
    assert r.returncode != 0 and r.stdout == b"", r


def test_search_query_and_custom_request(imap_server, imap_user, filled):
    out = curl(imap_server, imap_user, "INBOX?SUBJECT%20beta")
    assert out == b"* SEARCH 2\r\n", out
    out = curl(imap_server, imap_user, "INBOX", "-X", "SEARCH BODY first")
    assert out == b"* SEARCH 1\r\n", out
    out = curl(imap_server, imap_user, "INBOX", "-X", "UID SEARCH ALL")
    assert out == b"* SEARCH 1 2\r\n", out


def test_append_by_upload(imap_server, imap_user, tmp_path):
    msg = make_message("uploaded with curl", body=b"upload body\r\n")
    path = tmp_path / "upload.eml"      # curl needs the size for APPEND's literal
    path.write_bytes(msg)
    curl(imap_server, imap_user, "Drafts", "-T", str(path))
    c = imap_connect(imap_server, *imap_user)
    assert status_items(c.ok("STATUS Drafts (MESSAGES)")) == ("Drafts", {"MESSAGES": 1})
    c.select("Drafts")
    assert c.ok("FETCH 1 BODY.PEEK[]").fetches()[1]["BODY[]"] == msg
    c.logout()


def test_sasl_ir_plain(imap_server, imap_user, filled):
    out = curl(imap_server, imap_user, "INBOX;UID=1", "--sasl-ir", "--login-options",
               "AUTH=PLAIN")
    assert out == filled[0]
