/* core/conn_deflate.c: a connection's compression layer: raw DEFLATE in
 * both directions (RFC 1951), turned on by a front-end once it has
 * written its go-ahead (IMAP COMPRESS=DEFLATE, RFC 4978; nothing here is
 * IMAP's).  It sits above whatever carries the bytes, socket or TLS
 * filter, so data is compressed before it is encrypted (RFC 4978 3).
 *
 * Input: the bytes below are inflated into `in`, from which conn's line
 * and raw readers take (conn_input), never more than the read high-water
 * mark (conn_read_high) ahead of them.  So a bomb (a few KiB that inflate
 * to a gigabyte of one line) costs the memory that line would cost
 * uncompressed: conn discards the over-long line as it goes, and the
 * session's line and literal limits and the input budget see the
 * decompressed bytes, since they are all the session ever sees.
 *
 * Output: front-ends write into `out`; at the end of the callback that
 * wrote (event_active, as the plaintext writer does), it is deflated into
 * the layer below in batches of at most 64 KiB, each ended with a sync
 * flush (RFC 4978 4), so a reply or an IDLE update never waits in the
 * compressor.  `out`
 * counts in conn_output_pending like every other layer, so streaming
 * (on_drain) works the same compressed or not.
 *
 * Memory: the inflater is the connection's (zlib state and its 32 KiB
 * window, about 40 KiB).  The deflater is the loop's: each batch starts
 * with an empty dictionary and ends flushed, so it needs nothing from the
 * last one, and a loop compresses one batch at a time; its ~270 KiB are
 * paid once per loop, not per session (docs/architecture.md,
 * "Compression"). */
#include <stdlib.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "core/conn_private.h"
#include "core/server_private.h"
#include "core/zstream.h"

/* zlib's default trade of CPU against size (tests/bench/bench_compress.py). */
#define CONN_DEFLATE_LEVEL 6
/* Inflate and deflate in steps of this much output room. */
#define CONN_DEFLATE_STEP (16 * 1024)
/* Most output one batch compresses: zlib takes about 3 ms for 64 KiB of
 * incompressible data (a base64 attachment) at level 6 on a loaded
 * 2-core machine, the order of the IMAP work slice (IMAP_SLICE_US); the
 * rest waits for the loop's next turn.  The flush ending each batch costs
 * 4 or 5 bytes. */
#define CONN_DEFLATE_SLICE (64 * 1024)

struct conn_deflate {
	struct evbuffer *in;                /* inflated input, for conn's readers */
	struct evbuffer *out;               /* output not compressed yet */
	struct evbuffer_cb_entry *out_watch;
	struct event *flush;                /* compress `out`, in this loop pass */
	struct zstream_inflater *inflater;
};

/* Something was written: compress the batch once the writer's callback
 * is over. */
static void conn_deflate_out_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
				void *arg)
{
	struct conn *c = arg;
	(void)buf;
	if (info->n_added > 0)
		event_active(c->z->flush, EV_WRITE, 1);
}

/* The loop's deflater, made at its first use. */
static struct zstream_deflater *conn_deflater(struct conn *c)
{
	if (!c->loop->deflater)
		c->loop->deflater = zstream_deflater_new(CONN_DEFLATE_LEVEL);
	return c->loop->deflater;
}

/* Deflate up to CONN_DEFLATE_SLICE of `out` into the output of the layer
 * below, as one batch ending in a sync flush. */
static int conn_deflate_batch(struct conn *c)
{
	struct conn_deflate *z = c->z;
	struct zstream_deflater *d = conn_deflater(c);
	if (!d)
		return -1;
	struct evbuffer *dst = bufferevent_get_output(c->bev);
	size_t left = evbuffer_get_length(z->out);
	if (left > CONN_DEFLATE_SLICE)
		left = CONN_DEFLATE_SLICE;
	zstream_deflate_begin(d);
	for (;;) {
		struct evbuffer_iovec src = {NULL, 0};
		if (left > 0 && evbuffer_peek(z->out, -1, NULL, &src, 1) < 1)
			return -1;
		if (src.iov_len > left)
			src.iov_len = left;
		bool last = src.iov_len == left;
		struct evbuffer_iovec room;
		if (evbuffer_reserve_space(dst, CONN_DEFLATE_STEP, &room, 1) < 1)
			return -1;
		size_t used, made;
		bool done;
		enum zstream_rc rc = zstream_deflate(d, src.iov_base, src.iov_len, &used,
						     room.iov_base, room.iov_len, &made, last, &done);
		room.iov_len = made;
		if (rc != ZSTREAM_OK || evbuffer_commit_space(dst, &room, 1) < 0)
			return -1;
		evbuffer_drain(z->out, used);
		left -= used;
		if (done && last)
			return 0;
	}
}

