/* Unit tests for smtp/smtp_reply.c: single and multi-line replies, fed
 * whole and byte by byte, enhanced status codes, the bounds (line length,
 * line count, total size), malformed and inconsistent codes, and the EHLO
 * keywords. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp_reply.h"

/* Feed s whole; return the rc of the call that ended the reply (or the
 * last one), the consumed count of the input in *used. */
static enum smtp_reply_rc feed_whole(struct smtp_reply *r, const char *s, size_t n, size_t *used)
{
	return smtp_reply_parse(r, s, n, used);
}

/* Feed one byte more at a time, keeping the unconsumed tail as a client
 * would. */
static enum smtp_reply_rc feed_bytes(struct smtp_reply *r, const char *s, size_t n, size_t *used)
{
	size_t start = 0;
	enum smtp_reply_rc rc = SMTP_REPLY_MORE;
	for (size_t end = 1; end <= n; end++) {
		size_t c;
		rc = smtp_reply_parse(r, s + start, end - start, &c);
		start += c;
		if (rc != SMTP_REPLY_MORE)
			break;
	}
	*used = start;
	return rc;
}

typedef enum smtp_reply_rc (*feeder)(struct smtp_reply *, const char *, size_t, size_t *);
static const feeder feeders[] = { feed_whole, feed_bytes };

static void test_single_line(void **state)
{
	(void)state;
	for (size_t f = 0; f < 2; f++) {
		struct smtp_reply r;
		smtp_reply_init(&r);
		const char s[] = "250 2.1.0 Sender ok\r\n";
		size_t used;
		assert_int_equal(feeders[f](&r, s, sizeof(s) - 1, &used), SMTP_REPLY_DONE);
		assert_int_equal(used, sizeof(s) - 1);
		assert_int_equal(r.code, 250);
		assert_string_equal(r.status, "2.1.0");
		assert_int_equal(r.nlines, 1);
		assert_string_equal(smtp_reply_line(&r, 0), "Sender ok");
		smtp_reply_free(&r);
	}
}

static void test_multi_line_and_next(void **state)
{
	(void)state;
	for (size_t f = 0; f < 2; f++) {
		struct smtp_reply r;
		smtp_reply_init(&r);
		const char s[] = "550-5.1.1 The user\r\n550-5.1.1 does not\n550 5.1.1 exist\r\n354 go\r\n";
		size_t used;
		assert_int_equal(feeders[f](&r, s, sizeof(s) - 1, &used), SMTP_REPLY_DONE);
		assert_int_equal(r.code, 550);
		assert_int_equal(r.nlines, 3);
		char one[512];
		smtp_reply_text_oneline(&r, one, sizeof(one));
		assert_string_equal(one, "The user does not exist");
		size_t used2;
		assert_int_equal(feeders[f](&r, s + used, sizeof(s) - 1 - used, &used2),
				 SMTP_REPLY_DONE);
		assert_int_equal(r.code, 354);
		assert_string_equal(r.status, "");
		assert_string_equal(smtp_reply_line(&r, 0), "go");
		smtp_reply_free(&r);
	}
}

static void test_bare_code_and_status_forms(void **state)
{
	(void)state;
	struct smtp_reply r;
	size_t used;
	smtp_reply_init(&r);
	assert_int_equal(smtp_reply_parse(&r, "250\r\n", 5, &used), SMTP_REPLY_DONE);
	assert_int_equal(r.code, 250);
	assert_string_equal(smtp_reply_line(&r, 0), "");
	/* Class must match the code; otherwise it is text. */
	assert_int_equal(smtp_reply_parse(&r, "250 5.1.1 x\r\n", 13, &used), SMTP_REPLY_DONE);
	assert_string_equal(r.status, "");
	assert_string_equal(smtp_reply_line(&r, 0), "5.1.1 x");
	/* Four digits are not a detail. */
	assert_int_equal(smtp_reply_parse(&r, "450 4.2.1000 x\r\n", 16, &used), SMTP_REPLY_DONE);
	assert_string_equal(r.status, "");
	assert_int_equal(smtp_reply_parse(&r, "452 4.3.10\r\n", 12, &used), SMTP_REPLY_DONE);
	assert_string_equal(r.status, "4.3.10");
	assert_string_equal(smtp_reply_line(&r, 0), "");
	smtp_reply_free(&r);
}

static void expect_error(const char *s, size_t n, const char *why)
{
	for (size_t f = 0; f < 2; f++) {
		struct smtp_reply r;
		smtp_reply_init(&r);
		size_t used;
		assert_int_equal(feeders[f](&r, s, n, &used), SMTP_REPLY_ERROR);
		assert_non_null(strstr(r.err, why));
		smtp_reply_free(&r);
	}
}

static void test_malformed(void **state)
{
	(void)state;
	expect_error("hello\r\n", 7, "malformed");
	expect_error("25\r\n", 4, "malformed");
	expect_error("2500 x\r\n", 8, "malformed");
	expect_error("650 x\r\n", 7, "malformed");
	expect_error("190 x\r\n", 7, "malformed");
	expect_error("260 x\r\n", 7, "malformed");
	expect_error("250_x\r\n", 7, "malformed");
	expect_error("250-a\r\n251 b\r\n", 14, "changes");
	expect_error("250 a\0b\r\n", 9, "NUL");
}

