/* storage/storage_queue.c: the outbound queue: mail accepted for other
 * servers, kept durably (one record per accepted message, keyed by a
 * be64 id from a meta counter) with a reference on the message's content,
 * until a delivery agent (a later issue) sends or bounces it.
 *
 * Record: version | created i64 | content_id u64 | size u64 | attempts u32
 * | next_attempt i64 | sender str | nrecipients u32 | recipients str... |
 * last_error str, strings u16-length-prefixed. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storage/storage_private.h"

#define QUEUE_REC_VERSION 1
#define QUEUE_META_ID "queue_id"
/* Largest record: SMTP never takes more than 10000 recipients. */
#define QUEUE_MAX_RCPTS 10000
#define QUEUE_REC_MAX (64 + 2 * (STORE_ADDRESS_MAX + 2) + STORE_QUEUE_ERROR_MAX + \
		       (size_t)QUEUE_MAX_RCPTS * (STORE_ADDRESS_MAX + 2))

static void enc_str(struct store_enc *e, const char *s)
{
	size_t n = strlen(s);
	if (n > UINT16_MAX) {
		e->overflow = true;
		return;
	}
	store_enc_u16(e, (uint16_t)n);
	store_enc_bytes(e, s, n);
}

/* A u16-prefixed string into a malloc'd copy, or NULL (d->bad set). */
static char *dec_str(struct store_dec *d, size_t max)
{
	uint16_t n = store_dec_u16(d);
	const uint8_t *p = store_dec_bytes(d, n);
	if (!p || n > max || memchr(p, '\0', n)) {
		d->bad = true;
		return NULL;
	}
	char *s = malloc((size_t)n + 1);
	if (!s) {
		d->bad = true;
		return NULL;
	}
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

void store_queue_entry_clear(struct store_queue_entry *e)
{
	for (size_t i = 0; i < e->nrecipients; i++)
		free(e->recipients[i]);
	free(e->recipients);
	e->recipients = NULL;
	e->nrecipients = 0;
}

int store_queue_decode(uint64_t id, const void *p, size_t len, struct store_queue_entry *e)
{
	struct store_dec d;
	store_dec_init(&d, p, len);
	memset(e, 0, sizeof(*e));
	e->id = id;
	if (store_dec_u8(&d) != QUEUE_REC_VERSION)
		return STORE_ERR_CORRUPT;
	e->created = (int64_t)store_dec_u64(&d);
	e->content_id = store_dec_u64(&d);
	e->size = store_dec_u64(&d);
	e->attempts = store_dec_u32(&d);
	e->next_attempt = (int64_t)store_dec_u64(&d);
	char *sender = dec_str(&d, STORE_ADDRESS_MAX);
	if (sender) {
		memcpy(e->sender, sender, strlen(sender) + 1);
		free(sender);
	}
	uint32_t n = store_dec_u32(&d);
	if (d.bad || n == 0 || n > QUEUE_MAX_RCPTS)
		return STORE_ERR_CORRUPT;
	e->recipients = calloc(n, sizeof(*e->recipients));
	if (!e->recipients)
		return STORE_ERR_TEMP;
	for (uint32_t i = 0; i < n && !d.bad; i++) {
		e->recipients[i] = dec_str(&d, STORE_ADDRESS_MAX);
		if (e->recipients[i])
			e->nrecipients++;
	}
	char *err = dec_str(&d, STORE_QUEUE_ERROR_MAX);
	if (err) {
		memcpy(e->last_error, err, strlen(err) + 1);
		free(err);
	}
	if (d.bad || store_dec_finish(&d) != STORE_OK) {
		store_queue_entry_clear(e);
		return STORE_ERR_CORRUPT;
	}
	return STORE_OK;
}

int store_queue_put_txn(struct store *s, DB_TXN *txn, const struct store_delivery *d,
			uint64_t content_id)
{
	if (d->nremote == 0 || d->nremote > QUEUE_MAX_RCPTS)
		return STORE_ERR_INVALID;
	const char *sender = d->sender ? d->sender : "";
	if (strlen(sender) > STORE_ADDRESS_MAX)
		return STORE_ERR_INVALID;
	for (size_t i = 0; i < d->nremote; i++)
		if (!d->remote_recipients[i] || !d->remote_recipients[i][0] ||
		    strlen(d->remote_recipients[i]) > STORE_ADDRESS_MAX)
			return STORE_ERR_INVALID;
	uint64_t id;
	int rc = store_meta_next(s, txn, QUEUE_META_ID, &id);
	if (rc != STORE_OK)
		return rc;
	size_t cap = 64 + 2 * (STORE_ADDRESS_MAX + 2) + d->nremote * (STORE_ADDRESS_MAX + 2);
	uint8_t *buf = malloc(cap);
	if (!buf)
		return STORE_ERR_TEMP;
	int64_t now = (int64_t)time(NULL);
	struct store_enc e;
	store_enc_init(&e, buf, cap);
	store_enc_u8(&e, QUEUE_REC_VERSION);
	store_enc_u64(&e, (uint64_t)now);
	store_enc_u64(&e, content_id);
	store_enc_u64(&e, d->len);
	store_enc_u32(&e, 0);
	store_enc_u64(&e, (uint64_t)now);
	enc_str(&e, sender);
	store_enc_u32(&e, (uint32_t)d->nremote);
	for (size_t i = 0; i < d->nremote; i++)
		enc_str(&e, d->remote_recipients[i]);
	enc_str(&e, "");
	uint8_t key[8];
	store_be64_put(key, id);
	rc = e.overflow ? STORE_ERR_INVALID
			: store_db_put(s, txn, SDB_QUEUE, key, sizeof(key), buf, e.len, DB_NOOVERWRITE);
	free(buf);
	return rc == STORE_ERR_EXISTS ? STORE_ERR_CORRUPT : rc;
}

/* ---- reading ---- */

struct queue_read_arg {
	uint64_t id;                      /* get/remove */
	struct store_queue_entry *entries;
	size_t n, cap;
	struct store_queue_entry *one;
	uint8_t *buf;
};

static void read_arg_reset(struct queue_read_arg *a)
{
	for (size_t i = 0; i < a->n; i++)
		store_queue_entry_clear(&a->entries[i]);
	a->n = 0;
}

static int queue_list_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct queue_read_arg *a = arg;
	read_arg_reset(a);
	DBC *c;
	int rc = store_cursor_open(s, txn, SDB_QUEUE, &c);
	if (rc != STORE_OK)
		return rc;
	uint8_t key[8];
	size_t klen = 0, vlen;
	for (;;) {
		rc = store_cursor_get(s, c, key, sizeof(key), &klen, a->buf, QUEUE_REC_MAX, &vlen,
				      DB_NEXT);
		if (rc == STORE_ERR_NOTFOUND) {
			rc = STORE_OK;
			break;
		}
		if (rc != STORE_OK)
			break;
		if (klen != sizeof(key)) {
			rc = STORE_ERR_CORRUPT;
			break;
		}
		if (a->n == a->cap) {
			size_t ncap = a->cap ? a->cap * 2 : 16;
			struct store_queue_entry *ne = realloc(a->entries, ncap * sizeof(*ne));
			if (!ne) {
				rc = STORE_ERR_TEMP;
				break;
			}
			a->entries = ne;
			a->cap = ncap;
		}
		rc = store_queue_decode(store_be64_get(key), a->buf, vlen, &a->entries[a->n]);
		if (rc != STORE_OK)
			break;
		a->n++;
	}
	return store_cursor_close(s, c, rc);
}

