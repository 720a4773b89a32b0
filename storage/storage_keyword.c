/* storage/storage_keyword.c: per-mailbox keyword tables.
 *
 * Owns the keywords database (mailbox id -> table of up to
 * STORE_KEYWORDS_MAX names).  A message record carries a 64-bit mask over
 * its mailbox's table, so a keyword costs one bit per message and the
 * table is read once per SELECT (PERMANENTFLAGS, RFC 3501 7.1).  Names are
 * IMAP atoms (RFC 3501 2.3.2 flag-keyword), matched case-insensitively and
 * stored as first given.  Entries are never removed: a bit keeps its
 * meaning for as long as the mailbox exists. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "storage/storage_private.h"

/* record: version | count (u8) | count x (len u8 | bytes) */
#define KW_REC_MAX (2 + STORE_KEYWORDS_MAX * (1 + STORE_KEYWORD_LEN_MAX))

int store_keywords_decode(const void *p, size_t len, struct store_keywords *kw_r)
{
	struct store_dec d;
	store_dec_init(&d, p, len);
	kw_r->count = 0;
	if (store_dec_u8(&d) != STORE_REC_VERSION)
		return STORE_ERR_CORRUPT;
	uint8_t n = store_dec_u8(&d);
	if (n > STORE_KEYWORDS_MAX)
		return STORE_ERR_CORRUPT;
	for (size_t i = 0; i < n; i++) {
		uint8_t l = store_dec_u8(&d);
		const uint8_t *b = store_dec_bytes(&d, l);
		if (!b || l == 0 || l > STORE_KEYWORD_LEN_MAX || memchr(b, '\0', l))
			return STORE_ERR_CORRUPT;
		memcpy(kw_r->name[i], b, l);
		kw_r->name[i][l] = '\0';
	}
	int rc = store_dec_finish(&d);
	if (rc == STORE_OK)
		kw_r->count = n;
	return rc;
}

int store_keywords_read(struct store *s, DB_TXN *txn, uint32_t mailbox_id,
			struct store_keywords *kw_r, uint32_t flags)
{
	uint8_t key[4], buf[KW_REC_MAX];
	size_t len;
	kw_r->count = 0;
	store_be32_put(key, mailbox_id);
	int rc = store_db_get(s, txn, SDB_KEYWORDS, key, sizeof(key), buf, sizeof(buf), &len, flags);
	if (rc == STORE_ERR_NOTFOUND)
		return STORE_OK;   /* no keyword used yet */
	if (rc != STORE_OK)
		return rc;
	return store_keywords_decode(buf, len, kw_r);
}

int store_keywords_write(struct store *s, DB_TXN *txn, uint32_t mailbox_id,
			 const struct store_keywords *kw)
{
	uint8_t key[4], buf[KW_REC_MAX];
	struct store_enc e;
	store_enc_init(&e, buf, sizeof(buf));
	store_enc_u8(&e, STORE_REC_VERSION);
	store_enc_u8(&e, (uint8_t)kw->count);
	for (size_t i = 0; i < kw->count; i++) {
		size_t l = strlen(kw->name[i]);
		store_enc_u8(&e, (uint8_t)l);
		store_enc_bytes(&e, kw->name[i], l);
	}
	if (e.overflow)
		return STORE_ERR_INVALID;
	store_be32_put(key, mailbox_id);
	return store_db_put(s, txn, SDB_KEYWORDS, key, sizeof(key), buf, e.len, 0);
}

int store_keywords_del(struct store *s, DB_TXN *txn, uint32_t mailbox_id)
{
	uint8_t key[4];
	store_be32_put(key, mailbox_id);
	int rc = store_db_del(s, txn, SDB_KEYWORDS, key, sizeof(key));
	return rc == STORE_ERR_NOTFOUND ? STORE_OK : rc;
}

/* RFC 3501 9: atom = 1*ATOM-CHAR, ATOM-CHAR = <any CHAR except
 * atom-specials>; a keyword is not a system flag, so no '\'. */
