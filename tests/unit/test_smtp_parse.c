/* Unit tests for smtp/smtp_parse.c: command lines, RFC 5321 paths, ESMTP
 * parameters and the EHLO name check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "smtp/smtp_addr.h"
#include "smtp/smtp_parse.h"

/* String literals with their length, so NUL bytes inside survive. */
#define L(s) (s), (sizeof(s) - 1)

/* ---- command lines ---- */

static void test_command_basic(void **state)
{
	struct smtp_cmdline c;
	assert_int_equal(smtp_parse_command(L("EHLO client.example"), &c), SMTP_P_OK);
	assert_int_equal(c.verb, SMTP_VERB_EHLO);
	assert_int_equal(c.arg_len, 14);
	assert_memory_equal(c.arg, "client.example", 14);
	assert_int_equal(c.verb_len, 4);

	assert_int_equal(smtp_parse_command(L("QUIT"), &c), SMTP_P_OK);
	assert_int_equal(c.verb, SMTP_VERB_QUIT);
	assert_int_equal(c.arg_len, 0);

	/* trailing blanks are not an argument */
	assert_int_equal(smtp_parse_command(L("RSET  \t "), &c), SMTP_P_OK);
	assert_int_equal(c.verb, SMTP_VERB_RSET);
	assert_int_equal(c.arg_len, 0);

	assert_int_equal(smtp_parse_command(L("NOOP hello  world "), &c), SMTP_P_OK);
	assert_int_equal(c.verb, SMTP_VERB_NOOP);
	assert_int_equal(c.arg_len, 12);
	assert_memory_equal(c.arg, "hello  world", 12);

	assert_int_equal(smtp_parse_command(L("HELO\tx"), &c), SMTP_P_OK);
	assert_int_equal(c.verb, SMTP_VERB_HELO);
	assert_int_equal(c.arg_len, 1);
	assert_int_equal(c.arg[0], 'x');
}

static void test_command_case_insensitive(void **state)
{
	struct smtp_cmdline c;
	assert_int_equal(smtp_parse_command(L("mAiL FROM:<a@b.example>"), &c), SMTP_P_OK);
	assert_int_equal(c.verb, SMTP_VERB_MAIL);
	assert_int_equal(c.arg_len, 18);
	assert_memory_equal(c.arg, "FROM:<a@b.example>", 18);
	assert_int_equal(smtp_parse_command(L("starttls"), &c), SMTP_P_OK);
	assert_int_equal(c.verb, SMTP_VERB_STARTTLS);
	assert_int_equal(smtp_parse_command(L("rcpt TO:<x@y.z>"), &c), SMTP_P_OK);
	assert_int_equal(c.verb, SMTP_VERB_RCPT);
}

static void test_command_every_verb(void **state)
{
	for (int v = SMTP_VERB_UNKNOWN + 1; v < SMTP_VERB_COUNT; v++) {
		const char *name = smtp_verb_name((enum smtp_verb)v);
		assert_true(strlen(name) > 0);
		char line[64];
		int n = snprintf(line, sizeof(line), "%s arg", name);
		struct smtp_cmdline c;
		assert_int_equal(smtp_parse_command(line, (size_t)n, &c), SMTP_P_OK);
		assert_int_equal(c.verb, v);
		assert_int_equal(c.arg_len, 3);
		/* and in lower case */
		for (int i = 0; line[i]; i++)
			if (line[i] >= 'A' && line[i] <= 'Z')
				line[i] = (char)(line[i] + 32);
		assert_int_equal(smtp_parse_command(line, (size_t)n, &c), SMTP_P_OK);
		assert_int_equal(c.verb, v);
	}
	assert_string_equal(smtp_verb_name(SMTP_VERB_UNKNOWN), "");
	assert_string_equal(smtp_verb_name(SMTP_VERB_COUNT), "");
}

static void test_command_errors(void **state)
{
	struct smtp_cmdline c;
	assert_int_equal(smtp_parse_command("", 0, &c), SMTP_P_EMPTY);
	assert_int_equal(smtp_parse_command(L("MAIL\0FROM:<a@b>"), &c), SMTP_P_BAD_CHAR);
	assert_int_equal(smtp_parse_command(L("EHLO a\0"), &c), SMTP_P_BAD_CHAR);
	assert_int_equal(smtp_parse_command(L("EHLO a\x01"), &c), SMTP_P_BAD_CHAR);
	assert_int_equal(smtp_parse_command(L("EHLO a\x7f"), &c), SMTP_P_BAD_CHAR);
	assert_int_equal(smtp_parse_command(L("EHLO a\rb"), &c), SMTP_P_BAD_CHAR);

	assert_int_equal(smtp_parse_command(L("FOO bar"), &c), SMTP_P_UNKNOWN_VERB);
	assert_int_equal(c.verb, SMTP_VERB_UNKNOWN);
	assert_int_equal(c.verb_len, 3);
	assert_memory_equal(c.verb_text, "FOO", 3);
	assert_int_equal(smtp_parse_command(L("MAILX FROM:<a@b>"), &c), SMTP_P_UNKNOWN_VERB);
	assert_int_equal(smtp_parse_command(L("MAI"), &c), SMTP_P_UNKNOWN_VERB);
	assert_int_equal(smtp_parse_command(L(" EHLO x"), &c), SMTP_P_UNKNOWN_VERB);
	assert_int_equal(smtp_parse_command(L("MAIL:FROM:<a@b>"), &c), SMTP_P_UNKNOWN_VERB);
	/* 8-bit bytes are not a verb, but not a control error either */
	assert_int_equal(smtp_parse_command(L("\xc3\xa9HLO x"), &c), SMTP_P_UNKNOWN_VERB);
	for (int e = SMTP_P_OK; e <= SMTP_P_BARE_CR; e++)
		assert_non_null(smtp_perr_str((enum smtp_perr)e));
}

