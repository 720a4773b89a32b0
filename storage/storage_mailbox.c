/* storage/storage_mailbox.c: mailboxes.
 *
 * Owns the mailboxes ((user id, name) -> mailbox id) and mailbox_info (id ->
 * UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, counters, special use) databases: creation with a fresh UIDVALIDITY, lookups, listing, and
 * removal of a mailbox with everything in it. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storage/storage_private.h"

int store_mbox_read(struct store *s, DB_TXN *txn, uint32_t mailbox_id, struct store_mailbox *m_r,
		    uint32_t flags)
{
	uint8_t key[4], buf[STORE_MBOX_REC_MAX];
	size_t len;
	store_be32_put(key, mailbox_id);
	int rc = store_db_get(s, txn, SDB_MAILBOX_INFO, key, sizeof(key), buf, sizeof(buf), &len,
			      flags);
	if (rc != STORE_OK)
		return rc;
	return store_mbox_decode(mailbox_id, buf, len, m_r);
}

int store_mbox_write(struct store *s, DB_TXN *txn, const struct store_mailbox *m)
{
	uint8_t key[4], buf[STORE_MBOX_REC_MAX];
	store_be32_put(key, m->id);
	size_t len = store_mbox_encode(m, buf, sizeof(buf));
	if (len == 0)
		return STORE_ERR_INVALID;
	return store_db_put(s, txn, SDB_MAILBOX_INFO, key, sizeof(key), buf, len, 0);
}

int store_mbox_fill_subscribed(struct store *s, DB_TXN *txn, struct store_mailbox *m)
{
	int rc = store_subscribed_txn(s, txn, m->user_id, m->name, strlen(m->name));
	if (rc < 0)
		return rc;
	m->subscribed = rc == 1;
	return STORE_OK;
}

static size_t mbox_key(uint8_t *key, uint32_t user_id, const char *name, size_t name_len)
{
	store_be32_put(key, user_id);
	memcpy(key + 4, name, name_len);
	return 4 + name_len;
}

int store_mailbox_lookup_txn(struct store *s, DB_TXN *txn, uint32_t user_id, const char *name,
			     size_t name_len, uint32_t *id_r)
{
	uint8_t key[STORE_MBOX_KEY_MAX], val[8];
	size_t klen = mbox_key(key, user_id, name, name_len), vlen;
	int rc = store_db_get(s, txn, SDB_MAILBOXES, key, klen, val, sizeof(val), &vlen, 0);
	if (rc != STORE_OK)
		return rc;
	if (vlen != 4)
		return STORE_ERR_CORRUPT;
	*id_r = store_be32_get(val);
	return STORE_OK;
}

/* RFC 3501 2.3.1.1: UIDVALIDITY must change whenever a mailbox name is
 * reused for a new mailbox, and "a good UIDVALIDITY value to use in this
 * case is a 32-bit representation of the creation date/time".  We take the
 * current time, but never less than one more than the last value handed
 * out, from a counter kept in the store: two mailboxes created in the same
 * second (or after the clock went back) still get different values. */
static int next_uidvalidity(struct store *s, DB_TXN *txn, uint32_t *v_r)
{
	uint64_t last;
	int rc = store_meta_get(s, txn, STORE_META_LAST_UIDVALIDITY, &last, DB_RMW);
	if (rc != STORE_OK)
		return rc;
	uint64_t now = (uint64_t)time(NULL) & UINT32_MAX;
	uint64_t v = last + 1 > now ? last + 1 : now;
	if (v > UINT32_MAX)
		return STORE_ERR_TEMP;   /* 32 bits used up (not before 2106) */
	*v_r = (uint32_t)v;
	return store_meta_set(s, txn, STORE_META_LAST_UIDVALIDITY, v);
}

