/* storage/storage_msg_bulk.c: the IMAP-sized message operations.
 *
 * Owns the calls that touch many messages at once: the UID list SELECT
 * reads (keys only, in bulk), STORE over a set (RFC 3501 6.4.6 with
 * CONDSTORE's UNCHANGEDSINCE, RFC 7162 3.1.3), MULTIAPPEND (RFC 3502),
 * COPY/MOVE (RFC 3501 6.4.7, RFC 6851) and the change feed read
 * ("what changed since MODSEQ N", RFC 7162).  Each keeps the mailbox
 * counters, HIGHESTMODSEQ and the one-change-record-per-message rule of
 * storage_msg.c, and calls the notify hook after its commit. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storage/storage_private.h"

#define FLAGS_BATCH STORE_FLAGS_TXN_MAX   /* messages per STORE transaction */
#define UIDS_BATCH 65536         /* UIDs per store_msg_uids transaction */
#define UIDS_BUF (256u * 1024u)  /* bulk-read buffer (a multiple of 1024) */

static int mailbox_exists(struct store *s, DB_TXN *txn, uint32_t mailbox_id)
{
	uint8_t key[4];
	store_be32_put(key, mailbox_id);
	return store_db_exists(s, txn, SDB_MAILBOX_INFO, key, sizeof(key));
}

/* ---- UIDs ---- */

struct uids_arg {
	uint32_t mailbox_id;
	uint32_t next_uid;
	bool first, done;
	uint32_t *uids;
	size_t n, n_committed, cap;
	void *buf;
};

static int uids_grow(struct uids_arg *a, size_t want)
{
	if (want <= a->cap)
		return STORE_OK;
	size_t cap = a->cap ? a->cap : 1024;
	while (cap < want) {
		if (cap > SIZE_MAX / 2 / sizeof(uint32_t))
			return STORE_ERR_TEMP;
		cap *= 2;
	}
	uint32_t *p = realloc(a->uids, cap * sizeof(*p));
	if (!p)
		return STORE_ERR_TEMP;
	a->uids = p;
	a->cap = cap;
	return STORE_OK;
}

static int uids_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct uids_arg *a = arg;
	a->n = a->n_committed;   /* a retried attempt starts this batch again */
	a->done = false;
	int rc;
	if (a->first) {
		struct store_mailbox m;
		if ((rc = store_mbox_read(s, txn, a->mailbox_id, &m, 0)) != STORE_OK)
			return rc;
		/* The EXISTS counter sizes the array once. */
		if ((rc = uids_grow(a, (size_t)m.messages + 1)) != STORE_OK)
			return rc;
	}
	DBC *c;
	/* Read-committed: page locks go as the cursor moves on. */
	if ((rc = store_bdb_err(s, s->db[SDB_MESSAGES]->cursor(s->db[SDB_MESSAGES], txn, &c,
								DB_READ_COMMITTED))) != STORE_OK)
		return rc;
	uint8_t kbuf[8];
	store_be32_put(kbuf, a->mailbox_id);
	store_be32_put(kbuf + 4, a->next_uid);
	DBT k, v;
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.data = kbuf;
	k.size = 8;
	k.ulen = 8;
	k.flags = DB_DBT_USERMEM;
	v.data = a->buf;
	v.ulen = UIDS_BUF;
	v.flags = DB_DBT_USERMEM;
	uint32_t flags = DB_SET_RANGE | DB_MULTIPLE_KEY;
	size_t batch_end = a->n_committed + UIDS_BATCH;
	while (!a->done && a->n < batch_end) {
		rc = store_bdb_err(s, c->get(c, &k, &v, flags));
		flags = DB_NEXT | DB_MULTIPLE_KEY;
		if (rc == STORE_ERR_NOTFOUND) {
			rc = STORE_OK;
			a->done = true;
			break;
		}
		if (rc != STORE_OK)
			break;
		void *p;
		DB_MULTIPLE_INIT(p, &v);
		for (;;) {
			void *rk, *rd;
			size_t rklen, rdlen;
			DB_MULTIPLE_KEY_NEXT(p, &v, rk, rklen, rd, rdlen);
			if (!p)
				break;
			(void)rd;
			(void)rdlen;
			if (rklen != 8 || store_be32_get(rk) != a->mailbox_id) {
				a->done = true;
				break;
			}
			if ((rc = uids_grow(a, a->n + 1)) != STORE_OK)
				break;
			a->uids[a->n++] = store_be32_get((const uint8_t *)rk + 4);
		}
		if (rc != STORE_OK)
			break;
	}
	return store_cursor_close(s, c, rc);
}

