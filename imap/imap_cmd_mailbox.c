/* imap/imap_cmd_mailbox.c: CREATE (with USE, RFC 6154 3), DELETE, RENAME,
 * SUBSCRIBE and UNSUBSCRIBE (RFC 3501 6.3.3-6.3.7, RFC 9051 6.3.4-6.3.8).
 *
 * Names arrive through imap_mailbox_arg() (INBOX folded, modified UTF-7
 * decoded, a trailing "/" dropped) and are checked here for what the store
 * cannot know: wildcards and empty hierarchy levels.  Each command's store
 * work (mbox_steps) runs in place or, when the store is locked, on a worker;
 * then the command waits for the log flush before the OK (DESIGN.md: every
 * mutating command is acknowledged only once durable); response codes are
 * RFC 5530's. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/conn.h"
#include "core/log.h"
#include "imap/imap_notify_set.h"
#include "imap/imap_objectid.h"
#include "imap/imap_session.h"
#include "imap/imap_view.h"
#include "storage/storage.h"

/* ---- the store's part, off the loop when it would wait ----
 * Each command's store work (the lookups, the change, the parents a CREATE
 * or RENAME needs) is a short series of steps run by mbox_steps: in place
 * without waiting for another transaction's lock (store_thread_nowait),
 * and, from the step that found the store locked, by a worker, which may
 * wait (issue 11 point 1: no lock wait on a loop).  Each step is its own
 * transaction and is done once: a step that got STORE_ERR_BUSY changed
 * nothing, and the steps before it are not made again.  A DELETE of
 * MBOX_POOL_MIN messages or more (it removes every message in its
 * transaction) or a RENAME of INBOX holding as many (it moves them) goes to
 * a worker from its change on. */
#define MBOX_POOL_MIN 4096
#define MBOX_TO_POOL 1           /* mbox_steps: the rest belongs on a worker */

enum mbox_op { MBOX_CREATE, MBOX_DELETE, MBOX_RENAME, MBOX_SUBSCRIBE, MBOX_UNSUBSCRIBE };

/* A refusal decided by a lookup, answered with its own code. */
enum mbox_refusal { MBOX_FINE, MBOX_EXISTS, MBOX_SELECTED };

struct mbox_job {
	struct imap_job job;         /* first */
	struct store *store;
	uint32_t user_id;
	enum mbox_op op;
	char *name, *to;             /* owned */
	uint32_t special_use;        /* CREATE */
	uint32_t selected_id;        /* DELETE: the session's selected mailbox, 0 none */
	uint64_t origin;             /* NOTIFY: the session's own change (RFC 5465 5) */
	bool on_worker;
	unsigned step;               /* the next step to make */
	int rc;
	enum mbox_refusal refusal;
	struct store_mailbox mb;     /* CREATE: the mailbox made */
};

/* What the command keeps once the work is done (cmd->ctx). */
struct mbox_result {
	int rc;
	enum mbox_refusal refusal;
	char objectid[IMAP_OBJECTID_MAX];   /* CREATE's MAILBOXID */
};

/* RFC 3501 6.3.3: "the server SHOULD create any superior hierarchical
 * names that are needed for the CREATE command to be successfully
 * completed", so that LIST shows the new mailbox under real parents (and
 * 6.3.5 asks the same of RENAME's new name).  Parents that exist are left
 * alone, so a second run after STORE_ERR_BUSY makes only the rest. */
static int create_parents(struct store *st, uint32_t user_id, const char *name)
{
	struct buf parent;
	buf_init(&parent, 0);
	int rc = STORE_OK;
	for (size_t i = 1; name[i] && rc == STORE_OK; i++) {
		if (name[i] != IMAP_HIER_SEP)
			continue;
		buf_reset(&parent);
		if (buf_append(&parent, name, i) < 0) {
			rc = STORE_ERR_TEMP;
			break;
		}
		struct store_mailbox mb;
		rc = store_mailbox_get(st, user_id, parent.data, &mb);
		if (rc == STORE_ERR_NOTFOUND) {
			rc = store_mailbox_create(st, user_id, parent.data, STORE_SU_NONE, &mb);
			if (rc == STORE_ERR_EXISTS)
				rc = STORE_OK;   /* created meanwhile by another session */
		}
	}
	buf_free(&parent);
	return rc;
}

