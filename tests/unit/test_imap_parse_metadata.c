/* Unit tests for imap_parse_metadata.c: the entry-name rules of RFC 5464
 * 3.2 and the arguments of GETMETADATA (4.2, options before or after the
 * mailbox) and SETMETADATA (4.3: strings, literals, literal8, NIL).  As in
 * test_imap_parse_ext.c, each input goes through the real reader first, so
 * the arguments are what a session would get. */
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

static void entry_ok(const char *name, bool to_set)
{
	const char *err = NULL;
	if (imap_metadata_entry_check(name, strlen(name), to_set, &err) < 0)
		fail_msg("'%s' refused: %s", name, err);
}

static void entry_bad(const char *name, size_t len, bool to_set, const char *want)
{
	const char *err = NULL;
	assert_int_equal(imap_metadata_entry_check(name, len, to_set, &err), -1);
	if (!err || !strstr(err, want))
		fail_msg("'%.*s': '%s', expected '%s'", (int)len, name, err ? err : "", want);
}

/* RFC 5464 3.2. */
static void test_entry_names(void **state)
{
	(void)state;
	entry_ok("/private/comment", true);
	entry_ok("/SHARED/Comment", true);                   /* case-insensitive */
	entry_ok("/shared/vendor/example/setting", true);   /* 4 under vendor */
	entry_ok("/private/vendorless", true);               /* not the vendor tree */
	entry_ok("/private", false);                         /* DEPTH's starting point */
	entry_bad("/private", 8, true, "needs a name below");
	entry_bad("/shared/vendor/example", 22, true, "Vendor");
	entry_bad("", 0, false, "must start with /private or /shared");
	entry_bad("private/comment", 15, true, "must start with /private or /shared");
	entry_bad("/privatecomment", 15, false, "must start with /private or /shared");
	entry_bad("/other/comment", 14, true, "must start with /private or /shared");
	entry_bad("/shared//comment", 16, true, "Empty component");
	entry_bad("/shared/comment/", 16, true, "Empty component");
	entry_bad("/shared/a*", 10, false, "Invalid character");
	entry_bad("/shared/a%", 10, false, "Invalid character");
	entry_bad("/shared/a\x19", 10, true, "Invalid character");
	entry_bad("/shared/caf\xc3\xa9", 13, true, "Invalid character");
	entry_bad("/shared/a\x7f", 10, true, "Invalid character");
	entry_bad("/shared/a\0b", 11, true, "Invalid character");
	char longname[IMAP_METADATA_ENTRY_MAX + 2];
	memcpy(longname, "/shared/", 8);
	memset(longname + 8, 'x', sizeof(longname) - 9);
	longname[sizeof(longname) - 1] = '\0';
	entry_bad(longname, IMAP_METADATA_ENTRY_MAX + 1, true, "too long");
	longname[IMAP_METADATA_ENTRY_MAX] = '\0';
	entry_ok(longname, true);
}

static struct imap_getmetadata get_ok(const char *args)
{
	const struct imap_command *c = cmd_of("GETMETADATA", args);
	struct imap_getmetadata g;
	const char *err = NULL;
	if (imap_getmetadata_parse(c->args, c->nargs, &g, &err) < 0)
		fail_msg("GETMETADATA %s: %s", args, err);
	return g;
}

static void get_bad(const char *args, const char *want)
{
	const struct imap_command *c = cmd_of("GETMETADATA", args);
	struct imap_getmetadata g;
	const char *err = NULL;
	assert_int_equal(imap_getmetadata_parse(c->args, c->nargs, &g, &err), -1);
	assert_null(g.entries);
	if (!err || !strstr(err, want))
		fail_msg("GETMETADATA %s: '%s', expected '%s'", args, err ? err : "", want);
}

