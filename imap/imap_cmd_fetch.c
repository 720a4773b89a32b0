/* imap/imap_cmd_fetch.c: FETCH and UID FETCH (RFC 3501 6.4.5, RFC 9051
 * 6.4.5, RFC 3516 BINARY, RFC 7162 3.1.4 MODSEQ and CHANGEDSINCE, 3.2.6
 * VANISHED).
 *
 * The response is produced one message at a time and, inside a message,
 * one item at a time: when the output queue is full the handler returns
 * IMAP_CMD_AGAIN and resumes from cmd->ctx, so neither a FETCH over many
 * messages nor one large body is ever held whole in memory.  Message
 * records are read in windows of FETCH_WINDOW (one range read when the
 * UIDs are dense), which is also where a non-PEEK body fetch sets \Seen,
 * one store transaction per window.
 *
 * Messages expunged by someone else but not yet reported to this session
 * (RFC 9051 7.5.1 allows data or NO): what is still in the store is
 * returned; messages whose record is gone are skipped and the command ends
 * with "NO [EXPUNGEISSUED]" (RFC 5530 3) after the data of the others. */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/conn.h"
#include "core/log.h"
#include "imap/imap_fetch.h"
#include "imap/imap_qresync.h"
#include "imap/imap_session.h"
#include "imap/imap_store_call.h"
#include "imap/imap_view.h"
#include "imap/imap_window.h"
#include "storage/storage.h"

#define FETCH_WINDOW 256
_Static_assert(FETCH_WINDOW <= IMAP_FETCH_HEADS_N, "a window's headers fit imap_fetch_heads");
/* A window's \Seen marks are one transaction, so a BUSY changed none. */
_Static_assert(FETCH_WINDOW <= STORE_FLAGS_TXN_MAX, "a window's \\Seen marks are one transaction");

struct fetch_ctx {
	struct imap_fetch *f;
	/* "BODY[HEADER.FIELDS (...)]<0>" and the like: the same for every
	 * message, so written once (names.data + name_off[j], name_len[j]). */
	struct buf names;
	size_t *name_off, *name_len;
	uint32_t *uids;
	size_t n;
	size_t i;                    /* the message being written */
	bool set_seen;               /* non-PEEK body item, read-write mailbox */
	bool need_structure;
	bool want_modseq;            /* MODSEQ asked for, or CHANGEDSINCE */
	bool gone;                   /* some message had been expunged */
	struct imap_vanished_scan van; /* (VANISHED): written before any FETCH */

	/* Records of uids[win_lo, win_lo + win_n). */
	size_t win_lo, win_n;
	struct store_msg win[FETCH_WINDOW];
	bool win_found[FETCH_WINDOW];
	bool win_seen[FETCH_WINDOW]; /* \Seen was set by this FETCH */

	/* The message being written. */
	bool in_msg;
	size_t att;                  /* next item */
	bool streaming;              /* a literal of st is under way */
	bool need_content;           /* some item reads the content or its structure */
	int seen_rc;                 /* the \Seen marks made by a worker (seen_job) */
	bool head_only;              /* ... and only the message's header (imap_fetch_heads.c) */
	struct imap_fetch_heads heads;  /* the window's headers, when head_only */
	bool head_ok;                /* head, head_len: this message's header */
	const char *head;
	size_t head_len;
	struct store_content content; /* open (pinned) while its message is written */
	struct store *store;         /* for the close in fetch_ctx_free */
	struct mime_message *mime;
	struct buf line;
	struct imap_fetch_value v;
	struct imap_fetch_stream st;
};

static void fetch_ctx_free(void *p)
{
	struct fetch_ctx *x = p;
	if (!x)
		return;
	imap_fetch_free(&x->f);
	buf_free(&x->names);
	free(x->name_off);
	free(x->name_len);
	free(x->uids);
	imap_vanished_scan_clear(&x->van);
	mime_message_free(&x->mime);
	buf_free(&x->line);
	imap_fetch_heads_free(&x->heads);
	buf_free(&x->v.mem);
	store_content_close(x->store, &x->content);
	free(x->st.chunk);
	free(x);
}

