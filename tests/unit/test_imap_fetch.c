/* Unit tests for imap/imap_fetch_part.c: which octets BODY[section]<partial>
 * names in a real parsed message (core/mime.h), HEADER.FIELDS(.NOT)
 * filtering, BINARY's transfer encodings and the INTERNALDATE format.
 * Sections come from the real FETCH parser, as the session gets them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/mime.h"
#include "imap/imap_fetch.h"
#include "imap/imap_parse.h"

static const char MSG[] =
	"From: a@example.org\r\n"
	"To: b@example.org,\r\n"
	" c@example.org\r\n"
	"Subject: hi\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/mixed; boundary=XX\r\n"
	"\r\n"
	"preamble\r\n"
	"--XX\r\n"
	"Content-Type: text/plain\r\n"
	"\r\n"
	"part one\r\n"
	"--XX\r\n"
	"Content-Type: message/rfc822\r\n"
	"\r\n"
	"Subject: inner\r\n"
	"From: x@example.net\r\n"
	"\r\n"
	"inner body\r\n"
	"--XX\r\n"
	"Content-Type: application/octet-stream\r\n"
	"Content-Transfer-Encoding: x-uuencode\r\n"
	"\r\n"
	"begin 644 f\r\n"
	"--XX\r\n"
	"Content-Type: text/plain\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"aGVsbG8=\r\n"
	"--XX--\r\n";

static struct mime_message *msg;
static struct imap_command *cmd;
static struct imap_fetch *fetch;

static int setup(void **state)
{
	assert_int_equal(mime_message_parse(MSG, sizeof(MSG) - 1, NULL, &msg), MIME_OK);
	return 0;
}

static int teardown(void **state)
{
	mime_message_free(&msg);
	imap_fetch_free(&fetch);
	imap_command_free(&cmd);
	return 0;
}

/* The first attribute of "T FETCH 1 <att>" through the real reader. */
static const struct imap_fetch_att *att_of(const char *att)
{
	imap_fetch_free(&fetch);
	imap_command_free(&cmd);
	char line[512];
	snprintf(line, sizeof(line), "T FETCH 1 %s", att);
	struct imap_parse_limits lim;
	imap_parse_limits_default(&lim);
	struct imap_parser *p = imap_parser_new(&lim);
	assert_non_null(p);
	assert_int_equal(imap_parser_feed_line(p, line, strlen(line)), IMAP_PARSE_DONE);
	cmd = imap_parser_take(p);
	imap_parser_free(&p);
	const char *err = NULL;
	if (imap_fetch_parse(cmd->args, cmd->nargs, false, &fetch, &err) < 0)
		fail_msg("%s: %s", att, err);
	return &fetch->atts[0];
}

/* The octets a section names, or "NIL". */
static char *section_text(const char *att)
{
	const struct imap_fetch_att *a = att_of(att);
	struct imap_fetch_loc loc;
	imap_fetch_locate(msg, sizeof(MSG) - 1, &a->section, &loc);
	static char out[2048];
	if (loc.kind == IMAP_LOC_NIL)
		return strcpy(out, "NIL");
	assert_true(loc.off + loc.len <= sizeof(MSG) - 1);
	if (loc.kind == IMAP_LOC_FILTER) {
		struct buf b;
		buf_init(&b, 0);
		assert_int_equal(imap_fetch_header_filter(MSG + loc.off, loc.len, a->section.fields,
							  a->section.nfields,
							  a->section.text == IMAP_SECTION_HEADER_FIELDS_NOT,
							  &b), 0);
		snprintf(out, sizeof(out), "%s", b.data);
		buf_free(&b);
		return out;
	}
	uint64_t start, len;
	imap_fetch_partial(loc.len, a->partial, a->offset, a->count, &start, &len);
	memcpy(out, MSG + loc.off + start, len);
	out[len] = '\0';
	return out;
}

static void test_whole_and_root(void **state)
{
	assert_string_equal(section_text("BODY[]"), MSG);
	assert_string_equal(section_text("BODY.PEEK[HEADER]"),
			    "From: a@example.org\r\nTo: b@example.org,\r\n c@example.org\r\n"
			    "Subject: hi\r\nMIME-Version: 1.0\r\n"
			    "Content-Type: multipart/mixed; boundary=XX\r\n\r\n");
	const char *text = strstr(MSG, "preamble");
	assert_string_equal(section_text("BODY[TEXT]"), text);
	assert_string_equal(section_text("BODY[]<0.4>"), "From");
	assert_string_equal(section_text("BODY[]<6.8>"), "a@exampl");
	assert_string_equal(section_text("BODY[]<100000.10>"), "");
}

static void test_parts(void **state)
{
	assert_string_equal(section_text("BODY[1]"), "part one");
	assert_string_equal(section_text("BODY[1.MIME]"), "Content-Type: text/plain\r\n\r\n");
	assert_string_equal(section_text("BODY[2]"),
			    "Subject: inner\r\nFrom: x@example.net\r\n\r\ninner body");
	assert_string_equal(section_text("BODY[2.HEADER]"),
			    "Subject: inner\r\nFrom: x@example.net\r\n\r\n");
	assert_string_equal(section_text("BODY[2.TEXT]"), "inner body");
	/* The embedded message is not multipart: its part 1 is its body. */
	assert_string_equal(section_text("BODY[2.1]"), "inner body");
	assert_string_equal(section_text("BODY[2.HEADER.FIELDS (FROM)]"),
			    "From: x@example.net\r\n\r\n");
	assert_string_equal(section_text("BODY[4]<1.3>"), "GVs");
	/* Nonexistent parts and texts that only a message/rfc822 part has. */
	assert_string_equal(section_text("BODY[9]"), "NIL");
	assert_string_equal(section_text("BODY[1.2]"), "NIL");
	assert_string_equal(section_text("BODY[1.HEADER]"), "NIL");
	assert_string_equal(section_text("BODY[1.TEXT]"), "NIL");
}

