/* imap/imap_cmd_append.c: APPEND (RFC 3501 6.3.11, RFC 9051 6.3.12) with
 * MULTIAPPEND (RFC 3502), APPENDUID (RFC 4315 3), APPENDLIMIT (RFC 7889)
 * and literal8 message data (RFC 3516 4.4).
 *
 * The parser has read every literal already; this file checks sizes,
 * interns keywords in the target mailbox's table (usually not the
 * selected mailbox), computes each message's MIME structure once (stored
 * beside the content, core/mime.h) and adds all messages in one store
 * transaction, so a MULTIAPPEND is all or nothing (RFC 3502 3).  A message
 * sent with NUL octets (literal8) is stored with those parts base64-encoded
 * (mime_binary_encode, RFC 3516 4.3), so that BODY[] never carries a NUL
 * (RFC 9051 6.4.5) while BINARY[] still gives the octets sent.  The OK
 * waits for the log flush.  When the target is the selected mailbox the
 * EXISTS comes from imap_cmd_ok()'s view sync. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/conn.h"
#include "core/log.h"
#include "core/mime.h"
#include "imap/imap_append.h"
#include "imap/imap_session.h"
#include "storage/storage.h"

struct append_ctx {
	struct buf code;             /* "[APPENDUID v uids] " */
};

static void append_ctx_free(void *p)
{
	struct append_ctx *x = p;
	if (!x)
		return;
	buf_free(&x->code);
	free(x);
}

static uint32_t store_flags(unsigned sys)
{
	uint32_t f = 0;
	if (sys & IMAP_FLAG_SEEN)
		f |= STORE_F_SEEN;
	if (sys & IMAP_FLAG_ANSWERED)
		f |= STORE_F_ANSWERED;
	if (sys & IMAP_FLAG_FLAGGED)
		f |= STORE_F_FLAGGED;
	if (sys & IMAP_FLAG_DELETED)
		f |= STORE_F_DELETED;
	if (sys & IMAP_FLAG_DRAFT)
		f |= STORE_F_DRAFT;
	return f;
}

/* RFC 4315 3: "APPENDUID uidvalidity uid-set"; one transaction gives
 * ascending UIDs, written as ranges. */
int imap_appenduid_write(struct buf *out, uint32_t uidvalidity, const uint32_t *uids, size_t n)
{
	int rc = buf_printf(out, "[APPENDUID %" PRIu32 " ", uidvalidity);
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j + 1 < n && uids[j + 1] == uids[j] + 1)
			j++;
		rc |= buf_printf(out, "%s%" PRIu32, i ? "," : "", uids[i]);
		if (j > i)
			rc |= buf_printf(out, ":%" PRIu32, uids[j]);
		i = j + 1;
	}
	rc |= buf_puts(out, "] ");
	if (rc)
		buf_reset(out);
	return rc;
}

int imap_append_msg_keywords(struct store *st, uint32_t mailbox_id,
			     const struct imap_append_msg *am, uint64_t *mask_r)
{
	const char **names = calloc(am->flags.nkeywords, sizeof(*names));
	if (!names)
		return STORE_ERR_TEMP;
	for (size_t k = 0; k < am->flags.nkeywords; k++)
		names[k] = am->flags.keywords[k].s;
	int rc = store_keywords_intern(st, mailbox_id, names, am->flags.nkeywords, mask_r, NULL);
	free(names);
	return rc;
}

/* Flags, internal date and keywords of m (the part that talks to the
 * client when it fails).  0, or -1 after the tagged NO.  With late, a
 * keyword entry that would wait for another transaction's lock is not
 * made here: *late is set, and a worker makes it (issue 11 point 1). */
static int append_msg_meta(struct imap_cmd *cmd, uint32_t mailbox_id,
			   const struct imap_append_msg *am, struct store_append_msg *m, bool *late)
{
	struct imap_session *s = cmd->s;
	const char *what = cmd->def->name;
	m->data = am->data;
	m->len = am->len;
	m->flags = store_flags(am->flags.sys);
	m->internaldate = am->has_date ? (int64_t)am->date : 0;
	if (am->flags.nkeywords) {
		bool was = store_thread_nowait(late != NULL);
		int rc = imap_append_msg_keywords(s->store, mailbox_id, am, &m->keywords);
		store_thread_nowait(was);
		if (rc == STORE_ERR_BUSY && late) {
			conn_log(s->c, PLOG_DEBUG, "store busy: APPEND's keywords entered by a worker");
			*late = true;
			return 0;
		}
		if (rc == STORE_ERR_NOQUOTA) {
			imap_cmd_no(cmd, "[LIMIT] Too many keywords in this mailbox");
			return -1;
		}
		if (rc != STORE_OK) {
			imap_cmd_store_error(cmd, rc, what);
			return -1;
		}
	}
	return 0;
}

