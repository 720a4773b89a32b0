/* tests/unit/test_smtp_dsn.c: delivery status notifications (smtp_dsn.c):
 * the RFC 3464 parts and fields, what RET returns, the header section
 * found across any chunking of the original, and remote text that cannot
 * break out of its field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "smtp/smtp_dsn.h"

struct src {
	const char *data;
	size_t chunk;       /* largest piece one read returns */
	int fail_at;        /* read number that fails, -1 none */
	int reads;
};

static int src_read(void *arg, uint64_t off, void *buf, size_t cap, size_t *got)
{
	struct src *s = arg;
	if (s->reads++ == s->fail_at)
		return -1;
	size_t len = strlen(s->data);
	size_t n = off < len ? len - (size_t)off : 0;
	if (n > cap)
		n = cap;
	if (n > s->chunk)
		n = s->chunk;
	memcpy(buf, s->data + off, n);
	*got = n;
	return 0;
}

static const char ORIG[] = "From: a@here.example\r\nSubject: hello\r\n\r\nthe body\r\nline 2\r\n";

static char *build(struct smtp_dsn *d)
{
	struct buf b;
	buf_init(&b, 0);
	if (smtp_dsn_build(d, &b) != 0) {
		buf_free(&b);
		return NULL;
	}
	buf_putc(&b, '\0');
	char *s = strndup(b.data, b.len);
	buf_free(&b);
	return s;
}

static struct smtp_dsn base(struct src *src, const struct smtp_dsn_rcpt *r, size_t n)
{
	return (struct smtp_dsn){
		.reporting_mta = "mx.here.example", .from = "MAILER-DAEMON@mx.here.example",
		.to = "a@here.example", .envid = "ENV1", .arrival = 1700000000, .now = 1700000600,
		.retry_until = 1700432000, .full_max = 1 << 20, .rcpts = r, .nrcpts = n,
		.read = src_read, .read_arg = src, .size = strlen(ORIG), .unique = 0xabc,
	};
}

static void test_failure_notice(void **state)
{
	(void)state;
	struct src src = {ORIG, 1 << 20, -1, 0};
	struct smtp_dsn_rcpt r[] = {
		{.address = "x@far.example", .orcpt = "rfc822;x@far.example",
		 .action = SMTP_DSN_FAILED, .status = "5.1.1", .remote_mta = "mx.far.example",
		 .diagnostic = "550 5.1.1 no such user", .last_attempt = 1700000500},
	};
	struct smtp_dsn d = base(&src, r, 1);
	char *m = build(&d);
	assert_non_null(m);
	assert_non_null(strstr(m, "To: <a@here.example>\r\n"));
	assert_non_null(strstr(m, "Subject: Undelivered Mail Returned to Sender\r\n"));
	assert_non_null(strstr(m, "Content-Type: multipart/report; report-type=delivery-status;"));
	assert_non_null(strstr(m, "Reporting-MTA: dns; mx.here.example\r\n"));
	assert_non_null(strstr(m, "Original-Envelope-Id: ENV1\r\n"));
	assert_non_null(strstr(m, "Original-Recipient: rfc822;x@far.example\r\n"));
	assert_non_null(strstr(m, "Final-Recipient: rfc822; x@far.example\r\nAction: failed\r\n"
				  "Status: 5.1.1\r\nRemote-MTA: dns; mx.far.example\r\n"
				  "Diagnostic-Code: smtp; 550 5.1.1 no such user\r\n"));
	/* The default for a small failed message: all of it comes back. */
	assert_non_null(strstr(m, "Content-Type: message/rfc822\r\n\r\n"
				  "From: a@here.example\r\nSubject: hello\r\n\r\nthe body\r\nline 2\r\n"));
	assert_non_null(strstr(m, "\r\n--=_postino_dsn_0000000000000abc--\r\n"));
	free(m);
}

static void test_ret_hdrs_any_chunking(void **state)
{
	(void)state;
	struct smtp_dsn_rcpt r[] = {{.address = "x@far.example", .action = SMTP_DSN_FAILED}};
	for (size_t chunk = 1; chunk < sizeof(ORIG); chunk++) {
		struct src src = {ORIG, chunk, -1, 0};
		struct smtp_dsn d = base(&src, r, 1);
		d.ret = SMTP_DSN_RETURN_HDRS;
		char *m = build(&d);
		assert_non_null(m);
		assert_non_null(strstr(m, "Content-Type: text/rfc822-headers\r\n\r\n"
					  "From: a@here.example\r\nSubject: hello\r\n\r\n\r\n--"));
		assert_null(strstr(m, "the body"));
		assert_non_null(strstr(m, "Status: 5.0.0\r\n"));
		free(m);
	}
}

