/* tests/unit/test_storage_content.c: the content chunk layout (issue 11
 * point 6): room taken on disk, byte ranges read across every kind of chunk
 * boundary, contents written with the old (v1) layout still read and
 * deleted correctly, and the walk of a content's first chunks
 * (store_content_heads). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/storage.h"
#include "tests/unit/store_fixture.h"
#include "storage/storage_private.h"

struct fx {
	char dir[STORE_FIXTURE_DIR_MAX];
	struct store *s;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	if (store_fixture_open(f->dir, "content", &f->s) < 0 ||
	    store_user_add(f->s, "u@example.org", "", NULL) != STORE_OK)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	store_fixture_close(f->dir, &f->s);
	free(f);
	return 0;
}

static void pattern(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

static uint64_t deliver(struct store *s, const void *data, size_t len)
{
	const char *r[] = {"u@example.org"};
	int res[1];
	uint64_t cid = 0;
	struct store_delivery d = {.recipients = r, .nrecipients = 1, .data = data, .len = len};
	assert_int_equal(store_deliver(s, &d, res, &cid), STORE_OK);
	return cid;
}

static uint64_t file_size(const struct fx *f, const char *name)
{
	char path[128];
	struct stat st;
	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

/* Reads [off, off + n) for offsets around each boundary and compares. */
static void check_ranges(struct store *s, uint64_t cid, const uint8_t *data, size_t len,
			 const size_t *bounds, size_t nbounds)
{
	static const size_t lens[] = {1, 2, 3, STORE_CHUNK_SMALL, STORE_CHUNK_SMALL + 5,
				      STORE_CHUNK_BIG + 7, 3 * STORE_CHUNK_BIG};
	uint8_t *back = malloc(3 * STORE_CHUNK_BIG);
	assert_non_null(back);
	for (size_t b = 0; b < nbounds; b++) {
		for (int delta = -2; delta <= 1; delta++) {
			if ((long)bounds[b] + delta < 0)
				continue;
			size_t off = (size_t)((long)bounds[b] + delta);
			for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
				size_t want = off >= len ? 0 : len - off < lens[l] ? len - off : lens[l];
				size_t got = 12345;
				assert_int_equal(store_content_read(s, cid, off, back, lens[l], &got),
						 STORE_OK);
				assert_int_equal(got, want);
				if (want)
					assert_memory_equal(back, data + off, want);
			}
		}
	}
	free(back);
}

/* Streams the whole content in odd-sized steps, as RETR and FETCH do. */
static void check_stream(struct store *s, uint64_t cid, const uint8_t *data, size_t len)
{
	uint8_t *back = malloc(len + 7777);
	assert_non_null(back);
	size_t pos = 0, got;
	do {
		assert_int_equal(store_content_read(s, cid, pos, back + pos, 7777, &got), STORE_OK);
		pos += got;
	} while (got > 0);
	assert_int_equal(pos, len);
	assert_memory_equal(back, data, len);
	free(back);
}

/* 4 KiB messages used to take a whole 16 KiB overflow page each (4x);
 * the data file now holds at most 1.25x the bytes delivered, also for a
 * mix of sizes.  The file size is exact once a checkpoint wrote every
 * page. */
static void test_content_compact_on_disk(void **state)
{
	struct fx *f = *state;
	uint8_t *data = malloc(200000);
	assert_non_null(data);
	uint64_t delivered = 0;
	for (int i = 0; i < 400; i++) {
		pattern(data, 4096, (uint32_t)i);
		deliver(f->s, data, 4096);
		delivered += 4096;
	}
	assert_int_equal(store_checkpoint(f->s), STORE_OK);
	uint64_t fixed = file_size(f, "content_data.db");
	assert_true(fixed * 4 <= delivered * 5);

	uint32_t seed = 7;
	for (int i = 0; i < 200; i++) {
		seed = seed * 1103515245u + 12345u;
		size_t len = 1024 + (seed >> 8) % 199000;
		pattern(data, len, seed);
		deliver(f->s, data, len);
		delivered += len;
	}
	assert_int_equal(store_checkpoint(f->s), STORE_OK);
	assert_true(file_size(f, "content_data.db") * 4 <= delivered * 5);
	free(data);
}

