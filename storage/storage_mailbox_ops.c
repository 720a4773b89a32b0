/* storage/storage_mailbox_ops.c: mailbox DELETE and RENAME, subscriptions
 * and the claim of \Recent.
 *
 * Owns the subscriptions database ((user id, name) -> nothing): names a
 * user subscribed, kept apart from the mailboxes so that a subscription
 * outlives its mailbox (RFC 9051 6.3.7, RFC 3501 6.3.6).  Rename rewrites
 * the (user id, name) keys of a mailbox and its inferiors in one
 * transaction; mailbox ids, and with them UIDVALIDITY and the messages,
 * stay. */
#include <stdlib.h>
#include <string.h>

#include "storage/storage_private.h"

static size_t name_key(uint8_t *key, uint32_t user_id, const char *name, size_t name_len)
{
	store_be32_put(key, user_id);
	memcpy(key + 4, name, name_len);
	return 4 + name_len;
}

static bool is_inbox(const char *name, size_t len)
{
	return len == 5 && memcmp(name, "INBOX", 5) == 0;
}

/* ---- subscriptions ---- */

int store_subscribed_txn(struct store *s, DB_TXN *txn, uint32_t user_id, const char *name,
			 size_t name_len)
{
	uint8_t key[STORE_MBOX_KEY_MAX];
	int rc = store_db_exists(s, txn, SDB_SUBSCRIPTIONS, key,
				 name_key(key, user_id, name, name_len));
	if (rc == STORE_OK)
		return 1;
	return rc == STORE_ERR_NOTFOUND ? 0 : rc;
}

int store_subscription_put_txn(struct store *s, DB_TXN *txn, uint32_t user_id, const char *name,
			       size_t name_len, bool subscribed)
{
	uint8_t key[STORE_MBOX_KEY_MAX];
	size_t klen = name_key(key, user_id, name, name_len);
	if (subscribed) {
		static const uint8_t one = 1;
		return store_db_put(s, txn, SDB_SUBSCRIPTIONS, key, klen, &one, 1, 0);
	}
	int rc = store_db_del(s, txn, SDB_SUBSCRIPTIONS, key, klen);
	return rc == STORE_ERR_NOTFOUND ? STORE_OK : rc;
}

int store_subscriptions_del_user(struct store *s, DB_TXN *txn, uint32_t user_id)
{
	DBC *c;
	int rc = store_cursor_open(s, txn, SDB_SUBSCRIPTIONS, &c);
	if (rc != STORE_OK)
		return rc;
	uint8_t key[STORE_MBOX_KEY_MAX], val[8];
	size_t klen = 4, vlen;
	store_be32_put(key, user_id);
	uint32_t flags = DB_SET_RANGE | DB_RMW;
	for (;;) {
		rc = store_cursor_get(s, c, key, sizeof(key), &klen, val, sizeof(val), &vlen, flags);
		flags = DB_NEXT | DB_RMW;
		if (rc == STORE_ERR_NOTFOUND) {
			rc = STORE_OK;
			break;
		}
		if (rc != STORE_OK || klen < 4 || store_be32_get(key) != user_id)
			break;
		if ((rc = store_bdb_err(s, c->del(c, 0))) != STORE_OK)
			break;
	}
	return store_cursor_close(s, c, rc);
}

struct sub_arg {
	uint32_t user_id;
	char name[STORE_MAILBOX_NAME_MAX + 1];
	size_t name_len;
	bool subscribed;
};

static int sub_set_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct sub_arg *a = arg;
	uint8_t key[4];
	char addr[STORE_ADDRESS_MAX + 1];
	store_be32_put(key, a->user_id);
	int rc = store_db_get(s, txn, SDB_USERS_BY_ID, key, sizeof(key), addr, STORE_ADDRESS_MAX,
			      NULL, 0);
	if (rc != STORE_OK)
		return rc;
	return store_subscription_put_txn(s, txn, a->user_id, a->name, a->name_len, a->subscribed);
}

int store_subscription_set(struct store *s, uint32_t user_id, const char *name, bool subscribed)
{
	struct sub_arg *a = calloc(1, sizeof(*a));
	if (!a)
		return STORE_ERR_TEMP;
	a->user_id = user_id;
	a->subscribed = subscribed;
	int rc = store_mailbox_name_normalize(name, a->name, &a->name_len);
	if (rc == STORE_OK)
		rc = store_txn_run(s, sub_set_fn, a);
	if (rc == STORE_OK)
		store_list_notify(s, subscribed ? STORE_LIST_SUBSCRIBE : STORE_LIST_UNSUBSCRIBE,
				  user_id, a->name, NULL);
	free(a);
	return rc;
}