static void test_line_end(void **state)
{
	/* RFC 5321 2.3.8: CR and LF only together, as the line end */
	assert_int_equal(smtp_parse_line_end(L("NOOP"), true), SMTP_P_OK);
	assert_int_equal(smtp_parse_line_end(L(""), true), SMTP_P_OK);
	assert_int_equal(smtp_parse_line_end(L("NOOP"), false), SMTP_P_BARE_LF);
	assert_int_equal(smtp_parse_line_end(L(""), false), SMTP_P_BARE_LF);
	assert_int_equal(smtp_parse_line_end(L("EHLO c\r.test"), true), SMTP_P_BARE_CR);
	assert_int_equal(smtp_parse_line_end(L("NOOP\r"), true), SMTP_P_BARE_CR);
	assert_int_equal(smtp_parse_line_end(L("\r"), true), SMTP_P_BARE_CR);
	/* a bare LF ending wins over a CR inside */
	assert_int_equal(smtp_parse_line_end(L("a\rb"), false), SMTP_P_BARE_LF);
	assert_string_equal(smtp_perr_str(SMTP_P_BARE_LF), "bare <LF> received");
	assert_string_equal(smtp_perr_str(SMTP_P_BARE_CR), "bare <CR> received");
}

/* ---- paths ---- */

static void test_mail_simple(void **state)
{
	struct smtp_mail_args m;
	assert_int_equal(smtp_parse_mail(L("FROM:<user@example.com>"), &m), SMTP_P_OK);
	assert_false(m.path.null);
	assert_string_equal(m.path.local, "user");
	assert_string_equal(m.path.domain, "example.com");
	assert_string_equal(m.path.address, "user@example.com");
	assert_int_equal(m.path.address_len, 16);
	assert_false(m.has_size);
	assert_int_equal(m.body, SMTP_BODY_NONE);

	assert_int_equal(smtp_parse_mail(L("from:<First.Last+tag@Sub.Example.ORG>"), &m), SMTP_P_OK);
	assert_string_equal(m.path.address, "First.Last+tag@Sub.Example.ORG");

	/* a blank after the colon is tolerated, two are not */
	assert_int_equal(smtp_parse_mail(L("FROM: <user@example.com>"), &m), SMTP_P_OK);
	assert_string_equal(m.path.address, "user@example.com");
	assert_int_equal(smtp_parse_mail(L("FROM:  <user@example.com>"), &m), SMTP_P_SYNTAX);
}

static void test_null_path(void **state)
{
	struct smtp_mail_args m;
	struct smtp_rcpt_args r;
	assert_int_equal(smtp_parse_mail(L("FROM:<>"), &m), SMTP_P_OK);
	assert_true(m.path.null);
	assert_string_equal(m.path.address, "");
	assert_int_equal(smtp_parse_mail(L("FROM:<> SIZE=10"), &m), SMTP_P_OK);
	assert_true(m.path.null);
	assert_int_equal(m.size, 10);
	assert_int_equal(smtp_parse_rcpt(L("TO:<>"), &r), SMTP_P_NULL_PATH);
}

static void test_path_syntax_errors(void **state)
{
	struct smtp_mail_args m;
	struct smtp_rcpt_args r;
	assert_int_equal(smtp_parse_mail(L("FROM:user@example.com"), &m), SMTP_P_SYNTAX);
	assert_int_equal(smtp_parse_mail(L("FROM<user@example.com>"), &m), SMTP_P_SYNTAX);
	assert_int_equal(smtp_parse_mail(L("TO:<user@example.com>"), &m), SMTP_P_SYNTAX);
	assert_int_equal(smtp_parse_mail(L("FROM:"), &m), SMTP_P_SYNTAX);
	assert_int_equal(smtp_parse_mail(L(""), &m), SMTP_P_SYNTAX);
	assert_int_equal(smtp_parse_rcpt(L("TO:<user@example.com"), &r), SMTP_P_PATH_SYNTAX);
	assert_int_equal(smtp_parse_rcpt(L("TO:<user@example.com>x"), &r), SMTP_P_SYNTAX);
	assert_int_equal(smtp_parse_rcpt(L("TO:<user@example.com>>"), &r), SMTP_P_SYNTAX);
	assert_int_equal(smtp_parse_rcpt(L("TO:<<user@example.com>>"), &r), SMTP_P_PATH_SYNTAX);
	static const char *const bad[] = {
		"TO:<.a@b.example>", "TO:<a.@b.example>", "TO:<a..b@c.example>",
		"TO:<a@-b.example>", "TO:<a@b-.example>", "TO:<a@b..example>",
		"TO:<a@.example>", "TO:<a@b.example.>", "TO:<a@>", "TO:<a>",
		"TO:<@b.example>", "TO:<a b@c.example>", "TO:<a@b c.example>",
		"TO:<a(b)@c.example>", "TO:<a@b_c.example>", "TO:<a@@b.example>",
		"TO:<a@b.example@c.example>", "TO:<\"abc@d.example>", "TO:<\"a\"b@c.example>",
		"TO:<a\"b\"@c.example>", "TO:<a@[192.0.2.1>",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum smtp_perr rc = smtp_parse_rcpt(bad[i], strlen(bad[i]), &r);
		if (rc != SMTP_P_PATH_SYNTAX)
			fail_msg("%s: got %d", bad[i], rc);
	}
}