/* Big chunks, then small ones for the tail: every boundary kind. */
static void test_content_ranges_layout(void **state)
{
	struct fx *f = *state;
	const size_t B = STORE_CHUNK_BIG, S = STORE_CHUNK_SMALL;
	const size_t len = 2 * B + 3 * S + 123;
	uint8_t *data = malloc(3 * B);   /* also holds the largest size below */
	assert_non_null(data);
	pattern(data, len, 42);
	uint64_t cid = deliver(f->s, data, len);
	const size_t bounds[] = {0, B, 2 * B, 2 * B + S, 2 * B + 2 * S, 2 * B + 3 * S, len};
	check_ranges(f->s, cid, data, len, bounds, sizeof(bounds) / sizeof(bounds[0]));
	check_stream(f->s, cid, data, len);

	/* A middle chunk of whole overflow pages between the big chunks and
	 * the small ones (meta v3). */
	const size_t P = STORE_CHUNK_PAGE, len2 = B + 2 * P + 3 * S + 7;
	pattern(data, len2, 43);
	cid = deliver(f->s, data, len2);
	const size_t bounds2[] = {0, B, B + P, B + 2 * P, B + 2 * P + S, B + 2 * P + 3 * S, len2};
	check_ranges(f->s, cid, data, len2, bounds2, sizeof(bounds2) / sizeof(bounds2[0]));
	check_stream(f->s, cid, data, len2);

	/* Sizes at the edges of the layout: only small chunks, exactly one
	 * page, big chunk, one big plus one byte, empty. */
	const size_t sizes[] = {1,     S - 1, S,     S + 1, 4096,  P - 1,     P,
				P + 1, 3 * P, B - 1, B,     B + 1, B + P + S, 3 * B, 0};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		pattern(data, sizes[i], (uint32_t)i);
		cid = deliver(f->s, sizes[i] ? data : NULL, sizes[i]);
		const size_t b2[] = {0, S, P, B, sizes[i]};
		check_ranges(f->s, cid, data, sizes[i], b2, 5);
		check_stream(f->s, cid, data, sizes[i]);
	}
	free(data);
}

/* The layout arithmetic alone, for v2 and v3: walking the chunks from
 * byte 0 meets each number once, in order, each from its offset 0 to its
 * length, and as many as store_content_chunks counts.  v2: big chunks,
 * then small ones, only the last short.  v3: small chunks (the last of
 * them may be short), then at most one middle chunk of whole pages, then
 * big chunks, all whole. */
static void test_content_layout_walk(void **state)
{
	(void)state;
	const uint64_t B = STORE_CHUNK_BIG, S = STORE_CHUNK_SMALL, P = STORE_CHUNK_PAGE;
	uint64_t *lens = malloc(128 * sizeof(*lens));
	assert_non_null(lens);
	for (uint32_t page = 0; page <= P; page += P) {
		for (uint64_t size = 1; size < 3 * B + 2; size += size < 3 * S ? 1 : 97) {
			struct store_content_meta c = {.size = size, .big = (uint32_t)B,
						       .small = (uint32_t)S, .page = page};
			uint64_t pos = 0, n = store_content_chunks(&c);
			uint32_t next = 0;
			while (pos < size) {
				uint32_t chunk, off, len, chunk2, off2, len2;
				store_content_locate(&c, pos, &chunk, &off, &len);
				assert_int_equal(chunk, next);
				assert_int_equal(off, 0);
				assert_true(len > 0 && pos + len <= size);
				store_content_locate(&c, pos + len - 1, &chunk2, &off2, &len2);
				assert_true(chunk2 == chunk && off2 == len - 1 && len2 == len);
				assert_true(next < 128);
				lens[next++] = len;
				pos += len;
			}
			assert_int_equal(next, n);
			uint32_t i = 0;
			if (!page) {
				while (i < next && lens[i] == B)
					i++;
				while (i + 1 < next && lens[i] == S)
					i++;
				assert_true(i == next || (i + 1 == next && lens[i] <= S));
				continue;
			}
			while (i < next && lens[i] == S)
				i++;
			if (i < next && lens[i] < S)
				i++;                      /* the short end of the small run */
			uint64_t tail = size % B;
			if (tail >= P) {
				assert_true(i < next && lens[i] == tail - tail % P);
				i++;
			}
			while (i < next && lens[i] == B)
				i++;
			assert_int_equal(i, next);
		}
	}
	free(lens);
}

