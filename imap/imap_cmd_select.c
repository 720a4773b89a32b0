/* imap/imap_cmd_select.c: SELECT and EXAMINE (RFC 3501 6.3.1/6.3.2, RFC
 * 9051 6.3.2/6.3.3, CONDSTORE RFC 7162 3.1.8, QRESYNC 3.2.5 with
 * imap_qresync.c), CLOSE (RFC 3501 6.4.2),
 * UNSELECT (RFC 3691), CHECK (RFC 3501 6.4.1), EXPUNGE (RFC 3501 6.4.3)
 * and UID EXPUNGE (RFC 4315 2.1): entering and leaving the selected state.
 *
 * SELECT costs the same for 10 or 1,000,000 messages: counters come from
 * the mailbox record and the UID array is loaded only when a command needs
 * sequence numbers (imap_view.h).  The only per-message work is rev1's OK
 * [UNSEEN n], which is found by reading at most 2 * SELECT_UNSEEN_SCAN
 * message records and omitted otherwise
 * (RFC 9051 dropped UNSEEN; RFC 3501 7.1 says a client without it makes no
 * assumption about the first unseen message). */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/conn.h"
#include "core/log.h"
#include "imap/imap_objectid.h"
#include "imap/imap_qresync.h"
#include "imap/imap_session.h"
#include "imap/imap_view.h"
#include "storage/storage.h"

/* Message records SELECT reads at most, twice, to find UNSEEN. */
#define SELECT_UNSEEN_SCAN 1000

struct unseen_scan {
	uint32_t first;       /* first unseen UID found, 0 if none */
	uint32_t seen;        /* \Seen messages met */
	size_t visited;
	size_t limit;         /* unseen_first_cb: stop after so many (0: none) */
};

static int unseen_cb(void *arg, const struct store_msg *m)
{
	struct unseen_scan *u = arg;
	u->visited++;
	if (!(m->flags & STORE_F_SEEN)) {
		if (!u->first)
			u->first = m->uid;
		return 0;
	}
	u->seen++;
	return 0;
}

static int unseen_first_cb(void *arg, const struct store_msg *m)
{
	struct unseen_scan *u = arg;
	u->visited++;
	if (!(m->flags & STORE_F_SEEN)) {
		u->first = m->uid;
		return 1;    /* stop */
	}
	return u->limit && u->visited >= u->limit ? 1 : 0;
}

/* The sequence number of the first unseen message, 0 when unknown or none.
 * Just selected, the view is the store's messages up to uid_hi, in order,
 * so no UID array is needed.  Usually the unseen messages are the newest:
 * when the last `unseen` are all unseen, the first of them is the answer.
 * Otherwise look at the first SELECT_UNSEEN_SCAN messages: the n-th met is
 * sequence n. */
static uint32_t select_first_unseen(struct imap_session *s, const struct store_mailbox *mbox)
{
	const struct imap_view *v = s->view;
	if (mbox->unseen == 0 || v->count == 0)
		return 0;
	/* The counters come from the same record as the view: all unseen. */
	if (mbox->unseen == v->count)
		return 1;
	if (mbox->unseen <= SELECT_UNSEEN_SCAN && mbox->unseen <= v->count) {
		uint32_t *tail = malloc(mbox->unseen * sizeof(*tail));
		size_t nt = 0;
		if (tail && store_msg_uids_last(s->store, v->mailbox_id, v->uid_hi, mbox->unseen, tail,
						&nt) == STORE_OK && nt == mbox->unseen) {
			struct unseen_scan u = { 0 };
			if (store_msg_list_range(s->store, v->mailbox_id, tail[0], v->uid_hi, unseen_cb,
						 &u) == STORE_OK &&
			    u.seen == 0 && u.first && u.visited == mbox->unseen) {
				free(tail);
				return (uint32_t)(v->count - mbox->unseen + 1);
			}
		}
		free(tail);
	}
	struct unseen_scan u = { .limit = SELECT_UNSEEN_SCAN };
	int rc = store_msg_list_range(s->store, v->mailbox_id, 1, v->uid_hi, unseen_first_cb, &u);
	if ((rc == STORE_OK || rc == 1) && u.first && u.visited <= v->count)
		return (uint32_t)u.visited;
	return 0;
}