int store_msg_uids(struct store *s, uint32_t mailbox_id, uint32_t **uids_r, size_t *n_r)
{
	*uids_r = NULL;
	*n_r = 0;
	struct uids_arg a = {.mailbox_id = mailbox_id, .next_uid = 1, .first = true};
	a.buf = malloc(UIDS_BUF);
	int rc = a.buf ? STORE_OK : STORE_ERR_TEMP;
	while (rc == STORE_OK) {
		if ((rc = store_read_run(s, uids_fn, &a)) != STORE_OK)
			break;
		a.first = false;
		/* A batch may have read past its end in the last page. */
		a.n_committed = a.n;
		if (a.done || a.n == 0)
			break;
		uint32_t last = a.uids[a.n - 1];
		if (last == UINT32_MAX)
			break;
		a.next_uid = last + 1;
	}
	free(a.buf);
	if (rc != STORE_OK || a.n == 0) {
		free(a.uids);
		return rc;
	}
	*uids_r = a.uids;
	*n_r = a.n;
	return STORE_OK;
}

struct last_arg {
	uint32_t mailbox_id, below;
	size_t max, n;
	uint32_t *out;
};

static int last_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct last_arg *a = arg;
	a->n = 0;
	DBC *c;
	int rc = store_cursor_open(s, txn, SDB_MESSAGES, &c);
	if (rc != STORE_OK)
		return rc;
	uint8_t key[16], val[STORE_MSG_REC_MAX];
	size_t klen = store_msg_key(key, a->mailbox_id, a->below), vlen;
	/* The first key after (mailbox, below), then back from there. */
	rc = store_cursor_get(s, c, key, sizeof(key), &klen, val, sizeof(val), &vlen, DB_SET_RANGE);
	uint32_t flags = DB_PREV;
	if (rc == STORE_ERR_NOTFOUND) {
		flags = DB_LAST;
		rc = STORE_OK;
	} else if (rc == STORE_OK && klen == 8 && store_be32_get(key) == a->mailbox_id &&
		   store_be32_get(key + 4) == a->below) {
		a->out[a->n++] = a->below;
	}
	while (rc == STORE_OK && a->n < a->max) {
		rc = store_cursor_get(s, c, key, sizeof(key), &klen, val, sizeof(val), &vlen, flags);
		flags = DB_PREV;
		if (rc == STORE_ERR_NOTFOUND) {
			rc = STORE_OK;
			break;
		}
		if (rc != STORE_OK || klen != 8 || store_be32_get(key) != a->mailbox_id)
			break;
		a->out[a->n++] = store_be32_get(key + 4);
	}
	return store_cursor_close(s, c, rc);
}

int store_msg_uids_last(struct store *s, uint32_t mailbox_id, uint32_t below, size_t max,
			uint32_t *uids, size_t *n_r)
{
	struct last_arg a = {.mailbox_id = mailbox_id, .below = below, .max = max, .out = uids};
	*n_r = 0;
	if (max == 0)
		return STORE_OK;
	int rc = store_read_run(s, last_fn, &a);
	if (rc != STORE_OK)
		return rc;
	/* Walked backwards: turn ascending. */
	for (size_t i = 0; i < a.n / 2; i++) {
		uint32_t t = uids[i];
		uids[i] = uids[a.n - 1 - i];
		uids[a.n - 1 - i] = t;
	}
	*n_r = a.n;
	return STORE_OK;
}

/* ---- changes ---- */

struct changes_arg {
	uint32_t mailbox_id;
	uint64_t since;
	struct store_change *out;
	size_t max, n;
};

