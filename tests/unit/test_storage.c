/* Unit tests for storage/: the store_* API over Berkeley DB.  Each test runs
 * in a fresh temporary directory, removed afterwards.  Tests that involve a
 * second process fork before opening, since a Berkeley DB handle must not
 * cross a fork; children report through their exit status. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "storage/storage.h"
#include "tests/unit/store_fixture.h"
#include "storage/storage_private.h"

struct fx {
	char dir[STORE_FIXTURE_DIR_MAX];
	struct store *s;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	if (store_fixture_open(f->dir, "storage", &f->s) < 0)
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

static void reopen(struct fx *f)
{
	store_close(&f->s);
	assert_null(f->s);
	assert_int_equal(store_open(f->dir, NULL, &f->s), STORE_OK);
}

static void add_user(struct store *s, const char *address, struct store_user *u_r)
{
	struct store_user u;
	assert_int_equal(store_user_add(s, address, "$y$hash", u_r ? u_r : &u), STORE_OK);
}

static void pattern(uint8_t *p, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

static int deliver1(struct store *s, const char *rcpt, const void *data, size_t len,
		    uint32_t flags)
{
	const char *r[] = {rcpt};
	int res[1];
	struct store_delivery d = {.recipients = r, .nrecipients = 1, .data = data, .len = len,
				   .flags = flags};
	int rc = store_deliver(s, &d, res, NULL);
	if (rc == STORE_OK && res[0] != STORE_OK)
		return -99;
	return rc;
}

static struct store_mailbox inbox(struct store *s, const char *address)
{
	struct store_user u;
	struct store_mailbox m;
	assert_int_equal(store_user_get(s, address, &u), STORE_OK);
	assert_int_equal(store_mailbox_get(s, u.id, "INBOX", &m), STORE_OK);
	return m;
}

struct msgs {
	struct store_msg m[2048];
	size_t n;
	int stop_after;
};

static int collect_msg(void *arg, const struct store_msg *msg)
{
	struct msgs *c = arg;
	if (c->n < 2048)
		c->m[c->n] = *msg;
	c->n++;
	if (c->stop_after && (int)c->n == c->stop_after)
		return 42;
	return 0;
}

static struct msgs *list_msgs(struct store *s, uint32_t mailbox_id)
{
	struct msgs *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	assert_int_equal(store_msg_list(s, mailbox_id, collect_msg, c), STORE_OK);
	return c;
}

static struct store_stats stats(struct store *s)
{
	struct store_stats st;
	assert_int_equal(store_stats_get(s, &st), STORE_OK);
	return st;
}

/* ---- environment ---- */

static void test_open_close_reopen(void **state)
{
	struct fx *f = *state;
	struct store_user u, g;
	add_user(f->s, "alice@example.org", &u);
	assert_int_equal(u.id, 1);
	const char msg[] = "Subject: hi\r\n\r\nbody\r\n";
	assert_int_equal(deliver1(f->s, "alice@example.org", msg, sizeof(msg) - 1, 0), STORE_OK);
	reopen(f);
	assert_int_equal(store_user_get(f->s, "alice@example.org", &g), STORE_OK);
	assert_int_equal(g.id, u.id);
	assert_string_equal(g.pwhash, "$y$hash");
	struct store_mailbox m = inbox(f->s, "alice@example.org");
	assert_int_equal(m.messages, 1);
	struct store_stats st = stats(f->s);
	assert_int_equal(st.users, 1);
	assert_int_equal(st.messages, 1);
	assert_int_equal(st.contents, 1);
	/* A second user after reopen gets the next id, not a reused one. */
	add_user(f->s, "bob@example.org", &u);
	assert_int_equal(u.id, 2);
	store_close(&f->s);
	store_close(&f->s);  /* harmless on NULL */
	assert_int_equal(store_open(f->dir, NULL, &f->s), STORE_OK);
}

static void test_open_creates_nested_dir(void **state)
{
	struct fx *f = *state;
	char path[128];
	snprintf(path, sizeof(path), "%s/a/b/data", f->dir);
	struct store *s2 = NULL;
	store_close(&f->s);  /* one environment handle per process at a time */
	assert_int_equal(store_open(path, NULL, &s2), STORE_OK);
	add_user(s2, "x@y.z", NULL);
	store_close(&s2);
	assert_int_equal(store_open(path, NULL, &s2), STORE_OK);
	assert_int_equal(store_user_get(s2, "x@y.z", NULL), STORE_OK);
	store_close(&s2);
	assert_int_equal(store_open(f->dir, NULL, &f->s), STORE_OK);
	assert_int_equal(store_open("", NULL, &s2), STORE_ERR_INVALID);
	assert_null(s2);
}

static void test_strerror(void **state)
{
	(void)state;
	assert_string_equal(store_strerror(STORE_OK), "success");
	assert_string_equal(store_strerror(STORE_ERR_NOTFOUND), "not found");
	assert_string_equal(store_strerror(STORE_ERR_CORRUPT), "corrupt record");
	assert_string_equal(store_strerror(12345), "unknown storage error");
}

/* ---- users ---- */

struct users {
	char addr[400][STORE_ADDRESS_MAX + 1];
	uint32_t id[400];
	size_t n;
	size_t stop_after;
};

static int collect_user(void *arg, const struct store_user *u)
{
	struct users *c = arg;
	if (c->n < 400) {
		strcpy(c->addr[c->n], u->address);
		c->id[c->n] = u->id;
	}
	c->n++;
	return c->stop_after && c->n == c->stop_after ? 7 : 0;
}

static void test_users(void **state)
{
	struct fx *f = *state;
	struct store_user a, b, g;
	add_user(f->s, "Carol@Example.ORG", &a);
	assert_string_equal(a.address, "carol@example.org");
	assert_true(a.created > 0);
	assert_int_equal(store_user_add(f->s, "bob@example.org", "", &b), STORE_OK);
	assert_string_equal(b.pwhash, "");
	assert_int_not_equal(a.id, b.id);

	/* duplicates, in any case */
	assert_int_equal(store_user_add(f->s, "carol@example.org", "x", &g), STORE_ERR_EXISTS);
	assert_int_equal(store_user_add(f->s, "CAROL@EXAMPLE.ORG", "x", &g), STORE_ERR_EXISTS);

	assert_int_equal(store_user_get(f->s, "cArOl@eXample.org", &g), STORE_OK);
	assert_int_equal(g.id, a.id);
	assert_string_equal(g.address, "carol@example.org");
	assert_int_equal(store_user_get_by_id(f->s, b.id, &g), STORE_OK);
	assert_string_equal(g.address, "bob@example.org");
	assert_int_equal(store_user_get_by_id(f->s, 999, &g), STORE_ERR_NOTFOUND);
	assert_int_equal(store_user_get(f->s, "nobody@example.org", &g), STORE_ERR_NOTFOUND);

	assert_int_equal(store_user_set_password(f->s, "CAROL@example.org", "$6$new"), STORE_OK);
	assert_int_equal(store_user_get(f->s, "carol@example.org", &g), STORE_OK);
	assert_string_equal(g.pwhash, "$6$new");
	assert_int_equal(g.created, a.created);
	assert_int_equal(store_user_set_password(f->s, "nobody@example.org", "x"),
			 STORE_ERR_NOTFOUND);

	add_user(f->s, "alice@example.org", NULL);
	struct users *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	assert_int_equal(store_user_list(f->s, collect_user, c), STORE_OK);
	assert_int_equal(c->n, 3);
	assert_string_equal(c->addr[0], "alice@example.org");
	assert_string_equal(c->addr[1], "bob@example.org");
	assert_string_equal(c->addr[2], "carol@example.org");
	memset(c, 0, sizeof(*c));
	c->stop_after = 2;
	assert_int_equal(store_user_list(f->s, collect_user, c), 7);
	assert_int_equal(c->n, 2);

	assert_int_equal(store_user_del(f->s, "Bob@Example.org"), STORE_OK);
	assert_int_equal(store_user_get(f->s, "bob@example.org", &g), STORE_ERR_NOTFOUND);
	assert_int_equal(store_user_get_by_id(f->s, b.id, &g), STORE_ERR_NOTFOUND);
	assert_int_equal(store_user_del(f->s, "bob@example.org"), STORE_ERR_NOTFOUND);
	assert_int_equal(stats(f->s).users, 2);
	memset(c, 0, sizeof(*c));
	assert_int_equal(store_user_list(f->s, collect_user, c), STORE_OK);
	assert_int_equal(c->n, 2);
	free(c);
}

static void test_user_list_batches(void **state)
{
	struct fx *f = *state;
	/* More users than one listing batch holds. */
	for (int i = 0; i < STORE_LIST_BATCH + 44; i++) {
		char a[64];
		snprintf(a, sizeof(a), "u%04d@example.org", i);
		add_user(f->s, a, NULL);
	}
	struct users *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	assert_int_equal(store_user_list(f->s, collect_user, c), STORE_OK);
	assert_int_equal(c->n, STORE_LIST_BATCH + 44);
	for (size_t i = 0; i < c->n; i++) {
		char a[64];
		snprintf(a, sizeof(a), "u%04zu@example.org", i);
		assert_string_equal(c->addr[i], a);
	}
	free(c);
	assert_int_equal(stats(f->s).users, STORE_LIST_BATCH + 44);
}