int store_mailbox_create_txn(struct store *s, DB_TXN *txn, uint32_t user_id, const char *name,
			     size_t name_len, uint32_t special_use, bool subscribed,
			     struct store_mailbox *mbox_r)
{
	uint8_t key[STORE_MBOX_KEY_MAX], val[8];
	size_t klen = mbox_key(key, user_id, name, name_len), vlen;
	int rc = store_db_get(s, txn, SDB_MAILBOXES, key, klen, val, sizeof(val), &vlen, DB_RMW);
	if (rc == STORE_OK)
		return STORE_ERR_EXISTS;
	if (rc != STORE_ERR_NOTFOUND)
		return rc;
	uint64_t id;
	if ((rc = store_meta_next(s, txn, STORE_META_NEXT_MAILBOX, &id)) != STORE_OK)
		return rc;
	if (id > UINT32_MAX)
		return STORE_ERR_TEMP;
	struct store_mailbox m;
	memset(&m, 0, sizeof(m));
	m.id = (uint32_t)id;
	m.user_id = user_id;
	memcpy(m.name, name, name_len);
	m.name[name_len] = '\0';
	if ((rc = next_uidvalidity(s, txn, &m.uidvalidity)) != STORE_OK)
		return rc;
	m.uidnext = 1;
	/* RFC 7162 3.1.2.1: HIGHESTMODSEQ is positive even when empty. */
	m.highestmodseq = 1;
	m.first_recent_uid = 1;
	m.special_use = special_use;
	store_be32_put(val, m.id);
	if ((rc = store_mbox_write(s, txn, &m)) != STORE_OK ||
	    (rc = store_db_put(s, txn, SDB_MAILBOXES, key, klen, val, 4, 0)) != STORE_OK)
		return rc;
	/* The subscription is a name of its own (RFC 9051 6.3.7); a name
	 * subscribed before the mailbox existed shows as subscribed. */
	if (subscribed &&
	    (rc = store_subscription_put_txn(s, txn, user_id, name, name_len, true)) != STORE_OK)
		return rc;
	if ((rc = store_subscribed_txn(s, txn, user_id, name, name_len)) < 0)
		return rc;
	m.subscribed = rc == 1;
	if (mbox_r)
		*mbox_r = m;
	return STORE_OK;
}

int store_mailbox_create_defaults(struct store *s, DB_TXN *txn, uint32_t user_id)
{
	/* RFC 6154 2: the special-use attributes of the folders every new
	 * account gets. */
	static const struct {
		const char *name;
		uint32_t special_use;
	} defaults[] = {
		{"INBOX", STORE_SU_NONE},
		{"Sent", STORE_SU_SENT},
		{"Drafts", STORE_SU_DRAFTS},
		{"Trash", STORE_SU_TRASH},
		{"Junk", STORE_SU_JUNK},
		{"Archive", STORE_SU_ARCHIVE},
	};
	for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
		int rc = store_mailbox_create_txn(s, txn, user_id, defaults[i].name,
						  strlen(defaults[i].name), defaults[i].special_use,
						  true, NULL);
		if (rc != STORE_OK)
			return rc;
	}
	return STORE_OK;
}

/* Deletes every record whose key starts with the 4-byte prefix. */
static int delete_prefix(struct store *s, DB_TXN *txn, enum store_db which, uint32_t prefix,
			 int (*each)(struct store *s, DB_TXN *txn, const uint8_t *key, size_t klen,
				     const uint8_t *val, size_t vlen, void *arg),
			 void *arg)
{
	DBC *c;
	int rc = store_cursor_open(s, txn, which, &c);
	if (rc != STORE_OK)
		return rc;
	uint8_t key[16], val[STORE_MSG_REC_MAX];
	size_t klen = 4, vlen;
	store_be32_put(key, prefix);
	uint32_t flags = DB_SET_RANGE | DB_RMW;
	for (;;) {
		rc = store_cursor_get(s, c, key, sizeof(key), &klen, val, sizeof(val), &vlen, flags);
		flags = DB_NEXT | DB_RMW;
		if (rc == STORE_ERR_NOTFOUND) {
			rc = STORE_OK;
			break;
		}
		if (rc != STORE_OK)
			break;
		if (klen < 4 || store_be32_get(key) != prefix)
			break;
		if (each && (rc = each(s, txn, key, klen, val, vlen, arg)) != STORE_OK)
			break;
		if ((rc = store_bdb_err(s, c->del(c, 0))) != STORE_OK)
			break;
	}
	return store_cursor_close(s, c, rc);
}

