/* libFuzzer target for smtp/smtp_reply.c, the client's reply parser.
 * Besides "no crash, no sanitizer report" it checks, for any input:
 *   - fed whole or one byte at a time (keeping the unconsumed tail, as the
 *     client does), the parser returns the same sequence of replies (code,
 *     status, text) and stops at the same error;
 *   - every reply respects the bounds (lines, bytes) and has a valid code;
 *   - the one-line text is printable ASCII;
 *   - smtp_ehlo_parse never reads outside the reply. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "property violated: %s\n", what);
		abort();
	}
}

/* A digest of the replies seen: "code status|text\n" each, then "E" on error. */
static void record(struct buf *out, const struct smtp_reply *r)
{
	check(r->code >= 200 && r->code <= 559, "code range");
	check(r->nlines >= 1 && r->nlines <= SMTP_REPLY_LINES_MAX, "line count");
	check(r->total <= SMTP_REPLY_BYTES_MAX, "byte total");
	char one[512];
	smtp_reply_text_oneline(r, one, sizeof(one));
	for (const char *p = one; *p; p++)
		check(*p >= 0x20 && *p < 0x7f, "one-line text printable");
	struct smtp_ehlo e;
	smtp_ehlo_parse(r, &e);
	buf_printf(out, "%d %s|%s\n", r->code, r->status, one);
}

static void run(const uint8_t *data, size_t size, size_t step, struct buf *out)
{
	struct smtp_reply r;
	smtp_reply_init(&r);
	size_t start = 0, end = 0;
	while (start < size) {
		end = step ? (end + step > size ? size : end + step) : size;
		size_t used;
		enum smtp_reply_rc rc =
			smtp_reply_parse(&r, (const char *)data + start, end - start, &used);
		start += used;
		if (rc == SMTP_REPLY_ERROR) {
			buf_puts(out, "E");
			break;
		}
		if (rc == SMTP_REPLY_DONE) {
			record(out, &r);
			continue;
		}
		if (end == size)
			break;
	}
	smtp_reply_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf whole, bytes;
	buf_init(&whole, 0);
	buf_init(&bytes, 0);
	run(data, size, 0, &whole);
	run(data, size, 1, &bytes);
	check(whole.len == bytes.len && (whole.len == 0 || memcmp(whole.data, bytes.data, whole.len) == 0),
	      "whole and byte-by-byte agree");
	buf_free(&whole);
	buf_free(&bytes);
	return 0;
}