/* Every read of one message's content (its structure, the sizes promised
 * in literals, the bytes) must see the same content.  Another session,
 * on another loop, may expunge the message at any time and its content
 * goes with the last reference; opening it (a pin, store_content_open)
 * before the first read defers that, and a content found gone by the open
 * is skipped as expunged.  The open also reads the stored structure when
 * one is needed (*structure_r, NULL when none), right after the record.
 * 0, 1 (gone: skip it), or a store error. */
static int fetch_msg_open(struct imap_session *s, struct fetch_ctx *x, const struct store_msg *m,
			  void **structure_r, size_t *structure_len_r)
{
	store_content_close(s->store, &x->content);
	*structure_r = NULL;
	*structure_len_r = 0;
	if (!x->need_content)
		return 0;
	int rc = store_content_open(s->store, m->content_id, &x->content,
				    x->need_structure ? structure_r : NULL, structure_len_r);
	if (rc == STORE_ERR_NOTFOUND)
		return 1;
	return rc;
}

/* When every item that reads the message wants its own header only,
 * its values are built from the window's headers (imap_fetch_heads.c:
 * no pin, structure or record lookup) before any of them is sent.  0 with
 * x->head_ok (or without it when the header is too long: open as usual),
 * 1 when the content is gone, or a store error. */
static int fetch_head_read(struct imap_session *s, struct fetch_ctx *x, size_t k)
{
	store_content_close(s->store, &x->content);   /* an earlier message's */
	x->head_ok = false;
	int rc = imap_fetch_heads_get(s->store, &x->heads, x->win, x->win_found, k, &x->head,
				      &x->head_len);
	if (rc == IMAP_HEAD_OK)
		x->head_ok = true;
	else if (rc == IMAP_HEAD_GONE)
		return 1;
	else if (rc < 0)
		return rc;
	return 0;
}

static bool att_sets_seen(const struct imap_fetch_att *a)
{
	switch (a->item) {
	case IMAP_FETCH_RFC822:
	case IMAP_FETCH_RFC822_TEXT:
		return true;
	case IMAP_FETCH_BODY_SECTION:
	case IMAP_FETCH_BINARY:
		return !a->peek;
	default:
		return false;   /* RFC822.HEADER is BODY.PEEK[HEADER] */
	}
}

/* Items whose value is (a part of) the message's bytes. */
static bool att_is_body(const struct imap_fetch_att *a)
{
	switch (a->item) {
	case IMAP_FETCH_RFC822:
	case IMAP_FETCH_RFC822_HEADER:
	case IMAP_FETCH_RFC822_TEXT:
	case IMAP_FETCH_BODY_SECTION:
	case IMAP_FETCH_BINARY:
	case IMAP_FETCH_BINARY_SIZE:
		return true;
	default:
		return false;
	}
}

static bool att_reads_content(const struct imap_fetch_att *a)
{
	return att_is_body(a) || imap_fetch_att_needs_structure(a);
}

/* The \Seen marks of one window (FETCH_WINDOW <= STORE_FLAGS_TXN_MAX: one
 * transaction), made on a worker when the loop found the store locked. */
struct seen_job {
	struct imap_job job;         /* first */
	struct store *store;
	uint32_t mailbox_id;
	uint32_t unseen[FETCH_WINDOW];
	size_t idx[FETCH_WINDOW], nu;
	struct store_flag_result *res;
	int rc;
};

/* The marks made: into the window, and absorbed by the view so that they
 * are not reported twice. */
static void seen_apply(struct imap_session *s, struct fetch_ctx *x, const size_t *idx, size_t nu,
		       const struct store_flag_result *res)
{
	for (size_t j = 0; j < nu; j++) {
		if (res[j].status == STORE_FLAG_CHANGED) {
			x->win[idx[j]] = res[j].msg;
			x->win_seen[idx[j]] = true;
		} else if (res[j].status == STORE_FLAG_GONE) {
			x->win_found[idx[j]] = false;
		}
	}
	imap_view_absorb(s, res, nu);
}

static const struct store_flag_change seen_change = {.op = STORE_FLAGS_ADD,
						     .flags = STORE_F_SEEN};

static void seen_job_run(struct imap_job *job)
{
	struct seen_job *j = (struct seen_job *)job;
	j->rc = store_msgs_flags(j->store, j->mailbox_id, j->unseen, j->nu, &seen_change, j->res);
}