static int remove_message(struct store *s, DB_TXN *txn, const uint8_t *key, size_t klen,
			  const uint8_t *val, size_t vlen, void *arg)
{
	uint64_t *count = arg;
	struct store_msg m;
	if (klen != 8)
		return STORE_ERR_CORRUPT;
	int rc = store_msg_decode(store_be32_get(key + 4), val, vlen, &m);
	if (rc != STORE_OK)
		return rc;
	(*count)++;
	return store_content_release(s, txn, m.content_id);
}

int store_mailbox_remove_txn(struct store *s, DB_TXN *txn, uint32_t mailbox_id)
{
	uint64_t count = 0;
	int rc = delete_prefix(s, txn, SDB_MESSAGES, mailbox_id, remove_message, &count);
	if (rc == STORE_OK && count > 0)
		rc = store_meta_add(s, txn, STORE_META_MESSAGES, -(int64_t)count);
	if (rc == STORE_OK)
		rc = delete_prefix(s, txn, SDB_CHANGES, mailbox_id, NULL, NULL);
	if (rc == STORE_OK) {
		uint8_t key[4];
		store_be32_put(key, mailbox_id);
		rc = store_db_del(s, txn, SDB_MAILBOX_INFO, key, sizeof(key));
		if (rc == STORE_ERR_NOTFOUND)
			rc = STORE_OK;
	}
	if (rc == STORE_OK)
		rc = store_keywords_del(s, txn, mailbox_id);
	return rc;
}

/* ---- public calls ---- */

struct mbox_arg {
	uint32_t user_id;
	uint32_t mailbox_id;
	char name[STORE_MAILBOX_NAME_MAX + 1];
	size_t name_len;
	uint32_t special_use;
	struct store_mailbox *mbox_r;
};

static int mbox_get_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct mbox_arg *a = arg;
	uint32_t id;
	int rc = store_mailbox_lookup_txn(s, txn, a->user_id, a->name, a->name_len, &id);
	if (rc != STORE_OK)
		return rc;
	rc = store_mbox_read(s, txn, id, a->mbox_r, 0);
	if (rc != STORE_OK)
		return rc == STORE_ERR_NOTFOUND ? STORE_ERR_CORRUPT : rc;
	return store_mbox_fill_subscribed(s, txn, a->mbox_r);
}

int store_mailbox_get(struct store *s, uint32_t user_id, const char *name,
		      struct store_mailbox *mbox_r)
{
	struct mbox_arg *a = calloc(1, sizeof(*a));
	struct store_mailbox *m = malloc(sizeof(*m));
	int rc = a && m ? STORE_OK : STORE_ERR_TEMP;
	if (rc == STORE_OK) {
		a->user_id = user_id;
		a->mbox_r = m;
		rc = store_mailbox_name_normalize(name, a->name, &a->name_len);
	}
	if (rc == STORE_OK)
		rc = store_read_run(s, mbox_get_fn, a);
	if (rc == STORE_OK && mbox_r)
		*mbox_r = *m;
	free(m);
	free(a);
	return rc;
}

static int mbox_get_by_id_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct mbox_arg *a = arg;
	int rc = store_mbox_read(s, txn, a->mailbox_id, a->mbox_r, 0);
	if (rc != STORE_OK)
		return rc;
	return store_mbox_fill_subscribed(s, txn, a->mbox_r);
}

int store_mailbox_get_by_id(struct store *s, uint32_t mailbox_id, struct store_mailbox *mbox_r)
{
	struct mbox_arg a = {.mailbox_id = mailbox_id, .mbox_r = mbox_r};
	struct store_mailbox *m = malloc(sizeof(*m));
	if (!m)
		return STORE_ERR_TEMP;
	a.mbox_r = m;
	int rc = store_read_run(s, mbox_get_by_id_fn, &a);
	if (rc == STORE_OK && mbox_r)
		*mbox_r = *m;
	free(m);
	return rc;
}

static int mbox_create_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct mbox_arg *a = arg;
	uint8_t key[4];
	char addr[STORE_ADDRESS_MAX + 1];
	store_be32_put(key, a->user_id);
	int rc = store_db_get(s, txn, SDB_USERS_BY_ID, key, sizeof(key), addr, STORE_ADDRESS_MAX,
			      NULL, 0);
	if (rc != STORE_OK)
		return rc;
	/* RFC 3501 6.3.3: CREATE does not subscribe; LSUB shows only what the
	 * client subscribed. */
	return store_mailbox_create_txn(s, txn, a->user_id, a->name, a->name_len, a->special_use,
					false, a->mbox_r);
}

