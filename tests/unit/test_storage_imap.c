/* Unit tests for the storage calls IMAP added (issue 3): mailbox delete and
 * rename, subscriptions, \Recent claims, keywords, bulk flags, append,
 * copy/move, UID lists, MIME structure and the change feed, and the notify
 * hook.  After every mutating call the mailbox counters are compared with a
 * recount over the messages, so a counter that drifts fails here.  Each test
 * runs in a fresh temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "storage/storage.h"
#include "tests/unit/store_fixture.h"
#include "tests/unit/store_hold.h"
#include "storage/storage_private.h"

struct fx {
	char dir[STORE_FIXTURE_DIR_MAX];
	struct store *s;
	struct store_user u;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	if (store_fixture_open(f->dir, "simap", &f->s) < 0)
		return -1;
	if (store_user_add(f->s, "u@example.org", "", &f->u) != STORE_OK)
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

static struct store_mailbox mbox(struct fx *f, const char *name)
{
	struct store_mailbox m;
	assert_int_equal(store_mailbox_get(f->s, f->u.id, name, &m), STORE_OK);
	return m;
}

static struct store_mailbox mbox_id(struct fx *f, uint32_t id)
{
	struct store_mailbox m;
	assert_int_equal(store_mailbox_get_by_id(f->s, id, &m), STORE_OK);
	return m;
}

static uint64_t deliver_to(struct fx *f, const char *mailbox, const char *body, uint32_t flags,
			   const char *structure)
{
	const char *r[] = {"u@example.org"};
	int res[1];
	struct store_delivery d = {.recipients = r, .nrecipients = 1, .mailbox = mailbox,
				   .data = body, .len = strlen(body), .flags = flags,
				   .structure = structure,
				   .structure_len = structure ? strlen(structure) : 0};
	uint64_t cid;
	assert_int_equal(store_deliver(f->s, &d, res, &cid), STORE_OK);
	assert_int_equal(res[0], STORE_OK);
	return cid;
}

static uint64_t contents(struct fx *f)
{
	struct store_stats st;
	assert_int_equal(store_stats_get(f->s, &st), STORE_OK);
	return st.contents;
}

/* ---- counters recomputed from the messages ---- */

struct recount {
	uint32_t first_recent;
	uint32_t messages, unseen, deleted, recent;
	uint64_t size, maxmodseq;
};

static int recount_cb(void *arg, const struct store_msg *msg)
{
	struct recount *r = arg;
	r->messages++;
	r->size += msg->size;
	r->unseen += !(msg->flags & STORE_F_SEEN);
	r->deleted += (msg->flags & STORE_F_DELETED) != 0;
	r->recent += (msg->flags & STORE_F_RECENT) && msg->uid >= r->first_recent;
	if (msg->modseq > r->maxmodseq)
		r->maxmodseq = msg->modseq;
	return 0;
}

static void check_counters(struct fx *f, uint32_t id)
{
	struct store_mailbox m = mbox_id(f, id);
	struct recount r = {.first_recent = m.first_recent_uid};
	assert_int_equal(store_msg_list(f->s, id, recount_cb, &r), STORE_OK);
	assert_int_equal(m.messages, r.messages);
	assert_int_equal(m.unseen, r.unseen);
	assert_int_equal(m.deleted, r.deleted);
	assert_int_equal(m.recent, r.recent);
	assert_int_equal(m.size, r.size);
	assert_true(m.highestmodseq >= r.maxmodseq);
	assert_true(m.first_recent_uid <= m.uidnext);
}

static size_t changes(struct fx *f, uint32_t id, uint64_t since, struct store_change *out,
		      size_t max)
{
	size_t n;
	assert_int_equal(store_changes_since(f->s, id, since, out, max, &n), STORE_OK);
	return n;
}

/* ---- delete ---- */

static void test_delete(void **state)
{
	struct fx *f = *state;
	struct store_mailbox a, ab;
	assert_int_equal(store_mailbox_create(f->s, f->u.id, "A", 0, &a), STORE_OK);
	assert_int_equal(store_mailbox_create(f->s, f->u.id, "A/B", 0, &ab), STORE_OK);
	uint64_t cid = deliver_to(f, "A", "Subject: x\r\n\r\nhi\r\n", 0, "STRUCT");
	const char *kn[] = {"Gone"};
	assert_int_equal(store_keywords_intern(f->s, a.id, kn, 1, NULL, NULL), STORE_OK);
	deliver_to(f, "A", "Subject: y\r\n\r\nho\r\n", 0, NULL);
	assert_int_equal(contents(f), 2);

	assert_int_equal(store_mailbox_delete(f->s, f->u.id, "INBOX"), STORE_ERR_PERM);
	assert_int_equal(store_mailbox_delete(f->s, f->u.id, "inbox"), STORE_ERR_PERM);
	assert_int_equal(store_mailbox_delete(f->s, f->u.id, "Nope"), STORE_ERR_NOTFOUND);
	assert_int_equal(store_mailbox_delete(f->s, f->u.id, "A"), STORE_OK);
	struct store_mailbox m;
	assert_int_equal(store_mailbox_get(f->s, f->u.id, "A", &m), STORE_ERR_NOTFOUND);
	assert_int_equal(store_mailbox_get_by_id(f->s, a.id, &m), STORE_ERR_NOTFOUND);
	/* RFC 9051 6.3.4: inferiors stay. */
	assert_int_equal(mbox(f, "A/B").id, ab.id);
	assert_int_equal(contents(f), 0);
	void *p;
	size_t len;
	assert_int_equal(store_content_structure(f->s, cid, &p, &len), STORE_ERR_NOTFOUND);
	assert_null(p);
	assert_int_equal(store_mailbox_delete(f->s, f->u.id, "A"), STORE_ERR_NOTFOUND);
	/* The name can be used again, with a new UIDVALIDITY. */
	assert_int_equal(store_mailbox_create(f->s, f->u.id, "A", 0, &m), STORE_OK);
	assert_int_not_equal(m.uidvalidity, a.uidvalidity);
	assert_int_equal(m.messages, 0);
	size_t n = changes(f, m.id, 0, NULL, 0);
	assert_int_equal(n, 0);
	struct store_keywords kw;
	assert_int_equal(store_keywords_get(f->s, a.id, &kw), STORE_ERR_NOTFOUND);
	assert_int_equal(store_keywords_get(f->s, m.id, &kw), STORE_OK);
	assert_int_equal(kw.count, 0);
}

/* ---- rename ---- */

static void test_rename(void **state)
{
	struct fx *f = *state;
	struct store_mailbox a, ab, abc, other;
	assert_int_equal(store_mailbox_create(f->s, f->u.id, "A", 0, &a), STORE_OK);
	assert_int_equal(store_mailbox_create(f->s, f->u.id, "A/B", 0, &ab), STORE_OK);
	assert_int_equal(store_mailbox_create(f->s, f->u.id, "A/B/C", 0, &abc), STORE_OK);
	assert_int_equal(store_mailbox_create(f->s, f->u.id, "AB", 0, &other), STORE_OK);
	deliver_to(f, "A/B", "m1", STORE_F_SEEN, NULL);

	assert_int_equal(store_mailbox_rename(f->s, f->u.id, "A", "X", '/'), STORE_OK);
	struct store_mailbox m;
	assert_int_equal(store_mailbox_get(f->s, f->u.id, "A", &m), STORE_ERR_NOTFOUND);
	assert_int_equal(store_mailbox_get(f->s, f->u.id, "A/B", &m), STORE_ERR_NOTFOUND);
	m = mbox(f, "X");
	assert_int_equal(m.id, a.id);
	assert_int_equal(m.uidvalidity, a.uidvalidity);
	m = mbox(f, "X/B");
	assert_int_equal(m.id, ab.id);
	assert_string_equal(m.name, "X/B");
	assert_int_equal(m.messages, 1);
	assert_int_equal(mbox(f, "X/B/C").id, abc.id);
	assert_int_equal(mbox(f, "AB").id, other.id);   /* not an inferior */
	assert_string_equal(mbox_id(f, abc.id).name, "X/B/C");

	/* Errors leave everything as it was. */
	assert_int_equal(store_mailbox_rename(f->s, f->u.id, "X", "AB", '/'), STORE_ERR_EXISTS);
	assert_int_equal(store_mailbox_rename(f->s, f->u.id, "X", "X", '/'), STORE_ERR_EXISTS);
	assert_int_equal(store_mailbox_rename(f->s, f->u.id, "Nope", "Q", '/'),
			 STORE_ERR_NOTFOUND);
	assert_int_equal(store_mailbox_rename(f->s, f->u.id, "X", "X/Y", '/'), STORE_ERR_INVALID);
	assert_int_equal(store_mailbox_rename(f->s, f->u.id, "X", "inbox", '/'), STORE_ERR_INVALID);
	/* A child's new name taken: EXISTS, nothing renamed. */
	assert_int_equal(store_mailbox_create(f->s, f->u.id, "Z/B", 0, &m), STORE_OK);
	assert_int_equal(store_mailbox_rename(f->s, f->u.id, "X", "Z", '/'), STORE_ERR_EXISTS);
	assert_int_equal(mbox(f, "X").id, a.id);
	assert_int_equal(mbox(f, "X/B").id, ab.id);
	assert_int_equal(store_mailbox_get(f->s, f->u.id, "Z", &m), STORE_ERR_NOTFOUND);
	/* Renaming a child alone. */
	assert_int_equal(store_mailbox_rename(f->s, f->u.id, "X/B/C", "Top", '/'), STORE_OK);
	assert_int_equal(mbox(f, "Top").id, abc.id);
	assert_int_equal(mbox(f, "X/B").id, ab.id);
}

static int find_kw(const struct store_keywords *kw, const char *name)
{
	for (size_t i = 0; i < kw->count; i++) {
		if (strcmp(kw->name[i], name) == 0)
			return (int)i;
	}
	return -1;
}

static void test_rename_inbox(void **state)
{
	struct fx *f = *state;
	for (int i = 0; i < 3; i++)
		deliver_to(f, NULL, "hello", i == 1 ? STORE_F_SEEN | STORE_F_DELETED : 0, NULL);
	struct store_mailbox in = mbox(f, "INBOX");
	const char *kwn[] = {"Work"};
	uint64_t mask;
	assert_int_equal(store_keywords_intern(f->s, in.id, kwn, 1, &mask, NULL), STORE_OK);
	uint32_t three = 3;
	struct store_flag_change ch = {.op = STORE_FLAGS_ADD, .keywords = mask};
	struct store_flag_result res;
	assert_int_equal(store_msgs_flags(f->s, in.id, &three, 1, &ch, &res), STORE_OK);
	assert_int_equal(res.status, STORE_FLAG_CHANGED);
	struct store_msg before[3];
	for (uint32_t u = 1; u <= 3; u++)
		assert_int_equal(store_msg_get(f->s, in.id, u, &before[u - 1]), STORE_OK);
	in = mbox(f, "INBOX");

	assert_int_equal(store_mailbox_rename(f->s, f->u.id, "INBOX", "Sent", '/'), STORE_ERR_EXISTS);
	assert_int_equal(mbox(f, "INBOX").messages, 3);
	assert_int_equal(store_mailbox_rename(f->s, f->u.id, "inbox", "Old", '/'), STORE_OK);
	struct store_mailbox old = mbox(f, "Old"), in2 = mbox(f, "INBOX");
	assert_int_equal(in2.id, in.id);
	assert_int_equal(in2.messages, 0);
	assert_int_equal(in2.unseen, 0);
	assert_int_equal(in2.deleted, 0);
	assert_int_equal(in2.recent, 0);
	assert_int_equal(in2.size, 0);
	assert_int_equal(in2.uidnext, 4);               /* UIDs never reused */
	assert_int_equal(in2.uidvalidity, in.uidvalidity);
	assert_true(in2.highestmodseq > in.highestmodseq);
	assert_int_not_equal(old.id, in.id);
	assert_int_equal(old.messages, 3);
	assert_int_equal(old.unseen, 2);
	assert_int_equal(old.deleted, 1);
	assert_int_equal(old.recent, 3);
	assert_int_equal(old.uidnext, 4);
	for (uint32_t u = 1; u <= 3; u++) {
		struct store_msg m;
		assert_int_equal(store_msg_get(f->s, old.id, u, &m), STORE_OK);
		assert_int_equal(m.flags, before[u - 1].flags);
		assert_int_equal(m.internaldate, before[u - 1].internaldate);
		assert_int_equal(m.content_id, before[u - 1].content_id);
		assert_int_equal(m.keywords, before[u - 1].keywords);
		assert_int_equal(store_msg_get(f->s, in.id, u, &m), STORE_ERR_NOTFOUND);
	}
	struct store_keywords kw;
	assert_int_equal(store_keywords_get(f->s, old.id, &kw), STORE_OK);
	assert_int_equal(find_kw(&kw, "Work"), 0);
	check_counters(f, in.id);
	check_counters(f, old.id);
	/* INBOX sessions see three EXPUNGEs. */
	struct store_change c[8];
	size_t n = changes(f, in.id, in.highestmodseq, c, 8);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(c[i].kind, STORE_CHANGE_EXPUNGE);
		assert_int_equal(c[i].uid, i + 1);
	}
	assert_int_equal(changes(f, old.id, 0, c, 8), 3);
	/* New mail goes on with UID 4. */
	deliver_to(f, NULL, "again", 0, NULL);
	struct store_msg m;
	assert_int_equal(store_msg_get(f->s, in.id, 4, &m), STORE_OK);
	check_counters(f, in.id);
	/* The content is still shared once per message, not copied. */
	assert_int_equal(contents(f), 4);
}

