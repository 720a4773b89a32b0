/* Unit tests for the IMAP command reader (imap/imap_parse.c) and the small
 * sequence sets.  Command parsers are tested in test_imap_parse_cmd.c,
 * dates, mailbox names and string writing in test_imap_parse_text.c.
 *
 * The driver below plays the session: it splits the input into CRLF lines,
 * feeds them one at a time, and hands literal bytes over in chunks of 1, 3
 * or all bytes; every well-formed input must give the same command. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "imap/imap_parse.h"

/* ---- helpers ---- */

static void dump_arg(struct buf *b, const struct imap_arg *a);

static void dump_bytes(struct buf *b, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x7f)
			buf_printf(b, "\\x%02x", c);
		else
			buf_putc(b, (char)c);
	}
}

static void dump_list(struct buf *b, const struct imap_arg *list, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		if (i)
			buf_putc(b, ' ');
		dump_arg(b, &list[i]);
	}
}

static void dump_arg(struct buf *b, const struct imap_arg *a)
{
	switch (a->type) {
	case IMAP_ARG_ATOM:
		dump_bytes(b, a->str, a->len);
		break;
	case IMAP_ARG_NUMBER:
		buf_printf(b, "#%llu", (unsigned long long)a->num);
		break;
	case IMAP_ARG_NIL:
		buf_puts(b, "NIL");
		break;
	case IMAP_ARG_QUOTED:
		buf_putc(b, '"');
		dump_bytes(b, a->str, a->len);
		buf_putc(b, '"');
		break;
	case IMAP_ARG_LITERAL:
	case IMAP_ARG_LITERAL8:
		buf_printf(b, "%s{%zu}", a->type == IMAP_ARG_LITERAL8 ? "~" : "", a->len);
		dump_bytes(b, a->str, a->len);
		break;
	case IMAP_ARG_LIST:
		buf_putc(b, '(');
		dump_list(b, a->list, a->count);
		buf_putc(b, ')');
		break;
	case IMAP_ARG_SECTION:
		buf_append(b, a->str, a->len);
		buf_putc(b, '[');
		dump_list(b, a->list, a->count);
		buf_putc(b, ']');
		if (a->partial) {
			buf_putc(b, '<');
			buf_append(b, a->partial, a->partial_len);
			buf_putc(b, '>');
		}
		break;
	}
}

/* "TAG [UID ]NAME args..." */
static char *dump(const struct imap_command *cmd)
{
	struct buf b;
	buf_init(&b, 0);
	buf_append(&b, cmd->tag, cmd->tag_len);
	buf_printf(&b, " %s%s", cmd->uid ? "UID " : "", cmd->name);
	for (size_t i = 0; i < cmd->nargs; i++) {
		buf_putc(&b, ' ');
		dump_arg(&b, &cmd->args[i]);
	}
	return b.data;
}

struct result {
	enum imap_parse_status st;
	struct imap_command *cmd;
	struct imap_parse_error err;
	char tag[64];
	int conts;     /* "+" continuations the session would have sent */
	size_t used;   /* input consumed */
};

/* Feed `in` until a command is done, an error, or the input ends. */
static void run(struct imap_parser *p, const char *in, size_t len, size_t chunk, struct result *r)
{
	size_t pos = 0;
	enum imap_parse_status st = IMAP_PARSE_NEED_LINE;
	memset(r, 0, sizeof(*r));
	while (pos < len) {
		const char *eol = memmem(in + pos, len - pos, "\r\n", 2);
		size_t ll = eol ? (size_t)(eol - (in + pos)) : len - pos;
		st = imap_parser_feed_line(p, in + pos, ll);
		pos += ll + (eol ? 2 : 0);
		while (st == IMAP_PARSE_NEED_LITERAL) {
			const struct imap_literal_info *li = imap_parser_literal(p);
			if (li->sync && !li->discard)
				r->conts++;
			uint64_t left = li->size;
			st = IMAP_PARSE_NEED_LINE;
			while (left > 0) {
				size_t n = chunk;
				if (n > left)
					n = (size_t)left;
				if (n > len - pos)
					n = len - pos;
				if (n == 0) {
					r->st = IMAP_PARSE_NEED_LITERAL;
					r->used = pos;
					return;
				}
				size_t used = 0;
				st = imap_parser_feed_literal(p, in + pos, n, &used);
				assert_int_equal(used, n);
				pos += n;
				left -= n;
				if (st == IMAP_PARSE_ERROR)
					goto out;
				assert_int_equal(st, left ? IMAP_PARSE_NEED_LITERAL : IMAP_PARSE_NEED_LINE);
			}
		}
		if (st == IMAP_PARSE_DONE || st == IMAP_PARSE_ERROR)
			break;
	}
out:
	r->st = st;
	r->used = pos;
	if (st == IMAP_PARSE_DONE) {
		r->cmd = imap_parser_take(p);
		assert_non_null(r->cmd);
	} else if (st == IMAP_PARSE_ERROR) {
		r->err = *imap_parser_error(p);
		if (r->err.tag_known)
			snprintf(r->tag, sizeof(r->tag), "%.*s", (int)r->err.tag_len, r->err.tag);
		r->err.tag = NULL;
	}
}

static struct imap_parse_limits deflim(void)
{
	struct imap_parse_limits lim;
	imap_parse_limits_default(&lim);
	return lim;
}

static void parse_lim(const char *in, size_t len, const struct imap_parse_limits *lim, size_t chunk,
                      struct result *r)
{
	struct imap_parser *p = imap_parser_new(lim);
	assert_non_null(p);
	run(p, in, len, chunk, r);
	imap_parser_free(&p);
	assert_null(p);
}

static const size_t chunks[] = { 1, 3, SIZE_MAX };

/* The input parses to `want` (a dump) whatever the literal chunking. */
static void expect_cmd_len(const char *in, size_t len, const char *want)
{
	struct imap_parse_limits lim = deflim();
	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		struct result r;
		parse_lim(in, len, &lim, chunks[c], &r);
		if (r.st != IMAP_PARSE_DONE)
			fail_msg("'%s': status %d error '%s'", in, r.st, r.err.msg ? r.err.msg : "");
		char *d = dump(r.cmd);
		assert_string_equal(d, want);
		assert_int_equal(r.used, len);
		free(d);
		imap_command_free(&r.cmd);
		assert_null(r.cmd);
	}
}

static void expect_cmd(const char *in, const char *want)
{
	expect_cmd_len(in, strlen(in), want);
}

/* The input is refused with `msg`; tag is the tag the BAD carries or NULL. */
static void expect_err_lim(const char *in, size_t len, const struct imap_parse_limits *lim, const char *msg,
                           const char *tag)
{
	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		struct result r;
		parse_lim(in, len, lim, chunks[c], &r);
		if (r.st != IMAP_PARSE_ERROR)
			fail_msg("'%s': status %d, expected error '%s'", in, r.st, msg);
		assert_string_equal(r.err.msg, msg);
		assert_int_equal(r.err.tag_known, tag != NULL);
		if (tag)
			assert_string_equal(r.tag, tag);
		imap_command_free(&r.cmd);
	}
}

static void expect_err(const char *in, const char *msg, const char *tag)
{
	struct imap_parse_limits lim = deflim();
	expect_err_lim(in, strlen(in), &lim, msg, tag);
}

/* ---- tokens ---- */