/* Listing in batches of transactions, resuming after the last key. */
#define SUB_BATCH 256

struct sub_list_arg {
	uint32_t user_id;
	uint8_t last[STORE_MBOX_KEY_MAX];
	size_t last_len;
	char (*names)[STORE_MAILBOX_NAME_MAX + 1];
	size_t n;
	bool done;
};

static int sub_list_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct sub_list_arg *a = arg;
	a->n = 0;
	a->done = false;
	DBC *c;
	int rc = store_cursor_open(s, txn, SDB_SUBSCRIPTIONS, &c);
	if (rc != STORE_OK)
		return rc;
	uint8_t key[STORE_MBOX_KEY_MAX], val[8];
	size_t klen, vlen;
	bool resume = a->last_len > 0;
	if (resume) {
		memcpy(key, a->last, a->last_len);
		klen = a->last_len;
	} else {
		store_be32_put(key, a->user_id);
		klen = 4;
	}
	uint32_t flags = DB_SET_RANGE;
	while (a->n < SUB_BATCH) {
		rc = store_cursor_get(s, c, key, sizeof(key), &klen, val, sizeof(val), &vlen, flags);
		flags = DB_NEXT;
		if (rc == STORE_ERR_NOTFOUND ||
		    (rc == STORE_OK && (klen < 4 || store_be32_get(key) != a->user_id))) {
			a->done = true;
			rc = STORE_OK;
			break;
		}
		if (rc != STORE_OK)
			break;
		if (resume && klen == a->last_len && memcmp(key, a->last, klen) == 0)
			continue;
		if (klen - 4 > STORE_MAILBOX_NAME_MAX) {
			rc = STORE_ERR_CORRUPT;
			break;
		}
		memcpy(a->names[a->n], key + 4, klen - 4);
		a->names[a->n][klen - 4] = '\0';
		a->n++;
	}
	return store_cursor_close(s, c, rc);
}

int store_subscription_list(struct store *s, uint32_t user_id,
			    int (*cb)(void *arg, const char *name), void *cb_arg)
{
	struct sub_list_arg *a = calloc(1, sizeof(*a));
	if (!a)
		return STORE_ERR_TEMP;
	a->user_id = user_id;
	a->names = calloc(SUB_BATCH, sizeof(*a->names));
	int rc = a->names ? STORE_OK : STORE_ERR_TEMP;
	while (rc == STORE_OK) {
		if ((rc = store_read_run(s, sub_list_fn, a)) != STORE_OK)
			break;
		for (size_t i = 0; i < a->n && rc == STORE_OK; i++)
			rc = cb(cb_arg, a->names[i]);
		if (a->done || a->n == 0)
			break;
		const char *last = a->names[a->n - 1];
		a->last_len = name_key(a->last, a->user_id, last, strlen(last));
	}
	free(a->names);
	free(a);
	return rc;
}

/* ---- delete ---- */

struct del_arg {
	uint32_t user_id;
	char name[STORE_MAILBOX_NAME_MAX + 1];
	size_t name_len;
	uint32_t mailbox_id;
};

static int del_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct del_arg *a = arg;
	int rc = store_mailbox_lookup_txn(s, txn, a->user_id, a->name, a->name_len, &a->mailbox_id);
	if (rc != STORE_OK)
		return rc;
	uint8_t key[STORE_MBOX_KEY_MAX];
	if ((rc = store_db_del(s, txn, SDB_MAILBOXES, key,
			       name_key(key, a->user_id, a->name, a->name_len))) != STORE_OK)
		return rc;
	/* RFC 5464 4.1: a mailbox made later under this name starts bare. */
	if ((rc = store_metadata_del_txn(s, txn, a->user_id, a->mailbox_id)) != STORE_OK)
		return rc;
	return store_mailbox_remove_txn(s, txn, a->mailbox_id);
}