static void test_path_nul_and_controls(void **state)
{
	struct smtp_rcpt_args r;
	assert_int_equal(smtp_parse_rcpt(L("TO:<a\0b@c.example>"), &r), SMTP_P_PATH_SYNTAX);
	assert_int_equal(smtp_parse_rcpt(L("TO:<a@c\0.example>"), &r), SMTP_P_PATH_SYNTAX);
	assert_int_equal(smtp_parse_rcpt(L("TO:<\"a\0b\"@c.example>"), &r), SMTP_P_PATH_SYNTAX);
	assert_int_equal(smtp_parse_rcpt(L("TO:<\"a\x01\"@c.example>"), &r), SMTP_P_PATH_SYNTAX);
	assert_int_equal(smtp_parse_rcpt(L("TO:<\"a\\\x7f\"@c.example>"), &r), SMTP_P_PATH_SYNTAX);
	assert_int_equal(smtp_parse_rcpt(L("TO:<\"a\tb\"@c.example>"), &r), SMTP_P_PATH_SYNTAX);
}

static void test_path_8bit(void **state)
{
	struct smtp_rcpt_args r;
	struct smtp_mail_args m;
	/* RFC 6531 3.5: MAIL with a UTF-8 path needs SMTPUTF8 */
	assert_int_equal(smtp_parse_mail(L("FROM:<j\xc3\xb6rg@example.com>"), &m), SMTP_P_PATH_8BIT);
	assert_int_equal(smtp_parse_mail(L("FROM:<joe@ex\xc3\xa4mple.com> SIZE=10"), &m),
			 SMTP_P_PATH_8BIT);
	assert_int_equal(smtp_parse_mail(L("FROM:<j\xc3\xb6rg@example.com> SMTPUTF8"), &m), SMTP_P_OK);
	assert_true(m.path.utf8);
	assert_string_equal(m.path.address, "j\xc3\xb6rg@example.com");
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example> SMTPUTF8"), &m), SMTP_P_OK);
	assert_false(m.path.utf8);
	/* RCPT parses it and says so; the session decides (transaction state) */
	assert_int_equal(smtp_parse_rcpt(L("TO:<j\xc3\xb6rg@example.com>"), &r), SMTP_P_OK);
	assert_true(r.path.utf8);
	assert_int_equal(smtp_parse_rcpt(L("TO:<joe@ex\xc3\xa4mple.com>"), &r), SMTP_P_OK);
	assert_true(r.path.utf8);
	assert_string_equal(r.path.domain, "ex\xc3\xa4mple.com");
	assert_int_equal(smtp_parse_rcpt(L("TO:<\"j\xc3\xb6 rg\"@example.com>"), &r), SMTP_P_OK);
	assert_true(r.path.utf8 && r.path.quoted);
	assert_string_equal(r.path.address, "\"j\xc3\xb6 rg\"@example.com");
	/* 3- and 4-octet forms, Chinese local part and domain, an emoji */
	assert_int_equal(smtp_parse_rcpt(L("TO:<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90."
					   "\xe5\xb9\xbf\xe5\x91\x8a>"), &r), SMTP_P_OK);
	assert_int_equal(smtp_parse_rcpt(L("TO:<\xf0\x9f\x98\x80@example.com>"), &r), SMTP_P_OK);
	assert_false(smtp_parse_rcpt(L("TO:<a@b.example>"), &r) != SMTP_P_OK || r.path.utf8);
	/* strict UTF-8: no overlongs, surrogates, > U+10FFFF, stray or
	 * truncated sequences, C1 controls */
	static const char *const bad[] = {
		"TO:<\xc0\xafx@example.com>",          /* overlong "/" */
		"TO:<\xc1\xbf@example.com>",
		"TO:<\xe0\x80\xaf@example.com>",      /* overlong, 3 octets */
		"TO:<\xf0\x80\x80\xaf@example.com>",  /* overlong, 4 octets */
		"TO:<\xed\xa0\x80@example.com>",      /* U+D800, a surrogate */
		"TO:<\xed\xbf\xbf@example.com>",
		"TO:<\xf4\x90\x80\x80@example.com>",  /* U+110000 */
		"TO:<\xf5\x80\x80\x80@example.com>",
		"TO:<\xff@example.com>",
		"TO:<\x80@example.com>",               /* a lone continuation octet */
		"TO:<a\xc3@example.com>",              /* truncated */
		"TO:<a\xe4\xbe@example.com>",
		"TO:<a@ex\xc3.com>",
		"TO:<a@\xc3>",
		"TO:<\"a\xc3\"@example.com>",
		"TO:<\xc2\x85@example.com>",           /* U+0085, a C1 control */
		"TO:<a@ex\xc2\x9fmple.com>",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(smtp_parse_rcpt(bad[i], strlen(bad[i]), &r), SMTP_P_PATH_UTF8);
		char line[128];
		snprintf(line, sizeof(line), "FROM:%s SMTPUTF8", bad[i] + 3);
		assert_int_equal(smtp_parse_mail(line, strlen(line), &m), SMTP_P_PATH_UTF8);
	}
	/* the valid boundaries */
	assert_int_equal(smtp_utf8_char(L("\xc2\xa0")), 2);          /* U+00A0 */
	assert_int_equal(smtp_utf8_char(L("\xdf\xbf")), 2);          /* U+07FF */
	assert_int_equal(smtp_utf8_char(L("\xe0\xa0\x80")), 3);      /* U+0800 */
	assert_int_equal(smtp_utf8_char(L("\xed\x9f\xbf")), 3);      /* U+D7FF */
	assert_int_equal(smtp_utf8_char(L("\xee\x80\x80")), 3);      /* U+E000 */
	assert_int_equal(smtp_utf8_char(L("\xf0\x90\x80\x80")), 4);  /* U+10000 */
	assert_int_equal(smtp_utf8_char(L("\xf4\x8f\xbf\xbf")), 4);  /* U+10FFFF */
	assert_int_equal(smtp_utf8_char(L("a")), 0);
	/* the length limits count octets (RFC 6531 3.3 keeps RFC 5321's) */
	char lp[160];
	size_t n = 0;
	n += (size_t)snprintf(lp + n, sizeof(lp) - n, "TO:<");
	for (int i = 0; i < 33; i++)
		n += (size_t)snprintf(lp + n, sizeof(lp) - n, "\xc3\xb6");
	n += (size_t)snprintf(lp + n, sizeof(lp) - n, "@example.com>");
	assert_int_equal(smtp_parse_rcpt(lp, n, &r), SMTP_P_LOCAL_TOO_LONG);
	(void)state;
}