static void seen_job_finish(struct imap_job *job, bool ran)
{
	struct seen_job *j = (struct seen_job *)job;
	struct fetch_ctx *x = job->cmd->ctx;
	/* Stopped before a worker took it: nothing was changed. */
	x->seen_rc = ran ? j->rc : STORE_ERR_TEMP;
	if (x->seen_rc == STORE_OK)
		seen_apply(job->cmd->s, x, j->idx, j->nu, j->res);
	free(j->res);
	free(j);
}

static void seen_job_discard(struct imap_job *job)
{
	struct seen_job *j = (struct seen_job *)job;
	free(j->res);
	free(j);
}

/* Reads the records of the next window and sets \Seen where it is due.
 * STORE_OK, a store error, or FETCH_WAIT: a worker sets \Seen (the store
 * was locked), and the handler runs again when it is done. */
#define FETCH_WAIT 1
static int fetch_window_load(struct imap_cmd *cmd, struct fetch_ctx *x)
{
	struct imap_session *s = cmd->s;
	x->win_lo = x->i;
	x->win_n = x->n - x->i < FETCH_WINDOW ? x->n - x->i : FETCH_WINDOW;
	memset(x->win_seen, 0, sizeof(x->win_seen));
	if (x->head_only)
		imap_fetch_heads_reset(&x->heads, x->win_n);
	int rc = imap_window_load(s, s->view->mailbox_id, x->uids + x->win_lo, x->win_n, x->win,
				  x->win_found);
	if (rc != STORE_OK || !x->set_seen)
		return rc;

	/* RFC 3501 6.4.5: BODY[...] (not PEEK) sets \Seen. */
	struct seen_job *j = calloc(1, sizeof(*j));
	if (!j)
		return STORE_ERR_TEMP;
	for (size_t k = 0; k < x->win_n; k++) {
		if (!x->win_found[k] || (x->win[k].flags & STORE_F_SEEN))
			continue;
		if (x->f->changedsince && x->win[k].modseq <= x->f->changedsince_modseq)
			continue;
		j->unseen[j->nu] = x->win[k].uid;
		j->idx[j->nu++] = k;
	}
	if (j->nu == 0) {
		free(j);
		return STORE_OK;
	}
	j->res = calloc(j->nu, sizeof(*j->res));
	if (!j->res) {
		free(j);
		return STORE_ERR_TEMP;
	}
	/* Same order as STORE: owed updates first, then our change, which we
	 * report ourselves, absorbed so that it is not reported twice. */
	if (imap_view_sync(s, false) < 0) {
		seen_job_discard(&j->job);
		return STORE_ERR_NOTFOUND;
	}
	/* Not waiting for another transaction's lock on the loop (issue 11
	 * point 1): then a worker marks them.  A full pool: wait here. */
	bool was = store_thread_nowait(true);
	rc = store_msgs_flags(s->store, s->view->mailbox_id, j->unseen, j->nu, &seen_change,
			      j->res);
	store_thread_nowait(was);
	if (rc == STORE_ERR_BUSY) {
		conn_log(s->c, PLOG_DEBUG, "store busy: FETCH's \\Seen set by a worker");
		j->job.run = seen_job_run;
		j->job.finish = seen_job_finish;
		j->job.discard = seen_job_discard;
		j->store = s->store;
		j->mailbox_id = s->view->mailbox_id;
		memset(j->res, 0, j->nu * sizeof(*j->res));
		if (imap_cmd_job_submit(cmd, &j->job) == 0)
			return FETCH_WAIT;
		rc = store_msgs_flags(s->store, s->view->mailbox_id, j->unseen, j->nu,
				      &seen_change, j->res);
	}
	if (rc == STORE_OK)
		seen_apply(s, x, j->idx, j->nu, j->res);
	seen_job_discard(&j->job);
	return rc;
}

static bool has_item(const struct fetch_ctx *x, enum imap_fetch_item it)
{
	return (x->f->items & (1u << it)) != 0;
}

/* Appends one non-body item to the line: PREVIEW, which reads the open
 * content, here; the record's and the structure's items are written as
 * NOTIFY writes them (imap_fetch_item.c).  0, -1 (memory), or 2 when
 * PREVIEW's read found a lock held (nowait) and nothing was written. */
