/* imap/imap_notify_fetch.c: NOTIFY's "MessageNew (fetch-att ...)" for the
 * selected mailbox (RFC 5465 5.2): after the EXISTS that announces new
 * messages, one untagged FETCH per new message with the attributes the
 * client named, and the sync that produces them (imap_notify_view_sync).
 *
 * These responses are written in place (in IDLE, between commands, before
 * a reply), not by a running FETCH that can give the loop back, so only
 * attributes whose size does not depend on the message body are taken
 * (imap_notify_fetch_att_ok): the record's items, ENVELOPE, BODY,
 * BODYSTRUCTURE, the header (BODY.PEEK[HEADER...], RFC822.HEADER) and
 * ranges with an explicit count <0.n> of at most IMAP_NOTIFY_FETCH_MAX.
 * Attributes that set \Seen are refused: 5.2 "The client SHOULD NOT use
 * FETCH attributes that implicitly set the \seen flag". */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/mime.h"
#include "core/conn.h"
#include "core/content_wait.h"
#include "core/log.h"
#include "core/server.h"
#include "core/workpool.h"
#include "imap/imap_fetch.h"
#include "imap/imap_notify_set.h"
#include "imap/imap_session.h"
#include "imap/imap_view.h"

bool imap_notify_fetch_att_ok(const struct imap_fetch_att *a)
{
	switch (a->item) {
	case IMAP_FETCH_FLAGS:
	case IMAP_FETCH_INTERNALDATE:
	case IMAP_FETCH_RFC822_SIZE:
	case IMAP_FETCH_ENVELOPE:
	case IMAP_FETCH_BODY:
	case IMAP_FETCH_BODYSTRUCTURE:
	case IMAP_FETCH_UID:
	case IMAP_FETCH_MODSEQ:
	case IMAP_FETCH_EMAILID:
	case IMAP_FETCH_THREADID:
	case IMAP_FETCH_SAVEDATE:
	case IMAP_FETCH_RFC822_HEADER:
	case IMAP_FETCH_BINARY_SIZE:
		return true;
	case IMAP_FETCH_BODY_SECTION:
	case IMAP_FETCH_BINARY:
		if (!a->peek)
			return false;
		if (a->partial)
			return a->count <= IMAP_NOTIFY_FETCH_MAX;
		return a->section.text == IMAP_SECTION_HEADER ||
		       a->section.text == IMAP_SECTION_HEADER_FIELDS ||
		       a->section.text == IMAP_SECTION_HEADER_FIELDS_NOT;
	default:
		return false;
	}
}

static bool att_reads_body(const struct imap_fetch_att *a)
{
	return a->item == IMAP_FETCH_RFC822_HEADER || a->item == IMAP_FETCH_BODY_SECTION ||
	       a->item == IMAP_FETCH_BINARY || a->item == IMAP_FETCH_BINARY_SIZE;
}

/* A body item's value as a literal (or NIL, or BINARY.SIZE's number). */
static int body_item(struct imap_session *s, const struct store_msg *m,
		     const struct store_content *c, const struct mime_message *mime,
		     const struct imap_fetch_att *a, struct buf *b)
{
	struct imap_fetch_value v;
	memset(&v, 0, sizeof(v));
	buf_init(&v.mem, 0);
	int rc = imap_fetch_body_value(s, m, c, mime, a, &v);
	int w = imap_fetch_att_write_name(b, a) | buf_putc(b, ' ');
	if (rc == IMAP_FETCH_ERR_UNKNOWN_CTE) {
		w |= buf_puts(b, "NIL");   /* undecodable: no value to give */
		rc = STORE_OK;
	} else if (rc == STORE_OK && v.kind == IMAP_VALUE_STREAM) {
		/* Bounded by imap_notify_fetch_att_ok: a header or <0.n>. */
		buf_reset(&v.mem);
		char *chunk = malloc(IMAP_STREAM_CHUNK);
		uint64_t pos = v.off, end = v.off + v.size;
		rc = chunk ? STORE_OK : STORE_ERR_TEMP;
		while (rc == STORE_OK && pos < end) {
			size_t want = end - pos < IMAP_STREAM_CHUNK ? (size_t)(end - pos)
								    : IMAP_STREAM_CHUNK;
			size_t got = 0;
			rc = store_content_pread(s->store, c, pos, chunk, want, &got);
			if (rc == STORE_OK && got == 0)
				rc = STORE_ERR_CORRUPT;
			if (rc == STORE_OK && buf_append(&v.mem, chunk, got) < 0)
				rc = STORE_ERR_TEMP;
			pos += got;
		}
		free(chunk);
		v.kind = IMAP_VALUE_MEM;
	}
	if (rc == STORE_OK) {
		switch (v.kind) {
		case IMAP_VALUE_NIL:
			w |= buf_puts(b, "NIL");
			break;
		case IMAP_VALUE_SIZE:
			w |= buf_put_u64(b, v.size);
			break;
		default:
			w |= imap_fetch_literal_head_write(b, v.literal8, v.mem.len) |
			     buf_append(b, v.mem.data, v.mem.len);
			break;
		}
	}
	buf_free(&v.mem);
	return rc != STORE_OK ? rc : (w ? STORE_ERR_TEMP : STORE_OK);
}

