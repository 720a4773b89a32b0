/* tests/fuzz/fuzz_smtp_dkim.c: the DKIM canonicalizer (smtp_dkim_canon.c).
 * The first two bytes choose a chunk size; the rest is a message, read
 * whole and in chunks of that size.  Both must give the same kept fields
 * and the same relaxed body, and the body must have the relaxed form: no
 * WSP before a CRLF, no two WSP in a row, no empty line at its end, and
 * CRLF at its end unless empty. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp_dkim_canon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = {"from", "to", "subject", "x"};

static void collect(void *arg, const void *p, size_t n)
{
	if (buf_append(arg, p, n) < 0)
		abort();
}

static int run(const uint8_t *p, size_t n, size_t step, struct buf *fields, struct buf *body)
{
	struct smtp_dkim_headers h;
	struct smtp_dkim_body b;
	smtp_dkim_headers_init(&h, names, 4, 4096);
	smtp_dkim_body_init(&b, collect, body);
	int err = 0;
	for (size_t off = 0; off < n && !err; off += step) {
		size_t k = n - off < step ? n - off : step, used = 0;
		if (smtp_dkim_headers_push(&h, p + off, k, &used) < 0)
			err = 1;
		else
			smtp_dkim_body_update(&b, p + off + used, k - used);
	}
	if (!err && smtp_dkim_headers_end(&h) < 0)
		err = 1;
	smtp_dkim_body_finish(&b);
	for (unsigned i = 0; !err && i < h.nfields; i++) {
		if (h.fields[i].name >= 4 || h.fields[i].off + h.fields[i].len > h.kept.len)
			abort();
		buf_printf(fields, "%u ", h.fields[i].name);
		if (smtp_dkim_header_canon(h.kept.data + h.fields[i].off, h.fields[i].len, true,
					   fields) < 0)
			abort(); /* a kept field always has its colon */
	}
	smtp_dkim_headers_free(&h);
	return err;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t step = ((size_t)data[0] << 8 | data[1]) % 64 + 1;
	data += 2;
	size -= 2;
	struct buf f1, b1, f2, b2;
	buf_init(&f1, 0);
	buf_init(&b1, 0);
	buf_init(&f2, 0);
	buf_init(&b2, 0);
	int e1 = run(data, size, size ? size : 1, &f1, &b1);
	int e2 = run(data, size, step, &f2, &b2);
	if (e1 != e2 || f1.len != f2.len || (f1.len && memcmp(f1.data, f2.data, f1.len)))
		abort();
	if (!e1 && (b1.len != b2.len || (b1.len && memcmp(b1.data, b2.data, b1.len))))
		abort();
	if (!e1 && b1.len) {
		const char *s = b1.data;
		size_t n = b1.len;
		if (n < 2 || s[n - 2] != '\r' || s[n - 1] != '\n')
			abort();
		if (n >= 4 && !memcmp(s + n - 4, "\r\n\r\n", 4))
			abort();
		if (n == 2)
			abort(); /* a lone empty line is an empty body */
		for (size_t i = 0; i + 1 < n; i++) {
			bool w = s[i] == ' ' || s[i] == '\t';
			bool crlf = i + 2 < n && s[i + 1] == '\r' && s[i + 2] == '\n';
			if (s[i] == '\t' || (w && (s[i + 1] == ' ' || crlf)))
				abort();
		}
	}
	buf_free(&f1);
	buf_free(&b1);
	buf_free(&f2);
	buf_free(&b2);
	return 0;
}
