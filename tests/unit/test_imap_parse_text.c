/* Unit tests for the pure helpers of imap_parse_lib: argument views
 * (imap_parse_arg.c), dates and date-times (imap_parse_date.c), mailbox
 * names, UTF-8 and modified UTF-7 (imap_parse_mailbox.c), and
 * response-side string quoting (imap_parse_write.c), checked to parse back
 * through the reader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "imap/imap_parse.h"

/* Parse one command whose literals are all present in `in`. */
static struct imap_command *parse_whole(const char *in, size_t len)
{
	struct imap_parse_limits lim;
	imap_parse_limits_default(&lim);
	struct imap_parser *p = imap_parser_new(&lim);
	size_t pos = 0;
	enum imap_parse_status st = IMAP_PARSE_NEED_LINE;
	while (pos < len && st != IMAP_PARSE_DONE && st != IMAP_PARSE_ERROR) {
		const char *eol = memmem(in + pos, len - pos, "\r\n", 2);
		size_t ll = eol ? (size_t)(eol - (in + pos)) : len - pos;
		st = imap_parser_feed_line(p, in + pos, ll);
		pos += ll + (eol ? 2 : 0);
		if (st == IMAP_PARSE_NEED_LITERAL) {
			size_t n = (size_t)imap_parser_literal(p)->size, used;
			assert_true(n <= len - pos);
			st = imap_parser_feed_literal(p, in + pos, n, &used);
			pos += used;
		}
	}
	assert_int_equal(st, IMAP_PARSE_DONE);
	struct imap_command *cmd = imap_parser_take(p);
	imap_parser_free(&p);
	return cmd;
}

/* ---- argument helpers ---- */

static void test_arg_helpers(void **state)
{
	static const char in[] = "T X abc a*b a]b 4294967295 4294967296 007 0 NIL \"q\" "
	                         "{3}\r\na\rb ~{1}\r\nx iNbOx *%\r\n";
	struct imap_command *c = parse_whole(in, sizeof(in) - 1);
	const struct imap_arg *a = c->args;
	struct imap_string s;
	const char *err;
	uint64_t v;
	assert_int_equal(imap_arg_atom(&a[0], &s, &err), 0);
	assert_string_equal(s.s, "abc");
	assert_int_equal(imap_arg_atom(&a[1], &s, &err), -1);
	assert_string_equal(err, "Invalid character in an atom");
	assert_int_equal(imap_arg_astring(&a[1], &s, &err), -1);
	assert_string_equal(err, "Invalid character in an atom (quote the string)");
	assert_int_equal(imap_arg_atom(&a[2], &s, &err), -1);   /* ']' is not an ATOM-CHAR */
	assert_int_equal(imap_arg_astring(&a[2], &s, &err), 0); /* but an ASTRING-CHAR */
	assert_int_equal(imap_arg_number(&a[3], UINT32_MAX, true, &v, &err), 0);
	assert_int_equal(v, 4294967295u);
	assert_int_equal(imap_arg_number(&a[4], UINT32_MAX, false, &v, &err), -1);
	assert_string_equal(err, "Number out of range");
	assert_int_equal(imap_arg_number(&a[5], UINT32_MAX, false, &v, &err), 0);
	assert_int_equal(v, 7);
	assert_int_equal(imap_arg_number(&a[5], UINT32_MAX, true, &v, &err), -1);
	assert_string_equal(err, "Expected a non-zero number without leading zeros");
	assert_int_equal(imap_arg_number(&a[6], UINT32_MAX, true, &v, &err), -1);
	assert_int_equal(imap_arg_number(&a[0], UINT32_MAX, false, &v, &err), -1);
	assert_string_equal(err, "Expected a number");
	assert_int_equal(imap_arg_nstring(&a[7], &s, &err), 0);
	assert_null(s.s);
	assert_int_equal(imap_arg_astring(&a[7], &s, &err), 0); /* a mailbox may be called NIL */
	assert_string_equal(s.s, "NIL");
	assert_int_equal(imap_arg_string(&a[7], &s, &err), -1);
	assert_int_equal(imap_arg_string(&a[8], &s, &err), 0);
	assert_int_equal(imap_arg_string(&a[0], &s, &err), -1);
	assert_string_equal(err, "Expected a string");
	assert_int_equal(imap_arg_astring(&a[9], &s, &err), 0);
	assert_int_equal(s.len, 3);
	/* A literal holding CR is a string all the same: the name is refused
	 * later, by imap_mailbox_decode (a NO, not a BAD). */
	assert_int_equal(imap_arg_mailbox(&a[9], &s, &err), 0);
	assert_int_equal(s.len, 3);
	assert_int_equal(imap_arg_astring(&a[10], &s, &err), -1);
	assert_string_equal(err, "literal8 is not allowed here");
	assert_int_equal(imap_arg_mailbox(&a[11], &s, &err), 0);
	assert_string_equal(s.s, "INBOX");
	assert_int_equal(imap_arg_mailbox(&a[12], &s, &err), -1);
	assert_int_equal(imap_arg_list_mailbox(&a[12], &s, &err), 0);
	assert_int_equal(imap_arg_list_mailbox(&a[8], &s, &err), 0);
	assert_true(imap_arg_is_word(&a[11], "INBOX"));
	assert_false(imap_arg_is_word(&a[8], "Q"));
	imap_command_free(&c);
}

