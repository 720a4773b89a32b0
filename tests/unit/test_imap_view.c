/* Unit tests for imap/imap_view.c over a real store in a temporary
 * directory: opening (\Recent claim), sequence lookup, set resolution
 * (sequence and UID forms, "*", reversed ranges, numbers past the end),
 * catching up with deliveries, expunges and flag changes made elsewhere
 * (exact untagged responses), absorbing our own STORE, keyword
 * announcements, and the BYE when the mailbox goes away.
 *
 * imap_view.c is compiled into this program; the few session functions it
 * calls (writing, notify registration, conn_close/conn_log) are defined
 * here and record what the view wrote, so the replies can be compared. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/buf.h"
#include "core/conn.h"
#include "core/server.h"
#include "core/workpool.h"
#include "imap/imap_session.h"
#include "imap/imap_snap.h"
#include "imap/imap_sync_cache.h"
#include "imap/imap_view.h"
#include "storage/storage.h"
#include "storage/storage_private.h"
#include "tests/unit/store_hold.h"

/* ---- the session side, recording output ---- */

/* SELECT's two parts in a row, waiting for locks: what the handler does
 * when the store is not busy. */
static int view_open(struct imap_session *s, const char *name, bool readonly,
		     struct imap_view **view_r, struct store_mailbox *mbox_r)
{
	*view_r = NULL;
	struct imap_view_load l;
	int rc = imap_view_load_init(&l, s->store, s->user.id, name, readonly);
	if (rc == STORE_OK)
		rc = imap_view_load_steps(&l);
	if (rc == STORE_OK)
		rc = imap_view_open_loaded(s, &l, view_r, mbox_r);
	imap_view_load_free(&l);
	return rc;
}

static struct buf out;
static int registered;
static int closed;

void imap_write_buf(struct imap_session *s, const struct buf *b)
{
	(void)s;
	buf_append(&out, b->data, b->len);
}

void imap_untagged(struct imap_session *s, const char *fmt, ...)
{
	(void)s;
	va_list ap;
	va_start(ap, fmt);
	buf_puts(&out, "* ");
	buf_vprintf(&out, fmt, ap);
	buf_puts(&out, "\r\n");
	va_end(ap);
}

static bool output_full;

bool imap_output_full(const struct imap_session *s)
{
	(void)s;
	return output_full;
}

bool imap_cmd_yield_due(struct imap_session *s)
{
	(void)s;
	return output_full;
}

void imap_notify_register(struct imap_session *s)
{
	(void)s;
	registered++;
}

void imap_notify_unregister(struct imap_session *s)
{
	(void)s;
	registered--;
}

/* As imap_session.c does it: BYE, then the session is closing. */
void imap_session_close(struct imap_session *s, const char *bye, const char *reason)
{
	(void)reason;
	if (s->closing)
		return;
	if (bye)
		imap_untagged(s, "BYE %s", bye);
	s->closing = true;
	closed++;
}

void conn_log(const struct conn *c, enum log_level level, const char *fmt, ...)
{
	(void)c;
	(void)level;
	(void)fmt;
}


/* Completion helpers as imap_session.c defines them (imap_session.h):
 * OK first sends the view's updates. */
/* imap_cmd_job_submit runs the job at once, with what the test wants to
 * happen elsewhere around the worker's read: job_before between the submit
 * (the view's first catch-up) and the read, job_after between the read and
 * finish (the second catch-up). */
static void (*job_before)(void);
static void (*job_after)(void);
static int jobs_run;

/* The worker pool of imap_claim.c: the job is kept for the test to run
 * when it wants (claim_run_job), as a worker would after a lock wait. */
static struct work *pool_job;
static int notified;

int workpool_submit(struct workpool *wp, struct loop *l, struct work *w)
{
	(void)wp;
	(void)l;
	if (pool_job)
		return -1;   /* one at a time is all these tests need */
	pool_job = w;
	return 0;
}

struct loop *conn_loop(const struct conn *c)
{
	(void)c;
	return NULL;
}

void imap_session_claimed(struct imap_session *s)
{
	(void)s;
	notified++;
}

/* imap_context.c's worker, back from a lock wait. */
void imap_session_notify(struct imap_session *s)
{
	(void)s;
	notified++;
}

static void claim_run_job(void)
{
	struct work *w = pool_job;
	assert_non_null(w);
	pool_job = NULL;
	w->run(w);
	w->ran = true;
	w->done(w);
}

int imap_cmd_job_submit(struct imap_cmd *cmd, struct imap_job *j)
{
	j->cmd = cmd;
	if (job_before)
		job_before();
	j->run(j);
	if (job_after)
		job_after();
	j->finish(j, true);
	jobs_run++;
	return 0;
}

static void tagged(struct imap_cmd *cmd, const char *what, const char *fmt, va_list ap)
{
	buf_append(&out, cmd->pc->tag, cmd->pc->tag_len);
	buf_printf(&out, " %s ", what);
	buf_vprintf(&out, fmt, ap);
	buf_puts(&out, "\r\n");
}

void imap_cmd_ok(struct imap_cmd *cmd, const char *fmt, ...)
{
	if (cmd->s->view)
		imap_view_sync(cmd->s, cmd->allow_expunge);
	va_list ap;
	va_start(ap, fmt);
	tagged(cmd, "OK", fmt, ap);
	va_end(ap);
}

void imap_cmd_no(struct imap_cmd *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tagged(cmd, "NO", fmt, ap);
	va_end(ap);
}

void imap_cmd_bad(struct imap_cmd *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tagged(cmd, "BAD", fmt, ap);
	va_end(ap);
}

void imap_cmd_store_error(struct imap_cmd *cmd, int store_err, const char *what)
{
	buf_append(&out, cmd->pc->tag, cmd->pc->tag_len);
	buf_printf(&out, " NO %s: %s\r\n", what, store_strerror(store_err));
}

void imap_cmd_not_durable(struct imap_cmd *cmd, const char *what)
{
	buf_append(&out, cmd->pc->tag, cmd->pc->tag_len);
	buf_printf(&out, " NO [UNAVAILABLE] %s could not be made durable, try again\r\n", what);
}

static int durable_waits;

enum imap_cmd_rc imap_cmd_wait_durable(struct imap_cmd *cmd)
{
	durable_waits++;
	return IMAP_CMD_WAIT;
}

/* UTF-8 names only: the modified UTF-7 side is imap_session.c's. */
int imap_mailbox_arg(struct imap_cmd *cmd, const struct imap_arg *arg, struct buf *o)
{
	struct imap_string str;
	const char *err = NULL;
	buf_reset(o);
	if (imap_arg_mailbox(arg, &str, &err) < 0) {
		imap_cmd_bad(cmd, "%s", err);
		return -1;
	}
	return buf_append(o, str.s, str.len);
}

int imap_mailbox_write(struct imap_session *s, struct buf *o, const char *name)
{
	(void)s;
	return buf_printf(o, "\"%s\"", name);
}

/* ---- fixture ---- */

struct fx {
	char dir[64];
	struct store *st;
	struct store_user u;
	struct imap_session s;
	struct store_mailbox mb;
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void deliver(struct fx *f, int n)
{
	const char *r[] = { "u@example.org" };
	for (int i = 0; i < n; i++) {
		int res = 0;
		const char *msg = "Subject: x\r\n\r\nbody\r\n";
		struct store_delivery d = { .recipients = r, .nrecipients = 1, .data = msg,
					    .len = strlen(msg) };
		assert_int_equal(store_deliver(f->st, &d, &res, NULL), STORE_OK);
	}
}

static struct server test_srv;

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/postino-view-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	if (store_open(f->dir, NULL, &f->st) != STORE_OK)
		return -1;
	if (store_user_add(f->st, "u@example.org", "", &f->u) != STORE_OK)
		return -1;
	f->s.store = f->st;
	f->s.user = f->u;
	f->s.state = IMAP_S_AUTH;
	buf_init(&out, 0);
	registered = closed = notified = 0;
	pool_job = NULL;
	f->s.srv = &test_srv;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	imap_view_close(&f->s, &f->s.view);
	/* The next test's store may reuse this one's address and ids. */
	imap_snap_cache_clear();
	store_close(&f->st);
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	buf_free(&out);
	free(f);
	return 0;
}