int store_mailbox_delete(struct store *s, uint32_t user_id, const char *name)
{
	struct del_arg *a = calloc(1, sizeof(*a));
	if (!a)
		return STORE_ERR_TEMP;
	a->user_id = user_id;
	int rc = store_mailbox_name_normalize(name, a->name, &a->name_len);
	/* RFC 3501 6.3.4: deleting INBOX is an error. */
	if (rc == STORE_OK && is_inbox(a->name, a->name_len))
		rc = STORE_ERR_PERM;
	if (rc == STORE_OK)
		rc = store_txn_run(s, del_fn, a);
	uint32_t id = a->mailbox_id;
	if (rc == STORE_OK) {
		store_notify(s, &id, 1);
		store_list_notify(s, STORE_LIST_DELETE, user_id, a->name, NULL);
	}
	free(a);
	return rc;
}

/* ---- rename ---- */

struct ren_item {
	uint32_t id;
	char *suffix;      /* the part of the old name after `from` */
};

struct ren_arg {
	uint32_t user_id;
	char from[STORE_MAILBOX_NAME_MAX + 1], to[STORE_MAILBOX_NAME_MAX + 1];
	size_t from_len, to_len;
	char sep;
	struct ren_item *items;
	size_t n, cap;
	uint32_t notify[2];    /* INBOX rename: INBOX and the new mailbox */
};

static void ren_items_free(struct ren_arg *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->items[i].suffix);
	free(a->items);
	a->items = NULL;
	a->n = a->cap = 0;
}

static int ren_item_add(struct ren_arg *a, uint32_t id, const void *suffix, size_t len)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 8;
		if (cap > SIZE_MAX / sizeof(*a->items))
			return STORE_ERR_TEMP;
		struct ren_item *p = realloc(a->items, cap * sizeof(*p));
		if (!p)
			return STORE_ERR_TEMP;
		a->items = p;
		a->cap = cap;
	}
	char *sfx = malloc(len + 1);
	if (!sfx)
		return STORE_ERR_TEMP;
	memcpy(sfx, suffix, len);
	sfx[len] = '\0';
	a->items[a->n].id = id;
	a->items[a->n].suffix = sfx;
	a->n++;
	return STORE_OK;
}

/* Collects `from` and every mailbox named from + sep + ... */
static int ren_collect(struct store *s, DB_TXN *txn, struct ren_arg *a, uint32_t from_id)
{
	int rc = ren_item_add(a, from_id, "", 0);
	if (rc != STORE_OK)
		return rc;
	DBC *c;
	if ((rc = store_cursor_open(s, txn, SDB_MAILBOXES, &c)) != STORE_OK)
		return rc;
	uint8_t prefix[STORE_MBOX_KEY_MAX + 1], key[STORE_MBOX_KEY_MAX], val[8];
	size_t plen = name_key(prefix, a->user_id, a->from, a->from_len);
	prefix[plen++] = (uint8_t)a->sep;
	memcpy(key, prefix, plen);
	size_t klen = plen, vlen;
	uint32_t flags = DB_SET_RANGE;
	for (;;) {
		rc = store_cursor_get(s, c, key, sizeof(key), &klen, val, sizeof(val), &vlen, flags);
		flags = DB_NEXT;
		if (rc == STORE_ERR_NOTFOUND) {
			rc = STORE_OK;
			break;
		}
		if (rc != STORE_OK || klen < plen || memcmp(key, prefix, plen) != 0)
			break;
		if (vlen != 4) {
			rc = STORE_ERR_CORRUPT;
			break;
		}
		/* suffix keeps the separator: new name = to + suffix */
		if ((rc = ren_item_add(a, store_be32_get(val), key + plen - 1, klen - plen + 1)) !=
		    STORE_OK)
			break;
	}
	return store_cursor_close(s, c, rc);
}

