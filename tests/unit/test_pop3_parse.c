/* Unit tests for pop3/pop3_parse.c (command lines, numbers, the UIDL
 * format) and pop3/pop3_stuff.c (byte-stuffing, line ends and TOP, fed
 * whole, byte by byte, at every split point and in random chunks). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pop3/pop3_parse.h"
#include "pop3/pop3_stuff.h"

/* String literals with their length, so NUL bytes inside survive. */
#define L(s) (s), (sizeof(s) - 1)

static enum pop3_perr parse(const char *line, size_t len, struct pop3_cmd *c)
{
	/* Copy into an exact-size heap block so that ASan catches any read
	 * past `len`. */
	char *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	memcpy(copy, line, len);
	enum pop3_perr rc = pop3_parse_command(copy, len, c);
	/* Arguments must point inside the line. */
	for (unsigned i = 0; i < c->nargs; i++) {
		assert_true(c->arg[i] >= copy);
		assert_true(c->arg[i] + c->arg_len[i] <= copy + len);
		/* Rebase onto the caller's literal so tests can compare. */
		c->arg[i] = line + (c->arg[i] - copy);
	}
	free(copy);
	return rc;
}

static void assert_arg(const struct pop3_cmd *c, unsigned i, const char *s)
{
	assert_true(i < c->nargs);
	assert_int_equal(c->arg_len[i], strlen(s));
	assert_memory_equal(c->arg[i], s, strlen(s));
}

/* ---- command lines ---- */

static void test_every_verb(void **state)
{
	static const struct {
		const char *line;
		enum pop3_verb verb;
		unsigned nargs;
	} ok[] = {
		{"USER alice@example.org", POP3_VERB_USER, 1},
		{"PASS secret", POP3_VERB_PASS, 1},
		{"AUTH", POP3_VERB_AUTH, 0},
		{"AUTH PLAIN", POP3_VERB_AUTH, 1},
		{"AUTH PLAIN AGFsaWNlAHNlY3JldA==", POP3_VERB_AUTH, 2},
		{"STLS", POP3_VERB_STLS, 0},
		{"CAPA", POP3_VERB_CAPA, 0},
		{"STAT", POP3_VERB_STAT, 0},
		{"LIST", POP3_VERB_LIST, 0},
		{"LIST 3", POP3_VERB_LIST, 1},
		{"UIDL", POP3_VERB_UIDL, 0},
		{"UIDL 12", POP3_VERB_UIDL, 1},
		{"RETR 1", POP3_VERB_RETR, 1},
		{"TOP 1 10", POP3_VERB_TOP, 2},
		{"DELE 7", POP3_VERB_DELE, 1},
		{"RSET", POP3_VERB_RSET, 0},
		{"NOOP", POP3_VERB_NOOP, 0},
		{"QUIT", POP3_VERB_QUIT, 0},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct pop3_cmd c;
		assert_int_equal(parse(ok[i].line, strlen(ok[i].line), &c), POP3_P_OK);
		assert_int_equal(c.verb, ok[i].verb);
		assert_int_equal(c.nargs, ok[i].nargs);
	}
	/* The table names itself: every verb's name parses back to it. */
	for (int v = POP3_VERB_UNKNOWN + 1; v < POP3_VERB_COUNT; v++) {
		const struct pop3_verb_syntax *syn = &pop3_verb_syntax[v];
		size_t n = strlen(syn->name);
		assert_true(n >= 3 && n <= 4);
		assert_true(syn->min_args <= syn->max_args && syn->max_args <= POP3_MAX_ARGS);
		struct pop3_cmd c;
		enum pop3_perr rc = parse(syn->name, n, &c);
		assert_int_equal(c.verb, v);
		assert_int_equal(rc, syn->min_args ? POP3_P_ARITY : POP3_P_OK);
	}
}