static int fetch_simple_item(struct imap_session *s, struct fetch_ctx *x,
			     const struct imap_fetch_att *a, const struct store_msg *m, bool nowait)
{
	struct buf *b = &x->line;
	if (a->item != IMAP_FETCH_PREVIEW)
		return imap_fetch_item_write(s, m, x->mime, a, b);
	/* RFC 8970 3.2: computed now even under LAZY, as its cost is
	 * bounded (one read of at most MIME_PREVIEW_READ octets). */
	struct buf text;
	buf_init(&text, 0);
	bool was = store_thread_nowait(nowait);
	int rc = imap_fetch_preview(s, m, &x->content, x->mime, &text);
	store_thread_nowait(was);
	if (rc == STORE_ERR_BUSY) {
		buf_free(&text);
		return 2;   /* nothing written: the caller has a worker wait */
	}
	int wrc = buf_puts(b, "PREVIEW ");
	if (rc == STORE_OK) {
		wrc |= imap_write_string(b, text.data ? text.data : "", text.len);
	} else {
		/* NIL: no preview available now (RFC 8970 3.2). */
		conn_log(s->c, PLOG_ERROR, "preview failed uid=%u error=\"%s\"",
			 (unsigned)m->uid, store_strerror(rc));
		wrc |= buf_puts(b, "NIL");
	}
	buf_free(&text);
	return wrc;
}

/* ---- a read that would wait for a writer's lock ----
 * FETCH's reads of contents do not wait for a lock on the loop (issue 11
 * point 1): the newest contents' pages are where the next delivery
 * writes until its commit, and a client fetches a new message right after
 * it is told of it.  Each read is made under store_thread_nowait; one that
 * finds a lock held (STORE_ERR_BUSY, nothing taken) has a worker wait for
 * it (imap_content_wait) while the command waits (IMAP_CMD_WAIT), and is
 * made again when the handler is called back: a message not begun starts
 * over, a value not yet written is computed again, a literal goes on from
 * where it was.  A full pool waits here instead, once. */
/* Item x->att - 1, whose read found a lock held, had made the line
 * line_len long: what it added goes.  2: a worker waits (x->att is the
 * item again: return 2, read it when called back); 0: waited here, the
 * line has the item's separator again (read it now, waiting); -1: out of
 * memory. */
static int item_wait(struct imap_cmd *cmd, struct fetch_ctx *x, size_t line_len,
		     const struct store_msg *m)
{
	x->line.len = line_len;
	if (x->line.data)
		x->line.data[line_len] = '\0';
	if (imap_content_wait(cmd, m->content_id, 0, m->size) == 2) {
		x->att--;
		return 2;
	}
	return x->att > 1 && buf_putc(&x->line, ' ') < 0 ? -1 : 0;
}

/* What message k's items read of its content: its header from the
 * window's (head_only), or the open content and its structure.  0, 1 (gone),
 * or a store error; STORE_ERR_BUSY (nothing kept) only with nowait. */
static int fetch_msg_read(struct imap_session *s, struct fetch_ctx *x, size_t k, bool nowait)
{
	const struct store_msg *m = &x->win[k];
	bool was = store_thread_nowait(nowait);
	void *sdata = NULL;
	size_t slen = 0;
	x->head_ok = false;
	mime_message_free(&x->mime);
	int rc = x->head_only ? fetch_head_read(s, x, k) : 0;
	if (rc == 0 && !x->head_ok)
		rc = fetch_msg_open(s, x, m, &sdata, &slen);
	if (rc == 0 && x->need_structure && !x->head_ok) {
		rc = imap_fetch_structure(s, m, &x->content, sdata, slen, &x->mime);
		if (rc == STORE_ERR_NOTFOUND)
			rc = 1;
	} else {
		free(sdata);
	}
	store_thread_nowait(was);
	if (rc != 0)
		store_content_close(s->store, &x->content);
	return rc;
}

/* Starts message x->i: the record, the structure, the checks that must
 * come before any of its output.  1 when there is nothing to write for it,
 * 0 when x->in_msg is set, 2 when a worker sets its window's \Seen marks
 * first (call again after), or an error already answered (-1). */
