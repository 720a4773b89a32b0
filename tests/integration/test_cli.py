# tests/integration/test_cli.py: the `postino` command line: help, exit
# status 2 with one line naming the problem for bad flags and configuration
# files, the admin commands (user, mailbox, stats) with and without a running
# daemon, and clean shutdown on SIGTERM/SIGINT.
import re
import signal
import subprocess
import time

import pytest

import helpers
from helpers import BIN, Server, make_message, run_cli, split_trace, unique


def run(*args, input=None):
    return run_cli([BIN, *args], input=input)


def one_line_error(r):
    assert r.returncode == 2, f"exit status {r.returncode}, stderr {r.stderr!r}"
    lines = r.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {lines}"
    return lines[0]


# -- help and bad flags -------------------------------------------------------

@pytest.mark.parametrize("args", [["--help"], ["-h"], ["serve", "--help"], ["user", "--help"],
                                  ["mailbox", "--help"], ["stats", "--help"]])
def test_help(args):
    r = run(*args)
    assert r.returncode == 0, r.stderr
    assert r.stdout.lower().startswith("usage: postino"), r.stdout
    assert r.stderr == ""


def test_serve_help_lists_options():
    out = run("serve", "--help").stdout
    for opt in ("--config", "--data", "--listen", "--sandbox", "--log-level"):
        assert opt in out, opt


def test_version():
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("postino "), r


@pytest.mark.parametrize("args", [
    ["serve", "--bogus"],
    ["serve", "--listen"],
    ["serve", "--listen", "bogus=127.0.0.1:0"],
    ["serve", "--listen", "smtp=127.0.0.1"],
    ["serve", "--listen", "smtp=127.0.0.1:99999"],
    ["serve", "--log-level", "loud"],
    ["serve", "extra-argument"],
    ["user", "list", "--bogus"],
    ["user", "list", "--sandbox"],
    ["frobnicate"],
    ["user", "frobnicate", "x@localhost"],
    ["user", "add"],
    ["mailbox", "list"],
    ["stats", "extra"],
])
def test_bad_usage_exit_2_one_line(args, tmp_path):
    r = run(*args, "--data", str(tmp_path / "d"))
    line = one_line_error(r)
    assert line.startswith("postino"), line


def test_no_arguments_exit_2():
    assert run().returncode == 2


BROKEN_CONFIGS = [
    # (text, line number of the problem, a word the message should contain)
    ('data_dir = "x";\nhostname = "h";\nlisteners = ( { kind = "smtp"; port = 25 }\n', None, None),
    ('data_dir = "x";\n\nbogus_setting = 1;\n', 3, "bogus_setting"),
    ('limits = {\n  max_line = 4096;\n  max_connections = -5;\n};\n', 3, "max_connections"),
    ('listeners = (\n  { kind = "smtp"; port = 2525; },\n  { kind = "gopher"; port = 70; }\n);\n',
     3, "gopher"),
    ('listeners = (\n  { kind = "smtp"; address = "127.0.0.1"; port = 70000; }\n);\n', 2, "port"),
    ('log = {\n  level = "loud";\n};\n', 2, "level"),
    ('sandbox = "yes";\n', 1, "sandbox"),
    ('tls = {\n  certificate = "/x.pem";\n};\n', None, "key"),
]


@pytest.mark.parametrize("text,lineno,word", BROKEN_CONFIGS)
@pytest.mark.parametrize("cmd", [["serve"], ["user", "list"]])
def test_broken_config(tmp_path, text, lineno, word, cmd):
    conf = tmp_path / "broken.conf"
    conf.write_text(text)
    r = run(*cmd, "--config", str(conf), "--data", str(tmp_path / "d"))
    line = one_line_error(r)
    assert str(conf) in line, f"error does not name the file: {line}"
    if lineno is None:
        lineno = text.count("\n")  # a syntax error: somewhere in the file
        m = re.search(re.escape(str(conf)) + r":(\d+)", line)
        assert m and 1 <= int(m.group(1)) <= lineno + 1, f"no line number: {line}"
    else:
        assert f"{conf}:{lineno}" in line, f"error does not name line {lineno}: {line}"
    if word:
        assert word in line, f"error does not mention {word}: {line}"
    assert not (tmp_path / "d").exists(), "a bad config still created the data dir"


def test_missing_config_file(tmp_path):
    line = one_line_error(run("serve", "--config", str(tmp_path / "nope.conf")))
    assert "nope.conf" in line


