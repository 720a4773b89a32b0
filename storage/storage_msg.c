/* storage/storage_msg.c: messages and their change records.
 *
 * Owns the messages ((mailbox id, uid) -> content, size, flags, date,
 * modseq) and changes ((mailbox id, modseq) -> uid, kind) databases:
 * delivery to several recipients in one transaction, expunge, flag changes
 * and listing.  Every change takes the mailbox's next MODSEQ (RFC 7162
 * 3.1.1) and leaves one change record, so CONDSTORE/QRESYNC and IDLE can ask
 * "what changed since N" with a range scan.  The per-mailbox counters
 * (EXISTS, unseen, deleted, recent, size, UIDNEXT) change in the same
 * transaction (store_mbox_count), so SELECT and STATUS never scan.  Every
 * committed change is announced through the store_set_notify hook.  The
 * many-message calls (STORE, APPEND, COPY/MOVE, UID lists) are in
 * storage_msg_bulk.c. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storage/storage_private.h"

size_t store_msg_key(uint8_t *key, uint32_t mailbox_id, uint32_t uid)
{
	store_be32_put(key, mailbox_id);
	store_be32_put(key + 4, uid);
	return 8;
}

int store_msg_read(struct store *s, DB_TXN *txn, uint32_t mailbox_id, uint32_t uid,
		   struct store_msg *m_r, uint32_t flags)
{
	uint8_t key[8], buf[STORE_MSG_REC_MAX];
	size_t len;
	int rc = store_db_get(s, txn, SDB_MESSAGES, key, store_msg_key(key, mailbox_id, uid), buf,
			      sizeof(buf), &len, flags);
	if (rc != STORE_OK)
		return rc;
	return store_msg_decode(uid, buf, len, m_r);
}

int store_msg_write(struct store *s, DB_TXN *txn, uint32_t mailbox_id, const struct store_msg *m,
		    uint32_t flags)
{
	uint8_t key[8], buf[STORE_MSG_REC_MAX];
	size_t len = store_msg_encode(m, buf, sizeof(buf));
	if (len == 0)
		return STORE_ERR_INVALID;
	return store_db_put(s, txn, SDB_MESSAGES, key, store_msg_key(key, mailbox_id, m->uid), buf, len,
			    flags);
}

size_t store_change_key(uint8_t *key, uint32_t mailbox_id, uint64_t modseq)
{
	store_be32_put(key, mailbox_id);
	store_be64_put(key + 4, modseq);
	return 12;
}

int store_change_put(struct store *s, DB_TXN *txn, uint32_t mailbox_id, uint64_t modseq,
		     uint32_t uid, enum store_change_kind kind)
{
	uint8_t key[12], buf[16];
	size_t len = store_change_encode(uid, kind, buf, sizeof(buf));
	return store_db_put(s, txn, SDB_CHANGES, key, store_change_key(key, mailbox_id, modseq), buf, len,
			    0);
}

/* A message's newer change supersedes its older record, so only its latest
 * is kept (expunges stay, for QRESYNC's VANISHED, RFC 7162 3.2.5). */
int store_change_del(struct store *s, DB_TXN *txn, uint32_t mailbox_id, uint64_t modseq)
{
	uint8_t key[12];
	int rc = store_db_del(s, txn, SDB_CHANGES, key, store_change_key(key, mailbox_id, modseq));
	return rc == STORE_ERR_NOTFOUND ? STORE_OK : rc;
}

static uint32_t dec32(uint32_t v)
{
	return v > 0 ? v - 1 : 0;
}

int store_msg_delete(struct store *s, DB_TXN *txn, uint32_t mailbox_id, uint32_t uid)
{
	uint8_t key[8];
	return store_db_del(s, txn, SDB_MESSAGES, key, store_msg_key(key, mailbox_id, uid));
}

