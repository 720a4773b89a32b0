/* Unit tests for the syntax of the small IMAP extensions of issue 13 in
 * imap_parse_lib: WITHIN (RFC 5032), CREATE-SPECIAL-USE (RFC 6154 3),
 * SAVEDATE (RFC 8514), OBJECTID (RFC 8474), REPLACE (RFC 8508) and PREVIEW
 * (RFC 8970).  As in test_imap_parse_cmd.c, each input goes through the
 * real reader first, so the arguments are what a session would get. */
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

#include "tests/unit/imap_parse_fixture.h"

/* ---- SEARCH ---- */

static struct imap_search *search_ok(const char *args)
{
	const struct imap_command *c = cmd_of("SEARCH", args);
	struct imap_search *s = NULL;
	const char *err = NULL;
	if (imap_search_parse(c->args, c->nargs, &s, &err) < 0)
		fail_msg("SEARCH %s: %s", args, err);
	return s;
}

static void search_bad(const char *args, const char *want)
{
	const struct imap_command *c = cmd_of("SEARCH", args);
	struct imap_search *s = (void *)1;
	const char *err = NULL;
	assert_int_equal(imap_search_parse(c->args, c->nargs, &s, &err), -1);
	assert_null(s);
	if (strcmp(err, want) != 0)
		fail_msg("SEARCH %s: '%s', expected '%s'", args, err, want);
}

/* ---- the extensions ---- */

static void create_bad(const char *args, const char *want)
{
	const struct imap_command *c = cmd_of("CREATE", args);
	struct imap_create cr;
	const char *err = NULL;
	assert_int_equal(imap_create_parse(c->args, c->nargs, &cr, &err), -1);
	if (strcmp(err, want) != 0)
		fail_msg("CREATE %s: '%s', expected '%s'", args, err, want);
}

/* RFC 6154 3 and 6: CREATE mailbox (USE (use-attr ...)). */
static void test_create_use(void **state)
{
	(void)state;
	struct imap_create cr;
	const char *err = NULL;
	const struct imap_command *c = cmd_of("CREATE", "MySpecial (USE (\\Drafts \\Sent))");
	assert_int_equal(imap_create_parse(c->args, c->nargs, &cr, &err), 0);
	assert_true(cr.has_use);
	assert_int_equal(cr.use, IMAP_USE_DRAFTS | IMAP_USE_SENT);
	assert_string_equal(cr.mailbox->str, "MySpecial");
	c = cmd_of("CREATE", "x (use ())");
	assert_int_equal(imap_create_parse(c->args, c->nargs, &cr, &err), 0);
	assert_true(cr.has_use);
	assert_int_equal(cr.use, 0);
	c = cmd_of("CREATE", "x");
	assert_int_equal(imap_create_parse(c->args, c->nargs, &cr, &err), 0);
	assert_false(cr.has_use);
	c = cmd_of("CREATE", "x (USE (\\all \\FLAGGED \\archive \\junk \\trash \\Important))");
	assert_int_equal(imap_create_parse(c->args, c->nargs, &cr, &err), 0);
	assert_int_equal(cr.use, IMAP_USE_ALL | IMAP_USE_FLAGGED | IMAP_USE_ARCHIVE | IMAP_USE_JUNK |
	                         IMAP_USE_TRASH | IMAP_USE_OTHER);
	create_bad("", "Missing mailbox name");
	create_bad("x (USE (\\Sent)) y", "CREATE takes a mailbox name and parameters");
	create_bad("x ()", "Expected a list of CREATE parameters");
	create_bad("x USE", "Expected a list of CREATE parameters");
	create_bad("x (USE)", "USE needs a list of special-use attributes");
	create_bad("x (USE \\Sent)", "USE needs a list of special-use attributes");
	create_bad("x (USE (Sent))", "Expected a special-use attribute");
	create_bad("x (USE (\\))", "Expected a special-use attribute");
	create_bad("x (USE (\"\\\\Sent\"))", "Expected a special-use attribute");
	create_bad("x (USE ((\\Sent)))", "Expected a special-use attribute");
	create_bad("x (USE (\\Se*nt))", "Invalid special-use attribute");
	create_bad("x (USE (\\Sent) USE (\\Trash))", "USE given twice");
	create_bad("x (FOO (\\Sent))", "Unknown CREATE parameter");
}

