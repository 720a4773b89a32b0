/* tests/unit/test_mime_preview.c: the preview text of RFC 8970 (PREVIEW)
 * from core/mime_preview.c: which part, decoding, HTML, whitespace, the
 * 256-character bound and a body cut at MIME_PREVIEW_READ. */
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

/* The preview of a whole message, as FETCH makes it: the part, then at
 * most `read` octets of its body.  Returns a static copy. */
static const char *preview_read(const char *msg, size_t read)
{
	static char text[4096];
	struct mime_message *m = NULL;
	assert_int_equal(mime_message_parse(msg, strlen(msg), NULL, &m), MIME_OK);
	const struct mime_part *p = mime_preview_part(m);
	struct buf out;
	buf_init(&out, 0);
	if (p) {
		size_t len = p->body_len < read ? p->body_len : read;
		assert_int_equal(mime_preview_text(p, msg + p->body_off, len, len < p->body_len, &out), 0);
	}
	snprintf(text, sizeof(text), "%.*s", (int)out.len, out.data ? out.data : "");
	buf_free(&out);
	mime_message_free(&m);
	return text;
}

static const char *preview(const char *msg)
{
	return preview_read(msg, MIME_PREVIEW_READ);
}

static void test_plain(void **state)
{
	(void)state;
	assert_string_equal(preview("Subject: x\r\n\r\n  Hello,\r\n\r\n\tthis is   the\r\nbody.\r\n\r\n"),
			    "Hello, this is the body.");
	/* no Content-Type: text/plain us-ascii (RFC 2045 5.2) */
	assert_string_equal(preview("Subject: x\r\n\r\nJust text"), "Just text");
	/* quoted-printable in ISO-8859-1, to UTF-8; soft line breaks joined */
	assert_string_equal(preview("Content-Type: text/plain; charset=iso-8859-1\r\n"
				    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
				    "Caf=E9 cr=E8me, tr=\r\nop bon.\r\n"),
			    "Caf\xc3\xa9 cr\xc3\xa8me, trop bon.");
	/* base64 UTF-8 */
	assert_string_equal(preview("Content-Type: text/plain; charset=utf-8\r\n"
				    "Content-Transfer-Encoding: base64\r\n\r\n"
				    "SGVsbG8gd29ybGQ=\r\n"),
			    "Hello world");
	/* empty body, or no text at all */
	assert_string_equal(preview("Subject: x\r\n\r\n"), "");
	assert_string_equal(preview("Content-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n"
				    "iVBORw0KGgo=\r\n"),
			    "");
	/* controls are spaces, octets that are no UTF-8 are dropped */
	assert_string_equal(preview("Content-Type: text/plain; charset=x-unknown\r\n\r\n"
				    "a\x01" "b \xff\xfe" "c\x7f" "d"),
			    "a b c d");
}

static void test_choice_of_part(void **state)
{
	(void)state;
	/* text/plain wins over text/html, whatever their order */
	assert_string_equal(preview("Content-Type: multipart/alternative; boundary=b\r\n\r\n"
				    "--b\r\nContent-Type: text/html\r\n\r\n<p>html version</p>\r\n"
				    "--b\r\nContent-Type: text/plain\r\n\r\nplain version\r\n--b--\r\n"),
			    "plain version");
	/* an attachment, and the text of an attached message, are not it */
	assert_string_equal(preview("Content-Type: multipart/mixed; boundary=b\r\n\r\n"
				    "--b\r\nContent-Type: text/plain\r\n"
				    "Content-Disposition: attachment; filename=a.txt\r\n\r\nattached\r\n"
				    "--b\r\nContent-Type: message/rfc822\r\n\r\n"
				    "Subject: inner\r\n\r\ninner text\r\n"
				    "--b\r\nContent-Type: text/html\r\n\r\n<b>outer</b> html\r\n--b--\r\n"),
			    "outer html");
	assert_string_equal(preview("Content-Type: multipart/mixed; boundary=b\r\n\r\n"
				    "--b\r\nContent-Type: message/rfc822\r\n\r\n"
				    "Subject: inner\r\n\r\ninner text\r\n--b--\r\n"),
			    "");
}

static void test_html(void **state)
{
	(void)state;
	assert_string_equal(
		preview("Content-Type: text/html\r\n\r\n"
			"<html><head><title>T</title><style>p { color: red }</style></head>\r\n"
			"<body><!-- a <b>comment</b> --><script type=\"x\">var a = 1 < 2;</script>"
			"<p>Fish &amp; chips&nbsp;&lt;3 &#233;t&#xE9;</p><p>next<br/>line &bogus; &#0;x</p>"
			"</body></html>\r\n"),
		"Fish & chips <3 \xc3\xa9t\xc3\xa9 next line &bogus; x");
	/* a tag that never closes ends the text */
	assert_string_equal(preview("Content-Type: text/html\r\n\r\nbefore <a href=\"x"), "before");
}

/* RFC 8970 3.1: no more than 256 characters (not octets), cut on a
 * character, no whitespace at the end. */
static void test_bounds(void **state)
{
	(void)state;
	struct buf msg;
	buf_init(&msg, 0);
	buf_puts(&msg, "Content-Type: text/plain; charset=utf-8\r\n\r\n");
	for (int i = 0; i < 300; i++)
		buf_puts(&msg, "\xc3\xa9");
	const char *p = preview(msg.data);
	assert_int_equal(strlen(p), 2 * MIME_PREVIEW_CHARS);
	buf_free(&msg);

	buf_init(&msg, 0);
	buf_puts(&msg, "Subject: x\r\n\r\n");
	for (int i = 0; i < 255; i++)
		buf_putc(&msg, 'a');
	buf_puts(&msg, " b c d");
	p = preview(msg.data);
	assert_int_equal(strlen(p), 255);   /* the space would be the 256th */
	buf_free(&msg);

	/* A body longer than what is read: base64 and quoted-printable keep
	 * whole lines only, so no quantum or escape is cut in two. */
	buf_init(&msg, 0);
	buf_puts(&msg, "Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n");
	for (int i = 0; i < 2000; i++)
		buf_puts(&msg, "YWJj\r\n");   /* "abc" */
	p = preview_read(msg.data, 15);       /* two lines and a half */
	assert_string_equal(p, "abcabc");
	buf_free(&msg);
	buf_init(&msg, 0);
	buf_puts(&msg, "Content-Type: text/plain; charset=utf-8\r\n"
		       "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
	buf_puts(&msg, "caf=C3=A9\r\nthe end=C3=A9\r\n");
	p = preview_read(msg.data, 20);       /* cut inside "=C3=A9" */
	assert_string_equal(p, "caf\xc3\xa9");
	/* plain text cut inside a character drops the piece */
	p = preview_read("Content-Type: text/plain; charset=utf-8\r\n\r\nab\xc3\xa9", 3);
	assert_string_equal(p, "ab");
	buf_free(&msg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_choice_of_part),
		cmocka_unit_test(test_html),
		cmocka_unit_test(test_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
