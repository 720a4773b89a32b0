# tests/integration/test_dns.py: the outbound resolver (core/dns.c) through
# `postino dns mx|host`, against the loopback DNS server of dnsd.py: MX
# order, equal preferences shuffled, the implicit MX, null MX, NXDOMAIN,
# temporary failures, TCP after truncation, CNAMEs and their loops, an MX
# list of 100 records, address literals.
import socket

import pytest

from helpers import BIN, RUN_AS, run_cli


def dns_cli(dns, tmp_path, *args, timeout=300, attempts=3, extra="", nameservers=None):
    """Run `postino dns ARGS` with dns.nameservers pointing at dns; returns
    (exit status, [(pref, host, address[, port]) ...] or the failure line)."""
    ns = nameservers or [dns.nameserver()]
    conf = tmp_path / "dns.conf"
    conf.write_text("dns = { nameservers = [ %s ]; timeout = %d; attempts = %d; %s };\n"
                    % (", ".join(f'"{n}"' for n in ns), timeout, attempts, extra))
    conf.chmod(0o644)
    r = run_cli([BIN, "dns", *args, "--config", str(conf), "--data", str(tmp_path / "data"),
                 *RUN_AS])
    assert not r.stderr.strip(), r.stderr
    if r.returncode != 0:
        return r.returncode, r.stdout.strip()
    rows = []
    for line in r.stdout.splitlines():
        kv = dict(f.split("=", 1) for f in line.split())
        row = (int(kv["pref"]), kv["host"], kv["address"])
        rows.append(row + ((int(kv["port"]),) if "port" in kv else ()))
    return 0, rows


def mx(dns, tmp_path, domain, **kw):
    return dns_cli(dns, tmp_path, "mx", domain, **kw)


ZONE = {
    "example.test": {"MX": [(20, "mx2.example.test"), (10, "mx1.example.test")]},
    "mx1.example.test": {"A": ["127.0.0.2"], "AAAA": ["::1"]},
    "mx2.example.test": {"A": ["127.0.0.3", "127.0.0.4"]},
}


def test_mx_in_preference_order_ipv6_first(dns_server, tmp_path):
    dns_server.zone.update(ZONE)
    rc, rows = mx(dns_server, tmp_path, "example.test")
    assert rc == 0
    assert rows == [(10, "mx1.example.test", "::1"), (10, "mx1.example.test", "127.0.0.2"),
                    (20, "mx2.example.test", "127.0.0.3"), (20, "mx2.example.test", "127.0.0.4")]
    # The query carried EDNS0 and went over UDP only.
    assert {q[2] for q in dns_server.queries} == {"udp"}


def test_prefer_ipv4(dns_server, tmp_path):
    dns_server.zone.update(ZONE)
    rc, rows = mx(dns_server, tmp_path, "example.test", extra='prefer = "ipv4";')
    assert rc == 0
    assert [r[2] for r in rows[:2]] == ["127.0.0.2", "::1"]


def test_equal_preferences_in_random_order(dns_server, tmp_path):
    dns_server.zone.update({
        "eq.test": {"MX": [(10, "a.eq.test"), (10, "b.eq.test"), (5, "first.eq.test")]},
        "a.eq.test": {"A": ["127.0.0.10"]},
        "b.eq.test": {"A": ["127.0.0.11"]},
        "first.eq.test": {"A": ["127.0.0.9"]},
    })
    seen = set()
    for _ in range(60):
        rc, rows = mx(dns_server, tmp_path, "eq.test")
        assert rc == 0
        assert rows[0] == (5, "first.eq.test", "127.0.0.9")
        seen.add(tuple(r[1] for r in rows[1:]))
        if len(seen) == 2:
            break
    # Each order has probability 1/2 per run: both within 60 runs but for
    # a chance of 2^-59.
    assert seen == {("a.eq.test", "b.eq.test"), ("b.eq.test", "a.eq.test")}


def test_no_mx_falls_back_to_the_domains_addresses(dns_server, tmp_path):
    dns_server.zone["plain.test"] = {"A": ["127.0.0.5"], "AAAA": ["::1"]}
    rc, rows = mx(dns_server, tmp_path, "plain.test")
    assert rc == 0
    assert rows == [(0, "plain.test", "::1"), (0, "plain.test", "127.0.0.5")]


def test_no_mx_and_no_address_is_permanent(dns_server, tmp_path):
    dns_server.zone["empty.test"] = {"TXT": ["nothing"]}
    assert mx(dns_server, tmp_path, "empty.test") == (
        1, "nohost: empty.test has no MX and no A or AAAA records")