static void test_arguments(void **state)
{
	struct pop3_cmd c;
	assert_int_equal(parse(L("USER alice@example.org"), &c), POP3_P_OK);
	assert_arg(&c, 0, "alice@example.org");
	assert_int_equal(parse(L("TOP 12 0"), &c), POP3_P_OK);
	assert_arg(&c, 0, "12");
	assert_arg(&c, 1, "0");
	assert_int_equal(c.num[0], 12);
	assert_int_equal(c.num[1], 0);
	assert_int_equal(parse(L("AUTH PLAIN =="), &c), POP3_P_OK);
	assert_arg(&c, 0, "PLAIN");
	assert_arg(&c, 1, "==");
	/* RFC 1939 7: PASS takes the rest of the line, spaces included. */
	assert_int_equal(parse(L("PASS correct horse  battery "), &c), POP3_P_OK);
	assert_int_equal(c.nargs, 1);
	assert_arg(&c, 0, "correct horse  battery ");
	/* UTF-8 reaches the login policy. */
	assert_int_equal(parse(L("PASS p\xc3\xa4ss"), &c), POP3_P_OK);
	assert_arg(&c, 0, "p\xc3\xa4ss");
	assert_int_equal(parse(L("USER j\xc3\xb6rg@example.org"), &c), POP3_P_OK);
	/* A line shorter than its buffer: nothing past len is read. */
	assert_int_equal(parse("RETR 12345", 6, &c), POP3_P_OK);
	assert_int_equal(c.num[0], 1);
}

static void test_case_insensitive(void **state)
{
	static const char *const lines[] = {"user bob", "User bob", "uSeR bob", "USER bob"};
	for (size_t i = 0; i < 4; i++) {
		struct pop3_cmd c;
		assert_int_equal(parse(lines[i], strlen(lines[i]), &c), POP3_P_OK);
		assert_int_equal(c.verb, POP3_VERB_USER);
		/* Arguments keep their case. */
		assert_arg(&c, 0, "bob");
	}
	struct pop3_cmd c;
	assert_int_equal(parse(L("top 1 2"), &c), POP3_P_OK);
	assert_int_equal(c.verb, POP3_VERB_TOP);
	assert_int_equal(parse(L("qUiT"), &c), POP3_P_OK);
	assert_int_equal(c.verb, POP3_VERB_QUIT);
	assert_int_equal(parse(L("stls"), &c), POP3_P_OK);
	assert_int_equal(c.verb, POP3_VERB_STLS);
}

static void test_unknown(void **state)
{
	static const struct {
		const char *s;
		size_t len;
	} bad[] = {
		{L("XYZZY")}, {L("APOP mrose c4c9334bac560ecc979e58001b3e22fb")},
		{L("STATS")}, {L("STA")}, {L(" STAT")}, {L("STAT\x00")}, {L("\x00")},
		{L("RETRIEVE 1")}, {L("RETR\t1")}, {L("ST\x00T")}, {L("\xff\xfe\xfd")},
		{L("LIST\r")}, {L("TO")}, {L("T")},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct pop3_cmd c;
		assert_int_equal(parse(bad[i].s, bad[i].len, &c), POP3_P_UNKNOWN);
		assert_int_equal(c.verb, POP3_VERB_UNKNOWN);
		assert_int_equal(c.nargs, 0);
	}
	struct pop3_cmd c;
	assert_int_equal(parse(L(""), &c), POP3_P_EMPTY);
}

static void test_arity(void **state)
{
	static const struct {
		const char *line;
		enum pop3_verb verb;
	} bad[] = {
		{"USER", POP3_VERB_USER},   {"USER a b", POP3_VERB_USER},
		{"PASS", POP3_VERB_PASS},   {"STAT 1", POP3_VERB_STAT},
		{"STLS x", POP3_VERB_STLS}, {"CAPA x", POP3_VERB_CAPA},
		{"LIST 1 2", POP3_VERB_LIST}, {"UIDL 1 2", POP3_VERB_UIDL},
		{"RETR", POP3_VERB_RETR},   {"RETR 1 2", POP3_VERB_RETR},
		{"TOP", POP3_VERB_TOP},     {"TOP 1", POP3_VERB_TOP},
		{"TOP 1 2 3", POP3_VERB_TOP}, {"DELE", POP3_VERB_DELE},
		{"DELE 1 2", POP3_VERB_DELE}, {"RSET now", POP3_VERB_RSET},
		{"NOOP x", POP3_VERB_NOOP}, {"QUIT now", POP3_VERB_QUIT},
		{"AUTH a b c", POP3_VERB_AUTH},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct pop3_cmd c;
		assert_int_equal(parse(bad[i].line, strlen(bad[i].line), &c), POP3_P_ARITY);
		/* The verb is known, so the session can check the state first. */
		assert_int_equal(c.verb, bad[i].verb);
	}
}

