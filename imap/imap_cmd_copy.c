/* imap/imap_cmd_copy.c: COPY and UID COPY (RFC 3501 6.4.7, RFC 9051
 * 6.4.7), MOVE and UID MOVE (RFC 6851), with COPYUID (RFC 4315 3).
 *
 * One store transaction copies (and for MOVE expunges) the whole set, so a
 * COPY either happens entirely or not at all (RFC 3501 6.4.7); the OK
 * waits for the log flush (DESIGN.md: a mail is acknowledged only once it
 * is on disk).  MOVE writes "* OK [COPYUID ...]" first; the untagged
 * EXPUNGEs of the moved messages then come from imap_view_sync() in
 * imap_cmd_ok(), before the tagged OK (RFC 6851 3.3), also for MOVE by
 * sequence number, which is the one command with sequence numbers after
 * which EXPUNGE is sent.
 *
 * A COPY or MOVE of many messages runs its store transaction on the worker
 * pool (core/workpool.h) while the session waits, so that a whole-mailbox
 * COPY does not hold its loop (issue 11 point 1). */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "imap/imap_search.h"
#include "imap/imap_qresync.h"
#include "core/conn.h"
#include "imap/imap_session.h"
#include "imap/imap_view.h"
#include "storage/storage.h"

/* From this many messages on, the copy runs on the worker pool. */
#define COPY_POOL_MIN 256

enum copy_stage {
	COPY_STAGE_START,
	COPY_STAGE_DURABLE,   /* waiting for the log flush */
	COPY_STAGE_WORK,      /* the worker pool is copying */
};

struct copy_ctx {
	struct buf code;             /* "[COPYUID v src dst] " or "" */
	uint32_t *uids, *dst_uids;   /* the job's while it runs */
	size_t n;
	uint32_t uidvalidity;
	int work_rc;
};

/* The store transaction of a large COPY/MOVE, run by a worker
 * (imap_cmd_job_submit): it owns the two UID arrays until finish gives
 * them back. */
struct copy_job {
	struct imap_job job;
	struct store *store;
	uint32_t src, dst;
	bool move;
	uint32_t *uids, *dst_uids;
	size_t n;
	uint32_t uidvalidity;
	int rc;
};

static void copy_ctx_free(void *p)
{
	struct copy_ctx *x = p;
	if (!x)
		return;
	free(x->uids);
	free(x->dst_uids);
	buf_free(&x->code);
	free(x);
}

static void copy_job_run(struct imap_job *job)
{
	struct copy_job *j = (struct copy_job *)job;
	j->rc = store_msgs_copy(j->store, j->src, j->uids, j->n, j->dst, j->move, j->dst_uids,
				&j->uidvalidity);
}

static void copy_job_finish(struct imap_job *job, bool ran)
{
	struct copy_job *j = (struct copy_job *)job;
	struct copy_ctx *x = job->cmd->ctx;
	x->uids = j->uids;
	x->dst_uids = j->dst_uids;
	x->uidvalidity = j->uidvalidity;
	/* Stopped before a worker took it: nothing was copied. */
	x->work_rc = ran ? j->rc : STORE_ERR_TEMP;
	free(j);
}

static void copy_job_discard(struct imap_job *job)
{
	struct copy_job *j = (struct copy_job *)job;
	free(j->uids);
	free(j->dst_uids);
	free(j);
}

/* 0: the pool has the copy; -1: run it in place (pool full or stopping). */
static int copy_submit(struct imap_cmd *cmd, struct copy_ctx *x, uint32_t dst, bool move)
{
	struct imap_session *s = cmd->s;
	struct copy_job *j = calloc(1, sizeof(*j));
	if (!j)
		return -1;
	j->job.run = copy_job_run;
	j->job.finish = copy_job_finish;
	j->job.discard = copy_job_discard;
	j->store = s->store;
	j->src = s->view->mailbox_id;
	j->dst = dst;
	j->move = move;
	j->uids = x->uids;
	j->dst_uids = x->dst_uids;
	j->n = x->n;
	if (imap_cmd_job_submit(cmd, &j->job) < 0) {
		free(j);
		return -1;
	}
	x->uids = x->dst_uids = NULL;
	cmd->stage = COPY_STAGE_WORK;
	return 0;
}

/* RFC 4315 3: COPYUID uidvalidity source-set destination-set, the two sets
 * in corresponding order, written compactly.  Only messages that were
 * copied (dst_uids[i] != 0) are named.  Returns how many were. */
static size_t copyuid_write(struct buf *out, uint32_t uidvalidity, uint32_t *src,
			    uint32_t *dst, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (dst[i] == 0)
			continue;
		src[k] = src[i];
		dst[k] = dst[i];
		k++;
	}
	if (k == 0)
		return 0;
	int rc = buf_printf(out, "[COPYUID %u ", (unsigned)uidvalidity);
	rc |= imap_search_set_write(out, src, k);
	rc |= buf_putc(out, ' ');
	rc |= imap_search_set_write(out, dst, k);
	rc |= buf_puts(out, "] ");
	if (rc)
		buf_reset(out);   /* the copy happened; only the code is lost */
	return k;
}

static enum imap_cmd_rc copy_finish(struct imap_cmd *cmd, bool move)
{
	struct imap_session *s = cmd->s;
	struct copy_ctx *x = cmd->ctx;
	if (!cmd->durable_ok) {
		imap_cmd_not_durable(cmd, move ? "MOVE" : "COPY");
		return IMAP_CMD_DONE;
	}
	const char *code = x && x->code.len ? x->code.data : "";
	if (!move) {
		imap_cmd_ok(cmd, "%sCOPY completed", code);
		return IMAP_CMD_DONE;
	}
	/* RFC 6851 3.3: COPYUID in an untagged OK, then the EXPUNGEs, then
	 * the tagged OK.  resp-text is ["[" resp-text-code "]" SP] text
	 * (RFC 9051 9): the code is never the whole of it. */
	if (*code)
		imap_untagged(s, "OK %sMoved", code);
	cmd->allow_expunge = true;
	imap_qresync_ok_expunged(cmd, "MOVE completed");
	return IMAP_CMD_DONE;
}