static void select_list_write(struct imap_session *s, const struct store_mailbox *mbox)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} su[] = {
		{ STORE_SU_SENT, "\\Sent" },       { STORE_SU_DRAFTS, "\\Drafts" },
		{ STORE_SU_TRASH, "\\Trash" },     { STORE_SU_JUNK, "\\Junk" },
		{ STORE_SU_ARCHIVE, "\\Archive" }, { STORE_SU_ALL, "\\All" },
		{ STORE_SU_FLAGGED, "\\Flagged" },
	};
	struct buf b;
	buf_init(&b, 0);
	int rc = buf_puts(&b, "* LIST (");
	bool first = true;
	for (size_t i = 0; i < sizeof(su) / sizeof(su[0]); i++) {
		if (!(mbox->special_use & su[i].bit))
			continue;
		rc |= first ? 0 : buf_putc(&b, ' ');
		rc |= buf_puts(&b, su[i].name);
		first = false;
	}
	rc |= buf_printf(&b, ") \"%c\" ", IMAP_HIER_SEP);
	rc |= imap_mailbox_write(s, &b, mbox->name);
	rc |= buf_puts(&b, "\r\n");
	if (rc == 0)
		imap_write_buf(s, &b);
	buf_free(&b);
}

/* ---- SELECT's store part off the loop ----
 * The mailbox record, the \Recent claim and the keyword table are read (and
 * the claim written) in place without waiting for a lock
 * (store_thread_nowait); from the step that found the store locked a
 * worker makes the rest, which may wait (issue 11 point 1), and the
 * command goes on at SELECT_LOADED. */
#define SELECT_LOADED 3

struct select_job {
	struct imap_job job;          /* first */
	struct imap_view_load load;
	int rc;
};

/* What the command keeps (cmd->ctx) while the worker loads. */
struct select_wait {
	struct imap_select *sel;
	struct imap_view_load load;
	bool loaded;                  /* load is the worker's, to free */
	int rc;
};

static void select_wait_free(void *p)
{
	struct select_wait *w = p;
	if (!w)
		return;
	imap_select_free(&w->sel);
	if (w->loaded)
		imap_view_load_free(&w->load);
	free(w);
}

static void select_job_run(struct imap_job *job)
{
	struct select_job *j = (struct select_job *)job;
	/* A client gone before the \Recent claim: no claim, or its messages
	 * would be \Recent in no session (RFC 3501 2.3.2). */
	if (atomic_load(&job->gone) && j->load.step <= 1) {
		j->rc = STORE_ERR_TEMP;
		return;
	}
	j->rc = imap_view_load_steps(&j->load);
}

static void select_job_finish(struct imap_job *job, bool ran)
{
	struct select_job *j = (struct select_job *)job;
	struct select_wait *w = job->cmd->ctx;
	w->load = j->load;            /* its name and keywords are the command's now */
	w->loaded = true;
	w->rc = ran ? j->rc : STORE_ERR_TEMP;
	free(j);
}

static void select_job_discard(struct imap_job *job)
{
	struct select_job *j = (struct select_job *)job;
	imap_view_load_free(&j->load);
	free(j);
}

/* The loaded mailbox selected and answered (the view takes what it needs
 * from load; the caller frees load and sel, which QRESYNC does not keep). */