static void test_every_token_type(void **state)
{
	static const char in[] = "A1 FETCH atom 123 nil \"q \\\" \\\\ x\" {3}\r\nabc ~{2}\r\n\0\x01"
	                         " (a (b)) BODY.PEEK[1.2]<0.5> []x 18446744073709551616 \\Seen 1:*,$";
	expect_cmd_len(in, sizeof(in) - 1,
	               "A1 FETCH atom #123 NIL \"q \" \\ x\" {3}abc ~{2}\\x00\\x01 (a (b)) BODY.PEEK[1.2]<0.5>"
	               " []x 18446744073709551616 \\Seen 1:*,$");

	struct result r;
	struct imap_parse_limits lim = deflim();
	parse_lim(in, sizeof(in) - 1, &lim, 1, &r);
	assert_int_equal(r.st, IMAP_PARSE_DONE);
	const struct imap_arg *a = r.cmd->args;
	assert_int_equal(r.cmd->nargs, 12);
	assert_int_equal(a[0].type, IMAP_ARG_ATOM);
	assert_string_equal(a[0].str, "atom");
	assert_int_equal(a[1].type, IMAP_ARG_NUMBER);
	assert_int_equal(a[1].num, 123);
	assert_string_equal(a[1].str, "123");
	assert_int_equal(a[2].type, IMAP_ARG_NIL);
	assert_string_equal(a[2].str, "nil"); /* the bytes are kept */
	assert_int_equal(a[3].type, IMAP_ARG_QUOTED);
	assert_int_equal(a[3].len, 7);
	assert_string_equal(a[3].str, "q \" \\ x");
	assert_int_equal(a[4].type, IMAP_ARG_LITERAL);
	assert_int_equal(a[4].len, 3);
	assert_string_equal(a[4].str, "abc");
	assert_int_equal(a[5].type, IMAP_ARG_LITERAL8);
	assert_int_equal(a[5].len, 2);
	assert_memory_equal(a[5].str, "\0\x01", 2);
	assert_int_equal(a[6].type, IMAP_ARG_LIST);
	assert_int_equal(a[6].count, 2);
	assert_int_equal(a[6].list[1].type, IMAP_ARG_LIST);
	assert_int_equal(a[6].list[1].count, 1);
	assert_string_equal(a[6].list[1].list[0].str, "b");
	assert_int_equal(a[7].type, IMAP_ARG_SECTION);
	assert_string_equal(a[7].str, "BODY.PEEK");
	assert_int_equal(a[7].count, 1);
	assert_string_equal(a[7].list[0].str, "1.2");
	assert_int_equal(a[7].partial_len, 3);
	assert_memory_equal(a[7].partial, "0.5", 3);
	assert_int_equal(a[8].type, IMAP_ARG_ATOM);
	assert_int_equal(a[9].type, IMAP_ARG_ATOM); /* too big for a NUMBER */
	assert_int_equal(r.conts, 2);               /* two synchronizing literals */
	assert_int_equal(r.cmd->size, sizeof(in) - 1 + 2); /* + the CRLF the last line lacks */
	imap_command_free(&r.cmd);
}

static void test_quoted_strings(void **state)
{
	expect_cmd("a NOOP \"\" \"a b\" \"\\\\\\\"\"", "a NOOP \"\" \"a b\" \"\\\"\"");
	/* RFC 9051 allows UTF-8 in quoted strings; it is flagged */
	struct result r;
	struct imap_parse_limits lim = deflim();
	parse_lim("a X \"caf\xc3\xa9\" \"cafe\"", 18, &lim, 1, &r);
	assert_int_equal(r.st, IMAP_PARSE_DONE);
	assert_true(r.cmd->args[0].eightbit);
	assert_false(r.cmd->args[1].eightbit);
	imap_command_free(&r.cmd);
	expect_err("a X \"abc", "Unterminated quoted string", "a");
	expect_err("a X \"a\\nb\"", "Invalid escape in a quoted string", "a");
	expect_err("a X \"a\\", "Invalid escape in a quoted string", "a");
	expect_err("a X \"a\rb\"", "CR or LF in a quoted string", "a");
	expect_err("a X \"a\"b", "Expected SP between arguments", "a");
	expect_err("a X a\"b\"", "Quote inside an atom", "a");
}

static void test_tags_and_names(void **state)
{
	expect_cmd("a.b-1 noop", "a.b-1 NOOP");
	expect_cmd("A]1 Noop", "A]1 NOOP");
	expect_cmd("A1 uid fetch 1 FLAGS", "A1 UID FETCH #1 FLAGS");
	expect_cmd("A1 UID EXPUNGE 1:3", "A1 UID EXPUNGE 1:3");
	/* an unknown command is returned as is: the session answers it */
	expect_cmd("A1 FROBNICATE x (y)", "A1 FROBNICATE x (y)");
	expect_cmd("A1 X-VENDOR", "A1 X-VENDOR");
	expect_err("+ NOOP", "Invalid tag", NULL);
	expect_err("A+1 NOOP", "Invalid tag", NULL);
	expect_err("A*1 NOOP", "Invalid tag", NULL);
	expect_err("A(1 NOOP", "Invalid tag", NULL);
	expect_err("\"A\" NOOP", "Invalid tag", NULL);
	expect_err("A%1 NOOP", "Invalid tag", NULL);
	expect_err("A\\1 NOOP", "Invalid tag", NULL);
	expect_err(" NOOP", "Missing tag", NULL);
	expect_err("A1", "Missing command name", "A1");
	expect_err("A1 ", "Missing command name", "A1");
	expect_err("A1  NOOP", "Missing command name", "A1");
	expect_err("A1 UID", "Missing command after UID", "A1");
	expect_err("A1 UID ", "Missing command after UID", "A1");
	expect_err("A1 NO*OP", "Invalid command name", "A1");
	expect_err("A1 {3}", "Invalid command name", "A1");
	expect_err("A1 \"NOOP\"", "Invalid command name", "A1");
	expect_err("A1 NOOP ", "Trailing space", "A1");
}

static void test_spacing_and_balance(void **state)
{
	expect_cmd("a X () (()) (a) ((a b) c)", "a X () (()) (a) ((a b) c)");
	expect_err("a X a  b", "Extra space between arguments", "a");
	expect_err("a X (a )", "Space before ')'", "a");
	expect_err("a X ( a)", "Unexpected space", "a");
	expect_err("a X (a)(b)", "Expected SP between arguments", "a");
	expect_err("a X (a", "Missing ')'", "a");
	expect_err("a X ((a)", "Missing ')'", "a");
	expect_err("a X a)", "Unbalanced ')'", "a");
	expect_err("a X )", "Unbalanced ')'", "a");
	expect_err("a X (a))", "Unbalanced ')'", "a");
	expect_err("a FETCH 1 BODY[1", "Missing ']'", "a");
	expect_err("a FETCH 1 BODY[TEXT ]", "Space before ']'", "a");
	expect_err("a FETCH 1 BODY[]x", "Expected SP between arguments", "a");
	expect_err("a FETCH 1 BODY[]<1.2", "Unterminated partial", "a");
	expect_err("a FETCH 1 BODY[]<1,2>", "Invalid partial", "a");
	expect_err("a FETCH 1 BODY[]<123456789012345678901.123456789012345678901>", "Invalid partial", "a");
	expect_err("a X a{3}", "'{' inside an atom", "a");
	/* nesting */
	char deep[200] = "a X ";
	struct imap_parse_limits lim = deflim();
	lim.max_depth = 8;
	for (int i = 0; i < 9; i++)
		strcat(deep, "(");
	expect_err_lim(deep, strlen(deep), &lim, "Arguments nested too deeply", "a");
	strcpy(deep, "a X ((((((((a))))))))");
	lim.max_depth = 8;
	struct result r;
	parse_lim(deep, strlen(deep), &lim, 1, &r);
	assert_int_equal(r.st, IMAP_PARSE_DONE);
	imap_command_free(&r.cmd);
}