/* After the store transaction, in place or on the pool. */
static enum imap_cmd_rc copy_applied(struct imap_cmd *cmd, bool move)
{
	struct copy_ctx *x = cmd->ctx;
	if (x->work_rc != STORE_OK) {
		imap_cmd_store_error(cmd, x->work_rc, move ? "MOVE" : "COPY");
		return IMAP_CMD_DONE;
	}
	if (copyuid_write(&x->code, x->uidvalidity, x->uids, x->dst_uids, x->n) == 0) {
		/* Every message was expunged by someone else meanwhile
		 * (RFC 5530 3 EXPUNGEISSUED); nothing was changed. */
		imap_cmd_no(cmd, "[EXPUNGEISSUED] The messages no longer exist");
		return IMAP_CMD_DONE;
	}
	cmd->stage = COPY_STAGE_DURABLE;
	return imap_cmd_wait_durable(cmd);
}

static enum imap_cmd_rc copy_run(struct imap_cmd *cmd, bool move)
{
	if (cmd->stage == COPY_STAGE_DURABLE)
		return copy_finish(cmd, move);
	if (cmd->stage == COPY_STAGE_WORK) {
		if (cmd->job)
			return IMAP_CMD_WAIT;   /* not done yet (a stray resume) */
		return copy_applied(cmd, move);
	}

	struct imap_session *s = cmd->s;
	struct imap_view *v = s->view;
	struct imap_seqset *set = NULL;
	struct imap_string mailbox;
	const char *err = NULL;
	if (imap_copy_parse(cmd->pc->args, cmd->pc->nargs, &set, &mailbox, &err) < 0) {
		imap_cmd_bad(cmd, "%s", err ? err : "Invalid arguments");
		return IMAP_CMD_DONE;
	}
	struct buf name;
	buf_init(&name, 0);
	if (imap_mailbox_arg(cmd, &cmd->pc->args[1], &name) < 0) {
		imap_seqset_free(&set);
		buf_free(&name);
		return IMAP_CMD_DONE;
	}
	uint32_t *uids = NULL, *dst_uids = NULL;
	size_t n = 0;
	int rc = imap_view_uids_load(s);
	if (rc != STORE_OK) {
		imap_seqset_free(&set);
		imap_cmd_store_error(cmd, rc, cmd->uid ? "UID COPY" : "COPY");
		goto out;
	}
	rc = imap_view_resolve(v, set, cmd->uid, &uids, &n, &err);
	imap_seqset_free(&set);
	if (rc < 0) {
		imap_cmd_bad(cmd, "%s", err ? err : "Invalid sequence set");
		goto out;
	}
	/* MOVE expunges from the source (RFC 6851 3.1): not in EXAMINE. */
	if (move && v->readonly) {
		imap_cmd_no(cmd, "[CANNOT] The mailbox is read-only");
		goto out;
	}
	struct store_mailbox dst;
	if (imap_mailbox_get(cmd, name.data ? name.data : "", IMAP_MAILBOX_TRYCREATE,
			     move ? "MOVE" : "COPY", &dst) < 0)
		goto out;
	if (n == 0) {
		/* RFC 3501 6.4.8: UIDs that do not exist are not an error;
		 * nothing to copy, and no COPYUID for nothing. */
		imap_cmd_ok(cmd, "%s completed, no messages", move ? "MOVE" : "COPY");
		goto out;
	}
	struct copy_ctx *x = calloc(1, sizeof(*x));
	dst_uids = calloc(n, sizeof(*dst_uids));
	if (!x || !dst_uids) {
		free(x);
		imap_cmd_store_error(cmd, STORE_ERR_TEMP, move ? "MOVE" : "COPY");
		goto out;
	}
	cmd->ctx = x;
	cmd->ctx_free = copy_ctx_free;
	x->uids = uids;
	x->dst_uids = dst_uids;
	x->n = n;
	buf_free(&name);
	if (n >= COPY_POOL_MIN && copy_submit(cmd, x, dst.id, move) == 0)
		return IMAP_CMD_WAIT;
	/* In place (one store transaction), a lock held by another
	 * transaction is not waited for on the loop: the copy goes to the
	 * pool, which may wait and back off (issue 11 point 1).  A full
	 * pool: wait here. */
	bool was = store_thread_nowait(true);
	x->work_rc = store_msgs_copy(s->store, v->mailbox_id, x->uids, n, dst.id, move,
				     x->dst_uids, &x->uidvalidity);
	store_thread_nowait(was);
	if (x->work_rc == STORE_ERR_BUSY) {
		conn_log(s->c, PLOG_DEBUG, "store busy: %s done by a worker", move ? "MOVE" : "COPY");
		if (copy_submit(cmd, x, dst.id, move) == 0)
			return IMAP_CMD_WAIT;
		x->work_rc = store_msgs_copy(s->store, v->mailbox_id, x->uids, n, dst.id, move,
					     x->dst_uids, &x->uidvalidity);
	}
	return copy_applied(cmd, move);
out:
	free(uids);
	free(dst_uids);
	buf_free(&name);
	return IMAP_CMD_DONE;
}

enum imap_cmd_rc imap_cmd_copy(struct imap_cmd *cmd)
{
	return copy_run(cmd, false);
}

enum imap_cmd_rc imap_cmd_move(struct imap_cmd *cmd)
{
	return copy_run(cmd, true);
}