static int changes_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct changes_arg *a = arg;
	a->n = 0;
	int rc = mailbox_exists(s, txn, a->mailbox_id);
	if (rc != STORE_OK || a->max == 0 || a->since == UINT64_MAX)
		return rc;
	DBC *c;
	if ((rc = store_cursor_open(s, txn, SDB_CHANGES, &c)) != STORE_OK)
		return rc;
	uint8_t key[12], val[16];
	size_t klen = store_change_key(key, a->mailbox_id, a->since + 1), vlen;
	uint32_t flags = DB_SET_RANGE;
	while (a->n < a->max) {
		rc = store_cursor_get(s, c, key, sizeof(key), &klen, val, sizeof(val), &vlen, flags);
		flags = DB_NEXT;
		if (rc == STORE_ERR_NOTFOUND) {
			rc = STORE_OK;
			break;
		}
		if (rc != STORE_OK || klen != 12 || store_be32_get(key) != a->mailbox_id)
			break;
		uint32_t uid;
		enum store_change_kind kind;
		if ((rc = store_change_decode(val, vlen, &uid, &kind)) != STORE_OK)
			break;
		a->out[a->n].modseq = store_be64_get(key + 4);
		a->out[a->n].uid = uid;
		a->out[a->n].kind = kind;
		a->n++;
	}
	return store_cursor_close(s, c, rc);
}

int store_changes_since(struct store *s, uint32_t mailbox_id, uint64_t since,
			struct store_change *out, size_t max, size_t *n_r)
{
	*n_r = 0;
	if (max > 0 && !out)
		return STORE_ERR_INVALID;
	struct changes_arg a = {.mailbox_id = mailbox_id, .since = since, .out = out, .max = max};
	int rc = store_read_run(s, changes_fn, &a);
	if (rc == STORE_OK)
		*n_r = a.n;
	return rc;
}

/* ---- STORE ---- */

/* A cursor that is asked for keys in mostly ascending order: a STORE over
 * a range, POP3's \Seen marks in RETR order, and the change records of
 * messages delivered one after another.  Each key is first looked for a
 * few records ahead of where the cursor is, a step on the same leaf page
 * instead of a descent from the root; anything else is a DB_SET_RANGE.
 * Keys of one database have one length and sort as bytes (the default
 * B-tree order). */
#define WALK_STEPS 4

struct walk {
	DBC *c;
	uint32_t rmw;            /* DB_RMW: the record found is written next */
	bool at;                 /* on a record (perhaps one it deleted) */
	uint8_t key[12];
	size_t klen;
	uint8_t val[STORE_MSG_REC_MAX];
	size_t vlen;
};

/* Puts w on the record with key `want` (klen bytes): STORE_OK when there
 * is one, STORE_ERR_NOTFOUND when not (the cursor is then on the next
 * record, or nowhere). */
static int walk_to(struct store *s, struct walk *w, const uint8_t *want, size_t klen)
{
	int rc;
	if (w->at && w->klen == klen && memcmp(w->key, want, klen) < 0) {
		for (int i = 0; i < WALK_STEPS; i++) {
			rc = store_cursor_get(s, w->c, w->key, sizeof(w->key), &w->klen, w->val,
					      sizeof(w->val), &w->vlen, DB_NEXT | w->rmw);
			if (rc == STORE_ERR_NOTFOUND)
				w->at = false;   /* nothing past the last: not there */
			if (rc != STORE_OK)
				return rc;
			int cmp = w->klen == klen ? memcmp(w->key, want, klen) : 1;
			if (cmp >= 0)
				return cmp == 0 ? STORE_OK : STORE_ERR_NOTFOUND;
		}
	}
	memcpy(w->key, want, klen);
	w->klen = klen;
	rc = store_cursor_get(s, w->c, w->key, sizeof(w->key), &w->klen, w->val, sizeof(w->val),
			      &w->vlen, DB_SET_RANGE | w->rmw);
	w->at = rc == STORE_OK;
	if (rc != STORE_OK)
		return rc;
	return w->klen == klen && memcmp(w->key, want, klen) == 0 ? STORE_OK : STORE_ERR_NOTFOUND;
}

