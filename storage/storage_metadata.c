/* storage/storage_metadata.c: annotations (RFC 5464 METADATA) of a user's
 * mailboxes and of the server as that user sees it.
 *
 * Owns the metadata database: (be32 user id | be32 mailbox id | entry name)
 * -> (version byte | value octets).  Mailbox id 0 holds the server's
 * entries.  Entry names are stored lower-case (RFC 5464 3.2: they are
 * case-insensitive), so one btree range holds an entry and everything
 * below it, and a user's or a mailbox's entries are one contiguous range
 * (what DELETE and `user del` remove, what RENAME INBOX copies).
 *
 * Keyed by mailbox id rather than name: RENAME keeps the id, so the
 * annotations follow a renamed mailbox and its inferiors without a write
 * (RFC 5464 4.1), and a mailbox made anew under an old name has a new id,
 * so it cannot inherit a deleted mailbox's entries even if one were left. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "storage/storage_private.h"

#define META_REC_VERSION 1
#define META_KEY_MAX (8 + STORE_METADATA_ENTRY_MAX)

static size_t meta_key(uint8_t *key, uint32_t user_id, uint32_t mailbox_id, const char *entry,
		       size_t len)
{
	store_be32_put(key, user_id);
	store_be32_put(key + 4, mailbox_id);
	if (len)
		memcpy(key + 8, entry, len);
	return 8 + len;
}

/* Lower-cases an entry name into out (STORE_METADATA_ENTRY_MAX + 1).  The
 * protocol checks the grammar (imap_parse_metadata.c); the store only
 * refuses what would break its keys: empty, too long, NUL, no leading "/". */
static int meta_entry_normalize(const char *entry, char *out, size_t *len_r)
{
	size_t len = entry ? strlen(entry) : 0;
	if (len < 2 || len > STORE_METADATA_ENTRY_MAX || entry[0] != '/')
		return STORE_ERR_INVALID;
	for (size_t i = 0; i < len; i++)
		out[i] = (char)tolower((unsigned char)entry[i]);
	out[len] = '\0';
	*len_r = len;
	return STORE_OK;
}

/* Cursor read of the key only (the value is not copied). */
static int meta_cursor_key(struct store *s, DBC *c, uint8_t *key, size_t *klen_io, uint32_t flags)
{
	DBT k, v;
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.data = key;
	k.ulen = META_KEY_MAX;
	k.size = (u_int32_t)*klen_io;
	k.flags = DB_DBT_USERMEM;
	v.flags = DB_DBT_USERMEM | DB_DBT_PARTIAL;
	int rc = store_bdb_err(s, c->get(c, &k, &v, flags));
	if (rc == STORE_OK)
		*klen_io = k.size;
	return rc;
}

/* Visits every key starting with prefix[0..plen) (plen >= 4): counts them
 * (up to `stop`, 0 = all) or, with `del`, deletes them. */
static int meta_range(struct store *s, DB_TXN *txn, const uint8_t *prefix, size_t plen, bool del,
		      uint32_t stop, uint32_t *count_r)
{
	DBC *c;
	int rc = store_cursor_open(s, txn, SDB_METADATA, &c);
	if (rc != STORE_OK)
		return rc;
	uint8_t key[META_KEY_MAX];
	memcpy(key, prefix, plen);
	size_t klen = plen;
	uint32_t n = 0;
	uint32_t flags = DB_SET_RANGE | (del ? DB_RMW : 0);
	for (;;) {
		rc = meta_cursor_key(s, c, key, &klen, flags);
		flags = DB_NEXT | (del ? DB_RMW : 0);
		if (rc == STORE_ERR_NOTFOUND) {
			rc = STORE_OK;
			break;
		}
		if (rc != STORE_OK || klen < plen || memcmp(key, prefix, plen) != 0)
			break;
		if (del && (rc = store_bdb_err(s, c->del(c, 0))) != STORE_OK)
			break;
		if (++n == stop)
			break;
	}
	if (count_r)
		*count_r = n;
	return store_cursor_close(s, c, rc);
}

int store_metadata_del_txn(struct store *s, DB_TXN *txn, uint32_t user_id, uint32_t mailbox_id)
{
	uint8_t prefix[8];
	return meta_range(s, txn, prefix, meta_key(prefix, user_id, mailbox_id, NULL, 0), true, 0,
			  NULL);
}