static void test_bounds(void **state)
{
	(void)state;
	/* A line of exactly the maximum is fine, one more is not. */
	size_t n = SMTP_REPLY_LINE_MAX + 2;
	char *s = malloc(n + 2);
	memcpy(s, "250 ", 4);
	memset(s + 4, 'x', n - 4);
	memcpy(s + SMTP_REPLY_LINE_MAX, "\r\n", 2);
	struct smtp_reply r;
	size_t used;
	smtp_reply_init(&r);
	assert_int_equal(smtp_reply_parse(&r, s, SMTP_REPLY_LINE_MAX + 2, &used), SMTP_REPLY_DONE);
	smtp_reply_free(&r);
	memset(s + 4, 'x', n - 4);
	memcpy(s + SMTP_REPLY_LINE_MAX + 1, "\r\n", 2);
	expect_error(s, SMTP_REPLY_LINE_MAX + 3, "too long");
	/* No end of line at all: an error as soon as the line cannot fit. */
	memset(s + 4, 'x', n - 2);
	expect_error(s, n + 2, "too long");
	free(s);

	/* Endless continuation lines: stopped at the line count. */
	size_t lines = SMTP_REPLY_LINES_MAX + 1;
	char *m = malloc(lines * 8 + 1);
	for (size_t i = 0; i < lines; i++)
		memcpy(m + i * 8, "250-abc\n", 8);
	expect_error(m, lines * 8, "too many lines");
	free(m);

	/* Long lines: stopped at the byte total before the line count. */
	size_t ln = 2000;
	size_t count = SMTP_REPLY_BYTES_MAX / ln + 1;
	char *big = malloc(count * ln);
	for (size_t i = 0; i < count; i++) {
		memset(big + i * ln, 'y', ln);
		memcpy(big + i * ln, "250-", 4);
		memcpy(big + i * ln + ln - 2, "\r\n", 2);
	}
	expect_error(big, count * ln, "too long");
	free(big);
}

static void test_incomplete_is_more(void **state)
{
	(void)state;
	struct smtp_reply r;
	size_t used;
	smtp_reply_init(&r);
	assert_int_equal(smtp_reply_parse(&r, "250-a\r\n250 b", 12, &used), SMTP_REPLY_MORE);
	assert_int_equal(used, 7);
	assert_int_equal(smtp_reply_parse(&r, "250 b\r\n", 7, &used), SMTP_REPLY_DONE);
	assert_int_equal(r.nlines, 2);
	smtp_reply_free(&r);
}

static void test_oneline_replaces_controls(void **state)
{
	(void)state;
	struct smtp_reply r;
	size_t used;
	smtp_reply_init(&r);
	const char s[] = "421 bye\x1b[31m \xc3\xa9\r\n";
	assert_int_equal(smtp_reply_parse(&r, s, sizeof(s) - 1, &used), SMTP_REPLY_DONE);
	char one[8];
	smtp_reply_text_oneline(&r, one, sizeof(one));
	assert_string_equal(one, "bye?[31");
	smtp_reply_free(&r);
}

static void test_ehlo_keywords(void **state)
{
	(void)state;
	const char s[] = "250-mx.example.org hello\r\n"
			 "250-pipelining\r\n"
			 "250-SIZE 10240000\r\n"
			 "250-8BITMIME\r\n"
			 "250-SMTPUTF8\r\n"
			 "250-STARTTLS\r\n"
			 "250-AUTH CRAM-MD5 LOGIN PLAIN\r\n"
			 "250-DSN\r\n"
			 "250-CHUNKING\r\n"
			 "250-STARTTLSX\r\n"
			 "250 ENHANCEDSTATUSCODES\r\n";
	struct smtp_reply r;
	size_t used;
	smtp_reply_init(&r);
	assert_int_equal(smtp_reply_parse(&r, s, sizeof(s) - 1, &used), SMTP_REPLY_DONE);
	struct smtp_ehlo e;
	smtp_ehlo_parse(&r, &e);
	assert_int_equal(e.ext, SMTP_EXT_PIPELINING | SMTP_EXT_SIZE | SMTP_EXT_8BITMIME |
					SMTP_EXT_SMTPUTF8 | SMTP_EXT_STARTTLS | SMTP_EXT_AUTH |
					SMTP_EXT_DSN | SMTP_EXT_CHUNKING |
					SMTP_EXT_ENHANCEDSTATUSCODES);
	assert_int_equal(e.size_max, 10240000);
	assert_int_equal(e.auth, SMTP_AUTH_PLAIN | SMTP_AUTH_LOGIN);

	/* The greeting line is not a keyword; SIZE alone means no limit. */
	const char t[] = "250-STARTTLS\r\n250 SIZE\r\n";
	assert_int_equal(smtp_reply_parse(&r, t, sizeof(t) - 1, &used), SMTP_REPLY_DONE);
	smtp_ehlo_parse(&r, &e);
	assert_int_equal(e.ext, SMTP_EXT_SIZE);
	assert_int_equal(e.size_max, 0);
	smtp_reply_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_line),
		cmocka_unit_test(test_multi_line_and_next),
		cmocka_unit_test(test_bare_code_and_status_forms),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_incomplete_is_more),
		cmocka_unit_test(test_oneline_replaces_controls),
		cmocka_unit_test(test_ehlo_keywords),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
