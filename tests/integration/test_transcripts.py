# tests/integration/test_transcripts.py: every tests/transcripts/*/*.txt is
# one test case, played by transcript.py against one server of this module
# (all listeners; each script makes its own users).  The self-tests below
# feed the runner deliberately wrong scripts: each must fail, with a
# message naming the line and what was expected.
import pathlib

import pytest

import helpers
from transcript import Runner, TranscriptError

DIR = helpers.REPO / "tests" / "transcripts"
SCRIPTS = sorted(p for p in DIR.glob("*/*.txt"))


@pytest.fixture(scope="module")
def tr_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("transcripts")
    srv = helpers.Server(base / "data", kinds=helpers.IMAP_KINDS + ("submission",))
    srv.start()
    yield srv
    try:
        if srv.proc is not None:
            srv.stop()
    finally:
        if srv.proc is not None:
            srv.kill9()
        srv.drop_regions()
    if srv.problems:
        pytest.fail("\n\n".join(srv.problems), pytrace=False)


@pytest.mark.parametrize("path", SCRIPTS, ids=[f"{p.parent.name}/{p.name}" for p in SCRIPTS])
def test_transcript(tr_server, path):
    failure = None
    try:
        Runner(tr_server, path).run()
    except TranscriptError as e:
        failure = str(e)
    if failure:
        pytest.fail(failure, pytrace=False)
    assert tr_server.alive(), "postino died during the transcript"


def test_scripts_exist():
    # A glob that finds nothing would pass silently: the suite holds at
    # least one script per protocol.
    assert {p.parent.name for p in SCRIPTS} >= {"imap", "smtp", "pop3"}


# -- the runner's own tests: wrong scripts must fail ------------------------

GOOD_IMAP = """\
@proto imap
@user a
@append a
Subject: one

hello
@end
S: * OK {*}
C: t1 LOGIN {a} {a.pass}
W: t1 OK {*}
C: t2 SELECT INBOX
U: * FLAGS ({*})
U: * OK [PERMANENTFLAGS ({*})] {*}
U: * 1 EXISTS
U: * 1 RECENT
W: * OK [UIDVALIDITY {uidv}] {*}
W: t2 OK [READ-WRITE] {*}
C: t3 STATUS INBOX (UIDVALIDITY)
S: * STATUS INBOX (UIDVALIDITY {uidv})
S: t3 OK {*}
C: t4 FETCH 1 BODY.PEEK[TEXT]
S: * 1 FETCH (BODY[TEXT] {7}
S: hello
S: )
S: t4 OK {*}
C: t5 LOGOUT
S: * BYE {*}
S: t5 OK {*}
@closed
"""


def run(srv, text):
    Runner(srv, text=text, timeout=5).run()


def test_runner_accepts_a_right_script(tr_server):
    run(tr_server, GOOD_IMAP)


@pytest.mark.parametrize("wrong, message", [
    # a literal line that differs
    ("S: * 1 FETCH (BODY[TEXT] {7}\nS: hello", "S: hellO"),
    # a capture reused with another value
    ("S: * STATUS INBOX (UIDVALIDITY {uidv})", "S: * STATUS INBOX (UIDVALIDITY 1{uidv})"),
    # an untagged response expected that never comes: the tagged OK is no match
    ("S: t3 OK {*}", "W: * 7 EXISTS"),
    # unordered block with a line that matches nothing
    ("U: * 1 RECENT", "U: * 2 RECENT"),
    # an expectation of a response that never comes: a timeout, named
    ("C: t4 FETCH", "S: * 9 EXISTS\nC: t4 FETCH"),
    # the server closes; the script expected more
    ("@closed", "S: * BYE {*}\nS: one more line"),
    # a line the script does not expect is left over
    ("S: t5 OK {*}\n@closed", "@closed"),
    # a regex line that does not match
    ("S: t4 OK {*}", "S~ t4 NO .*"),
])
def test_runner_rejects_a_wrong_script(tr_server, wrong, message):
    assert wrong in GOOD_IMAP
    script = GOOD_IMAP.replace(wrong, message, 1)
    with pytest.raises(TranscriptError) as e:
        run(tr_server, script)
    text = str(e.value)
    lineno = script[:script.index(message)].count("\n") + 1
    first = message.split("\n")[0]
    # the failure names the script line (or, for leftovers, the end) and the expectation
    assert f"<script>:{lineno}: {first}" in text or "unmatched lines" in text, text
    if "9 EXISTS" in message:
        assert "timeout" in text, text


def test_runner_reports_expected_and_got(tr_server):
    script = GOOD_IMAP.replace("S: hello", "S: goodbye")
    with pytest.raises(TranscriptError) as e:
        run(tr_server, script)
    assert "expected: goodbye" in str(e.value) and "got: hello" in str(e.value), str(e.value)


@pytest.mark.parametrize("bad", [
    "X: what",                    # not a step
    "S| a literal line to expect",
    "@append a\nno end",
])
def test_runner_rejects_malformed_scripts(tr_server, bad):
    with pytest.raises(TranscriptError):
        run(tr_server, "@proto imap\n@user a\n" + bad + "\n")


def test_literal_counts(tr_server):
    # {#+} is the size of the C| lines after it
    run(tr_server, """\
@proto imap
@user a
S: * OK {*}
C: t1 LOGIN {a} {a.pass}
W: t1 OK {*}
C: t2 APPEND INBOX {#+}
C| Subject: x
C|
C| body
C:
S~ t2 OK \\[APPENDUID \\d+ 1\\] .*
C: t3 SELECT INBOX
W: t3 OK {*}
C: t4 FETCH 1 RFC822.SIZE
S: * 1 FETCH (RFC822.SIZE 20)
S: t4 OK {*}
""")


def test_deliver_directive(tr_server):
    # @deliver goes through SMTP: the server adds its trace header first
    run(tr_server, """\
@proto pop3
@user a
@deliver a
Subject: delivered

body
@end
S: +OK {*}
C: USER {a}
S: +OK{*}
C: PASS {a.pass}
S: +OK {*}
C: TOP 1 0
S: +OK{*}
S: Return-Path: <sender@example.org>
S: Received: from {*}
W: Subject: delivered
S:
S: .
""")