static enum imap_cmd_rc select_answer(struct imap_cmd *cmd, struct imap_select *sel,
				      struct imap_view_load *load, int rc)
{
	struct imap_session *s = cmd->s;
	bool readonly = load->readonly;
	struct imap_view *v = NULL;
	struct store_mailbox mbox;
	if (rc == STORE_OK)
		rc = imap_view_open_loaded(s, load, &v, &mbox);
	if (rc != STORE_OK) {
		if (rc == STORE_ERR_NOTFOUND)
			imap_cmd_no(cmd, "[NONEXISTENT] Mailbox does not exist");
		else
			imap_cmd_store_error(cmd, rc, readonly ? "EXAMINE" : "SELECT");
		return IMAP_CMD_DONE;
	}
	s->view = v;
	s->state = IMAP_S_SELECTED;
	/* RFC 7162 3.1.8: SELECT/EXAMINE (CONDSTORE) is an enabling command. */
	if (sel->condstore)
		s->condstore = true;

	imap_view_flags_announce(s);
	imap_untagged(s, "%zu EXISTS", v->count);
	if (!s->rev2) {
		imap_untagged(s, "%zu RECENT", v->nrecent);
		uint32_t unseen = select_first_unseen(s, &mbox);
		if (unseen)
			imap_untagged(s, "OK [UNSEEN %u] First unseen", (unsigned)unseen);
	} else {
		/* RFC 9051 6.3.2: LIST is a required response for rev2. */
		select_list_write(s, &mbox);
	}
	imap_untagged(s, "OK [UIDVALIDITY %u] UIDs valid", (unsigned)v->uidvalidity);
	imap_untagged(s, "OK [UIDNEXT %u] Predicted next UID", (unsigned)v->uidnext);
	/* RFC 7162 3.1.2.1: the store keeps MODSEQs for every mailbox, so
	 * HIGHESTMODSEQ always (a mod-sequence-value is at least 1). */
	imap_untagged(s, "OK [HIGHESTMODSEQ %llu] Highest",
		      (unsigned long long)(v->modseq ? v->modseq : 1));
	/* RFC 8474 4.2: MAILBOXID on every SELECT and EXAMINE. */
	char id[IMAP_OBJECTID_MAX];
	imap_objectid_mailbox(id, v->mailbox_id, v->uidvalidity);
	imap_untagged(s, "OK [MAILBOXID (%s)] Ok", id);
	/* RFC 4467 8: URLMECH "is returned in an untagged OK response in
	 * response to a RESETKEY, SELECT, or EXAMINE command": the mechanisms
	 * GENURLAUTH takes for this mailbox (imap_cmd_urlauth.c), without
	 * a RESETKEY, which would void the URLs made so far.  INTERNAL
	 * alone, with no mechanism data, so nothing in it is worth snooping. */
	imap_untagged(s, "OK [URLMECH INTERNAL] URLAUTH mechanisms");
	const char *ok = readonly ? "[READ-ONLY] EXAMINE completed" : "[READ-WRITE] SELECT completed";
	/* RFC 7162 3.2.5: with another UIDVALIDITY the client's data is of no
	 * use; the rest of the parameter is ignored. */
	if (sel->qresync && sel->uidvalidity == v->uidvalidity)
		return imap_qresync_select_start(cmd, sel, ok);
	imap_cmd_ok(cmd, "%s", ok);
	return IMAP_CMD_DONE;
}

/* SELECT_LOADED: the worker has made the rest of the load. */
static enum imap_cmd_rc select_loaded(struct imap_cmd *cmd)
{
	if (cmd->job)
		return IMAP_CMD_WAIT;   /* not done yet (a stray resume) */
	/* The command's context is QRESYNC's from here on. */
	struct select_wait *w = cmd->ctx;
	cmd->ctx = NULL;
	cmd->ctx_free = NULL;
	cmd->stage = 0;
	enum imap_cmd_rc r = select_answer(cmd, w->sel, &w->load, w->rc);
	select_wait_free(w);
	return r;
}

