/* tests/unit/test_workpool.c: the worker pool (core/workpool.c) with real
 * threads and real inboxes (core/inbox.c): jobs run on a worker, their
 * completions come back on the thread of the loop that submitted them, in
 * order; a job whose owner went away is freed by its done; a stop leaves
 * queued jobs unrun but still completes them; a full queue refuses; jobs
 * of a batch kind run together, one batch of the kind at a time.
 *
 * The loops here are this file's own (core/loop.h is implemented below
 * with an event_base and an inbox per loop), so the test needs no server.
 * Nothing is timed: threads are ordered with semaphores. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "core/inbox.h"
#include "core/loop.h"
#include "core/workpool.h"

/* ---- loops of our own ---- */

struct loop {
	struct event_base *base;
	struct inbox *inbox;
	pthread_t thread;
	struct inbox_item stop_item;
};

void loop_post(struct loop *l, struct inbox_item *item, void (*fn)(struct inbox_item *item))
{
	inbox_post(l->inbox, item, fn);
}

static void *loop_main(void *arg)
{
	struct loop *l = arg;
	event_base_loop(l->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

static void loop_init(struct loop *l)
{
	memset(l, 0, sizeof(*l));
	l->base = event_base_new();
	assert_non_null(l->base);
	l->inbox = inbox_new(l->base);
	assert_non_null(l->inbox);
}

static void loop_start(struct loop *l)
{
	assert_int_equal(pthread_create(&l->thread, NULL, loop_main, l), 0);
}

static void loop_stop_cb(struct inbox_item *it)
{
	struct loop *l = (struct loop *)((char *)it - offsetof(struct loop, stop_item));
	event_base_loopexit(l->base, NULL);
}

/* Stops the loop's thread (if started), runs its inbox's leftovers here. */
static void loop_fini(struct loop *l, bool started)
{
	if (started) {
		loop_post(l, &l->stop_item, loop_stop_cb);
		pthread_join(l->thread, NULL);
	}
	inbox_free(&l->inbox);
	event_base_free(l->base);
}

/* ---- jobs ---- */

#define NJOBS 50
#define LATE_ID 99   /* submitted while a stop begins; freed by its done */

struct record {
	pthread_mutex_t mu;
	sem_t all_done;
	unsigned ndone, expect;
	int order[1 << 16];        /* job ids in the order their done ran */
	bool wrong_thread;
	bool ran_on_loop;
};

struct job {
	struct work work;
	int id;
	struct loop *loop;
	struct record *rec;
	pthread_t submitter;         /* the loop thread that submitted */
	pthread_t runner;
	sem_t *started, *release;    /* a job that blocks its worker */
	bool cancelled;              /* the owner went away (loop thread only) */
	bool *freed_flag;
	bool ran_seen;
};

static void job_run(struct work *w)
{
	struct job *j = (struct job *)w;
	j->runner = pthread_self();
	if (j->started)
		sem_post(j->started);
	if (j->release)
		sem_wait(j->release);
}

static void job_done(struct work *w)
{
	struct job *j = (struct job *)w;
	struct record *r = j->rec;
	j->ran_seen = w->ran;
	if (j->cancelled) {
		if (j->freed_flag)
			*j->freed_flag = true;
		free(j);
		return;
	}
	pthread_mutex_lock(&r->mu);
	if (!pthread_equal(pthread_self(), j->submitter))
		r->wrong_thread = true;
	if (w->ran && pthread_equal(j->runner, j->submitter))
		r->ran_on_loop = true;
	r->order[r->ndone++] = j->id;
	bool last = r->ndone == r->expect;
	pthread_mutex_unlock(&r->mu);
	if (j->id == LATE_ID)
		free(j);   /* nobody else holds it */
	if (last)
		sem_post(&r->all_done);
}

static void record_init(struct record *r, unsigned expect)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->mu, NULL);
	sem_init(&r->all_done, 0, 0);
	r->expect = expect;
}

static void record_fini(struct record *r)
{
	pthread_mutex_destroy(&r->mu);
	sem_destroy(&r->all_done);
}

static struct job *job_new(int id, struct loop *l, struct record *r)
{
	struct job *j = calloc(1, sizeof(*j));
	assert_non_null(j);
	j->id = id;
	j->loop = l;
	j->rec = r;
	j->work.run = job_run;
	j->work.done = job_done;
	return j;
}