static void test_invalid_arguments(void **state)
{
	struct fx *f = *state;
	struct store_user u;
	static const char *const bad[] = {
		"", "noat", "@example.org", "user@", "a@b@c", "a b@c.d", "a\r@c.d", "a\n@c.d",
		"a\x01@c.d", "a@c.d\x7f", "a\t@c.d",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(store_user_add(f->s, bad[i], "", &u), STORE_ERR_INVALID);
		assert_int_equal(store_user_get(f->s, bad[i], &u), STORE_ERR_INVALID);
	}
	assert_int_equal(store_user_add(f->s, NULL, "", &u), STORE_ERR_INVALID);

	char addr[STORE_ADDRESS_MAX + 2];
	memset(addr, 'a', sizeof(addr));
	addr[1] = '@';
	addr[STORE_ADDRESS_MAX] = '\0';           /* exactly the maximum */
	assert_int_equal(store_user_add(f->s, addr, "", &u), STORE_OK);
	addr[STORE_ADDRESS_MAX] = 'a';
	addr[STORE_ADDRESS_MAX + 1] = '\0';       /* one too long */
	assert_int_equal(store_user_add(f->s, addr, "", &u), STORE_ERR_INVALID);

	/* UTF-8 local parts are allowed (RFC 6531). */
	assert_int_equal(store_user_add(f->s, "j\xc3\xb6rg@example.org", "", &u), STORE_OK);

	char pw[STORE_PWHASH_MAX + 2];
	memset(pw, 'x', sizeof(pw));
	pw[STORE_PWHASH_MAX + 1] = '\0';
	assert_int_equal(store_user_add(f->s, "p@example.org", pw, &u), STORE_ERR_INVALID);
	assert_int_equal(store_user_add(f->s, "p@example.org", "a\nb", &u), STORE_ERR_INVALID);
	pw[STORE_PWHASH_MAX] = '\0';
	assert_int_equal(store_user_add(f->s, "p@example.org", pw, &u), STORE_OK);
	assert_int_equal(store_user_get(f->s, "p@example.org", &u), STORE_OK);
	assert_int_equal(strlen(u.pwhash), STORE_PWHASH_MAX);

	/* mailbox names */
	struct store_mailbox m;
	assert_int_equal(store_mailbox_create(f->s, u.id, "", 0, &m), STORE_ERR_INVALID);
	assert_int_equal(store_mailbox_create(f->s, u.id, "a\rb", 0, &m), STORE_ERR_INVALID);
	assert_int_equal(store_mailbox_create(f->s, u.id, "a\nb", 0, &m), STORE_ERR_INVALID);
	assert_int_equal(store_mailbox_create(f->s, u.id, NULL, 0, &m), STORE_ERR_INVALID);
	assert_int_equal(store_mailbox_create(f->s, u.id, "x", 1u << 20, &m), STORE_ERR_INVALID);
	assert_int_equal(store_mailbox_get(f->s, u.id, "", &m), STORE_ERR_INVALID);
	char *name = malloc(STORE_MAILBOX_NAME_MAX + 2);
	assert_non_null(name);
	memset(name, 'n', STORE_MAILBOX_NAME_MAX + 1);
	name[STORE_MAILBOX_NAME_MAX + 1] = '\0';
	assert_int_equal(store_mailbox_create(f->s, u.id, name, 0, &m), STORE_ERR_INVALID);
	name[STORE_MAILBOX_NAME_MAX] = '\0';
	assert_int_equal(store_mailbox_create(f->s, u.id, name, 0, &m), STORE_OK);
	assert_int_equal(store_mailbox_get(f->s, u.id, name, &m), STORE_OK);
	assert_int_equal(strlen(m.name), STORE_MAILBOX_NAME_MAX);
	free(name);

	/* deliveries */
	int res[2];
	const char *r[] = {"ok@example.org", "bad"};
	struct store_delivery d = {.recipients = r, .nrecipients = 2, .data = "x", .len = 1};
	assert_int_equal(store_deliver(f->s, &d, res, NULL), STORE_ERR_NOTFOUND);  /* the first */
	assert_int_equal(res[0], STORE_ERR_NOTFOUND);
	assert_int_equal(res[1], STORE_ERR_INVALID);
	d.nrecipients = 0;
	assert_int_equal(store_deliver(f->s, &d, res, NULL), STORE_ERR_INVALID);
	d.nrecipients = 1;
	d.data = NULL;
	assert_int_equal(store_deliver(f->s, &d, res, NULL), STORE_ERR_INVALID);
	d.data = "x";
	d.mailbox = "bad\r\nname";
	assert_int_equal(store_deliver(f->s, &d, res, NULL), STORE_ERR_INVALID);
	assert_int_equal(res[0], STORE_ERR_INVALID);
	assert_int_equal(store_msg_flags(f->s, 1, 1, STORE_FLAGS_ADD, 1u << 10, NULL),
			 STORE_ERR_INVALID);
	assert_int_equal(store_msg_flags(f->s, 1, 1, (enum store_flag_op)9, STORE_F_SEEN, NULL),
			 STORE_ERR_INVALID);
	assert_int_equal(store_domain_has_users(f->s, ""), STORE_ERR_INVALID);
	assert_int_equal(store_domain_has_users(f->s, "a@b"), STORE_ERR_INVALID);
}

struct mboxes {
	struct store_mailbox m[16];
	size_t n;
};

static int collect_mbox(void *arg, const struct store_mailbox *m)
{
	struct mboxes *c = arg;
	if (c->n < 16)
		c->m[c->n] = *m;
	c->n++;
	return 0;
}

static const struct store_mailbox *find_mbox(const struct mboxes *c, const char *name)
{
	for (size_t i = 0; i < c->n && i < 16; i++)
		if (strcmp(c->m[i].name, name) == 0)
			return &c->m[i];
	return NULL;
}

static void test_default_mailboxes(void **state)
{
	struct fx *f = *state;
	struct store_user u, v;
	add_user(f->s, "dora@example.org", &u);
	add_user(f->s, "eve@example.org", &v);
	struct mboxes *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	assert_int_equal(store_mailbox_list(f->s, u.id, collect_mbox, c), STORE_OK);
	assert_int_equal(c->n, 6);
	static const struct {
		const char *name;
		uint32_t su;
	} want[] = {
		{"INBOX", STORE_SU_NONE}, {"Sent", STORE_SU_SENT}, {"Drafts", STORE_SU_DRAFTS},
		{"Trash", STORE_SU_TRASH}, {"Junk", STORE_SU_JUNK}, {"Archive", STORE_SU_ARCHIVE},
	};
	for (size_t i = 0; i < 6; i++) {
		const struct store_mailbox *m = find_mbox(c, want[i].name);
		assert_non_null(m);
		assert_int_equal(m->special_use, want[i].su);
		assert_true(m->subscribed);
		assert_int_equal(m->user_id, u.id);
		assert_int_equal(m->uidnext, 1);
		assert_int_equal(m->messages, 0);
		assert_true(m->highestmodseq >= 1);
		assert_true(m->uidvalidity > 0);
		for (size_t j = 0; j < i; j++)
			assert_int_not_equal(m->uidvalidity, find_mbox(c, want[j].name)->uidvalidity);
	}
	/* In name order: Archive, Drafts, INBOX, Junk, Sent, Trash. */
	assert_string_equal(c->m[0].name, "Archive");
	assert_string_equal(c->m[5].name, "Trash");

	struct store_mailbox m, m2;
	assert_int_equal(store_mailbox_get(f->s, u.id, "inbox", &m), STORE_OK);
	assert_string_equal(m.name, "INBOX");
	assert_int_equal(store_mailbox_get(f->s, u.id, "InBoX", &m2), STORE_OK);
	assert_int_equal(m.id, m2.id);
	assert_int_equal(store_mailbox_get_by_id(f->s, m.id, &m2), STORE_OK);
	assert_string_equal(m2.name, "INBOX");
	assert_int_equal(store_mailbox_get(f->s, u.id, "sent", &m2), STORE_ERR_NOTFOUND);
	assert_int_equal(store_mailbox_get(f->s, v.id, "INBOX", &m2), STORE_OK);
	assert_int_not_equal(m2.id, m.id);

	assert_int_equal(store_mailbox_create(f->s, u.id, "Work/Project", STORE_SU_FLAGGED, &m),
			 STORE_OK);
	assert_false(m.subscribed);
	assert_int_equal(m.special_use, STORE_SU_FLAGGED);
	assert_int_equal(store_mailbox_create(f->s, u.id, "Work/Project", 0, &m2), STORE_ERR_EXISTS);
	assert_int_equal(store_mailbox_create(f->s, u.id, "inbox", 0, &m2), STORE_ERR_EXISTS);
	assert_int_equal(store_mailbox_create(f->s, 4242, "X", 0, &m2), STORE_ERR_NOTFOUND);
	assert_int_equal(store_mailbox_get_by_id(f->s, 4242, &m2), STORE_ERR_NOTFOUND);
	memset(c, 0, sizeof(*c));
	assert_int_equal(store_mailbox_list(f->s, u.id, collect_mbox, c), STORE_OK);
	assert_int_equal(c->n, 7);
	memset(c, 0, sizeof(*c));
	assert_int_equal(store_mailbox_list(f->s, 4242, collect_mbox, c), STORE_OK);
	assert_int_equal(c->n, 0);
	free(c);
}