def test_valid_config_file_is_used(make_server, tmp_path):
    conf = tmp_path / "ok.conf"
    conf.write_text('hostname = "mx.test.example";\nsmtp = { max_message_size = 2048; '
                    'max_recipients = 2; local_domains = [ "localhost", "test.example" ]; };\n')
    srv = make_server(config=conf).start()
    c = srv.smtp(ehlo=False)
    r = c.smtp_cmd("EHLO c.example.org")
    assert r.lines[0].startswith("mx.test.example"), r
    assert any(l.upper() == "SIZE 2048" for l in r.lines), r
    r = c.smtp_cmd("MAIL FROM:<a@example.org> SIZE=4096")
    assert (r.code, r.enhanced) == (552, "5.3.4"), r
    c.smtp_quit()
    addrs = [srv.add_user(unique("cfg", "test.example"))[0] for _ in range(3)]
    c = srv.smtp()
    c.smtp_cmd("MAIL FROM:<a@example.org>")
    for addr in addrs[:2]:
        assert c.smtp_cmd(f"RCPT TO:<{addr}>").code == 250
    r = c.smtp_cmd(f"RCPT TO:<{addrs[2]}>")
    assert (r.code, r.enhanced) == (452, "4.5.3"), r
    c.smtp_quit()


# -- users ---------------------------------------------------------------------

def test_user_add_list_passwd_del(own_server):
    srv = own_server
    a = unique("cli")
    b = unique("cli")
    r = srv.cli("user", "add", a, input="first-pw\n")
    assert r.returncode == 0, r.stderr
    srv.add_user(b, "other")
    r = srv.cli("user", "list")
    assert r.returncode == 0, r.stderr
    assert set(r.stdout.split()) >= {a, b}, r.stdout
    # Adding twice fails and keeps the old password.
    r = srv.cli("user", "add", a, input="second-pw\n")
    assert r.returncode != 0 and r.stderr.strip(), r
    srv.pop3(a, "first-pw").pop3_quit()
    # passwd: the old one stops working, the new one works.
    r = srv.cli("user", "passwd", a, input="changed-pw\n")
    assert r.returncode == 0, r.stderr
    p = srv.pop3()
    p.pop3_cmd(f"USER {a}")
    assert p.pop3_cmd("PASS first-pw").startswith("-ERR [AUTH]")
    p.pop3_quit()
    srv.pop3(a, "changed-pw").pop3_quit()
    # del: gone from the list, cannot log in, and mail to it bounces.
    r = srv.cli("user", "del", a)
    assert r.returncode == 0, r.stderr
    assert a not in srv.cli("user", "list").stdout.split()
    p = srv.pop3()
    p.pop3_cmd(f"USER {a}")
    assert p.pop3_cmd("PASS changed-pw").startswith("-ERR")
    p.pop3_quit()
    c = srv.smtp()
    c.smtp_cmd("MAIL FROM:<x@example.org>")
    r = c.smtp_cmd(f"RCPT TO:<{a}>")
    assert (r.code, r.enhanced) == (550, "5.1.1"), r
    c.smtp_quit()
    r = srv.cli("user", "del", a)
    assert r.returncode != 0, "deleting a missing user succeeded"
    r = srv.cli("user", "passwd", a, input="x\n")
    assert r.returncode != 0, "passwd of a missing user succeeded"


def test_user_add_password_edge_cases(own_server):
    srv = own_server
    r = srv.cli("user", "add", unique("nopw"), input="")
    assert r.returncode != 0, "user add with an empty stdin succeeded"
    r = srv.cli("user", "add", unique("nopw"), input="\n")
    assert r.returncode != 0, "user add with an empty password succeeded"
    r = srv.cli("user", "add", "not-an-address", input="pw\n")
    assert r.returncode != 0, "user add of a non-address succeeded"
    # A password with spaces and punctuation, exactly as given (minus the newline).
    addr = unique("space")
    srv.add_user(addr, "pass word with spaces & $ymbols")
    srv.pop3(addr, "pass word with spaces & $ymbols").pop3_quit()


def test_user_added_while_running_receives_mail(own_server):
    srv = own_server
    addr = unique("late")
    c = srv.smtp()
    c.smtp_cmd("MAIL FROM:<x@example.org>")
    r = c.smtp_cmd(f"RCPT TO:<{addr}>")
    assert (r.code, r.enhanced) == (550, "5.1.1"), r
    c.smtp_quit()
    srv.add_user(addr, "latepw")
    msg = make_message("for the late user")
    srv.deliver("x@example.org", [addr], msg)
    (got,) = srv.retr_all(addr, "latepw")
    assert split_trace(got, "x@example.org") == msg
    # mailbox list shows the delivery.
    r = srv.cli("mailbox", "list", addr)
    assert r.returncode == 0, r.stderr
    inbox = [l for l in r.stdout.splitlines() if l.split()[0].upper() == "INBOX"]
    assert inbox and "messages=1" in inbox[0].split(), r.stdout
    r = srv.cli("mailbox", "list", unique("ghost"))
    assert r.returncode != 0


def test_admin_changes_beside_the_daemon_survive_its_kill(make_server):
    # An admin command beside a running daemon closes without writing the
    # shared cache's pages (DB_NOSYNC: its transactions are in the flushed
    # log).  A kill -9 of the daemon right after loses none of them.
    srv = make_server().start()
    users = [srv.new_user("beside") for _ in range(5)]
    r = srv.cli("user", "del", users[0][0])
    assert r.returncode == 0, r.stderr
    srv.restart(crash=True)
    for addr, pw in users[1:]:
        srv.pop3(addr, pw).pop3_quit()
    r = srv.cli("user", "list")
    assert r.returncode == 0 and users[0][0] not in r.stdout, r.stdout