/* ---- subscriptions ---- */

struct names {
	char name[16][64];
	size_t n;
};

static int collect_name(void *arg, const char *name)
{
	struct names *c = arg;
	if (c->n < 16)
		snprintf(c->name[c->n], sizeof(c->name[0]), "%s", name);
	c->n++;
	return 0;
}

static void test_subscriptions(void **state)
{
	struct fx *f = *state;
	struct names c = {.n = 0};
	assert_int_equal(store_subscription_list(f->s, f->u.id, collect_name, &c), STORE_OK);
	assert_int_equal(c.n, 6);   /* the defaults of a new user */
	assert_string_equal(c.name[0], "Archive");
	assert_string_equal(c.name[2], "INBOX");
	assert_true(mbox(f, "Sent").subscribed);

	struct store_mailbox m;
	assert_int_equal(store_mailbox_create(f->s, f->u.id, "Work", 0, &m), STORE_OK);
	assert_false(m.subscribed);
	assert_int_equal(store_subscription_set(f->s, f->u.id, "Work", true), STORE_OK);
	assert_int_equal(store_subscription_set(f->s, f->u.id, "Work", true), STORE_OK);
	assert_true(mbox(f, "Work").subscribed);
	assert_true(mbox_id(f, m.id).subscribed);
	assert_int_equal(store_subscription_set(f->s, f->u.id, "Ghost", true), STORE_OK);
	assert_int_equal(store_subscription_set(f->s, f->u.id, "Never", false), STORE_OK);
	assert_int_equal(store_subscription_set(f->s, f->u.id, "Sent", false), STORE_OK);
	assert_false(mbox(f, "Sent").subscribed);
	c.n = 0;
	assert_int_equal(store_subscription_list(f->s, f->u.id, collect_name, &c), STORE_OK);
	assert_int_equal(c.n, 7);
	assert_string_equal(c.name[3], "INBOX");
	assert_string_equal(c.name[2], "Ghost");
	assert_string_equal(c.name[6], "Work");
	/* A subscription outlives its mailbox (RFC 9051 6.3.7). */
	assert_int_equal(store_mailbox_delete(f->s, f->u.id, "Work"), STORE_OK);
	c.n = 0;
	assert_int_equal(store_subscription_list(f->s, f->u.id, collect_name, &c), STORE_OK);
	assert_int_equal(c.n, 7);
	assert_int_equal(store_mailbox_create(f->s, f->u.id, "Work", 0, &m), STORE_OK);
	assert_true(m.subscribed);
	assert_int_equal(store_subscription_set(f->s, 4242, "X", true), STORE_ERR_NOTFOUND);
	/* Another user's list is separate. */
	struct store_user v;
	assert_int_equal(store_user_add(f->s, "v@example.org", "", &v), STORE_OK);
	c.n = 0;
	assert_int_equal(store_subscription_list(f->s, v.id, collect_name, &c), STORE_OK);
	assert_int_equal(c.n, 6);
	assert_int_equal(store_user_del(f->s, "v@example.org"), STORE_OK);
	c.n = 0;
	assert_int_equal(store_subscription_list(f->s, v.id, collect_name, &c), STORE_OK);
	assert_int_equal(c.n, 0);
}

/* ---- \Recent ---- */

static void test_claim_recent(void **state)
{
	struct fx *f = *state;
	deliver_to(f, NULL, "a", 0, NULL);
	deliver_to(f, NULL, "b", 0, NULL);
	struct store_mailbox in = mbox(f, "INBOX"), m;
	assert_int_equal(in.recent, 2);
	assert_int_equal(in.first_recent_uid, 1);
	uint32_t first, claimed = 9;
	assert_int_equal(store_mailbox_claim_recent(f->s, in.id, &first, &claimed, &m), STORE_OK);
	assert_int_equal(first, 1);
	assert_int_equal(claimed, 2);
	assert_int_equal(m.recent, 0);
	assert_int_equal(m.first_recent_uid, 3);
	assert_int_equal(m.highestmodseq, in.highestmodseq);   /* no MODSEQ change */
	assert_true(m.subscribed);
	check_counters(f, in.id);
	deliver_to(f, NULL, "c", 0, NULL);
	assert_int_equal(mbox(f, "INBOX").recent, 1);
	check_counters(f, in.id);
	assert_int_equal(store_mailbox_claim_recent(f->s, in.id, &first, &claimed, &m), STORE_OK);
	assert_int_equal(first, 3);
	assert_int_equal(claimed, 1);
	assert_int_equal(m.recent, 0);
	assert_int_equal(store_mailbox_claim_recent(f->s, in.id, &first, &claimed, &m), STORE_OK);
	assert_int_equal(first, 4);   /* nothing new: empty range */
	assert_int_equal(claimed, 0);
	/* Expunging claimed messages leaves recent at 0. */
	uint32_t one = 1;
	assert_int_equal(store_expunge(f->s, in.id, &one, 1, NULL), STORE_OK);
	assert_int_equal(mbox(f, "INBOX").recent, 0);
	check_counters(f, in.id);
	/* A copy is recent in its destination. */
	struct store_mailbox t = mbox(f, "Trash");
	uint32_t two = 2, dst;
	assert_int_equal(store_msgs_copy(f->s, in.id, &two, 1, t.id, false, &dst, NULL), STORE_OK);
	assert_int_equal(mbox(f, "Trash").recent, 1);
	check_counters(f, t.id);
	assert_int_equal(store_mailbox_claim_recent(f->s, 4242, &first, NULL, &m), STORE_ERR_NOTFOUND);
}

/* ---- keywords ---- */

static void test_keywords(void **state)
{
	struct fx *f = *state;
	struct store_mailbox in = mbox(f, "INBOX");
	struct store_keywords kw;
	assert_int_equal(store_keywords_get(f->s, in.id, &kw), STORE_OK);
	assert_int_equal(kw.count, 0);
	const char *n1[] = {"$Forwarded", "Work"};
	uint64_t mask;
	assert_int_equal(store_keywords_intern(f->s, in.id, n1, 2, &mask, &kw), STORE_OK);
	assert_int_equal(mask, 3);
	assert_int_equal(kw.count, 2);
	const char *n2[] = {"WORK", "$forwarded"};
	assert_int_equal(store_keywords_intern(f->s, in.id, n2, 2, &mask, &kw), STORE_OK);
	assert_int_equal(mask, 3);
	assert_int_equal(kw.count, 2);
	assert_string_equal(kw.name[1], "Work");   /* as first given */
	/* The table read once finds what the intern would, with no store. */
	assert_int_equal(store_keywords_find(&kw, "wOrK", 4), 1);
	assert_int_equal(store_keywords_find(&kw, "$FORWARDED", 10), 0);
	assert_int_equal(store_keywords_find(&kw, "Wor", 3), -1);
	assert_int_equal(store_keywords_find(&kw, "Works", 5), -1);

	char longname[STORE_KEYWORD_LEN_MAX + 2];
	memset(longname, 'k', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	const char *bad[] = {"", "a b", "x(", "\\Seen", longname, "caf\xc3\xa9"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(store_keywords_intern(f->s, in.id, &bad[i], 1, &mask, NULL),
				 STORE_ERR_INVALID);
	longname[STORE_KEYWORD_LEN_MAX] = '\0';   /* exactly the limit */
	const char *okl[] = {longname};
	assert_int_equal(store_keywords_intern(f->s, in.id, okl, 1, &mask, NULL), STORE_OK);
	assert_int_equal(mask, 1u << 2);

	/* Fill to 64, then one more is NOQUOTA and changes nothing. */
	char names[64][16];
	const char *ptr[64];
	for (int i = 0; i < 61; i++) {
		snprintf(names[i], sizeof(names[i]), "k%d", i);
		ptr[i] = names[i];
	}
	assert_int_equal(store_keywords_intern(f->s, in.id, ptr, 61, &mask, &kw), STORE_OK);
	assert_int_equal(kw.count, 64);
	assert_int_equal(mask, ~(uint64_t)7);
	const char *more[] = {"Work", "OneTooMany"};
	assert_int_equal(store_keywords_intern(f->s, in.id, more, 2, &mask, NULL),
			 STORE_ERR_NOQUOTA);
	assert_int_equal(store_keywords_get(f->s, in.id, &kw), STORE_OK);
	assert_int_equal(kw.count, 64);
	assert_int_equal(find_kw(&kw, "OneTooMany"), -1);
	/* Known names still resolve when the table is full. */
	assert_int_equal(store_keywords_intern(f->s, in.id, more, 1, &mask, NULL), STORE_OK);
	assert_int_equal(mask, 2);
	assert_int_equal(store_keywords_get(f->s, 4242, &kw), STORE_ERR_NOTFOUND);
	assert_int_equal(store_keywords_intern(f->s, 4242, n1, 1, &mask, NULL), STORE_ERR_NOTFOUND);
	/* Tables are per mailbox. */
	assert_int_equal(store_keywords_get(f->s, mbox(f, "Sent").id, &kw), STORE_OK);
	assert_int_equal(kw.count, 0);
}

/* ---- STORE ---- */

static void test_msgs_flags(void **state)
{
	struct fx *f = *state;
	for (int i = 0; i < 5; i++)
		deliver_to(f, NULL, "body", 0, NULL);
	struct store_mailbox in = mbox(f, "INBOX");
	uint32_t uids[] = {1, 2, 3, 9};
	struct store_flag_result res[4];
	struct store_flag_change ch = {.op = STORE_FLAGS_ADD, .flags = STORE_F_SEEN};
	assert_int_equal(store_msgs_flags(f->s, in.id, uids, 4, &ch, res), STORE_OK);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(res[i].status, STORE_FLAG_CHANGED);
		assert_int_equal(res[i].msg.flags, STORE_F_SEEN | STORE_F_RECENT);
		assert_int_equal(res[i].msg.uid, uids[i]);
		assert_int_equal(res[i].msg.modseq, in.highestmodseq + 1 + (uint64_t)i);
	}
	assert_int_equal(res[3].status, STORE_FLAG_GONE);
	struct store_mailbox m = mbox(f, "INBOX");
	assert_int_equal(m.unseen, 2);
	assert_int_equal(m.highestmodseq, in.highestmodseq + 3);
	check_counters(f, in.id);

	/* Nothing to do: MODSEQ kept. */
	uint64_t ms1 = res[0].msg.modseq;
	assert_int_equal(store_msgs_flags(f->s, in.id, uids, 1, &ch, res), STORE_OK);
	assert_int_equal(res[0].status, STORE_FLAG_UNCHANGED);
	assert_int_equal(res[0].msg.modseq, ms1);
	assert_int_equal(mbox(f, "INBOX").highestmodseq, m.highestmodseq);

	/* UNCHANGEDSINCE (RFC 7162 3.1.3). */
	struct store_flag_change cs = {.op = STORE_FLAGS_ADD, .flags = STORE_F_DELETED,
				       .unchangedsince = true, .unchangedsince_modseq = ms1 - 1};
	assert_int_equal(store_msgs_flags(f->s, in.id, uids, 2, &cs, res), STORE_OK);
	assert_int_equal(res[0].status, STORE_FLAG_MODIFIED);
	assert_int_equal(res[0].msg.modseq, ms1);
	assert_int_equal(res[1].status, STORE_FLAG_MODIFIED);
	assert_int_equal(mbox(f, "INBOX").deleted, 0);
	cs.unchangedsince_modseq = ms1;
	assert_int_equal(store_msgs_flags(f->s, in.id, uids, 2, &cs, res), STORE_OK);
	assert_int_equal(res[0].status, STORE_FLAG_CHANGED);
	assert_int_equal(res[1].status, STORE_FLAG_MODIFIED);
	assert_int_equal(mbox(f, "INBOX").deleted, 1);
	check_counters(f, in.id);

	/* SET replaces flags and keywords but keeps \Recent. */
	const char *kn[] = {"A", "B"};
	uint64_t mask;
	assert_int_equal(store_keywords_intern(f->s, in.id, kn, 2, &mask, NULL), STORE_OK);
	struct store_flag_change set = {.op = STORE_FLAGS_SET, .flags = STORE_F_FLAGGED,
					.keywords = mask};
	assert_int_equal(store_msgs_flags(f->s, in.id, uids, 3, &set, res), STORE_OK);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(res[i].status, STORE_FLAG_CHANGED);
		assert_int_equal(res[i].msg.flags, STORE_F_FLAGGED | STORE_F_RECENT);
		assert_int_equal(res[i].msg.keywords, 3);
	}
	m = mbox(f, "INBOX");
	assert_int_equal(m.unseen, 5);
	assert_int_equal(m.deleted, 0);
	check_counters(f, in.id);
	struct store_flag_change rm = {.op = STORE_FLAGS_REMOVE, .keywords = 1};
	assert_int_equal(store_msgs_flags(f->s, in.id, uids, 1, &rm, res), STORE_OK);
	assert_int_equal(res[0].msg.keywords, 2);
	assert_int_equal(res[0].msg.flags, STORE_F_FLAGGED | STORE_F_RECENT);
	struct store_msg g;
	assert_int_equal(store_msg_get(f->s, in.id, 1, &g), STORE_OK);
	assert_int_equal(g.keywords, 2);
	assert_int_equal(g.modseq, res[0].msg.modseq);

	/* One change record per message, at its current MODSEQ. */
	struct store_change c[16];
	size_t n = changes(f, in.id, 0, c, 16);
	assert_int_equal(n, 5);
	for (size_t i = 0; i < n; i++) {
		struct store_msg x;
		assert_int_equal(store_msg_get(f->s, in.id, c[i].uid, &x), STORE_OK);
		assert_int_equal(x.modseq, c[i].modseq);
		assert_int_equal(c[i].kind, c[i].uid <= 3 ? STORE_CHANGE_FLAGS : STORE_CHANGE_NEW);
		if (i > 0)
			assert_true(c[i].modseq > c[i - 1].modseq);
	}
	/* \Recent cannot be stored; bad op. */
	struct store_flag_change badf = {.op = STORE_FLAGS_ADD, .flags = STORE_F_RECENT};
	assert_int_equal(store_msgs_flags(f->s, in.id, uids, 1, &badf, res), STORE_ERR_INVALID);
	badf.flags = 0;
	badf.op = (enum store_flag_op)7;
	assert_int_equal(store_msgs_flags(f->s, in.id, uids, 1, &badf, res), STORE_ERR_INVALID);
	assert_int_equal(store_msgs_flags(f->s, 4242, uids, 1, &ch, res), STORE_ERR_NOTFOUND);
	/* A keyword bit the table does not have. */
	struct store_flag_change badk = {.op = STORE_FLAGS_ADD, .keywords = 4};
	assert_int_equal(store_msgs_flags(f->s, in.id, uids, 1, &badk, res), STORE_ERR_INVALID);
}