/* Step j->step and those after it: STORE_OK or a store error when done
 * (j->refusal set for a refusal), STORE_ERR_BUSY or MBOX_TO_POOL when the
 * rest is a worker's (j->step is where it starts). */
static int mbox_steps(struct mbox_job *j)
{
	struct store *st = j->store;
	int rc = STORE_OK;
	for (;;) {
		switch (j->op * 4 + j->step) {
		case MBOX_CREATE * 4 + 0:
			rc = store_mailbox_get(st, j->user_id, j->name, &j->mb);
			if (rc == STORE_OK) {
				j->refusal = MBOX_EXISTS;
				return STORE_OK;
			}
			if (rc != STORE_ERR_NOTFOUND)
				return rc;
			rc = STORE_OK;
			break;
		case MBOX_CREATE * 4 + 1:
			rc = create_parents(st, j->user_id, j->name);
			break;
		case MBOX_CREATE * 4 + 2:
			/* RFC 6154 3 lets a use be held by several mailboxes;
			 * moving it would change another mailbox behind its
			 * clients' backs. */
			return store_mailbox_create(st, j->user_id, j->name, j->special_use, &j->mb);
		case MBOX_DELETE * 4 + 0:
			if ((rc = store_mailbox_get(st, j->user_id, j->name, &j->mb)) != STORE_OK)
				return rc;
			/* Deleting the mailbox this session has selected would
			 * leave the view pointing at nothing; RFC 3501 6.3.4 lets
			 * the server refuse, and a client can CLOSE first. */
			if (j->mb.id == j->selected_id) {
				j->refusal = MBOX_SELECTED;
				return STORE_OK;
			}
			if (j->mb.messages >= MBOX_POOL_MIN && !j->on_worker) {
				j->step++;
				return MBOX_TO_POOL;
			}
			break;
		case MBOX_DELETE * 4 + 1:
			/* Only this mailbox goes; its inferiors stay (RFC 9051 6.3.4). */
			return store_mailbox_delete(st, j->user_id, j->name);
		case MBOX_RENAME * 4 + 0:
			/* The store renames inferiors too and moves INBOX's
			 * messages when INBOX is renamed (RFC 3501 6.3.5): only
			 * then does its cost follow the messages. */
			if (strcmp(j->name, "INBOX") == 0) {
				rc = store_mailbox_get(st, j->user_id, j->name, &j->mb);
				if (rc == STORE_ERR_BUSY)
					return rc;
				if (rc == STORE_OK && j->mb.messages >= MBOX_POOL_MIN && !j->on_worker) {
					j->step++;
					return MBOX_TO_POOL;
				}
			}
			rc = STORE_OK;   /* the rename itself reports a missing name */
			break;
		case MBOX_RENAME * 4 + 1:
			rc = store_mailbox_rename(st, j->user_id, j->name, j->to, IMAP_HIER_SEP);
			break;
		case MBOX_RENAME * 4 + 2:
			/* The rename itself already succeeded. */
			return create_parents(st, j->user_id, j->to);
		case MBOX_SUBSCRIBE * 4 + 0:
		case MBOX_UNSUBSCRIBE * 4 + 0:
			return store_subscription_set(st, j->user_id, j->name,
						      j->op == MBOX_SUBSCRIBE);
		default:
			return STORE_ERR_TEMP;
		}
		if (rc != STORE_OK)
			return rc;
		j->step++;
	}
}

static void mbox_job_do(struct mbox_job *j)
{
	/* The list feed runs on this thread: it must know whose change this
	 * is, as on the session's loop. */
	uint64_t was = imap_notify_origin_get();
	imap_notify_origin_set(j->origin);
	j->rc = mbox_steps(j);
	imap_notify_origin_set(was);
}

static void mbox_job_free(struct mbox_job *j)
{
	free(j->name);
	free(j->to);
	free(j);
}

