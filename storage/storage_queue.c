/* storage/storage_queue.c: the outbound queue: mail accepted for other
 * servers, kept durably (one record per accepted message, keyed by a
 * be64 id from a meta counter) with a reference on the message's content,
 * until the queue runner (smtp/smtp_queue.c) has delivered or bounced
 * every recipient (store_queue_update).
 *
 * Record v2: version | created i64 | content_id u64 | size u64
 * | attempts u32 | next_attempt i64 | flags u32 | ret u8 | sender str
 * | envid str | last_error str | nrecipients u32 | per recipient:
 * address str, orcpt str, notify u8, code u16, status str, reply str.
 * Strings are u16-length-prefixed.  Version 1 records (before DSN
 * parameters existed: no flags, ret, envid, and recipients as bare
 * addresses followed by last_error) are still read. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storage/storage_private.h"

#define QUEUE_REC_V1 1
#define QUEUE_REC_VERSION 2
#define QUEUE_META_ID "queue_id"
/* Bumped by every reschedule, so a daemon notices another process's
 * `queue flush` at once (store_queue_generation). */
#define QUEUE_META_GEN "queue_gen"
/* Largest record: SMTP never takes more than 10000 recipients. */
#define QUEUE_MAX_RCPTS 10000
#define QUEUE_RCPT_MAX (STORE_ADDRESS_MAX + STORE_ORCPT_MAX + 16 + STORE_QUEUE_REPLY_MAX + 16)
#define QUEUE_REC_MAX (64 + STORE_ADDRESS_MAX + STORE_ENVID_MAX + STORE_QUEUE_ERROR_MAX + 16 + \
		       (size_t)QUEUE_MAX_RCPTS * QUEUE_RCPT_MAX)

