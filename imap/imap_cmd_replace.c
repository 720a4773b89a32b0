/* imap/imap_cmd_replace.c: REPLACE and UID REPLACE (RFC 8508): a message of
 * the selected mailbox is replaced by a new one, in the same mailbox or
 * another (a draft becoming the sent message).  The APPEND of the new
 * message and the expunge of the old one are one store transaction
 * (store_replace), so a failure leaves the old message in place and a
 * crash never keeps both or neither.  The replies follow RFC 8508 3.4 and
 * 4.3: an untagged OK [APPENDUID], then the EXISTS (when the target is the
 * selected mailbox) and the EXPUNGE that imap_cmd_ok()'s view sync sends,
 * then the tagged OK, only once the log flush covers the change.  The
 * store's part (new keywords' entries, then store_replace) never waits for
 * a lock on the loop: when one is held, a worker makes it
 * (imap_store_call.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/buf.h"
#include "core/config.h"
#include "imap/imap_append.h"
#include "imap/imap_session.h"
#include "imap/imap_store_call.h"
#include "imap/imap_view.h"
#include "storage/storage.h"

/* Stage 1, after the flush: ctx holds the APPENDUID code. */
static enum imap_cmd_rc replace_finish(struct imap_cmd *cmd)
{
	struct buf *code = cmd->ctx;
	if (!cmd->durable_ok) {
		imap_cmd_not_durable(cmd, "REPLACE");
		return IMAP_CMD_DONE;
	}
	/* RFC 8508 4.3: APPENDUID in an untagged OK, since the EXPUNGE
	 * must come before the tagged response. */
	if (code && code->len)
		imap_untagged(cmd->s, "OK %sReplacement Message ID", code->data);
	imap_cmd_ok(cmd, "%s completed", cmd->uid ? "UID REPLACE" : "REPLACE");
	return IMAP_CMD_DONE;
}

static void code_free(void *p)
{
	struct buf *b = p;
	buf_free(b);
	free(b);
}

/* The UID of the message named, or 0 after the tagged reply. */
static uint32_t replace_target(struct imap_cmd *cmd, const struct imap_replace *r)
{
	struct imap_session *s = cmd->s;
	struct imap_view *v = s->view;
	int rc = imap_view_uids_load(s);
	if (rc != STORE_OK) {
		imap_cmd_store_error(cmd, rc, "REPLACE");
		return 0;
	}
	if (cmd->uid) {
		/* RFC 3501 6.4.8: a UID that is not there names no message. */
		uint32_t uid = r->star ? (v->count ? v->uids[v->count - 1] : 0) : r->number;
		if (uid == 0 || imap_view_seq(v, uid) == 0) {
			imap_cmd_no(cmd, "No message with that UID");
			return 0;
		}
		return uid;
	}
	/* RFC 3501 9: a message number beyond EXISTS is a client error. */
	uint32_t seq = r->star ? (uint32_t)v->count : r->number;
	if (seq == 0 || seq > v->count) {
		imap_cmd_bad(cmd, "Invalid message number");
		return 0;
	}
	return v->uids[seq - 1];
}

/* The store's part, and all it reads: owned here, since a worker may
 * still have it when the command goes. */
struct replace_call {
	struct imap_store_call c;    /* first */
	struct imap_replace r;       /* its names and data point into the command */
	struct buf structure, encoded, cat;
	struct store_append_msg m;
	bool keywords_late;          /* the keywords' entries are still to make */
	bool keywords_full;          /* their table is full: [LIMIT] */
	uint32_t src_mailbox, old_uid, dst_mailbox;
	uint32_t new_uid, uidvalidity;
	char dst_name[STORE_MAILBOX_NAME_MAX + 1];
};

static void replace_call_free(struct imap_store_call *c)
{
	struct replace_call *x = (struct replace_call *)c;
	imap_replace_clear(&x->r);
	buf_free(&x->structure);
	buf_free(&x->encoded);
	buf_free(&x->cat);
	free(x);
}

static int replace_call(struct imap_store_call *c)
{
	struct replace_call *x = (struct replace_call *)c;
	if (x->keywords_late) {
		int rc = imap_append_msg_keywords(c->store, x->dst_mailbox, &x->r.msg,
						  &x->m.keywords);
		if (rc == STORE_ERR_NOQUOTA)
			x->keywords_full = true;
		if (rc != STORE_OK)
			return rc;
		x->keywords_late = false;
	}
	return store_replace(c->store, x->src_mailbox, x->old_uid, x->dst_mailbox, &x->m,
			     &x->new_uid, &x->uidvalidity);
}

/* The store's part is done: the tagged NO, or the APPENDUID code kept and
 * the wait for the flush.  Frees x. */
