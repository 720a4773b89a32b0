/* imap/imap_cmd_store.c: STORE and UID STORE (RFC 3501 6.4.6, RFC 9051
 * 6.4.6) with CONDSTORE's UNCHANGEDSINCE (RFC 7162 3.1.3).
 *
 * Order (imap.md "Own STORE"): the updates this session owes are sent
 * first (imap_view_sync, no expunges), then the flags are changed in the
 * store, the view absorbs that change (so the next sync does not report it
 * again), the untagged FETCH responses are written as output drains, and
 * the tagged OK waits until the change is on disk.
 *
 * A STORE of many messages changes them on the worker pool (core/workpool.h)
 * while the session waits, so that a whole-mailbox STORE does not hold its
 * loop (issue 11 point 1); a small one runs in place, where the hand-off
 * would cost more than the work.
 *
 * \Recent cannot be stored: the flag parser refuses it (RFC 3501 2.3.2,
 * RFC 9051 2.3.2 makes it unsettable; a client sending it gets BAD). */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/conn.h"
#include "imap/imap_session.h"
#include "imap/imap_view.h"
#include "storage/storage.h"

/* From this many messages on, the store is changed on the worker pool. */
#define STORE_POOL_MIN 256
/* Below it a STORE is one store transaction, so a BUSY answer changed
 * nothing and the pool can do it all again. */
_Static_assert(STORE_POOL_MIN <= STORE_FLAGS_TXN_MAX + 1, "one transaction below STORE_POOL_MIN");

enum store_stage {
	STORE_STAGE_START,
	STORE_STAGE_WORK,     /* the worker pool is changing the flags */
	STORE_STAGE_OUTPUT,   /* writing the FETCH responses */
	STORE_STAGE_DURABLE,  /* waiting for the log flush */
};

struct store_job;

struct store_ctx {
	struct imap_store *st;
	uint32_t *uids;
	size_t n, i;
	struct store_flag_result *res;  /* with uids, the job's while it runs */
	int work_rc;
	struct buf modified;         /* RFC 7162 3.1.3 MODIFIED set */
	uint32_t run_lo, run_hi;     /* the run being collected into `modified` */
	struct buf line;
	/* A new keyword's entry could not be made on the loop (another
	 * transaction held the mailbox record): the job makes it first. */
	bool intern_late;
};

/* The store change of a large STORE, run by a worker (imap_cmd_job_submit):
 * it owns the UID and result arrays until finish gives them back. */
struct store_job {
	struct imap_job job;
	struct store *store;
	uint32_t mailbox_id;
	uint32_t *uids;
	size_t n;
	struct store_flag_change ch;
	struct store_flag_result *res;
	int rc;
	char **names;                /* keywords to intern first, or NULL */
	size_t nnames;
};

static void store_ctx_free(void *p)
{
	struct store_ctx *x = p;
	if (!x)
		return;
	imap_store_free(&x->st);
	free(x->uids);
	free(x->res);
	buf_free(&x->modified);
	buf_free(&x->line);
	free(x);
}

static void modified_flush(struct store_ctx *x)
{
	if (x->run_lo == 0)
		return;
	if (x->modified.len)
		buf_putc(&x->modified, ',');
	if (x->run_lo == x->run_hi)
		buf_printf(&x->modified, "%u", (unsigned)x->run_lo);
	else
		buf_printf(&x->modified, "%u:%u", (unsigned)x->run_lo, (unsigned)x->run_hi);
	x->run_lo = x->run_hi = 0;
}

/* Numbers arrive ascending (UIDs ascend, and so do their sequence numbers):
 * contiguous runs become ranges. */
static void modified_add(struct store_ctx *x, uint32_t n)
{
	if (x->run_lo != 0 && n == x->run_hi + 1) {
		x->run_hi = n;
		return;
	}
	modified_flush(x);
	x->run_lo = x->run_hi = n;
}

static enum imap_cmd_rc store_applied(struct imap_cmd *cmd, struct store_ctx *x);

static void store_job_run(struct imap_job *job)
{
	struct store_job *j = (struct store_job *)job;
	if (j->names) {
		j->rc = store_keywords_intern(j->store, j->mailbox_id, (const char *const *)j->names,
					      j->nnames, &j->ch.keywords, NULL);
		if (j->rc != STORE_OK)
			return;
	}
	j->rc = store_msgs_flags(j->store, j->mailbox_id, j->uids, j->n, &j->ch, j->res);
}