int store_metadata_del_user_txn(struct store *s, DB_TXN *txn, uint32_t user_id)
{
	uint8_t prefix[4];
	store_be32_put(prefix, user_id);
	return meta_range(s, txn, prefix, 4, true, 0, NULL);
}

/* Each record whose key starts with prefix, in key order, with its value;
 * a return of fn other than STORE_OK stops the walk and is returned. */
typedef int meta_each_fn(void *arg, const uint8_t *key, size_t klen, const void *val,
			 size_t vlen);

static int meta_each(struct store *s, DB_TXN *txn, const uint8_t *prefix, size_t plen,
		     meta_each_fn *fn, void *arg)
{
	DBC *c;
	int rc = store_cursor_open(s, txn, SDB_METADATA, &c);
	if (rc != STORE_OK)
		return rc;
	uint8_t key[META_KEY_MAX];
	memcpy(key, prefix, plen);
	size_t klen = plen;
	DBT k, v;
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	v.flags = DB_DBT_REALLOC;
	uint32_t flags = DB_SET_RANGE;
	for (;;) {
		k.data = key;
		k.ulen = sizeof(key);
		k.size = (u_int32_t)klen;
		k.flags = DB_DBT_USERMEM;
		rc = store_bdb_err(s, c->get(c, &k, &v, flags));
		flags = DB_NEXT;
		if (rc == STORE_ERR_NOTFOUND) {
			rc = STORE_OK;
			break;
		}
		klen = k.size;
		if (rc != STORE_OK || klen < plen || memcmp(key, prefix, plen) != 0)
			break;
		if ((rc = fn(arg, key, klen, v.data, v.size)) != STORE_OK)
			break;
	}
	free(v.data);
	return store_cursor_close(s, c, rc);
}

struct meta_copy_arg {
	struct store *s;
	DB_TXN *txn;
	uint32_t user_id, to_id;
};

static int meta_copy_one(void *arg, const uint8_t *key, size_t klen, const void *val, size_t vlen)
{
	struct meta_copy_arg *a = arg;
	uint8_t nkey[META_KEY_MAX];
	size_t nlen = meta_key(nkey, a->user_id, a->to_id, (const char *)key + 8, klen - 8);
	return store_db_put(a->s, a->txn, SDB_METADATA, nkey, nlen, val, vlen, 0);
}

int store_metadata_copy_txn(struct store *s, DB_TXN *txn, uint32_t user_id, uint32_t from_id,
			    uint32_t to_id)
{
	/* The new mailbox's keys sort after the old one's only when its id
	 * is higher (RENAME INBOX makes a new mailbox, so it is), so the
	 * walk never meets the copies. */
	uint8_t prefix[8];
	size_t plen = meta_key(prefix, user_id, from_id, NULL, 0);
	struct meta_copy_arg a = {.s = s, .txn = txn, .user_id = user_id, .to_id = to_id};
	return meta_each(s, txn, prefix, plen, meta_copy_one, &a);
}

/* ---- set ---- */

struct meta_set_arg {
	uint32_t user_id, mailbox_id;
	const struct store_metadata_change *ch;
	char (*names)[STORE_METADATA_ENTRY_MAX + 1];
	size_t *name_len;
	size_t n;
	struct store_metadata_limits lim;
	char mailbox[STORE_MAILBOX_NAME_MAX + 1];   /* for the hook */
	bool changed;
	bool *changed_at;   /* per change: it wrote or removed a record */
};

/* The user (read for update: concurrent SETMETADATA of one user run one
 * after the other, so two cannot both pass the count limits) and the
 * mailbox, which must be the user's. */
static int meta_owner_lock(struct store *s, DB_TXN *txn, struct meta_set_arg *a)
{
	uint8_t key[4];
	char addr[STORE_ADDRESS_MAX + 1];
	store_be32_put(key, a->user_id);
	int rc = store_db_get(s, txn, SDB_USERS_BY_ID, key, sizeof(key), addr, STORE_ADDRESS_MAX,
			      NULL, DB_RMW);
	if (rc != STORE_OK || a->mailbox_id == 0)
		return rc;
	struct store_mailbox *m = malloc(sizeof(*m));
	if (!m)
		return STORE_ERR_TEMP;
	rc = store_mbox_read(s, txn, a->mailbox_id, m, 0);
	if (rc == STORE_OK && m->user_id != a->user_id)
		rc = STORE_ERR_NOTFOUND;
	if (rc == STORE_OK)
		memcpy(a->mailbox, m->name, sizeof(a->mailbox));
	free(m);
	return rc;
}

