/* tests/unit/test_smtp_7bit.c: the 8-bit to 7-bit conversion
 * (smtp/smtp_7bit.c): every converted message is 7-bit with lines of at
 * most 76 characters where it was re-encoded, its parts decode to the
 * original bodies (core's MIME parser and decoder read both), its
 * structure and boundaries are kept, its size is the planned one however
 * it is read, and what cannot be converted (8-bit header fields, 8-bit
 * octets in an encoded body or between parts) is refused with a reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/mime.h"
#include "smtp/smtp_7bit.h"

#define L(s) s, sizeof(s) - 1

/* Converts msg; asserts success and returns the result (NUL-terminated). */
static char *convert_ok(const char *msg, size_t len, size_t *out_len)
{
	struct buf out;
	buf_init(&out, 0);
	char why[200];
	int rc = smtp_7bit_convert(msg, len, &out, why, sizeof(why));
	if (rc != SMTP_7BIT_OK)
		fail_msg("refused (%d): %s", rc, why);
	*out_len = out.len;
	return out.data ? out.data : strdup("");
}

static void assert_7bit(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			fail_msg("8-bit octet at %zu: %.40s", i, s + (i > 20 ? i - 20 : 0));
}

/* Every line of the re-encoded bodies is at most 76 characters; no line
 * ends in white space. */
static void assert_lines(const char *s, size_t n, size_t max)
{
	size_t start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || s[i] == '\n') {
			size_t end = i;
			if (end > start && s[end - 1] == '\r')
				end--;
			if (end - start > max)
				fail_msg("line of %zu: %.*s", end - start, (int)(end - start), s + start);
			start = i + 1;
		}
	}
}

/* The leaves of a and b, in order, decode to the same octets. */
static void assert_same_leaves(const char *a, size_t alen, const char *b, size_t blen)
{
	struct mime_message *ma = NULL, *mb = NULL;
	assert_int_equal(mime_message_parse(a, alen, NULL, &ma), MIME_OK);
	assert_int_equal(mime_message_parse(b, blen, NULL, &mb), MIME_OK);
	assert_int_equal(ma->nparts, mb->nparts);
	const struct mime_part *pa = NULL, *pb = NULL;
	for (;;) {
		pa = mime_part_next(ma->root, pa);
		pb = mime_part_next(mb->root, pb);
		if (!pa || !pb)
			break;
		assert_int_equal(pa->flags & (MIME_PART_MULTIPART | MIME_PART_MESSAGE),
				 pb->flags & (MIME_PART_MULTIPART | MIME_PART_MESSAGE));
		assert_string_equal(pa->type.data, pb->type.data);
		assert_string_equal(pa->subtype.data, pb->subtype.data);
		if (pa->flags & (MIME_PART_MULTIPART | MIME_PART_MESSAGE))
			continue;
		struct buf da, db;
		buf_init(&da, 0);
		buf_init(&db, 0);
		const char *ea = pa->encoding.data ? pa->encoding.data : "7bit";
		const char *eb = pb->encoding.data ? pb->encoding.data : "7bit";
		assert_int_equal(mime_cte_decode(ea, strlen(ea), a + pa->body_off, pa->body_len, &da), 0);
		assert_int_equal(mime_cte_decode(eb, strlen(eb), b + pb->body_off, pb->body_len, &db), 0);
		if (da.len != db.len || memcmp(da.data, db.data, da.len) != 0)
			fail_msg("part differs:\n[%.*s]\n[%.*s]", (int)da.len, da.data ? da.data : "",
				 (int)db.len, db.data ? db.data : "");
		buf_free(&da);
		buf_free(&db);
	}
	assert_null(pa);
	assert_null(pb);
	mime_message_free(&ma);
	mime_message_free(&mb);
}

static void check_roundtrip(const char *msg, size_t len, char **out_r, size_t *out_len_r)
{
	size_t n = 0;
	char *out = convert_ok(msg, len, &n);
	assert_7bit(out, n);
	assert_same_leaves(msg, len, out, n);
	if (out_r) {
		*out_r = out;
		*out_len_r = n;
	} else {
		free(out);
	}
}

static void test_plain_message_gets_qp_and_mime_version(void **state)
{
	(void)state;
	static const char msg[] = "From: a@x.test\r\nSubject: hi\r\n\r\nGr\xc3\xbc\xc3\x9f"
				  "e aus K\xc3\xb6ln und viele andere Worte hier.\r\n";
	char *out;
	size_t n;
	check_roundtrip(L(msg), &out, &n);
	assert_non_null(strstr(out, "Subject: hi\r\nMIME-Version: 1.0\r\n"
				    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
				    "Gr=C3=BC=C3=9Fe aus K=C3=B6ln und viele andere Worte hier.\r\n"));
	assert_int_equal(strncmp(out, "From: a@x.test\r\n", 16), 0);
	free(out);
}

