/* pop3/pop3_store_job.c: POP3's store writes, made so that a loop never
 * waits for another transaction's lock (issue 11 point 1): RETR's batched
 * \Seen marks and QUIT's expunge.  Each is tried in place with
 * store_thread_nowait; one that finds the store locked (STORE_ERR_BUSY,
 * nothing changed) goes to the worker pool (core/workpool.h), where
 * Berkeley DB's lock waits and back-off are harmless.  A batch of marks
 * large enough to be heavy goes to a worker at once.  The job owns its
 * UID lists; a job points at its session until the session goes
 * (pop3_session_free), which leaves the job to finish alone. */
#include <stdlib.h>
#include <string.h>

#include "core/conn.h"
#include "core/log.h"
#include "core/server.h"
#include "core/workpool.h"
#include "pop3/pop3_session.h"

struct pop3_job {
	struct work w;               /* first */
	struct pop3_session *s;      /* QUIT's, waiting for the expunge; else NULL */
	struct pop3_session *owner;  /* a batch of marks: on owner->seen_jobs */
	struct pop3_job *next;
	struct pop3_inuse inuse;     /* the maildrop, when s went first (detach) */
	struct store *store;
	uint32_t mailbox_id;
	uint32_t *seen;              /* \Seen marks still to make (owned) */
	size_t nseen, nseen_asked;
	uint32_t *del;               /* to expunge (owned), QUIT's */
	size_t ndel;
	bool del_done;
	int seen_rc, rc;
	size_t removed;
};

/* \Seen for messages RETR sent whole.  Messages expunged meanwhile by
 * IMAP come back as STORE_FLAG_GONE: nothing to mark.  POP3_SEEN_BATCH
 * marks are one transaction, so a BUSY changed none of them. */
_Static_assert(POP3_SEEN_BATCH <= STORE_FLAGS_TXN_MAX, "a \\Seen batch is one transaction");
static int seen_mark(struct store *store, uint32_t mailbox_id, const uint32_t *uids, size_t n)
{
	struct store_flag_result *res = calloc(n, sizeof(*res));
	if (!res)
		return STORE_ERR_TEMP;
	struct store_flag_change ch = {.op = STORE_FLAGS_ADD, .flags = STORE_F_SEEN};
	int rc = store_msgs_flags(store, mailbox_id, uids, n, &ch, res);
	free(res);
	return rc;
}

/* A full batch (POP3_SEEN_BATCH) is milliseconds of writes: a message
 * record read and rewritten and a change record moved, per message.  In
 * place, it held up the loop's other sessions, and this session's next
 * RETR, for all of that; a client reading one message at a time lost a
 * fifth of its rate to it.  A few marks (the timer's, QUIT's) cost less
 * than the hand-off. */
#define POP3_SEEN_POOL_MIN 32

static void seen_job_link(struct pop3_session *s, struct pop3_job *j)
{
	j->owner = s;
	j->next = s->seen_jobs;
	s->seen_jobs = j;
}

static void seen_job_unlink(struct pop3_job *j)
{
	struct pop3_job **p = &j->owner->seen_jobs;
	while (*p != j)
		p = &(*p)->next;
	*p = j->next;
	j->owner = NULL;
	j->next = NULL;
}

/* What is left of j, tried once: each part done leaves the job (a part
 * that found the store locked stays, to be done by a worker). */
static void job_step(struct pop3_job *j)
{
	if (j->nseen) {
		j->seen_rc = seen_mark(j->store, j->mailbox_id, j->seen, j->nseen);
		if (j->seen_rc != STORE_ERR_BUSY)
			j->nseen = 0;
	}
	if (j->ndel && !j->del_done) {
		j->rc = store_expunge(j->store, j->mailbox_id, j->del, j->ndel, &j->removed);
		j->del_done = j->rc != STORE_ERR_BUSY;
	}
}

static void job_free(struct pop3_job *j)
{
	pop3_inuse_release(&j->inuse);
	free(j->seen);
	free(j->del);
	free(j);
}

static void job_run(struct work *w)
{
	job_step((struct pop3_job *)w);   /* waiting for locks is fine here */
}

static void job_report(const struct pop3_job *j)
{
	if (j->seen_rc != STORE_OK)
		/* The messages were delivered to the client all the same;
		 * only their read state is lost. */
		log_msg(PLOG_WARN, "pop3 retr seen flags not stored count=%zu error=\"%s\"",
			j->nseen_asked, store_strerror(j->seen_rc));
}

/* On the submitting loop, after the worker (or instead of it, ran false:
 * the pool stopped first and nothing was changed). */