/* Every message's one change record sits at its MODSEQ; the others in
 * the mailbox's change list are expunges. */
static void check_change_records(struct fx *f, uint32_t id, size_t nmsgs)
{
	struct store_change c[64];
	size_t n = changes(f, id, 0, c, 64), live = 0;
	for (size_t i = 0; i < n; i++) {
		struct store_msg x;
		int rc = store_msg_get(f->s, id, c[i].uid, &x);
		if (c[i].kind == STORE_CHANGE_EXPUNGE) {
			assert_int_equal(rc, STORE_ERR_NOTFOUND);
			continue;
		}
		assert_int_equal(rc, STORE_OK);
		assert_int_equal(x.modseq, c[i].modseq);
		live++;
	}
	assert_int_equal(live, nmsgs);
}

/* The STORE walk (storage_msg_bulk.c walk_to) steps ahead for ascending
 * UIDs and seeks otherwise: UIDs out of order, repeated, missing, past the
 * mailbox's last (where the next record is another mailbox's), and change
 * records whose MODSEQs no longer follow the UIDs. */
static void test_msgs_flags_walk(void **state)
{
	struct fx *f = *state;
	struct store_mailbox a;
	assert_int_equal(store_mailbox_create(f->s, f->u.id, "A", 0, &a), STORE_OK);
	for (int i = 0; i < 20; i++)
		deliver_to(f, "A", "body", 0, NULL);
	struct store_mailbox b;
	assert_int_equal(store_mailbox_create(f->s, f->u.id, "B", 0, &b), STORE_OK);
	assert_true(b.id > a.id);
	for (int i = 0; i < 3; i++)
		deliver_to(f, "B", "body", 0, NULL);
	/* Expunge 10 so that the walk meets a gap. */
	uint32_t ten = 10;
	size_t removed;
	assert_int_equal(store_expunge(f->s, a.id, &ten, 1, &removed), STORE_OK);
	assert_int_equal(removed, 1);
	struct store_flag_change seen = {.op = STORE_FLAGS_ADD, .flags = STORE_F_SEEN};
	struct store_flag_result res[16];
	/* Descending first: the MODSEQs of 20..15 then run against their UIDs. */
	uint32_t down[] = {20, 19, 18, 17, 16, 15};
	assert_int_equal(store_msgs_flags(f->s, a.id, down, 6, &seen, res), STORE_OK);
	for (int i = 0; i < 6; i++)
		assert_int_equal(res[i].status, STORE_FLAG_CHANGED);
	check_change_records(f, a.id, 19);
	struct store_mailbox before_b = mbox_id(f, b.id);
	uint32_t mixed[] = {25, 3, 2, 2, 5, 9, 10, 11, 16, 14, 15, 19, 20, 21, 1};
	enum store_flag_status want[] = {
		STORE_FLAG_GONE, STORE_FLAG_CHANGED, STORE_FLAG_CHANGED, STORE_FLAG_UNCHANGED,
		STORE_FLAG_CHANGED, STORE_FLAG_CHANGED, STORE_FLAG_GONE, STORE_FLAG_CHANGED,
		STORE_FLAG_UNCHANGED, STORE_FLAG_CHANGED, STORE_FLAG_UNCHANGED,
		STORE_FLAG_UNCHANGED, STORE_FLAG_UNCHANGED, STORE_FLAG_GONE, STORE_FLAG_CHANGED};
	assert_int_equal(store_msgs_flags(f->s, a.id, mixed, 15, &seen, res), STORE_OK);
	for (int i = 0; i < 15; i++) {
		assert_int_equal(res[i].status, want[i]);
		assert_int_equal(res[i].msg.uid, mixed[i]);
	}
	check_change_records(f, a.id, 19);
	check_counters(f, a.id);
	struct store_mailbox m = mbox_id(f, a.id);
	assert_int_equal(m.unseen, 19 - 6 - 7);
	/* The walk past A's last record read B's first: B is as it was. */
	struct store_mailbox after_b = mbox_id(f, b.id);
	assert_int_equal(after_b.highestmodseq, before_b.highestmodseq);
	assert_int_equal(after_b.unseen, 3);
	check_change_records(f, b.id, 3);
	/* Back again, every one: an ascending run over the shuffled MODSEQs. */
	uint32_t all[19];
	for (uint32_t u = 1, k = 0; u <= 20; u++)
		if (u != 10)
			all[k++] = u;
	struct store_flag_change unseen = {.op = STORE_FLAGS_REMOVE, .flags = STORE_F_SEEN};
	struct store_flag_result res19[19];
	assert_int_equal(store_msgs_flags(f->s, a.id, all, 19, &unseen, res19), STORE_OK);
	size_t changed = 0;
	for (int i = 0; i < 19; i++)
		changed += res19[i].status == STORE_FLAG_CHANGED;
	assert_int_equal(changed, 13);
	check_change_records(f, a.id, 19);
	check_counters(f, a.id);
	assert_int_equal(mbox_id(f, a.id).unseen, 19);
}

/* More than one transaction's worth of messages. */
static void test_msgs_flags_many(void **state)
{
	struct fx *f = *state;
	struct store_mailbox in = mbox(f, "INBOX");
	enum { N = 700 };
	struct store_append_msg *am = calloc(N, sizeof(*am));
	uint32_t *uids = calloc(N, sizeof(*uids));
	struct store_flag_result *res = calloc(N, sizeof(*res));
	assert_non_null(am);
	assert_non_null(uids);
	assert_non_null(res);
	for (size_t i = 0; i < N; i++) {
		am[i].data = "x";
		am[i].len = 1;
	}
	assert_int_equal(store_append(f->s, in.id, am, N, uids, NULL), STORE_OK);
	assert_int_equal(uids[N - 1], N);
	struct store_flag_change ch = {.op = STORE_FLAGS_ADD, .flags = STORE_F_SEEN |
				       STORE_F_DELETED};
	assert_int_equal(store_msgs_flags(f->s, in.id, uids, N, &ch, res), STORE_OK);
	for (size_t i = 0; i < N; i++)
		assert_int_equal(res[i].status, STORE_FLAG_CHANGED);
	struct store_mailbox m = mbox(f, "INBOX");
	assert_int_equal(m.unseen, 0);
	assert_int_equal(m.deleted, N);
	assert_int_equal(m.highestmodseq, in.highestmodseq + 2 * N);
	check_counters(f, in.id);
	/* The single-message call keeps the same counters. */
	struct store_msg one;
	assert_int_equal(store_msg_flags(f->s, in.id, 7, STORE_FLAGS_REMOVE,
					 STORE_F_DELETED | STORE_F_SEEN, &one), STORE_OK);
	m = mbox(f, "INBOX");
	assert_int_equal(m.deleted, N - 1);
	assert_int_equal(m.unseen, 1);
	check_counters(f, in.id);
	/* Expunging the \Deleted ones leaves one message, not deleted. */
	size_t removed;
	uint32_t *del = calloc(N, sizeof(*del));
	assert_non_null(del);
	size_t nd = 0;
	for (size_t i = 0; i < N; i++) {
		if (uids[i] != 7)
			del[nd++] = uids[i];
	}
	assert_int_equal(store_expunge(f->s, in.id, del, nd, &removed), STORE_OK);
	assert_int_equal(removed, N - 1);
	m = mbox(f, "INBOX");
	assert_int_equal(m.messages, 1);
	assert_int_equal(m.deleted, 0);
	assert_int_equal(m.unseen, 1);
	assert_int_equal(m.size, 1);
	check_counters(f, in.id);
	free(del);
	free(am);
	free(uids);
	free(res);
}

/* ---- APPEND ---- */

/* IMAP's EXPUNGE removes what is \Deleted when its transaction runs: a
 * message another session undeleted after the scan stays. */
static void test_expunge_deleted(void **state)
{
	struct fx *f = *state;
	deliver_to(f, NULL, "a", STORE_F_DELETED, NULL);
	deliver_to(f, NULL, "b", STORE_F_DELETED, NULL);
	deliver_to(f, NULL, "c", 0, NULL);
	struct store_mailbox in = mbox(f, "INBOX");
	/* the scan found 1 and 2; then 2 is undeleted */
	assert_int_equal(store_msg_flags(f->s, in.id, 2, STORE_FLAGS_REMOVE, STORE_F_DELETED, NULL),
			 STORE_OK);
	uint32_t uids[] = {1, 2, 3};
	size_t removed = 99;
	assert_int_equal(store_expunge_deleted(f->s, in.id, uids, 3, &removed), STORE_OK);
	assert_int_equal(removed, 1);
	struct store_msg m;
	assert_int_equal(store_msg_get(f->s, in.id, 1, &m), STORE_ERR_NOTFOUND);
	assert_int_equal(store_msg_get(f->s, in.id, 2, &m), STORE_OK);
	assert_int_equal(store_msg_get(f->s, in.id, 3, &m), STORE_OK);
	assert_int_equal(mbox(f, "INBOX").deleted, 0);
	check_counters(f, in.id);
	/* POP3's DELE sets no flag: store_expunge takes what it is given */
	assert_int_equal(store_expunge(f->s, in.id, uids + 2, 1, &removed), STORE_OK);
	assert_int_equal(removed, 1);
}

static void test_append(void **state)
{
	struct fx *f = *state;
	struct store_mailbox d = mbox(f, "Drafts");
	deliver_to(f, "Drafts", "first", 0, NULL);
	const char *kn[] = {"$Draft2"};
	uint64_t mask;
	assert_int_equal(store_keywords_intern(f->s, d.id, kn, 1, &mask, NULL), STORE_OK);
	struct store_append_msg am[3] = {
		{.data = "one", .len = 3, .structure = "S1", .structure_len = 2,
		 .flags = STORE_F_SEEN | STORE_F_DRAFT, .keywords = mask, .internaldate = 1000},
		{.data = "two!", .len = 4, .flags = STORE_F_DELETED},
		{.data = "", .len = 0},
	};
	uint32_t uids[3], uv;
	assert_int_equal(store_append(f->s, d.id, am, 3, uids, &uv), STORE_OK);
	assert_int_equal(uv, d.uidvalidity);
	assert_int_equal(uids[0], 2);
	assert_int_equal(uids[1], 3);
	assert_int_equal(uids[2], 4);
	struct store_msg m;
	assert_int_equal(store_msg_get(f->s, d.id, 2, &m), STORE_OK);
	assert_int_equal(m.flags, STORE_F_SEEN | STORE_F_DRAFT | STORE_F_RECENT);
	assert_int_equal(m.keywords, mask);
	assert_int_equal(m.internaldate, 1000);
	assert_int_equal(m.size, 3);
	void *p;
	size_t len;
	assert_int_equal(store_content_structure(f->s, m.content_id, &p, &len), STORE_OK);
	assert_int_equal(len, 2);
	assert_memory_equal(p, "S1", 2);
	free(p);
	char buf[8];
	size_t got;
	assert_int_equal(store_content_read(f->s, m.content_id, 0, buf, sizeof(buf), &got),
			 STORE_OK);
	assert_int_equal(got, 3);
	assert_memory_equal(buf, "one", 3);
	assert_int_equal(store_msg_get(f->s, d.id, 3, &m), STORE_OK);
	assert_true(m.internaldate > 1000);   /* 0 = now */
	assert_int_equal(store_content_structure(f->s, m.content_id, &p, &len),
			 STORE_ERR_NOTFOUND);
	struct store_mailbox after = mbox(f, "Drafts");
	assert_int_equal(after.messages, 4);
	assert_int_equal(after.unseen, 3);
	assert_int_equal(after.deleted, 1);
	assert_int_equal(after.recent, 4);
	assert_int_equal(after.uidnext, 5);
	assert_int_equal(after.size, strlen("first") + 7);
	check_counters(f, d.id);
	struct store_change c[8];
	assert_int_equal(changes(f, d.id, d.highestmodseq, c, 8), 4);
	assert_int_equal(c[3].uid, 4);
	assert_int_equal(c[3].kind, STORE_CHANGE_NEW);

	/* Errors: nothing appended. */
	struct store_append_msg badkw = {.data = "x", .len = 1, .keywords = 2};
	assert_int_equal(store_append(f->s, d.id, &badkw, 1, uids, &uv), STORE_ERR_INVALID);
	assert_int_equal(store_append(f->s, 4242, am, 1, uids, &uv), STORE_ERR_NOTFOUND);
	assert_int_equal(store_append(f->s, d.id, am, 0, uids, &uv), STORE_ERR_INVALID);
	assert_int_equal(mbox(f, "Drafts").messages, 4);
}

