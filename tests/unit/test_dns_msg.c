/* Unit tests for core/dns_msg.c: queries built byte for byte, responses
 * read with compression, and the malformed ones (pointer loops, names too
 * long, records past the end, every truncation) refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/dns_msg.h"

/* A response under construction. */
struct mk {
	uint8_t b[4096];
	size_t n;
};

static void put(struct mk *m, const void *p, size_t n)
{
	memcpy(m->b + m->n, p, n);
	m->n += n;
}

static void put16(struct mk *m, unsigned v)
{
	uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
	put(m, x, 2);
}

static void put_name(struct mk *m, const char *name)
{
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t l = dot ? (size_t)(dot - name) : strlen(name);
		uint8_t lb = (uint8_t)l;
		put(m, &lb, 1);
		put(m, name, l);
		name += l + (dot ? 1 : 0);
	}
	uint8_t z = 0;
	put(m, &z, 1);
}

static void put_ptr(struct mk *m, unsigned off)
{
	put16(m, 0xc000 | off);
}

/* Header and the question (name, type) at offset 12. */
static void start(struct mk *m, uint16_t id, unsigned flags, unsigned rcode, unsigned an,
		  const char *qname, uint16_t qtype)
{
	m->n = 0;
	put16(m, id);
	put16(m, 0x8000 | flags | rcode);
	put16(m, 1);
	put16(m, an);
	put16(m, 0);
	put16(m, 0);
	put_name(m, qname);
	put16(m, qtype);
	put16(m, 1);
}

/* Record head after the owner: type, class IN, ttl 300. */
static void rr_head(struct mk *m, uint16_t type)
{
	put16(m, type);
	put16(m, 1);
	put16(m, 0);
	put16(m, 300);
}

/* example.org MX: 10 mx1.example.org (compressed against the question),
 * 20 mx2.example.org, then mx1's A and AAAA, and a CNAME. */
static void mx_response(struct mk *m)
{
	start(m, 0x1234, 0x0400, 0, 5, "example.org", DNS_TYPE_MX);
	put_ptr(m, 12);
	rr_head(m, DNS_TYPE_MX);
	put16(m, 2 + 4 + 2);
	put16(m, 10);
	uint8_t l3 = 3;
	put(m, &l3, 1);
	put(m, "mx1", 3);
	put_ptr(m, 12);
	size_t mx1_at = m->n - 6; /* the "mx1" label just written */
	put_ptr(m, 12);
	rr_head(m, DNS_TYPE_MX);
	put16(m, 2 + 17);
	put16(m, 20);
	put_name(m, "mx2.example.org");
	put_ptr(m, (unsigned)mx1_at);
	rr_head(m, DNS_TYPE_A);
	put16(m, 4);
	put(m, "\x7f\x00\x00\x02", 4);
	put_ptr(m, (unsigned)mx1_at);
	rr_head(m, DNS_TYPE_AAAA);
	put16(m, 16);
	put(m, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16);
	put_name(m, "www.example.org");
	rr_head(m, DNS_TYPE_CNAME);
	put16(m, 2);
	put_ptr(m, 12);
}

static void test_query_build(void **state)
{
	uint8_t b[DNS_MSG_QUERY_MAX];
	size_t len;
	assert_int_equal(dns_msg_query_build(b, sizeof(b), 0xabcd, "Example.ORG.", DNS_TYPE_MX,
					     true, &len), 0);
	static const uint8_t want[] = {
		0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1,
		7, 'E', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'O', 'R', 'G', 0, 0, 15, 0, 1,
		0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0};
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(b, want, sizeof(want));
	assert_int_equal(dns_msg_query_build(b, sizeof(b), 1, "a.b", DNS_TYPE_A, false, &len), 0);
	assert_int_equal(len, 12 + 5 + 4);
	assert_int_equal(b[11], 0); /* no OPT */
}

static void test_query_build_refuses_bad_names(void **state)
{
	uint8_t b[DNS_MSG_QUERY_MAX];
	size_t len;
	char longlabel[70], longname[300];
	memset(longlabel, 'a', 64);
	longlabel[64] = '\0';
	for (int i = 0; i < 127; i++)
		memcpy(longname + 2 * i, "a.", 2);
	longname[253] = 'a';
	longname[254] = '\0'; /* 254 bytes (no trailing dot): one too many */
	const char *bad[] = {"", ".", "a..b", ".a", "a b", "a\\b", "a\x01", longlabel, longname};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(dns_msg_query_build(b, sizeof(b), 1, bad[i], DNS_TYPE_A, true, &len),
				 -1);
	longname[253] = '\0';
	assert_int_equal(dns_msg_query_build(b, sizeof(b), 1, longname, DNS_TYPE_A, true, &len), 0);
	assert_int_equal(dns_msg_query_build(b, 20, 1, "example.org", DNS_TYPE_A, true, &len), -1);
}