/* "* seq FETCH (...)" for one new message; a message gone meanwhile is
 * skipped (its EXPUNGE follows in time). */
static int fetch_one(struct imap_session *s, const struct imap_notify_set *ns, uint32_t uid,
		     uint32_t seq, struct store_msg *m_r)
{
	struct store_msg m;
	int rc = store_msg_get(s->store, s->view->mailbox_id, uid, &m);
	if (rc == STORE_OK)
		*m_r = m;
	if (rc == STORE_ERR_NOTFOUND)
		return STORE_OK;
	if (rc != STORE_OK)
		return rc;
	bool need_structure = false, need_content = false;
	for (size_t i = 0; i < ns->nfetch; i++) {
		need_structure |= imap_fetch_att_needs_structure(&ns->fetch[i]);
		need_content |= att_reads_body(&ns->fetch[i]);
	}
	need_content |= need_structure;
	struct store_content c;
	memset(&c, 0, sizeof(c));
	struct mime_message *mime = NULL;
	if (need_content) {
		void *sdata = NULL;
		size_t slen = 0;
		rc = store_content_open(s->store, m.content_id, &c, need_structure ? &sdata : NULL,
					&slen);
		if (rc == STORE_OK && need_structure)
			rc = imap_fetch_structure(s, &m, &c, sdata, slen, &mime);
		if (rc != STORE_OK) {
			store_content_close(s->store, &c);
			return rc == STORE_ERR_NOTFOUND ? STORE_OK : rc;
		}
	}
	struct buf b;
	buf_init(&b, 0);
	int w = buf_printf(&b, "* %u FETCH (", (unsigned)seq);
	for (size_t i = 0; i < ns->nfetch && rc == STORE_OK; i++) {
		const struct imap_fetch_att *a = &ns->fetch[i];
		if (i)
			w |= buf_putc(&b, ' ');
		if (att_reads_body(a))
			rc = body_item(s, &m, &c, mime, a, &b);
		else
			w |= imap_fetch_item_write(s, &m, mime, a, &b);
	}
	w |= buf_puts(&b, ")\r\n");
	if (rc == STORE_OK && w)
		rc = STORE_ERR_TEMP;
	if (rc == STORE_OK)
		imap_write_buf(s, &b);
	buf_free(&b);
	mime_message_free(&mime);
	store_content_close(s->store, &c);
	return rc;
}

/* ---- a read that would wait for a writer's lock ----
 * These reads are of the newest messages, whose pages the next delivery
 * writes until its commit: they do not wait for a lock on the loop (issue
 * 11 point 1).  One that finds a lock held has a worker wait for the
 * message's pages (store_content_wait); the FETCH responses of that
 * message and the ones after it wait too (a sync meanwhile leaves its new
 * messages to them, so that they come in order), and are written when it
 * returns if they may be then (imap_notify_set_can_push: in IDLE or
 * between commands), else by the next sync (notify_from: the completion
 * of the command that runs).  The view's closing drops them
 * (imap_notify_unregister).  A full pool: waited for here. */