static enum imap_cmd_rc select_common(struct imap_cmd *cmd, bool readonly)
{
	struct imap_session *s = cmd->s;
	const char *err = NULL;
	struct imap_select *sel = NULL;
	if (imap_select_parse(cmd->pc->args, cmd->pc->nargs, &sel, &err) < 0) {
		imap_cmd_bad(cmd, "%s", err ? err : "Invalid arguments");
		return IMAP_CMD_DONE;
	}
	if (sel->qresync && !s->qresync) {
		/* RFC 7162 3.2.5: QRESYNC must be ENABLEd first. */
		imap_select_free(&sel);
		imap_cmd_bad(cmd, "[CLIENTBUG] QRESYNC is not enabled");
		return IMAP_CMD_DONE;
	}
	struct buf name;
	buf_init(&name, 0);
	if (imap_mailbox_arg(cmd, &cmd->pc->args[0], &name) < 0) {
		imap_select_free(&sel);
		buf_free(&name);
		return IMAP_CMD_DONE;
	}
	/* RFC 9051 6.3.2: SELECT first deselects; a failed SELECT leaves no
	 * mailbox selected.  Deleted messages are not expunged. */
	if (s->view) {
		imap_view_close(s, &s->view);
		s->state = IMAP_S_AUTH;
		imap_untagged(s, "OK [CLOSED] Previous mailbox closed");
	}
	struct select_job *j = calloc(1, sizeof(*j));
	int rc = j ? imap_view_load_init(&j->load, s->store, s->user.id,
					 name.data ? name.data : "", readonly)
		   : STORE_ERR_TEMP;
	buf_free(&name);
	if (rc != STORE_OK) {
		free(j);
		imap_select_free(&sel);
		imap_cmd_store_error(cmd, rc, readonly ? "EXAMINE" : "SELECT");
		return IMAP_CMD_DONE;
	}
	bool was = store_thread_nowait(true);
	rc = imap_view_load_steps(&j->load);
	store_thread_nowait(was);
	if (rc == STORE_ERR_BUSY) {
		struct select_wait *w = calloc(1, sizeof(*w));
		if (w) {
			conn_log(s->c, PLOG_DEBUG, "store busy: %s done by a worker",
				 cmd->def->name);
			w->sel = sel;
			cmd->ctx = w;
			cmd->ctx_free = select_wait_free;
			cmd->stage = SELECT_LOADED;
			j->job.run = select_job_run;
			j->job.finish = select_job_finish;
			j->job.discard = select_job_discard;
			if (imap_cmd_job_submit(cmd, &j->job) == 0)
				return IMAP_CMD_WAIT;
			w->sel = NULL;
			cmd->ctx = NULL;
			cmd->ctx_free = NULL;
			cmd->stage = 0;
			free(w);
		}
		rc = imap_view_load_steps(&j->load);   /* a full pool: wait here */
	}
	enum imap_cmd_rc r = select_answer(cmd, sel, &j->load, rc);
	imap_view_load_free(&j->load);
	free(j);
	imap_select_free(&sel);
	return r;
}

enum imap_cmd_rc imap_cmd_select(struct imap_cmd *cmd)
{
	if (cmd->stage == SELECT_LOADED)
		return select_loaded(cmd);
	if (cmd->ctx)   /* a QRESYNC answer under way */
		return imap_qresync_select_run(cmd);
	return select_common(cmd, false);
}

enum imap_cmd_rc imap_cmd_examine(struct imap_cmd *cmd)
{
	if (cmd->stage == SELECT_LOADED)
		return select_loaded(cmd);
	if (cmd->ctx)
		return imap_qresync_select_run(cmd);
	return select_common(cmd, true);
}

/* ---- expunging ----
 * The \Deleted messages are found by a scan of the message records (it
 * stops at the last one: the store counts them) and removed in one
 * transaction.  Neither waits on the loop (issue 11 point 1): a mailbox
 * of EXPUNGE_POOL_MIN messages or more is scanned by a worker, a smaller
 * one in place without waiting for a lock (store_thread_nowait), handed
 * to a worker when another transaction holds one. */