static int fetch_msg_begin(struct imap_cmd *cmd, struct fetch_ctx *x)
{
	struct imap_session *s = cmd->s;
	if (x->i >= x->win_lo + x->win_n) {
		int rc = fetch_window_load(cmd, x);
		if (rc == FETCH_WAIT)
			return 2;
		if (rc != STORE_OK) {
			imap_cmd_store_error(cmd, rc, "FETCH");
			return -1;
		}
	}
	size_t k = x->i - x->win_lo;
	if (!x->win_found[k]) {
		x->gone = true;
		return 1;
	}
	const struct store_msg *m = &x->win[k];
	/* RFC 7162 3.1.4.1: only messages changed after CHANGEDSINCE. */
	if (x->f->changedsince && m->modseq <= x->f->changedsince_modseq)
		return 1;
	uint32_t seq = imap_view_seq(s->view, m->uid);
	if (seq == 0)
		return 1;
	int prc = fetch_msg_read(s, x, k, true);
	if (prc == STORE_ERR_BUSY) {
		if (imap_content_wait(cmd, m->content_id, 0, m->size) == 2)
			return 2;
		prc = fetch_msg_read(s, x, k, false);
	}
	if (prc == 1) {
		x->gone = true;
		return 1;
	}
	if (prc != STORE_OK) {
		imap_cmd_store_error(cmd, prc, "FETCH");
		return -1;
	}
	if (x->need_structure && !x->head_ok) {
		for (size_t j = 0; j < x->f->natts; j++) {
			if (!imap_fetch_binary_ok(x->mime, m->size, &x->f->atts[j])) {
				imap_cmd_no(cmd, "[UNKNOWN-CTE] Cannot decode the transfer encoding of "
					    "message %u's part", (unsigned)seq);
				return -1;
			}
		}
	}
	/* Keywords another session interned meanwhile are announced before
	 * the line that may name them (RFC 9051 7.3.5). */
	if (has_item(x, IMAP_FETCH_FLAGS) || x->win_seen[k])
		(void)imap_view_keywords_cover(s, m->keywords);
	buf_reset(&x->line);
	buf_puts(&x->line, "* ");
	buf_put_u64(&x->line, seq);
	buf_puts(&x->line, " FETCH (");
	/* RFC 3501 6.4.8: UID FETCH always includes UID. */
	if (cmd->uid && !has_item(x, IMAP_FETCH_UID)) {
		buf_puts(&x->line, "UID ");
		buf_put_u64(&x->line, m->uid);
		buf_putc(&x->line, ' ');
	}
	x->in_msg = true;
	x->att = 0;
	x->streaming = false;
	return 0;
}

/* Writes message x->i from item x->att on.  0 when the message is done,
 * 1 when output is full (call again), 2 when a worker waits for a lock
 * (imap_content_wait: called back), -1 when answered (error). */
