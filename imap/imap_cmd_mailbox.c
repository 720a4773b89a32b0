/* imap/imap_cmd_mailbox.c: CREATE (with USE, RFC 6154 3), DELETE, RENAME,
 * SUBSCRIBE and UNSUBSCRIBE (RFC 3501 6.3.3-6.3.7, RFC 9051 6.3.4-6.3.8).
 *
 * Names arrive through imap_mailbox_arg() (INBOX folded, modified UTF-7
 * decoded, a trailing "/" dropped) and are checked here for what the store
 * cannot know: wildcards and empty hierarchy levels.  Each command does its
 * store call, then waits for the log flush before the OK (DESIGN.md: every
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

/* ---- DELETE and RENAME off the loop ----
 * DELETE removes every message of the mailbox in its transaction, and a
 * RENAME of INBOX moves its messages: MBOX_POOL_MIN messages or more are
 * done by a worker from the start; otherwise the transaction runs in place
 * without waiting for another transaction's lock (store_thread_nowait)
 * and goes to a worker when the store is locked (issue 11 point 1).  The
 * name lookups before (the selected-mailbox check) and RENAME's parents
 * after are small reads and writes still made on the loop. */
#define MBOX_POOL_MIN 4096

enum mbox_op { MBOX_DELETE, MBOX_RENAME };

struct mbox_job {
	struct imap_job job;         /* first */
	struct store *store;
	uint32_t user_id;
	enum mbox_op op;
	char *name, *to;             /* owned */
	uint64_t origin;             /* NOTIFY: the session's own change (RFC 5465 5) */
	int rc;
};

/* What the command keeps once the work is done (cmd->ctx). */
struct mbox_result {
	int rc;
	char *to;                    /* RENAME's new name, for its parents */
};

static void mbox_result_free(void *p)
{
	struct mbox_result *r = p;
	if (r)
		free(r->to);
	free(r);
}

static void mbox_job_do(struct mbox_job *j)
{
	/* The list feed runs on this thread: it must know whose change this
	 * is, as on the session's loop. */
	uint64_t was = imap_notify_origin_get();
	imap_notify_origin_set(j->origin);
	if (j->op == MBOX_DELETE)
		j->rc = store_mailbox_delete(j->store, j->user_id, j->name);
	else
		j->rc = store_mailbox_rename(j->store, j->user_id, j->name, j->to, IMAP_HIER_SEP);
	imap_notify_origin_set(was);
}

static void mbox_job_free(struct mbox_job *j)
{
	free(j->name);
	free(j->to);
	free(j);
}

static void mbox_job_run(struct imap_job *job)
{
	mbox_job_do((struct mbox_job *)job);
}

static void mbox_job_finish(struct imap_job *job, bool ran)
{
	struct mbox_job *j = (struct mbox_job *)job;
	struct mbox_result *r = job->cmd->ctx;
	r->rc = ran ? j->rc : STORE_ERR_TEMP;   /* not run: nothing changed */
	mbox_job_free(j);
}

static void mbox_job_discard(struct imap_job *job)
{
	mbox_job_free((struct mbox_job *)job);
}

/* Starts op on name (and to); the result goes to cmd->ctx (a struct
 * mbox_result).  IMAP_CMD_WAIT when a worker does it (the handler runs
 * again at stage 2), IMAP_CMD_AGAIN when done here, DONE when answered. */
static enum imap_cmd_rc mbox_start(struct imap_cmd *cmd, enum mbox_op op, const char *name,
				   const char *to, uint32_t messages)
{
	struct imap_session *s = cmd->s;
	struct mbox_result *r = calloc(1, sizeof(*r));
	struct mbox_job *j = calloc(1, sizeof(*j));
	char *n = strdup(name), *t = to ? strdup(to) : NULL, *rt = to ? strdup(to) : NULL;
	if (!r || !j || !n || (to && (!t || !rt))) {
		free(r);
		free(j);
		free(n);
		free(t);
		free(rt);
		imap_cmd_no(cmd, "[SERVERBUG] Out of memory");
		return IMAP_CMD_DONE;
	}
	r->to = rt;
	cmd->ctx = r;
	cmd->ctx_free = mbox_result_free;
	cmd->stage = 2;
	j->job.run = mbox_job_run;
	j->job.finish = mbox_job_finish;
	j->job.discard = mbox_job_discard;
	j->store = s->store;
	j->user_id = s->user.id;
	j->op = op;
	j->name = n;
	j->to = t;
	j->origin = imap_notify_origin_get();
	if (messages >= MBOX_POOL_MIN && imap_cmd_job_submit(cmd, &j->job) == 0)
		return IMAP_CMD_WAIT;
	bool was = store_thread_nowait(true);
	mbox_job_do(j);
	store_thread_nowait(was);
	if (j->rc == STORE_ERR_BUSY) {
		conn_log(s->c, PLOG_DEBUG, "store busy: %s done by a worker",
			 op == MBOX_DELETE ? "DELETE" : "RENAME");
		if (imap_cmd_job_submit(cmd, &j->job) == 0)
			return IMAP_CMD_WAIT;
		mbox_job_do(j);   /* a full pool: wait here */
	}
	r->rc = j->rc;
	mbox_job_free(j);
	return IMAP_CMD_AGAIN;
}