static void test_source_route(void **state)
{
	struct smtp_rcpt_args r;
	assert_int_equal(smtp_parse_rcpt(L("TO:<@relay.example,@b.example:user@dom.example>"), &r),
			 SMTP_P_OK);
	assert_true(r.path.routed);
	assert_string_equal(r.path.address, "user@dom.example");
	assert_string_equal(r.path.domain, "dom.example");
	assert_int_equal(smtp_parse_rcpt(L("TO:<@one.example:u@d.example>"), &r), SMTP_P_OK);
	assert_true(r.path.routed);
	assert_string_equal(r.path.address, "u@d.example");

	struct smtp_mail_args m;
	assert_int_equal(smtp_parse_mail(L("FROM:<@a.example:u@d.example>"), &m), SMTP_P_OK);
	assert_true(m.path.routed);
	assert_string_equal(m.path.address, "u@d.example");

	static const char *const bad[] = {
		"TO:<@relay.example:>", "TO:<@:u@d.example>", "TO:<@a.example;@b.example:u@d.example>",
		"TO:<@a.example,b.example:u@d.example>", "TO:<@a.example u@d.example>",
		"TO:<@a.example,:u@d.example>", "TO:<@[192.0.2.1]:u@d.example>",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum smtp_perr rc = smtp_parse_rcpt(bad[i], strlen(bad[i]), &r);
		if (rc != SMTP_P_PATH_SYNTAX)
			fail_msg("%s: got %d", bad[i], rc);
	}
}

static void test_quoted_local_part(void **state)
{
	struct smtp_rcpt_args r;
	assert_int_equal(smtp_parse_rcpt(L("TO:<\"john doe\"@example.com>"), &r), SMTP_P_OK);
	assert_true(r.path.quoted);
	assert_string_equal(r.path.local, "john doe");
	assert_int_equal(r.path.local_len, 8);
	assert_string_equal(r.path.address, "\"john doe\"@example.com");
	assert_false(r.path.route_chars);

	/* quotes that are not needed are dropped: "john"@x is john@x */
	assert_int_equal(smtp_parse_rcpt(L("TO:<\"john\"@example.com>"), &r), SMTP_P_OK);
	assert_true(r.path.quoted);
	assert_string_equal(r.path.address, "john@example.com");
	assert_int_equal(smtp_parse_rcpt(L("TO:<\"j\\ohn\"@example.com>"), &r), SMTP_P_OK);
	assert_string_equal(r.path.address, "john@example.com");

	/* escapes kept only where needed */
	assert_int_equal(smtp_parse_rcpt(L("TO:<\"a\\\"b\\\\c\"@x.org>"), &r), SMTP_P_OK);
	assert_string_equal(r.path.local, "a\"b\\c");
	assert_string_equal(r.path.address, "\"a\\\"b\\\\c\"@x.org");

	assert_int_equal(smtp_parse_rcpt(L("TO:<\"a>b\"@c.org>"), &r), SMTP_P_OK);
	assert_string_equal(r.path.local, "a>b");
	assert_int_equal(smtp_parse_rcpt(L("TO:<\"\"@c.org>"), &r), SMTP_P_OK);
	assert_int_equal(r.path.local_len, 0);
	assert_string_equal(r.path.address, "\"\"@c.org");
	assert_int_equal(smtp_parse_rcpt(L("TO:<\"a..b\"@c.org>"), &r), SMTP_P_OK);
	assert_string_equal(r.path.address, "\"a..b\"@c.org");
}

