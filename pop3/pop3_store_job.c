/* pop3/pop3_store_job.c: POP3's store writes, made so that a loop never
 * waits for another transaction's lock (issue 11 point 1): RETR's batched
 * \Seen marks and QUIT's expunge.  Each is tried in place with
 * store_thread_nowait; one that finds the store locked (STORE_ERR_BUSY,
 * nothing changed) goes to the worker pool (core/workpool.h), where
 * Berkeley DB's lock waits and back-off are harmless.  The job owns its
 * UID lists; a QUIT's job points at its session until the session goes
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
	struct store *store;
	uint32_t mailbox_id;
	uint32_t *seen;              /* \Seen marks still to make (owned) */
	size_t nseen;
	uint32_t *del;               /* to expunge (owned), QUIT's */
	size_t ndel;
	bool del_done;
	int seen_rc, rc;
	size_t removed;
};

/* RFC 3501's \Seen for messages RETR sent whole.  Messages expunged
 * meanwhile by IMAP come back as STORE_FLAG_GONE: nothing to mark. */
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

static bool job_pending(const struct pop3_job *j)
{
	return j->nseen || (j->ndel && !j->del_done);
}

static void job_free(struct pop3_job *j)
{
	free(j->seen);
	free(j->del);
	free(j);
}

static void job_run(struct work *w)
{
	job_step((struct pop3_job *)w);   /* waiting for locks is fine here */
}

static void job_report(struct pop3_job *j, size_t nseen)
{
	if (j->seen_rc != STORE_OK)
		/* The messages were delivered to the client all the same;
		 * only their read state is lost. */
		log_msg(PLOG_WARN, "pop3 retr seen flags not stored count=%zu error=\"%s\"", nseen,
			store_strerror(j->seen_rc));
}

static void job_done(struct work *w)
{
	struct pop3_job *j = (struct pop3_job *)w;
	size_t nseen = j->nseen;
	if (!w->ran) {
		/* The pool stopped first: nothing was changed. */
		j->seen_rc = nseen ? STORE_ERR_TEMP : j->seen_rc;
		if (j->ndel && !j->del_done)
			j->rc = STORE_ERR_TEMP;
	}
	job_report(j, nseen);
	if (j->s) {
		j->s->store_job = NULL;
		pop3_quit_stored(j->s, j->rc, j->removed);
	}
	job_free(j);
}

/* j tried in place; what is left goes to the pool, or is done here when
 * the pool refuses it.  true when a worker has it (and j). */
static bool job_start(struct server *srv, struct loop *loop, struct pop3_job *j)
{
	bool was = store_thread_nowait(true);
	size_t nseen = j->nseen;
	job_step(j);
	store_thread_nowait(was);
	if (job_pending(j)) {
		j->w.run = job_run;
		j->w.done = job_done;
		if (srv->workpool && workpool_submit(srv->workpool, loop, &j->w) == 0)
			return true;
		job_step(j);   /* a full pool: wait here */
	}
	job_report(j, nseen);
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
	if (!job_start(s->srv, conn_loop(s->c), j))
		job_free(j);
	else
		conn_log(s->c, PLOG_DEBUG, "store busy: RETR's \\Seen set by a worker");
}

void pop3_quit_store(struct pop3_session *s, uint32_t *uids, size_t n)
{
	/* The read state first, so that it is in the log the reply waits
	 * for (or committed before the reply when nothing is deleted). */
	struct pop3_job *j = job_new(s);
	if (!j) {
		free(uids);
		pop3_quit_stored(s, STORE_ERR_TEMP, 0);
		return;
	}
	j->del = uids;
	j->ndel = n;
	j->s = s;
	bool queued = job_start(s->srv, conn_loop(s->c), j);
	if (queued)
		conn_log(s->c, PLOG_DEBUG, "store busy: QUIT's update done by a worker");
	if (queued && j->ndel && !j->del_done) {
		s->store_job = j;   /* the reply waits for the worker (job_done) */
		return;
	}
	/* The expunge is done.  A worker may still have the \Seen marks:
	 * they are not in the log the reply waits for then, which promises
	 * nothing about them; the job frees itself. */
	int rc = j->ndel ? j->rc : STORE_OK;
	size_t removed = j->removed;
	if (queued)
		j->s = NULL;
	else
		job_free(j);
	pop3_quit_stored(s, rc, removed);
}

void pop3_store_job_detach(struct pop3_session *s)
{
	if (s->store_job) {
		s->store_job->s = NULL;
		s->store_job = NULL;
	}
}