static void test_delay_and_success(void **state)
{
	(void)state;
	struct src src = {ORIG, 7, -1, 0};
	struct smtp_dsn_rcpt r[] = {
		{.address = "x@far.example", .action = SMTP_DSN_DELAYED, .status = "4.4.1",
		 .diagnostic = "connection refused"},
	};
	struct smtp_dsn d = base(&src, r, 1);
	d.ret = SMTP_DSN_RETURN_FULL;   /* applies to failures only */
	char *m = build(&d);
	assert_non_null(strstr(m, "Subject: Delayed Mail (still being retried)\r\n"));
	assert_non_null(strstr(m, "Action: delayed\r\nStatus: 4.4.1\r\n"));
	assert_non_null(strstr(m, "Will-Retry-Until: "));
	assert_non_null(strstr(m, "text/rfc822-headers"));
	assert_null(strstr(m, "the body"));
	free(m);
	struct smtp_dsn_rcpt ok[] = {{.address = "y@far.example", .action = SMTP_DSN_DELIVERED}};
	d = base(&src, ok, 1);
	src.reads = 0;
	m = build(&d);
	assert_non_null(strstr(m, "Subject: Successful Mail Delivery Report\r\n"));
	assert_non_null(strstr(m, "Action: delivered\r\nStatus: 2.0.0\r\n"));
	free(m);
}

/* A reply with CR LF in it (a hostile server) cannot add fields. */
static void test_hostile_text(void **state)
{
	(void)state;
	struct src src = {ORIG, 100, -1, 0};
	struct smtp_dsn_rcpt r[] = {
		{.address = "x@far.example", .action = SMTP_DSN_FAILED,
		 .diagnostic = "550 no\r\nAction: delivered\r\nX: y", .remote_mta = "h\r\nBcc: z"},
	};
	struct smtp_dsn d = base(&src, r, 1);
	char *m = build(&d);
	assert_null(strstr(m, "\r\nAction: delivered"));
	assert_null(strstr(m, "\r\nBcc:"));
	assert_non_null(strstr(m, "Diagnostic-Code: smtp; 550 no  Action: delivered  X: y\r\n"));
	free(m);
	/* A read failure fails the build. */
	src = (struct src){ORIG, 100, 0, 0};
	d = base(&src, r, 1);
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(smtp_dsn_build(&d, &b), -1);
	buf_free(&b);
}

/* RFC 6533: a notice about an SMTPUTF8 message, or naming a UTF-8
 * address, is a global one; ASCII notices stay RFC 3464 exactly. */
static void test_global_notice(void **state)
{
	(void)state;
	static const char U8[] = "From: j\xc3\xb6rg@here.example\r\nSubject: gr\xc3\xbc\xc3\x9f"
				 "e\r\n\r\nbody\r\n";
	struct src src = {U8, 1 << 20, -1, 0};
	struct smtp_dsn_rcpt r[] = {
		{.address = "\xd0\xb4\xd1\x80\xd1\x83\xd0\xb3@far.example",
		 .orcpt = "utf-8;\xd0\xb4\xd1\x80\xd1\x83\xd0\xb3@far.example",
		 .action = SMTP_DSN_FAILED, .status = "5.1.1", .diagnostic = "550 5.1.1 unknown"},
		{.address = "plain@far.example", .action = SMTP_DSN_FAILED, .status = "5.1.1"},
	};
	struct smtp_dsn d = base(&src, r, 2);
	d.size = strlen(U8);
	d.to = "j\xc3\xb6rg@here.example";
	d.utf8 = true;
	assert_true(smtp_dsn_is_global(&d));
	char *m = build(&d);
	assert_non_null(m);
	assert_non_null(strstr(m, "Content-Type: multipart/report; report-type=global-delivery-status;"));
	assert_non_null(strstr(m, "Content-Type: message/global-delivery-status\r\n\r\n"));
	assert_non_null(strstr(m, "Original-Recipient: utf-8;\xd0\xb4\xd1\x80\xd1\x83\xd0\xb3@far.example\r\n"
				  "Final-Recipient: utf-8; \xd0\xb4\xd1\x80\xd1\x83\xd0\xb3@far.example\r\n"
				  "Action: failed\r\n"));
	/* An ASCII address keeps its rfc822 type, in a global notice too. */
	assert_non_null(strstr(m, "Final-Recipient: rfc822; plain@far.example\r\n"));
	assert_non_null(strstr(m, "Content-Type: message/global\r\n\r\nFrom: j\xc3\xb6rg@here.example"));
	assert_null(strstr(m, "message/rfc822"));
	assert_null(strstr(m, "message/delivery-status"));
	free(m);
	/* Headers only: message/global-headers. */
	d.ret = SMTP_DSN_RETURN_HDRS;
	m = build(&d);
	assert_non_null(strstr(m, "Content-Type: message/global-headers\r\n\r\nFrom: j\xc3\xb6rg"));
	free(m);
	/* Not SMTPUTF8 but a UTF-8 recipient: global as well. */
	d.utf8 = false;
	d.to = "a@here.example";
	assert_true(smtp_dsn_is_global(&d));
	/* All ASCII: the RFC 3464 notice. */
	struct smtp_dsn_rcpt a[] = {{.address = "x@far.example", .action = SMTP_DSN_FAILED}};
	d = base(&src, a, 1);
	assert_false(smtp_dsn_is_global(&d));
	m = build(&d);
	assert_non_null(strstr(m, "report-type=delivery-status;"));
	assert_non_null(strstr(m, "Content-Type: message/delivery-status\r\n"));
	assert_null(strstr(m, "global"));
	free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_failure_notice),
		cmocka_unit_test(test_ret_hdrs_any_chunking),
		cmocka_unit_test(test_delay_and_success),
		cmocka_unit_test(test_hostile_text),
		cmocka_unit_test(test_global_notice),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