static void test_domain_has_users(void **state)
{
	struct fx *f = *state;
	assert_int_equal(store_domain_has_users(f->s, "example.org"), 0);
	add_user(f->s, "a@example.org", NULL);
	add_user(f->s, "b@Example.org", NULL);
	add_user(f->s, "c@other.net", NULL);
	assert_int_equal(store_domain_has_users(f->s, "example.org"), 1);
	assert_int_equal(store_domain_has_users(f->s, "EXAMPLE.ORG"), 1);
	assert_int_equal(store_domain_has_users(f->s, "other.net"), 1);
	assert_int_equal(store_domain_has_users(f->s, "example.net"), 0);
	assert_int_equal(store_domain_has_users(f->s, "ample.org"), 0);
	assert_int_equal(store_user_del(f->s, "a@example.org"), STORE_OK);
	assert_int_equal(store_domain_has_users(f->s, "example.org"), 1);
	assert_int_equal(store_user_del(f->s, "b@example.org"), STORE_OK);
	assert_int_equal(store_domain_has_users(f->s, "example.org"), 0);
	assert_int_equal(store_domain_has_users(f->s, "other.net"), 1);
}

/* ---- delivery and content ---- */

static void test_deliver_three_recipients(void **state)
{
	struct fx *f = *state;
	add_user(f->s, "r1@example.org", NULL);
	add_user(f->s, "r2@example.org", NULL);
	add_user(f->s, "r3@example.net", NULL);
	uint8_t data[1000];
	pattern(data, sizeof(data), 7);
	const char *r[] = {"r1@example.org", "R2@EXAMPLE.ORG", "r3@example.net"};
	int res[3] = {-50, -50, -50};
	struct store_delivery d = {.recipients = r, .nrecipients = 3, .data = data,
				   .len = sizeof(data), .internaldate = 1700000000};
	uint64_t cid = 0;
	assert_int_equal(store_deliver(f->s, &d, res, &cid), STORE_OK);
	for (int i = 0; i < 3; i++)
		assert_int_equal(res[i], STORE_OK);
	assert_true(cid > 0);
	struct store_stats st = stats(f->s);
	assert_int_equal(st.contents, 1);
	assert_int_equal(st.messages, 3);
	assert_int_equal(st.users, 3);
	static const char *const who[] = {"r1@example.org", "r2@example.org", "r3@example.net"};
	for (int i = 0; i < 3; i++) {
		struct store_mailbox m = inbox(f->s, who[i]);
		assert_int_equal(m.messages, 1);
		assert_int_equal(m.unseen, 1);
		assert_int_equal(m.recent, 1);
		assert_int_equal(m.size, sizeof(data));
		assert_int_equal(m.uidnext, 2);
		struct store_msg msg;
		assert_int_equal(store_msg_get(f->s, m.id, 1, &msg), STORE_OK);
		assert_int_equal(msg.uid, 1);
		assert_int_equal(msg.content_id, cid);
		assert_int_equal(msg.size, sizeof(data));
		assert_int_equal(msg.flags, STORE_F_RECENT);
		assert_int_equal(msg.internaldate, 1700000000);
		assert_int_equal(msg.modseq, m.highestmodseq);
		uint8_t back[1100];
		size_t got = 0;
		assert_int_equal(store_content_read(f->s, msg.content_id, 0, back, sizeof(back), &got),
				 STORE_OK);
		assert_int_equal(got, sizeof(data));
		assert_memory_equal(back, data, sizeof(data));
	}
}

static void test_deliver_unknown_and_duplicates(void **state)
{
	struct fx *f = *state;
	add_user(f->s, "known@example.org", NULL);
	const char *r[] = {"nobody@example.org", "known@example.org", "KNOWN@example.org", "x"};
	int res[4];
	struct store_delivery d = {.recipients = r, .nrecipients = 4, .data = "hello", .len = 5};
	assert_int_equal(store_deliver(f->s, &d, res, NULL), STORE_OK);
	assert_int_equal(res[0], STORE_ERR_NOTFOUND);
	assert_int_equal(res[1], STORE_OK);
	assert_int_equal(res[2], STORE_OK);
	assert_int_equal(res[3], STORE_ERR_INVALID);
	/* The duplicate got one copy. */
	assert_int_equal(inbox(f->s, "known@example.org").messages, 1);
	assert_int_equal(stats(f->s).messages, 1);
	assert_int_equal(store_user_get(f->s, "nobody@example.org", NULL), STORE_ERR_NOTFOUND);

	/* Nobody known: the first error, and no content left behind. */
	const char *r2[] = {"nobody@example.org", "none@example.org"};
	d.recipients = r2;
	d.nrecipients = 2;
	uint64_t cid = 77;
	assert_int_equal(store_deliver(f->s, &d, res, &cid), STORE_ERR_NOTFOUND);
	assert_int_equal(cid, 0);
	assert_int_equal(res[0], STORE_ERR_NOTFOUND);
	assert_int_equal(res[1], STORE_ERR_NOTFOUND);
	assert_int_equal(stats(f->s).contents, 1);

	/* Into another mailbox by name; a missing one is NOTFOUND. */
	const char *r3[] = {"known@example.org"};
	d.recipients = r3;
	d.nrecipients = 1;
	d.mailbox = "Junk";
	d.flags = STORE_F_SEEN | STORE_F_FLAGGED;
	assert_int_equal(store_deliver(f->s, &d, res, NULL), STORE_OK);
	struct store_user u;
	struct store_mailbox m;
	assert_int_equal(store_user_get(f->s, "known@example.org", &u), STORE_OK);
	assert_int_equal(store_mailbox_get(f->s, u.id, "Junk", &m), STORE_OK);
	assert_int_equal(m.messages, 1);
	assert_int_equal(m.unseen, 0);
	assert_int_equal(m.recent, 1);
	struct store_msg msg;
	assert_int_equal(store_msg_get(f->s, m.id, 1, &msg), STORE_OK);
	assert_int_equal(msg.flags, STORE_F_SEEN | STORE_F_FLAGGED | STORE_F_RECENT);
	d.mailbox = "NoSuchFolder";
	assert_int_equal(store_deliver(f->s, &d, res, NULL), STORE_ERR_NOTFOUND);
	assert_int_equal(res[0], STORE_ERR_NOTFOUND);
}

/* A message record already at the mailbox's UIDNEXT (a record that lost
 * its UIDNEXT): a delivery there fails its whole transaction. */
static int uid_taken(struct store *s, DB_TXN *txn, void *arg)
{
	const struct store_mailbox *m = arg;
	struct store_msg msg = {.uid = m->uidnext, .content_id = UINT64_MAX - 1, .size = 1};
	return store_msg_write(s, txn, m->id, &msg, 0);
}

static void assert_inbox_holds(struct store *s, const char *who, const char *const *want,
			       size_t n)
{
	struct store_mailbox m = inbox(s, who);
	assert_int_equal(m.messages, n);
	for (size_t i = 0; i < n; i++) {
		struct store_msg msg;
		assert_int_equal(store_msg_get(s, m.id, (uint32_t)i + 1, &msg), STORE_OK);
		char back[16];
		size_t got = 0;
		assert_int_equal(store_content_read(s, msg.content_id, 0, back, sizeof(back), &got),
				 STORE_OK);
		assert_int_equal(got, strlen(want[i]));
		assert_memory_equal(back, want[i], got);
	}
}

/* Several deliveries in one transaction (store_deliver_many) end as each
 * would alone: in order, each recipient's result its own, and one whose
 * failure rolls back the shared transaction fails alone. */
static void test_deliver_many(void **state)
{
	struct fx *f = *state;
	add_user(f->s, "a@example.org", NULL);
	add_user(f->s, "b@example.org", NULL);
	add_user(f->s, "c@example.org", NULL);
	const char *ra[] = {"a@example.org"}, *rab[] = {"a@example.org", "b@example.org"};
	const char *rnone[] = {"nobody@example.org"}, *rbad[] = {"x"};
	const char *rdup[] = {"A@example.org", "a@example.org"};
	struct store_delivery d[5] = {
		{.recipients = ra, .nrecipients = 1, .data = "m0", .len = 2},
		{.recipients = rab, .nrecipients = 2, .data = "m1", .len = 2},
		{.recipients = rnone, .nrecipients = 1, .data = "m2", .len = 2},
		{.recipients = rbad, .nrecipients = 1, .data = "m3", .len = 2},
		{.recipients = rdup, .nrecipients = 2, .data = "m4", .len = 2},
	};
	int res[5][2];
	const struct store_delivery *dp[5];
	int *rp[5], rc[5];
	for (int i = 0; i < 5; i++) {
		dp[i] = &d[i];
		rp[i] = res[i];
		rc[i] = -50;
	}
	store_deliver_many(f->s, dp, rp, rc, 5);
	assert_int_equal(rc[0], STORE_OK);
	assert_int_equal(rc[1], STORE_OK);
	assert_int_equal(res[1][1], STORE_OK);
	assert_int_equal(rc[2], STORE_ERR_NOTFOUND);
	assert_int_equal(res[2][0], STORE_ERR_NOTFOUND);
	assert_int_equal(rc[3], STORE_ERR_INVALID);
	assert_int_equal(rc[4], STORE_OK);
	assert_int_equal(res[4][0], STORE_OK);
	assert_int_equal(res[4][1], STORE_OK);
	static const char *const in_a[] = {"m0", "m1", "m4"}, *const in_b[] = {"m1"};
	assert_inbox_holds(f->s, "a@example.org", in_a, 3);
	assert_inbox_holds(f->s, "b@example.org", in_b, 1);
	struct store_stats st = stats(f->s);
	assert_int_equal(st.contents, 3);
	assert_int_equal(st.messages, 4);

	struct store_mailbox mc = inbox(f->s, "c@example.org");
	assert_int_equal(store_txn_run(f->s, uid_taken, &mc), STORE_OK);
	const char *rc_[] = {"c@example.org"}, *rb[] = {"b@example.org"};
	struct store_delivery e[3] = {
		{.recipients = ra, .nrecipients = 1, .data = "n0", .len = 2},
		{.recipients = rc_, .nrecipients = 1, .data = "n1", .len = 2},
		{.recipients = rb, .nrecipients = 1, .data = "n2", .len = 2},
	};
	for (int i = 0; i < 3; i++)
		dp[i] = &e[i];
	store_deliver_many(f->s, dp, rp, rc, 3);
	assert_int_equal(rc[0], STORE_OK);
	assert_int_equal(rc[1], STORE_ERR_CORRUPT);
	assert_int_equal(rc[2], STORE_OK);
	static const char *const in_a2[] = {"m0", "m1", "m4", "n0"}, *const in_b2[] = {"m1", "n2"};
	assert_inbox_holds(f->s, "a@example.org", in_a2, 4);
	assert_inbox_holds(f->s, "b@example.org", in_b2, 2);
	assert_int_equal(stats(f->s).contents, 5);
	/* Alone in its transaction, it is answered as store_deliver would. */
	dp[0] = &e[1];
	res[0][0] = -50;
	store_deliver_many(f->s, dp, rp, rc, 1);
	assert_int_equal(rc[0], STORE_ERR_CORRUPT);
	assert_int_equal(res[0][0], STORE_ERR_CORRUPT);
	assert_int_equal(stats(f->s).contents, 5);
}