static void store_job_names_free(struct store_job *j)
{
	for (size_t i = 0; j->names && i < j->nnames; i++)
		free(j->names[i]);
	free(j->names);
}

static void store_job_finish(struct imap_job *job, bool ran)
{
	struct store_job *j = (struct store_job *)job;
	struct store_ctx *x = job->cmd->ctx;
	x->uids = j->uids;
	x->res = j->res;
	/* Stopped before a worker took it: the store was not changed. */
	x->work_rc = ran ? j->rc : STORE_ERR_TEMP;
	store_job_names_free(j);
	free(j);
}

static void store_job_discard(struct imap_job *job)
{
	struct store_job *j = (struct store_job *)job;
	free(j->uids);
	free(j->res);
	store_job_names_free(j);
	free(j);
}

/* 0: the pool has the job (uids and res are its own until finish); -1:
 * run it in place (pool full or stopping). */
static int store_submit(struct imap_cmd *cmd, struct store_ctx *x, const struct store_flag_change *ch)
{
	struct imap_session *s = cmd->s;
	struct store_job *j = calloc(1, sizeof(*j));
	if (!j)
		return -1;
	j->job.run = store_job_run;
	j->job.finish = store_job_finish;
	j->job.discard = store_job_discard;
	j->store = s->store;
	j->mailbox_id = s->view->mailbox_id;
	j->uids = x->uids;
	j->n = x->n;
	j->ch = *ch;
	j->res = x->res;
	if (x->intern_late) {
		/* The job's own copy: the command may go while it runs. */
		const struct imap_flags *f = &x->st->flags;
		j->names = calloc(f->nkeywords, sizeof(*j->names));
		for (size_t i = 0; j->names && i < f->nkeywords; i++, j->nnames++)
			if (!(j->names[i] = strdup(f->keywords[i].s)))
				break;
		if (!j->names || j->nnames < f->nkeywords) {
			store_job_names_free(j);
			free(j);
			return -1;
		}
	}
	if (imap_cmd_job_submit(cmd, &j->job) < 0) {
		store_job_names_free(j);
		free(j);
		return -1;
	}
	x->uids = NULL;
	x->res = NULL;
	cmd->stage = STORE_STAGE_WORK;
	return 0;
}