/* ---- COPY / MOVE ---- */

static void test_copy_move(void **state)
{
	struct fx *f = *state;
	struct store_mailbox in = mbox(f, "INBOX");
	struct store_mailbox dst;
	assert_int_equal(store_mailbox_create(f->s, f->u.id, "Dst", 0, &dst), STORE_OK);
	for (int i = 0; i < 3; i++)
		deliver_to(f, NULL, "msg", i == 0 ? STORE_F_SEEN : 0, i == 2 ? "ST" : NULL);
	const char *sk[] = {"Alpha", "Beta"}, *dk[] = {"beta"};
	uint64_t smask, dmask;
	assert_int_equal(store_keywords_intern(f->s, in.id, sk, 2, &smask, NULL), STORE_OK);
	assert_int_equal(store_keywords_intern(f->s, dst.id, dk, 1, &dmask, NULL), STORE_OK);
	uint32_t one = 1;
	struct store_flag_change ch = {.op = STORE_FLAGS_ADD, .keywords = smask,
				       .flags = STORE_F_FLAGGED};
	struct store_flag_result r;
	assert_int_equal(store_msgs_flags(f->s, in.id, &one, 1, &ch, &r), STORE_OK);
	assert_int_equal(contents(f), 3);

	uint32_t src_uids[] = {1, 3, 7}, dst_uids[3], uv;
	assert_int_equal(store_msgs_copy(f->s, in.id, src_uids, 3, dst.id, false, dst_uids, &uv),
			 STORE_OK);
	assert_int_equal(uv, dst.uidvalidity);
	assert_int_equal(dst_uids[0], 1);
	assert_int_equal(dst_uids[1], 2);
	assert_int_equal(dst_uids[2], 0);
	assert_int_equal(contents(f), 3);   /* shared, not copied */
	struct store_msg m, o;
	assert_int_equal(store_msg_get(f->s, dst.id, 1, &m), STORE_OK);
	assert_int_equal(store_msg_get(f->s, in.id, 1, &o), STORE_OK);
	assert_int_equal(m.content_id, o.content_id);
	assert_int_equal(m.flags, STORE_F_SEEN | STORE_F_FLAGGED | STORE_F_RECENT);
	assert_int_equal(m.internaldate, o.internaldate);
	/* Keywords by name: "Beta" is bit 0 there, "Alpha" is added as 1. */
	struct store_keywords kw;
	assert_int_equal(store_keywords_get(f->s, dst.id, &kw), STORE_OK);
	assert_int_equal(kw.count, 2);
	assert_string_equal(kw.name[0], "beta");
	assert_string_equal(kw.name[1], "Alpha");
	assert_int_equal(m.keywords, 3);
	assert_int_equal(store_msg_get(f->s, dst.id, 2, &m), STORE_OK);
	assert_int_equal(m.keywords, 0);
	void *p;
	size_t len;
	assert_int_equal(store_content_structure(f->s, m.content_id, &p, &len), STORE_OK);
	free(p);
	check_counters(f, in.id);
	check_counters(f, dst.id);
	assert_int_equal(mbox(f, "INBOX").messages, 3);

	/* Refcounts: the content goes with its last message. */
	assert_int_equal(store_expunge(f->s, in.id, &one, 1, NULL), STORE_OK);
	assert_int_equal(contents(f), 3);
	assert_int_equal(store_expunge(f->s, dst.id, &one, 1, NULL), STORE_OK);
	assert_int_equal(contents(f), 2);

	/* MOVE: originals expunged in the same call, EXPUNGE records left. */
	struct store_mailbox in_before = mbox(f, "INBOX");
	uint32_t mv[] = {2, 3};
	assert_int_equal(store_msgs_copy(f->s, in.id, mv, 2, dst.id, true, dst_uids, &uv),
			 STORE_OK);
	assert_int_equal(dst_uids[0], 3);
	assert_int_equal(dst_uids[1], 4);
	struct store_mailbox in_after = mbox(f, "INBOX"), d2 = mbox(f, "Dst");
	assert_int_equal(in_after.messages, 0);
	assert_int_equal(d2.messages, 3);
	assert_int_equal(contents(f), 2);
	struct store_change c[8];
	size_t n = changes(f, in.id, in_before.highestmodseq, c, 8);
	assert_int_equal(n, 2);
	assert_int_equal(c[0].kind, STORE_CHANGE_EXPUNGE);
	assert_int_equal(c[0].uid, 2);
	assert_int_equal(c[1].uid, 3);
	check_counters(f, in.id);
	check_counters(f, dst.id);
	/* The structure went along with the shared content. */
	assert_int_equal(store_msg_get(f->s, dst.id, 4, &m), STORE_OK);
	assert_int_equal(store_content_structure(f->s, m.content_id, &p, &len), STORE_OK);
	assert_int_equal(len, 2);
	free(p);

	/* Copy into itself. */
	uint32_t self = 4, su;
	assert_int_equal(store_msgs_copy(f->s, dst.id, &self, 1, dst.id, false, &su, NULL),
			 STORE_OK);
	assert_int_equal(su, 5);
	check_counters(f, dst.id);
	/* Missing mailboxes. */
	assert_int_equal(store_msgs_copy(f->s, 4242, &self, 1, dst.id, false, &su, NULL),
			 STORE_ERR_NOTFOUND);
	assert_int_equal(store_msgs_copy(f->s, dst.id, &self, 1, 4242, false, &su, NULL),
			 STORE_ERR_NOTFOUND);

	/* Destination keyword table full: NOQUOTA, nothing copied. */
	struct store_mailbox full;
	assert_int_equal(store_mailbox_create(f->s, f->u.id, "Full", 0, &full), STORE_OK);
	char names[64][8];
	const char *ptr[64];
	for (int i = 0; i < 64; i++) {
		snprintf(names[i], sizeof(names[i]), "f%d", i);
		ptr[i] = names[i];
	}
	assert_int_equal(store_keywords_intern(f->s, full.id, ptr, 64, NULL, NULL), STORE_OK);
	/* Dst uid 3 (moved from INBOX 2) gets "Alpha" (Dst bit 1), a name
	 * Full has no room for. */
	struct store_flag_change kadd = {.op = STORE_FLAGS_ADD, .keywords = 2};
	uint32_t d3 = 3;
	assert_int_equal(store_msgs_flags(f->s, dst.id, &d3, 1, &kadd, &r), STORE_OK);
	assert_int_equal(store_msgs_copy(f->s, dst.id, &d3, 1, full.id, false, &su, NULL),
			 STORE_ERR_NOQUOTA);
	assert_int_equal(mbox(f, "Full").messages, 0);
	assert_int_equal(mbox(f, "Full").uidnext, 1);
}

/* ---- UIDs and ranges ---- */

/* RFC 8514 3: the save date is when the message entered this mailbox
 * (delivery, APPEND whatever its INTERNALDATE, COPY and MOVE: now, not the
 * source's); a flag change keeps it. */
static void test_savedate(void **state)
{
	struct fx *f = *state;
	struct store_mailbox in = mbox(f, "INBOX"), dst;
	assert_int_equal(store_mailbox_create(f->s, f->u.id, "SaveDst", 0, &dst), STORE_OK);
	int64_t t0 = (int64_t)time(NULL);
	deliver_to(f, NULL, "delivered", 0, NULL);
	struct store_append_msg am = {.data = "old", .len = 3, .internaldate = 1000};
	uint32_t uid;
	assert_int_equal(store_append(f->s, in.id, &am, 1, &uid, NULL), STORE_OK);
	struct store_msg d, a;
	assert_int_equal(store_msg_get(f->s, in.id, 1, &d), STORE_OK);
	assert_int_equal(store_msg_get(f->s, in.id, uid, &a), STORE_OK);
	int64_t t1 = (int64_t)time(NULL);
	assert_true(d.savedate >= t0 && d.savedate <= t1);
	assert_true(a.savedate >= t0 && a.savedate <= t1);
	assert_int_equal(a.internaldate, 1000);
	/* Let the clock pass the source's second, so that a copy made now
	 * cannot share its save date by chance. */
	while ((int64_t)time(NULL) <= a.savedate)
		usleep(20000);
	struct store_flag_change ch = {.op = STORE_FLAGS_ADD, .flags = STORE_F_FLAGGED};
	struct store_flag_result r;
	assert_int_equal(store_msgs_flags(f->s, in.id, &uid, 1, &ch, &r), STORE_OK);
	struct store_msg again;
	assert_int_equal(store_msg_get(f->s, in.id, uid, &again), STORE_OK);
	assert_int_equal(again.savedate, a.savedate);
	uint32_t c, m, one = 1;
	assert_int_equal(store_msgs_copy(f->s, in.id, &uid, 1, dst.id, false, &c, NULL), STORE_OK);
	assert_int_equal(store_msgs_copy(f->s, in.id, &one, 1, dst.id, true, &m, NULL), STORE_OK);
	struct store_msg cm, mm;
	assert_int_equal(store_msg_get(f->s, dst.id, c, &cm), STORE_OK);
	assert_int_equal(store_msg_get(f->s, dst.id, m, &mm), STORE_OK);
	assert_true(cm.savedate > a.savedate);
	assert_true(mm.savedate > d.savedate);
	assert_int_equal(cm.internaldate, 1000);   /* INTERNALDATE is copied */
	/* The source keeps its own. */
	assert_int_equal(store_msg_get(f->s, in.id, uid, &again), STORE_OK);
	assert_int_equal(again.savedate, a.savedate);
}

/* RFC 8508 3.4: REPLACE appends and expunges in one transaction, into the
 * same mailbox or another; a replaced message already gone changes
 * nothing. */
static void test_replace(void **state)
{
	struct fx *f = *state;
	struct store_mailbox d = mbox(f, "Drafts");
	struct store_mailbox sent = mbox(f, "Sent");
	struct store_append_msg am = {.data = "draft 1", .len = 7, .flags = STORE_F_DRAFT};
	uint32_t uid, uv;
	assert_int_equal(store_append(f->s, d.id, &am, 1, &uid, NULL), STORE_OK);
	assert_int_equal(contents(f), 1);
	struct store_mailbox before = mbox(f, "Drafts");

	struct store_append_msg v2 = {.data = "draft two", .len = 9,
				      .flags = STORE_F_DRAFT | STORE_F_SEEN, .internaldate = 1000};
	uint32_t nuid = 0;
	assert_int_equal(store_replace(f->s, d.id, uid, d.id, &v2, &nuid, &uv), STORE_OK);
	assert_int_equal(nuid, uid + 1);
	assert_int_equal(uv, d.uidvalidity);
	struct store_msg m;
	assert_int_equal(store_msg_get(f->s, d.id, uid, &m), STORE_ERR_NOTFOUND);
	assert_int_equal(store_msg_get(f->s, d.id, nuid, &m), STORE_OK);
	assert_int_equal(m.size, 9);
	assert_int_equal(m.internaldate, 1000);
	assert_int_equal(m.flags, STORE_F_DRAFT | STORE_F_SEEN | STORE_F_RECENT);
	assert_int_equal(contents(f), 1);   /* the old content went with it */
	struct store_mailbox after = mbox(f, "Drafts");
	assert_int_equal(after.messages, 1);
	assert_int_equal(after.uidnext, before.uidnext + 1);
	check_counters(f, d.id);
	/* Both the expunge and the new message are in the change records. */
	struct store_change c[4];
	size_t n = changes(f, d.id, before.highestmodseq, c, 4);
	assert_int_equal(n, 2);
	assert_int_equal(c[0].kind, STORE_CHANGE_EXPUNGE);
	assert_int_equal(c[0].uid, uid);
	assert_int_equal(c[1].kind, STORE_CHANGE_NEW);
	assert_int_equal(c[1].uid, nuid);

	/* Into another mailbox: the draft becomes the sent message. */
	struct store_append_msg fin = {.data = "final", .len = 5, .flags = STORE_F_SEEN};
	uint32_t suid = 0;
	assert_int_equal(store_replace(f->s, d.id, nuid, sent.id, &fin, &suid, &uv), STORE_OK);
	assert_int_equal(uv, sent.uidvalidity);
	assert_int_equal(mbox(f, "Drafts").messages, 0);
	assert_int_equal(mbox(f, "Sent").messages, 1);
	assert_int_equal(store_msg_get(f->s, sent.id, suid, &m), STORE_OK);
	assert_int_equal(m.size, 5);
	check_counters(f, d.id);
	check_counters(f, sent.id);

	/* The old message is gone: nothing is appended, nothing changes. */
	struct store_mailbox s0 = mbox(f, "Sent");
	uint32_t none = 0;
	assert_int_equal(store_replace(f->s, d.id, nuid, sent.id, &fin, &none, NULL),
			 STORE_ERR_NOTFOUND);
	struct store_mailbox s1 = mbox(f, "Sent");
	assert_int_equal(s1.messages, s0.messages);
	assert_int_equal(s1.uidnext, s0.uidnext);
	assert_int_equal(s1.highestmodseq, s0.highestmodseq);
	assert_int_equal(contents(f), 1);
	/* The destination is gone: the old message stays. */
	assert_int_equal(store_append(f->s, d.id, &am, 1, &uid, NULL), STORE_OK);
	assert_int_equal(store_replace(f->s, d.id, uid, 4242, &fin, &none, NULL), STORE_ERR_NOTFOUND);
	assert_int_equal(store_msg_get(f->s, d.id, uid, &m), STORE_OK);
	assert_int_equal(contents(f), 2);
	check_counters(f, d.id);
	assert_int_equal(store_replace(f->s, d.id, uid, d.id, NULL, &none, NULL), STORE_ERR_INVALID);
}