static void test_sections_in_tokens(void **state)
{
	expect_cmd("a FETCH 1 (BODY[] body.peek[HEADER.FIELDS (From \"To\")]<0.10> BINARY.SIZE[1])",
	           "a FETCH #1 (BODY[] body.peek[HEADER.FIELDS (From \"To\")]<0.10> BINARY.SIZE[#1])");
	/* a literal inside a section */
	expect_cmd("a FETCH 1 BODY[HEADER.FIELDS ({4}\r\nFrom)]", "a FETCH #1 BODY[HEADER.FIELDS ({4}From)]");
	expect_cmd("a UID FETCH 1 BINARY[1]", "a UID FETCH #1 BINARY[#1]");
	/* outside the five FETCH prefixes, and outside FETCH, brackets are
	 * ordinary atom chars */
	expect_cmd("a SELECT [Gmail]/Sent", "a SELECT [Gmail]/Sent");
	expect_cmd("a FETCH 1 BODYX[1]", "a FETCH #1 BODYX[1]");
	expect_cmd("a SELECT Body[1]", "a SELECT Body[1]");
	expect_err("a SELECT body[a (b)]", "Expected SP between arguments", "a");
	expect_err("a FETCH 1 body[a (b)", "Missing ']'", "a");
	/* NOTIFY's MessageNew takes fetch-atts (RFC 5465 8); its mailbox
	 * names keep their brackets */
	expect_cmd("a NOTIFY SET (SELECTED (MessageNew (UID BODY.PEEK[1] "
		   "BODY.PEEK[HEADER.FIELDS (From)]) MessageExpunge)) (MAILBOXES [Gmail]/Sent NONE)",
		   "a NOTIFY SET (SELECTED (MessageNew (UID BODY.PEEK[#1] "
		   "BODY.PEEK[HEADER.FIELDS (From)]) MessageExpunge)) (MAILBOXES [Gmail]/Sent NONE)");
}

static void test_nul_and_8bit_real(void **state)
{
	struct imap_parse_limits lim = deflim();
	/* a NUL before the tag ends: no tag to answer */
	expect_err_lim("A\0 NOOP", 7, &lim, "NUL octet in a command line", NULL);
	expect_err_lim("A1 NOOP\0", 8, &lim, "NUL octet in a command line", "A1");
	expect_err_lim("A1 X \"a\0b\"", 10, &lim, "NUL octet in a command line", "A1");
	expect_err("A1 SELECT caf\xc3\xa9", "8-bit octet in an atom", "A1");
	expect_err("A1 SELECT a\tb", "Control character in an atom", "A1");
	expect_err("A1 SELECT a\x7f", "Control character in an atom", "A1");
	/* NUL inside a plain literal: the literal is read, the command refused
	 * and its next line dropped */
	struct imap_parser *p = imap_parser_new(&lim);
	assert_int_equal(imap_parser_feed_line(p, "A1 LOGIN {3}", 12), IMAP_PARSE_NEED_LITERAL);
	assert_int_equal(imap_parser_feed_literal(p, "a", 1, NULL), IMAP_PARSE_NEED_LITERAL);
	assert_int_equal(imap_parser_feed_literal(p, "\0", 1, NULL), IMAP_PARSE_ERROR);
	const struct imap_parse_error *e = imap_parser_error(p);
	assert_string_equal(e->msg, "NUL octet in a literal (use literal8)");
	assert_true(e->tag_known);
	assert_int_equal(e->recovery, IMAP_RECOVER_DISCARD);
	assert_int_equal(e->discard, 1);
	assert_int_equal(imap_parser_feed_literal(p, "c", 1, NULL), IMAP_PARSE_NEED_LINE);
	assert_int_equal(imap_parser_feed_line(p, " pass", 5), IMAP_PARSE_NEED_LINE);
	assert_int_equal(imap_parser_feed_line(p, "A2 NOOP", 7), IMAP_PARSE_DONE);
	struct imap_command *cmd = imap_parser_take(p);
	assert_string_equal(cmd->tag, "A2");
	imap_command_free(&cmd);
	/* a NUL early in a literal too large to drop: close */
	assert_int_equal(imap_parser_feed_line(p, "A3 APPEND x {5000000}", 21), IMAP_PARSE_NEED_LITERAL);
	assert_int_equal(imap_parser_feed_literal(p, "\0", 1, NULL), IMAP_PARSE_ERROR);
	assert_int_equal(imap_parser_error(p)->recovery, IMAP_RECOVER_CLOSE);
	imap_parser_free(&p);
}

/* ---- literals ---- */

static void test_literal_kinds(void **state)
{
	struct imap_parse_limits lim = deflim();
	struct imap_parser *p = imap_parser_new(&lim);
	const struct imap_literal_info *li;

	/* synchronizing */
	assert_int_equal(imap_parser_feed_line(p, "A1 LOGIN {4}", 12), IMAP_PARSE_NEED_LITERAL);
	li = imap_parser_literal(p);
	assert_int_equal(li->size, 4);
	assert_true(li->sync);
	assert_false(li->literal8);
	assert_false(li->discard);
	assert_int_equal(imap_parser_feed_literal(p, "fred", 4, NULL), IMAP_PARSE_NEED_LINE);
	/* non-synchronizing (RFC 7888 example) */
	assert_int_equal(imap_parser_feed_line(p, " {7+}", 5), IMAP_PARSE_NEED_LITERAL);
	li = imap_parser_literal(p);
	assert_int_equal(li->size, 7);
	assert_false(li->sync);
	assert_int_equal(imap_parser_feed_literal(p, "fat man", 7, NULL), IMAP_PARSE_NEED_LINE);
	assert_int_equal(imap_parser_feed_line(p, "", 0), IMAP_PARSE_DONE);
	struct imap_command *cmd = imap_parser_take(p);
	char *d = dump(cmd);
	assert_string_equal(d, "A1 LOGIN {4}fred {7}fat man");
	free(d);
	imap_command_free(&cmd);

	/* literal8, both forms */
	assert_int_equal(imap_parser_feed_line(p, "A2 APPEND x ~{3}", 16), IMAP_PARSE_NEED_LITERAL);
	li = imap_parser_literal(p);
	assert_true(li->literal8);
	assert_true(li->sync);
	assert_int_equal(imap_parser_feed_literal(p, "\0\0\0", 3, NULL), IMAP_PARSE_NEED_LINE);
	assert_int_equal(imap_parser_feed_line(p, " ~{2+}", 6), IMAP_PARSE_NEED_LITERAL);
	li = imap_parser_literal(p);
	assert_true(li->literal8);
	assert_false(li->sync);
	assert_int_equal(imap_parser_feed_literal(p, "\0a", 2, NULL), IMAP_PARSE_NEED_LINE);
	assert_int_equal(imap_parser_feed_line(p, "", 0), IMAP_PARSE_DONE);
	cmd = imap_parser_take(p);
	d = dump(cmd);
	assert_string_equal(d, "A2 APPEND x ~{3}\\x00\\x00\\x00 ~{2}\\x00a");
	free(d);
	imap_command_free(&cmd);

	/* zero-length: complete at once, the next line follows directly */
	assert_int_equal(imap_parser_feed_line(p, "A3 LOGIN {0}", 12), IMAP_PARSE_NEED_LITERAL);
	li = imap_parser_literal(p);
	assert_int_equal(li->size, 0);
	assert_true(li->sync);
	assert_int_equal(imap_parser_feed_literal(p, NULL, 0, NULL), IMAP_PARSE_NEED_LINE);
	assert_int_equal(imap_parser_feed_line(p, " {0+}", 5), IMAP_PARSE_NEED_LITERAL);
	assert_int_equal(imap_parser_feed_line(p, "", 0), IMAP_PARSE_DONE);
	cmd = imap_parser_take(p);
	assert_int_equal(cmd->nargs, 2);
	assert_int_equal(cmd->args[0].type, IMAP_ARG_LITERAL);
	assert_int_equal(cmd->args[0].len, 0);
	assert_string_equal(cmd->args[0].str, "");
	imap_command_free(&cmd);
	imap_parser_free(&p);

	expect_cmd("a X ({1}\r\na b {2+}\r\ncd) e", "a X ({1}a b {2}cd) e");
	expect_cmd("a X {2}\r\n\r\n\r\n", "a X {2}\\x0d\\x0a");
	expect_err("a LOGIN {3} x", "A literal announcement must end the line", "a");
	expect_err("a LOGIN {3", "Invalid literal announcement", "a");
	expect_err("a LOGIN {}", "Invalid literal size", "a");
	expect_err("a LOGIN {x}", "Invalid literal size", "a");
	expect_err("a LOGIN {3-}", "Invalid literal announcement", "a");
	expect_err("a LOGIN {3}\r\nabcx", "Expected SP between arguments", "a");
}

