/* pop3/pop3_cmd_retr.c: RETR (RFC 1939 5) and TOP (RFC 1939 7): a message
 * read from the store in chunks and sent through the byte-stuffing machine
 * (pop3_stuff.h) as the client takes it, so that memory per session stays
 * at two chunk buffers whatever the message size; a whole RETR marks the
 * message \Seen. */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "core/conn.h"
#include "core/content_wait.h"
#include "core/loop.h"
#include "core/server.h"
#include "core/workpool.h"
#include "pop3/pop3_session.h"

void pop3_retr_clear(struct pop3_session *s)
{
	store_content_close(s->srv->store, &s->retr.content);
	free(s->retr.in);
	free(s->retr.out);
	memset(&s->retr, 0, sizeof(s->retr));
}

/* A whole RETR marks the message \Seen, as Dovecot's POP3 does, so IMAP
 * clients of the maildrop see it read (the store's change feed brings the
 * FETCH FLAGS, with its new MODSEQ, to sessions that have INBOX selected).
 * Not at the start: a RETR cut short leaves the message unread.  The marks
 * are committed in batches, one store transaction for up to
 * POP3_SEEN_BATCH messages, at most POP3_SEEN_DELAY_MS after the first
 * (Dovecot commits them at QUIT or disconnect only): a transaction per
 * RETR nearly halved the rate of a client reading one message at a time.
 * Nothing waits for them on disk: RETR promises nothing about the read
 * state, and a crash before the next log flush leaves messages unread,
 * nothing worse.  The transaction never waits for a lock on the loop
 * (pop3_store_job.c). */
void pop3_seen_flush(struct pop3_session *s)
{
	if (s->seen_ev)
		evtimer_del(s->seen_ev);
	pop3_seen_commit(s);
}

static void pop3_seen_due(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pop3_seen_flush(arg);
}

void pop3_seen_free(struct pop3_session *s)
{
	pop3_seen_flush(s);
	if (s->seen_ev)
		event_free(s->seen_ev);
	s->seen_ev = NULL;
	free(s->seen_uids);
	s->seen_uids = NULL;
}

static void pop3_retr_seen(struct pop3_session *s, uint32_t uid)
{
	/* (a batch handed to a worker took the array with it) */
	if (!s->seen_uids && !(s->seen_uids = malloc(POP3_SEEN_BATCH * sizeof(*s->seen_uids)))) {
		conn_log(s->c, PLOG_WARN, "retr seen flag not stored uid=%u error=\"out of memory\"",
			 (unsigned)uid);
		return;
	}
	if (!s->seen_ev)
		s->seen_ev = evtimer_new(loop_base(conn_loop(s->c)), pop3_seen_due, s);
	s->seen_uids[s->nseen++] = uid;
	if (s->nseen == POP3_SEEN_BATCH || !s->seen_ev) {
		pop3_seen_flush(s);
	} else if (s->nseen == 1) {
		struct timeval tv = {0, POP3_SEEN_DELAY_MS * 1000};
		evtimer_add(s->seen_ev, &tv);
	}
}

/* ---- a read that would wait for a writer's lock ----
 * RETR's reads of the store do not wait for a lock on the loop (issue 11
 * point 1): a message's pages may be a delivery's until its commit (the
 * newest contents share their pages with the next one's).  A read that
 * finds one held (STORE_ERR_BUSY) has a worker wait for it
 * (store_content_wait) while the response pauses, or before it begins
 * (the command then starts over); then the read is made again. */
struct pop3_read_wait {
	struct content_wait cw;      /* first */
	struct pop3_session *s;      /* NULL once the session has gone */
	bool start;                  /* RETR/TOP n (TOP's lines) to start over */
	bool top;
	uint32_t n, lines;
};

static void retr_start(struct pop3_session *s, uint32_t n, bool top, uint32_t lines, bool wait);

static void read_wait_done(struct work *w)
{
	struct pop3_read_wait *j = (struct pop3_read_wait *)w;
	struct pop3_session *s = j->s;
	if (s) {
		s->read_wait = NULL;
		if (j->start) {
			retr_start(s, j->n, j->top, j->lines, false);
			/* started, answered, or waiting again */
			if (!s->pump && !s->read_wait && s->suspended) {
				s->suspended = false;
				conn_resume(s->c);
			}
		} else if (s->pump) {
			pop3_session_stream(s, s->pump);
		}
	}
	free(j);
}

void pop3_read_wait_detach(struct pop3_session *s)
{
	if (s->read_wait)
		s->read_wait->s = NULL;
	s->read_wait = NULL;
}

