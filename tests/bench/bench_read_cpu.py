#!/usr/bin/python3
# tests/bench/bench_read_cpu.py: the reading figures of issue 11 point 5
# (POP3 RETR with 1 and 64 commands in flight, IMAP FETCH of whole bodies
# and of header fields), postino beside Dovecot, as messages per second
# and as the server's CPU time per message.
#
# The rate of a one-connection reader depends on what else the machine is
# doing; the CPU a server spends per message hardly does, so on a shared
# machine the second figure is the one to compare.  Server CPU is read
# from /proc: every process of the server's tree (user + system time),
# plus the time of the children its master has already reaped (Dovecot's
# imap and pop3 processes end with their session).
#
#   tests/bench/bench_read_cpu.py [-n 5000] [--rounds 3] [--no-dovecot]
#
# Uses bench_all.py's servers (Dovecot configured by it, same yescrypt
# users, LMTP delivery) and load client.  Not part of tests/run.
import argparse
import os
import pathlib
import shutil
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bench_all as B  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu(root):
    """Seconds of CPU of root's process tree, reaped children included."""
    total = 0.0
    for pid in [root] + B.descendants(root):
        try:
            f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(f[11]) + int(f[12])          # utime, stime
        if pid == root:
            total += int(f[13]) + int(f[14])      # cutime, cstime
    return total / TICK


def pid_of(t):
    return t.srv.proc.pid if t.name == "postino" else t.proc.pid


def run(t, a, rows):
    def put(key, rate, us):
        rows.setdefault(key, {})[t.name] = (rate, us)
        print(f"  {t.name:8} {key}: {rate:.0f} msg/s, {us:.1f} us CPU/msg", flush=True)

    t.start()
    try:
        time.sleep(1)
        t.add_users(["reader@localhost"])
        B.deliver(t, a.messages, 4096, 8, "reader@localhost")
        time.sleep(2)   # let the delivery's background work settle
        user = ["-u", "reader@localhost", "-w", B.PASSWORD]
        work = [
            ("POP3 RETR, 1 in flight, first read", "pop3", t.ports["pop3"],
             ["-n", a.messages, "-k", 1], a.messages),
            ("POP3 RETR, 1 in flight", "pop3", t.ports["pop3"], ["-n", a.messages, "-k", 1],
             a.messages),
            ("POP3 RETR, 64 in flight", "pop3", t.ports["pop3"], ["-n", a.messages, "-k", 64],
             a.messages),
            ("IMAP FETCH BODY.PEEK[]", "imap-body", t.ports["imap"], ["-n", a.rounds],
             a.messages * a.rounds),
            ("IMAP FETCH HEADER.FIELDS", "imap-header", t.ports["imap"], ["-n", a.rounds],
             a.messages * a.rounds),
        ]
        for key, mode, port, args, msgs in work:
            best = None
            for _ in range(a.repeat):
                c0 = tree_cpu(pid_of(t))
                r = B.load(mode, port, *args, *user)
                time.sleep(0.3)   # reaping of the session's process
                us = (tree_cpu(pid_of(t)) - c0) * 1e6 / msgs
                if best is None or us < best[1]:
                    best = (r["msgs_per_s"], us)
                if key.endswith("first read"):
                    break     # only the first pass finds the messages unread
            put(key, *best)
    finally:
        t.stop()


def main():
    ap = argparse.ArgumentParser(description="reading rate and CPU per message, postino vs Dovecot")
    ap.add_argument("-n", "--messages", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=3, help="UID FETCH 1:* per IMAP run")
    ap.add_argument("--repeat", type=int, default=3, help="runs per workload (the least CPU kept)")
    ap.add_argument("--no-dovecot", action="store_true")
    a = ap.parse_args()
    B.helpers.BIN = B.release_binary()
    B.CLIENT = B.build_client()
    targets = [B.Postino]
    if not a.no_dovecot and B.Dovecot.available():
        targets.append(B.Dovecot)
    rows = {}
    for cls in targets:
        tmp = pathlib.Path(tempfile.mkdtemp(prefix=f"bench-read-{cls.name}-"))
        os.chmod(tmp, 0o755)
        try:
            run(cls(tmp), a, rows)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    names = [c.name for c in targets]
    w = max(len(k) for k in rows)
    print()
    head = f"{'':{w}} | " + " | ".join(f"{n + ' msg/s':>14} | {n + ' us/msg':>15}" for n in names)
    if len(names) == 2:
        head += " | rate ratio | CPU ratio"
    print(head)
    for k, v in rows.items():
        line = f"{k:{w}} | " + " | ".join(
            f"{v[n][0]:>14.0f} | {v[n][1]:>15.1f}" if n in v else f"{'-':>14} | {'-':>15}"
            for n in names)
        if len(names) == 2 and all(n in v for n in names):
            line += f" | {v['postino'][0] / v['dovecot'][0]:>10.2f} | " \
                    f"{v['dovecot'][1] / v['postino'][1]:>9.2f}"
        print(line)


if __name__ == "__main__":
    main()