static void test_literal_chunks(void **state)
{
	/* a 1000-byte literal handed over 1, 3 and 1000 bytes at a time, and
	 * bytes beyond the literal are not consumed */
	struct buf in;
	buf_init(&in, 0);
	static const char head[] = "A1 APPEND INBOX (\\Seen) {1000}\r\n";
	buf_puts(&in, head);
	for (int i = 0; i < 1000; i++)
		buf_putc(&in, (char)('a' + i % 26));
	buf_puts(&in, "\r\n");
	struct imap_parse_limits lim = deflim();
	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		struct result r;
		parse_lim(in.data, in.len, &lim, chunks[c], &r);
		assert_int_equal(r.st, IMAP_PARSE_DONE);
		assert_int_equal(r.cmd->nargs, 3);
		assert_int_equal(r.cmd->args[2].len, 1000);
		assert_memory_equal(r.cmd->args[2].str, in.data + sizeof(head) - 1, 1000);
		assert_int_equal(r.conts, 1);
		imap_command_free(&r.cmd);
	}
	struct imap_parser *p = imap_parser_new(&lim);
	assert_int_equal(imap_parser_feed_line(p, "A1 X {3}", 8), IMAP_PARSE_NEED_LITERAL);
	size_t used;
	assert_int_equal(imap_parser_feed_literal(p, "abcdef", 6, &used), IMAP_PARSE_NEED_LINE);
	assert_int_equal(used, 3);
	assert_int_equal(imap_parser_feed_line(p, "", 0), IMAP_PARSE_DONE);
	imap_parser_free(&p); /* frees the untaken command */
	buf_free(&in);
}

static void test_literal_too_short(void **state)
{
	/* The client announced {10} but sent "hello" and its next command: the
	 * 10 bytes swallow "hello\r\nA2 " and "NOOP" continues A1, badly. */
	expect_err("A1 LOGIN {10}\r\nhello\r\nA2 NOOP\r\n", "Expected SP between arguments", "A1");
	/* and if it continued validly, the command is just different */
	expect_cmd("A1 LOGIN {10}\r\nhello\r\nA2  NOOP\r\n", "A1 LOGIN {10}hello\\x0d\\x0aA2  NOOP");
}

static void test_literal_limits_sync(void **state)
{
	struct imap_parse_limits lim = deflim();
	lim.max_literal = 100;
	struct imap_parser *p = imap_parser_new(&lim);
	/* too big and synchronizing: no "+" is sent, the command is over */
	assert_int_equal(imap_parser_feed_line(p, "A1 LOGIN {101}", 14), IMAP_PARSE_ERROR);
	const struct imap_parse_error *e = imap_parser_error(p);
	assert_string_equal(e->msg, "Literal too large");
	assert_true(e->toobig);
	assert_true(e->limit);
	assert_true(e->tag_known);
	assert_memory_equal(e->tag, "A1", 2);
	assert_int_equal(e->tag_len, 2);
	assert_int_equal(e->recovery, IMAP_RECOVER_NONE);
	assert_int_equal(imap_parser_feed_line(p, "A2 NOOP", 7), IMAP_PARSE_DONE);
	struct imap_command *cmd = imap_parser_take(p);
	assert_string_equal(cmd->name, "NOOP");
	imap_command_free(&cmd);
	/* exactly at the limit is fine */
	assert_int_equal(imap_parser_feed_line(p, "A3 LOGIN {100}", 14), IMAP_PARSE_NEED_LITERAL);
	imap_parser_reset(p);
	/* APPEND message data has its own limit; the mailbox name does not */
	assert_int_equal(imap_parser_feed_line(p, "A4 APPEND INBOX {5000}", 22), IMAP_PARSE_NEED_LITERAL);
	imap_parser_reset(p);
	assert_int_equal(imap_parser_feed_line(p, "A5 APPEND {5000}", 16), IMAP_PARSE_ERROR);
	assert_true(imap_parser_error(p)->toobig);
	/* REPLACE (RFC 8508) likewise after its number and mailbox, UID
	 * REPLACE too; its mailbox name is an ordinary literal */
	assert_int_equal(imap_parser_feed_line(p, "A6 REPLACE 1 INBOX {5000}", 25), IMAP_PARSE_NEED_LITERAL);
	imap_parser_reset(p);
	assert_int_equal(imap_parser_feed_line(p, "A7 UID REPLACE 9 INBOX (\\Seen) {5000}", 37),
	                 IMAP_PARSE_NEED_LITERAL);
	imap_parser_reset(p);
	assert_int_equal(imap_parser_feed_line(p, "A8 REPLACE 1 {5000}", 19), IMAP_PARSE_ERROR);
	assert_true(imap_parser_error(p)->toobig);
	assert_int_equal(imap_parser_feed_line(p, "A9 UID APPEND INBOX {5000}", 26), IMAP_PARSE_ERROR);
	imap_parser_free(&p);

	lim = deflim();
	lim.max_append = 1000;
	lim.max_append_total = 1500;
	p = imap_parser_new(&lim);
	assert_int_equal(imap_parser_feed_line(p, "A1 APPEND INBOX {1001}", 22), IMAP_PARSE_ERROR);
	assert_string_equal(imap_parser_error(p)->msg, "Message too large");
	assert_int_equal(imap_parser_feed_line(p, "A2 APPEND INBOX {1000}", 22), IMAP_PARSE_NEED_LITERAL);
	static char msg[1000];
	memset(msg, 'x', sizeof(msg));
	assert_int_equal(imap_parser_feed_literal(p, msg, 1000, NULL), IMAP_PARSE_NEED_LINE);
	/* MULTIAPPEND: the second message passes the total */
	assert_int_equal(imap_parser_feed_line(p, " (\\Seen) {501}", 14), IMAP_PARSE_ERROR);
	assert_string_equal(imap_parser_error(p)->msg, "Messages too large in total");
	assert_true(imap_parser_error(p)->toobig);
	imap_parser_free(&p);
}