/* The counters SELECT and STATUS read (RFC 3501 6.3.1, 6.3.10, RFC 9051
 * STATUS DELETED) are kept here so that they never need a scan.  \Recent
 * counts messages delivered with STORE_F_RECENT at or after
 * first_recent_uid: a claim (store_mailbox_claim_recent) moves that mark
 * instead of rewriting every message. */
static bool msg_counts_recent(const struct store_mailbox *m, const struct store_msg *msg)
{
	return (msg->flags & STORE_F_RECENT) && msg->uid >= m->first_recent_uid;
}

void store_mbox_count(struct store_mailbox *m, const struct store_msg *msg, int dir)
{
	bool unseen = !(msg->flags & STORE_F_SEEN), del = msg->flags & STORE_F_DELETED;
	bool recent = msg_counts_recent(m, msg);
	if (dir > 0) {
		m->messages++;
		m->size += msg->size;
		m->unseen += unseen;
		m->deleted += del;
		m->recent += recent;
	} else {
		m->messages = dec32(m->messages);
		m->size = msg->size > m->size ? 0 : m->size - msg->size;
		if (unseen)
			m->unseen = dec32(m->unseen);
		if (del)
			m->deleted = dec32(m->deleted);
		if (recent)
			m->recent = dec32(m->recent);
	}
}

/* ---- delivery ----
 * store_deliver is prepare + one transaction of store_deliver_txn +
 * finish; store_queue_update runs the same steps inside its own
 * transaction to store a notice with the outcome it reports. */

static int deliver_fn(struct store *s, DB_TXN *txn, void *arg)
{
	return store_deliver_txn(s, txn, arg);
}

/* Whether the delivery makes the user of a normalised address it lacks. */
static bool deliver_creates(const struct store_delivery *d, const char *addr, size_t len)
{
	char create[STORE_ADDRESS_MAX + 1];
	size_t clen;
	if (d->autocreate)
		return true;
	return d->create && store_address_normalize(d->create, create, &clen) == STORE_OK &&
	       clen == len && memcmp(create, addr, len) == 0;
}

/* The mailbox of a normalised address, its record locked for the update. */
static int deliver_resolve(struct store *s, DB_TXN *txn, const struct store_deliver_ctx *a,
			   const char *addr, size_t len, struct store_mailbox *m_r)
{
	struct store_user u;
	int rc = store_user_read(s, txn, addr, len, &u, 0);
	if (rc == STORE_ERR_NOTFOUND && deliver_creates(a->d, addr, len))
		rc = store_user_add_txn(s, txn, addr, len, "", &u);
	uint32_t mbox_id = 0;
	if (rc == STORE_OK)
		rc = store_mailbox_lookup_txn(s, txn, u.id, a->mbox_name, a->mbox_len, &mbox_id);
	if (rc == STORE_OK)
		rc = store_mbox_read(s, txn, mbox_id, m_r, DB_RMW);
	if (rc == STORE_OK && m_r->uidnext == UINT32_MAX)
		rc = STORE_ERR_NOQUOTA;  /* RFC 3501 2.3.1.1: UIDs are 32 bits */
	return rc;
}

static bool rc_fails_txn(int rc)
{
	return rc == STORE_ERR_RETRY || rc == STORE_ERR_PANIC || rc == STORE_ERR_TEMP;
}