def test_null_mx(dns_server, tmp_path):
    dns_server.zone["nomail.test"] = {"MX": [(0, ".")], "A": ["127.0.0.6"]}
    assert mx(dns_server, tmp_path, "nomail.test") == (
        1, "nullmx: null MX: nomail.test accepts no mail (RFC 7505)")
    # Never the A record, and no lookup of the host ".".
    assert dns_server.asked(qtype="A") == []


def test_null_mx_beside_real_ones_is_ignored(dns_server, tmp_path):
    dns_server.zone.update(ZONE)
    dns_server.zone["mixed.test"] = {"MX": [(0, "."), (10, "mx2.example.test")]}
    rc, rows = mx(dns_server, tmp_path, "mixed.test")
    assert rc == 0 and [r[1] for r in rows] == ["mx2.example.test"] * 2


def test_nxdomain(dns_server, tmp_path):
    assert mx(dns_server, tmp_path, "example.invalid") == (
        1, "nxdomain: domain example.invalid does not exist (NXDOMAIN)")


def test_servfail_is_temporary_after_every_attempt(dns_server, tmp_path):
    dns_server.zone.update(ZONE)
    dns_server.servfail.add("example.test")
    assert mx(dns_server, tmp_path, "example.test") == (
        75, "temp: DNS failure (SERVFAIL) looking up MX for example.test")
    assert len(dns_server.asked("example.test", "MX")) == 3


def test_timeout_is_temporary(dns_server, tmp_path):
    dns_server.zone.update(ZONE)
    dns_server.timeout.add("example.test")
    assert mx(dns_server, tmp_path, "example.test", timeout=100, attempts=2) == (
        75, "temp: DNS timeout looking up MX for example.test")
    assert len(dns_server.asked("example.test", "MX")) == 2


def test_a_server_without_edns_is_asked_without(dns_server, tmp_path):
    """RFC 6891 7: FORMERR to a query with EDNS0 -> the next try goes without."""
    dns_server.zone.update(ZONE)
    dns_server.formerr_edns = True
    rc, rows = mx(dns_server, tmp_path, "example.test")
    assert rc == 0 and len(rows) == 4
    assert len(dns_server.asked("example.test", "MX")) == 2


def test_a_dead_nameserver_is_skipped(dns_server, tmp_path):
    """Tries rotate through the servers: one with nothing listening (the
    kernel answers port unreachable) does not stop the lookup."""
    dns_server.zone.update(ZONE)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    dead = f"127.0.0.1:{s.getsockname()[1]}"
    s.close()
    rc, rows = mx(dns_server, tmp_path, "example.test", nameservers=[dead, dns_server.nameserver()])
    assert rc == 0 and len(rows) == 4


def test_an_mx_host_failing_temporarily_is_skipped(dns_server, tmp_path):
    dns_server.zone.update(ZONE)
    dns_server.servfail.add("mx1.example.test")
    rc, rows = mx(dns_server, tmp_path, "example.test")
    assert rc == 0
    assert [r[1] for r in rows] == ["mx2.example.test", "mx2.example.test"]
    # All of them failing: temporary.
    dns_server.timeout.add("mx2.example.test")
    rc, text = mx(dns_server, tmp_path, "example.test", timeout=100, attempts=1)
    assert rc == 75 and text.startswith("temp: DNS ") and "example.test" in text


def test_mx_hosts_without_addresses_is_permanent(dns_server, tmp_path):
    dns_server.zone["dangling.test"] = {"MX": [(10, "gone.dangling.test"),
                                               (20, "empty.dangling.test")]}
    dns_server.zone["empty.dangling.test"] = {"TXT": ["x"]}
    assert mx(dns_server, tmp_path, "dangling.test") == (
        1, "nohost: no MX host of dangling.test has an address (2 looked up)")


def test_truncated_answer_is_asked_again_over_tcp(dns_server, tmp_path):
    dns_server.zone.update(ZONE)
    dns_server.truncate.add("example.test")
    rc, rows = mx(dns_server, tmp_path, "example.test")
    assert rc == 0 and len(rows) == 4
    assert [q[2] for q in dns_server.asked("example.test", "MX")] == ["udp", "tcp"]


