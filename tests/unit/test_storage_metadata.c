/* tests/unit/test_storage_metadata.c: the annotation records of RFC 5464
 * METADATA (storage_metadata.c): set, replace and remove in one
 * transaction, all or nothing; names case-insensitive; values of any
 * octets, empty ones kept apart from removal; the limits (value size,
 * entries per mailbox and per user); entries gone with their mailbox and
 * their user, kept by RENAME, copied by RENAME INBOX; the change hook; and
 * all of it across a reopen of the store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/storage.h"
#include "tests/unit/store_fixture.h"

struct fx {
	char dir[STORE_FIXTURE_DIR_MAX];
	struct store *s;
	struct store_user u, v;
};

static const struct store_metadata_limits LIM = {
	.max_value = 64,
	.max_entries = 3,
	.max_user_entries = 5,
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	if (store_fixture_open(f->dir, "metadata", &f->s) < 0 ||
	    store_user_add(f->s, "u@example.org", "", &f->u) != STORE_OK ||
	    store_user_add(f->s, "v@example.org", "", &f->v) != STORE_OK)
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

/* What a list returned: "name=value;" for each entry, values printed with
 * NUL as "\0". */
struct got {
	char text[1024];
	size_t n;
};

static int got_cb(void *arg, const char *entry, const void *value, size_t len)
{
	struct got *g = arg;
	size_t at = strlen(g->text);
	at += (size_t)snprintf(g->text + at, sizeof(g->text) - at, "%s=", entry);
	for (size_t i = 0; i < len && at + 3 < sizeof(g->text); i++) {
		char c = ((const char *)value)[i];
		if (c == '\0') {
			memcpy(g->text + at, "\\0", 2);
			at += 2;
		} else {
			g->text[at++] = c;
		}
	}
	snprintf(g->text + at, sizeof(g->text) - at, ";");
	g->n++;
	return 0;
}

static const char *list(struct fx *f, uint32_t user_id, uint32_t mailbox_id, const char *prefix)
{
	static struct got g;
	memset(&g, 0, sizeof(g));
	assert_int_equal(store_metadata_list(f->s, user_id, mailbox_id, prefix, got_cb, &g),
			 STORE_OK);
	return g.text;
}

static int set1(struct fx *f, uint32_t user_id, uint32_t mailbox_id, const char *entry,
		const char *value)
{
	struct store_metadata_change ch = {entry, value, value ? strlen(value) : 0};
	return store_metadata_set(f->s, user_id, mailbox_id, &ch, 1, &LIM);
}

static uint32_t box(struct fx *f, uint32_t user_id, const char *name)
{
	struct store_mailbox m;
	assert_int_equal(store_mailbox_get(f->s, user_id, name, &m), STORE_OK);
	return m.id;
}

static void test_set_replace_remove(void **state)
{
	struct fx *f = *state;
	uint32_t inbox = box(f, f->u.id, "INBOX");
	struct store_metadata_change ch[] = {
		{"/Private/Comment", "mine", 4},
		{"/shared/comment", "a\0b", 3},   /* any octets (literal8) */
		{"/shared/empty", "", 0},         /* an empty value is a value */
	};
	assert_int_equal(store_metadata_set(f->s, f->u.id, inbox, ch, 3, &LIM), STORE_OK);
	assert_string_equal(list(f, f->u.id, inbox, NULL),
			    "/private/comment=mine;/shared/comment=a\\0b;/shared/empty=;");
	/* names are case-insensitive, on the way in and as a prefix */
	assert_int_equal(set1(f, f->u.id, inbox, "/PRIVATE/COMMENT", "again"), STORE_OK);
	assert_string_equal(list(f, f->u.id, inbox, "/Private"), "/private/comment=again;");
	/* NIL removes; removing what is absent is no error */
	assert_int_equal(set1(f, f->u.id, inbox, "/shared/empty", NULL), STORE_OK);
	assert_int_equal(set1(f, f->u.id, inbox, "/shared/never", NULL), STORE_OK);
	assert_string_equal(list(f, f->u.id, inbox, "/shared"), "/shared/comment=a\\0b;");
	/* the server's entries (mailbox 0) and another user's are apart */
	assert_string_equal(list(f, f->u.id, 0, NULL), "");
	assert_string_equal(list(f, f->v.id, inbox, NULL), "");
	assert_int_equal(set1(f, f->u.id, 0, "/shared/comment", "server"), STORE_OK);
	assert_string_equal(list(f, f->u.id, 0, NULL), "/shared/comment=server;");
	assert_string_equal(list(f, f->v.id, 0, NULL), "");
}