static void mbox_result_set(struct mbox_result *r, const struct mbox_job *j, int rc)
{
	r->rc = rc;
	r->refusal = j->refusal;
	if (rc == STORE_OK && j->op == MBOX_CREATE && j->refusal == MBOX_FINE)
		imap_objectid_mailbox(r->objectid, j->mb.id, j->mb.uidvalidity);
}

static void mbox_job_run(struct imap_job *job)
{
	mbox_job_do((struct mbox_job *)job);
}

static void mbox_job_finish(struct imap_job *job, bool ran)
{
	struct mbox_job *j = (struct mbox_job *)job;
	/* Not run (the pool stopped, which happens only after the loops
	 * have): the steps left changed nothing, though steps made in place
	 * before the hand-off stay made. */
	mbox_result_set(job->cmd->ctx, j, ran ? j->rc : STORE_ERR_TEMP);
	mbox_job_free(j);
}

static void mbox_job_discard(struct imap_job *job)
{
	mbox_job_free((struct mbox_job *)job);
}

static enum imap_cmd_rc mbox_done(struct imap_cmd *cmd);

/* Starts op on name (and to).  The result goes to cmd->ctx (a struct
 * mbox_result) and the command is answered by mbox_done, at once or, when
 * a worker makes the rest, once it has (stage 2). */
static enum imap_cmd_rc mbox_start(struct imap_cmd *cmd, enum mbox_op op, const char *name,
				   const char *to, uint32_t special_use)
{
	struct imap_session *s = cmd->s;
	struct mbox_result *r = calloc(1, sizeof(*r));
	struct mbox_job *j = calloc(1, sizeof(*j));
	char *n = strdup(name), *t = to ? strdup(to) : NULL;
	if (!r || !j || !n || (to && !t)) {
		free(r);
		free(j);
		free(n);
		free(t);
		imap_cmd_no(cmd, "[SERVERBUG] Out of memory");
		return IMAP_CMD_DONE;
	}
	cmd->ctx = r;
	cmd->ctx_free = free;
	cmd->stage = 2;
	j->job.run = mbox_job_run;
	j->job.finish = mbox_job_finish;
	j->job.discard = mbox_job_discard;
	j->store = s->store;
	j->user_id = s->user.id;
	j->op = op;
	j->name = n;
	j->to = t;
	j->special_use = special_use;
	j->selected_id = s->view ? s->view->mailbox_id : 0;
	j->origin = imap_notify_origin_get();
	bool was = store_thread_nowait(true);
	mbox_job_do(j);
	store_thread_nowait(was);
	if (j->rc == STORE_ERR_BUSY || j->rc == MBOX_TO_POOL) {
		if (j->rc == STORE_ERR_BUSY)
			conn_log(s->c, PLOG_DEBUG, "store busy: %s done by a worker",
				 cmd->def->name);
		j->on_worker = true;
		if (imap_cmd_job_submit(cmd, &j->job) == 0)
			return IMAP_CMD_WAIT;
		mbox_job_do(j);   /* a full pool: wait here */
	}
	mbox_result_set(r, j, j->rc);
	mbox_job_free(j);
	return mbox_done(cmd);
}

/* Stage 1: called again after imap_cmd_wait_durable(). */
static enum imap_cmd_rc finish(struct imap_cmd *cmd, const char *what)
{
	if (!cmd->durable_ok) {
		imap_cmd_not_durable(cmd, what);
		return IMAP_CMD_DONE;
	}
	const struct mbox_result *r = cmd->ctx;
	/* RFC 8474 4.1: MAILBOXID in every successful CREATE's OK. */
	if (r && r->objectid[0])
		imap_cmd_ok(cmd, "[MAILBOXID (%s)] %s completed", r->objectid, what);
	else
		imap_cmd_ok(cmd, "%s completed", what);
	return IMAP_CMD_DONE;
}

