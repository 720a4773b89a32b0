/* tests/unit/test_storage_queue.c: the outbound queue (storage_queue.c)
 * and store_deliver's remote recipients: one transaction, one content
 * shared with the local copies, kept across a reopen, released on remove;
 * also the SCRAM keys stored beside a user's password hash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "storage/storage.h"

struct fx {
	char dir[64];
	struct store *s;
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/postino-queue-XXXXXX");
	if (!mkdtemp(f->dir) || store_open(f->dir, NULL, &f->s) != STORE_OK)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	store_close(&f->s);
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static uint64_t contents(struct store *s)
{
	struct store_stats st;
	assert_int_equal(store_stats_get(s, &st), STORE_OK);
	return st.contents;
}

struct collect {
	struct store_queue_entry e[8];
	size_t n;
};

static int collect_cb(void *arg, const struct store_queue_entry *e)
{
	struct collect *c = arg;
	assert_true(c->n < 8);
	struct store_queue_entry *d = &c->e[c->n++];
	*d = *e;
	d->recipients = calloc(e->nrecipients, sizeof(char *));
	for (size_t i = 0; i < e->nrecipients; i++)
		d->recipients[i] = strdup(e->recipients[i]);
	return STORE_OK;
}

static void collect_clear(struct collect *c)
{
	for (size_t i = 0; i < c->n; i++)
		store_queue_entry_clear(&c->e[i]);
	c->n = 0;
}

static void test_mixed_delivery(void **state)
{
	struct fx *f = *state;
	struct store_user u;
	assert_int_equal(store_user_add(f->s, "local@example.org", "", &u), STORE_OK);
	const char *local[] = {"local@example.org"};
	const char *remote[] = {"far@remote.example", "b@other.example"};
	const char msg[] = "Subject: hi\r\n\r\nbody\r\n";
	struct store_delivery d = {
		.recipients = local, .nrecipients = 1, .data = msg, .len = sizeof(msg) - 1,
		.sender = "local@example.org", .remote_recipients = remote, .nremote = 2,
	};
	int results[1];
	uint64_t cid;
	assert_int_equal(store_deliver(f->s, &d, results, &cid), STORE_OK);
	assert_int_equal(results[0], STORE_OK);
	assert_int_equal(contents(f->s), 1);  /* stored once */

	struct collect c = {0};
	assert_int_equal(store_queue_list(f->s, collect_cb, &c), STORE_OK);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.e[0].sender, "local@example.org");
	assert_int_equal(c.e[0].nrecipients, 2);
	assert_string_equal(c.e[0].recipients[0], "far@remote.example");
	assert_string_equal(c.e[0].recipients[1], "b@other.example");
	assert_int_equal(c.e[0].content_id, cid);
	assert_int_equal(c.e[0].size, sizeof(msg) - 1);
	assert_int_equal(c.e[0].attempts, 0);
	uint64_t qid = c.e[0].id;
	collect_clear(&c);

	/* the local copy goes; the queue's reference keeps the content */
	struct store_mailbox m;
	assert_int_equal(store_mailbox_get(f->s, u.id, "INBOX", &m), STORE_OK);
	uint32_t uid = 1;
	assert_int_equal(store_expunge(f->s, m.id, &uid, 1, NULL), STORE_OK);
	assert_int_equal(contents(f->s), 1);
	char buf[64];
	size_t got;
	assert_int_equal(store_content_read(f->s, cid, 0, buf, sizeof(buf), &got), STORE_OK);
	assert_int_equal(got, sizeof(msg) - 1);

	/* survives a reopen */
	store_close(&f->s);
	assert_int_equal(store_open(f->dir, NULL, &f->s), STORE_OK);
	struct store_queue_entry e;
	assert_int_equal(store_queue_get(f->s, qid, &e), STORE_OK);
	assert_int_equal(e.nrecipients, 2);
	store_queue_entry_clear(&e);

	assert_int_equal(store_queue_remove(f->s, qid), STORE_OK);
	assert_int_equal(contents(f->s), 0);
	assert_int_equal(store_queue_remove(f->s, qid), STORE_ERR_NOTFOUND);
	assert_int_equal(store_queue_get(f->s, qid, &e), STORE_ERR_NOTFOUND);
	uint64_t n;
	assert_int_equal(store_queue_count(f->s, &n), STORE_OK);
	assert_int_equal(n, 0);
}