static int meta_set_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct meta_set_arg *a = arg;
	/* A retried transaction starts over: so does what it changed. */
	a->changed = false;
	memset(a->changed_at, 0, a->n * sizeof(*a->changed_at));
	int rc = meta_owner_lock(s, txn, a);
	if (rc != STORE_OK)
		return rc;
	uint8_t prefix[8];
	size_t plen = meta_key(prefix, a->user_id, a->mailbox_id, NULL, 0);
	/* Counted once, then kept as the changes go: limits bound the scans. */
	uint32_t in_box = 0, in_user = 0;
	bool counted = false;
	uint8_t key[META_KEY_MAX];
	for (size_t i = 0; i < a->n; i++) {
		size_t klen = meta_key(key, a->user_id, a->mailbox_id, a->names[i], a->name_len[i]);
		rc = store_db_exists(s, txn, SDB_METADATA, key, klen);
		if (rc != STORE_OK && rc != STORE_ERR_NOTFOUND)
			return rc;
		bool exists = rc == STORE_OK;
		if (!a->ch[i].value) {
			if (exists) {
				if ((rc = store_db_del(s, txn, SDB_METADATA, key, klen)) != STORE_OK)
					return rc;
				a->changed = true;
				a->changed_at[i] = true;
				in_box -= counted;
				in_user -= counted;
			}
			continue;
		}
		if (!exists) {
			if (!counted) {
				uint8_t up[4];
				store_be32_put(up, a->user_id);
				if ((rc = meta_range(s, txn, prefix, plen, false,
						     a->lim.max_entries, &in_box)) != STORE_OK ||
				    (rc = meta_range(s, txn, up, 4, false, a->lim.max_user_entries,
						     &in_user)) != STORE_OK)
					return rc;
				counted = true;
			}
			/* RFC 5464 4.3 [METADATA TOOMANY]. */
			if (in_box >= a->lim.max_entries || in_user >= a->lim.max_user_entries)
				return STORE_ERR_NOQUOTA;
			in_box++;
			in_user++;
		}
		uint8_t *rec = malloc(1 + a->ch[i].len);
		if (!rec)
			return STORE_ERR_TEMP;
		rec[0] = META_REC_VERSION;
		if (a->ch[i].len)
			memcpy(rec + 1, a->ch[i].value, a->ch[i].len);
		rc = store_db_put(s, txn, SDB_METADATA, key, klen, rec, 1 + a->ch[i].len, 0);
		free(rec);
		if (rc != STORE_OK)
			return rc;
		a->changed = true;
		a->changed_at[i] = true;
	}
	return STORE_OK;
}

