/* storage/storage_user.c: users and domains.
 *
 * Owns the users, users_by_id and domains databases: adding a user (with its
 * default mailboxes), lookups by address and by id, password changes,
 * listing, deletion (with every mailbox, message and content reference), and
 * the per-domain user count that answers "is this one of our domains". */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storage/storage_private.h"

int store_user_read(struct store *s, DB_TXN *txn, const char *address, size_t address_len,
		    struct store_user *u_r, uint32_t flags)
{
	uint8_t buf[STORE_USER_REC_MAX];
	size_t len;
	int rc = store_db_get(s, txn, SDB_USERS, address, address_len, buf, sizeof(buf), &len,
			      flags);
	if (rc != STORE_OK)
		return rc;
	rc = store_user_decode(buf, len, u_r);
	/* The key and the record must agree, or the record is not this user's. */
	if (rc == STORE_OK && (strlen(u_r->address) != address_len ||
			       memcmp(u_r->address, address, address_len) != 0))
		rc = STORE_ERR_CORRUPT;
	return rc;
}

static int user_write(struct store *s, DB_TXN *txn, const struct store_user *u)
{
	uint8_t buf[STORE_USER_REC_MAX];
	size_t len = store_user_encode(u, buf, sizeof(buf));
	if (len == 0)
		return STORE_ERR_INVALID;
	return store_db_put(s, txn, SDB_USERS, u->address, strlen(u->address), buf, len, 0);
}

/* Adds delta to the number of users in the address's domain; the record
 * goes away at zero so that store_domain_has_users stays a single get. */
static int domain_count_add(struct store *s, DB_TXN *txn, const char *address, int delta)
{
	const char *at = strchr(address, '@');
	if (!at)
		return STORE_ERR_CORRUPT;
	const char *domain = at + 1;
	size_t dlen = strlen(domain);
	uint8_t buf[16];
	size_t len;
	uint64_t count = 0;
	int rc = store_db_get(s, txn, SDB_DOMAINS, domain, dlen, buf, sizeof(buf), &len, DB_RMW);
	if (rc == STORE_OK)
		rc = store_counter_decode(buf, len, &count);
	else if (rc == STORE_ERR_NOTFOUND)
		rc = STORE_OK;
	if (rc != STORE_OK)
		return rc;
	if (delta < 0 && count <= (uint64_t)-delta) {
		rc = store_db_del(s, txn, SDB_DOMAINS, domain, dlen);
		return rc == STORE_ERR_NOTFOUND ? STORE_OK : rc;
	}
	count = delta < 0 ? count - (uint64_t)-delta : count + (uint64_t)delta;
	len = store_counter_encode(count, buf, sizeof(buf));
	return store_db_put(s, txn, SDB_DOMAINS, domain, dlen, buf, len, 0);
}

static int pwhash_check(const char *pwhash)
{
	size_t n = strnlen(pwhash, STORE_PWHASH_MAX + 1);
	if (n > STORE_PWHASH_MAX)
		return STORE_ERR_INVALID;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)pwhash[i];
		if (c < 0x20 || c == 0x7f)
			return STORE_ERR_INVALID;
	}
	return STORE_OK;
}

int store_user_add_txn(struct store *s, DB_TXN *txn, const char *address, size_t address_len,
		       const char *pwhash, struct store_user *user_r)
{
	struct store_user u;
	/* DB_RMW write-locks the page even when the key is absent, so a
	 * concurrent add of the same address waits for us instead of racing. */
	int rc = store_user_read(s, txn, address, address_len, &u, DB_RMW);
	if (rc == STORE_OK)
		return STORE_ERR_EXISTS;
	if (rc != STORE_ERR_NOTFOUND)
		return rc;
	uint64_t id;
	if ((rc = store_meta_next(s, txn, STORE_META_NEXT_USER, &id)) != STORE_OK)
		return rc;
	if (id > UINT32_MAX)
		return STORE_ERR_TEMP;
	memset(&u, 0, sizeof(u));
	u.id = (uint32_t)id;
	memcpy(u.address, address, address_len);
	u.address[address_len] = '\0';
	memcpy(u.pwhash, pwhash, strlen(pwhash) + 1);
	u.created = (int64_t)time(NULL);
	uint8_t key[4];
	store_be32_put(key, u.id);
	if ((rc = user_write(s, txn, &u)) != STORE_OK ||
	    (rc = store_db_put(s, txn, SDB_USERS_BY_ID, key, sizeof(key), address, address_len,
			       DB_NOOVERWRITE)) != STORE_OK ||
	    (rc = domain_count_add(s, txn, u.address, 1)) != STORE_OK ||
	    (rc = store_meta_add(s, txn, STORE_META_USERS, 1)) != STORE_OK ||
	    (rc = store_mailbox_create_defaults(s, txn, u.id)) != STORE_OK)
		return rc == STORE_ERR_EXISTS ? STORE_ERR_CORRUPT : rc;
	if (user_r)
		*user_r = u;
	return STORE_OK;
}

struct user_arg {
	char address[STORE_ADDRESS_MAX + 1];
	size_t address_len;
	const char *pwhash;
	const struct store_scram *scram;
	uint32_t id;
	struct store_user *user_r;
};