/* A delivery that reaches nobody goes to its fallback, in the same
 * transaction (a notice whose sender's mailbox is gone: postmaster);
 * one that reaches somebody does not, nor does a missing fallback. */
static void test_deliver_fallback(void **state)
{
	struct fx *f = *state;
	add_user(f->s, "pm@example.org", NULL);
	add_user(f->s, "here@example.org", NULL);
	const char *ghost[] = {"ghost@example.org"};
	int res[1];
	struct store_delivery d = {.recipients = ghost, .nrecipients = 1, .data = "n1", .len = 2,
				   .fallback = "PM@example.org"};
	assert_int_equal(store_deliver(f->s, &d, res, NULL), STORE_OK);
	assert_int_equal(res[0], STORE_ERR_NOTFOUND);
	assert_int_equal(inbox(f->s, "pm@example.org").messages, 1);
	const char *here[] = {"here@example.org"};
	d.recipients = here;
	assert_int_equal(store_deliver(f->s, &d, res, NULL), STORE_OK);
	assert_int_equal(res[0], STORE_OK);
	assert_int_equal(inbox(f->s, "pm@example.org").messages, 1);
	assert_int_equal(inbox(f->s, "here@example.org").messages, 1);
	d.recipients = ghost;
	d.fallback = "nobody@example.org";
	assert_int_equal(store_deliver(f->s, &d, res, NULL), STORE_ERR_NOTFOUND);
	assert_int_equal(stats(f->s).contents, 2);
}

static void test_deliver_autocreate(void **state)
{
	struct fx *f = *state;
	const char *r[] = {"New.User@Sandbox.test", "new.user@sandbox.test", "other@sandbox.test"};
	int res[3];
	struct store_delivery d = {.recipients = r, .nrecipients = 3, .data = "abc", .len = 3,
				   .autocreate = true};
	assert_int_equal(store_deliver(f->s, &d, res, NULL), STORE_OK);
	assert_int_equal(res[0], STORE_OK);
	assert_int_equal(res[1], STORE_OK);
	assert_int_equal(res[2], STORE_OK);
	struct store_user u;
	assert_int_equal(store_user_get(f->s, "new.user@sandbox.test", &u), STORE_OK);
	assert_string_equal(u.pwhash, "");
	assert_int_equal(inbox(f->s, "new.user@sandbox.test").messages, 1);
	assert_int_equal(inbox(f->s, "other@sandbox.test").messages, 1);
	struct mboxes *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	assert_int_equal(store_mailbox_list(f->s, u.id, collect_mbox, c), STORE_OK);
	assert_int_equal(c->n, 6);
	free(c);
	assert_int_equal(store_domain_has_users(f->s, "sandbox.test"), 1);
	struct store_stats st = stats(f->s);
	assert_int_equal(st.users, 2);
	assert_int_equal(st.contents, 1);
	assert_int_equal(st.messages, 2);
}

/* One recipient made a user when it has none (smtp.postmaster's first
 * mail), the others not. */
static void test_deliver_create_one(void **state)
{
	struct fx *f = *state;
	const char *r[] = {"nobody@example.org", "PostMaster@Example.org"};
	int res[2];
	struct store_delivery d = {.recipients = r, .nrecipients = 2, .data = "abc", .len = 3,
				   .create = "postmaster@EXAMPLE.org"};
	assert_int_equal(store_deliver(f->s, &d, res, NULL), STORE_OK);
	assert_int_equal(res[0], STORE_ERR_NOTFOUND);
	assert_int_equal(res[1], STORE_OK);
	struct store_user u;
	assert_int_equal(store_user_get(f->s, "postmaster@example.org", &u), STORE_OK);
	assert_string_equal(u.pwhash, "");
	assert_int_equal(inbox(f->s, "postmaster@example.org").messages, 1);
	assert_int_equal(store_user_get(f->s, "nobody@example.org", &u), STORE_ERR_NOTFOUND);
	/* Made once: the next delivery finds it. */
	assert_int_equal(store_deliver(f->s, &d, res, NULL), STORE_OK);
	assert_int_equal(inbox(f->s, "postmaster@example.org").messages, 2);
	assert_int_equal(stats(f->s).users, 1);
}

static void test_content_read_ranges(void **state)
{
	struct fx *f = *state;
	add_user(f->s, "big@example.org", NULL);
	const size_t C = STORE_CHUNK_BIG;
	const size_t len = 3 * C + 123;
	uint8_t *data = malloc(len), *back = malloc(len + 10);
	assert_non_null(data);
	assert_non_null(back);
	pattern(data, len, 99);
	uint64_t cid;
	const char *r[] = {"big@example.org"};
	int res[1];
	struct store_delivery d = {.recipients = r, .nrecipients = 1, .data = data, .len = len};
	assert_int_equal(store_deliver(f->s, &d, res, &cid), STORE_OK);

	static const struct {
		size_t off_chunks;
		long off_delta;
		size_t n;
	} cases[] = {
		{0, 0, 1},   {0, 0, 65536 * 4}, {1, -1, 1},  {1, -1, 2},  {1, 0, 1},
		{1, -10, 20}, {2, -1, 1},       {2, 0, 0},   {3, 0, 123}, {3, 122, 1},
		{1, 5, 100000}, {0, 7, 3 * 65536},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t off = cases[i].off_chunks * C + (size_t)cases[i].off_delta;
		size_t want = cases[i].n;
		if (want > len - off)
			want = len - off;
		size_t got = 12345;
		memset(back, 0, len);
		assert_int_equal(store_content_read(f->s, cid, off, back, cases[i].n, &got), STORE_OK);
		assert_int_equal(got, want);
		assert_memory_equal(back, data + off, want);
	}
	/* At and past the end: nothing. */
	size_t got = 9;
	assert_int_equal(store_content_read(f->s, cid, len, back, 10, &got), STORE_OK);
	assert_int_equal(got, 0);
	assert_int_equal(store_content_read(f->s, cid, len + 1000, back, 10, &got), STORE_OK);
	assert_int_equal(got, 0);
	/* Sequential streaming in odd-sized pieces. */
	size_t pos = 0;
	for (;;) {
		assert_int_equal(store_content_read(f->s, cid, pos, back + pos, 7777, &got), STORE_OK);
		if (got == 0)
			break;
		pos += got;
	}
	assert_int_equal(pos, len);
	assert_memory_equal(back, data, len);
	assert_int_equal(store_content_read(f->s, cid + 100, 0, back, 10, &got), STORE_ERR_NOTFOUND);

	/* Exactly one chunk, and an empty message. */
	assert_int_equal(deliver1(f->s, "big@example.org", data, C, 0), STORE_OK);
	struct store_msg msg;
	struct store_mailbox m = inbox(f->s, "big@example.org");
	assert_int_equal(store_msg_get(f->s, m.id, 2, &msg), STORE_OK);
	assert_int_equal(store_content_read(f->s, msg.content_id, 0, back, len, &got), STORE_OK);
	assert_int_equal(got, C);
	assert_memory_equal(back, data, C);
	assert_int_equal(deliver1(f->s, "big@example.org", NULL, 0, 0), STORE_OK);
	assert_int_equal(store_msg_get(f->s, m.id, 3, &msg), STORE_OK);
	assert_int_equal(msg.size, 0);
	assert_int_equal(store_content_read(f->s, msg.content_id, 0, back, 10, &got), STORE_OK);
	assert_int_equal(got, 0);
	free(data);
	free(back);
}

static void test_five_mib_round_trip(void **state)
{
	struct fx *f = *state;
	add_user(f->s, "huge@example.org", NULL);
	add_user(f->s, "huge2@example.org", NULL);
	const size_t len = 5u << 20;
	uint8_t *data = malloc(len), *back = malloc(len);
	assert_non_null(data);
	assert_non_null(back);
	pattern(data, len, 12345);
	const char *r[] = {"huge@example.org", "huge2@example.org"};
	int res[2];
	uint64_t cid;
	struct store_delivery d = {.recipients = r, .nrecipients = 2, .data = data, .len = len};
	assert_int_equal(store_deliver(f->s, &d, res, &cid), STORE_OK);
	reopen(f);
	size_t got;
	memset(back, 0, len);
	assert_int_equal(store_content_read(f->s, cid, 0, back, len, &got), STORE_OK);
	assert_int_equal(got, len);
	assert_memory_equal(back, data, len);
	struct store_mailbox m = inbox(f->s, "huge2@example.org");
	assert_int_equal(m.size, len);
	free(data);
	free(back);
}