int store_deliver_txn(struct store *s, DB_TXN *txn, struct store_deliver_ctx *a)
{
	const struct store_delivery *d = a->d;
	size_t nt = 0;
	int rc;
	a->content_id = 0;
	a->ntargets = 0;
	a->queued = false;   /* store_txn_run may run this again from the start */
	a->used_fallback = false;

	/* Resolve each distinct recipient to its mailbox, locking the
	 * mailbox record for the update below. */
	for (size_t i = 0; i < d->nrecipients; i++) {
		if (a->first[i] != i || a->addr_len[i] == 0)
			continue;
		rc = deliver_resolve(s, txn, a, a->addr[i], a->addr_len[i], &a->targets[nt]);
		if (rc_fails_txn(rc))
			return rc;   /* the whole transaction fails or retries */
		a->results[i] = rc;
		if (rc == STORE_OK)
			a->target_rcpt[nt++] = i;
	}
	size_t nq = d->nremote > 0 ? 1 : 0;
	if (nt + nq == 0 && a->fb_len) {
		/* Nobody took it: the fallback does (targets has room for one). */
		rc = deliver_resolve(s, txn, a, a->fb_addr, a->fb_len, &a->targets[0]);
		if (rc_fails_txn(rc))
			return rc;
		if (rc == STORE_OK) {
			a->target_rcpt[nt++] = SIZE_MAX;
			a->used_fallback = true;
		}
	}
	if (nt + nq == 0)
		return STORE_OK;

	/* The content is stored once, referenced by every copy and by the
	 * outbound queue entry. */
	if ((rc = store_content_put(s, txn, d->data, d->len, (uint32_t)(nt + nq), &a->content_id)) !=
	    STORE_OK)
		return rc;
	if (nq && (rc = store_queue_put_txn(s, txn, d, a->content_id)) != STORE_OK)
		return rc;  /* all or nothing: the caller must not promise it */
	a->queued = nq != 0;
	if (d->structure && d->structure_len > 0 &&
	    (rc = store_structure_put(s, txn, a->content_id, d->structure, d->structure_len)) !=
		    STORE_OK)
		return rc;
	for (size_t t = 0; t < nt; t++) {
		struct store_mailbox *m = &a->targets[t];
		struct store_msg msg = {
			.uid = m->uidnext,
			.content_id = a->content_id,
			.size = d->len,
			.flags = a->flags,
			.internaldate = a->internaldate,
			.modseq = m->highestmodseq + 1,
			.savedate = a->now,
		};
		m->uidnext++;
		m->highestmodseq = msg.modseq;
		store_mbox_count(m, &msg, 1);
		if ((rc = store_msg_write(s, txn, m->id, &msg, DB_NOOVERWRITE)) != STORE_OK ||
		    (rc = store_change_put(s, txn, m->id, msg.modseq, msg.uid, STORE_CHANGE_NEW)) !=
			    STORE_OK ||
		    (rc = store_mbox_write(s, txn, m)) != STORE_OK)
			/* UIDs are never reused, so an existing key means
			 * the mailbox record lost its UIDNEXT. */
			return rc == STORE_ERR_EXISTS ? STORE_ERR_CORRUPT : rc;
	}
	a->ntargets = nt;
	return store_meta_add(s, txn, STORE_META_MESSAGES, (int64_t)nt);
}