#define EXPUNGE_POOL_MIN 4096

struct expunge_work {
	struct imap_job job;             /* first: run on the pool */
	struct store *store;
	uint32_t mailbox_id;
	struct imap_seqset *set;         /* UID EXPUNGE's set (owned), or NULL: all */
	uint32_t *saved;                 /* "$" (RFC 5182): the view's, copied */
	size_t nsaved;
	uint32_t star;                   /* "*": the view's highest UID */
	int rc;
	size_t removed;
};

/* What the command keeps (cmd->ctx) once the work is done. */
struct expunge_ctx {
	int rc;
	size_t removed;
};

struct deleted_scan {
	const struct expunge_work *w;
	uint32_t want;                   /* \Deleted messages in the mailbox */
	uint32_t met;
	uint32_t *uids;
	size_t n, cap;
	bool nomem;
};

static bool uid_in_set(const struct expunge_work *w, uint32_t uid)
{
	if (!w->set)
		return true;
	if (w->set->saved) {
		/* RFC 5182: "$" is the saved UIDs, ascending. */
		size_t lo = 0, hi = w->nsaved;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (w->saved[mid] < uid)
				lo = mid + 1;
			else
				hi = mid;
		}
		return lo < w->nsaved && w->saved[lo] == uid;
	}
	return imap_seqset_contains(w->set, uid, w->star);
}

static int deleted_cb(void *arg, const struct store_msg *m)
{
	struct deleted_scan *d = arg;
	if (!(m->flags & STORE_F_DELETED))
		return 0;
	d->met++;
	if (uid_in_set(d->w, m->uid)) {
		if (d->n == d->cap) {
			size_t nc = d->cap ? d->cap * 2 : 256;
			uint32_t *p = nc < SIZE_MAX / sizeof(*p) ? realloc(d->uids, nc * sizeof(*p)) : NULL;
			if (!p) {
				d->nomem = true;
				return 1;
			}
			d->uids = p;
			d->cap = nc;
		}
		d->uids[d->n++] = m->uid;
	}
	/* The counter says how many there are: stop at the last one. */
	return d->met >= d->want ? 1 : 0;
}

/* Expunges the \Deleted messages (of w->set when given), on any thread:
 * w->rc, and w->removed how many went. */
static void expunge_work_do(struct expunge_work *w)
{
	w->removed = 0;
	struct store_mailbox mbox;
	int rc = store_mailbox_get_by_id(w->store, w->mailbox_id, &mbox);
	if (rc == STORE_OK && mbox.deleted > 0) {
		struct deleted_scan d = {.w = w, .want = mbox.deleted};
		rc = store_msg_list(w->store, w->mailbox_id, deleted_cb, &d);
		if (rc == 1)
			rc = STORE_OK;
		if (d.nomem)
			rc = STORE_ERR_TEMP;
		if (rc == STORE_OK && d.n)
			rc = store_expunge_deleted(w->store, w->mailbox_id, d.uids, d.n,
						   &w->removed);
		free(d.uids);
	}
	w->rc = rc;
}

static void expunge_work_free(struct expunge_work *w)
{
	imap_seqset_free(&w->set);
	free(w->saved);
	free(w);
}

static void expunge_job_run(struct imap_job *j)
{
	expunge_work_do((struct expunge_work *)j);
}

static void expunge_job_finish(struct imap_job *j, bool ran)
{
	struct expunge_work *w = (struct expunge_work *)j;
	struct expunge_ctx *x = j->cmd->ctx;
	/* Stopped before a worker took it: nothing was changed. */
	x->rc = ran ? w->rc : STORE_ERR_TEMP;
	x->removed = ran ? w->removed : 0;
	expunge_work_free(w);
}

static void expunge_job_discard(struct imap_job *j)
{
	expunge_work_free((struct expunge_work *)j);
}

enum cmd_stage { STAGE_START, STAGE_WORK, STAGE_DURABLE };