static void test_multipart_keeps_structure_and_encoded_parts(void **state)
{
	(void)state;
	static const char msg[] =
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n"
		"Content-Transfer-Encoding: 8bit\r\n\r\n"
		"preamble\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n"
		"Content-Transfer-Encoding: 8bit\r\n\r\nna\xc3\xafve caf\xc3\xa9 in the morning, every day\r\n"
		"--b1\r\nContent-Type: application/octet-stream\r\n"
		"Content-Transfer-Encoding: base64\r\n\r\nAAECAwQ=\r\n"
		"--b1\r\nContent-Type: text/plain\r\n\r\nplain ascii\r\n--b1--\r\nepilogue\r\n";
	char *out;
	size_t n;
	check_roundtrip(L(msg), &out, &n);
	/* The outer label becomes 7bit, the text part quoted-printable, the
	 * base64 part and every boundary are as they were. */
	assert_non_null(strstr(out, "boundary=\"b1\"\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
				    "preamble\r\n--b1\r\n"));
	assert_null(strstr(out, "8bit"));
	assert_non_null(strstr(out, "charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable"
				    "\r\n\r\nna=C3=AFve caf=C3=A9 in the morning, every day\r\n--b1\r\n"));
	assert_non_null(strstr(out, "Content-Transfer-Encoding: base64\r\n\r\nAAECAwQ=\r\n--b1\r\n"));
	assert_non_null(strstr(out, "\r\nplain ascii\r\n--b1--\r\nepilogue\r\n"));
	/* Only one MIME-Version. */
	assert_null(strstr(strstr(out, "MIME-Version") + 1, "MIME-Version"));
	free(out);
}

static void test_nested_message_is_converted_inside(void **state)
{
	(void)state;
	static const char msg[] =
		"Content-Type: multipart/mixed; boundary=outer\r\n\r\n"
		"--outer\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
		"--outer\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
		"From: b@y.test\r\nSubject: inner\r\nMIME-Version: 1.0\r\n"
		"Content-Type: multipart/alternative; boundary=inner\r\n\r\n"
		"--inner\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\n\xe9t\xe9 was warm this year\r\n"
		"--inner\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>\xc3\xa9t\xc3\xa9 was warm this year</p>\r\n"
		"--inner--\r\n--outer--\r\n";
	char *out;
	size_t n;
	check_roundtrip(L(msg), &out, &n);
	/* message/rfc822 itself is never encoded (RFC 2046 5.2.1): relabelled. */
	assert_non_null(strstr(out, "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: 7bit\r\n\r\nFrom: b@y.test"));
	assert_non_null(strstr(out, "=E9t=E9 was warm this year\r\n--inner\r\n"));
	assert_non_null(strstr(out, "<p>=C3=A9t=C3=A9 was warm this year</p>\r\n--inner--"));
	/* The inner message had its MIME-Version; the outer gets one. */
	assert_non_null(strstr(out, "boundary=outer\r\nMIME-Version: 1.0\r\n\r\n--outer\r\n"));
	free(out);
}

static void test_line_ends(void **state)
{
	(void)state;
	/* Bare LF becomes a CRLF line break, a bare CR is kept as =0D. */
	static const char msg[] = "Subject: x\r\n\r\nsome ascii text \xe4 one\nzwei\rdrei\r\nend\r";
	size_t n;
	char *out = convert_ok(L(msg), &n);
	assert_7bit(out, n);
	assert_non_null(strstr(out, "\r\n\r\nsome ascii text =E4 one\r\nzwei=0Ddrei\r\nend=0D"));
	assert_true(out[n - 1] == 'D');
	free(out);
}

static void test_long_lines_are_soft_broken(void **state)
{
	(void)state;
	struct buf m;
	buf_init(&m, 0);
	buf_puts(&m, "Content-Type: text/plain; charset=utf-8\r\n\r\n");
	for (int i = 0; i < 1500; i++)
		buf_puts(&m, i % 20 ? "a" : "\xc3\xa4");
	buf_puts(&m, "\r\n");
	for (int i = 0; i < 30; i++)
		buf_puts(&m, "=.");
	buf_puts(&m, "\r\n");
	char *out;
	size_t n;
	check_roundtrip(m.data, m.len, &out, &n);
	assert_lines(out, n, 76);
	/* A soft break is '=' at a line's end. */
	assert_non_null(strstr(out, "=\r\n"));
	free(out);
	buf_free(&m);
}