/* RFC 8514 5: fetch-att =/ "SAVEDATE"; search-key =/ SAVEDBEFORE / SAVEDON /
 * SAVEDSINCE SP date / SAVEDATESUPPORTED. */
static void test_savedate_syntax(void **state)
{
	(void)state;
	struct imap_fetch *f = fetch_ok("998 (SAVEDATE)", false);
	assert_int_equal(f->natts, 1);
	assert_int_equal(f->atts[0].item, IMAP_FETCH_SAVEDATE);
	assert_true(f->items & (1u << IMAP_FETCH_SAVEDATE));
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(imap_fetch_att_write_name(&b, &f->atts[0]), 0);
	assert_string_equal(b.data, "SAVEDATE");
	buf_free(&b);
	imap_fetch_free(&f);
	f = fetch_ok("1 savedate", false);
	assert_int_equal(f->atts[0].item, IMAP_FETCH_SAVEDATE);
	imap_fetch_free(&f);
	fetch_bad("1 SAVEDATE[]", false, "Unknown FETCH attribute");
	struct imap_search *s = search_ok("SAVEDON 28-Dec-2014 SAVEDSINCE \"28-Dec-2014\" "
	                                  "SAVEDBEFORE 1-Jan-2015 SAVEDATESUPPORTED");
	assert_int_equal(s->root.count, 4);
	assert_int_equal(s->root.children[0].type, IMAP_SK_SAVEDON);
	assert_int_equal(s->root.children[0].date.day, 28);
	assert_int_equal(s->root.children[1].type, IMAP_SK_SAVEDSINCE);
	assert_int_equal(s->root.children[2].type, IMAP_SK_SAVEDBEFORE);
	assert_int_equal(s->root.children[2].date.year, 2015);
	assert_int_equal(s->root.children[3].type, IMAP_SK_SAVEDATESUPPORTED);
	imap_search_free(&s);
	search_bad("SAVEDON", "Search key needs a date");
	search_bad("SAVEDSINCE 31-Feb-2015", "Invalid day of month in date");
	search_bad("SAVEDATESUPPORTED x-Jan", "Unknown search key");
}

/* RFC 8474 7: fetch-att =/ "EMAILID" / "THREADID"; STATUS MAILBOXID;
 * search-key EMAILID / THREADID SP objectid, objectid = 1*255(ALPHA /
 * DIGIT / "_" / "-"), kept as sent (case-sensitive). */
static void test_objectid_syntax(void **state)
{
	(void)state;
	struct imap_fetch *f = fetch_ok("1:* (emailid THREADID)", false);
	assert_int_equal(f->natts, 2);
	assert_int_equal(f->atts[0].item, IMAP_FETCH_EMAILID);
	assert_int_equal(f->atts[1].item, IMAP_FETCH_THREADID);
	imap_fetch_free(&f);
	const struct imap_command *c = cmd_of("STATUS", "foo (mailboxid MESSAGES)");
	struct imap_string mb;
	unsigned items = 0;
	const char *err = NULL;
	assert_int_equal(imap_status_parse(c->args, c->nargs, &mb, &items, &err), 0);
	assert_int_equal(items, IMAP_STATUS_MAILBOXID | IMAP_STATUS_MESSAGES);
	struct imap_search *s = search_ok("emailid M6d99ac3275bb4e THREADID T64b4_78-a 123");
	assert_int_equal(s->root.count, 3);
	assert_int_equal(s->root.children[0].type, IMAP_SK_EMAILID);
	assert_string_equal(s->root.children[0].str.s, "M6d99ac3275bb4e");
	assert_int_equal(s->root.children[1].type, IMAP_SK_THREADID);
	assert_string_equal(s->root.children[1].str.s, "T64b4_78-a");
	imap_search_free(&s);
	s = search_ok("EMAILID 123");   /* digits only is an objectid too */
	assert_string_equal(s->root.children[0].str.s, "123");
	imap_search_free(&s);
	char longid[300];
	memset(longid, 'a', sizeof(longid));
	snprintf(longid, sizeof(longid), "EMAILID %.*s", 255, "");
	memset(longid + 8, 'a', 255);
	longid[8 + 255] = '\0';
	s = search_ok(longid);
	assert_int_equal(s->root.children[0].str.len, 255);
	imap_search_free(&s);
	longid[8 + 255] = 'a';
	longid[8 + 256] = '\0';
	search_bad(longid, "Invalid object id");
	search_bad("EMAILID", "Search key needs an object id");
	search_bad("EMAILID M1.2", "Invalid object id");
	search_bad("EMAILID \"M12\"", "Invalid object id");
	search_bad("THREADID (T1)", "Invalid object id");
	search_bad("EMAILID M1*", "Invalid object id");
}