/* Starts the expunge of the selected mailbox's \Deleted messages (of
 * set, which it takes, when given); the view is not needed after this.
 * IMAP_CMD_WAIT when a worker does it (the handler runs again at
 * STAGE_WORK), else IMAP_CMD_AGAIN with cmd->ctx's result ready; DONE
 * when answered (out of memory). */
static enum imap_cmd_rc expunge_start(struct imap_cmd *cmd, struct imap_seqset *set)
{
	struct imap_session *s = cmd->s;
	struct imap_view *v = s->view;
	struct expunge_ctx *x = calloc(1, sizeof(*x));
	struct expunge_work *w = calloc(1, sizeof(*w));
	if (!x || !w) {
		free(x);
		free(w);
		imap_seqset_free(&set);
		imap_cmd_no(cmd, "[SERVERBUG] Out of memory");
		return IMAP_CMD_DONE;
	}
	cmd->ctx = x;
	cmd->ctx_free = free;
	cmd->stage = STAGE_WORK;
	w->job.run = expunge_job_run;
	w->job.finish = expunge_job_finish;
	w->job.discard = expunge_job_discard;
	w->store = s->store;
	w->mailbox_id = v->mailbox_id;
	w->set = set;
	if (set) {
		/* "*" of a UID EXPUNGE set is the view's highest UID. */
		int rc = imap_view_uids_load(s);
		if (rc == STORE_OK && set->saved && v->nsaved) {
			w->saved = malloc(v->nsaved * sizeof(*w->saved));
			if (w->saved) {
				memcpy(w->saved, v->saved, v->nsaved * sizeof(*w->saved));
				w->nsaved = v->nsaved;
			} else {
				rc = STORE_ERR_TEMP;
			}
		}
		if (rc != STORE_OK) {
			x->rc = rc;
			expunge_work_free(w);
			return IMAP_CMD_AGAIN;
		}
		w->star = v->count ? v->uids[v->count - 1] : 0;
	}
	if (v->count >= EXPUNGE_POOL_MIN && imap_cmd_job_submit(cmd, &w->job) == 0)
		return IMAP_CMD_WAIT;
	bool was = store_thread_nowait(true);
	expunge_work_do(w);
	store_thread_nowait(was);
	if (w->rc == STORE_ERR_BUSY) {
		conn_log(s->c, PLOG_DEBUG, "store busy: EXPUNGE done by a worker");
		if (imap_cmd_job_submit(cmd, &w->job) == 0)
			return IMAP_CMD_WAIT;
		expunge_work_do(w);   /* the pool is full: wait here */
	}
	x->rc = w->rc;
	x->removed = w->removed;
	expunge_work_free(w);
	return IMAP_CMD_AGAIN;
}

enum imap_cmd_rc imap_cmd_expunge(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	if (cmd->stage == STAGE_DURABLE) {
		if (!cmd->durable_ok)
			imap_cmd_not_durable(cmd, "EXPUNGE");
		else
			imap_qresync_ok_expunged(cmd, "EXPUNGE completed");
		return IMAP_CMD_DONE;
	}
	if (cmd->stage == STAGE_START) {
		struct imap_seqset *set = NULL;
		const char *err = NULL;
		if (cmd->uid) {
			/* RFC 4315 2.1: UID EXPUNGE sequence-set. */
			if (cmd->pc->nargs != 1 ||
			    imap_arg_seqset(&cmd->pc->args[0], IMAP_SEQ_ALLOW_SAVED, &set, &err) < 0) {
				imap_cmd_bad(cmd, "%s", err ? err : "UID EXPUNGE needs a UID set");
				return IMAP_CMD_DONE;
			}
		} else if (cmd->pc->nargs != 0) {
			imap_cmd_bad(cmd, "EXPUNGE takes no arguments");
			return IMAP_CMD_DONE;
		}
		if (s->view->readonly) {
			imap_seqset_free(&set);
			imap_cmd_no(cmd, "[READ-ONLY] Mailbox is read-only");
			return IMAP_CMD_DONE;
		}
		enum imap_cmd_rc r = expunge_start(cmd, set);
		if (r != IMAP_CMD_AGAIN)
			return r;
	}
	if (cmd->job)
		return IMAP_CMD_WAIT;   /* not done yet (a stray resume) */
	const struct expunge_ctx *x = cmd->ctx;
	if (x->rc != STORE_OK) {
		imap_cmd_store_error(cmd, x->rc, "EXPUNGE");
		return IMAP_CMD_DONE;
	}
	/* The untagged EXPUNGEs come from the view's sync in imap_cmd_ok. */
	if (x->removed == 0) {
		imap_cmd_ok(cmd, "EXPUNGE completed");
		return IMAP_CMD_DONE;
	}
	cmd->stage = STAGE_DURABLE;
	return imap_cmd_wait_durable(cmd);
}