/* Hands the wait to a worker: true, the session waits; false, the pool
 * could not take it, and the caller reads waiting here. */
static bool read_wait_submit(struct pop3_session *s, uint64_t content_id, uint64_t offset,
			     size_t len, const struct pop3_read_wait *start)
{
	struct pop3_read_wait *j = calloc(1, sizeof(*j));
	if (!j)
		return false;
	if (start)
		*j = *start;
	j->s = s;
	if (content_wait_submit(&j->cw, s->srv->workpool, conn_loop(s->c), s->srv->store,
				content_id, offset, len, read_wait_done) < 0) {
		free(j);
		return false;
	}
	conn_log(s->c, PLOG_DEBUG, "store busy: RETR waits on a worker content=%llu offset=%llu",
		 (unsigned long long)content_id, (unsigned long long)offset);
	s->read_wait = j;
	if (!s->suspended) {
		s->suspended = true;
		conn_suspend(s->c);
	}
	return true;
}

/* store_content_pread without waiting for a lock; STORE_ERR_BUSY when the
 * session now waits for a worker (read again when it is back). */
static int retr_pread(struct pop3_session *s, struct pop3_retr *r, size_t *got)
{
	bool was = store_thread_nowait(true);
	int rc = store_content_pread(s->srv->store, &r->content, r->offset, r->in, r->in_cap, got);
	store_thread_nowait(was);
	if (rc != STORE_ERR_BUSY)
		return rc;
	if (read_wait_submit(s, r->content.id, r->offset, r->in_cap, NULL))
		return STORE_ERR_BUSY;
	return store_content_pread(s->srv->store, &r->content, r->offset, r->in, r->in_cap, got);
}

/* One round: read a chunk (unless one was read ahead), stuff it, queue it;
 * at the end of the message (or TOP's cut-off) the final "." line. */
static bool pop3_retr_pump(struct pop3_session *s)
{
	struct pop3_retr *r = &s->retr;
	if (r->in_len == 0 && !pop3_stuff_done(&r->stuff)) {
		size_t got = 0;
		int rc = retr_pread(s, r, &got);
		if (rc == STORE_ERR_BUSY)
			return false;   /* paused: a worker waits for the pages */
		if (rc != STORE_OK) {
			/* The +OK line and part of the message are out: the
			 * only honest signal left is to close without the
			 * terminating ".", so the client sees it incomplete. */
			conn_log(s->c, PLOG_ERROR, "retr failed uid=%u offset=%llu error=\"%s\"",
				 (unsigned)s->msgs[r->index].uid, (unsigned long long)r->offset,
				 store_strerror(rc));
			pop3_retr_clear(s);
			conn_close(s->c, "store error");
			return true;
		}
		r->in_len = got;
		r->offset += got;
	}
	if (r->in_len == 0 || pop3_stuff_done(&r->stuff)) {
		char tail[POP3_STUFF_FINISH_MAX];
		size_t n = pop3_stuff_finish(&r->stuff, tail);
		conn_write(s->c, tail, n);
		bool mark = r->mark_seen;
		uint32_t uid = s->msgs[r->index].uid;
		pop3_retr_clear(s);
		if (mark)
			pop3_retr_seen(s, uid);
		return true;
	}
	size_t out_len = 0;
	size_t used = pop3_stuff_feed(&r->stuff, r->in, r->in_len, r->out,
				      r->in_cap * POP3_STUFF_EXPANSION, &out_len);
	conn_write(s->c, r->out, out_len);
	if (used < r->in_len && !pop3_stuff_done(&r->stuff))
		memmove(r->in, r->in + used, r->in_len - used);
	r->in_len = pop3_stuff_done(&r->stuff) ? 0 : r->in_len - used;
	return false;
}