static void test_remote_only_and_order(void **state)
{
	struct fx *f = *state;
	const char *remote[] = {"x@remote.example"};
	int results[1];
	for (int i = 0; i < 3; i++) {
		char m[32];
		snprintf(m, sizeof(m), "msg %d\r\n", i);
		struct store_delivery d = {.data = m, .len = strlen(m), .sender = "",
					   .remote_recipients = remote, .nremote = 1};
		assert_int_equal(store_deliver(f->s, &d, results, NULL), STORE_OK);
	}
	struct collect c = {0};
	assert_int_equal(store_queue_list(f->s, collect_cb, &c), STORE_OK);
	assert_int_equal(c.n, 3);
	assert_true(c.e[0].id < c.e[1].id && c.e[1].id < c.e[2].id);
	assert_string_equal(c.e[0].sender, "");  /* the null reverse-path */
	collect_clear(&c);
	/* nothing at all to deliver to is refused */
	struct store_delivery none = {.data = "x", .len = 1};
	assert_int_equal(store_deliver(f->s, &none, results, NULL), STORE_ERR_INVALID);
	/* a bad remote address fails the whole delivery, local copy included */
	struct store_user u;
	assert_int_equal(store_user_add(f->s, "l@example.org", "", &u), STORE_OK);
	const char *local[] = {"l@example.org"};
	const char *bad[] = {""};
	struct store_delivery d = {.recipients = local, .nrecipients = 1, .data = "y", .len = 1,
				   .remote_recipients = bad, .nremote = 1};
	assert_int_not_equal(store_deliver(f->s, &d, results, NULL), STORE_OK);
	struct store_mailbox m;
	assert_int_equal(store_mailbox_get(f->s, u.id, "INBOX", &m), STORE_OK);
	assert_int_equal(m.messages, 0);
}

static void test_scram_credentials(void **state)
{
	struct fx *f = *state;
	struct store_user u;
	assert_int_equal(store_user_add(f->s, "s@example.org", "$y$a", &u), STORE_OK);
	assert_int_equal(u.scram.salt_len, 0);
	struct store_scram k = {.salt_len = 16, .iterations = 4096};
	memset(k.salt, 7, 16);
	memset(k.stored_key, 1, 32);
	memset(k.server_key, 2, 32);
	assert_int_equal(store_user_set_credentials(f->s, "S@example.org", "$y$b", &k), STORE_OK);
	store_close(&f->s);
	assert_int_equal(store_open(f->dir, NULL, &f->s), STORE_OK);
	assert_int_equal(store_user_get(f->s, "s@example.org", &u), STORE_OK);
	assert_string_equal(u.pwhash, "$y$b");
	assert_int_equal(u.scram.salt_len, 16);
	assert_int_equal(u.scram.iterations, 4096);
	assert_memory_equal(u.scram.stored_key, k.stored_key, 32);
	assert_memory_equal(u.scram.server_key, k.server_key, 32);
	/* a new password without keys drops the old keys */
	assert_int_equal(store_user_set_password(f->s, "s@example.org", "$y$c"), STORE_OK);
	assert_int_equal(store_user_get(f->s, "s@example.org", &u), STORE_OK);
	assert_int_equal(u.scram.salt_len, 0);
	k.salt_len = 0;
	assert_int_equal(store_user_set_credentials(f->s, "s@example.org", "$y$d", &k),
			 STORE_ERR_INVALID);
	assert_int_equal(store_user_add_credentials(f->s, "t@example.org", "$y$e", &k, &u),
			 STORE_ERR_INVALID);
	/* added with its keys in one go */
	k.salt_len = 16;
	assert_int_equal(store_user_add_credentials(f->s, "t@example.org", "$y$e", &k, &u), STORE_OK);
	assert_int_equal(u.scram.salt_len, 16);
	assert_int_equal(store_user_get(f->s, "t@example.org", &u), STORE_OK);
	assert_int_equal(u.scram.iterations, 4096);
	assert_memory_equal(u.scram.stored_key, k.stored_key, 32);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mixed_delivery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remote_only_and_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scram_credentials, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