static void test_expunge_releases_content(void **state)
{
	struct fx *f = *state;
	add_user(f->s, "x1@example.org", NULL);
	add_user(f->s, "x2@example.org", NULL);
	uint8_t data[200000];
	pattern(data, sizeof(data), 3);
	const char *r[] = {"x1@example.org", "x2@example.org"};
	int res[2];
	uint64_t cid;
	struct store_delivery d = {.recipients = r, .nrecipients = 2, .data = data,
				   .len = sizeof(data)};
	assert_int_equal(store_deliver(f->s, &d, res, &cid), STORE_OK);
	assert_int_equal(deliver1(f->s, "x1@example.org", "small", 5, STORE_F_SEEN), STORE_OK);
	assert_int_equal(stats(f->s).contents, 2);

	struct store_mailbox m1 = inbox(f->s, "x1@example.org"), m2 = inbox(f->s, "x2@example.org");
	assert_int_equal(m1.messages, 2);
	assert_int_equal(m1.unseen, 1);
	uint32_t uids[] = {1, 1, 99};
	size_t removed = 7;
	assert_int_equal(store_expunge(f->s, m1.id, uids, 3, &removed), STORE_OK);
	assert_int_equal(removed, 1);
	struct store_mailbox m;
	assert_int_equal(store_mailbox_get_by_id(f->s, m1.id, &m), STORE_OK);
	assert_int_equal(m.messages, 1);
	assert_int_equal(m.unseen, 0);
	assert_int_equal(m.recent, 1);
	assert_int_equal(m.size, 5);
	assert_int_equal(m.uidnext, 3);
	assert_true(m.highestmodseq > m1.highestmodseq);
	assert_int_equal(store_msg_get(f->s, m1.id, 1, NULL), STORE_ERR_NOTFOUND);
	/* The other copy still reads. */
	struct store_stats st = stats(f->s);
	assert_int_equal(st.contents, 2);
	assert_int_equal(st.messages, 2);
	uint8_t back[16];
	size_t got;
	assert_int_equal(store_content_read(f->s, cid, 100000, back, 16, &got), STORE_OK);
	assert_int_equal(got, 16);
	assert_memory_equal(back, data + 100000, 16);

	assert_int_equal(store_expunge(f->s, m2.id, uids, 1, &removed), STORE_OK);
	assert_int_equal(removed, 1);
	assert_int_equal(stats(f->s).contents, 1);
	assert_int_equal(store_content_read(f->s, cid, 0, back, 16, &got), STORE_ERR_NOTFOUND);
	uint32_t two = 2;
	assert_int_equal(store_expunge(f->s, m1.id, &two, 1, NULL), STORE_OK);
	st = stats(f->s);
	assert_int_equal(st.contents, 0);
	assert_int_equal(st.messages, 0);
	assert_int_equal(store_mailbox_get_by_id(f->s, m1.id, &m), STORE_OK);
	assert_int_equal(m.messages, 0);
	assert_int_equal(m.unseen, 0);
	assert_int_equal(m.recent, 0);
	assert_int_equal(m.size, 0);
	assert_int_equal(store_expunge(f->s, 4242, uids, 1, &removed), STORE_ERR_NOTFOUND);
	assert_int_equal(store_expunge(f->s, m1.id, NULL, 0, &removed), STORE_OK);
	assert_int_equal(removed, 0);
}

static void test_flags_and_counters(void **state)
{
	struct fx *f = *state;
	add_user(f->s, "fl@example.org", NULL);
	for (int i = 0; i < 3; i++)
		assert_int_equal(deliver1(f->s, "fl@example.org", "m", 1, 0), STORE_OK);
	struct store_mailbox m = inbox(f->s, "fl@example.org"), m2;
	assert_int_equal(m.unseen, 3);
	assert_int_equal(m.recent, 3);
	struct store_msg msg, before;
	assert_int_equal(store_msg_get(f->s, m.id, 2, &before), STORE_OK);

	assert_int_equal(store_msg_flags(f->s, m.id, 2, STORE_FLAGS_ADD, STORE_F_SEEN, &msg),
			 STORE_OK);
	assert_int_equal(msg.flags, STORE_F_SEEN | STORE_F_RECENT);
	assert_true(msg.modseq > before.modseq);
	assert_int_equal(store_mailbox_get_by_id(f->s, m.id, &m2), STORE_OK);
	assert_int_equal(m2.unseen, 2);
	assert_int_equal(m2.highestmodseq, msg.modseq);
	assert_int_equal(store_msg_get(f->s, m.id, 2, &before), STORE_OK);
	assert_int_equal(before.flags, msg.flags);
	assert_int_equal(before.modseq, msg.modseq);

	/* No change: same MODSEQ (RFC 7162 3.1.11). */
	assert_int_equal(store_msg_flags(f->s, m.id, 2, STORE_FLAGS_ADD, STORE_F_SEEN, &msg),
			 STORE_OK);
	assert_int_equal(msg.modseq, before.modseq);
	assert_int_equal(store_mailbox_get_by_id(f->s, m.id, &m2), STORE_OK);
	assert_int_equal(m2.unseen, 2);
	assert_int_equal(m2.highestmodseq, before.modseq);

	/* Claiming \Recent updates the counter only. */
	assert_int_equal(store_msg_flags(f->s, m.id, 2, STORE_FLAGS_REMOVE, STORE_F_RECENT, &msg),
			 STORE_OK);
	assert_int_equal(msg.flags, STORE_F_SEEN);
	assert_int_equal(msg.modseq, before.modseq);
	assert_int_equal(store_mailbox_get_by_id(f->s, m.id, &m2), STORE_OK);
	assert_int_equal(m2.recent, 2);

	/* SET replaces: \Seen goes, \Flagged \Deleted come. */
	assert_int_equal(store_msg_flags(f->s, m.id, 2, STORE_FLAGS_SET,
					 STORE_F_FLAGGED | STORE_F_DELETED, &msg), STORE_OK);
	assert_int_equal(msg.flags, STORE_F_FLAGGED | STORE_F_DELETED);
	assert_true(msg.modseq > before.modseq);
	assert_int_equal(store_mailbox_get_by_id(f->s, m.id, &m2), STORE_OK);
	assert_int_equal(m2.unseen, 3);
	assert_int_equal(m2.recent, 2);

	assert_int_equal(store_msg_flags(f->s, m.id, 1, STORE_FLAGS_SET,
					 STORE_F_SEEN | STORE_F_ANSWERED | STORE_F_DRAFT, &msg),
			 STORE_OK);
	assert_int_equal(store_mailbox_get_by_id(f->s, m.id, &m2), STORE_OK);
	assert_int_equal(m2.unseen, 2);
	assert_int_equal(m2.recent, 1);

	assert_int_equal(store_msg_flags(f->s, m.id, 99, STORE_FLAGS_ADD, STORE_F_SEEN, &msg),
			 STORE_ERR_NOTFOUND);
	assert_int_equal(store_msg_flags(f->s, 4242, 1, STORE_FLAGS_ADD, STORE_F_SEEN, &msg),
			 STORE_ERR_NOTFOUND);

	/* Expunging the \Seen one leaves unseen alone; the others count. */
	uint32_t one = 1;
	assert_int_equal(store_expunge(f->s, m.id, &one, 1, NULL), STORE_OK);
	assert_int_equal(store_mailbox_get_by_id(f->s, m.id, &m2), STORE_OK);
	assert_int_equal(m2.messages, 2);
	assert_int_equal(m2.unseen, 2);
	assert_int_equal(m2.recent, 1);
	uint32_t rest[] = {2, 3};
	assert_int_equal(store_expunge(f->s, m.id, rest, 2, NULL), STORE_OK);
	assert_int_equal(store_mailbox_get_by_id(f->s, m.id, &m2), STORE_OK);
	assert_int_equal(m2.messages, 0);
	assert_int_equal(m2.unseen, 0);
	assert_int_equal(m2.recent, 0);
}

/* The change feed has one record per message's latest change, plus one per
 * expunge, keyed by MODSEQ. */
static int count_changes(struct store *s, DB_TXN *txn, void *arg)
{
	uint32_t *n = arg;   /* in: mailbox id; out: count of kinds 1..3 at [1..3] */
	uint32_t mbox = n[0];
	n[1] = n[2] = n[3] = 0;
	DBC *c;
	int rc = store_cursor_open(s, txn, SDB_CHANGES, &c);
	if (rc != STORE_OK)
		return rc;
	uint8_t key[16], val[16];
	size_t klen = 4, vlen;
	store_be32_put(key, mbox);
	uint32_t flags = DB_SET_RANGE;
	while ((rc = store_cursor_get(s, c, key, sizeof(key), &klen, val, sizeof(val), &vlen,
				      flags)) == STORE_OK) {
		flags = DB_NEXT;
		if (store_be32_get(key) != mbox)
			break;
		uint32_t uid;
		enum store_change_kind kind;
		if ((rc = store_change_decode(val, vlen, &uid, &kind)) != STORE_OK)
			break;
		n[kind]++;
	}
	if (rc == STORE_ERR_NOTFOUND)
		rc = STORE_OK;
	return store_cursor_close(s, c, rc);
}