int store_queue_list(struct store *s, int (*cb)(void *arg, const struct store_queue_entry *e),
		     void *cb_arg)
{
	struct queue_read_arg a = {0};
	a.buf = malloc(QUEUE_REC_MAX);
	if (!a.buf)
		return STORE_ERR_TEMP;
	/* One consistent snapshot; the queue is small next to the store. */
	int rc = store_txn_run(s, queue_list_fn, &a);
	for (size_t i = 0; i < a.n && rc == STORE_OK; i++)
		rc = cb(cb_arg, &a.entries[i]);
	read_arg_reset(&a);
	free(a.entries);
	free(a.buf);
	return rc;
}

static int count_cb(void *arg, const struct store_queue_entry *e)
{
	(void)e;
	(*(uint64_t *)arg)++;
	return STORE_OK;
}

int store_queue_count(struct store *s, uint64_t *n_r)
{
	*n_r = 0;
	int rc = store_queue_list(s, count_cb, n_r);
	if (rc != STORE_OK)
		*n_r = 0;
	return rc;
}

static int queue_get_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct queue_read_arg *a = arg;
	uint8_t key[8];
	size_t vlen;
	store_be64_put(key, a->id);
	store_queue_entry_clear(a->one);
	int rc = store_db_get(s, txn, SDB_QUEUE, key, sizeof(key), a->buf, QUEUE_REC_MAX, &vlen, 0);
	if (rc == STORE_OK)
		rc = store_queue_decode(a->id, a->buf, vlen, a->one);
	return rc;
}

int store_queue_get(struct store *s, uint64_t id, struct store_queue_entry *e_r)
{
	struct queue_read_arg a = {.id = id, .one = e_r};
	memset(e_r, 0, sizeof(*e_r));
	a.buf = malloc(QUEUE_REC_MAX);
	if (!a.buf)
		return STORE_ERR_TEMP;
	int rc = store_txn_run(s, queue_get_fn, &a);
	free(a.buf);
	return rc;
}

static int queue_remove_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct queue_read_arg *a = arg;
	uint8_t key[8];
	size_t vlen;
	store_be64_put(key, a->id);
	store_queue_entry_clear(a->one);
	int rc = store_db_get(s, txn, SDB_QUEUE, key, sizeof(key), a->buf, QUEUE_REC_MAX, &vlen,
			      DB_RMW);
	if (rc == STORE_OK)
		rc = store_queue_decode(a->id, a->buf, vlen, a->one);
	if (rc == STORE_OK)
		rc = store_db_del(s, txn, SDB_QUEUE, key, sizeof(key));
	if (rc == STORE_OK)
		rc = store_content_release(s, txn, a->one->content_id);
	return rc;
}

int store_queue_remove(struct store *s, uint64_t id)
{
	struct store_queue_entry e = {0};
	struct queue_read_arg a = {.id = id, .one = &e};
	a.buf = malloc(QUEUE_REC_MAX);
	if (!a.buf)
		return STORE_ERR_TEMP;
	int rc = store_txn_run(s, queue_remove_fn, &a);
	store_queue_entry_clear(&e);
	free(a.buf);
	return rc;
}