/* ---- contents written before the layout changed ---- */

struct legacy_arg {
	const uint8_t *data;
	size_t len;
	uint64_t id;
	uint32_t chunks;
};

static void legacy_chunk_key(uint8_t *key, uint64_t id, uint32_t i)
{
	store_be64_put(key, id);
	store_be32_put(key + 8, i);
}

/* Writes a content as the v1 code did: 65,432-byte chunks and a v1 meta
 * record (version 1 | refcount | size | chunks). */
static int legacy_put_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct legacy_arg *a = arg;
	int rc = store_meta_next(s, txn, STORE_META_NEXT_CONTENT, &a->id);
	if (rc != STORE_OK)
		return rc;
	a->chunks = (uint32_t)((a->len + STORE_CHUNK_V1 - 1) / STORE_CHUNK_V1);
	for (uint32_t i = 0; i < a->chunks; i++) {
		size_t off = (size_t)i * STORE_CHUNK_V1;
		size_t n = a->len - off < STORE_CHUNK_V1 ? a->len - off : STORE_CHUNK_V1;
		uint8_t key[12];
		legacy_chunk_key(key, a->id, i);
		if ((rc = store_db_put(s, txn, SDB_CONTENT_DATA, key, 12, a->data + off, n, 0)) !=
		    STORE_OK)
			return rc;
	}
	uint8_t key[8], buf[32];
	struct store_enc e;
	store_enc_init(&e, buf, sizeof(buf));
	store_enc_u8(&e, 1);
	store_enc_u32(&e, 1);
	store_enc_u64(&e, a->len);
	store_enc_u32(&e, a->chunks);
	store_be64_put(key, a->id);
	return store_db_put(s, txn, SDB_CONTENT_META, key, 8, buf, e.len, 0);
}

static int legacy_release_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct legacy_arg *a = arg;
	return store_content_release(s, txn, a->id);
}

/* STORE_OK when no chunk of the content is left. */
static int legacy_gone_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct legacy_arg *a = arg;
	for (uint32_t i = 0; i < a->chunks; i++) {
		uint8_t key[12];
		legacy_chunk_key(key, a->id, i);
		if (store_db_exists(s, txn, SDB_CONTENT_DATA, key, 12) != STORE_ERR_NOTFOUND)
			return STORE_ERR_EXISTS;
	}
	return STORE_OK;
}

static void test_content_legacy_layout(void **state)
{
	struct fx *f = *state;
	const size_t C = STORE_CHUNK_V1;
	const size_t len = 2 * C + 4321;
	uint8_t *data = malloc(len);
	assert_non_null(data);
	pattern(data, len, 5);
	struct legacy_arg a = {.data = data, .len = len};
	assert_int_equal(store_txn_run(f->s, legacy_put_fn, &a), STORE_OK);
	assert_int_equal(a.chunks, 3);
	const size_t bounds[] = {0, STORE_CHUNK_SMALL, STORE_CHUNK_BIG, C, 2 * C, len};
	check_ranges(f->s, a.id, data, len, bounds, sizeof(bounds) / sizeof(bounds[0]));
	check_stream(f->s, a.id, data, len);

	/* New contents beside it use the new layout; both stay readable. */
	uint64_t cid = deliver(f->s, data, len);
	check_stream(f->s, cid, data, len);
	check_stream(f->s, a.id, data, len);

	/* The last reference deletes every old-sized chunk. */
	assert_int_equal(store_txn_run(f->s, legacy_release_fn, &a), STORE_OK);
	assert_int_equal(store_txn_run(f->s, legacy_gone_fn, &a), STORE_OK);
	size_t got;
	assert_int_equal(store_content_read(f->s, a.id, 0, data, 10, &got), STORE_ERR_NOTFOUND);
	free(data);
}