/* Stage 2: the store's part is done; answer, or wait for the flush. */
static enum imap_cmd_rc mbox_done(struct imap_cmd *cmd)
{
	if (cmd->job)
		return IMAP_CMD_WAIT;   /* not done yet (a stray resume) */
	const struct mbox_result *r = cmd->ctx;
	if (r->refusal == MBOX_EXISTS) {
		imap_cmd_no(cmd, "[ALREADYEXISTS] Mailbox already exists");
		return IMAP_CMD_DONE;
	}
	if (r->refusal == MBOX_SELECTED) {
		imap_cmd_no(cmd, "[INUSE] Mailbox is selected; UNSELECT it first");
		return IMAP_CMD_DONE;
	}
	if (r->rc != STORE_OK) {
		imap_cmd_store_error(cmd, r->rc, cmd->def->name);
		return IMAP_CMD_DONE;
	}
	cmd->stage = 1;
	return imap_cmd_wait_durable(cmd);
}

/* A name a mailbox may be created under: RFC 3501 6.3.3 / 6.3.5 leave the
 * choice to the server; names with the LIST wildcards could never be
 * listed by themselves, and empty levels ("a//b", "/a") have no meaning in
 * a hierarchy.  Returns NULL when fine, else the reason. */
static const char *name_invalid(const struct buf *name)
{
	if (name->len == 0)
		return "Empty mailbox name";
	if (name->len > STORE_MAILBOX_NAME_MAX)
		return "Mailbox name too long";
	if (memchr(name->data, '%', name->len) || memchr(name->data, '*', name->len))
		return "Mailbox names cannot contain % or *";
	if (name->data[0] == IMAP_HIER_SEP || name->data[name->len - 1] == IMAP_HIER_SEP)
		return "Empty hierarchy level in mailbox name";
	for (size_t i = 1; i < name->len; i++)
		if (name->data[i] == IMAP_HIER_SEP && name->data[i - 1] == IMAP_HIER_SEP)
			return "Empty hierarchy level in mailbox name";
	return NULL;
}

/* One mailbox argument, checked; -1 after the tagged reply is written. */
static int arg_name(struct imap_cmd *cmd, size_t i, struct buf *name, bool check)
{
	if (cmd->pc->nargs <= i) {
		imap_cmd_bad(cmd, "Missing mailbox name");
		return -1;
	}
	if (imap_mailbox_arg(cmd, &cmd->pc->args[i], name) < 0)
		return -1;
	if (!name->data && buf_puts(name, "") < 0) {
		imap_cmd_store_error(cmd, STORE_ERR_TEMP, cmd->def->name);
		return -1;
	}
	const char *why = check ? name_invalid(name) : NULL;
	if (!check && name->len == 0)
		why = "Empty mailbox name";
	if (why) {
		imap_cmd_no(cmd, "[CANNOT] %s", why);
		return -1;
	}
	return 0;
}

enum imap_cmd_rc imap_cmd_create(struct imap_cmd *cmd)
{
	if (cmd->stage == 1)
		return finish(cmd, "CREATE");
	if (cmd->stage == 2)
		return mbox_done(cmd);
	struct imap_create create;
	const char *error = NULL;
	if (imap_create_parse(cmd->pc->args, cmd->pc->nargs, &create, &error) < 0) {
		imap_cmd_bad(cmd, "%s", error);
		return IMAP_CMD_DONE;
	}
	/* RFC 6154 3: a use the server cannot give is a NO [USEATTR], and
	 * nothing is created.  \All and \Flagged name virtual mailboxes,
	 * which the store does not have. */
	if (create.use & (IMAP_USE_ALL | IMAP_USE_FLAGGED | IMAP_USE_OTHER)) {
		imap_cmd_no(cmd, "[USEATTR] Mailbox not created: %s is not supported",
			    create.use & IMAP_USE_ALL ? "\\All" :
			    create.use & IMAP_USE_FLAGGED ? "\\Flagged" : "that special use");
		return IMAP_CMD_DONE;
	}
	uint32_t special_use = STORE_SU_NONE;
	if (create.use & IMAP_USE_ARCHIVE)
		special_use |= STORE_SU_ARCHIVE;
	if (create.use & IMAP_USE_DRAFTS)
		special_use |= STORE_SU_DRAFTS;
	if (create.use & IMAP_USE_JUNK)
		special_use |= STORE_SU_JUNK;
	if (create.use & IMAP_USE_SENT)
		special_use |= STORE_SU_SENT;
	if (create.use & IMAP_USE_TRASH)
		special_use |= STORE_SU_TRASH;
	struct buf name;
	buf_init(&name, 0);
	enum imap_cmd_rc r = IMAP_CMD_DONE;
	if (arg_name(cmd, 0, &name, true) < 0)
		goto out;
	if (strcmp(name.data, "INBOX") == 0) {
		/* RFC 3501 6.3.3: creating INBOX is an error; it always exists. */
		imap_cmd_no(cmd, "[ALREADYEXISTS] INBOX always exists");
		goto out;
	}
	r = mbox_start(cmd, MBOX_CREATE, name.data, NULL, special_use);
out:
	buf_free(&name);
	return r;
}

