/* Unit tests for the typed command parsers of imap_parse_lib: FETCH, STORE,
 * SEARCH (imap_parse_fetch.c, imap_parse_search.c, imap_parse_arg.c) and
 * APPEND, STATUS, LIST, SELECT, COPY, ENABLE, ID, AUTHENTICATE, LOGIN
 * (imap_parse_cmd.c).  Each input goes through the real
 * reader first, so the arguments are what a session would get. */
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

/* The attribute parses to an item whose response name is `name`. */
static void fetch_name(const char *att, enum imap_fetch_item item, const char *name)
{
	char args[256];
	snprintf(args, sizeof(args), "1 %s", att);
	struct imap_fetch *f = fetch_ok(args, false);
	assert_int_equal(f->natts, 1);
	assert_int_equal(f->atts[0].item, item);
	assert_int_equal(f->items, 1u << item);
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(imap_fetch_att_write_name(&b, &f->atts[0]), 0);
	if (strcmp(b.data, name) != 0)
		fail_msg("%s written as '%s', expected '%s'", att, b.data, name);
	buf_free(&b);
	imap_fetch_free(&f);
	assert_null(f);
}

static void test_fetch_items(void **state)
{
	fetch_name("FLAGS", IMAP_FETCH_FLAGS, "FLAGS");
	fetch_name("internaldate", IMAP_FETCH_INTERNALDATE, "INTERNALDATE");
	fetch_name("RFC822.SIZE", IMAP_FETCH_RFC822_SIZE, "RFC822.SIZE");
	fetch_name("ENVELOPE", IMAP_FETCH_ENVELOPE, "ENVELOPE");
	fetch_name("BODY", IMAP_FETCH_BODY, "BODY");
	fetch_name("BODYSTRUCTURE", IMAP_FETCH_BODYSTRUCTURE, "BODYSTRUCTURE");
	fetch_name("UID", IMAP_FETCH_UID, "UID");
	fetch_name("RFC822", IMAP_FETCH_RFC822, "RFC822");
	fetch_name("RFC822.HEADER", IMAP_FETCH_RFC822_HEADER, "RFC822.HEADER");
	fetch_name("Rfc822.Text", IMAP_FETCH_RFC822_TEXT, "RFC822.TEXT");
	fetch_name("MODSEQ", IMAP_FETCH_MODSEQ, "MODSEQ");

	static const struct {
		const char *macro;
		size_t n;
		uint32_t items;
	} macros[] = {
		{ "ALL", 4, 1u << IMAP_FETCH_FLAGS | 1u << IMAP_FETCH_INTERNALDATE | 1u << IMAP_FETCH_RFC822_SIZE |
		                    1u << IMAP_FETCH_ENVELOPE },
		{ "fast", 3, 1u << IMAP_FETCH_FLAGS | 1u << IMAP_FETCH_INTERNALDATE | 1u << IMAP_FETCH_RFC822_SIZE },
		{ "FULL", 5, 1u << IMAP_FETCH_FLAGS | 1u << IMAP_FETCH_INTERNALDATE | 1u << IMAP_FETCH_RFC822_SIZE |
		                     1u << IMAP_FETCH_ENVELOPE | 1u << IMAP_FETCH_BODY },
	};
	for (size_t i = 0; i < sizeof(macros) / sizeof(macros[0]); i++) {
		char args[32];
		snprintf(args, sizeof(args), "1:* %s", macros[i].macro);
		struct imap_fetch *f = fetch_ok(args, false);
		assert_int_equal(f->natts, macros[i].n);
		assert_int_equal(f->items, macros[i].items);
		assert_true(f->set->star);
		imap_fetch_free(&f);
	}
	struct imap_fetch *f = fetch_ok("2,4:6 (UID FLAGS BODYSTRUCTURE MODSEQ BODY.PEEK[])", false);
	assert_int_equal(f->natts, 5);
	assert_int_equal(f->atts[3].item, IMAP_FETCH_MODSEQ);
	assert_true(f->atts[4].peek);
	assert_int_equal(f->set->count, 2);
	assert_false(f->changedsince);
	imap_fetch_free(&f);
	f = fetch_ok("$ FLAGS", false);
	assert_true(f->set->saved);
	imap_fetch_free(&f);

	fetch_bad("1 (ALL)", false, "ALL, FAST and FULL must be used alone");
	fetch_bad("1 (FLAGS FAST)", false, "ALL, FAST and FULL must be used alone");
	fetch_bad("1 ()", false, "Empty FETCH attribute list");
	fetch_bad("1 FOO", false, "Unknown FETCH attribute");
	fetch_bad("1 (FLAGS FOO)", false, "Unknown FETCH attribute");
	fetch_bad("1 BODY.PEEK", false, "This FETCH attribute needs a [section]");
	fetch_bad("1 BINARY", false, "This FETCH attribute needs a [section]");
	fetch_bad("1 \"FLAGS\"", false, "Invalid FETCH attribute");
	fetch_bad("1 (FLAGS (UID))", false, "Invalid FETCH attribute");
	fetch_bad("1", false, "FETCH needs a sequence set and attributes");
	fetch_bad("0 FLAGS", false, "0 is not a valid message number");
	fetch_bad("x FLAGS", false, "Invalid character in a sequence set");
	fetch_bad("\"1\" FLAGS", false, "Expected a sequence set");
	fetch_bad("1 FLAGS (CHANGEDSINCE 1) x", false, "Too many FETCH arguments");
}

struct section_case {
	const char *att;
	enum imap_fetch_item item;
	bool peek;
	size_t nparts;
	uint32_t parts[3];
	enum imap_section_text text;
	size_t nfields;
	bool partial;
	uint64_t offset, count;
	const char *name;
};