int store_deliver_prepare(const struct store_delivery *d, int *results,
			  struct store_deliver_ctx *a)
{
	memset(a, 0, sizeof(*a));
	a->d = d;
	a->results = results;
	if (!d || !results || (d->nrecipients == 0 && d->nremote == 0) ||
	    (d->nrecipients && !d->recipients) || (d->nremote && !d->remote_recipients) ||
	    (d->len > 0 && !d->data))
		return STORE_ERR_INVALID;
	size_t n = d->nrecipients;
	int rc = store_mailbox_name_normalize(d->mailbox ? d->mailbox : "INBOX", a->mbox_name,
					      &a->mbox_len);
	if (rc != STORE_OK) {
		for (size_t i = 0; i < n; i++)
			results[i] = rc;
		return rc;
	}
	if (n > SIZE_MAX / sizeof(*a->targets))
		return STORE_ERR_INVALID;
	size_t nalloc = n ? n : 1;
	a->addr = calloc(nalloc, sizeof(*a->addr));
	a->addr_len = calloc(nalloc, sizeof(*a->addr_len));
	a->first = calloc(nalloc, sizeof(*a->first));
	a->targets = calloc(nalloc, sizeof(*a->targets));
	a->target_rcpt = calloc(nalloc, sizeof(*a->target_rcpt));
	if (!a->addr || !a->addr_len || !a->first || !a->targets || !a->target_rcpt) {
		store_deliver_ctx_free(a);
		return STORE_ERR_TEMP;
	}
	a->now = (int64_t)time(NULL);
	a->internaldate = d->internaldate ? d->internaldate : a->now;
	/* RFC 3501 2.3.2: \Recent is set on a message new to the mailbox. */
	a->flags = (d->flags & STORE_F_ALL) | STORE_F_RECENT;
	if (d->fallback &&
	    store_address_normalize(d->fallback, a->fb_addr, &a->fb_len) != STORE_OK)
		a->fb_len = 0;
	for (size_t i = 0; i < n; i++) {
		a->first[i] = i;
		results[i] = store_address_normalize(d->recipients[i], a->addr[i], &a->addr_len[i]);
		if (results[i] != STORE_OK) {
			a->addr_len[i] = 0;
			continue;
		}
		/* The same address twice gets one copy. */
		for (size_t j = 0; j < i; j++) {
			if (a->addr_len[j] == a->addr_len[i] &&
			    memcmp(a->addr[j], a->addr[i], a->addr_len[i]) == 0) {
				a->first[i] = j;
				break;
			}
		}
	}
	return STORE_OK;
}

int store_deliver_finish(struct store *s, struct store_deliver_ctx *a, uint64_t *content_id_r)
{
	/* Wakes IMAP IDLE for SMTP deliveries (store_set_notify), on this
	 * thread, now that the transaction committed. */
	for (size_t t = 0; t < a->ntargets; t++)
		store_notify(s, &a->targets[t].id, 1);
	int first_err = 0;
	bool any = false;
	for (size_t i = 0; i < a->d->nrecipients; i++) {
		if (a->first[i] != i)
			a->results[i] = a->results[a->first[i]];
		if (a->results[i] == STORE_OK)
			any = true;
		else if (first_err == 0)
			first_err = a->results[i];
	}
	if (a->queued || a->used_fallback)
		any = true;
	if (any && content_id_r)
		*content_id_r = a->content_id;
	return any ? STORE_OK : first_err;
}

void store_deliver_ctx_free(struct store_deliver_ctx *a)
{
	free(a->addr);
	free(a->addr_len);
	free(a->first);
	free(a->targets);
	free(a->target_rcpt);
	a->addr = NULL;
	a->addr_len = NULL;
	a->first = NULL;
	a->targets = NULL;
	a->target_rcpt = NULL;
}

int store_deliver(struct store *s, const struct store_delivery *d, int *results,
		  uint64_t *content_id_r)
{
	if (content_id_r)
		*content_id_r = 0;
	struct store_deliver_ctx a;
	int rc = store_deliver_prepare(d, results, &a);
	if (rc != STORE_OK)
		return rc;
	/* The reserve (storage_space.c): checked once, before the
	 * transaction; what it takes is the message plus its structure. */
	rc = store_space_check(s, (uint64_t)d->len + d->structure_len);
	if (rc == STORE_OK)
		rc = store_txn_run(s, deliver_fn, &a);
	if (rc != STORE_OK) {
		for (size_t i = 0; i < d->nrecipients; i++)
			results[i] = rc;
	} else {
		rc = store_deliver_finish(s, &a, content_id_r);
	}
	store_deliver_ctx_free(&a);
	return rc;
}

/* ---- several deliveries, one transaction ---- */

struct deliver_many_arg {
	struct store_deliver_ctx *ctx;
	size_t n;
};

static int deliver_many_fn(struct store *s, DB_TXN *txn, void *arg)
{
	/* One after the other: a later one reads what an earlier one wrote
	 * (the same mailbox's UIDNEXT, a user the sandbox just created). */
	struct deliver_many_arg *a = arg;
	for (size_t i = 0; i < a->n; i++) {
		int rc = store_deliver_txn(s, txn, &a->ctx[i]);
		if (rc != STORE_OK)
			return rc;
	}
	return STORE_OK;
}

