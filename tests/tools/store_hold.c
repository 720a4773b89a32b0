/* tests/tools/store_hold.c: holds a write lock in a running daemon's store,
 * from a process of its own, until told to let go: what a transaction of
 * another session (a delivery, an expunge) holds while the daemon goes on.
 * For the integration tests of what an event loop must not wait for
 * (issue 11 point 1, tests/integration/test_loop_nowait.py).
 *
 * usage: store_hold DATA_DIR DB KEY [DB KEY ...]
 *   DB: meta, users, users_by_id, content_meta, content_data or urlauth
 *   (storage_private.h);
 *   KEY: str:TEXT (the bytes of TEXT), be64:N, be64:N/be32:M (a chunk), or
 *   uid:ADDRESS (the be32 id of that user, for users_by_id).
 * Reads each key with DB_RMW in one transaction, which write-locks its page
 * whether or not the key is there; prints "held" and waits for standard
 * input to end (or a line), then aborts the transaction: nothing changes.
 * Exit 0, or 1 when the store or the arguments fail. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/storage.h"
#include "storage/storage_private.h"

static const struct {
	const char *name;
	enum store_db db;
} dbs[] = {
	{"meta", SDB_META},
	{"users", SDB_USERS},
	{"users_by_id", SDB_USERS_BY_ID},
	{"content_meta", SDB_CONTENT_META},
	{"content_data", SDB_CONTENT_DATA},
	{"urlauth", SDB_URLAUTH},
};

#define HOLD_MAX 8

struct hold {
	enum store_db db;
	uint8_t key[512];
	size_t klen;
};

struct holds {
	struct hold h[HOLD_MAX];
	size_t n;
};

static int hold_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct holds *hs = arg;
	static uint8_t buf[1 << 17];   /* a chunk's record at most */
	size_t len;
	for (size_t i = 0; i < hs->n; i++) {
		struct hold *h = &hs->h[i];
		int rc = store_db_get(s, txn, h->db, h->key, h->klen, buf, sizeof(buf), &len,
				      DB_RMW);
		if (rc != STORE_OK && rc != STORE_ERR_NOTFOUND)
			return rc;
	}
	printf("held\n");
	fflush(stdout);
	char line[16];
	(void)fgets(line, sizeof(line), stdin);
	return STORE_ERR_EXISTS;   /* abort, not retried */
}

static int parse_key(struct store *s, const char *arg, struct hold *h)
{
	if (strncmp(arg, "uid:", 4) == 0) {
		struct store_user u;
		if (store_user_get(s, arg + 4, &u) != STORE_OK)
			return -1;
		store_be32_put(h->key, u.id);
		h->klen = 4;
		return 0;
	}
	if (strncmp(arg, "str:", 4) == 0) {
		h->klen = strlen(arg + 4);
		if (h->klen > sizeof(h->key))
			return -1;
		memcpy(h->key, arg + 4, h->klen);
		return 0;
	}
	char *end;
	if (strncmp(arg, "be64:", 5) != 0)
		return -1;
	store_be64_put(h->key, strtoull(arg + 5, &end, 10));
	h->klen = 8;
	if (*end == '\0')
		return 0;
	if (strncmp(end, "/be32:", 6) != 0)
		return -1;
	store_be32_put(h->key + 8, (uint32_t)strtoul(end + 6, &end, 10));
	h->klen = 12;
	return *end == '\0' ? 0 : -1;
}

static int db_of(const char *name, enum store_db *db_r)
{
	for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
		if (strcmp(dbs[i].name, name) == 0) {
			*db_r = dbs[i].db;
			return 0;
		}
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct holds hs = {0};
	hs.n = argc >= 4 && argc % 2 == 0 ? (size_t)(argc - 2) / 2 : 0;
	bool ok = hs.n > 0 && hs.n <= HOLD_MAX;
	for (size_t i = 0; ok && i < hs.n; i++)
		ok = db_of(argv[2 + 2 * i], &hs.h[i].db) == 0;
	if (!ok) {
		fprintf(stderr, "usage: store_hold DATA_DIR DB KEY [DB KEY ...] (DB: "
				"meta|users|users_by_id|content_meta|content_data|urlauth, KEY: "
				"str:TEXT|be64:N[/be32:M]|uid:ADDRESS)\n");
		return 1;
	}
	struct store *s;
	int rc = store_open(argv[1], NULL, &s);
	if (rc != STORE_OK) {
		fprintf(stderr, "store_hold: open %s: %s\n", argv[1], store_strerror(rc));
		return 1;
	}
	for (size_t i = 0; i < hs.n; i++) {
		if (parse_key(s, argv[3 + 2 * i], &hs.h[i]) < 0) {
			fprintf(stderr, "store_hold: bad key %s\n", argv[3 + 2 * i]);
			store_close(&s);
			return 1;
		}
	}
	rc = store_txn_run(s, hold_fn, &hs);
	store_close(&s);
	if (rc != STORE_ERR_EXISTS) {
		fprintf(stderr, "store_hold: %s\n", store_strerror(rc));
		return 1;
	}
	return 0;
}