static int ren_plain(struct store *s, DB_TXN *txn, struct ren_arg *a, uint32_t from_id)
{
	int rc = ren_collect(s, txn, a, from_id);
	if (rc != STORE_OK)
		return rc;
	uint8_t key[STORE_MBOX_KEY_MAX];
	/* Check every new name first. */
	for (size_t i = 0; i < a->n; i++) {
		size_t sl = strlen(a->items[i].suffix);
		if (sl > STORE_MAILBOX_NAME_MAX - a->to_len)
			return STORE_ERR_INVALID;
		size_t klen = name_key(key, a->user_id, a->to, a->to_len);
		memcpy(key + klen, a->items[i].suffix, sl);
		rc = store_db_exists(s, txn, SDB_MAILBOXES, key, klen + sl);
		if (rc == STORE_OK)
			return STORE_ERR_EXISTS;
		if (rc != STORE_ERR_NOTFOUND)
			return rc;
	}
	struct store_mailbox *m = malloc(sizeof(*m));
	if (!m)
		return STORE_ERR_TEMP;
	for (size_t i = 0; i < a->n; i++) {
		size_t sl = strlen(a->items[i].suffix);
		uint8_t val[4];
		store_be32_put(val, a->items[i].id);
		size_t klen = name_key(key, a->user_id, a->from, a->from_len);
		memcpy(key + klen, a->items[i].suffix, sl);
		if ((rc = store_db_del(s, txn, SDB_MAILBOXES, key, klen + sl)) != STORE_OK)
			break;
		klen = name_key(key, a->user_id, a->to, a->to_len);
		memcpy(key + klen, a->items[i].suffix, sl);
		if ((rc = store_db_put(s, txn, SDB_MAILBOXES, key, klen + sl, val, 4, 0)) != STORE_OK)
			break;
		if ((rc = store_mbox_read(s, txn, a->items[i].id, m, DB_RMW)) != STORE_OK) {
			if (rc == STORE_ERR_NOTFOUND)
				rc = STORE_ERR_CORRUPT;
			break;
		}
		memcpy(m->name, a->to, a->to_len);
		memcpy(m->name + a->to_len, a->items[i].suffix, sl + 1);
		if ((rc = store_mbox_write(s, txn, m)) != STORE_OK)
			break;
	}
	free(m);
	return rc;
}

/* RFC 3501 6.3.5: renaming INBOX moves all its messages to a new mailbox
 * and leaves INBOX empty.  The messages keep UID, flags, keywords, date
 * and MODSEQ; INBOX records an EXPUNGE for each so its sessions see them
 * go. */
static int ren_inbox(struct store *s, DB_TXN *txn, struct ren_arg *a, uint32_t inbox_id)
{
	struct store_mailbox *in = malloc(sizeof(*in)), *to = malloc(sizeof(*to));
	struct store_keywords *kw = malloc(sizeof(*kw));
	int rc = in && to && kw ? STORE_OK : STORE_ERR_TEMP;
	if (rc == STORE_OK)
		rc = store_mbox_read(s, txn, inbox_id, in, DB_RMW);
	if (rc == STORE_OK)
		rc = store_mailbox_create_txn(s, txn, a->user_id, a->to, a->to_len, STORE_SU_NONE,
					      false, to);
	if (rc == STORE_OK)
		rc = store_keywords_read(s, txn, inbox_id, kw, 0);
	if (rc == STORE_OK && kw->count > 0)
		rc = store_keywords_write(s, txn, to->id, kw);
	/* RFC 5464 4.1: INBOX keeps its annotations and the new mailbox gets
	 * a copy. */
	if (rc == STORE_OK)
		rc = store_metadata_copy_txn(s, txn, a->user_id, inbox_id, to->id);
	if (rc != STORE_OK)
		goto out;
	a->notify[0] = inbox_id;
	a->notify[1] = to->id;
	to->uidnext = in->uidnext;
	to->first_recent_uid = in->first_recent_uid;
	to->highestmodseq = in->highestmodseq;

	DBC *c;
	if ((rc = store_cursor_open(s, txn, SDB_MESSAGES, &c)) != STORE_OK)
		goto out;
	uint8_t key[8], val[STORE_MSG_REC_MAX];
	size_t klen = 4, vlen;
	store_be32_put(key, inbox_id);
	uint32_t flags = DB_SET_RANGE | DB_RMW;
	for (;;) {
		rc = store_cursor_get(s, c, key, sizeof(key), &klen, val, sizeof(val), &vlen, flags);
		flags = DB_NEXT | DB_RMW;
		if (rc == STORE_ERR_NOTFOUND) {
			rc = STORE_OK;
			break;
		}
		if (rc != STORE_OK || klen != 8 || store_be32_get(key) != inbox_id)
			break;
		struct store_msg msg;
		if ((rc = store_msg_decode(store_be32_get(key + 4), val, vlen, &msg)) != STORE_OK)
			break;
		/* The new mailbox's keys sort after INBOX's (its id is
		 * higher), so the cursor never meets them. */
		if ((rc = store_msg_write(s, txn, to->id, &msg, DB_NOOVERWRITE)) != STORE_OK ||
		    (rc = store_change_put(s, txn, to->id, msg.modseq, msg.uid, STORE_CHANGE_NEW)) !=
			    STORE_OK ||
		    (rc = store_change_del(s, txn, inbox_id, msg.modseq)) != STORE_OK ||
		    (rc = store_bdb_err(s, c->del(c, 0))) != STORE_OK)
			break;
		store_mbox_count(to, &msg, 1);
		store_mbox_count(in, &msg, -1);
		in->highestmodseq++;
		if ((rc = store_change_put(s, txn, inbox_id, in->highestmodseq, msg.uid,
					   STORE_CHANGE_EXPUNGE)) != STORE_OK)
			break;
	}
	rc = store_cursor_close(s, c, rc);
	if (rc == STORE_OK)
		rc = store_mbox_write(s, txn, in);
	if (rc == STORE_OK)
		rc = store_mbox_write(s, txn, to);
out:
	free(in);
	free(to);
	free(kw);
	return rc;
}

