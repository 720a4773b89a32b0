#!/usr/bin/python3
# tests/bench/bench_all.py: every figure of issue 11 in one command, one
# table.  It builds the release binary and the C load client
# (tests/bench/loadclient.c), runs each workload against postino and, when
# Dovecot 2.3 is installed, against a Dovecot instance it configures itself
# (own temp dirs, loopback, free ports, `dovecot -c` on its own file: the
# system configuration is never read or changed), and prints both columns
# and their ratio.  The rates (delivery, reading) run --rate-rounds times
# with the servers taking turns, and the table gives each one's median;
# the rest (memory, logins, SELECT) runs once per server.  Not part of the
# test suite; see tests/bench/README.md.
import argparse
import os
import pathlib
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

with warnings.catch_warnings():
    # Deprecated since 3.11 but present in Debian 12's 3.11: the simplest
    # way to make the same yescrypt hashes (libxcrypt) for Dovecot.
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import crypt
    except ImportError:     # Python 3.13 and later: no Dovecot column
        crypt = None

REPO = pathlib.Path(__file__).resolve().parents[2]
BENCH = REPO / "tests" / "bench"
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(BENCH))
os.environ.setdefault("POSTINO_TEST_TIMEOUT", "600")

import helpers  # noqa: E402
from helpers import Server  # noqa: E402
from bench_smtp_pop3 import release_binary  # noqa: E402

PASSWORD = "bench-password"
B64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def build_client():
    """Compile loadclient.c next to the release build (libc only)."""
    out = REPO / "build-release" / "loadclient"
    src = BENCH / "loadclient.c"
    out.parent.mkdir(exist_ok=True)
    if not out.exists() or out.stat().st_mtime < src.stat().st_mtime:
        subprocess.run([os.environ.get("CC", "cc"), "-O2", "-Wall", "-Wextra", "-Werror",
                        "-o", str(out), str(src)], check=True)
    return str(out)


CLIENT = None


def load(mode, port, *args, check=True):
    """Run the load client; returns its key=value result line as a dict."""
    r = subprocess.run([CLIENT, mode, "-p", str(port), *map(str, args)],
                       capture_output=True, text=True)
    res = parse_kv(r.stdout.strip().splitlines()[-1] if r.stdout.strip() else "")
    if check and (r.returncode != 0 or not res):
        raise RuntimeError(f"loadclient {mode} {args}: rc={r.returncode}\n{r.stderr[-2000:]}")
    if res.get("seconds") and res.get("client_cpu_s", 0) > 0.5 * res["seconds"]:
        print(f"  note: the client used {res['client_cpu_s']:.2f} s CPU of {res['seconds']:.2f} s "
              f"({mode}): it may have set the pace", flush=True)
    return res