/* The content of m, on any thread: the NUL-free form of a binary message
 * (into encoded) and its MIME structure (into structure).  0,
 * MIME_ERR_BINARY, or -1 (out of memory). */
static int append_msg_content(const struct imap_append_msg *am, struct store_append_msg *m,
			      struct buf *structure, struct buf *encoded)
{
	int brc = mime_binary_encode(am->data, am->len, encoded);
	if (brc == MIME_ERR_BINARY)
		return MIME_ERR_BINARY;
	if (brc < 0)
		return -1;
	if (brc == 1) {
		m->data = encoded->data;
		m->len = encoded->len;
	}
	/* Out of memory only loses the stored structure: FETCH computes it
	 * later. */
	if (mime_structure_build(m->data, m->len, structure) == 0) {
		m->structure = structure->data;
		m->structure_len = structure->len;
	}
	return 0;
}

/* The tagged NO for append_msg_content's error. */
static void append_content_error(struct imap_cmd *cmd, int crc)
{
	if (crc == MIME_ERR_BINARY)
		/* RFC 3516 4.4: binary content that cannot be stored. */
		imap_cmd_no(cmd, "[UNKNOWN-CTE] NUL octets outside an unencoded body part");
	else
		imap_cmd_store_error(cmd, STORE_ERR_TEMP, cmd->def->name);
}

int imap_append_msg_prepare(struct imap_cmd *cmd, uint32_t mailbox_id,
			    const struct imap_append_msg *am, struct store_append_msg *m,
			    struct buf *structure, struct buf *encoded, bool *late)
{
	if (append_msg_meta(cmd, mailbox_id, am, m, late) < 0)
		return -1;
	int crc = append_msg_content(am, m, structure, encoded);
	if (crc != 0) {
		append_content_error(cmd, crc);
		return -1;
	}
	return 0;
}

/* What one APPEND stores: its messages, their NUL-free forms and
 * structures, and the UIDs they get. */
struct append_set {
	struct imap_append *ap;
	struct store_append_msg *msgs;
	struct buf *structs, *encoded;
	struct buf *cats;            /* CATENATE results (imap_catenate_build) */
	uint32_t *uids;
	size_t n;
	bool keywords_late;          /* append_msg_meta left the keywords to a worker */
};

static void append_set_free(struct append_set *a)
{
	for (size_t i = 0; a->structs && a->encoded && i < a->n; i++) {
		buf_free(&a->structs[i]);
		buf_free(&a->encoded[i]);
	}
	for (size_t i = 0; a->cats && a->ap && i < a->ap->nmsgs; i++)
		buf_free(&a->cats[i]);
	free(a->cats);
	free(a->structs);
	free(a->encoded);
	free(a->msgs);
	free(a->uids);
	imap_append_free(&a->ap);
	memset(a, 0, sizeof(*a));
}

/* An APPEND of at least this many octets has its messages encoded,
 * parsed and stored by a worker (core/workpool.h) while the command
 * waits: the MIME structure of a large message and the write of its
 * content held the loop for milliseconds (issue 11 point 1). */
#define APPEND_POOL_MIN (256 * 1024)

struct append_job {
	struct imap_job job;
	struct store *store;
	uint32_t mailbox_id;
	struct append_set set;       /* its messages point into the command's literals */
	bool content_done;           /* encoded and parsed on the loop already */
	int content_rc;
	int kw_rc;                   /* the keywords' entries (keywords_late) */
	int rc;
	uint32_t uidvalidity;
};

/* Content and store, as append_store does in place. */
static void append_job_run(struct imap_job *job)
{
	struct append_job *j = (struct append_job *)job;
	struct append_set *a = &j->set;
	j->content_rc = 0;
	for (size_t i = 0; i < a->n && j->content_rc == 0 && !j->content_done; i++)
		j->content_rc = append_msg_content(&a->ap->msgs[i], &a->msgs[i], &a->structs[i],
						   &a->encoded[i]);
	j->kw_rc = STORE_OK;
	for (size_t i = 0; i < a->n && a->keywords_late && j->kw_rc == STORE_OK; i++)
		if (a->ap->msgs[i].flags.nkeywords)
			j->kw_rc = imap_append_msg_keywords(j->store, j->mailbox_id, &a->ap->msgs[i],
						       &a->msgs[i].keywords);
	if (j->content_rc == 0 && j->kw_rc == STORE_OK)
		j->rc = store_append(j->store, j->mailbox_id, a->msgs, a->n, a->uids,
				     &j->uidvalidity);
}