static void test_literal_limits_nonsync(void **state)
{
	struct imap_parse_limits lim = deflim();
	lim.nonsync = IMAP_NONSYNC_PLUS;
	lim.max_literal = 100;
	lim.max_discard = 1000;
	struct imap_parser *p = imap_parser_new(&lim);
	/* too big, non-synchronizing: the bytes come anyway and are dropped */
	assert_int_equal(imap_parser_feed_line(p, "A1 LOGIN {500+}", 15), IMAP_PARSE_ERROR);
	const struct imap_parse_error *e = imap_parser_error(p);
	assert_true(e->toobig);
	assert_int_equal(e->recovery, IMAP_RECOVER_DISCARD);
	assert_int_equal(e->discard, 500);
	static char junk[500];
	memset(junk, 'A', sizeof(junk));
	for (int i = 0; i < 499; i++)
		assert_int_equal(imap_parser_feed_literal(p, junk + i, 1, NULL), IMAP_PARSE_NEED_LITERAL);
	assert_int_equal(imap_parser_feed_literal(p, junk, 1, NULL), IMAP_PARSE_NEED_LINE);
	/* the rest of the command, with another non-synchronizing literal */
	assert_int_equal(imap_parser_feed_line(p, " {3+}", 5), IMAP_PARSE_NEED_LITERAL);
	const struct imap_literal_info *li = imap_parser_literal(p);
	assert_true(li->discard);
	assert_false(li->sync);
	assert_int_equal(li->size, 3);
	assert_int_equal(imap_parser_feed_literal(p, "B1 ", 3, NULL), IMAP_PARSE_NEED_LINE);
	/* a synchronizing literal is never invited: the command ends */
	assert_int_equal(imap_parser_feed_line(p, " {3}", 4), IMAP_PARSE_NEED_LINE);
	assert_int_equal(imap_parser_feed_line(p, "A2 NOOP", 7), IMAP_PARSE_DONE);
	struct imap_command *cmd = imap_parser_take(p);
	assert_string_equal(cmd->tag, "A2");
	imap_command_free(&cmd);
	/* too much to drop: close */
	assert_int_equal(imap_parser_feed_line(p, "A3 LOGIN {1001+}", 16), IMAP_PARSE_ERROR);
	assert_int_equal(imap_parser_error(p)->recovery, IMAP_RECOVER_CLOSE);
	assert_true(imap_parser_error(p)->toobig);
	imap_parser_free(&p);

	/* LITERAL-: 4096 at most (RFC 7888 5), whatever max_literal says */
	lim = deflim();
	lim.max_literal = 100000;
	expect_err_lim("A1 APPEND INBOX {4097+}", 23, &lim,
	               "Non-synchronizing literal larger than 4096 octets (LITERAL-)", "A1");
	p = imap_parser_new(&lim);
	assert_int_equal(imap_parser_feed_line(p, "A1 LOGIN {4096+}", 16), IMAP_PARSE_NEED_LITERAL);
	imap_parser_free(&p);
	/* neither LITERAL+ nor LITERAL- */
	lim.nonsync = IMAP_NONSYNC_NONE;
	expect_err_lim("A1 LOGIN {1+}", 13, &lim, "Non-synchronizing literals are not supported", "A1");
	/* no BINARY */
	lim = deflim();
	lim.literal8 = false;
	expect_err_lim("A1 APPEND x ~{1}", 16, &lim, "literal8 needs the BINARY extension", "A1");
	/* an absurd size saturates and is too big */
	expect_err("A1 LOGIN {99999999999999999999999}", "Literal too large", "A1");
}

/* Before login (max_append 0) APPEND message data is refused at its
 * announcement, whatever its size, before a byte of it is read; after
 * imap_parser_set_limits the same command is accepted. */
static void test_literal_limits_by_state(void **state)
{
	struct imap_parse_limits lim = deflim();
	lim.nonsync = IMAP_NONSYNC_PLUS;
	lim.max_append = 0;
	lim.max_append_total = 0;
	lim.max_discard = 8192;
	struct imap_parser *p = imap_parser_new(&lim);
	assert_int_equal(imap_parser_feed_line(p, "a APPEND INBOX {62914560+}", 26), IMAP_PARSE_ERROR);
	const struct imap_parse_error *e = imap_parser_error(p);
	assert_true(e->toobig);
	assert_true(e->tag_known);
	assert_int_equal(e->recovery, IMAP_RECOVER_CLOSE);
	/* small: read and dropped; synchronizing: never invited */
	assert_int_equal(imap_parser_feed_line(p, "b APPEND INBOX {10+}", 20), IMAP_PARSE_ERROR);
	assert_int_equal(imap_parser_error(p)->recovery, IMAP_RECOVER_DISCARD);
	assert_int_equal(imap_parser_feed_literal(p, "0123456789", 10, NULL), IMAP_PARSE_NEED_LINE);
	assert_int_equal(imap_parser_feed_line(p, "", 0), IMAP_PARSE_NEED_LINE);
	assert_int_equal(imap_parser_feed_line(p, "c APPEND INBOX {10}", 19), IMAP_PARSE_ERROR);
	assert_int_equal(imap_parser_error(p)->recovery, IMAP_RECOVER_NONE);
	/* logged in: the configured limit */
	lim.max_append = lim.max_append_total = 1000;
	imap_parser_set_limits(p, &lim);
	assert_int_equal(imap_parser_feed_line(p, "d APPEND INBOX {10}", 19), IMAP_PARSE_NEED_LITERAL);
	assert_int_equal(imap_parser_feed_literal(p, "0123456789", 10, NULL), IMAP_PARSE_NEED_LINE);
	assert_int_equal(imap_parser_feed_line(p, "", 0), IMAP_PARSE_DONE);
	struct imap_command *cmd = imap_parser_take(p);
	assert_string_equal(cmd->tag, "d");
	imap_command_free(&cmd);
	imap_parser_free(&p);
}

/* The session cannot take a literal now (input budget): a synchronizing
 * one ends the command (no "+"), a {n+} one is read and dropped. */
static void test_literal_refuse(void **state)
{
	struct imap_parse_limits lim = deflim();
	lim.nonsync = IMAP_NONSYNC_PLUS;
	struct imap_parser *p = imap_parser_new(&lim);
	assert_int_equal(imap_parser_feed_line(p, "a APPEND INBOX {500}", 20), IMAP_PARSE_NEED_LITERAL);
	assert_int_equal(imap_parser_literal_refuse(p, "busy"), IMAP_PARSE_ERROR);
	const struct imap_parse_error *e = imap_parser_error(p);
	assert_string_equal(e->msg, "busy");
	assert_true(e->tag_known);
	assert_int_equal(e->tag_len, 1);
	assert_int_equal(e->recovery, IMAP_RECOVER_NONE);
	assert_int_equal(imap_parser_feed_line(p, "b NOOP", 6), IMAP_PARSE_DONE);
	struct imap_command *cmd = imap_parser_take(p);
	imap_command_free(&cmd);
	/* {n+}: more than max_discard is still dropped, not a close */
	assert_int_equal(imap_parser_feed_line(p, "c APPEND INBOX {2000000+}", 25), IMAP_PARSE_NEED_LITERAL);
	assert_int_equal(imap_parser_literal_refuse(p, "busy"), IMAP_PARSE_ERROR);
	e = imap_parser_error(p);
	assert_int_equal(e->recovery, IMAP_RECOVER_DISCARD);
	assert_int_equal(e->discard, 2000000);
	static char junk[100000];
	for (int i = 0; i < 19; i++)
		assert_int_equal(imap_parser_feed_literal(p, junk, sizeof(junk), NULL), IMAP_PARSE_NEED_LITERAL);
	assert_int_equal(imap_parser_feed_literal(p, junk, sizeof(junk), NULL), IMAP_PARSE_NEED_LINE);
	assert_int_equal(imap_parser_feed_line(p, "", 0), IMAP_PARSE_NEED_LINE);
	assert_int_equal(imap_parser_feed_line(p, "d NOOP", 6), IMAP_PARSE_DONE);
	cmd = imap_parser_take(p);
	assert_string_equal(cmd->tag, "d");
	imap_command_free(&cmd);
	/* not inside a literal: a misuse, the connection closes */
	assert_int_equal(imap_parser_literal_refuse(p, "busy"), IMAP_PARSE_ERROR);
	assert_int_equal(imap_parser_error(p)->recovery, IMAP_RECOVER_CLOSE);
	imap_parser_free(&p);
}

/* RFC 5464 4.3: a SETMETADATA value over max_metadata_value is a NO with
 * the limit, refused at its announcement: a synchronizing one at once, a
 * {n+} one (and the rest of its command, whatever the size) dropped first.
 * Other literals keep their limits and their BAD. */