static int collect_uid(void *arg, const struct store_msg *msg)
{
	uint32_t **p = arg;
	*(*p)++ = msg->uid;
	return 0;
}

static void test_uids_and_range(void **state)
{
	struct fx *f = *state;
	struct store_mailbox in = mbox(f, "INBOX");
	uint32_t *uids;
	size_t n;
	assert_int_equal(store_msg_uids(f->s, in.id, &uids, &n), STORE_OK);
	assert_null(uids);
	assert_int_equal(n, 0);
	assert_int_equal(store_msg_uids(f->s, 4242, &uids, &n), STORE_ERR_NOTFOUND);

	enum { N = 2500 };
	struct store_append_msg *am = calloc(N, sizeof(*am));
	assert_non_null(am);
	for (size_t i = 0; i < N; i++) {
		am[i].data = "m";
		am[i].len = 1;
	}
	assert_int_equal(store_append(f->s, in.id, am, N, NULL, NULL), STORE_OK);
	/* Another mailbox's messages must not leak in. */
	assert_int_equal(store_append(f->s, mbox(f, "Sent").id, am, 10, NULL, NULL), STORE_OK);
	free(am);
	/* Expunge every third. */
	uint32_t *ex = calloc(N, sizeof(*ex));
	size_t nex = 0;
	for (uint32_t u = 1; u <= N; u += 3)
		ex[nex++] = u;
	assert_int_equal(store_expunge(f->s, in.id, ex, nex, NULL), STORE_OK);
	free(ex);
	assert_int_equal(store_msg_uids(f->s, in.id, &uids, &n), STORE_OK);
	assert_int_equal(n, N - nex);
	assert_int_equal(mbox(f, "INBOX").messages, n);
	size_t k = 0;
	for (uint32_t u = 1; u <= N; u++) {
		if ((u - 1) % 3 == 0)
			continue;
		assert_int_equal(uids[k], u);
		k++;
	}
	assert_int_equal(k, n);

	/* The last few, from the top or from below a UID, never another
	 * mailbox's. */
	uint32_t last[64];
	size_t nl = 0;
	assert_int_equal(store_msg_uids_last(f->s, in.id, UINT32_MAX, 3, last, &nl), STORE_OK);
	assert_int_equal(nl, 3);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(last[i], uids[n - 3 + i]);
	assert_int_equal(store_msg_uids_last(f->s, in.id, 10, 64, last, &nl), STORE_OK);
	uint32_t low[] = { 2, 3, 5, 6, 8, 9 };
	assert_int_equal(nl, 6);
	for (size_t i = 0; i < nl; i++)
		assert_int_equal(last[i], low[i]);
	assert_int_equal(store_msg_uids_last(f->s, in.id, 9, 2, last, &nl), STORE_OK);
	assert_int_equal(nl, 2);
	assert_int_equal(last[0], 8);
	assert_int_equal(last[1], 9);
	assert_int_equal(store_msg_uids_last(f->s, mbox(f, "Sent").id, UINT32_MAX, 64, last, &nl),
			 STORE_OK);
	assert_int_equal(nl, 10);
	assert_int_equal(last[9], 10);
	assert_int_equal(store_msg_uids_last(f->s, mbox(f, "Trash").id, UINT32_MAX, 64, last, &nl),
			 STORE_OK);
	assert_int_equal(nl, 0);

	uint32_t got[64], *gp = got;
	assert_int_equal(store_msg_list_range(f->s, in.id, 1000, 1010, collect_uid, &gp),
			 STORE_OK);
	size_t ng = (size_t)(gp - got);
	/* 1000..1010 minus 1000, 1003, 1006, 1009 */
	assert_int_equal(ng, 7);
	assert_int_equal(got[0], 1001);
	assert_int_equal(got[6], 1010);
	gp = got;
	assert_int_equal(store_msg_list_range(f->s, in.id, N + 1, UINT32_MAX, collect_uid, &gp),
			 STORE_OK);
	assert_int_equal(gp - got, 0);
	gp = got;
	assert_int_equal(store_msg_list_range(f->s, in.id, 5, 5, collect_uid, &gp), STORE_OK);
	assert_int_equal(gp - got, 1);
	assert_int_equal(got[0], 5);
	assert_int_equal(store_msg_list_range(f->s, 4242, 1, 5, collect_uid, &gp),
			 STORE_ERR_NOTFOUND);
	/* The whole mailbox: several bulk gets and batches of records, the
	 * gaps skipped, none of Sent's (the keys after INBOX's). */
	uint32_t *all = malloc(N * sizeof(*all)), *ap = all;
	assert_non_null(all);
	assert_int_equal(store_msg_list_range(f->s, in.id, 1, UINT32_MAX, collect_uid, &ap),
			 STORE_OK);
	assert_int_equal((size_t)(ap - all), n);
	assert_memory_equal(all, uids, n * sizeof(*all));
	ap = all;   /* from the middle of a batch to the middle of another */
	assert_int_equal(store_msg_list_range(f->s, in.id, 700, 2200, collect_uid, &ap),
			 STORE_OK);
	assert_int_equal(all[0], 701);   /* 700 and 2200 were expunged */
	assert_int_equal(ap[-1], 2199);
	assert_int_equal((size_t)(ap - all), 1000);   /* 1501 less every third */
	free(all);
	free(uids);
}

/* ---- structure ---- */

static void test_structure(void **state)
{
	struct fx *f = *state;
	struct store_mailbox in = mbox(f, "INBOX");
	uint64_t cid = deliver_to(f, NULL, "msg", 0, "STRUCTURE-1");
	void *p;
	size_t len;
	assert_int_equal(store_content_structure(f->s, cid, &p, &len), STORE_OK);
	assert_int_equal(len, 11);
	assert_memory_equal(p, "STRUCTURE-1", 11);
	free(p);
	uint64_t cid2 = deliver_to(f, NULL, "msg2", 0, NULL);
	assert_int_equal(store_content_structure(f->s, cid2, &p, &len), STORE_ERR_NOTFOUND);
	/* Large structure (overflow pages). */
	size_t big = 200000;
	char *b = malloc(big);
	assert_non_null(b);
	for (size_t i = 0; i < big; i++)
		b[i] = (char)('a' + i % 26);
	assert_int_equal(store_content_structure_set(f->s, cid2, b, big), STORE_OK);
	assert_int_equal(store_content_structure(f->s, cid2, &p, &len), STORE_OK);
	assert_int_equal(len, big);
	assert_memory_equal(p, b, big);
	free(p);
	free(b);
	assert_int_equal(store_content_structure_set(f->s, cid, "NEW", 3), STORE_OK);
	assert_int_equal(store_content_structure(f->s, cid, &p, &len), STORE_OK);
	assert_int_equal(len, 3);
	free(p);
	assert_int_equal(store_content_structure_set(f->s, 999999, "X", 1), STORE_ERR_NOTFOUND);
	assert_int_equal(store_content_structure_set(f->s, cid, NULL, 0), STORE_ERR_INVALID);
	uint32_t both[] = {1, 2};
	assert_int_equal(store_expunge(f->s, in.id, both, 2, NULL), STORE_OK);
	assert_int_equal(store_content_structure(f->s, cid, &p, &len), STORE_ERR_NOTFOUND);
	assert_int_equal(store_content_structure(f->s, cid2, &p, &len), STORE_ERR_NOTFOUND);

	/* One content for two recipients: the structure stays until the
	 * last message referring to it is expunged. */
	struct store_user v;
	assert_int_equal(store_user_add(f->s, "v@example.org", "", &v), STORE_OK);
	const char *r[] = {"u@example.org", "v@example.org"};
	int res[2];
	struct store_delivery d = {.recipients = r, .nrecipients = 2, .data = "shared", .len = 6,
				   .structure = "SHARED", .structure_len = 6};
	uint64_t cid3;
	assert_int_equal(store_deliver(f->s, &d, res, &cid3), STORE_OK);
	uint32_t three = 3;
	assert_int_equal(store_expunge(f->s, in.id, &three, 1, NULL), STORE_OK);
	assert_int_equal(store_content_structure(f->s, cid3, &p, &len), STORE_OK);
	assert_memory_equal(p, "SHARED", 6);
	free(p);
	assert_int_equal(store_user_del(f->s, "v@example.org"), STORE_OK);
	assert_int_equal(store_content_structure(f->s, cid3, &p, &len), STORE_ERR_NOTFOUND);
	assert_int_equal(contents(f), 0);
}

/* ---- pins: a streamed content outlives its expunge until the unpin ---- */

static void test_pins(void **state)
{
	struct fx *f = *state;
	struct store_mailbox in = mbox(f, "INBOX");
	uint64_t cid = deliver_to(f, NULL, "pinned body", 0, "S");
	char buf[32];
	size_t got;
	assert_int_equal(store_content_pin(f->s, cid), STORE_OK);
	assert_int_equal(store_content_pin(f->s, cid), STORE_OK);   /* pins nest */
	uint32_t one = 1;
	assert_int_equal(store_expunge(f->s, in.id, &one, 1, NULL), STORE_OK);
	assert_int_equal(store_content_read(f->s, cid, 7, buf, sizeof(buf), &got), STORE_OK);
	assert_int_equal(got, 4);
	assert_memory_equal(buf, "body", 4);
	store_content_unpin(f->s, cid);
	assert_int_equal(store_content_read(f->s, cid, 0, buf, sizeof(buf), &got), STORE_OK);
	store_content_unpin(f->s, cid);
	assert_int_equal(store_content_read(f->s, cid, 0, buf, sizeof(buf), &got),
			 STORE_ERR_NOTFOUND);
	void *p;
	size_t len;
	assert_int_equal(store_content_structure(f->s, cid, &p, &len), STORE_ERR_NOTFOUND);
	assert_int_equal(contents(f), 0);

	/* A pin on a content that keeps other references changes nothing. */
	uint64_t cid2 = deliver_to(f, NULL, "two", 0, NULL);
	uint32_t uids[1], v;
	assert_int_equal(store_msgs_copy(f->s, in.id, (uint32_t[]){2}, 1, in.id, false, uids, &v),
			 STORE_OK);
	assert_int_equal(store_content_pin(f->s, cid2), STORE_OK);
	assert_int_equal(store_expunge(f->s, in.id, (uint32_t[]){2}, 1, NULL), STORE_OK);
	store_content_unpin(f->s, cid2);
	assert_int_equal(store_content_read(f->s, cid2, 0, buf, sizeof(buf), &got), STORE_OK);
	assert_int_equal(contents(f), 1);

	/* The process dies while a pin defers a deletion: the next start's
	 * sweep finishes it, and only it. */
	uint64_t cid3 = deliver_to(f, NULL, "orphan", 0, NULL);
	struct store_msg m;
	assert_int_equal(store_msg_get(f->s, in.id, uids[0] + 1, &m), STORE_OK);
	assert_int_equal(m.content_id, cid3);
	assert_int_equal(store_content_pin(f->s, cid3), STORE_OK);
	assert_int_equal(store_expunge(f->s, in.id, &m.uid, 1, NULL), STORE_OK);
	store_close(&f->s);   /* no unpin: as if the daemon had died */
	assert_int_equal(store_open(f->dir, NULL, &f->s), STORE_OK);
	assert_int_equal(store_content_read(f->s, cid3, 0, buf, sizeof(buf), &got), STORE_OK);
	assert_int_equal(store_content_sweep(f->s), STORE_OK);
	assert_int_equal(store_content_read(f->s, cid3, 0, buf, sizeof(buf), &got),
			 STORE_ERR_NOTFOUND);
	assert_int_equal(store_content_read(f->s, cid2, 0, buf, sizeof(buf), &got), STORE_OK);
	assert_int_equal(contents(f), 1);
	assert_int_equal(store_content_sweep(f->s), STORE_OK);   /* nothing left to do */
	check_counters(f, in.id);
}

/* An opened content: one transaction gives the size, the layout and the
 * structure; reads at any offset (across chunks) need no record lookup and
 * keep working after the message is expunged, until the close. */
static void test_content_open(void **state)
{
	struct fx *f = *state;
	struct store_mailbox in = mbox(f, "INBOX");
	/* Long enough for several chunks of both sizes. */
	size_t n = 3 * 16384 + 5000;
	char *body = malloc(n + 1);
	assert_non_null(body);
	for (size_t i = 0; i < n; i++)
		body[i] = (char)('a' + i % 23);
	body[n] = '\0';
	uint64_t cid = deliver_to(f, NULL, body, 0, "STRUCT");
	uint64_t bare = deliver_to(f, NULL, "no structure", 0, NULL);

	struct store_content c;
	void *sp;
	size_t slen;
	assert_int_equal(store_content_open(f->s, cid, &c, &sp, &slen), STORE_OK);
	assert_int_equal(c.id, cid);
	assert_int_equal(c.size, n);
	assert_int_equal(slen, 6);
	assert_memory_equal(sp, "STRUCT", 6);
	free(sp);
	assert_true(store_content_pinned(f->s, cid));

	uint32_t one = 1;
	assert_int_equal(store_expunge(f->s, in.id, &one, 1, NULL), STORE_OK);
	char *buf = malloc(n);
	assert_non_null(buf);
	size_t offs[] = {0, 1, 16383, 16384, 40000, n - 7};
	for (size_t k = 0; k < sizeof(offs) / sizeof(offs[0]); k++) {
		size_t got;
		assert_int_equal(store_content_pread(f->s, &c, offs[k], buf, n, &got), STORE_OK);
		assert_int_equal(got, n - offs[k]);
		assert_memory_equal(buf, body + offs[k], got);
	}
	size_t got;
	assert_int_equal(store_content_pread(f->s, &c, n, buf, 10, &got), STORE_OK);
	assert_int_equal(got, 0);
	store_content_close(f->s, &c);
	assert_int_equal(c.id, 0);
	store_content_close(f->s, &c);   /* closing a closed one does nothing */
	assert_int_equal(store_content_pread(f->s, &c, 0, buf, 10, &got), STORE_ERR_INVALID);
	assert_int_equal(store_content_open(f->s, cid, &c, NULL, NULL), STORE_ERR_NOTFOUND);
	assert_false(store_content_pinned(f->s, cid));

	/* No structure stored: the open says so with NULL, not an error. */
	assert_int_equal(store_content_open(f->s, bare, &c, &sp, &slen), STORE_OK);
	assert_null(sp);
	assert_int_equal(slen, 0);
	/* Nobody deleted it while open: the close leaves it alone. */
	store_content_close(f->s, &c);
	assert_int_equal(store_content_read(f->s, bare, 0, buf, n, &got), STORE_OK);
	assert_int_equal(got, 12);
	assert_int_equal(contents(f), 1);
	free(buf);
	free(body);
}

