# tests/integration/test_auth_cache.py: a returning client's login is
# answered from the verified-credential cache (core/auth_cache.c) and skips
# yescrypt; a wrong password, a changed password and a deleted user never
# hit it.  The daemon logs cached=yes|no on each successful login.
import re

from helpers import Conn


def _logins(srv, user):
    return re.findall(rf"auth ok user={re.escape(user)} cached=(yes|no)", srv.stderr())


def _pop3_login(srv, user, password):
    c = srv.pop3()
    c.pop3_ok(f"USER {user}")
    r = c.pop3_cmd(f"PASS {password}")
    c.pop3_cmd("QUIT")
    c.close()
    return r


def test_second_login_is_cached(own_server):
    srv = own_server
    user, pw = srv.new_user("cache")
    assert _pop3_login(srv, user, pw).startswith("+OK")
    assert _pop3_login(srv, user, pw).startswith("+OK")
    srv.wait_log(f"auth ok user={user} cached=yes")
    assert _logins(srv, user) == ["no", "yes"]


def test_wrong_and_changed_password_miss(own_server):
    srv = own_server
    user, pw = srv.new_user("cache")
    assert _pop3_login(srv, user, pw).startswith("+OK")
    assert _pop3_login(srv, user, pw + "x").startswith("-ERR")
    # `user passwd` from another process: the old password no longer works,
    # cached or not, and the new one is checked in full once.
    r = srv.cli("user", "passwd", user, input="new-" + pw + "\n")
    assert r.returncode == 0, r.stderr
    assert _pop3_login(srv, user, pw).startswith("-ERR")
    assert _pop3_login(srv, user, "new-" + pw).startswith("+OK")
    assert _pop3_login(srv, user, "new-" + pw).startswith("+OK")
    srv.wait_log(f"auth ok user={user} cached=yes")
    assert _logins(srv, user) == ["no", "no", "yes"]
    # Deleted: no login at all.
    r = srv.cli("user", "del", user)
    assert r.returncode == 0, r.stderr
    assert _pop3_login(srv, user, "new-" + pw).startswith("-ERR")