static int fetch_msg_continue(struct imap_cmd *cmd, struct fetch_ctx *x)
{
	struct imap_session *s = cmd->s;
	size_t k = x->i - x->win_lo;
	const struct store_msg *m = &x->win[k];
	for (;;) {
		if (x->streaming) {
			bool was = store_thread_nowait(true);
			int rc = imap_fetch_stream_pump(s, &x->st);
			store_thread_nowait(was);
			if (rc == STORE_ERR_BUSY) {
				if (imap_content_wait(cmd, x->st.content.id, x->st.pos, IMAP_STREAM_CHUNK) == 2)
					return 2;
				rc = imap_fetch_stream_pump(s, &x->st);
			}
			if (rc == 1)
				return 1;
			if (rc != STORE_OK) {
				/* The literal's length is out; the only honest end
				 * is to close before the count is met. */
				conn_log(s->c, PLOG_ERROR, "fetch stream failed uid=%u error=\"%s\"",
					 (unsigned)m->uid, store_strerror(rc));
				imap_session_close(s, NULL, "store error");
				return -1;
			}
			x->streaming = false;
		}
		if (x->att >= x->f->natts)
			break;
		/* Where this item starts, should its read find a lock held. */
		size_t line_len = x->line.len;
		const struct imap_fetch_att *a = &x->f->atts[x->att++];
		if (x->att > 1 && buf_putc(&x->line, ' ') < 0)
			goto nomem;
		int rc;
		if (!att_is_body(a)) {
			rc = fetch_simple_item(s, x, a, m, true);
			if (rc == 2) {   /* PREVIEW's read: a lock is held */
				if ((rc = item_wait(cmd, x, line_len, m)) == 2)
					return 2;
				if (rc == 0)
					rc = fetch_simple_item(s, x, a, m, false);
			}
			if (rc != 0)
				goto nomem;
			continue;
		}
		if (x->head_ok) {
			rc = imap_fetch_head_value(x->head, x->head_len, a, &x->v);
		} else {
			bool was = store_thread_nowait(true);
			rc = imap_fetch_body_value(s, m, &x->content, x->mime, a, &x->v);
			store_thread_nowait(was);
			if (rc == STORE_ERR_BUSY) {
				if ((rc = item_wait(cmd, x, line_len, m)) == 2)
					return 2;
				if (rc < 0)
					goto nomem;
				rc = imap_fetch_body_value(s, m, &x->content, x->mime, a, &x->v);
			}
		}
		if (rc == IMAP_FETCH_ERR_UNKNOWN_CTE) {
			/* Checked in fetch_msg_begin; kept for safety. */
			rc = STORE_ERR_CORRUPT;
		}
		if (rc != STORE_OK) {
			/* Nothing of this message is out unless an earlier
			 * literal was streamed: end the response line cleanly. */
			imap_write_buf(s, &x->line);
			imap_write(s, "NIL)\r\n", 6);
			x->in_msg = false;
			imap_cmd_store_error(cmd, rc, "FETCH");
			return -1;
		}
		size_t j = x->att - 1;
		if (buf_append(&x->line, x->names.data + x->name_off[j], x->name_len[j]) < 0 ||
		    buf_putc(&x->line, ' ') < 0)
			goto nomem;
		switch (x->v.kind) {
		case IMAP_VALUE_NIL:
			if (buf_puts(&x->line, "NIL") < 0)
				goto nomem;
			break;
		case IMAP_VALUE_SIZE:
			if (buf_printf(&x->line, "%llu", (unsigned long long)x->v.size) < 0)
				goto nomem;
			break;
		case IMAP_VALUE_MEM:
			if (imap_fetch_literal_head_write(&x->line, x->v.literal8, x->v.mem.len) < 0)
				goto nomem;
			imap_write_buf(s, &x->line);
			buf_reset(&x->line);
			imap_write(s, x->v.mem.data ? x->v.mem.data : "", x->v.mem.len);
			break;
		case IMAP_VALUE_STREAM:
			/* The length is about to be promised: the message's
			 * open content (fetch_msg_open: every item that
			 * streams reads the content) has held the bytes since
			 * before they were sized, and holds them until the
			 * next message. */
			x->st.content = x->content;
			if (imap_fetch_literal_head_write(&x->line, x->v.literal8, x->v.size) < 0)
				goto nomem;
			imap_write_buf(s, &x->line);
			buf_reset(&x->line);
			x->st.pos = x->v.off;
			x->st.end = x->v.off + x->v.size;
			x->streaming = true;
			break;
		}
	}
	/* RFC 3501 6.4.5: when FETCH set \Seen, the response includes FLAGS;
	 * with CONDSTORE on, a flag change carries its MODSEQ (RFC 7162 3.1.4). */
	if (x->win_seen[k] && !has_item(x, IMAP_FETCH_FLAGS)) {
		if (buf_puts(&x->line, x->att > 0 ? " FLAGS " : "FLAGS ") < 0 ||
		    imap_view_flags_write(s->view, &x->line, m) < 0)
			goto nomem;
	}
	if (!has_item(x, IMAP_FETCH_MODSEQ) && (x->want_modseq || (x->win_seen[k] && s->condstore)))
		if (buf_printf(&x->line, " MODSEQ (%llu)", (unsigned long long)m->modseq) < 0)
			goto nomem;
	if (buf_puts(&x->line, ")\r\n") < 0)
		goto nomem;
	imap_write_buf(s, &x->line);
	buf_reset(&x->line);
	x->in_msg = false;
	return 0;
nomem:
	/* Out of memory mid-line: close the line so the stream stays
	 * parseable, then fail the command. */
	imap_write(s, ")\r\n", 3);
	x->in_msg = false;
	imap_cmd_no(cmd, "[SERVERBUG] Out of memory");
	return -1;
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* RFC 7162 3.1.4.1: CHANGEDSINCE answers only messages whose MODSEQ is
 * above it, and those are the ones with a NEW or FLAGS change record past
 * it (a message's one record sits at its MODSEQ).  When such records are
 * fewer than the set, narrow the set to them: a resync (UID FETCH 1:*
 * (FLAGS) (CHANGEDSINCE m)) then reads the changed messages, not every
 * message of the mailbox.  Reading stops once the records outnumber the
 * set, which is then kept as it is: the cost is the smaller of the two. */
static int fetch_changed_narrow(struct imap_session *s, struct fetch_ctx *x)
{
	enum { BATCH = 512 };
	if (!x->f->changedsince || x->n == 0)
		return STORE_OK;
	struct store_change *ch = malloc(BATCH * sizeof(*ch));
	uint32_t *keep = malloc(x->n * sizeof(*keep));
	int rc = ch && keep ? STORE_OK : STORE_ERR_TEMP;
	uint64_t since = x->f->changedsince_modseq;
	size_t nk = 0, read = 0;
	bool narrow = true;
	while (rc == STORE_OK) {
		size_t n = 0;
		rc = store_changes_since(s->store, s->view->mailbox_id, since, ch, BATCH, &n);
		if (rc != STORE_OK)
			break;
		for (size_t i = 0; i < n && narrow; i++) {
			if (++read > x->n)
				narrow = false;
			else if (ch[i].kind != STORE_CHANGE_EXPUNGE && nk < x->n &&
				 bsearch(&ch[i].uid, x->uids, x->n, sizeof(*x->uids), u32_cmp))
				keep[nk++] = ch[i].uid;
		}
		if (!narrow || n < BATCH)
			break;
		since = ch[n - 1].modseq;
	}
	free(ch);
	if (rc != STORE_OK || !narrow) {
		free(keep);
		return rc;
	}
	/* Ascending, each once (a record that moved between two batches
	 * is met twice), as the windows of fetch_window_load want. */
	qsort(keep, nk, sizeof(*keep), u32_cmp);
	size_t w = 0;
	for (size_t r = 0; r < nk; r++)
		if (w == 0 || keep[r] != keep[w - 1])
			keep[w++] = keep[r];
	free(x->uids);
	x->uids = keep;
	x->n = w;
	return STORE_OK;
}

/* RFC 7162 3.2.6: the UIDs of the set expunged after CHANGEDSINCE.  "*"
 * is the highest UID the session could know (UIDNEXT - 1 when it
 * selected); "$" the saved UIDs, which may name expunged ones.  Written in
 * batches by imap_vanished_scan_run: costs the changes since that MODSEQ. */
static int fetch_vanished_prepare(struct imap_session *s, struct fetch_ctx *x)
{
	const struct imap_view *v = s->view;
	x->van.f.list = v->saved;
	x->van.f.nlist = v->nsaved;
	if (!x->f->set->saved && imap_seqset_normalize(x->f->set, v->uid_hi, &x->van.f.norm) < 0)
		return STORE_ERR_TEMP;
	x->van.since = x->f->changedsince_modseq;
	x->van.done = false;
	return STORE_OK;
}

static enum imap_cmd_rc fetch_start(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	const char *err = NULL;
	struct fetch_ctx *x = calloc(1, sizeof(*x));
	if (!x) {
		imap_cmd_no(cmd, "[SERVERBUG] Out of memory");
		return IMAP_CMD_DONE;
	}
	cmd->ctx = x;
	cmd->ctx_free = fetch_ctx_free;
	x->store = s->store;
	x->van.done = true;   /* no (VANISHED) */
	buf_init(&x->line, 0);
	buf_init(&x->names, 0);
	buf_init(&x->v.mem, 0);
	if (imap_fetch_parse(cmd->pc->args, cmd->pc->nargs, cmd->uid, &x->f, &err) < 0) {
		imap_cmd_bad(cmd, "%s", err ? err : "Invalid FETCH arguments");
		return IMAP_CMD_DONE;
	}
	/* RFC 7162 3.2.6: BAD unless QRESYNC was enabled. */
	if (x->f->vanished && !s->qresync) {
		imap_cmd_bad(cmd, "[CLIENTBUG] VANISHED needs ENABLE QRESYNC");
		return IMAP_CMD_DONE;
	}
	int lrc = imap_view_uids_load(s);
	if (lrc != STORE_OK) {
		imap_cmd_store_error(cmd, lrc, "FETCH");
		return IMAP_CMD_DONE;
	}
	if (imap_view_resolve(s->view, x->f->set, cmd->uid, &x->uids, &x->n, &err) < 0) {
		imap_cmd_bad(cmd, "%s", err ? err : "Invalid message set");
		return IMAP_CMD_DONE;
	}
	if ((lrc = fetch_changed_narrow(s, x)) != STORE_OK ||
	    (x->f->vanished && (lrc = fetch_vanished_prepare(s, x)) != STORE_OK)) {
		imap_cmd_store_error(cmd, lrc, "FETCH");
		return IMAP_CMD_DONE;
	}
	x->want_modseq = x->f->changedsince || has_item(x, IMAP_FETCH_MODSEQ);
	/* RFC 7162 3.1: MODSEQ and CHANGEDSINCE are CONDSTORE-enabling. */
	if (x->want_modseq)
		imap_session_condstore_enable(s);
	x->head_only = true;
	for (size_t j = 0; j < x->f->natts; j++) {
		if (att_sets_seen(&x->f->atts[j]))
			x->set_seen = !s->view->readonly;
		if (imap_fetch_att_needs_structure(&x->f->atts[j]))
			x->need_structure = true;
		if (att_reads_content(&x->f->atts[j])) {
			x->need_content = true;
			if (!imap_fetch_att_head_only(&x->f->atts[j]))
				x->head_only = false;
		}
	}
	x->head_only = x->head_only && x->need_content;
	x->name_off = calloc(x->f->natts ? x->f->natts : 1, sizeof(*x->name_off));
	x->name_len = calloc(x->f->natts ? x->f->natts : 1, sizeof(*x->name_len));
	if (!x->name_off || !x->name_len) {
		imap_cmd_no(cmd, "[SERVERBUG] Out of memory");
		return IMAP_CMD_DONE;
	}
	for (size_t j = 0; j < x->f->natts; j++) {
		x->name_off[j] = x->names.len;
		if (att_is_body(&x->f->atts[j]) &&
		    imap_fetch_att_write_name(&x->names, &x->f->atts[j]) < 0) {
			imap_cmd_no(cmd, "[SERVERBUG] Out of memory");
			return IMAP_CMD_DONE;
		}
		x->name_len[j] = x->names.len - x->name_off[j];
	}
	x->win_lo = x->win_n = 0;
	return IMAP_CMD_AGAIN;
}

enum imap_cmd_rc imap_cmd_fetch(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	if (!cmd->ctx) {
		if (fetch_start(cmd) == IMAP_CMD_DONE)
			return IMAP_CMD_DONE;
	}
	struct fetch_ctx *x = cmd->ctx;
	if (cmd->job)
		return IMAP_CMD_WAIT;   /* \Seen marks or a lock wait: not done yet */
	if (x->seen_rc != STORE_OK) {
		imap_cmd_store_error(cmd, x->seen_rc, "FETCH");
		return IMAP_CMD_DONE;
	}
	/* RFC 7162 3.2.6: VANISHED (EARLIER) before any FETCH response. */
	if (!x->van.done) {
		int vrc = imap_vanished_scan_run(s, &x->van);
		if (vrc != STORE_OK) {
			imap_cmd_store_error(cmd, vrc, "FETCH");
			return IMAP_CMD_DONE;
		}
		if (!x->van.done)
			return IMAP_CMD_AGAIN;
	}
	while (x->i < x->n) {
		if (!x->in_msg) {
			if (imap_cmd_yield_due(s))
				return IMAP_CMD_AGAIN;
			int rc = fetch_msg_begin(cmd, x);
			if (rc < 0)
				return IMAP_CMD_DONE;
			if (rc == 2)
				return IMAP_CMD_WAIT;
			if (rc > 0) {
				x->i++;
				continue;
			}
		}
		int rc = fetch_msg_continue(cmd, x);
		if (rc < 0)
			return IMAP_CMD_DONE;
		if (rc == 2)
			return IMAP_CMD_WAIT;   /* a worker waits for a lock (imap_content_wait) */
		if (rc > 0)
			return IMAP_CMD_AGAIN;
		x->i++;
	}
	if (x->gone)
		imap_cmd_no(cmd, "[EXPUNGEISSUED] Some of the requested messages no longer exist");
	else
		imap_cmd_ok(cmd, "%s completed", cmd->uid ? "UID FETCH" : "FETCH");
	return IMAP_CMD_DONE;
}