struct imap_notify_wait {
	struct content_wait cw;      /* first */
	struct imap_session *s;      /* NULL once the session has gone */
	uint32_t mailbox_id;
	uint32_t from_uid;           /* the first message still to be told */
};

static void notify_fetch_from(struct imap_session *s, uint32_t from_uid);

static void notify_wait_done(struct work *w)
{
	struct imap_notify_wait *j = (struct imap_notify_wait *)w;
	struct imap_session *s = j->s;
	if (s) {
		s->notify_wait = NULL;
		if (!s->view || s->view->mailbox_id != j->mailbox_id)
			;   /* (a view closing detaches: not reached) */
		else if (imap_notify_set_can_push(s))
			notify_fetch_from(s, j->from_uid);
		else
			s->notify_from = j->from_uid;   /* at the command's completion */
	}
	free(j);
}

void imap_notify_wait_detach(struct imap_session *s)
{
	if (s->notify_wait)
		s->notify_wait->s = NULL;
	s->notify_wait = NULL;
	s->notify_from = 0;
}

/* A worker waits for uid's content: true, or false when the pool cannot
 * take it (the caller reads waiting). */
static bool notify_wait_submit(struct imap_session *s, const struct store_msg *m)
{
	struct imap_notify_wait *j = s->srv->workpool ? calloc(1, sizeof(*j)) : NULL;
	if (!j)
		return false;
	j->s = s;
	j->mailbox_id = s->view->mailbox_id;
	j->from_uid = m->uid;
	if (content_wait_submit(&j->cw, s->srv->workpool, conn_loop(s->c), s->store,
				m->content_id, 0, m->size, notify_wait_done) < 0) {
		free(j);
		return false;
	}
	conn_log(s->c, PLOG_DEBUG, "store busy: NOTIFY's FETCH waits on a worker uid=%u",
		 (unsigned)m->uid);
	s->notify_wait = j;
	return true;
}

/* The FETCH responses of the view's messages from from_uid on. */
static void notify_fetch_from(struct imap_session *s, uint32_t from_uid)
{
	struct imap_notify_set *ns = s->nset;
	if (!ns || !ns->nfetch || !(ns->selected_events & IMAP_NEV_MESSAGE_NEW))
		return;
	/* Sequence numbers of the new messages: from the view's array. */
	if (imap_view_uids_load(s) != STORE_OK)
		return;
	const struct imap_view *v = s->view;
	for (size_t i = imap_view_lower(v, from_uid); i < v->count; i++) {
		if (imap_view_is_expunged(v, v->uids[i]))
			continue;
		struct store_msg m;
		bool was = store_thread_nowait(true);
		int rc = fetch_one(s, ns, v->uids[i], (uint32_t)(i + 1), &m);
		store_thread_nowait(was);
		if (rc == STORE_ERR_BUSY && notify_wait_submit(s, &m))
			return;   /* the rest when the worker is back */
		if (rc == STORE_ERR_BUSY)
			rc = fetch_one(s, ns, v->uids[i], (uint32_t)(i + 1), &m);
		if (rc != STORE_OK)
			break;   /* the client can still FETCH; nothing is lost */
	}
}

int imap_notify_view_sync(struct imap_session *s, bool allow_expunge, bool own_new)
{
	uint32_t before = s->view ? s->view->uid_hi : 0;
	int rc = imap_view_sync(s, allow_expunge);
	struct imap_notify_set *ns = s->nset;
	if (rc < 0 || !s->view || s->closing || !ns || !ns->nfetch || own_new ||
	    !(ns->selected_events & IMAP_NEV_MESSAGE_NEW))
		return rc;
	if (s->notify_wait)
		return 0;   /* told, in order, when the worker is back */
	uint32_t from = before + 1;
	if (s->notify_from) {
		/* owed since a worker came back during a command */
		from = s->notify_from < from ? s->notify_from : from;
		s->notify_from = 0;
	} else if (s->view->uid_hi <= before) {
		return rc;
	}
	notify_fetch_from(s, from);
	return 0;
}