/* Submitting happens on a loop thread: an inbox item that submits a batch. */
struct batch {
	struct inbox_item item;
	struct workpool *wp;
	struct loop *loop;
	struct job **jobs;
	unsigned n;
};

static void batch_submit_cb(struct inbox_item *it)
{
	struct batch *b = (struct batch *)it;
	for (unsigned i = 0; i < b->n; i++) {
		b->jobs[i]->submitter = pthread_self();
		assert_int_equal(workpool_submit(b->wp, b->loop, &b->jobs[i]->work), 0);
	}
}

/* Two loops each submit NJOBS to a one-worker pool: every done runs on its
 * own loop's thread, after run on the worker, and each loop sees its jobs
 * complete in the order it submitted them. */
static void test_completions_on_submitting_loop_in_order(void **state)
{
	(void)state;
	struct loop loops[2];
	struct record rec;
	record_init(&rec, 2 * NJOBS);
	struct workpool *wp = workpool_new(1, 2 * NJOBS);
	assert_non_null(wp);
	struct job *jobs[2][NJOBS];
	struct batch batches[2];
	for (int l = 0; l < 2; l++) {
		loop_init(&loops[l]);
		loop_start(&loops[l]);
		for (int i = 0; i < NJOBS; i++)
			jobs[l][i] = job_new(l * 1000 + i, &loops[l], &rec);
		batches[l] = (struct batch){.wp = wp, .loop = &loops[l], .jobs = jobs[l], .n = NJOBS};
	}
	for (int l = 0; l < 2; l++)
		loop_post(&loops[l], &batches[l].item, batch_submit_cb);
	sem_wait(&rec.all_done);
	assert_false(rec.wrong_thread);
	assert_false(rec.ran_on_loop);
	int next[2] = {0, 0};
	for (unsigned k = 0; k < rec.ndone; k++) {
		int l = rec.order[k] / 1000;
		assert_int_equal(rec.order[k] % 1000, next[l]);
		next[l]++;
	}
	assert_int_equal(next[0], NJOBS);
	assert_int_equal(next[1], NJOBS);
	workpool_free(&wp);
	assert_null(wp);
	for (int l = 0; l < 2; l++) {
		loop_fini(&loops[l], true);
		for (int i = 0; i < NJOBS; i++) {
			assert_true(jobs[l][i]->ran_seen);
			free(jobs[l][i]);
		}
	}
	record_fini(&rec);
}

/* The owner cancels while its job runs (a client that disconnected mid
 * hash): done still runs, sees the mark and frees the job. */
static void test_cancel_done_frees(void **state)
{
	(void)state;
	struct loop l;
	loop_init(&l);
	struct record rec;
	record_init(&rec, 1);
	struct workpool *wp = workpool_new(1, 4);
	sem_t started, release;
	sem_init(&started, 0, 0);
	sem_init(&release, 0, 0);
	struct job *j = job_new(1, &l, &rec);
	bool freed = false;
	j->started = &started;
	j->release = &release;
	j->freed_flag = &freed;
	j->submitter = pthread_self();
	assert_int_equal(workpool_submit(wp, &l, &j->work), 0);
	sem_wait(&started);
	j->cancelled = true;   /* this thread is the job's loop thread */
	sem_post(&release);
	/* The loop never ran: its inbox holds the completion until here. */
	workpool_free(&wp);
	assert_false(freed);
	loop_fini(&l, false);
	assert_true(freed);
	assert_int_equal(rec.ndone, 0);
	sem_destroy(&started);
	sem_destroy(&release);
	record_fini(&rec);
}

struct stopper {
	struct workpool *wp;
};

static void *stop_main(void *arg)
{
	workpool_stop(((struct stopper *)arg)->wp);
	return NULL;
}

/* A stop while jobs wait: the one running finishes (ran), the queued ones
 * never run but each still gets its done (ran=false), and a submit during
 * the stop is refused. */