static void test_refusals_change_nothing(void **state)
{
	struct fx *f = *state;
	uint32_t inbox = box(f, f->u.id, "INBOX");
	char big[65];
	memset(big, 'x', sizeof(big));
	struct store_metadata_change ch[] = {
		{"/private/a", "1", 1},
		{"/private/b", big, sizeof(big)},   /* one over max_value */
	};
	assert_int_equal(store_metadata_set(f->s, f->u.id, inbox, ch, 2, &LIM), STORE_ERR_INVALID);
	ch[1].len = 64;
	/* a malformed name */
	struct store_metadata_change bad[] = {{"/private/a", "1", 1}, {"private/b", "2", 1}};
	assert_int_equal(store_metadata_set(f->s, f->u.id, inbox, bad, 2, &LIM), STORE_ERR_INVALID);
	/* a mailbox that is not the user's, a user that does not exist */
	assert_int_equal(store_metadata_set(f->s, f->v.id, inbox, ch, 2, &LIM), STORE_ERR_NOTFOUND);
	assert_int_equal(store_metadata_set(f->s, 9999, 0, ch, 2, &LIM), STORE_ERR_NOTFOUND);
	assert_int_equal(store_metadata_set(f->s, f->u.id, 9999, ch, 2, &LIM), STORE_ERR_NOTFOUND);
	assert_string_equal(list(f, f->u.id, inbox, NULL), "");
	assert_string_equal(list(f, f->v.id, 0, NULL), "");
	/* the exact size is taken */
	assert_int_equal(store_metadata_set(f->s, f->u.id, inbox, ch, 2, &LIM), STORE_OK);
	assert_int_equal(strlen(list(f, f->u.id, inbox, "/private/b")), strlen("/private/b=;") + 64);
}

static void test_limits(void **state)
{
	struct fx *f = *state;
	uint32_t inbox = box(f, f->u.id, "INBOX"), sent = box(f, f->u.id, "Sent");
	struct store_metadata_change four[] = {
		{"/private/1", "1", 1}, {"/private/2", "2", 1},
		{"/private/3", "3", 1}, {"/private/4", "4", 1},
	};
	/* 4 new entries in a mailbox of at most 3: none is written */
	assert_int_equal(store_metadata_set(f->s, f->u.id, inbox, four, 4, &LIM), STORE_ERR_NOQUOTA);
	assert_string_equal(list(f, f->u.id, inbox, NULL), "");
	assert_int_equal(store_metadata_set(f->s, f->u.id, inbox, four, 3, &LIM), STORE_OK);
	assert_int_equal(set1(f, f->u.id, inbox, "/private/4", "4"), STORE_ERR_NOQUOTA);
	/* replacing at the limit is no new entry; a removal makes room, in
	 * the same batch too */
	assert_int_equal(set1(f, f->u.id, inbox, "/private/3", "three"), STORE_OK);
	struct store_metadata_change swap[] = {{"/private/1", NULL, 0}, {"/private/4", "4", 1}};
	assert_int_equal(store_metadata_set(f->s, f->u.id, inbox, swap, 2, &LIM), STORE_OK);
	assert_string_equal(list(f, f->u.id, inbox, NULL),
			    "/private/2=2;/private/3=three;/private/4=4;");
	/* the user's limit (5) counts every mailbox and the server */
	assert_int_equal(set1(f, f->u.id, sent, "/private/x", "x"), STORE_OK);
	assert_int_equal(set1(f, f->u.id, 0, "/shared/x", "x"), STORE_OK);
	assert_int_equal(set1(f, f->u.id, 0, "/shared/y", "y"), STORE_ERR_NOQUOTA);
	/* ...and not another user's */
	assert_int_equal(set1(f, f->v.id, 0, "/shared/y", "y"), STORE_OK);
	/* a limit lowered below what is stored: a removal does not make room
	 * for a new entry until the count is under the new limit */
	struct store_metadata_limits low = LIM;
	low.max_entries = 1;
	struct store_metadata_change swap2[] = {{"/private/2", NULL, 0}, {"/private/5", "5", 1}};
	assert_int_equal(store_metadata_set(f->s, f->u.id, inbox, swap2, 2, &low), STORE_ERR_NOQUOTA);
	assert_string_equal(list(f, f->u.id, inbox, NULL),
			    "/private/2=2;/private/3=three;/private/4=4;");
}