static void test_change_records(void **state)
{
	struct fx *f = *state;
	add_user(f->s, "ch@example.org", NULL);
	for (int i = 0; i < 3; i++)
		assert_int_equal(deliver1(f->s, "ch@example.org", "m", 1, 0), STORE_OK);
	struct store_mailbox m = inbox(f->s, "ch@example.org");
	uint32_t n[4] = {m.id};
	assert_int_equal(store_txn_run(f->s, count_changes, n), STORE_OK);
	assert_int_equal(n[STORE_CHANGE_NEW], 3);
	assert_int_equal(store_msg_flags(f->s, m.id, 1, STORE_FLAGS_ADD, STORE_F_SEEN, NULL),
			 STORE_OK);
	assert_int_equal(store_msg_flags(f->s, m.id, 1, STORE_FLAGS_ADD, STORE_F_FLAGGED, NULL),
			 STORE_OK);
	uint32_t two = 2;
	assert_int_equal(store_expunge(f->s, m.id, &two, 1, NULL), STORE_OK);
	n[0] = m.id;
	assert_int_equal(store_txn_run(f->s, count_changes, n), STORE_OK);
	assert_int_equal(n[STORE_CHANGE_NEW], 1);
	assert_int_equal(n[STORE_CHANGE_FLAGS], 1);
	assert_int_equal(n[STORE_CHANGE_EXPUNGE], 1);
	struct store_mailbox m2;
	assert_int_equal(store_mailbox_get_by_id(f->s, m.id, &m2), STORE_OK);
	assert_int_equal(m2.highestmodseq, m.highestmodseq + 3);
}

static void test_uids_not_reused(void **state)
{
	struct fx *f = *state;
	add_user(f->s, "uid@example.org", NULL);
	for (int i = 0; i < 3; i++)
		assert_int_equal(deliver1(f->s, "uid@example.org", "m", 1, 0), STORE_OK);
	struct store_mailbox m = inbox(f->s, "uid@example.org");
	uint32_t three = 3;
	assert_int_equal(store_expunge(f->s, m.id, &three, 1, NULL), STORE_OK);
	reopen(f);
	assert_int_equal(deliver1(f->s, "uid@example.org", "n", 1, 0), STORE_OK);
	struct msgs *c = list_msgs(f->s, m.id);
	assert_int_equal(c->n, 3);
	assert_int_equal(c->m[0].uid, 1);
	assert_int_equal(c->m[1].uid, 2);
	assert_int_equal(c->m[2].uid, 4);
	assert_int_equal(store_msg_list(f->s, 4242, collect_msg, c), STORE_ERR_NOTFOUND);
	free(c);
	struct store_mailbox m2 = inbox(f->s, "uid@example.org");
	assert_int_equal(m2.uidnext, 5);
	assert_int_equal(m2.uidvalidity, m.uidvalidity);
}

static void test_msg_list_batches(void **state)
{
	struct fx *f = *state;
	add_user(f->s, "many@example.org", NULL);
	for (int i = 0; i < 1500; i++)
		assert_int_equal(deliver1(f->s, "many@example.org", "m", 1, 0), STORE_OK);
	struct store_mailbox m = inbox(f->s, "many@example.org");
	uint32_t odd[750];
	for (int i = 0; i < 750; i++)
		odd[i] = (uint32_t)(2 * i + 1);
	size_t removed;
	assert_int_equal(store_expunge(f->s, m.id, odd, 750, &removed), STORE_OK);
	assert_int_equal(removed, 750);
	struct msgs *c = list_msgs(f->s, m.id);
	assert_int_equal(c->n, 750);
	for (size_t i = 0; i < 750; i++)
		assert_int_equal(c->m[i].uid, 2 * (i + 1));
	memset(c, 0, sizeof(*c));
	c->stop_after = 5;
	assert_int_equal(store_msg_list(f->s, m.id, collect_msg, c), 42);
	assert_int_equal(c->n, 5);
	free(c);
	assert_int_equal(stats(f->s).contents, 750);
	assert_int_equal(store_user_del(f->s, "many@example.org"), STORE_OK);
	struct store_stats st = stats(f->s);
	assert_int_equal(st.contents, 0);
	assert_int_equal(st.messages, 0);
	assert_int_equal(st.users, 0);
}

static void test_user_del_releases_everything(void **state)
{
	struct fx *f = *state;
	struct store_user a, b;
	add_user(f->s, "del@example.org", &a);
	add_user(f->s, "keep@example.org", &b);
	const char *r[] = {"del@example.org", "keep@example.org"};
	int res[2];
	uint64_t shared;
	struct store_delivery d = {.recipients = r, .nrecipients = 2, .data = "shared", .len = 6};
	assert_int_equal(store_deliver(f->s, &d, res, &shared), STORE_OK);
	d.nrecipients = 1;
	d.mailbox = "Archive";
	assert_int_equal(store_deliver(f->s, &d, res, NULL), STORE_OK);
	struct store_mailbox extra;
	assert_int_equal(store_mailbox_create(f->s, a.id, "Extra", 0, &extra), STORE_OK);
	d.mailbox = "Extra";
	assert_int_equal(store_deliver(f->s, &d, res, NULL), STORE_OK);
	struct store_stats st = stats(f->s);
	assert_int_equal(st.contents, 3);
	assert_int_equal(st.messages, 4);

	assert_int_equal(store_user_del(f->s, "DEL@example.org"), STORE_OK);
	st = stats(f->s);
	assert_int_equal(st.users, 1);
	assert_int_equal(st.contents, 1);
	assert_int_equal(st.messages, 1);
	assert_int_equal(store_mailbox_get_by_id(f->s, extra.id, NULL), STORE_ERR_NOTFOUND);
	struct mboxes *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	assert_int_equal(store_mailbox_list(f->s, a.id, collect_mbox, c), STORE_OK);
	assert_int_equal(c->n, 0);
	free(c);
	uint8_t back[8];
	size_t got;
	assert_int_equal(store_content_read(f->s, shared, 0, back, 8, &got), STORE_OK);
	assert_int_equal(got, 6);
	assert_memory_equal(back, "shared", 6);
	assert_int_equal(store_domain_has_users(f->s, "example.org"), 1);
	/* The address can be used again, as a new user with new mailboxes. */
	struct store_user a2;
	add_user(f->s, "del@example.org", &a2);
	assert_int_not_equal(a2.id, a.id);
	assert_int_equal(inbox(f->s, "del@example.org").messages, 0);
}

static void test_uidvalidity_after_recreate(void **state)
{
	struct fx *f = *state;
	add_user(f->s, "uv@example.org", NULL);
	struct store_mailbox m1 = inbox(f->s, "uv@example.org");
	assert_int_equal(store_user_del(f->s, "uv@example.org"), STORE_OK);
	add_user(f->s, "uv@example.org", NULL);
	struct store_mailbox m2 = inbox(f->s, "uv@example.org");
	assert_int_not_equal(m2.id, m1.id);
	assert_true(m2.uidvalidity > m1.uidvalidity);
	/* Also across a reopen. */
	reopen(f);
	assert_int_equal(store_user_del(f->s, "uv@example.org"), STORE_OK);
	add_user(f->s, "uv@example.org", NULL);
	struct store_mailbox m3 = inbox(f->s, "uv@example.org");
	assert_true(m3.uidvalidity > m2.uidvalidity);
	/* RFC 3501 2.3.1.1: time-based, so not tiny. */
	assert_true(m1.uidvalidity >= (uint32_t)(time(NULL) - 60));
}

static void test_sync_and_stats(void **state)
{
	struct fx *f = *state;
	add_user(f->s, "sync@example.org", NULL);
	assert_int_equal(store_sync(f->s), STORE_OK);
	struct store_stats a = stats(f->s);
	assert_int_equal(deliver1(f->s, "sync@example.org", "hello", 5, 0), STORE_OK);
	assert_int_equal(store_sync(f->s), STORE_OK);
	struct store_stats b = stats(f->s);
	assert_true(b.log_flushes > a.log_flushes);
	assert_true(b.log_writes > a.log_writes);
	assert_true(b.log_bytes > a.log_bytes);
	assert_int_equal(b.messages, 1);
	assert_int_equal(store_checkpoint(f->s), STORE_OK);
	assert_int_equal(store_checkpoint(f->s), STORE_OK);
}

struct syncer {
	struct store *s;
	volatile int stop;
	int errors;
	int rounds;
};

static void *sync_thread(void *arg)
{
	struct syncer *y = arg;
	while (!y->stop) {
		if (store_sync(y->s) != STORE_OK)
			y->errors++;
		y->rounds++;
		if (y->rounds % 50 == 0 && store_checkpoint(y->s) != STORE_OK)
			y->errors++;
	}
	return NULL;
}

static void test_sync_from_another_thread(void **state)
{
	struct fx *f = *state;
	add_user(f->s, "t1@example.org", NULL);
	add_user(f->s, "t2@example.org", NULL);
	struct syncer y = {.s = f->s};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, sync_thread, &y), 0);
	const char *r[] = {"t1@example.org", "t2@example.org"};
	int res[2];
	char body[300];
	for (int i = 0; i < 200; i++) {
		snprintf(body, sizeof(body), "Subject: %d\r\n\r\n%0200d\r\n", i, i);
		struct store_delivery d = {.recipients = r, .nrecipients = 2, .data = body,
					   .len = strlen(body)};
		assert_int_equal(store_deliver(f->s, &d, res, NULL), STORE_OK);
		if (i % 10 == 0) {
			struct store_mailbox m = inbox(f->s, "t1@example.org");
			assert_int_equal(store_msg_flags(f->s, m.id, (uint32_t)i + 1, STORE_FLAGS_ADD,
							 STORE_F_SEEN, NULL), STORE_OK);
		}
	}
	y.stop = 1;
	pthread_join(th, NULL);
	assert_int_equal(y.errors, 0);
	assert_true(y.rounds > 0);
	struct store_mailbox m = inbox(f->s, "t1@example.org");
	assert_int_equal(m.messages, 200);
	assert_int_equal(m.unseen, 180);
	struct store_stats st = stats(f->s);
	assert_int_equal(st.contents, 200);
	assert_int_equal(st.messages, 400);
}