static enum imap_cmd_rc store_start(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	const char *err = NULL;
	struct store_ctx *x = calloc(1, sizeof(*x));
	if (!x) {
		imap_cmd_no(cmd, "[SERVERBUG] Out of memory");
		return IMAP_CMD_DONE;
	}
	cmd->ctx = x;
	cmd->ctx_free = store_ctx_free;
	buf_init(&x->modified, 0);
	buf_init(&x->line, 0);
	if (imap_store_parse(cmd->pc->args, cmd->pc->nargs, &x->st, &err) < 0) {
		imap_cmd_bad(cmd, "%s", err ? err : "Invalid STORE arguments");
		return IMAP_CMD_DONE;
	}
	int lrc = imap_view_uids_load(s);
	if (lrc != STORE_OK) {
		imap_cmd_store_error(cmd, lrc, "STORE");
		return IMAP_CMD_DONE;
	}
	if (imap_view_resolve(s->view, x->st->set, cmd->uid, &x->uids, &x->n, &err) < 0) {
		imap_cmd_bad(cmd, "%s", err ? err : "Invalid message set");
		return IMAP_CMD_DONE;
	}
	/* RFC 3501 6.3.2: EXAMINE is read-only; RFC 5530 3 READ-ONLY. */
	if (s->view->readonly) {
		imap_cmd_no(cmd, "[READ-ONLY] Mailbox is read-only");
		return IMAP_CMD_DONE;
	}
	/* RFC 7162 3.1: UNCHANGEDSINCE is a CONDSTORE-enabling command. */
	if (x->st->unchangedsince)
		imap_session_condstore_enable(s);

	struct store_flag_change ch = { 0 };
	switch (x->st->op) {
	case IMAP_STORE_SET:
		ch.op = STORE_FLAGS_SET;
		break;
	case IMAP_STORE_ADD:
		ch.op = STORE_FLAGS_ADD;
		break;
	case IMAP_STORE_REMOVE:
		ch.op = STORE_FLAGS_REMOVE;
		break;
	}
	ch.flags = imap_view_store_flags(x->st->flags.sys) & ~(uint32_t)STORE_F_RECENT;
	ch.unchangedsince = x->st->unchangedsince;
	ch.unchangedsince_modseq = x->st->unchangedsince_modseq;
	if (x->st->flags.nkeywords > 0) {
		/* A new keyword's entry is a write of the mailbox record, which
		 * every delivery to the mailbox holds until its commit: not
		 * waited for on the loop (issue 11 point 1), the job makes it
		 * (none for an empty set, which changes no message). */
		bool was = store_thread_nowait(true);
		int rc = imap_view_keywords_intern(s, &x->st->flags, &ch.keywords);
		store_thread_nowait(was);
		x->intern_late = rc == STORE_ERR_BUSY;
		if (x->intern_late) {
			conn_log(s->c, PLOG_DEBUG, "store busy: STORE's keywords entered by a worker");
			rc = STORE_OK;
		}
		if (rc != STORE_OK) {
			if (rc == STORE_ERR_NOQUOTA)
				imap_cmd_no(cmd, "[LIMIT] Too many keywords in this mailbox");
			else
				imap_cmd_store_error(cmd, rc, "STORE");
			return IMAP_CMD_DONE;
		}
	}
	/* Updates owed before ours, so that ours are the latest word. */
	if (imap_view_sync(s, false) < 0) {
		imap_cmd_no(cmd, "[NONEXISTENT] Mailbox no longer exists");
		return IMAP_CMD_DONE;
	}
	if (x->n > 0) {
		x->res = calloc(x->n, sizeof(*x->res));
		if (!x->res) {
			imap_cmd_no(cmd, "[SERVERBUG] Out of memory");
			return IMAP_CMD_DONE;
		}
		if ((x->n >= STORE_POOL_MIN || x->intern_late) && store_submit(cmd, x, &ch) == 0)
			return IMAP_CMD_WAIT;
		if (x->intern_late) {
			/* A full pool: the entry in place, waiting for the lock. */
			x->intern_late = false;
			int rc = imap_view_keywords_intern(s, &x->st->flags, &ch.keywords);
			if (rc != STORE_OK) {
				x->work_rc = rc;
				return store_applied(cmd, x);
			}
		}
		/* In place (fewer than STORE_POOL_MIN: one store transaction),
		 * a lock held by another transaction is not waited for on the
		 * loop: the change goes to the pool, which may wait and back
		 * off (issue 11 point 1).  A full pool: wait here. */
		bool was = store_thread_nowait(x->n < STORE_POOL_MIN);
		x->work_rc = store_msgs_flags(s->store, s->view->mailbox_id, x->uids, x->n, &ch,
					      x->res);
		store_thread_nowait(was);
		if (x->work_rc == STORE_ERR_BUSY) {
			conn_log(s->c, PLOG_DEBUG, "store busy: STORE changed by a worker");
			memset(x->res, 0, x->n * sizeof(*x->res));
			if (store_submit(cmd, x, &ch) == 0)
				return IMAP_CMD_WAIT;
			x->work_rc = store_msgs_flags(s->store, s->view->mailbox_id, x->uids, x->n,
						      &ch, x->res);
		}
	}
	return store_applied(cmd, x);
}

/* After the store change, in place or on the pool. */
static enum imap_cmd_rc store_applied(struct imap_cmd *cmd, struct store_ctx *x)
{
	struct imap_session *s = cmd->s;
	if (x->n > 0) {
		/* Part of a large STORE may be done (it is applied in batches)
		 * when it fails: absorb what was, report the error. */
		imap_view_absorb(s, x->res, x->n);
		if (x->work_rc == STORE_ERR_NOQUOTA && x->st->flags.nkeywords > 0) {
			/* The keywords' entries, made after all (intern_late). */
			imap_cmd_no(cmd, "[LIMIT] Too many keywords in this mailbox");
			return IMAP_CMD_DONE;
		}
		if (x->work_rc != STORE_OK) {
			imap_cmd_store_error(cmd, x->work_rc, "STORE");
			return IMAP_CMD_DONE;
		}
	}
	cmd->stage = STORE_STAGE_OUTPUT;
	return IMAP_CMD_AGAIN;
}