static void test_relay_tricks_flagged(void **state)
{
	struct smtp_rcpt_args r;
	static const char *const tricks[] = {
		"TO:<user%evil.example@example.com>",
		"TO:<evil.example!user@example.com>",
		"TO:<\"user@evil.example\"@example.com>",
		"TO:<\"user%evil.example\"@example.com>",
		"TO:<@example.com:user%evil.example@example.com>",
	};
	for (size_t i = 0; i < sizeof(tricks) / sizeof(tricks[0]); i++) {
		assert_int_equal(smtp_parse_rcpt(tricks[i], strlen(tricks[i]), &r), SMTP_P_OK);
		if (!r.path.route_chars)
			fail_msg("%s: not flagged", tricks[i]);
	}
	assert_int_equal(smtp_parse_rcpt(L("TO:<plain.user@example.com>"), &r), SMTP_P_OK);
	assert_false(r.path.route_chars);
}

static void test_postmaster(void **state)
{
	struct smtp_rcpt_args r;
	struct smtp_mail_args m;
	assert_int_equal(smtp_parse_rcpt(L("TO:<Postmaster>"), &r), SMTP_P_OK);
	assert_true(r.path.postmaster);
	assert_string_equal(r.path.address, "Postmaster");
	assert_int_equal(smtp_parse_rcpt(L("TO:<POSTMASTER>"), &r), SMTP_P_OK);
	assert_true(r.path.postmaster);
	assert_int_equal(smtp_parse_rcpt(L("TO:<postmaster@example.com>"), &r), SMTP_P_OK);
	assert_false(r.path.postmaster);
	assert_string_equal(r.path.address, "postmaster@example.com");
	assert_int_equal(smtp_parse_mail(L("FROM:<Postmaster>"), &m), SMTP_P_PATH_SYNTAX);
	assert_int_equal(smtp_parse_rcpt(L("TO:<\"Postmaster\">"), &r), SMTP_P_PATH_SYNTAX);
	assert_int_equal(smtp_parse_rcpt(L("TO:<@a.example:Postmaster>"), &r), SMTP_P_PATH_SYNTAX);
	assert_int_equal(smtp_parse_rcpt(L("TO:<postmasters>"), &r), SMTP_P_PATH_SYNTAX);
}

static void test_address_literals(void **state)
{
	struct smtp_rcpt_args r;
	static const char *const good[] = {
		"TO:<a@[192.0.2.1]>", "TO:<a@[0.0.0.0]>", "TO:<a@[255.255.255.255]>",
		"TO:<a@[IPv6:2001:db8::1]>", "TO:<a@[ipv6:::1]>", "TO:<a@[IPv6:::ffff:192.0.2.1]>",
		"TO:<a@[x-tag:some-content]>",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		enum smtp_perr rc = smtp_parse_rcpt(good[i], strlen(good[i]), &r);
		if (rc != SMTP_P_OK)
			fail_msg("%s: got %d", good[i], rc);
		assert_true(r.path.domain_literal);
	}
	assert_int_equal(smtp_parse_rcpt(L("TO:<a@[192.0.2.1]>"), &r), SMTP_P_OK);
	assert_string_equal(r.path.domain, "[192.0.2.1]");
	assert_string_equal(r.path.address, "a@[192.0.2.1]");
	static const char *const bad[] = {
		"TO:<a@[256.1.1.1]>", "TO:<a@[1.2.3]>", "TO:<a@[1.2.3.4.5]>", "TO:<a@[1.2.3.4 ]>",
		"TO:<a@[IPv6:zz]>", "TO:<a@[IPv6:1:2:3]>", "TO:<a@[]>", "TO:<a@[:x]>",
		"TO:<a@[tag:]>", "TO:<a@[tag-:x]>", "TO:<a@[1234.1.1.1]>", "TO:<a@[a[b]>",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum smtp_perr rc = smtp_parse_rcpt(bad[i], strlen(bad[i]), &r);
		if (rc != SMTP_P_PATH_SYNTAX)
			fail_msg("%s: got %d", bad[i], rc);
	}
}

/* "TO:<" + local + "@" + domain + ">" with parts of the given lengths. */
static size_t make_path(char *out, size_t local_len, size_t domain_len)
{
	size_t n = 0;
	memcpy(out, "TO:<", 4);
	n = 4;
	memset(out + n, 'l', local_len);
	n += local_len;
	out[n++] = '@';
	/* labels of 50 (the last up to 51) separated by dots */
	size_t left = domain_len, label = 0;
	while (left > 0) {
		if (label == 50 && left > 1) {
			out[n++] = '.';
			label = 0;
			left--;
			continue;
		}
		out[n++] = 'd';
		label++;
		left--;
	}
	out[n++] = '>';
	out[n] = '\0';
	return n;
}

