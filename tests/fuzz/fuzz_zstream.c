/* tests/fuzz/fuzz_zstream.c: the inflater of the compression layer
 * (core/zstream.c) on any bytes a client may send after COMPRESS, cut at
 * any point and given any room: it never writes past the room, never
 * reports consuming more than it was given, gives the same bytes however
 * the input is cut, and stops at an error or the end for good.  Then the
 * input itself goes through a deflater as batches and must come back
 * byte for byte through one inflater. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/zstream.h"

#define OUT_MAX (1024 * 1024)   /* stop inflating a bomb here: enough to compare */

/* Inflate data whole (one call per step, big room) or in pieces chosen by
 * the seed; returns the output length, the outcome in *rc_r. */
static size_t run(const uint8_t *data, size_t size, unsigned seed, uint8_t *out,
		  enum zstream_rc *rc_r)
{
	struct zstream_inflater *z = zstream_inflater_new();
	if (!z)
		abort();
	size_t pos = 0, len = 0;
	enum zstream_rc rc = ZSTREAM_OK;
	while (len < OUT_MAX) {
		size_t piece = size - pos, room = OUT_MAX - len;
		if (seed) {
			seed = seed * 1103515245u + 12345u;
			size_t p = (seed >> 16) % 97 + 1, r = (seed >> 8) % 613 + 1;
			if (p < piece)
				piece = p;
			if (r < room)
				room = r;
		}
		/* A guard byte after the room: nothing may touch it. */
		out[len + room] = 0xa5;
		size_t used, made;
		const char *err;
		rc = zstream_inflate(z, data + pos, piece, &used, out + len, room, &made, &err);
		if (used > piece || made > room || out[len + room] != 0xa5)
			abort();
		if (rc == ZSTREAM_ERROR && !err)
			abort();
		pos += used;
		len += made;
		if (rc == ZSTREAM_ERROR || rc == ZSTREAM_NOMEM)
			break;
		if (used == 0 && made == 0 && (pos == size || rc == ZSTREAM_END))
			break;
	}
	if (zstream_inflater_memory(z) > 64 * 1024)
		abort();
	zstream_inflater_free(&z);
	*rc_r = rc;
	return len;
}

static void round_trip(const uint8_t *data, size_t size)
{
	struct zstream_deflater *d = zstream_deflater_new(1 + (size ? data[0] % 9 : 0));
	struct zstream_inflater *z = zstream_inflater_new();
	size_t cap = size + size / 8 + 1024;
	uint8_t *c = malloc(cap), *back = malloc(size + 1);
	if (!d || !z || !c || !back)
		abort();
	/* Batches cut where the data has a newline, as replies would be. */
	size_t start = 0;
	while (start < size || start == 0) {
		const uint8_t *nl = size > start ? memchr(data + start, '\n', size - start) : NULL;
		size_t end = nl ? (size_t)(nl - data) + 1 : size;
		zstream_deflate_begin(d);
		size_t pos = start, clen = 0;
		for (;;) {
			size_t used, made;
			bool done;
			if (zstream_deflate(d, data + pos, end - pos, &used, c + clen, cap - clen, &made,
					    true, &done) != ZSTREAM_OK)
				abort();
			pos += used;
			clen += made;
			if (done)
				break;
			if (clen == cap)
				abort();
		}
		size_t ipos = 0, blen = 0;
		for (;;) {
			size_t used, made;
			const char *err;
			if (zstream_inflate(z, c + ipos, clen - ipos, &used, back + blen, size + 1 - blen,
					    &made, &err) != ZSTREAM_OK)
				abort();
			ipos += used;
			blen += made;
			if (used == 0 && made == 0)
				break;
		}
		/* A flushed batch comes out whole, and nothing more. */
		if (ipos != clen || blen != end - start || memcmp(back, data + start, blen) != 0)
			abort();
		if (end == size)
			break;
		start = end;
	}
	free(c);
	free(back);
	zstream_inflater_free(&z);
	zstream_deflater_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t whole[OUT_MAX + 1], cut[OUT_MAX + 1];
	enum zstream_rc rc1, rc2;
	size_t n1 = run(data, size, 0, whole, &rc1);
	size_t n2 = run(data, size, 0x9e3779b9u ^ (unsigned)size, cut, &rc2);
	/* Same bytes and same outcome whatever the cuts (up to the cap). */
	size_t n = n1 < n2 ? n1 : n2;
	if (memcmp(whole, cut, n) != 0)
		abort();
	if (n1 < OUT_MAX && n2 < OUT_MAX && (n1 != n2 || rc1 != rc2))
		abort();
	round_trip(data, size);
	return 0;
}