/* ---- dates ---- */

static void date_bad(const char *s, const char *want)
{
	struct imap_date d;
	const char *err = NULL;
	assert_int_equal(imap_date_parse(s, strlen(s), &d, &err), -1);
	assert_string_equal(err, want);
}

static void test_dates(void **state)
{
	struct imap_date d;
	const char *err;
	assert_int_equal(imap_date_parse("1-Feb-1994", 10, &d, &err), 0);
	assert_int_equal(d.year, 1994);
	assert_int_equal(d.month, 2);
	assert_int_equal(d.day, 1);
	assert_int_equal(imap_date_parse("01-fEB-1994", 11, &d, &err), 0);
	assert_int_equal(d.day, 1);
	assert_int_equal(imap_date_parse("29-Feb-2024", 11, &d, &err), 0);
	assert_int_equal(imap_date_to_time(&d), 1709164800);
	assert_int_equal(imap_date_parse("29-Feb-2000", 11, &d, &err), 0);
	assert_int_equal(imap_date_parse("31-Dec-9999", 11, &d, &err), 0);
	assert_int_equal(imap_date_parse("1-Jan-1970", 10, &d, &err), 0);
	assert_int_equal(imap_date_to_time(&d), 0);
	assert_int_equal(imap_date_parse("2-Jan-1970", 10, &d, &err), 0);
	assert_int_equal(imap_date_to_time(&d), 86400);
	date_bad("29-Feb-2023", "Invalid day of month in date");
	date_bad("29-Feb-1900", "Invalid day of month in date");
	date_bad("31-Apr-2020", "Invalid day of month in date");
	date_bad("32-Jan-2020", "Invalid day of month in date");
	date_bad("0-Jan-2020", "Invalid day of month in date");
	date_bad("1-Foo-2020", "Invalid month in date");
	date_bad("1-Jan-0000", "Invalid year in date");
	date_bad("1-Jan-20", "Invalid date (expected d-Mon-yyyy)");
	date_bad("123-Jan-2020", "Invalid date (expected d-Mon-yyyy)");
	date_bad("1 Jan 2020", "Invalid date (expected d-Mon-yyyy)");
	date_bad("1-Jan-2020x", "Invalid date (expected d-Mon-yyyy)");
	date_bad("a-Jan-2020", "Invalid date (expected d-Mon-yyyy)");
	date_bad("", "Invalid date (expected d-Mon-yyyy)");
}