static void test_stop_with_queued_jobs(void **state)
{
	(void)state;
	struct loop l;
	loop_init(&l);
	struct record rec;
	record_init(&rec, 4);
	struct workpool *wp = workpool_new(1, (size_t)1 << 30);
	sem_t started, release;
	sem_init(&started, 0, 0);
	sem_init(&release, 0, 0);
	struct job *jobs[4];
	for (int i = 0; i < 4; i++) {
		jobs[i] = job_new(i, &l, &rec);
		jobs[i]->submitter = pthread_self();
	}
	jobs[0]->started = &started;
	jobs[0]->release = &release;
	for (int i = 0; i < 4; i++)
		assert_int_equal(workpool_submit(wp, &l, &jobs[i]->work), 0);
	sem_wait(&started);
	assert_int_equal(workpool_queued(wp), 3);
	struct stopper st = {wp};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, stop_main, &st), 0);
	/* Once the stop has begun, a submit is refused. */
	struct job *late = job_new(LATE_ID, &l, &rec);
	late->submitter = pthread_self();
	while (workpool_submit(wp, &l, &late->work) == 0) {
		/* queued before the stop began: one more unrun job */
		rec.expect++;
		assert_true(rec.expect < 60000);
		sched_yield();
		late = job_new(LATE_ID, &l, &rec);
		late->submitter = pthread_self();
	}
	free(late);
	sem_post(&release);
	pthread_join(t, NULL);
	assert_int_equal(workpool_queued(wp), 0);
	loop_fini(&l, false);   /* runs the completions */
	assert_int_equal(rec.ndone, rec.expect);
	assert_true(jobs[0]->ran_seen);
	for (int i = 1; i < 4; i++)
		assert_false(jobs[i]->ran_seen);
	assert_false(rec.wrong_thread);
	workpool_free(&wp);
	for (int i = 0; i < 4; i++)
		free(jobs[i]);
	sem_destroy(&started);
	sem_destroy(&release);
	record_fini(&rec);
}

/* The bound: with the worker busy and max_queued waiting, the next submit
 * is refused at once, and accepted again once the queue has room. */
static void test_queue_full(void **state)
{
	(void)state;
	struct loop l;
	loop_init(&l);
	struct record rec;
	record_init(&rec, 4);
	struct workpool *wp = workpool_new(1, 2);
	sem_t started, release, started2;
	sem_init(&started, 0, 0);
	sem_init(&started2, 0, 0);
	sem_init(&release, 0, 0);
	struct job *jobs[5];
	for (int i = 0; i < 5; i++) {
		jobs[i] = job_new(i, &l, &rec);
		jobs[i]->submitter = pthread_self();
	}
	jobs[0]->started = &started;
	jobs[0]->release = &release;
	jobs[1]->started = &started2;
	assert_int_equal(workpool_submit(wp, &l, &jobs[0]->work), 0);
	sem_wait(&started);   /* the worker holds job 0; the queue is empty */
	assert_int_equal(workpool_submit(wp, &l, &jobs[1]->work), 0);
	assert_int_equal(workpool_submit(wp, &l, &jobs[2]->work), 0);
	assert_int_equal(workpool_submit(wp, &l, &jobs[3]->work), -1);
	assert_int_equal(workpool_queued(wp), 2);
	sem_post(&release);
	sem_wait(&started2);  /* job 1 left the queue */
	assert_int_equal(workpool_submit(wp, &l, &jobs[4]->work), 0);
	loop_start(&l);
	sem_wait(&rec.all_done);   /* jobs 0, 1, 2, 4 */
	assert_int_equal(rec.order[0], 0);
	assert_int_equal(rec.order[1], 1);
	assert_int_equal(rec.order[2], 2);
	assert_int_equal(rec.order[3], 4);
	workpool_free(&wp);
	loop_fini(&l, true);
	for (int i = 0; i < 5; i++)
		free(jobs[i]);
	sem_destroy(&started);
	sem_destroy(&started2);
	sem_destroy(&release);
	record_fini(&rec);
}

/* ---- batches ---- */

struct batches {
	pthread_mutex_t mu;
	size_t sizes[8];
	unsigned nbatches;
	int ids[128];              /* job ids in the order the batches ran them */
	unsigned nids;
	bool concurrent;           /* two batches of the kind ran at once */
	bool running;
};
static struct batches batches;