static void test_metadata_value_refuse(void **state)
{
	struct imap_parse_limits lim = deflim();
	lim.nonsync = IMAP_NONSYNC_PLUS;
	lim.max_literal = 1000;
	lim.max_discard = 100;
	lim.max_metadata_value = 500;
	struct imap_parser *p = imap_parser_new(&lim);
	/* synchronizing, over the value limit but under the literal limit */
	const char *l1 = "a SETMETADATA INBOX (/private/comment {501}";
	assert_int_equal(imap_parser_feed_line(p, l1, strlen(l1)), IMAP_PARSE_ERROR);
	const struct imap_parse_error *e = imap_parser_error(p);
	assert_int_equal(e->metadata_maxsize, 500);
	assert_false(e->toobig);
	assert_int_equal(e->recovery, IMAP_RECOVER_NONE);
	assert_string_equal(e->tag, "a");
	/* literal8, over the literal limit: still the value's NO */
	const char *l2 = "b SETMETADATA INBOX (/private/comment ~{99999999999999999999}";
	assert_int_equal(imap_parser_feed_line(p, l2, strlen(l2)), IMAP_PARSE_ERROR);
	assert_int_equal(imap_parser_error(p)->metadata_maxsize, 500);
	/* the limit itself is a value like any other */
	const char *l3 = "c SETMETADATA INBOX (/private/comment {500}";
	assert_int_equal(imap_parser_feed_line(p, l3, strlen(l3)), IMAP_PARSE_NEED_LITERAL);
	static char junk[5000];
	memset(junk, 'v', sizeof(junk));
	assert_int_equal(imap_parser_feed_literal(p, junk, 500, NULL), IMAP_PARSE_NEED_LINE);
	assert_int_equal(imap_parser_feed_line(p, ")", 1), IMAP_PARSE_DONE);
	struct imap_command *cmd = imap_parser_take(p);
	imap_command_free(&cmd);
	/* {n+}, the second value, over max_discard: read and dropped, with a
	 * further large value; the NO when the command ends */
	const char *l4 = "d SETMETADATA INBOX (/private/a \"a\" /private/b {4000+}";
	assert_int_equal(imap_parser_feed_line(p, l4, strlen(l4)), IMAP_PARSE_NEED_LITERAL);
	const struct imap_literal_info *li = imap_parser_literal(p);
	assert_true(li->discard);
	assert_false(li->sync);
	assert_int_equal(li->size, 4000);
	for (int i = 0; i < 3999; i++)
		assert_int_equal(imap_parser_feed_literal(p, junk, 1, NULL), IMAP_PARSE_NEED_LITERAL);
	assert_int_equal(imap_parser_feed_literal(p, junk, 1, NULL), IMAP_PARSE_NEED_LINE);
	assert_int_equal(imap_parser_feed_line(p, " /private/c {5000+}", 19), IMAP_PARSE_NEED_LITERAL);
	assert_true(imap_parser_literal(p)->discard);
	size_t used;
	assert_int_equal(imap_parser_feed_literal(p, junk, sizeof(junk), &used), IMAP_PARSE_NEED_LINE);
	assert_int_equal(used, 5000);
	assert_int_equal(imap_parser_feed_line(p, ")", 1), IMAP_PARSE_ERROR);
	e = imap_parser_error(p);
	assert_int_equal(e->metadata_maxsize, 500);
	assert_int_equal(e->recovery, IMAP_RECOVER_NONE);
	assert_true(e->tag_known);
	assert_int_equal(e->tag_len, 1);
	assert_memory_equal(e->tag, "d", 1);
	assert_string_equal(e->msg, "Value too large");
	/* the session goes on */
	assert_int_equal(imap_parser_feed_line(p, "e NOOP", 6), IMAP_PARSE_DONE);
	cmd = imap_parser_take(p);
	assert_string_equal(cmd->tag, "e");
	imap_command_free(&cmd);
	/* not values: the mailbox, an entry name, a value in another
	 * command, a value before login (no value limit): the literal limit
	 * and BAD [TOOBIG], a {n+} dropped only up to max_discard */
	const char *bad[] = {
		"f SETMETADATA {1001}",
		"f SETMETADATA INBOX ({1001}",
		"f SETMETADATA INBOX (/private/a \"a\" {1001}",
		"f SETMETADATA INBOX (/private/a ({1001}",
		"f GETMETADATA INBOX {1001}",
		"f UID SETMETADATA INBOX (/private/a {1001}",
		"f SETMETADATA INBOX /private/a {1001}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(imap_parser_feed_line(p, bad[i], strlen(bad[i])), IMAP_PARSE_ERROR);
		e = imap_parser_error(p);
		assert_int_equal(e->metadata_maxsize, 0);
		assert_true(e->toobig);
	}
	assert_int_equal(imap_parser_feed_line(p, "g SETMETADATA {1001+}", 21), IMAP_PARSE_ERROR);
	assert_int_equal(imap_parser_error(p)->recovery, IMAP_RECOVER_CLOSE);
	lim.max_metadata_value = 0;
	imap_parser_set_limits(p, &lim);
	assert_int_equal(imap_parser_feed_line(p, l3, strlen(l3)), IMAP_PARSE_NEED_LITERAL);
	imap_parser_reset(p);
	assert_int_equal(imap_parser_feed_line(p, l1, strlen(l1)), IMAP_PARSE_NEED_LITERAL);
	imap_parser_reset(p);
	const char *l5 = "h SETMETADATA INBOX (/private/comment {1001}";
	assert_int_equal(imap_parser_feed_line(p, l5, strlen(l5)), IMAP_PARSE_ERROR);
	assert_int_equal(imap_parser_error(p)->metadata_maxsize, 0);
	assert_true(imap_parser_error(p)->toobig);
	imap_parser_free(&p);
}

static void test_error_discard_line(void **state)
{
	/* A syntax error on a line ending in {n+}: the literal and the next
	 * line still belong to the rejected command. */
	struct imap_parse_limits lim = deflim();
	struct imap_parser *p = imap_parser_new(&lim);
	assert_int_equal(imap_parser_feed_line(p, "A1 LOGIN (a {2+}", 16), IMAP_PARSE_NEED_LITERAL);
	imap_parser_reset(p);
	assert_int_equal(imap_parser_feed_line(p, "A1 LOGIN a  {2+}", 16), IMAP_PARSE_ERROR);
	const struct imap_parse_error *e = imap_parser_error(p);
	assert_string_equal(e->msg, "Extra space between arguments");
	assert_int_equal(e->recovery, IMAP_RECOVER_DISCARD);
	assert_int_equal(e->discard, 2);
	assert_false(e->toobig);
	assert_false(e->limit);
	assert_int_equal(imap_parser_feed_literal(p, "xy", 2, NULL), IMAP_PARSE_NEED_LINE);
	assert_int_equal(imap_parser_feed_line(p, " more", 5), IMAP_PARSE_NEED_LINE);
	assert_int_equal(imap_parser_feed_line(p, "A2 NOOP", 7), IMAP_PARSE_DONE);
	imap_command_free(&(struct imap_command *){ imap_parser_take(p) });
	/* the same with a synchronizing literal: nothing more comes */
	assert_int_equal(imap_parser_feed_line(p, "A1 LOGIN a  {2}", 15), IMAP_PARSE_ERROR);
	assert_int_equal(imap_parser_error(p)->recovery, IMAP_RECOVER_NONE);
	assert_int_equal(imap_parser_feed_line(p, "A2 NOOP", 7), IMAP_PARSE_DONE);
	imap_command_free(&(struct imap_command *){ imap_parser_take(p) });
	/* while dropping: more bytes offered than owed, then too much to drop */
	assert_int_equal(imap_parser_feed_line(p, "A1 LOGIN a  {3+}", 16), IMAP_PARSE_ERROR);
	size_t used;
	assert_int_equal(imap_parser_feed_literal(p, "abcdef", 6, &used), IMAP_PARSE_NEED_LINE);
	assert_int_equal(used, 3);
	assert_int_equal(imap_parser_feed_line(p, " {2000000+}", 11), IMAP_PARSE_ERROR);
	assert_int_equal(imap_parser_error(p)->recovery, IMAP_RECOVER_CLOSE);
	assert_string_equal(imap_parser_error(p)->msg, "Too much literal data in a rejected command");
	assert_int_equal(imap_parser_feed_line(p, "A2 NOOP", 7), IMAP_PARSE_DONE);
	imap_command_free(&(struct imap_command *){ imap_parser_take(p) });
	/* misuse: a line while literal bytes are owed, bytes when none are */
	assert_int_equal(imap_parser_feed_line(p, "A1 LOGIN {2}", 12), IMAP_PARSE_NEED_LITERAL);
	assert_int_equal(imap_parser_feed_line(p, "A2 NOOP", 7), IMAP_PARSE_ERROR);
	assert_int_equal(imap_parser_error(p)->recovery, IMAP_RECOVER_CLOSE);
	assert_int_equal(imap_parser_feed_literal(p, "ab", 2, NULL), IMAP_PARSE_ERROR);
	assert_int_equal(imap_parser_error(p)->recovery, IMAP_RECOVER_CLOSE);
	imap_parser_free(&p);
}