int store_mailbox_create(struct store *s, uint32_t user_id, const char *name,
			 uint32_t special_use, struct store_mailbox *mbox_r)
{
	if (special_use & ~(uint32_t)STORE_SU_VALID)
		return STORE_ERR_INVALID;
	struct mbox_arg *a = calloc(1, sizeof(*a));
	struct store_mailbox *m = malloc(sizeof(*m));
	int rc = a && m ? STORE_OK : STORE_ERR_TEMP;
	if (rc == STORE_OK) {
		a->user_id = user_id;
		a->special_use = special_use;
		a->mbox_r = m;
		rc = store_mailbox_name_normalize(name, a->name, &a->name_len);
	}
	if (rc == STORE_OK)
		rc = store_mailbox_name_creatable(a->name, a->name_len, STORE_HIERARCHY_SEP);
	if (rc == STORE_OK)
		rc = store_txn_run(s, mbox_create_fn, a);
	if (rc == STORE_OK)
		store_list_notify(s, STORE_LIST_CREATE, user_id, a->name, NULL);
	if (rc == STORE_OK && mbox_r)
		*mbox_r = *m;
	free(m);
	free(a);
	return rc;
}

/* Listing goes in batches, each in its own transaction (see store_user_list). */
struct mbox_list_arg {
	uint32_t user_id;
	uint8_t last[STORE_MBOX_KEY_MAX];
	size_t last_len;
	struct store_mailbox *batch;
	size_t n;
	bool done;
};

static int mbox_list_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct mbox_list_arg *a = arg;
	a->n = 0;
	a->done = false;
	DBC *c;
	int rc = store_cursor_open(s, txn, SDB_MAILBOXES, &c);
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
	while (a->n < STORE_LIST_BATCH) {
		rc = store_cursor_get(s, c, key, sizeof(key), &klen, val, sizeof(val), &vlen, flags);
		flags = DB_NEXT;
		if (rc == STORE_ERR_NOTFOUND || (rc == STORE_OK && (klen < 4 ||
					store_be32_get(key) != a->user_id))) {
			a->done = true;
			rc = STORE_OK;
			break;
		}
		if (rc != STORE_OK)
			break;
		if (resume && klen == a->last_len && memcmp(key, a->last, klen) == 0)
			continue;
		if (vlen != 4) {
			rc = STORE_ERR_CORRUPT;
			break;
		}
		rc = store_mbox_read(s, txn, store_be32_get(val), &a->batch[a->n], 0);
		if (rc == STORE_ERR_NOTFOUND)
			rc = STORE_ERR_CORRUPT;
		if (rc == STORE_OK)
			rc = store_mbox_fill_subscribed(s, txn, &a->batch[a->n]);
		if (rc != STORE_OK)
			break;
		a->n++;
	}
	return store_cursor_close(s, c, rc);
}

int store_mailbox_list(struct store *s, uint32_t user_id,
		       int (*cb)(void *arg, const struct store_mailbox *mbox), void *cb_arg)
{
	struct mbox_list_arg *a = calloc(1, sizeof(*a));
	if (!a)
		return STORE_ERR_TEMP;
	a->user_id = user_id;
	a->batch = calloc(STORE_LIST_BATCH, sizeof(*a->batch));
	int rc = a->batch ? STORE_OK : STORE_ERR_TEMP;
	while (rc == STORE_OK) {
		if ((rc = store_read_run(s, mbox_list_fn, a)) != STORE_OK)
			break;
		for (size_t i = 0; i < a->n && rc == STORE_OK; i++)
			rc = cb(cb_arg, &a->batch[i]);
		if (a->done || a->n == 0)
			break;
		/* Resume after user id | name of the last mailbox read. */
		const char *name = a->batch[a->n - 1].name;
		a->last_len = mbox_key(a->last, a->user_id, name, strlen(name));
	}
	free(a->batch);
	free(a);
	return rc;
}