static void job_run_batch(struct work **ws, size_t n)
{
	struct job *first = (struct job *)ws[0];
	pthread_mutex_lock(&batches.mu);
	if (batches.running)
		batches.concurrent = true;
	batches.running = true;
	if (batches.nbatches < 8)
		batches.sizes[batches.nbatches++] = n;
	for (size_t i = 0; i < n && batches.nids < 128; i++)
		batches.ids[batches.nids++] = ((struct job *)ws[i])->id;
	pthread_mutex_unlock(&batches.mu);
	for (size_t i = 0; i < n; i++)
		((struct job *)ws[i])->runner = pthread_self();
	if (first->started)
		sem_post(first->started);
	if (first->release)
		sem_wait(first->release);
	pthread_mutex_lock(&batches.mu);
	batches.running = false;
	pthread_mutex_unlock(&batches.mu);
}

/* Jobs with a run_batch that queue while one of their kind runs are taken
 * together by the next worker free (in order, WORKPOOL_BATCH_MAX at most),
 * never beside a running batch of the kind, while a plain job goes on at
 * once on the other worker.  Every job's done still runs, with ran set. */
static void test_batches_of_a_kind(void **state)
{
	(void)state;
	enum { NK = WORKPOOL_BATCH_MAX + 6, PLAIN = 1000 };
	memset(&batches, 0, sizeof(batches));
	pthread_mutex_init(&batches.mu, NULL);
	struct loop l;
	loop_init(&l);
	struct record rec;
	record_init(&rec, NK + 2);
	struct workpool *wp = workpool_new(2, (size_t)1 << 30);
	sem_t started, release, plain_started;
	sem_init(&started, 0, 0);
	sem_init(&release, 0, 0);
	sem_init(&plain_started, 0, 0);
	struct job *first = job_new(0, &l, &rec);
	first->work.run_batch = job_run_batch;
	first->started = &started;
	first->release = &release;
	first->submitter = pthread_self();
	assert_int_equal(workpool_submit(wp, &l, &first->work), 0);
	sem_wait(&started);   /* a batch of one runs, and holds its worker */
	struct job *jobs[NK];
	struct job *plain = NULL;
	for (int i = 0; i < NK; i++) {
		jobs[i] = job_new(i + 1, &l, &rec);
		jobs[i]->work.run_batch = job_run_batch;
		jobs[i]->submitter = pthread_self();
		assert_int_equal(workpool_submit(wp, &l, &jobs[i]->work), 0);
		if (i == 2) {
			plain = job_new(PLAIN, &l, &rec);
			plain->started = &plain_started;
			plain->submitter = pthread_self();
			assert_int_equal(workpool_submit(wp, &l, &plain->work), 0);
		}
	}
	/* The other worker passes the kind's jobs by and runs the plain one
	 * while the first batch holds on. */
	sem_wait(&plain_started);
	assert_int_equal(workpool_queued(wp), NK);
	sem_post(&release);
	loop_start(&l);
	sem_wait(&rec.all_done);
	assert_false(batches.concurrent);
	assert_int_equal(batches.nbatches, 3);
	assert_int_equal(batches.sizes[0], 1);
	assert_int_equal(batches.sizes[1], WORKPOOL_BATCH_MAX);
	assert_int_equal(batches.sizes[2], NK - WORKPOOL_BATCH_MAX);
	for (unsigned i = 0; i < batches.nids; i++)
		assert_int_equal(batches.ids[i], (int)i);
	assert_int_equal(batches.nids, NK + 1);
	assert_true(first->ran_seen);
	for (int i = 0; i < NK; i++)
		assert_true(jobs[i]->ran_seen);
	workpool_free(&wp);
	loop_fini(&l, true);
	free(first);
	free(plain);
	for (int i = 0; i < NK; i++)
		free(jobs[i]);
	sem_destroy(&started);
	sem_destroy(&release);
	sem_destroy(&plain_started);
	record_fini(&rec);
	pthread_mutex_destroy(&batches.mu);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_completions_on_submitting_loop_in_order),
		cmocka_unit_test(test_cancel_done_frees),
		cmocka_unit_test(test_stop_with_queued_jobs),
		cmocka_unit_test(test_queue_full),
		cmocka_unit_test(test_batches_of_a_kind),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
