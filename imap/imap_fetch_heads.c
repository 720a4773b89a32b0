/* imap/imap_fetch_heads.c: the headers of a FETCH window for a FETCH
 * whose body items all want the message's own header (HEADER.FIELDS, as
 * clients list a mailbox: imap_fetch_att_head_only).  Such values are
 * built whole before they are sent, so no pin is needed: the contents of
 * the window's messages are read from their start up to their empty line
 * (mime_header_end, the parser's cut) in batches, one store read with
 * one cursor each (store_content_heads), and kept until the window moves
 * on; only the header of each is kept, not the rest of its chunks.  A batch stops at IMAP_FETCH_HEADS_BATCH octets; a
 * header longer than IMAP_FETCH_HEAD_MAX is left to the structure. */
#include <string.h>

#include "core/buf.h"
#include "core/mime.h"
#include "imap/imap_fetch.h"
#include "storage/storage.h"

void imap_fetch_heads_reset(struct imap_fetch_heads *h, size_t n)
{
	buf_reset(&h->data);
	h->n = n < IMAP_FETCH_HEADS_N ? n : IMAP_FETCH_HEADS_N;
	memset(h->e, 0, sizeof(h->e));
}

void imap_fetch_heads_free(struct imap_fetch_heads *h)
{
	buf_free(&h->data);
}

struct batch {
	struct imap_fetch_heads *h;
	size_t idx[IMAP_FETCH_HEADS_N];   /* batch index -> window index */
	size_t last_i;               /* the last call's content and offset, */
	uint64_t last_off;           /* to tell a retried read's first call */
	bool called;
};

static int batch_take(void *arg, size_t i, uint64_t off, const void *data, size_t len)
{
	struct batch *b = arg;
	struct imap_fetch_heads *h = b->h;
	struct imap_fetch_head *e = &h->e[b->idx[i]];
	/* A read that is retried starts again from its first content: a call
	 * that does not come after the last one is the new attempt's first. */
	if (b->called && (i < b->last_i || (i == b->last_i && off <= b->last_off)))
		buf_reset(&h->data);
	b->called = true;
	b->last_i = i;
	b->last_off = off;
	if (off == 0) {
		e->start = h->data.len;
		e->scan = 0;
		e->state = IMAP_HEAD_PARTIAL;
	}
	if (buf_append(&h->data, data, len) < 0)
		return -1;
	const char *p = h->data.data + e->start;
	size_t have = h->data.len - e->start;
	if (mime_header_end(p, have, &e->scan)) {
		e->len = e->scan;
		e->state = IMAP_HEAD_OK;
		h->data.len = e->start + e->len;   /* the header only, not its body */
		h->data.data[h->data.len] = '\0';  /* as buf keeps it */
	} else if (have >= IMAP_FETCH_HEAD_MAX) {
		e->state = IMAP_HEAD_LONG;
		h->data.len = e->start;             /* read the usual way: keep none */
		h->data.data[h->data.len] = '\0';
	} else {
		return 0;
	}
	/* this one is done; the batch ends when the buffer is full enough */
	return h->data.len >= IMAP_FETCH_HEADS_BATCH ? 2 : 1;
}

/* Reads the headers of the window's found messages from k on, as many as
 * a batch holds. */
static int batch_read(struct store *store, struct imap_fetch_heads *h,
		      const struct store_msg *win, const bool *found, size_t k)
{
	struct batch b = {.h = h};
	uint64_t ids[IMAP_FETCH_HEADS_N], sizes[IMAP_FETCH_HEADS_N];
	int status[IMAP_FETCH_HEADS_N];
	size_t n = 0;
	for (size_t j = k; j < h->n; j++) {
		if (!found[j])
			continue;
		b.idx[n] = j;
		ids[n] = win[j].content_id;
		sizes[n++] = win[j].size;
	}
	/* what a batch does not reach stays unread, for the next one */
	for (size_t j = k; j < h->n; j++)
		h->e[j].state = IMAP_HEAD_UNREAD;
	buf_reset(&h->data);
	int rc = store_content_heads(store, ids, sizes, n, batch_take, &b, status);
	if (rc != STORE_OK) {
		for (size_t j = k; j < h->n; j++)
			h->e[j].state = IMAP_HEAD_UNREAD;
		return rc;
	}
	for (size_t i = 0; i < n; i++) {
		struct imap_fetch_head *e = &h->e[b.idx[i]];
		if (status[i] == 1) {
			e->state = IMAP_HEAD_UNREAD;
		} else if (status[i] == STORE_ERR_NOTFOUND) {
			e->state = IMAP_HEAD_GONE;
		} else if (status[i] != STORE_OK) {
			e->state = IMAP_HEAD_ERROR;
			e->rc = status[i];
		} else if (sizes[i] == 0) {
			/* an empty message: an empty header */
			e->state = IMAP_HEAD_OK;
			e->start = h->data.len;
			e->len = 0;
		} else if (e->state == IMAP_HEAD_PARTIAL) {
			/* read to its end without an empty line: all header */
			e->state = IMAP_HEAD_OK;
			e->len = sizes[i];
		}
	}
	return STORE_OK;
}

int imap_fetch_heads_get(struct store *store, struct imap_fetch_heads *h,
			 const struct store_msg *win, const bool *found, size_t k,
			 const char **hdr_r, size_t *len_r)
{
	if (k >= h->n)
		return IMAP_HEAD_LONG;   /* not a window entry: the usual way */
	if (h->e[k].state == IMAP_HEAD_UNREAD) {
		int rc = batch_read(store, h, win, found, k);
		if (rc != STORE_OK)
			return rc;
	}
	const struct imap_fetch_head *e = &h->e[k];
	switch (e->state) {
	case IMAP_HEAD_OK:
		*hdr_r = h->data.data ? h->data.data + e->start : "";
		*len_r = e->len;
		return IMAP_HEAD_OK;
	case IMAP_HEAD_ERROR:
		return e->rc;
	case IMAP_HEAD_GONE:
	case IMAP_HEAD_LONG:
		return e->state;
	default:
		return STORE_ERR_CORRUPT;   /* a batch that read nothing for k */
	}
}