static enum imap_cmd_rc append_stored(struct imap_cmd *cmd, struct append_set *a, int rc,
				      uint32_t uidvalidity);

static void append_job_finish(struct imap_job *job, bool ran)
{
	struct append_job *j = (struct append_job *)job;
	struct imap_cmd *cmd = job->cmd;
	if (!ran) {
		/* The pool stopped first: nothing was stored. */
		imap_cmd_store_error(cmd, STORE_ERR_TEMP, "APPEND");
	} else if (j->content_rc != 0) {
		append_content_error(cmd, j->content_rc);
	} else if (j->kw_rc == STORE_ERR_NOQUOTA) {
		imap_cmd_no(cmd, "[LIMIT] Too many keywords in this mailbox");
	} else if (j->kw_rc != STORE_OK) {
		imap_cmd_store_error(cmd, j->kw_rc, "APPEND");
	} else {
		(void)append_stored(cmd, &j->set, j->rc, j->uidvalidity);
	}
	append_set_free(&j->set);
	free(j);
	/* The handler runs again: stored, it waits for the flush (stage 3,
	 * then 1); otherwise the command is answered already (stage 2). */
	cmd->stage = cmd->stage == 1 ? 3 : 2;
}

static void append_job_discard(struct imap_job *job)
{
	struct append_job *j = (struct append_job *)job;
	append_set_free(&j->set);
	free(j);
}

/* 0: a worker does the rest of a (content_done: the store of a) and the
 * handler returns IMAP_CMD_WAIT; a is the job's now.  -1: do it in place. */
static int append_submit(struct imap_cmd *cmd, uint32_t mailbox_id, struct append_set *a,
			 bool content_done)
{
	struct append_job *j = calloc(1, sizeof(*j));
	if (!j)
		return -1;
	j->job.run = append_job_run;
	j->job.finish = append_job_finish;
	j->job.discard = append_job_discard;
	/* The messages point into this command's literals: a command that
	 * goes away leaves them to the job. */
	j->job.keep_command = true;
	j->store = cmd->s->store;
	j->mailbox_id = mailbox_id;
	j->set = *a;
	j->content_done = content_done;
	if (imap_cmd_job_submit(cmd, &j->job) < 0) {
		free(j);   /* a full pool */
		return -1;
	}
	memset(a, 0, sizeof(*a));
	return 0;
}

/* After store_append: the APPENDUID for the OK, then the flush wait
 * (stage 1); or the tagged NO.  Frees nothing. */
static enum imap_cmd_rc append_stored(struct imap_cmd *cmd, struct append_set *a, int rc,
				      uint32_t uidvalidity)
{
	if (rc != STORE_OK) {
		if (rc == STORE_ERR_NOQUOTA)
			imap_cmd_no(cmd, "[OVERQUOTA] Mailbox is full");
		else
			imap_cmd_store_error(cmd, rc, "APPEND");
		return IMAP_CMD_DONE;
	}
	struct append_ctx *x = calloc(1, sizeof(*x));
	if (x) {
		buf_init(&x->code, 0);
		imap_appenduid_write(&x->code, uidvalidity, a->uids, a->n);
		cmd->ctx = x;
		cmd->ctx_free = append_ctx_free;
	}
	/* x NULL: appended all the same; only APPENDUID is lost. */
	cmd->stage = 1;
	return IMAP_CMD_AGAIN;
}

static enum imap_cmd_rc append_finish(struct imap_cmd *cmd)
{
	struct append_ctx *x = cmd->ctx;
	if (!cmd->durable_ok) {
		imap_cmd_not_durable(cmd, "APPEND");
		return IMAP_CMD_DONE;
	}
	imap_cmd_ok(cmd, "%sAPPEND completed", x && x->code.len ? x->code.data : "");
	return IMAP_CMD_DONE;
}

