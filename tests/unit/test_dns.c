/* Unit tests for core/dns.c and core/dns_lookup.c on a real event base:
 * what the CLI cannot show.  Callbacks never run inside dns_resolve_*;
 * cancel and dns_resolver_free call nothing back and leak nothing (ASan);
 * a forged answer (another id) is ignored; retries count.  The nameserver
 * is a UDP socket of the test, answered from the same loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/config.h"
#include "core/dns.h"
#include "core/dns_msg.h"
#include "core/proto.h"

/* The front-ends are not linked into this test; config.c's kind table
 * only needs their addresses. */
const struct proto_ops smtp_proto_ops = {.name = "smtp"};
const struct proto_ops pop3_proto_ops = {.name = "pop3"};
const struct proto_ops imap_proto_ops = {.name = "imap"};

/* The test's nameserver: counts queries; answers every query with the A
 * record 192.0.2.<n> unless silent, each time first with a forged id (and
 * 192.0.2.99) when asked to. */
struct fake_ns {
	int fd;
	struct event *ev;
	unsigned queries;
	bool silent;
	bool forge;
};

struct result {
	unsigned calls;
	enum dns_status st;
	size_t n;
	struct dns_target t[DNS_MAX_TARGETS];
	char text[512];
	struct dns_query *self; /* for the cancel-inside-callback test */
};

static struct config cfg;
static struct event_base *base;
static struct fake_ns ns;

static void fake_ns_read(evutil_socket_t fd, short what, void *arg)
{
	uint8_t q[512], out[600];
	struct sockaddr_storage peer;
	socklen_t pl = sizeof(peer);
	ssize_t n = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&peer, &pl);
	if (n < 12)
		return;
	ns.queries++;
	if (ns.silent)
		return;
	/* The question ends at the first zero label byte after 12. */
	size_t qend = 12;
	while (qend < (size_t)n && q[qend])
		qend += 1u + q[qend];
	qend += 5;
	memcpy(out, q, qend);
	out[2] = 0x81; /* QR, RD */
	out[3] = 0x80; /* RA, NOERROR */
	out[6] = 0, out[7] = 1;   /* ANCOUNT */
	out[10] = 0, out[11] = 0; /* no OPT back */
	static const uint8_t rr[] = {0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 0, 0, 4, 192, 0, 2, 0};
	memcpy(out + qend, rr, sizeof(rr));
	out[qend + sizeof(rr) - 1] = (uint8_t)ns.queries;
	size_t len = qend + sizeof(rr);
	if (ns.forge) {
		out[0] ^= 0x5a; /* another id: must be ignored, not taken */
		out[qend + sizeof(rr) - 1] = 99;
		sendto(fd, out, len, 0, (struct sockaddr *)&peer, pl);
		out[0] ^= 0x5a;
		out[qend + sizeof(rr) - 1] = (uint8_t)ns.queries;
	}
	sendto(fd, out, len, 0, (struct sockaddr *)&peer, pl);
}

static int setup(void **state)
{
	char err[300];
	assert_int_equal(config_load(&cfg, NULL, err, sizeof(err)), 0);
	memset(&ns, 0, sizeof(ns));
	ns.fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(ns.fd, (struct sockaddr *)&a, sizeof(a)), 0);
	socklen_t al = sizeof(a);
	getsockname(ns.fd, (struct sockaddr *)&a, &al);
	char spec[64];
	snprintf(spec, sizeof(spec), "127.0.0.1:%u", ntohs(a.sin_port));
	assert_int_equal(config_parse_nameserver(spec, &cfg.dns_nameservers[0], err, sizeof(err)), 0);
	cfg.dns_nnameservers = 1;
	cfg.dns_timeout_ms = 50;
	cfg.dns_attempts = 2;
	base = event_base_new();
	ns.ev = event_new(base, ns.fd, EV_READ | EV_PERSIST, fake_ns_read, NULL);
	event_add(ns.ev, NULL);
	return 0;
}

static int teardown(void **state)
{
	event_free(ns.ev);
	close(ns.fd);
	event_base_free(base);
	return 0;
}

static void record(void *arg, enum dns_status st, const struct dns_target *t, size_t n,
		   const char *text)
{
	struct result *r = arg;
	r->calls++;
	r->st = st;
	r->n = n;
	memcpy(r->t, t, n * sizeof(*t));
	snprintf(r->text, sizeof(r->text), "%s", text);
	/* Cancelling one's own query from its callback does nothing. */
	if (r->self)
		dns_query_cancel(r->self);
	event_base_loopbreak(base);
}

/* Run the loop until a callback (it breaks the loop), or at most ms: a
 * bound for what must not happen, not a measure. */