static void job_done(struct work *w)
{
	struct pop3_job *j = (struct pop3_job *)w;
	if (!w->ran) {
		if (j->nseen)
			j->seen_rc = STORE_ERR_TEMP;
		if (j->ndel && !j->del_done)
			j->rc = STORE_ERR_TEMP;
	}
	job_report(j);
	struct pop3_session *owner = j->owner;
	if (owner)
		seen_job_unlink(j);
	if (j->s) {
		j->s->store_job = NULL;
		pop3_quit_stored(j->s, j->rc, j->removed);
	}
	job_free(j);
	if (owner && !owner->seen_jobs && owner->quit_waiting) {
		owner->quit_waiting = false;
		pop3_quit_stored(owner, owner->quit_rc, owner->removed);
	}
}

/* j tried in place without waiting for a lock (store_thread_nowait).
 * true when something is left for a worker. */
static bool job_try(struct pop3_job *j)
{
	j->nseen_asked = j->nseen;
	bool was = store_thread_nowait(true);
	job_step(j);
	store_thread_nowait(was);
	return j->nseen || (j->ndel && !j->del_done);
}

/* What job_try left, to the pool: true when a worker has j now (from then
 * on only its done may touch it); false when the pool refused it and it
 * was done here, waiting. */
static bool job_submit(struct pop3_session *s, struct pop3_job *j)
{
	j->w.run = job_run;
	j->w.done = job_done;
	if (s->srv->workpool && workpool_submit(s->srv->workpool, conn_loop(s->c), &j->w) == 0)
		return true;
	job_step(j);
	return false;
}

/* A job for s's mailbox holding s's pending \Seen marks: they move to
 * it, and the next RETR starts a new batch. */
static struct pop3_job *job_new(struct pop3_session *s)
{
	struct pop3_job *j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	j->store = s->srv->store;
	j->mailbox_id = s->mbox.id;
	j->seen = s->seen_uids;
	j->nseen = s->nseen;
	s->seen_uids = NULL;
	s->nseen = 0;
	return j;
}

void pop3_seen_commit(struct pop3_session *s)
{
	if (s->nseen == 0)
		return;
	struct pop3_job *j = job_new(s);
	if (!j) {
		conn_log(s->c, PLOG_WARN, "retr seen flags not stored count=%zu error=\"%s\"",
			 s->nseen, "out of memory");
		s->nseen = 0;
		return;
	}
	bool heavy = j->nseen >= POP3_SEEN_POOL_MIN;
	if (heavy)
		j->nseen_asked = j->nseen;
	if (heavy || job_try(j)) {
		if (!heavy)
			conn_log(s->c, PLOG_DEBUG, "store busy: RETR's \\Seen set by a worker");
		/* Linked first: after the submit, j is the worker's. */
		seen_job_link(s, j);
		if (job_submit(s, j))
			return;
		seen_job_unlink(j);
	}
	job_report(j);
	job_free(j);
}

void pop3_quit_store(struct pop3_session *s, uint32_t *uids, size_t n)
{
	/* The pending \Seen marks go with the expunge; when the store is
	 * free they are committed first, in the log the reply waits for.
	 * When it is locked, what is left goes to a worker, and the +OK
	 * waits for it: for the expunge, and for the marks as for any batch
	 * of them on a worker (the session's seen_jobs), so that mail read
	 * by POP3 is \Seen to IMAP once QUIT is answered. */
	struct pop3_job *j = job_new(s);
	if (!j) {
		free(uids);
		pop3_quit_stored(s, STORE_ERR_TEMP, 0);
		return;
	}
	j->del = uids;
	j->ndel = n;
	if (job_try(j)) {
		conn_log(s->c, PLOG_DEBUG, "store busy: QUIT's update done by a worker");
		/* Everything the reply needs is decided before the worker
		 * may start: after the submit, j is the worker's. */
		bool del_pending = j->ndel && !j->del_done;
		int rc = j->ndel ? j->rc : STORE_OK;
		size_t removed = j->removed;
		if (del_pending) {
			j->s = s;   /* its done answers the QUIT */
			s->store_job = j;
		}
		bool marks_pending = j->nseen != 0;
		if (marks_pending)
			seen_job_link(s, j);
		if (job_submit(s, j)) {
			if (!del_pending)   /* waits for seen_jobs, this one too */
				pop3_quit_stored(s, rc, removed);
			return;
		}
		/* the pool refused it: done here, j is ours again */
		if (marks_pending)
			seen_job_unlink(j);
		j->s = NULL;
		s->store_job = NULL;
	}
	job_report(j);
	int rc = j->ndel ? j->rc : STORE_OK;
	size_t removed = j->removed;
	job_free(j);
	pop3_quit_stored(s, rc, removed);
}

void pop3_store_job_detach(struct pop3_session *s)
{
	/* The marks' jobs finish alone (their done touches only the job). */
	while (s->seen_jobs)
		seen_job_unlink(s->seen_jobs);
	s->quit_waiting = false;
	struct pop3_job *j = s->store_job;
	if (!j)
		return;
	/* The expunge is still on a worker: the maildrop stays locked until
	 * it is done (RFC 1939 4), so a new session cannot list messages
	 * that are about to go. */
	pop3_inuse_move(&j->inuse, &s->inuse);
	j->s = NULL;
	s->store_job = NULL;
}