/* Stage 1: called again after imap_cmd_wait_durable(). */
static enum imap_cmd_rc finish(struct imap_cmd *cmd, const char *what)
{
	if (!cmd->durable_ok) {
		imap_cmd_not_durable(cmd, what);
		return IMAP_CMD_DONE;
	}
	imap_cmd_ok(cmd, "%s completed", what);
	return IMAP_CMD_DONE;
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

/* RFC 3501 6.3.3: "the server SHOULD create any superior hierarchical
 * names that are needed for the CREATE command to be successfully
 * completed", so that LIST shows the new mailbox under real parents.
 * Parents that exist are left alone. */
static int create_parents(struct imap_session *s, const char *name, size_t len)
{
	struct buf parent;
	buf_init(&parent, 0);
	int rc = STORE_OK;
	for (size_t i = 1; i < len && rc == STORE_OK; i++) {
		if (name[i] != IMAP_HIER_SEP)
			continue;
		buf_reset(&parent);
		if (buf_append(&parent, name, i) < 0) {
			rc = STORE_ERR_TEMP;
			break;
		}
		struct store_mailbox mb;
		rc = store_mailbox_get(s->store, s->user.id, parent.data, &mb);
		if (rc == STORE_ERR_NOTFOUND) {
			rc = store_mailbox_create(s->store, s->user.id, parent.data, STORE_SU_NONE, &mb);
			if (rc == STORE_ERR_EXISTS)
				rc = STORE_OK;   /* created meanwhile by another session */
		}
	}
	buf_free(&parent);
	return rc;
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
	if (cmd->stage == 1) {
		/* RFC 8474 4.1: MAILBOXID in every successful CREATE's OK. */
		if (!cmd->durable_ok)
			return finish(cmd, "CREATE");
		imap_cmd_ok(cmd, "[MAILBOXID (%s)] CREATE completed", (const char *)cmd->ctx);
		return IMAP_CMD_DONE;
	}
	struct imap_session *s = cmd->s;
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
	if (arg_name(cmd, 0, &name, true) < 0)
		goto out;
	if (strcmp(name.data, "INBOX") == 0) {
		/* RFC 3501 6.3.3: creating INBOX is an error; it always exists. */
		imap_cmd_no(cmd, "[ALREADYEXISTS] INBOX always exists");
		goto out;
	}
	struct store_mailbox mb;
	int rc = store_mailbox_get(s->store, s->user.id, name.data, &mb);
	if (rc == STORE_OK) {
		imap_cmd_no(cmd, "[ALREADYEXISTS] Mailbox already exists");
		goto out;
	}
	if (rc == STORE_ERR_NOTFOUND)
		rc = create_parents(s, name.data, name.len);
	if (rc == STORE_OK)
		/* RFC 6154 3 lets a use be held by several mailboxes; moving
		 * it would change another mailbox behind its clients' backs. */
		rc = store_mailbox_create(s->store, s->user.id, name.data, special_use, &mb);
	if (rc != STORE_OK) {
		imap_cmd_store_error(cmd, rc, "CREATE");
		goto out;
	}
	buf_free(&name);
	char *id = malloc(IMAP_OBJECTID_MAX);
	if (!id) {
		imap_cmd_no(cmd, "[SERVERBUG] Out of memory");
		return IMAP_CMD_DONE;
	}
	imap_objectid_mailbox(id, mb.id, mb.uidvalidity);
	cmd->ctx = id;
	cmd->ctx_free = free;
	cmd->stage = 1;
	return imap_cmd_wait_durable(cmd);
out:
	buf_free(&name);
	return IMAP_CMD_DONE;
}

static enum imap_cmd_rc delete_done(struct imap_cmd *cmd)
{
	if (cmd->job)
		return IMAP_CMD_WAIT;   /* not done yet (a stray resume) */
	const struct mbox_result *r = cmd->ctx;
	if (r->rc != STORE_OK) {
		imap_cmd_store_error(cmd, r->rc, "DELETE");
		return IMAP_CMD_DONE;
	}
	cmd->stage = 1;
	return imap_cmd_wait_durable(cmd);
}

enum imap_cmd_rc imap_cmd_delete(struct imap_cmd *cmd)
{
	if (cmd->stage == 1)
		return finish(cmd, "DELETE");
	if (cmd->stage == 2)
		return delete_done(cmd);
	struct imap_session *s = cmd->s;
	if (cmd->pc->nargs != 1) {
		imap_cmd_bad(cmd, "DELETE takes one mailbox name");
		return IMAP_CMD_DONE;
	}
	struct buf name;
	buf_init(&name, 0);
	if (arg_name(cmd, 0, &name, false) < 0)
		goto out;
	if (strcmp(name.data, "INBOX") == 0) {
		/* RFC 3501 6.3.4: it is an error to attempt to delete INBOX. */
		imap_cmd_no(cmd, "[CANNOT] INBOX cannot be deleted");
		goto out;
	}
	struct store_mailbox mb;
	int rc = store_mailbox_get(s->store, s->user.id, name.data, &mb);
	if (rc != STORE_OK) {
		imap_cmd_store_error(cmd, rc, "DELETE");
		goto out;
	}
	/* Deleting the mailbox this session has selected would leave the
	 * view pointing at nothing; RFC 3501 6.3.4 lets the server refuse,
	 * and a client can CLOSE/UNSELECT first. */
	if (s->view && s->view->mailbox_id == mb.id) {
		imap_cmd_no(cmd, "[INUSE] Mailbox is selected; UNSELECT it first");
		goto out;
	}
	/* Only this mailbox goes; its inferiors stay (RFC 9051 6.3.4). */
	enum imap_cmd_rc r = mbox_start(cmd, MBOX_DELETE, name.data, NULL, mb.messages);
	buf_free(&name);
	return r == IMAP_CMD_AGAIN ? delete_done(cmd) : r;
out:
	buf_free(&name);
	return IMAP_CMD_DONE;
}

static enum imap_cmd_rc rename_done(struct imap_cmd *cmd)
{
	if (cmd->job)
		return IMAP_CMD_WAIT;
	const struct mbox_result *r = cmd->ctx;
	int rc = r->rc;
	if (rc == STORE_OK) {
		/* RFC 3501 6.3.5: superior names of the new name are created
		 * as for CREATE; the rename itself already succeeded. */
		rc = create_parents(cmd->s, r->to, strlen(r->to));
	}
	if (rc != STORE_OK) {
		imap_cmd_store_error(cmd, rc, "RENAME");
		return IMAP_CMD_DONE;
	}
	cmd->stage = 1;
	return imap_cmd_wait_durable(cmd);
}

enum imap_cmd_rc imap_cmd_rename(struct imap_cmd *cmd)
{
	if (cmd->stage == 1)
		return finish(cmd, "RENAME");
	if (cmd->stage == 2)
		return rename_done(cmd);
	struct imap_session *s = cmd->s;
	if (cmd->pc->nargs != 2) {
		imap_cmd_bad(cmd, "RENAME takes two mailbox names");
		return IMAP_CMD_DONE;
	}
	struct buf from, to;
	buf_init(&from, 0);
	buf_init(&to, 0);
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
	/* The store renames inferiors too and moves INBOX's messages when
	 * INBOX is renamed (RFC 3501 6.3.5): only then does its cost follow
	 * the messages. */
	struct store_mailbox mb;
	uint32_t messages = strcmp(from.data, "INBOX") == 0 &&
					    store_mailbox_get(s->store, s->user.id, from.data, &mb) ==
						    STORE_OK
				    ? mb.messages
				    : 0;
	enum imap_cmd_rc r = mbox_start(cmd, MBOX_RENAME, from.data, to.data, messages);
	buf_free(&from);
	buf_free(&to);
	return r == IMAP_CMD_AGAIN ? rename_done(cmd) : r;
out:
	buf_free(&from);
	buf_free(&to);
	return IMAP_CMD_DONE;
}

/* RFC 3501 6.3.6/6.3.7: subscriptions are names; a name need not exist
 * (RFC 9051 6.3.7 keeps a subscription when its mailbox goes away). */
static enum imap_cmd_rc subscribe(struct imap_cmd *cmd, bool on)
{
	const char *what = on ? "SUBSCRIBE" : "UNSUBSCRIBE";
	if (cmd->stage == 1)
		return finish(cmd, what);
	struct imap_session *s = cmd->s;
	if (cmd->pc->nargs != 1) {
		imap_cmd_bad(cmd, "%s takes one mailbox name", what);
		return IMAP_CMD_DONE;
	}
	struct buf name;
	buf_init(&name, 0);
	if (arg_name(cmd, 0, &name, on) < 0)
		goto out;
	int rc = store_subscription_set(s->store, s->user.id, name.data, on);
	if (rc != STORE_OK) {
		imap_cmd_store_error(cmd, rc, what);
		goto out;
	}
	buf_free(&name);
	cmd->stage = 1;
	return imap_cmd_wait_durable(cmd);
out:
	buf_free(&name);
	return IMAP_CMD_DONE;
}

enum imap_cmd_rc imap_cmd_subscribe(struct imap_cmd *cmd)
{
	return subscribe(cmd, true);
}

enum imap_cmd_rc imap_cmd_unsubscribe(struct imap_cmd *cmd)
{
	return subscribe(cmd, false);
}
