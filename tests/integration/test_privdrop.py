# tests/integration/test_privdrop.py: privileges (issue 4, point 7).
# Started as root, `postino serve` binds its ports (a privileged one too),
# then runs as the configured user before it opens the store, and never as
# root; the admin commands switch to the same user.  Skipped when the suite
# does not run as root.
import os
import pwd
import socket
import subprocess

import pytest

import helpers
from helpers import BIN, TIMEOUT, Conn, make_message, split_trace

STOP = helpers.STOP_TIMEOUT

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def ids(pid):
    """(real, effective, saved, fs) uids and gids of a process."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Uid", "Gid"):
                out[k] = [int(x) for x in v.split()]
    return out["Uid"], out["Gid"]


def nobody():
    pw = pwd.getpwnam("nobody")
    return pw.pw_uid, pw.pw_gid


def free_privileged_port():
    for port in list(range(587, 600)) + list(range(900, 1000)):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    pytest.skip("no free port below 1024")


def test_daemon_runs_as_nobody(server):
    uid, gid = nobody()
    u, g = ids(server.proc.pid)
    assert u == [uid] * 4 and g == [gid] * 4, (u, g)
    # everything in the data directory belongs to the service user
    for root, dirs, files in os.walk(server.data_dir):
        for name in dirs + files:
            st = os.lstat(os.path.join(root, name))
            assert st.st_uid == uid, f"{name} owned by uid {st.st_uid}"


def test_privileged_port_then_drop(make_server):
    port = free_privileged_port()
    # pop3 on a free port from kinds, smtp on the privileged one
    srv = make_server(kinds=("pop3",), extra=["--listen", f"smtp=127.0.0.1:{port}"])
    srv.start()
    assert ids(srv.proc.pid)[0] == [nobody()[0]] * 4
    user = srv.add_user(helpers.unique("priv"), "pw-priv")
    msg = make_message("to a dropped daemon")
    c = Conn.connect(port)
    assert c.smtp_reply().code == 220
    c.smtp_cmd("EHLO client.example.org")
    c.smtp_deliver("x@example.org", [user[0]], msg)
    c.smtp_quit()
    (got,) = srv.retr_all(*user)
    assert split_trace(got, "x@example.org") == msg


def test_root_is_refused(tmp_path):
    r = subprocess.run([BIN, "serve", "--data", str(tmp_path / "d"), "--user", "root",
                        "--listen", "smtp=127.0.0.1:0"],
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 2
    assert "refusing to run as root" in r.stderr
    assert not (tmp_path / "d").exists() or not any((tmp_path / "d").iterdir())


def test_unknown_user_is_refused(tmp_path):
    r = subprocess.run([BIN, "user", "list", "--data", str(tmp_path / "d"),
                        "--user", "no-such-user-here"],
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 2 and "does not exist" in r.stderr, r.stderr


def test_no_user_configured_falls_back_to_nobody(tmp_path):
    data = tmp_path / "d"
    p = subprocess.Popen([BIN, "serve", "--data", str(data), "--listen", "smtp=127.0.0.1:0"],
                         stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in p.stderr:
            lines.append(line)
            if " ready" in line:
                break
        text = "".join(lines)
        assert "running as nobody" in text, text
        assert ids(p.pid)[0] == [nobody()[0]] * 4
    finally:
        p.terminate()
        p.wait(timeout=STOP)
    assert p.returncode == 0


def test_admin_commands_leave_no_root_files(own_server):
    own_server.add_user(helpers.unique("adm"), "pw")
    assert own_server.cli("stats").returncode == 0
    for root, dirs, files in os.walk(own_server.data_dir):
        for name in dirs + files:
            assert os.lstat(os.path.join(root, name)).st_uid != 0, name