struct mflags_arg {
	uint32_t mailbox_id;
	const uint32_t *uids;
	size_t n;
	const struct store_flag_change *ch;
	struct store_flag_result *res;
	bool changed;
	struct store_mailbox m;
	struct store_keywords kw;
	struct walk msgs, changes;
};

/* The message's record moves to its new flags and MODSEQ, and its one
 * change record with it (storage_msg.c). */
static int mflags_write(struct store *s, DB_TXN *txn, struct mflags_arg *a, struct store_msg *msg)
{
	uint8_t key[12];
	int rc = walk_to(s, &a->changes, key, store_change_key(key, a->mailbox_id, msg->modseq));
	if (rc == STORE_OK)
		rc = store_cursor_del(s, a->changes.c);
	if (rc != STORE_OK && rc != STORE_ERR_NOTFOUND)
		return rc;
	a->m.highestmodseq++;
	msg->modseq = a->m.highestmodseq;
	uint8_t rec[STORE_MSG_REC_MAX];
	size_t len = store_msg_encode(msg, rec, sizeof(rec));
	if (len == 0)
		return STORE_ERR_INVALID;
	if ((rc = store_change_put(s, txn, a->mailbox_id, msg->modseq, msg->uid,
				   STORE_CHANGE_FLAGS)) != STORE_OK)
		return rc;
	return store_cursor_put_current(s, a->msgs.c, rec, len);
}

static int mflags_run(struct store *s, DB_TXN *txn, struct mflags_arg *a)
{
	const struct store_flag_change *ch = a->ch;
	int rc = store_mbox_read(s, txn, a->mailbox_id, &a->m, DB_RMW);
	if (rc == STORE_OK && ch->keywords) {
		/* Only bits of interned keywords (store_keywords_intern). */
		if ((rc = store_keywords_read(s, txn, a->mailbox_id, &a->kw, 0)) != STORE_OK)
			return rc;
		if (a->kw.count < 64 && (ch->keywords >> a->kw.count) != 0)
			return STORE_ERR_INVALID;
	}
	for (size_t i = 0; i < a->n && rc == STORE_OK; i++) {
		struct store_flag_result *r = &a->res[i];
		memset(r, 0, sizeof(*r));
		uint8_t key[8];
		rc = walk_to(s, &a->msgs, key, store_msg_key(key, a->mailbox_id, a->uids[i]));
		if (rc == STORE_OK)
			rc = store_msg_decode(a->uids[i], a->msgs.val, a->msgs.vlen, &r->msg);
		if (rc == STORE_ERR_NOTFOUND) {
			r->status = STORE_FLAG_GONE;
			r->msg.uid = a->uids[i];
			rc = STORE_OK;
			continue;
		}
		if (rc != STORE_OK)
			break;
		/* RFC 7162 3.1.3: a message changed after UNCHANGEDSINCE is
		 * left alone and reported. */
		if (ch->unchangedsince && r->msg.modseq > ch->unchangedsince_modseq) {
			r->status = STORE_FLAG_MODIFIED;
			continue;
		}
		uint32_t old = r->msg.flags, new = old;
		uint64_t oldk = r->msg.keywords, newk = oldk;
		switch (ch->op) {
		case STORE_FLAGS_SET:
			new = ch->flags | (old & STORE_F_RECENT);
			newk = ch->keywords;
			break;
		case STORE_FLAGS_ADD:
			new = old | ch->flags;
			newk = oldk | ch->keywords;
			break;
		case STORE_FLAGS_REMOVE:
			new = old & ~ch->flags;
			newk = oldk & ~ch->keywords;
			break;
		}
		if (new == old && newk == oldk) {
			r->status = STORE_FLAG_UNCHANGED;   /* MODSEQ stays */
			continue;
		}
		store_mbox_count(&a->m, &r->msg, -1);
		r->msg.flags = new;
		r->msg.keywords = newk;
		store_mbox_count(&a->m, &r->msg, 1);
		if ((rc = mflags_write(s, txn, a, &r->msg)) != STORE_OK)
			break;
		r->status = STORE_FLAG_CHANGED;
		a->changed = true;
	}
	if (rc == STORE_OK && a->changed)
		rc = store_mbox_write(s, txn, &a->m);
	return rc;
}