static void test_path_limits(void **state)
{
	char p[1024];
	struct smtp_rcpt_args r;
	size_t n;
	/* RFC 5321 4.5.3.1.1: 64 octets of local part */
	n = make_path(p, 64, 10);
	assert_int_equal(smtp_parse_rcpt(p, n, &r), SMTP_P_OK);
	assert_int_equal(r.path.local_len, 64);
	n = make_path(p, 65, 10);
	assert_int_equal(smtp_parse_rcpt(p, n, &r), SMTP_P_LOCAL_TOO_LONG);
	/* quoted: the limit is on the octets as sent */
	char q[128], ls[70];
	memset(ls, 'l', sizeof(ls) - 1);
	ls[sizeof(ls) - 1] = '\0';
	int qn = snprintf(q, sizeof(q), "TO:<\"%.63s\"@d.example>", ls);
	assert_int_equal(smtp_parse_rcpt(q, (size_t)qn, &r), SMTP_P_LOCAL_TOO_LONG);
	qn = snprintf(q, sizeof(q), "TO:<\"%.62s\"@d.example>", ls);
	assert_int_equal(smtp_parse_rcpt(q, (size_t)qn, &r), SMTP_P_OK);
	assert_int_equal(r.path.local_len, 62);
	/* 4.5.3.1.3: the path is at most 256 octets with its brackets */
	n = make_path(p, 64, 189);
	assert_int_equal(n - 3, 256);
	assert_int_equal(smtp_parse_rcpt(p, n, &r), SMTP_P_OK);
	assert_int_equal(r.path.domain_len, 189);
	n = make_path(p, 64, 190);
	assert_int_equal(smtp_parse_rcpt(p, n, &r), SMTP_P_PATH_TOO_LONG);
	n = make_path(p, 1, 255);
	assert_int_equal(smtp_parse_rcpt(p, n, &r), SMTP_P_PATH_TOO_LONG);
	/* 4.5.3.1.2: 255 octets of domain */
	n = make_path(p, 1, 256);
	assert_int_equal(smtp_parse_rcpt(p, n, &r), SMTP_P_DOMAIN_TOO_LONG);
	/* a 64-octet label is not a domain (RFC 1035 2.3.4) */
	char lab[128];
	memset(lab, 'x', 64);
	int ln = snprintf(lab + 64, 40, ".example>");
	char line[256];
	int m = snprintf(line, sizeof(line), "TO:<a@%.*s>", 64 + ln - 1, lab);
	assert_int_equal(smtp_parse_rcpt(line, (size_t)m, &r), SMTP_P_PATH_SYNTAX);
	m = snprintf(line, sizeof(line), "TO:<a@%.*s>", 63, lab);
	assert_int_equal(smtp_parse_rcpt(line, (size_t)m, &r), SMTP_P_OK);
	/* a route does not count against the mailbox but does against the path */
	char rt[600];
	int rn = snprintf(rt, sizeof(rt), "TO:<@%0200d.example:u@d.example>", 0);
	for (int i = 5; i < 205; i++)
		rt[i] = 'r';
	assert_int_equal(smtp_parse_rcpt(rt, (size_t)rn, &r), SMTP_P_PATH_SYNTAX); /* label > 63 */
	rn = snprintf(rt, sizeof(rt), "TO:<@a.example,@b.example:u@d.example>");
	assert_int_equal(smtp_parse_rcpt(rt, (size_t)rn, &r), SMTP_P_OK);
}

/* ---- ESMTP parameters ---- */

static void test_params_size_body(void **state)
{
	struct smtp_mail_args m;
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example> SIZE=1000"), &m), SMTP_P_OK);
	assert_true(m.has_size);
	assert_int_equal(m.size, 1000);
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example> size=1000 body=8bitmime"), &m),
			 SMTP_P_OK);
	assert_int_equal(m.size, 1000);
	assert_int_equal(m.body, SMTP_BODY_8BITMIME);
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example> BODY=7BIT"), &m), SMTP_P_OK);
	assert_int_equal(m.body, SMTP_BODY_7BIT);
	assert_false(m.has_size);
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example>  SIZE=0  BODY=7bit"), &m), SMTP_P_OK);
	assert_true(m.has_size);
	assert_int_equal(m.size, 0);
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example> SIZE=18446744073709551615"), &m),
			 SMTP_P_OK);
	assert_int_equal(m.size, UINT64_MAX);
	/* 20 digits is still valid syntax; the value saturates */
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example> SIZE=99999999999999999999"), &m),
			 SMTP_P_OK);
	assert_int_equal(m.size, UINT64_MAX);
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example> SIZE=00000000000000000042"), &m),
			 SMTP_P_OK);
	assert_int_equal(m.size, 42);
}

