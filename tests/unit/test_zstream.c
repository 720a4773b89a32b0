/* tests/unit/test_zstream.c: core/zstream.c, the raw DEFLATE streams of
 * the compression layer (IMAP COMPRESS, RFC 4978).  Batches from one
 * deflater, each begun afresh and flushed, join into one stream that a
 * single inflater reads back, whatever the room given at each step (down
 * to one byte); the inflater never produces more than the room given, so
 * a bomb costs only that; corrupt data and data after a final block are
 * errors with a reason; the memory each stream holds is what the design
 * says (an inflater about 40 KiB, a deflater about 270 KiB). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/zstream.h"

/* IMAP-like text with repeats and some noise. */
static unsigned char *sample(size_t n, unsigned seed)
{
	unsigned char *p = malloc(n);
	assert_non_null(p);
	static const char words[] = "* 12 FETCH (FLAGS (\\Seen) UID 4711)\r\nSubject: hello ";
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (seed >> 24) % 7 == 0 ? (unsigned char)(seed >> 16) : (unsigned char)words[i % (sizeof(words) - 1)];
	}
	return p;
}

/* Deflate in[0..n) as one batch, out room `step` bytes a call. */
static size_t deflate_batch(struct zstream_deflater *d, const unsigned char *in, size_t n,
			    unsigned char *out, size_t cap, size_t step)
{
	zstream_deflate_begin(d);
	size_t pos = 0, len = 0, calls = 0;
	for (;;) {
		size_t room = cap - len < step ? cap - len : step;
		assert_true(room > 0);
		/* Room under ZSTREAM_FLUSH_ROOM drains output but cannot end
		 * the flush: every tenth call gets enough. */
		if (room < ZSTREAM_FLUSH_ROOM && ++calls % 10 == 0 && cap - len >= ZSTREAM_FLUSH_ROOM)
			room = ZSTREAM_FLUSH_ROOM;
		size_t used, made;
		bool done;
		assert_int_equal(zstream_deflate(d, in + pos, n - pos, &used, out + len, room, &made,
						 true, &done),
				 ZSTREAM_OK);
		pos += used;
		len += made;
		if (done)
			break;
	}
	assert_int_equal(pos, n);
	/* A sync flush ends every batch: an empty stored block. */
	assert_true(len >= 4);
	assert_memory_equal(out + len - 4, "\x00\x00\xff\xff", 4);
	return len;
}

/* Inflate all of in with room `room` per call, in input pieces of `piece`. */
static size_t inflate_all(struct zstream_inflater *z, const unsigned char *in, size_t n,
			  unsigned char *out, size_t cap, size_t piece, size_t room)
{
	size_t pos = 0, len = 0;
	for (;;) {
		size_t give = n - pos < piece ? n - pos : piece;
		size_t r = cap - len < room ? cap - len : room;
		size_t used, made;
		const char *err;
		enum zstream_rc rc = zstream_inflate(z, in + pos, give, &used, out + len, r, &made, &err);
		assert_int_equal(rc, ZSTREAM_OK);
		assert_true(made <= r);
		pos += used;
		len += made;
		if (used == 0 && made == 0 && (pos == n || r == 0))
			break;
	}
	assert_int_equal(pos, n);
	return len;
}

static void test_batches_join_into_one_stream(void **state)
{
	(void)state;
	struct zstream_deflater *d = zstream_deflater_new(6);
	struct zstream_inflater *z = zstream_inflater_new();
	assert_non_null(d);
	assert_non_null(z);
	static const size_t sizes[] = {1, 40, 5000, 70000, 0, 300000, 17};
	static const size_t steps[] = {1, 8, 64 * 1024};
	for (size_t si = 0; si < sizeof(steps) / sizeof(steps[0]); si++) {
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			size_t n = sizes[i];
			unsigned char *in = sample(n ? n : 1, (unsigned)(i * 31 + si));
			size_t cap = n + n / 8 + 64;
			unsigned char *c = malloc(cap), *back = malloc(n + 1);
			size_t clen = deflate_batch(d, in, n, c, cap, steps[si]);
			/* The receiver has every byte of the batch, no more input
			 * needed: what a client waiting on a reply relies on. */
			size_t blen = inflate_all(z, c, clen, back, n + 1, si == 0 ? 1 : clen,
						  si == 0 ? 1 : n + 1);
			assert_int_equal(blen, n);
			assert_memory_equal(back, in, n);
			free(in);
			free(c);
			free(back);
		}
	}
	/* Per connection: the state and the 32 KiB window. */
	size_t im = zstream_inflater_memory(z);
	assert_true(im >= 32 * 1024 && im <= 48 * 1024);
	/* Per loop: window, hash chains, pending buffer. */
	size_t dm = zstream_deflater_memory(d);
	assert_true(dm >= 256 * 1024 && dm <= 300 * 1024);
	zstream_deflater_free(&d);
	zstream_inflater_free(&z);
	assert_null(d);
	assert_null(z);
}

