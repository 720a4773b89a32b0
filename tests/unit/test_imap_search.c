/* tests/unit/test_imap_search.c: the SEARCH evaluator (imap_search_eval.c)
 * on canned messages: every kind of key, the two passes (record first,
 * content only when needed), RFC 2047 and MIME decoding, SENT* dates in the
 * sender's zone, and the compact set writer. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/mime.h"
#include "imap/imap_parse.h"
#include "imap/imap_search.h"

static const char msg_text[] =
	"From: =?UTF-8?B?SsO2cmc=?= <jorg@example.org>\r\n"
	"To: alice@example.com\r\n"
	"Cc: bob@example.com\r\n"
	"Bcc: <user-from (comment)@ (comment) domain.org>,\r\n"
	" \"Dan Q\" <dan . q@example.net>\r\n"
	"Subject: =?ISO-8859-1?Q?caf=E9_meeting?=\r\n"
	"Date: Mon, 2 Mar 2026 23:30:00 -0800 (PST)\r\n"
	"X-Folded: first\r\n"
	"  second\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
	"\r\n"
	"preamble\r\n"
	"--b1\r\n"
	"Content-Type: text/plain; charset=utf-8\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n"
	"\r\n"
	"Hello W=C3=B6rld, see attach=\r\n"
	"ed.\r\n"
	"--b1\r\n"
	"Content-Type: application/octet-stream\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"c2VjcmV0d29yZA==\r\n"
	"--b1\r\n"
	"Content-Type: text/html; charset=iso-8859-1\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"PHA+Q2Hn4TwvcD4=\r\n"
	"--b1\r\n"
	"Content-Type: message/rfc822\r\n"
	"\r\n"
	"Subject: inner subject\r\n"
	"From: carol@example.net\r\n"
	"\r\n"
	"inner body text\r\n"
	"--b1--\r\n";

struct fixture {
	struct mime_message *mime;
	struct store_keywords kw;
	uint32_t saved[2];
	struct imap_recent_range recent_range;
	struct imap_recent recent;
	struct imap_search_env env;
	struct imap_search_msg msg;
	bool loaded;                 /* the last eval needed content */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	assert_int_equal(mime_message_parse(msg_text, sizeof(msg_text) - 1, NULL, &f->mime), MIME_OK);
	f->kw.count = 2;
	strcpy(f->kw.name[0], "$Junk");
	strcpy(f->kw.name[1], "$Label1");
	f->saved[0] = 3;
	f->saved[1] = 7;
	f->env.nmsgs = 10;
	f->env.max_uid = 20;
	f->recent_range = (struct imap_recent_range){ .lo = 7, .hi = 21 };
	f->recent = (struct imap_recent){ .r = &f->recent_range, .count = 1, .cap = 1 };
	f->env.recent = &f->recent;
	f->env.saved = f->saved;
	f->env.nsaved = 2;
	f->env.keywords = &f->kw;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	imap_search_msg_clear(&f->msg);
	mime_message_free(&f->mime);
	free(f);
	return 0;
}

/* The record of the canned message: seq 4, UID 7, \Seen \Flagged,
 * $Label1, 2026-03-03 12:00:00 UTC, MODSEQ 50. */
static void rec_default(struct imap_search_msg *m)
{
	memset(&m->rec, 0, sizeof(m->rec));
	m->rec.uid = 7;
	m->rec.size = sizeof(msg_text) - 1;
	m->rec.flags = STORE_F_SEEN | STORE_F_FLAGGED;
	m->rec.internaldate = 1772539200;   /* 2026-03-03 12:00:00 UTC */
	m->rec.modseq = 50;
	m->rec.keywords = 1u << 1;
	m->seq = 4;
}

/* Parses "x SEARCH <program>" and evaluates it as the command does: on the
 * record, then with what imap_search_need() asks for. */
