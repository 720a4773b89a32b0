/* tests/unit/test_storage_queue.c: the outbound queue (storage_queue.c)
 * and store_deliver's remote recipients: one transaction, one content
 * shared with the local copies (reference counts checked through every
 * order of letting go), kept across a reopen, released on remove, ids never
 * reused; also the SCRAM keys stored beside a user's password hash. */
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
#include <time.h>

#include "storage/storage.h"
#include "tests/unit/store_fixture.h"
#include "storage/storage_private.h"   /* store_queue_decode */

struct fx {
	char dir[STORE_FIXTURE_DIR_MAX];
	struct store *s;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	if (store_fixture_open(f->dir, "queue", &f->s) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	store_fixture_close(f->dir, &f->s);
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
	d->rcpt = calloc(e->nrecipients, sizeof(*d->rcpt));
	for (size_t i = 0; i < e->nrecipients; i++) {
		d->recipients[i] = strdup(e->recipients[i]);
		d->rcpt[i] = e->rcpt[i];
		d->rcpt[i].orcpt = e->rcpt[i].orcpt ? strdup(e->rcpt[i].orcpt) : NULL;
		d->rcpt[i].reply = e->rcpt[i].reply ? strdup(e->rcpt[i].reply) : NULL;
	}
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

/* Delivers msg to the local and remote recipients; returns store_deliver's
 * result, results[] for the locals in res (at least nlocal long). */
static int deliver(struct store *s, const char *const *local, size_t nlocal,
		   const char *const *remote, size_t nremote, const char *sender, const char *msg,
		   int *res, uint64_t *cid_r)
{
	struct store_delivery d = {
		.recipients = local, .nrecipients = nlocal, .data = msg, .len = strlen(msg),
		.sender = sender, .remote_recipients = remote, .nremote = nremote,
	};
	return store_deliver(s, &d, res, cid_r);
}

static uint64_t queue_count(struct store *s)
{
	uint64_t n = 99;
	assert_int_equal(store_queue_count(s, &n), STORE_OK);
	return n;
}

static bool content_gone(struct store *s, uint64_t cid)
{
	char buf[8];
	size_t got = 1;
	return store_content_read(s, cid, 0, buf, sizeof(buf), &got) == STORE_ERR_NOTFOUND &&
	       got == 0;
}

/* Every field of an entry as created: times from the delivery, no attempt
 * yet, and the envelope exactly as given (RFC 5321 2.4: a local part is
 * case-sensitive, and the remote server decides what it means). */
static void test_entry_fields(void **state)
{
	struct fx *f = *state;
	const char *remote[] = {"Far.Person@Remote.Example", "\"quoted local\"@other.example"};
	const char msg[] = "Subject: fields\r\n\r\nx\r\n";
	int res[1];
	uint64_t cid = 0;
	int64_t t0 = (int64_t)time(NULL);
	assert_int_equal(deliver(f->s, NULL, 0, remote, 2, "Me@Example.org", msg, res, &cid),
			 STORE_OK);
	int64_t t1 = (int64_t)time(NULL);
	assert_true(cid != 0);   /* *content_id_r is set for a queue-only delivery too */
	struct collect c = {0};
	assert_int_equal(store_queue_list(f->s, collect_cb, &c), STORE_OK);
	assert_int_equal(c.n, 1);
	struct store_queue_entry e;
	assert_int_equal(store_queue_get(f->s, c.e[0].id, &e), STORE_OK);
	assert_int_equal(e.id, c.e[0].id);
	assert_true(e.created >= t0 && e.created <= t1);
	assert_true(e.next_attempt >= t0 && e.next_attempt <= t1);
	assert_int_equal(e.attempts, 0);
	assert_string_equal(e.last_error, "");
	assert_string_equal(e.sender, "Me@Example.org");
	assert_int_equal(e.nrecipients, 2);
	assert_string_equal(e.recipients[0], "Far.Person@Remote.Example");
	assert_string_equal(e.recipients[1], "\"quoted local\"@other.example");
	assert_int_equal(e.content_id, cid);
	assert_int_equal(e.size, strlen(msg));
	char buf[64];
	size_t got;
	assert_int_equal(store_content_read(f->s, cid, 0, buf, sizeof(buf), &got), STORE_OK);
	assert_int_equal(got, strlen(msg));
	assert_memory_equal(buf, msg, got);
	store_queue_entry_clear(&e);
	assert_null(e.recipients);
	assert_int_equal(e.nrecipients, 0);
	store_queue_entry_clear(&e);   /* clearing twice is harmless */
	collect_clear(&c);
	/* a queue-only message counts as a content but not as a message */
	struct store_stats st;
	assert_int_equal(store_stats_get(f->s, &st), STORE_OK);
	assert_int_equal(st.contents, 1);
	assert_int_equal(st.messages, 0);
}

/* Removing the queue entry first, then the local copies: the content lives
 * until the last of mailbox copies (two users, one of them named twice)
 * and queue entry lets go, and then its bytes are gone. */
static void test_refcount_every_order(void **state)
{
	struct fx *f = *state;
	struct store_user a, b;
	assert_int_equal(store_user_add(f->s, "a@example.org", "", &a), STORE_OK);
	assert_int_equal(store_user_add(f->s, "b@example.org", "", &b), STORE_OK);
	const char *local[] = {"a@example.org", "B@example.org", "a@EXAMPLE.org"};
	const char *remote[] = {"r@remote.example"};
	int res[3];
	uint64_t cid;
	assert_int_equal(deliver(f->s, local, 3, remote, 1, "a@example.org", "m1\r\n", res, &cid),
			 STORE_OK);
	assert_int_equal(res[0], STORE_OK);
	assert_int_equal(res[1], STORE_OK);
	assert_int_equal(res[2], STORE_OK);   /* the duplicate shares the first's copy */
	struct store_mailbox m;
	assert_int_equal(store_mailbox_get(f->s, a.id, "INBOX", &m), STORE_OK);
	assert_int_equal(m.messages, 1);
	assert_int_equal(contents(f->s), 1);

	struct collect c = {0};
	assert_int_equal(store_queue_list(f->s, collect_cb, &c), STORE_OK);
	assert_int_equal(c.n, 1);
	uint64_t qid = c.e[0].id;
	assert_int_equal(c.e[0].content_id, cid);
	collect_clear(&c);

	/* queue first: two mailbox copies remain */
	assert_int_equal(store_queue_remove(f->s, qid), STORE_OK);
	assert_int_equal(contents(f->s), 1);
	assert_false(content_gone(f->s, cid));
	/* a user deleted: one copy remains */
	assert_int_equal(store_user_del(f->s, "a@example.org"), STORE_OK);
	assert_int_equal(contents(f->s), 1);
	assert_false(content_gone(f->s, cid));
	/* the last copy expunged: gone */
	assert_int_equal(store_mailbox_get(f->s, b.id, "INBOX", &m), STORE_OK);
	uint32_t uid = 1;
	size_t removed = 0;
	assert_int_equal(store_expunge(f->s, m.id, &uid, 1, &removed), STORE_OK);
	assert_int_equal(removed, 1);
	assert_int_equal(contents(f->s), 0);
	assert_true(content_gone(f->s, cid));
	assert_int_equal(queue_count(f->s), 0);
}

/* Only remote recipients: one content, held by the queue alone. */
static void test_remote_only_refcount(void **state)
{
	struct fx *f = *state;
	const char *remote[] = {"x@remote.example", "y@remote.example"};
	uint64_t cid1, cid2;
	int res[1];
	assert_int_equal(deliver(f->s, NULL, 0, remote, 2, "", "one\r\n", res, &cid1), STORE_OK);
	assert_int_equal(deliver(f->s, NULL, 0, remote, 1, "", "two\r\n", res, &cid2), STORE_OK);
	assert_true(cid1 != cid2);
	assert_int_equal(contents(f->s), 2);
	assert_int_equal(queue_count(f->s), 2);
	struct collect c = {0};
	assert_int_equal(store_queue_list(f->s, collect_cb, &c), STORE_OK);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.e[0].content_id, cid1);
	assert_int_equal(c.e[0].nrecipients, 2);
	assert_int_equal(c.e[1].content_id, cid2);
	assert_int_equal(c.e[1].nrecipients, 1);
	uint64_t q1 = c.e[0].id, q2 = c.e[1].id;
	collect_clear(&c);
	assert_int_equal(store_queue_remove(f->s, q1), STORE_OK);
	assert_true(content_gone(f->s, cid1));
	assert_false(content_gone(f->s, cid2));
	assert_int_equal(contents(f->s), 1);
	assert_int_equal(queue_count(f->s), 1);
	assert_int_equal(store_queue_remove(f->s, q2), STORE_OK);
	assert_true(content_gone(f->s, cid2));
	assert_int_equal(contents(f->s), 0);
	assert_int_equal(queue_count(f->s), 0);
}

/* Local recipients that fail do not stop the queue entry, which alone
 * makes the delivery a success; with no remote recipient the old rule
 * (first error when nobody got it) is unchanged and nothing is queued. */
static void test_failed_locals(void **state)
{
	struct fx *f = *state;
	const char *unknown[] = {"nobody@example.org", "not an address"};
	const char *remote[] = {"r@remote.example"};
	int res[2];
	uint64_t cid = 0;
	assert_int_equal(deliver(f->s, unknown, 2, remote, 1, "s@example.org", "q\r\n", res, &cid),
			 STORE_OK);
	assert_int_equal(res[0], STORE_ERR_NOTFOUND);
	assert_int_equal(res[1], STORE_ERR_INVALID);
	assert_true(cid != 0);
	assert_int_equal(queue_count(f->s), 1);
	assert_int_equal(contents(f->s), 1);   /* one reference: the queue's */
	struct collect c = {0};
	assert_int_equal(store_queue_list(f->s, collect_cb, &c), STORE_OK);
	assert_int_equal(c.e[0].content_id, cid);
	assert_int_equal(store_queue_remove(f->s, c.e[0].id), STORE_OK);
	collect_clear(&c);
	assert_int_equal(contents(f->s), 0);

	cid = 7;
	assert_int_equal(deliver(f->s, unknown, 2, NULL, 0, NULL, "q\r\n", res, &cid),
			 STORE_ERR_NOTFOUND);
	assert_int_equal(res[0], STORE_ERR_NOTFOUND);
	assert_int_equal(res[1], STORE_ERR_INVALID);
	assert_int_equal(cid, 0);
	assert_int_equal(queue_count(f->s), 0);
	assert_int_equal(contents(f->s), 0);

	/* a local delivery without remote recipients queues nothing */
	struct store_user u;
	assert_int_equal(store_user_add(f->s, "here@example.org", "", &u), STORE_OK);
	const char *here[] = {"here@example.org"};
	assert_int_equal(deliver(f->s, here, 1, NULL, 0, NULL, "l\r\n", res, NULL), STORE_OK);
	assert_int_equal(res[0], STORE_OK);
	assert_int_equal(queue_count(f->s), 0);
}

/* A queue entry that cannot be made fails the whole transaction: no local
 * copy, no content, no entry, and results[] says so for every local. */
static void test_bad_entry_aborts_all(void **state)
{
	struct fx *f = *state;
	struct store_user u;
	assert_int_equal(store_user_add(f->s, "l@example.org", "", &u), STORE_OK);
	const char *local[] = {"l@example.org"};
	const char *remote[] = {"r@remote.example"};
	char longsender[STORE_ADDRESS_MAX + 2];
	memset(longsender, 'a', sizeof(longsender) - 1);
	longsender[sizeof(longsender) - 1] = '\0';
	char longrcpt[STORE_ADDRESS_MAX + 2];
	memset(longrcpt, 'b', sizeof(longrcpt) - 1);
	longrcpt[sizeof(longrcpt) - 1] = '\0';
	const char *badremote[] = {"r@remote.example", longrcpt};
	const char *nullremote[] = {"r@remote.example", NULL};
	int res[1];
	uint64_t cid;

	res[0] = 12345;
	assert_int_equal(deliver(f->s, local, 1, remote, 1, longsender, "x\r\n", res, &cid),
			 STORE_ERR_INVALID);
	assert_int_equal(res[0], STORE_ERR_INVALID);
	assert_int_equal(cid, 0);
	assert_int_equal(deliver(f->s, local, 1, badremote, 2, "", "x\r\n", res, &cid),
			 STORE_ERR_INVALID);
	assert_int_equal(deliver(f->s, local, 1, nullremote, 2, "", "x\r\n", res, &cid),
			 STORE_ERR_INVALID);
	/* remote recipients named without the array */
	struct store_delivery d = {.recipients = local, .nrecipients = 1, .data = "x", .len = 1,
				   .nremote = 1};
	assert_int_equal(store_deliver(f->s, &d, res, NULL), STORE_ERR_INVALID);

	struct store_mailbox m;
	assert_int_equal(store_mailbox_get(f->s, u.id, "INBOX", &m), STORE_OK);
	assert_int_equal(m.messages, 0);
	assert_int_equal(m.uidnext, 1);
	assert_int_equal(queue_count(f->s), 0);
	assert_int_equal(contents(f->s), 0);

	/* the longest address that fits is fine */
	longsender[STORE_ADDRESS_MAX] = '\0';
	assert_int_equal(deliver(f->s, local, 1, remote, 1, longsender, "x\r\n", res, NULL),
			 STORE_OK);
	struct collect c = {0};
	assert_int_equal(store_queue_list(f->s, collect_cb, &c), STORE_OK);
	assert_int_equal(c.n, 1);
	assert_int_equal(strlen(c.e[0].sender), STORE_ADDRESS_MAX);
	collect_clear(&c);
}

/* Many recipients round-trip, in the order given. */
static void test_many_recipients(void **state)
{
	struct fx *f = *state;
	enum { N = 500 };
	char (*addr)[48] = calloc(N, sizeof(*addr));
	const char **remote = calloc(N, sizeof(*remote));
	assert_non_null(addr);
	assert_non_null(remote);
	for (int i = 0; i < N; i++) {
		snprintf(addr[i], sizeof(addr[i]), "rcpt%03d@host%d.example", i, i % 7);
		remote[i] = addr[i];
	}
	int res[1];
	assert_int_equal(deliver(f->s, NULL, 0, remote, N, "s@example.org", "m\r\n", res, NULL),
			 STORE_OK);
	struct collect c = {0};
	assert_int_equal(store_queue_list(f->s, collect_cb, &c), STORE_OK);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.e[0].nrecipients, N);
	for (int i = 0; i < N; i++)
		assert_string_equal(c.e[0].recipients[i], addr[i]);
	collect_clear(&c);
	free(remote);
	free(addr);
}