def test_user_added_offline_then_serve(make_server):
    srv = make_server()
    srv.data_dir.mkdir(parents=True)
    addr, pw = srv.add_user(unique("offline"), "offpw")
    srv.start()
    srv.pop3(addr, pw).pop3_quit()


def test_stats_counts_log_flushes(own_server):
    srv = own_server
    addr, pw = srv.new_user("stats")
    before = srv.stats()
    for key in ("log_flushes", "users", "messages", "lock_waits", "deadlocks", "lock_timeouts"):
        assert isinstance(before.get(key), int), f"stats lacks {key}: {before}"
    srv.deliver("s@example.org", [addr], make_message())
    after = srv.stats()
    assert after["log_flushes"] > before["log_flushes"], (before, after)
    assert after["messages"] == before["messages"] + 1, (before, after)


def test_bench_no_flush_is_loud_and_only_for_serve(make_server):
    """--bench-no-flush (tests/bench/README.md): deliveries are acknowledged
    without a log flush, the daemon says so at start and in its log, and
    the flag is in no help text and no other command takes it."""
    srv = make_server(extra=["--bench-no-flush"]).start()
    addr, pw = srv.new_user("noflush")
    base = srv.stats()      # `postino stats` flushes once itself, when it closes
    before = srv.stats()
    for _ in range(3):
        srv.deliver("s@example.org", [addr], make_message())
    after = srv.stats()
    own = before["log_flushes"] - base["log_flushes"]
    assert after["log_flushes"] - before["log_flushes"] == own, (base, before, after)
    assert after["messages"] == before["messages"] + 3, (before, after)
    assert "WARNING: --bench-no-flush" in srv.stderr()
    srv.wait_log("acknowledged mail is NOT durable")
    for args in (["--help"], ["serve", "--help"]):
        assert "bench" not in run(*args).stdout
    r = run("user", "list", "-d", str(srv.data_dir), "--bench-no-flush")
    assert r.returncode == 2 and "only for `postino serve`" in r.stderr, r.stderr


# -- signals -------------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_exits_zero(make_server, sig):
    srv = make_server().start()
    addr, pw = srv.new_user()
    srv.deliver("a@example.org", [addr], make_message())
    rc = srv.stop(sig=sig, timeout=20)
    assert rc == 0, srv.stderr()
    srv.assert_clean()


def test_sigterm_with_idle_sessions_open(make_server):
    srv = make_server().start()
    smtp = srv.smtp()
    pop = srv.pop3()
    t = time.monotonic()
    rc = srv.stop(timeout=20)
    assert rc == 0, srv.stderr()
    assert time.monotonic() - t < 10, "idle sessions held the shutdown up"
    # Idle sessions were told goodbye (421 / -ERR) or closed.
    for c in (smtp, pop):
        try:
            data = c.silence(1)
            assert data == b"" or data.startswith(b"421") or data.startswith(b"-ERR"), data
        except (ConnectionError, OSError):
            pass
        c.close()
    srv.assert_clean()


def test_port_in_use_fails(own_server, make_server):
    # A second daemon on a port already bound fails with a clear error.
    srv2 = make_server(kinds=())
    srv2.extra = ["--listen", f"smtp=127.0.0.1:{own_server.ports['smtp']}"]
    p = subprocess.run(srv2.command(), capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert "bind" in p.stderr, p.stderr


def test_sigterm_lets_a_delivery_in_flight_finish(make_server):
    # SIGTERM arrives in the middle of DATA: the client may finish sending,
    # gets its 250 (the message is durable), then 421, and the daemon exits 0
    # with the message in the store after a restart.
    srv = make_server().start()
    addr, pw = srv.new_user("inflight")
    c = srv.smtp()
    assert c.smtp_cmd("MAIL FROM:<a@example.org>").code == 250
    assert c.smtp_cmd(f"RCPT TO:<{addr}>").code == 250
    assert c.smtp_cmd("DATA").code == 354
    c.send(b"Subject: in flight\r\n\r\nfirst half\r\n")
    srv.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert srv.proc.poll() is None, "the daemon did not wait for the delivery"
    c.send(b"second half\r\n.\r\n")
    r = c.smtp_reply()
    assert r.code == 250, r
    bye = c.smtp_reply()
    assert bye.code == 421, bye
    assert srv.proc.wait(20) == 0
    srv._finish(0, "SIGTERM")   # checks stderr for sanitizer reports
    assert not srv.problems, srv.problems
    srv.start()
    msgs = srv.retr_all(addr, pw)
    assert len(msgs) == 1 and b"second half" in msgs[0], msgs