/* ---- store_thread_nowait: a loop's transaction does not wait for a lock ---- */

static void test_nowait_busy(void **state)
{
	struct fx *f = *state;
	struct store_mailbox in = mbox(f, "INBOX");
	/* The mailbox record write-locked, as a delivery to it does. */
	struct store_hold h;
	assert_int_equal(store_hold_start(&h, f->s, in.id, NULL), 0);

	const char *r[] = {"u@example.org"};
	int res[1];
	struct store_delivery d = {.recipients = r, .nrecipients = 1, .data = "busy", .len = 4};
	assert_false(store_thread_nowait(true));
	/* Without nowait this would wait for the holder (and, past the lock
	 * timeout, retry with back-off); with it, BUSY at once. */
	assert_int_equal(store_deliver(f->s, &d, res, NULL), STORE_ERR_BUSY);
	assert_int_equal(res[0], STORE_ERR_BUSY);
	uint32_t one = 1;
	assert_int_equal(store_msg_flags(f->s, in.id, one, STORE_FLAGS_ADD, STORE_F_SEEN, NULL),
			 STORE_ERR_BUSY);
	assert_true(store_thread_nowait(false));
	struct store_stats st;
	assert_int_equal(store_stats_get(f->s, &st), STORE_OK);
	assert_int_equal(st.contents, 0);   /* nothing of it was stored */

	assert_int_equal(store_hold_end(&h), STORE_OK);

	/* Nobody holds it now: the same call goes through, nowait or not. */
	store_thread_nowait(true);
	assert_int_equal(store_deliver(f->s, &d, res, NULL), STORE_OK);
	store_thread_nowait(false);
	assert_int_equal(res[0], STORE_OK);
	assert_int_equal(mbox(f, "INBOX").messages, 1);
}

/* ---- reads never wait for a writer (issue 11 point 1) ---- */

/* A store whose lock waits end after 50 ms: a read that waited for the
 * writer below would fail (STORE_ERR_TEMP after its retries) instead of
 * returning what was committed. */
static int setup_short_locks(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/postino-sread-XXXXXX");
	struct store_options o = {.lock_timeout_ms = 50};
	if (!mkdtemp(f->dir) || store_open(f->dir, &o, &f->s) != STORE_OK ||
	    store_user_add(f->s, "u@example.org", "", &f->u) != STORE_OK)
		return -1;
	*state = f;
	return 0;
}

/* What deliveries, STOREs and expunges write of the records, in one
 * transaction that stays open until told: the mailbox record, a message
 * record, a change record, the user record.  Then it aborts. */
static int writer_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct store_hold *w = arg;
	struct store_mailbox m;
	struct store_msg msg;
	struct store_user u;
	int rc = store_mbox_read(s, txn, w->mailbox_id, &m, DB_RMW);
	if (rc == STORE_OK)
		rc = store_mbox_write(s, txn, &m);
	if (rc == STORE_OK)
		rc = store_msg_read(s, txn, w->mailbox_id, 1, &msg, DB_RMW);
	if (rc == STORE_OK) {
		msg.flags |= STORE_F_FLAGGED;
		rc = store_msg_write(s, txn, w->mailbox_id, &msg, 0);
	}
	if (rc == STORE_OK)
		rc = store_change_put(s, txn, w->mailbox_id, m.highestmodseq + 1, 1,
				      STORE_CHANGE_FLAGS);
	if (rc == STORE_OK)
		rc = store_user_read(s, txn, "u@example.org", strlen("u@example.org"), &u, DB_RMW);
	/* Not the content's records: a read of a content still waits for a
	 * writer of its pages (storage_env.c: they are not multiversion). */
	return rc == STORE_OK ? STORE_ERR_EXISTS : rc;   /* abort, not retried */
}

static void test_reads_pass_writers(void **state)
{
	struct fx *f = *state;
	const char *body = "Subject: read me\r\n\r\nwhile a writer holds the pages\r\n";
	uint64_t cid = deliver_to(f, NULL, body, 0, "(structure)");
	struct store_mailbox in = mbox(f, "INBOX");
	struct store_hold w;
	assert_int_equal(store_hold_start(&w, f->s, in.id, writer_fn), 0);

	/* What a loop reads: each returns what was committed, at once (and
	 * the content, which nobody writes). */
	struct store_msg m;
	assert_int_equal(store_msg_get(f->s, in.id, 1, &m), STORE_OK);
	assert_false(m.flags & STORE_F_FLAGGED);   /* not committed */
	struct store_mailbox mb;
	assert_int_equal(store_mailbox_get_by_id(f->s, in.id, &mb), STORE_OK);
	assert_int_equal(mb.messages, 1);
	assert_int_equal(store_mailbox_get(f->s, f->u.id, "INBOX", &mb), STORE_OK);
	struct store_user u;
	assert_int_equal(store_user_get(f->s, "u@example.org", &u), STORE_OK);
	assert_int_equal(u.id, f->u.id);
	struct store_change ch[4];
	size_t n;
	assert_int_equal(store_changes_since(f->s, in.id, 0, ch, 4, &n), STORE_OK);
	assert_int_equal(n, 1);   /* the delivery's, not the writer's */
	uint32_t *uids;
	assert_int_equal(store_msg_uids(f->s, in.id, &uids, &n), STORE_OK);
	assert_int_equal(n, 1);
	free(uids);
	struct store_keywords kw;
	assert_int_equal(store_keywords_get(f->s, in.id, &kw), STORE_OK);
	struct store_content c;
	void *st;
	size_t st_len;
	assert_int_equal(store_content_open(f->s, cid, &c, &st, &st_len), STORE_OK);
	assert_int_equal(st_len, strlen("(structure)"));
	free(st);
	char buf[256];
	size_t got;
	assert_int_equal(store_content_pread(f->s, &c, 0, buf, sizeof(buf), &got), STORE_OK);
	assert_int_equal(got, strlen(body));
	assert_memory_equal(buf, body, got);
	store_content_close(f->s, &c);
	assert_int_equal(store_content_read(f->s, cid, 0, buf, sizeof(buf), &got), STORE_OK);
	assert_int_equal(got, strlen(body));

	assert_int_equal(store_hold_end(&w), STORE_ERR_EXISTS);   /* it held all of them */
	assert_int_equal(store_msg_get(f->s, in.id, 1, &m), STORE_OK);
	assert_false(m.flags & STORE_F_FLAGGED);
}

/* What a delivery of the next content holds of the contents' pages: the
 * content_data leaf page its first chunk goes to (the last one, beside
 * the newest contents' chunks) and, unless mailbox_id (the hold's
 * argument, reused) is 0, the content_meta page of its record.  The
 * content id after the newest is the hold's mailbox_id field's
 * companion: h->st's next content, found here. */
static int next_content_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct store_hold *h = arg;
	uint64_t next;
	uint8_t key[12];
	int rc = store_meta_next(s, txn, STORE_META_NEXT_CONTENT, &next);
	store_be64_put(key, next);
	store_be32_put(key + 8, 0);
	if (rc == STORE_OK)
		rc = store_db_put(s, txn, SDB_CONTENT_DATA, key, 12, "x", 1, 0);
	if (rc == STORE_OK && h->mailbox_id)
		rc = store_db_put(s, txn, SDB_CONTENT_META, key, 8, "x", 1, 0);
	return rc == STORE_OK ? STORE_ERR_EXISTS : rc;   /* abort, not retried */
}

struct heads_got {
	size_t n;
};

static int heads_count(void *arg, size_t i, uint64_t off, const void *data, size_t len)
{
	(void)i;
	(void)off;
	(void)data;
	(void)len;
	((struct heads_got *)arg)->n++;
	return 1;   /* this one is done */
}

/* A loop's content reads (store_thread_nowait) do not wait for a writer of
 * the contents' pages: STORE_ERR_BUSY at once, the contents before the held
 * page for a walk of several; then, once it lets go, everything. */
static void test_content_reads_nowait(void **state)
{
	struct fx *f = *state;
	char body[4096];
	memset(body, 'a', sizeof(body) - 1);
	body[sizeof(body) - 1] = '\0';
	uint64_t first = deliver_to(f, NULL, body, 0, "(structure)");
	uint64_t last = first;
	for (int i = 0; i < 40; i++)   /* a few leaf pages of 997-byte chunks */
		last = deliver_to(f, NULL, body, 0, "(structure)");
	struct store_hold h;
	assert_int_equal(store_hold_start(&h, f->s, 0, next_content_fn), 0);
	bool was = store_thread_nowait(true);
	struct store_content c;
	void *st;
	size_t st_len;
	char buf[sizeof(body)];
	size_t got;
	/* The record is free, the chunks' page is not. */
	assert_int_equal(store_content_open(f->s, last, &c, &st, &st_len), STORE_OK);
	free(st);
	assert_int_equal(store_content_pread(f->s, &c, 0, buf, sizeof(buf), &got), STORE_ERR_BUSY);
	store_content_close(f->s, &c);
	assert_int_equal(store_content_read(f->s, last, 0, buf, sizeof(buf), &got),
			 STORE_ERR_BUSY);
	/* A walk: the first content's page is not the held one. */
	uint64_t ids[2] = {first, last}, sizes[2] = {sizeof(body) - 1, sizeof(body) - 1};
	int status[2];
	struct heads_got hg = {0};
	assert_int_equal(store_content_heads(f->s, ids, sizes, 2, heads_count, &hg, status),
			 STORE_OK);
	assert_int_equal(status[0], STORE_OK);
	assert_int_equal(status[1], 1);   /* not reached */
	assert_int_equal(store_content_heads(f->s, ids + 1, sizes + 1, 1, heads_count, &hg,
					     status), STORE_ERR_BUSY);
	/* The first content reads whole. */
	assert_int_equal(store_content_read(f->s, first, 0, buf, sizeof(buf), &got), STORE_OK);
	assert_int_equal(got, sizeof(body) - 1);
	store_thread_nowait(was);
	assert_int_equal(store_hold_end(&h), STORE_ERR_EXISTS);

	/* With the record's page held too, the open is refused. */
	assert_int_equal(store_hold_start(&h, f->s, 1, next_content_fn), 0);
	was = store_thread_nowait(true);
	assert_int_equal(store_content_open(f->s, last, &c, NULL, NULL), STORE_ERR_BUSY);
	assert_false(store_content_pinned(f->s, last));   /* the pin went with it */
	store_thread_nowait(was);
	assert_int_equal(store_hold_end(&h), STORE_ERR_EXISTS);

	/* Let go: all of it. */
	was = store_thread_nowait(true);
	assert_int_equal(store_content_read(f->s, last, 0, buf, sizeof(buf), &got), STORE_OK);
	assert_int_equal(got, sizeof(body) - 1);
	assert_memory_equal(buf, body, got);
	store_thread_nowait(was);
}

struct waiter {
	struct store *s;
	uint64_t id;
	atomic_bool done;
	int rc;
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;
	w->rc = store_content_wait(w->s, w->id, 0, 4096);
	atomic_store(&w->done, true);
	return NULL;
}

/* store_content_wait (a worker's, for a loop's STORE_ERR_BUSY) returns
 * once the writer lets go of the pages, and not before. */
static void test_content_wait(void **state)
{
	struct fx *f = *state;
	char body[4096];
	memset(body, 'b', sizeof(body) - 1);
	body[sizeof(body) - 1] = '\0';
	uint64_t id = 0;
	for (int i = 0; i < 3; i++)
		id = deliver_to(f, NULL, body, 0, NULL);
	struct store_hold h;
	assert_int_equal(store_hold_start(&h, f->s, 1, next_content_fn), 0);
	struct waiter w = {.s = f->s, .id = id};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, waiter_main, &w), 0);
	struct timespec ts = {0, 100 * 1000000L};
	nanosleep(&ts, NULL);
	assert_false(atomic_load(&w.done));   /* it cannot have: the pages are held */
	assert_int_equal(store_hold_end(&h), STORE_ERR_EXISTS);
	pthread_join(t, NULL);
	assert_int_equal(w.rc, STORE_OK);
	bool was = store_thread_nowait(true);
	char buf[sizeof(body)];
	size_t got;
	assert_int_equal(store_content_read(f->s, id, 0, buf, sizeof(buf), &got), STORE_OK);
	store_thread_nowait(was);
	assert_int_equal(store_content_wait(f->s, id + 100, 0, 10), STORE_ERR_NOTFOUND);
	/* Any range of a content of every kind of chunk, past its end too. */
	size_t big_len = 3 * STORE_CHUNK_BIG + 20000;
	char *big = malloc(big_len + 1);
	assert_non_null(big);
	memset(big, 'c', big_len);
	big[big_len] = '\0';
	uint64_t bid = deliver_to(f, NULL, big, 0, NULL);
	free(big);
	assert_int_equal(store_content_wait(f->s, bid, 0, SIZE_MAX), STORE_OK);
	assert_int_equal(store_content_wait(f->s, bid, STORE_CHUNK_BIG - 5, 100000), STORE_OK);
	assert_int_equal(store_content_wait(f->s, bid, big_len - 1, 1), STORE_OK);
	assert_int_equal(store_content_wait(f->s, bid, big_len, 10), STORE_OK);
	assert_int_equal(store_content_wait(f->s, bid, 5, 0), STORE_OK);
}