static int mflags_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct mflags_arg *a = arg;
	a->changed = false;
	a->msgs = (struct walk){.rmw = DB_RMW};
	a->changes = (struct walk){.rmw = DB_RMW};
	int rc = store_cursor_open(s, txn, SDB_MESSAGES, &a->msgs.c);
	if (rc != STORE_OK)
		return rc;
	if ((rc = store_cursor_open(s, txn, SDB_CHANGES, &a->changes.c)) == STORE_OK) {
		rc = mflags_run(s, txn, a);
		rc = store_cursor_close(s, a->changes.c, rc);
	}
	return store_cursor_close(s, a->msgs.c, rc);
}

int store_msgs_flags(struct store *s, uint32_t mailbox_id, const uint32_t *uids, size_t n,
		     const struct store_flag_change *change, struct store_flag_result *res)
{
	if (!change || (n > 0 && (!uids || !res)) ||
	    (change->flags & ~(uint32_t)(STORE_F_ALL & ~STORE_F_RECENT)) ||
	    (change->op != STORE_FLAGS_SET && change->op != STORE_FLAGS_ADD &&
	     change->op != STORE_FLAGS_REMOVE))
		return STORE_ERR_INVALID;
	struct mflags_arg *a = calloc(1, sizeof(*a));
	if (!a)
		return STORE_ERR_TEMP;
	a->mailbox_id = mailbox_id;
	a->ch = change;
	bool changed = false;
	int rc = STORE_OK;
	size_t done = 0;
	/* A STORE is not atomic across its set (RFC 3501 6.4.6 does not ask
	 * it): batches keep each transaction's lock footprint small. */
	do {
		a->uids = uids + done;
		a->res = res + done;
		a->n = n - done < FLAGS_BATCH ? n - done : FLAGS_BATCH;
		rc = store_txn_run(s, mflags_fn, a);
		if (rc == STORE_OK)
			changed |= a->changed;
		done += a->n;
	} while (rc == STORE_OK && done < n);
	free(a);
	if (changed)
		store_notify(s, &mailbox_id, 1);
	return rc;
}

/* ---- APPEND ---- */

struct append_arg {
	uint32_t mailbox_id;
	const struct store_append_msg *msgs;
	size_t n;
	int64_t now;
	uint32_t *uids_r;
	uint32_t uidvalidity;
	struct store_mailbox m;
	struct store_keywords kw;
};

static int append_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct append_arg *a = arg;
	int rc = store_mbox_read(s, txn, a->mailbox_id, &a->m, DB_RMW);
	if (rc != STORE_OK)
		return rc;
	uint64_t kwmask = 0;
	for (size_t i = 0; i < a->n; i++)
		kwmask |= a->msgs[i].keywords;
	if (kwmask) {
		if ((rc = store_keywords_read(s, txn, a->mailbox_id, &a->kw, 0)) != STORE_OK)
			return rc;
		/* Only bits of interned keywords (store_keywords_intern). */
		if (a->kw.count < 64 && (kwmask >> a->kw.count) != 0)
			return STORE_ERR_INVALID;
	}
	/* RFC 3501 2.3.1.1: UIDs are 32 bits and never reused. */
	if (a->n >= UINT32_MAX - a->m.uidnext)
		return STORE_ERR_NOQUOTA;
	for (size_t i = 0; i < a->n; i++) {
		const struct store_append_msg *am = &a->msgs[i];
		struct store_msg msg = {
			.uid = a->m.uidnext,
			.size = am->len,
			.flags = am->flags | STORE_F_RECENT,
			.internaldate = am->internaldate ? am->internaldate : a->now,
			.modseq = a->m.highestmodseq + 1,
			.keywords = am->keywords,
			.savedate = a->now,
		};
		if ((rc = store_content_put(s, txn, am->data, am->len, 1, &msg.content_id)) !=
		    STORE_OK)
			return rc;
		if (am->structure && am->structure_len > 0 &&
		    (rc = store_structure_put(s, txn, msg.content_id, am->structure,
					      am->structure_len)) != STORE_OK)
			return rc;
		if ((rc = store_msg_write(s, txn, a->mailbox_id, &msg, DB_NOOVERWRITE)) != STORE_OK)
			return rc == STORE_ERR_EXISTS ? STORE_ERR_CORRUPT : rc;
		if ((rc = store_change_put(s, txn, a->mailbox_id, msg.modseq, msg.uid,
					   STORE_CHANGE_NEW)) != STORE_OK)
			return rc;
		a->m.uidnext++;
		a->m.highestmodseq = msg.modseq;
		store_mbox_count(&a->m, &msg, 1);
		if (a->uids_r)
			a->uids_r[i] = msg.uid;
	}
	a->uidvalidity = a->m.uidvalidity;
	if ((rc = store_mbox_write(s, txn, &a->m)) != STORE_OK)
		return rc;
	return store_meta_add(s, txn, STORE_META_MESSAGES, (int64_t)a->n);
}