static void test_trailing_white_space_is_encoded(void **state)
{
	(void)state;
	static const char msg[] = "Subject: ws\r\n\r\nsome words first, \xe9t\xe9 \r\ntab\t\r\nmid dle\r\nlast \t";
	char *out;
	size_t n;
	check_roundtrip(L(msg), &out, &n);
	assert_non_null(strstr(out, "some words first, =E9t=E9=20\r\ntab=09\r\nmid dle\r\nlast =09"));
	for (size_t i = 1; i < n; i++)
		if (out[i] == '\r')
			assert_true(out[i - 1] != ' ' && out[i - 1] != '\t');
	free(out);
}

static void test_equals_dots_and_dashes(void **state)
{
	(void)state;
	static const char msg[] =
		"Content-Type: multipart/mixed; boundary=\"abc=3D\"\r\n\r\n"
		"--abc=3D\r\nContent-Type: text/plain\r\n\r\nsome ascii text \xe9\r\na=b\r\n.\r\n..x\r\n--abc=\r\n- item\r\n"
		"--abc=3D--\r\n";
	char *out;
	size_t n;
	check_roundtrip(L(msg), &out, &n);
	/* '=' always, a '.' and the first of two '-' opening a line: so no
	 * line can end the message or look like the boundary. */
	assert_non_null(strstr(out, "some ascii text =E9\r\na=3Db\r\n=2E\r\n=2E.x\r\n=2D-abc=3D\r\n- item\r\n--abc=3D--"));
	free(out);
}

static void test_mostly_8bit_text_takes_base64(void **state)
{
	(void)state;
	struct buf m;
	buf_init(&m, 0);
	buf_puts(&m, "Content-Type: text/plain; charset=utf-8\r\n\r\n");
	for (int i = 0; i < 200; i++)
		buf_puts(&m, "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 ");
	buf_puts(&m, "\r\n");
	char *out;
	size_t n;
	check_roundtrip(m.data, m.len, &out, &n);
	assert_non_null(strstr(out, "Content-Transfer-Encoding: base64\r\n\r\n0L/RgNC40LLQtdGCINC/"));
	assert_lines(out, n, 76);
	free(out);
	buf_free(&m);
}

static void test_binary_label_and_7bit_message(void **state)
{
	(void)state;
	/* Declared 8bit but 7-bit after all: re-encoded QP (identical text). */
	static const char msg[] = "Content-Transfer-Encoding: 8BIT\r\nSubject: s\r\n\r\nascii\r\n";
	char *out;
	size_t n;
	check_roundtrip(L(msg), &out, &n);
	assert_string_equal(out, "Subject: s\r\nMIME-Version: 1.0\r\n"
				 "Content-Transfer-Encoding: quoted-printable\r\n\r\nascii\r\n");
	free(out);
	/* Nothing to do: the same bytes. */
	static const char plain[] = "Subject: s\r\n\r\nascii\r\n";
	out = convert_ok(L(plain), &n);
	assert_int_equal(n, sizeof(plain) - 1);
	assert_memory_equal(out, plain, n);
	free(out);
}

static void expect_refused(const char *msg, size_t len, const char *reason)
{
	struct buf out;
	buf_init(&out, 0);
	char why[200];
	assert_int_equal(smtp_7bit_convert(msg, len, &out, why, sizeof(why)), SMTP_7BIT_REFUSED);
	if (!strstr(why, reason))
		fail_msg("reason \"%s\" lacks \"%s\"", why, reason);
	buf_free(&out);
}

static void test_what_cannot_be_converted(void **state)
{
	(void)state;
	expect_refused(L("Subject: gr\xc3\xbc\xc3\x9f"
			 "e\r\n\r\n\xc3\xa4\r\n"), "header");
	/* In a part's header (an 8-bit file name). */
	expect_refused(L("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
			 "Content-Type: text/plain; name=\"\xc3\xa4.txt\"\r\n\r\n\xc3\xa4\r\n--b--\r\n"),
		       "header");
	expect_refused(L("Content-Type: multipart/mixed; boundary=b\r\n\r\npr\xc3\xa4"
			 "amble\r\n--b\r\n\r\n\xc3\xa4\r\n--b--\r\n"),
		       "preamble");
	expect_refused(L("Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
			 "\xc3\xa4\r\n"),
		       "encoded as base64");
	/* An embedded message's header is a header too. */
	expect_refused(L("Content-Type: message/rfc822\r\n\r\nSubject: \xc3\xa4\r\n\r\nbody\r\n"),
		       "header");
}