static int user_add_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct user_arg *a = arg;
	int rc = store_user_add_txn(s, txn, a->address, a->address_len, a->pwhash, a->user_r);
	if (rc == STORE_OK && a->scram) {
		/* the SCRAM keys in the same transaction: never a user whose
		 * password works for PLAIN but not for SCRAM */
		a->user_r->scram = *a->scram;
		rc = user_write(s, txn, a->user_r);
	}
	return rc;
}

int store_user_add(struct store *s, const char *address, const char *pwhash,
		   struct store_user *user_r)
{
	return store_user_add_credentials(s, address, pwhash, NULL, user_r);
}

int store_user_add_credentials(struct store *s, const char *address, const char *pwhash,
			       const struct store_scram *scram, struct store_user *user_r)
{
	if (scram && (scram->salt_len == 0 || scram->salt_len > STORE_SCRAM_SALT_MAX ||
		      scram->iterations == 0))
		return STORE_ERR_INVALID;
	struct user_arg a = {.pwhash = pwhash ? pwhash : "", .scram = scram};
	struct store_user u;
	a.user_r = &u;
	int rc = store_address_normalize(address, a.address, &a.address_len);
	if (rc == STORE_OK)
		rc = pwhash_check(a.pwhash);
	if (rc == STORE_OK)
		rc = store_txn_run(s, user_add_fn, &a);
	if (rc == STORE_OK && user_r)
		*user_r = u;
	return rc;
}

static int user_get_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct user_arg *a = arg;
	return store_user_read(s, txn, a->address, a->address_len, a->user_r, 0);
}

int store_user_get(struct store *s, const char *address, struct store_user *user_r)
{
	struct user_arg a = {0};
	struct store_user u;
	a.user_r = &u;
	int rc = store_address_normalize(address, a.address, &a.address_len);
	if (rc == STORE_OK)
		rc = store_read_run(s, user_get_fn, &a);
	if (rc == STORE_OK && user_r)
		*user_r = u;
	return rc;
}

static int user_get_by_id_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct user_arg *a = arg;
	uint8_t key[4];
	store_be32_put(key, a->id);
	size_t len;
	int rc = store_db_get(s, txn, SDB_USERS_BY_ID, key, sizeof(key), a->address,
			      STORE_ADDRESS_MAX, &len, 0);
	if (rc != STORE_OK)
		return rc;
	a->address_len = len;
	a->address[len] = '\0';
	rc = store_user_read(s, txn, a->address, len, a->user_r, 0);
	if (rc == STORE_ERR_NOTFOUND || (rc == STORE_OK && a->user_r->id != a->id))
		rc = STORE_ERR_CORRUPT;  /* the index points at nothing, or elsewhere */
	return rc;
}

int store_user_get_by_id(struct store *s, uint32_t id, struct store_user *user_r)
{
	struct user_arg a = {.id = id};
	struct store_user u;
	a.user_r = &u;
	int rc = store_read_run(s, user_get_by_id_fn, &a);
	if (rc == STORE_OK && user_r)
		*user_r = u;
	return rc;
}

static int user_passwd_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct user_arg *a = arg;
	struct store_user u;
	int rc = store_user_read(s, txn, a->address, a->address_len, &u, DB_RMW);
	if (rc != STORE_OK)
		return rc;
	memcpy(u.pwhash, a->pwhash, strlen(a->pwhash) + 1);
	if (a->scram)
		u.scram = *a->scram;
	else
		memset(&u.scram, 0, sizeof(u.scram));
	return user_write(s, txn, &u);
}

int store_user_set_credentials(struct store *s, const char *address, const char *pwhash,
			       const struct store_scram *scram)
{
	struct user_arg a = {.pwhash = pwhash ? pwhash : "", .scram = scram};
	int rc = store_address_normalize(address, a.address, &a.address_len);
	if (rc == STORE_OK)
		rc = pwhash_check(a.pwhash);
	if (rc == STORE_OK && scram &&
	    (scram->salt_len == 0 || scram->salt_len > STORE_SCRAM_SALT_MAX || scram->iterations == 0))
		rc = STORE_ERR_INVALID;
	if (rc == STORE_OK)
		rc = store_txn_run(s, user_passwd_fn, &a);
	return rc;
}

int store_user_set_password(struct store *s, const char *address, const char *pwhash)
{
	return store_user_set_credentials(s, address, pwhash, NULL);
}