static void test_parse_mx_response(void **state)
{
	struct mk m;
	mx_response(&m);
	struct dns_msg msg;
	struct dns_rr rr;
	assert_int_equal(dns_msg_parse(&msg, m.b, m.n, 0x1234, "EXAMPLE.org", DNS_TYPE_MX),
			 DNS_MSG_OK);
	assert_false(msg.tc);
	assert_true(msg.aa);
	assert_int_equal(msg.rcode, DNS_RCODE_NOERROR);
	assert_int_equal(dns_msg_next_answer(&msg, &rr), 1);
	assert_string_equal(rr.name, "example.org");
	assert_int_equal(rr.type, DNS_TYPE_MX);
	assert_int_equal(rr.pref, 10);
	assert_int_equal(rr.ttl, 300);
	assert_string_equal(rr.target, "mx1.example.org");
	assert_int_equal(dns_msg_next_answer(&msg, &rr), 1);
	assert_int_equal(rr.pref, 20);
	assert_string_equal(rr.target, "mx2.example.org");
	assert_int_equal(dns_msg_next_answer(&msg, &rr), 1);
	assert_string_equal(rr.name, "mx1.example.org");
	assert_int_equal(rr.type, DNS_TYPE_A);
	assert_memory_equal(rr.addr, "\x7f\x00\x00\x02", 4);
	assert_int_equal(dns_msg_next_answer(&msg, &rr), 1);
	assert_int_equal(rr.type, DNS_TYPE_AAAA);
	assert_int_equal(rr.addr[15], 1);
	assert_int_equal(dns_msg_next_answer(&msg, &rr), 1);
	assert_string_equal(rr.name, "www.example.org");
	assert_int_equal(rr.type, DNS_TYPE_CNAME);
	assert_string_equal(rr.target, "example.org");
	assert_int_equal(dns_msg_next_answer(&msg, &rr), 0);
	assert_int_equal(dns_msg_next_answer(&msg, &rr), 0);
}

static void test_parse_checks_id_question_and_qr(void **state)
{
	struct mk m;
	struct dns_msg msg;
	mx_response(&m);
	assert_int_equal(dns_msg_parse(&msg, m.b, m.n, 0x1235, "example.org", DNS_TYPE_MX),
			 DNS_MSG_ID);
	assert_int_equal(dns_msg_parse(&msg, m.b, m.n, 0x1234, "example.com", DNS_TYPE_MX),
			 DNS_MSG_QUESTION);
	assert_int_equal(dns_msg_parse(&msg, m.b, m.n, 0x1234, "example.org", DNS_TYPE_A),
			 DNS_MSG_QUESTION);
	m.b[2] &= 0x7f; /* QR clear: a query, not a response */
	assert_int_equal(dns_msg_parse(&msg, m.b, m.n, 0x1234, "example.org", DNS_TYPE_MX),
			 DNS_MSG_NOT_RESPONSE);
	assert_int_equal(dns_msg_parse(&msg, m.b, 11, 0x1234, "example.org", DNS_TYPE_MX),
			 DNS_MSG_SHORT);
}

static void test_parse_rcode_and_tc(void **state)
{
	struct mk m;
	struct dns_msg msg;
	struct dns_rr rr;
	start(&m, 7, 0x0200, DNS_RCODE_NXDOMAIN, 0, "nx.example", DNS_TYPE_MX);
	assert_int_equal(dns_msg_parse(&msg, m.b, m.n, 7, "nx.example", DNS_TYPE_MX), DNS_MSG_OK);
	assert_true(msg.tc);
	assert_int_equal(msg.rcode, DNS_RCODE_NXDOMAIN);
	assert_int_equal(dns_msg_next_answer(&msg, &rr), 0);
	char b[16];
	assert_string_equal(dns_rcode_name(2, b, sizeof(b)), "SERVFAIL");
	assert_string_equal(dns_rcode_name(11, b, sizeof(b)), "rcode 11");
}

static void test_null_mx_is_root(void **state)
{
	struct mk m;
	struct dns_msg msg;
	struct dns_rr rr;
	start(&m, 9, 0, 0, 1, "example.org", DNS_TYPE_MX);
	put_ptr(&m, 12);
	rr_head(&m, DNS_TYPE_MX);
	put16(&m, 3);
	put16(&m, 0);
	uint8_t z = 0;
	put(&m, &z, 1);
	assert_int_equal(dns_msg_parse(&msg, m.b, m.n, 9, "example.org", DNS_TYPE_MX), DNS_MSG_OK);
	assert_int_equal(dns_msg_next_answer(&msg, &rr), 1);
	assert_string_equal(rr.target, ".");
}