static void run_stop(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(base);
}

static void run_for(unsigned ms)
{
	/* A timer of this run's own: loopexit's would outlive an early break
	 * and cut the next run short. */
	struct event *stop = evtimer_new(base, run_stop, NULL);
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	evtimer_add(stop, &tv);
	event_base_dispatch(base);
	event_free(stop);
}

static void test_literal_answers_from_the_loop(void **state)
{
	struct dns_resolver *r = dns_resolver_new(base, &cfg);
	struct result res = {0};
	struct dns_query *q = dns_resolve_mx(r, "[192.0.2.7]", record, &res);
	assert_non_null(q);
	assert_int_equal(res.calls, 0); /* not from inside dns_resolve_mx */
	res.self = q;
	run_for(200);
	assert_int_equal(res.calls, 1);
	assert_int_equal(res.st, DNS_OK);
	assert_int_equal(res.n, 1);
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)&res.t[0].addr;
	assert_int_equal(s4->sin_port, 0);
	assert_int_equal(ntohl(s4->sin_addr.s_addr), 0xc0000207);
	assert_int_equal(ns.queries, 0);
	dns_resolver_free(r);
}

static void test_host_lookup_with_forged_answer_ignored(void **state)
{
	struct dns_resolver *r = dns_resolver_new(base, &cfg);
	struct result res = {0};
	ns.forge = true;
	assert_non_null(dns_resolve_host(r, "h.test", 587, record, &res));
	assert_int_equal(res.calls, 0);
	run_for(5000);
	assert_int_equal(res.calls, 1);
	assert_int_equal(res.st, DNS_OK);
	assert_int_equal(res.n, 1);
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)&res.t[0].addr;
	assert_int_equal(ntohs(s4->sin_port), 587);
	/* The A answer (not 99, the forged one); AAAA got the same fake A
	 * record, which is not AAAA, so it counts as no data. */
	assert_int_not_equal(ntohl(s4->sin_addr.s_addr) & 0xff, 99);
	assert_string_equal(res.t[0].host, "h.test");
	dns_resolver_free(r);
}

static void test_timeouts_retry_then_temp(void **state)
{
	struct dns_resolver *r = dns_resolver_new(base, &cfg);
	struct result res = {0};
	ns.silent = true;
	assert_non_null(dns_resolve_mx(r, "slow.test", record, &res));
	run_for(5000);
	assert_int_equal(res.calls, 1);
	assert_int_equal(res.st, DNS_TEMP);
	assert_string_equal(res.text, "DNS timeout looking up MX for slow.test");
	assert_int_equal(ns.queries, 2); /* dns_attempts */
	dns_resolver_free(r);
}

static void test_cancel_calls_nothing_back(void **state)
{
	struct dns_resolver *r = dns_resolver_new(base, &cfg);
	struct result a = {0}, b = {0};
	ns.silent = true;
	struct dns_query *qa = dns_resolve_mx(r, "a.test", record, &a);
	assert_non_null(dns_resolve_mx(r, "b.test", record, &b));
	run_for(20); /* the first tries go out */
	dns_query_cancel(qa);
	run_for(5000); /* until b times out */
	run_for(300);  /* and past a's timeouts too */
	assert_int_equal(a.calls, 0);
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.st, DNS_TEMP);
	dns_resolver_free(r);
}

static void test_free_calls_nothing_back(void **state)
{
	struct dns_resolver *r = dns_resolver_new(base, &cfg);
	struct result a = {0}, c = {0};
	ns.silent = true;
	assert_non_null(dns_resolve_mx(r, "a.test", record, &a));
	assert_non_null(dns_resolve_host(r, "[192.0.2.1]", 25, record, &c));
	run_for(20); /* c answers; a's first try goes out */
	assert_int_equal(c.calls, 1);
	dns_resolver_free(r); /* a pending */
	run_for(300);         /* past every timeout */
	assert_int_equal(a.calls, 0);
}

static void test_finished_but_not_called_is_cancelled_quietly(void **state)
{
	struct dns_resolver *r = dns_resolver_new(base, &cfg);
	struct result res = {0};
	dns_query_cancel(dns_resolve_mx(r, "[192.0.2.9]", record, &res));
	assert_non_null(dns_resolve_mx(r, "[192.0.2.10]", record, &res));
	dns_resolver_free(r);
	run_for(50);
	assert_int_equal(res.calls, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_literal_answers_from_the_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_lookup_with_forged_answer_ignored, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_timeouts_retry_then_temp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_calls_nothing_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_calls_nothing_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_finished_but_not_called_is_cancelled_quietly,
						setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