static int user_del_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct user_arg *a = arg;
	struct store_user u;
	int rc = store_user_read(s, txn, a->address, a->address_len, &u, DB_RMW);
	if (rc != STORE_OK)
		return rc;

	/* Every mailbox: (user id | name) keys are contiguous. */
	DBC *c;
	if ((rc = store_cursor_open(s, txn, SDB_MAILBOXES, &c)) != STORE_OK)
		return rc;
	uint8_t key[STORE_MBOX_KEY_MAX];
	uint8_t val[8];
	size_t klen = 4, vlen;
	store_be32_put(key, u.id);
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
		if (klen < 4 || store_be32_get(key) != u.id)
			break;
		if (vlen != 4) {
			rc = STORE_ERR_CORRUPT;
			break;
		}
		if ((rc = store_mailbox_remove_txn(s, txn, store_be32_get(val))) != STORE_OK)
			break;
		if ((rc = store_bdb_err(s, c->del(c, 0))) != STORE_OK)
			break;
	}
	rc = store_cursor_close(s, c, rc);
	if (rc == STORE_OK)
		rc = store_subscriptions_del_user(s, txn, u.id);
	if (rc == STORE_OK)
		rc = store_metadata_del_user_txn(s, txn, u.id);
	if (rc != STORE_OK)
		return rc;

	store_be32_put(key, u.id);
	rc = store_db_del(s, txn, SDB_USERS_BY_ID, key, 4);
	if (rc != STORE_OK && rc != STORE_ERR_NOTFOUND)
		return rc;
	if ((rc = store_db_del(s, txn, SDB_USERS, a->address, a->address_len)) != STORE_OK ||
	    (rc = domain_count_add(s, txn, u.address, -1)) != STORE_OK)
		return rc;
	return store_meta_add(s, txn, STORE_META_USERS, -1);
}

int store_user_del(struct store *s, const char *address)
{
	struct user_arg a = {0};
	int rc = store_address_normalize(address, a.address, &a.address_len);
	if (rc == STORE_OK)
		rc = store_txn_run(s, user_del_fn, &a);
	return rc;
}

/* One batch of store_user_list, read in its own short transaction so a long
 * listing neither holds locks across callbacks nor runs the callback twice
 * when a transaction is retried. */
struct user_list_arg {
	char last[STORE_ADDRESS_MAX + 1];  /* resume after this key */
	size_t last_len;                     /* 0: start at the beginning */
	struct store_user *batch;
	size_t n;
	bool done;
};

static int user_list_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct user_list_arg *a = arg;
	a->n = 0;
	a->done = false;
	DBC *c;
	int rc = store_cursor_open(s, txn, SDB_USERS, &c);
	if (rc != STORE_OK)
		return rc;
	char key[STORE_ADDRESS_MAX + 1];
	uint8_t val[STORE_USER_REC_MAX];
	size_t klen = a->last_len, vlen;
	memcpy(key, a->last, a->last_len);
	uint32_t flags = a->last_len ? DB_SET_RANGE : DB_FIRST;
	while (a->n < STORE_LIST_BATCH) {
		rc = store_cursor_get(s, c, key, STORE_ADDRESS_MAX, &klen, val, sizeof(val), &vlen,
				      flags);
		flags = DB_NEXT;
		if (rc == STORE_ERR_NOTFOUND) {
			a->done = true;
			rc = STORE_OK;
			break;
		}
		if (rc != STORE_OK)
			break;
		/* DB_SET_RANGE lands on the last key of the previous batch
		 * when it still exists. */
		if (a->last_len && klen == a->last_len && memcmp(key, a->last, klen) == 0)
			continue;
		struct store_user *u = &a->batch[a->n];
		if ((rc = store_user_decode(val, vlen, u)) != STORE_OK)
			break;
		if (strlen(u->address) != klen || memcmp(u->address, key, klen) != 0) {
			rc = STORE_ERR_CORRUPT;
			break;
		}
		a->n++;
	}
	return store_cursor_close(s, c, rc);
}

int store_user_list(struct store *s, int (*cb)(void *arg, const struct store_user *user),
		    void *cb_arg)
{
	struct user_list_arg a = {0};
	a.batch = calloc(STORE_LIST_BATCH, sizeof(*a.batch));
	if (!a.batch)
		return STORE_ERR_TEMP;
	int rc = STORE_OK;
	do {
		if ((rc = store_read_run(s, user_list_fn, &a)) != STORE_OK)
			break;
		for (size_t i = 0; i < a.n && rc == STORE_OK; i++)
			rc = cb(cb_arg, &a.batch[i]);
		if (a.n > 0) {
			a.last_len = strlen(a.batch[a.n - 1].address);
			memcpy(a.last, a.batch[a.n - 1].address, a.last_len + 1);
		}
	} while (rc == STORE_OK && !a.done);
	free(a.batch);
	return rc;
}

struct domain_arg {
	char domain[STORE_ADDRESS_MAX + 1];
	size_t len;
	int found;
};

static int domain_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct domain_arg *a = arg;
	uint8_t buf[16];
	size_t len;
	uint64_t count = 0;
	int rc = store_db_get(s, txn, SDB_DOMAINS, a->domain, a->len, buf, sizeof(buf), &len, 0);
	if (rc == STORE_ERR_NOTFOUND) {
		a->found = 0;
		return STORE_OK;
	}
	if (rc == STORE_OK)
		rc = store_counter_decode(buf, len, &count);
	a->found = count > 0;
	return rc;
}

int store_domain_has_users(struct store *s, const char *domain)
{
	struct domain_arg a = {0};
	int rc = store_domain_normalize(domain, a.domain, &a.len);
	if (rc == STORE_OK)
		rc = store_read_run(s, domain_fn, &a);
	return rc == STORE_OK ? a.found : rc;
}
