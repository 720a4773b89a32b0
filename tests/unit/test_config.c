/* Unit tests for core/config.c: the embedded default, every error class
 * naming file and line, and --listen parsing; and the limits a session
 * state gets from it (core/session_limits.c) with the input budget. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/config.h"
#include "core/proto.h"
#include "core/server.h"
#include "core/session_limits.h"

/* The front-ends are not linked into this test; the kind table only needs
 * their addresses. */
const struct proto_ops smtp_proto_ops = {.name = "smtp"};
const struct proto_ops pop3_proto_ops = {.name = "pop3"};
const struct proto_ops imap_proto_ops = {.name = "imap"};

static char path[64];

static const char *write_conf(const char *text)
{
	snprintf(path, sizeof(path), "/tmp/postino-test-conf-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void test_embedded_default(void **state)
{
	struct config cfg;
	char err[600];
	assert_int_equal(config_load(&cfg, NULL, err, sizeof(err)), 0);
	assert_string_equal(cfg.data_dir, "./postino-data");
	assert_false(cfg.sandbox);
	assert_true(cfg.nlisteners >= 2);
	for (size_t i = 0; i < cfg.nlisteners; i++) {
		assert_string_equal(cfg.listeners[i].address, "127.0.0.1");
		assert_true(cfg.listeners[i].port > 1024);
	}
	assert_string_equal(cfg.listeners[0].kind, "smtp");
	assert_int_equal(cfg.smtp_max_message_size, 26214400);
	/* The deadlines and stress mode of issue 10 point 4, as documented. */
	assert_int_equal(cfg.login_timeout, 60);
	assert_int_equal(cfg.mail_timeout, 300);
	assert_int_equal(cfg.stress_threshold, 80);
	assert_int_equal(cfg.stress_login_timeout, 20);
	assert_int_equal(cfg.stress_idle_timeout, 10);
	assert_true(config_domain_is_local(&cfg, "LOCALHOST"));
	assert_false(config_domain_is_local(&cfg, "example.org"));
}

static void expect_error(const char *text, const char *needle)
{
	struct config cfg;
	char err[600];
	const char *p = write_conf(text);
	assert_int_equal(config_load(&cfg, p, err, sizeof(err)), -1);
	unlink(p);
	if (!strstr(err, needle))
		fail_msg("error '%s' does not contain '%s'", err, needle);
	assert_true(strncmp(err, p, strlen(p)) == 0); /* names the file */
}

static void test_errors_name_file_and_line(void **state)
{
	expect_error("data_dir = \"x\";\nbogus = 1;\n", ":2: unknown setting 'bogus'");
	expect_error("data_dir = \"x\";\nhostname = ;\n", ":2: syntax error"); /* syntax */
	expect_error("sandbox = 3;\n", ":1: 'sandbox' must be true or false");
	expect_error("limits = { max_line = 10; };\n", "between 512 and");
	expect_error("listeners = ( { kind = \"gopher\"; port = 70; } );\n", "unknown listener kind 'gopher'");
	expect_error("listeners = ( { kind = \"smtp\"; } );\n", "needs 'kind' and 'port'");
	expect_error("listeners = ( { kind = \"smtp\"; port = 70000; } );\n", "between 0 and 65535");
	expect_error("tls = { certificate = \"/x\"; };\n", "both 'certificate' and 'key'");
	expect_error("log = { level = \"loud\"; };\n", "log level must be");
	expect_error("smtp = { max_recipients = \"ten\"; };\n", "must be an integer");
	expect_error("hostname = \"bad host\";\n", "'hostname' may contain only");
	expect_error("smtp = { forbid_bare_newline = \"no\"; };\n", ":1: smtp forbid_bare_newline = \"no\" is not supported");
	expect_error("smtp = { forbid_bare_newline = \"maybe\"; };\n", "must be \"normalize\" or \"reject\"");
	expect_error("smtp = { forbid_bare_newline = true; };\n", "must be a string");
	/* the postmaster must be a mailbox of ours: no relay through it */
	expect_error("smtp = {\n postmaster = \"pm@remote.example\"; };\n",
		     ":2: smtp postmaster \"pm@remote.example\" must be in 'hostname' or one of");
	expect_error("smtp = { postmaster = \"no-at-sign\"; };\n", "must be an address");
	expect_error("smtp = { postmaster = \"a@b@localhost\"; };\n", "must be an address");
	expect_error("smtp = { postmaster = \"a b@localhost\"; };\n", "must be an address");
	expect_error("limits = { stress_threshold = 0; };\n", "between 1 and 100");
	expect_error("limits = { stress_threshold = 101; };\n", "between 1 and 100");
	expect_error("limits = { mail_timeout = 0; };\n", "'mail_timeout' must be between 1");
}

static void test_postmaster(void **state)
{
	struct config cfg;
	char err[600];
	assert_int_equal(config_load(&cfg, NULL, err, sizeof(err)), 0);
	assert_string_equal(cfg.smtp_postmaster, "postmaster@localhost");
	/* the default follows the hostname; a local domain listed after the
	 * setting still counts */
	const char *p = write_conf("hostname = \"mx.example\";\n"
				   "smtp = { postmaster = \"pm@a.example\"; local_domains = [\"a.example\"]; };\n");
	assert_int_equal(config_load(&cfg, p, err, sizeof(err)), 0);
	unlink(p);
	assert_string_equal(cfg.smtp_postmaster, "pm@a.example");
	p = write_conf("hostname = \"mx.example\";\n");
	assert_int_equal(config_load(&cfg, p, err, sizeof(err)), 0);
	unlink(p);
	assert_string_equal(cfg.smtp_postmaster, "postmaster@mx.example");
}

static bool bare_setting(const char *value)
{
	struct config cfg;
	char err[600], text[128];
	snprintf(text, sizeof(text), "smtp = { forbid_bare_newline = \"%s\"; };\n", value);
	const char *p = write_conf(text);
	assert_int_equal(config_load(&cfg, p, err, sizeof(err)), 0);
	unlink(p);
	return cfg.smtp_reject_bare_newline;
}

static void test_forbid_bare_newline(void **state)
{
	/* Postfix 3.9's values, case-insensitive; "yes" is its alias of normalize */
	struct config cfg;
	char err[600];
	assert_int_equal(config_load(&cfg, NULL, err, sizeof(err)), 0);
	assert_false(cfg.smtp_reject_bare_newline);
	assert_false(bare_setting("normalize"));
	assert_false(bare_setting("yes"));
	assert_true(bare_setting("reject"));
	assert_true(bare_setting("REJECT"));
}

static void test_dkim_sign(void **state)
{
	/* on by default (no key, no signature anyway); false turns it off */
	struct config cfg;
	char err[600];
	assert_int_equal(config_load(&cfg, NULL, err, sizeof(err)), 0);
	assert_true(cfg.smtp_dkim_sign);
	const char *p = write_conf("smtp = { dkim_sign = false; };\n");
	assert_int_equal(config_load(&cfg, p, err, sizeof(err)), 0);
	unlink(p);
	assert_false(cfg.smtp_dkim_sign);
	p = write_conf("smtp = { dkim_sign = \"yes\"; };\n");
	assert_int_equal(config_load(&cfg, p, err, sizeof(err)), -1);
	unlink(p);
	assert_non_null(strstr(err, "dkim_sign"));
}

/* RFC 7888 5: LITERAL+ or LITERAL-, chosen by imap.literal. */
static void test_imap_literal(void **state)
{
	(void)state;
	struct config cfg;
	char err[600];
	assert_int_equal(config_load(&cfg, NULL, err, sizeof(err)), 0);
	assert_false(cfg.imap_literal_minus);
	const char *p = write_conf("imap = { literal = \"minus\"; };\n");
	assert_int_equal(config_load(&cfg, p, err, sizeof(err)), 0);
	unlink(p);
	assert_true(cfg.imap_literal_minus);
	expect_error("imap = { literal = \"both\"; };\n", "imap literal must be");
}

/* How long an idle loop polls before it sleeps (core/loop_poll.h): 50 us
 * by default, 0 to sleep at once, at most a millisecond. */
static void test_loop_poll(void **state)
{
	(void)state;
	struct config cfg;
	char err[600];
	assert_int_equal(config_load(&cfg, NULL, err, sizeof(err)), 0);
	assert_int_equal(cfg.loop_poll_us, 200);
	const char *p = write_conf("loop_poll_us = 0;\n");
	assert_int_equal(config_load(&cfg, p, err, sizeof(err)), 0);
	unlink(p);
	assert_int_equal(cfg.loop_poll_us, 0);
	p = write_conf("hostname = \"mx.example.org\";\n");
	assert_int_equal(config_load(&cfg, p, err, sizeof(err)), 0);
	unlink(p);
	assert_int_equal(cfg.loop_poll_us, 200);   /* a file that does not say */
	expect_error("loop_poll_us = 1001;\n", "loop_poll_us");
	expect_error("loop_poll_us = -1;\n", "loop_poll_us");
}

/* RFC 5464 4.1: the METADATA limits, never below the RFC's minimum
 * (1024 octets, 10 entries); the embedded default as etc/postino.conf
 * documents it. */
static void test_imap_metadata(void **state)
{
	(void)state;
	struct config cfg;
	char err[600];
	assert_int_equal(config_load(&cfg, NULL, err, sizeof(err)), 0);
	assert_int_equal(cfg.imap_metadata_max_size, 16384);
	assert_int_equal(cfg.imap_metadata_max_entries, 100);
	assert_int_equal(cfg.imap_metadata_max_user_entries, 1000);
	assert_string_equal(cfg.imap_metadata_admin, "");
	const char *p = write_conf("imap = { metadata_max_size = 1024; metadata_max_entries = 10;\n"
				   "  metadata_max_user_entries = 20;\n"
				   "  metadata_admin = \"mailto:admin@example.org\"; };\n");
	assert_int_equal(config_load(&cfg, p, err, sizeof(err)), 0);
	unlink(p);
	assert_int_equal(cfg.imap_metadata_max_size, 1024);
	assert_int_equal(cfg.imap_metadata_max_entries, 10);
	assert_int_equal(cfg.imap_metadata_max_user_entries, 20);
	assert_string_equal(cfg.imap_metadata_admin, "mailto:admin@example.org");
	expect_error("imap = { metadata_max_size = 1023; };\n", "metadata_max_size");
	expect_error("imap = { metadata_max_size = 65537; };\n", "metadata_max_size");
	expect_error("imap = { metadata_max_entries = 9; };\n", "metadata_max_entries");
	expect_error("imap = { metadata_admin = \"admin@example.org\"; };\n", "must be a URI");
	expect_error("imap = { metadata_admin = \"mailto:\"; };\n", "must be a URI");
	expect_error("imap = { metadata_admin = \"mailto:a b\"; };\n", "must be a URI");
	expect_error("imap = { metadata_admin = \"tel\"; };\n", "must be a URI");
}

static void test_session_limits(void **state)
{
	struct config cfg;
	char err[600];
	assert_int_equal(config_load(&cfg, NULL, err, sizeof(err)), 0);
	assert_int_equal(cfg.input_budget, 128u * 1024 * 1024);
	expect_error("limits = { input_budget = 1000; };\n", "between 1048576 and");
	const char *p = write_conf("limits = { input_budget = 2097152; max_line = 65536; };\n"
				   "imap = { max_message_size = 1000000; };\n");
	assert_int_equal(config_load(&cfg, p, err, sizeof(err)), 0);
	unlink(p);
	assert_int_equal(cfg.input_budget, 2097152);

	/* Before authentication: small whatever the configuration says, no
	 * APPEND data; SMTP DATA keeps its size (it goes to a spool file). */
	struct limits pre, post;
	limits_get(&cfg, LIMITS_PREAUTH, &pre);
	assert_int_equal(pre.max_line, LIMITS_PREAUTH_LINE);
	assert_int_equal(pre.max_literal, LIMITS_PREAUTH_LITERAL);
	assert_int_equal(pre.max_imap_message, 0);
	assert_int_equal(pre.max_smtp_message, cfg.smtp_max_message_size);
	assert_int_equal(pre.read_ahead, LIMITS_PREAUTH_READ_AHEAD);
	limits_get(&cfg, LIMITS_AUTHED, &post);
	assert_int_equal(post.max_line, 65536);
	assert_int_equal(post.max_imap_message, 1000000);
	assert_true(post.read_ahead > pre.read_ahead);

	/* The budget: all or nothing, given back exactly. */
	struct server srv = {.cfg = &cfg};
	assert_true(limits_budget_take(&srv, 2000000));
	assert_false(limits_budget_take(&srv, 100000));
	assert_true(limits_budget_take(&srv, 97152));
	assert_int_equal(limits_budget_used(&srv), 2097152);
	assert_false(limits_budget_take(&srv, 1));
	limits_budget_give(&srv, 2000000);
	assert_false(limits_budget_take(&srv, SIZE_MAX));
	assert_true(limits_budget_take(&srv, 100000));
	limits_budget_give(&srv, 197152);
	assert_int_equal(limits_budget_used(&srv), 0);
}

static void test_missing_file(void **state)
{
	struct config cfg;
	char err[600];
	assert_int_equal(config_load(&cfg, "/nonexistent/postino.conf", err, sizeof(err)), -1);
	assert_string_equal(err, "/nonexistent/postino.conf: cannot read the file");
}

static void test_good_file(void **state)
{
	struct config cfg;
	char err[600];
	const char *p = write_conf("data_dir = \"/var/lib/x\";\nsandbox = true;\n"
				   "listeners = ( { kind = \"pop3s\"; address = \"::1\"; port = 995; } );\n"
				   "smtp = { local_domains = [\"a.example\", \"B.example\"]; max_recipients = 5; };\n");
	assert_int_equal(config_load(&cfg, p, err, sizeof(err)), 0);
	unlink(p);
	assert_string_equal(cfg.data_dir, "/var/lib/x");
	assert_true(cfg.sandbox);
	assert_int_equal(cfg.nlisteners, 1);
	assert_string_equal(cfg.listeners[0].kind, "pop3s");
	assert_string_equal(cfg.listeners[0].address, "::1");
	assert_int_equal(cfg.listeners[0].port, 995);
	assert_int_equal(cfg.smtp_max_recipients, 5);
	assert_true(config_domain_is_local(&cfg, "b.EXAMPLE"));
}

/* The same reader from text (the fuzzer's entry point): errors name the
 * given name, and a good text loads like a file. */
static void test_load_string(void **state)
{
	struct config cfg;
	char err[600];
	assert_int_equal(config_load_string(&cfg, "hostname = \"mx.example.org\";\n"
					    "limits = { max_line = 2048; };\n", "t.conf", err,
					    sizeof(err)), 0);
	assert_string_equal(cfg.hostname, "mx.example.org");
	assert_int_equal(cfg.max_line, 2048);
	assert_string_equal(cfg.source, "t.conf");
	assert_int_equal(config_load_string(&cfg, "\nbogus = 1;\n", "t.conf", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "t.conf:2:"));
	assert_int_equal(config_load_string(&cfg, "x = ;", "t.conf", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "t.conf:1:"));
	assert_int_equal(config_load_string(&cfg, "outbound = { tls_ca_file = \"/etc/ca.pem\"; };",
					    "t.conf", err, sizeof(err)), 0);
	assert_string_equal(cfg.outbound_tls_ca_file, "/etc/ca.pem");
	assert_int_equal(config_load_string(&cfg, "outbound = { bogus = 1; };", "t.conf", err,
					    sizeof(err)), -1);
	assert_non_null(strstr(err, "outbound"));
}

static void test_outbound(void **state)
{
	(void)state;
	static struct config cfg;
	char err[512];
	assert_int_equal(config_load_string(&cfg, "hostname = \"h.example\";\n", "t.conf", err,
					    sizeof(err)), 0);
	assert_int_equal(cfg.outbound_port, 25);
	assert_int_equal(cfg.outbound_tls, CONFIG_TLS_MAY);
	assert_int_equal(cfg.queue_min_backoff, 300);
	assert_int_equal(cfg.queue_lifetime, 5 * 86400);
	assert_false(cfg.relay.host[0]);
	assert_null(config_route_find(&cfg, "example.org"));
	assert_int_equal(config_load_string(&cfg,
		"outbound = { relay = \"[smtp.example.net]:587\"; relay_user = \"u\";\n"
		"  relay_password = \"p\"; tls = \"verify\"; port = 2525;\n"
		"  routes = ( { domain = \".corp.example\"; relay = \"[10.0.0.1]:26\"; tls = \"none\"; },\n"
		"             { domain = \"mx.example\"; relay = \"mail.example\"; } ); };\n"
		"queue = { min_backoff = 2; max_backoff = 8; lifetime = 60; delay_warning = 5; };\n",
		"t.conf", err, sizeof(err)), 0);
	assert_string_equal(cfg.relay.host, "smtp.example.net");
	assert_int_equal(cfg.relay.port, 587);
	assert_false(cfg.relay.mx);
	assert_int_equal(cfg.outbound_tls, CONFIG_TLS_VERIFY);
	assert_int_equal(cfg.outbound_port, 2525);
	const struct config_route *r = config_route_find(&cfg, "a.b.corp.example");
	assert_non_null(r);
	assert_string_equal(r->relay.host, "10.0.0.1");
	assert_int_equal(r->relay.port, 26);
	assert_int_equal(r->tls, CONFIG_TLS_NONE);
	assert_null(config_route_find(&cfg, "corp.example"));   /* ".x" is subdomains only */
	r = config_route_find(&cfg, "MX.Example");
	assert_non_null(r);
	assert_true(r->relay.mx);
	assert_int_equal(r->relay.port, 0);
	assert_int_equal(r->tls, -1);
	assert_int_equal(cfg.queue_max_backoff, 8);

	static const char *const bad[] = {
		"outbound = { relay = \"[unclosed:25\"; };",
		"outbound = { relay = \"host:0\"; };",
		"outbound = { relay = \"host:99999\"; };",
		"outbound = { relay = \"bad host\"; };",
		"outbound = { tls = \"maybe\"; };",
		"outbound = { relay_user = \"u\"; };",
		"outbound = { routes = ( { relay = \"[x]:1\"; } ); };",
		"queue = { min_backoff = 10; max_backoff = 5; };",
		"outbound = { nonsense = 1; };",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(config_load_string(&cfg, bad[i], "t.conf", err, sizeof(err)), -1);
	struct config_relay rl;
	assert_int_equal(config_parse_relay("[::1]:25", &rl), 0);
	assert_string_equal(rl.host, "::1");
	assert_int_equal(config_parse_relay("mx.example", &rl), 0);
	assert_true(rl.mx);
	assert_int_equal(rl.port, 0);
}

static void test_parse_listen(void **state)
{
	struct config_listener l;
	char err[300];
	assert_int_equal(config_parse_listen("smtp=127.0.0.1:2525", &l, err, sizeof(err)), 0);
	assert_string_equal(l.kind, "smtp");
	assert_string_equal(l.address, "127.0.0.1");
	assert_int_equal(l.port, 2525);
	assert_int_equal(config_parse_listen("pop3s=[::1]:0", &l, err, sizeof(err)), 0);
	assert_string_equal(l.address, "::1");
	assert_int_equal(l.port, 0);
	const char *bad[] = {"smtp", "=1.2.3.4:25", "gopher=1.2.3.4:70", "smtp=1.2.3.4",
			     "smtp=1.2.3.4:", "smtp=1.2.3.4:65536", "smtp=1.2.3.4:2x", "smtp=:25",
			     "smtp=[::1:25", "smtp=::1:25", "smtp=1.2.3.4:-1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (config_parse_listen(bad[i], &l, err, sizeof(err)) != -1)
			fail_msg("'%s' was accepted", bad[i]);
}

static unsigned ns_port(const struct config_nameserver *ns)
{
	if (ns->addr.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&ns->addr)->sin6_port);
	return ntohs(((const struct sockaddr_in *)&ns->addr)->sin_port);
}

static void test_dns_settings(void **state)
{
	struct config_nameserver ns;
	char err[300];
	assert_int_equal(config_parse_nameserver("192.0.2.1", &ns, err, sizeof(err)), 0);
	assert_int_equal(ns.addr.ss_family, AF_INET);
	assert_int_equal(ns_port(&ns), 53);
	assert_int_equal(config_parse_nameserver("127.0.0.1:5353", &ns, err, sizeof(err)), 0);
	assert_int_equal(ns_port(&ns), 5353);
	assert_int_equal(config_parse_nameserver("[::1]:5300", &ns, err, sizeof(err)), 0);
	assert_int_equal(ns.addr.ss_family, AF_INET6);
	assert_int_equal(ns_port(&ns), 5300);
	assert_int_equal(config_parse_nameserver("2001:db8::1", &ns, err, sizeof(err)), 0);
	assert_int_equal(ns_port(&ns), 53);
	assert_int_equal(config_parse_nameserver("[2001:db8::2]", &ns, err, sizeof(err)), 0);
	const char *bad[] = {"", "dns.example.net", "1.2.3.4:0", "1.2.3.4:65536", "1.2.3.4:x",
			     "[::1", "[::1]x", "[1.2.3.4]:53", "1.2.3.4:", "[]:53", "::1:53:x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (config_parse_nameserver(bad[i], &ns, err, sizeof(err)) != -1)
			fail_msg("'%s' was accepted", bad[i]);

	struct config cfg;
	assert_int_equal(config_load(&cfg, NULL, err, sizeof(err)), 0);
	assert_int_equal(cfg.dns_nnameservers, 0); /* /etc/resolv.conf at start */
	assert_int_equal(cfg.dns_timeout_ms, 2000);
	assert_int_equal(cfg.dns_attempts, 3);
	assert_false(cfg.dns_prefer_ipv4);
	assert_int_equal(config_load_string(&cfg, "dns = { nameservers = [ \"127.0.0.1:53\", "
					    "\"[::1]:54\" ]; timeout = 100; attempts = 1; "
					    "prefer = \"ipv4\"; };", "t", err, sizeof(err)), 0);
	assert_int_equal(cfg.dns_nnameservers, 2);
	assert_int_equal(ns_port(&cfg.dns_nameservers[1]), 54);
	assert_int_equal(cfg.dns_timeout_ms, 100);
	assert_int_equal(cfg.dns_attempts, 1);
	assert_true(cfg.dns_prefer_ipv4);
	const char *bad_conf[] = {
		"dns = { nameservers = [ \"x.example\" ]; };",
		"dns = { nameservers = \"127.0.0.1\"; };",
		/* nine nameservers, one more than CONFIG_MAX_NAMESERVERS */
		("dns = { nameservers = [ \"1.1.1.1\", \"1.1.1.2\", \"1.1.1.3\", \"1.1.1.4\", "
		 "\"1.1.1.5\", \"1.1.1.6\", \"1.1.1.7\", \"1.1.1.8\", \"1.1.1.9\" ]; };"),
		"dns = { timeout = 0; };",
		"dns = { attempts = 0; };",
		"dns = { prefer = \"ipv5\"; };",
		"dns = { retries = 3; };",
	};
	for (size_t i = 0; i < sizeof(bad_conf) / sizeof(bad_conf[0]); i++)
		if (config_load_string(&cfg, bad_conf[i], "t", err, sizeof(err)) != -1)
			fail_msg("'%s' was accepted", bad_conf[i]);
	assert_int_equal(config_load_string(&cfg, bad_conf[0], "t", err, sizeof(err)), -1);
	assert_string_equal(err, "t:1: dns nameservers: 'x.example': not an IP address (a name "
				 "would need DNS to find DNS)");
}

/* The daemon's struct config is static (.bss, zero pages): loading the
 * default must not write the unused entries of its large tables, or ~170 KB
 * become resident for nothing (issue 11 point 7).  mincore() on a fresh
 * anonymous mapping counts the pages the load wrote. */
static void test_load_touches_only_what_it_sets(void **state)
{
	(void)state;
	long page = sysconf(_SC_PAGESIZE);
	size_t len = (sizeof(struct config) + (size_t)page - 1) & ~((size_t)page - 1);
	struct config *cfg = mmap(NULL, len, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(cfg != MAP_FAILED);
	char err[256];
	assert_int_equal(config_load(cfg, NULL, err, sizeof(err)), 0);
	size_t pages = len / (size_t)page, resident = 0;
	unsigned char *vec = malloc(pages);
	assert_non_null(vec);
	assert_int_equal(mincore(cfg, len, vec), 0);
	for (size_t i = 0; i < pages; i++)
		resident += vec[i] & 1;
	free(vec);
	/* The settings before the tables are ~6 KB, plus the entries the
	 * default sets: a few pages, not ~47. */
	assert_true(pages > 40);
	assert_true(resident <= 5);
	munmap(cfg, len);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_embedded_default),
		cmocka_unit_test(test_errors_name_file_and_line),
		cmocka_unit_test(test_session_limits),
		cmocka_unit_test(test_imap_literal),
		cmocka_unit_test(test_loop_poll),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_good_file),
		cmocka_unit_test(test_forbid_bare_newline),
		cmocka_unit_test(test_postmaster),
		cmocka_unit_test(test_dkim_sign),
		cmocka_unit_test(test_parse_listen),
		cmocka_unit_test(test_outbound),
		cmocka_unit_test(test_dns_settings),
		cmocka_unit_test(test_load_string),
		cmocka_unit_test(test_imap_metadata),
		cmocka_unit_test(test_load_touches_only_what_it_sets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
