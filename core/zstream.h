/* core/zstream.h: raw DEFLATE streams (RFC 1951, no zlib or gzip wrapper)
 * over byte buffers, for a connection's compression layer
 * (core/conn_deflate.c, which IMAP COMPRESS=DEFLATE uses, RFC 4978).  No
 * I/O and no libevent: the unit test and the fuzzer drive these directly.
 *
 * The inflater belongs to one connection: the peer's stream may refer back
 * to anything in its last 32 KiB, so that window lives as long as the
 * connection.  The deflater is reusable: each batch of output starts with
 * an empty dictionary and ends with a sync flush, so a batch never refers
 * to an earlier one and one deflater can serve every connection of a loop
 * in turn (docs/architecture.md, "Compression"). */
#ifndef POSTINO_ZSTREAM_H
#define POSTINO_ZSTREAM_H

#include <stdbool.h>
#include <stddef.h>

enum zstream_rc {
	ZSTREAM_OK,      /* progress made, or none possible (more input or room needed) */
	ZSTREAM_END,     /* the peer ended its stream (a final block) */
	ZSTREAM_ERROR,   /* corrupt data, or input after the end */
	ZSTREAM_NOMEM,
};

struct zstream_inflater;
struct zstream_deflater;

/* NULL when out of memory.  The 32 KiB window is allocated by zlib at the
 * first output. */
struct zstream_inflater *zstream_inflater_new(void);
void zstream_inflater_free(struct zstream_inflater **zp);
/* Inflate from in[0..inlen) into out[0..outcap): never more than outcap
 * bytes, whatever the input expands to.  *consumed_r and *produced_r say
 * how far it got; both 0 means nothing more can be done without more
 * input or room.  On ZSTREAM_ERROR, *err_r says why (static text). */
enum zstream_rc zstream_inflate(struct zstream_inflater *z, const void *in, size_t inlen,
				size_t *consumed_r, void *out, size_t outcap, size_t *produced_r,
				const char **err_r);
/* Bytes zlib holds for this inflater (state and window). */
size_t zstream_inflater_memory(const struct zstream_inflater *z);

/* level: zlib's 1 (fast) .. 9 (small). */
struct zstream_deflater *zstream_deflater_new(int level);
void zstream_deflater_free(struct zstream_deflater **zp);
/* Start a batch: the dictionary of the previous one is forgotten. */
void zstream_deflate_begin(struct zstream_deflater *z);
/* Compress in[0..inlen) into out[0..outcap).  With `flush`, in is the end
 * of the batch: once everything is out, *done_r is set and the output
 * ends on a byte boundary with an empty stored block (a sync flush), so
 * the receiver can inflate every byte of the batch.  Without it, *done_r
 * is set once all of in is consumed.  Call again with the rest of in (and
 * new room) until *done_r; a flush finishes only in a call given at least
 * ZSTREAM_FLUSH_ROOM bytes of room. */
#define ZSTREAM_FLUSH_ROOM 8
enum zstream_rc zstream_deflate(struct zstream_deflater *z, const void *in, size_t inlen,
				size_t *consumed_r, void *out, size_t outcap, size_t *produced_r,
				bool flush, bool *done_r);
size_t zstream_deflater_memory(const struct zstream_deflater *z);

#endif