int store_append(struct store *s, uint32_t mailbox_id, const struct store_append_msg *msgs,
		 size_t n, uint32_t *uids_r, uint32_t *uidvalidity_r)
{
	if (n == 0 || !msgs || n > INT64_MAX)
		return STORE_ERR_INVALID;
	for (size_t i = 0; i < n; i++) {
		if ((msgs[i].len > 0 && !msgs[i].data) ||
		    (msgs[i].flags & ~(uint32_t)STORE_F_ALL) ||
		    (msgs[i].structure_len > 0 && !msgs[i].structure))
			return STORE_ERR_INVALID;
	}
	struct append_arg *a = calloc(1, sizeof(*a));
	if (!a)
		return STORE_ERR_TEMP;
	a->mailbox_id = mailbox_id;
	a->msgs = msgs;
	a->n = n;
	a->now = (int64_t)time(NULL);
	a->uids_r = uids_r;
	uint64_t bytes = 0;
	for (size_t i = 0; i < n; i++)
		bytes += msgs[i].len + msgs[i].structure_len;
	int rc = store_space_check(s, bytes);
	if (rc == STORE_OK)
		rc = store_txn_run(s, append_fn, a);
	if (rc == STORE_OK && uidvalidity_r)
		*uidvalidity_r = a->uidvalidity;
	free(a);
	if (rc == STORE_OK)
		store_notify(s, &mailbox_id, 1);
	return rc;
}

/* ---- REPLACE ---- */

struct replace_arg {
	struct append_arg ap;        /* the new message, into ap.mailbox_id */
	uint32_t src_id, old_uid;
	struct store_mailbox lock;   /* scratch for the record locks */
};

static int replace_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct replace_arg *r = arg;
	/* Both mailbox records are locked first, lower id first, as
	 * copy_fn does, so that two opposite REPLACEs wait instead of
	 * deadlocking. */
	uint32_t lo = r->src_id < r->ap.mailbox_id ? r->src_id : r->ap.mailbox_id;
	uint32_t hi = r->src_id < r->ap.mailbox_id ? r->ap.mailbox_id : r->src_id;
	int rc = store_mbox_read(s, txn, lo, &r->lock, DB_RMW);
	if (rc == STORE_OK && hi != lo)
		rc = store_mbox_read(s, txn, hi, &r->lock, DB_RMW);
	if (rc != STORE_OK)
		return rc;
	size_t removed = 0;
	if ((rc = store_expunge_txn(s, txn, r->src_id, &r->old_uid, 1, &removed)) != STORE_OK)
		return rc;
	if (removed != 1)
		return STORE_ERR_NOTFOUND;   /* nothing is appended either */
	return append_fn(s, txn, &r->ap);
}