static void replace_bad(const char *args, const char *want)
{
	const struct imap_command *c = cmd_of("REPLACE", args);
	struct imap_replace r;
	const char *err = NULL;
	assert_int_equal(imap_replace_parse(c->args, c->nargs, &r, &err), -1);
	if (strcmp(err, want) != 0)
		fail_msg("REPLACE %s: '%s', expected '%s'", args, err, want);
}

/* RFC 8508 5: replace = "REPLACE" SP seq-number SP mailbox append-message. */
static void test_replace_syntax(void **state)
{
	(void)state;
	struct imap_replace r;
	const char *err = NULL;
	const struct imap_command *c =
		cmd_of("REPLACE", "4 Drafts (\\Seen \\Draft) \"01-Jan-2015 00:06:00 +0100\" {5}\r\nhello");
	assert_int_equal(imap_replace_parse(c->args, c->nargs, &r, &err), 0);
	assert_false(r.star);
	assert_int_equal(r.number, 4);
	assert_string_equal(r.mailbox.s, "Drafts");
	assert_int_equal(r.msg.flags.sys, IMAP_FLAG_SEEN | IMAP_FLAG_DRAFT);
	assert_true(r.msg.has_date);
	assert_int_equal(r.msg.len, 5);
	assert_memory_equal(r.msg.data, "hello", 5);
	imap_replace_clear(&r);
	c = cmd_of_len("REPLACE", "* inbox ~{3}\r\na\0b", 17);
	assert_int_equal(imap_replace_parse(c->args, c->nargs, &r, &err), 0);
	assert_true(r.star);
	assert_string_equal(r.mailbox.s, "INBOX");
	assert_true(r.msg.binary);
	imap_replace_clear(&r);
	c = cmd_of("REPLACE", "4294967295 x UTF8 (~{2}\r\nhi)");
	assert_int_equal(imap_replace_parse(c->args, c->nargs, &r, &err), 0);
	assert_int_equal(r.number, 4294967295u);
	assert_true(r.msg.utf8);
	imap_replace_clear(&r);
	replace_bad("4 Drafts", "REPLACE needs a message number, a mailbox and a message");
	replace_bad("0 Drafts {1}\r\nx", "Expected a non-zero number without leading zeros");
	replace_bad("4294967296 Drafts {1}\r\nx", "Number out of range");
	replace_bad("1:2 Drafts {1}\r\nx", "Expected a number");
	replace_bad("$ Drafts {1}\r\nx", "Expected a number");
	replace_bad("1 Drafts \"x\"", "Invalid date-time (expected \"dd-Mon-yyyy hh:mm:ss +zzzz\")");
	replace_bad("1 Drafts (\\Seen) x", "Unknown APPEND extension");
	replace_bad("1 Drafts {1}\r\nx {1}\r\ny", "REPLACE takes one message");
	replace_bad("1 Drafts (\\Recent) {1}\r\nx", "\\Recent cannot be set by a client");
}