enum imap_cmd_rc imap_cmd_append(struct imap_cmd *cmd)
{
	if (cmd->stage == 1)
		return append_finish(cmd);
	if (cmd->stage == 2)
		return IMAP_CMD_DONE;   /* answered by append_job_finish */
	if (cmd->stage == 3) {
		cmd->stage = 1;         /* stored by the job: the flush next */
		return imap_cmd_wait_durable(cmd);
	}
	if (cmd->job)
		return IMAP_CMD_WAIT;   /* a CATENATE URL's lock wait: not done yet */
	struct imap_session *s = cmd->s;
	struct append_set a = {0};
	struct buf name;
	buf_init(&name, 0);
	const char *err = NULL;
	enum imap_cmd_rc ret = IMAP_CMD_DONE;
	if (imap_append_parse(cmd->pc->args, cmd->pc->nargs, &a.ap, &err) < 0) {
		imap_cmd_bad(cmd, "%s", err ? err : "Invalid APPEND arguments");
		goto out;
	}
	if (imap_mailbox_arg(cmd, &cmd->pc->args[0], &name) < 0)
		goto out;
	size_t limit = s->cfg->imap_max_message_size;
	uint64_t total = 0;
	for (size_t i = 0; i < a.ap->nmsgs; i++) {
		/* RFC 7889 4: over APPENDLIMIT is [TOOBIG] (RFC 4469 7). */
		if (limit && a.ap->msgs[i].len > limit) {
			imap_cmd_no(cmd, "[TOOBIG] Message larger than APPENDLIMIT=%zu", limit);
			goto out;
		}
		total += a.ap->msgs[i].len;
	}
	/* Looked up after the APPENDLIMIT check, so an oversized message
	 * for a missing mailbox is still [TOOBIG]. */
	struct store_mailbox mb;
	if (imap_mailbox_get(cmd, name.data ? name.data : "", IMAP_MAILBOX_TRYCREATE, "APPEND",
			     &mb) < 0)
		goto out;
	/* RFC 4469 5: after the target is known to exist ([TRYCREATE]
	 * first, as for any APPEND). */
	for (size_t i = 0; i < a.ap->nmsgs && !a.cats; i++) {
		if (a.ap->msgs[i].cat && !(a.cats = calloc(a.ap->nmsgs, sizeof(*a.cats)))) {
			imap_cmd_store_error(cmd, STORE_ERR_TEMP, "APPEND");
			goto out;
		}
	}
	if (a.cats) {
		for (size_t i = 0; i < a.ap->nmsgs; i++)
			buf_init(&a.cats[i], 0);
		int crc = imap_catenate_build(cmd, a.ap->msgs, a.ap->nmsgs, a.cats);
		if (crc > 0)
			ret = IMAP_CMD_WAIT;   /* stage 0 again, once a worker has waited */
		if (crc != 0)
			goto out;
		for (size_t i = 0; i < a.ap->nmsgs; i++)
			total += a.cats[i].len;
	}
	a.n = a.ap->nmsgs;
	a.msgs = calloc(a.n, sizeof(*a.msgs));
	a.structs = calloc(a.n, sizeof(*a.structs));
	a.encoded = calloc(a.n, sizeof(*a.encoded));
	a.uids = calloc(a.n, sizeof(*a.uids));
	if (!a.msgs || !a.structs || !a.encoded || !a.uids) {
		imap_cmd_store_error(cmd, STORE_ERR_TEMP, "APPEND");
		goto out;
	}
	for (size_t i = 0; i < a.n; i++) {
		buf_init(&a.structs[i], 0);
		buf_init(&a.encoded[i], 0);
		if (append_msg_meta(cmd, mb.id, &a.ap->msgs[i], &a.msgs[i], &a.keywords_late) < 0)
			goto out;
	}
	if ((total >= APPEND_POOL_MIN || a.keywords_late) &&
	    append_submit(cmd, mb.id, &a, false) == 0) {
		buf_free(&name);
		return IMAP_CMD_WAIT;
	}
	/* A full pool: the keywords' entries here, waiting for the lock. */
	for (size_t i = 0; i < a.n && a.keywords_late; i++)
		if (append_msg_meta(cmd, mb.id, &a.ap->msgs[i], &a.msgs[i], NULL) < 0)
			goto out;
	a.keywords_late = false;
	for (size_t i = 0; i < a.n; i++) {
		int crc = append_msg_content(&a.ap->msgs[i], &a.msgs[i], &a.structs[i],
					     &a.encoded[i]);
		if (crc != 0) {
			append_content_error(cmd, crc);
			goto out;
		}
	}
	uint32_t uidvalidity = 0;
	/* A lock held by another transaction is not waited for on the loop
	 * (issue 11 point 1): the store goes to a worker.  A full pool: wait
	 * here. */
	bool was = store_thread_nowait(true);
	int rc = store_append(s->store, mb.id, a.msgs, a.n, a.uids, &uidvalidity);
	store_thread_nowait(was);
	if (rc == STORE_ERR_BUSY) {
		conn_log(s->c, PLOG_DEBUG, "store busy: APPEND stored by a worker");
		if (append_submit(cmd, mb.id, &a, true) == 0) {
			buf_free(&name);
			return IMAP_CMD_WAIT;
		}
		rc = store_append(s->store, mb.id, a.msgs, a.n, a.uids, &uidvalidity);
	}
	if (append_stored(cmd, &a, rc, uidvalidity) == IMAP_CMD_AGAIN)
		ret = imap_cmd_wait_durable(cmd);
out:
	append_set_free(&a);
	buf_free(&name);
	return ret;
}