/* The meta record: v2 round trip, v1 read with the old chunk size, and
 * layouts that would send reads off the end refused. */
struct head_got {
	uint8_t *buf;
	size_t len, calls, stop_after;   /* stop_after: return 1 after so many calls */
	uint64_t last_off;
};

static int head_collect(void *arg, uint64_t off, const void *data, size_t len)
{
	struct head_got *g = arg;
	assert_int_equal(off, g->len);   /* in order, no gap (no retry here) */
	memcpy(g->buf + g->len, data, len);
	g->len += len;
	g->last_off = off;
	return ++g->calls == g->stop_after ? 1 : 0;
}

typedef int head_fn(void *arg, uint64_t off, const void *data, size_t len);
struct head_one {
	head_fn *fn;
	void *arg;
};

static int head_one_fn(void *arg, size_t i, uint64_t off, const void *data, size_t len)
{
	assert_int_equal(i, 0);
	struct head_one *h = arg;
	return h->fn(h->arg, off, data, len);
}

/* store_content_heads of one content: its status, or the read's error. */
static int store_content_head(struct store *s, uint64_t id, uint64_t size, head_fn *fn, void *arg)
{
	struct head_one h = {.fn = fn, .arg = arg};
	int status = -12345;
	int rc = store_content_heads(s, &id, &size, 1, head_one_fn, &h, &status);
	return rc == STORE_OK ? status : rc;
}

/* The walk passes every byte in order for any layout; stops when told;
 * gives NOTFOUND for a content that is gone or that ends before the size
 * its message records, never bytes of the next content. */
static void test_content_head(void **state)
{
	struct fx *f = *state;
	const size_t B = STORE_CHUNK_BIG, S = STORE_CHUNK_SMALL;
	const size_t sizes[] = {1,	   S - 1, S,	 S + 1,	      4096,
				STORE_CHUNK_PAGE + 1, B - 1, B, B + 1, 2 * B + 3 * S + 5};
	uint8_t *data = malloc(3 * B), *back = malloc(3 * B);
	assert_non_null(data);
	assert_non_null(back);
	uint64_t cids[sizeof(sizes) / sizeof(sizes[0])];
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		pattern(data, sizes[i], (uint32_t)i + 7);
		cids[i] = deliver(f->s, data, sizes[i]);
		struct head_got g = {.buf = back};
		assert_int_equal(store_content_head(f->s, cids[i], sizes[i], head_collect, &g),
				 STORE_OK);
		assert_int_equal(g.len, sizes[i]);
		assert_memory_equal(back, data, sizes[i]);

		/* enough after the first chunk: one call, one chunk */
		struct head_got one = {.buf = back, .stop_after = 1};
		assert_int_equal(store_content_head(f->s, cids[i], sizes[i], head_collect, &one),
				 STORE_OK);
		assert_int_equal(one.calls, 1);
		/* v3: the small chunks come first (the header's), then the
		 * middle chunk, then the big ones. */
		const size_t P = STORE_CHUNK_PAGE, tail = sizes[i] % B, rest = tail % P;
		assert_int_equal(one.len, rest ? (rest < S ? rest : S) : tail ? tail : B);
	}
	/* A size beyond the content: the walk meets the next content's first
	 * chunk (or the end) and says gone rather than read on into it. */
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct head_got g = {.buf = back};
		assert_int_equal(store_content_head(f->s, cids[i], sizes[i] + 1, head_collect, &g),
				 STORE_ERR_NOTFOUND);
	}
	/* A content that is not there, and the empty content. */
	struct head_got g = {.buf = back};
	assert_int_equal(store_content_head(f->s, cids[8] + 1000, 10, head_collect, &g),
			 STORE_ERR_NOTFOUND);
	assert_int_equal(store_content_head(f->s, cids[0], 0, head_collect, &g), STORE_OK);
	assert_int_equal(g.calls, 0);
	/* A size short of the content's bytes: damage, not a shorter read. */
	assert_int_equal(store_content_head(f->s, cids[4], 4000, head_collect, &g),
			 STORE_ERR_CORRUPT);
	free(data);
	free(back);
}