static int meta_name_cmp(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* The hook, with the names of the entries the transaction changed (RFC
 * 5465 5.6, 5.7: "only the changed metadata SHOULD be included", a
 * removed one always), each once and in name order. */
static void meta_notify(struct store *s, const struct meta_set_arg *a)
{
	pthread_mutex_lock(&s->notify_mu);
	store_metadata_notify_fn *fn = s->metadata_notify_fn;
	void *arg = s->metadata_notify_arg;
	pthread_mutex_unlock(&s->notify_mu);
	if (!fn)
		return;
	const char **names = calloc(a->n, sizeof(*names));
	if (!names)
		return;   /* the change is committed; only the news is lost */
	size_t k = 0;
	for (size_t i = 0; i < a->n; i++)
		if (a->changed_at[i])
			names[k++] = a->names[i];
	qsort(names, k, sizeof(*names), meta_name_cmp);
	size_t u = 0;
	for (size_t i = 0; i < k; i++)
		if (u == 0 || strcmp(names[u - 1], names[i]) != 0)
			names[u++] = names[i];
	fn(arg, a->user_id, a->mailbox_id, a->mailbox_id ? a->mailbox : NULL, names, u);
	free(names);
}

int store_metadata_set(struct store *s, uint32_t user_id, uint32_t mailbox_id,
		       const struct store_metadata_change *ch, size_t n,
		       const struct store_metadata_limits *lim)
{
	if (n == 0)
		return STORE_OK;
	if (!lim || n > SIZE_MAX / (STORE_METADATA_ENTRY_MAX + 1 + sizeof(size_t)))
		return STORE_ERR_INVALID;
	struct meta_set_arg *a = calloc(1, sizeof(*a));
	if (!a)
		return STORE_ERR_TEMP;
	a->names = calloc(n, sizeof(*a->names));
	a->name_len = calloc(n, sizeof(*a->name_len));
	a->changed_at = calloc(n, sizeof(*a->changed_at));
	int rc = a->names && a->name_len && a->changed_at ? STORE_OK : STORE_ERR_TEMP;
	a->user_id = user_id;
	a->mailbox_id = mailbox_id;
	a->ch = ch;
	a->n = n;
	a->lim = *lim;
	for (size_t i = 0; i < n && rc == STORE_OK; i++) {
		rc = meta_entry_normalize(ch[i].entry, a->names[i], &a->name_len[i]);
		if (rc == STORE_OK && ch[i].value &&
		    (ch[i].len > lim->max_value || ch[i].len > STORE_METADATA_VALUE_MAX))
			rc = STORE_ERR_INVALID;
	}
	if (rc == STORE_OK)
		rc = store_txn_run(s, meta_set_fn, a);
	if (rc == STORE_OK && a->changed)
		meta_notify(s, a);
	free(a->names);
	free(a->changed_at);
	free(a->name_len);
	free(a);
	return rc;
}

void store_set_metadata_notify(struct store *s, store_metadata_notify_fn *fn, void *arg)
{
	pthread_mutex_lock(&s->notify_mu);
	s->metadata_notify_fn = fn;
	s->metadata_notify_arg = arg;
	pthread_mutex_unlock(&s->notify_mu);
}

/* ---- list ---- */

struct meta_item {
	char *entry;
	void *value;
	size_t len;
};

struct meta_list_arg {
	uint32_t user_id, mailbox_id;
	char prefix[STORE_METADATA_ENTRY_MAX + 1];
	size_t prefix_len;
	struct meta_item *items;
	size_t n, cap;
};

static void meta_items_free(struct meta_list_arg *a)
{
	for (size_t i = 0; i < a->n; i++) {
		free(a->items[i].entry);
		free(a->items[i].value);
	}
	a->n = 0;
}

static int meta_item_add(struct meta_list_arg *a, const uint8_t *name, size_t nlen,
			 const uint8_t *rec, size_t rlen)
{
	if (rlen < 1 || rec[0] != META_REC_VERSION)
		return STORE_ERR_CORRUPT;
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 16;
		struct meta_item *p = realloc(a->items, cap * sizeof(*p));
		if (!p)
			return STORE_ERR_TEMP;
		a->items = p;
		a->cap = cap;
	}
	struct meta_item *it = &a->items[a->n];
	it->entry = malloc(nlen + 1);
	it->value = malloc(rlen);      /* rlen - 1 octets, never a malloc(0) */
	if (!it->entry || !it->value) {
		free(it->entry);
		free(it->value);
		return STORE_ERR_TEMP;
	}
	memcpy(it->entry, name, nlen);
	it->entry[nlen] = '\0';
	memcpy(it->value, rec + 1, rlen - 1);
	it->len = rlen - 1;
	a->n++;
	return STORE_OK;
}

static int meta_list_one(void *arg, const uint8_t *key, size_t klen, const void *val,
			 size_t vlen)
{
	return meta_item_add(arg, key + 8, klen - 8, val, vlen);
}

static int meta_list_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct meta_list_arg *a = arg;
	meta_items_free(a);
	uint8_t prefix[META_KEY_MAX];
	size_t plen = meta_key(prefix, a->user_id, a->mailbox_id, a->prefix, a->prefix_len);
	return meta_each(s, txn, prefix, plen, meta_list_one, a);
}

int store_metadata_list(struct store *s, uint32_t user_id, uint32_t mailbox_id,
			const char *prefix, store_metadata_cb *cb, void *cb_arg)
{
	struct meta_list_arg *a = calloc(1, sizeof(*a));
	if (!a)
		return STORE_ERR_TEMP;
	a->user_id = user_id;
	a->mailbox_id = mailbox_id;
	int rc = STORE_OK;
	if (prefix && *prefix) {
		if (strlen(prefix) > STORE_METADATA_ENTRY_MAX)
			rc = STORE_ERR_INVALID;
		else
			rc = meta_entry_normalize(prefix, a->prefix, &a->prefix_len);
	}
	if (rc == STORE_OK)
		rc = store_read_run(s, meta_list_fn, a);
	/* The callbacks run after the commit, holding no lock. */
	for (size_t i = 0; i < a->n && rc == STORE_OK; i++)
		rc = cb(cb_arg, a->items[i].entry, a->items[i].value, a->items[i].len);
	meta_items_free(a);
	free(a->items);
	free(a);
	return rc;
}