def parse_kv(line):
    out = {}
    for kv in line.split():
        k, _, v = kv.partition("=")
        try:
            out[k] = float(v)
        except ValueError:
            out[k] = v
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pss_kib(pids):
    """Sum of Pss (KiB) of the processes: shared pages counted once overall."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


def descendants(root):
    """root and every process below it (Dovecot's children)."""
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def du(path):
    """Bytes used on disk (allocated blocks) under path."""
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_blocks * 512
            except OSError:
                pass
    return total


# -- the two servers -----------------------------------------------------------

class Postino:
    name = "postino"
    deliver_mode = "smtp"

    def __init__(self, tmp):
        self.tmp = tmp
        conf = tmp / "bench.conf"
        # Enough connections for the idle-session figures; everything else
        # is the embedded default.
        conf.write_text("limits = { max_connections = 25000; max_connections_per_ip = 25000; };\n")
        self.srv = Server(tmp / "data", kinds=("smtp", "pop3", "imap"), config=conf)

    def start(self):
        self.srv.start()
        self.ports = {"deliver": self.srv.ports["smtp"], "pop3": self.srv.ports["pop3"],
                      "imap": self.srv.ports["imap"]}

    def stop(self):
        self.srv.stop()
        if self.srv.problems:
            print("\n".join(self.srv.problems), file=sys.stderr)

    def add_users(self, names):
        for n in names:
            self.srv.add_user(n, PASSWORD)

    def pss(self):
        return pss_kib([self.srv.proc.pid])

    def flushes(self):
        return self.srv.stats()["log_flushes"]

    def disk(self):
        return du(self.tmp / "data")


class Dovecot:
    name = "dovecot"
    deliver_mode = "lmtp"

    def __init__(self, tmp):
        self.tmp = tmp
        self.users = []
        self.proc = None

    @staticmethod
    def available():
        return shutil.which("dovecot") is not None and crypt is not None

    def write_conf(self):
        t = self.tmp
        for d in ("run", "state", "mail"):
            (t / d).mkdir(exist_ok=True)
        os.chown(t / "mail", 65534, 65534)
        os.chmod(t, 0o755)
        self.ports = {"deliver": free_port(), "pop3": free_port(), "imap": free_port()}
        self.conf = t / "dovecot.conf"
        # Dovecot's defaults (one imap process per session, one login
        # process per connection, mail_fsync=optimized), with limits raised
        # for the idle figures and the auth cache on, so that "cached" means
        # the same for both servers.
        self.conf.write_text(f"""
instance_name = postino-bench-{os.getpid()}
base_dir = {t}/run
state_dir = {t}/state
protocols = imap pop3 lmtp
listen = 127.0.0.1
log_path = {t}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_cache_size = 10M
auth_cache_ttl = 1 hour
mail_location = maildir:~/Maildir
first_valid_uid = 100
default_client_limit = 15000
mail_max_userip_connections = 20000
default_vsz_limit = 1G
passdb {{
  driver = passwd-file
  args = scheme=CRYPT {t}/passwd
}}
userdb {{
  driver = static
  args = uid=65534 gid=65534 home={t}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.ports['imap']}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {self.ports['pop3']}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {self.ports['deliver']}
  }}
}}
service imap {{
  process_limit = 12000
}}
""")
        if not (t / "passwd").exists():
            (t / "passwd").write_text("")

    def start(self):
        self.write_conf()
        self.proc = subprocess.Popen(["dovecot", "-F", "-c", str(self.conf)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                for p in self.ports.values():
                    socket.create_connection(("127.0.0.1", p), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"dovecot exited: {self.proc.stderr.read().decode()}")
                time.sleep(0.1)
        raise RuntimeError("dovecot did not start listening")

    def stop(self):
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def add_users(self, names):
        # The same yescrypt (glibc libxcrypt, cost j9T) as postino's hashes.
        with open(self.tmp / "passwd", "a") as f:
            for n in names:
                # 16 characters = 12 whole bytes: a salt yescrypt accepts.
                salt = "$y$j9T$" + "".join(secrets.choice(B64) for _ in range(16))
                h = crypt.crypt(PASSWORD, salt)
                if not h or not h.startswith("$y$"):
                    raise RuntimeError(f"crypt() refused the salt {salt}")
                f.write(f"{n}:{{CRYPT}}{h}::::::\n")

    def pss(self):
        return pss_kib(descendants(self.proc.pid))

    def flushes(self):
        return None

    def disk(self):
        return du(self.tmp / "mail")


# -- the workloads ---------------------------------------------------------------

def deliver(t, n, size, sessions, rcpt):
    # No time limit that a slow fill could hit (Dovecot's LMTP into one
    # Maildir slows to ~170 msg/s past 50,000 messages).
    return load(t.deliver_mode, t.ports["deliver"], "-c", sessions, "-n", n, "-s", size, "-P",
                "-r", rcpt, "-t", 86400)


def idle_memory(t, user, n, open_at_once):
    """Pss growth of the server (KiB per session) with n idle IMAP sessions.
    The server is restarted first: memory an earlier run freed stays in the
    process (malloc keeps it) and would be reused, hiding the growth."""
    t.stop()
    t.start()
    time.sleep(1)
    before = t.pss()
    p = subprocess.Popen([CLIENT, "idle", "-p", str(t.ports["imap"]), "-c", str(n),
                          "-k", str(open_at_once), "-u", user, "-w", PASSWORD],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    info = parse_kv(line)
    time.sleep(1)   # let replies and the last allocations settle
    after = t.pss()
    p.stdin.close()
    p.wait(120)
    if info.get("failed", 1) != 0:
        raise RuntimeError(f"idle {n}: {line.strip()}")
    return (after - before) / n


def rate_round(t, a, put):
    """The rates (delivery, messages per flush, disk per message, reading)
    against a fresh server: one round of the interleaved phase."""
    sessions = [int(x) for x in a.sessions.split(",")]
    sizes = [int(x) for x in a.sizes.split(",")]
    boxes = [f"box{i}@localhost" for i in range(max(sessions))]
    t.start()
    try:
        time.sleep(1)
        t.add_users(boxes + ["reader@localhost"])
        for size in sizes:
            n = a.messages if size <= 16384 else max(max(sessions), a.messages // 10)
            for c in sessions:
                f0 = t.flushes()
                r = deliver(t, n, size, c, "box%d@localhost")
                put(f"deliver {size // 1024} KiB, {c} sessions (msg/s)", r["msgs_per_s"])
                if f0 is not None and size == sizes[0]:
                    put(f"  messages per flush, {c} sessions", n / max(1, t.flushes() - f0))

        d0 = t.disk()
        deliver(t, a.read_n, 4096, 8, "reader@localhost")
        put("disk per 4 KiB message (bytes)", (t.disk() - d0) / a.read_n)
        user = ["-u", "reader@localhost", "-w", PASSWORD]
        for k in (1, 64):
            r = load("pop3", t.ports["pop3"], "-n", a.read_n * a.read_passes, "-k", k, *user)
            put(f"POP3 RETR, {k} in flight (msg/s)", r["msgs_per_s"])
        r = load("imap-body", t.ports["imap"], "-n", a.rounds, *user)
        put("IMAP FETCH BODY.PEEK[] (msg/s)", r["msgs_per_s"])
        put("IMAP FETCH BODY.PEEK[] (MB/s)", r["mb_per_s"])
        r = load("imap-header", t.ports["imap"], "-n", a.rounds, *user)
        put("IMAP FETCH HEADER.FIELDS (msg/s)", r["msgs_per_s"])
    finally:
        t.stop()


def run_target(t, a, put):
    """Everything but the rates against one server."""
    selects = [int(x) for x in a.select.split(",")]
    idles = [int(x) for x in a.idle.split(",")]
    logins = [f"u{i}@localhost" for i in range(a.logins)]
    others = ["big@localhost", "empty@localhost"] + [f"sel{n}@localhost" for n in selects]
    t.start()
    try:
        time.sleep(1)
        put("RSS at rest (Pss, MiB)", t.pss() / 1024)
        t.add_users(others + logins)

        r = load("login", t.ports["imap"], "-c", a.login_c, "-n", a.logins,
                 "-u", "u%d@localhost", "-w", PASSWORD)
        put("IMAP logins/s, cold (each user once)", r["ops_per_s"])
        r = load("login", t.ports["imap"], "-c", a.login_c, "-n", a.logins * 4,
                 "-u", "u0@localhost", "-w", PASSWORD)
        put("IMAP logins/s, cached (one user)", r["ops_per_s"])

        deliver(t, a.big, 2048, 8, "big@localhost")
        for user in ("big@localhost", "empty@localhost"):
            label = f"{a.big}-message" if user.startswith("big") else "empty"
            est = None
            for n in idles:
                if t.name == "dovecot" and est is not None and est * n > a.mem_budget * 1024:
                    print(f"  {t.name:8} {n} idle sessions would take ~{est * n / 1048576:.1f}"
                          f" GiB (> --mem-budget): skipped")
                    put(f"idle KiB/session, {n} on {label} INBOX", "skipped")
                    continue
                est = idle_memory(t, user, n, a.open_at_once)
                put(f"idle KiB/session, {n} on {label} INBOX", est)

        for n in selects:
            deliver(t, n, 300, 8, f"sel{n}@localhost")
            r = load("select", t.ports["imap"], "-n", a.repeat, "-u", f"sel{n}@localhost",
                     "-w", PASSWORD)
            put(f"SELECT {n} messages, first (ms)", r["first_ms"])
            put(f"SELECT {n} messages, median (ms)", r["median_ms"])
    finally:
        t.stop()


def in_tmp(cls, fn):
    """fn(server) on a fresh instance of cls in its own temp dir."""
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f"bench-all-{cls.name}-"))
    os.chmod(tmp, 0o755)
    try:
        fn(cls(tmp))
    except Exception as e:  # noqa: BLE001 - the rows so far still print
        print(f"{cls.name}: stopped: {e}", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def mid(values):
    """The median of a row's numbers (a string, e.g. "skipped", as is)."""
    nums = [x for x in values if isinstance(x, (int, float))]
    return statistics.median(nums) if nums else values[-1]


def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    return f"{v:.1f}" if v < 100 else f"{v:.0f}"


def main():
    ap = argparse.ArgumentParser(description="all issue-11 figures, postino vs Dovecot")
    ap.add_argument("-n", "--messages", type=int, default=2000,
                    help="messages per 4 KiB delivery run (100 KiB runs: a tenth, "
                         "at least one per session)")
    ap.add_argument("--sizes", default="4096,102400")
    ap.add_argument("--sessions", default="1,8,32")
    ap.add_argument("--read-n", type=int, default=5000, help="messages in the reading mailbox")
    ap.add_argument("--rounds", type=int, default=12,
                    help="UID FETCH 1:* rounds (after the first, Dovecot serves header "
                         "fields from its cache: the steady state is what counts)")
    ap.add_argument("--read-passes", type=int, default=4,
                    help="POP3 RETRs per session: this many passes over the mailbox, so "
                         "that a run lasts long enough to measure")
    ap.add_argument("--logins", type=int, default=100)
    ap.add_argument("--login-c", type=int, default=4, help="concurrent logins")
    ap.add_argument("--big", type=int, default=20000, help="INBOX size for idle sessions")
    ap.add_argument("--idle", default="1000,10000", help="idle sessions (keep below 19000)")
    ap.add_argument("--open-at-once", type=int, default=50, help="idle sessions opening at once")
    ap.add_argument("--mem-budget", type=int, default=2048,
                    help="MiB Dovecot's idle sessions may take (estimated from the smaller run)")
    ap.add_argument("--select", default="1000,100000", help="mailbox sizes for SELECT")
    ap.add_argument("--repeat", type=int, default=20, help="SELECTs per size")
    ap.add_argument("--rate-rounds", type=int, default=3,
                    help="rounds of the rates (delivery, reading), servers taking turns; "
                         "the table gives the median")
    ap.add_argument("--no-dovecot", action="store_true")
    a = ap.parse_args()

    global CLIENT
    helpers.BIN = release_binary()
    CLIENT = build_client()
    targets = [Postino]
    if not a.no_dovecot:
        if Dovecot.available():
            targets.append(Dovecot)
        else:
            print("dovecot (or Python's crypt module) missing: postino column only")
    # rows[key][server] = the values measured, one per round.
    rows = {}
    t_start = time.monotonic()

    def putter(name):
        def put(key, value):
            rows.setdefault(key, {}).setdefault(name, []).append(value)
            print(f"  {name:8} {key}: {fmt(value)}", flush=True)
        return put

    # The rates depend on the machine's weather (a shared disk's fsync
    # latency, other work on the cores), which can change within minutes:
    # the servers take turns, round after round, and the table gives each
    # one's median, so that both are measured in the same spells.
    for i in range(a.rate_rounds):
        for cls in targets:
            print(f"rates, round {i + 1} of {a.rate_rounds}: {cls.name}", flush=True)
            in_tmp(cls, lambda t: rate_round(t, a, putter(t.name)))
    for cls in targets:
        in_tmp(cls, lambda t: run_target(t, a, putter(t.name)))
    names = [c.name for c in targets]
    w = max(len(k) for k in rows)
    head = f"{'':{w}} | " + " | ".join(f"{n:>10}" for n in names)
    if len(names) == 2:
        head += " | postino/dovecot"
    print()
    print(head)
    print("-" * len(head))
    for k, v in rows.items():
        v = {n: mid(x) for n, x in v.items()}
        line = f"{k:{w}} | " + " | ".join(f"{fmt(v.get(n)):>10}" for n in names)
        if len(names) == 2:
            p, d = v.get("postino"), v.get("dovecot")
            ok = isinstance(p, float) and isinstance(d, float) and d
            line += f" | {p / d:>8.2f}" if ok else f" | {'-':>8}"
        print(line)
    print(f"\n({time.monotonic() - t_start:.0f} s; higher is better for msg/s, MB/s, logins/s; "
          f"lower for memory, disk, ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