static void conn_deflate_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	(void)fd;
	(void)what;
	if (evbuffer_get_length(c->z->out) == 0)
		return;
	if (conn_is_failed(c)) {
		/* The peer is gone: nothing more can be sent. */
		evbuffer_drain(c->z->out, evbuffer_get_length(c->z->out));
		return;
	}
	if (conn_deflate_batch(c) < 0) {
		conn_log(c, PLOG_WARN, "compress error=\"out of memory\"");
		conn_fail(c, "compress failed");
		return;
	}
	/* The rest after the loop's other connections had their turn (a zero
	 * timeout runs after the next poll), as a long command yields. */
	if (evbuffer_get_length(c->z->out) > 0) {
		static const struct timeval now = {0, 0};
		event_add(c->z->flush, &now);
	}
}

int conn_deflate_start(struct conn *c)
{
	struct conn_deflate *z = calloc(1, sizeof(*z));
	if (!z)
		return -1;
	c->z = z;
	z->in = evbuffer_new();
	z->out = evbuffer_new();
	z->flush = event_new(c->loop->base, -1, 0, conn_deflate_flush_cb, c);
	z->inflater = zstream_inflater_new();
	if (z->in && z->out)
		z->out_watch = evbuffer_add_cb(z->out, conn_deflate_out_cb, c);
	if (!z->out_watch || !z->flush || !z->inflater) {
		conn_deflate_free(c);
		return -1;
	}
	return 0;
}

void conn_deflate_free(struct conn *c)
{
	struct conn_deflate *z = c->z;
	if (!z)
		return;
	if (z->out_watch)
		evbuffer_remove_cb_entry(z->out, z->out_watch);
	if (z->in)
		evbuffer_free(z->in);
	if (z->out)
		evbuffer_free(z->out);
	if (z->flush)
		event_free(z->flush);
	zstream_inflater_free(&z->inflater);
	free(z);
	c->z = NULL;
}

struct evbuffer *conn_input(const struct conn *c)
{
	return c->z ? c->z->in : bufferevent_get_input(c->bev);
}

struct evbuffer *conn_output(const struct conn *c)
{
	return c->z ? c->z->out : bufferevent_get_output(c->bev);
}

size_t conn_deflate_unsent(const struct conn *c)
{
	return c->z ? evbuffer_get_length(c->z->out) : 0;
}

int conn_deflate_fill(struct conn *c, size_t high, size_t *produced_r)
{
	struct conn_deflate *z = c->z;
	struct evbuffer *src = bufferevent_get_input(c->bev);
	*produced_r = 0;
	for (;;) {
		size_t have = evbuffer_get_length(z->in);
		if (have >= high)
			return 0;
		size_t want = high - have;
		if (want > CONN_DEFLATE_STEP)
			want = CONN_DEFLATE_STEP;
		/* Also with no input left: a long match may still be coming
		 * out of the inflater's window. */
		struct evbuffer_iovec v = {NULL, 0};
		if (evbuffer_peek(src, -1, NULL, &v, 1) < 1)
			v.iov_len = 0;
		struct evbuffer_iovec room;
		if (evbuffer_reserve_space(z->in, want, &room, 1) < 1)
			return -1;
		if (room.iov_len > want)
			room.iov_len = want;
		size_t used, made;
		const char *err;
		enum zstream_rc rc = zstream_inflate(z->inflater, v.iov_base, v.iov_len, &used,
						     room.iov_base, room.iov_len, &made, &err);
		room.iov_len = made;
		evbuffer_commit_space(z->in, &room, 1);
		evbuffer_drain(src, used);
		*produced_r += made;
		if (rc == ZSTREAM_ERROR || rc == ZSTREAM_NOMEM) {
			conn_log(c, PLOG_WARN, "compress error=\"%s\" dropped=%zu", err,
				 evbuffer_get_length(src));
			return -1;
		}
		if (used == 0 && made == 0)
			return 0;
	}
}