static int ren_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct ren_arg *a = arg;
	ren_items_free(a);
	a->notify[0] = a->notify[1] = 0;
	uint32_t from_id, to_id;
	int rc = store_mailbox_lookup_txn(s, txn, a->user_id, a->from, a->from_len, &from_id);
	if (rc != STORE_OK)
		return rc;
	rc = store_mailbox_lookup_txn(s, txn, a->user_id, a->to, a->to_len, &to_id);
	if (rc == STORE_OK)
		return STORE_ERR_EXISTS;
	if (rc != STORE_ERR_NOTFOUND)
		return rc;
	if (is_inbox(a->from, a->from_len))
		return ren_inbox(s, txn, a, from_id);
	return ren_plain(s, txn, a, from_id);
}

int store_mailbox_rename(struct store *s, uint32_t user_id, const char *from, const char *to,
			 char sep)
{
	struct ren_arg *a = calloc(1, sizeof(*a));
	if (!a)
		return STORE_ERR_TEMP;
	a->user_id = user_id;
	a->sep = sep;
	int rc = store_mailbox_name_normalize(from, a->from, &a->from_len);
	if (rc == STORE_OK)
		rc = store_mailbox_name_normalize(to, a->to, &a->to_len);
	if (rc == STORE_OK && (is_inbox(a->to, a->to_len) || sep == '\0'))
		rc = STORE_ERR_INVALID;
	if (rc == STORE_OK)
		rc = store_mailbox_name_creatable(a->to, a->to_len, sep);
	/* A mailbox cannot become its own inferior. */
	if (rc == STORE_OK && !is_inbox(a->from, a->from_len) && a->to_len > a->from_len &&
	    memcmp(a->to, a->from, a->from_len) == 0 && a->to[a->from_len] == sep)
		rc = STORE_ERR_INVALID;
	if (rc == STORE_OK)
		rc = store_txn_run(s, ren_fn, a);
	if (rc == STORE_OK) {
		if (a->notify[0]) {
			store_notify(s, a->notify, 2);
		} else {
			for (size_t i = 0; i < a->n; i++)
				store_notify(s, &a->items[i].id, 1);
		}
		store_list_notify(s, STORE_LIST_RENAME, user_id, a->to, a->from);
	}
	ren_items_free(a);
	free(a);
	return rc;
}

/* ---- \Recent ---- */

struct claim_arg {
	uint32_t mailbox_id;
	uint32_t first;
	uint32_t claimed;
	struct store_mailbox m;
};

static int claim_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct claim_arg *a = arg;
	int rc = store_mbox_read(s, txn, a->mailbox_id, &a->m, DB_RMW);
	if (rc != STORE_OK)
		return rc;
	a->first = a->m.first_recent_uid;
	a->claimed = a->m.recent;
	if (a->m.first_recent_uid != a->m.uidnext || a->m.recent != 0) {
		a->m.first_recent_uid = a->m.uidnext;
		a->m.recent = 0;
		if ((rc = store_mbox_write(s, txn, &a->m)) != STORE_OK)
			return rc;
	}
	return store_mbox_fill_subscribed(s, txn, &a->m);
}

int store_mailbox_claim_recent(struct store *s, uint32_t mailbox_id, uint32_t *first_recent_r,
			       uint32_t *claimed_r, struct store_mailbox *mbox_r)
{
	struct claim_arg *a = calloc(1, sizeof(*a));
	if (!a)
		return STORE_ERR_TEMP;
	a->mailbox_id = mailbox_id;
	int rc = store_txn_run(s, claim_fn, a);
	if (rc == STORE_OK) {
		if (first_recent_r)
			*first_recent_r = a->first;
		if (claimed_r)
			*claimed_r = a->claimed;
		if (mbox_r)
			*mbox_r = a->m;
	}
	free(a);
	return rc;
}