struct heads_got {
	uint8_t *buf[8];
	size_t len[8];
	size_t stop_at;              /* return 2 at the first chunk of this index */
};

static int heads_collect(void *arg, size_t i, uint64_t off, const void *data, size_t len)
{
	struct heads_got *g = arg;
	assert_true(i < 8);
	if (off == 0)
		g->len[i] = 0;
	assert_int_equal(off, g->len[i]);
	memcpy(g->buf[i] + g->len[i], data, len);
	g->len[i] += len;
	return i == g->stop_at ? 2 : 0;
}

/* Several contents in one walk: in and out of order, far apart, gone,
 * empty; and a batch that stops. */
static void test_content_heads(void **state)
{
	struct fx *f = *state;
	const size_t S = STORE_CHUNK_SMALL;
	const size_t sizes[] = {4096, 3 * S, 100, 20 * S + 7, 5000, 0};
	uint8_t *data[6];
	uint64_t cid[6];
	for (size_t i = 0; i < 6; i++) {
		data[i] = malloc(sizes[i] + 1);
		assert_non_null(data[i]);
		pattern(data[i], sizes[i], (uint32_t)(100 + i));
		cid[i] = deliver(f->s, sizes[i] ? data[i] : NULL, sizes[i]);
	}
	/* 0, 1 (next), 3 (after 2), 2 (backwards), 4 (after 3's 21 chunks),
	 * a content that is not there, 5 (empty), 0 again (backwards, far) */
	const size_t order[] = {0, 1, 3, 2, 4, 99, 5, 0};
	uint64_t ids[8], szs[8];
	int status[8];
	struct heads_got g = {.stop_at = 100};
	for (size_t k = 0; k < 8; k++) {
		size_t i = order[k];
		ids[k] = i == 99 ? cid[4] + 12345 : cid[i];
		szs[k] = i == 99 ? 10 : sizes[i];
		g.buf[k] = malloc(30 * S);
		assert_non_null(g.buf[k]);
	}
	assert_int_equal(store_content_heads(f->s, ids, szs, 8, heads_collect, &g, status),
			 STORE_OK);
	for (size_t k = 0; k < 8; k++) {
		size_t i = order[k];
		if (i == 99) {
			assert_int_equal(status[k], STORE_ERR_NOTFOUND);
			continue;
		}
		assert_int_equal(status[k], STORE_OK);
		assert_int_equal(g.len[k], sizes[i]);
		if (sizes[i])
			assert_memory_equal(g.buf[k], data[i], sizes[i]);
	}
	/* stop at the third: the rest is not reached */
	struct heads_got h = {.stop_at = 2};
	memcpy(h.buf, g.buf, sizeof(h.buf));
	assert_int_equal(store_content_heads(f->s, ids, szs, 8, heads_collect, &h, status),
			 STORE_OK);
	assert_int_equal(status[0], STORE_OK);
	assert_int_equal(status[1], STORE_OK);
	assert_int_equal(status[2], STORE_OK);   /* its first chunk was passed */
	for (size_t k = 3; k < 8; k++)
		assert_int_equal(status[k], 1);
	for (size_t k = 0; k < 8; k++)
		free(g.buf[k]);
	for (size_t i = 0; i < 6; i++)
		free(data[i]);
}