/* d[0..n) (at most STORE_DELIVER_MANY_MAX) in one transaction. */
static void deliver_group(struct store *s, const struct store_delivery *const *d,
			  int *const *results, int *rc_r, size_t n)
{
	size_t which[STORE_DELIVER_MANY_MAX];
	bool alone[STORE_DELIVER_MANY_MAX];
	size_t m = 0;
	struct store_deliver_ctx *ctx = calloc(n, sizeof(*ctx));   /* ~2 KiB each */
	if (!ctx) {
		for (size_t i = 0; i < n; i++)
			rc_r[i] = store_deliver(s, d[i], results[i], NULL);
		return;
	}
	uint64_t bytes = 0;
	for (size_t i = 0; i < n; i++) {
		alone[i] = true;
		if (store_deliver_prepare(d[i], results[i], &ctx[m]) != STORE_OK)
			continue;   /* store_deliver answers it the same way */
		/* The reserve (storage_space.c), for all of them together. */
		bytes += (uint64_t)d[i]->len + d[i]->structure_len;
		if (store_space_check(s, bytes) != STORE_OK) {
			store_deliver_ctx_free(&ctx[m]);
			bytes -= (uint64_t)d[i]->len + d[i]->structure_len;
			continue;
		}
		alone[i] = false;
		which[m++] = i;
	}
	struct deliver_many_arg a = {.ctx = ctx, .n = m};
	int rc = m ? store_txn_run(s, deliver_many_fn, &a) : STORE_OK;
	/* Alone again only when others shared the failure: a delivery that
	 * failed by itself (or found the store busy, which changed nothing)
	 * would fail the same way, so it is answered as store_deliver does. */
	bool again = m > 1 && rc != STORE_ERR_BUSY;
	for (size_t k = 0; k < m; k++) {
		size_t i = which[k];
		if (rc == STORE_OK) {
			rc_r[i] = store_deliver_finish(s, &ctx[k], NULL);
		} else if (again) {
			alone[i] = true;
		} else {
			for (size_t r = 0; r < d[i]->nrecipients; r++)
				results[i][r] = rc;
			rc_r[i] = rc;
		}
		store_deliver_ctx_free(&ctx[k]);
	}
	free(ctx);
	for (size_t i = 0; i < n; i++)
		if (alone[i])
			rc_r[i] = store_deliver(s, d[i], results[i], NULL);
}

void store_deliver_many(struct store *s, const struct store_delivery *const *d,
			int *const *results, int *rc_r, size_t n)
{
	size_t i = 0;
	while (i < n) {
		size_t k = 1;
		uint64_t bytes = d[i]->len;
		while (i + k < n && k < STORE_DELIVER_MANY_MAX &&
		       bytes + d[i + k]->len <= STORE_DELIVER_MANY_BYTES)
			bytes += d[i + k++]->len;
		deliver_group(s, d + i, results + i, rc_r + i, k);
		i += k;
	}
}

/* ---- expunge ---- */

struct expunge_arg {
	uint32_t mailbox_id;
	const uint32_t *uids;
	size_t nuids;
	bool only_deleted;           /* skip a message without \Deleted */
	size_t removed;
};

