/* tests/fuzz/fuzz_smtp_7bit.c: the 8-bit to 7-bit conversion
 * (smtp/smtp_7bit.c).  The first byte chooses a read size; the rest is a
 * message.  A conversion must be 7-bit, of the planned size (the reader
 * checks it), the same whatever the read size, and a fixed point:
 * converting the result again changes nothing.  A refusal must give a
 * reason. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/mime.h"
#include "smtp/smtp_7bit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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

/* The conversion read through chunks of `chunk` bytes both ways. */
static int chunked(const char *msg, size_t len, size_t chunk, struct buf *out)
{
	struct buf st;
	buf_init(&st, 0);
	if (mime_structure_build(msg, len, &st) != 0)
		abort();
	struct src s = { msg, len, chunk };
	struct smtp_7bit *p = NULL;
	char why[200];
	int rc = smtp_7bit_plan(st.data, st.len, len, src_read, &s, &p, why, sizeof(why));
	buf_free(&st);
	if (rc != SMTP_7BIT_OK)
		return rc;
	struct smtp_7bit_reader *r = smtp_7bit_reader_new(p, src_read, &s);
	if (!r)
		abort();
	uint64_t off = 0;
	char tmp[4096];
	size_t cap = chunk < sizeof(tmp) ? chunk : sizeof(tmp);
	for (;;) {
		size_t got = 0;
		if (smtp_7bit_reader_read(r, off, tmp, cap, &got) != 0)
			abort();
		if (!got)
			break;
		if (buf_append(out, tmp, got) < 0)
			abort();
		off += got;
	}
	if (off != smtp_7bit_size(p))
		abort();
	smtp_7bit_reader_free(&r);
	smtp_7bit_free(&p);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t chunk = (size_t)data[0] * 61 + 1;
	const char *msg = (const char *)data + 1;
	size_t len = size - 1;
	struct buf whole, part, again;
	buf_init(&whole, 0);
	buf_init(&part, 0);
	buf_init(&again, 0);
	char why[200];
	int rc = smtp_7bit_convert(msg, len, &whole, why, sizeof(why));
	if (rc == SMTP_7BIT_REFUSED && !why[0])
		abort();
	if (rc < 0)
		abort();
	if (rc == SMTP_7BIT_OK) {
		for (size_t i = 0; i < whole.len; i++)
			if ((unsigned char)whole.data[i] >= 0x80)
				abort();
		if (chunked(msg, len, chunk, &part) != SMTP_7BIT_OK || part.len != whole.len ||
		    (whole.len && memcmp(part.data, whole.data, whole.len) != 0))
			abort();
		if (smtp_7bit_convert(whole.data ? whole.data : "", whole.len, &again, why,
				      sizeof(why)) != SMTP_7BIT_OK ||
		    again.len != whole.len || (whole.len && memcmp(again.data, whole.data, whole.len)))
			abort();
	}
	buf_free(&whole);
	buf_free(&part);
	buf_free(&again);
	return 0;
}