static int eval_program(struct fixture *f, const char *program)
{
	char line[1024];
	snprintf(line, sizeof(line), "x SEARCH %s", program);
	struct imap_parse_limits lim;
	imap_parse_limits_default(&lim);
	struct imap_parser *p = imap_parser_new(&lim);
	assert_non_null(p);
	assert_int_equal(imap_parser_feed_line(p, line, strlen(line)), IMAP_PARSE_DONE);
	struct imap_command *cmd = imap_parser_take(p);
	assert_non_null(cmd);
	struct imap_search *s = NULL;
	const char *err = NULL;
	if (imap_search_parse(cmd->args, cmd->nargs, &s, &err) < 0)
		fail_msg("parse %s: %s", program, err);

	imap_search_msg_reset(&f->msg);
	enum imap_search_result r = imap_search_eval(&f->env, &s->root, &f->msg);
	f->loaded = false;
	if (r == IMAP_SEARCH_UNKNOWN) {
		enum imap_search_need need = imap_search_need(&s->root);
		assert_true(need > IMAP_SEARCH_NEED_RECORD);
		f->loaded = true;
		f->msg.have_content = true;
		f->msg.data = msg_text;
		if (need == IMAP_SEARCH_NEED_HEADER) {
			/* Only the header block, as the command reads it. */
			f->msg.len = f->mime->root->header_len;
		} else {
			f->msg.len = sizeof(msg_text) - 1;
			f->msg.mime = f->mime;
		}
		f->msg.header_len = f->mime->root->header_len;
		r = imap_search_eval(&f->env, &s->root, &f->msg);
	}
	assert_true(r == IMAP_SEARCH_YES || r == IMAP_SEARCH_NO);
	imap_search_free(&s);
	imap_command_free(&cmd);
	imap_parser_free(&p);
	return r == IMAP_SEARCH_YES;
}

#define YES(prog) assert_int_equal(eval_program(f, prog), 1)
#define NO(prog) assert_int_equal(eval_program(f, prog), 0)

static void test_flags(void **state)
{
	struct fixture *f = *state;
	rec_default(&f->msg);
	YES("ALL");
	YES("SEEN");
	NO("UNSEEN");
	YES("FLAGGED");
	NO("UNFLAGGED");
	NO("ANSWERED");
	YES("UNANSWERED");
	NO("DELETED");
	YES("UNDELETED");
	NO("DRAFT");
	YES("UNDRAFT");
	YES("NOT DELETED");
	YES("OR DELETED FLAGGED");
	NO("OR DELETED DRAFT");
	YES("(SEEN FLAGGED)");
	NO("(SEEN DELETED)");
	/* UID 7 is in the \Recent interval [7, 21): RECENT, not NEW since \Seen. */
	YES("RECENT");
	NO("OLD");
	NO("NEW");
	f->msg.rec.flags = 0;
	YES("NEW");
	f->msg.rec.uid = 6;
	NO("RECENT");
	YES("OLD");
	NO("NEW");
	assert_false(f->loaded);
}

static void test_keywords(void **state)
{
	struct fixture *f = *state;
	rec_default(&f->msg);
	YES("KEYWORD $Label1");
	YES("KEYWORD $label1");
	NO("KEYWORD $Junk");
	YES("UNKEYWORD $Junk");
	/* Not in the mailbox's table: set on no message. */
	NO("KEYWORD $Unknown");
	YES("UNKEYWORD $Unknown");
	f->env.keywords = NULL;
	NO("KEYWORD $Label1");
	YES("UNKEYWORD $Label1");
	f->env.keywords = &f->kw;
}

static void test_sets_sizes_dates(void **state)
{
	struct fixture *f = *state;
	rec_default(&f->msg);
	YES("4");
	YES("1:4");
	NO("5:*");
	YES("2,4,6");
	YES("*:4");
	f->msg.seq = 10;
	YES("*");
	f->msg.seq = 4;
	YES("UID 7");
	YES("UID 1:7");
	NO("UID 8:*");
	YES("UID 5,7");
	NO("UID *");
	/* "$" is the saved result {3, 7}, as a UID or sequence set. */
	YES("$");
	YES("UID $");
	f->msg.rec.uid = 5;
	NO("$");
	f->msg.rec.uid = 7;
	char buf[64];
	snprintf(buf, sizeof(buf), "LARGER %zu", sizeof(msg_text) - 2);
	YES(buf);
	snprintf(buf, sizeof(buf), "LARGER %zu", sizeof(msg_text) - 1);
	NO(buf);
	snprintf(buf, sizeof(buf), "SMALLER %zu", sizeof(msg_text));
	YES(buf);
	snprintf(buf, sizeof(buf), "SMALLER %zu", sizeof(msg_text) - 1);
	NO(buf);
	/* Internal date 2026-03-03 12:00 UTC. */
	YES("ON 3-Mar-2026");
	NO("ON 2-Mar-2026");
	YES("SINCE 3-Mar-2026");
	NO("SINCE 4-Mar-2026");
	YES("BEFORE 4-Mar-2026");
	NO("BEFORE 3-Mar-2026");
	YES("MODSEQ 50");
	YES("MODSEQ 1");
	NO("MODSEQ 51");
	YES("MODSEQ \"/flags/\\\\Seen\" all 49");
	/* RFC 5032: a day after the internal date, YOUNGER than a day and
	 * more is true, OLDER false; the edge belongs to YOUNGER, as to SINCE. */
	f->env.now = 1772539200 + 86400;
	YES("YOUNGER 86400");
	NO("OLDER 86400");
	NO("YOUNGER 86399");
	YES("OLDER 86399");
	YES("OR OLDER 3600 YOUNGER 3600");
	NO("OLDER 3600 YOUNGER 3600");
	/* RFC 8514 4.3: the save date, or the internal date where none is
	 * known; SAVEDATESUPPORTED matches every message. */
	YES("SAVEDATESUPPORTED");
	YES("SAVEDON 3-Mar-2026");
	NO("SAVEDSINCE 4-Mar-2026");
	f->msg.rec.savedate = 1772539200 + 2 * 86400;   /* 2026-03-05 */
	YES("SAVEDON 5-Mar-2026");
	NO("SAVEDON 3-Mar-2026");
	YES("SAVEDSINCE 5-Mar-2026");
	NO("SAVEDSINCE 6-Mar-2026");
	YES("SAVEDBEFORE 6-Mar-2026");
	NO("SAVEDBEFORE 5-Mar-2026");
	YES("ON 3-Mar-2026");   /* the internal date is another attribute */
	f->msg.rec.savedate = 0;
	/* RFC 8474 6: EMAILID is the content's, exactly (case-sensitive);
	 * THREADID is not computed and matches nothing. */
	f->msg.rec.content_id = 0x6d99ac;
	YES("EMAILID M6d99ac");
	NO("EMAILID m6d99ac");
	NO("EMAILID M6D99AC");
	NO("EMAILID M6d99ac0");
	NO("EMAILID 6d99ac");
	NO("THREADID T6d99ac");
	YES("NOT THREADID M6d99ac");
	assert_false(f->loaded);
}