static void test_content_meta_codec(void **state)
{
	(void)state;
	uint8_t buf[64];
	struct store_content_meta cm = {.refcount = 2, .size = STORE_CHUNK_BIG + 2 * STORE_CHUNK_SMALL + 1,
					.big = STORE_CHUNK_BIG, .small = STORE_CHUNK_SMALL};
	cm.chunks = 4;
	size_t n = store_content_meta_encode(&cm, buf, sizeof(buf));
	struct store_content_meta cb;
	assert_int_equal(store_content_meta_decode(buf, n, &cb), STORE_OK);
	assert_int_equal(cb.refcount, 2);
	assert_true(cb.size == cm.size);
	assert_int_equal(cb.chunks, 4);
	assert_int_equal(cb.big, STORE_CHUNK_BIG);
	assert_int_equal(cb.small, STORE_CHUNK_SMALL);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(store_content_meta_decode(buf, i, &cb), STORE_ERR_CORRUPT);

	struct store_content_meta bad = cm;
	bad.chunks = 3;   /* inconsistent with the size */
	n = store_content_meta_encode(&bad, buf, sizeof(buf));
	assert_int_equal(store_content_meta_decode(buf, n, &cb), STORE_ERR_CORRUPT);
	bad = cm;
	bad.small = 0;
	n = store_content_meta_encode(&bad, buf, sizeof(buf));
	assert_int_equal(store_content_meta_decode(buf, n, &cb), STORE_ERR_CORRUPT);
	bad = cm;
	bad.big = bad.small - 1;   /* small chunks larger than big ones */
	n = store_content_meta_encode(&bad, buf, sizeof(buf));
	assert_int_equal(store_content_meta_decode(buf, n, &cb), STORE_ERR_CORRUPT);

	/* v3: the middle chunk's unit too; v2 (above) has none. */
	struct store_content_meta c3 = {.refcount = 1, .size = STORE_CHUNK_BIG + 2 * STORE_CHUNK_PAGE + 9,
					.big = STORE_CHUNK_BIG, .small = STORE_CHUNK_SMALL,
					.page = STORE_CHUNK_PAGE, .chunks = 3};
	n = store_content_meta_encode(&c3, buf, sizeof(buf));
	assert_int_equal(buf[0], 3);
	assert_int_equal(store_content_meta_decode(buf, n, &cb), STORE_OK);
	assert_int_equal(cb.page, STORE_CHUNK_PAGE);
	assert_int_equal(cb.chunks, 3);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(store_content_meta_decode(buf, i, &cb), STORE_ERR_CORRUPT);
	bad = c3;
	bad.page = STORE_CHUNK_SMALL - 1;   /* a unit smaller than a small chunk */
	n = store_content_meta_encode(&bad, buf, sizeof(buf));
	assert_int_equal(store_content_meta_decode(buf, n, &cb), STORE_ERR_CORRUPT);
	bad = c3;
	bad.page = STORE_CHUNK_BIG + 1;     /* larger than a big chunk */
	n = store_content_meta_encode(&bad, buf, sizeof(buf));
	assert_int_equal(store_content_meta_decode(buf, n, &cb), STORE_ERR_CORRUPT);
	bad = c3;
	bad.chunks = 4;                     /* v2's count for the same size */
	n = store_content_meta_encode(&bad, buf, sizeof(buf));
	assert_int_equal(store_content_meta_decode(buf, n, &cb), STORE_ERR_CORRUPT);

	/* v1: version | refcount | size | chunks, 65,432-byte chunks. */
	struct store_enc e;
	store_enc_init(&e, buf, sizeof(buf));
	store_enc_u8(&e, 1);
	store_enc_u32(&e, 3);
	store_enc_u64(&e, STORE_CHUNK_V1 + 1);
	store_enc_u32(&e, 2);
	assert_int_equal(store_content_meta_decode(buf, e.len, &cb), STORE_OK);
	assert_int_equal(cb.big, STORE_CHUNK_V1);
	assert_int_equal(cb.small, STORE_CHUNK_V1);
	assert_int_equal(cb.chunks, 2);
	buf[e.len - 1] = 3;
	assert_int_equal(store_content_meta_decode(buf, e.len, &cb), STORE_ERR_CORRUPT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_content_compact_on_disk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_content_ranges_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_content_legacy_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_content_head, setup, teardown),
		cmocka_unit_test_setup_teardown(test_content_heads, setup, teardown),
		cmocka_unit_test(test_content_meta_codec),
		cmocka_unit_test(test_content_layout_walk),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