/* ---- leaving the selected state ---- */

static void view_leave(struct imap_session *s)
{
	imap_view_close(s, &s->view);
	s->state = IMAP_S_AUTH;
}

enum imap_cmd_rc imap_cmd_close(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	if (cmd->stage == STAGE_DURABLE) {
		if (!cmd->durable_ok)
			imap_cmd_not_durable(cmd, "CLOSE");
		else
			imap_cmd_ok(cmd, "CLOSE completed");
		return IMAP_CMD_DONE;
	}
	if (cmd->stage == STAGE_START) {
		if (cmd->pc->nargs != 0) {
			imap_cmd_bad(cmd, "CLOSE takes no arguments");
			return IMAP_CMD_DONE;
		}
		/* RFC 3501 6.4.2: \Deleted messages go silently, without
		 * untagged EXPUNGE, and only when the mailbox was selected
		 * read-write.  The state changes even if the expunge fails
		 * (RFC 9051 6.4.1), and at once: the expunge needs no view. */
		if (s->view->readonly) {
			view_leave(s);
			imap_cmd_ok(cmd, "CLOSE completed");
			return IMAP_CMD_DONE;
		}
		enum imap_cmd_rc r = expunge_start(cmd, NULL);
		if (s->state == IMAP_S_SELECTED)
			view_leave(s);
		if (r != IMAP_CMD_AGAIN)
			return r;
	}
	if (cmd->job)
		return IMAP_CMD_WAIT;
	const struct expunge_ctx *x = cmd->ctx;
	if (x->rc != STORE_OK) {
		imap_cmd_store_error(cmd, x->rc, "CLOSE");
		return IMAP_CMD_DONE;
	}
	if (x->removed == 0) {
		imap_cmd_ok(cmd, "CLOSE completed");
		return IMAP_CMD_DONE;
	}
	cmd->stage = STAGE_DURABLE;
	return imap_cmd_wait_durable(cmd);
}

enum imap_cmd_rc imap_cmd_unselect(struct imap_cmd *cmd)
{
	if (cmd->pc->nargs != 0) {
		imap_cmd_bad(cmd, "UNSELECT takes no arguments");
		return IMAP_CMD_DONE;
	}
	/* RFC 3691 2: like CLOSE, without the expunge. */
	view_leave(cmd->s);
	imap_cmd_ok(cmd, "UNSELECT completed");
	return IMAP_CMD_DONE;
}

enum imap_cmd_rc imap_cmd_check(struct imap_cmd *cmd)
{
	if (cmd->pc->nargs != 0) {
		imap_cmd_bad(cmd, "CHECK takes no arguments");
		return IMAP_CMD_DONE;
	}
	/* RFC 3501 6.4.1: every change is committed as it is made, so a
	 * checkpoint has nothing to do; the updates come with the OK. */
	imap_cmd_ok(cmd, "CHECK completed");
	return IMAP_CMD_DONE;
}
