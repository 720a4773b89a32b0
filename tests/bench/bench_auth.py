#!/usr/bin/python3
# tests/bench/bench_auth.py: what a login costs the server (issue 4):
# successful SMTP AUTH PLAIN (a yescrypt verification for a user's first
# login, the verified-credential cache for a returning one) and AUTH
# SCRAM-SHA-256 (the server's side is a few HMACs; the client's PBKDF2 is
# done once here and cached, so the figure is the server's), and the time
# of each of a user's successive failed logins (the growing delay), on one
# connection at a time.  Not part of the test suite; see tests/bench/README.md.
import argparse
import hashlib
import hmac
import os
import pathlib
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(REPO / "tests" / "bench"))
os.environ.setdefault("POSTINO_TEST_TIMEOUT", "120")

import helpers  # noqa: E402
from helpers import Conn, Server  # noqa: E402
from bench_smtp_pop3 import release_binary  # noqa: E402
from sasl_client import Scram, b64, plain, unb64  # noqa: E402


def smtp_conn(srv):
    c = Conn.connect(srv.ports["smtp"])
    c.smtp_reply()
    c.smtp_cmd("EHLO bench.example.org")
    return c


def plain_logins(srv, user, pw, n):
    t0 = time.perf_counter()
    for _ in range(n):
        c = smtp_conn(srv)
        r = c.smtp_cmd("AUTH PLAIN " + plain(user, pw))
        assert r.code == 235, r
        c.close()
    return time.perf_counter() - t0


class CachedScram(Scram):
    """SCRAM client whose PBKDF2 result is computed once for the salt."""
    cache = {}

    def final(self, server_first_b64, proof_ok=True):
        first = unb64(server_first_b64).decode()
        attrs = dict(kv.split("=", 1) for kv in first.split(","))
        key = (attrs["s"], attrs["i"])
        if key not in self.cache:
            self.cache[key] = hashlib.pbkdf2_hmac("sha256", self.password.encode(),
                                                  __import__("base64").b64decode(attrs["s"]),
                                                  int(attrs["i"]))
        salted = self.cache[key]
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        stored = hashlib.sha256(client_key).digest()
        without = f"c={b64(self.gs2)},r={attrs['r']}"
        auth = f"{self.bare},{first},{without}".encode()
        sig = hmac.new(stored, auth, hashlib.sha256).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, sig))
        return b64(f"{without},p={b64(proof)}")


def scram_logins(srv, user, pw, n):
    t0 = time.perf_counter()
    for _ in range(n):
        c = smtp_conn(srv)
        sc = CachedScram(user, pw)
        r = c.smtp_cmd("AUTH SCRAM-SHA-256 " + sc.first())
        r = c.smtp_cmd(sc.final(r.lines[0]))
        assert r.code == 334, r
        assert c.smtp_cmd("").code == 235
        c.close()
    return time.perf_counter() - t0


def failure_times(srv, user, n):
    out = []
    c = smtp_conn(srv)
    for _ in range(n):
        t0 = time.perf_counter()
        r = c.smtp_cmd("AUTH PLAIN " + plain(user, "wrong"))
        out.append(time.perf_counter() - t0)
        assert r.code == 535, r
    c.close()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=100, help="logins per mechanism")
    args = ap.parse_args()
    helpers.BIN = release_binary()
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        srv = Server(pathlib.Path(tmp) / "data", kinds=("smtp",))
        srv.start()
        try:
            # Each user's first login pays yescrypt in full; later ones
            # hit the verified-credential cache (core/auth_cache.c).
            users = [srv.add_user(f"bench{i}@localhost", "bench-password")
                     for i in range(args.n)]
            t0 = time.perf_counter()
            for user, pw in users:
                plain_logins(srv, user, pw, 1)
            dt = time.perf_counter() - t0
            print(f"AUTH PLAIN, first login of each user (yescrypt verify): {args.n} logins "
                  f"in {dt:.2f} s = {args.n / dt:.1f} logins/s, {1000 * dt / args.n:.1f} ms each")
            user, pw = users[0]
            dt = plain_logins(srv, user, pw, args.n)
            print(f"AUTH PLAIN, returning user (auth cache): {args.n} logins in {dt:.2f} s = "
                  f"{args.n / dt:.1f} logins/s, {1000 * dt / args.n:.2f} ms each")
            dt = scram_logins(srv, user, pw, args.n)
            print(f"AUTH SCRAM-SHA-256 (server side): {args.n} logins in {dt:.2f} s = "
                  f"{args.n / dt:.1f} logins/s, {1000 * dt / args.n:.1f} ms each")
            times = failure_times(srv, "victim@localhost", 5)
            print("successive failed logins for one user (default delay 1 s doubling, cap 15 s):",
                  ", ".join(f"{t:.2f} s" for t in times))
        finally:
            srv.stop()


if __name__ == "__main__":
    main()