static void test_separators(void **state)
{
	/* RFC 1939 3: exactly one space between keyword and arguments. */
	static const char *const bad[] = {
		"STAT ", "LIST ", "RETR  1", "RETR 1 ", "TOP 1  2", "USER  bob", "USER bob ",
		"PASS ", "NOOP ",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct pop3_cmd c;
		assert_int_equal(parse(bad[i], strlen(bad[i]), &c), POP3_P_SYNTAX);
		assert_int_not_equal(c.verb, POP3_VERB_UNKNOWN);
	}
}

static void test_bad_chars(void **state)
{
	static const struct {
		const char *s;
		size_t len;
	} bad[] = {
		{L("USER a\x00" "b@example.org")}, {L("USER a\tb")}, {L("USER a\rb")},
		{L("USER a\x7f")}, {L("PASS a\x00")}, {L("PASS a\tb")}, {L("PASS \x1b[0m")},
		{L("RETR 1\x00")}, {L("TOP 1 \x00")}, {L("LIST \x01")},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct pop3_cmd c;
		assert_int_equal(parse(bad[i].s, bad[i].len, &c), POP3_P_BAD_CHAR);
	}
}

static void test_too_long(void **state)
{
	char line[5 + POP3_ARG_MAX + 2];
	memcpy(line, "USER ", 5);
	memset(line + 5, 'a', POP3_ARG_MAX + 1);
	struct pop3_cmd c;
	assert_int_equal(parse(line, 5 + POP3_ARG_MAX, &c), POP3_P_OK);
	assert_int_equal(c.arg_len[0], POP3_ARG_MAX);
	assert_int_equal(parse(line, 5 + POP3_ARG_MAX + 1, &c), POP3_P_TOO_LONG);
	memcpy(line, "PASS ", 5);
	assert_int_equal(parse(line, 5 + POP3_ARG_MAX, &c), POP3_P_OK);
	assert_int_equal(parse(line, 5 + POP3_ARG_MAX + 1, &c), POP3_P_TOO_LONG);
	memcpy(line, "RETR ", 5);
	memset(line + 5, '1', POP3_ARG_MAX + 1);
	assert_int_equal(parse(line, 5 + POP3_ARG_MAX + 1, &c), POP3_P_TOO_LONG);
}