int store_replace(struct store *s, uint32_t src_mailbox_id, uint32_t old_uid,
		  uint32_t dst_mailbox_id, const struct store_append_msg *msg, uint32_t *uid_r,
		  uint32_t *uidvalidity_r)
{
	if (!msg || (msg->len > 0 && !msg->data) || (msg->flags & ~(uint32_t)STORE_F_ALL) ||
	    (msg->structure_len > 0 && !msg->structure))
		return STORE_ERR_INVALID;
	struct replace_arg *r = calloc(1, sizeof(*r));
	if (!r)
		return STORE_ERR_TEMP;
	r->src_id = src_mailbox_id;
	r->old_uid = old_uid;
	r->ap.mailbox_id = dst_mailbox_id;
	r->ap.msgs = msg;
	r->ap.n = 1;
	r->ap.now = (int64_t)time(NULL);
	r->ap.uids_r = uid_r;
	int rc = store_space_check(s, msg->len + msg->structure_len);
	if (rc == STORE_OK)
		rc = store_txn_run(s, replace_fn, r);
	if (rc == STORE_OK && uidvalidity_r)
		*uidvalidity_r = r->ap.uidvalidity;
	free(r);
	if (rc == STORE_OK) {
		uint32_t ids[2] = {src_mailbox_id, dst_mailbox_id != src_mailbox_id ? dst_mailbox_id : 0};
		store_notify(s, ids, 2);
	}
	return rc;
}

/* ---- COPY / MOVE ---- */

struct copy_arg {
	uint32_t src_id, dst_id;
	const uint32_t *uids;
	size_t n;
	bool move;
	int64_t now;                 /* the copies' save date (RFC 8514 3) */
	uint32_t *dst_uids_r;
	uint32_t uidvalidity;
	size_t copied;
	struct store_mailbox src, dst;
	struct store_keywords src_kw, dst_kw;
};

/* The destination's mask for a source message's keywords, by name. */
static int map_keywords(struct copy_arg *a, uint64_t mask, uint64_t *out_r, bool *kw_changed)
{
	*out_r = 0;
	for (size_t b = 0; b < 64 && mask; b++) {
		if (!(mask & ((uint64_t)1 << b)))
			continue;
		mask &= ~((uint64_t)1 << b);
		if (b >= a->src_kw.count)
			continue;   /* a bit without a name: nothing to carry */
		const char *name = a->src_kw.name[b];
		size_t before = a->dst_kw.count;
		int err = STORE_OK;
		int bit = store_keywords_add(&a->dst_kw, name, strlen(name), &err);
		if (bit < 0)
			return err;
		if (a->dst_kw.count != before)
			*kw_changed = true;
		*out_r |= (uint64_t)1 << bit;
	}
	return STORE_OK;
}