static int expunge_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct expunge_arg *a = arg;
	struct store_mailbox *m = malloc(sizeof(*m));
	if (!m)
		return STORE_ERR_TEMP;
	a->removed = 0;
	int rc = store_mbox_read(s, txn, a->mailbox_id, m, DB_RMW);
	for (size_t i = 0; i < a->nuids && rc == STORE_OK; i++) {
		struct store_msg msg;
		uint8_t key[8];
		rc = store_msg_read(s, txn, a->mailbox_id, a->uids[i], &msg, DB_RMW);
		if (rc == STORE_ERR_NOTFOUND) {
			rc = STORE_OK;   /* already gone, or listed twice */
			continue;
		}
		/* Found \Deleted by a scan before this transaction, but
		 * another session may have taken the flag off since: it
		 * stays (RFC 3501 6.4.3 removes what is \Deleted now). */
		if (rc == STORE_OK && a->only_deleted && !(msg.flags & STORE_F_DELETED))
			continue;
		if (rc != STORE_OK ||
		    (rc = store_db_del(s, txn, SDB_MESSAGES, key,
				       store_msg_key(key, a->mailbox_id, msg.uid))) != STORE_OK ||
		    (rc = store_content_release(s, txn, msg.content_id)) != STORE_OK ||
		    (rc = store_change_del(s, txn, a->mailbox_id, msg.modseq)) != STORE_OK)
			break;
		m->highestmodseq++;
		rc = store_change_put(s, txn, a->mailbox_id, m->highestmodseq, msg.uid,
				      STORE_CHANGE_EXPUNGE);
		store_mbox_count(m, &msg, -1);
		a->removed++;
	}
	if (rc == STORE_OK && a->removed > 0) {
		rc = store_mbox_write(s, txn, m);
		if (rc == STORE_OK)
			rc = store_meta_add(s, txn, STORE_META_MESSAGES, -(int64_t)a->removed);
	}
	free(m);
	return rc;
}

int store_expunge_txn(struct store *s, DB_TXN *txn, uint32_t mailbox_id, const uint32_t *uids,
		      size_t nuids, size_t *removed_r)
{
	struct expunge_arg a = {.mailbox_id = mailbox_id, .uids = uids, .nuids = nuids};
	int rc = expunge_fn(s, txn, &a);
	*removed_r = a.removed;
	return rc;
}

static int expunge_run(struct store *s, uint32_t mailbox_id, const uint32_t *uids, size_t nuids,
		       bool only_deleted, size_t *removed_r)
{
	if (removed_r)
		*removed_r = 0;
	if (nuids > 0 && !uids)
		return STORE_ERR_INVALID;
	struct expunge_arg a = {.mailbox_id = mailbox_id, .uids = uids, .nuids = nuids,
				.only_deleted = only_deleted};
	int rc = store_txn_run(s, expunge_fn, &a);
	if (rc == STORE_OK && removed_r)
		*removed_r = a.removed;
	if (rc == STORE_OK && a.removed > 0)
		store_notify(s, &mailbox_id, 1);
	return rc;
}

int store_expunge(struct store *s, uint32_t mailbox_id, const uint32_t *uids, size_t nuids,
		  size_t *removed_r)
{
	return expunge_run(s, mailbox_id, uids, nuids, false, removed_r);
}

int store_expunge_deleted(struct store *s, uint32_t mailbox_id, const uint32_t *uids,
			  size_t nuids, size_t *removed_r)
{
	return expunge_run(s, mailbox_id, uids, nuids, true, removed_r);
}

/* ---- flags ---- */

struct flags_arg {
	uint32_t mailbox_id, uid;
	enum store_flag_op op;
	uint32_t flags;
	struct store_msg msg;
	bool changed;
};

