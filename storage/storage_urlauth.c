/* storage/storage_urlauth.c: the URLAUTH mailbox access keys (RFC 4467 3):
 * one random key per (user, mailbox id), its creation, its reset (RESETKEY)
 * and the HMAC-SHA1 made with it.  The key stays in here: callers only
 * ever see MACs (storage.h). */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <string.h>

#include "storage/storage_private.h"

#define URLAUTH_KEY_LEN 32
#define URLAUTH_REC_LEN (1 + URLAUTH_KEY_LEN)   /* version, key */

struct urlauth_arg {
	uint32_t user_id, mailbox_id;
	bool create, created;
	uint8_t key[URLAUTH_KEY_LEN];
};

static void urlauth_key(uint8_t *k, uint32_t user_id, uint32_t mailbox_id)
{
	store_be32_put(k, user_id);
	store_be32_put(k + 4, mailbox_id);
}

static int urlauth_get_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct urlauth_arg *a = arg;
	uint8_t k[8], rec[URLAUTH_REC_LEN];
	size_t len = 0;
	a->created = false;
	urlauth_key(k, a->user_id, a->mailbox_id);
	int rc = store_db_get(s, txn, SDB_URLAUTH, k, sizeof(k), rec, sizeof(rec), &len,
			      a->create ? DB_RMW : 0);
	if (rc == STORE_OK) {
		if (len != URLAUTH_REC_LEN || rec[0] != STORE_REC_VERSION)
			return STORE_ERR_CORRUPT;
		memcpy(a->key, rec + 1, URLAUTH_KEY_LEN);
		return STORE_OK;
	}
	if (rc != STORE_ERR_NOTFOUND || !a->create)
		return rc;
	/* A key only for a mailbox that exists (and is the user's). */
	struct store_mailbox m;
	if ((rc = store_mbox_read(s, txn, a->mailbox_id, &m, 0)) != STORE_OK)
		return rc;
	if (m.user_id != a->user_id)
		return STORE_ERR_NOTFOUND;
	if ((rc = store_space_check_write(s)) != STORE_OK)
		return rc;
	if (RAND_bytes(a->key, URLAUTH_KEY_LEN) != 1)
		return STORE_ERR_TEMP;
	rec[0] = STORE_REC_VERSION;
	memcpy(rec + 1, a->key, URLAUTH_KEY_LEN);
	rc = store_db_put(s, txn, SDB_URLAUTH, k, sizeof(k), rec, sizeof(rec), 0);
	OPENSSL_cleanse(rec, sizeof(rec));
	if (rc == STORE_OK)
		a->created = true;
	return rc;
}

int store_urlauth_mac(struct store *s, uint32_t user_id, uint32_t mailbox_id, bool create,
		      const void *data, size_t len, uint8_t mac_r[STORE_URLAUTH_MAC_LEN],
		      bool *created_r)
{
	if (created_r)
		*created_r = false;
	if (!user_id || !mailbox_id || (len && !data))
		return STORE_ERR_INVALID;
	struct urlauth_arg a = { .user_id = user_id, .mailbox_id = mailbox_id };
	/* Only a key's creation writes: a key that is there is read in a
	 * snapshot, which waits for no lock. */
	int rc = store_read_run(s, urlauth_get_fn, &a);
	if (rc == STORE_ERR_NOTFOUND && create) {
		a.create = true;
		rc = store_txn_run(s, urlauth_get_fn, &a);
	}
	if (rc == STORE_OK) {
		unsigned int n = 0;
		if (!HMAC(EVP_sha1(), a.key, URLAUTH_KEY_LEN, data, len, mac_r, &n) ||
		    n != STORE_URLAUTH_MAC_LEN)
			rc = STORE_ERR_TEMP;
		else if (created_r)
			*created_r = a.created;
	}
	OPENSSL_cleanse(a.key, sizeof(a.key));
	return rc;
}

static int urlauth_reset_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct urlauth_arg *a = arg;
	int rc = store_space_check_write(s);
	if (rc != STORE_OK)
		return rc;
	uint8_t k[8];
	if (a->mailbox_id) {
		urlauth_key(k, a->user_id, a->mailbox_id);
		rc = store_db_del(s, txn, SDB_URLAUTH, k, sizeof(k));
		return rc == STORE_ERR_NOTFOUND ? STORE_OK : rc;
	}
	/* Every key of the user: the records from (user, 0) while the user
	 * part of the key is unchanged. */
	DBC *c;
	if ((rc = store_cursor_open(s, txn, SDB_URLAUTH, &c)) != STORE_OK)
		return rc;
	urlauth_key(k, a->user_id, 0);
	size_t klen = sizeof(k);
	uint8_t rec[URLAUTH_REC_LEN];
	size_t vlen;
	rc = store_cursor_get(s, c, k, sizeof(k), &klen, rec, sizeof(rec), &vlen, DB_SET_RANGE);
	while (rc == STORE_OK && klen == sizeof(k) && store_be32_get(k) == a->user_id) {
		int drc = store_bdb_err(s, c->del(c, 0));
		if (drc != STORE_OK) {
			rc = drc;
			break;
		}
		klen = sizeof(k);
		rc = store_cursor_get(s, c, k, sizeof(k), &klen, rec, sizeof(rec), &vlen, DB_NEXT);
	}
	OPENSSL_cleanse(rec, sizeof(rec));
	if (rc == STORE_ERR_NOTFOUND)
		rc = STORE_OK;
	return store_cursor_close(s, c, rc);
}

int store_urlauth_reset(struct store *s, uint32_t user_id, uint32_t mailbox_id)
{
	if (!user_id)
		return STORE_ERR_INVALID;
	struct urlauth_arg a = { .user_id = user_id, .mailbox_id = mailbox_id };
	return store_txn_run(s, urlauth_reset_fn, &a);
}