static int copy_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct copy_arg *a = arg;
	bool same = a->src_id == a->dst_id;
	struct store_mailbox *src = same ? &a->dst : &a->src, *dst = &a->dst;
	a->copied = 0;
	int rc;
	/* Both mailbox records are locked, lower id first, so that two
	 * opposite copies wait instead of deadlocking. */
	if (same) {
		rc = store_mbox_read(s, txn, a->dst_id, dst, DB_RMW);
	} else if (a->src_id < a->dst_id) {
		rc = store_mbox_read(s, txn, a->src_id, src, DB_RMW);
		if (rc == STORE_OK)
			rc = store_mbox_read(s, txn, a->dst_id, dst, DB_RMW);
	} else {
		rc = store_mbox_read(s, txn, a->dst_id, dst, DB_RMW);
		if (rc == STORE_OK)
			rc = store_mbox_read(s, txn, a->src_id, src, DB_RMW);
	}
	if (rc != STORE_OK)
		return rc;
	if ((rc = store_keywords_read(s, txn, a->src_id, &a->src_kw, 0)) != STORE_OK)
		return rc;
	if (same)
		a->dst_kw = a->src_kw;
	else if ((rc = store_keywords_read(s, txn, a->dst_id, &a->dst_kw, DB_RMW)) != STORE_OK)
		return rc;
	bool kw_changed = false;
	for (size_t i = 0; i < a->n; i++) {
		if (a->dst_uids_r)
			a->dst_uids_r[i] = 0;
		struct store_msg msg;
		rc = store_msg_read(s, txn, a->src_id, a->uids[i], &msg, a->move ? DB_RMW : 0);
		if (rc == STORE_ERR_NOTFOUND)
			continue;   /* expunged meanwhile: skipped */
		if (rc != STORE_OK)
			return rc;
		if (dst->uidnext == UINT32_MAX)
			return STORE_ERR_NOQUOTA;   /* RFC 3501 2.3.1.1 */
		struct store_msg copy = msg;
		if (same)
			copy.keywords = msg.keywords;
		else if ((rc = map_keywords(a, msg.keywords, &copy.keywords, &kw_changed)) !=
			 STORE_OK)
			return rc;
		copy.uid = dst->uidnext;
		/* RFC 3501 6.4.7: "the \Recent flag SHOULD be set on the copy". */
		copy.flags = msg.flags | STORE_F_RECENT;
		copy.modseq = dst->highestmodseq + 1;
		/* RFC 8514 3: a copy, or a moved message, is saved now. */
		copy.savedate = a->now;
		if ((rc = store_content_ref(s, txn, msg.content_id)) != STORE_OK ||
		    (rc = store_msg_write(s, txn, a->dst_id, &copy, DB_NOOVERWRITE)) != STORE_OK ||
		    (rc = store_change_put(s, txn, a->dst_id, copy.modseq, copy.uid,
					   STORE_CHANGE_NEW)) != STORE_OK)
			return rc == STORE_ERR_EXISTS ? STORE_ERR_CORRUPT : rc;
		dst->uidnext++;
		dst->highestmodseq = copy.modseq;
		store_mbox_count(dst, &copy, 1);
		if (a->dst_uids_r)
			a->dst_uids_r[i] = copy.uid;
		a->copied++;
		if (!a->move)
			continue;
		/* RFC 6851 3.3: MOVE expunges the originals, leaving EXPUNGE
		 * records like store_expunge. */
		if ((rc = store_msg_delete(s, txn, a->src_id, msg.uid)) != STORE_OK ||
		    (rc = store_content_release(s, txn, msg.content_id)) != STORE_OK ||
		    (rc = store_change_del(s, txn, a->src_id, msg.modseq)) != STORE_OK)
			return rc;
		src->highestmodseq++;
		if ((rc = store_change_put(s, txn, a->src_id, src->highestmodseq, msg.uid,
					   STORE_CHANGE_EXPUNGE)) != STORE_OK)
			return rc;
		store_mbox_count(src, &msg, -1);
	}
	a->uidvalidity = dst->uidvalidity;
	if (a->copied == 0)
		return STORE_OK;
	if (kw_changed && (rc = store_keywords_write(s, txn, a->dst_id, &a->dst_kw)) != STORE_OK)
		return rc;
	if ((rc = store_mbox_write(s, txn, dst)) != STORE_OK)
		return rc;
	if (!same && a->move && (rc = store_mbox_write(s, txn, src)) != STORE_OK)
		return rc;
	if (!a->move)
		return store_meta_add(s, txn, STORE_META_MESSAGES, (int64_t)a->copied);
	return STORE_OK;
}

int store_msgs_copy(struct store *s, uint32_t src_mailbox_id, const uint32_t *uids, size_t n,
		    uint32_t dst_mailbox_id, bool move, uint32_t *dst_uids_r,
		    uint32_t *uidvalidity_r)
{
	if (n > 0 && !uids)
		return STORE_ERR_INVALID;
	struct copy_arg *a = calloc(1, sizeof(*a));
	if (!a)
		return STORE_ERR_TEMP;
	a->src_id = src_mailbox_id;
	a->dst_id = dst_mailbox_id;
	a->uids = uids;
	a->n = n;
	a->move = move;
	a->now = (int64_t)time(NULL);
	a->dst_uids_r = dst_uids_r;
	/* Copies share the content; the new records are small. */
	int rc = store_space_check(s, (uint64_t)n * 256u);
	if (rc == STORE_OK)
		rc = store_txn_run(s, copy_fn, a);
	if (rc == STORE_OK && uidvalidity_r)
		*uidvalidity_r = a->uidvalidity;
	size_t copied = a->copied;
	free(a);
	if (rc == STORE_OK && copied > 0) {
		uint32_t ids[2] = {dst_mailbox_id, move ? src_mailbox_id : 0};
		store_notify(s, ids, 2);
	}
	return rc;
}
