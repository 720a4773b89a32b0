/* core/workpool.h: a small pool of worker threads for what must not run on
 * an event loop (a password hash, ~20 ms of yescrypt).
 *
 * A loop submits a job; a worker runs job->run on its own thread; job->done
 * then runs on the loop that submitted it (through that loop's inbox, the
 * same eventfd wake-up the group commit uses), in the order the jobs
 * finished.  The session that submitted waits meanwhile, as for a log
 * flush.  The job owns everything `run` reads: a session that goes away
 * mid-job only marks its job (on its loop thread), and `done` frees it.
 *
 * The queue is bounded: a full pool refuses the job at once, and the caller
 * answers with a temporary failure instead of letting memory grow. */
#ifndef POSTINO_WORKPOOL_H
#define POSTINO_WORKPOOL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/inbox.h"

struct loop;
struct workpool;

/* The server's queue bound: at ~20 ms a hash, 512 jobs are a few seconds
 * of work for two workers; past that a login is refused for now (a
 * temporary failure the client retries), well within its deadline. */
#define WORKPOOL_QUEUE_MAX 512

/* Jobs of one kind that a worker takes together, at most this many. */
#define WORKPOOL_BATCH_MAX 64

struct work {
	void (*run)(struct work *w);    /* on a worker thread */
	void (*done)(struct work *w);   /* on the submitting loop's thread */
	/* Optional, for jobs that are cheaper together (deliveries: one
	 * store transaction for many).  A worker that takes such a job also
	 * takes the queued jobs with the same run_batch, oldest first (at
	 * most WORKPOOL_BATCH_MAX, whichever loops they came from), and
	 * calls run_batch once for all of them instead of run; each one's
	 * done follows as usual.  One batch of a kind runs at a time: jobs
	 * of the kind wait meanwhile and join the next one (two would only
	 * wait for each other's locks), while other jobs go on. */
	void (*run_batch)(struct work **ws, size_t n);
	/* Read in done: false when the pool stopped before a worker took the
	 * job, so run never ran (shutdown). */
	bool ran;
	/* private */
	struct loop *loop;
	struct inbox_item item;
	struct work *next;
};

/* nthreads workers (0: one per online CPU) and at most max_queued jobs waiting for
 * one; NULL when out of memory or threads. */
struct workpool *workpool_new(unsigned nthreads, size_t max_queued);
/* Any loop thread.  0: done(w) will run on loop l (never inside this call);
 * -1: the queue is full or the pool is stopping, and nothing will run. */
int workpool_submit(struct workpool *wp, struct loop *l, struct work *w);
/* Jobs waiting for a worker (statistics, tests). */
size_t workpool_queued(struct workpool *wp);
/* Waits for the jobs being run, joins the workers, and completes the jobs
 * still queued with ran=false: each done is posted to its loop, so call it
 * while the loops' inboxes still exist (their leftovers run at inbox_free). */
void workpool_stop(struct workpool *wp);
/* Stops if needed and frees; *wp becomes NULL. */
void workpool_free(struct workpool **wp);

#endif