struct src {
	const char *p;
	size_t len, chunk;
};

static int src_read(void *arg, uint64_t off, void *buf, size_t cap, size_t *got)
{
	struct src *s = arg;
	size_t n = off < s->len ? s->len - (size_t)off : 0;
	if (n > cap)
		n = cap;
	if (n > s->chunk)
		n = s->chunk;
	memcpy(buf, s->p + off, n);
	*got = n;
	return 0;
}

/* Any read size, from the source and of the result, gives the same bytes
 * and the planned size; a read from 0 again starts over; a source that
 * changed after planning is an error, not a wrong length. */
static void test_readers_and_sizes(void **state)
{
	(void)state;
	struct buf m;
	buf_init(&m, 0);
	buf_puts(&m, "Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\n"
		     "Content-Type: text/plain\r\n\r\n");
	for (int i = 0; i < 5000; i++)
		buf_puts(&m, i % 50 ? "x\xe9 " : ". \r\n");
	buf_puts(&m, "\r\n--zz\r\nContent-Type: image/png\r\n\r\n");
	for (int i = 0; i < 40000; i++)
		buf_putc(&m, (char)(i * 7 + 1 == '\r' ? 1 : i * 7 + 1));
	buf_puts(&m, "\r\n--zz--\r\n");
	size_t whole_len;
	char *whole;
	check_roundtrip(m.data, m.len, &whole, &whole_len);
	struct buf st;
	buf_init(&st, 0);
	assert_int_equal(mime_structure_build(m.data, m.len, &st), 0);
	static const size_t sizes[] = { 1, 3, 100, 16384, 70000 };
	for (size_t a = 0; a < 5; a++) {
		struct src s = { m.data, m.len, sizes[a] };
		struct smtp_7bit *p = NULL;
		char why[200];
		assert_int_equal(smtp_7bit_plan(st.data, st.len, m.len, src_read, &s, &p, why,
						sizeof(why)), SMTP_7BIT_OK);
		assert_int_equal(smtp_7bit_size(p), whole_len);
		assert_int_equal(smtp_7bit_parts(p), 2);
		struct smtp_7bit_reader *r = smtp_7bit_reader_new(p, src_read, &s);
		for (int pass = 0; pass < 2; pass++) {
			char *got_all = malloc(whole_len + 1);
			uint64_t off = 0;
			for (;;) {
				char chunk[7000];
				size_t cap = sizes[(a + 2) % 5] < sizeof(chunk) ? sizes[(a + 2) % 5] : sizeof(chunk);
				size_t got = 0;
				assert_int_equal(smtp_7bit_reader_read(r, off, chunk, cap, &got), 0);
				if (!got)
					break;
				assert_true(off + got <= whole_len);
				memcpy(got_all + off, chunk, got);
				off += got;
			}
			assert_int_equal(off, whole_len);
			assert_memory_equal(got_all, whole, whole_len);
			free(got_all);
		}
		smtp_7bit_reader_free(&r);
		/* The message is shorter than planned: an error, not a short
		 * message. */
		struct src s2 = { m.data, m.len - 100, sizes[a] };
		r = smtp_7bit_reader_new(p, src_read, &s2);
		int rc = 0;
		uint64_t off = 0;
		for (;;) {
			char chunk[4096];
			size_t got = 0;
			rc = smtp_7bit_reader_read(r, off, chunk, sizeof(chunk), &got);
			if (rc != 0 || got == 0)
				break;
			off += got;
		}
		assert_int_equal(rc, -1);
		smtp_7bit_reader_free(&r);
		smtp_7bit_free(&p);
	}
	free(whole);
	buf_free(&st);
	buf_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_message_gets_qp_and_mime_version),
		cmocka_unit_test(test_multipart_keeps_structure_and_encoded_parts),
		cmocka_unit_test(test_nested_message_is_converted_inside),
		cmocka_unit_test(test_line_ends),
		cmocka_unit_test(test_long_lines_are_soft_broken),
		cmocka_unit_test(test_trailing_white_space_is_encoded),
		cmocka_unit_test(test_equals_dots_and_dashes),
		cmocka_unit_test(test_mostly_8bit_text_takes_base64),
		cmocka_unit_test(test_binary_label_and_7bit_message),
		cmocka_unit_test(test_what_cannot_be_converted),
		cmocka_unit_test(test_readers_and_sizes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