static int flags_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct flags_arg *a = arg;
	struct store_mailbox *m = malloc(sizeof(*m));
	if (!m)
		return STORE_ERR_TEMP;
	a->changed = false;
	int rc = store_mbox_read(s, txn, a->mailbox_id, m, DB_RMW);
	if (rc == STORE_OK)
		rc = store_msg_read(s, txn, a->mailbox_id, a->uid, &a->msg, DB_RMW);
	if (rc != STORE_OK) {
		free(m);
		return rc;
	}
	uint32_t old = a->msg.flags, new = old;
	switch (a->op) {
	case STORE_FLAGS_SET: new = a->flags; break;
	case STORE_FLAGS_ADD: new = old | a->flags; break;
	case STORE_FLAGS_REMOVE: new = old & ~a->flags; break;
	}
	if (new == old) {
		free(m);
		return STORE_OK;
	}
	store_mbox_count(m, &a->msg, -1);
	a->msg.flags = new;
	store_mbox_count(m, &a->msg, 1);
	a->changed = (old ^ new) & ~(uint32_t)STORE_F_RECENT;
	/* RFC 7162 3.1.11: a store that changes nothing keeps the MODSEQ.
	 * \Recent is session state (RFC 3501 2.3.2), not a change a client
	 * synchronises, so claiming it alone does not count either. */
	if ((old ^ new) & ~(uint32_t)STORE_F_RECENT) {
		rc = store_change_del(s, txn, a->mailbox_id, a->msg.modseq);
		m->highestmodseq++;
		a->msg.modseq = m->highestmodseq;
		if (rc == STORE_OK)
			rc = store_change_put(s, txn, a->mailbox_id, a->msg.modseq, a->uid,
					      STORE_CHANGE_FLAGS);
	}
	if (rc == STORE_OK)
		rc = store_msg_write(s, txn, a->mailbox_id, &a->msg, 0);
	if (rc == STORE_OK)
		rc = store_mbox_write(s, txn, m);
	free(m);
	return rc;
}

int store_msg_flags(struct store *s, uint32_t mailbox_id, uint32_t uid, enum store_flag_op op,
		    uint32_t flags, struct store_msg *msg_r)
{
	if ((flags & ~(uint32_t)STORE_F_ALL) ||
	    (op != STORE_FLAGS_SET && op != STORE_FLAGS_ADD && op != STORE_FLAGS_REMOVE))
		return STORE_ERR_INVALID;
	struct flags_arg a = {.mailbox_id = mailbox_id, .uid = uid, .op = op, .flags = flags};
	int rc = store_txn_run(s, flags_fn, &a);
	if (rc == STORE_OK && msg_r)
		*msg_r = a.msg;
	if (rc == STORE_OK && a.changed)
		store_notify(s, &mailbox_id, 1);
	return rc;
}

/* ---- reading ---- */

struct msg_get_arg {
	uint32_t mailbox_id, uid;
	struct store_msg msg;
};

static int msg_get_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct msg_get_arg *a = arg;
	return store_msg_read(s, txn, a->mailbox_id, a->uid, &a->msg, 0);
}

int store_msg_get(struct store *s, uint32_t mailbox_id, uint32_t uid, struct store_msg *msg_r)
{
	struct msg_get_arg a = {.mailbox_id = mailbox_id, .uid = uid};
	/* One record is consistent by itself: no transaction's begin and
	 * commit (a third of a RETR's store work) for a single read. */
	int rc = store_read_run(s, msg_get_fn, &a);
	if (rc == STORE_OK && msg_r)
		*msg_r = a.msg;
	return rc;
}

/* Listing goes in batches, each in its own transaction (see store_user_list). */
#define STORE_MSG_BATCH 1024

struct msg_list_arg {
	uint32_t mailbox_id;
	uint32_t next_uid;        /* resume at this UID */
	uint32_t hi;              /* last UID wanted */
	bool first;
	struct store_msg *batch;
	size_t n;
	bool done;
	void *bulk;                  /* MSG_LIST_BULK bytes, kept across batches */
};

/* The records come in bulk gets (DB_MULTIPLE_KEY, MSG_LIST_BULK bytes, a
 * few pages of them at a time): a cursor step per record (a page pinned,
 * latched and released, the cursor copied) was most of the cost of
 * listing a mailbox for FETCH's and SEARCH's windows. */
#define MSG_LIST_BULK (32 * 1024)