static void enc_str(struct store_enc *e, const char *s)
{
	size_t n = s ? strlen(s) : 0;
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

/* A u16-prefixed string into a fixed buffer of cap bytes. */
static void dec_str_into(struct store_dec *d, char *out, size_t cap)
{
	char *v = dec_str(d, cap - 1);
	if (v) {
		memcpy(out, v, strlen(v) + 1);
		free(v);
	}
}

/* "" decodes to NULL: absent and empty are the same here. */
static char *dec_opt(struct store_dec *d, size_t max)
{
	char *v = dec_str(d, max);
	if (v && !v[0]) {
		free(v);
		return NULL;
	}
	return v;
}

void store_queue_entry_clear(struct store_queue_entry *e)
{
	for (size_t i = 0; i < e->nrecipients; i++) {
		free(e->recipients[i]);
		if (e->rcpt) {
			free(e->rcpt[i].orcpt);
			free(e->rcpt[i].reply);
		}
	}
	free(e->recipients);
	free(e->rcpt);
	e->recipients = NULL;
	e->rcpt = NULL;
	e->nrecipients = 0;
}

int store_queue_decode(uint64_t id, const void *p, size_t len, struct store_queue_entry *e)
{
	struct store_dec d;
	store_dec_init(&d, p, len);
	memset(e, 0, sizeof(*e));
	e->id = id;
	uint8_t version = store_dec_u8(&d);
	if (version != QUEUE_REC_V1 && version != QUEUE_REC_VERSION)
		return STORE_ERR_CORRUPT;
	e->created = (int64_t)store_dec_u64(&d);
	e->content_id = store_dec_u64(&d);
	e->size = store_dec_u64(&d);
	e->attempts = store_dec_u32(&d);
	e->next_attempt = (int64_t)store_dec_u64(&d);
	if (version >= 2) {
		e->flags = store_dec_u32(&d);
		e->ret = store_dec_u8(&d);
	}
	dec_str_into(&d, e->sender, sizeof(e->sender));
	if (version >= 2) {
		dec_str_into(&d, e->envid, sizeof(e->envid));
		dec_str_into(&d, e->last_error, sizeof(e->last_error));
	}
	uint32_t n = store_dec_u32(&d);
	if (d.bad || n == 0 || n > QUEUE_MAX_RCPTS)
		return STORE_ERR_CORRUPT;
	e->recipients = calloc(n, sizeof(*e->recipients));
	e->rcpt = calloc(n, sizeof(*e->rcpt));
	if (!e->recipients || !e->rcpt) {
		store_queue_entry_clear(e);
		return STORE_ERR_TEMP;
	}
	for (uint32_t i = 0; i < n && !d.bad; i++) {
		e->recipients[i] = dec_str(&d, STORE_ADDRESS_MAX);
		if (!e->recipients[i])
			break;
		e->nrecipients++;
		if (version < 2)
			continue;
		struct store_queue_rcpt *r = &e->rcpt[i];
		r->orcpt = dec_opt(&d, STORE_ORCPT_MAX);
		r->notify = store_dec_u8(&d);
		r->code = store_dec_u16(&d);
		dec_str_into(&d, r->status, sizeof(r->status));
		r->reply = dec_opt(&d, STORE_QUEUE_REPLY_MAX);
	}
	if (version < 2)
		dec_str_into(&d, e->last_error, sizeof(e->last_error));
	if (d.bad || store_dec_finish(&d) != STORE_OK) {
		store_queue_entry_clear(e);
		return STORE_ERR_CORRUPT;
	}
	return STORE_OK;
}

/* Bytes an encoding of e may take. */
static size_t queue_enc_cap(const struct store_queue_entry *e)
{
	return 64 + 2 * STORE_ADDRESS_MAX + STORE_ENVID_MAX + STORE_QUEUE_ERROR_MAX +
	       e->nrecipients * QUEUE_RCPT_MAX;
}

/* The record of e into a malloc'd buffer; *len_r its length. */
static int queue_encode(const struct store_queue_entry *e, uint8_t **buf_r, size_t *len_r)
{
	size_t cap = queue_enc_cap(e);
	uint8_t *buf = malloc(cap);
	if (!buf)
		return STORE_ERR_TEMP;
	struct store_enc en;
	store_enc_init(&en, buf, cap);
	store_enc_u8(&en, QUEUE_REC_VERSION);
	store_enc_u64(&en, (uint64_t)e->created);
	store_enc_u64(&en, e->content_id);
	store_enc_u64(&en, e->size);
	store_enc_u32(&en, e->attempts);
	store_enc_u64(&en, (uint64_t)e->next_attempt);
	store_enc_u32(&en, e->flags);
	store_enc_u8(&en, e->ret);
	enc_str(&en, e->sender);
	enc_str(&en, e->envid);
	enc_str(&en, e->last_error);
	store_enc_u32(&en, (uint32_t)e->nrecipients);
	for (size_t i = 0; i < e->nrecipients; i++) {
		const struct store_queue_rcpt *r = &e->rcpt[i];
		enc_str(&en, e->recipients[i]);
		enc_str(&en, r->orcpt);
		store_enc_u8(&en, r->notify);
		store_enc_u16(&en, r->code);
		enc_str(&en, r->status);
		enc_str(&en, r->reply);
	}
	if (en.overflow) {
		free(buf);
		return STORE_ERR_INVALID;
	}
	*buf_r = buf;
	*len_r = en.len;
	return STORE_OK;
}

static size_t bounded_len(const char *s, size_t max)
{
	return s ? strnlen(s, max + 1) : 0;
}

int store_queue_put_txn(struct store *s, DB_TXN *txn, const struct store_delivery *d,
			uint64_t content_id)
{
	if (d->nremote == 0 || d->nremote > QUEUE_MAX_RCPTS)
		return STORE_ERR_INVALID;
	const char *sender = d->sender ? d->sender : "";
	if (strlen(sender) > STORE_ADDRESS_MAX || bounded_len(d->envid, STORE_ENVID_MAX) >
	    STORE_ENVID_MAX || d->ret > STORE_RET_HDRS)
		return STORE_ERR_INVALID;
	for (size_t i = 0; i < d->nremote; i++)
		if (!d->remote_recipients[i] || !d->remote_recipients[i][0] ||
		    strlen(d->remote_recipients[i]) > STORE_ADDRESS_MAX ||
		    (d->remote_orcpt &&
		     bounded_len(d->remote_orcpt[i], STORE_ORCPT_MAX) > STORE_ORCPT_MAX))
			return STORE_ERR_INVALID;
	uint64_t id;
	int rc = store_meta_next(s, txn, QUEUE_META_ID, &id);
	if (rc != STORE_OK)
		return rc;
	int64_t now = (int64_t)time(NULL);
	struct store_queue_entry e = {
		.created = now, .content_id = content_id, .size = d->len, .next_attempt = now,
		.flags = d->queue_flags, .ret = d->ret, .nrecipients = d->nremote,
	};
	memcpy(e.sender, sender, strlen(sender) + 1);
	if (d->envid)
		memcpy(e.envid, d->envid, strlen(d->envid) + 1);
	e.recipients = (char **)d->remote_recipients;
	e.rcpt = calloc(d->nremote, sizeof(*e.rcpt));
	if (!e.rcpt)
		return STORE_ERR_TEMP;
	for (size_t i = 0; i < d->nremote; i++) {
		e.rcpt[i].orcpt = d->remote_orcpt ? (char *)d->remote_orcpt[i] : NULL;
		e.rcpt[i].notify = d->remote_notify ? d->remote_notify[i] : 0;
	}
	uint8_t *buf;
	size_t len;
	rc = queue_encode(&e, &buf, &len);
	free(e.rcpt);
	if (rc != STORE_OK)
		return rc;
	uint8_t key[8];
	store_be64_put(key, id);
	rc = store_db_put(s, txn, SDB_QUEUE, key, sizeof(key), buf, len, DB_NOOVERWRITE);
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
		if (rc == STORE_ERR_CORRUPT) {
			/* One bad record must not stop the queue: it stays for
			 * the operator (queue del), the others are listed. */
			store_log(STORE_LOG_ERROR, "queue record id=%llu unreadable, skipped",
				  (unsigned long long)store_be64_get(key));
			rc = STORE_OK;
			continue;
		}
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
	int rc = store_read_run(s, queue_list_fn, &a);
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
	int rc = store_read_run(s, queue_get_fn, &a);
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

/* ---- the runner's side ---- */

struct queue_resched_arg {
	uint64_t id;
	int64_t when;
	uint32_t flags;
	size_t n;
	uint8_t *buf;
};

/* The record val of entry id with a new next_attempt and flags added,
 * encoded into *buf_r (malloc'd). */
static int resched_encode(uint64_t id, const uint8_t *val, size_t vlen, int64_t when,
			  uint32_t flags, uint8_t **buf_r, size_t *len_r)
{
	struct store_queue_entry e;
	int rc = store_queue_decode(id, val, vlen, &e);
	if (rc != STORE_OK)
		return rc;
	e.next_attempt = when;
	e.flags |= flags;
	rc = queue_encode(&e, buf_r, len_r);
	store_queue_entry_clear(&e);
	return rc;
}

static int queue_resched_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct queue_resched_arg *a = arg;
	a->n = 0;
	int grc = store_meta_add(s, txn, QUEUE_META_GEN, 1);
	if (grc != STORE_OK)
		return grc;
	uint8_t key[8];
	size_t klen = sizeof(key), vlen, len;
	uint8_t *buf;
	if (a->id) {
		store_be64_put(key, a->id);
		int rc = store_db_get(s, txn, SDB_QUEUE, key, sizeof(key), a->buf, QUEUE_REC_MAX,
				      &vlen, DB_RMW);
		if (rc == STORE_OK)
			rc = resched_encode(a->id, a->buf, vlen, a->when, a->flags, &buf, &len);
		if (rc == STORE_OK) {
			rc = store_db_put(s, txn, SDB_QUEUE, key, sizeof(key), buf, len, 0);
			free(buf);
		}
		if (rc == STORE_OK)
			a->n = 1;
		return rc;
	}
	/* All, in one pass: each record is rewritten where the cursor stands
	 * (DB_CURRENT does not move it, where a put by key could). */
	size_t n = 0;
	DBC *c;
	int rc = store_cursor_open(s, txn, SDB_QUEUE, &c);
	if (rc != STORE_OK)
		return rc;
	for (;;) {
		klen = 0;
		rc = store_cursor_get(s, c, key, sizeof(key), &klen, a->buf, QUEUE_REC_MAX, &vlen,
				      DB_NEXT | DB_RMW);
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
		rc = resched_encode(store_be64_get(key), a->buf, vlen, a->when, a->flags, &buf, &len);
		if (rc == STORE_OK) {
			rc = store_cursor_put_current(s, c, buf, len);
			free(buf);
		}
		if (rc != STORE_OK)
			break;
		n++;
	}
	rc = store_cursor_close(s, c, rc);
	if (rc == STORE_OK)
		a->n = n;
	return rc;
}

int store_queue_reschedule(struct store *s, uint64_t id, int64_t when, uint32_t flags_set,
			   size_t *n_r)
{
	struct queue_resched_arg a = {.id = id, .when = when, .flags = flags_set};
	if (n_r)
		*n_r = 0;
	a.buf = malloc(QUEUE_REC_MAX);
	if (!a.buf)
		return STORE_ERR_TEMP;
	int rc = store_txn_run(s, queue_resched_fn, &a);
	free(a.buf);
	if (rc == STORE_OK && n_r)
		*n_r = a.n;
	return rc;
}

struct queue_update_arg {
	uint64_t id;
	const struct store_queue_update *u;
	uint8_t *buf;
	bool removed;
	struct store_deliver_ctx *notices;   /* u->nnotices prepared deliveries */
};

static void copy_bounded(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* Applies u's results to e: finished recipients leave, others keep the
 * reply they got.  Returns STORE_ERR_TEMP on memory failure. */
static int update_apply(struct store_queue_entry *e, const struct store_queue_update *u)
{
	size_t keep = 0;
	for (size_t i = 0; i < e->nrecipients; i++) {
		const struct store_queue_result *r = NULL;
		for (size_t j = 0; j < u->nresults && !r; j++)
			if (strcmp(u->results[j].address, e->recipients[i]) == 0)
				r = &u->results[j];
		struct store_queue_rcpt *q = &e->rcpt[i];
		if (r && r->done) {
			free(e->recipients[i]);
			free(q->orcpt);
			free(q->reply);
			continue;
		}
		if (r) {
			q->code = r->code;
			copy_bounded(q->status, sizeof(q->status), r->status ? r->status : "");
			if (r->reply) {
				char *t = strndup(r->reply, STORE_QUEUE_REPLY_MAX);
				if (!t)
					return STORE_ERR_TEMP;
				free(q->reply);
				q->reply = t;
			}
		}
		e->recipients[keep] = e->recipients[i];
		e->rcpt[keep] = *q;
		keep++;
	}
	e->nrecipients = keep;
	e->attempts = u->attempts;
	e->next_attempt = u->next_attempt;
	e->flags |= u->flags_set;
	if (u->last_error)
		copy_bounded(e->last_error, sizeof(e->last_error), u->last_error);
	return STORE_OK;
}

static int queue_update_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct queue_update_arg *a = arg;
	const struct store_queue_update *u = a->u;
	a->removed = false;
	uint8_t key[8];
	size_t vlen;
	store_be64_put(key, a->id);
	int rc = store_db_get(s, txn, SDB_QUEUE, key, sizeof(key), a->buf, QUEUE_REC_MAX, &vlen,
			      DB_RMW);
	struct store_queue_entry e;
	if (rc == STORE_OK)
		rc = store_queue_decode(a->id, a->buf, vlen, &e);
	if (rc != STORE_OK)
		return rc;
	rc = update_apply(&e, u);
	if (rc == STORE_OK && e.nrecipients == 0) {
		/* The last recipient is done: the entry and its reference go. */
		rc = store_db_del(s, txn, SDB_QUEUE, key, sizeof(key));
		if (rc == STORE_OK)
			rc = store_content_release(s, txn, e.content_id);
		a->removed = rc == STORE_OK;
	} else if (rc == STORE_OK) {
		uint8_t *buf;
		size_t len;
		rc = queue_encode(&e, &buf, &len);
		if (rc == STORE_OK) {
			rc = store_db_put(s, txn, SDB_QUEUE, key, sizeof(key), buf, len, 0);
			free(buf);
		}
	}
	store_queue_entry_clear(&e);
	for (size_t i = 0; i < u->nnotices && rc == STORE_OK; i++)
		rc = store_deliver_txn(s, txn, &a->notices[i]);
	return rc;
}

int store_queue_update(struct store *s, uint64_t id, const struct store_queue_update *u,
		       bool *removed_r)
{
	if (removed_r)
		*removed_r = false;
	size_t nn = u->nnotices;
	struct queue_update_arg a = {.id = id, .u = u};
	a.buf = malloc(QUEUE_REC_MAX);
	a.notices = calloc(nn ? nn : 1, sizeof(*a.notices));
	/* Result arrays: a notice has few recipients (the envelope sender). */
	int **res = calloc(nn ? nn : 1, sizeof(*res));
	int rc = a.buf && a.notices && res ? STORE_OK : STORE_ERR_TEMP;
	uint64_t need = 0;
	for (size_t i = 0; i < nn && rc == STORE_OK; i++) {
		const struct store_delivery *d = &u->notices[i];
		res[i] = calloc(d->nrecipients ? d->nrecipients : 1, sizeof(int));
		if (!res[i]) {
			rc = STORE_ERR_TEMP;
			break;
		}
		rc = store_deliver_prepare(d, res[i], &a.notices[i]);
		need += d->len + d->structure_len;
	}
	/* No reserve check (storage_space.c) for the notices: refusing the
	 * update would not record the 250s either, and the message would go
	 * again to every recipient at each retry while the disk stays low.
	 * The outcome frees more than its notices take (bounded by
	 * outbound.return_max); a disk that is really full fails the commit
	 * itself, and the runner holds the entry until its back-off. */
	(void)need;
	if (rc == STORE_OK)
		rc = store_txn_run(s, queue_update_fn, &a);
	for (size_t i = 0; i < nn; i++) {
		if (rc == STORE_OK)
			(void)store_deliver_finish(s, &a.notices[i], NULL);
		if (a.notices)
			store_deliver_ctx_free(&a.notices[i]);
		if (res)
			free(res[i]);
	}
	if (rc == STORE_OK && removed_r)
		*removed_r = a.removed;
	free(a.buf);
	free(a.notices);
	free(res);
	return rc;
}

struct gen_arg {
	uint64_t gen;
};

static int gen_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct gen_arg *a = arg;
	int rc = store_meta_get(s, txn, QUEUE_META_GEN, &a->gen, 0);
	if (rc == STORE_ERR_NOTFOUND) {
		a->gen = 0;
		rc = STORE_OK;
	}
	return rc;
}

int store_queue_generation(struct store *s, uint64_t *gen_r)
{
	struct gen_arg a = {0};
	/* Polled every second by the daemon: not activity (the idle hook). */
	int rc = store_read_run_quiet(s, gen_fn, &a);
	*gen_r = rc == STORE_OK ? a.gen : 0;
	return rc;
}