static struct imap_view *open_inbox(struct fx *f, bool readonly)
{
	struct imap_view *v = NULL;
	assert_int_equal(view_open(&f->s, "INBOX", readonly, &v, &f->mb), STORE_OK);
	assert_ptr_equal(f->s.view, v);
	/* As the first FETCH/SEARCH/STORE would. */
	assert_int_equal(imap_view_uids_load(&f->s), STORE_OK);
	return v;
}

static void out_is(const char *want)
{
	assert_string_equal(out.data ? out.data : "", want);
	buf_reset(&out);
}

static struct imap_seqset *set(const char *text)
{
	struct imap_seqset *st = NULL;
	const char *err = NULL;
	assert_int_equal(imap_seqset_parse(text, strlen(text), IMAP_SEQ_ALLOW_SAVED, &st, &err), 0);
	return st;
}

/* Resolve text and compare with the expected UIDs (n = -1: an error). */
static void resolves(struct imap_view *v, const char *text, bool uid, const uint32_t *want, int n)
{
	struct imap_seqset *st = set(text);
	uint32_t *got = NULL;
	size_t ng = 0;
	const char *err = NULL;
	int rc = imap_view_resolve(v, st, uid, &got, &ng, &err);
	imap_seqset_free(&st);
	if (n < 0) {
		assert_int_equal(rc, -1);
		assert_non_null(err);
		return;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(ng, (size_t)n);
	for (int i = 0; i < n; i++)
		assert_int_equal(got[i], want[i]);
	free(got);
}

static void expunge_uid_mb(struct fx *f, uint32_t mailbox_id, uint32_t uid)
{
	size_t removed = 0;
	assert_int_equal(store_expunge(f->st, mailbox_id, &uid, 1, &removed), STORE_OK);
	assert_int_equal(removed, 1);
}

static void expunge_uid(struct fx *f, uint32_t uid)
{
	size_t removed = 0;
	assert_int_equal(store_expunge(f->st, f->mb.id, &uid, 1, &removed), STORE_OK);
	assert_int_equal(removed, 1);
}

/* ---- tests ---- */

static void test_open_recent(void **state)
{
	struct fx *f = *state;
	deliver(f, 3);
	struct imap_view *v = open_inbox(f, false);
	assert_int_equal(registered, 1);
	assert_int_equal(v->count, 3);
	assert_int_equal(v->uids[0], 1);
	assert_int_equal(v->uids[2], 3);
	assert_int_equal(v->uidnext, 4);
	assert_true(imap_view_is_recent(v, 1));
	assert_true(imap_view_is_recent(v, 3));
	assert_false(imap_view_is_recent(v, 4));
	assert_int_equal(imap_view_seq(v, 2), 2);
	assert_int_equal(imap_view_seq(v, 9), 0);
	assert_int_equal(imap_view_seq(v, 0), 0);
	imap_view_close(&f->s, &f->s.view);
	assert_null(f->s.view);
	assert_int_equal(registered, 0);
	/* The claim was taken: a second session sees no \Recent. */
	v = open_inbox(f, false);
	assert_false(imap_view_is_recent(v, 1));
	imap_view_close(&f->s, &f->s.view);
	/* EXAMINE shows the unclaimed message as \Recent and claims nothing. */
	deliver(f, 1);
	v = open_inbox(f, true);
	assert_true(imap_view_is_recent(v, 4));
	assert_false(imap_view_is_recent(v, 3));
	imap_view_close(&f->s, &f->s.view);
	v = open_inbox(f, false);
	assert_true(imap_view_is_recent(v, 4));
	assert_false(imap_view_is_recent(v, 3));
}

static void test_resolve_seq(void **state)
{
	struct fx *f = *state;
	deliver(f, 6);
	/* UIDs 2..6 after expunging 1. */
	struct imap_view *v = open_inbox(f, false);
	expunge_uid(f, 1);
	imap_view_close(&f->s, &f->s.view);
	v = open_inbox(f, false);
	assert_int_equal(v->count, 5);
	resolves(v, "1", false, (uint32_t[]){ 2 }, 1);
	resolves(v, "*", false, (uint32_t[]){ 6 }, 1);
	resolves(v, "2:3,5", false, (uint32_t[]){ 3, 4, 6 }, 3);
	resolves(v, "4:2", false, (uint32_t[]){ 3, 4, 5 }, 3);
	resolves(v, "*:4", false, (uint32_t[]){ 5, 6 }, 2);
	resolves(v, "1:*", false, (uint32_t[]){ 2, 3, 4, 5, 6 }, 5);
	resolves(v, "3,1:2,3", false, (uint32_t[]){ 2, 3, 4 }, 3);
	resolves(v, "6", false, NULL, -1);
	resolves(v, "1:7", false, NULL, -1);
}

static void test_resolve_uid(void **state)
{
	struct fx *f = *state;
	deliver(f, 6);
	struct imap_view *v = open_inbox(f, false);
	expunge_uid(f, 3);
	imap_view_close(&f->s, &f->s.view);
	v = open_inbox(f, false);
	/* UIDs 1 2 4 5 6 */
	resolves(v, "3", true, NULL, 0);
	resolves(v, "2:4", true, (uint32_t[]){ 2, 4 }, 2);
	resolves(v, "4:2", true, (uint32_t[]){ 2, 4 }, 2);
	resolves(v, "*", true, (uint32_t[]){ 6 }, 1);
	resolves(v, "100:*", true, (uint32_t[]){ 6 }, 1);
	resolves(v, "5:4294967295", true, (uint32_t[]){ 5, 6 }, 2);
	resolves(v, "7:100", true, NULL, 0);
	resolves(v, "1:*", true, (uint32_t[]){ 1, 2, 4, 5, 6 }, 5);
	/* "$": the saved result, as far as it still exists. */
	v->saved = malloc(3 * sizeof(uint32_t));
	v->saved[0] = 2;
	v->saved[1] = 3;
	v->saved[2] = 5;
	v->nsaved = 3;
	resolves(v, "$", true, (uint32_t[]){ 2, 5 }, 2);
	resolves(v, "$", false, (uint32_t[]){ 2, 5 }, 2);
}

static void test_resolve_empty(void **state)
{
	struct fx *f = *state;
	struct imap_view *v = open_inbox(f, false);
	assert_int_equal(v->count, 0);
	resolves(v, "1", false, NULL, -1);
	resolves(v, "*", false, NULL, 0);
	resolves(v, "1:*", true, NULL, 0);
}

static void test_sync_new_and_expunge(void **state)
{
	struct fx *f = *state;
	deliver(f, 3);
	struct imap_view *v = open_inbox(f, false);
	buf_reset(&out);
	assert_int_equal(imap_view_sync(&f->s, true), 0);
	out_is("");
	deliver(f, 2);
	assert_int_equal(imap_view_sync(&f->s, false), 0);
	out_is("* 5 EXISTS\r\n* 5 RECENT\r\n");
	assert_true(imap_view_is_recent(v, 5));
	/* Expunges wait while sequence numbers are in use. */
	expunge_uid(f, 2);
	expunge_uid(f, 4);
	assert_int_equal(imap_view_sync(&f->s, false), 0);
	out_is("");
	assert_true(imap_view_is_expunged(v, 2));
	assert_int_equal(v->count, 5);
	/* A new message while expunges are pending: EXISTS counts them. */
	deliver(f, 1);
	assert_int_equal(imap_view_sync(&f->s, false), 0);
	out_is("* 6 EXISTS\r\n* 6 RECENT\r\n");
	assert_int_equal(imap_view_sync(&f->s, true), 0);
	out_is("* 4 EXPUNGE\r\n* 2 EXPUNGE\r\n* 4 RECENT\r\n");
	assert_int_equal(v->count, 4);
	assert_int_equal(imap_view_seq(v, 6), 4);
	assert_false(imap_view_is_expunged(v, 2));
	/* rev2 clients get no RECENT. */
	f->s.rev2 = true;
	deliver(f, 1);
	assert_int_equal(imap_view_sync(&f->s, true), 0);
	out_is("* 5 EXISTS\r\n");
	/* Delivered and expunged before we looked: nothing to say. */
	deliver(f, 1);
	expunge_uid(f, 8);
	assert_int_equal(imap_view_sync(&f->s, true), 0);
	out_is("");
	assert_int_equal(v->count, 5);
}

/* Returns the result, for imap_view_absorb when it stands for our own STORE. */
static struct store_flag_result set_flags(struct fx *f, uint32_t uid, uint32_t flags, uint64_t kw)
{
	struct store_flag_change ch = { .op = STORE_FLAGS_ADD, .flags = flags, .keywords = kw };
	struct store_flag_result res;
	assert_int_equal(store_msgs_flags(f->st, f->mb.id, &uid, 1, &ch, &res), STORE_OK);
	assert_int_equal(res.status, STORE_FLAG_CHANGED);
	return res;
}

/* Another session's STORE, on INBOX whatever is selected. */
static void set_flags_mb(struct fx *f, uint32_t uid, uint32_t flags)
{
	struct store_mailbox mb;
	assert_int_equal(store_mailbox_get(f->st, f->u.id, "INBOX", &mb), STORE_OK);
	struct store_flag_change ch = { .op = STORE_FLAGS_ADD, .flags = flags };
	struct store_flag_result res;
	assert_int_equal(store_msgs_flags(f->st, mb.id, &uid, 1, &ch, &res), STORE_OK);
	assert_int_equal(res.status, STORE_FLAG_CHANGED);
}

/* NOOP as imap_cmd_any.c has it: the OK carries the updates. */
static enum imap_cmd_rc imap_cmd_noop_sync(struct imap_cmd *cmd)
{
	imap_cmd_ok(cmd, "NOOP completed");
	return IMAP_CMD_DONE;
}

static void test_sync_flags(void **state)
{
	struct fx *f = *state;
	deliver(f, 3);
	open_inbox(f, false);
	buf_reset(&out);
	set_flags(f, 2, STORE_F_SEEN | STORE_F_FLAGGED, 0);
	assert_int_equal(imap_view_sync(&f->s, false), 0);
	out_is("* 2 FETCH (FLAGS (\\Seen \\Flagged \\Recent) UID 2)\r\n");
	/* CONDSTORE adds MODSEQ. */
	f->s.condstore = true;
	set_flags(f, 1, STORE_F_DELETED, 0);
	struct store_msg m;
	assert_int_equal(store_msg_get(f->st, f->mb.id, 1, &m), STORE_OK);
	assert_int_equal(imap_view_sync(&f->s, false), 0);
	char want[128];
	snprintf(want, sizeof(want), "* 1 FETCH (FLAGS (\\Deleted \\Recent) UID 1 MODSEQ (%llu))\r\n",
		 (unsigned long long)m.modseq);
	out_is(want);
	/* With the output queue full, flag updates wait for the next sync. */
	f->s.condstore = false;
	set_flags(f, 3, STORE_F_SEEN, 0);
	output_full = true;
	assert_int_equal(imap_view_sync(&f->s, false), 0);
	output_full = false;
	out_is("");
	assert_int_equal(imap_view_sync(&f->s, false), 0);
	out_is("* 3 FETCH (FLAGS (\\Seen \\Recent) UID 3)\r\n");
	/* Our own STORE is absorbed, a new message is still reported. */
	struct store_flag_result own = set_flags(f, 3, STORE_F_ANSWERED, 0);
	deliver(f, 1);
	assert_int_equal(imap_view_absorb(&f->s, &own, 1), STORE_OK);
	assert_int_equal(imap_view_sync(&f->s, false), 0);
	out_is("* 4 EXISTS\r\n* 4 RECENT\r\n");
	/* Another session (on another loop) changes 2 while our STORE of 1
	 * runs: ours is absorbed, theirs is still reported. */
	set_flags(f, 2, STORE_F_ANSWERED, 0);
	own = set_flags(f, 1, STORE_F_FLAGGED, 0);
	assert_int_equal(imap_view_absorb(&f->s, &own, 1), STORE_OK);
	assert_int_equal(imap_view_sync(&f->s, false), 0);
	out_is("* 2 FETCH (FLAGS (\\Seen \\Answered \\Flagged \\Recent) UID 2)\r\n");
	/* Theirs after ours on the same message: a later MODSEQ, reported. */
	own = set_flags(f, 1, STORE_F_SEEN, 0);
	set_flags(f, 1, STORE_F_ANSWERED, 0);
	assert_int_equal(imap_view_absorb(&f->s, &own, 1), STORE_OK);
	assert_int_equal(imap_view_sync(&f->s, false), 0);
	out_is("* 1 FETCH (FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Recent) UID 1)\r\n");
}

static void test_sync_new_with_flags(void **state)
{
	struct fx *f = *state;
	deliver(f, 3);
	struct imap_view *v = open_inbox(f, false);
	buf_reset(&out);
	/* 4 and 5 arrive, then 4's flags change: its only record (FLAGS) now
	 * comes after 5's NEW, and it is still a new message, not a FETCH. */
	deliver(f, 2);
	struct store_flag_result own = set_flags(f, 4, STORE_F_SEEN, 0);
	assert_int_equal(imap_view_absorb(&f->s, &own, 1), STORE_OK);
	out_is("");
	assert_int_equal(imap_view_sync(&f->s, true), 0);
	out_is("* 5 EXISTS\r\n* 5 RECENT\r\n");
	assert_int_equal(v->uids[3], 4);
	assert_int_equal(v->uids[4], 5);
	/* A pending new message expunged before it was announced. */
	deliver(f, 1);
	assert_int_equal(imap_view_absorb(&f->s, NULL, 0), STORE_OK);
	expunge_uid(f, 6);
	assert_int_equal(imap_view_sync(&f->s, true), 0);
	out_is("");
	assert_int_equal(v->count, 5);
	assert_int_equal(v->uidnext, 6);
}

static void test_keywords(void **state)
{
	struct fx *f = *state;
	deliver(f, 1);
	struct imap_view *v = open_inbox(f, false);
	imap_view_flags_announce(&f->s);
	out_is("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
	       "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted\r\n");
	struct imap_string kws[] = { { "$Label1", 7 }, { "Work", 4 } };
	struct imap_flags fl = { .keywords = kws, .nkeywords = 2 };
	uint64_t mask = 0;
	assert_int_equal(imap_view_keywords_intern(&f->s, &fl, &mask), STORE_OK);
	assert_int_equal(mask, 3);
	out_is("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label1 Work)\r\n"
	       "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label1 Work \\*)] "
	       "Flags permitted\r\n");
	struct store_msg m = { .uid = 1, .flags = STORE_F_SEEN | STORE_F_DRAFT, .keywords = 2 };
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(imap_view_flags_write(v, &b, &m), 0);
	assert_string_equal(b.data, "(\\Seen \\Draft \\Recent Work)");
	buf_free(&b);
	/* Another session adds a keyword and uses it. */
	const char *nm[] = { "Other" };
	uint64_t om = 0;
	assert_int_equal(store_keywords_intern(f->st, f->mb.id, nm, 1, &om, NULL), STORE_OK);
	set_flags(f, 1, 0, om);
	assert_int_equal(imap_view_sync(&f->s, false), 0);
	out_is("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label1 Work Other)\r\n"
	       "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label1 Work Other \\*)] "
	       "Flags permitted\r\n"
	       "* 1 FETCH (FLAGS (\\Recent Other) UID 1)\r\n");
	/* Read-only: nothing is permanent. */
	imap_view_close(&f->s, &f->s.view);
	open_inbox(f, true);
	imap_view_flags_announce(&f->s);
	out_is("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label1 Work Other)\r\n"
	       "* OK [PERMANENTFLAGS ()] No permanent flags permitted\r\n");
	assert_int_equal(imap_view_store_flags(IMAP_FLAG_SEEN | IMAP_FLAG_DRAFT),
			 STORE_F_SEEN | STORE_F_DRAFT);
}

static void test_mailbox_gone(void **state)
{
	struct fx *f = *state;
	struct store_mailbox mb;
	assert_int_equal(store_mailbox_create(f->st, f->u.id, "Work", 0, &mb), STORE_OK);
	struct imap_view *v = NULL;
	assert_int_equal(view_open(&f->s, "Work", false, &v, &mb), STORE_OK);
	assert_string_equal(v->name, "Work");
	assert_int_equal(imap_view_sync(&f->s, true), 0);
	out_is("");
	assert_int_equal(store_mailbox_delete(f->st, f->u.id, "Work"), STORE_OK);
	assert_int_equal(imap_view_sync(&f->s, true), -1);
	out_is("* BYE Selected mailbox no longer exists\r\n");
	assert_int_equal(closed, 1);
	assert_int_equal(view_open(&f->s, "Nope", false, &v, &mb), STORE_ERR_NOTFOUND);
}

static void test_many(void **state)
{
	struct fx *f = *state;
	deliver(f, 1200);
	struct imap_view *v = open_inbox(f, false);
	buf_reset(&out);
	/* More changes than one batch. */
	uint32_t *uids = malloc(600 * sizeof(uint32_t));
	for (uint32_t i = 0; i < 600; i++)
		uids[i] = 2 * i + 1;
	size_t removed = 0;
	assert_int_equal(store_expunge(f->st, f->mb.id, uids, 600, &removed), STORE_OK);
	assert_int_equal(removed, 600);
	free(uids);
	assert_int_equal(imap_view_sync(&f->s, true), 0);
	assert_int_equal(v->count, 600);
	/* The first EXPUNGE is the highest number, the last is 1. */
	assert_memory_equal(out.data, "* 1199 EXPUNGE\r\n", 16);
	/* RFC 3501 7.3.2: the \Recent count changed with the size. */
	assert_string_equal(out.data + out.len - 27, "* 1 EXPUNGE\r\n* 600 RECENT\r\n");
	assert_int_equal(v->uids[0], 2);
	assert_int_equal(v->uids[599], 1200);
	buf_reset(&out);
	resolves(v, "600", false, (uint32_t[]){ 1200 }, 1);
}


/* ---- the command handlers (imap_cmd_select.c) ---- */

struct run {
	struct imap_parser *p;
	struct imap_command *pc;
	struct imap_cmd cmd;
};

/* Parse `line` and run handler fn once; returns its result. */
static enum imap_cmd_rc run(struct fx *f, struct run *r, imap_cmd_fn *fn, const char *line)
{
	struct imap_parse_limits lim;
	imap_parse_limits_default(&lim);
	memset(r, 0, sizeof(*r));
	r->p = imap_parser_new(&lim);
	assert_non_null(r->p);
	assert_int_equal(imap_parser_feed_line(r->p, line, strlen(line)), IMAP_PARSE_DONE);
	r->pc = imap_parser_take(r->p);
	r->cmd.s = &f->s;
	r->cmd.pc = r->pc;
	r->cmd.uid = r->pc->uid;
	r->cmd.allow_expunge = true;
	return fn(&r->cmd);
}

static void run_free(struct run *r)
{
	/* as the session does when a command ends */
	if (r->cmd.ctx && r->cmd.ctx_free)
		r->cmd.ctx_free(r->cmd.ctx);
	imap_command_free(&r->pc);
	imap_parser_free(&r->p);
}

/* Run a command that finishes at once. */
static void run_done(struct fx *f, imap_cmd_fn *fn, const char *line)
{
	struct run r;
	assert_int_equal(run(f, &r, fn, line), IMAP_CMD_DONE);
	run_free(&r);
}

/* Run a command that waits for the log flush, then resume it. */
static void run_durable(struct fx *f, imap_cmd_fn *fn, const char *line)
{
	struct run r;
	int before = durable_waits;
	assert_int_equal(run(f, &r, fn, line), IMAP_CMD_WAIT);
	assert_int_equal(durable_waits, before + 1);
	r.cmd.durable_ok = true;
	assert_int_equal(fn(&r.cmd), IMAP_CMD_DONE);
	run_free(&r);
}

static void test_cmd_select(void **state)
{
	struct fx *f = *state;
	deliver(f, 3);
	set_flags_mb(f, 1, STORE_F_SEEN);
	run_done(f, imap_cmd_select, "a1 SELECT inbox");
	char want[1024];
	snprintf(want, sizeof(want),
		 "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
		 "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted\r\n"
		 "* 3 EXISTS\r\n"
		 "* 3 RECENT\r\n"
		 "* OK [UNSEEN 2] First unseen\r\n"
		 "* OK [UIDVALIDITY %u] UIDs valid\r\n"
		 "* OK [UIDNEXT 4] Predicted next UID\r\n"
		 "* OK [HIGHESTMODSEQ %llu] Highest\r\n"
		 "* OK [MAILBOXID (F%x-%x)] Ok\r\n"   /* RFC 8474 4.2 */
		 "* OK [URLMECH INTERNAL] URLAUTH mechanisms\r\n"   /* RFC 4467 8 */
		 "a1 OK [READ-WRITE] SELECT completed\r\n",
		 (unsigned)f->s.view->uidvalidity, (unsigned long long)f->s.view->modseq,
		 (unsigned)f->s.view->mailbox_id, (unsigned)f->s.view->uidvalidity);
	out_is(want);
	assert_int_equal(f->s.state, IMAP_S_SELECTED);
	assert_false(f->s.condstore);
	/* rev2: no RECENT or UNSEEN, a LIST instead; the old one is CLOSED. */
	f->s.rev2 = true;
	run_done(f, imap_cmd_examine, "a2 EXAMINE INBOX (CONDSTORE)");
	snprintf(want, sizeof(want),
		 "* OK [CLOSED] Previous mailbox closed\r\n"
		 "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
		 "* OK [PERMANENTFLAGS ()] No permanent flags permitted\r\n"
		 "* 3 EXISTS\r\n"
		 "* LIST () \"/\" \"INBOX\"\r\n"
		 "* OK [UIDVALIDITY %u] UIDs valid\r\n"
		 "* OK [UIDNEXT 4] Predicted next UID\r\n"
		 "* OK [HIGHESTMODSEQ %llu] Highest\r\n"
		 "* OK [MAILBOXID (F%x-%x)] Ok\r\n"   /* RFC 8474 4.2 */
		 "* OK [URLMECH INTERNAL] URLAUTH mechanisms\r\n"
		 "a2 OK [READ-ONLY] EXAMINE completed\r\n",
		 (unsigned)f->s.view->uidvalidity, (unsigned long long)f->s.view->modseq,
		 (unsigned)f->s.view->mailbox_id, (unsigned)f->s.view->uidvalidity);
	out_is(want);
	assert_true(f->s.condstore);
	assert_true(f->s.view->readonly);
	/* A failed SELECT leaves no mailbox selected. */
	run_done(f, imap_cmd_select, "a3 SELECT Nope");
	out_is("* OK [CLOSED] Previous mailbox closed\r\n"
	       "a3 NO [NONEXISTENT] Mailbox does not exist\r\n");
	assert_null(f->s.view);
	assert_int_equal(f->s.state, IMAP_S_AUTH);
	assert_int_equal(registered, 0);
	run_done(f, imap_cmd_select, "a4 SELECT");
	assert_memory_equal(out.data, "a4 BAD ", 7);
	buf_reset(&out);
	run_done(f, imap_cmd_select, "a5 SELECT INBOX (QRESYNC (1 1))");
	out_is("a5 BAD [CLIENTBUG] QRESYNC is not enabled\r\n");
	/* Special-use folders carry their attribute in rev2's LIST. */
	run_done(f, imap_cmd_select, "a6 SELECT Sent");
	assert_non_null(strstr(out.data, "* LIST (\\Sent) \"/\" \"Sent\"\r\n"));
	buf_reset(&out);
}

static void test_cmd_select_unseen(void **state)
{
	struct fx *f = *state;
	deliver(f, 4);
	/* All unseen: the counters say so. */
	run_done(f, imap_cmd_examine, "a0 EXAMINE INBOX");
	assert_non_null(strstr(out.data, "* OK [UNSEEN 1] First unseen\r\n"));
	buf_reset(&out);
	/* Unseen: 2 and 4 -- not a tail run, found by the forward scan. */
	set_flags_mb(f, 1, STORE_F_SEEN);
	set_flags_mb(f, 3, STORE_F_SEEN);
	run_done(f, imap_cmd_select, "a1 SELECT INBOX");
	assert_non_null(strstr(out.data, "* OK [UNSEEN 2] First unseen\r\n"));
	buf_reset(&out);
	/* All seen: no UNSEEN at all. */
	set_flags_mb(f, 2, STORE_F_SEEN);
	set_flags_mb(f, 4, STORE_F_SEEN);
	run_done(f, imap_cmd_select, "a2 SELECT INBOX");
	assert_null(strstr(out.data, "UNSEEN"));
	assert_non_null(strstr(out.data, "* 0 RECENT\r\n"));
	buf_reset(&out);
	/* 1,500 more, all seen but the last three, and one early one gone:
	 * the tail run is found from the end (past the forward scan's
	 * reach), with no UID array loaded. */
	enum { N = 1500 };
	struct store_mailbox mb;
	assert_int_equal(store_mailbox_get(f->st, f->u.id, "INBOX", &mb), STORE_OK);
	struct store_append_msg *am = calloc(N, sizeof(*am));
	uint32_t *u = calloc(N, sizeof(*u));
	assert_non_null(am);
	assert_non_null(u);
	for (size_t i = 0; i < N; i++)
		am[i] = (struct store_append_msg){ .data = "Subject: t\r\n\r\nx\r\n", .len = 18 };
	assert_int_equal(store_append(f->st, mb.id, am, N, u, NULL), STORE_OK);
	struct store_flag_change ch = { .op = STORE_FLAGS_ADD, .flags = STORE_F_SEEN };
	struct store_flag_result *res = calloc(N, sizeof(*res));
	assert_non_null(res);
	assert_int_equal(store_msgs_flags(f->st, mb.id, u, N - 3, &ch, res), STORE_OK);
	expunge_uid_mb(f, mb.id, u[10]);
	run_done(f, imap_cmd_select, "a3 SELECT INBOX");
	assert_null(f->s.view->snap);
	/* 4 + 1,500 - 1 messages; the last three unseen. */
	assert_non_null(strstr(out.data, "* 1503 EXISTS\r\n"));
	assert_non_null(strstr(out.data, "* OK [UNSEEN 1501] First unseen\r\n"));
	buf_reset(&out);
	free(am);
	free(u);
	free(res);
}

static void test_cmd_expunge(void **state)
{
	struct fx *f = *state;
	deliver(f, 5);
	run_done(f, imap_cmd_select, "a1 SELECT INBOX");
	buf_reset(&out);
	/* Nothing deleted: nothing to wait for. */
	run_done(f, imap_cmd_expunge, "a2 EXPUNGE");
	out_is("a2 OK EXPUNGE completed\r\n");
	set_flags_mb(f, 2, STORE_F_DELETED);
	set_flags_mb(f, 4, STORE_F_DELETED);
	set_flags_mb(f, 5, STORE_F_DELETED);
	run_done(f, imap_cmd_noop_sync, "a3 NOOP");
	buf_reset(&out);
	/* RFC 4315: only the \Deleted ones of the set. */
	{
		struct run r;
		r.cmd.uid = true;
		assert_int_equal(run(f, &r, imap_cmd_expunge, "a4 UID EXPUNGE 1:4"), IMAP_CMD_WAIT);
		r.cmd.durable_ok = true;
		assert_int_equal(imap_cmd_expunge(&r.cmd), IMAP_CMD_DONE);
		run_free(&r);
	}
	out_is("* 4 EXPUNGE\r\n* 2 EXPUNGE\r\n* 3 RECENT\r\na4 OK EXPUNGE completed\r\n");
	assert_int_equal(f->s.view->count, 3);
	run_durable(f, imap_cmd_expunge, "a5 EXPUNGE");
	out_is("* 3 EXPUNGE\r\n* 2 RECENT\r\na5 OK EXPUNGE completed\r\n");
	run_done(f, imap_cmd_expunge, "a6 EXPUNGE extra");
	out_is("a6 BAD EXPUNGE takes no arguments\r\n");
	/* A failed flush is a NO. */
	set_flags_mb(f, 1, STORE_F_DELETED);
	{
		struct run r;
		assert_int_equal(run(f, &r, imap_cmd_expunge, "a7 EXPUNGE"), IMAP_CMD_WAIT);
		r.cmd.durable_ok = false;
		assert_int_equal(imap_cmd_expunge(&r.cmd), IMAP_CMD_DONE);
		run_free(&r);
	}
	out_is("a7 NO [UNAVAILABLE] EXPUNGE could not be made durable, try again\r\n");
	/* Read-only. */
	run_done(f, imap_cmd_examine, "a8 EXAMINE INBOX");
	buf_reset(&out);
	run_done(f, imap_cmd_expunge, "a9 EXPUNGE");
	out_is("a9 NO [READ-ONLY] Mailbox is read-only\r\n");
}

static void test_cmd_close(void **state)
{
	struct fx *f = *state;
	deliver(f, 3);
	run_done(f, imap_cmd_select, "a1 SELECT INBOX");
	set_flags_mb(f, 2, STORE_F_DELETED);
	buf_reset(&out);
	/* RFC 3501 6.4.2: no untagged EXPUNGE, back to AUTH. */
	run_durable(f, imap_cmd_close, "a2 CLOSE");
	out_is("a2 OK CLOSE completed\r\n");
	assert_null(f->s.view);
	assert_int_equal(f->s.state, IMAP_S_AUTH);
	struct store_mailbox mb;
	assert_int_equal(store_mailbox_get(f->st, f->u.id, "INBOX", &mb), STORE_OK);
	assert_int_equal(mb.messages, 2);
	/* EXAMINE then CLOSE expunges nothing. */
	set_flags_mb(f, 3, STORE_F_DELETED);
	run_done(f, imap_cmd_examine, "a3 EXAMINE INBOX");
	buf_reset(&out);
	run_done(f, imap_cmd_close, "a4 CLOSE");
	out_is("a4 OK CLOSE completed\r\n");
	assert_int_equal(store_mailbox_get(f->st, f->u.id, "INBOX", &mb), STORE_OK);
	assert_int_equal(mb.messages, 2);
	/* UNSELECT never expunges. */
	run_done(f, imap_cmd_select, "a5 SELECT INBOX");
	buf_reset(&out);
	run_done(f, imap_cmd_check, "a6 CHECK");
	out_is("a6 OK CHECK completed\r\n");
	run_done(f, imap_cmd_unselect, "a7 UNSELECT");
	out_is("a7 OK UNSELECT completed\r\n");
	assert_null(f->s.view);
	assert_int_equal(f->s.state, IMAP_S_AUTH);
	assert_int_equal(store_mailbox_get(f->st, f->u.id, "INBOX", &mb), STORE_OK);
	assert_int_equal(mb.messages, 2);
}

/* Sessions on one mailbox share one UID list while they see it alike; one
 * that may not be told of expunges yet keeps its numbers on a list of its
 * own, and shares again once told; closing one leaves the others intact. */
static void test_snapshot_shared(void **state)
{
	struct fx *f = *state;
	deliver(f, 5);
	struct imap_view *a = open_inbox(f, false);
	struct imap_session s2 = { .store = f->st, .user = f->u, .state = IMAP_S_AUTH, .rev2 = true };
	struct imap_view *b = NULL;
	assert_int_equal(view_open(&s2, "INBOX", true, &b, NULL), STORE_OK);
	/* SELECT takes a's array at once: same state. */
	assert_ptr_equal(a->snap, b->snap);
	assert_ptr_equal(a->uids, b->uids);
	buf_reset(&out);

	/* Elsewhere: 2 and 4 expunged, 6 delivered.  a may hear of
	 * expunges, b is in a FETCH (RFC 9051 7.5.1: not yet). */
	expunge_uid(f, 2);
	expunge_uid(f, 4);
	deliver(f, 1);
	assert_int_equal(imap_view_sync(&f->s, true), 0);
	out_is("* 4 EXPUNGE\r\n* 2 EXPUNGE\r\n* 4 EXISTS\r\n* 4 RECENT\r\n");
	assert_int_equal(imap_view_sync(&s2, false), 0);
	out_is("* 6 EXISTS\r\n");
	assert_true(a->snap != b->snap);
	assert_int_equal(a->count, 4);
	assert_int_equal(b->count, 6);
	assert_int_equal(imap_view_seq(a, 6), 4);
	assert_int_equal(imap_view_seq(b, 6), 6);
	assert_int_equal(imap_view_seq(b, 4), 4);
	assert_true(imap_view_is_expunged(b, 4));
	resolves(b, "2,4:*", false, (uint32_t[]){ 2, 4, 5, 6 }, 4);
	resolves(a, "2,4:*", false, (uint32_t[]){ 3, 6 }, 2);

	/* Told now: b reaches a's state and takes a's list. */
	assert_int_equal(imap_view_sync(&s2, true), 0);
	out_is("* 4 EXPUNGE\r\n* 2 EXPUNGE\r\n");
	assert_ptr_equal(a->snap, b->snap);

	/* a leaves; b's list stays, and moves on without it. */
	imap_view_close(&f->s, &f->s.view);
	assert_int_equal(b->count, 4);
	assert_int_equal(b->uids[3], 6);
	deliver(f, 2);
	assert_int_equal(imap_view_sync(&s2, true), 0);
	out_is("* 6 EXISTS\r\n");
	assert_int_equal(b->uids[5], 8);

	/* A new SELECT takes that list instead of reading its own. */
	struct imap_view *c = open_inbox(f, true);
	assert_ptr_equal(c->snap, b->snap);
	assert_int_equal(c->count, 6);
	imap_view_close(&s2, &s2.view);
	assert_int_equal(c->uids[5], 8);
}

/* The cache outlives the sessions: a SELECT after every session left, with
 * changes made meanwhile, starts from the cached list and catches up. */
static void test_snapshot_cached_catch_up(void **state)
{
	struct fx *f = *state;
	deliver(f, 4);
	struct imap_view *a = open_inbox(f, true);
	imap_view_close(&f->s, &f->s.view);
	size_t entries = 0, idle = 0;
	imap_snap_cache_stats(&entries, &idle);
	assert_int_equal(entries, 1);
	assert_true(idle > 0);
	expunge_uid(f, 1);
	deliver(f, 1);
	a = open_inbox(f, true);
	assert_int_equal(a->count, 4);
	uint32_t want[] = { 2, 3, 4, 5 };
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(a->uids[i], want[i]);
	struct imap_snap *cached = imap_snap_cache_get(f->st, a->mailbox_id, a->uidvalidity);
	assert_ptr_equal(cached, a->snap);
	assert_int_equal(cached->modseq, a->modseq);
	imap_snap_release(&cached);
}

/* SELECT reads no UID: EXISTS, RECENT and new mail work from counters;
 * the array is loaded when numbers are needed, and then matches what this
 * session was told even though the store moved on meanwhile. */
static void test_lazy_load(void **state)
{
	struct fx *f = *state;
	deliver(f, 5);
	struct imap_view *v = NULL;
	assert_int_equal(view_open(&f->s, "INBOX", false, &v, &f->mb), STORE_OK);
	assert_null(v->snap);
	assert_int_equal(v->count, 5);
	assert_int_equal(v->nrecent, 5);
	buf_reset(&out);
	deliver(f, 1);
	assert_int_equal(imap_view_sync(&f->s, true), 0);
	out_is("* 6 EXISTS\r\n* 6 RECENT\r\n");
	assert_null(v->snap);
	/* Elsewhere: 2 expunged, 7 delivered; we are inside a FETCH. */
	expunge_uid(f, 2);
	deliver(f, 1);
	assert_int_equal(imap_view_uids_load(&f->s), STORE_OK);
	assert_non_null(v->snap);
	assert_int_equal(v->count, 6);
	resolves(v, "1:*", false, (uint32_t[]){ 1, 2, 3, 4, 5, 6 }, 6);
	assert_true(imap_view_is_expunged(v, 2));
	assert_int_equal(imap_view_sync(&f->s, false), 0);
	out_is("* 7 EXISTS\r\n* 7 RECENT\r\n");
	assert_int_equal(imap_view_sync(&f->s, true), 0);
	out_is("* 2 EXPUNGE\r\n* 6 RECENT\r\n");
	resolves(v, "2,*", false, (uint32_t[]){ 3, 7 }, 2);
	assert_int_equal(v->nrecent, 6);
	imap_view_close(&f->s, &f->s.view);

	/* An expunge reported to a view that never loaded: loads, numbers.
	 * (Without the cache, which would have this state's array.) */
	imap_snap_cache_clear();
	assert_int_equal(view_open(&f->s, "INBOX", true, &v, &f->mb), STORE_OK);
	assert_null(v->snap);
	expunge_uid(f, 4);
	buf_reset(&out);
	assert_int_equal(imap_view_sync(&f->s, true), 0);
	out_is("* 3 EXPUNGE\r\n");
	assert_int_equal(v->count, 5);
	/* Flag changes too carry numbers. */
	imap_view_close(&f->s, &f->s.view);
	imap_snap_cache_clear();
	assert_int_equal(view_open(&f->s, "INBOX", true, &v, &f->mb), STORE_OK);
	assert_null(v->snap);
	set_flags(f, 5, STORE_F_SEEN, 0);
	buf_reset(&out);
	assert_int_equal(imap_view_sync(&f->s, true), 0);
	out_is("* 3 FETCH (FLAGS (\\Seen) UID 5)\r\n");
}

/* ---- the list of a large mailbox read on the worker pool ---- */

static struct fx *big_fx;

static void big_append(struct fx *f, uint32_t mailbox_id, size_t n)
{
	static const char msg[] = "Subject: x\r\n\r\nbody\r\n";
	struct store_append_msg *m = calloc(n, sizeof(*m));
	uint32_t *uids = calloc(n, sizeof(*uids));
	assert_non_null(m);
	assert_non_null(uids);
	for (size_t i = 0; i < n; i++) {
		m[i].data = msg;
		m[i].len = sizeof(msg) - 1;
	}
	uint32_t v;
	assert_int_equal(store_append(f->st, mailbox_id, m, n, uids, &v), STORE_OK);
	free(m);
	free(uids);
}

static void big_expunge(struct fx *f, uint32_t lo, uint32_t hi)
{
	uint32_t uids[64];
	size_t n = 0;
	for (uint32_t u = lo; u <= hi; u++)
		uids[n++] = u;
	assert_int_equal(store_expunge(f->st, f->mb.id, uids, n, NULL), STORE_OK);
}

static void before_read(void)
{
	big_expunge(big_fx, 10, 19);
	big_append(big_fx, big_fx->mb.id, 5);
}

static void after_read(void)
{
	big_expunge(big_fx, 20, 29);
	big_append(big_fx, big_fx->mb.id, 3);
}

static void test_uids_preload(void **state)
{
	struct fx *f = *state;
	struct store_mailbox mb;
	assert_int_equal(store_mailbox_get(f->st, f->u.id, "INBOX", &mb), STORE_OK);
	for (int k = 0; k < 50; k++)
		big_append(f, mb.id, 1000);
	struct imap_view *v = NULL;
	assert_int_equal(view_open(&f->s, "INBOX", false, &v, &f->mb), STORE_OK);
	assert_int_equal(v->count, 50000);
	assert_null(v->snap);
	buf_reset(&out);

	/* Changes made elsewhere before and after the worker reads the list:
	 * the view still holds what its client was told (50,000 messages,
	 * the expunged ones until reported), and reports the rest in order. */
	big_fx = f;
	job_before = before_read;
	job_after = after_read;
	jobs_run = 0;
	struct imap_cmd cmd = {.s = &f->s};
	assert_int_equal(imap_view_uids_preload(&cmd), 0);
	job_before = job_after = NULL;
	assert_int_equal(jobs_run, 1);
	assert_non_null(v->snap);
	assert_int_equal(v->count, 50000);
	for (uint32_t i = 0; i < 50000; i++)
		assert_int_equal(v->uids[i], i + 1);
	out_is("");
	/* The command's own load finds it done. */
	assert_int_equal(imap_view_uids_load(&f->s), STORE_OK);
	assert_int_equal(imap_view_sync(&f->s, true), 0);
	struct buf want;
	buf_init(&want, 0);
	for (int i = 29; i >= 10; i--)   /* highest first: no renumbering */
		buf_printf(&want, "* %d EXPUNGE\r\n", i);
	buf_puts(&want, "* 49988 EXISTS\r\n* 49988 RECENT\r\n");
	assert_string_equal(out.data ? out.data : "", want.data);
	buf_free(&want);
	buf_reset(&out);
	assert_int_equal(v->count, 49988);
	assert_int_equal(v->uids[8], 9);
	assert_int_equal(v->uids[9], 30);
	assert_int_equal(v->uids[49987], 50008);

	/* Loaded (or cached): nothing to read again. */
	assert_int_equal(imap_view_uids_preload(&cmd), -1);
	assert_int_equal(jobs_run, 1);
}

/* A small mailbox is loaded in place by the command. */
static void test_uids_preload_small(void **state)
{
	struct fx *f = *state;
	deliver(f, 3);
	struct imap_view *v = NULL;
	assert_int_equal(view_open(&f->s, "INBOX", false, &v, &f->mb), STORE_OK);
	jobs_run = 0;
	struct imap_cmd cmd = {.s = &f->s};
	assert_int_equal(imap_view_uids_preload(&cmd), -1);
	assert_int_equal(jobs_run, 0);
	assert_null(v->snap);
}


/* RFC 3501 2.3.2: each message \Recent in exactly one session.  Two
 * sessions claim in turn, so each holds several intervals; expunges prune
 * the intervals left empty, and a session at IMAP_RECENT_RANGES_MAX claims
 * nothing more, leaving the messages to the next session. */
static void test_recent_two_sessions(void **state)
{
	struct fx *f = *state;
	struct imap_session s2 = { .store = f->st, .user = f->u, .state = IMAP_S_AUTH };
	deliver(f, 2);
	struct imap_view *a = open_inbox(f, false);          /* claims 1, 2 */
	deliver(f, 1);
	struct imap_view *b = NULL;
	assert_int_equal(view_open(&s2, "INBOX", false, &b, NULL), STORE_OK);  /* 3 */
	deliver(f, 1);                                       /* 4 */
	buf_reset(&out);
	assert_int_equal(imap_view_sync(&f->s, true), 0);
	out_is("* 4 EXISTS\r\n* 3 RECENT\r\n");
	for (uint32_t uid = 1; uid <= 4; uid++) {
		assert_int_equal(imap_view_is_recent(a, uid), uid != 3);
		assert_int_equal(imap_view_is_recent(b, uid), uid == 3);
	}
	assert_int_equal(a->recent.count, 2);
	deliver(f, 1);                                       /* 5: b is told first */
	assert_int_equal(imap_view_sync(&s2, true), 0);
	out_is("* 5 EXISTS\r\n* 2 RECENT\r\n");
	assert_int_equal(imap_view_sync(&f->s, true), 0);
	out_is("* 5 EXISTS\r\n* 3 RECENT\r\n");
	assert_false(imap_view_is_recent(a, 5));
	assert_true(imap_view_is_recent(b, 5));
	/* Expunging 1 and 2 empties a's first interval: dropped. */
	expunge_uid(f, 1);
	expunge_uid(f, 2);
	assert_int_equal(imap_view_sync(&f->s, true), 0);
	out_is("* 2 EXPUNGE\r\n* 1 EXPUNGE\r\n* 1 RECENT\r\n");
	assert_int_equal(a->nrecent, 1);
	assert_int_equal(a->recent.count, 1);
	assert_true(imap_view_is_recent(a, 4));
	/* b keeps 3 and 5 whatever a did. */
	assert_int_equal(imap_view_sync(&s2, true), 0);
	/* b's \Recent messages were not expunged: no RECENT. */
	out_is("* 2 EXPUNGE\r\n* 1 EXPUNGE\r\n");
	assert_int_equal(b->nrecent, 2);
	assert_true(imap_view_is_recent(b, 3) && imap_view_is_recent(b, 5));

	/* At the bound a session claims nothing: the next one gets them. */
	a->recent.count = a->recent.cap = 0;
	free(a->recent.r);
	a->recent.r = calloc(IMAP_RECENT_RANGES_MAX, sizeof(*a->recent.r));
	a->recent.cap = IMAP_RECENT_RANGES_MAX;
	for (uint32_t i = 0; i < IMAP_RECENT_RANGES_MAX; i++)
		a->recent.r[i] = (struct imap_recent_range){ i * 2 + 1000, i * 2 + 1001, 1 };
	a->recent.count = IMAP_RECENT_RANGES_MAX;
	deliver(f, 1);                                       /* 6 */
	assert_int_equal(imap_view_sync(&f->s, true), 0);
	assert_false(imap_view_is_recent(a, 6));
	assert_int_equal(imap_view_sync(&s2, true), 0);
	assert_true(imap_view_is_recent(b, 6));
	imap_view_close(&s2, &s2.view);
}

/* One pass of the change feed (imap_sync_cache.h): the sessions of a
 * mailbox are told what its first reader read, each as it would have been
 * alone; the \Recent claim stays the first one's; a session further behind
 * reads from its own MODSEQ; a change committed during the pass reaches
 * the sessions after it at the next pass. */
static void test_sync_pass_shares_reads(void **state)
{
	struct fx *f = *state;
	struct imap_session s2 = { .store = f->st, .user = f->u, .state = IMAP_S_AUTH };
	struct imap_session s3 = { .store = f->st, .user = f->u, .state = IMAP_S_AUTH };
	struct store_mailbox other;
	assert_int_equal(store_mailbox_create(f->st, f->u.id, "Other", 0, &other), STORE_OK);
	deliver(f, 1);
	struct imap_view *a = open_inbox(f, false);          /* claims 1 */
	struct imap_view *b = NULL, *c = NULL;
	assert_int_equal(view_open(&s2, "INBOX", false, &b, NULL), STORE_OK);
	assert_int_equal(view_open(&s3, "Other", false, &c, NULL), STORE_OK);
	deliver(f, 2);                                       /* 2, 3 */
	set_flags(f, 1, STORE_F_FLAGGED, 0);
	const char *r[] = {"u@example.org"};
	int res = 0;
	struct store_delivery d = {.recipients = r, .nrecipients = 1, .mailbox = "Other",
				   .data = "Subject: o\r\n\r\no\r\n", .len = 17};
	assert_int_equal(store_deliver(f->st, &d, &res, NULL), STORE_OK);
	buf_reset(&out);

	struct imap_sync_cache cache;
	imap_sync_cache_begin(&cache);
	assert_int_equal(imap_view_sync(&f->s, true), 0);
	out_is("* 3 EXISTS\r\n* 3 RECENT\r\n* 1 FETCH (FLAGS (\\Flagged \\Recent) UID 1)\r\n");
	assert_int_equal(imap_view_sync(&s3, true), 0);
	out_is("* 1 EXISTS\r\n* 1 RECENT\r\n");
	deliver(f, 1);                                       /* 4, during the pass */
	assert_int_equal(imap_view_sync(&s2, true), 0);
	out_is("* 3 EXISTS\r\n* 0 RECENT\r\n* 1 FETCH (FLAGS (\\Flagged) UID 1)\r\n");
	imap_sync_cache_end(&cache);
	for (uint32_t uid = 1; uid <= 3; uid++) {
		assert_true(imap_view_is_recent(a, uid));
		assert_false(imap_view_is_recent(b, uid));
	}
	assert_int_equal(b->count, 3);

	/* 4 reaches a alone; then 2 goes.  In the next pass b, behind a,
	 * reads from its own MODSEQ: 4 and the expunge of 2. */
	assert_int_equal(imap_view_sync(&f->s, true), 0);
	out_is("* 4 EXISTS\r\n* 4 RECENT\r\n");
	expunge_uid(f, 2);
	imap_sync_cache_begin(&cache);
	assert_int_equal(imap_view_sync(&f->s, true), 0);
	out_is("* 2 EXPUNGE\r\n* 3 RECENT\r\n");
	assert_int_equal(imap_view_sync(&s2, true), 0);
	out_is("* 2 EXPUNGE\r\n* 3 EXISTS\r\n* 0 RECENT\r\n");
	imap_sync_cache_end(&cache);
	assert_int_equal(b->count, 3);
	assert_false(imap_view_is_recent(b, 4));
	imap_view_close(&s2, &s2.view);
	imap_view_close(&s3, &s3.view);
}

/* RFC 3501 7.2.6 / RFC 9051 7.3.5: a keyword another session interned is
 * announced with FLAGS before any FETCH response of this session names it:
 * after our own STORE (absorb reads the table: imaptest's stress run saw
 * "Keyword used without being in FLAGS" when another session interned one
 * between our sync and our STORE), and before writing a message whose
 * keywords the table read so far does not cover. */
static void test_keywords_announced_first(void **state)
{
	struct fx *f = *state;
	deliver(f, 2);
	struct imap_view *v = open_inbox(f, false);
	imap_view_flags_announce(&f->s);
	buf_reset(&out);
	/* Another session, between our sync and our STORE. */
	const char *nm[] = { "$Label3" };
	uint64_t om = 0;
	assert_int_equal(store_keywords_intern(f->st, f->mb.id, nm, 1, &om, NULL), STORE_OK);
	set_flags(f, 2, 0, om);
	/* Our STORE 1 +FLAGS (\Seen) on a message that has $Label3 too. */
	struct store_flag_result res = set_flags(f, 1, STORE_F_SEEN, om);
	assert_int_equal(imap_view_absorb(&f->s, &res, 1), STORE_OK);
	out_is("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label3)\r\n"
	       "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label3 \\*)] "
	       "Flags permitted\r\n");
	assert_int_equal(imap_view_keywords_cover(&f->s, om), STORE_OK);
	out_is("");
	/* Another session interns Work and sets it on message 1; a FETCH of
	 * it comes before any sync. */
	const char *nm2[] = { "Work" };
	uint64_t om2 = 0;
	assert_int_equal(store_keywords_intern(f->st, f->mb.id, nm2, 1, &om2, NULL), STORE_OK);
	set_flags(f, 1, 0, om2);
	struct store_msg m;
	assert_int_equal(store_msg_get(f->st, f->mb.id, 1, &m), STORE_OK);
	assert_int_equal(imap_view_keywords_cover(&f->s, m.keywords), STORE_OK);
	out_is("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label3 Work)\r\n"
	       "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label3 Work \\*)] "
	       "Flags permitted\r\n");
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(imap_view_flags_write(v, &b, &m), 0);
	assert_string_equal(b.data, "(\\Seen \\Recent $Label3 Work)");
	buf_free(&b);
	/* The sync reports the other session's changes, announcing nothing again. */
	assert_int_equal(imap_view_sync(&f->s, false), 0);
	out_is("* 1 FETCH (FLAGS (\\Seen \\Recent $Label3 Work) UID 1)\r\n"
	       "* 2 FETCH (FLAGS (\\Recent $Label3) UID 2)\r\n");
}

/* ---- the \Recent claim when the store is busy (imap_claim.h) ---- */

/* The claim meets a writer's lock: the sync does not wait for it, a
 * worker claims, and the new messages are told only then, \Recent. */
static void test_claim_busy(void **state)
{
	struct fx *f = *state;
	deliver(f, 1);
	struct imap_view *v = open_inbox(f, false);
	buf_reset(&out);
	deliver(f, 2);
	struct store_hold h;   /* the mailbox record, as a delivery holds it */
	assert_int_equal(store_hold_start(&h, f->st, v->mailbox_id, NULL), 0);
	assert_int_equal(imap_view_sync(&f->s, true), 0);
	out_is("");                       /* held back, not waited for */
	assert_non_null(pool_job);
	assert_int_equal(v->count, 1);
	assert_int_equal(imap_view_sync(&f->s, true), 0);   /* one claim at a time */
	out_is("");
	assert_int_equal(store_hold_end(&h), STORE_OK);
	claim_run_job();
	assert_int_equal(notified, 1);    /* the session hears of them */
	assert_int_equal(imap_view_sync(&f->s, true), 0);
	out_is("* 3 EXISTS\r\n* 3 RECENT\r\n");
	assert_true(imap_view_is_recent(v, 2));
	assert_true(imap_view_is_recent(v, 3));
	/* Claimed by this session: another finds nothing unclaimed. */
	struct store_mailbox mb;
	assert_int_equal(store_mailbox_get_by_id(f->st, v->mailbox_id, &mb), STORE_OK);
	assert_int_equal(mb.recent, 0);
	assert_int_equal(mb.first_recent_uid, 4);
	/* Not busy: claimed in place, told at once. */
	deliver(f, 1);
	assert_int_equal(imap_view_sync(&f->s, true), 0);
	out_is("* 4 EXISTS\r\n* 4 RECENT\r\n");
	assert_null(pool_job);
}

/* Expunges pending beside new messages whose claim runs on a worker, in a
 * view without its UID array: nothing moves until the claim returns, then
 * the numbers change in one piece. */
static void test_claim_busy_with_expunge(void **state)
{
	struct fx *f = *state;
	deliver(f, 2);
	struct imap_view *v = NULL;
	assert_int_equal(view_open(&f->s, "INBOX", false, &v, &f->mb), STORE_OK);
	assert_null(v->snap);
	buf_reset(&out);
	expunge_uid(f, 1);
	deliver(f, 2);
	struct store_hold h;   /* the mailbox record, as a delivery holds it */
	assert_int_equal(store_hold_start(&h, f->st, v->mailbox_id, NULL), 0);
	assert_int_equal(imap_view_sync(&f->s, true), 0);
	out_is("");
	assert_int_equal(v->count, 2);
	assert_int_equal(v->npending_expunge, 1);
	assert_int_equal(store_hold_end(&h), STORE_OK);
	deliver(f, 1);   /* while the claim is out: it covers this one too */
	claim_run_job();
	assert_int_equal(imap_view_sync(&f->s, true), 0);
	out_is("* 1 EXPUNGE\r\n* 4 EXISTS\r\n* 4 RECENT\r\n");
	assert_int_equal(v->count, 4);
	assert_int_equal(imap_view_uids_load(&f->s), STORE_OK);
	const uint32_t want[] = {2, 3, 4, 5};
	assert_memory_equal(v->uids, want, sizeof(want));
}

/* The view goes while its claim runs: the claim's return touches nothing
 * of it. */
static void test_claim_busy_view_gone(void **state)
{
	struct fx *f = *state;
	struct imap_view *v = open_inbox(f, false);
	deliver(f, 1);
	struct store_hold h;   /* the mailbox record, as a delivery holds it */
	assert_int_equal(store_hold_start(&h, f->st, v->mailbox_id, NULL), 0);
	assert_int_equal(imap_view_sync(&f->s, true), 0);
	assert_non_null(pool_job);
	imap_view_close(&f->s, &f->s.view);
	assert_int_equal(store_hold_end(&h), STORE_OK);
	claim_run_job();
	assert_int_equal(notified, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_recent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claim_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claim_busy_view_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claim_busy_with_expunge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recent_two_sessions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uids_preload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uids_preload_small, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolve_seq, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolve_uid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolve_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_new_and_expunge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_flags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_new_with_flags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keywords, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keywords_announced_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mailbox_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cmd_select, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cmd_select_unseen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cmd_expunge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cmd_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_shared, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_pass_shares_reads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lazy_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_cached_catch_up, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