/* RFC 8970 6: fetch-att =/ "PREVIEW" [SP "(" preview-mod *(SP preview-mod)
 * ")"], preview-mod = "LAZY". */
static void test_preview_syntax(void **state)
{
	(void)state;
	struct imap_fetch *f = fetch_ok("1 (UID PREVIEW)", false);
	assert_int_equal(f->natts, 2);
	assert_int_equal(f->atts[1].item, IMAP_FETCH_PREVIEW);
	assert_false(f->atts[1].lazy);
	imap_fetch_free(&f);
	f = fetch_ok("1:* (PREVIEW (LAZY) FLAGS)", false);
	assert_int_equal(f->natts, 2);
	assert_int_equal(f->atts[0].item, IMAP_FETCH_PREVIEW);
	assert_true(f->atts[0].lazy);
	assert_int_equal(f->atts[1].item, IMAP_FETCH_FLAGS);
	imap_fetch_free(&f);
	f = fetch_ok("1 preview (lazy)", false);
	assert_int_equal(f->natts, 1);
	assert_true(f->atts[0].lazy);
	assert_false(f->changedsince);
	imap_fetch_free(&f);
	f = fetch_ok("1 PREVIEW (LAZY) (CHANGEDSINCE 5)", true);
	assert_true(f->atts[0].lazy);
	assert_true(f->changedsince);
	imap_fetch_free(&f);
	f = fetch_ok("1 PREVIEW (CHANGEDSINCE 5)", true);   /* FETCH modifiers */
	assert_false(f->atts[0].lazy);
	assert_true(f->changedsince);
	imap_fetch_free(&f);
	struct buf b;
	buf_init(&b, 0);
	f = fetch_ok("1 (PREVIEW (LAZY))", false);
	assert_int_equal(imap_fetch_att_write_name(&b, &f->atts[0]), 0);
	assert_string_equal(b.data, "PREVIEW");
	buf_free(&b);
	imap_fetch_free(&f);
	fetch_bad("1 (PREVIEW ())", false, "Expected a list of PREVIEW modifiers");
	fetch_bad("1 (PREVIEW (FUZZY))", false, "Unknown PREVIEW modifier");
	fetch_bad("1 (PREVIEW (LAZY LAZY))", false, "LAZY given twice");
	fetch_bad("1 PREVIEW (LAZY) (CHANGEDSINCE 5) x", false, "Too many FETCH arguments");
	fetch_bad("1 PREVIEW (FUZZY)", false, "Unknown FETCH modifier");
	fetch_bad("1 (FLAGS (LAZY))", false, "Invalid FETCH attribute");
}

/* RFC 5032 4: OLDER / YOUNGER SP interval, interval = nz-number. */
static void test_search_within(void **state)
{
	(void)state;
	struct imap_search *s = search_ok("UNSEEN YOUNGER 259200 OLDER 4294967295");
	assert_int_equal(s->root.count, 3);
	assert_int_equal(s->root.children[1].type, IMAP_SK_YOUNGER);
	assert_int_equal(s->root.children[1].num, 259200);
	assert_int_equal(s->root.children[2].type, IMAP_SK_OLDER);
	assert_int_equal(s->root.children[2].num, 4294967295u);
	imap_search_free(&s);
	search_bad("YOUNGER", "Search key needs an interval in seconds");
	search_bad("OLDER 0", "Expected a non-zero number without leading zeros");
	search_bad("OLDER 4294967296", "Number out of range");
	search_bad("YOUNGER -5", "Expected a number");
	search_bad("YOUNGER \"5\"", "Expected a number");
}

#define T(f) cmocka_unit_test_teardown(f, free_kept)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_search_within),
		T(test_create_use),
		T(test_savedate_syntax),
		T(test_objectid_syntax),
		T(test_replace_syntax),
		T(test_preview_syntax),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