static void test_header_fields(void **state)
{
	assert_string_equal(section_text("BODY[HEADER.FIELDS (to SUBJECT)]"),
			    "To: b@example.org,\r\n c@example.org\r\nSubject: hi\r\n\r\n");
	assert_string_equal(section_text("BODY[HEADER.FIELDS.NOT (To Subject MIME-Version "
					 "Content-Type)]"),
			    "From: a@example.org\r\n\r\n");
	assert_string_equal(section_text("BODY[HEADER.FIELDS (X-None)]"), "\r\n");
	/* A header block that ends without a line break still ends with one. */
	static const char hdr[] = "From: z@example.org\r\nX-Last: yes";
	struct imap_string f[] = { { "x-last", 6 } };
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(imap_fetch_header_filter(hdr, sizeof(hdr) - 1, f, 1, false, &b), 0);
	assert_string_equal(b.data, "X-Last: yes\r\n\r\n");
	buf_reset(&b);
	/* A prefix of a name is not the name. */
	struct imap_string g[] = { { "Fro", 3 } };
	assert_int_equal(imap_fetch_header_filter(hdr, sizeof(hdr) - 1, g, 1, false, &b), 0);
	assert_string_equal(b.data, "\r\n");
	buf_free(&b);
}

static void test_partial(void **state)
{
	uint64_t s, l;
	imap_fetch_partial(100, false, 7, 7, &s, &l);
	assert_true(s == 0 && l == 100);
	imap_fetch_partial(100, true, 10, 20, &s, &l);
	assert_true(s == 10 && l == 20);
	imap_fetch_partial(100, true, 90, 20, &s, &l);
	assert_true(s == 90 && l == 10);
	imap_fetch_partial(100, true, 100, 1, &s, &l);
	assert_true(l == 0);
	imap_fetch_partial(100, true, UINT64_MAX, UINT64_MAX, &s, &l);
	assert_true(l == 0);
	imap_fetch_partial(0, true, 0, 5, &s, &l);
	assert_true(s == 0 && l == 0);
}

static void test_binary(void **state)
{
	assert_true(imap_fetch_binary_ok(msg, sizeof(MSG) - 1, att_of("BINARY[1]")));
	assert_true(imap_fetch_binary_ok(msg, sizeof(MSG) - 1, att_of("BINARY[4]")));
	assert_true(imap_fetch_binary_ok(msg, sizeof(MSG) - 1, att_of("BINARY[]")));
	assert_false(imap_fetch_binary_ok(msg, sizeof(MSG) - 1, att_of("BINARY[3]")));
	assert_false(imap_fetch_binary_ok(msg, sizeof(MSG) - 1, att_of("BINARY.SIZE[3]")));
	assert_true(imap_fetch_binary_ok(msg, sizeof(MSG) - 1, att_of("BINARY[9]")));
	struct mime_str e = { "Quoted-Printable", 16 };
	assert_true(imap_fetch_cte_known(&e));
	e = (struct mime_str){ "x-gzip", 6 };
	assert_false(imap_fetch_cte_known(&e));
	e = (struct mime_str){ NULL, 0 };
	assert_true(imap_fetch_cte_known(&e));
}

static void test_needs_structure(void **state)
{
	assert_false(imap_fetch_att_needs_structure(att_of("BODY[]")));
	assert_false(imap_fetch_att_needs_structure(att_of("BODY.PEEK[]<0.10>")));
	assert_false(imap_fetch_att_needs_structure(att_of("RFC822")));
	assert_false(imap_fetch_att_needs_structure(att_of("FLAGS")));
	assert_true(imap_fetch_att_needs_structure(att_of("RFC822.HEADER")));
	assert_true(imap_fetch_att_needs_structure(att_of("BODY[1]")));
	assert_true(imap_fetch_att_needs_structure(att_of("BODY[HEADER]")));
	assert_true(imap_fetch_att_needs_structure(att_of("ENVELOPE")));
	assert_true(imap_fetch_att_needs_structure(att_of("BODYSTRUCTURE")));
}

static void test_internaldate(void **state)
{
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(imap_fetch_internaldate_write(&b, 0), 0);
	assert_string_equal(b.data, "\" 1-Jan-1970 00:00:00 +0000\"");
	buf_reset(&b);
	assert_int_equal(imap_fetch_internaldate_write(&b, 1700000000), 0);
	assert_string_equal(b.data, "\"14-Nov-2023 22:13:20 +0000\"");
	buf_reset(&b);
	assert_int_equal(imap_fetch_internaldate_write(&b, -5), 0);
	assert_string_equal(b.data, "\" 1-Jan-1970 00:00:00 +0000\"");
	buf_free(&b);
}

static void test_no_structure(void **state)
{
	/* Without a structure only BODY[] can be located. */
	struct imap_fetch_loc loc;
	imap_fetch_locate(NULL, 42, &att_of("BODY[]<40.10>")->section, &loc);
	assert_int_equal(loc.kind, IMAP_LOC_RANGE);
	assert_true(loc.off == 0 && loc.len == 42);
	imap_fetch_locate(NULL, 42, &att_of("BODY[TEXT]")->section, &loc);
	assert_int_equal(loc.kind, IMAP_LOC_NIL);
	/* A structure bigger than the message is never trusted. */
	imap_fetch_locate(msg, 10, &att_of("BODY[1]")->section, &loc);
	assert_int_equal(loc.kind, IMAP_LOC_NIL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_whole_and_root, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_header_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partial, setup, teardown),
		cmocka_unit_test_setup_teardown(test_binary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_needs_structure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_internaldate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_structure, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