static void test_line_and_command_limits(void **state)
{
	struct imap_parse_limits lim = deflim();
	lim.max_line = 100;
	char line[200];
	memset(line, 'a', sizeof(line));
	memcpy(line, "A1 X ", 5);
	expect_err_lim(line, 101, &lim, "Command line too long", "A1");
	struct result r;
	parse_lim(line, 100, &lim, 1, &r);
	assert_int_equal(r.st, IMAP_PARSE_DONE);
	imap_command_free(&r.cmd);
	/* an over-long line ending in {n+}: its literal is still dropped */
	memcpy(line + 101, " {5+}", 5);
	struct imap_parser *p = imap_parser_new(&lim);
	assert_int_equal(imap_parser_feed_line(p, line, 106), IMAP_PARSE_ERROR);
	assert_true(imap_parser_error(p)->toobig);
	assert_int_equal(imap_parser_error(p)->recovery, IMAP_RECOVER_DISCARD);
	assert_int_equal(imap_parser_error(p)->discard, 5);
	imap_parser_free(&p);

	/* too many tokens */
	lim = deflim();
	lim.max_tokens = 10;
	expect_err_lim("A1 X 1 2 3 4 5 6 7 8 9 10 11", 28, &lim, "Too many arguments", "A1");
	char nest[40] = "A1 X ";
	for (int i = 0; i < 11; i++)
		strcat(nest, "(");
	for (int i = 0; i < 11; i++)
		strcat(nest, ")");
	expect_err_lim(nest, strlen(nest), &lim, "Too many arguments", "A1");
	parse_lim("A1 X 1 2 3 4 5 6 7 8 9 10", 25, &lim, 1, &r);
	assert_int_equal(r.st, IMAP_PARSE_DONE);
	imap_command_free(&r.cmd);
	/* an implementation limit, not an oversized datum: [LIMIT], not [TOOBIG] */
	parse_lim("A1 X 1 2 3 4 5 6 7 8 9 10 11", 28, &lim, 1, &r);
	assert_int_equal(r.st, IMAP_PARSE_ERROR);
	assert_true(r.err.limit);
	assert_false(r.err.toobig);
}

/* A 100 KB command: refused by default, accepted with larger limits, and
 * the same over literals fed one byte at a time. */
static void test_100k_command(void **state)
{
	struct buf in;
	buf_init(&in, 0);
	buf_puts(&in, "A1 UID FETCH ");
	for (unsigned i = 1; in.len < 100 * 1024; i += 2)
		buf_printf(&in, "%s%u", i > 1 ? "," : "", i);
	buf_puts(&in, " (FLAGS)");
	struct imap_parse_limits lim = deflim();
	expect_err_lim(in.data, in.len, &lim, "Command line too long", "A1");
	lim.max_line = 200 * 1024;
	lim.max_command = 64 * 1024;
	expect_err_lim(in.data, in.len, &lim, "Command too large", "A1");
	lim.max_command = 256 * 1024;
	struct result r;
	parse_lim(in.data, in.len, &lim, 1, &r);
	assert_int_equal(r.st, IMAP_PARSE_DONE);
	assert_true(r.cmd->uid);
	assert_int_equal(r.cmd->nargs, 2);
	struct imap_seqset *set;
	const char *err;
	assert_int_equal(imap_arg_seqset(&r.cmd->args[0], 0, &set, &err), 0);
	assert_true(set->count > 10000);
	assert_true(imap_seqset_contains(set, 1, 0));
	assert_false(imap_seqset_contains(set, 2, 0));
	imap_seqset_free(&set);
	imap_command_free(&r.cmd);
	buf_free(&in);

	/* two 60000-byte literals: fine by default, too large for a 100000
	 * byte command */
	buf_init(&in, 0);
	buf_puts(&in, "A2 LOGIN {60000}\r\n");
	for (int i = 0; i < 60000; i++)
		buf_putc(&in, 'u');
	buf_puts(&in, " {60000}\r\n");
	for (int i = 0; i < 60000; i++)
		buf_putc(&in, 'p');
	buf_puts(&in, "\r\n");
	lim = deflim();
	parse_lim(in.data, in.len, &lim, 1, &r);
	assert_int_equal(r.st, IMAP_PARSE_DONE);
	assert_int_equal(r.cmd->args[1].len, 60000);
	assert_int_equal(r.cmd->args[1].str[59999], 'p');
	assert_int_equal(r.conts, 2);
	imap_command_free(&r.cmd);
	lim.max_command = 100000;
	expect_err_lim(in.data, in.len, &lim, "Command too large", "A2");
	buf_free(&in);
}

static void test_pipelined_and_blank(void **state)
{
	struct imap_parse_limits lim = deflim();
	struct imap_parser *p = imap_parser_new(&lim);
	assert_int_equal(imap_parser_feed_line(p, "", 0), IMAP_PARSE_NEED_LINE);
	assert_null(imap_parser_take(p));
	assert_int_equal(imap_parser_feed_line(p, "A1 NOOP", 7), IMAP_PARSE_DONE);
	/* not taken: dropped by the next line */
	assert_int_equal(imap_parser_feed_line(p, "A2 CAPABILITY", 13), IMAP_PARSE_DONE);
	struct imap_command *cmd = imap_parser_take(p);
	assert_string_equal(cmd->tag, "A2");
	assert_string_equal(cmd->name, "CAPABILITY");
	assert_int_equal(cmd->nargs, 0);
	assert_null(imap_parser_take(p));
	imap_command_free(&cmd);
	assert_null(cmd);
	/* a reset in the middle of a literal */
	assert_int_equal(imap_parser_feed_line(p, "A3 LOGIN {10}", 13), IMAP_PARSE_NEED_LITERAL);
	assert_int_equal(imap_parser_feed_literal(p, "abc", 3, NULL), IMAP_PARSE_NEED_LITERAL);
	imap_parser_reset(p);
	assert_int_equal(imap_parser_feed_line(p, "A4 LOGOUT", 9), IMAP_PARSE_DONE);
	cmd = imap_parser_take(p);
	assert_string_equal(cmd->tag, "A4");
	imap_command_free(&cmd);
	imap_parser_free(&p);
	imap_parser_free(&p); /* idempotent on NULL */
}

/* ---- sequence sets ---- */

static struct imap_seqset *seq_ok(const char *s, unsigned flags)
{
	struct imap_seqset *set;
	const char *err = NULL;
	if (imap_seqset_parse(s, strlen(s), flags, &set, &err) < 0)
		fail_msg("'%s': %s", s, err);
	return set;
}

static void seq_bad(const char *s, unsigned flags, const char *want)
{
	struct imap_seqset *set = (void *)1;
	const char *err = NULL;
	assert_int_equal(imap_seqset_parse(s, strlen(s), flags, &set, &err), -1);
	assert_null(set);
	assert_string_equal(err, want);
}