static void test_headers(void **state)
{
	struct fixture *f = *state;
	rec_default(&f->msg);
	/* RFC 2047-decoded, case-insensitive (also the Latin-1 letters). */
	YES("FROM \"j\xc3\xb6rg\"");
	assert_true(f->loaded);
	YES("FROM \"J\xc3\x96RG\"");
	YES("FROM jorg@EXAMPLE.org");
	NO("FROM carol");
	YES("TO alice");
	NO("TO bob");
	YES("CC bob");
	NO("BCC bob");
	/* The addresses as ENVELOPE parses them, besides the raw text. */
	YES("BCC user-from@domain.org");
	YES("BCC \"<USER-FROM@domain\"");
	YES("BCC dan.q@example.net");
	YES("BCC \"Dan Q <dan.q@\"");
	YES("BCC \"(comment)@\"");
	NO("BCC user-from@example.net");
	NO("FROM user-from");
	YES("SUBJECT \"caf\xc3\xa9 MEET\"");
	NO("SUBJECT inner");
	/* Unfolded: the fold becomes one space... RFC 5322 2.2.3 keeps the
	 * white space, so "first  second" has two. */
	YES("HEADER X-Folded second");
	YES("HEADER x-folded \"first\"");
	YES("HEADER X-Folded \"\"");
	NO("HEADER X-Missing \"\"");
	NO("HEADER X-Folded third");
	YES("HEADER Content-Type MULTIPART");
	/* Cheap keys decide first: no content read at all. */
	NO("DELETED FROM jorg");
	assert_false(f->loaded);
	YES("OR SEEN FROM nobody");
	assert_false(f->loaded);
	NO("NOT SEEN FROM jorg");
	assert_false(f->loaded);
}

static void test_body_text(void **state)
{
	struct fixture *f = *state;
	rec_default(&f->msg);
	/* Quoted-printable text/plain, soft line break joined. */
	YES("BODY \"w\xc3\xb6rld\"");
	YES("BODY \"W\xc3\x96RLD\"");
	YES("BODY \"see attached\"");
	/* The base64 attachment is not text. */
	NO("BODY secretword");
	NO("TEXT secretword");
	/* text/html in ISO-8859-1, base64: "<p>Caçá</p>". */
	YES("BODY \"ca\xc3\xa7\xc3\xa1\"");
	/* The attached message: its header and body are body text. */
	YES("BODY \"inner subject\"");
	YES("BODY \"inner body\"");
	/* The top-level header is not in BODY, but is in TEXT. */
	NO("BODY alice@example.com");
	YES("TEXT alice@example.com");
	YES("TEXT \"caf\xc3\xa9\"");
	YES("TEXT \"W\xc3\xb6rld\"");
	NO("TEXT \"nowhere to be found\"");
	YES("BODY \"\"");
	YES("TEXT \"\"");
	/* A match never spans two parts. */
	NO("BODY \"attached.inner\"");
	YES("TEXT hello BODY \"inner body\" FROM jorg");
	NO("TEXT hello BODY \"inner body\" FROM carol");
	assert_true(f->loaded);
}