static void test_pointer_loops_refused(void **state)
{
	struct mk m;
	struct dns_msg msg;
	struct dns_rr rr;
	char out[DNS_NAME_MAX];
	size_t next;
	/* An answer whose owner points at itself. */
	start(&m, 1, 0, 0, 1, "a.org", DNS_TYPE_A);
	size_t at = m.n;
	put_ptr(&m, (unsigned)at);
	rr_head(&m, DNS_TYPE_A);
	put16(&m, 4);
	put(&m, "\1\2\3\4", 4);
	assert_int_equal(dns_msg_parse(&msg, m.b, m.n, 1, "a.org", DNS_TYPE_A), DNS_MSG_OK);
	assert_int_equal(dns_msg_next_answer(&msg, &rr), DNS_MSG_BAD_NAME);
	/* Two labels pointing at each other: x -> y -> x. */
	uint8_t loop[] = {1, 'x', 0xc0, 4, 1, 'y', 0xc0, 0};
	assert_int_equal(dns_msg_name_read(loop, sizeof(loop), 4, out, &next), DNS_MSG_BAD_NAME);
	assert_int_equal(dns_msg_name_read(loop, sizeof(loop), 0, out, &next), DNS_MSG_BAD_NAME);
	/* A forward pointer. */
	uint8_t fwd[] = {0xc0, 2, 1, 'a', 0};
	assert_int_equal(dns_msg_name_read(fwd, sizeof(fwd), 0, out, &next), DNS_MSG_BAD_NAME);
	/* A backward chain is fine, and next is after the first pointer. */
	uint8_t ok[] = {1, 'a', 0, 1, 'b', 0xc0, 0, 1, 'c', 0xc0, 3};
	assert_int_equal(dns_msg_name_read(ok, sizeof(ok), 7, out, &next), DNS_MSG_OK);
	assert_string_equal(out, "c.b.a");
	assert_int_equal(next, sizeof(ok));
	/* Reserved label types 0x40 and 0x80. */
	uint8_t ext[] = {0x41, 'a', 0};
	assert_int_equal(dns_msg_name_read(ext, sizeof(ext), 0, out, &next), DNS_MSG_BAD_NAME);
}

static void test_long_names_refused(void **state)
{
	/* 5 labels of 63 bytes: 320 wire bytes, past 255. */
	uint8_t b[400];
	size_t n = 0;
	for (int i = 0; i < 5; i++) {
		b[n++] = 63;
		memset(b + n, 'a', 63);
		n += 63;
	}
	b[n++] = 0;
	char out[DNS_NAME_MAX];
	size_t next;
	assert_int_equal(dns_msg_name_read(b, n, 0, out, &next), DNS_MSG_BAD_NAME);
	/* 4 labels of 62 bytes: 253 presentation bytes, 254 on the wire: fine. */
	n = 0;
	for (int i = 0; i < 4; i++) {
		b[n++] = 62;
		memset(b + n, 'b', 62);
		n += 62;
	}
	b[n++] = 0;
	assert_int_equal(dns_msg_name_read(b, n, 0, out, &next), DNS_MSG_OK);
	assert_int_equal(strlen(out), 251);
	/* Bytes that would make a name mean something else. */
	uint8_t dot[] = {3, 'a', '.', 'b', 0};
	assert_int_equal(dns_msg_name_read(dot, sizeof(dot), 0, out, &next), DNS_MSG_BAD_NAME);
	uint8_t nul[] = {2, 'a', 0, 0};
	assert_int_equal(dns_msg_name_read(nul, sizeof(nul), 0, out, &next), DNS_MSG_BAD_NAME);
}