static void test_fetch_sections(void **state)
{
	static const struct section_case cases[] = {
		{ "BODY[]", IMAP_FETCH_BODY_SECTION, false, 0, { 0 }, IMAP_SECTION_NONE, 0, false, 0, 0, "BODY[]" },
		{ "BODY[TEXT]", IMAP_FETCH_BODY_SECTION, false, 0, { 0 }, IMAP_SECTION_TEXT, 0, false, 0, 0,
		  "BODY[TEXT]" },
		{ "body[header]", IMAP_FETCH_BODY_SECTION, false, 0, { 0 }, IMAP_SECTION_HEADER, 0, false, 0, 0,
		  "BODY[HEADER]" },
		{ "BODY[1]", IMAP_FETCH_BODY_SECTION, false, 1, { 1 }, IMAP_SECTION_NONE, 0, false, 0, 0, "BODY[1]" },
		{ "BODY[1.2.3]", IMAP_FETCH_BODY_SECTION, false, 3, { 1, 2, 3 }, IMAP_SECTION_NONE, 0, false, 0, 0,
		  "BODY[1.2.3]" },
		{ "BODY[4.2.TEXT]", IMAP_FETCH_BODY_SECTION, false, 2, { 4, 2 }, IMAP_SECTION_TEXT, 0, false, 0, 0,
		  "BODY[4.2.TEXT]" },
		{ "BODY[1.MIME]", IMAP_FETCH_BODY_SECTION, false, 1, { 1 }, IMAP_SECTION_MIME, 0, false, 0, 0,
		  "BODY[1.MIME]" },
		{ "BODY[3.header]", IMAP_FETCH_BODY_SECTION, false, 1, { 3 }, IMAP_SECTION_HEADER, 0, false, 0, 0,
		  "BODY[3.HEADER]" },
		{ "BODY[4294967295]", IMAP_FETCH_BODY_SECTION, false, 1, { 4294967295u }, IMAP_SECTION_NONE, 0, false,
		  0, 0, "BODY[4294967295]" },
		{ "BODY[HEADER.FIELDS (From To \"Subject\")]", IMAP_FETCH_BODY_SECTION, false, 0, { 0 },
		  IMAP_SECTION_HEADER_FIELDS, 3, false, 0, 0, "BODY[HEADER.FIELDS (From To Subject)]" },
		{ "BODY[1.HEADER.FIELDS.NOT (X-Spam)]", IMAP_FETCH_BODY_SECTION, false, 1, { 1 },
		  IMAP_SECTION_HEADER_FIELDS_NOT, 1, false, 0, 0, "BODY[1.HEADER.FIELDS.NOT (X-Spam)]" },
		{ "BODY.PEEK[TEXT]<0.100>", IMAP_FETCH_BODY_SECTION, true, 0, { 0 }, IMAP_SECTION_TEXT, 0, true, 0, 100,
		  "BODY[TEXT]<0>" },
		{ "BODY[]<10.5>", IMAP_FETCH_BODY_SECTION, false, 0, { 0 }, IMAP_SECTION_NONE, 0, true, 10, 5,
		  "BODY[]<10>" },
		{ "BINARY[1]<0.10>", IMAP_FETCH_BINARY, false, 1, { 1 }, IMAP_SECTION_NONE, 0, true, 0, 10,
		  "BINARY[1]<0>" },
		{ "BINARY.PEEK[]", IMAP_FETCH_BINARY, true, 0, { 0 }, IMAP_SECTION_NONE, 0, false, 0, 0, "BINARY[]" },
		{ "BINARY.SIZE[2]", IMAP_FETCH_BINARY_SIZE, false, 1, { 2 }, IMAP_SECTION_NONE, 0, false, 0, 0,
		  "BINARY.SIZE[2]" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct section_case *k = &cases[i];
		fetch_name(k->att, k->item, k->name);
		char args[256];
		snprintf(args, sizeof(args), "1 (%s)", k->att);
		struct imap_fetch *f = fetch_ok(args, false);
		const struct imap_fetch_att *a = &f->atts[0];
		assert_int_equal(a->peek, k->peek);
		assert_int_equal(a->section.nparts, k->nparts);
		for (size_t p = 0; p < k->nparts; p++)
			assert_int_equal(a->section.parts[p], k->parts[p]);
		assert_int_equal(a->section.text, k->text);
		assert_int_equal(a->section.nfields, k->nfields);
		assert_int_equal(a->partial, k->partial);
		assert_int_equal(a->offset, k->offset);
		assert_int_equal(a->count, k->count);
		imap_fetch_free(&f);
	}
	struct imap_fetch *f = fetch_ok("1 BODY[HEADER.FIELDS (From {2}\r\nTo)]", false);
	assert_int_equal(f->atts[0].section.nfields, 2);
	assert_string_equal(f->atts[0].section.fields[1].s, "To");
	imap_fetch_free(&f);

	fetch_bad("1 BODY[FOO]", false, "Unknown section");
	fetch_bad("1 BODY[1.FOO]", false, "Unknown section");
	fetch_bad("1 BODY[HEADERS]", false, "Unknown section");
	fetch_bad("1 BODY[0]", false, "Section part numbers start at 1");
	fetch_bad("1 BODY[1.0]", false, "Section part numbers start at 1");
	fetch_bad("1 BODY[01]", false, "Section part numbers start at 1");
	fetch_bad("1 BODY[MIME]", false, "MIME needs a part number (BODY[1.MIME])");
	fetch_bad("1 BODY[1.]", false, "Section ends with a dot");
	fetch_bad("1 BODY[4294967296]", false, "Invalid section part number");
	fetch_bad("1 BODY[1A]", false, "Invalid section part number");
	fetch_bad("1 BODY[HEADER.FIELDS]", false, "HEADER.FIELDS needs a list of header names");
	fetch_bad("1 BODY[HEADER.FIELDS ()]", false, "HEADER.FIELDS needs a list of header names");
	fetch_bad("1 BODY[HEADER.FIELDS From]", false, "HEADER.FIELDS needs a list of header names");
	fetch_bad("1 BODY[HEADER.FIELDS (Fr:om)]", false, "Invalid header field name");
	fetch_bad("1 BODY[HEADER.FIELDS (\"a b\")]", false, "Invalid header field name");
	fetch_bad("1 BODY[HEADER.FIELDS (\"\")]", false, "Invalid header field name");
	fetch_bad("1 BODY[TEXT (a)]", false, "Unexpected argument in section");
	fetch_bad("1 BODY[HEADER.FIELDS (a) b]", false, "Unexpected argument in section");
	fetch_bad("1 BODY[\"TEXT\"]", false, "Invalid section");
	fetch_bad("1 BODY[]<5>", false, "Partial must be <offset.count>");
	fetch_bad("1 BODY[]<5.0>", false, "Invalid partial <offset.count> (count must be non-zero)");
	fetch_bad("1 BODY[]<.5>", false, "Invalid partial <offset.count> (count must be non-zero)");
	fetch_bad("1 BODY[]<1.2.3>", false, "Invalid partial <offset.count> (count must be non-zero)");
	fetch_bad("1 BINARY[HEADER]", false, "BINARY sections are part numbers only");
	fetch_bad("1 BINARY.PEEK[1.MIME]", false, "BINARY sections are part numbers only");
	fetch_bad("1 BINARY.SIZE[1]<0.1>", false, "BINARY.SIZE takes no partial");
}

static void test_fetch_modifiers(void **state)
{
	struct imap_fetch *f = fetch_ok("1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)", true);
	assert_true(f->changedsince);
	assert_int_equal(f->changedsince_modseq, 12345);
	assert_true(f->vanished);
	imap_fetch_free(&f);
	f = fetch_ok("1 FLAGS (changedsince 9223372036854775807)", false);
	assert_int_equal(f->changedsince_modseq, 9223372036854775807ull);
	assert_false(f->vanished);
	imap_fetch_free(&f);
	fetch_bad("1 FLAGS (CHANGEDSINCE 9223372036854775808)", false, "Number out of range");
	fetch_bad("1 FLAGS (CHANGEDSINCE 0)", false, "CHANGEDSINCE mod-sequence must be non-zero");
	fetch_bad("1 FLAGS (CHANGEDSINCE x)", false, "Expected a number");
	fetch_bad("1 FLAGS (CHANGEDSINCE)", false, "CHANGEDSINCE needs a mod-sequence");
	fetch_bad("1 FLAGS (CHANGEDSINCE 1 CHANGEDSINCE 2)", false, "CHANGEDSINCE given twice");
	fetch_bad("1 FLAGS (CHANGEDSINCE 1 VANISHED)", false, "VANISHED is allowed only in UID FETCH");
	fetch_bad("1 FLAGS (VANISHED)", true, "VANISHED needs CHANGEDSINCE");
	fetch_bad("1 FLAGS (CHANGEDSINCE 1 VANISHED VANISHED)", true, "VANISHED given twice");
	fetch_bad("1 FLAGS (FOO)", false, "Unknown FETCH modifier");
	fetch_bad("1 FLAGS ()", false, "Expected a list of FETCH modifiers");
	fetch_bad("1 FLAGS CHANGEDSINCE", false, "Expected a list of FETCH modifiers");
}

/* ---- STORE ---- */

static struct imap_store *store_ok(const char *args)
{
	const struct imap_command *c = cmd_of("STORE", args);
	struct imap_store *s = NULL;
	const char *err = NULL;
	if (imap_store_parse(c->args, c->nargs, &s, &err) < 0)
		fail_msg("STORE %s: %s", args, err);
	return s;
}

static void store_bad(const char *args, const char *want)
{
	const struct imap_command *c = cmd_of("STORE", args);
	struct imap_store *s = (void *)1;
	const char *err = NULL;
	assert_int_equal(imap_store_parse(c->args, c->nargs, &s, &err), -1);
	assert_null(s);
	if (strcmp(err, want) != 0)
		fail_msg("STORE %s: '%s', expected '%s'", args, err, want);
}

static void test_store(void **state)
{
	struct imap_store *s = store_ok("1:3 +FLAGS (\\Seen \\Deleted $Junk)");
	assert_int_equal(s->op, IMAP_STORE_ADD);
	assert_false(s->silent);
	assert_int_equal(s->flags.sys, IMAP_FLAG_SEEN | IMAP_FLAG_DELETED);
	assert_int_equal(s->flags.nkeywords, 1);
	assert_string_equal(s->flags.keywords[0].s, "$Junk");
	assert_false(s->unchangedsince);
	imap_store_free(&s);
	assert_null(s);
	s = store_ok("1 -FLAGS.SILENT \\Flagged");
	assert_int_equal(s->op, IMAP_STORE_REMOVE);
	assert_true(s->silent);
	assert_int_equal(s->flags.sys, IMAP_FLAG_FLAGGED);
	imap_store_free(&s);
	s = store_ok("1 FLAGS ()");
	assert_int_equal(s->op, IMAP_STORE_SET);
	assert_int_equal(s->flags.sys, 0);
	assert_int_equal(s->flags.nkeywords, 0);
	imap_store_free(&s);
	s = store_ok("1 flags.silent \\sEeN \\DRAFT \\answered kw1 KW1 kw2");
	assert_int_equal(s->op, IMAP_STORE_SET);
	assert_true(s->silent);
	assert_int_equal(s->flags.sys, IMAP_FLAG_SEEN | IMAP_FLAG_DRAFT | IMAP_FLAG_ANSWERED);
	assert_int_equal(s->flags.nkeywords, 2); /* keywords are case-insensitive */
	imap_store_free(&s);
	s = store_ok("$ (UNCHANGEDSINCE 0) +FLAGS (a)");
	assert_true(s->set->saved);
	assert_true(s->unchangedsince);
	assert_int_equal(s->unchangedsince_modseq, 0);
	imap_store_free(&s);
	s = store_ok("1 (unchangedsince 320162338) -FLAGS \\Deleted");
	assert_int_equal(s->unchangedsince_modseq, 320162338);
	imap_store_free(&s);

	store_bad("1 +FLAGS (\\Recent)", "\\Recent cannot be set by a client");
	store_bad("1 FLAGS \\Foo", "Unknown system flag");
	store_bad("1 FLAGS \\*", "Unknown system flag");
	store_bad("1 FLAGS (a]b)", "Invalid character in a keyword");
	store_bad("1 FLAGS (a%)", "Invalid character in a keyword");
	store_bad("1 FLAGS (\"a\")", "Expected a flag");
	store_bad("1 FLAGS (a (b))", "Expected a flag");
	store_bad("1 FLAGS (a) b", "Expected a flag");
	store_bad("1 FLAGZ a", "Unknown STORE data item");
	store_bad("1 *FLAGS a", "Unknown STORE data item");
	store_bad("1 +FLAGS.LOUD a", "Unknown STORE data item");
	store_bad("1 \"FLAGS\" a", "Unknown STORE data item");
	store_bad("1 FLAGS", "STORE needs a sequence set, a data item and flags");
	store_bad("1 (UNCHANGEDSINCE 1) FLAGS", "STORE needs flags");
	store_bad("1 (UNCHANGEDSINCE) FLAGS a", "UNCHANGEDSINCE needs a mod-sequence");
	store_bad("1 (UNCHANGEDSINCE x) FLAGS a", "Expected a number");
	store_bad("1 (UNCHANGEDSINCE 1 UNCHANGEDSINCE 2) FLAGS a", "UNCHANGEDSINCE given twice");
	store_bad("1 (FOO 1) FLAGS a", "Unknown STORE modifier");
	store_bad("1 () FLAGS a", "Empty STORE modifier list");
	store_bad("0 FLAGS a", "0 is not a valid message number");

	struct imap_flags fl;
	const char *err;
	assert_int_equal(imap_flags_parse(NULL, 0, &fl, &err), -1);
	assert_string_equal(err, "Expected a flag");
	/* keywords in one list are bounded */
	struct buf b;
	buf_init(&b, 0);
	buf_puts(&b, "1 FLAGS (");
	for (int i = 0; i <= IMAP_FLAGS_MAX_KEYWORDS; i++)
		buf_printf(&b, "%sk%d", i ? " " : "", i);
	buf_puts(&b, ")");
	store_bad(b.data, "Too many keywords");
	buf_free(&b);
}

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

static void test_search_every_key(void **state)
{
	struct imap_search *s = search_ok(
	        "ALL ANSWERED BCC a BEFORE 1-Feb-1994 BODY b CC c DELETED DRAFT FLAGGED FROM f HEADER X-H v "
	        "KEYWORD k LARGER 100 NEW NOT SEEN OLD ON \"2-Feb-1994\" OR SEEN UNSEEN RECENT SEEN "
	        "SENTBEFORE 3-Feb-1994 SENTON 4-Feb-1994 SENTSINCE 5-Feb-1994 SINCE 6-Feb-1994 SMALLER 200 "
	        "SUBJECT {4}\r\ns ub TEXT \"t t\" TO to UID 1:5 UNANSWERED UNDELETED UNDRAFT UNFLAGGED "
	        "UNKEYWORD u UNSEEN 1,3:* MODSEQ 5 (FROM x TO y) all");
	static const enum imap_search_type want[] = {
		IMAP_SK_ALL, IMAP_SK_ANSWERED, IMAP_SK_BCC, IMAP_SK_BEFORE, IMAP_SK_BODY, IMAP_SK_CC,
		IMAP_SK_DELETED, IMAP_SK_DRAFT, IMAP_SK_FLAGGED, IMAP_SK_FROM, IMAP_SK_HEADER, IMAP_SK_KEYWORD,
		IMAP_SK_LARGER, IMAP_SK_NEW, IMAP_SK_NOT, IMAP_SK_OLD, IMAP_SK_ON, IMAP_SK_OR, IMAP_SK_RECENT,
		IMAP_SK_SEEN, IMAP_SK_SENTBEFORE, IMAP_SK_SENTON, IMAP_SK_SENTSINCE, IMAP_SK_SINCE,
		IMAP_SK_SMALLER, IMAP_SK_SUBJECT, IMAP_SK_TEXT, IMAP_SK_TO, IMAP_SK_UID, IMAP_SK_UNANSWERED,
		IMAP_SK_UNDELETED, IMAP_SK_UNDRAFT, IMAP_SK_UNFLAGGED, IMAP_SK_UNKEYWORD, IMAP_SK_UNSEEN,
		IMAP_SK_SEQSET, IMAP_SK_MODSEQ, IMAP_SK_AND, IMAP_SK_ALL,
	};
	const struct imap_search_key *r = &s->root;
	assert_int_equal(r->type, IMAP_SK_AND);
	assert_int_equal(r->count, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < r->count; i++)
		if (r->children[i].type != want[i])
			fail_msg("key %zu: type %d, expected %d", i, r->children[i].type, want[i]);
	const struct imap_search_key *k = r->children;
	assert_string_equal(k[2].str.s, "a");
	assert_int_equal(k[3].date.year, 1994);
	assert_int_equal(k[3].date.month, 2);
	assert_int_equal(k[3].date.day, 1);
	assert_string_equal(k[10].str.s, "X-H");
	assert_string_equal(k[10].str2.s, "v");
	assert_string_equal(k[11].str.s, "k");
	assert_int_equal(k[12].num, 100);
	assert_int_equal(k[14].count, 1);
	assert_int_equal(k[14].children[0].type, IMAP_SK_SEEN);
	assert_int_equal(k[16].date.day, 2); /* quoted date */
	assert_int_equal(k[17].count, 2);
	assert_int_equal(k[17].children[0].type, IMAP_SK_SEEN);
	assert_int_equal(k[17].children[1].type, IMAP_SK_UNSEEN);
	assert_int_equal(k[24].num, 200);
	assert_string_equal(k[25].str.s, "s ub"); /* a literal */
	assert_string_equal(k[26].str.s, "t t");
	assert_int_equal(k[28].set->ranges[0].hi, 5);
	assert_string_equal(k[33].str.s, "u");
	assert_int_equal(k[35].set->count, 2);
	assert_true(k[35].set->star);
	assert_int_equal(k[36].num, 5);
	assert_null(k[36].str.s);
	assert_int_equal(k[37].count, 2);
	assert_int_equal(k[37].children[1].type, IMAP_SK_TO);
	assert_false(s->has_return);
	assert_null(s->charset.s);
	assert_false(s->uses_saved);
	imap_search_free(&s);
	assert_null(s);
}

static void test_search_program(void **state)
{
	struct imap_search *s = search_ok("RETURN (MIN MAX ALL COUNT SAVE) CHARSET UTF-8 OR (FROM a TO b) NOT "
	                                  "(SEEN OR $ UID $) 1:5");
	assert_true(s->has_return);
	assert_int_equal(s->ret, IMAP_SEARCH_RET_MIN | IMAP_SEARCH_RET_MAX | IMAP_SEARCH_RET_ALL |
	                                 IMAP_SEARCH_RET_COUNT | IMAP_SEARCH_RET_SAVE);
	assert_string_equal(s->charset.s, "UTF-8");
	assert_true(s->uses_saved);
	const struct imap_search_key *r = &s->root;
	assert_int_equal(r->count, 2);
	const struct imap_search_key *or = &r->children[0];
	assert_int_equal(or->type, IMAP_SK_OR);
	assert_int_equal(or->children[0].type, IMAP_SK_AND);
	assert_int_equal(or->children[0].count, 2);
	const struct imap_search_key *not = &or->children[1];
	assert_int_equal(not->type, IMAP_SK_NOT);
	const struct imap_search_key *grp = &not->children[0];
	assert_int_equal(grp->type, IMAP_SK_AND);
	assert_int_equal(grp->count, 2);
	assert_int_equal(grp->children[1].type, IMAP_SK_OR);
	assert_int_equal(grp->children[1].children[0].type, IMAP_SK_SEQSET);
	assert_true(grp->children[1].children[0].set->saved);
	assert_int_equal(r->children[1].type, IMAP_SK_SEQSET);
	imap_search_free(&s);

	s = search_ok("RETURN () UID $");
	assert_int_equal(s->ret, IMAP_SEARCH_RET_ALL); /* RFC 4731 3.1 */
	assert_true(s->uses_saved);
	imap_search_free(&s);
	s = search_ok("CHARSET \"ISO-8859-1\" SUBJECT {3}\r\n\xe9t\xe9");
	assert_string_equal(s->charset.s, "ISO-8859-1");
	assert_memory_equal(s->root.children[0].str.s, "\xe9t\xe9", 3);
	imap_search_free(&s);
	s = search_ok("MODSEQ \"/flags/\\\\draft\" all 620162338");
	assert_string_equal(s->root.children[0].str.s, "/flags/\\draft");
	assert_int_equal(s->root.children[0].entry_type, IMAP_MODSEQ_ENTRY_ALL);
	assert_int_equal(s->root.children[0].num, 620162338);
	imap_search_free(&s);
	s = search_ok("MODSEQ \"/flags/$x\" Priv 0");
	assert_int_equal(s->root.children[0].entry_type, IMAP_MODSEQ_ENTRY_PRIV);
	imap_search_free(&s);

	/* a key tree can be deep, within bounds */
	struct buf b;
	buf_init(&b, 0);
	for (int i = 0; i < IMAP_SEARCH_MAX_DEPTH - 1; i++)
		buf_puts(&b, "OR SEEN ");
	buf_puts(&b, "ALL");
	s = search_ok(b.data);
	imap_search_free(&s);
	buf_reset(&b);
	for (int i = 0; i < IMAP_SEARCH_MAX_DEPTH + 1; i++)
		buf_puts(&b, "NOT ");
	buf_puts(&b, "ALL");
	search_bad(b.data, "Search keys nested too deeply");
	buf_free(&b);

	/* the key list alone (SORT/THREAD) */
	const struct imap_command *c = cmd_of("X", "SEEN 1:3");
	struct imap_search_key root;
	const char *err;
	assert_int_equal(imap_search_keys_parse(c->args, c->nargs, &root, &err), 0);
	assert_int_equal(root.count, 2);
	imap_search_key_clear(&root);
	assert_int_equal(imap_search_keys_parse(c->args, 0, &root, &err), -1);
	assert_string_equal(err, "Missing search key");
}

static void test_search_errors(void **state)
{
	search_bad("FOO", "Unknown search key");
	search_bad("\"ALL\"", "Expected a search key");
	search_bad("FROM", "Search key needs a string");
	search_bad("FROM (a)", "Expected a string");
	search_bad("BEFORE", "Search key needs a date");
	search_bad("BEFORE 29-Feb-2023", "Invalid day of month in date");
	search_bad("SINCE 1-Foo-2020", "Invalid month in date");
	search_bad("ON {10}\r\n1-Feb-1994", "Expected a date");
	search_bad("LARGER x", "Expected a number");
	search_bad("LARGER", "Search key needs a number");
	search_bad("SMALLER 9223372036854775808", "Number out of range");
	search_bad("UID", "UID needs a sequence set");
	search_bad("UID 0", "0 is not a valid message number");
	search_bad("KEYWORD \\Seen", "Invalid character in an atom");
	search_bad("UNKEYWORD", "Search key needs a keyword");
	search_bad("HEADER X", "HEADER needs a field name and a string");
	search_bad("NOT", "Missing search key");
	search_bad("OR SEEN", "Missing search key");
	search_bad("()", "Empty parenthesized search key");
	search_bad("(SEEN FOO)", "Unknown search key");
	search_bad("RETURN (FOO) ALL", "Unknown SEARCH return option");
	search_bad("RETURN ALL", "RETURN needs a list of options");
	search_bad("RETURN", "RETURN needs a list of options");
	search_bad("CHARSET", "CHARSET needs a charset name");
	search_bad("CHARSET UTF-8", "SEARCH needs at least one search key");
	search_bad("", "SEARCH needs at least one search key");
	search_bad("ALL CHARSET UTF-8", "Unknown search key");
	search_bad("MODSEQ", "MODSEQ needs a mod-sequence");
	search_bad("MODSEQ \"/flags/x\" foo 5", "MODSEQ entry type must be priv, shared or all");
	search_bad("MODSEQ \"/x\" all 5", "Invalid MODSEQ entry name");
	search_bad("MODSEQ \"/flags/x\"", "MODSEQ entry name needs a type");
	search_bad("MODSEQ \"/flags/x\" all", "MODSEQ needs a mod-sequence");
	search_bad("1:$", "'$' must be the whole sequence set");
}

/* ---- APPEND ---- */

static struct imap_append *append_ok(const char *args)
{
	const struct imap_command *c = cmd_of("APPEND", args);
	struct imap_append *a = NULL;
	const char *err = NULL;
	if (imap_append_parse(c->args, c->nargs, &a, &err) < 0)
		fail_msg("APPEND %s: %s", args, err);
	return a;
}

static void append_bad(const char *args, const char *want)
{
	const struct imap_command *c = cmd_of("APPEND", args);
	struct imap_append *a = (void *)1;
	const char *err = NULL;
	assert_int_equal(imap_append_parse(c->args, c->nargs, &a, &err), -1);
	assert_null(a);
	if (strcmp(err, want) != 0)
		fail_msg("APPEND %s: '%s', expected '%s'", args, err, want);
}

static void test_append(void **state)
{
	struct imap_append *a = append_ok("saved-messages {5}\r\nhello");
	assert_string_equal(a->mailbox.s, "saved-messages");
	assert_int_equal(a->nmsgs, 1);
	assert_int_equal(a->msgs[0].len, 5);
	assert_memory_equal(a->msgs[0].data, "hello", 5);
	assert_false(a->msgs[0].has_date);
	assert_false(a->msgs[0].binary);
	assert_int_equal(a->msgs[0].flags.sys, 0);
	imap_append_free(&a);
	assert_null(a);

	a = append_ok("inbox (\\Seen $Junk) \"17-Jul-1996 02:44:25 -0700\" {5}\r\nhello");
	assert_string_equal(a->mailbox.s, "INBOX");
	assert_int_equal(a->msgs[0].flags.sys, IMAP_FLAG_SEEN);
	assert_int_equal(a->msgs[0].flags.nkeywords, 1);
	assert_true(a->msgs[0].has_date);
	assert_int_equal(a->msgs[0].date, 837596665);
	assert_int_equal(a->msgs[0].zone, -420);
	imap_append_free(&a);

	static const char bin[] = "Drafts () ~{3}\r\n\0ab";
	const struct imap_command *c = cmd_of_len("APPEND", bin, sizeof(bin) - 1);
	const char *err;
	assert_int_equal(imap_append_parse(c->args, c->nargs, &a, &err), 0);
	assert_true(a->msgs[0].binary);
	assert_int_equal(a->msgs[0].len, 3);
	assert_memory_equal(a->msgs[0].data, "\0ab", 3);
	imap_append_free(&a);

	a = append_ok("INBOX UTF8 (~{3}\r\nabc)");
	assert_true(a->msgs[0].utf8);
	assert_true(a->msgs[0].binary);
	imap_append_free(&a);

	/* MULTIAPPEND (RFC 3502) */
	a = append_ok("INBOX {1}\r\na (\\Seen) {1}\r\nb \"1-Jan-2000 00:00:00 +0000\" {1}\r\nc (\\Draft) "
	              "\" 2-Jan-2000 00:00:00 +0000\" ~{1}\r\nd");
	assert_int_equal(a->nmsgs, 4);
	assert_memory_equal(a->msgs[1].data, "b", 1);
	assert_int_equal(a->msgs[1].flags.sys, IMAP_FLAG_SEEN);
	assert_int_equal(a->msgs[2].date, 946684800);
	assert_int_equal(a->msgs[3].date, 946684800 + 86400);
	assert_int_equal(a->msgs[3].flags.sys, IMAP_FLAG_DRAFT);
	assert_true(a->msgs[3].binary);
	imap_append_free(&a);

	/* CATENATE (RFC 4469 5), with literal8 TEXT (4), in a MULTIAPPEND. */
	static const char cat[] = "Drafts (\\Seen) CATENATE (URL \"/Drafts/;UID=1\" TEXT {2}\r\nab "
				  "url x TEXT ~{2}\r\n\0b) {1}\r\nz catenate (text {0}\r\n)";
	c = cmd_of_len("APPEND", cat, sizeof(cat) - 1);
	assert_int_equal(imap_append_parse(c->args, c->nargs, &a, &err), 0);
	assert_int_equal(a->nmsgs, 3);
	assert_int_equal(a->msgs[0].ncat, 4);
	assert_null(a->msgs[0].data);
	assert_true(a->msgs[0].cat[0].url);
	assert_memory_equal(a->msgs[0].cat[0].data, "/Drafts/;UID=1", 14);
	assert_false(a->msgs[0].cat[1].url);
	assert_memory_equal(a->msgs[0].cat[1].data, "ab", 2);
	assert_true(a->msgs[0].cat[2].url);
	assert_int_equal(a->msgs[0].cat[2].len, 1);
	assert_true(a->msgs[0].cat[3].literal8);
	assert_true(a->msgs[0].binary);
	assert_int_equal(a->msgs[0].flags.sys, IMAP_FLAG_SEEN);
	assert_null(a->msgs[1].cat);
	assert_int_equal(a->msgs[2].ncat, 1);
	assert_int_equal(a->msgs[2].cat[0].len, 0);
	imap_append_free(&a);

	append_bad("INBOX", "APPEND needs a mailbox and a message");
	append_bad("INBOX (\\Seen)", "APPEND needs a message literal");
	append_bad("INBOX (\\Seen) \"1-Jan-2000 00:00:00 +0000\"", "APPEND needs a message literal");
	append_bad("INBOX \"hello\"", "Invalid date-time (expected \"dd-Mon-yyyy hh:mm:ss +zzzz\")");
	append_bad("INBOX hello", "Unknown APPEND extension");
	append_bad("INBOX CATENATE", "CATENATE needs a parenthesized list of parts");
	append_bad("INBOX CATENATE ()", "CATENATE needs a parenthesized list of parts");
	append_bad("INBOX CATENATE (TEXT)", "CATENATE needs a parenthesized list of parts");
	append_bad("INBOX CATENATE (TEXT \"a\")", "CATENATE TEXT needs a literal");
	append_bad("INBOX CATENATE (URL (a))", "Expected a string");
	append_bad("INBOX CATENATE (FOO {1}\r\na)", "CATENATE parts are TEXT or URL");
	append_bad("INBOX CATENATE TEXT {1}\r\na", "CATENATE needs a parenthesized list of parts");
	append_bad("INBOX FOO (TEXT {1}\r\na)", "Unknown APPEND extension");
	append_bad("INBOX (\\Recent) {1}\r\na", "\\Recent cannot be set by a client");
	append_bad("INBOX UTF8 ({1}\r\na)", "UTF8 needs a parenthesized literal8");
	append_bad("INBOX UTF8 ~{1}\r\na", "UTF8 needs a parenthesized literal8");
	append_bad("INBOX (\\Seen) (\\Seen) {1}\r\na", "APPEND needs a message literal");
	append_bad("INBOX {1}\r\na NIL", "APPEND needs a message literal");
	append_bad("a*b {1}\r\na", "Invalid character in an atom (quote the string)");
}

/* ---- STATUS, LIST ---- */

static void test_status(void **state)
{
	const struct imap_command *c = cmd_of("STATUS", "inbox (MESSAGES uidnext UIDVALIDITY UNSEEN RECENT SIZE "
	                                                 "HIGHESTMODSEQ DELETED APPENDLIMIT)");
	struct imap_string mb;
	unsigned items;
	const char *err;
	assert_int_equal(imap_status_parse(c->args, c->nargs, &mb, &items, &err), 0);
	assert_string_equal(mb.s, "INBOX");
	assert_int_equal(items, 0x1ff);
	c = cmd_of("STATUS", "INBOX ()");
	assert_int_equal(imap_status_parse(c->args, c->nargs, &mb, &items, &err), -1);
	assert_string_equal(err, "Expected a list of status items");
	c = cmd_of("STATUS", "INBOX (MESSAGES FOO)");
	assert_int_equal(imap_status_parse(c->args, c->nargs, &mb, &items, &err), -1);
	assert_string_equal(err, "Unknown status item");
	c = cmd_of("STATUS", "INBOX");
	assert_int_equal(imap_status_parse(c->args, c->nargs, &mb, &items, &err), -1);
	assert_string_equal(err, "STATUS needs a mailbox and a list of items");
}

static struct imap_list *list_ok(const char *args, bool lsub)
{
	const struct imap_command *c = cmd_of(lsub ? "LSUB" : "LIST", args);
	struct imap_list *l = NULL;
	const char *err = NULL;
	if (imap_list_parse(c->args, c->nargs, lsub, &l, &err) < 0)
		fail_msg("LIST %s: %s", args, err);
	return l;
}

static void list_bad(const char *args, bool lsub, const char *want)
{
	const struct imap_command *c = cmd_of(lsub ? "LSUB" : "LIST", args);
	struct imap_list *l = (void *)1;
	const char *err = NULL;
	assert_int_equal(imap_list_parse(c->args, c->nargs, lsub, &l, &err), -1);
	assert_null(l);
	if (strcmp(err, want) != 0)
		fail_msg("LIST %s: '%s', expected '%s'", args, err, want);
}

static void test_list(void **state)
{
	struct imap_list *l = list_ok("\"\" *", false);
	assert_false(l->extended);
	assert_string_equal(l->reference.s, "");
	assert_int_equal(l->npatterns, 1);
	assert_string_equal(l->patterns[0].s, "*");
	imap_list_free(&l);
	assert_null(l);
	l = list_ok("~/Mail/ %", false);
	assert_string_equal(l->reference.s, "~/Mail/");
	assert_string_equal(l->patterns[0].s, "%");
	imap_list_free(&l);
	l = list_ok("(SUBSCRIBED) \"\" \"*\" RETURN (CHILDREN STATUS (MESSAGES UNSEEN))", false);
	assert_true(l->extended);
	assert_int_equal(l->select, IMAP_LIST_SEL_SUBSCRIBED);
	assert_int_equal(l->ret, IMAP_LIST_RET_CHILDREN | IMAP_LIST_RET_STATUS);
	assert_int_equal(l->status_items, IMAP_STATUS_MESSAGES | IMAP_STATUS_UNSEEN);
	imap_list_free(&l);
	l = list_ok("\"\" (\"INBOX\" \"Drafts*\" Sent%)", false);
	assert_true(l->extended);
	assert_int_equal(l->npatterns, 3);
	assert_string_equal(l->patterns[2].s, "Sent%");
	imap_list_free(&l);
	l = list_ok("(subscribed RECURSIVEMATCH REMOTE) \"\" *", false);
	assert_int_equal(l->select, IMAP_LIST_SEL_SUBSCRIBED | IMAP_LIST_SEL_RECURSIVEMATCH | IMAP_LIST_SEL_REMOTE);
	imap_list_free(&l);
	l = list_ok("(SPECIAL-USE) \"\" * RETURN (SPECIAL-USE SUBSCRIBED)", false);
	assert_int_equal(l->select, IMAP_LIST_SEL_SPECIAL_USE);
	assert_int_equal(l->ret, IMAP_LIST_RET_SPECIAL_USE | IMAP_LIST_RET_SUBSCRIBED);
	imap_list_free(&l);
	l = list_ok("() \"\" \"\" RETURN ()", false);
	assert_true(l->extended);
	assert_int_equal(l->select, 0);
	assert_string_equal(l->patterns[0].s, "");
	imap_list_free(&l);
	l = list_ok("\"\" *", true);
	assert_false(l->extended);
	imap_list_free(&l);

	list_bad("(RECURSIVEMATCH) \"\" *", false, "RECURSIVEMATCH needs another selection option");
	list_bad("(REMOTE RECURSIVEMATCH) \"\" *", false, "RECURSIVEMATCH needs another selection option");
	list_bad("(FOO) \"\" *", false, "Unknown LIST selection option");
	list_bad("\"\" * RETURN (FOO)", false, "Unknown LIST return option");
	list_bad("\"\" * RETURN", false, "RETURN needs a list of options");
	list_bad("\"\" * RETURN CHILDREN", false, "RETURN needs a list of options");
	list_bad("\"\" * RETURN (STATUS)", false, "STATUS return option needs a list of items");
	list_bad("\"\" * RETURN (STATUS (FOO))", false, "Unknown status item");
	list_bad("\"\" * x", false, "Too many LIST arguments");
	list_bad("\"\"", false, "LIST needs a reference and a mailbox pattern");
	list_bad("\"\" ()", false, "Empty list of mailbox patterns");
	list_bad("a*b *", false, "Invalid character in an atom (quote the string)");
	list_bad("\"\" a\\b", false, "Invalid character in a mailbox pattern");
	list_bad("\"\" {3}\r\na\rb", false, "CR or LF in a mailbox pattern");
	list_bad("(SUBSCRIBED) \"\" *", true, "Expected a string");
	list_bad("\"\" * RETURN ()", true, "Too many LSUB arguments");
	list_bad("\"\" (a)", true, "Expected a string");
}

/* ---- SELECT, COPY, ENABLE, ID, AUTHENTICATE, LOGIN ---- */

static struct imap_select *select_ok(const char *args)
{
	const struct imap_command *c = cmd_of("SELECT", args);
	struct imap_select *s = NULL;
	const char *err = NULL;
	if (imap_select_parse(c->args, c->nargs, &s, &err) < 0)
		fail_msg("SELECT %s: %s", args, err);
	return s;
}

static void select_bad(const char *args, const char *want)
{
	const struct imap_command *c = cmd_of("SELECT", args);
	struct imap_select *s = (void *)1;
	const char *err = NULL;
	assert_int_equal(imap_select_parse(c->args, c->nargs, &s, &err), -1);
	assert_null(s);
	if (strcmp(err, want) != 0)
		fail_msg("SELECT %s: '%s', expected '%s'", args, err, want);
}

static void test_select(void **state)
{
	struct imap_select *s = select_ok("Inbox");
	assert_string_equal(s->mailbox.s, "INBOX");
	assert_false(s->condstore);
	assert_false(s->qresync);
	imap_select_free(&s);
	assert_null(s);
	s = select_ok("Drafts (CONDSTORE)");
	assert_true(s->condstore);
	imap_select_free(&s);
	s = select_ok("INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))");
	assert_true(s->qresync);
	assert_int_equal(s->uidvalidity, 67890007);
	assert_int_equal(s->modseq, 20050715194045000ull);
	assert_int_equal(s->known_uids->count, 3);
	assert_null(s->known_seqs);
	imap_select_free(&s);
	s = select_ok("INBOX (QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9000,9990:9999 "
	              "15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997)) condstore)");
	assert_true(s->condstore);
	assert_int_equal(s->known_seqs->count, 4);
	assert_int_equal(s->known_seq_uids->count, 13);
	imap_select_free(&s);
	s = select_ok("INBOX (QRESYNC (1 2 (1:2 3:4)))");
	assert_null(s->known_uids);
	assert_non_null(s->known_seqs);
	imap_select_free(&s);

	select_bad("", "SELECT needs a mailbox");
	select_bad("INBOX (FOO)", "Unknown SELECT parameter");
	select_bad("INBOX (CONDSTORE CONDSTORE)", "SELECT parameter given twice");
	select_bad("INBOX ()", "Expected a list of SELECT parameters");
	select_bad("INBOX CONDSTORE", "Expected a list of SELECT parameters");
	select_bad("INBOX (CONDSTORE) x", "Too many SELECT arguments");
	select_bad("INBOX (QRESYNC)", "QRESYNC needs (uidvalidity modseq [known-uids] [seq-match-data])");
	select_bad("INBOX (QRESYNC (1))", "QRESYNC needs (uidvalidity modseq [known-uids] [seq-match-data])");
	select_bad("INBOX (QRESYNC (0 5))", "Expected a non-zero number without leading zeros");
	select_bad("INBOX (QRESYNC (4294967296 5))", "Number out of range");
	select_bad("INBOX (QRESYNC (1 0))", "QRESYNC mod-sequence must be non-zero");
	select_bad("INBOX (QRESYNC (1 2 1:*))", "'*' is not allowed in this sequence set");
	select_bad("INBOX (QRESYNC (1 2 1:5 (1:2)))", "QRESYNC seq-match-data needs two sequence sets");
	/* RFC 7162 3.2.5.2: the two sets pair up, in ascending order. */
	select_bad("INBOX (QRESYNC (1 2 1:5 (1:3 4,7)))", "QRESYNC seq-match-data sets differ in size");
	select_bad("INBOX (QRESYNC (1 2 (1,4000000000 1:4294967295)))",
	           "QRESYNC seq-match-data sets differ in size");
	select_bad("INBOX (QRESYNC (1 2 (3,1 4,7)))", "QRESYNC seq-match-data must be in ascending order");
	select_bad("INBOX (QRESYNC (1 2 (1,3 7,4)))", "QRESYNC seq-match-data must be in ascending order");
	select_bad("INBOX (QRESYNC (1 2 (1:3,2 4:7)))", "QRESYNC seq-match-data must be in ascending order");
	select_bad("INBOX (QRESYNC (1 2 1:5 (1:2 *)))", "'*' is not allowed in this sequence set");
	select_bad("INBOX (QRESYNC (1 2 (1 2) 3))", "Unexpected QRESYNC argument");
}

static void test_copy_enable_id(void **state)
{
	const struct imap_command *c = cmd_of("COPY", "2:4 meeting");
	struct imap_seqset *set;
	struct imap_string mb;
	const char *err;
	assert_int_equal(imap_copy_parse(c->args, c->nargs, &set, &mb, &err), 0);
	assert_string_equal(mb.s, "meeting");
	assert_int_equal(set->ranges[0].lo, 2);
	imap_seqset_free(&set);
	c = cmd_of("MOVE", "$ inbox");
	assert_int_equal(imap_copy_parse(c->args, c->nargs, &set, &mb, &err), 0);
	assert_true(set->saved);
	assert_string_equal(mb.s, "INBOX");
	imap_seqset_free(&set);
	c = cmd_of("COPY", "2:4");
	assert_int_equal(imap_copy_parse(c->args, c->nargs, &set, &mb, &err), -1);
	assert_string_equal(err, "Expected a sequence set and a mailbox");
	c = cmd_of("COPY", "0 x");
	assert_int_equal(imap_copy_parse(c->args, c->nargs, &set, &mb, &err), -1);
	assert_null(set);

	struct imap_string *caps;
	size_t ncaps;
	c = cmd_of("ENABLE", "CONDSTORE qresync UTF8=ACCEPT");
	assert_int_equal(imap_enable_parse(c->args, c->nargs, &caps, &ncaps, &err), 0);
	assert_int_equal(ncaps, 3);
	assert_string_equal(caps[2].s, "UTF8=ACCEPT");
	free(caps);
	c = cmd_of("ENABLE", "");
	assert_int_equal(imap_enable_parse(c->args, c->nargs, &caps, &ncaps, &err), -1);
	assert_string_equal(err, "ENABLE needs at least one capability");
	c = cmd_of("ENABLE", "\"X\"");
	assert_int_equal(imap_enable_parse(c->args, c->nargs, &caps, &ncaps, &err), -1);
	assert_null(caps);

	struct imap_id id;
	c = cmd_of("ID", "NIL");
	assert_int_equal(imap_id_parse(c->args, c->nargs, &id, &err), 0);
	assert_int_equal(id.npairs, 0);
	c = cmd_of("ID", "(\"name\" \"sodr\" \"version\" NIL {6}\r\nvendor \"Pink\")");
	assert_int_equal(imap_id_parse(c->args, c->nargs, &id, &err), 0);
	assert_int_equal(id.npairs, 3);
	assert_string_equal(id.fields[0].s, "name");
	assert_string_equal(id.values[0].s, "sodr");
	assert_null(id.values[1].s);
	assert_string_equal(id.fields[2].s, "vendor");
	imap_id_clear(&id);
	c = cmd_of("ID", "()");
	assert_int_equal(imap_id_parse(c->args, c->nargs, &id, &err), 0);
	static const struct {
		const char *args, *err;
	} bad[] = {
		{ "", "ID needs a parameter list or NIL" },
		{ "(\"a\")", "ID needs NIL or a list of field/value pairs" },
		{ "x", "ID needs NIL or a list of field/value pairs" },
		{ "(a \"b\")", "Expected a string" },
		{ "(\"a\" (b))", "Expected a string" },
		{ "(\"0123456789012345678901234567890\" NIL)", "ID field longer than 30 octets" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = cmd_of("ID", bad[i].args);
		assert_int_equal(imap_id_parse(c->args, c->nargs, &id, &err), -1);
		assert_string_equal(err, bad[i].err);
		assert_null(id.fields);
	}
	struct buf b;
	buf_init(&b, 0);
	buf_puts(&b, "(\"v\" \"");
	for (int i = 0; i < 1025; i++)
		buf_putc(&b, 'x');
	buf_puts(&b, "\")");
	c = cmd_of("ID", b.data);
	assert_int_equal(imap_id_parse(c->args, c->nargs, &id, &err), -1);
	assert_string_equal(err, "ID value longer than 1024 octets");
	buf_reset(&b);
	buf_puts(&b, "(");
	for (int i = 0; i < 31; i++)
		buf_printf(&b, "%s\"f%d\" NIL", i ? " " : "", i);
	buf_puts(&b, ")");
	c = cmd_of("ID", b.data);
	assert_int_equal(imap_id_parse(c->args, c->nargs, &id, &err), -1);
	assert_string_equal(err, "ID allows at most 30 field/value pairs");
	buf_free(&b);
}

static void test_authenticate_login(void **state)
{
	struct imap_authenticate au;
	const char *err;
	const struct imap_command *c = cmd_of("AUTHENTICATE", "PLAIN");
	assert_int_equal(imap_authenticate_parse(c->args, c->nargs, &au, &err), 0);
	assert_string_equal(au.mech.s, "PLAIN");
	assert_false(au.has_ir);
	c = cmd_of("AUTHENTICATE", "PLAIN dGVzdAB0ZXN0AHRlc3Q=");
	assert_int_equal(imap_authenticate_parse(c->args, c->nargs, &au, &err), 0);
	assert_true(au.has_ir);
	assert_string_equal(au.ir.s, "dGVzdAB0ZXN0AHRlc3Q=");
	c = cmd_of("AUTHENTICATE", "EXTERNAL =");
	assert_int_equal(imap_authenticate_parse(c->args, c->nargs, &au, &err), 0);
	assert_true(au.has_ir);
	assert_int_equal(au.ir.len, 0);
	c = cmd_of("AUTHENTICATE", "scram-sha-256 biwsbj11c2VyLHI9ck9wck5HZndFYmVSV2diTkVrcU8=");
	assert_int_equal(imap_authenticate_parse(c->args, c->nargs, &au, &err), 0);
	static const struct {
		const char *args, *err;
	} bad[] = {
		{ "", "AUTHENTICATE needs a mechanism" },
		{ "PLAIN abc", "Initial response is not base64" },
		{ "PLAIN a===", "Initial response is not base64" },
		{ "PLAIN ====", "Initial response is not base64" },
		{ "PLAIN \"dGVz\"", "Invalid initial response" },
		{ "BAD.MECH", "Invalid SASL mechanism name" },
		{ "A23456789012345678901", "Invalid SASL mechanism name" },
		{ "\"PLAIN\"", "Expected an atom" },
		{ "PLAIN x y", "Too many AUTHENTICATE arguments" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = cmd_of("AUTHENTICATE", bad[i].args);
		assert_int_equal(imap_authenticate_parse(c->args, c->nargs, &au, &err), -1);
		assert_string_equal(err, bad[i].err);
	}
	assert_true(imap_base64_valid("", 0));
	assert_true(imap_base64_valid("QQ==", 4));
	assert_true(imap_base64_valid("QUI=", 4));
	assert_true(imap_base64_valid("QUJD", 4));
	assert_true(imap_base64_valid("QUJDQQ==", 8));
	assert_false(imap_base64_valid("Q===", 4));
	assert_false(imap_base64_valid("QQ=A", 4));
	assert_false(imap_base64_valid("QQ==QUJD", 8));
	assert_false(imap_base64_valid("QUJ", 3));
	assert_false(imap_base64_valid("QU-D", 4));

	struct imap_string u, pw;
	c = cmd_of("LOGIN", "fred \"fat man\"");
	assert_int_equal(imap_login_parse(c->args, c->nargs, &u, &pw, &err), 0);
	assert_string_equal(u.s, "fred");
	assert_string_equal(pw.s, "fat man");
	c = cmd_of("LOGIN", "{4}\r\nfred {7}\r\nfat man");
	assert_int_equal(imap_login_parse(c->args, c->nargs, &u, &pw, &err), 0);
	assert_string_equal(pw.s, "fat man");
	c = cmd_of("LOGIN", "fred");
	assert_int_equal(imap_login_parse(c->args, c->nargs, &u, &pw, &err), -1);
	assert_string_equal(err, "LOGIN needs a user name and a password");
	c = cmd_of("LOGIN", "fred ~{1}\r\nx");
	assert_int_equal(imap_login_parse(c->args, c->nargs, &u, &pw, &err), -1);
	assert_string_equal(err, "literal8 is not allowed here");
	c = cmd_of("LOGIN", "fr%d x");
	assert_int_equal(imap_login_parse(c->args, c->nargs, &u, &pw, &err), -1);
}

#define T(f) cmocka_unit_test_teardown(f, free_kept)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_fetch_items),
		T(test_fetch_sections),
		T(test_fetch_modifiers),
		T(test_store),
		T(test_search_every_key),
		T(test_search_program),
		T(test_search_errors),
		T(test_append),
		T(test_status),
		T(test_list),
		T(test_select),
		T(test_copy_enable_id),
		T(test_authenticate_login),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