static void test_sent_dates(void **state)
{
	struct fixture *f = *state;
	rec_default(&f->msg);
	/* Date: Mon, 2 Mar 2026 23:30:00 -0800: 2 March in the sender's zone
	 * (3 March in UTC). */
	YES("SENTON 2-Mar-2026");
	NO("SENTON 3-Mar-2026");
	YES("SENTBEFORE 3-Mar-2026");
	NO("SENTBEFORE 2-Mar-2026");
	YES("SENTSINCE 2-Mar-2026");
	NO("SENTSINCE 3-Mar-2026");
	YES("NOT SENTSINCE 3-Mar-2026");
}

static void test_need(void **state)
{
	(void)state;
	struct imap_search_key leaf = { .type = IMAP_SK_SEEN };
	assert_int_equal(imap_search_need(&leaf), IMAP_SEARCH_NEED_RECORD);
	struct imap_search_key kids[2] = { { .type = IMAP_SK_SUBJECT }, { .type = IMAP_SK_SEEN } };
	struct imap_search_key or_ = { .type = IMAP_SK_OR, .children = kids, .count = 2 };
	assert_int_equal(imap_search_need(&or_), IMAP_SEARCH_NEED_HEADER);
	kids[1].type = IMAP_SK_TEXT;
	assert_int_equal(imap_search_need(&or_), IMAP_SEARCH_NEED_BODY);
	assert_false(imap_search_uses_modseq(&or_));
	kids[0].type = IMAP_SK_MODSEQ;
	assert_true(imap_search_uses_modseq(&or_));
}

static void check_date(const char *s, int rc, int y, int m, int d)
{
	struct imap_date dt = { 0, 0, 0 };
	assert_int_equal(imap_search_date_parse(s, strlen(s), &dt), rc);
	if (rc == 0) {
		assert_int_equal(dt.year, y);
		assert_int_equal(dt.month, m);
		assert_int_equal(dt.day, d);
	}
}

static void test_date_parse(void **state)
{
	(void)state;
	check_date("Mon, 2 Mar 2026 23:30:00 -0800", 0, 2026, 3, 2);
	check_date("Tue, 03 Mar 2026 07:30:00 +0000", 0, 2026, 3, 3);
	check_date("  (comment) 29 Feb 2024 10:00 GMT", 0, 2024, 2, 29);
	check_date("Fri , 1 jan 99 00:00:00 EST", 0, 1999, 1, 1);
	check_date("1 Jan 49 00:00 +0000", 0, 2049, 1, 1);
	check_date("1 Jan 101 00:00 +0000", 0, 2001, 1, 1);
	check_date("5 December 2025 12:00 +0100", 0, 2025, 12, 5);
	check_date("5 Dec 2025", 0, 2025, 12, 5);
	check_date("29 Feb 2023 10:00 +0000", -1, 0, 0, 0);
	check_date("32 Jan 2023 10:00 +0000", -1, 0, 0, 0);
	check_date("1 Foo 2023 10:00 +0000", -1, 0, 0, 0);
	check_date("1 Jan 20234 10:00", -1, 0, 0, 0);
	check_date("1 Jan 2023 garbage", -1, 0, 0, 0);
	check_date("yesterday", -1, 0, 0, 0);
	check_date("", -1, 0, 0, 0);
}

static void test_set_write(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 0);
	uint32_t v[] = { 1, 2, 3, 5, 7, 8, 10 };
	assert_int_equal(imap_search_set_write(&b, v, 7), 0);
	assert_string_equal(b.data, "1:3,5,7:8,10");
	buf_reset(&b);
	assert_int_equal(imap_search_set_write(&b, v + 3, 1), 0);
	assert_string_equal(b.data, "5");
	buf_reset(&b);
	assert_int_equal(imap_search_set_write(&b, v, 0), 0);
	assert_int_equal(b.len, 0);
	/* Not ascending (COPYUID destination order is kept as given). */
	uint32_t w[] = { 9, 4, 5 };
	assert_int_equal(imap_search_set_write(&b, w, 3), 0);
	assert_string_equal(b.data, "9,4:5");
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_flags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keywords, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sets_sizes_dates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_headers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_body_text, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sent_dates, setup, teardown),
		cmocka_unit_test(test_need),
		cmocka_unit_test(test_date_parse),
		cmocka_unit_test(test_set_write),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