/* ---- several processes ---- */

/* Opens the store, meets the other process at a barrier (so the two really
 * run at the same time), then delivers n messages to the shared user. */
static int child_deliver(const char *dir, int n, int tag, int signal_fd, int wait_fd)
{
	struct store *s;
	if (store_open(dir, NULL, &s) != STORE_OK)
		return 10;
	char c = 'r';
	if (write(signal_fd, &c, 1) != 1 || read(wait_fd, &c, 1) != 1) {
		store_close(&s);
		return 13;
	}
	char body[128];
	for (int i = 0; i < n; i++) {
		snprintf(body, sizeof(body), "Subject: %d-%d\r\n\r\nx\r\n", tag, i);
		if (deliver1(s, "shared@example.org", body, strlen(body),
			     i % 2 ? STORE_F_SEEN : 0) != STORE_OK) {
			store_close(&s);
			return 11;
		}
	}
	int rc = store_sync(s) == STORE_OK ? 0 : 12;
	store_close(&s);
	return rc;
}

static void test_two_processes(void **state)
{
	struct fx *f = *state;
	add_user(f->s, "shared@example.org", NULL);
	store_close(&f->s);
	int to_parent[2], to_child[2];
	assert_int_equal(pipe(to_parent), 0);
	assert_int_equal(pipe(to_child), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_deliver(f->dir, 200, 1, to_parent[1], to_child[0]));
	/* The parent's "other side" of the barrier: it signals the child and
	 * waits for the child's byte. */
	int prc = child_deliver(f->dir, 200, 2, to_child[1], to_parent[0]);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	close(to_parent[0]);
	close(to_parent[1]);
	close(to_child[0]);
	close(to_child[1]);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(prc, 0);

	assert_int_equal(store_open(f->dir, NULL, &f->s), STORE_OK);
	struct store_mailbox m = inbox(f->s, "shared@example.org");
	assert_int_equal(m.messages, 400);
	assert_int_equal(m.unseen, 200);
	assert_int_equal(m.recent, 400);
	assert_int_equal(m.uidnext, 401);
	struct msgs *c = list_msgs(f->s, m.id);
	assert_int_equal(c->n, 400);
	uint64_t size = 0;
	int from[3] = {0}, switches = 0;
	char prev = 0;
	for (size_t i = 0; i < 400; i++) {
		assert_int_equal(c->m[i].uid, i + 1);   /* distinct, dense, ordered */
		size += c->m[i].size;
		if (i > 0)
			assert_true(c->m[i].modseq > c->m[i - 1].modseq);
		char body[128];
		size_t got;
		assert_int_equal(store_content_read(f->s, c->m[i].content_id, 0, body, sizeof(body),
						    &got), STORE_OK);
		assert_true(got > 12);
		assert_true(body[9] == '1' || body[9] == '2');   /* "Subject: <tag>-..." */
		from[body[9] - '0']++;
		if (i > 0 && body[9] != prev)
			switches++;
		prev = body[9];
	}
	assert_int_equal(from[1], 200);
	assert_int_equal(from[2], 200);
	if (getenv("STORAGE_VERBOSE"))
		print_message("two processes: %d switches between writers\n", switches);
	assert_int_equal(m.size, size);
	free(c);
	struct store_stats sst = stats(f->s);
	assert_int_equal(sst.messages, 400);
	assert_int_equal(sst.contents, 400);
}

static void test_crash_recovery(void **state)
{
	struct fx *f = *state;
	store_close(&f->s);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct store *s;
		if (store_open(f->dir, NULL, &s) != STORE_OK)
			_exit(10);
		struct store_user u;
		if (store_user_add(s, "crash@example.org", "", &u) != STORE_OK)
			_exit(11);
		for (int i = 0; i < 10; i++)
			if (deliver1(s, "crash@example.org", "m\r\n", 3, 0) != STORE_OK)
				_exit(12);
		if (store_sync(s) != STORE_OK)
			_exit(13);
		_exit(0);   /* no store_close: the process dies with the environment open */
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(store_open(f->dir, NULL, &f->s), STORE_OK);
	struct store_mailbox m = inbox(f->s, "crash@example.org");
	assert_int_equal(m.messages, 10);
	assert_int_equal(m.uidnext, 11);
	struct store_stats sst = stats(f->s);
	assert_int_equal(sst.messages, 10);
	assert_int_equal(sst.users, 1);
	assert_int_equal(deliver1(f->s, "crash@example.org", "after", 5, 0), STORE_OK);
	assert_int_equal(inbox(f->s, "crash@example.org").uidnext, 12);
}

/* As above, but the machine "crashes" too: the shared regions, which still
 * hold pages never written to the database files, are lost, so only what
 * store_sync put in the log survives, through recovery. */
static void test_recovery_from_log_alone(void **state)
{
	struct fx *f = *state;
	store_close(&f->s);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct store *s;
		if (store_open(f->dir, NULL, &s) != STORE_OK)
			_exit(10);
		if (store_user_add(s, "lost@example.org", "", NULL) != STORE_OK)
			_exit(11);
		uint8_t big[200000];
		pattern(big, sizeof(big), 5);
		for (int i = 0; i < 20; i++)
			if (deliver1(s, "lost@example.org", big, sizeof(big), 0) != STORE_OK)
				_exit(12);
		if (store_sync(s) != STORE_OK)
			_exit(13);
		_exit(0);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	for (int i = 0; i < 10; i++) {
		char path[128];
		snprintf(path, sizeof(path), "%s/__db.%03d", f->dir, i);
		unlink(path);
	}
	/* The content never reached its database file: it is in the log. */
	char reg[128];
	struct stat sb;
	snprintf(reg, sizeof(reg), "%s/content_data.db", f->dir);
	assert_int_equal(stat(reg, &sb), 0);
	assert_true(sb.st_size < 1000000);
	snprintf(reg, sizeof(reg), "%s/__db.register", f->dir);
	unlink(reg);
	assert_int_equal(store_open(f->dir, NULL, &f->s), STORE_OK);
	struct store_mailbox m = inbox(f->s, "lost@example.org");
	assert_int_equal(m.messages, 20);
	struct store_msg msg;
	assert_int_equal(store_msg_get(f->s, m.id, 20, &msg), STORE_OK);
	uint8_t want[200000], back[200000];
	pattern(want, sizeof(want), 5);
	size_t got;
	assert_int_equal(store_content_read(f->s, msg.content_id, 0, back, sizeof(back), &got),
			 STORE_OK);
	assert_int_equal(got, sizeof(back));
	assert_memory_equal(back, want, sizeof(back));
	assert_int_equal(stats(f->s).contents, 20);
}

/* Child: lock the user's INBOX record inside a transaction, tell the
 * parent, and die without resolving it. */
struct hold_arg {
	uint32_t mailbox_id;
	int fd;
};

static int hold_and_die(struct store *s, DB_TXN *txn, void *arg)
{
	struct hold_arg *h = arg;
	struct store_mailbox m;
	if (store_mbox_read(s, txn, h->mailbox_id, &m, DB_RMW) != STORE_OK)
		_exit(20);
	m.messages += 1000;   /* a write the parent must never see */
	if (store_mbox_write(s, txn, &m) != STORE_OK)
		_exit(21);
	char ok = 'k';
	if (write(h->fd, &ok, 1) != 1)
		_exit(22);
	_exit(0);
}

static void test_dead_process_does_not_wedge(void **state)
{
	struct fx *f = *state;
	add_user(f->s, "wedge@example.org", NULL);
	struct store_mailbox m = inbox(f->s, "wedge@example.org");
	store_close(&f->s);
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		struct store *s;
		if (store_open(f->dir, NULL, &s) != STORE_OK)
			_exit(10);
		struct hold_arg h = {m.id, p[1]};
		(void)store_txn_run(s, hold_and_die, &h);
		_exit(23);
	}
	close(p[1]);
	/* The "daemon" joins while the child is alive, then the child dies
	 * holding a write lock on the INBOX record. */
	char c;
	assert_int_equal(read(p[0], &c, 1), 1);
	assert_int_equal(store_open(f->dir, NULL, &f->s), STORE_OK);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	close(p[0]);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(deliver1(f->s, "wedge@example.org", "m", 1, 0), STORE_OK);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 10);
	struct store_mailbox m2 = inbox(f->s, "wedge@example.org");
	assert_int_equal(m2.messages, 1);   /* the dead transaction was aborted */

	/* A later process (an admin command) joins without recovering the
	 * environment under us, and we keep working. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct store *s;
		if (store_open(f->dir, NULL, &s) != STORE_OK)
			_exit(10);
		int rc = store_user_add(s, "admin@example.org", "", NULL);
		store_close(&s);
		_exit(rc == STORE_OK ? 0 : 11);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(deliver1(f->s, "wedge@example.org", "m", 1, 0), STORE_OK);
	assert_int_equal(store_user_get(f->s, "admin@example.org", NULL), STORE_OK);
	assert_int_equal(inbox(f->s, "wedge@example.org").messages, 2);
}

static int child_isalive(DB_ENV *env, pid_t pid, db_threadid_t tid, u_int32_t flags)
{
	(void)env;
	(void)tid;
	(void)flags;
	return kill(pid, 0) == 0;
}

/* Another process forces recovery (as db_recover would), which invalidates
 * our handles: the store reopens the environment and carries on.
 *
 * Berkeley DB refuses to free the handles of a panicked environment, so the
 * reopen leaks them by design (rare, and bounded by the number of
 * recoveries).  The "daemon" therefore runs in a child that leaves with
 * _exit, keeping the leak checker's report about everything else. */