static void test_rdata_bounds(void **state)
{
	struct mk m;
	struct dns_msg msg;
	struct dns_rr rr;
	/* rdlength past the end */
	start(&m, 1, 0, 0, 1, "a.org", DNS_TYPE_A);
	put_ptr(&m, 12);
	rr_head(&m, DNS_TYPE_A);
	put16(&m, 40);
	put(&m, "\1\2\3\4", 4);
	assert_int_equal(dns_msg_parse(&msg, m.b, m.n, 1, "a.org", DNS_TYPE_A), DNS_MSG_OK);
	assert_int_equal(dns_msg_next_answer(&msg, &rr), DNS_MSG_SHORT);
	/* an A record of 5 bytes */
	start(&m, 1, 0, 0, 1, "a.org", DNS_TYPE_A);
	put_ptr(&m, 12);
	rr_head(&m, DNS_TYPE_A);
	put16(&m, 5);
	put(&m, "\1\2\3\4\5", 5);
	dns_msg_parse(&msg, m.b, m.n, 1, "a.org", DNS_TYPE_A);
	assert_int_equal(dns_msg_next_answer(&msg, &rr), DNS_MSG_SHORT);
	/* an MX exchange that runs past its rdata into the next bytes */
	start(&m, 1, 0, 0, 1, "a.org", DNS_TYPE_MX);
	put_ptr(&m, 12);
	rr_head(&m, DNS_TYPE_MX);
	put16(&m, 4);
	put16(&m, 5);
	put_name(&m, "mx.a.org");
	m.b[m.n - 1 - 9 - 1] = 2; /* keep the bytes, the rdlength says 4 */
	dns_msg_parse(&msg, m.b, m.n, 1, "a.org", DNS_TYPE_MX);
	assert_true(dns_msg_next_answer(&msg, &rr) < 0);
	/* a class other than IN is not an address */
	start(&m, 1, 0, 0, 1, "a.org", DNS_TYPE_A);
	put_ptr(&m, 12);
	put16(&m, DNS_TYPE_A);
	put16(&m, 3);
	put16(&m, 0);
	put16(&m, 300);
	put16(&m, 4);
	put(&m, "\1\2\3\4", 4);
	dns_msg_parse(&msg, m.b, m.n, 1, "a.org", DNS_TYPE_A);
	assert_int_equal(dns_msg_next_answer(&msg, &rr), 1);
	assert_int_equal(rr.type, 0);
}

/* Every prefix of a good response, copied to a buffer of exactly that size
 * (so an over-read is an ASan report): an error, never a crash. */
static void test_every_truncation(void **state)
{
	struct mk m;
	mx_response(&m);
	for (size_t n = 0; n < m.n; n++) {
		uint8_t *cut = malloc(n ? n : 1);
		memcpy(cut, m.b, n);
		struct dns_msg msg;
		struct dns_rr rr;
		int rc = 0;
		unsigned got = 0;
		if (dns_msg_parse(&msg, cut, n, 0x1234, "example.org", DNS_TYPE_MX) == DNS_MSG_OK)
			while ((rc = dns_msg_next_answer(&msg, &rr)) == 1)
				got++;
		assert_true(got < 5);
		free(cut);
	}
}

static void test_name_equal(void **state)
{
	assert_true(dns_name_equal("Example.ORG", "example.org."));
	assert_false(dns_name_equal("example.org", "example.or"));
	assert_true(dns_name_equal(".", "."));
}

/* RFC 3492 and the IANA IDN test domains: U-labels to A-labels. */
static void test_name_to_ascii(void **state)
{
	(void)state;
	static const char *const cases[][2] = {
		{"b\xc3\xbc" "cher.example", "xn--bcher-kva.example"},
		{"M\xc3\xbc" "nchen.DE", "xn--mnchen-3ya.DE"},   /* ASCII labels as they are */
		{"\xd0\xbf\xd1\x80\xd0\xb8\xd0\xbc\xd0\xb5\xd1\x80."
		 "\xd0\xb8\xd1\x81\xd0\xbf\xd1\x8b\xd1\x82\xd0\xb0\xd0\xbd\xd0\xb8\xd0\xb5",
		 "xn--e1afmkfd.xn--80akhbyknj4f"},
		{"\xe4\xbe\x8b\xe5\xad\x90.\xe6\xb5\x8b\xe8\xaf\x95", "xn--fsqu00a.xn--0zwm56d"},
		{"plain.example", "plain.example"},
	};
	char out[256];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(dns_name_to_ascii(cases[i][0], out, sizeof(out)), 0);
		assert_string_equal(out, cases[i][1]);
	}
	/* Malformed UTF-8, an overlong form, a surrogate, a label too long. */
	assert_int_equal(dns_name_to_ascii("a\xc3.example", out, sizeof(out)), -1);
	assert_int_equal(dns_name_to_ascii("\xc0\xaf.example", out, sizeof(out)), -1);
	assert_int_equal(dns_name_to_ascii("\xed\xa0\x80.example", out, sizeof(out)), -1);
	char big[400];
	memset(big, 'a', 70);
	strcpy(big + 70, "\xc3\xbc");
	assert_int_equal(dns_name_to_ascii(big, out, sizeof(out)), -1);
	assert_int_equal(dns_name_to_ascii("b\xc3\xbc" "cher.example", out, 10), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_to_ascii),
		cmocka_unit_test(test_query_build),
		cmocka_unit_test(test_query_build_refuses_bad_names),
		cmocka_unit_test(test_parse_mx_response),
		cmocka_unit_test(test_parse_checks_id_question_and_qr),
		cmocka_unit_test(test_parse_rcode_and_tc),
		cmocka_unit_test(test_null_mx_is_root),
		cmocka_unit_test(test_pointer_loops_refused),
		cmocka_unit_test(test_long_names_refused),
		cmocka_unit_test(test_rdata_bounds),
		cmocka_unit_test(test_every_truncation),
		cmocka_unit_test(test_name_equal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
