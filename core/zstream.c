/* core/zstream.c: raw DEFLATE streams over zlib (see core/zstream.h).
 * zlib's allocations go through counting functions, so each stream knows
 * what it costs (the unit test and tests/bench/bench_compress.py report
 * it). */
#include "core/zstream.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* RFC 4978 4: windowBits must be -8 to -15 (negative: raw deflate).  The
 * inflater needs the full 32 KiB (15): the client chooses its window and
 * raw deflate carries no header saying which.  The deflater's window
 * costs memory only while one batch is compressed (one per loop), so it
 * too takes the largest. */
#define ZSTREAM_WBITS (-15)
#define ZSTREAM_MEMLEVEL 8

struct zstream_inflater {
	z_stream zs;
	size_t mem;
	bool ended;
};

struct zstream_deflater {
	z_stream zs;
	size_t mem;
};

/* Each block carries its size in front, so zfree can count it back. */
static voidpf zstream_alloc(voidpf opaque, uInt items, uInt size)
{
	size_t *mem = opaque;
	if (size && items > (SIZE_MAX - sizeof(size_t)) / size)
		return NULL;
	size_t n = (size_t)items * size;
	size_t *p = malloc(sizeof(size_t) + n);
	if (!p)
		return NULL;
	*p = n;
	*mem += n;
	return p + 1;
}

static void zstream_release(voidpf opaque, voidpf ptr)
{
	size_t *mem = opaque;
	if (!ptr)
		return;
	size_t *p = (size_t *)ptr - 1;
	*mem -= *p;
	free(p);
}

/* zlib counts in uInt: hand it at most that much at once. */
static uInt zstream_clamp(size_t n)
{
	return n > UINT_MAX ? UINT_MAX : (uInt)n;
}

struct zstream_inflater *zstream_inflater_new(void)
{
	struct zstream_inflater *z = calloc(1, sizeof(*z));
	if (!z)
		return NULL;
	z->zs.zalloc = zstream_alloc;
	z->zs.zfree = zstream_release;
	z->zs.opaque = &z->mem;
	if (inflateInit2(&z->zs, ZSTREAM_WBITS) != Z_OK) {
		free(z);
		return NULL;
	}
	return z;
}

void zstream_inflater_free(struct zstream_inflater **zp)
{
	struct zstream_inflater *z = *zp;
	if (!z)
		return;
	inflateEnd(&z->zs);
	free(z);
	*zp = NULL;
}

enum zstream_rc zstream_inflate(struct zstream_inflater *z, const void *in, size_t inlen,
				size_t *consumed_r, void *out, size_t outcap, size_t *produced_r,
				const char **err_r)
{
	static const unsigned char none;
	*consumed_r = *produced_r = 0;
	*err_r = NULL;
	if (z->ended) {
		if (inlen == 0)
			return ZSTREAM_END;
		*err_r = "data after the end of the deflate stream";
		return ZSTREAM_ERROR;
	}
	if (outcap == 0)
		return ZSTREAM_OK;
	z->zs.next_in = inlen ? (Bytef *)in : (Bytef *)&none;
	z->zs.avail_in = zstream_clamp(inlen);
	z->zs.next_out = out;
	z->zs.avail_out = zstream_clamp(outcap);
	int rc = inflate(&z->zs, Z_SYNC_FLUSH);
	*consumed_r = zstream_clamp(inlen) - z->zs.avail_in;
	*produced_r = zstream_clamp(outcap) - z->zs.avail_out;
	switch (rc) {
	case Z_OK:
	case Z_BUF_ERROR:   /* no progress possible: not an error */
		return ZSTREAM_OK;
	case Z_STREAM_END:
		z->ended = true;
		return ZSTREAM_END;
	case Z_MEM_ERROR:
		*err_r = "out of memory";
		return ZSTREAM_NOMEM;
	default:   /* Z_DATA_ERROR, Z_NEED_DICT (not in raw mode), Z_STREAM_ERROR */
		*err_r = z->zs.msg ? z->zs.msg : "invalid deflate data";
		return ZSTREAM_ERROR;
	}
}

size_t zstream_inflater_memory(const struct zstream_inflater *z)
{
	return z->mem;
}

struct zstream_deflater *zstream_deflater_new(int level)
{
	struct zstream_deflater *z = calloc(1, sizeof(*z));
	if (!z)
		return NULL;
	z->zs.zalloc = zstream_alloc;
	z->zs.zfree = zstream_release;
	z->zs.opaque = &z->mem;
	if (deflateInit2(&z->zs, level, Z_DEFLATED, ZSTREAM_WBITS, ZSTREAM_MEMLEVEL,
			 Z_DEFAULT_STRATEGY) != Z_OK) {
		free(z);
		return NULL;
	}
	return z;
}

void zstream_deflater_free(struct zstream_deflater **zp)
{
	struct zstream_deflater *z = *zp;
	if (!z)
		return;
	deflateEnd(&z->zs);
	free(z);
	*zp = NULL;
}

void zstream_deflate_begin(struct zstream_deflater *z)
{
	/* After a sync flush the receiver expects a new block, which a fresh
	 * stream starts with; it never ends one with a final block (that
	 * needs Z_FINISH), so the batches join into one valid stream. */
	deflateReset(&z->zs);
}

enum zstream_rc zstream_deflate(struct zstream_deflater *z, const void *in, size_t inlen,
				size_t *consumed_r, void *out, size_t outcap, size_t *produced_r,
				bool flush, bool *done_r)
{
	static const unsigned char none;
	*consumed_r = *produced_r = 0;
	*done_r = false;
	z->zs.next_in = inlen ? (Bytef *)in : (Bytef *)&none;
	z->zs.avail_in = zstream_clamp(inlen);
	z->zs.next_out = out;
	z->zs.avail_out = zstream_clamp(outcap);
	/* The flush is asked for only with the last input and room for its
	 * marker: zlib adds a new marker at each call that fills the output
	 * during a flush, so with tiny room it would never finish. */
	bool flushing = flush && inlen <= UINT_MAX && outcap >= ZSTREAM_FLUSH_ROOM;
	int rc = deflate(&z->zs, flushing ? Z_SYNC_FLUSH : Z_NO_FLUSH);
	*consumed_r = zstream_clamp(inlen) - z->zs.avail_in;
	*produced_r = zstream_clamp(outcap) - z->zs.avail_out;
	if (rc != Z_OK && rc != Z_BUF_ERROR)
		return rc == Z_MEM_ERROR ? ZSTREAM_NOMEM : ZSTREAM_ERROR;
	/* zlib's rule: a flush is complete when it returns with room left
	 * in the output and nothing left of the input. */
	if (*consumed_r == inlen)
		*done_r = !flush || (flushing && z->zs.avail_out > 0);
	return ZSTREAM_OK;
}

size_t zstream_deflater_memory(const struct zstream_deflater *z)
{
	return z->mem;
}