static int daemon_side(const char *dir)
{
	struct store *s;
	if (store_open(dir, NULL, &s) != STORE_OK)
		return 30;
	if (deliver1(s, "rec@example.org", "m", 1, 0) != STORE_OK || store_sync(s) != STORE_OK)
		return 31;
	pid_t pid = fork();
	if (pid < 0)
		return 32;
	if (pid == 0) {
		DB_ENV *env;
		if (db_env_create(&env, 0) != 0)
			_exit(10);
		/* Configured as the store does, so the environment it leaves
		 * behind is one the store can join. */
		env->set_thread_count(env, 128);
		env->set_isalive(env, child_isalive);
		int rc = env->open(env, dir, DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK |
				   DB_INIT_LOG | DB_INIT_MPOOL | DB_RECOVER, 0600);
		env->close(env, 0);
		_exit(rc == 0 ? 0 : 11);
	}
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return 33;
	uint64_t gen = store_generation(s);
	/* Our handles are dead now; this reopens and succeeds. */
	if (deliver1(s, "rec@example.org", "n", 1, 0) != STORE_OK)
		return 34;
	/* What was read before the reopen must be read again. */
	if (store_generation(s) != gen + 1)
		return 39;
	struct store_user u;
	struct store_mailbox m;
	if (store_user_get(s, "rec@example.org", &u) != STORE_OK ||
	    store_mailbox_get(s, u.id, "INBOX", &m) != STORE_OK)
		return 35;
	if (m.messages != 2)
		return 36;
	/* The first sync after the reopen cannot vouch for commits made
	 * before it; the next one covers everything since. */
	if (store_sync(s) != STORE_ERR_TEMP)
		return 37;
	if (store_sync(s) != STORE_OK)
		return 38;
	store_close(&s);
	return 0;
}

static void test_reopen_after_foreign_recovery(void **state)
{
	struct fx *f = *state;
	add_user(f->s, "rec@example.org", NULL);
	store_close(&f->s);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(daemon_side(f->dir));
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(store_open(f->dir, NULL, &f->s), STORE_OK);
	assert_int_equal(inbox(f->s, "rec@example.org").messages, 2);
}

/* ---- codec ---- */

/* The store's messages reach the hook the daemon installs (so that
 * log.target = syslog keeps them), not stderr. */
static char hooked[1024];
static enum store_log_level hooked_level;
static void log_hook(enum store_log_level level, const char *msg)
{
	hooked_level = level;
	snprintf(hooked, sizeof(hooked), "%s", msg);
}

static void test_log_hook(void **state)
{
	(void)state;
	store_log_set(log_hook);
	struct store *s = NULL;
	/* a directory that cannot be created */
	assert_int_not_equal(store_open("/proc/postino-no/such", NULL, &s), STORE_OK);
	assert_null(s);
	store_log_set(NULL);
	assert_non_null(strstr(hooked, "/proc/postino-no"));
	assert_int_equal(hooked_level, STORE_LOG_ERROR);
}

static void test_codec_rejects_bad_records(void **state)
{
	(void)state;
	uint8_t buf[STORE_MBOX_REC_MAX];
	struct store_msg msg = {.uid = 5, .content_id = 9, .size = 10, .flags = STORE_F_SEEN,
				.internaldate = -5, .modseq = 77};
	size_t n = store_msg_encode(&msg, buf, sizeof(buf));
	assert_true(n > 0);
	struct store_msg back;
	assert_int_equal(store_msg_decode(5, buf, n, &back), STORE_OK);
	assert_int_equal(back.content_id, 9);
	assert_int_equal(back.internaldate, -5);
	assert_int_equal(back.modseq, 77);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(store_msg_decode(5, buf, i, &back), STORE_ERR_CORRUPT);
	assert_int_equal(store_msg_decode(5, buf, n + 1, &back), STORE_ERR_CORRUPT);
	buf[0] = 4;   /* versions 1 to 3 are known */
	assert_int_equal(store_msg_decode(5, buf, n, &back), STORE_ERR_CORRUPT);

	struct store_mailbox m = {.id = 3, .user_id = 4, .uidvalidity = 5, .uidnext = 6,
				  .highestmodseq = 7, .messages = 8, .unseen = 9, .recent = 10,
				  .size = 11, .special_use = STORE_SU_TRASH, .subscribed = true};
	strcpy(m.name, "Trash");
	n = store_mbox_encode(&m, buf, sizeof(buf));
	assert_true(n > 0);
	struct store_mailbox mb;
	assert_int_equal(store_mbox_decode(3, buf, n, &mb), STORE_OK);
	assert_string_equal(mb.name, "Trash");
	assert_int_equal(mb.size, 11);
	assert_true(mb.subscribed);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(store_mbox_decode(3, buf, i, &mb), STORE_ERR_CORRUPT);
	/* a name length running past the end */
	buf[n - 6] = 0xff;
	assert_int_equal(store_mbox_decode(3, buf, n, &mb), STORE_ERR_CORRUPT);
	assert_int_equal(store_mbox_encode(&m, buf, 10), 0);   /* too small: refused */

	struct store_user u = {.id = 1, .created = 2};
	strcpy(u.address, "a@b");
	strcpy(u.pwhash, "h");
	n = store_user_encode(&u, buf, sizeof(buf));
	struct store_user ub;
	assert_int_equal(store_user_decode(buf, n, &ub), STORE_OK);
	assert_string_equal(ub.address, "a@b");
	for (size_t i = 0; i < n; i++)
		assert_int_equal(store_user_decode(buf, i, &ub), STORE_ERR_CORRUPT);

	struct store_content_meta cm = {.refcount = 2, .size = STORE_CHUNK_BIG + 1, .chunks = 2,
					.big = STORE_CHUNK_BIG, .small = STORE_CHUNK_SMALL};
	n = store_content_meta_encode(&cm, buf, sizeof(buf));
	struct store_content_meta cb;
	assert_int_equal(store_content_meta_decode(buf, n, &cb), STORE_OK);
	cm.chunks = 3;   /* inconsistent with the size */
	n = store_content_meta_encode(&cm, buf, sizeof(buf));
	assert_int_equal(store_content_meta_decode(buf, n, &cb), STORE_ERR_CORRUPT);

	uint64_t v;
	n = store_counter_encode(UINT64_MAX - 1, buf, sizeof(buf));
	assert_int_equal(store_counter_decode(buf, n, &v), STORE_OK);
	assert_true(v == UINT64_MAX - 1);
	assert_int_equal(store_counter_decode(buf, n - 1, &v), STORE_ERR_CORRUPT);
}

/* A record damaged on disk is reported, not read out of bounds. */
static int corrupt_inbox(struct store *s, DB_TXN *txn, void *arg)
{
	uint32_t id = *(uint32_t *)arg;
	uint8_t key[4], junk[3] = {1, 0, 0};
	store_be32_put(key, id);
	return store_db_put(s, txn, SDB_MAILBOX_INFO, key, 4, junk, sizeof(junk), 0);
}

static void test_corrupt_record_reported(void **state)
{
	struct fx *f = *state;
	add_user(f->s, "bad@example.org", NULL);
	struct store_mailbox m = inbox(f->s, "bad@example.org");
	assert_int_equal(store_txn_run(f->s, corrupt_inbox, &m.id), STORE_OK);
	struct store_mailbox m2;
	assert_int_equal(store_mailbox_get_by_id(f->s, m.id, &m2), STORE_ERR_CORRUPT);
	assert_int_equal(deliver1(f->s, "bad@example.org", "x", 1, 0), STORE_ERR_CORRUPT);
	assert_int_equal(stats(f->s).contents, 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_open_close_reopen),
		T(test_open_creates_nested_dir),
		cmocka_unit_test(test_strerror),
		T(test_users),
		T(test_user_list_batches),
		T(test_invalid_arguments),
		T(test_default_mailboxes),
		T(test_domain_has_users),
		T(test_deliver_three_recipients),
		T(test_deliver_unknown_and_duplicates),
		T(test_deliver_many),
		T(test_deliver_autocreate),
		T(test_deliver_create_one),
		T(test_deliver_fallback),
		T(test_content_read_ranges),
		T(test_five_mib_round_trip),
		T(test_expunge_releases_content),
		T(test_flags_and_counters),
		T(test_change_records),
		T(test_uids_not_reused),
		T(test_msg_list_batches),
		T(test_user_del_releases_everything),
		T(test_uidvalidity_after_recreate),
		T(test_sync_and_stats),
		T(test_sync_from_another_thread),
		T(test_two_processes),
		T(test_crash_recovery),
		T(test_recovery_from_log_alone),
		T(test_dead_process_does_not_wedge),
		T(test_reopen_after_foreign_recovery),
		cmocka_unit_test(test_log_hook),
		cmocka_unit_test(test_codec_rejects_bad_records),
		T(test_corrupt_record_reported),
	};
	/* STORAGE_TEST=pattern runs only the matching tests. */
	if (getenv("STORAGE_TEST"))
		cmocka_set_test_filter(getenv("STORAGE_TEST"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