static void test_numbers(void **state)
{
	static const char *const bad[] = {
		"RETR 0", "RETR -1", "RETR +1", "RETR 1x", "RETR x", "RETR 0x10", "RETR 1.0",
		"RETR 99999999999", "RETR 2147483648", "RETR 4294967297",
		"RETR 99999999999999999999999999999999", "LIST 0", "UIDL -0", "DELE 1e3",
		"TOP 0 1", "TOP 1 -1", "TOP 1 x", "TOP 1 2147483648", "LIST \xd9\xa1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct pop3_cmd c;
		assert_int_equal(parse(bad[i], strlen(bad[i]), &c), POP3_P_NUMBER);
		assert_int_not_equal(c.verb, POP3_VERB_UNKNOWN);
	}
	struct pop3_cmd c;
	assert_int_equal(parse(L("RETR 2147483647"), &c), POP3_P_OK);
	assert_int_equal(c.num[0], 2147483647u);
	assert_int_equal(parse(L("RETR 007"), &c), POP3_P_OK);
	assert_int_equal(c.num[0], 7);
	assert_int_equal(parse(L("TOP 3 00"), &c), POP3_P_OK);
	assert_int_equal(c.num[0], 3);
	assert_int_equal(c.num[1], 0);

	uint32_t v = 99;
	assert_int_equal(pop3_parse_number(L("0"), 0, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(pop3_parse_number(L("0"), 1, &v), -1);
	assert_int_equal(pop3_parse_number(L(""), 0, &v), -1);
	assert_int_equal(pop3_parse_number(L("214748364"), 1, &v), 0);
	assert_int_equal(v, 214748364u);
	assert_int_equal(pop3_parse_number(L("2147483647"), 1, &v), 0);
	assert_int_equal(pop3_parse_number(L("2147483650"), 1, &v), -1);
	assert_int_equal(pop3_parse_number(L("21474836470"), 1, &v), -1);
	assert_int_equal(pop3_parse_number(L("1 "), 1, &v), -1);
	assert_int_equal(pop3_parse_number(L(" 1"), 1, &v), -1);
	assert_int_equal(pop3_parse_number(L("1\x00"), 1, &v), -1);
	assert_int_equal(v, 2147483647u);   /* untouched by the failures */
}

static void test_perr_str(void **state)
{
	for (int e = POP3_P_OK; e <= POP3_P_NUMBER; e++)
		assert_true(strlen(pop3_perr_str((enum pop3_perr)e)) > 0);
	assert_string_equal(pop3_perr_str(POP3_P_NUMBER), "bad number");
}

static void test_random_lines(void **state)
{
	/* Random lines over an alphabet that hits every branch: nothing may
	 * crash or point outside the line, and numbers are in range. */
	static const char alpha[] = "RETOPLISDUAHNQCSTYretop 0123456789-+x\x00\t\x80";
	uint32_t x = 12345;
	for (int n = 0; n < 200000; n++) {
		char line[16];
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		size_t len = x % sizeof(line);
		for (size_t i = 0; i < len; i++) {
			x ^= x << 13, x ^= x >> 17, x ^= x << 5;
			line[i] = alpha[x % (sizeof(alpha) - 1)];
		}
		struct pop3_cmd c;
		enum pop3_perr rc = parse(line, len, &c);
		assert_true(c.nargs <= POP3_MAX_ARGS);
		if (rc == POP3_P_OK) {
			const struct pop3_verb_syntax *syn = &pop3_verb_syntax[c.verb];
			assert_int_not_equal(c.verb, POP3_VERB_UNKNOWN);
			assert_true(c.nargs >= syn->min_args && c.nargs <= syn->max_args);
			for (unsigned i = 0; i < c.nargs; i++) {
				assert_true(c.arg_len[i] > 0);
				if (syn->kind[i] != POP3_ARG_STRING)
					assert_true(c.num[i] <= POP3_NUM_MAX);
				if (syn->kind[i] == POP3_ARG_MSGNUM)
					assert_true(c.num[i] >= 1);
			}
		}
	}
}

/* ---- UIDL ---- */

static void test_uidl_format(void **state)
{
	char a[POP3_UIDL_MAX + 1], b[POP3_UIDL_MAX + 1];
	assert_int_equal(pop3_uidl_format(1, 2, a), 16);
	assert_string_equal(a, "0000000100000002");
	assert_int_equal(pop3_uidl_format(0xffffffffu, 0xfffffffeu, a), 16);
	assert_string_equal(a, "fffffffffffffffe");
	/* Stable: the same input gives the same id; unique: another UID or
	 * another UIDVALIDITY gives another. */
	pop3_uidl_format(1700000000u, 42, a);
	pop3_uidl_format(1700000000u, 42, b);
	assert_string_equal(a, b);
	pop3_uidl_format(1700000000u, 43, b);
	assert_string_not_equal(a, b);
	pop3_uidl_format(1700000001u, 42, b);
	assert_string_not_equal(a, b);
	/* RFC 1939 7: 1..70 characters in 0x21..0x7E. */
	for (size_t i = 0; a[i]; i++)
		assert_true(a[i] >= 0x21 && a[i] <= 0x7e);
}

/* ---- byte-stuffing and TOP ---- */

struct out {
	char *data;
	size_t len, cap;
};

static void out_add(struct out *o, const char *p, size_t n)
{
	if (n == 0)
		return;
	if (o->len + n > o->cap) {
		o->cap = (o->len + n) * 2 + 16;
		o->data = realloc(o->data, o->cap);
		assert_non_null(o->data);
	}
	memcpy(o->data + o->len, p, n);
	o->len += n;
}

/* Run the machine over `in`, in chunks of `chunk` bytes (0: whole), with
 * an output buffer of out_cap bytes (0: as large as the worst case). */
static struct out stuff_run(const char *in, size_t len, bool top, uint32_t lines, size_t chunk,
			    size_t out_cap)
{
	struct pop3_stuff st;
	pop3_stuff_init(&st, top, lines);
	struct out o = {0};
	size_t pos = 0;
	while (pos < len && !pop3_stuff_done(&st)) {
		size_t n = chunk && len - pos > chunk ? chunk : len - pos;
		/* An exact-size chunk copy, so ASan sees overreads. */
		char *piece = malloc(n);
		assert_non_null(piece);
		memcpy(piece, in + pos, n);
		size_t used = 0;
		while (used < n && !pop3_stuff_done(&st)) {
			size_t cap = out_cap ? out_cap : POP3_STUFF_EXPANSION * (n - used);
			char *buf = malloc(cap);
			assert_non_null(buf);
			size_t olen = 99999;
			size_t u = pop3_stuff_feed(&st, piece + used, n - used, buf, cap, &olen);
			assert_true(olen <= cap);
			assert_true(u <= n - used);
			if (cap >= POP3_STUFF_EXPANSION && !pop3_stuff_done(&st))
				assert_true(u > 0);   /* progress whenever a byte fits */
			out_add(&o, buf, olen);
			free(buf);
			used += u;
		}
		free(piece);
		pos += n;
	}
	char tail[POP3_STUFF_FINISH_MAX];
	size_t t = pop3_stuff_finish(&st, tail);
	assert_true(t >= 3 && t <= POP3_STUFF_FINISH_MAX);
	out_add(&o, tail, t);
	assert_int_equal(pop3_stuff_finish(&st, tail), 0);
	return o;
}

/* Every way of feeding must give `want`: whole, byte by byte, split at
 * every point, with a tiny output buffer. */
static void check_stuff(const char *in, size_t len, bool top, uint32_t lines, const char *want,
			size_t want_len)
{
	size_t chunks[] = {0, 1, 2, 3, 7};
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		struct out o = stuff_run(in, len, top, lines, chunks[i], 0);
		if (o.len != want_len || memcmp(o.data, want, want_len) != 0)
			fail_msg("chunk %zu: got \"%.*s\"", chunks[i], (int)o.len, o.data);
		free(o.data);
	}
	for (size_t cap = 2; cap <= 5; cap++) {
		struct out o = stuff_run(in, len, top, lines, 0, cap);
		assert_int_equal(o.len, want_len);
		assert_memory_equal(o.data, want, want_len);
		free(o.data);
	}
	for (size_t split = 0; split <= len; split++) {
		struct pop3_stuff st;
		pop3_stuff_init(&st, top, lines);
		char *buf = malloc(2 * len + POP3_STUFF_FINISH_MAX + 1);
		assert_non_null(buf);
		size_t o1 = 0, o2 = 0;
		size_t u1 = pop3_stuff_feed(&st, in, split, buf, 2 * split, &o1);
		size_t u2 = pop3_stuff_feed(&st, in + u1, len - u1, buf + o1, 2 * (len - u1), &o2);
		(void)u2;
		size_t t = pop3_stuff_finish(&st, buf + o1 + o2);
		assert_int_equal(o1 + o2 + t, want_len);
		assert_memory_equal(buf, want, want_len);
		free(buf);
	}
}

#define CHECK(in, top, lines, want) check_stuff(L(in), top, lines, L(want))

static void test_stuff_plain(void **state)
{
	CHECK("", false, 0, ".\r\n");
	CHECK("a\r\nb\r\n", false, 0, "a\r\nb\r\n.\r\n");
	CHECK("Subject: x\r\n\r\nhello\r\n", false, 0, "Subject: x\r\n\r\nhello\r\n.\r\n");
	/* a CR inside a line is data */
	CHECK("a\rb\r\n", false, 0, "a\rb\r\n.\r\n");
	/* NUL bytes pass through */
	CHECK("a\0b\r\n", false, 0, "a\0b\r\n.\r\n");
}

static void test_stuff_dots(void **state)
{
	/* RFC 1939 3: a line beginning with "." gets another. */
	CHECK(".hidden\r\n..two\r\n.\r\nx.y\r\n", false, 0,
	      "..hidden\r\n...two\r\n..\r\nx.y\r\n.\r\n");
	CHECK(".", false, 0, "..\r\n.\r\n");
	CHECK(".\r\n", false, 0, "..\r\n.\r\n");
	CHECK("a\r\n.\r\n", false, 0, "a\r\n..\r\n.\r\n");
	CHECK("a\n.\n", false, 0, "a\r\n..\r\n.\r\n");
	/* a dot after a bare CR is not at the start of a line */
	CHECK("a\r.b\r\n", false, 0, "a\r.b\r\n.\r\n");
	CHECK("\r\n.\r\n.", false, 0, "\r\n..\r\n..\r\n.\r\n");
}

static void test_stuff_line_ends(void **state)
{
	/* The stored message lacks its final CRLF: one is added before the
	 * terminating line. */
	CHECK("Subject: x\r\n\r\nbody", false, 0, "Subject: x\r\n\r\nbody\r\n.\r\n");
	CHECK("abc\r", false, 0, "abc\r\n.\r\n");
	CHECK("abc", false, 0, "abc\r\n.\r\n");
	/* bare LF becomes CRLF */
	CHECK("a\nb\n", false, 0, "a\r\nb\r\n.\r\n");
	CHECK("\n\n", false, 0, "\r\n\r\n.\r\n");
	CHECK("a\r\r\n", false, 0, "a\r\r\n.\r\n");
}

static const char msg[] = "From: a@example.org\r\n"
			  "Subject: top\r\n"
			  "\r\n"
			  "line 1\r\n"
			  ".line 2\r\n"
			  "line 3\r\n";

static void test_stuff_top(void **state)
{
	CHECK(msg, true, 0, "From: a@example.org\r\nSubject: top\r\n\r\n.\r\n");
	CHECK(msg, true, 1, "From: a@example.org\r\nSubject: top\r\n\r\nline 1\r\n.\r\n");
	CHECK(msg, true, 2,
	      "From: a@example.org\r\nSubject: top\r\n\r\nline 1\r\n..line 2\r\n.\r\n");
	CHECK(msg, true, 3,
	      "From: a@example.org\r\nSubject: top\r\n\r\nline 1\r\n..line 2\r\nline 3\r\n.\r\n");
	/* more lines than the body has: the whole message */
	CHECK(msg, true, 1000,
	      "From: a@example.org\r\nSubject: top\r\n\r\nline 1\r\n..line 2\r\nline 3\r\n.\r\n");
	CHECK(msg, true, POP3_NUM_MAX,
	      "From: a@example.org\r\nSubject: top\r\n\r\nline 1\r\n..line 2\r\nline 3\r\n.\r\n");
	/* no blank line: all header */
	CHECK("A: 1\r\nB: 2\r\n", true, 0, "A: 1\r\nB: 2\r\n.\r\n");
	CHECK("A: 1\r\nB: 2", true, 0, "A: 1\r\nB: 2\r\n.\r\n");
	/* an empty header */
	CHECK("\r\nbody\r\n", true, 0, "\r\n.\r\n");
	CHECK("\r\nbody\r\n", true, 1, "\r\nbody\r\n.\r\n");
	/* bare LF line ends, the blank line included */
	CHECK("A: 1\n\nb1\nb2\n", true, 1, "A: 1\r\n\r\nb1\r\n.\r\n");
	/* the last body line without its CRLF */
	CHECK("A: 1\r\n\r\nb1\r\nb2", true, 2, "A: 1\r\n\r\nb1\r\nb2\r\n.\r\n");
	CHECK("A: 1\r\n\r\nb1\r\nb2", true, 1, "A: 1\r\n\r\nb1\r\n.\r\n");
	/* a header line "." is stuffed too, and a body of blank lines counts */
	CHECK(".A\r\n\r\n\r\n\r\nx\r\n", true, 2, "..A\r\n\r\n\r\n\r\n.\r\n");
	/* the whole message, TOP off, is not cut at the blank line */
	CHECK(msg, false, 0,
	      "From: a@example.org\r\nSubject: top\r\n\r\nline 1\r\n..line 2\r\nline 3\r\n.\r\n");
}

static void test_stuff_done_stops_input(void **state)
{
	struct pop3_stuff st;
	pop3_stuff_init(&st, true, 0);
	char out[64];
	size_t olen;
	/* The cut-off falls inside this input: the rest is not consumed. */
	size_t used = pop3_stuff_feed(&st, L("A: 1\r\n\r\nbody\r\n"), out, sizeof(out), &olen);
	assert_int_equal(used, 8);
	assert_int_equal(olen, 8);
	assert_true(pop3_stuff_done(&st));
	assert_int_equal(pop3_stuff_feed(&st, L("more"), out, sizeof(out), &olen), 0);
	assert_int_equal(olen, 0);
	assert_int_equal(pop3_stuff_finish(&st, out), 3);
	assert_memory_equal(out, ".\r\n", 3);
	/* An output buffer with no room for the worst case takes nothing. */
	pop3_stuff_init(&st, false, 0);
	assert_int_equal(pop3_stuff_feed(&st, L("abc"), out, 1, &olen), 0);
	assert_int_equal(olen, 0);
	assert_int_equal(pop3_stuff_feed(&st, L("abc"), out, 2, &olen), 1);
	assert_int_equal(olen, 1);
}

/* An independent, line-based statement of the same rules, to cross-check
 * the byte machine on random input. */
static struct out stuff_reference(const char *in, size_t len, bool top, uint32_t lines)
{
	struct out o = {0};
	bool in_header = true;
	size_t start = 0;
	while (start < len) {
		size_t end = start;
		while (end < len && in[end] != '\n')
			end++;
		size_t n = end - start;        /* the line without its LF */
		const char *line = in + start;
		if (line[0] == '.')
			out_add(&o, ".", 1);
		out_add(&o, line, n);
		if (n > 0 && line[n - 1] == '\r')
			out_add(&o, "\n", 1);
		else
			out_add(&o, "\r\n", 2);
		start = end + 1;
		if (top) {
			bool blank = n == 0 || (n == 1 && line[0] == '\r');
			if (in_header) {
				if (blank) {
					in_header = false;
					if (lines == 0)
						break;
				}
			} else if (--lines == 0) {
				break;
			}
		}
	}
	out_add(&o, ".\r\n", 3);
	return o;
}

static void test_stuff_random(void **state)
{
	static const char alpha[] = "..\r\r\n\n\na ";
	uint32_t x = 2463534242u;
	for (int iter = 0; iter < 20000; iter++) {
		char in[64];
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		size_t len = x % sizeof(in);
		for (size_t i = 0; i < len; i++) {
			x ^= x << 13, x ^= x >> 17, x ^= x << 5;
			in[i] = alpha[x % (sizeof(alpha) - 1)];
		}
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		bool top = x & 1;
		uint32_t lines = (x >> 1) % 5;
		size_t chunk = (x >> 4) % 6;
		size_t cap = (x >> 8) % 3 ? 0 : 2 + (x >> 10) % 4;
		struct out want = stuff_reference(in, len, top, lines);
		struct out got = stuff_run(in, len, top, lines, chunk, cap);
		if (got.len != want.len || memcmp(got.data, want.data, want.len) != 0)
			fail_msg("iter %d: mismatch", iter);
		/* Output is CRLF-clean and ends with the terminator. */
		for (size_t i = 0; i < got.len; i++)
			if (got.data[i] == '\n')
				assert_true(i > 0 && got.data[i - 1] == '\r');
		assert_true(got.len == 3 || (got.len >= 5 && memcmp(got.data + got.len - 5,
								   "\r\n.\r\n", 5) == 0));
		free(want.data);
		free(got.data);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_verb),
		cmocka_unit_test(test_arguments),
		cmocka_unit_test(test_case_insensitive),
		cmocka_unit_test(test_unknown),
		cmocka_unit_test(test_arity),
		cmocka_unit_test(test_separators),
		cmocka_unit_test(test_bad_chars),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_perr_str),
		cmocka_unit_test(test_random_lines),
		cmocka_unit_test(test_uidl_format),
		cmocka_unit_test(test_stuff_plain),
		cmocka_unit_test(test_stuff_dots),
		cmocka_unit_test(test_stuff_line_ends),
		cmocka_unit_test(test_stuff_top),
		cmocka_unit_test(test_stuff_done_stops_input),
		cmocka_unit_test(test_stuff_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