static void test_datetime(void **state)
{
	time_t t;
	int zone;
	const char *err;
	const char *s = "17-Jul-1996 02:44:25 -0700";
	assert_int_equal(imap_datetime_parse(s, strlen(s), &t, &zone, &err), 0);
	assert_int_equal(t, 837596665);
	assert_int_equal(zone, -420);
	s = " 7-Jul-1996 09:44:25 +0000";
	assert_int_equal(imap_datetime_parse(s, strlen(s), &t, &zone, &err), 0);
	assert_int_equal(t, 837596665 - 10 * 86400);
	s = "7-Jul-1996 11:14:25 +0130";
	assert_int_equal(imap_datetime_parse(s, strlen(s), &t, &zone, &err), 0);
	assert_int_equal(t, 837596665 - 10 * 86400);
	assert_int_equal(zone, 90);
	static const struct {
		const char *in, *err;
	} bad[] = {
		{ "17-Jul-1996 24:00:00 +0000", "Invalid time in date-time" },
		{ "17-Jul-1996 02:60:00 +0000", "Invalid time in date-time" },
		{ "17-Jul-1996 02:44:25 +2460", "Invalid zone in date-time" },
		{ "17-Jul-1996 02:44:25 0700", "Invalid date-time (expected \"dd-Mon-yyyy hh:mm:ss +zzzz\")" },
		{ "17-Jul-1996 02:44:25 *0700", "Invalid zone in date-time" },
		{ "29-Feb-2023 02:44:25 +0000", "Invalid day of month in date" },
		{ "17-Jul-1996", "Invalid date-time (expected \"dd-Mon-yyyy hh:mm:ss +zzzz\")" },
		{ "  7-Jul-1996 02:44:25 +0000", "Invalid date-time (expected \"dd-Mon-yyyy hh:mm:ss +zzzz\")" },
		{ " 17-Jul-1996 02:44:25 +0000", "Invalid date-time (expected \"dd-Mon-yyyy hh:mm:ss +zzzz\")" },
		{ "17-Jul-1996T02:44:25 +0000", "Invalid date-time (expected \"dd-Mon-yyyy hh:mm:ss +zzzz\")" },
		{ "17-Jul-1996 02-44-25 +0000", "Invalid time in date-time" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = NULL;
		assert_int_equal(imap_datetime_parse(bad[i].in, strlen(bad[i].in), &t, &zone, &err), -1);
		assert_string_equal(err, bad[i].err);
	}
}

/* ---- mailbox names ---- */

static void test_mailbox_names(void **state)
{
	assert_true(imap_mailbox_is_inbox("iNbOx", 5));
	assert_false(imap_mailbox_is_inbox("INBOX2", 6));
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(imap_mailbox_normalize(&b, "inbox", 5, '/'), 0);
	assert_string_equal(b.data, "INBOX");
	buf_reset(&b);
	assert_int_equal(imap_mailbox_normalize(&b, "Inbox/Sub", 9, '/'), 0);
	assert_string_equal(b.data, "INBOX/Sub");
	buf_reset(&b);
	assert_int_equal(imap_mailbox_normalize(&b, "Inbox/Sub", 9, 0), 0);
	assert_string_equal(b.data, "Inbox/Sub");
	buf_reset(&b);
	assert_int_equal(imap_mailbox_normalize(&b, "Inboxes", 7, '/'), 0);
	assert_string_equal(b.data, "Inboxes");
	buf_reset(&b);

	assert_true(imap_utf8_valid("caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80", 14));
	assert_false(imap_utf8_valid("\xc0\xaf", 2));         /* overlong */
	assert_false(imap_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
	assert_false(imap_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
	assert_false(imap_utf8_valid("\xe6\x97", 2));         /* truncated */
	assert_false(imap_utf8_valid("\x80", 1));

	/* RFC 3501 5.1.3 example */
	const char *err = NULL;
	const char *m = "~peter/mail/&U,BTFw-/&ZeVnLIqe-";
	assert_int_equal(imap_mutf7_decode(&b, m, strlen(m), &err), 0);
	assert_string_equal(b.data, "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e");
	struct buf e;
	buf_init(&e, 0);
	assert_int_equal(imap_mutf7_encode(&e, b.data, b.len), 0);
	assert_string_equal(e.data, m);
	buf_reset(&b);
	buf_reset(&e);
	assert_int_equal(imap_mutf7_decode(&b, "a&-b", 4, &err), 0);
	assert_string_equal(b.data, "a&b");
	assert_int_equal(imap_mutf7_encode(&e, "a&b \xf0\x9f\x98\x80", 8), 0);
	assert_string_equal(e.data, "a&-b &2D3eAA-");
	buf_reset(&b);
	assert_int_equal(imap_mutf7_decode(&b, e.data, e.len, &err), 0);
	assert_string_equal(b.data, "a&b \xf0\x9f\x98\x80");
	buf_reset(&e);
	assert_int_equal(imap_mutf7_encode(&e, "\xc0\xaf", 2), -1);
	buf_reset(&b);
	buf_reset(&e);
	assert_int_equal(imap_mutf7_decode(&b, "caf&AOk-", 8, &err), 0);
	assert_string_equal(b.data, "caf\xc3\xa9");
	assert_int_equal(imap_mutf7_encode(&e, b.data, b.len), 0);
	assert_string_equal(e.data, "caf&AOk-");
	static const struct {
		const char *in, *err;
	} bad[] = {
		{ "&U,BTFw", "Unterminated modified BASE64 run" },
		{ "&AGE-", "Modified UTF-7 encodes a printable ASCII character or NUL" },
		{ "&U,BTFw-&ZeVnLIqe-", "Adjacent modified BASE64 runs must be merged" },
		{ "&U/BTFw-", "Invalid character in modified BASE64" },
		{ "&U,BTFx-", "Invalid padding in modified BASE64" },
		{ "&U,B-", "Invalid padding in modified BASE64" },
		{ "&2D0-", "Unpaired UTF-16 surrogate in modified UTF-7" },
		{ "&3gA-", "Unpaired UTF-16 surrogate in modified UTF-7" },
		{ "&2D0AYQ-", "Unpaired UTF-16 surrogate in modified UTF-7" },
		{ "caf\xc3\xa9", "Invalid character in a modified UTF-7 name" },
		{ "a\tb", "Invalid character in a modified UTF-7 name" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf_reset(&b);
		err = NULL;
		assert_int_equal(imap_mutf7_decode(&b, bad[i].in, strlen(bad[i].in), &err), -1);
		assert_string_equal(err, bad[i].err);
	}

	/* what reaches storage */
	buf_reset(&b);
	assert_int_equal(imap_mailbox_decode(&b, "&ZeVnLIqe-", 10, false, &err), 0);
	assert_string_equal(b.data, "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e");
	buf_reset(&b);
	assert_int_equal(imap_mailbox_decode(&b, "caf\xc3\xa9&x", 7, true, &err), 0);
	assert_string_equal(b.data, "caf\xc3\xa9&x");
	buf_reset(&b);
	assert_int_equal(imap_mailbox_decode(&b, "caf\xc3\xa9", 5, false, &err), -1);
	assert_int_equal(imap_mailbox_decode(&b, "a\xc2\x85", 3, true, &err), -1); /* C1 control */
	assert_string_equal(err, "Control character in a mailbox name");
	assert_int_equal(imap_mailbox_decode(&b, "a\xe2\x80\xa8", 4, true, &err), -1); /* U+2028 */
	assert_int_equal(imap_mailbox_decode(&b, "a\x01", 2, true, &err), -1);
	assert_int_equal(imap_mailbox_decode(&b, "a&AAE-", 6, false, &err), -1); /* U+0001 */
	assert_string_equal(err, "Control character in a mailbox name");
	assert_int_equal(imap_mailbox_decode(&b, "a\rb", 3, true, &err), -1);
	assert_string_equal(err, "Control character in a mailbox name");
	assert_int_equal(imap_mailbox_decode(&b, "a\nb", 3, false, &err), -1);
	assert_string_equal(err, "Invalid character in a modified UTF-7 name");
	assert_int_equal(imap_mailbox_decode(&b, "\xff", 1, true, &err), -1);
	assert_string_equal(err, "Mailbox name is not valid UTF-8");
	assert_int_equal(imap_mailbox_decode(&b, "", 0, true, &err), -1);
	assert_string_equal(err, "Empty mailbox name");
	buf_free(&b);
	buf_free(&e);
}

/* ---- the response side ---- */

static void write_is(int (*fn)(struct buf *, const char *, size_t), const char *s, size_t len,
                     const char *want, size_t wantlen)
{
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(fn(&b, s, len), 0);
	assert_int_equal(b.len, wantlen);
	assert_memory_equal(b.data, want, wantlen);
	buf_free(&b);
}

#define WRITE_IS(fn, s, want) write_is(fn, s, sizeof(s) - 1, want, sizeof(want) - 1)

/* VANISHED's uid-set (RFC 7162 3.2.10): runs become ranges, long sets
 * are cut into pieces that each fit max_len. */
static void test_write_uidset(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 0);
	static const uint32_t u[] = { 1, 2, 3, 5, 7, 8, 4294967294u, 4294967295u };
	assert_int_equal(imap_write_uidset(&b, u, 8, 1000), 8);
	assert_string_equal(b.data, "1:3,5,7:8,4294967294:4294967295");
	buf_reset(&b);
	assert_int_equal(imap_write_uidset(&b, u + 3, 1, 1000), 1);
	assert_string_equal(b.data, "5");
	buf_reset(&b);
	/* "1:3,5" is 5 octets: the next range would pass 6 */
	assert_int_equal(imap_write_uidset(&b, u, 8, 6), 4);
	assert_string_equal(b.data, "1:3,5");
	buf_reset(&b);
	/* one range always goes, whatever max_len */
	assert_int_equal(imap_write_uidset(&b, u + 6, 2, 1), 2);
	assert_string_equal(b.data, "4294967294:4294967295");
	buf_reset(&b);
	assert_int_equal(imap_write_uidset(&b, u, 0, 10), 0);
	assert_int_equal(b.len, 0);
	buf_free(&b);
	buf_init(&b, 2); /* a full buffer: nothing counted as written */
	assert_int_equal(imap_write_uidset(&b, u, 8, 1000), 0);
	buf_free(&b);
	/* pieces written one after another give back every UID, in order */
	uint32_t many[3000];
	for (size_t i = 0; i < 3000; i++)
		many[i] = (uint32_t)(i * 2 + 1);
	size_t done = 0, pieces = 0;
	while (done < 3000) {
		buf_init(&b, 0);
		size_t k = imap_write_uidset(&b, many + done, 3000 - done, 100);
		assert_true(k > 0 && b.len <= 100);
		buf_puts(&b, "\r\n");
		struct imap_seqset *set = NULL;
		const char *err = NULL;
		assert_int_equal(imap_seqset_parse(b.data, b.len - 2, 0, &set, &err), 0);
		assert_int_equal(set->count, k);
		for (size_t i = 0; i < k; i++)
			assert_int_equal(set->ranges[i].lo, many[done + i]);
		imap_seqset_free(&set);
		buf_free(&b);
		done += k;
		pieces++;
	}
	assert_true(pieces > 10);
}

static void test_write_strings(void **state)
{
	WRITE_IS(imap_write_astring, "INBOX", "INBOX");
	WRITE_IS(imap_write_astring, "a.b-c", "a.b-c");
	WRITE_IS(imap_write_astring, "NIL", "\"NIL\"");
	WRITE_IS(imap_write_astring, "nil", "\"nil\"");
	WRITE_IS(imap_write_astring, "", "\"\"");
	WRITE_IS(imap_write_astring, "a b", "\"a b\"");
	WRITE_IS(imap_write_astring, "a]b", "\"a]b\"");
	WRITE_IS(imap_write_astring, "%*", "\"%*\"");
	WRITE_IS(imap_write_astring, "a\"b\\c", "\"a\\\"b\\\\c\"");
	WRITE_IS(imap_write_astring, "caf\xc3\xa9", "{5}\r\ncaf\xc3\xa9");
	WRITE_IS(imap_write_astring, "a\r\nb", "{4}\r\na\r\nb");
	WRITE_IS(imap_write_string, "INBOX", "\"INBOX\"");
	WRITE_IS(imap_write_nstring, "x", "\"x\"");
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(imap_write_nstring(&b, NULL, 0), 0);
	assert_string_equal(b.data, "NIL");
	buf_reset(&b);
	assert_int_equal(imap_write_astring(&b, "a\0b", 3), -1);
	char big[2000];
	memset(big, 'x', sizeof(big));
	assert_int_equal(imap_write_astring(&b, big, sizeof(big)), 0);
	assert_memory_equal(b.data, "{2000}\r\nxxx", 11);
	assert_int_equal(b.len, 2008);
	buf_free(&b);
	buf_init(&b, 4); /* a full buffer is an error, not a crash */
	assert_int_equal(imap_write_astring(&b, "abcdef", 6), -1);
	buf_free(&b);
	/* what is written parses back to the same bytes */
	static const char *const samples[] = { "x", "a b", "q\"\\", "caf\xc3\xa9", "l1\r\nl2", "NIL", "" };
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		buf_init(&b, 0);
		buf_puts(&b, "T1 X ");
		assert_int_equal(imap_write_astring(&b, samples[i], strlen(samples[i])), 0);
		buf_puts(&b, "\r\n");
		struct imap_command *cmd = parse_whole(b.data, b.len);
		struct imap_string out;
		const char *err;
		assert_int_equal(imap_arg_astring(&cmd->args[0], &out, &err), 0);
		assert_int_equal(out.len, strlen(samples[i]));
		assert_memory_equal(out.s, samples[i], out.len);
		imap_command_free(&cmd);
		buf_free(&b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arg_helpers),
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_datetime),
		cmocka_unit_test(test_mailbox_names),
		cmocka_unit_test(test_write_strings),
		cmocka_unit_test(test_write_uidset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