static int stop_cb(void *arg, const struct store_queue_entry *e)
{
	(void)e;
	(*(int *)arg)++;
	return 42;
}

/* A callback's non-zero return stops the listing and is returned; ids keep
 * growing across removes and reopens, so `queue del ID` never hits a newer
 * message that took an old id. */
static void test_list_stop_and_ids(void **state)
{
	struct fx *f = *state;
	const char *remote[] = {"r@remote.example"};
	int res[1];
	assert_int_equal(queue_count(f->s), 0);
	int calls = 0;
	assert_int_equal(store_queue_list(f->s, stop_cb, &calls), STORE_OK);
	assert_int_equal(calls, 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(deliver(f->s, NULL, 0, remote, 1, "", "m\r\n", res, NULL),
				 STORE_OK);
	assert_int_equal(store_queue_list(f->s, stop_cb, &calls), 42);
	assert_int_equal(calls, 1);

	struct collect c = {0};
	assert_int_equal(store_queue_list(f->s, collect_cb, &c), STORE_OK);
	assert_int_equal(c.n, 3);
	uint64_t last = c.e[2].id;
	for (size_t i = 0; i < c.n; i++)
		assert_int_equal(store_queue_remove(f->s, c.e[i].id), STORE_OK);
	collect_clear(&c);
	store_close(&f->s);
	assert_int_equal(store_open(f->dir, NULL, &f->s), STORE_OK);
	assert_int_equal(deliver(f->s, NULL, 0, remote, 1, "", "m\r\n", res, NULL), STORE_OK);
	assert_int_equal(store_queue_list(f->s, collect_cb, &c), STORE_OK);
	assert_int_equal(c.n, 1);
	assert_true(c.e[0].id > last);
	collect_clear(&c);
	assert_int_equal(store_queue_remove(f->s, 0), STORE_ERR_NOTFOUND);
	assert_int_equal(store_queue_remove(f->s, UINT64_MAX), STORE_ERR_NOTFOUND);
	struct store_queue_entry e;
	assert_int_equal(store_queue_get(f->s, last, &e), STORE_ERR_NOTFOUND);
	assert_null(e.recipients);
	assert_int_equal(e.nrecipients, 0);
	store_queue_entry_clear(&e);
}

/* A content pinned for reading (a POP3 RETR of a local copy, say) stays
 * readable when the queue lets go of it last, until the unpin. */
static void test_remove_while_pinned(void **state)
{
	struct fx *f = *state;
	const char *remote[] = {"r@remote.example"};
	int res[1];
	uint64_t cid;
	assert_int_equal(deliver(f->s, NULL, 0, remote, 1, "", "pinned\r\n", res, &cid), STORE_OK);
	struct collect c = {0};
	assert_int_equal(store_queue_list(f->s, collect_cb, &c), STORE_OK);
	assert_int_equal(store_content_pin(f->s, cid), STORE_OK);
	assert_int_equal(store_queue_remove(f->s, c.e[0].id), STORE_OK);
	collect_clear(&c);
	assert_int_equal(queue_count(f->s), 0);
	char buf[16];
	size_t got;
	assert_int_equal(store_content_read(f->s, cid, 0, buf, sizeof(buf), &got), STORE_OK);
	assert_int_equal(got, 8);
	assert_memory_equal(buf, "pinned\r\n", 8);
	store_content_unpin(f->s, cid);
	assert_true(content_gone(f->s, cid));
	assert_int_equal(contents(f->s), 0);
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

/* ---- DSN parameters and the runner's updates ---- */

static void test_dsn_fields_roundtrip(void **state)
{
	struct fx *f = *state;
	const char *remote[] = {"a@far.example", "b@far.example"};
	const char *orcpt[] = {"rfc822;alias@here.example", NULL};
	uint8_t notify[] = {STORE_NOTIFY_SUCCESS | STORE_NOTIFY_FAILURE, 0};
	int res[1];
	struct store_delivery d = {
		.data = "x", .len = 1, .sender = "s@here.example", .remote_recipients = remote,
		.nremote = 2, .envid = "QQ314159", .ret = STORE_RET_HDRS, .remote_notify = notify,
		.remote_orcpt = orcpt, .queue_flags = STORE_QF_8BIT | STORE_QF_SUBMITTED,
	};
	assert_int_equal(store_deliver(f->s, &d, res, NULL), STORE_OK);
	struct collect c = {0};
	assert_int_equal(store_queue_list(f->s, collect_cb, &c), STORE_OK);
	assert_int_equal(c.n, 1);
	struct store_queue_entry *e = &c.e[0];
	assert_string_equal(e->envid, "QQ314159");
	assert_int_equal(e->ret, STORE_RET_HDRS);
	assert_int_equal(e->flags, STORE_QF_8BIT | STORE_QF_SUBMITTED);
	assert_string_equal(e->rcpt[0].orcpt, "rfc822;alias@here.example");
	assert_null(e->rcpt[1].orcpt);
	assert_int_equal(e->rcpt[0].notify, STORE_NOTIFY_SUCCESS | STORE_NOTIFY_FAILURE);
	assert_int_equal(e->rcpt[1].notify, 0);
	assert_int_equal(e->rcpt[0].code, 0);
	assert_null(e->rcpt[0].reply);
	collect_clear(&c);

	/* An ENVID over RFC 3461's 100 characters is refused, whole. */
	char longid[STORE_ENVID_MAX + 2];
	memset(longid, 'x', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = 0;
	d.envid = longid;
	assert_int_not_equal(store_deliver(f->s, &d, res, NULL), STORE_OK);
	assert_int_equal(queue_count(f->s), 1);
}

static uint64_t only_entry(struct fx *f, struct store_queue_entry *e_r)
{
	struct collect c = {0};
	assert_int_equal(store_queue_list(f->s, collect_cb, &c), STORE_OK);
	assert_int_equal(c.n, 1);
	*e_r = c.e[0];
	return e_r->id;
}

static void test_update_partial_then_last(void **state)
{
	struct fx *f = *state;
	const char *remote[] = {"a@far.example", "b@far.example", "c@far.example"};
	int res[1];
	uint64_t cid;
	assert_int_equal(deliver(f->s, NULL, 0, remote, 3, "s@here.example", "body", res, &cid),
			 STORE_OK);
	struct store_queue_entry e;
	uint64_t id = only_entry(f, &e);
	store_queue_entry_clear(&e);

	/* a delivered, b deferred with its reply, c untouched. */
	struct store_queue_result r1[] = {
		{.address = "a@far.example", .done = true, .code = 250},
		{.address = "b@far.example", .code = 451, .status = "4.7.1",
		 .reply = "greylisted, try later"},
	};
	struct store_queue_update u = {.results = r1, .nresults = 2, .attempts = 1,
				       .next_attempt = 12345, .last_error = "451 greylisted"};
	bool removed = true;
	assert_int_equal(store_queue_update(f->s, id, &u, &removed), STORE_OK);
	assert_false(removed);
	assert_int_equal(store_queue_get(f->s, id, &e), STORE_OK);
	assert_int_equal(e.nrecipients, 2);
	assert_string_equal(e.recipients[0], "b@far.example");
	assert_int_equal(e.rcpt[0].code, 451);
	assert_string_equal(e.rcpt[0].status, "4.7.1");
	assert_string_equal(e.rcpt[0].reply, "greylisted, try later");
	assert_string_equal(e.recipients[1], "c@far.example");
	assert_int_equal(e.rcpt[1].code, 0);
	assert_int_equal(e.attempts, 1);
	assert_int_equal(e.next_attempt, 12345);
	assert_string_equal(e.last_error, "451 greylisted");
	store_queue_entry_clear(&e);
	assert_false(content_gone(f->s, cid));

	/* The rest finish: the entry and the content go. */
	struct store_queue_result r2[] = {
		{.address = "b@far.example", .done = true, .code = 250},
		{.address = "c@far.example", .done = true, .code = 550},
	};
	u = (struct store_queue_update){.results = r2, .nresults = 2, .attempts = 2};
	assert_int_equal(store_queue_update(f->s, id, &u, &removed), STORE_OK);
	assert_true(removed);
	assert_int_equal(queue_count(f->s), 0);
	assert_true(content_gone(f->s, cid));
	assert_int_equal(contents(f->s), 0);
	assert_int_equal(store_queue_update(f->s, id, &u, &removed), STORE_ERR_NOTFOUND);
}

/* A bounce is stored in the same transaction as the outcome it reports:
 * to the local sender's INBOX, to a remote sender through the queue, and
 * to the fallback when the local sender does not exist. */
static void test_update_with_notices(void **state)
{
	struct fx *f = *state;
	struct store_user u;
	assert_int_equal(store_user_add(f->s, "sender@here.example", "pw", &u), STORE_OK);
	struct store_user pm;
	assert_int_equal(store_user_add(f->s, "postmaster@here.example", "pw", &pm), STORE_OK);
	const char *remote[] = {"x@far.example", "y@far.example", "z@far.example"};
	int res[1];
	assert_int_equal(deliver(f->s, NULL, 0, remote, 3, "sender@here.example", "orig", res,
				 NULL),
			 STORE_OK);
	struct store_queue_entry e;
	uint64_t id = only_entry(f, &e);
	store_queue_entry_clear(&e);

	const char *to_local[] = {"sender@here.example"};
	const char *to_nobody[] = {"ghost@here.example"};
	const char *to_remote[] = {"someone@elsewhere.example"};
	struct store_delivery notices[] = {
		{.recipients = to_local, .nrecipients = 1, .data = "bounce 1", .len = 8},
		{.recipients = to_nobody, .nrecipients = 1, .data = "bounce 2", .len = 8,
		 .fallback = "postmaster@here.example"},
		{.data = "bounce 3", .len = 8, .sender = "", .remote_recipients = to_remote,
		 .nremote = 1, .queue_flags = STORE_QF_NOTICE},
	};
	struct store_queue_result r[] = {{.address = "x@far.example", .done = true, .code = 550}};
	struct store_queue_update up = {.results = r, .nresults = 1, .attempts = 1,
					.notices = notices, .nnotices = 3};
	assert_int_equal(store_queue_update(f->s, id, &up, NULL), STORE_OK);
	struct store_mailbox m;
	assert_int_equal(store_mailbox_get(f->s, u.id, "INBOX", &m), STORE_OK);
	assert_int_equal(m.messages, 1);
	assert_int_equal(store_mailbox_get(f->s, pm.id, "INBOX", &m), STORE_OK);
	assert_int_equal(m.messages, 1);
	struct collect c = {0};
	assert_int_equal(store_queue_list(f->s, collect_cb, &c), STORE_OK);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.e[0].nrecipients, 2);
	assert_string_equal(c.e[1].recipients[0], "someone@elsewhere.example");
	assert_string_equal(c.e[1].sender, "");
	assert_int_equal(c.e[1].flags, STORE_QF_NOTICE);
	collect_clear(&c);
}

static const char *const resched_rcpts[] = {"a@far.example", "b@far.example",
					    "c@far.example", "d@far.example"};

/* The i-th entry made by test_reschedule_all_in_one_pass, rescheduled. */
static int resched_check_cb(void *arg, const struct store_queue_entry *e)
{
	size_t *i = arg;
	assert_int_equal(e->next_attempt, 4242);
	assert_int_equal(e->flags & STORE_QF_DELAY_SENT, STORE_QF_DELAY_SENT);
	assert_int_equal(e->nrecipients, *i % 4 + 1);
	assert_string_equal(e->sender, *i % 2 ? "s@here.example" : "");
	assert_string_equal(e->recipients[e->nrecipients - 1], resched_rcpts[e->nrecipients - 1]);
	(*i)++;
	return 0;
}

/* Rescheduling all entries rewrites each where the walk stands: records
 * of every size keep everything but next_attempt and the added flags,
 * and each is counted once. */
static void test_reschedule_all_in_one_pass(void **state)
{
	struct fx *f = *state;
	int res[1];
	for (int i = 0; i < 200; i++)
		assert_int_equal(deliver(f->s, NULL, 0, resched_rcpts, (size_t)(i % 4) + 1,
					 i % 2 ? "s@here.example" : "", "m", res, NULL),
				 STORE_OK);
	size_t n = 0;
	assert_int_equal(store_queue_reschedule(f->s, 0, 4242, STORE_QF_DELAY_SENT, &n), STORE_OK);
	assert_int_equal(n, 200);
	size_t seen = 0;
	assert_int_equal(store_queue_list(f->s, resched_check_cb, &seen), STORE_OK);
	assert_int_equal(seen, 200);
}

static void test_reschedule_and_v1(void **state)
{
	struct fx *f = *state;
	const char *remote[] = {"a@far.example"};
	int res[1];
	for (int i = 0; i < 3; i++)
		assert_int_equal(deliver(f->s, NULL, 0, remote, 1, "", "m", res, NULL), STORE_OK);
	size_t n = 0;
	assert_int_equal(store_queue_reschedule(f->s, 0, 777, 0, &n), STORE_OK);
	assert_int_equal(n, 3);
	struct collect c = {0};
	assert_int_equal(store_queue_list(f->s, collect_cb, &c), STORE_OK);
	for (size_t i = 0; i < c.n; i++)
		assert_int_equal(c.e[i].next_attempt, 777);
	uint64_t id = c.e[1].id;
	collect_clear(&c);
	assert_int_equal(store_queue_reschedule(f->s, id, 5, STORE_QF_BOUNCE, &n), STORE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(store_queue_reschedule(f->s, 999999, 5, 0, &n), STORE_ERR_NOTFOUND);
	struct store_queue_entry got;
	assert_int_equal(store_queue_get(f->s, id, &got), STORE_OK);
	assert_int_equal(got.next_attempt, 5);
	assert_int_equal(got.flags, STORE_QF_BOUNCE);
	store_queue_entry_clear(&got);

	/* A version 1 record (before DSN parameters) still reads. */
	static const uint8_t v1[] = {
		1,                                   /* version */
		0, 0, 0, 0, 0, 0, 0, 10,             /* created */
		0, 0, 0, 0, 0, 0, 0, 7,              /* content id */
		0, 0, 0, 0, 0, 0, 0, 3,              /* size */
		0, 0, 0, 2,                          /* attempts */
		0, 0, 0, 0, 0, 0, 0, 20,             /* next attempt */
		0, 3, 's', '@', 'h',                 /* sender */
		0, 0, 0, 1,                          /* one recipient */
		0, 3, 'r', '@', 'f',
		0, 2, 'e', 'r',                      /* last error */
	};
	struct store_queue_entry e;
	assert_int_equal(store_queue_decode(42, v1, sizeof(v1), &e), STORE_OK);
	assert_int_equal(e.created, 10);
	assert_int_equal(e.attempts, 2);
	assert_string_equal(e.sender, "s@h");
	assert_int_equal(e.nrecipients, 1);
	assert_string_equal(e.recipients[0], "r@f");
	assert_null(e.rcpt[0].orcpt);
	assert_string_equal(e.last_error, "er");
	store_queue_entry_clear(&e);
	assert_int_equal(store_queue_decode(42, v1, sizeof(v1) - 1, &e), STORE_ERR_CORRUPT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mixed_delivery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remote_only_and_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_entry_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refcount_every_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remote_only_refcount, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_locals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_entry_aborts_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_recipients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_stop_and_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_while_pinned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scram_credentials, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dsn_fields_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_update_partial_then_last, setup, teardown),
		cmocka_unit_test_setup_teardown(test_update_with_notices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reschedule_and_v1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reschedule_all_in_one_pass, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