static void test_params_errors(void **state)
{
	struct smtp_mail_args m;
	struct smtp_rcpt_args r;
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example> SIZE=abc"), &m), SMTP_P_PARAM_VALUE);
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example> SIZE=-1"), &m), SMTP_P_PARAM_VALUE);
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example> SIZE"), &m), SMTP_P_PARAM_VALUE);
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example> SIZE="), &m), SMTP_P_PARAM_SYNTAX);
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example> SIZE=123456789012345678901"), &m),
			 SMTP_P_PARAM_VALUE);
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example> BODY=BINARYMIME"), &m),
			 SMTP_P_PARAM_VALUE);
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example> BODY"), &m), SMTP_P_PARAM_VALUE);
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example> SIZE=1 SIZE=2"), &m), SMTP_P_PARAM_DUP);
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example> BODY=7BIT body=8BITMIME"), &m),
			 SMTP_P_PARAM_DUP);
	/* RFC 5321 4.1.1.11: unknown parameters are 555 */
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example> FOO=bar"), &m), SMTP_P_PARAM_UNKNOWN);
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example> SMTPUTF8"), &m), SMTP_P_OK);
	assert_true(m.smtputf8);
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example> smtputf8"), &m), SMTP_P_OK);
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example> SMTPUTF8=yes"), &m), SMTP_P_PARAM_VALUE);
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example> SMTPUTF8 SMTPUTF8"), &m),
			 SMTP_P_PARAM_DUP);
	assert_int_equal(smtp_parse_rcpt(L("TO:<a@b.example> SMTPUTF8"), &r), SMTP_P_PARAM_UNKNOWN);
	/* RFC 4954 5: AUTH=<> or xtext (RFC 3461 4) */
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example> AUTH=<>"), &m), SMTP_P_OK);
	assert_true(m.has_auth);
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example> AUTH=a+40b.example"), &m), SMTP_P_OK);
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example> AUTH=a+4"), &m), SMTP_P_PARAM_VALUE);
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example> AUTH=a+"), &m), SMTP_P_PARAM_VALUE);
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example> AUTH=a+4g"), &m), SMTP_P_PARAM_VALUE);
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example> AUTH="), &m), SMTP_P_PARAM_SYNTAX);
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example> AUTH=<> AUTH=<>"), &m),
			 SMTP_P_PARAM_DUP);
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example> SIZE=1 MT-PRIORITY=3"), &m),
			 SMTP_P_PARAM_UNKNOWN);
	assert_int_equal(smtp_parse_rcpt(L("TO:<a@b.example> FOO=1"), &r), SMTP_P_PARAM_UNKNOWN);
	assert_int_equal(smtp_parse_rcpt(L("TO:<a@b.example> SIZE=10"), &r), SMTP_P_PARAM_UNKNOWN);
	/* keyword and value syntax */
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example> =x"), &m), SMTP_P_PARAM_SYNTAX);
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example> SI_ZE=1"), &m), SMTP_P_PARAM_SYNTAX);
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example> -X=1"), &m), SMTP_P_PARAM_SYNTAX);
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example> FOO=a=b"), &m), SMTP_P_PARAM_SYNTAX);
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example>SIZE=1"), &m), SMTP_P_SYNTAX);
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example> SIZE=1\0"), &m), SMTP_P_PARAM_SYNTAX);
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example> X-FOO=\x80"), &m), SMTP_P_PARAM_SYNTAX);
}

/* ---- EHLO names ---- */

static void test_helo_valid(void **state)
{
	assert_true(smtp_helo_valid(L("mail.example.com")));
	assert_true(smtp_helo_valid(L("[192.0.2.1]")));
	assert_true(smtp_helo_valid(L("[IPv6:2001:db8::1]")));
	assert_true(smtp_helo_valid(L("host_name.local")));
	assert_true(smtp_helo_valid(L("localhost")));
	assert_false(smtp_helo_valid("", 0));
	assert_false(smtp_helo_valid(L("a b")));
	assert_false(smtp_helo_valid(L("a\0b")));
	assert_false(smtp_helo_valid(L("foo;bar")));
	assert_false(smtp_helo_valid(L("(x)")));
	assert_false(smtp_helo_valid(L("h\xc3\xa9")));
	char big[300];
	memset(big, 'a', sizeof(big));
	assert_true(smtp_helo_valid(big, 255));
	assert_false(smtp_helo_valid(big, 256));
}

/* Whatever parses must give an address that parses back to itself. */
static void test_address_roundtrip(void **state)
{
	static const char *const in[] = {
		"TO:<\"john doe\"@example.com>", "TO:<\"a\\\"b\\\\c\"@x.org>", "TO:<a.b@[192.0.2.1]>",
		"TO:<@r.example:x@y.example>", "TO:<\"\"@c.org>", "TO:<\"j\\ohn\"@example.com>",
	};
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		struct smtp_rcpt_args r, r2;
		assert_int_equal(smtp_parse_rcpt(in[i], strlen(in[i]), &r), SMTP_P_OK);
		char again[400];
		int n = snprintf(again, sizeof(again), "TO:<%s>", r.path.address);
		assert_int_equal(smtp_parse_rcpt(again, (size_t)n, &r2), SMTP_P_OK);
		assert_string_equal(r.path.address, r2.path.address);
		assert_string_equal(r.path.local, r2.path.local);
	}
}