enum imap_cmd_rc imap_cmd_delete(struct imap_cmd *cmd)
{
	if (cmd->stage == 1)
		return finish(cmd, "DELETE");
	if (cmd->stage == 2)
		return mbox_done(cmd);
	if (cmd->pc->nargs != 1) {
		imap_cmd_bad(cmd, "DELETE takes one mailbox name");
		return IMAP_CMD_DONE;
	}
	struct buf name;
	buf_init(&name, 0);
	enum imap_cmd_rc r = IMAP_CMD_DONE;
	if (arg_name(cmd, 0, &name, false) < 0)
		goto out;
	if (strcmp(name.data, "INBOX") == 0) {
		/* RFC 3501 6.3.4: it is an error to attempt to delete INBOX. */
		imap_cmd_no(cmd, "[CANNOT] INBOX cannot be deleted");
		goto out;
	}
	r = mbox_start(cmd, MBOX_DELETE, name.data, NULL, 0);
out:
	buf_free(&name);
	return r;
}

enum imap_cmd_rc imap_cmd_rename(struct imap_cmd *cmd)
{
	if (cmd->stage == 1)
		return finish(cmd, "RENAME");
	if (cmd->stage == 2)
		return mbox_done(cmd);
	if (cmd->pc->nargs != 2) {
		imap_cmd_bad(cmd, "RENAME takes two mailbox names");
		return IMAP_CMD_DONE;
	}
	struct buf from, to;
	buf_init(&from, 0);
	buf_init(&to, 0);
	enum imap_cmd_rc r = IMAP_CMD_DONE;
	if (arg_name(cmd, 0, &from, false) < 0 || arg_name(cmd, 1, &to, true) < 0)
		goto out;
	if (strcmp(to.data, "INBOX") == 0) {
		imap_cmd_no(cmd, "[ALREADYEXISTS] INBOX always exists");
		goto out;
	}
	if (strcmp(from.data, to.data) == 0) {
		imap_cmd_no(cmd, "[ALREADYEXISTS] Mailbox already has that name");
		goto out;
	}
	r = mbox_start(cmd, MBOX_RENAME, from.data, to.data, 0);
out:
	buf_free(&from);
	buf_free(&to);
	return r;
}

/* RFC 3501 6.3.6/6.3.7: subscriptions are names; a name need not exist
 * (RFC 9051 6.3.7 keeps a subscription when its mailbox goes away). */
static enum imap_cmd_rc subscribe(struct imap_cmd *cmd, bool on)
{
	const char *what = on ? "SUBSCRIBE" : "UNSUBSCRIBE";
	if (cmd->stage == 1)
		return finish(cmd, what);
	if (cmd->stage == 2)
		return mbox_done(cmd);
	if (cmd->pc->nargs != 1) {
		imap_cmd_bad(cmd, "%s takes one mailbox name", what);
		return IMAP_CMD_DONE;
	}
	struct buf name;
	buf_init(&name, 0);
	enum imap_cmd_rc r = IMAP_CMD_DONE;
	if (arg_name(cmd, 0, &name, on) == 0)
		r = mbox_start(cmd, on ? MBOX_SUBSCRIBE : MBOX_UNSUBSCRIBE, name.data, NULL, 0);
	buf_free(&name);
	return r;
}

enum imap_cmd_rc imap_cmd_subscribe(struct imap_cmd *cmd)
{
	return subscribe(cmd, true);
}

enum imap_cmd_rc imap_cmd_unsubscribe(struct imap_cmd *cmd)
{
	return subscribe(cmd, false);
}