static void test_delete_rename_user_del(void **state)
{
	struct fx *f = *state;
	struct store_mailbox m;
	assert_int_equal(store_mailbox_create(f->s, f->u.id, "a", 0, &m), STORE_OK);
	assert_int_equal(store_mailbox_create(f->s, f->u.id, "a/b", 0, &m), STORE_OK);
	assert_int_equal(set1(f, f->u.id, box(f, f->u.id, "a"), "/private/comment", "A"), STORE_OK);
	assert_int_equal(set1(f, f->u.id, box(f, f->u.id, "a/b"), "/shared/comment", "B"), STORE_OK);
	/* RENAME: the entries follow the mailbox and its inferiors */
	assert_int_equal(store_mailbox_rename(f->s, f->u.id, "a", "c", '/'), STORE_OK);
	assert_string_equal(list(f, f->u.id, box(f, f->u.id, "c"), NULL), "/private/comment=A;");
	assert_string_equal(list(f, f->u.id, box(f, f->u.id, "c/b"), NULL), "/shared/comment=B;");
	/* DELETE: gone, and a mailbox made anew under the name starts bare */
	uint32_t old = box(f, f->u.id, "c");
	assert_int_equal(store_mailbox_delete(f->s, f->u.id, "c"), STORE_OK);
	assert_string_equal(list(f, f->u.id, old, NULL), "");
	assert_int_equal(store_mailbox_create(f->s, f->u.id, "c", 0, &m), STORE_OK);
	assert_string_equal(list(f, f->u.id, m.id, NULL), "");
	/* RENAME INBOX: INBOX keeps its entries, the new mailbox gets a copy */
	uint32_t inbox = box(f, f->u.id, "INBOX");
	assert_int_equal(set1(f, f->u.id, inbox, "/private/comment", "in"), STORE_OK);
	assert_int_equal(store_mailbox_rename(f->s, f->u.id, "INBOX", "old-inbox", '/'), STORE_OK);
	assert_string_equal(list(f, f->u.id, inbox, NULL), "/private/comment=in;");
	assert_string_equal(list(f, f->u.id, box(f, f->u.id, "old-inbox"), NULL),
			    "/private/comment=in;");
	/* user del: every entry of the user, none of another's */
	assert_int_equal(set1(f, f->u.id, 0, "/shared/comment", "s"), STORE_OK);
	assert_int_equal(set1(f, f->v.id, 0, "/shared/comment", "t"), STORE_OK);
	uint32_t uid = f->u.id;
	assert_int_equal(store_user_del(f->s, "u@example.org"), STORE_OK);
	assert_string_equal(list(f, uid, 0, NULL), "");
	assert_string_equal(list(f, uid, inbox, NULL), "");
	assert_string_equal(list(f, f->v.id, 0, NULL), "/shared/comment=t;");
	assert_int_equal(set1(f, uid, 0, "/shared/comment", "x"), STORE_ERR_NOTFOUND);
}

struct hook {
	int calls;
	uint32_t user_id, mailbox_id;
	char mailbox[64];
	bool null_name;
	char entries[256];   /* "a;b;": the changed entries as the hook saw them */
};

static void hook_fn(void *arg, uint32_t user_id, uint32_t mailbox_id, const char *mailbox,
		    const char *const *entries, size_t nentries)
{
	struct hook *h = arg;
	h->calls++;
	h->entries[0] = '\0';
	for (size_t i = 0; i < nentries; i++) {
		size_t len = strlen(h->entries);
		snprintf(h->entries + len, sizeof(h->entries) - len, "%s;", entries[i]);
	}
	h->user_id = user_id;
	h->mailbox_id = mailbox_id;
	h->null_name = mailbox == NULL;
	snprintf(h->mailbox, sizeof(h->mailbox), "%s", mailbox ? mailbox : "");
}

static void test_hook_and_reopen(void **state)
{
	struct fx *f = *state;
	struct hook h = {0};
	store_set_metadata_notify(f->s, hook_fn, &h);
	uint32_t sent = box(f, f->u.id, "Sent");
	assert_int_equal(set1(f, f->u.id, sent, "/private/comment", "c"), STORE_OK);
	assert_int_equal(h.calls, 1);
	assert_int_equal(h.user_id, f->u.id);
	assert_int_equal(h.mailbox_id, sent);
	assert_string_equal(h.mailbox, "Sent");
	assert_string_equal(h.entries, "/private/comment;");
	assert_int_equal(set1(f, f->u.id, 0, "/shared/comment", "s"), STORE_OK);
	assert_int_equal(h.calls, 2);
	assert_true(h.null_name);
	assert_int_equal(h.mailbox_id, 0);
	/* nothing changed (removing an absent entry), or a refusal: no call */
	assert_int_equal(set1(f, f->u.id, 0, "/shared/absent", NULL), STORE_OK);
	assert_int_equal(set1(f, f->u.id, 9999, "/shared/comment", "x"), STORE_ERR_NOTFOUND);
	assert_int_equal(h.calls, 2);
	/* Several: only those changed (a removal included, an absent one
	 * not), lower-cased, each once, in name order (RFC 5465 5.6). */
	struct store_metadata_change ch[] = {
		{.entry = "/shared/Zeta", .value = "z", .len = 1},
		{.entry = "/shared/comment", .value = NULL},
		{.entry = "/shared/never", .value = NULL},
		{.entry = "/shared/zeta", .value = "y", .len = 1},
		{.entry = "/private/alpha", .value = "a", .len = 1},
	};
	assert_int_equal(store_metadata_set(f->s, f->u.id, 0, ch, 5, &LIM), STORE_OK);
	assert_int_equal(h.calls, 3);
	assert_string_equal(h.entries, "/private/alpha;/shared/comment;/shared/zeta;");
	store_set_metadata_notify(f->s, NULL, NULL);
	assert_int_equal(set1(f, f->u.id, 0, "/shared/comment", "t"), STORE_OK);
	assert_int_equal(h.calls, 3);
	/* durable: the same after the store is closed and opened again */
	store_close(&f->s);
	assert_int_equal(store_open(f->dir, NULL, &f->s), STORE_OK);
	assert_string_equal(list(f, f->u.id, sent, NULL), "/private/comment=c;");
	assert_string_equal(list(f, f->u.id, 0, NULL),
			    "/private/alpha=a;/shared/comment=t;/shared/zeta=y;");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_set_replace_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals_change_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_rename_user_del, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hook_and_reopen, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
