/* tests/unit/test_mime.c: the MIME parser (core/mime.h) over the corpus in
 * tests/unit/mime_corpus and over inline messages: structure, offsets,
 * ENVELOPE/BODY/BODYSTRUCTURE strings, RFC 2047/2231 decoding, addresses,
 * limits, serialization, body decoding and search.
 *
 * Expected BODYSTRUCTURE strings follow RFC 3501 7.4.2's examples (upper
 * case types and names, as UW IMAP and Cyrus send them; Dovecot sends the
 * same structure with the case as written).  Sizes and line counts were
 * checked independently of the parser. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/mime.h"

#define L(s) (s), (sizeof(s) - 1)

/* ------------------------------------------------------------------ */
/* helpers                                                             */

/* MIME_CORPUS, else the folder beside this file: __FILE__ is relative to
 * the build directory meson runs tests in, so also try the usual places
 * for a run from the source tree. */
static const char *corpus_dir(void)
{
	static char dir[4096];
	const char *env = getenv("MIME_CORPUS");
	if (env)
		return env;
	snprintf(dir, sizeof(dir), "%s", __FILE__);
	char *slash = strrchr(dir, '/');
	if (slash)
		snprintf(slash + 1, sizeof(dir) - (size_t)(slash + 1 - dir), "mime_corpus");
	static const char *const others[] = {"tests/unit/mime_corpus", "../tests/unit/mime_corpus",
					     "../../tests/unit/mime_corpus", "mime_corpus"};
	for (size_t i = 0; i <= sizeof(others) / sizeof(others[0]); i++) {
		DIR *d = opendir(dir);
		if (d) {
			closedir(d);
			return dir;
		}
		if (i < sizeof(others) / sizeof(others[0]))
			snprintf(dir, sizeof(dir), "%s", others[i]);
	}
	return dir;
}