/* One "* n FETCH (...)" for res (or nothing).  -1 when out of memory. */
static int store_write_one(struct imap_cmd *cmd, struct store_ctx *x, size_t k)
{
	struct imap_session *s = cmd->s;
	const struct store_flag_result *r = &x->res[k];
	uint32_t seq = imap_view_seq(s->view, x->uids[k]);
	if (r->status == STORE_FLAG_MODIFIED) {
		/* RFC 7162 3.1.3: UIDs for UID STORE, numbers for STORE. */
		if (cmd->uid || seq != 0)
			modified_add(x, cmd->uid ? x->uids[k] : seq);
		return 0;
	}
	if (r->status == STORE_FLAG_GONE || seq == 0)
		return 0;   /* expunged meanwhile: its EXPUNGE will tell */
	bool silent = x->st->silent;
	/* RFC 7162 3.1.3: a conditional STORE reports the new MODSEQ even when
	 * .SILENT; so does any STORE once CONDSTORE is on (3.1.4.2), but only
	 * for messages that changed. */
	if (silent && !(s->condstore && r->status == STORE_FLAG_CHANGED))
		return 0;
	/* The message may carry keywords another session interned since
	 * our table was read: FLAGS first (RFC 9051 7.3.5). */
	if (!silent)
		(void)imap_view_keywords_cover(s, r->msg.keywords);
	struct buf *b = &x->line;
	buf_reset(b);
	int rc = buf_printf(b, "* %u FETCH (", (unsigned)seq);
	if (!silent)
		rc |= buf_puts(b, "FLAGS ") | imap_view_flags_write(s->view, b, &r->msg) |
		      ((cmd->uid || s->condstore) ? buf_putc(b, ' ') : 0);
	if (cmd->uid)
		rc |= buf_printf(b, "UID %u", (unsigned)r->msg.uid) | (s->condstore ? buf_putc(b, ' ') : 0);
	if (s->condstore)
		rc |= buf_printf(b, "MODSEQ (%llu)", (unsigned long long)r->msg.modseq);
	rc |= buf_puts(b, ")\r\n");
	if (rc != 0)
		return -1;
	imap_write_buf(s, b);
	return 0;
}

enum imap_cmd_rc imap_cmd_store(struct imap_cmd *cmd)
{
	if (cmd->stage == STORE_STAGE_START) {
		if (store_start(cmd) == IMAP_CMD_DONE)
			return IMAP_CMD_DONE;
	}
	struct store_ctx *x = cmd->ctx;
	if (cmd->stage == STORE_STAGE_WORK) {
		if (cmd->job)
			return IMAP_CMD_WAIT;   /* not done yet (a stray resume) */
		enum imap_cmd_rc rc = store_applied(cmd, x);
		if (rc == IMAP_CMD_DONE)
			return rc;
	}
	if (cmd->stage == STORE_STAGE_OUTPUT) {
		for (; x->i < x->n; x->i++) {
			if (imap_cmd_yield_due(cmd->s))
				return IMAP_CMD_AGAIN;
			if (store_write_one(cmd, x, x->i) < 0) {
				imap_cmd_no(cmd, "[SERVERBUG] Out of memory");
				return IMAP_CMD_DONE;
			}
		}
		modified_flush(x);
		cmd->stage = STORE_STAGE_DURABLE;
		/* Nothing changed: nothing to wait for either. */
		bool changed = false;
		for (size_t k = 0; k < x->n && !changed; k++)
			changed = x->res[k].status == STORE_FLAG_CHANGED;
		if (changed)
			return imap_cmd_wait_durable(cmd);
		cmd->durable_ok = true;
	}
	if (!cmd->durable_ok) {
		imap_cmd_not_durable(cmd, cmd->uid ? "UID STORE" : "STORE");
		return IMAP_CMD_DONE;
	}
	const char *what = cmd->uid ? "UID STORE" : "STORE";
	if (x->modified.len)
		imap_cmd_ok(cmd, "[MODIFIED %s] Conditional %s failed for some messages",
			    x->modified.data, what);
	else
		imap_cmd_ok(cmd, "%s completed", what);
	return IMAP_CMD_DONE;
}