/* RFC 3461: RET and ENVID on MAIL, NOTIFY and ORCPT on RCPT. */
static void test_dsn_params(void **state)
{
	(void)state;
	struct smtp_mail_args m;
	struct smtp_rcpt_args r;
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example> RET=hdrs ENVID=QQ+2B314159"), &m),
			 SMTP_P_OK);
	assert_int_equal(m.ret, SMTP_RET_HDRS);
	assert_string_equal(m.envid, "QQ+314159");
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example> RET=FULL"), &m), SMTP_P_OK);
	assert_int_equal(m.ret, SMTP_RET_FULL);
	assert_string_equal(m.envid, "");
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example> RET=BODY"), &m), SMTP_P_PARAM_VALUE);
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example> RET=FULL RET=HDRS"), &m),
			 SMTP_P_PARAM_DUP);
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example> ENVID=a+0Db"), &m),
			 SMTP_P_PARAM_VALUE);   /* a CR would reach the DSN's fields */
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example> ENVID=a+zz"), &m), SMTP_P_PARAM_VALUE);
	assert_int_equal(smtp_parse_mail(L("FROM:<a@b.example> ENVID=a+4"), &m), SMTP_P_PARAM_VALUE);
	char longid[160];
	snprintf(longid, sizeof(longid), "FROM:<a@b.example> ENVID=%0101d", 0);
	assert_int_equal(smtp_parse_mail(longid, strlen(longid), &m), SMTP_P_PARAM_VALUE);

	assert_int_equal(smtp_parse_rcpt(L("TO:<a@b.example> NOTIFY=SUCCESS,failure "
					   "ORCPT=rfc822;x+2By@c.example"), &r), SMTP_P_OK);
	assert_int_equal(r.notify, SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE);
	assert_string_equal(r.orcpt, "rfc822;x+y@c.example");
	assert_int_equal(smtp_parse_rcpt(L("TO:<a@b.example> NOTIFY=NEVER"), &r), SMTP_P_OK);
	assert_int_equal(r.notify, SMTP_NOTIFY_NEVER);
	assert_string_equal(r.orcpt, "");
	static const char *const bad[] = {
		"TO:<a@b.example> NOTIFY=NEVER,DELAY",
		"TO:<a@b.example> NOTIFY=DELAY,DELAY",
		"TO:<a@b.example> NOTIFY=SUCCESS,",
		"TO:<a@b.example> NOTIFY=SOMETIMES",
		"TO:<a@b.example> ORCPT=rfc822",
		"TO:<a@b.example> ORCPT=;x@y",
		"TO:<a@b.example> ORCPT=rfc 822;x@y",
		"TO:<a@b.example> ORCPT=rfc822;x+0Ay",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(smtp_parse_rcpt(bad[i], strlen(bad[i]), &r), SMTP_P_PARAM_VALUE);
	assert_int_equal(smtp_parse_rcpt(L("TO:<a@b.example> NOTIFY=DELAY NOTIFY=DELAY"), &r),
			 SMTP_P_PARAM_DUP);
}

static void test_bdat(void **state)
{
	uint64_t size = 1;
	bool last = true;
	assert_int_equal(smtp_parse_bdat(L("0"), &size, &last), SMTP_P_OK);
	assert_true(size == 0 && !last);
	assert_int_equal(smtp_parse_bdat(L("1000 LAST"), &size, &last), SMTP_P_OK);
	assert_true(size == 1000 && last);
	assert_int_equal(smtp_parse_bdat(L("7 last"), &size, &last), SMTP_P_OK);
	assert_true(size == 7 && last);
	assert_int_equal(smtp_parse_bdat(L("18446744073709551615"), &size, &last), SMTP_P_OK);
	assert_true(size == UINT64_MAX);
	static const char *const bad_size[] = {
		"", "abc", "-1", "+5", "1x", "18446744073709551616", "123456789012345678901",
		"\t5", " 5",
	};
	for (size_t i = 0; i < sizeof(bad_size) / sizeof(bad_size[0]); i++)
		assert_int_equal(smtp_parse_bdat(bad_size[i], strlen(bad_size[i]), &size, &last),
				 SMTP_P_PARAM_VALUE);
	static const char *const bad[] = {"5 FIRST", "5 LAST x", "5 LASTX", "5 ", "5 LAS"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(smtp_parse_bdat(bad[i], strlen(bad[i]), &size, &last), SMTP_P_SYNTAX);
	assert_int_equal(smtp_parse_bdat("5\0LAST", 6, &size, &last), SMTP_P_PARAM_VALUE);
	(void)state;
}

/* The domain after the last '@' (a quoted local part may hold one). */
static void test_addr_domain(void **state)
{
	(void)state;
	assert_string_equal(smtp_addr_domain("a@b.example"), "b.example");
	assert_string_equal(smtp_addr_domain("\"x@y\"@b.example"), "b.example");
	assert_string_equal(smtp_addr_domain("postmaster"), "");
	assert_string_equal(smtp_addr_domain(""), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_command_basic),
		cmocka_unit_test(test_dsn_params),
		cmocka_unit_test(test_command_case_insensitive),
		cmocka_unit_test(test_command_every_verb),
		cmocka_unit_test(test_command_errors),
		cmocka_unit_test(test_mail_simple),
		cmocka_unit_test(test_null_path),
		cmocka_unit_test(test_path_syntax_errors),
		cmocka_unit_test(test_path_nul_and_controls),
		cmocka_unit_test(test_path_8bit),
		cmocka_unit_test(test_source_route),
		cmocka_unit_test(test_quoted_local_part),
		cmocka_unit_test(test_relay_tricks_flagged),
		cmocka_unit_test(test_postmaster),
		cmocka_unit_test(test_line_end),
		cmocka_unit_test(test_address_literals),
		cmocka_unit_test(test_path_limits),
		cmocka_unit_test(test_params_size_body),
		cmocka_unit_test(test_params_errors),
		cmocka_unit_test(test_helo_valid),
		cmocka_unit_test(test_address_roundtrip),
		cmocka_unit_test(test_bdat),
		cmocka_unit_test(test_addr_domain),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