static enum imap_cmd_rc replace_answer(struct imap_cmd *cmd, struct replace_call *x)
{
	struct imap_session *s = cmd->s;
	int rc = x->c.rc;
	enum imap_cmd_rc ret = IMAP_CMD_DONE;
	if (rc == STORE_ERR_NOTFOUND) {
		/* The message went meanwhile (or the target mailbox did);
		 * nothing was appended.  RFC 5530 3. */
		struct store_mailbox mb;
		if (store_mailbox_get(s->store, s->user.id, x->dst_name, &mb) == STORE_ERR_NOTFOUND)
			imap_cmd_no(cmd, "[TRYCREATE] Mailbox does not exist");
		else
			imap_cmd_no(cmd, "[EXPUNGEISSUED] The message to replace no longer exists");
	} else if (rc == STORE_ERR_NOQUOTA && x->keywords_full) {
		imap_cmd_no(cmd, "[LIMIT] Too many keywords in this mailbox");
	} else if (rc == STORE_ERR_NOQUOTA) {
		imap_cmd_no(cmd, "[OVERQUOTA] Mailbox is full");
	} else if (rc != STORE_OK) {
		imap_cmd_store_error(cmd, rc, "REPLACE");
	} else {
		struct buf *code = malloc(sizeof(*code));
		if (code) {
			buf_init(code, 0);
			imap_appenduid_write(code, x->uidvalidity, &x->new_uid, 1);
			cmd->ctx = code;
			cmd->ctx_free = code_free;
		}
		/* code NULL: replaced all the same; only APPENDUID is lost. */
		cmd->stage = 1;
		ret = imap_cmd_wait_durable(cmd);
	}
	replace_call_free(&x->c);
	return ret;
}

enum imap_cmd_rc imap_cmd_replace(struct imap_cmd *cmd)
{
	if (cmd->stage == 1)
		return replace_finish(cmd);
	if (cmd->stage == 2) {
		if (cmd->job)
			return IMAP_CMD_WAIT;   /* not done yet (a stray resume) */
		return replace_answer(cmd, (struct replace_call *)imap_store_call_take(cmd));
	}
	if (cmd->job)
		return IMAP_CMD_WAIT;   /* a CATENATE URL's lock wait: not done yet */
	struct imap_session *s = cmd->s;
	const char *err = NULL;
	struct buf name;
	buf_init(&name, 0);
	struct replace_call *x = calloc(1, sizeof(*x));
	if (!x) {
		imap_cmd_no(cmd, "[SERVERBUG] Out of memory");
		return IMAP_CMD_DONE;
	}
	buf_init(&x->cat, 0);
	buf_init(&x->structure, 0);
	buf_init(&x->encoded, 0);
	struct imap_replace *r = &x->r;
	if (imap_replace_parse(cmd->pc->args, cmd->pc->nargs, r, &err) < 0) {
		imap_cmd_bad(cmd, "%s", err ? err : "Invalid REPLACE arguments");
		goto out;
	}
	if (imap_mailbox_arg(cmd, &cmd->pc->args[1], &name) < 0)
		goto out;
	/* RFC 8508 3.4: the old message is expunged, which an EXAMINEd
	 * mailbox does not allow. */
	if (s->view->readonly) {
		imap_cmd_no(cmd, "[CANNOT] The mailbox is read-only");
		goto out;
	}
	uint32_t old_uid = replace_target(cmd, r);
	if (!old_uid)
		goto out;
	size_t limit = s->cfg->imap_max_message_size;
	if (limit && r->msg.len > limit) {
		/* RFC 7889 4: over APPENDLIMIT is [TOOBIG]. */
		imap_cmd_no(cmd, "[TOOBIG] Message larger than APPENDLIMIT=%zu", limit);
		goto out;
	}
	/* RFC 8508 3.4, as APPEND: a missing target is [TRYCREATE] and
	 * nothing is changed. */
	struct store_mailbox mb;
	if (imap_mailbox_get(cmd, name.data ? name.data : "", IMAP_MAILBOX_TRYCREATE, "REPLACE",
			     &mb) < 0)
		goto out;
	/* RFC 8508 5: REPLACE takes APPEND's append-message, CATENATE
	 * (RFC 4469) included. */
	int crc = r->msg.cat ? imap_catenate_build(cmd, &r->msg, 1, &x->cat) : 0;
	if (crc > 0) {
		/* stage 0 again, once a worker has waited for a URL's pages */
		replace_call_free(&x->c);
		buf_free(&name);
		return IMAP_CMD_WAIT;
	}
	if (crc < 0)
		goto out;
	if (imap_append_msg_prepare(cmd, mb.id, &r->msg, &x->m, &x->structure, &x->encoded,
				    &x->keywords_late) < 0)
		goto out;
	buf_free(&name);
	snprintf(x->dst_name, sizeof(x->dst_name), "%s", mb.name);
	x->src_mailbox = s->view->mailbox_id;
	x->old_uid = old_uid;
	x->dst_mailbox = mb.id;
	x->c.store = s->store;
	x->c.call = replace_call;
	x->c.free = replace_call_free;
	x->c.reads_command = true;
	if (imap_store_call_run(cmd, &x->c, 2) == IMAP_CMD_WAIT)
		return IMAP_CMD_WAIT;
	return replace_answer(cmd, x);
out:
	replace_call_free(&x->c);
	buf_free(&name);
	return IMAP_CMD_DONE;
}
