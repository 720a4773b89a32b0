# tests/integration/test_soak_short.py: the short crash soak of the default
# suite (tests/soak/soak_crash.py, see tests/soak/README.md): a few cycles of
# kill -9 at a random moment under SMTP, IMAP APPEND/EXPUNGE and POP3
# DELE/QUIT load, each restart verified.  Every start must reach `ready`,
# nothing acknowledged may be lost, no acknowledged deletion may come back.
# POSTINO_SOAK_CYCLES sets the number of cycles (default 10; fewer for a
# slow sanitizer build if need be); the seed is printed so a failure can be
# replayed with the long runner.
import os
import sys

import helpers

sys.path.insert(0, str(helpers.REPO / "tests" / "soak"))
import soak_crash  # noqa: E402

CYCLES = int(os.environ.get("POSTINO_SOAK_CYCLES", "10"))


def test_crash_soak_short(tmp_path):
    args = soak_crash.parse_args([
        "--cycles", str(CYCLES), "--bin", helpers.BIN, "--work", str(tmp_path),
        "--kill-after-ms", "50", "800", "--quiet",
        # A start is a HANG after this; sanitizer builds start slower.
        "--start-timeout", str(helpers.START_TIMEOUT),
    ])
    ok, report = soak_crash.Soak(args).run()
    print(report)
    assert ok, report