static char *load(const char *name, size_t *len_r)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s", corpus_dir(), name);
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s (set MIME_CORPUS)", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *data = malloc((size_t)n + 1);
	assert_non_null(data);
	assert_int_equal(fread(data, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	data[n] = '\0';
	*len_r = (size_t)n;
	return data;
}

static struct mime_message *parse_lim(const char *s, size_t n, const struct mime_limits *lim)
{
	struct mime_message *m = NULL;
	assert_int_equal(mime_message_parse(s, n, lim, &m), MIME_OK);
	assert_non_null(m);
	assert_int_equal(m->size, n);
	return m;
}

static struct mime_message *parse(const char *s, size_t n)
{
	return parse_lim(s, n, NULL);
}

static void assert_bs(const struct mime_part *p, unsigned flags, const char *expected)
{
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(mime_bodystructure_write(p, flags, &b), 0);
	assert_string_equal(b.data, expected);
	buf_free(&b);
}

static void assert_env(const struct mime_envelope *e, const char *expected)
{
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(mime_envelope_write(e, &b), 0);
	assert_string_equal(b.data, expected);
	buf_free(&b);
}

static const struct mime_part *section(const struct mime_message *m, const char *spec)
{
	uint32_t nums[32];
	size_t n = 0;
	for (const char *s = spec; *s && n < 32;) {
		nums[n++] = (uint32_t)strtoul(s, (char **)&s, 10);
		if (*s == '.')
			s++;
	}
	return mime_part_find(m->root, nums, n);
}

/* BODY[spec.MIME] and BODY[spec] as the IMAP layer will read them. */
static void assert_section(const char *msg, const struct mime_message *m, const char *spec,
			   const char *mime, const char *body)
{
	const struct mime_part *p = section(m, spec);
	assert_non_null(p);
	if (mime) {
		assert_int_equal(p->header_len, strlen(mime));
		assert_memory_equal(msg + p->header_off, mime, p->header_len);
	}
	assert_int_equal(p->body_len, strlen(body));
	assert_memory_equal(msg + p->body_off, body, p->body_len);
}

static void assert_decoded(const char *in, const char *expected)
{
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(mime_header_decode(in, strlen(in), &b), 0);
	assert_string_equal(b.data ? b.data : "", expected);
	buf_free(&b);
}

/* ------------------------------------------------------------------ */
/* single messages                                                     */

static void test_simple(void **state)
{
	(void)state;
	size_t n;
	char *msg = load("01-simple.eml", &n);
	struct mime_message *m = parse(msg, n);
	assert_int_equal(m->nparts, 1);
	assert_bs(m->root, 0, "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 103 6)");
	assert_bs(m->root, MIME_WRITE_EXTENDED,
		  "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 103 6 NIL NIL NIL NIL)");
	assert_env(m->root->envelope,
		   "(\"Mon, 3 Mar 2025 08:59:58 +0000\" \"Lunch on Friday?\" "
		   "((\"Alice Example\" NIL \"alice\" \"example.org\")) "
		   "((\"Alice Example\" NIL \"alice\" \"example.org\")) "
		   "((\"Alice Example\" NIL \"alice\" \"example.org\")) "
		   "((\"Bob Example\" NIL \"bob\" \"example.net\")) NIL NIL NIL "
		   "\"<20250303085958.1234@example.org>\")");
	/* BODY[HEADER] ends with the blank line; BODY[1] of a single part
	 * message is its body (RFC 3501 6.4.5). */
	assert_int_equal(m->root->header_off, 0);
	assert_int_equal(m->root->header_len, 370);
	assert_memory_equal(msg + 366, "\r\n\r\n", 4);
	assert_section(msg, m, "1", NULL,
		       "Hi Bob,\r\n\r\nAre we still on for lunch on Friday? The new place on\r\n"
		       "Main Street opens at noon.\r\n\r\nAlice\r\n");
	assert_ptr_equal(section(m, "1"), m->root);
	assert_null(section(m, "2"));
	assert_null(section(m, "1.1"));
	assert_null(section(m, "0"));
	mime_message_free(&m);
	assert_null(m);
	free(msg);
}

/* mime_header_end, fed the message a few octets at a time as a reader of
 * its first chunks would, finds the header's end exactly where the parser
 * puts root->header_len, and says "more" until the empty line is in. */
static void check_header_end(const char *msg, size_t len)
{
	struct mime_message *m = parse(msg, len);
	for (size_t step = 1; step <= len + 1; step++) {
		size_t pos = 0, have = 0;
		bool found = false;
		while (!found && have < len) {
			have = have + step < len ? have + step : len;
			size_t before = pos;
			found = mime_header_end(msg, have, &pos);
			assert_true(pos >= before && pos <= have);
		}
		assert_int_equal(found ? pos : len, m->root->header_len);
	}
	mime_message_free(&m);
}

static void test_header_end(void **state)
{
	(void)state;
	static const char *const cases[] = {
		"Subject: a\r\nX: b\r\n\r\nbody\r\n",
		"Subject: a\nX: b\n\nbody\n",
		"Subject: a\r\n\nbody",
		"Subject: a\n\r\nbody",
		"\r\nbody\r\n",
		"\nbody\n",
		"Subject: all header\r\n",
		"Subject: all header",
		"Subject: x\r\n\r \r\nY: z\r\n\r\n",
		"Subject: x\r\n \r\n\r\n",
		"Subject: x\r\r\n\r\n",
		"\r",
		"",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_header_end(cases[i], strlen(cases[i]));
	size_t n;
	char *msg = load("01-simple.eml", &n);
	check_header_end(msg, n);
	free(msg);
}

static void test_folded_headers(void **state)
{
	(void)state;
	size_t n;
	char *msg = load("02-folded.eml", &n);
	struct mime_message *m = parse(msg, n);
	assert_env(m->root->envelope,
		   "(\"Tue, 4 Mar 2025 10:15:00 -0500\" \"This subject line is long enough that the "
		   "sending client decided to fold it over\tthree lines\" "
		   "((\"Carol Folded\" NIL \"carol\" \"example.com\")) "
		   "((\"Carol Folded\" NIL \"carol\" \"example.com\")) "
		   "((\"Carol Folded\" NIL \"carol\" \"example.com\")) "
		   "((NIL NIL \"dave\" \"example.com\")(NIL NIL \"erin\" \"example.com\")"
		   "(NIL NIL \"frank\" \"example.com\")) NIL NIL NIL \"<folded.1@example.com>\")");
	assert_bs(m->root, 0,
		  "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\" \"FORMAT\" \"flowed\") NIL NIL \"8BIT\" 20 1)");
	assert_true(m->root->flags & MIME_PART_8BIT);

	/* The raw header API: iteration keeps folds, get unfolds. */
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(mime_header_get(msg, m->root->header_len, "message-id", &b), 1);
	assert_string_equal(b.data, "<folded.1@example.com>");
	buf_reset(&b);
	assert_int_equal(mime_header_get(msg, m->root->header_len, "X-None", &b), 0);
	size_t pos = 0, count = 0;
	struct mime_header_field f;
	while (mime_header_next(msg, m->root->header_len, &pos, &f) > 0) {
		if (count == 1) {
			assert_int_equal(f.name_len, 2);
			assert_memory_equal(f.name, "To", 2);
			assert_int_equal(f.len, strlen("To: dave@example.com,\r\n\terin@example.com,\r\n"
						       " frank@example.com\r\n"));
			assert_memory_equal(f.value, " dave@example.com,\r\n\terin", 25);
		}
		count++;
	}
	assert_int_equal(count, 7);
	buf_free(&b);
	mime_message_free(&m);
	free(msg);
}

static void test_rfc2047(void **state)
{
	(void)state;
	size_t n;
	char *msg = load("03-rfc2047.eml", &n);
	struct mime_message *m = parse(msg, n);
	const struct mime_envelope *e = m->root->envelope;
	/* ENVELOPE carries the raw words; the client decodes them. */
	assert_string_equal(e->subject.data, "=?UTF-8?B?w4lsw6h2ZQ==?= =?UTF-8?Q?_na=C3=AFve?= plain "
					     "=?ISO-8859-1?Q?caf=E9?=");
	assert_string_equal(e->from.addrs[0].name.data, "=?ISO-8859-1?Q?Patrik_F=E4ltstr=F6m?=");
	assert_decoded(e->subject.data, "\xc3\x89l\xc3\xa8ve na\xc3\xafve plain caf\xc3\xa9");
	assert_decoded(e->from.addrs[0].name.data, "Patrik F\xc3\xa4ltstr\xc3\xb6m");
	assert_decoded(e->to.addrs[0].name.data, "J\xc3\xb6rg");
	assert_decoded(m->root->description.data, "Gr\xc3\xbc\xc3\x9f" "e");
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(mime_header_get(msg, m->root->header_len, "X-Broken", &b), 1);
	/* Malformed words stay; an unknown charset gives its raw octets. */
	assert_decoded(b.data, "=?UTF-8?Q?bad=ZZ?= and =?UTF-8?X?unknown?= and \xff");
	buf_free(&b);
	mime_message_free(&m);
	free(msg);

	assert_decoded("=?utf-8?q?a?= b", "a b");
	assert_decoded("a =?utf-8?q?b?=", "a b");
	assert_decoded("=?utf-8?q?a?=\r\n =?utf-8?q?b?=", "ab");          /* RFC 2047 8 */
	assert_decoded("=?utf-8?q?a?=  \t =?iso-8859-1?q?=E9?=", "a\xc3\xa9");
	assert_decoded("(=?ISO-8859-1?Q?a?= b)", "(a b)");
	assert_decoded("=?UTF-8?Q?=C3?= =?UTF-8?Q?=A9?=", "\xc3\xa9");       /* split character */
	assert_decoded("=?UTF-8?B?w6k?=", "\xc3\xa9");                        /* no padding */
	assert_decoded("=?US-ASCII*EN?Q?Keith_Moore?=", "Keith Moore");       /* RFC 2231 5 */
	assert_decoded("=?windows-1252?Q?=93q=94?=", "\xe2\x80\x9cq\xe2\x80\x9d");
	assert_decoded("=?utf-8?b?not base64?=", "=?utf-8?b?not base64?=");
	assert_decoded("=?utf-8?b?@@@@?=", "=?utf-8?b?@@@@?=");
	assert_decoded("=?utf-8?q?=4?=", "=?utf-8?q?=4?=");
	assert_decoded("=??q?x?=", "=??q?x?=");
	assert_decoded("=?utf-8?q?x", "=?utf-8?q?x");
	assert_decoded("x=?utf-8?q?y?=z", "xyz");
	assert_decoded("Subject\r\n folded", "Subject folded");
	assert_decoded("", "");
}

static void test_rfc2231(void **state)
{
	(void)state;
	size_t n;
	char *msg = load("04-rfc2231.eml", &n);
	struct mime_message *m = parse(msg, n);
	assert_bs(m->root, MIME_WRITE_EXTENDED,
		  "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"QUOTED-PRINTABLE\" 34 1 NIL NIL NIL NIL)"
		  "(\"APPLICATION\" \"PDF\" (\"NAME*\" \"utf-8''R%C3%A9sum%C3%A9%20de%20Gr%C3%A2ce.pdf\") NIL NIL "
		  "\"BASE64\" 20 NIL (\"ATTACHMENT\" (\"FILENAME*\" \"utf-8''R%C3%A9sum%C3%A9%20de%20Gr%C3%A2ce.pdf\" "
		  "\"SIZE\" \"12\")) NIL NIL)"
		  "(\"TEXT\" \"PLAIN\" (\"NAME\" \"=?iso-8859-1?Q?r=E9ponse.txt?=\" \"CHARSET\" \"US-ASCII\") NIL NIL "
		  "\"7BIT\" 2 1 NIL (\"INLINE\" (\"FILENAME*\" \"utf-8'fr'r%C3%A9ponse.txt\")) NIL NIL) "
		  "\"MIXED\" (\"BOUNDARY\" \"==b2231==\") NIL NIL NIL)");
	const struct mime_part *pdf = section(m, "2");
	const struct mime_param *fn = mime_param_find(pdf->disp_params, pdf->ndisp_params, "FileName");
	assert_non_null(fn);
	assert_string_equal(fn->value.data, "R\xc3\xa9sum\xc3\xa9 de Gr\xc3\xa2" "ce.pdf");
	assert_string_equal(fn->charset.data, "utf-8");
	assert_null(fn->language.data);
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(mime_part_filename(pdf, &b), 1);
	assert_string_equal(b.data, "R\xc3\xa9sum\xc3\xa9 de Gr\xc3\xa2" "ce.pdf");
	/* Part 3: the latin-1 extended filename is converted to UTF-8, and
	 * the RFC 2047 name (which BODYSTRUCTURE sends raw) decodes too. */
	const struct mime_part *txt = section(m, "3");
	fn = mime_param_find(txt->disp_params, txt->ndisp_params, "filename");
	assert_string_equal(fn->language.data, "fr");
	buf_reset(&b);
	assert_int_equal(mime_part_filename(txt, &b), 1);
	assert_string_equal(b.data, "r\xc3\xa9ponse.txt");
	buf_reset(&b);
	assert_int_equal(mime_param_decode(mime_param_find(txt->params, txt->nparams, "name"), &b), 0);
	assert_string_equal(b.data, "r\xc3\xa9ponse.txt");
	buf_free(&b);
	mime_message_free(&m);
	free(msg);

	/* Sections out of order, a repeated one, plain and encoded mixed,
	 * an unknown charset kept raw under its own label, and a value
	 * without the charset quotes. */
	static const char inl[] =
		"Content-Type: application/octet-stream; a*1=\"b\"; a*0=\"a\"; a*2*=%41; a*1=\"x\";\r\n"
		" b*0*=koi8-r'ru'%C1%C2; b*1=.txt; c*=%4F%4B; d=\"q\\\"uoted\"; e=un quoted value;\r\n"
		" f=\"=?utf-8?q?=C3=A9?=\"\r\n\r\n";
	m = parse(L(inl));
	assert_bs(m->root, 0,
		  "(\"APPLICATION\" \"OCTET-STREAM\" (\"A\" \"abA\" \"B*\" \"koi8-r'ru'%C1%C2.txt\" "
		  "\"C*\" \"''OK\" \"D\" {7}\r\nq\"uoted \"E\" \"un quoted value\" "
		  "\"F\" \"=?utf-8?q?=C3=A9?=\") NIL NIL \"7BIT\" 0)");
	const struct mime_param *pb = mime_param_find(m->root->params, m->root->nparams, "b");
	assert_string_equal(pb->charset.data, "koi8-r");
	assert_int_equal(pb->value.len, 6);
	assert_memory_equal(pb->value.data, "\xc1\xc2.txt", 6);
	mime_message_free(&m);
}

static void test_alternative_related(void **state)
{
	(void)state;
	size_t n;
	char *msg = load("05-alternative-related.eml", &n);
	struct mime_message *m = parse(msg, n);
	assert_int_equal(m->nparts, 6);
	assert_bs(m->root, MIME_WRITE_EXTENDED,
		  "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 53 1 NIL NIL NIL NIL)"
		  "((\"TEXT\" \"HTML\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 82 1 NIL NIL NIL NIL)"
		  "(\"IMAGE\" \"PNG\" NIL \"<logo@example.com>\" NIL \"BASE64\" 100 NIL "
		  "(\"INLINE\" (\"FILENAME\" \"logo.png\")) NIL NIL)"
		  "(\"IMAGE\" \"GIF\" (\"NAME\" \"spacer.gif\") \"<spacer@example.com>\" NIL \"BASE64\" 20 NIL NIL "
		  "(\"en\" \"de\") \"http://www.example.com/spacer.gif\") \"RELATED\" "
		  "(\"BOUNDARY\" \"rel-1\" \"TYPE\" \"text/html\") NIL NIL NIL) \"ALTERNATIVE\" "
		  "(\"BOUNDARY\" \"alt-1\") NIL NIL NIL)");
	assert_bs(m->root, 0,
		  "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 53 1)"
		  "((\"TEXT\" \"HTML\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 82 1)"
		  "(\"IMAGE\" \"PNG\" NIL \"<logo@example.com>\" NIL \"BASE64\" 100)"
		  "(\"IMAGE\" \"GIF\" (\"NAME\" \"spacer.gif\") \"<spacer@example.com>\" NIL \"BASE64\" 20) "
		  "\"RELATED\") \"ALTERNATIVE\")");
	assert_section(msg, m, "1",
		       "Content-Type: text/plain; charset=\"us-ascii\"\r\nContent-Transfer-Encoding: 7bit\r\n\r\n",
		       "Our March news. View the HTML version for pictures.\r\n");
	assert_section(msg, m, "2.2",
		       "Content-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n"
		       "Content-ID: <logo@example.com>\r\nContent-Disposition: inline; filename=\"logo.png\"\r\n\r\n",
		       "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk\r\n"
		       "YPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==\r\n");
	assert_section(msg, m, "2.3", NULL, "R0lGODlhAQABAAAAACw=");
	/* BODY[2] of a multipart runs from its first delimiter through its
	 * close delimiter (and the line break of the empty epilogue). */
	const struct mime_part *rel = section(m, "2");
	assert_memory_equal(msg + rel->body_off, "--rel-1\r\n", 9);
	assert_memory_equal(msg + rel->body_off + rel->body_len - 11, "--rel-1--\r\n", 11);
	assert_null(section(m, "2.4"));
	assert_null(section(m, "3"));
	assert_null(section(m, "1.1"));
	mime_message_free(&m);
	free(msg);
}

static const char fwd_bs[] =
	"((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 12 1 NIL NIL NIL NIL)"
	"(\"MESSAGE\" \"RFC822\" NIL NIL \"Forwarded message\" \"7BIT\" 557 "
	"(\"Thu, 6 Mar 2025 18:00:00 +0000\" \"Minutes\" ((\"Olivia\" NIL \"olivia\" \"example.org\")) "
	"((\"Olivia\" NIL \"olivia\" \"example.org\")) ((\"Olivia\" NIL \"olivia\" \"example.org\")) "
	"((NIL NIL \"team\" NIL)(NIL NIL \"mallory\" \"example.com\")(NIL NIL \"peggy\" \"example.org\")"
	"(NIL NIL NIL NIL)) ((\"Trent (Chair)\" NIL \"trent\" \"example.org\")) NIL "
	"\"<agenda@example.org>\" \"<minutes@example.org>\") "
	"((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 46 2 NIL NIL NIL NIL)"
	"(\"TEXT\" \"HTML\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 65 1 NIL NIL NIL NIL) \"ALTERNATIVE\" "
	"(\"BOUNDARY\" \"inner\") NIL NIL NIL) 20 NIL NIL NIL NIL) \"MIXED\" (\"BOUNDARY\" \"outer\") "
	"NIL NIL NIL)";

static void test_forward_rfc822(void **state)
{
	(void)state;
	size_t n;
	char *msg = load("06-forward-rfc822.eml", &n);
	struct mime_message *m = parse(msg, n);
	assert_bs(m->root, MIME_WRITE_EXTENDED, fwd_bs);
	const struct mime_part *p2 = section(m, "2");
	const struct mime_part *inner = mime_part_message(p2);
	assert_non_null(inner);
	assert_true(p2->flags & MIME_PART_MESSAGE);
	/* BODY[2.HEADER] and BODY[2.TEXT]: the embedded message. */
	assert_int_equal(inner->header_off, p2->body_off);
	assert_memory_equal(msg + inner->header_off, "From: Olivia <olivia@example.org>\r\n", 35);
	assert_memory_equal(msg + inner->header_off + inner->header_len - 4, "\r\n\r\n", 4);
	assert_memory_equal(msg + inner->body_off, "--inner\r\n", 9);
	assert_section(msg, m, "2.1", "Content-Type: text/plain; charset=utf-8\r\n\r\n",
		       "1. Budget approved.\r\n2. Next meeting in April.");
	assert_section(msg, m, "2.2", NULL,
		       "<ol><li>Budget approved.</li><li>Next meeting in April.</li></ol>");
	assert_null(section(m, "2.3"));
	assert_null(section(m, "1.1"));
	assert_null(section(m, "2.1.1"));
	mime_message_free(&m);
	free(msg);

	/* A message whose own type is message/rfc822: part 1 is the whole
	 * embedded message, 1.1 its single body. */
	static const char top[] = "Content-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\nbody\r\n";
	m = parse(L(top));
	assert_ptr_equal(section(m, "1"), m->root);
	const struct mime_part *p = section(m, "1.1");
	assert_ptr_equal(p, m->root->children);
	assert_memory_equal(top + p->body_off, "body\r\n", 6);
	assert_bs(m->root, 0,
		  "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 21 (NIL \"in\" NIL NIL NIL NIL NIL NIL NIL NIL) "
		  "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 6 1) 3)");
	mime_message_free(&m);
}

static void test_digest(void **state)
{
	(void)state;
	size_t n;
	char *msg = load("07-digest.eml", &n);
	struct mime_message *m = parse(msg, n);
	assert_bs(m->root, 0,
		  "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 39 1)"
		  "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 104 (\"Fri, 7 Mar 2025 10:00:00 +0000\" \"Hello\" "
		  "((\"Rupert\" NIL \"rupert\" \"example.org\")) ((\"Rupert\" NIL \"rupert\" \"example.org\")) "
		  "((\"Rupert\" NIL \"rupert\" \"example.org\")) NIL NIL NIL NIL NIL) "
		  "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 13 1) 5)"
		  "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 205 (\"Fri, 7 Mar 2025 11:00:00 +0000\" "
		  "\"Re: Hello\" ((\"Sybil\" NIL \"sybil\" \"example.org\")) ((\"Sybil\" NIL \"sybil\" "
		  "\"example.org\")) ((\"Sybil\" NIL \"sybil\" \"example.org\")) NIL NIL NIL NIL NIL) "
		  "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"iso-8859-1\") NIL NIL \"8BIT\" 33 1) 7) \"DIGEST\")");
	const struct mime_part *p2 = section(m, "2");
	assert_true(p2->flags & MIME_PART_DEFAULT_TYPE);
	assert_int_equal(p2->header_len, 2);   /* an empty header: just the blank line */
	/* Only direct children of a digest default to message/rfc822. */
	assert_true(mime_part_is(section(m, "2.1"), "text", "plain"));
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(mime_part_decode(msg, n, section(m, "3.1"), &b), 0);
	assert_string_equal(b.data, "Hi Rupert, welcome (and gr\xc3\xbc\xc3\x9f" "e).\r\n");
	buf_free(&b);
	mime_message_free(&m);
	free(msg);
}

static void test_broken_boundaries(void **state)
{
	(void)state;
	size_t n;
	char *msg = load("08-missing-close.eml", &n);
	struct mime_message *m = parse(msg, n);
	assert_true(m->root->flags & MIME_PART_NO_CLOSE);
	assert_bs(m->root, 0, "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 10 1)"
			      "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 46 1) \"MIXED\")");
	assert_section(msg, m, "2", NULL, "second part, and then the connection dropped\r\n");
	mime_message_free(&m);
	free(msg);

	/* Boundary never on a line of its own, or no boundary parameter:
	 * one text part with the whole body. */
	static const char *const as_text[] = {"09-boundary-never.eml", "10-no-boundary-param.eml",
					      "11-boundary-in-preamble.eml"};
	static const char *const expect[] = {
		"(\"TEXT\" \"PLAIN\" (\"BOUNDARY\" \"never-there\" \"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 100 3)",
		"(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 106 5)",
		"(\"TEXT\" \"PLAIN\" (\"BOUNDARY\" \"zz9\" \"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 135 5)",
	};
	for (size_t i = 0; i < 3; i++) {
		msg = load(as_text[i], &n);
		m = parse(msg, n);
		assert_bs(m->root, 0, expect[i]);
		assert_true(m->root->flags & MIME_PART_OPAQUE);
		assert_int_equal(m->root->body_off + m->root->body_len, n);
		mime_message_free(&m);
		free(msg);
	}

	/* Only a close delimiter; padding after delimiters; an empty part;
	 * a part whose header runs into the next delimiter; a delimiter
	 * right at the start of the body. */
	static const char only_close[] =
		"Content-Type: multipart/mixed; boundary=b\r\n\r\npre\r\n--b--\r\npost\r\n";
	m = parse(L(only_close));
	assert_bs(m->root, 0, "(\"TEXT\" \"PLAIN\" (\"BOUNDARY\" \"b\" \"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 18 3)");
	mime_message_free(&m);
	static const char odd[] =
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
		"--b \t\r\n\r\none\r\n"
		"--b\r\n"
		"--b\r\nContent-Type: text/html\r\n"
		"--b\r\n\r\nfour\r\n"
		"--b--  \r\n";
	m = parse(L(odd));
	assert_int_equal(m->root->nchildren, 4);
	assert_bs(m->root, 0, "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 1)"
			      "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0)"
			      "(\"TEXT\" \"HTML\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0)"
			      "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 4 1) \"MIXED\")");
	assert_section(odd, m, "1", "\r\n", "one");
	assert_section(odd, m, "2", "", "");
	assert_section(odd, m, "3", "Content-Type: text/html", "");
	assert_true(section(m, "3")->flags & MIME_PART_NO_BLANK_LINE);
	assert_false(m->root->flags & MIME_PART_NO_CLOSE);
	mime_message_free(&m);
}

static void test_8bit_binary(void **state)
{
	(void)state;
	size_t n;
	char *msg = load("12-8bit-binary.eml", &n);
	struct mime_message *m = parse(msg, n);
	const struct mime_part *bin = section(m, "2");
	assert_true(bin->flags & MIME_PART_NUL);
	assert_true(bin->flags & MIME_PART_8BIT);
	assert_int_equal(bin->body_len, 24);
	assert_memory_equal(msg + bin->body_off, "\0\1\2\3\xff\xfe\0 bare\rCR and NUL\0", 24);
	assert_bs(m->root, 0, "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"iso-8859-1\") NIL NIL \"8BIT\" 18 1)"
			      "(\"APPLICATION\" \"OCTET-STREAM\" (\"NAME\" \"blob.bin\") NIL NIL \"BINARY\" 24) \"MIXED\")");
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(mime_part_decode(msg, n, section(m, "1"), &b), 0);
	assert_string_equal(b.data, "Gr\xc3\xbc\xc3\x9f" "e aus M\xc3\xbcnchen.");
	buf_reset(&b);
	assert_int_equal(mime_part_decode(msg, 100, section(m, "1"), &b), MIME_ERR_CORRUPT);
	buf_free(&b);
	mime_message_free(&m);
	free(msg);

	/* NUL and 8-bit octets in header values: IMAP cannot carry NUL, so
	 * the writer drops it; 8-bit text goes as a literal. */
	static const char hdr[] = "Subject: a\0b\r\nFrom: J\xc3\xbcrgen <j@example.de>\r\n\r\nx";
	m = parse(hdr, sizeof(hdr) - 1);
	assert_int_equal(m->root->envelope->subject.len, 3);
	assert_env(m->root->envelope,
		   "(NIL \"ab\" (({7}\r\nJ\xc3\xbcrgen NIL \"j\" \"example.de\")) "
		   "(({7}\r\nJ\xc3\xbcrgen NIL \"j\" \"example.de\")) "
		   "(({7}\r\nJ\xc3\xbcrgen NIL \"j\" \"example.de\")) NIL NIL NIL NIL NIL)");
	mime_message_free(&m);
}

static void test_line_ends(void **state)
{
	(void)state;
	size_t n;
	char *msg = load("13-no-trailing-newline.eml", &n);
	struct mime_message *m = parse(msg, n);
	assert_bs(m->root, 0, "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 27 1) \"MIXED\")");
	assert_section(msg, m, "1", NULL, "last line without a newline");
	assert_int_equal(m->root->body_off + m->root->body_len, n);
	mime_message_free(&m);
	free(msg);

	msg = load("14-bare-lf.eml", &n);
	m = parse(msg, n);
	assert_bs(m->root, MIME_WRITE_EXTENDED,
		  "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 7 2 NIL NIL NIL NIL)"
		  "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 5 1 NIL "
		  "(\"ATTACHMENT\" (\"FILENAME\" \"notes.txt\")) NIL NIL) \"MIXED\" (\"BOUNDARY\" \"lf\") NIL NIL NIL)");
	assert_section(msg, m, "1", "Content-Type: text/plain\n\n", "one\ntwo");
	assert_section(msg, m, "2", NULL, "three");
	mime_message_free(&m);
	free(msg);

	static const char *const tiny[] = {"", "\r\n", "\n", "Subject: x", "Subject: x\r\n\r\nbody",
					   "\r\nbody", "Subject: x\n\nl1\nl2"};
	static const size_t hl[] = {0, 2, 1, 10, 14, 2, 12};
	static const size_t bl[] = {0, 0, 0, 0, 4, 4, 5};
	static const size_t lines[] = {0, 0, 0, 0, 1, 1, 2};
	for (size_t i = 0; i < sizeof(tiny) / sizeof(tiny[0]); i++) {
		m = parse(tiny[i], strlen(tiny[i]));
		assert_int_equal(m->root->header_len, hl[i]);
		assert_int_equal(m->root->body_len, bl[i]);
		assert_int_equal(m->root->body_lines, lines[i]);
		mime_message_free(&m);
	}
	m = parse(NULL, 0);
	assert_bs(m->root, 0, "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0)");
	assert_env(m->root->envelope, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
	mime_message_free(&m);
}

static void test_prefix_boundaries(void **state)
{
	(void)state;
	size_t n;
	char *msg = load("15-prefix-boundaries.eml", &n);
	struct mime_message *m = parse(msg, n);
#define T1 "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1 1)"
	assert_bs(m->root, 0, "((" T1 T1 " \"ALTERNATIVE\")(" T1 " \"RELATED\")" T1 " \"MIXED\")");
#undef T1
	assert_section(msg, m, "1.1", NULL, "a");
	assert_section(msg, m, "1.2", NULL, "b");
	assert_section(msg, m, "2.1", NULL, "c");
	assert_section(msg, m, "3", NULL, "d");
	assert_true(section(m, "2")->flags & MIME_PART_NO_CLOSE);
	assert_false(section(m, "1")->flags & MIME_PART_NO_CLOSE);
	mime_message_free(&m);
	free(msg);
}

/* Multiparts nested `levels` deep, each with one text part and the next.
 * No boundary is a prefix of another (RFC 2046 5.1.1 would make "--b50" a
 * delimiter of "b5"). */
static char *nested(unsigned levels, size_t *len_r)
{
	struct buf b;
	buf_init(&b, 0);
	for (unsigned i = 0; i < levels; i++)
		buf_printf(&b, "Content-Type: multipart/mixed; boundary=\"=_%u_=\"\r\n\r\n--=_%u_=\r\n"
			       "Content-Type: text/plain\r\n\r\nlevel %u\r\n--=_%u_=\r\n", i, i, i, i);
	buf_puts(&b, "Content-Type: text/plain\r\n\r\ninnermost\r\n");
	for (unsigned i = levels; i-- > 0;)
		buf_printf(&b, "--=_%u_=--\r\n", i);
	*len_r = b.len;
	return b.data;
}

static void test_limits(void **state)
{
	(void)state;
	size_t n;
	char *msg = nested(70, &n);
	struct mime_message *m = parse(msg, n);
	/* Depth 50 (the default): the multipart at depth 50 is opaque data
	 * that still ends at its parent's close delimiter. */
	size_t depth = 0;
	const struct mime_part *p = m->root;
	while (p->flags & MIME_PART_MULTIPART) {
		assert_int_equal(p->nchildren, 2);
		assert_false(p->flags & MIME_PART_NO_CLOSE);
		p = p->children->next;
		depth++;
	}
	assert_int_equal(depth, 50);
	assert_true(p->flags & MIME_PART_OPAQUE);
	assert_true(mime_part_is(p, "application", "octet-stream"));
	assert_memory_equal(msg + p->body_off, "--=_50_=\r\n", 10);
	assert_memory_equal(msg + p->body_off + p->body_len - 10, "--=_50_=--", 10);
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(mime_bodystructure_write(m->root, MIME_WRITE_EXTENDED, &b), 0);
	assert_int_equal(b.data[b.len - 1], ')');
	buf_free(&b);
	mime_message_free(&m);

	struct mime_limits lim = {.max_depth = 3, .max_parts = 5};
	m = parse_lim(msg, n, &lim);
	assert_int_equal(m->nparts, 5);
	assert_true(m->root->children->next->flags & MIME_PART_MULTIPART);
	mime_message_free(&m);
	free(msg);

	/* max_parts: the parts past the limit stay in the epilogue. */
	struct buf mb;
	buf_init(&mb, 0);
	buf_puts(&mb, "Content-Type: multipart/mixed; boundary=x\r\n\r\n");
	for (int i = 0; i < 20; i++)
		buf_printf(&mb, "--x\r\n\r\npart %d\r\n", i);
	buf_puts(&mb, "--x--\r\n");
	lim = (struct mime_limits){.max_parts = 5};
	m = parse_lim(mb.data, mb.len, &lim);
	assert_int_equal(m->nparts, 5);
	assert_int_equal(m->root->nchildren, 4);
	assert_true(m->root->flags & MIME_PART_TRUNCATED);
	assert_int_equal(m->root->body_off + m->root->body_len, mb.len);
	mime_message_free(&m);
	buf_free(&mb);

	/* Embedded messages 150 deep, beyond MIME_DEPTH_MAX. */
	buf_init(&mb, 0);
	for (int i = 0; i < 150; i++)
		buf_printf(&mb, "Subject: %d\r\nContent-Type: message/rfc822\r\n\r\n", i);
	buf_puts(&mb, "Subject: last\r\n\r\nx");
	lim = (struct mime_limits){.max_depth = 1000};
	m = parse_lim(mb.data, mb.len, &lim);
	assert_int_equal(m->nparts, MIME_DEPTH_MAX + 1);
	buf_free(&mb);
	mime_message_free(&m);

	/* Header lines past the limit are kept but not read. */
	buf_init(&mb, 0);
	for (int i = 0; i < 10; i++)
		buf_printf(&mb, "X-Filler: %d\r\n", i);
	buf_puts(&mb, "Subject: late\r\n\r\nbody");
	lim = (struct mime_limits){.max_header_lines = 10};
	m = parse_lim(mb.data, mb.len, &lim);
	assert_null(m->root->envelope->subject.data);
	assert_true(m->root->flags & MIME_PART_HEADER_LIMIT);
	assert_int_equal(m->root->header_len, mb.len - 4);
	mime_message_free(&m);
	buf_free(&mb);
}

static void test_addresses(void **state)
{
	(void)state;
	size_t n;
	char *msg = load("16-addresses.eml", &n);
	struct mime_message *m = parse(msg, n);
	assert_env(m->root->envelope,
		   "(\"Sun, 9 Mar 2025 00:00:00 +0000\" \"addresses\" "
		   "((\"Doe, John\" NIL \"john.doe\" \"example.com\")) "
		   "((\"Mail Delivery System\" NIL \"mailer-daemon\" \"example.com\")) "
		   "((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) "
		   "((NIL NIL \"A Group\" NIL)(\"Ed Jones\" NIL \"c\" \"a.test\")(NIL NIL \"joe\" \"where.test\")"
		   "(\"John\" NIL \"jdoe\" \"one.test\")(NIL NIL NIL NIL)(\"Mary Smith\" NIL \"mary\" \"x.test\")) "
		   "((NIL NIL {10}\r\n\"john doe\" \"example.net\")(\"Pete\" NIL \"pete\" \"silly.test\")"
		   "(NIL \"@route1.test,@route2.test\" \"victim\" \"target.test\")) "
		   "((\"Broken\" NIL \"missing.bracket\" \"example.com\")(\"Unterminated\" NIL \"quote\" \"example.com\")"
		   "(NIL NIL \"justaname\" \".MISSING-HOST-NAME.\")(NIL NIL \"user\" \"[192.0.2.1]\")"
		   "(\"John Q. Public\" NIL \"john\" \"example.org\")) "
		   "\"<a@example.com> <b@example.com>\" NIL)");
	mime_message_free(&m);
	free(msg);

	struct {
		const char *from;
		const char *expect;
	} cases[] = {
		{"<>", "((NIL NIL \"\" \"\"))"},
		{"", "NIL"},
		{" (only a comment) ", "NIL"},
		{",,,", "NIL"},
		{"\"\" <a@b.example>", "((NIL NIL \"a\" \"b.example\"))"},
		{"a@b.example (Real Name), (Lead) c@d.example",
		 "((\"Real Name\" NIL \"a\" \"b.example\")(\"Lead\" NIL \"c\" \"d.example\"))"},
		{"first . last @ example . org", "((NIL NIL \"first.last\" \"example.org\"))"},
		{"\"a\\\"b\" <x@y.example>", "(({3}\r\na\"b NIL \"x\" \"y.example\"))"},
		{"G: ;", "((NIL NIL \"G\" NIL)(NIL NIL NIL NIL))"},
		{"G: a@b.example", "((NIL NIL \"G\" NIL)(NIL NIL \"a\" \"b.example\")(NIL NIL NIL NIL))"},
		{"Name <a@>", "((\"Name\" NIL \"a\" \".MISSING-HOST-NAME.\"))"},
		{"<@b.example>", "((NIL NIL \"\" \"b.example\"))"},
		{"@@@", "((NIL NIL \"\" \".MISSING-HOST-NAME.\"))"},
		{"a@b.example junk <x> more, c@d.example",
		 "((NIL NIL \"a\" \"b.example\")(NIL NIL \"c\" \"d.example\"))"},
		{"((nested) comment) x@y.example", "((\"(nested) comment\" NIL \"x\" \"y.example\"))"},
		{"John (the boss) Smith <js@example.com>", "((\"John Smith\" NIL \"js\" \"example.com\"))"},
		{"a@b.example (Unclosed", "((\"Unclosed\" NIL \"a\" \"b.example\"))"},
		{"[x <y@z.example>", "((\"[x\" NIL \"y\" \"z.example\"))"},
		{"\"a\" \"b <c@d.example>", "((\"a b\" NIL \"c\" \"d.example\"))"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[512];
		snprintf(text, sizeof(text), "From: %s\r\n\r\n", cases[i].from);
		m = parse(text, strlen(text));
		struct buf b;
		buf_init(&b, 0);
		assert_int_equal(mime_envelope_write(m->root->envelope, &b), 0);
		char expect[1024];
		snprintf(expect, sizeof(expect), "(NIL NIL %s %s %s NIL NIL NIL NIL NIL)", cases[i].expect,
			 cases[i].expect, cases[i].expect);
		if (strcmp(b.data, expect) != 0)
			fail_msg("From: %s\n got %s\nwant %s", cases[i].from, b.data, expect);
		buf_free(&b);
		mime_message_free(&m);
	}

	/* Present but empty: "" (RFC 3501 7.4.2); absent: NIL.  An empty
	 * Sender falls back to From. */
	static const char empty[] = "Subject:\r\nMessage-ID:  \r\nFrom: a@b.example\r\nSender:\r\n\r\n";
	m = parse(L(empty));
	assert_env(m->root->envelope, "(NIL \"\" ((NIL NIL \"a\" \"b.example\")) ((NIL NIL \"a\" \"b.example\")) "
				      "((NIL NIL \"a\" \"b.example\")) NIL NIL NIL NIL \"\")");
	mime_message_free(&m);

	/* max_addresses, and a group cut by it still closes. */
	struct mime_limits lim = {.max_addresses = 2};
	static const char many[] = "To: a@x.example, G: b@x.example, c@x.example;, d@x.example\r\n\r\n";
	m = parse_lim(L(many), &lim);
	assert_int_equal(m->root->envelope->to.count, 3);
	assert_null(m->root->envelope->to.addrs[2].mailbox.data);
	mime_message_free(&m);
}

static void test_encoded_message_and_broken_headers(void **state)
{
	(void)state;
	size_t n;
	char *msg = load("19-broken-headers.eml", &n);
	struct mime_message *m = parse(msg, n);
	assert_bs(m->root, MIME_WRITE_EXTENDED,
		  "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"iso-8859-1\") NIL NIL \"7BIT\" 42 1 NIL NIL NIL NIL)"
		  "(\"APPLICATION\" \"OCTET-STREAM\" NIL NIL NIL \"BASE64\" 44 NIL NIL NIL NIL) \"MIXED\" "
		  "(\"BOUNDARY\" \"start\") NIL NIL NIL)");
	assert_true(section(m, "1")->flags & MIME_PART_DEFAULT_TYPE);
	assert_true(section(m, "2")->flags & MIME_PART_OPAQUE);
	/* Stray lines are still header lines (HEADER.FIELDS.NOT sees them). */
	size_t pos = 0, junk = 0;
	struct mime_header_field f;
	while (mime_header_next(msg, m->root->header_len, &pos, &f) > 0)
		junk += f.name_len == 0;
	assert_int_equal(junk, 2);
	mime_message_free(&m);
	free(msg);

	msg = load("18-header-only.eml", &n);
	m = parse(msg, n);
	assert_true(m->root->flags & MIME_PART_NO_BLANK_LINE);
	assert_int_equal(m->root->header_len, n);
	assert_int_equal(m->root->body_len, 0);
	assert_string_equal(m->root->envelope->subject.data, "only a header");
	mime_message_free(&m);
	free(msg);
}

static void test_global(void **state)
{
	(void)state;
	size_t n;
	char *msg = load("20-global.eml", &n);
	struct mime_message *m = parse(msg, n);
	/* IMAP4rev1 has no MESSAGE/GLOBAL in its grammar: a basic part. */
	assert_bs(m->root, 0, "((\"MESSAGE\" \"GLOBAL\" NIL NIL NIL \"7BIT\" 121) \"MIXED\")");
	assert_bs(m->root, MIME_WRITE_GLOBAL,
		  "((\"MESSAGE\" \"GLOBAL\" NIL NIL NIL \"7BIT\" 121 (NIL {7}\r\nGr\xc3\xbc\xc3\x9f" "e "
		  "((\"=?UTF-8?Q?J=C3=BCrgen?=\" NIL {7}\r\nj\xc3\xbcrgen {15}\r\nb\xc3\xbc" "cher.example)) "
		  "((\"=?UTF-8?Q?J=C3=BCrgen?=\" NIL {7}\r\nj\xc3\xbcrgen {15}\r\nb\xc3\xbc" "cher.example)) "
		  "((\"=?UTF-8?Q?J=C3=BCrgen?=\" NIL {7}\r\nj\xc3\xbcrgen {15}\r\nb\xc3\xbc" "cher.example)) "
		  "NIL NIL NIL NIL {24}\r\n<global@b\xc3\xbc" "cher.example>) "
		  "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 6 1) 5) \"MIXED\")");
	mime_message_free(&m);
	free(msg);
}

static void test_decode_and_search(void **state)
{
	(void)state;
	size_t n;
	char *msg = load("17-qp-base64.eml", &n);
	struct mime_message *m = parse(msg, n);
	static const char *const want[] = {
		"Soft line breaks join, = is an equals sign, and K\xc3\xb6ln is a city.   ",
		"The quick brown fox jumps over the lazy d\xc3\xb6g.",
		"\xe2\x80\x9cSmart quotes\xe2\x80\x9d cost \xe2\x82\xac 5.",
	};
	for (uint32_t i = 0; i < 3; i++) {
		struct buf b;
		buf_init(&b, 0);
		uint32_t num = i + 1;
		assert_int_equal(mime_part_decode(msg, n, mime_part_find(m->root, &num, 1), &b), 0);
		assert_string_equal(b.data, want[i]);
		buf_free(&b);
	}
	mime_message_free(&m);
	free(msg);

	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(mime_cte_decode(L("Base64"), L("YWJj\r\nZGVm\r\nZw"), &b), 0);
	assert_string_equal(b.data, "abcdefg");
	buf_reset(&b);
	assert_int_equal(mime_cte_decode(L("base64"), L("YQ==YWI=!!"), &b), 0);
	assert_string_equal(b.data, "aab");
	buf_reset(&b);
	assert_int_equal(mime_cte_decode(L("quoted-printable"), L("a=\nb =XY=3d \t\r\nc=\r\n"), &b), 0);
	assert_string_equal(b.data, "ab =XY=\r\nc");
	buf_reset(&b);
	assert_int_equal(mime_charset_to_utf8(L("ISO-8859-1"), L("\xe9\xff"), &b), 1);
	assert_string_equal(b.data, "\xc3\xa9\xc3\xbf");
	buf_reset(&b);
	assert_int_equal(mime_charset_to_utf8(L("koi8-r"), L("\xc1"), &b), 0);
	assert_string_equal(b.data, "\xc1");
	buf_free(&b);

	assert_true(mime_search_ci(L("Hello World"), L("wORLD")));
	assert_true(mime_search_ci(L("abc"), "", 0));
	assert_false(mime_search_ci(L("abc"), L("abcd")));
	assert_false(mime_search_ci(L("Hello"), L("hellp")));
	assert_true(mime_search_ci(L("Gr\xc3\x9c\xc3\x9f" "E aus K\xc3\x96LN"), L("k\xc3\xb6ln")));
	assert_true(mime_search_ci(L("\xc3\x89l\xc3\xa8ve"), L("\xc3\xa9L\xc3\x88VE")));
	assert_false(mime_search_ci(L("\xc3\x97"), L("\xc3\xb7")));   /* x is not a letter */
	assert_true(mime_search_ci(L("a\0b"), L("A\0B")));
}

/* RFC 3516 4.3 / RFC 9051 6.4.5: NUL octets leave the stored message
 * only through BINARY[]: unencoded parts holding them become base64. */
static void test_binary_encode(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(mime_binary_encode(L("Subject: x\r\n\r\nno nul\r\n"), &b), 0);
	assert_null(b.data);

	/* Single part, bare LF, no CTE field: one is added. */
	assert_int_equal(mime_binary_encode(L("Subject: x\nX-A: 1\n\na\0b"), &b), 1);
	assert_int_equal(b.len, strlen(b.data));
	assert_string_equal(b.data, "Subject: x\nX-A: 1\nContent-Transfer-Encoding: base64\n\nYQBi");
	buf_reset(&b);

	/* Multipart: only the part with NUL changes; a folded CTE field goes,
	 * the line break before the boundary stays; long bodies wrap at 76. */
	char body[60];
	memset(body, 0, sizeof(body));
	static const char head[] =
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
		"--b\r\nContent-Transfer-Encoding: binary\r\n\r\nkeep\r\n"
		"--b\r\nContent-Transfer-Encoding:\r\n binary\r\nContent-Type: x/y\r\n\r\n";
	static const char tail[] = "\r\n--b--\r\n";
	char msg[sizeof(head) + sizeof(body) + sizeof(tail)];
	memcpy(msg, head, sizeof(head) - 1);
	memcpy(msg + sizeof(head) - 1, body, sizeof(body));
	memcpy(msg + sizeof(head) - 1 + sizeof(body), tail, sizeof(tail) - 1);
	size_t n = sizeof(head) - 1 + sizeof(body) + sizeof(tail) - 1;
	assert_int_equal(mime_binary_encode(msg, n, &b), 1);
	char want[512];
	snprintf(want, sizeof(want),
		 "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
		 "--b\r\nContent-Transfer-Encoding: binary\r\n\r\nkeep\r\n"
		 "--b\r\nContent-Type: x/y\r\nContent-Transfer-Encoding: base64\r\n\r\n"
		 "%.76s\r\n%s\r\n--b--\r\n",
		 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		 "AAAA");
	assert_string_equal(b.data, want);
	/* Parsed again, the part decodes to what was sent. */
	struct mime_message *m = parse(b.data, b.len);
	uint32_t two = 2;
	struct buf d;
	buf_init(&d, 0);
	assert_int_equal(mime_part_decode(b.data, b.len, mime_part_find(m->root, &two, 1), &d), 0);
	assert_int_equal(d.len, sizeof(body));
	assert_memory_equal(d.data, body, sizeof(body));
	buf_free(&d);
	mime_message_free(&m);
	buf_reset(&b);

	/* Where no encoding can carry a NUL: a header, an encoded body. */
	assert_int_equal(mime_binary_encode(L("Subject: a\0b\r\n\r\nx"), &b), MIME_ERR_BINARY);
	buf_reset(&b);
	assert_int_equal(mime_binary_encode(L("Content-Transfer-Encoding: base64\r\n\r\nYQ\0=="), &b),
			 MIME_ERR_BINARY);
	buf_free(&b);
}

/* RFC 3516 4.2 / RFC 5524 3.1: BINARY of a message/rfc822 part is its
 * message with the nested encoded leaves decoded, said to be "binary". */
static void test_binary_unencode(void **state)
{
	(void)state;
	static const char msg[] =
		"Content-Type: multipart/mixed; boundary=o\r\n\r\n"
		"--o\r\nContent-Type: message/rfc822\r\n\r\n"
		"Subject: in\r\nContent-Type: multipart/mixed; boundary=i\r\n\r\npro\r\n"
		"--i\r\nContent-Transfer-Encoding: BASE64\r\nX-A: 1\r\n\r\n aGk=\r\n"
		"--i\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\na=3Db=\r\nc\r\n"
		"--i\r\nContent-Transfer-Encoding: x-what\r\n\r\nYQ==\r\n"
		"--i\r\n\r\nplain\r\n--i--\r\nepi\r\n--o--\r\n";
	size_t n = sizeof(msg) - 1;
	struct mime_message *m = parse(msg, n);
	uint32_t one = 1;
	const struct mime_part *p = mime_part_find(m->root, &one, 1);
	assert_true(mime_binary_nested_encoded(p));
	static const char want[] =
		"Subject: in\r\nContent-Type: multipart/mixed; boundary=i\r\n\r\npro\r\n"
		"--i\r\nX-A: 1\r\nContent-Transfer-Encoding: binary\r\n\r\nhi\r\n"
		"--i\r\nContent-Transfer-Encoding: binary\r\n\r\na=bc\r\n"
		"--i\r\nContent-Transfer-Encoding: x-what\r\n\r\nYQ==\r\n"
		"--i\r\n\r\nplain\r\n--i--\r\nepi";
	struct buf b;
	buf_init(&b, 0);
	/* From the whole message, and from a window holding only the body
	 * (offsets stay the message's). */
	assert_int_equal(mime_binary_unencode(msg, 0, n, p, &b), MIME_OK);
	assert_int_equal(b.len, sizeof(want) - 1);
	assert_memory_equal(b.data, want, b.len);
	buf_reset(&b);
	assert_int_equal(mime_binary_unencode(msg + p->body_off, p->body_off, p->body_len, p, &b),
			 MIME_OK);
	assert_int_equal(b.len, sizeof(want) - 1);
	assert_memory_equal(b.data, want, b.len);
	buf_reset(&b);
	/* A window that misses the body is refused, not read past. */
	assert_int_equal(mime_binary_unencode(msg + p->body_off, p->body_off, p->body_len - 1, p,
					      &b),
			 MIME_ERR_CORRUPT);
	assert_int_equal(mime_binary_unencode(msg, p->body_off + 1, n - p->body_off - 1, p, &b),
			 MIME_ERR_CORRUPT);
	buf_free(&b);
	/* The 7bit and unknown leaves alone leave nothing to decode. */
	uint32_t plain[] = { 1, 4 };
	assert_false(mime_binary_nested_encoded(mime_part_find(m->root, plain, 2)));
	mime_message_free(&m);
	m = parse(L("Content-Type: multipart/mixed; boundary=i\r\n\r\n--i\r\n\r\nx\r\n--i--\r\n"));
	assert_false(mime_binary_nested_encoded(m->root));
	mime_message_free(&m);
}

/* The text SEARCH FROM/TO/CC/BCC compares besides the raw value: the
 * addresses as ENVELOPE parses them. */
static void test_address_list_text(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(mime_address_list_text(L("<user-from (comment)@ (comment) domain.org>"), &b), 0);
	assert_string_equal(b.data, "comment <user-from@domain.org>");
	buf_reset(&b);
	assert_int_equal(mime_address_list_text(
		L("\"A.\\ B\" (x) <a . b @\r\n\texample.org>, =?UTF-8?B?SsO2cmc=?= <jorg@example.org>"),
		&b), 0);
	assert_string_equal(b.data, "A. B <a.b@example.org>, J\xc3\xb6rg <jorg@example.org>");
	buf_reset(&b);
	assert_int_equal(mime_address_list_text(L("team: ann@x.org, bob (b) @y.org;, undisclosed, <@r.net:c@z>"),
						 &b), 0);
	assert_string_equal(b.data, "team: <ann@x.org>, b <bob@y.org>;, <undisclosed>, <@r.net:c@z>");
	buf_reset(&b);
	assert_int_equal(mime_address_list_text(L(""), &b), 0);
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

static void test_imap_strings(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(mime_imap_string_write(&b, L("plain text")), 0);
	assert_int_equal(mime_imap_string_write(&b, L("")), 0);
	assert_int_equal(mime_imap_string_write(&b, L("back\\slash")), 0);
	assert_int_equal(mime_imap_string_write(&b, L("line\r\nbreak")), 0);
	assert_int_equal(mime_imap_string_write(&b, L("n\0ul")), 0);
	struct mime_str nil = {NULL, 0};
	assert_int_equal(mime_imap_nstring_write(&b, &nil), 0);
	assert_string_equal(b.data, "\"plain text\"\"\"{10}\r\nback\\slash{11}\r\nline\r\nbreak\"nul\"NIL");
	buf_reset(&b);
	char big[2000];
	memset(big, 'a', sizeof(big));
	assert_int_equal(mime_imap_string_write(&b, big, sizeof(big)), 0);
	assert_memory_equal(b.data, "{2000}\r\naaa", 11);
	buf_free(&b);
	/* A full output buffer is an error, not a partial success. */
	buf_init(&b, 8);
	assert_int_equal(mime_envelope_write(NULL, &b), MIME_ERR_NOMEM);
	buf_free(&b);
}

/* ------------------------------------------------------------------ */
/* every corpus message                                                */

static void check_offsets(const char *msg, size_t len, const struct mime_part *p, size_t lo,
			  size_t hi)
{
	assert_true(p->header_off >= lo);
	assert_int_equal(p->body_off, p->header_off + p->header_len);
	assert_true(p->body_off + p->body_len <= hi);
	assert_true(hi <= len);
	if (!(p->flags & MIME_PART_NO_BLANK_LINE)) {
		/* The header ends with its blank line. */
		assert_true(p->header_len >= 1);
		assert_int_equal(msg[p->body_off - 1], '\n');
		const char *h = msg + p->header_off;
		size_t n = p->header_len;
		bool ok = n == 1 || (n == 2 && h[0] == '\r') || (n >= 2 && h[n - 2] == '\n') ||
			  (n >= 3 && h[n - 3] == '\n' && h[n - 2] == '\r');
		assert_true(ok);
	}
	size_t pos = p->body_off;
	for (const struct mime_part *c = p->children; c; c = c->next) {
		assert_ptr_equal(c->parent, p);
		check_offsets(msg, len, c, pos, p->body_off + p->body_len);
		if (p->flags & MIME_PART_MULTIPART) {
			/* A child starts right after a delimiter line. */
			assert_true(c->header_off >= 2);
			assert_int_equal(msg[c->header_off - 1], '\n');
		}
		pos = c->body_off + c->body_len;
	}
	if (p->flags & MIME_PART_MESSAGE)
		assert_int_equal(p->children->header_off, p->body_off);
}

/* Only the ranges: what a decoded tree guarantees whatever its bytes. */
static void check_bounds(const struct mime_part *p, size_t lo, size_t hi)
{
	assert_true(p->header_off >= lo);
	assert_int_equal(p->body_off, p->header_off + p->header_len);
	assert_true(p->body_off + p->body_len <= hi);
	size_t pos = p->body_off;
	for (const struct mime_part *c = p->children; c; c = c->next) {
		check_bounds(c, pos, p->body_off + p->body_len);
		pos = c->body_off + c->body_len;
	}
}

/* The shape of a tree: types, child counts and kinds, in pre-order. */
static void shape(const struct mime_message *m, struct buf *out)
{
	for (const struct mime_part *p = mime_part_next(m->root, NULL); p; p = mime_part_next(m->root, p))
		buf_printf(out, "%s/%s:%zu:%u ", p->type.data, p->subtype.data, p->nchildren,
			   p->flags & (MIME_PART_MULTIPART | MIME_PART_MESSAGE | MIME_PART_OPAQUE));
}

/* Not an incremental parser, so instead of byte-at-a-time feeding: every
 * truncation of a message gives a sound tree, and bare LF line ends give
 * the same structure as CRLF. */
static void check_prefixes_and_lf(const char *msg, size_t n)
{
	struct buf w;
	buf_init(&w, 0);
	for (size_t cut = 0; cut <= n; cut++) {
		struct mime_message *m = parse(msg, cut);
		check_bounds(m->root, 0, cut);
		buf_reset(&w);
		assert_int_equal(mime_bodystructure_write(m->root, MIME_WRITE_EXTENDED, &w), 0);
		mime_message_free(&m);
	}
	struct buf lf, a, b;
	buf_init(&lf, 0);
	buf_init(&a, 0);
	buf_init(&b, 0);
	for (size_t i = 0; i < n; i++)
		if (!(msg[i] == '\r' && i + 1 < n && msg[i + 1] == '\n'))
			buf_putc(&lf, msg[i]);
	struct mime_message *m1 = parse(msg, n), *m2 = parse(lf.data, lf.len);
	shape(m1, &a);
	shape(m2, &b);
	assert_string_equal(a.data, b.data);
	mime_message_free(&m1);
	mime_message_free(&m2);
	buf_free(&lf);
	buf_free(&a);
	buf_free(&b);
	buf_free(&w);
}

/* Body lines, 8-bit and NUL (read eight bytes at a time) against a plain
 * count, over bodies of every length up to 40 bytes at every alignment,
 * with newlines, high bytes and NULs in every position. */
static void test_body_stats(void **state)
{
	(void)state;
	uint32_t seed = 12345;
	char msg[64];
	for (int round = 0; round < 20000; round++) {
		size_t off = (size_t)round % 8, n = (size_t)(round / 8) % 41;
		/* "X: y" plus off letters, then the blank line: the header
		 * grows, so the body starts at every alignment. */
		memcpy(msg, "X: y", 4);
		memset(msg + 4, 'a', off);
		msg[4 + off] = '\n';
		msg[5 + off] = '\n';
		size_t pre = 6 + off;
		size_t lines = 0;
		bool high = false, nul = false;
		for (size_t k = 0; k < n; k++) {
			seed = seed * 1103515245u + 12345u;
			unsigned r = (seed >> 16) % 16;
			unsigned char c = r == 0 ? '\n' : r == 1 ? 0x80 + (seed >> 8) % 128 : r == 2 ? 0 : 'b';
			msg[pre + k] = (char)c;
			lines += c == '\n';
			high |= c >= 0x80;
			nul |= c == 0;
		}
		if (n > 0 && msg[pre + n - 1] != '\n')
			lines++;
		struct mime_message *m = parse(msg, pre + n);
		assert_int_equal(m->root->body_len, n);
		assert_int_equal(m->root->body_lines, lines);
		assert_int_equal((m->root->flags & MIME_PART_8BIT) != 0, high);
		assert_int_equal((m->root->flags & MIME_PART_NUL) != 0, nul);
		mime_message_free(&m);
	}
}

static void test_corpus(void **state)
{
	(void)state;
	DIR *d = opendir(corpus_dir());
	assert_non_null(d);
	struct dirent *de;
	size_t files = 0;
	while ((de = readdir(d)) != NULL) {
		size_t nl = strlen(de->d_name);
		if (nl < 5 || strcmp(de->d_name + nl - 4, ".eml") != 0)
			continue;
		files++;
		size_t n;
		char *msg = load(de->d_name, &n);
		struct mime_message *m = parse(msg, n);
		check_offsets(msg, n, m->root, 0, n);
		assert_int_equal(m->root->header_off, 0);

		/* Serialization round trip: same bytes, same IMAP output. */
		struct buf s1, s2, w1, w2;
		buf_init(&s1, 0);
		buf_init(&s2, 0);
		buf_init(&w1, 0);
		buf_init(&w2, 0);
		assert_int_equal(mime_message_serialize(m, &s1), 0);
		struct mime_message *m2 = NULL;
		assert_int_equal(mime_message_deserialize(s1.data, s1.len, &m2), MIME_OK);
		assert_int_equal(m2->nparts, m->nparts);
		assert_int_equal(m2->size, n);
		assert_int_equal(mime_message_serialize(m2, &s2), 0);
		assert_int_equal(s1.len, s2.len);
		assert_memory_equal(s1.data, s2.data, s1.len);
		for (unsigned f = 0; f < 4; f++) {
			buf_reset(&w1);
			buf_reset(&w2);
			assert_int_equal(mime_bodystructure_write(m->root, f, &w1), 0);
			assert_int_equal(mime_bodystructure_write(m2->root, f, &w2), 0);
			assert_string_equal(w1.data, w2.data);
		}
		buf_reset(&w1);
		buf_reset(&w2);
		assert_int_equal(mime_envelope_write(m->root->envelope, &w1), 0);
		assert_int_equal(mime_envelope_write(m2->root->envelope, &w2), 0);
		assert_string_equal(w1.data, w2.data);
		check_offsets(msg, n, m2->root, 0, n);
		mime_message_free(&m2);

		/* Every truncation of the stored form is refused cleanly. */
		for (size_t cut = 0; cut < s1.len; cut++) {
			int rc = mime_message_deserialize(s1.data, cut, &m2);
			assert_true(rc == MIME_ERR_CORRUPT);
			assert_null(m2);
		}
		/* Flipped octets: an error or a tree that is still safe. */
		for (size_t i = 5; i < s1.len; i += 3) {
			s1.data[i] ^= 0x5a;
			if (mime_message_deserialize(s1.data, s1.len, &m2) == MIME_OK) {
				check_bounds(m2->root, 0, m2->size);
				buf_reset(&w2);
				assert_int_equal(mime_bodystructure_write(m2->root, 1, &w2), 0);
				mime_message_free(&m2);
			}
			s1.data[i] ^= 0x5a;
		}
		s1.data[4] = 2;
		assert_int_equal(mime_message_deserialize(s1.data, s1.len, &m2), MIME_ERR_VERSION);
		s1.data[0] = 'X';
		assert_int_equal(mime_message_deserialize(s1.data, s1.len, &m2), MIME_ERR_CORRUPT);

		check_prefixes_and_lf(msg, n);

		/* The parts walk visits every part once. */
		size_t count = 0;
		for (const struct mime_part *p = mime_part_next(m->root, NULL); p;
		     p = mime_part_next(m->root, p))
			count++;
		assert_int_equal(count, m->nparts);

		buf_free(&s1);
		buf_free(&s2);
		buf_free(&w1);
		buf_free(&w2);
		mime_message_free(&m);
		free(msg);
	}
	closedir(d);
	assert_true(files >= 20);
}

/* mime_structure_build: parse + serialize in one call gives exactly what
 * mime_message_serialize gives, appends to what out holds, and a broken
 * message (no header end, unclosed multipart) still builds. */
static void test_structure_build(void **state)
{
	(void)state;
	const char msg[] = "Subject: hi\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
			   "--b\r\nContent-Type: text/plain\r\n\r\none\r\n--b\r\n\r\ntwo\r\n--b--\r\n";
	struct buf got, want;
	buf_init(&got, 0);
	buf_init(&want, 0);
	assert_int_equal(buf_puts(&got, "xx"), 0);
	assert_int_equal(mime_structure_build(msg, sizeof(msg) - 1, &got), MIME_OK);
	struct mime_message *m = NULL;
	assert_int_equal(mime_message_parse(msg, sizeof(msg) - 1, NULL, &m), MIME_OK);
	assert_int_equal(mime_message_serialize(m, &want), MIME_OK);
	assert_int_equal(got.len, want.len + 2);
	assert_memory_equal(got.data, "xx", 2);
	assert_memory_equal(got.data + 2, want.data, want.len);
	mime_message_free(&m);

	struct mime_message *back = NULL;
	assert_int_equal(mime_message_deserialize(got.data + 2, got.len - 2, &back), MIME_OK);
	assert_int_equal(back->nparts, 3);
	assert_int_equal(back->size, sizeof(msg) - 1);
	struct buf bs;
	buf_init(&bs, 0);
	assert_int_equal(mime_bodystructure_write(back->root, 0, &bs), MIME_OK);
	assert_string_equal(bs.data, "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 1)"
				     "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 1) "
				     "\"MIXED\")");
	buf_free(&bs);
	mime_message_free(&back);

	const char broken[] = "Content-Type: multipart/mixed; boundary=zz\nX: y\n\n--zz\nabc";
	buf_reset(&got);
	assert_int_equal(mime_structure_build(broken, sizeof(broken) - 1, &got), MIME_OK);
	assert_int_equal(mime_message_deserialize(got.data, got.len, &back), MIME_OK);
	assert_int_equal(back->size, sizeof(broken) - 1);
	mime_message_free(&back);
	buf_reset(&got);
	assert_int_equal(mime_structure_build("", 0, &got), MIME_OK);
	assert_true(got.len > 0);
	buf_free(&got);
	buf_free(&want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple),
		cmocka_unit_test(test_header_end),
		cmocka_unit_test(test_folded_headers),
		cmocka_unit_test(test_rfc2047),
		cmocka_unit_test(test_rfc2231),
		cmocka_unit_test(test_alternative_related),
		cmocka_unit_test(test_forward_rfc822),
		cmocka_unit_test(test_digest),
		cmocka_unit_test(test_broken_boundaries),
		cmocka_unit_test(test_8bit_binary),
		cmocka_unit_test(test_line_ends),
		cmocka_unit_test(test_prefix_boundaries),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_encoded_message_and_broken_headers),
		cmocka_unit_test(test_global),
		cmocka_unit_test(test_decode_and_search),
		cmocka_unit_test(test_address_list_text),
		cmocka_unit_test(test_binary_encode),
		cmocka_unit_test(test_binary_unencode),
		cmocka_unit_test(test_imap_strings),
		cmocka_unit_test(test_corpus),
		cmocka_unit_test(test_body_stats),
		cmocka_unit_test(test_structure_build),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