static bool keyword_valid(const char *name, size_t len)
{
	if (len == 0 || len > STORE_KEYWORD_LEN_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c))
			return false;
	}
	return true;
}

int store_keywords_find(const struct store_keywords *kw, const char *name, size_t len)
{
	for (size_t i = 0; i < kw->count; i++) {
		if (strlen(kw->name[i]) == len && strncasecmp(kw->name[i], name, len) == 0)
			return (int)i;
	}
	return -1;
}

int store_keywords_add(struct store_keywords *kw, const char *name, size_t len, int *err_r)
{
	if (!keyword_valid(name, len)) {
		*err_r = STORE_ERR_INVALID;
		return -1;
	}
	int have = store_keywords_find(kw, name, len);
	if (have >= 0)
		return have;
	if (kw->count >= STORE_KEYWORDS_MAX) {
		*err_r = STORE_ERR_NOQUOTA;
		return -1;
	}
	memcpy(kw->name[kw->count], name, len);
	kw->name[kw->count][len] = '\0';
	return (int)kw->count++;
}

/* ---- public calls ---- */

struct kw_arg {
	uint32_t mailbox_id;
	const char *const *names;
	size_t n;
	uint64_t mask;
	struct store_keywords kw;
};

static int kw_get_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct kw_arg *a = arg;
	uint8_t key[4];
	store_be32_put(key, a->mailbox_id);
	int rc = store_db_exists(s, txn, SDB_MAILBOX_INFO, key, sizeof(key));
	if (rc != STORE_OK)
		return rc;
	return store_keywords_read(s, txn, a->mailbox_id, &a->kw, 0);
}

int store_keywords_get(struct store *s, uint32_t mailbox_id, struct store_keywords *kw_r)
{
	struct kw_arg *a = calloc(1, sizeof(*a));
	if (!a)
		return STORE_ERR_TEMP;
	a->mailbox_id = mailbox_id;
	int rc = store_read_run(s, kw_get_fn, a);
	if (rc == STORE_OK && kw_r)
		*kw_r = a->kw;
	free(a);
	return rc;
}

static int kw_intern_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct kw_arg *a = arg;
	a->mask = 0;
	/* Lock the mailbox record first: every writer of this mailbox's
	 * table takes it in the same order. */
	struct store_mailbox m;
	int rc = store_mbox_read(s, txn, a->mailbox_id, &m, DB_RMW);
	if (rc != STORE_OK)
		return rc;
	if ((rc = store_keywords_read(s, txn, a->mailbox_id, &a->kw, DB_RMW)) != STORE_OK)
		return rc;
	size_t before = a->kw.count;
	for (size_t i = 0; i < a->n; i++) {
		int err = STORE_OK;
		int bit = store_keywords_add(&a->kw, a->names[i], strlen(a->names[i]), &err);
		if (bit < 0)
			return err;
		a->mask |= (uint64_t)1 << bit;
	}
	if (a->kw.count == before)
		return STORE_OK;
	return store_keywords_write(s, txn, a->mailbox_id, &a->kw);
}

int store_keywords_intern(struct store *s, uint32_t mailbox_id, const char *const *names,
			  size_t n, uint64_t *mask_r, struct store_keywords *kw_r)
{
	if (n > 0 && !names)
		return STORE_ERR_INVALID;
	for (size_t i = 0; i < n; i++) {
		if (!names[i])
			return STORE_ERR_INVALID;
	}
	struct kw_arg *a = calloc(1, sizeof(*a));
	if (!a)
		return STORE_ERR_TEMP;
	a->mailbox_id = mailbox_id;
	a->names = names;
	a->n = n;
	int rc = store_txn_run(s, kw_intern_fn, a);
	if (rc == STORE_OK) {
		if (mask_r)
			*mask_r = a->mask;
		if (kw_r)
			*kw_r = a->kw;
	}
	free(a);
	return rc;
}
