/* core/workpool.c: worker threads and their bounded job queue (see
 * workpool.h).
 *
 * One mutex guards the queue; workers sleep on a condition variable.  A
 * worker takes the oldest job it may run: any job but one whose batch
 * kind (run_batch) is being run by another worker.  A
 * finished job goes back to its loop through loop_post, so the loop wakes
 * through its inbox's eventfd and runs done on its own thread; jobs that
 * finish together coalesce into one wake-up there. */
#include "core/workpool.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/loop.h"

struct workpool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct work *head, *tail;   /* waiting for a worker, oldest first */
	size_t queued, max_queued;
	bool stop;
	bool stopped;               /* workpool_stop has run */
	/* run_batch of the batches being run (one per worker at most). */
	void (**batching)(struct work **ws, size_t n);
	unsigned nthreads;
	pthread_t *threads;
};

static void work_done_cb(struct inbox_item *it)
{
	struct work *w = (struct work *)((char *)it - offsetof(struct work, item));
	w->done(w);   /* may free w */
}

static void work_complete(struct work *w)
{
	loop_post(w->loop, &w->item, work_done_cb);
}

static bool kind_running(const struct workpool *wp, void (*kind)(struct work **, size_t))
{
	for (unsigned i = 0; i < wp->nthreads; i++)
		if (wp->batching[i] == kind)
			return true;
	return false;
}

/* Under mu: unlinks w, whose predecessor in the queue is prev. */
static void queue_unlink(struct workpool *wp, struct work *prev, struct work *w)
{
	if (prev)
		prev->next = w->next;
	else
		wp->head = w->next;
	if (wp->tail == w)
		wp->tail = prev;
	w->next = NULL;
	wp->queued--;
}

/* Under mu: the oldest job this worker may run, unlinked; NULL if none. */
static struct work *queue_take(struct workpool *wp)
{
	struct work *prev = NULL;
	for (struct work *w = wp->head; w; prev = w, w = w->next) {
		if (w->run_batch && kind_running(wp, w->run_batch))
			continue;
		queue_unlink(wp, prev, w);
		return w;
	}
	return NULL;
}

/* Under mu: the queued jobs of first's kind join it in batch[1..). */
static size_t queue_take_kind(struct workpool *wp, struct work *first, struct work **batch)
{
	size_t n = 1;
	batch[0] = first;
	struct work *prev = NULL, *w = wp->head;
	while (w && n < WORKPOOL_BATCH_MAX) {
		struct work *next = w->next;
		if (w->run_batch == first->run_batch) {
			queue_unlink(wp, prev, w);
			batch[n++] = w;
		} else {
			prev = w;
		}
		w = next;
	}
	return n;
}

static void *worker_main(void *arg)
{
	struct workpool *wp = arg;
	struct work *batch[WORKPOOL_BATCH_MAX];
	pthread_mutex_lock(&wp->mu);
	unsigned self = 0;
	while (!pthread_equal(wp->threads[self], pthread_self()))
		self++;
	for (;;) {
		struct work *w = NULL;
		while (!wp->stop && !(w = queue_take(wp)))
			pthread_cond_wait(&wp->cv, &wp->mu);
		/* At stop, jobs not started are left for workpool_stop: a
		 * shutdown does not wait for a queue of password hashes. */
		if (wp->stop)
			break;
		if (!w->run_batch) {
			pthread_mutex_unlock(&wp->mu);
			w->run(w);
			w->ran = true;
			work_complete(w);
			pthread_mutex_lock(&wp->mu);
			continue;
		}
		size_t n = queue_take_kind(wp, w, batch);
		wp->batching[self] = w->run_batch;
		pthread_mutex_unlock(&wp->mu);
		batch[0]->run_batch(batch, n);
		for (size_t i = 0; i < n; i++) {
			batch[i]->ran = true;
			work_complete(batch[i]);   /* may free it */
		}
		pthread_mutex_lock(&wp->mu);
		wp->batching[self] = NULL;
		/* Jobs of the kind that waited are free to run now. */
		if (wp->head)
			pthread_cond_broadcast(&wp->cv);
	}
	pthread_mutex_unlock(&wp->mu);
	return NULL;
}

struct workpool *workpool_new(unsigned nthreads, size_t max_queued)
{
	struct workpool *wp = calloc(1, sizeof(*wp));
	if (!wp)
		return NULL;
	if (nthreads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		nthreads = n < 1 ? 1 : n > 64 ? 64 : (unsigned)n;
	}
	wp->threads = calloc(nthreads, sizeof(*wp->threads));
	wp->batching = calloc(nthreads, sizeof(*wp->batching));
	if (!wp->threads || !wp->batching) {
		free(wp->threads);
		free(wp->batching);
		free(wp);
		return NULL;
	}
	wp->max_queued = max_queued;
	pthread_mutex_init(&wp->mu, NULL);
	pthread_cond_init(&wp->cv, NULL);
	/* The workers find their own slot (batching[]) in threads[]: they
	 * start looking once every thread is created (mu held meanwhile). */
	pthread_mutex_lock(&wp->mu);
	for (unsigned i = 0; i < nthreads; i++) {
		if (pthread_create(&wp->threads[i], NULL, worker_main, wp) != 0) {
			pthread_mutex_unlock(&wp->mu);
			workpool_free(&wp);
			return NULL;
		}
		wp->nthreads = i + 1;
	}
	pthread_mutex_unlock(&wp->mu);
	return wp;
}

int workpool_submit(struct workpool *wp, struct loop *l, struct work *w)
{
	w->loop = l;
	w->ran = false;
	w->next = NULL;
	pthread_mutex_lock(&wp->mu);
	if (wp->stop || wp->queued >= wp->max_queued) {
		pthread_mutex_unlock(&wp->mu);
		return -1;
	}
	if (wp->tail)
		wp->tail->next = w;
	else
		wp->head = w;
	wp->tail = w;
	wp->queued++;
	pthread_cond_signal(&wp->cv);
	pthread_mutex_unlock(&wp->mu);
	return 0;
}

size_t workpool_queued(struct workpool *wp)
{
	pthread_mutex_lock(&wp->mu);
	size_t n = wp->queued;
	pthread_mutex_unlock(&wp->mu);
	return n;
}

void workpool_stop(struct workpool *wp)
{
	if (!wp || wp->stopped)
		return;
	pthread_mutex_lock(&wp->mu);
	wp->stop = true;
	pthread_cond_broadcast(&wp->cv);
	pthread_mutex_unlock(&wp->mu);
	for (unsigned i = 0; i < wp->nthreads; i++)
		pthread_join(wp->threads[i], NULL);
	wp->stopped = true;
	/* No worker is left: the queue is ours.  Each owner still gets its
	 * done, with ran=false. */
	struct work *w = wp->head;
	wp->head = wp->tail = NULL;
	wp->queued = 0;
	while (w) {
		struct work *next = w->next;
		w->next = NULL;
		work_complete(w);
		w = next;
	}
}

void workpool_free(struct workpool **wpp)
{
	struct workpool *wp = *wpp;
	if (!wp)
		return;
	*wpp = NULL;
	workpool_stop(wp);
	pthread_mutex_destroy(&wp->mu);
	pthread_cond_destroy(&wp->cv);
	free(wp->threads);
	free(wp->batching);
	free(wp);
}
