/* tests/unit/imap_parse_fixture.h: what the IMAP parser unit tests share
 * (test_imap_parse_cmd.c, test_imap_parse_ext.c): a command line (with its
 * literals) read by the real reader, kept until the teardown, and FETCH
 * argument checks.  Included once per test program. */
#ifndef POSTINO_TEST_IMAP_PARSE_FIXTURE_H
#define POSTINO_TEST_IMAP_PARSE_FIXTURE_H

#include <string.h>

#include "core/buf.h"
#include "imap/imap_parse.h"

/* Commands parsed during a test, freed by the teardown (typed results
 * point into them). */
static struct imap_command *kept[256];
static size_t nkept;

__attribute__((unused)) static int free_kept(void **state)
{
	for (size_t i = 0; i < nkept; i++)
		imap_command_free(&kept[i]);
	nkept = 0;
	return 0;
}

/* "T CMD " + args (literals included, CRLF-separated) through the reader. */
__attribute__((unused)) static const struct imap_command *cmd_of_len(const char *name, const char *args, size_t alen)
{
	struct buf in;
	buf_init(&in, 0);
	buf_printf(&in, "T %s%s", name, alen ? " " : "");
	buf_append(&in, args, alen);
	buf_puts(&in, "\r\n");
	struct imap_parse_limits lim;
	imap_parse_limits_default(&lim);
	struct imap_parser *p = imap_parser_new(&lim);
	size_t pos = 0;
	enum imap_parse_status st = IMAP_PARSE_NEED_LINE;
	while (pos < in.len && st != IMAP_PARSE_DONE && st != IMAP_PARSE_ERROR) {
		const char *eol = memmem(in.data + pos, in.len - pos, "\r\n", 2);
		size_t ll = eol ? (size_t)(eol - (in.data + pos)) : in.len - pos;
		st = imap_parser_feed_line(p, in.data + pos, ll);
		pos += ll + (eol ? 2 : 0);
		if (st == IMAP_PARSE_NEED_LITERAL) {
			size_t n = (size_t)imap_parser_literal(p)->size, used;
			assert_true(n <= in.len - pos);
			st = imap_parser_feed_literal(p, in.data + pos, n, &used);
			pos += used;
		}
	}
	if (st != IMAP_PARSE_DONE)
		fail_msg("'%s': reader status %d: %s", in.data, st,
		         st == IMAP_PARSE_ERROR ? imap_parser_error(p)->msg : "");
	struct imap_command *cmd = imap_parser_take(p);
	imap_parser_free(&p);
	buf_free(&in);
	assert_true(nkept < sizeof(kept) / sizeof(kept[0]));
	kept[nkept++] = cmd;
	return cmd;
}

__attribute__((unused)) static const struct imap_command *cmd_of(const char *name, const char *args)
{
	return cmd_of_len(name, args, strlen(args));
}


/* ---- FETCH ---- */

__attribute__((unused)) static struct imap_fetch *fetch_ok(const char *args, bool uid)
{
	const struct imap_command *c = cmd_of("FETCH", args);
	struct imap_fetch *f = NULL;
	const char *err = NULL;
	if (imap_fetch_parse(c->args, c->nargs, uid, &f, &err) < 0)
		fail_msg("FETCH %s: %s", args, err);
	return f;
}

__attribute__((unused)) static void fetch_bad(const char *args, bool uid, const char *want)
{
	const struct imap_command *c = cmd_of("FETCH", args);
	struct imap_fetch *f = (void *)1;
	const char *err = NULL;
	assert_int_equal(imap_fetch_parse(c->args, c->nargs, uid, &f, &err), -1);
	assert_null(f);
	if (strcmp(err, want) != 0)
		fail_msg("FETCH %s: '%s', expected '%s'", args, err, want);
}

#endif