/* Holds a content's meta record, as the expunge of another copy or a
 * delivery beside it does (store_hold's mailbox_id is the content id's
 * low half here). */
static int meta_holder_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct store_hold *h = arg;
	uint8_t key[8], buf[64];
	size_t len;
	store_be64_put(key, h->mailbox_id);
	return store_db_get(s, txn, SDB_CONTENT_META, key, 8, buf, sizeof(buf), &len, DB_RMW);
}

/* The last unpin of a content whose expunge it deferred does not wait for
 * a writer of the content's records (it runs on an event loop): it leaves
 * the deletion to the watchdog, which makes it once the writer is gone. */
static void test_unpin_passes_writers(void **state)
{
	struct fx *f = *state;
	struct store_mailbox in = mbox(f, "INBOX");
	uint64_t cid = deliver_to(f, NULL, "read to the end", 0, "S");
	assert_true(cid <= UINT32_MAX);
	assert_int_equal(store_content_pin(f->s, cid), STORE_OK);
	uint32_t one = 1;
	assert_int_equal(store_expunge(f->s, in.id, &one, 1, NULL), STORE_OK);
	struct store_hold h;
	assert_int_equal(store_hold_start(&h, f->s, (uint32_t)cid, meta_holder_fn), 0);
	store_content_unpin(f->s, cid);
	assert_int_equal(atomic_load(&f->s->orphans_deferred), 1);   /* to the watchdog */
	assert_int_equal(store_hold_end(&h), STORE_OK);
	char buf[32];
	size_t got;
	/* The watchdog ticks every 200 ms. */
	int rc = STORE_OK;
	for (int i = 0; i < 250 && rc == STORE_OK; i++) {
		struct timespec ts = {0, 20 * 1000000L};
		nanosleep(&ts, NULL);
		rc = store_content_read(f->s, cid, 0, buf, sizeof(buf), &got);
	}
	assert_int_equal(rc, STORE_ERR_NOTFOUND);
	assert_int_equal(contents(f), 0);
}

/* A content already gone cannot be pinned: the pin says so and leaves
 * nothing behind. */
static void test_pin_gone(void **state)
{
	struct fx *f = *state;
	struct store_mailbox in = mbox(f, "INBOX");
	uint64_t cid = deliver_to(f, NULL, "soon gone", 0, NULL);
	uint32_t one = 1;
	assert_int_equal(store_expunge(f->s, in.id, &one, 1, NULL), STORE_OK);
	assert_int_equal(store_content_pin(f->s, cid), STORE_ERR_NOTFOUND);
	assert_false(store_content_pinned(f->s, cid));

	/* Pinned after the deferred deletion began: the content lives until
	 * the last of both pins is gone. */
	uint64_t cid2 = deliver_to(f, NULL, "two pins", 0, NULL);
	assert_int_equal(store_content_pin(f->s, cid2), STORE_OK);
	uint32_t two = 2;
	assert_int_equal(store_expunge(f->s, in.id, &two, 1, NULL), STORE_OK);
	assert_int_equal(store_content_pin(f->s, cid2), STORE_OK);
	store_content_unpin(f->s, cid2);
	char buf[16];
	size_t got;
	assert_int_equal(store_content_read(f->s, cid2, 0, buf, sizeof(buf), &got), STORE_OK);
	store_content_unpin(f->s, cid2);
	assert_int_equal(store_content_read(f->s, cid2, 0, buf, sizeof(buf), &got),
			 STORE_ERR_NOTFOUND);
	assert_int_equal(contents(f), 0);
}

/* The pin races the expunge from another thread, over and over: a pin
 * that succeeds must keep every byte readable until the unpin, whichever
 * side got there first (store_content_pin: they meet at the meta record). */
struct pin_race {
	struct store *s;
	uint32_t mailbox_id;
	_Atomic uint32_t uid;     /* to expunge; 0 when done */
	atomic_bool stop;
};

static void *pin_race_expunger(void *arg)
{
	struct pin_race *r = arg;
	while (!atomic_load(&r->stop)) {
		uint32_t uid = atomic_exchange(&r->uid, 0);
		if (uid == 0)
			continue;
		if (store_expunge(r->s, r->mailbox_id, &uid, 1, NULL) != STORE_OK)
			abort();
	}
	return NULL;
}

static void test_pin_races_expunge(void **state)
{
	struct fx *f = *state;
	struct store_mailbox in = mbox(f, "INBOX");
	char body[3 * 8192];
	for (size_t i = 0; i < sizeof(body) - 1; i++)
		body[i] = (char)('a' + i % 26);
	body[sizeof(body) - 1] = 0;
	struct pin_race r = {.s = f->s, .mailbox_id = in.id};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, pin_race_expunger, &r), 0);
	static char out[3 * 8192];
	int pinned = 0, gone = 0;
	for (uint32_t uid = 1; uid <= 400; uid++) {
		uint64_t cid = deliver_to(f, NULL, body, 0, NULL);
		atomic_store(&r.uid, uid);
		/* 0 to 190 us: before, during and after the expunge. */
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		long wait_ns = (long)(uid % 20) * 10000;
		do
			clock_gettime(CLOCK_MONOTONIC, &t1);
		while ((t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec) < wait_ns);
		int rc = store_content_pin(f->s, cid);
		if (rc == STORE_ERR_NOTFOUND) {
			gone++;
		} else {
			assert_int_equal(rc, STORE_OK);
			pinned++;
			size_t got;
			for (size_t off = 0; off < sizeof(body) - 1; off += got) {
				assert_int_equal(store_content_read(f->s, cid, off, out + off, 4096,
								    &got), STORE_OK);
				assert_true(got > 0);
			}
			assert_memory_equal(out, body, sizeof(body) - 1);
			store_content_unpin(f->s, cid);
		}
		while (atomic_load(&r.uid) != 0)
			;
	}
	atomic_store(&r.stop, true);
	pthread_join(th, NULL);
	assert_int_equal(pinned + gone, 400);
	/* Every expunge has committed (the thread is joined): all gone, once
	 * the watchdog has made the deletions that unpins left it (those
	 * whose pages the expunger held: store_content_unpin). */
	for (int i = 0; i < 250 && contents(f) != 0; i++) {
		struct timespec ts = {0, 20 * 1000000L};
		nanosleep(&ts, NULL);
	}
	assert_int_equal(contents(f), 0);
}

/* ---- changes ---- */

static void test_changes_since(void **state)
{
	struct fx *f = *state;
	struct store_mailbox in = mbox(f, "INBOX");
	uint64_t base = in.highestmodseq;
	for (int i = 0; i < 3; i++)
		deliver_to(f, NULL, "c", 0, NULL);
	uint32_t two = 2, one = 1;
	struct store_flag_change ch = {.op = STORE_FLAGS_ADD, .flags = STORE_F_ANSWERED};
	struct store_flag_result r;
	assert_int_equal(store_msgs_flags(f->s, in.id, &two, 1, &ch, &r), STORE_OK);
	assert_int_equal(store_expunge(f->s, in.id, &one, 1, NULL), STORE_OK);
	struct store_change c[8];
	size_t n = changes(f, in.id, base, c, 8);
	assert_int_equal(n, 3);
	assert_int_equal(c[0].uid, 3);
	assert_int_equal(c[0].kind, STORE_CHANGE_NEW);
	assert_int_equal(c[0].modseq, base + 3);
	assert_int_equal(c[1].uid, 2);
	assert_int_equal(c[1].kind, STORE_CHANGE_FLAGS);
	assert_int_equal(c[1].modseq, base + 4);
	assert_int_equal(c[2].uid, 1);
	assert_int_equal(c[2].kind, STORE_CHANGE_EXPUNGE);
	assert_int_equal(c[2].modseq, base + 5);
	assert_int_equal(mbox(f, "INBOX").highestmodseq, base + 5);
	/* Paging. */
	n = changes(f, in.id, base, c, 2);
	assert_int_equal(n, 2);
	n = changes(f, in.id, c[1].modseq, c, 2);
	assert_int_equal(n, 1);
	assert_int_equal(c[0].uid, 1);
	assert_int_equal(changes(f, in.id, base + 5, c, 8), 0);
	assert_int_equal(changes(f, in.id, base + 4, c, 8), 1);
	size_t nn;
	assert_int_equal(store_changes_since(f->s, 4242, 0, c, 8, &nn), STORE_ERR_NOTFOUND);
}

/* ---- notify ---- */

struct notes {
	struct store *s;
	uint32_t ids[32];
	uint32_t messages[32];   /* EXISTS seen from inside the hook */
	size_t n;
};

static void note(void *arg, uint32_t mailbox_id)
{
	struct notes *c = arg;
	/* The hook may use the store: no lock is held, and the change is
	 * committed, so it is visible. */
	struct store_mailbox m;
	uint32_t messages = store_mailbox_get_by_id(c->s, mailbox_id, &m) == STORE_OK ?
				    m.messages : UINT32_MAX;
	if (c->n < 32) {
		c->ids[c->n] = mailbox_id;
		c->messages[c->n] = messages;
	}
	c->n++;
}

static void test_notify(void **state)
{
	struct fx *f = *state;
	struct notes c = {.s = f->s};
	store_set_notify(f->s, note, &c);
	struct store_user v;
	assert_int_equal(store_user_add(f->s, "v@example.org", "", &v), STORE_OK);
	struct store_mailbox in = mbox(f, "INBOX"), vin, t = mbox(f, "Trash");
	assert_int_equal(store_mailbox_get(f->s, v.id, "INBOX", &vin), STORE_OK);
	assert_int_equal(c.n, 0);

	/* Delivery to two users (one listed twice): one call per mailbox. */
	const char *r[] = {"u@example.org", "v@example.org", "U@example.org"};
	int res[3];
	struct store_delivery d = {.recipients = r, .nrecipients = 3, .data = "hi", .len = 2};
	assert_int_equal(store_deliver(f->s, &d, res, NULL), STORE_OK);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.ids[0], in.id);
	assert_int_equal(c.messages[0], 1);
	assert_int_equal(c.ids[1], vin.id);
	assert_int_equal(c.messages[1], 1);

	c.n = 0;
	struct store_append_msg am[2] = {{.data = "a", .len = 1}, {.data = "b", .len = 1}};
	assert_int_equal(store_append(f->s, in.id, am, 2, NULL, NULL), STORE_OK);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.messages[0], 3);

	c.n = 0;
	uint32_t uids[] = {1, 2, 3};
	struct store_flag_result fr[3];
	struct store_flag_change ch = {.op = STORE_FLAGS_ADD, .flags = STORE_F_SEEN};
	assert_int_equal(store_msgs_flags(f->s, in.id, uids, 3, &ch, fr), STORE_OK);
	assert_int_equal(c.n, 1);
	assert_int_equal(store_msgs_flags(f->s, in.id, uids, 3, &ch, fr), STORE_OK);
	assert_int_equal(c.n, 1);   /* nothing changed, nobody woken */

	c.n = 0;
	uint32_t du[3];
	assert_int_equal(store_msgs_copy(f->s, in.id, uids, 1, t.id, false, du, NULL), STORE_OK);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.ids[0], t.id);
	c.n = 0;
	assert_int_equal(store_msgs_copy(f->s, in.id, uids, 1, t.id, true, du, NULL), STORE_OK);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.ids[0], t.id);
	assert_int_equal(c.messages[0], 2);
	assert_int_equal(c.ids[1], in.id);
	assert_int_equal(c.messages[1], 2);

	c.n = 0;
	uint32_t two = 2;
	assert_int_equal(store_expunge(f->s, in.id, &two, 1, NULL), STORE_OK);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.messages[0], 1);
	assert_int_equal(store_expunge(f->s, in.id, &two, 1, NULL), STORE_OK);
	assert_int_equal(c.n, 1);   /* already gone */

	c.n = 0;
	uint32_t first;
	assert_int_equal(store_mailbox_claim_recent(f->s, in.id, &first, NULL, NULL), STORE_OK);
	assert_int_equal(c.n, 0);

	struct store_mailbox a, ab;
	assert_int_equal(store_mailbox_create(f->s, f->u.id, "A", 0, &a), STORE_OK);
	assert_int_equal(store_mailbox_create(f->s, f->u.id, "A/B", 0, &ab), STORE_OK);
	c.n = 0;
	assert_int_equal(store_mailbox_rename(f->s, f->u.id, "A", "C", '/'), STORE_OK);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.ids[0], a.id);
	assert_int_equal(c.ids[1], ab.id);
	c.n = 0;
	assert_int_equal(store_mailbox_rename(f->s, f->u.id, "INBOX", "Old", '/'), STORE_OK);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.ids[0], in.id);
	assert_int_equal(c.messages[0], 0);
	c.n = 0;
	assert_int_equal(store_mailbox_delete(f->s, f->u.id, "C"), STORE_OK);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.ids[0], a.id);
	assert_int_equal(c.messages[0], UINT32_MAX);   /* gone when the hook runs */
	c.n = 0;
	assert_int_equal(store_mailbox_delete(f->s, f->u.id, "C"), STORE_ERR_NOTFOUND);
	assert_int_equal(c.n, 0);

	store_set_notify(f->s, NULL, NULL);
	assert_int_equal(store_append(f->s, in.id, am, 1, NULL, NULL), STORE_OK);
	assert_int_equal(c.n, 0);
}