/* 64 MiB of one byte compress to about 64 KiB: each call gives at most
 * the room offered, and the inflater holds only its window. */
static void test_bomb_is_bounded_by_room(void **state)
{
	(void)state;
	struct zstream_deflater *d = zstream_deflater_new(9);
	size_t n = 1024 * 1024;
	unsigned char *a = malloc(n);
	memset(a, 'a', n);
	size_t cap = 256 * 1024, clen = 0;
	unsigned char *c = malloc(cap);
	zstream_deflate_begin(d);
	for (int i = 0; i < 64; i++) {
		size_t used, made;
		bool done;
		assert_int_equal(zstream_deflate(d, a, n, &used, c + clen, cap - clen, &made, i == 63,
						 &done),
				 ZSTREAM_OK);
		assert_int_equal(used, n);
		assert_true(done);
		clen += made;
	}
	assert_true(clen < 128 * 1024);
	struct zstream_inflater *z = zstream_inflater_new();
	unsigned char out[4096];
	size_t pos = 0, total = 0;
	for (;;) {
		size_t used, made;
		const char *err;
		assert_int_equal(zstream_inflate(z, c + pos, clen - pos, &used, out, sizeof(out), &made,
						 &err),
				 ZSTREAM_OK);
		assert_true(made <= sizeof(out));
		pos += used;
		total += made;
		if (used == 0 && made == 0)
			break;
	}
	assert_int_equal(total, 64 * n);
	assert_true(zstream_inflater_memory(z) <= 48 * 1024);
	zstream_inflater_free(&z);
	zstream_deflater_free(&d);
	free(a);
	free(c);
}

static void test_corrupt_stream_is_an_error(void **state)
{
	(void)state;
	struct zstream_inflater *z = zstream_inflater_new();
	/* BTYPE 11 is reserved (RFC 1951 3.2.3). */
	static const unsigned char bad[] = {0xff, 0xff, 0xff, 0xff};
	unsigned char out[64];
	size_t used, made;
	const char *err = NULL;
	assert_int_equal(zstream_inflate(z, bad, sizeof(bad), &used, out, sizeof(out), &made, &err),
			 ZSTREAM_ERROR);
	assert_non_null(err);
	assert_int_equal(made, 0);
	zstream_inflater_free(&z);

	/* A stored block whose length and its complement disagree. */
	z = zstream_inflater_new();
	static const unsigned char stored[] = {0x00, 0x05, 0x00, 0x00, 0x00, 'h', 'e', 'l', 'l', 'o'};
	assert_int_equal(zstream_inflate(z, stored, sizeof(stored), &used, out, sizeof(out), &made,
					 &err),
			 ZSTREAM_ERROR);
	zstream_inflater_free(&z);
}

static void test_data_after_final_block(void **state)
{
	(void)state;
	/* "hi" in a final block (zlib, Z_FINISH), then one more byte. */
	z_stream zs = {0};
	assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
	unsigned char c[64];
	zs.next_in = (Bytef *)"hi";
	zs.avail_in = 2;
	zs.next_out = c;
	zs.avail_out = sizeof(c) - 1;
	assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
	size_t clen = sizeof(c) - 1 - zs.avail_out;
	deflateEnd(&zs);
	c[clen++] = 'x';

	struct zstream_inflater *z = zstream_inflater_new();
	unsigned char out[16];
	size_t used, made;
	const char *err;
	assert_int_equal(zstream_inflate(z, c, clen, &used, out, sizeof(out), &made, &err),
			 ZSTREAM_END);
	assert_int_equal(made, 2);
	assert_memory_equal(out, "hi", 2);
	assert_int_equal(used, clen - 1);
	/* Nothing more is fine; anything more is not. */
	assert_int_equal(zstream_inflate(z, c, 0, &used, out, sizeof(out), &made, &err), ZSTREAM_END);
	assert_int_equal(zstream_inflate(z, c + clen - 1, 1, &used, out, sizeof(out), &made, &err),
			 ZSTREAM_ERROR);
	assert_non_null(err);
	zstream_inflater_free(&z);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_batches_join_into_one_stream),
		cmocka_unit_test(test_bomb_is_bounded_by_room),
		cmocka_unit_test(test_corrupt_stream_is_an_error),
		cmocka_unit_test(test_data_after_final_block),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