@pytest.mark.parametrize("chase", [True, False])
def test_cname_chains_are_followed(dns_server, tmp_path, chase):
    """With a server that follows CNAMEs (the chain in one answer) and with
    one that does not (the resolver asks again for the target)."""
    dns_server.chase_cnames = chase
    dns_server.zone.update(ZONE)
    dns_server.zone.update({
        "alias.test": {"CNAME": "alias2.test"},
        "alias2.test": {"CNAME": "example.test"},
        "cnamed.test": {"MX": [(5, "mxalias.cnamed.test")]},
        "mxalias.cnamed.test": {"CNAME": "mx2.example.test"},
    })
    rc, rows = mx(dns_server, tmp_path, "alias.test")
    assert rc == 0 and [r[1] for r in rows] == ["mx1.example.test"] * 2 + ["mx2.example.test"] * 2
    # RFC 5321 5.1: an MX name should not be a CNAME, but one is resolved;
    # the target keeps the MX name and preference.
    rc, rows = mx(dns_server, tmp_path, "cnamed.test")
    assert rc == 0
    assert rows == [(5, "mxalias.cnamed.test", "127.0.0.3"), (5, "mxalias.cnamed.test", "127.0.0.4")]
    if not chase:
        assert dns_server.asked("alias2.test", "MX") and dns_server.asked("example.test", "MX")


@pytest.mark.parametrize("chase", [True, False])
def test_cname_loop_is_permanent(dns_server, tmp_path, chase):
    dns_server.chase_cnames = chase
    dns_server.zone.update({
        "loop1.test": {"CNAME": "loop2.test"},
        "loop2.test": {"CNAME": "loop1.test"},
        "mxloop.test": {"MX": [(10, "loop1.test")]},
    })
    assert mx(dns_server, tmp_path, "loop1.test") == (
        1, "nohost: CNAME loop (more than 8 CNAMEs) looking up MX for loop1.test")
    assert len(dns_server.asked(qtype="MX")) <= 9
    assert mx(dns_server, tmp_path, "mxloop.test") == (
        1, "nohost: CNAME loop (more than 8 CNAMEs) looking up the addresses of loop1.test")


def test_hundred_mx_records_are_bounded(dns_server, tmp_path):
    """100 MX records: one answer too large for UDP (TCP), of which only the
    10 most preferred hosts are looked up, and at most 20 targets."""
    prefs = [(i * 37) % 100 for i in range(100)]   # 0..99 in a scrambled order
    dns_server.zone["many.test"] = {"MX": [(p, f"h{p}.many.test") for p in prefs]}
    for p in range(100):
        dns_server.zone[f"h{p}.many.test"] = {"A": [f"127.0.1.{p}"], "AAAA": [f"::ffff:127.0.1.{p}"]}
    rc, rows = mx(dns_server, tmp_path, "many.test", extra='prefer = "ipv4";')
    assert rc == 0
    assert len(rows) == 20
    assert [r[1] for r in rows[::2]] == [f"h{p}.many.test" for p in range(10)]
    assert rows[0] == (0, "h0.many.test", "127.0.1.0")
    hosts = {q[0] for q in dns_server.queries if q[1] in ("A", "AAAA")}
    assert hosts == {f"h{p}.many.test" for p in range(10)}
    assert [q[2] for q in dns_server.asked("many.test", "MX")] == ["udp", "tcp"]


def test_address_literals_need_no_dns(dns_server, tmp_path):
    assert mx(dns_server, tmp_path, "[127.0.0.7]") == (0, [(0, "[127.0.0.7]", "127.0.0.7")])
    assert mx(dns_server, tmp_path, "[IPv6:::1]") == (0, [(0, "[IPv6:::1]", "::1")])
    assert mx(dns_server, tmp_path, "[127.0.0.300]") == (
        1, "nohost: '[127.0.0.300]' is not a valid address literal")
    assert mx(dns_server, tmp_path, "bad..name") == (
        1, "nohost: 'bad..name' is not a valid domain name")
    assert dns_server.queries == []


def test_host_lookup_writes_the_port(dns_server, tmp_path):
    dns_server.zone.update(ZONE)
    rc, rows = dns_cli(dns_server, tmp_path, "host", "[mx1.example.test]", "587")
    assert rc == 0
    assert rows == [(0, "mx1.example.test", "::1", 587), (0, "mx1.example.test", "127.0.0.2", 587)]
    assert dns_server.asked(qtype="MX") == []
    assert dns_cli(dns_server, tmp_path, "host", "127.0.0.8", "2525") == (
        0, [(0, "127.0.0.8", "127.0.0.8", 2525)])
    assert dns_cli(dns_server, tmp_path, "host", "nohost.test") == (
        1, "nxdomain: host nohost.test does not exist (NXDOMAIN)")


def test_bad_nameserver_setting_is_refused(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text('dns = { nameservers = [ "dns.example.net:53" ]; };\n')
    conf.chmod(0o644)
    r = run_cli([BIN, "dns", "mx", "example.test", "--config", str(conf), *RUN_AS])
    assert r.returncode == 2
    assert "dns nameservers: 'dns.example.net:53': not an IP address" in r.stderr