/* The list feed (RFC 5465 5.4, 5.5): one call per committed CREATE,
 * DELETE, RENAME, (UN)SUBSCRIBE, none for a refused one. */
struct list_notes {
	size_t n;
	enum store_list_kind kind[16];
	char name[16][32], old[16][32];
	bool sub[16];
	uint32_t user[16];
};

static void list_note(void *arg, const struct store_list_change *ch)
{
	struct list_notes *c = arg;
	if (c->n < 16) {
		c->kind[c->n] = ch->kind;
		snprintf(c->name[c->n], 32, "%s", ch->name);
		snprintf(c->old[c->n], 32, "%s", ch->old_name ? ch->old_name : "-");
		c->sub[c->n] = ch->subscribed;
		c->user[c->n] = ch->user_id;
	}
	c->n++;
}

static void test_list_notify(void **state)
{
	struct fx *f = *state;
	struct list_notes c = {0};
	store_set_list_notify(f->s, list_note, &c);
	assert_int_equal(store_mailbox_create(f->s, f->u.id, "A", 0, NULL), STORE_OK);
	assert_int_equal(store_mailbox_create(f->s, f->u.id, "A/B", 0, NULL), STORE_OK);
	assert_int_equal(store_mailbox_create(f->s, f->u.id, "A", 0, NULL), STORE_ERR_EXISTS);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.kind[0], STORE_LIST_CREATE);
	assert_string_equal(c.name[0], "A");
	assert_string_equal(c.old[0], "-");
	assert_int_equal(c.user[0], f->u.id);
	assert_false(c.sub[0]);
	assert_string_equal(c.name[1], "A/B");

	assert_int_equal(store_subscription_set(f->s, f->u.id, "A", true), STORE_OK);
	assert_int_equal(c.n, 3);
	assert_int_equal(c.kind[2], STORE_LIST_SUBSCRIBE);
	assert_true(c.sub[2]);

	/* One call for a rename, its inferiors included (5.4). */
	assert_int_equal(store_mailbox_rename(f->s, f->u.id, "A", "C", '/'), STORE_OK);
	assert_int_equal(c.n, 4);
	assert_int_equal(c.kind[3], STORE_LIST_RENAME);
	assert_string_equal(c.name[3], "C");
	assert_string_equal(c.old[3], "A");
	assert_int_equal(store_mailbox_rename(f->s, f->u.id, "A", "D", '/'), STORE_ERR_NOTFOUND);
	assert_int_equal(c.n, 4);

	/* A deleted name keeps its subscription (RFC 9051 6.3.7). */
	assert_int_equal(store_subscription_set(f->s, f->u.id, "C/B", true), STORE_OK);
	assert_int_equal(store_mailbox_delete(f->s, f->u.id, "C/B"), STORE_OK);
	assert_int_equal(c.n, 6);
	assert_int_equal(c.kind[5], STORE_LIST_DELETE);
	assert_string_equal(c.name[5], "C/B");
	assert_true(c.sub[5]);
	assert_int_equal(store_mailbox_delete(f->s, f->u.id, "C/B"), STORE_ERR_NOTFOUND);
	assert_int_equal(c.n, 6);

	assert_int_equal(store_subscription_set(f->s, f->u.id, "C/B", false), STORE_OK);
	assert_int_equal(c.kind[6], STORE_LIST_UNSUBSCRIBE);
	assert_false(c.sub[6]);

	store_set_list_notify(f->s, NULL, NULL);
	assert_int_equal(store_mailbox_create(f->s, f->u.id, "E", 0, NULL), STORE_OK);
	assert_int_equal(c.n, 7);
}

/* ---- records written by issue 2 still decode ---- */

static void test_v1_records(void **state)
{
	(void)state;
	uint8_t buf[STORE_MBOX_REC_MAX];
	struct store_enc e;
	store_enc_init(&e, buf, sizeof(buf));
	store_enc_u8(&e, 1);
	store_enc_u64(&e, 9);          /* content id */
	store_enc_u64(&e, 10);         /* size */
	store_enc_u32(&e, STORE_F_SEEN);
	store_enc_u64(&e, 1234);       /* internaldate */
	store_enc_u64(&e, 77);         /* modseq */
	store_enc_u16(&e, 0);          /* keyword count */
	struct store_msg m;
	assert_int_equal(store_msg_decode(5, buf, e.len, &m), STORE_OK);
	assert_int_equal(m.content_id, 9);
	assert_int_equal(m.modseq, 77);
	assert_int_equal(m.keywords, 0);
	buf[e.len - 1] = 1;            /* v1 never had keywords */
	assert_int_equal(store_msg_decode(5, buf, e.len, &m), STORE_ERR_CORRUPT);
	assert_int_equal(m.savedate, 0);  /* unknown before v3 */
	/* v2: keywords, no save date. */
	store_enc_init(&e, buf, sizeof(buf));
	store_enc_u8(&e, 2);
	store_enc_u64(&e, 9);
	store_enc_u64(&e, 10);
	store_enc_u32(&e, STORE_F_SEEN);
	store_enc_u64(&e, 1234);
	store_enc_u64(&e, 77);
	store_enc_u64(&e, 6);          /* keyword mask */
	assert_int_equal(store_msg_decode(5, buf, e.len, &m), STORE_OK);
	assert_int_equal(m.keywords, 6);
	assert_int_equal(m.internaldate, 1234);
	assert_int_equal(m.savedate, 0);
	store_enc_u64(&e, 1700000000); /* a v2 record has nothing more */
	assert_int_equal(store_msg_decode(5, buf, e.len, &m), STORE_ERR_CORRUPT);
	/* v3 round trip with keywords and the save date (RFC 8514) */
	struct store_msg k = {.uid = 5, .content_id = 1, .keywords = UINT64_MAX - 1,
			      .savedate = 1700000000};
	size_t n = store_msg_encode(&k, buf, sizeof(buf));
	assert_int_equal(buf[0], 3);
	assert_int_equal(store_msg_decode(5, buf, n, &m), STORE_OK);
	assert_int_equal(m.keywords, UINT64_MAX - 1);
	assert_int_equal(m.savedate, 1700000000);
	buf[0] = 2;                    /* the same bytes as v2: one field too many */
	assert_int_equal(store_msg_decode(5, buf, n, &m), STORE_ERR_CORRUPT);

	struct store_mailbox mb = {.user_id = 4, .uidvalidity = 5, .uidnext = 6, .messages = 3,
				   .deleted = 2, .first_recent_uid = 5};
	strcpy(mb.name, "Box");
	n = store_mbox_encode(&mb, buf, sizeof(buf));
	struct store_mailbox back;
	assert_int_equal(store_mbox_decode(3, buf, n, &back), STORE_OK);
	assert_int_equal(back.deleted, 2);
	assert_int_equal(back.first_recent_uid, 5);
	assert_string_equal(back.name, "Box");
	/* v1: the same without deleted and first_recent_uid. */
	size_t name_at = n - 2 - 3;
	memmove(buf + name_at - 8, buf + name_at, 5);
	buf[0] = 1;
	assert_int_equal(store_mbox_decode(3, buf, n - 8, &back), STORE_OK);
	assert_int_equal(back.deleted, 0);
	assert_int_equal(back.first_recent_uid, 1);
	assert_int_equal(back.uidnext, 6);
	assert_string_equal(back.name, "Box");
	for (size_t i = 0; i < n - 8; i++)
		assert_int_equal(store_mbox_decode(3, buf, i, &back), STORE_ERR_CORRUPT);
}

/* ---- threads: opposite copies and moves do not deadlock for good, and
 * counters and reference counts stay exact ---- */

struct worker {
	struct store *s;
	uint32_t from, to;
	bool move;
	int failures;
	unsigned copied;    /* messages that arrived in `to` */
};

static atomic_int notified;

static void count_note(void *arg, uint32_t mailbox_id)
{
	(void)arg;
	(void)mailbox_id;
	atomic_fetch_add(&notified, 1);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < 60; i++) {
		uint32_t *uids;
		size_t n;
		if (store_msg_uids(w->s, w->from, &uids, &n) != STORE_OK) {
			w->failures++;
			continue;
		}
		if (n > 0) {
			size_t take = n < 3 ? n : 3;
			uint32_t dst[3] = {0};
			if (store_msgs_copy(w->s, w->from, uids, take, w->to, w->move, dst, NULL) !=
			    STORE_OK)
				w->failures++;
			for (size_t j = 0; j < take; j++)
				w->copied += dst[j] != 0;
			struct store_flag_change ch = {.op = STORE_FLAGS_ADD,
						       .flags = STORE_F_SEEN};
			struct store_flag_result res[3];
			int rc = store_msgs_flags(w->s, w->from, uids + n - take, take, &ch, res);
			if (rc != STORE_OK)
				w->failures++;
		}
		free(uids);
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct fx *f = *state;
	struct store_mailbox a = mbox(f, "INBOX"), b = mbox(f, "Archive");
	for (int i = 0; i < 10; i++) {
		deliver_to(f, NULL, "thread test", 0, NULL);
		deliver_to(f, "Archive", "thread test 2", 0, NULL);
	}
	atomic_store(&notified, 0);
	store_set_notify(f->s, count_note, NULL);
	struct worker w[3] = {
		{.s = f->s, .from = a.id, .to = b.id, .move = true},
		{.s = f->s, .from = b.id, .to = a.id, .move = true},
		{.s = f->s, .from = a.id, .to = b.id, .move = false},
	};
	pthread_t th[3];
	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	for (int i = 0; i < 3; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].failures, 0);
	}
	store_set_notify(f->s, NULL, NULL);
	assert_true(atomic_load(&notified) > 0);
	check_counters(f, a.id);
	check_counters(f, b.id);
	struct store_mailbox a2 = mbox(f, "INBOX"), b2 = mbox(f, "Archive");
	struct store_stats st;
	assert_int_equal(store_stats_get(f->s, &st), STORE_OK);
	assert_int_equal(st.messages, (uint64_t)a2.messages + b2.messages);
	/* How many the copier got depends on scheduling (the movers may keep
	 * INBOX empty whenever it looks); the total must match whatever it was. */
	assert_int_equal(a2.messages + b2.messages, 20 + w[2].copied);
	/* Expunging everything releases every content. */
	uint32_t *uids;
	size_t n;
	assert_int_equal(store_msg_uids(f->s, a.id, &uids, &n), STORE_OK);
	assert_int_equal(store_expunge(f->s, a.id, uids, n, NULL), STORE_OK);
	free(uids);
	assert_int_equal(store_msg_uids(f->s, b.id, &uids, &n), STORE_OK);
	assert_int_equal(store_expunge(f->s, b.id, uids, n, NULL), STORE_OK);
	free(uids);
	assert_int_equal(contents(f), 0);
}

/* CREATE and RENAME refuse names that look like paths, other namespaces
 * or wildcards (issue 4 point 5). */
static void test_name_policy(void **state)
{
	struct fx *f = *state;
	struct store_mailbox m;
	const char *bad[] = {"../bob", "a/../b", "~bob", "#shared/x", "/INBOX", "x//y", "x/",
			     ".", "..", "a/./b", "%", "a*", "INBOX%", "tab\there", "del\x7f"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(store_mailbox_create(f->s, f->u.id, bad[i], 0, &m), STORE_ERR_INVALID);
	}
	assert_int_equal(store_mailbox_create(f->s, f->u.id, "ok", 0, &m), STORE_OK);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(store_mailbox_rename(f->s, f->u.id, "ok", bad[i], '/'),
				 STORE_ERR_INVALID);
	const char *good[] = {"Other Users/bob", "a.b", "a..b", "x~y", "x#y", "bob@localhost",
			      "&BD4-bob", "caf\xc3\xa9"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(store_mailbox_create(f->s, f->u.id, good[i], 0, &m), STORE_OK);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_delete),
		T(test_name_policy),
		T(test_rename),
		T(test_rename_inbox),
		T(test_subscriptions),
		T(test_claim_recent),
		T(test_keywords),
		T(test_msgs_flags),
		T(test_msgs_flags_walk),
		T(test_msgs_flags_many),
		T(test_expunge_deleted),
		T(test_append),
		T(test_copy_move),
		T(test_savedate),
		T(test_replace),
		T(test_uids_and_range),
		T(test_structure),
		T(test_pins),
		T(test_content_open),
		T(test_nowait_busy),
		cmocka_unit_test_setup_teardown(test_reads_pass_writers, setup_short_locks, teardown),
		cmocka_unit_test_setup_teardown(test_unpin_passes_writers, setup_short_locks, teardown),
		cmocka_unit_test_setup_teardown(test_content_reads_nowait, setup_short_locks, teardown),
		T(test_content_wait),
		T(test_pin_gone),
		T(test_pin_races_expunge),
		T(test_changes_since),
		T(test_notify),
		T(test_list_notify),
		T(test_threads),
		cmocka_unit_test(test_v1_records),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