/* wait: the reads may wait for a lock (the pool could not take the wait). */
static void retr_start(struct pop3_session *s, uint32_t n, bool top, uint32_t lines, bool wait)
{
	struct pop3_msg *m = pop3_session_msg(s, n);
	if (!m)
		return;
	struct store *store = s->srv->store;
	/* The message as the login snapshot has it: its content's id and
	 * size, without reading its record again.  A content's bytes never
	 * change and its id is not given to another while the store's
	 * environment lives (a counter, STORE_META_NEXT_CONTENT), so the id
	 * names these bytes or nothing.  A message IMAP expunged since login
	 * is still served while its content lives (a copy in another mailbox
	 * keeps it), as LIST and UIDL still list it: the session's maildrop
	 * is the one it locked at login (RFC 1939 4: the lock is there to
	 * keep its messages from being modified or removed until UPDATE;
	 * IMAP sessions share the maildrop here, so it stands for a
	 * snapshot).  Once the content is gone the pin below finds nothing,
	 * and the client gets -ERR before any +OK.  The read of the record
	 * was a lookup on the very pages that the \Seen marks of the RETRs
	 * before are written to, by a worker, at the same time.
	 * After a recovery (store_generation moved since the login, checked
	 * once the first bytes are read, so a recovery during the reads
	 * counts) the counter may have gone back and an id of the snapshot
	 * may name another's message now: the record says what this one's
	 * is, or that it is gone. */
	uint64_t content_id = m->content_id;
	bool from_record = false;
	int rc = STORE_OK;
	/* Buffers the size of a small message, not of the largest chunk:
	 * most messages are a few KiB, and 192 KiB per RETR made the heap
	 * grow and shrink (brk, page faults) for every one of them. */
	size_t cap = POP3_STREAM_CHUNK;
	if (m->size > 0 && m->size < cap)
		cap = (size_t)m->size;
	s->retr.in_cap = cap;
	if (!(s->retr.in = malloc(cap)))
		rc = STORE_ERR_TEMP;
	if (rc == STORE_OK && !(s->retr.out = malloc(cap * POP3_STUFF_EXPANSION)))
		rc = STORE_ERR_TEMP;
	size_t got = 0;
	bool was = store_thread_nowait(!wait);   /* no lock waits here: see above */
	for (;;) {
		/* An IMAP EXPUNGE of the message (on another loop, at any
		 * moment) must not pull the bytes from under the "+OK n
		 * octets": pinned before the first read, the content stays
		 * until the stream ends; gone before the pin, the first read
		 * says so. */
		if (rc == STORE_OK)
			rc = store_content_open(store, content_id, &s->retr.content, NULL, NULL);
		if (rc == STORE_OK)
			rc = store_content_pread(store, &s->retr.content, 0, s->retr.in, cap, &got);
		if (from_record || !s->retr.out || store_generation(store) == s->store_gen)
			break;   /* (no buffers: out of memory, said below) */
		store_content_close(store, &s->retr.content);
		struct store_msg cur;
		rc = store_msg_get(store, s->mbox.id, m->uid, &cur);
		content_id = cur.content_id;
		from_record = true;
		got = 0;
	}
	store_thread_nowait(was);
	if (rc == STORE_ERR_BUSY) {
		/* Nothing is out yet: the command starts over once a worker
		 * has waited for the pages (or now, waiting here, when the
		 * pool cannot take it). */
		pop3_retr_clear(s);
		struct pop3_read_wait again = {.start = true, .top = top, .n = n, .lines = lines};
		if (!read_wait_submit(s, content_id, 0, cap, &again))
			retr_start(s, n, top, lines, true);
		return;
	}
	if (rc != STORE_OK) {
		pop3_retr_clear(s);
		if (rc == STORE_ERR_NOTFOUND) {
			/* RFC 3206 4: SYS/PERM, retrying will not help. */
			pop3_reply(s, "-ERR [SYS/PERM] Message %u no longer exists", (unsigned)n);
			return;
		}
		conn_log(s->c, PLOG_ERROR, "retr failed uid=%u error=\"%s\"", (unsigned)m->uid,
			 store_strerror(rc));
		pop3_reply(s, "-ERR [SYS/TEMP] Unable to read message %u, try again later",
			   (unsigned)n);
		return;
	}
	struct pop3_retr *r = &s->retr;
	r->index = (size_t)(m - s->msgs);
	/* RETR reads the message, TOP only peeks (as IMAP's BODY.PEEK).
	 * Whether it is \Seen already is the mark's business: the store
	 * leaves a message that has the flag as it is (no new MODSEQ). */
	r->mark_seen = !top;
	r->offset = got;
	r->in_len = got;
	pop3_stuff_init(&r->stuff, top, lines);
	if (top)
		pop3_reply(s, "+OK Top of message follows");
	else
		pop3_reply(s, "+OK %llu octets", (unsigned long long)m->size);
	pop3_session_stream(s, pop3_retr_pump);
}

void pop3_cmd_retr(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	retr_start(s, cmd->num[0], false, 0, false);
}

void pop3_cmd_top(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	/* RFC 1939 7: the header, the blank line, then n lines of the body
	 * (all of it when it has fewer). */
	retr_start(s, cmd->num[0], true, cmd->num[1], false);
}