/* RFC 5464 4.2, 4.2.1, 4.2.2, 5. */
static void test_getmetadata(void **state)
{
	(void)state;
	struct imap_getmetadata g = get_ok("\"\" /shared/comment");
	assert_int_equal(g.mailbox->len, 0);
	assert_int_equal(g.nentries, 1);
	assert_string_equal(g.entries[0].s, "/shared/comment");
	assert_false(g.has_maxsize);
	assert_int_equal(g.depth, IMAP_METADATA_DEPTH_0);
	imap_getmetadata_clear(&g);

	g = get_ok("\"INBOX\" (/shared/comment /private/comment)");
	assert_string_equal(g.mailbox->str, "INBOX");
	assert_int_equal(g.nentries, 2);
	assert_string_equal(g.entries[1].s, "/private/comment");
	imap_getmetadata_clear(&g);

	/* the grammar's order (options first) and the examples' (after the
	 * mailbox) */
	g = get_ok("(MAXSIZE 1024 DEPTH infinity) INBOX (/shared/comment)");
	assert_true(g.has_maxsize);
	assert_int_equal(g.maxsize, 1024);
	assert_int_equal(g.depth, IMAP_METADATA_DEPTH_INFINITY);
	assert_string_equal(g.mailbox->str, "INBOX");
	imap_getmetadata_clear(&g);
	g = get_ok("\"INBOX\" (depth 1) (/private/filters/values)");
	assert_int_equal(g.depth, IMAP_METADATA_DEPTH_1);
	assert_false(g.has_maxsize);
	assert_string_equal(g.entries[0].s, "/private/filters/values");
	imap_getmetadata_clear(&g);
	g = get_ok("INBOX (MAXSIZE 0) /private");   /* the bare scope, for DEPTH */
	assert_true(g.has_maxsize);
	assert_int_equal(g.maxsize, 0);
	imap_getmetadata_clear(&g);
	/* a literal entry name */
	g = get_ok("INBOX {15}\r\n/shared/comment");
	assert_string_equal(g.entries[0].s, "/shared/comment");
	imap_getmetadata_clear(&g);

	get_bad("", "takes [options] mailbox entries");
	get_bad("INBOX", "takes [options] mailbox entries");
	get_bad("INBOX /shared/a /shared/b", "takes [options] mailbox entries");   /* erratum 3868 */
	get_bad("(DEPTH 1) INBOX (DEPTH 1) /shared/a", "takes [options] mailbox entries");
	get_bad("(/shared/a) /shared/a", "Mailbox name expected");
	get_bad("NIL /shared/a", "Mailbox name expected");
	get_bad("INBOX ()", "Empty entry list");
	get_bad("INBOX (/shared/a NIL)", "Entry name expected");
	get_bad("INBOX (/shared/a (/shared/b))", "Entry name expected");
	get_bad("INBOX /shared/a*", "Invalid character");
	get_bad("INBOX /x/a", "must start with /private or /shared");
	get_bad("() INBOX /shared/a", "Empty GETMETADATA options");
	get_bad("(MAXSIZE) INBOX /shared/a", "needs a value");
	get_bad("(MAXSIZE -1) INBOX /shared/a", "");
	get_bad("(MAXSIZE 4294967296) INBOX /shared/a", "");
	get_bad("(DEPTH 2) INBOX /shared/a", "DEPTH must be 0, 1 or infinity");
	get_bad("(DEPTH 1 DEPTH 0) INBOX /shared/a", "Unknown or repeated");
	get_bad("(X-FOO 1) INBOX /shared/a", "Unknown GETMETADATA option");
}

static struct imap_setmetadata set_ok(const char *args, size_t len)
{
	const struct imap_command *c = cmd_of_len("SETMETADATA", args, len);
	struct imap_setmetadata st;
	const char *err = NULL;
	if (imap_setmetadata_parse(c->args, c->nargs, &st, &err) < 0)
		fail_msg("SETMETADATA %s: %s", args, err);
	return st;
}

static void set_bad(const char *args, const char *want)
{
	const struct imap_command *c = cmd_of("SETMETADATA", args);
	struct imap_setmetadata st;
	const char *err = NULL;
	assert_int_equal(imap_setmetadata_parse(c->args, c->nargs, &st, &err), -1);
	assert_null(st.values);
	if (!err || !strstr(err, want))
		fail_msg("SETMETADATA %s: '%s', expected '%s'", args, err ? err : "", want);
}

/* RFC 5464 4.3, 5: value = nstring / literal8. */
static void test_setmetadata(void **state)
{
	(void)state;
	static const char a[] = "INBOX (/private/comment {33}\r\nMy new comment across\r\ntwo lines."
				" /shared/comment \"\" /shared/x NIL /shared/bin ~{3}\r\na\0b)";
	struct imap_setmetadata st = set_ok(a, sizeof(a) - 1);
	assert_string_equal(st.mailbox->str, "INBOX");
	assert_int_equal(st.n, 4);
	assert_string_equal(st.values[0].entry.s, "/private/comment");
	assert_int_equal(st.values[0].value.len, 33);
	assert_memory_equal(st.values[0].value.s, "My new comment across\r\ntwo lines.", 33);
	assert_false(st.values[0].binary);
	/* "" is an empty value, NIL is none (removal) */
	assert_non_null(st.values[1].value.s);
	assert_int_equal(st.values[1].value.len, 0);
	assert_null(st.values[2].value.s);
	assert_true(st.values[3].binary);
	assert_int_equal(st.values[3].value.len, 3);
	assert_memory_equal(st.values[3].value.s, "a\0b", 3);
	imap_setmetadata_clear(&st);

	static const char b[] = "\"\" (/shared/comment \"Shared comment\")";
	st = set_ok(b, sizeof(b) - 1);
	assert_int_equal(st.mailbox->len, 0);
	assert_string_equal(st.values[0].value.s, "Shared comment");
	imap_setmetadata_clear(&st);

	set_bad("INBOX", "takes mailbox (entry value ...)");
	set_bad("INBOX /private/comment \"x\"", "takes mailbox (entry value ...)");
	set_bad("(x) (/private/comment \"x\")", "takes mailbox (entry value ...)");
	set_bad("INBOX ()", "entry and value pairs");
	set_bad("INBOX (/private/comment)", "entry and value pairs");
	set_bad("INBOX (/private/comment \"x\" /shared/comment)", "entry and value pairs");
	set_bad("INBOX (/private/comment (x))", "Value must be");
	set_bad("INBOX (\"x\" /private/comment)", "must start with /private or /shared");
	set_bad("INBOX (/private \"x\")", "needs a name below");
	set_bad("INBOX (/shared/vendor/x \"x\")", "Vendor");
	set_bad("INBOX (/shared/a% \"x\")", "Invalid character");
	set_bad("INBOX (/private/comment \"x\" /PRIVATE/Comment \"y\")", "Entry given twice");
	set_bad("INBOX (NIL \"x\")", "Entry name expected");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_entry_names),
		cmocka_unit_test_teardown(test_getmetadata, free_kept),
		cmocka_unit_test_teardown(test_setmetadata, free_kept),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