static void test_seqset(void **state)
{
	struct imap_seqset *s = seq_ok("5", 0);
	assert_int_equal(s->count, 1);
	assert_int_equal(s->ranges[0].lo, 5);
	assert_int_equal(s->ranges[0].hi, 5);
	assert_false(s->star);
	imap_seqset_free(&s);

	s = seq_ok("9:7", 0); /* reverse range */
	assert_int_equal(s->ranges[0].lo, 7);
	assert_int_equal(s->ranges[0].hi, 9);
	assert_true(imap_seqset_contains(s, 8, 100));
	assert_false(imap_seqset_contains(s, 10, 100));
	imap_seqset_free(&s);

	s = seq_ok("5,7:9", 0);
	assert_int_equal(s->count, 2);
	assert_true(imap_seqset_contains(s, 5, 20));
	assert_false(imap_seqset_contains(s, 6, 20));
	assert_true(imap_seqset_contains(s, 9, 20));
	assert_int_equal(imap_seqset_highest(s), 9);
	imap_seqset_free(&s);

	s = seq_ok("*:3", 0); /* = 3:* */
	assert_true(s->star);
	assert_int_equal(s->ranges[0].lo, 3);
	assert_int_equal(s->ranges[0].hi, IMAP_SEQ_STAR);
	assert_true(imap_seqset_contains(s, 10, 10));
	assert_false(imap_seqset_contains(s, 11, 10));
	assert_false(imap_seqset_contains(s, 2, 10));
	/* "3291:* includes the UID of the last message ... even if that value
	 * is less than 3291" (RFC 3501 9) */
	assert_true(imap_seqset_contains(s, 2, 2));
	imap_seqset_free(&s);

	s = seq_ok("*", 0);
	assert_true(imap_seqset_contains(s, 7, 7));
	assert_false(imap_seqset_contains(s, 6, 7));
	assert_false(imap_seqset_contains(s, 0, 0)); /* empty mailbox */
	assert_int_equal(imap_seqset_highest(s), 0);
	imap_seqset_free(&s);

	s = seq_ok("4294967295", 0);
	assert_int_equal(s->ranges[0].lo, 4294967295u);
	imap_seqset_free(&s);

	s = seq_ok("$", IMAP_SEQ_ALLOW_SAVED);
	assert_true(s->saved);
	assert_int_equal(s->count, 0);
	imap_seqset_free(&s);

	seq_bad("$", 0, "'$' (SEARCHRES) is not allowed here");
	seq_bad("1,$", IMAP_SEQ_ALLOW_SAVED, "'$' must be the whole sequence set");
	seq_bad("0", 0, "0 is not a valid message number");
	seq_bad("1:0", 0, "0 is not a valid message number");
	seq_bad("4294967296", 0, "Number in a sequence set above 4294967295");
	seq_bad("99999999999999999999999", 0, "Number in a sequence set above 4294967295");
	seq_bad("01", 0, "Leading zero in a sequence set");
	seq_bad("", 0, "Empty sequence set");
	seq_bad("1,", 0, "Empty element in a sequence set");
	seq_bad(",1", 0, "Empty element in a sequence set");
	seq_bad("1,,2", 0, "Empty element in a sequence set");
	seq_bad("1:", 0, "Empty number in a sequence set");
	seq_bad(":1", 0, "Empty number in a sequence set");
	seq_bad("1:2:3", 0, "Invalid character in a sequence set");
	seq_bad("a", 0, "Invalid character in a sequence set");
	seq_bad("1 2", 0, "Invalid character in a sequence set");
	seq_bad("-1", 0, "Invalid character in a sequence set");
	seq_bad("1:*", IMAP_SEQ_NO_STAR, "'*' is not allowed in this sequence set");
}

static void test_seqset_normalize_iterate(void **state)
{
	struct imap_seqset *s = seq_ok("9:*,5:7,1:3,4,20", 0), *n;
	assert_int_equal(imap_seqset_normalize(s, 12, &n), 0);
	assert_int_equal(n->count, 3); /* 1:7 9:12 20 */
	assert_int_equal(n->ranges[1].lo, 9);
	assert_int_equal(n->ranges[1].hi, 12);
	assert_int_equal(n->ranges[2].lo, 20);
	imap_seqset_free(&n);
	assert_int_equal(imap_seqset_normalize(s, 25, &n), 0);
	assert_int_equal(n->count, 2);
	assert_int_equal(n->ranges[0].lo, 1);
	assert_int_equal(n->ranges[0].hi, 7);
	assert_int_equal(n->ranges[1].lo, 9);
	assert_int_equal(n->ranges[1].hi, 25);
	struct imap_seq_iter it;
	imap_seq_iter_init(&it, n);
	uint32_t v, seen[32];
	size_t k = 0;
	while (imap_seq_iter_next(&it, &v) && k < 32)
		seen[k++] = v;
	assert_int_equal(k, 24);
	assert_int_equal(seen[0], 1);
	assert_int_equal(seen[6], 7);
	assert_int_equal(seen[7], 9);
	assert_int_equal(seen[23], 25);
	imap_seqset_free(&n);
	struct imap_seqset *star = seq_ok("*", 0);
	assert_int_equal(imap_seqset_normalize(star, 0, &n), 0);
	assert_int_equal(n->count, 0);
	imap_seqset_free(&n);
	imap_seqset_free(&star);
	/* empty mailbox: "*" resolves to nothing */
	assert_int_equal(imap_seqset_normalize(s, 0, &n), 0);
	assert_int_equal(n->count, 2);
	assert_int_equal(n->ranges[0].lo, 1);
	assert_int_equal(n->ranges[1].hi, 20);
	imap_seqset_free(&n);
	imap_seqset_free(&s);

	/* a huge range is one range, not four billion numbers */
	s = seq_ok("1:4294967295,7", 0);
	assert_int_equal(imap_seqset_normalize(s, 5, &n), 0);
	assert_int_equal(n->count, 1);
	assert_int_equal(n->ranges[0].hi, 4294967295u);
	assert_true(imap_seqset_contains(s, 4000000000u, 5));
	imap_seq_iter_init(&it, n);
	assert_true(imap_seq_iter_next(&it, &v));
	assert_int_equal(v, 1);
	imap_seqset_free(&n);
	imap_seqset_free(&s);
	/* iteration ends at 2^32-1 without wrapping */
	s = seq_ok("4294967294:4294967295", 0);
	assert_int_equal(imap_seqset_normalize(s, 1, &n), 0);
	imap_seq_iter_init(&it, n);
	k = 0;
	while (imap_seq_iter_next(&it, &v))
		k++;
	assert_int_equal(k, 2);
	imap_seqset_free(&n);
	imap_seqset_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_token_type),
		cmocka_unit_test(test_quoted_strings),
		cmocka_unit_test(test_tags_and_names),
		cmocka_unit_test(test_spacing_and_balance),
		cmocka_unit_test(test_sections_in_tokens),
		cmocka_unit_test(test_nul_and_8bit_real),
		cmocka_unit_test(test_literal_kinds),
		cmocka_unit_test(test_literal_chunks),
		cmocka_unit_test(test_literal_too_short),
		cmocka_unit_test(test_literal_limits_sync),
		cmocka_unit_test(test_literal_limits_nonsync),
		cmocka_unit_test(test_literal_limits_by_state),
		cmocka_unit_test(test_literal_refuse),
		cmocka_unit_test(test_metadata_value_refuse),
		cmocka_unit_test(test_error_discard_line),
		cmocka_unit_test(test_line_and_command_limits),
		cmocka_unit_test(test_100k_command),
		cmocka_unit_test(test_pipelined_and_blank),
		cmocka_unit_test(test_seqset),
		cmocka_unit_test(test_seqset_normalize_iterate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