static int msg_list_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct msg_list_arg *a = arg;
	a->n = 0;
	a->done = false;
	uint8_t key[8];
	if (a->first) {
		/* The first batch tells an empty mailbox from a missing one. */
		store_be32_put(key, a->mailbox_id);
		int rc = store_db_exists(s, txn, SDB_MAILBOX_INFO, key, 4);
		if (rc != STORE_OK)
			return rc;
	}
	if (!a->bulk && !(a->bulk = malloc(MSG_LIST_BULK)))
		return STORE_ERR_TEMP;
	DBC *c;
	int rc = store_cursor_open(s, txn, SDB_MESSAGES, &c);
	if (rc != STORE_OK)
		return rc;
	uint32_t next = a->next_uid;
	while (rc == STORE_OK && !a->done && a->n < STORE_MSG_BATCH) {
		/* From the next UID on: a descent per bulk get, not per record. */
		DBT k, v;
		memset(&k, 0, sizeof(k));
		memset(&v, 0, sizeof(v));
		size_t klen = store_msg_key(key, a->mailbox_id, next);
		k.data = key;
		k.size = (u_int32_t)klen;
		k.ulen = sizeof(key);
		k.flags = DB_DBT_USERMEM;
		v.data = a->bulk;
		v.ulen = MSG_LIST_BULK;
		v.flags = DB_DBT_USERMEM;
		rc = store_bdb_err(s, c->get(c, &k, &v, DB_SET_RANGE | DB_MULTIPLE_KEY));
		if (rc == STORE_ERR_NOTFOUND) {
			rc = STORE_OK;
			a->done = true;
			break;
		}
		void *p;
		DB_MULTIPLE_INIT(p, &v);
		bool any = false;
		while (rc == STORE_OK && a->n < STORE_MSG_BATCH) {
			void *kd, *dd;
			u_int32_t kl, dl;
			DB_MULTIPLE_KEY_NEXT(p, &v, kd, kl, dd, dl);
			if (!p)
				break;
			any = true;
			if (kl != 8 || store_be32_get(kd) != a->mailbox_id ||
			    store_be32_get((uint8_t *)kd + 4) > a->hi) {
				a->done = true;
				break;
			}
			uint32_t uid = store_be32_get((uint8_t *)kd + 4);
			if ((rc = store_msg_decode(uid, dd, dl, &a->batch[a->n])) != STORE_OK)
				break;
			a->n++;
			if (uid == UINT32_MAX) {
				a->done = true;
				break;
			}
			next = uid + 1;
		}
		if (rc == STORE_OK && !any)
			rc = STORE_ERR_CORRUPT;   /* DB_SET_RANGE found one: it must come */
	}
	return store_cursor_close(s, c, rc);
}

int store_msg_list_range(struct store *s, uint32_t mailbox_id, uint32_t lo, uint32_t hi,
			 int (*cb)(void *arg, const struct store_msg *msg), void *cb_arg)
{
	struct msg_list_arg a = {.mailbox_id = mailbox_id, .next_uid = lo, .hi = hi,
				 .first = true};
	if (lo > hi)
		return STORE_OK;
	a.batch = calloc(STORE_MSG_BATCH, sizeof(*a.batch));
	if (!a.batch)
		return STORE_ERR_TEMP;
	int rc = STORE_OK;
	while (rc == STORE_OK) {
		if ((rc = store_read_run(s, msg_list_fn, &a)) != STORE_OK)
			break;
		a.first = false;
		for (size_t i = 0; i < a.n && rc == STORE_OK; i++)
			rc = cb(cb_arg, &a.batch[i]);
		if (a.done || a.n == 0)
			break;
		uint32_t last = a.batch[a.n - 1].uid;
		if (last >= hi)
			break;
		a.next_uid = last + 1;
	}
	free(a.batch);
	free(a.bulk);
	return rc;
}

int store_msg_list(struct store *s, uint32_t mailbox_id,
		   int (*cb)(void *arg, const struct store_msg *msg), void *cb_arg)
{
	return store_msg_list_range(s, mailbox_id, 1, UINT32_MAX, cb, cb_arg);
}
