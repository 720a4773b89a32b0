/* tests/tools/store_hold.c: holds a write lock in a running daemon's store,
 * from a process of its own, until told to let go: what a transaction of
 * another session (a delivery, an expunge) holds while the daemon goes on.
 * For the integration tests of what an event loop must not wait for
 * (issue 11 point 1, tests/integration/test_loop_nowait.py).
 *
 * usage: store_hold DATA_DIR DB KEY
 *   DB: meta, users, users_by_id, content_meta or content_data
 *   (storage_private.h);
 *   KEY: str:TEXT (the bytes of TEXT), be64:N, be64:N/be32:M (a chunk), or
 *   uid:ADDRESS (the be32 id of that user, for users_by_id).
 * Reads the key with DB_RMW in a transaction, which write-locks its page
 * whether or not the key is there; prints "held" and waits for standard
 * input to end (or a line), then aborts the transaction: nothing changes.
 * Exit 0, or 1 when the store or the arguments fail. */
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
};

struct hold {
	enum store_db db;
	uint8_t key[512];
	size_t klen;
};

static int hold_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct hold *h = arg;
	static uint8_t buf[1 << 17];   /* a chunk's record at most */
	size_t len;
	int rc = store_db_get(s, txn, h->db, h->key, h->klen, buf, sizeof(buf), &len, DB_RMW);
	if (rc != STORE_OK && rc != STORE_ERR_NOTFOUND)
		return rc;
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

int main(int argc, char **argv)
{
	struct hold h = {0};
	size_t i = 0;
	while (argc == 4 && i < sizeof(dbs) / sizeof(dbs[0]) && strcmp(dbs[i].name, argv[2]) != 0)
		i++;
	if (argc != 4 || i == sizeof(dbs) / sizeof(dbs[0])) {
		fprintf(stderr, "usage: store_hold DATA_DIR "
				"meta|users|users_by_id|content_meta|content_data "
				"str:TEXT|be64:N[/be32:M]|uid:ADDRESS\n");
		return 1;
	}
	h.db = dbs[i].db;
	struct store *s;
	int rc = store_open(argv[1], NULL, &s);
	if (rc != STORE_OK) {
		fprintf(stderr, "store_hold: open %s: %s\n", argv[1], store_strerror(rc));
		return 1;
	}
	if (parse_key(s, argv[3], &h) < 0) {
		fprintf(stderr, "store_hold: bad key %s\n", argv[3]);
		store_close(&s);
		return 1;
	}
	rc = store_txn_run(s, hold_fn, &h);
	store_close(&s);
	if (rc != STORE_ERR_EXISTS) {
		fprintf(stderr, "store_hold: %s\n", store_strerror(rc));
		return 1;
	}
	return 0;
}
